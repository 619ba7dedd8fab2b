/*
 * softmax_row, AVX2 + FMA: x[0..n) ← softmax(x) in place, max-subtracted;
 * returns the log-sum-exp max + log Σ exp(x − max) (contract in
 * microkernels.h). All −inf or n = 0: x = 0, returns −inf. NaN in x: the row
 * and the result are NaN. exp is exp_avx2.h (≤ 2 ulp); any n, the n mod 8
 * tail a masked vector.
 *
 * Three vector passes: max and min (NaN ignored), exp fused with the sum, scale by
 * 1/sum. A NaN in x makes the sum NaN, so 1/sum turns the whole row NaN with
 * no extra pass; only an all-(−inf or NaN) row, which skips the exp pass,
 * needs an explicit NaN scan.
 */
#include <math.h>

#include "microkernels.h"
#include "avx2/softmax_avx2.h"

float attn_f32_softmax_row_ukr__avx2(size_t n, float *x)
{
    float lo;
    const float mx = attn_avx2_row_minmax(x, n, &lo);
    if (mx == -INFINITY) {
        if (attn_avx2_row_has_nan(x, n)) {
            attn_avx2_row_fill(x, n, NAN);
            return NAN;
        }
        attn_avx2_row_fill(x, n, 0.0f);
        return -INFINITY;
    }
    const float sum = attn_avx2_row_exp_sum(x, n, mx, lo);
    attn_avx2_row_scale(x, n, 1.0f / sum);
    return mx + logf(sum);
}
