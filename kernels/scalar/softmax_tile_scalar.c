/*
 * softmax_tile, portable C: one online-softmax step over m rows of n scores,
 * in place (contract in microkernels.h). exp is libm's expf (< 1 ulp).
 * A row whose max is −inf (every score so far masked) keeps mx = −inf and
 * l = 0; its scores become 0 without evaluating exp(−inf − −inf) = NaN.
 */
#include <math.h>

#include "microkernels.h"

int attn_f32_softmax_tile_ukr__scalar(size_t m, size_t n, float *s, size_t lds,
                                      float *mx, float *l, float *alpha)
{
    int rescale = 0;
    for (size_t r = 0; r < m; r++) {
        float *row = s + r * lds;
        float m_new = mx[r];
        int has_nan = 0;
        for (size_t j = 0; j < n; j++) {
            if (row[j] > m_new)
                m_new = row[j];
            has_nan |= isnan(row[j]);
        }
        if (has_nan)
            m_new = NAN; /* the row attends to a NaN score: it becomes NaN */
        if (m_new == -INFINITY) {
            for (size_t j = 0; j < n; j++)
                row[j] = 0.0f;
            alpha[r] = 1.0f;
            continue;
        }
        const float a = (mx[r] == m_new) ? 1.0f : expf(mx[r] - m_new);
        float sum = 0.0f;
        for (size_t j = 0; j < n; j++) {
            row[j] = expf(row[j] - m_new);
            sum += row[j];
        }
        alpha[r] = a;
        l[r] = a * l[r] + sum;
        mx[r] = m_new;
        rescale |= (a != 1.0f);
    }
    return rescale;
}
