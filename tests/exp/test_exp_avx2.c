/*
 * test_exp_avx2.c — the AVX2 vector exp (kernels/avx2/exp_avx2.h) against the
 * correctly rounded result, over the float range:
 *   - every float in [−104, 89] with |x| ≥ 2^−12 (the range where e^x is
 *     neither 0, inf nor within a few ulp of 1: 3.3e8 values), and every 7th
 *     bit pattern of all 2^32 (the rest: tiny |x|, huge |x|, inf, NaN);
 *   - max error ≤ 2 ulp, counted as the distance between bit patterns, which
 *     are ordered like the non-negative floats, so a subnormal result is
 *     measured in subnormal steps (exp_avx2 rounds gradual underflow, it does
 *     not flush) and FLT_MAX → inf is one step;
 *   - exactly +0 below the underflow threshold (where the correctly rounded
 *     result is 0) and for −inf, +inf above the overflow threshold, NaN for NaN,
 *     exactly 1 for ±0;
 *   - a lane's result does not depend on the other lanes (fast and slow path
 *     agree bit for bit).
 * The reference is (float)exp((double)x): glibc's exp is correctly rounded in
 * double in all but rare cases and the second rounding to float can be off by
 * one ulp only within 2^−29 of a float midpoint, which the 2-ulp bound absorbs.
 *
 * This file is compiled with -mavx2 -mfma; each test checks the CPU first and
 * is skipped (not failed) without AVX2+FMA. The AVX2 work lives in noinline
 * functions so that no AVX instruction runs before that check.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "avx2/exp_avx2.h"

static int have_avx2_fma(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#define REQUIRE_AVX2()                                                         \
    do {                                                                       \
        if (!have_avx2_fma())                                                  \
            cr_skip_test("this CPU has no AVX2+FMA");                          \
    } while (0)

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Below this (ln 2^−150) e^x rounds to 0; above the overflow threshold
 * (ln of FLT_MAX + half an ulp) it rounds to inf. */
static const double underflow_x = -103.972077083991796;
static const double overflow_x = 88.7228391116729996;

typedef struct sweep_stat {
    uint64_t count;      /* values compared */
    uint32_t max_ulp;
    float worst_x;
    uint64_t bad;        /* NaN/zero/inf rule violations */
    float first_bad_x;
    float first_bad_y;
} sweep_stat;

static void check_lane(float x, float y, sweep_stat *st)
{
    int ok = 1;
    if (isnan(x)) {
        ok = isnan(y);
    } else {
        const float ref = (float)exp((double)x);
        if (signbit(y) || isnan(y)) {
            ok = 0;
        } else {
            const uint32_t a = bits_of(y), b = bits_of(ref);
            const uint32_t ulp = a > b ? a - b : b - a;
            if (ulp > st->max_ulp) {
                st->max_ulp = ulp;
                st->worst_x = x;
            }
            if ((double)x < underflow_x)
                ok = bits_of(y) == 0; /* exactly +0, −inf included */
            else if ((double)x > overflow_x)
                ok = isinf(y);
            else if (x == 0.0f)
                ok = y == 1.0f;
        }
        st->count++;
    }
    if (!ok && !st->bad++) {
        st->first_bad_x = x;
        st->first_bad_y = y;
    }
}

/* Bit patterns lo, lo + stride, … ≤ hi (unsigned order), 8 per vector call. */
__attribute__((noinline)) static void sweep(uint32_t lo, uint32_t hi, uint32_t stride,
                                            sweep_stat *st)
{
    float x[8], y[8];
    for (uint64_t u = lo; u <= hi; u += 8 * (uint64_t)stride) {
        for (int i = 0; i < 8; i++) {
            const uint64_t v = u + (uint64_t)i * stride;
            x[i] = float_of((uint32_t)(v <= hi ? v : hi));
        }
        _mm256_storeu_ps(y, attn_exp_avx2(_mm256_loadu_ps(x)));
        for (int i = 0; i < 8; i++)
            check_lane(x[i], y[i], st);
    }
}

static void report(const char *what, const sweep_stat *st)
{
    cr_log_info("%s: %llu values, max %u ulp at %a", what,
                (unsigned long long)st->count, st->max_ulp, (double)st->worst_x);
    cr_expect_eq(st->bad, 0, "%s: %llu special-value violations, first exp(%a) = %a", what,
                 (unsigned long long)st->bad, (double)st->first_bad_x, (double)st->first_bad_y);
    cr_expect_leq(st->max_ulp, 2, "%s: max error %u ulp at x = %a (%.9g)", what, st->max_ulp,
                  (double)st->worst_x, (double)st->worst_x);
}

