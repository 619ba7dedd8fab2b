/*
 * softcap_row, aarch64 ASIMD: s[j] ← cap · tanh(s[j] · (1/cap)) for j < n
 * (contract in microkernels.h). tanh per kernels/tanh_coeffs.h, ±inf →
 * ±cap, NaN stays NaN. The division 2/(e + 1) is a reciprocal estimate with
 * three Newton steps (SIMDe has no vdivq_f32), the last one on the quotient
 * itself, so it stays within 1 ulp of the rounded quotient: ≤ 3 ulp overall.
 *
 * A vector whose lanes are all small (|x| < 0.625, the common case for
 * Gemma-style caps of 30–50) skips the exp and the division.
 */
#include "microkernels.h"
#include "tanh_coeffs.h"
#include "neon/neon_intrin.h"
#include "neon/exp_neon.h"

attn_softcap_row_fn attn_f32_softcap_row_ukr__neon;

ATTN_NEON_INLINE float32x4_t tanh_neon(float32x4_t x)
{
    const float32x4_t a = vabsq_f32(x);
    const float32x4_t u = vmulq_f32(a, a);
    float32x4_t p = vfmaq_f32(vdupq_n_f32(ATTN_TANH_C3), vdupq_n_f32(ATTN_TANH_C4), u);
    p = vfmaq_f32(vdupq_n_f32(ATTN_TANH_C2), p, u);
    p = vfmaq_f32(vdupq_n_f32(ATTN_TANH_C1), p, u);
    p = vfmaq_f32(vdupq_n_f32(ATTN_TANH_C0), p, u);
    /* on |x|, the sign put back at the end: x + x³P would turn −0 into +0 */
    const float32x4_t small = vfmaq_f32(a, vmulq_f32(a, u), p);
    const uint32x4_t sign = vandq_u32(vreinterpretq_u32_f32(x), vdupq_n_u32(0x80000000u));
    /* false for NaN: NaN lanes take the large path, which keeps them NaN */
    const uint32x4_t is_small = vcltq_f32(a, vdupq_n_f32(ATTN_TANH_SMALL));
    if (vminvq_u32(is_small) != 0)
        return vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(small), sign));
    /* FMIN propagates NaN */
    const float32x4_t a2 = vminq_f32(vaddq_f32(a, a), vdupq_n_f32(ATTN_TANH_CLAMP2));
    const float32x4_t d = vaddq_f32(attn_exp_neon(a2), vdupq_n_f32(1.0f));
    float32x4_t r = vrecpeq_f32(d);
    r = vmulq_f32(r, vrecpsq_f32(d, r));
    r = vmulq_f32(r, vrecpsq_f32(d, r));
    float32x4_t q = vaddq_f32(r, r);                                   /* ≈ 2/d */
    q = vfmaq_f32(q, r, vfmaq_f32(vdupq_n_f32(2.0f), vnegq_f32(q), d)); /* + r·(2 − q·d) */
    const float32x4_t t = vsubq_f32(vdupq_n_f32(1.0f), q);
    return vreinterpretq_f32_u32(
        vorrq_u32(vreinterpretq_u32_f32(vbslq_f32(is_small, small, t)), sign));
}

void attn_f32_softcap_row_ukr__neon(size_t n, float *s, float cap)
{
    const float32x4_t c = vdupq_n_f32(cap), inv = vdupq_n_f32(1.0f / cap);
    size_t j = 0;
    for (; j + 4 <= n; j += 4)
        vst1q_f32(s + j, vmulq_f32(c, tanh_neon(vmulq_f32(vld1q_f32(s + j), inv))));
    if (j < n)
        attn_neon_store_part(s + j,
                             vmulq_f32(c, tanh_neon(vmulq_f32(attn_neon_load_part(s + j, n - j, 0.0f), inv))),
                             n - j);
}
