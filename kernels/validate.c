/*
 * validate.c — the argument checks every entry point runs before it writes
 * anything (DESIGN §1.4, §1.4a). Each failure returns its status and leaves
 * a message naming the function, the argument and the values at fault.
 */
#include <math.h>
#include <stdint.h>

#include "internal.h"

static size_t dtype_size(attn_dtype t) { return t == ATTN_F32 ? 4 : 2; }

static const char *dtype_name(attn_dtype t)
{
    switch (t) {
    case ATTN_F32: return "f32";
    case ATTN_F16: return "f16";
    case ATTN_BF16: return "bf16";
    }
    return "unknown";
}

/* Outputs: sorted by stride, each dimension of size > 1 must start past the
 * span of the smaller ones, so no two elements share an address. */
static int aliases(const attn_tensor *t)
{
    int64_t st[4], sh[4];
    int n = 0;
    for (int i = 0; i < 4; i++) {
        if (t->shape[i] > 1) {
            st[n] = t->stride[i];
            sh[n] = t->shape[i];
            n++;
        }
    }
    for (int i = 1; i < n; i++) /* insertion sort of ≤ 4 */
        for (int j = i; j > 0 && st[j] < st[j - 1]; j--) {
            int64_t a = st[j], b = sh[j];
            st[j] = st[j - 1], sh[j] = sh[j - 1];
            st[j - 1] = a, sh[j - 1] = b;
        }
    int64_t span = 0; /* largest offset reachable by the dims so far */
    for (int i = 0; i < n; i++) {
        if (st[i] <= span)
            return 1;
        span += (sh[i] - 1) * st[i]; /* bounded: the extent was checked */
    }
    return 0;
}

attn_status attn_check_tensor(const char *fn, const char *name,
                              const attn_tensor *t, unsigned flags)
{
    if (!t)
        return attn_error(ATTN_ERR_NULL, "%s: %s is NULL", fn, name);
    if ((unsigned)t->dtype > ATTN_BF16)
        return attn_error(ATTN_ERR_DTYPE, "%s: %s.dtype = %d is not an attn_dtype",
                          fn, name, (int)t->dtype);
    if ((flags & ATTN_CHK_F32) && t->dtype != ATTN_F32)
        return attn_error(ATTN_ERR_DTYPE, "%s: %s must be f32, not %s", fn, name,
                          dtype_name(t->dtype));
    for (int i = 0; i < 4; i++)
        if (t->shape[i] < 0)
            return attn_error(ATTN_ERR_SHAPE, "%s: %s.shape[%d] = %lld is negative",
                              fn, name, i, (long long)t->shape[i]);
    for (int i = 0; i < 4; i++)
        if (t->stride[i] < 0)
            return attn_error(ATTN_ERR_STRIDE, "%s: %s.stride[%d] = %lld is negative",
                              fn, name, i, (long long)t->stride[i]);
    if (t->stride[3] != 1)
        return attn_error(ATTN_ERR_STRIDE, "%s: %s.stride[3] = %lld, must be 1",
                          fn, name, (long long)t->stride[3]);

    /* element count and the largest offset, in int64 without overflow */
    int64_t count = 1, last = 0;
    int empty = 0;
    for (int i = 0; i < 4; i++) {
        if (t->shape[i] == 0)
            empty = 1;
        else if (count > INT64_MAX / t->shape[i])
            return attn_error(ATTN_ERR_OVERFLOW, "%s: %s has more than 2^63 elements",
                              fn, name);
        else
            count *= t->shape[i];
    }
    if (empty)
        return ATTN_OK; /* nothing is read or written */
    for (int i = 0; i < 4; i++) {
        const int64_t s = t->stride[i], n = t->shape[i] - 1;
        if (s != 0 && n > (INT64_MAX - last) / s)
            return attn_error(ATTN_ERR_OVERFLOW, "%s: %s's extent (shape x stride) "
                              "overflows int64", fn, name);
        last += n * s;
    }
    const uint64_t es = dtype_size(t->dtype);
    if ((uint64_t)last >= (uint64_t)PTRDIFF_MAX / es)
        return attn_error(ATTN_ERR_OVERFLOW, "%s: %s spans %llu elements, beyond "
                          "the address space", fn, name, (unsigned long long)last + 1u);
    if (!t->data)
        return attn_error(ATTN_ERR_NULL, "%s: %s.data is NULL but it has %lld "
                          "elements", fn, name, (long long)count);
    const uintptr_t base = (uintptr_t)t->data, bytes = (uintptr_t)(last + 1) * es;
    if (base + bytes - 1 < base)
        return attn_error(ATTN_ERR_OVERFLOW, "%s: %s's extent wraps the address space",
                          fn, name);
    if ((flags & ATTN_CHK_OUTPUT) && aliases(t))
        return attn_error(ATTN_ERR_STRIDE, "%s: output %s has zero or overlapping "
                          "strides {%lld, %lld, %lld, %lld} for shape "
                          "{%lld, %lld, %lld, %lld}: its elements would alias",
                          fn, name, (long long)t->stride[0], (long long)t->stride[1],
                          (long long)t->stride[2], (long long)t->stride[3],
                          (long long)t->shape[0], (long long)t->shape[1],
                          (long long)t->shape[2], (long long)t->shape[3]);
    return ATTN_OK;
}

