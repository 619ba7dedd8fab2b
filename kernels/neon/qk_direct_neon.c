/*
 * qk_direct, aarch64 ASIMD: S[m × n] = Q[m × d] · Kᵀ with K read in place,
 * row by row (contract in microkernels.h), for the few query rows of
 * decoding. Four keys × two rows: 8 accumulators over d in chunks of 4 (a
 * partial last chunk loads zeros), then vaddvq per score; the four keys'
 * rows stay in L1 for the next pair of rows. Each score is one chain over d
 * and one reduction, whatever m, n or its position. 16-bit keys
 * (qk_direct_f16/bf16) are widened exactly as they are loaded: the same
 * chains on the same values.
 */
#include "microkernels.h"
#include "neon/neon_intrin.h"

attn_qk_direct_fn attn_f32_qk_direct_ukr__neon;
attn_qk_direct_x16_fn attn_f16_qk_direct_ukr__neon, attn_bf16_qk_direct_ukr__neon;

enum { KEY_F32, KEY_F16, KEY_BF16 };

/* w ≤ 4 elements of a key row from element t on, widened exactly (FCVTL for
 * binary16, a 16-bit shift for bfloat16), zeros after. */
ATTN_NEON_INLINE float32x4_t key4(const void *row, size_t t, size_t w, int kind)
{
    if (kind == KEY_F32)
        return attn_neon_load_part((const float *)row + t, w, 0.0f);
    return attn_neon_widen_part((const uint16_t *)row + t, w, kind == KEY_BF16);
}

ATTN_NEON_INLINE void quad(size_t d, const float *q0, const float *q1, const void *const *kr,
                           float *s0, float *s1, size_t kk, int two, int kind)
{
    float32x4_t a0[4], a1[4];
    for (int c = 0; c < 4; c++)
        a0[c] = a1[c] = vdupq_n_f32(0.0f);
    for (size_t t = 0; t < d; t += 4) {
        const size_t w = d - t < 4 ? d - t : 4;
        const float32x4_t y0 = attn_neon_load_part(q0 + t, w, 0.0f);
        const float32x4_t y1 = attn_neon_load_part(q1 + t, w, 0.0f);
        ATTN_NEON_UNROLL
        for (int c = 0; c < 4; c++) {
            const float32x4_t x = key4(kr[c], t, w, kind);
            a0[c] = vfmaq_f32(a0[c], y0, x);
            if (two)
                a1[c] = vfmaq_f32(a1[c], y1, x);
        }
    }
    for (size_t c = 0; c < kk; c++) {
        s0[c] = vaddvq_f32(a0[c]);
        if (two)
            s1[c] = vaddvq_f32(a1[c]);
    }
}

/* K rows of esize-byte elements at ldk elements. */
ATTN_NEON_INLINE void qk_direct(size_t m, size_t n, size_t d, const float *q, size_t ldq,
                                const void *k, size_t ldk, float *s, size_t lds, int kind)
{
    const size_t row_bytes = ldk * (kind == KEY_F32 ? sizeof(float) : sizeof(uint16_t));
    for (size_t j = 0; j < n; j += 4) {
        const size_t kk = n - j < 4 ? n - j : 4;
        const void *kr[4];
        for (size_t c = 0; c < 4; c++) /* keys past n repeat the last: never stored */
            kr[c] = (const char *)k + (j + (c < kk ? c : kk - 1)) * row_bytes;
        size_t r = 0;
        for (; r + 2 <= m; r += 2)
            quad(d, q + r * ldq, q + (r + 1) * ldq, kr, s + r * lds + j, s + (r + 1) * lds + j,
                 kk, 1, kind);
        if (r < m)
            quad(d, q + r * ldq, q + r * ldq, kr, s + r * lds + j, s + r * lds + j, kk, 0,
                 kind);
    }
}

void attn_f32_qk_direct_ukr__neon(size_t m, size_t n, size_t d, const float *q, size_t ldq,
                                  const float *k, size_t ldk, float *s, size_t lds)
{
    qk_direct(m, n, d, q, ldq, k, ldk, s, lds, KEY_F32);
}

void attn_f16_qk_direct_ukr__neon(size_t m, size_t n, size_t d, const float *q, size_t ldq,
                                  const uint16_t *k, size_t ldk, float *s, size_t lds)
{
    qk_direct(m, n, d, q, ldq, k, ldk, s, lds, KEY_F16);
}

void attn_bf16_qk_direct_ukr__neon(size_t m, size_t n, size_t d, const float *q, size_t ldq,
                                   const uint16_t *k, size_t ldk, float *s, size_t lds)
{
    qk_direct(m, n, d, q, ldq, k, ldk, s, lds, KEY_BF16);
}
