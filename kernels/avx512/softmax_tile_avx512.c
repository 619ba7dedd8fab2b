/*
 * softmax_tile, AVX-512: one online-softmax step over m rows of n scores, in
 * place (contract in microkernels.h), 16 lanes with k-masked tails.
 *
 * Per row: m_new = max(mx, max_j s_j) (NaN anywhere → NaN), s_j ← exp(s_j −
 * m_new), α = exp(mx − m_new) (1 when the max did not move),
 * l ← α·l + Σ s_j. Exactly the scalar kernel's decisions: a row whose max
 * is still −inf gets s = 0, α = 1 and keeps mx = −inf, l = 0 (never
 * exp(−inf − −inf)); NaN reaches s, α, l and mx. exp is exp_avx512.h
 * (≤ 1 ulp).
 *
 * Rows go in groups of 16, in three phases: every row's max, then the 16
 * α in one vector exp, then every row's exp pass. Done row by row, each
 * row would wait for its own max reduction and α (~150 cycles of latency)
 * before its exp pass; phased, those latencies overlap the neighbours'
 * work. Rows stay independent: a row's result depends on its own scores
 * only, not on m or its place in the tile; the sum's lane order is
 * relative to s[r, 0] (softmax_avx512.h).
 */
#include <math.h>

#include "microkernels.h"
#include "softmax_avx512.h"

int attn_f32_softmax_tile_ukr__avx512(size_t m, size_t n, float *s, size_t lds,
                                      float *mx, float *l, float *alpha)
{
    int rescale = 0;
    for (size_t r0 = 0; r0 < m; r0 += 16) {
        const size_t g = m - r0 < 16 ? m - r0 : 16;
        float m_new[16] = {0};
        for (size_t i = 0; i < g; i++) {
            int has_nan;
            const float row_max = attn_row_max_avx512(n, s + (r0 + i) * lds, &has_nan);
            float mn = mx[r0 + i];
            if (row_max > mn) /* false for a NaN mx: it stays NaN */
                mn = row_max;
            if (has_nan)
                mn = NAN; /* the row attends to a NaN score: it becomes NaN */
            m_new[i] = mn;
        }

        /* α = exp(mx − m_new), 1 where they are equal (a −inf row included) */
        const __mmask16 kg = attn_mask16(g);
        const __m512 vmx = _mm512_maskz_loadu_ps(kg, mx + r0);
        const __m512 vmn = _mm512_loadu_ps(m_new);
        const __mmask16 same = _mm512_cmp_ps_mask(vmx, vmn, _CMP_EQ_OQ);
        const __m512 va = _mm512_mask_blend_ps(same, attn_exp_avx512(_mm512_sub_ps(vmx, vmn)),
                                               _mm512_set1_ps(1.0f));
        _mm512_mask_storeu_ps(alpha + r0, kg, va);

        for (size_t i = 0; i < g; i++) {
            float *row = s + (r0 + i) * lds;
            const size_t r = r0 + i;
            if (m_new[i] == -INFINITY) {
                attn_row_fill_avx512(n, row, 0.0f); /* mx = −inf, l = 0 stay */
                continue;
            }
            const float sum = attn_row_exp_sum_avx512(n, row, m_new[i]);
            l[r] = alpha[r] * l[r] + sum;
            mx[r] = m_new[i];
            rescale |= (alpha[r] != 1.0f);
        }
    }
    return rescale;
}
