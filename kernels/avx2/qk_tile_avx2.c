/*
 * qk_tile, AVX2 + FMA: S[m × n] = Q[m × d] · Kᵀ on a K block packed by pack_k
 * in panels of 16 keys (contract in microkernels.h). m ≤ 6.
 *
 * Blocking 6 × 16: per dd, the panel's 16 keys are 2 vector loads, each of the
 * m rows broadcasts Q[r, dd] and issues 2 FMAs — 12 accumulators + 2 loads +
 * 1 broadcast = 15 of the 16 ymm registers, 12 FMAs per 8 loads (the two FMA
 * ports, not the load ports, are the bound).
 * Tails: the last panel is zero-padded by pack_k, so it is computed whole and
 * only its first n mod 16 columns are stored (masked stores). m < 6 runs the
 * same code specialised by constant propagation (rows ≥ m compiled out).
 * Every score is one accumulator summed over dd in order, so its value does
 * not depend on m, on its row's position in the tile, or on n.
 */
#include <assert.h>
#include <immintrin.h>

#include "microkernels.h"
#include "avx2/mask_avx2.h"

enum { MR = 6, NR = 16 };

/* Stores one row's two accumulators: whole, or the first nn < 16 columns
 * (masked stores only where needed: they are slow on some cores). */
static inline __attribute__((always_inline)) void
store_row(float *s, __m256 c0, __m256 c1, size_t nn)
{
    if (nn == NR) {
        _mm256_storeu_ps(s, c0);
        _mm256_storeu_ps(s + 8, c1);
    } else if (nn > 8) {
        _mm256_storeu_ps(s, c0);
        _mm256_maskstore_ps(s + 8, attn_avx2_lane_mask((ptrdiff_t)nn - 8), c1);
    } else {
        _mm256_maskstore_ps(s, attn_avx2_lane_mask((ptrdiff_t)nn), c0);
    }
}

/* All panels for M rows; M is a constant after inlining. Rows are named
 * variables (not an array) so that they live in registers. */
static inline __attribute__((always_inline)) void
qk_rows(const size_t M, size_t n, size_t d, const float *q, size_t ldq,
        const float *kp, float *s, size_t lds)
{
    /* Rows past M alias row 0: never read, but no out-of-object pointer. */
    const float *q0 = q;
    const float *q1 = M > 1 ? q + ldq : q;
    const float *q2 = M > 2 ? q + 2 * ldq : q;
    const float *q3 = M > 3 ? q + 3 * ldq : q;
    const float *q4 = M > 4 ? q + 4 * ldq : q;
    const float *q5 = M > 5 ? q + 5 * ldq : q;
    for (size_t j0 = 0; j0 < n; j0 += NR) {
        const float *panel = kp + j0 * d; /* panel j0/NR starts at (j0/NR)·NR·d */
        __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
        __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
        __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
        __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
        __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
        __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
#pragma GCC unroll 4
        for (size_t dd = 0; dd < d; dd++) {
            const __m256 k0 = _mm256_loadu_ps(panel + dd * NR);
            const __m256 k1 = _mm256_loadu_ps(panel + dd * NR + 8);
            __m256 b;
            b = _mm256_broadcast_ss(q0 + dd);
            c00 = _mm256_fmadd_ps(b, k0, c00);
            c01 = _mm256_fmadd_ps(b, k1, c01);
            if (M > 1) {
                b = _mm256_broadcast_ss(q1 + dd);
                c10 = _mm256_fmadd_ps(b, k0, c10);
                c11 = _mm256_fmadd_ps(b, k1, c11);
            }
            if (M > 2) {
                b = _mm256_broadcast_ss(q2 + dd);
                c20 = _mm256_fmadd_ps(b, k0, c20);
                c21 = _mm256_fmadd_ps(b, k1, c21);
            }
            if (M > 3) {
                b = _mm256_broadcast_ss(q3 + dd);
                c30 = _mm256_fmadd_ps(b, k0, c30);
                c31 = _mm256_fmadd_ps(b, k1, c31);
            }
            if (M > 4) {
                b = _mm256_broadcast_ss(q4 + dd);
                c40 = _mm256_fmadd_ps(b, k0, c40);
                c41 = _mm256_fmadd_ps(b, k1, c41);
            }
            if (M > 5) {
                b = _mm256_broadcast_ss(q5 + dd);
                c50 = _mm256_fmadd_ps(b, k0, c50);
                c51 = _mm256_fmadd_ps(b, k1, c51);
            }
        }
        const size_t nn = n - j0 < NR ? n - j0 : NR;
        float *srow = s + j0;
        store_row(srow, c00, c01, nn);
        if (M > 1)
            store_row(srow + lds, c10, c11, nn);
        if (M > 2)
            store_row(srow + 2 * lds, c20, c21, nn);
        if (M > 3)
            store_row(srow + 3 * lds, c30, c31, nn);
        if (M > 4)
            store_row(srow + 4 * lds, c40, c41, nn);
        if (M > 5)
            store_row(srow + 5 * lds, c50, c51, nn);
    }
}

void attn_f32_qk_tile_ukr_6x16__avx2(size_t m, size_t n, size_t d,
                                     const float *q, size_t ldq,
                                     const float *kp, float *s, size_t lds)
{
    assert(m <= MR);
    switch (m) {
    case 6: qk_rows(6, n, d, q, ldq, kp, s, lds); break;
    case 5: qk_rows(5, n, d, q, ldq, kp, s, lds); break;
    case 4: qk_rows(4, n, d, q, ldq, kp, s, lds); break;
    case 3: qk_rows(3, n, d, q, ldq, kp, s, lds); break;
    case 2: qk_rows(2, n, d, q, ldq, kp, s, lds); break;
    case 1: qk_rows(1, n, d, q, ldq, kp, s, lds); break;
    default: break; /* m = 0: nothing to do */
    }
}
