/*
 * softmax_avx2.h — row passes shared by the AVX2 softmax kernels (static
 * inline; only files compiled with -mavx2 -mfma include it).
 *
 * Every pass reads n floats at x (any n ≥ 0, no alignment): whole vectors,
 * then one masked vector for the n mod 8 tail, whose masked lanes are neither
 * read nor written and contribute nothing. Each pass's arithmetic depends only
 * on the row's values and n, never on where the row sits in a tile.
 */
#ifndef ATTN_SOFTMAX_AVX2_H
#define ATTN_SOFTMAX_AVX2_H

#include <immintrin.h>
#include <math.h>
#include <stddef.h>

#include "avx2/exp_avx2.h"
#include "avx2/mask_avx2.h"

static inline float attn_avx2_hmax(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline float attn_avx2_hmin(__m256 v)
{
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    m = _mm_min_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* Lanes summed in a fixed order: (lo + hi) halves, then pairs. */
static inline float attn_avx2_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* max_j x[j] and min_j x[j] over the non-NaN entries (−inf and +inf when
 * there is none). NaN is ignored here, found later by the sum (see the
 * callers): max_ps(x, acc) returns acc when x is NaN, so no NaN ever enters an
 * accumulator. The min costs one more op per vector and lets the exp pass
 * skip its per-vector range check (attn_avx2_row_exp_sum). Four accumulator
 * pairs hide the latency. */
static inline float attn_avx2_row_minmax(const float *x, size_t n, float *min_out)
{
    const __m256 ninf = _mm256_set1_ps(-INFINITY), pinf = _mm256_set1_ps(INFINITY);
    __m256 m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf;
    __m256 l0 = pinf, l1 = pinf, l2 = pinf, l3 = pinf;
    size_t j = 0;
    for (; j + 32 <= n; j += 32) {
        const __m256 v0 = _mm256_loadu_ps(x + j), v1 = _mm256_loadu_ps(x + j + 8);
        const __m256 v2 = _mm256_loadu_ps(x + j + 16), v3 = _mm256_loadu_ps(x + j + 24);
        m0 = _mm256_max_ps(v0, m0);
        m1 = _mm256_max_ps(v1, m1);
        m2 = _mm256_max_ps(v2, m2);
        m3 = _mm256_max_ps(v3, m3);
        l0 = _mm256_min_ps(v0, l0);
        l1 = _mm256_min_ps(v1, l1);
        l2 = _mm256_min_ps(v2, l2);
        l3 = _mm256_min_ps(v3, l3);
    }
    for (; j + 8 <= n; j += 8) {
        const __m256 v = _mm256_loadu_ps(x + j);
        m0 = _mm256_max_ps(v, m0);
        l0 = _mm256_min_ps(v, l0);
    }
    if (j < n) {
        const __m256i mask = attn_avx2_lane_mask((ptrdiff_t)(n - j));
        const __m256 v = _mm256_maskload_ps(x + j, mask);
        m0 = _mm256_max_ps(_mm256_blendv_ps(ninf, v, _mm256_castsi256_ps(mask)), m0);
        l0 = _mm256_min_ps(_mm256_blendv_ps(pinf, v, _mm256_castsi256_ps(mask)), l0);
    }
    *min_out = attn_avx2_hmin(_mm256_min_ps(_mm256_min_ps(l0, l1), _mm256_min_ps(l2, l3)));
    return attn_avx2_hmax(_mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
}

/* Nonzero when some x[j] is NaN (the rare paths only). */
static inline int attn_avx2_row_has_nan(const float *x, size_t n)
{
    __m256 any = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 v = _mm256_loadu_ps(x + j);
        any = _mm256_or_ps(any, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    if (j < n) {
        const __m256 v = _mm256_maskload_ps(x + j, attn_avx2_lane_mask((ptrdiff_t)(n - j)));
        any = _mm256_or_ps(any, _mm256_cmp_ps(v, v, _CMP_UNORD_Q)); /* masked lanes are 0 */
    }
    return _mm256_movemask_ps(any) != 0;
}

/* Softmax terms e^x with x < ATTN_SOFTMAX_FLUSH (e^−64 < 2^−92) are given
 * as 0: the row's largest term is 1, so even 2^31 of them change its sum by
 * less than 2^−61, while their products with V, accumulated into O, would be
 * subnormal numbers that cost a microcode assist each on x86 (ALiBi and
 * long windows make many such terms). */
#define ATTN_SOFTMAX_FLUSH 64.0f

/* e^x for x ≤ 0 (or NaN), 0 for x < −ATTN_SOFTMAX_FLUSH. −inf → 0, NaN →
 * NaN (max returns its second operand for NaN, and NLT is true for it). */
static inline __m256 attn_avx2_exp_flush(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-ATTN_SOFTMAX_FLUSH);
    const __m256 keep = _mm256_cmp_ps(x, lo, _CMP_NLT_UQ);
    return _mm256_and_ps(attn_exp_avx2_fast(_mm256_max_ps(lo, x)), keep);
}

/* x[j] ← exp(x[j] − m) for m ≥ every non-NaN x[j] and lo ≤ every non-NaN
 * x[j]; returns Σ_j of the new x[j] (one vector accumulator, then
 * attn_avx2_hsum). A NaN x[j] gives a NaN term and a NaN sum.
 * When lo − m ≥ −64 every argument of the whole vectors lies in [−64, 0] (or
 * is NaN) and they take exp's fast path without a range check; otherwise
 * (−inf scores, wide rows) arguments below −64 give 0 (attn_avx2_exp_flush).
 * Both give the same bits for the same argument. */
static inline float attn_avx2_row_exp_sum(float *x, size_t n, float m, float lo)
{
    const __m256 vm = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    size_t j = 0;
    if (lo - m >= -ATTN_SOFTMAX_FLUSH) {
        for (; j + 8 <= n; j += 8) {
            const __m256 p = attn_exp_avx2_fast(_mm256_sub_ps(_mm256_loadu_ps(x + j), vm));
            _mm256_storeu_ps(x + j, p);
            acc = _mm256_add_ps(acc, p);
        }
    } else {
        for (; j + 8 <= n; j += 8) {
            const __m256 p = attn_avx2_exp_flush(_mm256_sub_ps(_mm256_loadu_ps(x + j), vm));
            _mm256_storeu_ps(x + j, p);
            acc = _mm256_add_ps(acc, p);
        }
    }
    if (j < n) {
        const __m256i mask = attn_avx2_lane_mask((ptrdiff_t)(n - j));
        /* Masked lanes load 0 and give exp(−m), maybe inf: zero them. */
        __m256 p = attn_avx2_exp_flush(_mm256_sub_ps(_mm256_maskload_ps(x + j, mask), vm));
        p = _mm256_and_ps(p, _mm256_castsi256_ps(mask));
        _mm256_maskstore_ps(x + j, mask, p);
        acc = _mm256_add_ps(acc, p);
    }
    return attn_avx2_hsum(acc);
}

/* x[j] ← c · x[j]. */
static inline void attn_avx2_row_scale(float *x, size_t n, float c)
{
    const __m256 vc = _mm256_set1_ps(c);
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(x + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), vc));
    if (j < n) {
        const __m256i mask = attn_avx2_lane_mask((ptrdiff_t)(n - j));
        _mm256_maskstore_ps(x + j, mask, _mm256_mul_ps(_mm256_maskload_ps(x + j, mask), vc));
    }
}

/* x[j] ← c. */
static inline void attn_avx2_row_fill(float *x, size_t n, float c)
{
    const __m256 vc = _mm256_set1_ps(c);
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(x + j, vc);
    if (j < n)
        _mm256_maskstore_ps(x + j, attn_avx2_lane_mask((ptrdiff_t)(n - j)), vc);
}

/* e^x of one float, by the vector routine, so scalar and vector results of
 * the kernels come from the same function. */
static inline float attn_avx2_exp1(float x)
{
    return _mm256_cvtss_f32(attn_exp_avx2(_mm256_set1_ps(x)));
}

#endif /* ATTN_SOFTMAX_AVX2_H */
