/*
 * exp_neon.h — vector expf on 4 floats (aarch64 ASIMD), shared by the NEON
 * softmax kernels. static inline; includes only neon_intrin.h.
 *
 * Contract: attn_exp_neon(x) = e^x in every lane, ≤ 2 ulp over the whole
 * float range (measured ≤ 1 ulp against the correctly rounded result), with
 *   - exactly +0 for −inf and for every x whose e^x rounds to 0
 *     (x < −103.97…); subnormal results with gradual underflow;
 *   - +inf for +inf and for x above the overflow threshold (88.7228…);
 *   - NaN for NaN.
 * Branch-free, and every lane depends on its own input only: a lane's value
 * never depends on its neighbours (a row's result does not depend on which
 * tile it sits in).
 *
 * Method (the same as kernels/avx2/exp_avx2.h, Cody–Waite reduction +
 * minimax polynomial, as in Cephes expf, SLEEF and XNNPACK):
 *   clamp x to [−104, 89] (e^−104 < 2^−150 rounds to 0, e^89 > FLT_MAX);
 *   n = round(x·log2 e) by the magic-number trick (no vcvtnq_s32_f32 in SIMDe),
 *   r = x − n·ln2 in two steps (|r| ≤ ln2/2 + tiny),
 *   e^x = p(r) · 2^n1 · 2^n2, n1 = floor(n/2), n2 = n − n1: p·2^n1 is exact
 *   and the second multiply rounds once (into the subnormals, to 0 or to inf
 *   as it must), so for normal results this is exactly p·2^n.
 */
#ifndef ATTN_EXP_NEON_H
#define ATTN_EXP_NEON_H

#include "neon_intrin.h"

/* log2(e) rounded to float. */
#define ATTN_EXPN_LOG2E 0x1.715476p+0f
/* 1.5·2^23: x·log2e + MAGIC rounds to an integer n held in the low mantissa
 * bits (the ulp of 1.5·2^23 is 1; the 1.5 keeps the exponent fixed for
 * |n| < 2^22), so bits(t) − bits(MAGIC) = n as an int32. */
#define ATTN_EXPN_MAGIC 0x1.8p+23f
/* −ln2 split (Cody–Waite): LN2_HI = 0.693145751953125 has 15 significant
 * bits, so n·LN2_HI is exact for |n| ≤ 2^9 and x − n·LN2_HI is exact;
 * LN2_LO = ln2 − LN2_HI rounded to float. Negated: SIMDe has no vfmsq_f32. */
#define ATTN_EXPN_NEG_LN2_HI (-0x1.62E400p-1f)
#define ATTN_EXPN_NEG_LN2_LO (-0x1.7F7D1Cp-20f)
/* p(r) = 1 + r + c2 r² + … + c6 r⁶, relative-error minimax on
 * [−ln2/2, ln2/2]·1.0001 (Remez, c0 = c1 = 1 fixed, so e^0 = 1 exactly),
 * coefficients rounded to float: max relative error 3.8e−9 (the same
 * polynomial as exp_avx2.h). */
#define ATTN_EXPN_C2 0x1.FFFFFCp-2f
#define ATTN_EXPN_C3 0x1.555492p-3f
#define ATTN_EXPN_C4 0x1.5558F2p-5f
#define ATTN_EXPN_C5 0x1.1239E2p-7f
#define ATTN_EXPN_C6 0x1.6A2436p-10f
/* Clamp: keeps n in [−150, 128], so 2^n1 and 2^n2 are normal floats. */
#define ATTN_EXPN_LO (-104.0f)
#define ATTN_EXPN_HI 89.0f

/* e^x, 4 lanes. */
ATTN_NEON_INLINE float32x4_t attn_exp_neon(float32x4_t x)
{
    /* FMAX/FMIN return NaN when an operand is NaN: NaN stays NaN through the
     * clamp, then p = NaN makes the product NaN whatever the scale bits. */
    x = vmaxq_f32(x, vdupq_n_f32(ATTN_EXPN_LO));
    x = vminq_f32(x, vdupq_n_f32(ATTN_EXPN_HI));

    const float32x4_t magic = vdupq_n_f32(ATTN_EXPN_MAGIC);
    const float32x4_t t = vfmaq_f32(magic, x, vdupq_n_f32(ATTN_EXPN_LOG2E));
    const float32x4_t n = vsubq_f32(t, magic); /* exact: round(x·log2e) */
    float32x4_t r = vfmaq_f32(x, n, vdupq_n_f32(ATTN_EXPN_NEG_LN2_HI));
    r = vfmaq_f32(r, n, vdupq_n_f32(ATTN_EXPN_NEG_LN2_LO));

    /* Horner; the last two steps add the exact 1s, so the rounding errors of
     * the higher terms are scaled down by |r| ≤ 0.35. */
    float32x4_t p = vfmaq_f32(vdupq_n_f32(ATTN_EXPN_C5), vdupq_n_f32(ATTN_EXPN_C6), r);
    p = vfmaq_f32(vdupq_n_f32(ATTN_EXPN_C4), p, r);
    p = vfmaq_f32(vdupq_n_f32(ATTN_EXPN_C3), p, r);
    p = vfmaq_f32(vdupq_n_f32(ATTN_EXPN_C2), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);

    /* 2^n = 2^n1 · 2^n2 built in the exponent field. */
    const int32x4_t ni = vsubq_s32(vreinterpretq_s32_f32(t), vreinterpretq_s32_f32(magic));
    const int32x4_t n1 = vshrq_n_s32(ni, 1);
    const int32x4_t n2 = vsubq_s32(ni, n1);
    const int32x4_t bias = vdupq_n_s32(127);
    const float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
    const float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
    return vmulq_f32(vmulq_f32(p, s1), s2);
}

#endif /* ATTN_EXP_NEON_H */
