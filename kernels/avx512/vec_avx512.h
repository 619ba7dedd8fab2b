/*
 * vec_avx512.h — small helpers shared by the AVX-512 kernels: tail masks and
 * horizontal reductions in a fixed order.
 *
 * The reductions are written out (not _mm512_reduce_*_ps) so that the order
 * of the additions is ours, the same with every compiler and in the emulated
 * build: a row's sum never depends on how a compiler lowers a builtin.
 */
#ifndef ATTN_VEC_AVX512_H
#define ATTN_VEC_AVX512_H

#include <stddef.h>

#include "avx512_intrin.h"

/* Mask of the first min(n, 16) lanes. */
static inline __mmask16 attn_mask16(size_t n)
{
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
}

/* Σ lanes: butterfly over 256-bit halves, 128-bit quarters, then pairs and
 * neighbours inside each quarter; every lane ends with the same total. */
static inline float attn_hsum_avx512(__m512 v)
{
    v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4E)); /* blocks 2 3 0 1 */
    v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0xB1)); /* blocks 1 0 3 2 */
    v = _mm512_add_ps(v, _mm512_shuffle_ps(v, v, 0x4E));    /* lanes 2 3 0 1 */
    v = _mm512_add_ps(v, _mm512_shuffle_ps(v, v, 0xB1));    /* lanes 1 0 3 2 */
    return _mm512_cvtss_f32(v);
}

/* max over lanes (NaN handling is the caller's: see softmax_tile). */
static inline float attn_hmax_avx512(__m512 v)
{
    v = _mm512_max_ps(v, _mm512_shuffle_f32x4(v, v, 0x4E));
    v = _mm512_max_ps(v, _mm512_shuffle_f32x4(v, v, 0xB1));
    v = _mm512_max_ps(v, _mm512_shuffle_ps(v, v, 0x4E));
    v = _mm512_max_ps(v, _mm512_shuffle_ps(v, v, 0xB1));
    return _mm512_cvtss_f32(v);
}

#endif /* ATTN_VEC_AVX512_H */
