/*
 * qk_tile, portable C: S[m × n] = Q[m × d] · Kᵀ on a K block packed in panels
 * of 8 keys (see microkernels.h). m ≤ 4; tails in n are the zero-padded last
 * panel, of which only the valid columns are stored. Each score is one dot
 * product summed over dd in order, so its value does not depend on m or n.
 */
#include <assert.h>

#include "microkernels.h"

enum { MR = 4, NR = 8 };

void attn_f32_qk_tile_ukr_4x8__scalar(size_t m, size_t n, size_t d,
                                      const float *q, size_t ldq,
                                      const float *kp, float *s, size_t lds)
{
    assert(m <= MR);
    for (size_t j0 = 0; j0 < n; j0 += NR) {
        const float *panel = kp + (j0 / NR) * NR * d;
        float acc[MR][NR] = {{0}};
        for (size_t dd = 0; dd < d; dd++) {
            const float *kv = panel + dd * NR;
            for (size_t r = 0; r < m; r++) {
                const float qv = q[r * ldq + dd];
                for (size_t jj = 0; jj < NR; jj++)
                    acc[r][jj] += qv * kv[jj];
            }
        }
        const size_t nn = n - j0 < NR ? n - j0 : NR;
        for (size_t r = 0; r < m; r++)
            for (size_t jj = 0; jj < nn; jj++)
                s[r * lds + j0 + jj] = acc[r][jj];
    }
}
