/*
 * pack_v (f32), portable C: n rows of dv floats at stride ldv → contiguous.
 */
#include <string.h>

#include "microkernels.h"

void attn_f32_pack_v_ukr__scalar(size_t n, size_t dv, const float *v, size_t ldv,
                                 float *vp)
{
    for (size_t j = 0; j < n; j++)
        memcpy(vp + j * dv, v + j * ldv, dv * sizeof(float));
}
