/*
 * test_avx512_emu.c — kernels/avx512/avx512_emu.h, the compat header that
 * supplies what Debian's SIMDe lacks to the emulated AVX-512 build, checked
 * function by function against the documented behaviour of the native
 * intrinsic (Intel SDM / Intrinsics Guide):
 *   _mm512_maskz_loadu_ps   selected lanes loaded bit for bit, others +0.0,
 *                           unselected memory never touched (a guard page
 *                           right after the last selected lane);
 *   _mm512_mask_storeu_ps   selected lanes stored bit for bit, other memory
 *                           untouched (sentinels, guard page);
 *   _mm512_shuffle_f32x4    all 256 immediates;
 *   _mm512_cvtss_f32        lane 0, NaN payloads and −0 kept;
 *   _mm512_cvtph_ps         all 65536 binary16 values: exact, subnormals
 *                           normalised, NaN quiet with its payload;
 *   _mm512_cvtepu16_epi32   zero extension (values with the top bit set);
 *   _mm512_scalef_ps        a·2^floor(b) rounded once (overflow to ±inf,
 *                           gradual underflow), and the SDM's special cases
 *                           for NaN, ±inf and ±0.
 * Each is compared with a per-lane model of that documentation and with
 * hand-computed values; on a host with AVX-512 also with the native
 * intrinsic (native_avx512.c) on random and edge inputs — NaN (quiet,
 * signalling, negative), ±inf, ±0, subnormals, masks with all, none and some
 * lanes.
 *
 * This file is compiled without ISA flags (SIMDe's portable code), with
 * -DATTN_AVX512_EMULATED so that avx512_intrin.h selects SIMDe and the
 * compat header exactly as the emulated kernels see them.
 */
/* mmap's MAP_ANONYMOUS is not in strict C11 headers */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE 1
#endif

#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "avx512/avx512_intrin.h"
#include "avx512_emu_test.h"

#ifndef ATTN_AVX512_EMULATED
#error "build with -DATTN_AVX512_EMULATED"
#endif

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

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

static __m512 vec_of(const uint32_t lanes[16]) { return _mm512_loadu_ps(lanes); }

static void lanes_of(uint32_t out[16], __m512 v) { _mm512_storeu_ps(out, v); }

/* Values that exercise the edge cases: NaNs of every kind, ±inf, ±0,
 * subnormals, the normal extremes, ordinary numbers. */
static const uint32_t special[] = {
    0x7fc00000u, 0xffc00000u, 0x7fc12345u, 0x7f800001u, 0xff812345u, /* NaNs (q, s) */
    0x7f800000u, 0xff800000u,                                         /* ±inf */
    0x00000000u, 0x80000000u,                                         /* ±0 */
    0x00000001u, 0x80000001u, 0x007fffffu, 0x00400000u,               /* subnormals */
    0x00800000u, 0x7f7fffffu, 0xff7fffffu,                            /* normal extremes */
    0x3f800000u, 0xbf800000u, 0x3fc00000u, 0x3f000000u, 0xbf000000u,  /* ±1, 1.5, ±0.5 */
    0x42fe0000u, 0xc3150000u, 0x43000000u, 0xc3160000u,               /* 127, −149, 128, −150 */
    0x3f7fffffu, 0xbf7fffffu, 0x4b000001u, 0xcb7fffffu,               /* near 1, large ints */
};
#define NSPECIAL (sizeof special / sizeof special[0])

/* A random float: any bit pattern half of the time, else a moderate value. */
static uint32_t rnd_lane(void)
{
    const uint32_t r = rnd32();
    if (r & 1)
        return rnd32();
    if (r & 2)
        return special[rnd32() % NSPECIAL];
    return bits(ldexpf((float)(rnd32() % 2000000) / 1e6f - 1.0f, (int)(rnd32() % 60) - 30));
}

