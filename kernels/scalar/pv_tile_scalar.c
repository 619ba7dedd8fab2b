/*
 * pv_tile, portable C: O[m × dv] = P[m × n] · V[n × dv] + alpha ⊙ O
 * (contract in microkernels.h). m ≤ 4. Each output element accumulates its
 * n products in key order onto the rescaled old value, so the result of a
 * row does not depend on m.
 * pv_tile_f16/bf16: the same loops with V rows of 16-bit values, each
 * widened exactly as it is read (convert.h), so bitwise the f32 kernel on
 * the widened rows.
 */
#include <assert.h>

#include "convert.h"
#include "microkernels.h"

enum { MR = 4, NR = 8 };

static inline float widen_f32(float x) { return x; }

/* attn_<T>_pv_tile_ukr_4x8__scalar for V elements of type VT read by WIDEN. */
#define PV_DEFINE(T, VT, WIDEN)                                                \
    void attn_##T##_pv_tile_ukr_4x8__scalar(size_t m, size_t n, size_t dv,     \
                                            const float *p, size_t ldp,        \
                                            const VT *v, size_t ldv,           \
                                            float *o, size_t ldo,              \
                                            const float *alpha, int overwrite) \
    {                                                                          \
        assert(m <= MR);                                                       \
        for (size_t c0 = 0; c0 < dv; c0 += NR) {                               \
            const size_t nc = dv - c0 < NR ? dv - c0 : NR;                     \
            for (size_t r = 0; r < m; r++) {                                   \
                float acc[NR];                                                 \
                float *orow = o + r * ldo + c0;                                \
                for (size_t c = 0; c < nc; c++)                                \
                    acc[c] = overwrite ? 0.0f : (alpha ? alpha[r] * orow[c] : orow[c]); \
                for (size_t j = 0; j < n; j++) {                               \
                    const float pj = p[r * ldp + j];                           \
                    const VT *vrow = v + j * ldv + c0;                         \
                    for (size_t c = 0; c < nc; c++)                            \
                        acc[c] += pj * WIDEN(vrow[c]);                         \
                }                                                              \
                for (size_t c = 0; c < nc; c++)                                \
                    orow[c] = acc[c];                                          \
            }                                                                  \
        }                                                                      \
    }

PV_DEFINE(f32, float, widen_f32)
PV_DEFINE(f16, uint16_t, attn_f16_to_f32)
PV_DEFINE(bf16, uint16_t, attn_bf16_to_f32)
