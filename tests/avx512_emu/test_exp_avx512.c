/*
 * test_exp_avx512.c — the AVX-512 vector exp (kernels/avx512/exp_avx512.h),
 * as the emulated kernels build it (SIMDe on AVX2+FMA) and, on a host with
 * AVX-512, natively:
 *   - within 1 ulp of the correctly rounded result, counted as the distance
 *     between bit patterns (ordered like the non-negative floats, so a
 *     subnormal result is measured in subnormal steps: the exp rounds
 *     gradual underflow, it does not flush) — on every 61st bit pattern of
 *     all 2^32, on every float of the underflow region [−104, −87] and of the
 *     overflow edge [88, 89];
 *   - exactly +0 for −inf and wherever the correctly rounded result is 0,
 *     +inf for +inf and wherever it overflows, NaN for NaN, 1 for ±0;
 *   - a lane's result does not depend on its position or its neighbours;
 *   - emulated and native results identical, bit for bit.
 * The reference is (float)exp((double)x): glibc's exp is correctly rounded in
 * double but for rare cases, and the second rounding can be off by one only
 * within 2^−29 of a float midpoint, which the 1-ulp bound absorbs (the
 * measured maximum over every float is 0.89 ulp of the exact value).
 *
 * This file has no ISA flags: the vector code is behind emu_exp16 (built with
 * -mavx2 -mfma) and nat_exp16 (-mavx512f …), each called only when the CPU
 * runs it; a test whose code cannot run here is skipped.
 */
#include <criterion/criterion.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "avx512_emu_test.h"