static const uint16_t masks[] = {0x0000, 0xFFFF, 0x0001, 0x8000, 0x5555, 0xAAAA, 0x00FF,
                                 0xFF00, 0x7FFF, 0xFFFE, 0x0180, 0x1234};
#define NMASKS (sizeof masks / sizeof masks[0])

/* A mapping of two pages whose second page is inaccessible: the returned
 * pointer is `bytes` before the guard page. */
typedef struct guarded {
    unsigned char *base;
    size_t page;
} guarded;

static unsigned char *guard_alloc(guarded *g, size_t bytes)
{
    g->page = (size_t)sysconf(_SC_PAGESIZE);
    void *m = mmap(NULL, 2 * g->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(m != MAP_FAILED, "mmap failed");
    g->base = m;
    cr_assert(mprotect(g->base + g->page, g->page, PROT_NONE) == 0, "mprotect failed");
    return g->base + g->page - bytes;
}

static void guard_free(guarded *g) { munmap(g->base, 2 * g->page); }

/* Highest lane selected by k, + 1 (0 for none). */
static int lanes_needed(uint16_t k)
{
    int n = 0;
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1)
            n = i + 1;
    return n;
}

/* ---- _mm512_maskz_loadu_ps --------------------------------------------- */

static void check_maskz_load(uint16_t k, const uint32_t src[16])
{
    /* only lanes 0 .. lanes_needed(k)−1 are mapped; the rest is a guard page */
    const int need = lanes_needed(k);
    guarded g;
    unsigned char *p = guard_alloc(&g, (size_t)need * 4);
    memcpy(p, src, (size_t)need * 4);

    uint32_t got[16], want[16];
    lanes_of(got, _mm512_maskz_loadu_ps(k, p));
    for (int i = 0; i < 16; i++)
        want[i] = ((k >> i) & 1) ? src[i] : 0u; /* +0.0 in unselected lanes */
    for (int i = 0; i < 16; i++)
        cr_expect_eq(got[i], want[i], "maskz_loadu k=%#06x lane %d: %#010x, want %#010x", k, i,
                     got[i], want[i]);
    if (have_avx512()) {
        uint32_t nat[16];
        nat_maskz_loadu(nat, k, p);
        cr_expect(memcmp(nat, got, sizeof got) == 0, "maskz_loadu k=%#06x differs from native", k);
    }
    guard_free(&g);
}

Test(compat, maskz_loadu_ps)
{
    uint32_t src[16];
    for (size_t m = 0; m < NMASKS; m++) {
        for (int i = 0; i < 16; i++)
            src[i] = special[(m + (size_t)i) % NSPECIAL]; /* NaN payloads, −0, … */
        check_maskz_load(masks[m], src);
    }
    for (int rep = 0; rep < 2000; rep++) {
        for (int i = 0; i < 16; i++)
            src[i] = rnd_lane();
        check_maskz_load((uint16_t)rnd32(), src);
    }
    /* hand-computed: k = 0b101, lanes 1.0, 2.0, 3.0 → 1.0, 0, 3.0, 0 … */
    const float in[3] = {1.0f, 2.0f, 3.0f};
    float out[16];
    _mm512_storeu_ps(out, _mm512_maskz_loadu_ps(0x5, in));
    cr_expect(out[0] == 1.0f && out[1] == 0.0f && !signbit(out[1]) && out[2] == 3.0f);
    for (int i = 3; i < 16; i++)
        cr_expect(bits(out[i]) == 0u);
}

/* ---- _mm512_mask_storeu_ps --------------------------------------------- */

