/*
 * merge.c — attn_merge: exact combination of partial attention results over
 * disjoint key ranges by their log-sum-exp (attn.h). Row-wise, shards in
 * order c = 0..n−1, so the result is the same for any thread count; each row
 * is read whole before it is written, so out may be one of the shards.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static float *elem(const attn_tensor *t, size_t a, size_t b, size_t c)
{
    return (float *)t->data + a * (size_t)t->stride[0] + b * (size_t)t->stride[1] +
           c * (size_t)t->stride[2];
}

static attn_status check_all(const char *fn, const attn_tensor *outs,
                             const attn_tensor *lses, int n, const attn_tensor *out,
                             const attn_tensor *lse)
{
    if (n < 1)
        return attn_error(ATTN_ERR_ARG, "%s: n = %d, must be >= 1", fn, n);
    if (!outs || !lses)
        return attn_error(ATTN_ERR_NULL, "%s: %s is NULL", fn, outs ? "lses" : "outs");
    attn_status s;
    if ((s = attn_check_tensor(fn, "out", out, ATTN_CHK_OUTPUT | ATTN_CHK_F32)))
        return s;
    const int64_t *o = out->shape;
    const int64_t lwant[4] = {o[0], o[1], o[2], 1};
    if (lse && ((s = attn_check_tensor(fn, "lse", lse, ATTN_CHK_OUTPUT | ATTN_CHK_F32)) ||
                (s = attn_check_shape(fn, "lse", lse, lwant))))
        return s;
    for (int c = 0; c < n; c++) {
        char name[32];
        snprintf(name, sizeof name, "outs[%d]", c);
        if ((s = attn_check_tensor(fn, name, &outs[c], ATTN_CHK_F32)) ||
            (s = attn_check_shape(fn, name, &outs[c], o)))
            return s;
        snprintf(name, sizeof name, "lses[%d]", c);
        if ((s = attn_check_tensor(fn, name, &lses[c], ATTN_CHK_F32)) ||
            (s = attn_check_shape(fn, name, &lses[c], lwant)))
            return s;
    }
    return ATTN_OK;
}

ATTN_API attn_status attn_merge(const attn_tensor *outs, const attn_tensor *lses, int n,
                                const attn_tensor *out, const attn_tensor *lse)
{
    static const char fn[] = "attn_merge";
    attn_status s = check_all(fn, outs, lses, n, out, lse);
    if (s)
        return s;
    const size_t B = (size_t)out->shape[0], H = (size_t)out->shape[1];
    const size_t L = (size_t)out->shape[2], Dv = (size_t)out->shape[3];
    const size_t rows = B * H * L;
    if (rows == 0 || Dv == 0)
        return ATTN_OK;
    const int nt = attn_thread_count(0, rows / 16 + 1);

    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long long r = 0; r < (long long)rows; r++) {
        const size_t i = (size_t)r % L, h = (size_t)r / L % H, b = (size_t)r / L / H;
        float M = -INFINITY;
        int nan = 0;
        for (int c = 0; c < n; c++) {
            const float x = *elem(&lses[c], b, h, i);
            nan |= isnan(x);
            M = x > M ? x : M;
        }
        float *orow = elem(out, b, h, i);
        if (M == -INFINITY || nan) {
            /* no shard saw a key: 0 / −inf; a NaN lse poisons the row */
            for (size_t d = 0; d < Dv; d++)
                orow[d] = nan ? NAN : 0.0f;
            if (lse)
                *elem(lse, b, h, i) = nan ? NAN : -INFINITY;
            continue;
        }
        /* shard weights first, then the rows: out may be one of the shards */
        float sum = 0.0f;
        for (int c = 0; c < n; c++)
            sum += expf(*elem(&lses[c], b, h, i) - M);
        const float inv = 1.0f / sum;
        float acc[256];
        for (size_t d0 = 0; d0 < Dv; d0 += 256) {
            const size_t nd = Dv - d0 < 256 ? Dv - d0 : 256;
            memset(acc, 0, nd * sizeof(float));
            for (int c = 0; c < n; c++) {
                const float lc = *elem(&lses[c], b, h, i);
                if (lc == -INFINITY)
                    continue;
                const float w = expf(lc - M) * inv;
                const float *src = elem(&outs[c], b, h, i) + d0;
                for (size_t d = 0; d < nd; d++)
                    acc[d] += w * src[d];
            }
            memcpy(orow + d0, acc, nd * sizeof(float));
        }
        if (lse)
            *elem(lse, b, h, i) = M + logf(sum);
    }
    return ATTN_OK;
}
