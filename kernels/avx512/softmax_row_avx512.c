/*
 * softmax_row, AVX-512: stable softmax of one row in place, returning its
 * log-sum-exp (contract in microkernels.h): x ← exp(x − max) / Σ, 16 lanes
 * with k-masked tails. All −inf (or n = 0): x = 0, returns −inf. NaN in x:
 * every x and the result are NaN, as in the scalar kernel. exp is
 * exp_avx512.h (≤ 1 ulp); the sum's lane order is fixed (softmax_avx512.h).
 */
#include <math.h>

#include "microkernels.h"
#include "softmax_avx512.h"

float attn_f32_softmax_row_ukr__avx512(size_t n, float *x)
{
    int has_nan;
    const float mx = attn_row_max_avx512(n, x, &has_nan);
    if (has_nan) {
        attn_row_fill_avx512(n, x, NAN);
        return NAN;
    }
    if (mx == -INFINITY) {
        attn_row_fill_avx512(n, x, 0.0f);
        return -INFINITY;
    }
    const float sum = attn_row_exp_sum_avx512(n, x, mx);
    const __m512 inv = _mm512_set1_ps(1.0f / sum);
    size_t j = 0;
    for (; j + 16 <= n; j += 16)
        _mm512_storeu_ps(x + j, _mm512_mul_ps(_mm512_loadu_ps(x + j), inv));
    if (j < n) {
        const __mmask16 k = attn_mask16(n - j);
        _mm512_mask_storeu_ps(x + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + j), inv));
    }
    return mx + logf(sum);
}