static void check_mask_store(uint16_t k, const uint32_t src[16])
{
    const uint32_t sentinel = 0x7fa5a5a5u;
    const int need = lanes_needed(k);
    guarded g;
    unsigned char *p = guard_alloc(&g, (size_t)need * 4);
    uint32_t before[16];
    for (int i = 0; i < need; i++)
        memcpy(p + 4 * i, &sentinel, 4);
    _mm512_mask_storeu_ps(p, k, vec_of(src));
    for (int i = 0; i < need; i++) {
        uint32_t got;
        memcpy(&got, p + 4 * i, 4);
        const uint32_t want = ((k >> i) & 1) ? src[i] : sentinel;
        cr_expect_eq(got, want, "mask_storeu k=%#06x lane %d: %#010x, want %#010x", k, i, got,
                     want);
        before[i] = got;
    }
    if (have_avx512() && need > 0) {
        for (int i = 0; i < need; i++)
            memcpy(p + 4 * i, &sentinel, 4);
        nat_mask_storeu(p, k, src);
        cr_expect(memcmp(p, before, (size_t)need * 4) == 0, "mask_storeu k=%#06x differs from native",
                  k);
    }
    guard_free(&g);
}

Test(compat, mask_storeu_ps)
{
    uint32_t src[16];
    for (size_t m = 0; m < NMASKS; m++) {
        for (int i = 0; i < 16; i++)
            src[i] = special[(3 * m + (size_t)i) % NSPECIAL];
        check_mask_store(masks[m], src);
    }
    for (int rep = 0; rep < 2000; rep++) {
        for (int i = 0; i < 16; i++)
            src[i] = rnd_lane();
        check_mask_store((uint16_t)rnd32(), src);
    }
    /* k = 0: nothing written, even at a pointer with no mapped byte after it */
    guarded g;
    unsigned char *p = guard_alloc(&g, 0);
    _mm512_mask_storeu_ps(p, 0, _mm512_set1_ps(1.0f));
    guard_free(&g);
}

/* ---- _mm512_shuffle_f32x4 ---------------------------------------------- */

Test(compat, shuffle_f32x4)
{
    uint32_t a[16], b[16];
    for (int i = 0; i < 16; i++) {
        a[i] = bits((float)i);          /* a = 0 .. 15 */
        b[i] = bits((float)(100 + i));  /* b = 100 .. 115 */
    }
    a[5] = 0x7f800001u; /* a signalling NaN travels untouched */
    for (int imm = 0; imm < 256; imm++) {
        uint32_t got[16];
        lanes_of(got, attn_emu_mm512_shuffle_f32x4(vec_of(a), vec_of(b), imm));
        for (int j = 0; j < 4; j++) {
            const uint32_t *src = j < 2 ? a : b;
            const int sel = (imm >> (2 * j)) & 3;
            for (int e = 0; e < 4; e++)
                cr_expect_eq(got[4 * j + e], src[4 * sel + e], "shuffle_f32x4 imm=%#04x lane %d", imm,
                             4 * j + e);
        }
        if (have_avx512()) {
            uint32_t nat[16];
            nat_shuffle_f32x4(nat, a, b, imm);
            cr_expect(memcmp(nat, got, sizeof got) == 0, "shuffle_f32x4 imm=%#04x differs from native",
                      imm);
        }
    }
    /* hand-computed, through the intrinsic's name as the kernels write it:
     * 0x4E swaps the 256-bit halves, 0xB1 swaps neighbouring 128-bit blocks */
    uint32_t got[16];
    lanes_of(got, _mm512_shuffle_f32x4(vec_of(a), vec_of(a), 0x4E));
    cr_expect(flt(got[0]) == 8.0f && flt(got[8]) == 0.0f && flt(got[15]) == 7.0f);
    lanes_of(got, _mm512_shuffle_f32x4(vec_of(a), vec_of(a), 0xB1));
    cr_expect(flt(got[0]) == 4.0f && flt(got[4]) == 0.0f && flt(got[8]) == 12.0f);
}

/* ---- _mm512_cvtss_f32 -------------------------------------------------- */

Test(compat, cvtss_f32)
{
    uint32_t a[16];
    for (size_t s = 0; s < NSPECIAL; s++) {
        for (int i = 0; i < 16; i++)
            a[i] = rnd32();
        a[0] = special[s];
        const uint32_t got = bits(_mm512_cvtss_f32(vec_of(a)));
        cr_expect_eq(got, special[s], "cvtss_f32 of %#010x gave %#010x", special[s], got);
        if (have_avx512())
            cr_expect_eq(nat_cvtss_f32(a), got, "cvtss_f32 of %#010x differs from native", special[s]);
    }
}

