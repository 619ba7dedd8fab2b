/*
 * testutil.c — see testutil.h.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microkernels.h"

uint64_t tu_next(tu_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double tu_uniform(tu_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(tu_next(r) >> 11) * 0x1.0p-53);
}

int64_t tu_int(tu_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(tu_next(r) % (uint64_t)(hi - lo + 1));
}

float tu_nanf(void)
{
    const uint32_t bits = TU_NAN_BITS;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

int tu_isa_selected(attn_isa isa)
{
#if defined(TU_EMULATED_ONLY) && TU_EMULATED_ONLY
    if (isa != ATTN_ISA_AVX512 && isa != ATTN_ISA_NEON)
        return 0;
#endif
    return attn_isa_supported(isa) && attn_kernels_for(isa) != NULL;
}

int tu_isas(attn_isa out[4])
{
    int n = 0;
    for (int i = ATTN_ISA_SCALAR; i <= ATTN_ISA_NEON; i++)
        if (tu_isa_selected((attn_isa)i))
            out[n++] = (attn_isa)i;
    return n;
}

const tu_layout tu_layouts[TU_NLAYOUTS] = {
    {0, 0, 0, 0}, /* contiguous [B,H,S,D] */
    {1, 0, 0, 0}, /* [B,S,H,D] */
    {0, 3, 5, 0}, /* [B,H,S,D] with seq capacity and padded rows */
    {1, 7, 0, 2}, /* KV-cache slice: [B,Scap,H,D], view starts at position 2 */
    {0, 5, 1, 4}, /* KV-cache slice of a [B,H,Scap,D] cache, odd row pitch */
};

void tu_make(tu_tensor *x, int64_t b, int64_t h, int64_t s, int64_t d, const tu_layout *lay,
             uint32_t fill)
{
    const int64_t dp = d + lay->pad_d, sc = s + lay->extra_seq + lay->off_seq;
    attn_tensor *t = &x->t;
    t->dtype = ATTN_F32;
    t->shape[0] = b;
    t->shape[1] = h;
    t->shape[2] = s;
    t->shape[3] = d;
    if (lay->bshd) {
        t->stride[0] = sc * h * dp;
        t->stride[1] = dp;
        t->stride[2] = h * dp;
    } else {
        t->stride[0] = h * sc * dp;
        t->stride[1] = sc * dp;
        t->stride[2] = dp;
    }
    t->stride[3] = 1;
    const int64_t off = lay->off_seq * t->stride[2];
    int64_t extent = 0;
    if (b > 0 && h > 0 && s > 0 && d > 0)
        extent = (b - 1) * t->stride[0] + (h - 1) * t->stride[1] + (s - 1) * t->stride[2] + d;
    x->n = (size_t)(off + extent);
    if (x->n == 0)
        x->n = 1;
    x->mem = malloc(x->n * sizeof(float));
    if (!x->mem) {
        fprintf(stderr, "tu_make: out of memory (%zu floats)\n", x->n);
        abort();
    }
    t->data = x->mem + off;
    tu_reset(x, fill);
}

void tu_free(tu_tensor *x)
{
    free(x->mem);
    x->mem = NULL;
}

void tu_reset(tu_tensor *x, uint32_t fill)
{
    uint32_t *u = (uint32_t *)(void *)x->mem;
    for (size_t i = 0; i < x->n; i++)
        u[i] = fill;
}

#define FOR_VIEW(t, b, h, s, d)                                                                 \
    for (int64_t b = 0; b < (t)->shape[0]; b++)                                                 \
        for (int64_t h = 0; h < (t)->shape[1]; h++)                                             \
            for (int64_t s = 0; s < (t)->shape[2]; s++)                                         \
                for (int64_t d = 0; d < (t)->shape[3]; d++)

static float *at(const attn_tensor *t, int64_t b, int64_t h, int64_t s, int64_t d)
{
    return (float *)t->data + b * t->stride[0] + h * t->stride[1] + s * t->stride[2] + d;
}

void tu_fill_view(tu_tensor *x, tu_rng *r, double lo, double hi)
{
    FOR_VIEW(&x->t, b, h, s, d)
    *at(&x->t, b, h, s, d) = (float)tu_uniform(r, lo, hi);
}

int64_t tu_numel(const attn_tensor *t)
{
    return t->shape[0] * t->shape[1] * t->shape[2] * t->shape[3];
}

