/*
 * exp_avx512.h — e^x on 16 floats, shared by the AVX-512 kernels.
 *
 * Accuracy: < 1 ulp over the whole float range (max 0.89 ulp of the exact
 * value, measured on all 2^32 inputs against double exp), subnormal results
 * included (rounded, not flushed); exactly +0 for x ≤ −104 and −inf, +inf
 * for x ≥ 89 and +inf, NaN → NaN. tests/avx512_emu/test_exp_avx512.c
 * checks it, emulated and native.
 *
 * Algorithm (the classic one; SLEEF, XNNPACK rr2):
 *   1. clamp x to [−104, 89]: outside, e^x already rounds to 0 or overflows,
 *      and the clamp keeps n below 2^22 for step 2. max/min return their
 *      second operand when either is NaN, so the NaN is passed second and
 *      survives.
 *   2. n = round(x · log2 e) by the magic-number trick: adding 1.5·2^23
 *      leaves the rounded integer in the low mantissa bits; subtracting it
 *      back gives n exactly (round to nearest even, |n| ≤ 150).
 *   3. r = x − n·ln2 in two FMA steps (Cody–Waite): ln2_hi has 16 significant
 *      bits so n·ln2_hi is exact; ln2_lo carries the rest. |r| ≤ ln2/2 (+ε).
 *   4. e^r ≈ 1 + r + c2 r² + … + c6 r⁶ (Horner, FMA), a minimax fit of the
 *      relative error on [−0.3466, 0.3466] (Remez, 40-digit mpmath; fit error
 *      3.1e-9, 3.8e-9 with the coefficients rounded to float, far below the
 *      float ulp of 6e-8 or 1.2e-7 on [0.7, 1.4]).
 *   5. e^x = e^r · 2^n by VSCALEFPS, which rounds once, so results that
 *      overflow become +inf and subnormal results are rounded, not flushed.
 * Cost per 16 values: 2 clamps, 9 FMA,
 * 1 sub, 1 scalef. The emulated build computes the same bits (SIMDe's FMA
 * is fused on AVX2+FMA; avx512_emu.h supplies an exact scalef).
 */
#ifndef ATTN_EXP_AVX512_H
#define ATTN_EXP_AVX512_H

#include "avx512_intrin.h"

/* Steps 2–5 on x already in [−104, 89] (or NaN). */
static inline __m512 attn_exp_reduced_avx512(__m512 x)
{
    const __m512 log2e = _mm512_set1_ps(0x1.715476p+0f);         /* 1/ln 2, rounded */
    const __m512 magic = _mm512_set1_ps(0x1.8p+23f);             /* 1.5 · 2^23 */
    const __m512 minus_ln2_hi = _mm512_set1_ps(-0x1.62E400p-1f); /* ln 2, 16 bits */
    const __m512 minus_ln2_lo = _mm512_set1_ps(-0x1.7F7D1Cp-20f); /* ln 2 − ln2_hi */
    const __m512 c6 = _mm512_set1_ps(0x1.6A2434p-10f);
    const __m512 c5 = _mm512_set1_ps(0x1.1239E2p-7f);
    const __m512 c4 = _mm512_set1_ps(0x1.5558F2p-5f);
    const __m512 c3 = _mm512_set1_ps(0x1.555492p-3f);
    const __m512 c2 = _mm512_set1_ps(0x1.FFFFFCp-2f);
    const __m512 one = _mm512_set1_ps(1.0f);

    __m512 n = _mm512_fmadd_ps(x, log2e, magic);
    n = _mm512_sub_ps(n, magic);

    __m512 r = _mm512_fmadd_ps(n, minus_ln2_hi, x);
    r = _mm512_fmadd_ps(n, minus_ln2_lo, r);

    __m512 p = _mm512_fmadd_ps(c6, r, c5);
    p = _mm512_fmadd_ps(p, r, c4);
    p = _mm512_fmadd_ps(p, r, c3);
    p = _mm512_fmadd_ps(p, r, c2);
    p = _mm512_fmadd_ps(p, r, one);
    p = _mm512_fmadd_ps(p, r, one);

    return _mm512_scalef_ps(p, n);
}

/* e^x for any x. */
static inline __m512 attn_exp_avx512(__m512 x)
{
    x = _mm512_max_ps(_mm512_set1_ps(-0x1.A0p+6f), x); /* −104; NaN second: it survives */
    x = _mm512_min_ps(_mm512_set1_ps(0x1.64p+6f), x);  /* 89 */
    return attn_exp_reduced_avx512(x);
}

#endif /* ATTN_EXP_AVX512_H */
