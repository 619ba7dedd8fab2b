/*
 * softcap_row, portable C: s[j] ← cap · tanh(s[j] · (1/cap)) for j < n
 * (contract in microkernels.h), with libm's tanhf.
 */
#include <math.h>

#include "microkernels.h"

void attn_f32_softcap_row_ukr__scalar(size_t n, float *s, float cap)
{
    const float inv = 1.0f / cap;
    for (size_t j = 0; j < n; j++)
        s[j] = cap * tanhf(s[j] * inv);
}
