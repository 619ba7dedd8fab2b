/*
 * hsum_avx2.h — horizontal sums of 8 AVX vectors at once, for the kernels
 * that end with one dot product per lane set (qk_direct, AVX2 and AVX-512
 * after folding). static inline; the includer is compiled with -mavx2.
 */
#ifndef ATTN_HSUM_AVX2_H
#define ATTN_HSUM_AVX2_H

#include <immintrin.h>
#include <stddef.h>

/* The 8 lane sums of a0..a7, in that order, in one vector; each sum depends
 * on its own vector only (a fixed order: pairs, quads, then the halves). */
static inline __m256 attn_avx2_hsum8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4,
                                     __m256 a5, __m256 a6, __m256 a7)
{
    const __m256 t0 = _mm256_hadd_ps(a0, a1), t1 = _mm256_hadd_ps(a2, a3);
    const __m256 t2 = _mm256_hadd_ps(a4, a5), t3 = _mm256_hadd_ps(a6, a7);
    const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    /* u0 = [a0 a1 a2 a3 | a0 a1 a2 a3] (low and high 128-bit halves' sums) */
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
                         _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* The first kk ≤ 4 lanes of the low (s0) and, with two, high (s1) halves of
 * r: 4 keys' scores of two rows. */
static inline void attn_avx2_store_quad(__m256 r, float *s0, float *s1, size_t kk, int two)
{
    const __m128 r0 = _mm256_castps256_ps128(r), r1 = _mm256_extractf128_ps(r, 1);
    if (kk == 4) {
        _mm_storeu_ps(s0, r0);
        if (two)
            _mm_storeu_ps(s1, r1);
        return;
    }
    float b0[4], b1[4];
    _mm_storeu_ps(b0, r0);
    _mm_storeu_ps(b1, r1);
    for (size_t j = 0; j < kk; j++) {
        s0[j] = b0[j];
        if (two)
            s1[j] = b1[j];
    }
}

#endif /* ATTN_HSUM_AVX2_H */