attn_status attn_check_shape(const char *fn, const char *name,
                             const attn_tensor *t, const int64_t want[4])
{
    for (int i = 0; i < 4; i++)
        if (t->shape[i] != want[i])
            return attn_error(ATTN_ERR_SHAPE, "%s: %s.shape = {%lld, %lld, %lld, "
                              "%lld}, expected {%lld, %lld, %lld, %lld}", fn, name,
                              (long long)t->shape[0], (long long)t->shape[1],
                              (long long)t->shape[2], (long long)t->shape[3],
                              (long long)want[0], (long long)want[1],
                              (long long)want[2], (long long)want[3]);
    return ATTN_OK;
}

attn_status attn_check_qkv(const char *fn, const attn_tensor *q,
                           const attn_tensor *k, const attn_tensor *v,
                           const attn_tensor *out, attn_dims *d)
{
    attn_status s;
    if ((s = attn_check_tensor(fn, "q", q, 0)) || (s = attn_check_tensor(fn, "k", k, 0)) ||
        (s = attn_check_tensor(fn, "v", v, 0)) ||
        (out && (s = attn_check_tensor(fn, "out", out, ATTN_CHK_OUTPUT))))
        return s;
    if (q->shape[3] < 1)
        return attn_error(ATTN_ERR_SHAPE, "%s: q.shape[3] (D) = %lld, must be >= 1",
                          fn, (long long)q->shape[3]);
    if (v->shape[3] < 1)
        return attn_error(ATTN_ERR_SHAPE, "%s: v.shape[3] (Dv) = %lld, must be >= 1",
                          fn, (long long)v->shape[3]);
    const int64_t B = q->shape[0], Hq = q->shape[1], Hkv = k->shape[1];
    if (Hq >= 1 && Hkv < 1)
        return attn_error(ATTN_ERR_SHAPE, "%s: k.shape[1] (Hkv) = %lld, must be >= 1 "
                          "when q has %lld heads", fn, (long long)Hkv, (long long)Hq);
    const int64_t kwant[4] = {B, Hkv, k->shape[2], q->shape[3]};
    if ((s = attn_check_shape(fn, "k", k, kwant)))
        return s;
    const int64_t vwant[4] = {B, Hkv, k->shape[2], v->shape[3]};
    if ((s = attn_check_shape(fn, "v", v, vwant)))
        return s;
    if (Hkv > 0 && Hq % Hkv != 0)
        return attn_error(ATTN_ERR_SHAPE, "%s: q heads (%lld) are not a multiple of "
                          "k/v heads (%lld)", fn, (long long)Hq, (long long)Hkv);
    if (out) {
        const int64_t owant[4] = {B, Hq, q->shape[2], v->shape[3]};
        if ((s = attn_check_shape(fn, "out", out, owant)))
            return s;
    }
    d->B = (size_t)B;
    d->Hq = (size_t)Hq;
    d->Hkv = (size_t)Hkv;
    d->Lq = (size_t)q->shape[2];
    d->Lk = (size_t)k->shape[2];
    d->D = (size_t)q->shape[3];
    d->Dv = (size_t)v->shape[3];
    return ATTN_OK;
}

