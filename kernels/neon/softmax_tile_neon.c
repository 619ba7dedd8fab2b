/*
 * softmax_tile, aarch64 ASIMD: one online-softmax step over m rows of n
 * scores, in place (contract in microkernels.h): per row
 *     m_new = max(mx, max_j s_j),  s_j = e^(s_j − m_new),
 *     alpha = e^(mx − m_new) (1 when the max did not move),
 *     l = alpha·l + Σ_j s_j,       mx = m_new;
 * returns nonzero when some alpha != 1. A row whose max stays −inf keeps
 * mx = −inf and l = 0, its scores become 0 and alpha = 1 (no e^(−inf + inf)).
 * A NaN score (or a NaN mx) makes m_new NaN, hence the whole row, alpha and
 * l NaN. exp is exp_neon.h (≤ 2 ulp, e^−inf = 0).
 *
 * Determinism: rows are independent and each row's sum is lane j mod 4 of
 * one accumulator (row_neon.h), so a row's result depends neither on m nor
 * on its position in the tile, and masked (−inf) columns never change it.
 */
#include <math.h>

#include "microkernels.h"
#include "neon/exp_neon.h"
#include "neon/row_neon.h"

attn_softmax_tile_fn attn_f32_softmax_tile_ukr__neon;

int attn_f32_softmax_tile_ukr__neon(size_t m, size_t n, float *s, size_t lds,
                                    float *mx, float *l, float *alpha)
{
    int rescale = 0;
    for (size_t r = 0; r < m; r++) {
        float *row = s + r * lds;
        const float m_new = attn_neon_row_max(n, row, mx[r]);
        if (m_new == -INFINITY) {
            attn_neon_row_fill(n, row, 0.0f);
            alpha[r] = 1.0f;
            continue;
        }
        /* equal maxima (+inf included) give exactly 1; NaN ≠ NaN takes exp */
        const float a = mx[r] == m_new
                            ? 1.0f
                            : vgetq_lane_f32(attn_exp_neon(vdupq_n_f32(mx[r] - m_new)), 0);
        const float sum = attn_neon_row_exp(n, row, m_new);
        alpha[r] = a;
        l[r] = a * l[r] + sum;
        mx[r] = m_new;
        rescale |= a != 1.0f;
    }
    return rescale;
}
