/*
 * qk_direct, portable C: S[m × n] = Q[m × d] · Kᵀ with K rows read in place
 * (contract in microkernels.h). Each score is one chain over d in order;
 * 16-bit keys are widened exactly (convert.h) as they are read, so their
 * scores are bitwise those of the f32 kernel on the widened rows.
 */
#include "convert.h"
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

static inline void qk_direct_x16(size_t m, size_t n, size_t d, const float *q, size_t ldq,
                                 const uint16_t *k, size_t ldk, float *s, size_t lds,
                                 float (*widen)(uint16_t))
{
    for (size_t j = 0; j < n; j++)
        for (size_t r = 0; r < m; r++) {
            float acc = 0.0f;
            for (size_t t = 0; t < d; t++)
                acc += q[r * ldq + t] * widen(k[j * ldk + t]);
            s[r * lds + j] = acc;
        }
}

void attn_f16_qk_direct_ukr__scalar(size_t m, size_t n, size_t d, const float *q,
                                    size_t ldq, const uint16_t *k, size_t ldk, float *s,
                                    size_t lds)
{
    qk_direct_x16(m, n, d, q, ldq, k, ldk, s, lds, attn_f16_to_f32);
}

void attn_bf16_qk_direct_ukr__scalar(size_t m, size_t n, size_t d, const float *q,
                                     size_t ldq, const uint16_t *k, size_t ldk, float *s,
                                     size_t lds)
{
    qk_direct_x16(m, n, d, q, ldq, k, ldk, s, lds, attn_bf16_to_f32);
}
