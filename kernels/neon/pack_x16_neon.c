/*
 * pack_k / pack_v from 16-bit storage, aarch64 ASIMD: the f32 layouts of
 * pack_k_f32 / pack_v_f32 (microkernels.h), each binary16 value widened
 * exactly with FCVTL (vcvt_f32_f16), each bfloat16 value by a 16-bit shift
 * (bf16 is the top half of an f32). NaN stays NaN (FCVTL quiets a
 * signalling NaN's payload).
 *
 * Keys: full panels with nr a multiple of 4 widen 4 dd of 4 keys and store
 * them transposed (4 × 4 blocks, as pack_k_f32_neon.c); the last d mod 4
 * values, a partial last panel and any other nr go one value at a time
 * through the same conversion. Values: 4 at a time along the row, then one
 * at a time. Nothing is read past a row's last element.
 */
#include <stdint.h>
#include <string.h>

#include "microkernels.h"
#include "neon/neon_intrin.h"

attn_pack_k_x16_fn attn_f16_pack_k_ukr__neon, attn_bf16_pack_k_ukr__neon;
attn_pack_v_x16_fn attn_f16_pack_v_ukr__neon, attn_bf16_pack_v_ukr__neon;

/* Four 16-bit values at p widened to f32 (bf: bfloat16, else binary16). */
ATTN_NEON_INLINE float32x4_t widen4(const uint16_t *p, int bf)
{
    const uint16x4_t h = vld1_u16(p);
    if (bf)
        return vreinterpretq_f32_u32(vshlq_n_u32(vmovl_u16(h), 16));
    return vcvt_f32_f16(vreinterpret_f16_u16(h));
}

/* One value, through the same conversion as widen4. */
ATTN_NEON_INLINE float widen1(uint16_t h, int bf)
{
    if (bf) {
        const uint32_t u = (uint32_t)h << 16;
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* 4 keys × 4 dd at k (rows at ldk) → 4 rows of 4 keys at out (rows at ldo). */
ATTN_NEON_INLINE void transpose4_x16(const uint16_t *k, size_t ldk, float *out, size_t ldo,
                                     int bf)
{
    const float32x4_t r0 = widen4(k, bf), r1 = widen4(k + ldk, bf);
    const float32x4_t r2 = widen4(k + 2 * ldk, bf), r3 = widen4(k + 3 * ldk, bf);
    const float64x2_t t0 = vreinterpretq_f64_f32(vtrn1q_f32(r0, r1)); /* a0 b0 a2 b2 */
    const float64x2_t t1 = vreinterpretq_f64_f32(vtrn2q_f32(r0, r1)); /* a1 b1 a3 b3 */
    const float64x2_t t2 = vreinterpretq_f64_f32(vtrn1q_f32(r2, r3)); /* c0 d0 c2 d2 */
    const float64x2_t t3 = vreinterpretq_f64_f32(vtrn2q_f32(r2, r3)); /* c1 d1 c3 d3 */
    vst1q_f32(out, vreinterpretq_f32_f64(vtrn1q_f64(t0, t2)));
    vst1q_f32(out + ldo, vreinterpretq_f32_f64(vtrn1q_f64(t1, t3)));
    vst1q_f32(out + 2 * ldo, vreinterpretq_f32_f64(vtrn2q_f64(t0, t2)));
    vst1q_f32(out + 3 * ldo, vreinterpretq_f32_f64(vtrn2q_f64(t1, t3)));
}

ATTN_NEON_INLINE void pack_k_x16(size_t n, size_t d, const uint16_t *k, size_t ldk,
                                 float *kp, size_t nr, int bf)
{
    for (size_t j0 = 0; j0 < n; j0 += nr) {
        const size_t nn = n - j0 < nr ? n - j0 : nr;
        const uint16_t *kb = k + j0 * ldk;
        float *panel = kp + j0 * d;
        size_t dd = 0;
        if (nn == nr && nr % 4 == 0) {
            for (; dd + 4 <= d; dd += 4)
                for (size_t jj = 0; jj < nr; jj += 4)
                    transpose4_x16(kb + jj * ldk + dd, ldk, panel + dd * nr + jj, nr, bf);
        }
        for (; dd < d; dd++) {
            float *out = panel + dd * nr;
            size_t jj = 0;
            for (; jj < nn; jj++)
                out[jj] = widen1(kb[jj * ldk + dd], bf);
            for (; jj < nr; jj++)
                out[jj] = 0.0f;
        }
    }
}

ATTN_NEON_INLINE void pack_v_x16(size_t n, size_t dv, const uint16_t *v, size_t ldv,
                                 float *vp, int bf)
{
    for (size_t j = 0; j < n; j++) {
        const uint16_t *row = v + j * ldv;
        float *out = vp + j * dv;
        size_t c = 0;
        for (; c + 4 <= dv; c += 4)
            vst1q_f32(out + c, widen4(row + c, bf));
        for (; c < dv; c++)
            out[c] = widen1(row[c], bf);
    }
}

void attn_f16_pack_k_ukr__neon(size_t n, size_t d, const uint16_t *k, size_t ldk,
                               float *kp, size_t nr)
{
    pack_k_x16(n, d, k, ldk, kp, nr, 0);
}

void attn_bf16_pack_k_ukr__neon(size_t n, size_t d, const uint16_t *k, size_t ldk,
                                float *kp, size_t nr)
{
    pack_k_x16(n, d, k, ldk, kp, nr, 1);
}

void attn_f16_pack_v_ukr__neon(size_t n, size_t dv, const uint16_t *v, size_t ldv,
                               float *vp)
{
    pack_v_x16(n, dv, v, ldv, vp, 0);
}

void attn_bf16_pack_v_ukr__neon(size_t n, size_t dv, const uint16_t *v, size_t ldv,
                                float *vp)
{
    pack_v_x16(n, dv, v, ldv, vp, 1);
}
