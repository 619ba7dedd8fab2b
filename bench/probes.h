/*
 * probes.h — what the machine itself can do, measured by attn_bench in the
 * same run as the kernels it is compared with (DESIGN §5):
 *
 *   - FMA peak: a register-resident loop of independent multiply-add chains
 *     (no memory traffic), one copy per thread, for the kernel set in use;
 *   - read bandwidth: a multi-threaded streaming sum over a buffer much larger
 *     than the last-level cache.
 *
 * The ISA-specific loops live in their own files, each compiled with its own
 * flags into its own static library (bench/meson.build); nothing here is
 * compiled with ISA flags, and a loop is only called when attn_isa_supported
 * says the CPU can run it.
 */
#ifndef ATTN_BENCH_PROBES_H
#define ATTN_BENCH_PROBES_H

#include <stddef.h>
#include <stdint.h>

#include "attn.h"

/*
 * One FMA loop per kernel set: runs `iters` iterations on the calling thread
 * and returns the floating-point operations executed (a multiply-add = 2).
 * The loop's final accumulators are folded into *sink so the work is kept.
 */
typedef double bench_fma_loop_fn(uint64_t iters, float *sink);
/* Each defined only where bench/meson.build builds it (BENCH_HAVE_*_PROBE). */
bench_fma_loop_fn bench_fma_loop_scalar; /* plain C, the compiler's baseline ISA */
bench_fma_loop_fn bench_fma_loop_avx2;   /* 12 chains of _mm256_fmadd_ps */
bench_fma_loop_fn bench_fma_loop_avx512; /* 16 chains of _mm512_fmadd_ps */
bench_fma_loop_fn bench_fma_loop_neon;   /* 16 chains of vfmaq_f32 */

/* Seconds on a monotonic clock. */
double bench_now(void);

/*
 * The f32 FMA peak in GFLOP/s of `threads` OpenMP threads running the loop of
 * `isa` at once, best of 5 timings of about `seconds` each. Returns 0 when
 * no loop is built for that ISA or the CPU cannot run it. *threads_used gets
 * the team size OpenMP actually gave (may be NULL).
 */
double bench_fma_peak(attn_isa isa, int threads, double seconds, int *threads_used);

/*
 * A buffer for the bandwidth probe and for evicting caches: `bytes` (rounded
 * down to 64 bytes), 64-byte aligned, first touched by `threads` threads with
 * the same static split the probe uses. NULL when the allocation fails.
 */
void *bench_bw_buffer(size_t bytes, int threads);

/* Read bandwidth in GB/s (1e9 bytes/s) of `threads` threads summing the buffer
 * in a static split, best of `passes` passes after one warm-up pass. */
double bench_read_bw(const void *buf, size_t bytes, int threads, int passes);

/* One pass over the buffer: evicts earlier data from the caches. */
void bench_flush_caches(const void *buf, size_t bytes, int threads);

#endif /* ATTN_BENCH_PROBES_H */