typedef void exp16_fn(float out[16], const float in[16]);

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float flt(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Distance in representable steps between two floats of the same sign. */
static uint32_t ulp_dist(float a, float b)
{
    const uint32_t ua = bits(a) & 0x7fffffffu, ub = bits(b) & 0x7fffffffu;
    return ua > ub ? ua - ub : ub - ua;
}

typedef struct stats {
    uint32_t worst;   /* max ulp distance */
    float worst_x;
    long bad;         /* special-value failures */
} stats;

/* Checks 16 inputs against the correctly rounded reference. */
static void check16(exp16_fn *f, const float x[16], stats *st)
{
    float y[16];
    f(y, x);
    for (int i = 0; i < 16; i++) {
        if (isnan(x[i])) {
            if (!isnan(y[i]) && st->bad++ < 5)
                cr_log_error("exp(NaN %#010x) = %a", bits(x[i]), (double)y[i]);
            continue;
        }
        const float ref = (float)exp((double)x[i]);
        if (ref == 0.0f || isinf(ref) || ref == 1.0f) {
            /* 0, inf and 1 are exact: +0 below underflow, +inf above overflow */
            if (bits(y[i]) != bits(ref) && !(ref == 1.0f && ulp_dist(y[i], ref) <= 1)) {
                if (st->bad++ < 5)
                    cr_log_error("exp(%a) = %a, want %a", (double)x[i], (double)y[i], (double)ref);
            }
            continue;
        }
        if (signbit(y[i]) || isnan(y[i]) || isinf(y[i])) {
            if (st->bad++ < 5)
                cr_log_error("exp(%a) = %a, want %a", (double)x[i], (double)y[i], (double)ref);
            continue;
        }
        const uint32_t d = ulp_dist(y[i], ref);
        if (d > st->worst) {
            st->worst = d;
            st->worst_x = x[i];
        }
    }
}

/* Every `step`-th bit pattern, then the dense edge regions. */
static void sweep(exp16_fn *f, uint32_t step)
{
    stats st = {0, 0.0f, 0};
    float x[16];
    int n = 0;
    for (uint64_t u = 0; u <= 0xffffffffull; u += step) {
        x[n++] = flt((uint32_t)u);
        if (n == 16) {
            check16(f, x, &st);
            n = 0;
        }
    }
    const float lo[2] = {-104.0f, 88.0f}, hi[2] = {-87.0f, 89.0f};
    for (int r = 0; r < 2; r++)
        for (float v = lo[r]; v <= hi[r]; v = nextafterf(v, INFINITY)) {
            x[n++] = v;
            if (n == 16) {
                check16(f, x, &st);
                n = 0;
            }
        }
    cr_expect_eq(st.bad, 0, "%ld special-value failures", st.bad);
    cr_expect_leq(st.worst, 1u, "max error %u ulp at x = %a", st.worst, (double)st.worst_x);
    cr_log_info("max error %u ulp (bit-pattern distance to the correctly rounded value)", st.worst);
}

static void specials(exp16_fn *f)
{
    const float x[16] = {NAN, -NAN, INFINITY, -INFINITY, 0.0f, -0.0f, -104.0f, -1e30f,
                         89.0f, 1e30f, -FLT_MAX, 0x1.62e42ep6f, -100.0f, -95.0f, 1.0f, -1.0f};
    float y[16];
    f(y, x);
    cr_expect(isnan(y[0]) && isnan(y[1]), "exp(NaN) must be NaN");
    cr_expect(bits(y[2]) == 0x7f800000u, "exp(+inf) = %a", (double)y[2]);
    cr_expect(bits(y[3]) == 0u, "exp(-inf) = %a (bits %#010x), want +0", (double)y[3], bits(y[3]));
    cr_expect(y[4] == 1.0f && y[5] == 1.0f, "exp(±0) = %a, %a", (double)y[4], (double)y[5]);
    cr_expect(bits(y[6]) == 0u && bits(y[7]) == 0u && bits(y[10]) == 0u,
              "exp(x ≤ −104) must be exactly +0");
    cr_expect(bits(y[8]) == 0x7f800000u && bits(y[9]) == 0x7f800000u, "exp(x ≥ 89) must be +inf");
    cr_expect(isfinite(y[11]) && y[11] > 3.4e38f, "exp(88.72283) = %a: FLT_MAX range, finite",
              (double)y[11]);
    cr_expect(y[12] > 0.0f && y[12] < 0x1p-126f, "exp(−100) = %a: subnormal, not flushed",
              (double)y[12]);
    cr_expect(y[13] > 0.0f && y[13] < 0x1p-126f, "exp(−95) = %a: subnormal, not flushed",
              (double)y[13]);
    cr_expect(ulp_dist(y[14], 0x1.5bf0a8p1f) <= 1 && ulp_dist(y[15], 0x1.78b564p-2f) <= 1,
              "exp(±1) = %a, %a", (double)y[14], (double)y[15]);
}

/* The same value in every lane position, among arbitrary neighbours. */
static void lanes(exp16_fn *f)
{
    const float probe[4] = {-3.25f, 0.1f, -87.5f, 42.0f};
    for (int p = 0; p < 4; p++) {
        float x[16], y[16], first = 0.0f;
        for (int pos = 0; pos < 16; pos++) {
            for (int i = 0; i < 16; i++)
                x[i] = i == pos ? probe[p] : (float)(i * 7 - 50) + (i & 1 ? NAN : 0.0f);
            f(y, x);
            if (pos == 0)
                first = y[0];
            cr_expect(bits(y[pos]) == bits(first), "exp(%g) differs in lane %d", (double)probe[p], pos);
        }
    }
}

#define REQUIRE(cond, what)                                                    \
    do {                                                                       \
        if (!(cond))                                                           \
            cr_skip_test("this CPU has no " what);                             \
    } while (0)

Test(exp_avx512, emulated_specials) { REQUIRE(have_avx2_fma(), "AVX2+FMA"); specials(emu_exp16); }
Test(exp_avx512, emulated_lanes) { REQUIRE(have_avx2_fma(), "AVX2+FMA"); lanes(emu_exp16); }
Test(exp_avx512, emulated_ulp, .timeout = 280) { REQUIRE(have_avx2_fma(), "AVX2+FMA"); sweep(emu_exp16, 61); }

Test(exp_avx512, native_specials) { REQUIRE(have_avx512(), "AVX-512"); specials(nat_exp16); }
Test(exp_avx512, native_lanes) { REQUIRE(have_avx512(), "AVX-512"); lanes(nat_exp16); }
Test(exp_avx512, native_ulp, .timeout = 280) { REQUIRE(have_avx512(), "AVX-512"); sweep(nat_exp16, 7); }

/* Emulated and native compute the same bits (every 97th pattern). */
Test(exp_avx512, emulated_equals_native, .timeout = 280)
{
    REQUIRE(have_avx512() && have_avx2_fma(), "AVX-512");
    float x[16], ye[16], yn[16];
    long diff = 0;
    for (uint64_t u = 0; u <= 0xffffffffull; u += 97 * 16) {
        for (int i = 0; i < 16; i++)
            x[i] = flt((uint32_t)(u + (uint64_t)i * 97));
        emu_exp16(ye, x);
        nat_exp16(yn, x);
        for (int i = 0; i < 16; i++)
            if (bits(ye[i]) != bits(yn[i]) && !(isnan(ye[i]) && isnan(yn[i])) && diff++ < 5)
                cr_log_error("exp(%a): emulated %a, native %a", (double)x[i], (double)ye[i],
                             (double)yn[i]);
    }
    cr_expect_eq(diff, 0, "%ld values differ between emulated and native exp", diff);
}
