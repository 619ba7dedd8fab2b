/*
 * transpose_avx512.h — 16 × 16 float transpose in registers, shared by the
 * AVX-512 pack_k kernels (f32, f16, bf16): 16 unpack ps, 16 unpack pd and two
 * rounds of 16 128-bit block shuffles, 64 shuffles per 256 floats, all on
 * the shuffle port, no memory round trip.
 */
#ifndef ATTN_TRANSPOSE_AVX512_H
#define ATTN_TRANSPOSE_AVX512_H

#include "avx512_intrin.h"

/* In-place transpose of a 16 × 16 block held as 16 row vectors. */
static inline void attn_transpose16_avx512(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        /* t[2i]: rows 2i, 2i+1 interleaved, columns 0,1 of each 4-block */
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        /* u[4i + c]: rows 4i..4i+3 of columns c, c+4, c+8, c+12 */
        const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
        const __m512d c = _mm512_castps_pd(t[4 * i + 1]), e = _mm512_castps_pd(t[4 * i + 3]);
        u[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, e));
        u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, e));
    }
    for (int c = 0; c < 4; c++) {
        /* v: 128-bit blocks (rows 0-3, rows 4-7) of columns c, c+8 (lo) and
         * c+4, c+12 (hi); w the same for rows 8-15 */
        const __m512 v_lo = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
        const __m512 v_hi = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
        const __m512 w_lo = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
        const __m512 w_hi = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
        r[c] = _mm512_shuffle_f32x4(v_lo, w_lo, 0x88);
        r[c + 8] = _mm512_shuffle_f32x4(v_lo, w_lo, 0xDD);
        r[c + 4] = _mm512_shuffle_f32x4(v_hi, w_hi, 0x88);
        r[c + 12] = _mm512_shuffle_f32x4(v_hi, w_hi, 0xDD);
    }
}

#endif /* ATTN_TRANSPOSE_AVX512_H */
