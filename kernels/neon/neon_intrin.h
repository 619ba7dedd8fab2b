/*
 * neon_intrin.h — the one place the NEON kernels get their intrinsics from.
 *
 * On aarch64 this is <arm_neon.h> (ASIMD is the baseline: no flags needed).
 * With ATTN_NEON_EMULATED the same sources compile on x86 against SIMDe's
 * NEON (a test-only kernel set, DESIGN §4); the aliases are macros, so the
 * kernels never put a compound literal inside an intrinsic call, and use
 * only what SIMDe 0.7.4 provides (no vcvtnq_s32_f32, vdivq_f32, vfmsq_f32;
 * vfmaq_laneq_f32 is not fused there, so the kernels broadcast instead).
 */
#ifndef ATTN_NEON_INTRIN_H
#define ATTN_NEON_INTRIN_H

#include <stddef.h>

#if defined(ATTN_NEON_EMULATED)
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/arm/neon.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#else
#error "kernels/neon needs aarch64, or ATTN_NEON_EMULATED with SIMDe"
#endif

#if defined(__GNUC__) && !defined(__clang__)
/* Loops over the rows and vectors of a register tile: constant trip counts
 * after inlining; unrolled so the accumulators live in registers. */
#define ATTN_NEON_UNROLL _Pragma("GCC unroll 8")
#elif defined(__clang__)
#define ATTN_NEON_UNROLL _Pragma("unroll")
#else
#define ATTN_NEON_UNROLL
#endif

#if defined(__GNUC__)
#define ATTN_NEON_INLINE static inline __attribute__((always_inline))
#else
#define ATTN_NEON_INLINE static inline
#endif

/* The first k ≤ 4 floats at p in lanes 0..k-1, `fill` in the others; reads
 * only those k floats (tails never read past the end of a row). */
ATTN_NEON_INLINE float32x4_t attn_neon_load_part(const float *p, size_t k, float fill)
{
    float32x4_t v = vdupq_n_f32(fill);
    if (k >= 4)
        return vld1q_f32(p);
    if (k > 0)
        v = vld1q_lane_f32(p, v, 0);
    if (k > 1)
        v = vld1q_lane_f32(p + 1, v, 1);
    if (k > 2)
        v = vld1q_lane_f32(p + 2, v, 2);
    return v;
}

/* The first k ≤ 4 16-bit values at p widened exactly (bf: bfloat16, by a
 * 16-bit shift; else binary16, by FCVTL), zeros after; reads only those k
 * values. */
ATTN_NEON_INLINE float32x4_t attn_neon_widen_part(const uint16_t *p, size_t k, int bf)
{
    uint16x4_t h;
    if (k >= 4) {
        h = vld1_u16(p);
    } else {
        uint16_t b[4] = {0, 0, 0, 0};
        for (size_t c = 0; c < k; c++)
            b[c] = p[c];
        h = vld1_u16(b);
    }
    if (bf)
        return vreinterpretq_f32_u32(vshlq_n_u32(vmovl_u16(h), 16));
    return vcvt_f32_f16(vreinterpret_f16_u16(h));
}

/* Store lanes 0..k-1 (k ≤ 4) of v to p. */
ATTN_NEON_INLINE void attn_neon_store_part(float *p, float32x4_t v, size_t k)
{
    if (k >= 4) {
        vst1q_f32(p, v);
        return;
    }
    if (k > 0)
        vst1q_lane_f32(p, v, 0);
    if (k > 1)
        vst1q_lane_f32(p + 1, v, 1);
    if (k > 2)
        vst1q_lane_f32(p + 2, v, 2);
}

/* Lane l of v in every lane, l a constant after inlining and unrolling;
 * vfmaq_f32(acc, x, attn_neon_lane_dup(v, l)) compiles to one fmla by
 * element (and stays fused under SIMDe, whose vfmaq_laneq_f32 is not). */
ATTN_NEON_INLINE float32x4_t attn_neon_lane_dup(float32x4_t v, size_t l)
{
    switch (l) {
    case 0: return vdupq_laneq_f32(v, 0);
    case 1: return vdupq_laneq_f32(v, 1);
    case 2: return vdupq_laneq_f32(v, 2);
    default: return vdupq_laneq_f32(v, 3);
    }
}

/* max over the 4 lanes, NaN if any lane is NaN (FMAX semantics; SIMDe's
 * vmaxvq_f32 drops NaNs, vmaxq_f32 keeps them on both). */
ATTN_NEON_INLINE float attn_neon_hmax(float32x4_t v)
{
    v = vmaxq_f32(v, vextq_f32(v, v, 2));
    v = vmaxq_f32(v, vextq_f32(v, v, 1));
    return vgetq_lane_f32(v, 0);
}

#endif /* ATTN_NEON_INTRIN_H */
