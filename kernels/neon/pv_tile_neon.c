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
 *
 * pv_tile_f16/bf16: the same code with V rows of 16-bit values, widened as
 * they are loaded (FCVTL for binary16, a 16-bit shift for bfloat16): the
 * same chains on the same values, so bitwise the f32 kernel on widened rows.
 */
#include <assert.h>

#include "microkernels.h"
#include "neon/neon_intrin.h"

attn_pv_tile_fn attn_f32_pv_tile_ukr_4x16__neon;
attn_pv_tile_x16_fn attn_f16_pv_tile_ukr_4x16__neon, attn_bf16_pv_tile_ukr_4x16__neon;

enum { MR = 4, NR = 16, NV = NR / 4 };
enum { V_F32, V_F16, V_BF16 }; /* V's element type */

typedef struct pv_args {
    size_t n;
    const float *p;
    size_t ldp;
    const void *v;
    size_t ldv;
    float *o;
    size_t ldo;
    const float *alpha;
    int overwrite;
} pv_args;

/* w ≤ 4 values of V row j from column c on, widened exactly, zeros after
 * (nothing past them read). kind is a constant after inlining. */
ATTN_NEON_INLINE float32x4_t v4(const pv_args *a, const int kind, size_t j, size_t c, size_t w)
{
    if (kind == V_F32) {
        const float *p = (const float *)a->v + j * a->ldv + c;
        return w >= 4 ? vld1q_f32(p) : attn_neon_load_part(p, w, 0.0f);
    }
    return attn_neon_widen_part((const uint16_t *)a->v + j * a->ldv + c, w, kind == V_BF16);
}

/* The starting value of row r's accumulator over the cols ≤ 4 columns at o. */
ATTN_NEON_INLINE float32x4_t pv_init(const pv_args *a, size_t r, const float *o, size_t cols)
{
    if (a->overwrite)
        return vdupq_n_f32(0.0f);
    const float32x4_t old = attn_neon_load_part(o, cols, 0.0f);
    return a->alpha ? vmulq_f32(old, vdupq_n_f32(a->alpha[r])) : old;
}

/* Columns [c0, c0 + 16) of M rows. */
ATTN_NEON_INLINE void pv_chunk16(const size_t M, const int kind, const pv_args *a, size_t c0)
{
    float32x4_t acc[MR][NV];
    ATTN_NEON_UNROLL
    for (size_t r = 0; r < M; r++) {
        ATTN_NEON_UNROLL
        for (size_t c = 0; c < NV; c++)
            acc[r][c] = pv_init(a, r, a->o + r * a->ldo + c0 + 4 * c, 4);
    }
    size_t j = 0;
    for (; j + 4 <= a->n; j += 4) {
        float32x4_t pv[MR];
        ATTN_NEON_UNROLL
        for (size_t r = 0; r < M; r++)
            pv[r] = vld1q_f32(a->p + r * a->ldp + j);
        ATTN_NEON_UNROLL
        for (size_t l = 0; l < 4; l++) {
            float32x4_t vv[NV];
            ATTN_NEON_UNROLL
            for (size_t c = 0; c < NV; c++)
                vv[c] = v4(a, kind, j + l, c0 + 4 * c, 4);
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
        float32x4_t vv[NV];
        ATTN_NEON_UNROLL
        for (size_t c = 0; c < NV; c++)
            vv[c] = v4(a, kind, j, c0 + 4 * c, 4);
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
ATTN_NEON_INLINE void pv_chunk4(const size_t M, const int kind, const pv_args *a, size_t c0,
                                size_t cols)
{
    float32x4_t acc[MR];
    ATTN_NEON_UNROLL
    for (size_t r = 0; r < M; r++)
        acc[r] = pv_init(a, r, a->o + r * a->ldo + c0, cols);
    for (size_t j = 0; j < a->n; j++) {
        const float32x4_t vv = v4(a, kind, j, c0, cols);
        ATTN_NEON_UNROLL
        for (size_t r = 0; r < M; r++)
            acc[r] = vfmaq_f32(acc[r], vv, vld1q_dup_f32(a->p + r * a->ldp + j));
    }
    ATTN_NEON_UNROLL
    for (size_t r = 0; r < M; r++)
        attn_neon_store_part(a->o + r * a->ldo + c0, acc[r], cols);
}

ATTN_NEON_INLINE void pv_rows(const size_t M, const int kind, const pv_args *a, size_t dv)
{
    size_t c0 = 0;
    for (; c0 + NR <= dv; c0 += NR)
        pv_chunk16(M, kind, a, c0);
    for (; c0 < dv; c0 += 4)
        pv_chunk4(M, kind, a, c0, dv - c0 < 4 ? dv - c0 : 4);
}

ATTN_NEON_INLINE void pv_tile(const int kind, size_t m, size_t dv, const pv_args *a)
{
    assert(m <= MR);
    switch (m) {
    case 4: pv_rows(4, kind, a, dv); break;
    case 3: pv_rows(3, kind, a, dv); break;
    case 2: pv_rows(2, kind, a, dv); break;
    case 1: pv_rows(1, kind, a, dv); break;
    default: break;
    }
}

/* attn_<T>_pv_tile_ukr_4x16__neon: V elements of type VT, kind KIND. */
#define PV_ENTRY(T, VT, KIND)                                                  \
    void attn_##T##_pv_tile_ukr_4x16__neon(size_t m, size_t n, size_t dv,      \
                                           const float *p, size_t ldp,         \
                                           const VT *v, size_t ldv,            \
                                           float *o, size_t ldo,               \
                                           const float *alpha, int overwrite)  \
    {                                                                          \
        const pv_args a = {n, p, ldp, v, ldv, o, ldo, alpha, overwrite};       \
        pv_tile(KIND, m, dv, &a);                                              \
    }

PV_ENTRY(f32, float, V_F32)
PV_ENTRY(f16, uint16_t, V_F16)
PV_ENTRY(bf16, uint16_t, V_BF16)
