/*
 * pack_k (f32), portable C: n keys of d floats → panels of nr keys, for each
 * dd the nr keys' values side by side, the last panel zero-padded to nr
 * (layout in microkernels.h).
 */
#include "microkernels.h"

void attn_f32_pack_k_ukr__scalar(size_t n, size_t d, const float *k, size_t ldk,
                                 float *kp, size_t nr)
{
    for (size_t j0 = 0; j0 < n; j0 += nr) {
        float *panel = kp + (j0 / nr) * nr * d;
        const size_t nn = n - j0 < nr ? n - j0 : nr;
        for (size_t jj = 0; jj < nr; jj++) {
            const float *krow = k + (j0 + jj) * ldk;
            if (jj < nn) {
                for (size_t dd = 0; dd < d; dd++)
                    panel[dd * nr + jj] = krow[dd];
            } else {
                for (size_t dd = 0; dd < d; dd++)
                    panel[dd * nr + jj] = 0.0f;
            }
        }
    }
}
