/*
 * avx512_emu.h — AVX-512 intrinsics that Debian's SIMDe (0.7.4~rc2) lacks or
 * gets wrong, in plain C over SIMDe's types. Used ONLY by the emulated build
 * (ATTN_AVX512_EMULATED, via avx512_intrin.h after <simde/x86/avx512.h>),
 * which runs the AVX-512 kernels' tests on hosts without AVX-512.
 *
 * Each function reproduces the documented behaviour of the native
 * instruction bit for bit (Intel SDM / Intrinsics Guide), so the emulated
 * kernels compute exactly what the native ones do; tests/avx512_emu checks
 * each against the native intrinsic where the host has AVX-512. Lanes go
 * through memcpy, never through float arithmetic, so NaN payloads survive.
 *
 * Supplied (only what kernels/avx512 uses):
 *   _mm512_maskz_loadu_ps   masked load; unselected lanes are 0 and their
 *                           memory is never touched (no fault past the end)
 *   _mm512_mask_storeu_ps   masked store; unselected lanes' memory untouched
 *   _mm512_shuffle_f32x4    128-bit lane select (lanes 0–1 from a, 2–3 from b)
 *   _mm512_cvtss_f32        lane 0
 *   _mm512_cvtph_ps         16 binary16 → f32, exact; NaN quieted, payload kept
 *   _mm512_cvtepu16_epi32   16 u16 zero-extended to 32 bits
 *   _mm512_scalef_ps        replaces SIMDe's: it computes a · exp2(floor(b)),
 *                           which overflows 2^128 before multiplying (so
 *                           scalef(0.75, 128) = inf instead of 2.55e38),
 *                           underflows 2^-150 to 0 and flushes subnormal a;
 *                           VSCALEFPS rounds a · 2^floor(b) once.
 */
#ifndef ATTN_AVX512_EMU_H
#define ATTN_AVX512_EMU_H

#ifndef ATTN_AVX512_EMULATED
#error "avx512_emu.h is for the emulated build only (include avx512_intrin.h)"
#endif

#include <math.h>
#include <stdint.h>
#include <string.h>

/* The lanes of a vector as 32-bit patterns (bit-exact round trip). */
static inline void attn_emu_bits(simde__m512 v, uint32_t out[16])
{
    simde_mm512_storeu_ps(out, v);
}

static inline simde__m512 attn_emu_from_bits(const uint32_t in[16])
{
    return simde_mm512_loadu_ps(in);
}

/* VMOVUPS zmm{k}{z}, m512: lane i = p[i] if bit i of k, else +0.0. */
static inline simde__m512 attn_emu_mm512_maskz_loadu_ps(simde__mmask16 k, const void *p)
{
    const unsigned char *src = (const unsigned char *)p;
    uint32_t lane[16];
    for (int i = 0; i < 16; i++) {
        lane[i] = 0;
        if ((k >> i) & 1)
            memcpy(&lane[i], src + 4 * i, 4);
    }
    return attn_emu_from_bits(lane);
}

/* VMOVUPS m512{k}, zmm: writes p[i] = lane i only where bit i of k is set. */
static inline void attn_emu_mm512_mask_storeu_ps(void *p, simde__mmask16 k, simde__m512 a)
{
    unsigned char *dst = (unsigned char *)p;
    uint32_t lane[16];
    attn_emu_bits(a, lane);
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1)
            memcpy(dst + 4 * i, &lane[i], 4);
}

/* VSHUFF32X4: 128-bit block j of the result is block imm[2j+1:2j] of a
 * (j = 0, 1) or of b (j = 2, 3). */
static inline simde__m512 attn_emu_mm512_shuffle_f32x4(simde__m512 a, simde__m512 b, int imm)
{
    uint32_t la[16], lb[16], r[16];
    attn_emu_bits(a, la);
    attn_emu_bits(b, lb);
    for (int j = 0; j < 4; j++) {
        const uint32_t *src = j < 2 ? la : lb;
        const int sel = (imm >> (2 * j)) & 3;
        memcpy(&r[4 * j], &src[4 * sel], 16);
    }
    return attn_emu_from_bits(r);
}

static inline float attn_emu_mm512_cvtss_f32(simde__m512 a)
{
    uint32_t lane[16];
    float f;
    attn_emu_bits(a, lane);
    memcpy(&f, &lane[0], 4);
    return f;
}

/* VCVTPH2PS: binary16 → binary32, exact (subnormal halves become normal
 * floats); a NaN keeps sign and payload (shifted up 13 bits) and comes out
 * quiet, as the instruction does (MXCSR default, DAZ off). */
