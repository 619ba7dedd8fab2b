/*
 * qk_direct, aarch64 ASIMD: S[m × n] = Q[m × d] · Kᵀ with K read in place,
 * row by row (contract in microkernels.h), for the few query rows of
 * decoding. Four keys × two rows: 8 accumulators over d in chunks of 4 (a
 * partial last chunk loads zeros), then vaddvq per score; the four keys'
 * rows stay in L1 for the next pair of rows. Each score is one chain over d
 * and one reduction, whatever m, n or its position.
 */
#include "microkernels.h"
#include "neon/neon_intrin.h"

attn_qk_direct_fn attn_f32_qk_direct_ukr__neon;

ATTN_NEON_INLINE void quad(size_t d, const float *q0, const float *q1, const float *const *kr,
                           float *s0, float *s1, size_t kk, int two)
{
    float32x4_t a0[4], a1[4];
    for (int c = 0; c < 4; c++)
        a0[c] = a1[c] = vdupq_n_f32(0.0f);
    for (size_t t = 0; t < d; t += 4) {
        const size_t w = d - t < 4 ? d - t : 4;
        const float32x4_t y0 = attn_neon_load_part(q0 + t, w, 0.0f);
        const float32x4_t y1 = attn_neon_load_part(q1 + t, w, 0.0f);
        ATTN_NEON_UNROLL
        for (int c = 0; c < 4; c++) {
            const float32x4_t x = attn_neon_load_part(kr[c] + t, w, 0.0f);
            a0[c] = vfmaq_f32(a0[c], y0, x);
            if (two)
                a1[c] = vfmaq_f32(a1[c], y1, x);
        }
    }
    for (size_t c = 0; c < kk; c++) {
        s0[c] = vaddvq_f32(a0[c]);
        if (two)
            s1[c] = vaddvq_f32(a1[c]);
    }
}

void attn_f32_qk_direct_ukr__neon(size_t m, size_t n, size_t d, const float *q, size_t ldq,
                                  const float *k, size_t ldk, float *s, size_t lds)
{
    for (size_t j = 0; j < n; j += 4) {
        const size_t kk = n - j < 4 ? n - j : 4;
        const float *kr[4];
        for (size_t c = 0; c < 4; c++) /* keys past n repeat the last: never stored */
            kr[c] = k + (j + (c < kk ? c : kk - 1)) * ldk;
        size_t r = 0;
        for (; r + 2 <= m; r += 2)
            quad(d, q + r * ldq, q + (r + 1) * ldq, kr, s + r * lds + j, s + (r + 1) * lds + j,
                 kk, 1);
        if (r < m)
            quad(d, q + r * ldq, q + r * ldq, kr, s + r * lds + j, s + r * lds + j, kk, 0);
    }
}
