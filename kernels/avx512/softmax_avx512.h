/*
 * softmax_avx512.h — the two row passes shared by softmax_tile and
 * softmax_row (AVX-512): a max/NaN scan and an in-place exp(x − m) with its
 * sum. n tails use k-masks; nothing past x[n − 1] is read or written.
 *
 * The sum keeps one accumulator whose lane ℓ adds columns j ≡ ℓ (mod 16)
 * in order of j, relative to the start of x, then reduces in a fixed order:
 * columns appended after the last one that are 0 (exp(−inf)) change no lane,
 * so a row's sum does not depend on how many masked columns follow it.
 * (One chain suffices: exp costs ~8 cycles per vector, the add 4.) The
 * exp is attn_exp_flush_avx512: x − m ≤ 0 here, or NaN; terms below
 * e^−64 become 0 (see there).
 */
#ifndef ATTN_SOFTMAX_AVX512_H
#define ATTN_SOFTMAX_AVX512_H

#include <math.h>
#include <stddef.h>

#include "avx512_intrin.h"
#include "exp_avx512.h"
#include "vec_avx512.h"

/* max over x[0..n) (−inf when n = 0); *has_nan = whether any x[j] is NaN.
 * max_ps drops NaN, so NaN is detected separately (unordered compare).
 * Four accumulators hide the 4-cycle latency of max; the max of a set does
 * not depend on the order it is taken in (up to the sign of a zero max,
 * which no later step can see: x − (±0) and exp(mx − (±0)) are the same). */
static inline float attn_row_max_avx512(size_t n, const float *x, int *has_nan)
{
    __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
    __mmask16 nan = 0;
    size_t j = 0;
    for (; j + 64 <= n; j += 64) {
        const __m512 v0 = _mm512_loadu_ps(x + j), v1 = _mm512_loadu_ps(x + j + 16);
        const __m512 v2 = _mm512_loadu_ps(x + j + 32), v3 = _mm512_loadu_ps(x + j + 48);
        m0 = _mm512_max_ps(m0, v0);
        m1 = _mm512_max_ps(m1, v1);
        m2 = _mm512_max_ps(m2, v2);
        m3 = _mm512_max_ps(m3, v3);
        nan |= _mm512_cmp_ps_mask(v0, v1, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(v2, v3, _CMP_UNORD_Q);
    }
    for (; j + 16 <= n; j += 16) {
        const __m512 v = _mm512_loadu_ps(x + j);
        m0 = _mm512_max_ps(m0, v);
        nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    }
    if (j < n) {
        const __mmask16 k = attn_mask16(n - j);
        const __m512 v = _mm512_maskz_loadu_ps(k, x + j); /* 0 outside k */
        m1 = _mm512_mask_max_ps(m1, k, m1, v);
        nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    }
    *has_nan = nan != 0;
    return attn_hmax_avx512(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
}

/* e^x for x ≤ 0 (or NaN), 0 for x < −64 (e^−64 < 2^−92): the row's largest
 * term is 1, so even 2^31 such terms change its sum by less than 2^−61,
 * while their products with V, accumulated into O, would be subnormal
 * numbers that cost a microcode assist each on x86 (ALiBi and long windows
 * make many such terms). −inf → 0; NaN stays NaN (max returns its second
 * operand when one is NaN, NLT_UQ is true for NaN). */
static inline __m512 attn_exp_flush_avx512(__m512 x)
{
    const __m512 lo = _mm512_set1_ps(-64.0f);
    const __mmask16 keep = _mm512_cmp_ps_mask(x, lo, _CMP_NLT_UQ);
    return _mm512_maskz_mov_ps(keep, attn_exp_reduced_avx512(_mm512_max_ps(lo, x)));
}

/* x[j] ← exp(x[j] − m) for j < n; returns Σ x[j] (lane order above). */
static inline float attn_row_exp_sum_avx512(size_t n, float *x, float m)
{
    const __m512 vm = _mm512_set1_ps(m);
    __m512 sum = _mm512_setzero_ps();
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        const __m512 e = attn_exp_flush_avx512(_mm512_sub_ps(_mm512_loadu_ps(x + j), vm));
        _mm512_storeu_ps(x + j, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (j < n) {
        const __mmask16 k = attn_mask16(n - j);
        __m512 e = attn_exp_flush_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), vm));
        e = _mm512_maskz_mov_ps(k, e); /* lanes past n add exactly 0 */
        _mm512_mask_storeu_ps(x + j, k, e);
        sum = _mm512_add_ps(sum, e);
    }
    return attn_hsum_avx512(sum);
}

/* x[0..n) ← v. */
static inline void attn_row_fill_avx512(size_t n, float *x, float v)
{
    const __m512 vv = _mm512_set1_ps(v);
    size_t j = 0;
    for (; j + 16 <= n; j += 16)
        _mm512_storeu_ps(x + j, vv);
    if (j < n)
        _mm512_mask_storeu_ps(x + j, attn_mask16(n - j), vv);
}

#endif /* ATTN_SOFTMAX_AVX512_H */
