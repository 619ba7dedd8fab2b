/*
 * mask_avx2.h — lane masks for the tails of the AVX2 kernels (static inline,
 * included only by files compiled with -mavx2).
 */
#ifndef ATTN_MASK_AVX2_H
#define ATTN_MASK_AVX2_H

#include <immintrin.h>
#include <stddef.h>

/* Lanes i < k all ones, the others zero (k may be ≤ 0 or ≥ 8), for
 * _mm256_maskload_ps / _mm256_maskstore_ps, which never touch the memory of
 * a zero lane (no fault past the end of a row). */
static inline __m256i attn_avx2_lane_mask(ptrdiff_t k)
{
    const ptrdiff_t c = k < 0 ? 0 : (k > 8 ? 8 : k);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)c),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#endif /* ATTN_MASK_AVX2_H */
