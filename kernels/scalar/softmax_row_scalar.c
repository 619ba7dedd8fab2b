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
    /* eight partial sums (term j in sum j mod 8), as a vector kernel would:
     * one chain over a long row would gather n·2^−24 of rounding error */
    float part[8] = {0};
    for (size_t j = 0; j < n; j++) {
        x[j] = expf(x[j] - mx);
        part[j % 8] += x[j];
    }
    const float sum = ((part[0] + part[4]) + (part[2] + part[6])) +
                      ((part[1] + part[5]) + (part[3] + part[7]));
    const float inv = 1.0f / sum;
    for (size_t j = 0; j < n; j++)
        x[j] *= inv;
    return mx + logf(sum);
}
