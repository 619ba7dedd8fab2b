/*
 * softmax_tile, AVX2 + FMA: one online-softmax step over m rows of n scores,
 * in place (contract in microkernels.h): per row, m_new = max(mx, max_j s),
 * s ← exp(s − m_new), alpha = exp(mx − m_new) (1 when the max did not move),
 * l ← alpha·l + Σ s, mx ← m_new; returns nonzero when some alpha != 1.
 * exp is exp_avx2.h (≤ 2 ulp, exact 0 for −inf). Any n; the n mod 8 tail is a
 * masked vector whose lanes add nothing to the max or the sum.
 *
 * Two vector passes per row: the max (and min), then exp fused with the store
 * and the row sum. The max pass ignores NaN (no NaN test per vector); a NaN
 * score shows up as a NaN sum, and the row then becomes NaN exactly as in the
 * scalar kernel (all s, l, mx and alpha NaN). Only when the max is ±inf does
 * the row need an explicit NaN scan, because −inf rows skip the exp pass and
 * with a +inf max, inf − inf also gives NaN terms.
 * Rows are independent: a row's result does not depend on m or its position.
 */
#include <math.h>

#include "microkernels.h"
#include "avx2/softmax_avx2.h"

/* The whole row attends to NaN: same values as the scalar kernel. */
static void nan_row(float *row, size_t n, float *mx, float *l, float *alpha)
{
    attn_avx2_row_fill(row, n, NAN);
    *mx = NAN;
    *l = NAN;
    *alpha = NAN;
}

/* One row; returns nonzero when its alpha != 1. */
static int softmax_row_step(float *row, size_t n, float *mx, float *l, float *alpha)
{
    const float m_old = *mx;
    float lo;
    const float m_row = attn_avx2_row_minmax(row, n, &lo);
    const float m_new = m_row > m_old ? m_row : m_old;
    if (isnan(m_old) || (!isfinite(m_new) && attn_avx2_row_has_nan(row, n))) {
        nan_row(row, n, mx, l, alpha);
        return 1;
    }
    if (m_new == -INFINITY) { /* every score so far masked: stay at (−inf, 0) */
        attn_avx2_row_fill(row, n, 0.0f);
        *alpha = 1.0f;
        return 0;
    }
    const float sum = attn_avx2_row_exp_sum(row, n, m_new, lo);
    if (isnan(sum) && isfinite(m_new)) { /* a NaN score (m_new finite: no inf − inf) */
        nan_row(row, n, mx, l, alpha);
        return 1;
    }
    const float a = (m_old == m_new) ? 1.0f : attn_avx2_exp1(m_old - m_new);
    *alpha = a;
    *l = a * *l + sum;
    *mx = m_new;
    return a != 1.0f;
}

int attn_f32_softmax_tile_ukr__avx2(size_t m, size_t n, float *s, size_t lds,
                                    float *mx, float *l, float *alpha)
{
    int rescale = 0;
    for (size_t r = 0; r < m; r++)
        rescale |= softmax_row_step(s + r * lds, n, &mx[r], &l[r], &alpha[r]);
    return rescale;
}
