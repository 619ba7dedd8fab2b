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

/* Loop unrolling in the tile kernels. ATTN_UNROLL_FULL: loops over the
 * rows and vectors of a register tile (constant trip counts), which must be
 * unrolled whole so the accumulator arrays live in registers; GCC needs the
 * pragma, clang does it by itself and a count pragma there would stop it
 * (its accumulators then go to the stack). ATTN_UNROLL4: the reduction loop
 * (over d or keys), unrolled by 4 to amortise the pointer increments. */
#if defined(ATTN_AVX512_EMULATED)
/* tests only: SIMDe code is large, and unrolled 14-row tiles made GCC take
 * minutes per file; the kernels use one run-time-sized instantiation there */
#define ATTN_UNROLL_FULL
#define ATTN_UNROLL4
#elif defined(__clang__)
#define ATTN_UNROLL_FULL
#define ATTN_UNROLL4
#elif defined(__GNUC__)
#define ATTN_UNROLL_FULL _Pragma("GCC unroll 16")
#define ATTN_UNROLL4 _Pragma("GCC unroll 4")
#else
#define ATTN_UNROLL_FULL
#define ATTN_UNROLL4
#endif

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
