/*
 * baseline_blas.c — attention composed from CBLAS (see baseline.h).
 *
 * Threads: two thread pools in one process (OpenBLAS's pthreads and our
 * OpenMP) fight for the cores, so one pool does all the work. When there are
 * at least as many (batch, head) pairs as threads, OpenMP splits them and each
 * runs single-threaded sgemm on its own score buffer (what an engine does
 * per head); otherwise the heads run one after another with BLAS on all the
 * threads and the softmax on the calling thread.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include <cblas.h>

#include "baseline.h"

/* OpenBLAS extensions, declared by its cblas.h; repeated so that another
 * CBLAS header also builds (meson checks the library has them). */
#if BENCH_HAVE_OPENBLAS_THREADS
void openblas_set_num_threads(int num_threads);
#endif
#if BENCH_HAVE_OPENBLAS_CONFIG
char *openblas_get_config(void);
int openblas_get_parallel(void);
#endif

struct bench_blas {
    bench_problem p;
    int threads;     /* OpenMP threads over (b, h) */
    int blas_threads;
    size_t lds;      /* leading dimension of a score buffer */
    float *scores;   /* threads × Lq × lds */
    bench_softmax_rows_fn *softmax;
    char plan[96];
};

const char *bench_blas_name(void)
{
#if BENCH_HAVE_OPENBLAS_CONFIG
    static char name[160];
    int par = openblas_get_parallel();
    snprintf(name, sizeof name, "%s (%s)", openblas_get_config(),
             par == 0 ? "sequential" : par == 1 ? "pthreads" : "openmp");
    return name;
#else
    return "CBLAS";
#endif
}

bench_blas *bench_blas_new(const bench_problem *p, int threads)
{
    bench_blas *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->p = *p;
    int64_t bh = p->q->shape[0] * p->q->shape[1];
    size_t lq = (size_t)p->q->shape[2], lk = (size_t)p->k->shape[2];
    b->lds = lk ? lk : 1;
#if BENCH_HAVE_OPENBLAS_THREADS
    if (bh >= threads || threads == 1) {
        b->threads = threads;
        b->blas_threads = 1;
    } else {
        b->threads = 1;
        b->blas_threads = threads;
    }
#else
    b->threads = threads; /* a CBLAS without a thread knob: assume sequential */
    b->blas_threads = 1;
#endif
    if (b->blas_threads == 1)
        snprintf(b->plan, sizeof b->plan, "OpenMP %d over B*H, BLAS 1 thread", b->threads);
    else
        snprintf(b->plan, sizeof b->plan, "BLAS %d threads, heads in turn", b->blas_threads);
    size_t n = (size_t)b->threads * (lq ? lq : 1) * b->lds;
    b->scores = aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63);
    if (!b->scores) {
        free(b);
        return NULL;
    }
    b->softmax = bench_softmax_rows_portable;
#if BENCH_HAVE_AVX2_SOFTMAX
    if (attn_isa_supported(ATTN_ISA_AVX2))
        b->softmax = bench_softmax_rows_avx2;
#endif
    return b;
}

const char *bench_blas_plan(const bench_blas *b) { return b->plan; }

int bench_blas_pool_threads(const bench_blas *b) { return b->blas_threads; }

void bench_blas_free(bench_blas *b)
{
    if (b)
        free(b->scores);
    free(b);
}

/* One (batch, query head): S = scale Q Kᵀ, softmax, O = P V. */
static void one_head(const bench_blas *b, int64_t bi, int64_t h, float *s)
{
    const attn_tensor *q = b->p.q, *k = b->p.k, *v = b->p.v, *o = b->p.out;
    int lq = (int)q->shape[2], lk = (int)k->shape[2], d = (int)q->shape[3], dv = (int)v->shape[3];
    int64_t hk = h / (q->shape[1] / k->shape[1]);
    float scale = b->p.scale != 0.0f ? b->p.scale : 1.0f / sqrtf((float)d);
    const float *qp = (const float *)q->data + bi * q->stride[0] + h * q->stride[1];
    const float *kp = (const float *)k->data + bi * k->stride[0] + hk * k->stride[1];
    const float *vp = (const float *)v->data + bi * v->stride[0] + hk * v->stride[1];
    float *op = (float *)o->data + bi * o->stride[0] + h * o->stride[1];
    int lds = (int)b->lds;

    if (lk > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, lq, lk, d, scale,
                    qp, (int)q->stride[2], kp, (int)k->stride[2], 0.0f, s, lds);
    b->softmax((size_t)lq, (size_t)lk, s, (size_t)lds, b->p.causal);
    if (lk > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, lq, dv, lk, 1.0f,
                    s, lds, vp, (int)v->stride[2], 0.0f, op, (int)o->stride[2]);
    else
        for (int i = 0; i < lq; i++)
            for (int j = 0; j < dv; j++)
                op[(int64_t)i * o->stride[2] + j] = 0.0f;
}

void bench_blas_run(bench_blas *b)
{
    const attn_tensor *q = b->p.q;
    int64_t nh = q->shape[1], bh = q->shape[0] * nh;
    size_t per = (size_t)(q->shape[2] ? q->shape[2] : 1) * b->lds;
#if BENCH_HAVE_OPENBLAS_THREADS
    openblas_set_num_threads(b->blas_threads);
#endif
    if (b->threads == 1) {
        for (int64_t x = 0; x < bh; x++)
            one_head(b, x / nh, x % nh, b->scores);
        return;
    }
#pragma omp parallel for num_threads(b->threads) schedule(static)
    for (int64_t x = 0; x < bh; x++)
        one_head(b, x / nh, x % nh, b->scores + (size_t)omp_get_thread_num() * per);
}
