/*
 * ref.c — float64 reference attention (contract in ref.h). Deliberately
 * naive: one row at a time, scores materialised, no tiling, no SIMD.
 */
#include "ref.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

double ref_scale(float requested, int64_t d)
{
    return requested == 0.0f ? 1.0 / sqrt((double)d) : (double)requested;
}

int64_t ref_len(const ref_opts *o, int64_t b, int64_t lk)
{
    return (o && o->kv_len) ? (int64_t)o->kv_len[b] : lk;
}

double ref_f16(uint16_t h)
{
    const int e = (h >> 10) & 31, m = h & 1023;
    double x;
    if (e == 0)
        x = ldexp((double)m, -24); /* zero and subnormals */
    else if (e == 31)
        x = m ? NAN : INFINITY;
    else
        x = ldexp((double)(m + 1024), e - 25);
    return (h & 0x8000) ? -x : x;
}

/* bias[b|0, h|0, i, j], widened */
static double bias_at(const attn_tensor *t, int64_t b, int64_t h, int64_t i, int64_t j)
{
    const int64_t bb = t->shape[0] == 1 ? 0 : b, hh = t->shape[1] == 1 ? 0 : h;
    const int64_t off = bb * t->stride[0] + hh * t->stride[1] + i * t->stride[2] + j * t->stride[3];
    if (t->dtype == ATTN_F16)
        return ref_f16(((const uint16_t *)t->data)[off]);
    return (double)((const float *)t->data)[off];
}

int ref_score_mod(const ref_opts *o, int64_t b, int64_t h, int64_t i, int64_t j,
                  int64_t lq, int64_t lk, double *s)
{
    const int64_t len = ref_len(o, b, lk);
    const int64_t p = i + len - lq; /* the row's diagonal position */
    if (j >= len)
        return 0;
    if (!o)
        return 1;
    if (o->causal && j > p)
        return 0;
    if (o->window_left > 0 && j < p - (int64_t)o->window_left)
        return 0;
    if (o->window_right > 0 && j > p + (int64_t)o->window_right)
        return 0;
    if (!s)
        return 1;
    if (o->softcap > 0.0)
        *s = o->softcap * tanh(*s / o->softcap);
    if (o->alibi_slopes)
        *s += (double)o->alibi_slopes[h] * (double)(j - p);
    if (o->bias)
        *s += bias_at(o->bias, b, h, i, j);
    return *s != -INFINITY; /* a −inf bias masks the key */
}

double ref_sink(const ref_opts *o, int64_t h)
{
    return (o && o->sinks) ? (double)o->sinks[h] : -INFINITY;
}

float *ref_ptr(const attn_tensor *t, int64_t b, int64_t h, int64_t s, int64_t d)
{
    return (float *)t->data + b * t->stride[0] + h * t->stride[1] + s * t->stride[2] +
           d * t->stride[3];
}

double ref_at(const attn_tensor *t, int64_t b, int64_t h, int64_t s, int64_t d)
{
    return (double)*ref_ptr(t, b, h, s, d);
}

double ref_row_softmax_sink(size_t n, const double *s, const unsigned char *vis, double sink,
                            double *w)
{
    double m = sink;
    int nan = isnan(sink), any = 0;
    for (size_t j = 0; j < n; j++) {
        if (vis && !vis[j])
            continue;
        any = 1;
        if (isnan(s[j]))
            nan = 1;
        else if (s[j] > m)
            m = s[j];
    }
    if (!any && !nan) {
        for (size_t j = 0; j < n; j++)
            w[j] = 0.0;
        return sink; /* −inf without a sink */
    }
    if (nan) {
        for (size_t j = 0; j < n; j++)
            w[j] = (vis && !vis[j]) ? 0.0 : NAN;
        return NAN;
    }
    if (m == -INFINITY) { /* every visible score −inf and no sink */
        for (size_t j = 0; j < n; j++)
            w[j] = 0.0;
        return -INFINITY;
    }
    double l = sink == -INFINITY ? 0.0 : exp(sink - m);
    for (size_t j = 0; j < n; j++) {
        w[j] = (vis && !vis[j]) ? 0.0 : exp(s[j] - m);
        l += w[j];
    }
    for (size_t j = 0; j < n; j++)
        if (!vis || vis[j]) /* masked: exactly 0, even when l is NaN (a +inf score) */
            w[j] /= l;
    return m + log(l);
}

double ref_row_softmax(size_t n, const double *s, const unsigned char *vis, double *w)
{
    return ref_row_softmax_sink(n, s, vis, -INFINITY, w);
}