/* 2^−12 and the ends of the dense range as bit patterns. */
#define BITS_2M12 0x39800000u /* 2^−12 */
#define BITS_89 0x42B20000u   /* 89.0 */
#define BITS_104 0x42D00000u  /* 104.0 */
#define SIGN 0x80000000u

Test(exp_avx2, dense_positive, .timeout = 120)
{
    REQUIRE_AVX2();
    sweep_stat st = {0};
    sweep(BITS_2M12, BITS_89, 1, &st); /* every float in [2^−12, 89] */
    report("[2^-12, 89]", &st);
}

Test(exp_avx2, dense_negative, .timeout = 120)
{
    REQUIRE_AVX2();
    sweep_stat st = {0};
    sweep(SIGN | BITS_2M12, SIGN | BITS_104, 1, &st); /* every float in [−104, −2^−12] */
    report("[-104, -2^-12]", &st);
}

/* Two halves so that Criterion runs them on two cores. */
Test(exp_avx2, every_7th_positive_pattern, .timeout = 120)
{
    REQUIRE_AVX2();
    sweep_stat st = {0};
    sweep(0, 0x7FFFFFFFu, 7, &st); /* +0 … +inf … +NaN */
    report("every 7th float >= +0", &st);
}

Test(exp_avx2, every_7th_negative_pattern, .timeout = 120)
{
    REQUIRE_AVX2();
    sweep_stat st = {0};
    sweep(SIGN, 0xFFFFFFFFu, 7, &st); /* −0 … −inf … −NaN */
    report("every 7th float <= -0", &st);
}

__attribute__((noinline)) static void exp8(const float *x, float *y)
{
    _mm256_storeu_ps(y, attn_exp_avx2(_mm256_loadu_ps(x)));
}

Test(exp_avx2, special_values)
{
    REQUIRE_AVX2();
    const float x[8] = {-INFINITY, INFINITY, NAN, -NAN, 0.0f, -0.0f, -1e30f, 1e30f};
    float y[8];
    exp8(x, y);
    cr_expect(bits_of(y[0]) == 0, "exp(-inf) = %a, not +0", (double)y[0]);
    cr_expect(isinf(y[1]) && y[1] > 0, "exp(+inf) = %a", (double)y[1]);
    cr_expect(isnan(y[2]) && isnan(y[3]), "exp(NaN) = %a, %a", (double)y[2], (double)y[3]);
    cr_expect(y[4] == 1.0f && y[5] == 1.0f, "exp(±0) = %a, %a", (double)y[4], (double)y[5]);
    cr_expect(bits_of(y[6]) == 0 && isinf(y[7]), "exp(∓1e30) = %a, %a", (double)y[6],
              (double)y[7]);
    /* Signalling NaNs and payloads stay NaN. */
    const uint32_t nans[8] = {0x7F800001u, 0xFF800001u, 0x7FBFFFFFu, 0xFFFFFFFFu,
                              0x7FC00000u, 0xFFC00000u, 0x7FC12345u, 0x7FFFFFFFu};
    float xn[8];
    for (int i = 0; i < 8; i++)
        xn[i] = float_of(nans[i]);
    exp8(xn, y);
    for (int i = 0; i < 8; i++)
        cr_expect(isnan(y[i]), "exp(NaN 0x%08x) = %a", nans[i], (double)y[i]);
}

/* One out-of-range lane sends the vector down the slow path: the other lanes
 * must come out bit for bit as on the fast path. */
Test(exp_avx2, lanes_are_independent)
{
    REQUIRE_AVX2();
    const float in[8] = {-87.0f, -20.5f, -1.0f, -0x1p-20f, 0.0f, 0.75f, 33.3f, 87.0f};
    const float odd[4] = {-INFINITY, NAN, 100.0f, -95.0f};
    float fast[8];
    exp8(in, fast);
    for (int lane = 0; lane < 8; lane++)
        for (int k = 0; k < 4; k++) {
            float x[8], y[8];
            memcpy(x, in, sizeof x);
            x[lane] = odd[k];
            exp8(x, y);
            for (int i = 0; i < 8; i++)
                if (i != lane)
                    cr_expect(bits_of(y[i]) == bits_of(fast[i]),
                              "lane %d: exp(%a) = %a beside %a, %a alone", i, (double)in[i],
                              (double)y[i], (double)odd[k], (double)fast[i]);
        }
}
