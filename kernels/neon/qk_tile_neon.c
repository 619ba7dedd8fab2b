/*
 * qk_tile, aarch64 ASIMD, 4×16: S[m × n] = Q[m × d] · Kᵀ on a K block packed
 * in panels of 16 keys (layout in microkernels.h), m ≤ 4, any n, any d ≥ 1.
 *
 * Register tile: 4 rows × 16 keys = 16 accumulators (enough independent FMA
 * chains for four 4-cycle FMA pipes). Q is read 4 dd at a time, one vector
 * per row, and used lane by lane (fmla by element); each dd loads the 4
 * vectors of the packed panel (two ldp): 24 registers live, per dd 16 FMAs
 * against 2 panel loads + 1 Q load, no spills. (A 6×16 tile with per-row
 * broadcasts needs 34 registers and spills.) The last d mod 4 steps
 * broadcast Q[r][dd] instead. The kernel is instantiated once per row count
 * (1..4), so a tail of m rows costs m/4 of a tile. Tails in n are the
 * zero-padded last panel; only the first n columns of S are stored.
 *
 * Each score is one fused multiply-add chain over dd = 0..d-1 in order, so
 * its value depends neither on m, on the row's position in the tile, nor on
 * n (the arithmetic the flash driver relies on for thread-count determinism).
 */
#include <assert.h>

#include "microkernels.h"
#include "neon/neon_intrin.h"

attn_qk_tile_fn attn_f32_qk_tile_ukr_4x16__neon;

enum { MR = 4, NR = 16, NV = NR / 4 };

/* One panel (16 keys) against M rows; stores the first nn ≤ 16 columns. */
ATTN_NEON_INLINE void qk_panel(const size_t M, size_t d, const float *q, size_t ldq,
                               const float *panel, float *s, size_t lds, size_t nn)
{
    float32x4_t acc[MR][NV];
    ATTN_NEON_UNROLL
    for (size_t r = 0; r < M; r++) {
        ATTN_NEON_UNROLL
        for (size_t c = 0; c < NV; c++)
            acc[r][c] = vdupq_n_f32(0.0f);
    }
    size_t dd = 0;
    for (; dd + 4 <= d; dd += 4) {
        float32x4_t qv[MR];
        ATTN_NEON_UNROLL
        for (size_t r = 0; r < M; r++)
            qv[r] = vld1q_f32(q + r * ldq + dd);
        ATTN_NEON_UNROLL
        for (size_t l = 0; l < 4; l++) {
            const float *kv = panel + (dd + l) * NR;
            float32x4_t k[NV];
            ATTN_NEON_UNROLL
            for (size_t c = 0; c < NV; c++)
                k[c] = vld1q_f32(kv + 4 * c);
            ATTN_NEON_UNROLL
            for (size_t r = 0; r < M; r++) {
                /* lane l of Q's vector: the dup folds into fmla by element */
                const float32x4_t qb = attn_neon_lane_dup(qv[r], l);
                ATTN_NEON_UNROLL
                for (size_t c = 0; c < NV; c++)
                    acc[r][c] = vfmaq_f32(acc[r][c], k[c], qb);
            }
        }
    }
    for (; dd < d; dd++) {
        const float *kv = panel + dd * NR;
        float32x4_t k[NV];
        ATTN_NEON_UNROLL
        for (size_t c = 0; c < NV; c++)
            k[c] = vld1q_f32(kv + 4 * c);
        ATTN_NEON_UNROLL
        for (size_t r = 0; r < M; r++) {
            const float32x4_t qb = vld1q_dup_f32(q + r * ldq + dd);
            ATTN_NEON_UNROLL
            for (size_t c = 0; c < NV; c++)
                acc[r][c] = vfmaq_f32(acc[r][c], k[c], qb);
        }
    }
    if (nn == NR) {
        ATTN_NEON_UNROLL
        for (size_t r = 0; r < M; r++) {
            ATTN_NEON_UNROLL
            for (size_t c = 0; c < NV; c++)
                vst1q_f32(s + r * lds + 4 * c, acc[r][c]);
        }
        return;
    }
    ATTN_NEON_UNROLL
    for (size_t r = 0; r < M; r++) {
        ATTN_NEON_UNROLL
        for (size_t c = 0; c < NV; c++)
            if (4 * c < nn)
                attn_neon_store_part(s + r * lds + 4 * c, acc[r][c], nn - 4 * c);
    }
}

/* All panels for a constant M (one instance per row count). */
ATTN_NEON_INLINE void qk_rows(const size_t M, size_t n, size_t d, const float *q,
                              size_t ldq, const float *kp, float *s, size_t lds)
{
    for (size_t j0 = 0; j0 < n; j0 += NR) {
        const size_t nn = n - j0 < NR ? n - j0 : NR;
        qk_panel(M, d, q, ldq, kp + j0 * d, s + j0, lds, nn);
    }
}

void attn_f32_qk_tile_ukr_4x16__neon(size_t m, size_t n, size_t d,
                                     const float *q, size_t ldq,
                                     const float *kp, float *s, size_t lds)
{
    assert(m <= MR);
    switch (m) {
    case 4: qk_rows(4, n, d, q, ldq, kp, s, lds); break;
    case 3: qk_rows(3, n, d, q, ldq, kp, s, lds); break;
    case 2: qk_rows(2, n, d, q, ldq, kp, s, lds); break;
    case 1: qk_rows(1, n, d, q, ldq, kp, s, lds); break;
    default: break;
    }
}
