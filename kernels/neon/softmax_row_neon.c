/*
 * softmax_row, aarch64 ASIMD: x[0..n) ← softmax(x) in place, max-subtracted;
 * returns the row's log-sum-exp, max + log Σ e^(x − max) (contract in
 * microkernels.h). All −inf (or n = 0): x = 0, returns −inf. A NaN in x:
 * the row and the result are NaN.
 *
 * Three passes (row_neon.h): max with NaN detection, e^(x − max) stored with
 * its sum, then a multiply by 1/sum (one scalar division: SIMDe has no
 * vdivq_f32). exp is exp_neon.h (≤ 2 ulp).
 */
#include <math.h>

#include "microkernels.h"
#include "neon/neon_intrin.h"
#include "neon/row_neon.h"

attn_softmax_row_fn attn_f32_softmax_row_ukr__neon;

float attn_f32_softmax_row_ukr__neon(size_t n, float *x)
{
    const float mx = attn_neon_row_max(n, x, -INFINITY);
    if (isnan(mx)) {
        attn_neon_row_fill(n, x, NAN);
        return NAN;
    }
    if (mx == -INFINITY) {
        attn_neon_row_fill(n, x, 0.0f);
        return -INFINITY;
    }
    const float sum = attn_neon_row_exp(n, x, mx);
    const float32x4_t inv = vdupq_n_f32(1.0f / sum);
    size_t j = 0;
    for (; j + 4 <= n; j += 4)
        vst1q_f32(x + j, vmulq_f32(vld1q_f32(x + j), inv));
    if (j < n)
        attn_neon_store_part(x + j, vmulq_f32(attn_neon_load_part(x + j, n - j, 0.0f), inv),
                             n - j);
    return mx + logf(sum);
}
