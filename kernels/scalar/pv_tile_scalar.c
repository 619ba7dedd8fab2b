/*
 * pv_tile, portable C: O[m × dv] = P[m × n] · V[n × dv] + alpha ⊙ O
 * (contract in microkernels.h). m ≤ 4. Each output element accumulates its
 * n products in key order onto the rescaled old value, so the result of a
 * row does not depend on m.
 */
#include <assert.h>

#include "microkernels.h"

enum { MR = 4, NR = 8 };

void attn_f32_pv_tile_ukr_4x8__scalar(size_t m, size_t n, size_t dv,
                                      const float *p, size_t ldp,
                                      const float *v, size_t ldv,
                                      float *o, size_t ldo,
                                      const float *alpha, int overwrite)
{
    assert(m <= MR);
    for (size_t c0 = 0; c0 < dv; c0 += NR) {
        const size_t nc = dv - c0 < NR ? dv - c0 : NR;
        for (size_t r = 0; r < m; r++) {
            float acc[NR];
            float *orow = o + r * ldo + c0;
            for (size_t c = 0; c < nc; c++)
                acc[c] = overwrite ? 0.0f : (alpha ? alpha[r] * orow[c] : orow[c]);
            for (size_t j = 0; j < n; j++) {
                const float pj = p[r * ldp + j];
                const float *vrow = v + j * ldv + c0;
                for (size_t c = 0; c < nc; c++)
                    acc[c] += pj * vrow[c];
            }
            for (size_t c = 0; c < nc; c++)
                orow[c] = acc[c];
        }
    }
}