void ref_forward(const attn_tensor *q, const attn_tensor *k, const attn_tensor *v,
                 const ref_opts *o, double *out, double *lse)
{
    const int64_t B = q->shape[0], Hq = q->shape[1], Lq = q->shape[2], D = q->shape[3];
    const int64_t Hkv = k->shape[1], Lk = k->shape[2], Dv = v->shape[3];
    const int64_t group = Hkv > 0 ? Hq / Hkv : 1;
    double *s = malloc(sizeof(double) * (size_t)(Lk > 0 ? Lk : 1));
    double *w = malloc(sizeof(double) * (size_t)(Lk > 0 ? Lk : 1));
    unsigned char *vis = malloc((size_t)(Lk > 0 ? Lk : 1));
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t i = 0; i < Lq; i++) {
                const int64_t hk = h / group;
                for (int64_t j = 0; j < Lk; j++) {
                    s[j] = 0.0;
                    vis[j] = (unsigned char)ref_score_mod(o, b, h, i, j, Lq, Lk, NULL);
                    if (!vis[j])
                        continue;
                    double dot = 0.0;
                    for (int64_t d = 0; d < D; d++)
                        dot += ref_at(q, b, h, i, d) * ref_at(k, b, hk, j, d);
                    s[j] = o->scale * dot;
                    vis[j] = (unsigned char)ref_score_mod(o, b, h, i, j, Lq, Lk, &s[j]);
                }
                const double rl = ref_row_softmax_sink((size_t)Lk, s, vis, ref_sink(o, h), w);
                double *orow = out + ((b * Hq + h) * Lq + i) * Dv;
                /* each out[c] sums its visible keys in key order */
                for (int64_t c = 0; c < Dv; c++)
                    orow[c] = 0.0;
                for (int64_t j = 0; j < Lk; j++)
                    if (vis[j])
                        for (int64_t c = 0; c < Dv; c++)
                            orow[c] += w[j] * ref_at(v, b, hk, j, c);
                if (lse)
                    lse[(b * Hq + h) * Lq + i] = rl;
            }
    free(s);
    free(w);
    free(vis);
}

void ref_qk(const attn_tensor *q, const attn_tensor *k, double scale, double *scores)
{
    const int64_t B = q->shape[0], Hq = q->shape[1], Lq = q->shape[2], D = q->shape[3];
    const int64_t Hkv = k->shape[1], Lk = k->shape[2];
    const int64_t group = Hkv > 0 ? Hq / Hkv : 1;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t i = 0; i < Lq; i++)
                for (int64_t j = 0; j < Lk; j++) {
                    double dot = 0.0;
                    for (int64_t d = 0; d < D; d++)
                        dot += ref_at(q, b, h, i, d) * ref_at(k, b, h / group, j, d);
                    scores[((b * Hq + h) * Lq + i) * Lk + j] = scale * dot;
                }
}

void ref_softmax(const attn_tensor *scores, const ref_opts *o, double *probs, double *lse)
{
    const int64_t B = scores->shape[0], H = scores->shape[1], Lq = scores->shape[2],
                  Lk = scores->shape[3];
    double *s = malloc(sizeof(double) * (size_t)(Lk > 0 ? Lk : 1));
    unsigned char *vis = malloc((size_t)(Lk > 0 ? Lk : 1));
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Lq; i++) {
                for (int64_t j = 0; j < Lk; j++) {
                    s[j] = 0.0;
                    vis[j] = (unsigned char)ref_score_mod(o, b, h, i, j, Lq, Lk, NULL);
                    if (!vis[j])
                        continue;
                    s[j] = ref_at(scores, b, h, i, j);
                    vis[j] = (unsigned char)ref_score_mod(o, b, h, i, j, Lq, Lk, &s[j]);
                }
                const double rl = ref_row_softmax_sink((size_t)Lk, s, vis, ref_sink(o, h),
                                                       probs + ((b * H + h) * Lq + i) * Lk);
                if (lse)
                    lse[(b * H + h) * Lq + i] = rl;
            }
    free(s);
    free(vis);
}

void ref_pv(const attn_tensor *probs, const attn_tensor *v, double *out)
{
    const int64_t B = probs->shape[0], Hq = probs->shape[1], Lq = probs->shape[2],
                  Lk = probs->shape[3];
    const int64_t Hkv = v->shape[1], Dv = v->shape[3];
    const int64_t group = Hkv > 0 ? Hq / Hkv : 1;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t i = 0; i < Lq; i++)
                for (int64_t c = 0; c < Dv; c++) {
                    double acc = 0.0;
                    for (int64_t j = 0; j < Lk; j++)
                        acc += ref_at(probs, b, h, i, j) * ref_at(v, b, h / group, j, c);
                    out[((b * Hq + h) * Lq + i) * Dv + c] = acc;
                }
}
