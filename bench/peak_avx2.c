/*
 * peak_avx2.c — the FMA-peak loop for the AVX2 kernel set (compiled with
 * -mavx2 -mfma; called only when attn_isa_supported(ATTN_ISA_AVX2)).
 * 12 independent chains of _mm256_fmadd_ps stay in ymm registers: two FMA
 * pipes × 4-cycle latency need 8 in flight, 12 leave a margin and still fit
 * the 16 registers with the two constants. acc = acc · a + b converges to
 * b / (1 − a): no overflow, no denormals.
 */
#include <immintrin.h>

#include "probes.h"

#define CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define NCHAINS 12

double bench_fma_loop_avx2(uint64_t iters, float *sink)
{
    volatile float va = 0x1.ffffe0p-1f, vb = 0x1p-20f;
    const __m256 a = _mm256_set1_ps(va), b = _mm256_set1_ps(vb);
#define DECL(i) __m256 c##i = _mm256_set1_ps(0.01f * (float)(i));
    CHAINS(DECL)
#undef DECL
    for (uint64_t it = 0; it < iters; it++) {
#define STEP(i) c##i = _mm256_fmadd_ps(c##i, a, b);
        CHAINS(STEP)
#undef STEP
    }
    __m256 s = _mm256_setzero_ps();
#define SUM(i) s = _mm256_add_ps(s, c##i);
    CHAINS(SUM)
#undef SUM
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    for (int i = 0; i < 8; i++)
        *sink += lanes[i];
    return 2.0 * 8 * NCHAINS * (double)iters;
}
