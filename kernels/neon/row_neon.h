/*
 * row_neon.h — the row passes shared by the NEON softmax kernels
 * (softmax_tile, softmax_row). static inline; includes only neon_intrin.h
 * and exp_neon.h.
 *
 *   attn_neon_row_max(n, s, init)  max(init, s[0..n)); NaN when any is NaN
 *   attn_neon_row_exp(n, s, m)     s ← e^(s − m) in place, returns the sum
 *   attn_neon_row_fill(n, s, v)    s ← v
 *
 * The sum puts score j in lane j mod 4 of one accumulator (a tail's missing
 * lanes are padded with −inf, i.e. add +0) and reduces once at the end, so
 * it depends only on the row's own scores: never on how many rows a tile
 * holds, and −inf columns appended to a row never change it. Nothing reads
 * or writes past s[n − 1].
 */
#ifndef ATTN_ROW_NEON_H
#define ATTN_ROW_NEON_H

#include <math.h>

#include "neon/exp_neon.h"
#include "neon/neon_intrin.h"

ATTN_NEON_INLINE float attn_neon_row_max(size_t n, const float *s, float init)
{
    /* vmaxq_f32 propagates NaN (FMAX; SIMDe emulates it), so does hmax */
    float32x4_t m0 = vdupq_n_f32(init), m1 = m0;
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        m0 = vmaxq_f32(m0, vld1q_f32(s + j));
        m1 = vmaxq_f32(m1, vld1q_f32(s + j + 4));
    }
    for (; j + 4 <= n; j += 4)
        m0 = vmaxq_f32(m0, vld1q_f32(s + j));
    if (j < n)
        m1 = vmaxq_f32(m1, attn_neon_load_part(s + j, n - j, -INFINITY));
    return attn_neon_hmax(vmaxq_f32(m0, m1));
}

ATTN_NEON_INLINE float attn_neon_row_exp(size_t n, float *s, float m)
{
    const float32x4_t vm = vdupq_n_f32(m);
    float32x4_t sum = vdupq_n_f32(0.0f);
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float32x4_t e = attn_exp_neon(vsubq_f32(vld1q_f32(s + j), vm));
        vst1q_f32(s + j, e);
        sum = vaddq_f32(sum, e);
    }
    if (j < n) {
        const float32x4_t x = attn_neon_load_part(s + j, n - j, -INFINITY);
        const float32x4_t e = attn_exp_neon(vsubq_f32(x, vm));
        attn_neon_store_part(s + j, e, n - j);
        sum = vaddq_f32(sum, e);
    }
    return vaddvq_f32(sum);
}

ATTN_NEON_INLINE void attn_neon_row_fill(size_t n, float *s, float value)
{
    const float32x4_t v = vdupq_n_f32(value);
    size_t j = 0;
    for (; j + 4 <= n; j += 4)
        vst1q_f32(s + j, v);
    if (j < n)
        attn_neon_store_part(s + j, v, n - j);
}

#endif /* ATTN_ROW_NEON_H */
