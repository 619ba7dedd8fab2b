/*
 * pv_tile, aarch64 ASIMD, 4×16: O[m × dv] = P[m × n] · V[n × dv]
 * + (overwrite ? 0 : alpha ⊙ O) (contract in microkernels.h); m ≤ 4, any
 * n ≥ 0, any dv ≥ 1.
 *
 * O is swept in chunks of 16 columns: 4 rows × 16 columns = 16 accumulators,
 * P read 4 keys at a time (one vector per row, used lane by lane: fmla by
 * element), 4 vectors of V per key (two ldp): 24 registers, per key 16 FMAs
 * against 2 V loads + 1 P load, no spills. The last dv mod 16 columns go 4
 * at a time, the very last 1..3 with partial loads and stores (never past
 * the end of a row); the last n mod 4 keys broadcast P[r][j]. Each O chunk
 * is read and written once per call. Instantiated once per row count (1..4).
 *
 * Every output element starts from its rescaled old value (alpha·O, or O,
 * or 0) and accumulates its n products strictly in key order j = 0..n-1 in
 * one fused multiply-add chain, so a row's result depends neither on m nor on
 * its position in the tile nor on the column chunking.
 */
#include <assert.h>

#include "microkernels.h"
#include "neon/neon_intrin.h"

attn_pv_tile_fn attn_f32_pv_tile_ukr_4x16__neon;

enum { MR = 4, NR = 16, NV = NR / 4 };

typedef struct pv_args {
    size_t n;
    const float *p;
    size_t ldp;
    const float *v;
    size_t ldv;
    float *o;
    size_t ldo;
    const float *alpha;
    int overwrite;
} pv_args;

/* The starting value of row r's accumulator over the cols ≤ 4 columns at o. */
ATTN_NEON_INLINE float32x4_t pv_init(const pv_args *a, size_t r, const float *o, size_t cols)
{
    if (a->overwrite)
        return vdupq_n_f32(0.0f);
    const float32x4_t old = attn_neon_load_part(o, cols, 0.0f);
    return a->alpha ? vmulq_f32(old, vdupq_n_f32(a->alpha[r])) : old;
}

/* Columns [c0, c0 + 16) of M rows. */
ATTN_NEON_INLINE void pv_chunk16(const size_t M, const pv_args *a, size_t c0)
{
    float32x4_t acc[MR][NV];
    ATTN_NEON_UNROLL
    for (size_t r = 0; r < M; r++) {
        ATTN_NEON_UNROLL
        for (size_t c = 0; c < NV; c++)
            acc[r][c] = pv_init(a, r, a->o + r * a->ldo + c0 + 4 * c, 4);
    }
    const float *v = a->v + c0;
    size_t j = 0;
    for (; j + 4 <= a->n; j += 4) {
        float32x4_t pv[MR];
        ATTN_NEON_UNROLL
        for (size_t r = 0; r < M; r++)
            pv[r] = vld1q_f32(a->p + r * a->ldp + j);
        ATTN_NEON_UNROLL
        for (size_t l = 0; l < 4; l++) {
            const float *vrow = v + (j + l) * a->ldv;
            float32x4_t vv[NV];
            ATTN_NEON_UNROLL
            for (size_t c = 0; c < NV; c++)
                vv[c] = vld1q_f32(vrow + 4 * c);
            ATTN_NEON_UNROLL
            for (size_t r = 0; r < M; r++) {
                const float32x4_t pb = attn_neon_lane_dup(pv[r], l);
                ATTN_NEON_UNROLL
                for (size_t c = 0; c < NV; c++)
                    acc[r][c] = vfmaq_f32(acc[r][c], vv[c], pb);
            }
        }
    }
    for (; j < a->n; j++) {
        const float *vrow = v + j * a->ldv;
        float32x4_t vv[NV];
        ATTN_NEON_UNROLL
        for (size_t c = 0; c < NV; c++)
            vv[c] = vld1q_f32(vrow + 4 * c);
        ATTN_NEON_UNROLL
        for (size_t r = 0; r < M; r++) {
            const float32x4_t pb = vld1q_dup_f32(a->p + r * a->ldp + j);
            ATTN_NEON_UNROLL
            for (size_t c = 0; c < NV; c++)
                acc[r][c] = vfmaq_f32(acc[r][c], vv[c], pb);
        }
    }
    ATTN_NEON_UNROLL
    for (size_t r = 0; r < M; r++) {
        ATTN_NEON_UNROLL
        for (size_t c = 0; c < NV; c++)
            vst1q_f32(a->o + r * a->ldo + c0 + 4 * c, acc[r][c]);
    }
}

/* Columns [c0, c0 + cols), cols ≤ 4, of M rows. */
ATTN_NEON_INLINE void pv_chunk4(const size_t M, const pv_args *a, size_t c0, size_t cols)
{
    float32x4_t acc[MR];
    ATTN_NEON_UNROLL
    for (size_t r = 0; r < M; r++)
        acc[r] = pv_init(a, r, a->o + r * a->ldo + c0, cols);
    const float *v = a->v + c0;
    for (size_t j = 0; j < a->n; j++) {
        const float32x4_t vv = attn_neon_load_part(v + j * a->ldv, cols, 0.0f);
        ATTN_NEON_UNROLL
        for (size_t r = 0; r < M; r++)
            acc[r] = vfmaq_f32(acc[r], vv, vld1q_dup_f32(a->p + r * a->ldp + j));
    }
    ATTN_NEON_UNROLL
    for (size_t r = 0; r < M; r++)
        attn_neon_store_part(a->o + r * a->ldo + c0, acc[r], cols);
}

ATTN_NEON_INLINE void pv_rows(const size_t M, const pv_args *a, size_t dv)
{
    size_t c0 = 0;
    for (; c0 + NR <= dv; c0 += NR)
        pv_chunk16(M, a, c0);
    for (; c0 < dv; c0 += 4)
        pv_chunk4(M, a, c0, dv - c0 < 4 ? dv - c0 : 4);
}

void attn_f32_pv_tile_ukr_4x16__neon(size_t m, size_t n, size_t dv,
                                     const float *p, size_t ldp,
                                     const float *v, size_t ldv,
                                     float *o, size_t ldo,
                                     const float *alpha, int overwrite)
{
    assert(m <= MR);
    const pv_args a = {n, p, ldp, v, ldv, o, ldo, alpha, overwrite};
    switch (m) {
    case 4: pv_rows(4, &a, dv); break;
    case 3: pv_rows(3, &a, dv); break;
    case 2: pv_rows(2, &a, dv); break;
    case 1: pv_rows(1, &a, dv); break;
    default: break;
    }
}
