/*
 * baseline_softmax.c — the stable row softmax of the BLAS baseline, written
 * the way one writes it next to two sgemm calls: max, exp(x − max) and sum,
 * scale by 1/sum. Compiled with -ffast-math so glibc's libmvec supplies a
 * vectorised expf (the baseline should not lose on a scalar exp); masked
 * entries are never looked at, so no infinity is needed.
 * Built twice (bench/meson.build): BENCH_SOFTMAX_FN names the copy.
 */
#include <float.h>
#include <math.h>
#include <stddef.h>

#include "baseline.h"

void BENCH_SOFTMAX_FN(size_t lq, size_t lk, float *s, size_t lds, int causal)
{
    for (size_t i = 0; i < lq; i++) {
        float *x = s + i * lds;
        size_t n = lk;
        if (causal) {
            /* bottom-right aligned: row i sees keys j <= i + lk - lq */
            ptrdiff_t last = (ptrdiff_t)i + (ptrdiff_t)lk - (ptrdiff_t)lq;
            n = last < 0 ? 0 : ((size_t)last + 1 < lk ? (size_t)last + 1 : lk);
        }
        float m = -FLT_MAX;
#pragma omp simd reduction(max : m)
        for (size_t j = 0; j < n; j++)
            m = x[j] > m ? x[j] : m;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (size_t j = 0; j < n; j++) {
            float e = expf(x[j] - m);
            x[j] = e;
            sum += e;
        }
        float inv = n ? 1.0f / sum : 0.0f;
#pragma omp simd
        for (size_t j = 0; j < n; j++)
            x[j] *= inv;
        for (size_t j = n; j < lk; j++)
            x[j] = 0.0f;
    }
}
