/*
 * qk_direct, AVX2 + FMA: S[m × n] = Q[m × d] · Kᵀ with K read in place, row
 * by row (contract in microkernels.h), for the few query rows of decoding.
 *
 * Four keys at a time, two query rows at a time: 8 accumulators over d in
 * chunks of 8 (the last chunk masked), 4 K loads + 2 Q loads per 8 FMAs; the
 * four keys' rows (4 × d floats) stay in L1 for the next pair of rows, so K
 * streams from memory once while the FMAs run. Each score is one chain over
 * d in order and one fixed reduction (attn_avx2_hsum8), so its value does
 * not depend on m, n or its position. Keys past the last multiple of 4 run
 * the same code with their key pointers repeated (results not stored).
 */
#include <immintrin.h>

#include "microkernels.h"
#include "avx2/hsum_avx2.h"
#include "avx2/mask_avx2.h"

/* Scores of rows q0, q1 (two) against keys k0..k3 (kk of them stored). */
static inline __attribute__((always_inline)) void
quad(size_t d, const float *q0, const float *q1, const float *k0, const float *k1,
     const float *k2, const float *k3, float *s0, float *s1, size_t kk, int two)
{
    __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps();
    __m256 a02 = _mm256_setzero_ps(), a03 = _mm256_setzero_ps();
    __m256 a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps();
    __m256 a12 = _mm256_setzero_ps(), a13 = _mm256_setzero_ps();
    size_t t = 0;
    for (; t + 8 <= d; t += 8) {
        const __m256 x0 = _mm256_loadu_ps(k0 + t), x1 = _mm256_loadu_ps(k1 + t);
        const __m256 x2 = _mm256_loadu_ps(k2 + t), x3 = _mm256_loadu_ps(k3 + t);
        const __m256 y0 = _mm256_loadu_ps(q0 + t);
        a00 = _mm256_fmadd_ps(y0, x0, a00);
        a01 = _mm256_fmadd_ps(y0, x1, a01);
        a02 = _mm256_fmadd_ps(y0, x2, a02);
        a03 = _mm256_fmadd_ps(y0, x3, a03);
        if (two) {
            const __m256 y1 = _mm256_loadu_ps(q1 + t);
            a10 = _mm256_fmadd_ps(y1, x0, a10);
            a11 = _mm256_fmadd_ps(y1, x1, a11);
            a12 = _mm256_fmadd_ps(y1, x2, a12);
            a13 = _mm256_fmadd_ps(y1, x3, a13);
        }
    }
    if (t < d) {
        const __m256i mk = attn_avx2_lane_mask((ptrdiff_t)(d - t));
        const __m256 x0 = _mm256_maskload_ps(k0 + t, mk), x1 = _mm256_maskload_ps(k1 + t, mk);
        const __m256 x2 = _mm256_maskload_ps(k2 + t, mk), x3 = _mm256_maskload_ps(k3 + t, mk);
        const __m256 y0 = _mm256_maskload_ps(q0 + t, mk);
        a00 = _mm256_fmadd_ps(y0, x0, a00);
        a01 = _mm256_fmadd_ps(y0, x1, a01);
        a02 = _mm256_fmadd_ps(y0, x2, a02);
        a03 = _mm256_fmadd_ps(y0, x3, a03);
        if (two) {
            const __m256 y1 = _mm256_maskload_ps(q1 + t, mk);
            a10 = _mm256_fmadd_ps(y1, x0, a10);
            a11 = _mm256_fmadd_ps(y1, x1, a11);
            a12 = _mm256_fmadd_ps(y1, x2, a12);
            a13 = _mm256_fmadd_ps(y1, x3, a13);
        }
    }
    const __m256 r = attn_avx2_hsum8(a00, a01, a02, a03, a10, a11, a12, a13);
    attn_avx2_store_quad(r, s0, s1, kk, two);
}

void attn_f32_qk_direct_ukr__avx2(size_t m, size_t n, size_t d, const float *q,
                                      size_t ldq, const float *k, size_t ldk, float *s,
                                      size_t lds)
{
    for (size_t j = 0; j < n; j += 4) {
        const size_t kk = n - j < 4 ? n - j : 4;
        /* keys past n repeat the last one: read, never stored */
        const float *k0 = k + j * ldk;
        const float *k1 = k + (j + (kk > 1 ? 1 : 0)) * ldk;
        const float *k2 = k + (j + (kk > 2 ? 2 : kk - 1)) * ldk;
        const float *k3 = k + (j + (kk > 3 ? 3 : kk - 1)) * ldk;
        size_t r = 0;
        for (; r + 2 <= m; r += 2)
            quad(d, q + r * ldq, q + (r + 1) * ldq, k0, k1, k2, k3, s + r * lds + j,
                 s + (r + 1) * lds + j, kk, 1);
        if (r < m)
            quad(d, q + r * ldq, q + r * ldq, k0, k1, k2, k3, s + r * lds + j, s + r * lds + j,
                 kk, 0);
    }
}
