/*
 * baseline.h — the usual alternative to a fused attention kernel, for
 * attn_bench --baseline blas: per (batch, head),
 *
 *     S = scale · Q Kᵀ        cblas_sgemm          (Lq × Lk, materialised)
 *     P = softmax(S)          stable row softmax, causal mask, vector expf
 *     O = P V                 cblas_sgemm
 *
 * on the same tensors (any strides with a unit inner stride, GQA) as
 * attn_forward, so the two are timed on the same work and their outputs can
 * be compared.
 */
#ifndef ATTN_BENCH_BASELINE_H
#define ATTN_BENCH_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#include "attn.h"

/* One attention problem: attn_forward's tensors, f32. */
typedef struct bench_problem {
    const attn_tensor *q, *k, *v, *out;
    int causal;
    float scale; /* 0 → 1/sqrt(D), as attn_options.scale */
} bench_problem;

/* Row-softmax kernels of the baseline (baseline_softmax.c, compiled once
 * portable and once with AVX2 flags): rows i < lq of s (leading dimension
 * lds) become softmax over their first visible(i) entries, 0 past them;
 * visible(i) = lk, or with causal clamp(i + lk − lq + 1, 0, lk). */
typedef void bench_softmax_rows_fn(size_t lq, size_t lk, float *s, size_t lds, int causal);
bench_softmax_rows_fn bench_softmax_rows_portable;
bench_softmax_rows_fn bench_softmax_rows_avx2; /* where BENCH_HAVE_AVX2_SOFTMAX */

typedef struct bench_blas bench_blas;

/* Plans the baseline for p on `threads` threads and allocates its score
 * buffers (not timed). NULL when out of memory. */
bench_blas *bench_blas_new(const bench_problem *p, int threads);
/* Computes p->out. */
void bench_blas_run(bench_blas *b);
void bench_blas_free(bench_blas *b);
/* How the threads are used: "OpenMP over B·H, BLAS 1 thread" or "BLAS N threads". */
const char *bench_blas_plan(const bench_blas *b);
/* Threads of the BLAS library's own pool the plan uses (1: none besides the caller). */
int bench_blas_pool_threads(const bench_blas *b);
/* The BLAS library and its build ("OpenBLAS 0.3.21 ... (pthreads)"), static. */
const char *bench_blas_name(void);

#endif /* ATTN_BENCH_BASELINE_H */