static inline uint32_t attn_emu_half_to_float_bits(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t e = (h >> 10) & 0x1fu;
    uint32_t m = h & 0x3ffu;
    if (e == 0x1f)
        return sign | 0x7f800000u | (m << 13) | (m ? 0x00400000u : 0u);
    if (e != 0)
        return sign | ((e + 112u) << 23) | (m << 13);
    if (m == 0)
        return sign;
    /* subnormal half m·2^−24: normalise the 10-bit mantissa */
    uint32_t sh = 0;
    while (!(m & 0x400u)) {
        m <<= 1;
        sh++;
    }
    return sign | ((113u - sh) << 23) | ((m & 0x3ffu) << 13);
}

static inline simde__m512 attn_emu_mm512_cvtph_ps(simde__m256i a)
{
    uint16_t h[16];
    uint32_t r[16];
    simde_mm256_storeu_si256(h, a);
    for (int i = 0; i < 16; i++)
        r[i] = attn_emu_half_to_float_bits(h[i]);
    return attn_emu_from_bits(r);
}

/* VPMOVZXWD: 16 u16 → 16 u32, zero-extended. */
static inline simde__m512i attn_emu_mm512_cvtepu16_epi32(simde__m256i a)
{
    uint16_t h[16];
    uint32_t r[16];
    simde_mm256_storeu_si256(h, a);
    for (int i = 0; i < 16; i++)
        r[i] = h[i];
    return simde_mm512_loadu_si512(r);
}

/* One lane of VSCALEFPS (MXCSR default: round to nearest, DAZ off), with the
 * special cases of the SDM's table for VSCALEFPS. */
static inline uint32_t attn_emu_scalef_lane(uint32_t ua, uint32_t ub)
{
    const uint32_t quiet = 0x00400000u, indefinite = 0xffc00000u;
    const uint32_t inf = 0x7f800000u, sign = 0x80000000u;
    const int a_nan = (ua & ~sign) > inf, b_nan = (ub & ~sign) > inf;
    const int a_snan = a_nan && !(ua & quiet);
    const int a_inf = (ua & ~sign) == inf, a_zero = (ua & ~sign) == 0;
    const int b_pinf = ub == inf, b_ninf = ub == (inf | sign);
    if (a_snan)
        return ua | quiet;
    if (a_nan) /* a quiet NaN: ±inf in b wins, as in the SDM's table */
        return b_pinf ? inf : b_ninf ? 0u : ua;
    if (b_nan)
        return ub | quiet;
    if (b_pinf)
        return a_zero ? indefinite : (ua & sign) | inf;
    if (b_ninf)
        return a_inf ? indefinite : (ua & sign);
    if (a_inf || a_zero)
        return ua;
    float a, b;
    memcpy(&a, &ua, 4);
    memcpy(&b, &ub, 4);
    /* |floor(b)| beyond 400 saturates anyway (finite floats span 2^±277
     * in exponent difference); ldexpf rounds the product once. */
    const float fb = floorf(b);
    const int e = fb > 400.0f ? 400 : fb < -400.0f ? -400 : (int)fb;
    const float r = ldexpf(a, e);
    uint32_t ur;
    memcpy(&ur, &r, 4);
    return ur;
}

static inline simde__m512 attn_emu_mm512_scalef_ps(simde__m512 a, simde__m512 b)
{
    uint32_t la[16], lb[16], r[16];
    attn_emu_bits(a, la);
    attn_emu_bits(b, lb);
    for (int i = 0; i < 16; i++)
        r[i] = attn_emu_scalef_lane(la[i], lb[i]);
    return attn_emu_from_bits(r);
}

#undef _mm512_maskz_loadu_ps
#define _mm512_maskz_loadu_ps(k, p) attn_emu_mm512_maskz_loadu_ps((k), (p))
#undef _mm512_mask_storeu_ps
#define _mm512_mask_storeu_ps(p, k, a) attn_emu_mm512_mask_storeu_ps((p), (k), (a))
#undef _mm512_shuffle_f32x4
#define _mm512_shuffle_f32x4(a, b, imm) attn_emu_mm512_shuffle_f32x4((a), (b), (imm))
#undef _mm512_cvtss_f32
#define _mm512_cvtss_f32(a) attn_emu_mm512_cvtss_f32((a))
#undef _mm512_cvtph_ps
#define _mm512_cvtph_ps(a) attn_emu_mm512_cvtph_ps((a))
#undef _mm512_cvtepu16_epi32
#define _mm512_cvtepu16_epi32(a) attn_emu_mm512_cvtepu16_epi32((a))
#undef _mm512_scalef_ps
#define _mm512_scalef_ps(a, b) attn_emu_mm512_scalef_ps((a), (b))

#endif /* ATTN_AVX512_EMU_H */
