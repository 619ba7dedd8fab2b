/*
 * exp_avx2.h — vector expf on 8 floats (AVX2 + FMA), shared by the AVX2
 * softmax kernels. static inline: only files compiled with -mavx2 -mfma
 * include it.
 *
 * Contract: attn_exp_avx2(x) = e^x in every lane, ≤ 2 ulp over the whole float
 * range (measured max 1 ulp against the correctly rounded result, see
 * tests/exp/test_exp_avx2.c), with
 *   - exactly +0 for −inf and for every x below the underflow threshold
 *     (x < −103.97…, where e^x < 2^−150 rounds to 0);
 *   - subnormal results computed with gradual underflow (one final rounding,
 *     not flushed to zero), so e^x for x in (−103.97, −87.34) is correct too;
 *   - +inf for x above the overflow threshold (x > 88.7228…) and for +inf;
 *   - NaN for NaN.
 * The result of a lane depends on that lane's input only (the slow path, taken
 * when any lane is out of the fast range, gives in-range lanes bitwise the
 * same value as the fast path).
 *
 * Method (the classic Cody–Waite reduction + minimax polynomial, as in Cephes
 * expf, SLEEF and XNNPACK's f32 exp kernels):
 *   n = round(x · log2(e)),  r = x − n·ln2  (|r| ≤ ln2/2 + tiny),
 *   e^x = 2^n · p(r),        p(r) = 1 + r + c2 r² + … + c6 r⁶.
 */
#ifndef ATTN_EXP_AVX2_H
#define ATTN_EXP_AVX2_H

#include <immintrin.h>

/* log2(e) rounded to float. */
#define ATTN_EXP_LOG2E 0x1.715476p+0f
/* 1.5·2^23 + 127: adding it rounds x·log2(e) to an integer n in the low
 * mantissa bits (ulp of 1.5·2^23 is 1; the 1.5 keeps the exponent fixed for
 * |n| < 2^22) and pre-adds the exponent bias, so (bits << 23) is 2^n. */
#define ATTN_EXP_MAGIC 0x1.8000FEp+23f
/* ln2 split for the Cody–Waite reduction: LN2_HI = 0.693145751953125 has 15
 * significant bits, so n·LN2_HI is exact for |n| ≤ 2^9 and x − n·LN2_HI is
 * exact (Sterbenz); LN2_LO = ln2 − LN2_HI (1.42860682e−6) rounded to float. */
#define ATTN_EXP_LN2_HI 0x1.62E400p-1f
#define ATTN_EXP_LN2_LO 0x1.7F7D1Cp-20f
/* p(r) = 1 + r + c2 r² + … + c6 r⁶: c0 = c1 = 1 fixed (p(0) = 1 exactly, so
 * exp(0) = 1), c2..c6 the relative-error minimax on [−ln2/2, ln2/2]·1.0001,
 * computed with a Remez exchange in 60-digit arithmetic (mpmath), then rounded
 * to float: max relative error of the rounded polynomial 3.8e−9 (2^−27.97). */
#define ATTN_EXP_C2 0x1.FFFFFCp-2f
#define ATTN_EXP_C3 0x1.555492p-3f
#define ATTN_EXP_C4 0x1.5558F2p-5f
#define ATTN_EXP_C5 0x1.1239E2p-7f
#define ATTN_EXP_C6 0x1.6A2436p-10f
/* |x| ≤ 87: n ∈ [−126, 126] and e^x ≥ 1.6e−38 is normal, so 2^n · p is an
 * exact scaling. Anything else (and ±inf) takes the slow path. */
#define ATTN_EXP_FAST_MAX 87.0f
/* Slow-path clamp: e^−104 < 2^−150 rounds to 0, e^89 > FLT_MAX rounds to
 * inf; clamping keeps n in [−150, 128] and the magic-number rounding valid. */
#define ATTN_EXP_CLAMP_LO (-104.0f)
#define ATTN_EXP_CLAMP_HI 89.0f

/* p(r) for r = x − n·ln2 and t = MAGIC + n (n in t's low mantissa bits). */
static inline __m256 attn_exp_avx2_poly(__m256 x, __m256 *t_out)
{
    const __m256 magic = _mm256_set1_ps(ATTN_EXP_MAGIC);
    const __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(ATTN_EXP_LOG2E), magic);
    const __m256 n = _mm256_sub_ps(t, magic);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(ATTN_EXP_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(ATTN_EXP_LN2_LO), r);
    /* Horner; the last two steps add the exact 1s, so the rounding errors of
     * the higher terms are scaled down by |r| ≤ 0.35. */
    __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(ATTN_EXP_C6), r, _mm256_set1_ps(ATTN_EXP_C5));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(ATTN_EXP_C4));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(ATTN_EXP_C3));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(ATTN_EXP_C2));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f));
    *t_out = t;
    return _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f));
}

/* Any x: clamp, then scale by 2^n as 2^n1 · 2^n2 (n1 = floor(n/2)) so that
 * neither factor leaves the normal range; p·2^n1 is exact and the second
 * multiply rounds once, into the subnormals or to 0 or inf as it must. */
static inline __m256 attn_exp_avx2_slow(__m256 x)
{
    /* max/min return their second operand when one is NaN: NaN stays NaN. */
    x = _mm256_max_ps(_mm256_set1_ps(ATTN_EXP_CLAMP_LO), x);
    x = _mm256_min_ps(_mm256_set1_ps(ATTN_EXP_CLAMP_HI), x);
    __m256 t;
    const __m256 p = attn_exp_avx2_poly(x, &t);
    const __m256i n = _mm256_sub_epi32(_mm256_castps_si256(t),
                                       _mm256_castps_si256(_mm256_set1_ps(ATTN_EXP_MAGIC)));
    const __m256i n1 = _mm256_srai_epi32(n, 1);
    const __m256i n2 = _mm256_sub_epi32(n, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

/* e^x for lanes known to hold |x| ≤ ATTN_EXP_FAST_MAX or NaN (callers that
 * bound their inputs beforehand skip the range check): 2^n · p. */
static inline __m256 attn_exp_avx2_fast(__m256 x)
{
    __m256 t;
    const __m256 p = attn_exp_avx2_poly(x, &t);
    const __m256 s = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(t), 23));
    return _mm256_mul_ps(p, s);
}

/* e^x, 8 lanes, any input. */
static inline __m256 attn_exp_avx2(__m256 x)
{
    const __m256 absx = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    /* Ordered compare: NaN stays on the fast path, where p = NaN makes the
     * product NaN whatever the scale bits are. */
    const __m256 out = _mm256_cmp_ps(absx, _mm256_set1_ps(ATTN_EXP_FAST_MAX), _CMP_GT_OQ);
    if (__builtin_expect(_mm256_movemask_ps(out) != 0, 0))
        return attn_exp_avx2_slow(x);
    return attn_exp_avx2_fast(x);
}

#endif /* ATTN_EXP_AVX2_H */
