/*
 * softmax_row, portable C: stable softmax of one row in place, returning its
 * log-sum-exp (contract in microkernels.h). exp is libm's expf.
 */
#include <math.h>

#include "microkernels.h"

float attn_f32_softmax_row_ukr__scalar(size_t n, float *x)
{
    float mx = -INFINITY;
    int has_nan = 0;
    for (size_t j = 0; j < n; j++) {
        if (x[j] > mx)
            mx = x[j];
        has_nan |= isnan(x[j]);
    }
    if (has_nan) {
        for (size_t j = 0; j < n; j++)
            x[j] = NAN;
        return NAN;
    }
    if (mx == -INFINITY) {
        for (size_t j = 0; j < n; j++)
            x[j] = 0.0f;
        return -INFINITY;
    }
    float sum = 0.0f;
    for (size_t j = 0; j < n; j++) {
        x[j] = expf(x[j] - mx);
        sum += x[j];
    }
    const float inv = 1.0f / sum;
    for (size_t j = 0; j < n; j++)
        x[j] *= inv;
    return mx + logf(sum);
}