attn_status attn_check_options(const char *fn, const attn_options *opt,
                               const attn_dims *d)
{
    if (!opt)
        return ATTN_OK;
    if (!isfinite(opt->scale))
        return attn_error(ATTN_ERR_ARG, "%s: opt.scale = %g is not finite", fn,
                          (double)opt->scale);
    if (opt->num_threads < 0)
        return attn_error(ATTN_ERR_ARG, "%s: opt.num_threads = %d is negative", fn,
                          opt->num_threads);
    if (opt->kv_len)
        for (size_t b = 0; b < d->B; b++)
            if (opt->kv_len[b] < 0 || (size_t)opt->kv_len[b] > d->Lk)
                return attn_error(ATTN_ERR_ARG, "%s: opt.kv_len[%zu] = %d is outside "
                                  "0..Lk (%zu)", fn, b, (int)opt->kv_len[b], d->Lk);
    if (opt->window_left < 0 || opt->window_right < 0)
        return attn_error(ATTN_ERR_ARG, "%s: opt.window_left = %d, opt.window_right "
                          "= %d: windows are >= 0 (0 = unbounded)", fn,
                          (int)opt->window_left, (int)opt->window_right);
    if (!(opt->softcap >= 0.0f) || isinf(opt->softcap))
        return attn_error(ATTN_ERR_ARG, "%s: opt.softcap = %g: must be finite and "
                          ">= 0 (0 = off)", fn, (double)opt->softcap);
    if (opt->bias) {
        const attn_tensor *t = opt->bias;
        attn_status s = attn_check_tensor(fn, "opt.bias", t, 0);
        if (s)
            return s;
        if (t->dtype != ATTN_F32 && t->dtype != ATTN_F16)
            return attn_error(ATTN_ERR_DTYPE, "%s: opt.bias must be f32 or f16", fn);
        if ((t->shape[0] != 1 && (size_t)t->shape[0] != d->B) ||
            (t->shape[1] != 1 && (size_t)t->shape[1] != d->Hq) ||
            (size_t)t->shape[2] != d->Lq || (size_t)t->shape[3] != d->Lk)
            return attn_error(ATTN_ERR_SHAPE, "%s: opt.bias.shape = {%lld, %lld, %lld, "
                              "%lld}, expected {%zu or 1, %zu or 1, %zu, %zu}", fn,
                              (long long)t->shape[0], (long long)t->shape[1],
                              (long long)t->shape[2], (long long)t->shape[3],
                              d->B, d->Hq, d->Lq, d->Lk);
    }
    if (opt->lse) {
        attn_status s = attn_check_tensor(fn, "opt.lse", opt->lse,
                                          ATTN_CHK_OUTPUT | ATTN_CHK_F32);
        if (s)
            return s;
        const int64_t want[4] = {(int64_t)d->B, (int64_t)d->Hq, (int64_t)d->Lq, 1};
        if ((s = attn_check_shape(fn, "opt.lse", opt->lse, want)))
            return s;
    }
    return ATTN_OK;
}

float attn_resolve_scale(float scale, size_t D)
{
    return scale != 0.0f ? scale : (float)(1.0 / sqrt((double)D));
}
