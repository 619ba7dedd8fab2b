/*
 * qk_direct, AVX-512: S[m × n] = Q[m × d] · Kᵀ with K read in place, row by
 * row (contract in microkernels.h), for the few query rows of decoding.
 *
 * Four keys at a time, two query rows at a time: 8 accumulators over d in
 * chunks of 16 (the last chunk k-masked), 4 K loads + 2 Q loads per 8 FMAs;
 * the four keys' rows stay in L1 for the next pair of rows, so K streams
 * from memory once while the FMAs run. Each score is one chain over d in
 * order and one fixed reduction, so its value does not depend on m, n or its
 * position. Keys past the last multiple of 4 repeat the last key (computed,
 * not stored).
 */
#include "microkernels.h"
#include "avx512_intrin.h"
#include "vec_avx512.h"
#include "avx2/hsum_avx2.h"

/* The 16 lanes of a folded to 8 (a[i] + a[i + 8]). */
static inline __m256 fold(__m512 a)
{
    return _mm256_add_ps(_mm512_castps512_ps256(a),
                         _mm512_castps512_ps256(_mm512_shuffle_f32x4(a, a, 0x4E)));
}

static inline __attribute__((always_inline)) void
quad(size_t d, const float *q0, const float *q1, const float *k0, const float *k1,
     const float *k2, const float *k3, float *s0, float *s1, size_t kk, int two)
{
    __m512 a00 = _mm512_setzero_ps(), a01 = _mm512_setzero_ps();
    __m512 a02 = _mm512_setzero_ps(), a03 = _mm512_setzero_ps();
    __m512 a10 = _mm512_setzero_ps(), a11 = _mm512_setzero_ps();
    __m512 a12 = _mm512_setzero_ps(), a13 = _mm512_setzero_ps();
    for (size_t t = 0; t < d; t += 16) {
        const __mmask16 mk = attn_mask16(d - t);
        const __m512 x0 = _mm512_maskz_loadu_ps(mk, k0 + t), x1 = _mm512_maskz_loadu_ps(mk, k1 + t);
        const __m512 x2 = _mm512_maskz_loadu_ps(mk, k2 + t), x3 = _mm512_maskz_loadu_ps(mk, k3 + t);
        const __m512 y0 = _mm512_maskz_loadu_ps(mk, q0 + t);
        a00 = _mm512_fmadd_ps(y0, x0, a00);
        a01 = _mm512_fmadd_ps(y0, x1, a01);
        a02 = _mm512_fmadd_ps(y0, x2, a02);
        a03 = _mm512_fmadd_ps(y0, x3, a03);
        if (two) {
            const __m512 y1 = _mm512_maskz_loadu_ps(mk, q1 + t);
            a10 = _mm512_fmadd_ps(y1, x0, a10);
            a11 = _mm512_fmadd_ps(y1, x1, a11);
            a12 = _mm512_fmadd_ps(y1, x2, a12);
            a13 = _mm512_fmadd_ps(y1, x3, a13);
        }
    }
    const __m256 r = attn_avx2_hsum8(fold(a00), fold(a01), fold(a02), fold(a03), fold(a10), fold(a11),
                           fold(a12), fold(a13));
    attn_avx2_store_quad(r, s0, s1, kk, two);
}

void attn_f32_qk_direct_ukr__avx512(size_t m, size_t n, size_t d, const float *q, size_t ldq,
                                    const float *k, size_t ldk, float *s, size_t lds)
{
    for (size_t j = 0; j < n; j += 4) {
        const size_t kk = n - j < 4 ? n - j : 4;
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
