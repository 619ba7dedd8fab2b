/*
 * pack_k (f32), aarch64 ASIMD: n keys of d floats (rows at ldk) → panels of
 * nr keys, for each dd the nr keys' values side by side, the last panel
 * zero-padded to nr (layout in microkernels.h); writes ceil(n/nr)·nr·d floats.
 *
 * Full panels with nr a multiple of 4 (the NEON qk_tile's 16 included) are
 * transposed in 4 × 4 blocks: 4 keys × 4 dd loaded as 4 vectors, stored as
 * 4 vectors of 4 keys. The last d mod 4 values, a partial last panel and any
 * other nr take the plain loop. Copies bits exactly (NaN payloads included).
 */
#include "microkernels.h"
#include "neon/neon_intrin.h"

attn_pack_k_f32_fn attn_f32_pack_k_ukr__neon;

/* 4 rows of 4 floats → 4 columns: out[i] = {r0[i], r1[i], r2[i], r3[i]}. */
ATTN_NEON_INLINE void transpose4(const float *k, size_t ldk, float *out, size_t ldo)
{
    const float32x4_t r0 = vld1q_f32(k), r1 = vld1q_f32(k + ldk);
    const float32x4_t r2 = vld1q_f32(k + 2 * ldk), r3 = vld1q_f32(k + 3 * ldk);
    const float64x2_t t0 = vreinterpretq_f64_f32(vtrn1q_f32(r0, r1)); /* a0 b0 a2 b2 */
    const float64x2_t t1 = vreinterpretq_f64_f32(vtrn2q_f32(r0, r1)); /* a1 b1 a3 b3 */
    const float64x2_t t2 = vreinterpretq_f64_f32(vtrn1q_f32(r2, r3)); /* c0 d0 c2 d2 */
    const float64x2_t t3 = vreinterpretq_f64_f32(vtrn2q_f32(r2, r3)); /* c1 d1 c3 d3 */
    vst1q_f32(out, vreinterpretq_f32_f64(vtrn1q_f64(t0, t2)));
    vst1q_f32(out + ldo, vreinterpretq_f32_f64(vtrn1q_f64(t1, t3)));
    vst1q_f32(out + 2 * ldo, vreinterpretq_f32_f64(vtrn2q_f64(t0, t2)));
    vst1q_f32(out + 3 * ldo, vreinterpretq_f32_f64(vtrn2q_f64(t1, t3)));
}

/* One panel of nn ≤ nr keys, any nr: the plain loop, zero-padding to nr. */
static void pack_panel_plain(size_t nn, size_t d, const float *k, size_t ldk,
                             float *panel, size_t nr, size_t dd0)
{
    for (size_t dd = dd0; dd < d; dd++) {
        float *out = panel + dd * nr;
        size_t jj = 0;
        for (; jj < nn; jj++)
            out[jj] = k[jj * ldk + dd];
        for (; jj < nr; jj++)
            out[jj] = 0.0f;
    }
}

void attn_f32_pack_k_ukr__neon(size_t n, size_t d, const float *k, size_t ldk,
                               float *kp, size_t nr)
{
    for (size_t j0 = 0; j0 < n; j0 += nr) {
        const size_t nn = n - j0 < nr ? n - j0 : nr;
        const float *kb = k + j0 * ldk;
        float *panel = kp + j0 * d;
        size_t dd = 0;
        if (nn == nr && nr % 4 == 0) {
            for (; dd + 4 <= d; dd += 4)
                for (size_t jj = 0; jj < nr; jj += 4)
                    transpose4(kb + jj * ldk + dd, ldk, panel + dd * nr + jj, nr);
        }
        pack_panel_plain(nn, d, kb, ldk, panel, nr, dd);
    }
}
