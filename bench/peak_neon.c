/*
 * peak_neon.c — the FMA-peak loop for the NEON kernel set (aarch64, where
 * ASIMD is the baseline). 16 independent chains of vfmaq_f32 in registers
 * (up to four 128-bit FMA pipes × 4-cycle latency). acc = acc · a + b
 * converges to b / (1 − a): no overflow, no denormals.
 */
#include <arm_neon.h>

#include "probes.h"

#define CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) \
                  X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define NCHAINS 16

double bench_fma_loop_neon(uint64_t iters, float *sink)
{
    volatile float va = 0x1.ffffe0p-1f, vb = 0x1p-20f;
    const float32x4_t a = vdupq_n_f32(va), b = vdupq_n_f32(vb);
#define DECL(i) float32x4_t c##i = vdupq_n_f32(0.01f * (float)(i));
    CHAINS(DECL)
#undef DECL
    for (uint64_t it = 0; it < iters; it++) {
#define STEP(i) c##i = vfmaq_f32(b, c##i, a);
        CHAINS(STEP)
#undef STEP
    }
    float32x4_t s = vdupq_n_f32(0.0f);
#define SUM(i) s = vaddq_f32(s, c##i);
    CHAINS(SUM)
#undef SUM
    *sink += vaddvq_f32(s);
    return 2.0 * 4 * NCHAINS * (double)iters;
}
