/*
 * peak_avx512.c — the FMA-peak loop for the AVX-512 kernel set (compiled with
 * -mavx512f; called only when attn_isa_supported(ATTN_ISA_AVX512)).
 * 16 independent chains of _mm512_fmadd_ps in zmm registers: two 512-bit FMA
 * pipes × 4-cycle latency need 8; 16 cover slower parts too and use half the
 * 32 registers. acc = acc · a + b converges to b / (1 − a): no overflow, no
 * denormals.
 */
#include <immintrin.h>

#include "probes.h"

#define CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) \
                  X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define NCHAINS 16

double bench_fma_loop_avx512(uint64_t iters, float *sink)
{
    volatile float va = 0x1.ffffe0p-1f, vb = 0x1p-20f;
    const __m512 a = _mm512_set1_ps(va), b = _mm512_set1_ps(vb);
#define DECL(i) __m512 c##i = _mm512_set1_ps(0.01f * (float)(i));
    CHAINS(DECL)
#undef DECL
    for (uint64_t it = 0; it < iters; it++) {
#define STEP(i) c##i = _mm512_fmadd_ps(c##i, a, b);
        CHAINS(STEP)
#undef STEP
    }
    __m512 s = _mm512_setzero_ps();
#define SUM(i) s = _mm512_add_ps(s, c##i);
    CHAINS(SUM)
#undef SUM
    float lanes[16];
    _mm512_storeu_ps(lanes, s);
    for (int i = 0; i < 16; i++)
        *sink += lanes[i];
    return 2.0 * 16 * NCHAINS * (double)iters;
}