size_t tu_outside_changed(const tu_tensor *x, uint32_t fill)
{
    unsigned char *in = calloc(x->n, 1);
    const float *base = x->mem;
    FOR_VIEW(&x->t, b, h, s, d)
    in[at(&x->t, b, h, s, d) - base] = 1;
    size_t changed = 0;
    const uint32_t *u = (const uint32_t *)(const void *)x->mem;
    for (size_t i = 0; i < x->n; i++)
        if (!in[i] && u[i] != fill)
            changed++;
    free(in);
    return changed;
}

int64_t tu_compare(const attn_tensor *x, const double *ref, double atol, double rtol, char *msg,
                   size_t msz)
{
    int64_t bad = 0, idx = 0;
    double maxerr = 0.0;
    msg[0] = '\0';
    FOR_VIEW(x, b, h, s, d)
    {
        const double r = ref[idx++];
        const float f = *at(x, b, h, s, d);
        int ok;
        if (isnan(r))
            ok = isnan(f);
        else if (isinf(r))
            ok = (double)f == r;
        else {
            const double err = fabs((double)f - r);
            ok = isfinite(f) && err <= atol + rtol * fabs(r);
            if (isfinite(f) && err > maxerr)
                maxerr = err;
        }
        if (!ok && bad++ == 0)
            snprintf(msg, msz, "first mismatch at [%lld,%lld,%lld,%lld]: got %.9g, ref %.9g (tol %.3g)",
                     (long long)b, (long long)h, (long long)s, (long long)d, (double)f, r,
                     atol + rtol * fabs(r));
    }
    if (bad) {
        const size_t len = strlen(msg);
        snprintf(msg + len, msz - len, "; %lld bad, max finite err %.3g", (long long)bad, maxerr);
    }
    return bad;
}

double tu_maxabs_keys(const attn_tensor *v, const int32_t *kv_len)
{
    double m = 0.0;
    FOR_VIEW(v, b, h, s, d)
    {
        if (kv_len && s >= kv_len[b])
            continue;
        const double a = fabs((double)*at(v, b, h, s, d));
        if (a > m)
            m = a;
    }
    return m;
}

const char *tu_shape(char *buf, size_t n, const attn_tensor *t)
{
    snprintf(buf, n, "[%lld,%lld,%lld,%lld] strides {%lld,%lld,%lld,%lld}",
             (long long)t->shape[0], (long long)t->shape[1], (long long)t->shape[2],
             (long long)t->shape[3], (long long)t->stride[0], (long long)t->stride[1],
             (long long)t->stride[2], (long long)t->stride[3]);
    return buf;
}

int64_t tu_ulps(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    const int64_t dlt = (int64_t)ia - (int64_t)ib;
    return dlt < 0 ? -dlt : dlt;
}

float tu_f16_to_f32(uint16_t h)
{
    const int e = (h >> 10) & 31, m = h & 1023;
    float x;
    if (e == 0)
        x = ldexpf((float)m, -24); /* zero and subnormals */
    else if (e == 31)
        x = m ? NAN : INFINITY;
    else
        x = ldexpf((float)(m + 1024), e - 25);
    return (h & 0x8000) ? -x : x;
}

float tu_bf16_to_f32(uint16_t h)
{
    const uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

uint16_t tu_rand_half(tu_rng *r, attn_dtype dt)
{
    const uint64_t z = tu_next(r);
    if ((z & 31) == 0)
        return 0;
    const unsigned sign = (unsigned)(z >> 8) & 1;
    if (dt == ATTN_F16) /* exponent 5..14: [2^-10, 1) */
        return (uint16_t)(sign << 15 | (5 + (z >> 9) % 10) << 10 | (z >> 20) % 1024);
    /* bf16: exponent 117..126 */
    return (uint16_t)(sign << 15 | (117 + (z >> 9) % 10) << 7 | (z >> 20) % 128);
}

#if defined(__SANITIZE_ADDRESS__)
#define TU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_ASAN 1
#endif
#endif
#ifndef TU_ASAN
#define TU_ASAN 0
#endif

int tu_small_run(void)
{
    const char *e = getenv("ATTN_TESTS_SMALL");
    return TU_ASAN || (e && e[0] && e[0] != '0');
}

void tu_shrink_shape(int64_t *B, int64_t *Hq, int64_t *Hkv, int64_t *Lq, int64_t *Lk,
                     int64_t dsum, int64_t budget)
{
    while (*B * *Hq * *Lq * *Lk * dsum > budget) {
        if (*B > 1)
            (*B)--;
        else if (*Hq > *Hkv)
            *Hq /= 2;
        else if (*Hkv > 1)
            (*Hkv)--, *Hq = *Hkv;
        else if (*Lq > 1)
            *Lq = (*Lq + 1) / 2;
        else
            *Lk = (*Lk + 1) / 2;
    }
}