/* ---- _mm512_cvtph_ps, _mm512_cvtepu16_epi32 ---------------------------- */

/* binary16 → binary32 by the definition: (−1)^s · 2^(e−15) · 1.m, or
 * 2^−14 · 0.m for e = 0, in double (exact), then to float (exact: every
 * half is a float); inf stays inf; NaN: sign, payload << 13, quiet bit. */
static uint32_t half_model(uint16_t h)
{
    const int s = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0x1f)
        return ((uint32_t)s << 31) | 0x7f800000u | ((uint32_t)m << 13) | (m ? 0x00400000u : 0u);
    const double v = e ? ldexp(1.0 + m / 1024.0, e - 15) : ldexp(m / 1024.0, -14);
    return bits((float)(s ? -v : v));
}

Test(compat, cvtph_ps)
{
    for (uint32_t h0 = 0; h0 < 65536; h0 += 16) {
        uint16_t h[16];
        uint32_t got[16];
        for (int i = 0; i < 16; i++)
            h[i] = (uint16_t)(h0 + (uint32_t)i);
        lanes_of(got, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)h)));
        for (int i = 0; i < 16; i++)
            cr_expect_eq(got[i], half_model(h[i]), "cvtph_ps(%#06x) = %#010x, want %#010x", h[i],
                         got[i], half_model(h[i]));
        if (have_avx512()) {
            uint32_t nat[16];
            nat_cvtph_ps(nat, h);
            cr_expect(memcmp(nat, got, sizeof got) == 0, "cvtph_ps from %#06x differs from native", h0);
        }
    }
    /* hand-computed: 1.0, −2.0, 65504, the smallest subnormal, −0, +inf, a sNaN */
    const uint16_t hh[7] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00, 0x7c01};
    const uint32_t want[7] = {0x3f800000u, 0xc0000000u, 0x477fe000u, 0x33800000u,
                              0x80000000u, 0x7f800000u, 0x7fc02000u};
    for (int i = 0; i < 7; i++)
        cr_expect_eq(half_model(hh[i]), want[i], "model of %#06x", hh[i]);
}

Test(compat, cvtepu16_epi32)
{
    for (int rep = 0; rep < 1000; rep++) {
        uint16_t h[16];
        uint32_t got[16];
        for (int i = 0; i < 16; i++)
            h[i] = rep == 0 ? (uint16_t)(0xFFFF - i) : (uint16_t)rnd32();
        _mm512_storeu_si512(got, _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)h)));
        for (int i = 0; i < 16; i++)
            cr_expect_eq(got[i], (uint32_t)h[i], "cvtepu16_epi32 lane %d: %#x from %#x", i, got[i], h[i]);
        if (have_avx512()) {
            uint32_t nat[16];
            nat_cvtepu16_epi32(nat, h);
            cr_expect(memcmp(nat, got, sizeof got) == 0, "cvtepu16_epi32 differs from native");
        }
    }
}

/* ---- _mm512_scalef_ps -------------------------------------------------- */

/* The per-lane model of VSCALEFPS (SDM, "VSCALEFPS—Scale Packed Float32
 * Values", special-case table; MXCSR default: nearest, DAZ off), written
 * independently of the compat header: in double, where a·2^floor(b) is exact,
 * then one rounding to float. */
