/*
 * probe.c — the portable half of the machine probes (see probes.h): OpenMP
 * teams around the per-ISA FMA loops, and the read-bandwidth / cache-evicting
 * streaming sum. No ISA flags here.
 */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probes.h"

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bench_fma_loop_fn *fma_loop_for(attn_isa isa)
{
    if (!attn_isa_supported(isa))
        return NULL;
    switch (isa) {
    case ATTN_ISA_SCALAR: return bench_fma_loop_scalar;
#if BENCH_HAVE_AVX2_PROBE
    case ATTN_ISA_AVX2: return bench_fma_loop_avx2;
#endif
#if BENCH_HAVE_AVX512_PROBE
    case ATTN_ISA_AVX512: return bench_fma_loop_avx512;
#endif
#if BENCH_HAVE_NEON_PROBE
    case ATTN_ISA_NEON: return bench_fma_loop_neon;
#endif
    default: return NULL;
    }
}

/* Written by every probe so no loop's work can be discarded. */
static volatile float probe_sink;

double bench_fma_peak(attn_isa isa, int threads, double seconds, int *threads_used)
{
    bench_fma_loop_fn *loop = fma_loop_for(isa);
    if (threads_used)
        *threads_used = 0;
    if (!loop || threads < 1)
        return 0.0;

    /* Calibrate on one thread: iterations for about seconds per timing. */
    float sink = 0.0f;
    uint64_t iters = 1u << 14;
    double t;
    for (;;) {
        double t0 = bench_now();
        loop(iters, &sink);
        t = bench_now() - t0;
        if (t > 0.01 || iters > (UINT64_C(1) << 40))
            break;
        iters *= 4;
    }
    if (t > 0.0)
        iters = (uint64_t)((double)iters * seconds / t) + 1;

    /* The best of several short timings: a peak, and the one least disturbed
     * by whatever else the machine runs. */
    double best = 0.0;
    for (int rep = 0; rep < 5; rep++) {
        double tstart = 0.0, tend = 0.0, flops = 0.0;
        int team = 1;
#pragma omp parallel num_threads(threads) reduction(+ : flops)
        {
            float s = 0.0f;
            loop(iters / 16 + 1, &s); /* wake the cores up (clocks, wide-vector state) */
#pragma omp barrier
#pragma omp single
            {
                team = omp_get_num_threads();
                tstart = bench_now();
            }
            flops = loop(iters, &s);
#pragma omp barrier
#pragma omp single
            tend = bench_now();
#pragma omp atomic
            sink += s;
        }
        double gflops = flops / (tend - tstart) * 1e-9;
        if (gflops > best)
            best = gflops;
        if (threads_used)
            *threads_used = team;
    }
    probe_sink += sink;
    return best;
}

/* The split every pass uses, so each thread reads the pages it touched first. */
static void thread_range(size_t n, int t, int nt, size_t *lo, size_t *hi)
{
    size_t per = n / (size_t)nt, rem = n % (size_t)nt, ut = (size_t)t;
    *lo = ut * per + (ut < rem ? ut : rem);
    *hi = *lo + per + (ut < rem ? 1 : 0);
}

void *bench_bw_buffer(size_t bytes, int threads)
{
    bytes &= ~(size_t)63;
    if (bytes == 0)
        return NULL;
    uint64_t *p = aligned_alloc(64, bytes);
    if (!p)
        return NULL;
    size_t n = bytes / sizeof(uint64_t);
#pragma omp parallel num_threads(threads)
    {
        size_t lo, hi;
        thread_range(n, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        for (size_t i = lo; i < hi; i++)
            p[i] = i * UINT64_C(0x9E3779B97F4A7C15);
    }
    return p;
}

/* Sum of the buffer by `threads` threads; integer adds, so the compiler may
 * vectorise and reorder freely. */
static uint64_t stream_sum(const void *buf, size_t bytes, int threads)
{
    const uint64_t *p = buf;
    size_t n = bytes / sizeof(uint64_t);
    uint64_t total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
        size_t lo, hi;
        thread_range(n, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        uint64_t s = 0;
#pragma omp simd reduction(+ : s)
        for (size_t i = lo; i < hi; i++)
            s += p[i];
        total += s;
    }
    return total;
}

static volatile uint64_t stream_sink;

double bench_read_bw(const void *buf, size_t bytes, int threads, int passes)
{
    bytes &= ~(size_t)63;
    stream_sink += stream_sum(buf, bytes, threads); /* warm-up: threads, TLB */
    double best = 0.0;
    for (int i = 0; i < passes; i++) {
        double t0 = bench_now();
        stream_sink += stream_sum(buf, bytes, threads);
        double gbps = (double)bytes / (bench_now() - t0) * 1e-9;
        if (gbps > best)
            best = gbps;
    }
    return best;
}

void bench_flush_caches(const void *buf, size_t bytes, int threads)
{
    stream_sink += stream_sum(buf, bytes & ~(size_t)63, threads);
}
