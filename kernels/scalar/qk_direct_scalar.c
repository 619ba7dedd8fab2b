/*
 * qk_direct, portable C: S[m × n] = Q[m × d] · Kᵀ with K rows read in place
 * (contract in microkernels.h). Each score is one chain over d in order.
 */
#include "microkernels.h"

void attn_f32_qk_direct_ukr__scalar(size_t m, size_t n, size_t d, const float *q,
                                    size_t ldq, const float *k, size_t ldk, float *s,
                                    size_t lds)
{
    for (size_t j = 0; j < n; j++)
        for (size_t r = 0; r < m; r++) {
            float acc = 0.0f;
            for (size_t t = 0; t < d; t++)
                acc += q[r * ldq + t] * k[j * ldk + t];
            s[r * lds + j] = acc;
        }
}