static uint32_t scalef_model(uint32_t ua, uint32_t ub)
{
    const float a = flt(ua), b = flt(ub);
    const uint32_t qnan_bit = 0x00400000u;
    if (isnan(a) && !(ua & qnan_bit))
        return ua | qnan_bit; /* SNaN(a) → QNaN(a) */
    if (isnan(a))
        return ub == 0x7f800000u ? 0x7f800000u : ub == 0xff800000u ? 0u : ua;
    if (isnan(b))
        return ub | qnan_bit;
    if (isinf(b) && b > 0)
        return a == 0.0f ? 0xffc00000u : bits(copysignf(INFINITY, a));
    if (isinf(b))
        return isinf(a) ? 0xffc00000u : bits(copysignf(0.0f, a));
    if (isinf(a) || a == 0.0f)
        return ua;
    /* |floor(b)| > 1000 saturates (finite floats span 2^±277); a·2^e in
     * double is exact unless it is below 2^−1022, where the float result is
     * ±0 anyway; the conversion to float is the one rounding */
    const double fb = floor((double)b);
    const int e = fb > 1000 ? 1000 : fb < -1000 ? -1000 : (int)fb;
    const double r = ldexp((double)a, e);
    return bits((float)r);
}

Test(compat, scalef_ps)
{
    /* every pair of special values, 16 at a time */
    uint32_t a[16], b[16], got[16], nat[16];
    size_t n = 0;
    for (size_t i = 0; i < NSPECIAL; i++)
        for (size_t j = 0; j < NSPECIAL; j++) {
            a[n] = special[i];
            b[n] = special[j];
            if (++n < 16 && !(i == NSPECIAL - 1 && j == NSPECIAL - 1))
                continue;
            lanes_of(got, _mm512_scalef_ps(vec_of(a), vec_of(b)));
            for (size_t t = 0; t < n; t++)
                cr_expect_eq(got[t], scalef_model(a[t], b[t]),
                             "scalef(%#010x, %#010x) = %#010x, want %#010x", a[t], b[t], got[t],
                             scalef_model(a[t], b[t]));
            if (have_avx512()) {
                nat_scalef(nat, a, b);
                for (size_t t = 0; t < n; t++)
                    cr_expect_eq(got[t], nat[t], "scalef(%#010x, %#010x) = %#010x, native %#010x",
                                 a[t], b[t], got[t], nat[t]);
            }
            n = 0;
        }

    /* random: the exponent argument mostly where results overflow,
     * underflow gradually, or stay normal */
    for (int rep = 0; rep < 20000; rep++) {
        for (int t = 0; t < 16; t++) {
            a[t] = rnd_lane();
            b[t] = (rnd32() & 3) ? bits((float)((int)(rnd32() % 700) - 350) +
                                        (float)(rnd32() % 4) * 0.25f)
                                 : rnd_lane();
        }
        lanes_of(got, _mm512_scalef_ps(vec_of(a), vec_of(b)));
        for (int t = 0; t < 16; t++)
            cr_expect_eq(got[t], scalef_model(a[t], b[t]), "scalef(%#010x, %#010x) = %#010x, want %#010x",
                         a[t], b[t], got[t], scalef_model(a[t], b[t]));
        if (have_avx512()) {
            nat_scalef(nat, a, b);
            cr_expect(memcmp(got, nat, sizeof got) == 0, "scalef differs from native (rep %d)", rep);
        }
    }

    /* hand-computed: what SIMDe's own scalef gets wrong */
    const float ha[] = {0.75f, 1.5f, 1.0f, 0x1p-149f, 3.0f, -1.0f};
    const float hb[] = {128.0f, -149.0f, -150.0f, 10.5f, -151.0f, 127.9f};
    const float hw[] = {0x1.8p127f, 0x1p-148f, 0.0f, 0x1p-139f, 0x1p-149f, -0x1p127f};
    for (int t = 0; t < 6; t++) {
        const float r = _mm512_cvtss_f32(_mm512_scalef_ps(_mm512_set1_ps(ha[t]), _mm512_set1_ps(hb[t])));
        cr_expect(bits(r) == bits(hw[t]), "scalef(%a, %g) = %a, want %a", (double)ha[t], (double)hb[t],
                  (double)r, (double)hw[t]);
    }
}
