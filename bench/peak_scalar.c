/*
 * peak_scalar.c — the FMA-peak loop for the scalar kernel set. The scalar
 * kernels are portable C, compiled without ISA flags; the most the compiler
 * makes of them is the architecture's baseline 128-bit SIMD (SSE2 on x86-64:
 * a multiply and an add, no FMA; ASIMD fmla on aarch64), so that is their
 * peak. Written with GCC/Clang vector types so the accumulators stay in
 * registers at any optimisation level: 14 independent chains of
 * acc = acc · a + b hide the latency of the multiply and the add (and fill
 * the 16 xmm registers with a and b). a = 1 − 2⁻²⁰ and a small b keep every
 * value normal (no denormal slow paths): acc converges to b / (1 − a).
 */
#include "probes.h"

typedef float v4f __attribute__((vector_size(16)));

#define CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)
#define NCHAINS 14

double bench_fma_loop_scalar(uint64_t iters, float *sink)
{
    volatile float va = 0x1.ffffe0p-1f, vb = 0x1p-20f; /* hidden from the optimiser */
    const v4f a = {va, va, va, va}, b = {vb, vb, vb, vb};
#define DECL(i) v4f c##i = b * (float)(i);
    CHAINS(DECL)
#undef DECL
    for (uint64_t it = 0; it < iters; it++) {
#define STEP(i) c##i = c##i * a + b;
        CHAINS(STEP)
#undef STEP
    }
    v4f s = b * 0.0f;
#define SUM(i) s += c##i;
    CHAINS(SUM)
#undef SUM
    *sink += s[0] + s[1] + s[2] + s[3];
    return 2.0 * 4 * NCHAINS * (double)iters;
}
