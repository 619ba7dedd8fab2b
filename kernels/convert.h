/*
 * convert.h — portable f16/bf16 <-> f32 conversions (IEEE binary16 and
 * bfloat16), exact when widening, round-to-nearest-even when narrowing,
 * NaN kept NaN. Used by the portable driver; ISA kernels use their own
 * instructions (F16C, AVX512_BF16, vcvt).
 */
#ifndef ATTN_CONVERT_H
#define ATTN_CONVERT_H

#include <stdint.h>
#include <string.h>

static inline float attn_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t attn_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float attn_bf16_to_f32(uint16_t h) { return attn_bits_f32((uint32_t)h << 16); }

static inline float attn_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) /* inf or NaN */
        return attn_bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp != 0)
        return attn_bits_f32(sign | ((exp + 112) << 23) | (man << 13));
    /* zero or subnormal: man · 2^-24, exact in f32 */
    const float v = (float)man * 0x1p-24f;
    return sign ? -v : v;
}

/* dst[0..n) ← src[0..n) widened exactly: bfloat16 when bf16, else binary16.
 * The SIMD kernels' partial 16-bit vectors (row tails) go through it. */
static inline void attn_widen16(const uint16_t *src, size_t n, int bf16, float *dst)
{
    for (size_t c = 0; c < n; c++)
        dst[c] = bf16 ? attn_bf16_to_f32(src[c]) : attn_f16_to_f32(src[c]);
}

static inline uint16_t attn_f32_to_bf16(float f)
{
    uint32_t u = attn_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it quiet and NaN */
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

static inline uint16_t attn_f32_to_f16(float f)
{
    const uint32_t u = attn_f32_bits(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return sign | 0x7e00; /* NaN */
    if (a >= 0x477ff000u)     /* rounds to ≥ 65520: inf */
        return sign | 0x7c00;
    if (a < 0x38800000u) {    /* below 2^-14: subnormal or zero */
        /* a · 2^24 rounded to an integer, nearest even */
        const float v = attn_bits_f32(a) * 0x1p24f;
        uint32_t r = (uint32_t)v;
        const float frac = v - (float)r;
        if (frac > 0.5f || (frac == 0.5f && (r & 1)))
            r++;
        return sign | (uint16_t)r;
    }
    /* normal: rebias the exponent, round the 13 dropped bits to nearest even */
    uint32_t t = a - 0x38000000u;
    t += 0xfffu + ((t >> 13) & 1);
    return sign | (uint16_t)(t >> 13);
}

/* dst[0..n) = scale · src[0..n) widened from dtype dt (f32, f16, bf16). */
static inline void attn_load_row(const void *src, int dt, size_t n, float scale,
                                 float *dst)
{
    if (dt == 0) {
        const float *s = (const float *)src;
        for (size_t j = 0; j < n; j++)
            dst[j] = scale * s[j];
    } else {
        const uint16_t *s = (const uint16_t *)src;
        for (size_t j = 0; j < n; j++)
            dst[j] = scale * (dt == 1 ? attn_f16_to_f32(s[j]) : attn_bf16_to_f32(s[j]));
    }
}

/* dst[0..n) (dtype dt) = scale · src[0..n), rounded to nearest even. */
static inline void attn_store_row(void *dst, int dt, size_t n, float scale,
                                  const float *src)
{
    if (dt == 0) {
        float *d = (float *)dst;
        for (size_t j = 0; j < n; j++)
            d[j] = scale * src[j];
    } else {
        uint16_t *d = (uint16_t *)dst;
        for (size_t j = 0; j < n; j++)
            d[j] = dt == 1 ? attn_f32_to_f16(scale * src[j]) : attn_f32_to_bf16(scale * src[j]);
    }
}

#endif
