/*
 * test_numerics.c — the numerics and alignment contract of include/attn.h
 * (issue "Reliability"), on every kernel set this host runs, against the
 * float64 reference of tests/ref:
 *   - NaN reaches exactly the rows that see it, in the cases test_forward.c,
 *     test_masks.c and test_decode.c leave out: sliding windows without a
 *     bias, GQA groups (a NaN query row of one head of a tile of heads),
 *     split-KV decode shapes (Lq = 1 and 3, Lk ≥ 4096) with kv_len and
 *     windows, and f16/bf16 Q, K and V (fused and staged);
 *   - infinite inputs: a +inf score makes its row NaN (out and lse), a −inf
 *     score drops its key, a row whose every score is −inf gives 0 and
 *     lse −inf, inf·0 is NaN, ±inf in V reaches the columns of the rows
 *     that see it;
 *   - huge scores (exact q·k = ±2^100 ≈ ±1.3e30 with scale 1: one-hot rows;
 *     the same inputs with scale 2^-100 and 1e-30) and dot products that
 *     overflow f32 (products of 2^64 · 2^64, sums of 2^127 · e, scale · q
 *     beyond FLT_MAX), against the exact scores rounded to f32; V up to
 *     FLT_MAX / (2·Lk);
 *   - subnormal Q, K, V (f32, f16, bf16) and subnormal scores: no flush to
 *     zero, never NaN;
 *   - every data pointer (tensors, kv_len, bias, alibi_slopes, sinks, lse,
 *     the inputs and outputs of attn_merge) at an element-aligned but not
 *     vector-aligned address gives bitwise the result of 64-byte-aligned
 *     copies, for attn_forward, attn_forward_workspace, attn_qk, attn_scale,
 *     attn_softmax, attn_pv and attn_merge.
 * Tolerance (DESIGN §4): |out − ref| ≤ 1e-5·max|V| (max over finite V), plus a
 * few units of 2^-149 per output where V or the output is subnormal; lse
 * within 1e-5 (+1e-6 relative). Softmax terms exp(s − max) < e^-64 may be
 * exactly 0 (kernels/microkernels.h): every tolerance here allows that, and
 * inf in V only meets scores within a few units of the row max.
 */
#include <criterion/criterion.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "testutil.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ 16-bit values */

/* f32 → IEEE binary16, round to nearest even (NaN stays NaN, overflow → inf). */
static uint16_t f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return sign | 0x7e00u;
    if (a >= 0x477ff000u) /* ≥ 65520: rounds to inf (inf included) */
        return sign | 0x7c00u;
    if (a < 0x38800000u) { /* below 2^-14: a subnormal half m·2^-24 */
        float x;
        memcpy(&x, &a, sizeof x);
        return sign | (uint16_t)nearbyintf(x * 0x1p24f); /* exact scaling, RNE */
    }
    const uint32_t mant = a & 0x7fffffu, rem = mant & 0x1fffu;
    uint32_t h = ((a >> 23) - 112u) << 10 | mant >> 13;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++; /* may carry into the exponent: still right */
    return sign | (uint16_t)h;
}

/* f32 → bfloat16, round to nearest even. */
static uint16_t f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static float half_widen(attn_dtype dt, uint16_t h)
{
    return dt == ATTN_F16 ? tu_f16_to_f32(h) : tu_bf16_to_f32(h);
}

static const char *dtn(attn_dtype dt)
{
    return dt == ATTN_F32 ? "f32" : dt == ATTN_F16 ? "f16" : "bf16";
}

/* ------------------------------------------------------------------ input tensors */

/* An input the library reads in its dtype, with an f32 twin holding exactly
 * the widened values, which is what the reference reads. */
typedef struct nten {
    tu_tensor f; /* f32 twin */
    uint16_t *h; /* 16-bit data at the twin's element offsets (NULL for f32) */
    attn_tensor t;
} nten;

static void nt_make(nten *x, int64_t b, int64_t h, int64_t s, int64_t d, int lay, attn_dtype dt)
{
    tu_make(&x->f, b, h, s, d, &tu_layouts[lay], TU_NAN_BITS);
    x->t = x->f.t;
    x->h = NULL;
    if (dt != ATTN_F32) {
        x->h = malloc(x->f.n * sizeof(uint16_t));
        cr_assert_not_null(x->h);
        for (size_t i = 0; i < x->f.n; i++)
            x->h[i] = dt == ATTN_F16 ? 0x7e00 : 0x7fc0;
        x->t.dtype = dt;
        x->t.data = x->h + ((float *)x->f.t.data - x->f.mem);
    }
}

/* Element (b, h, s, d) ← val rounded to the dtype (the twin gets it widened). */
static void nt_set(nten *x, int64_t b, int64_t h, int64_t s, int64_t d, float val)
{
    float *p = ref_ptr(&x->f.t, b, h, s, d);
    if (x->h) {
        const uint16_t u = x->t.dtype == ATTN_F16 ? f32_to_f16(val) : f32_to_bf16(val);
        x->h[p - x->f.mem] = u;
        *p = half_widen(x->t.dtype, u);
    } else {
        *p = val;
    }
}

static float nt_get(const nten *x, int64_t b, int64_t h, int64_t s, int64_t d)
{
    return *ref_ptr(&x->f.t, b, h, s, d);
}

/* Every view element ← mult · uniform [lo, hi) (rounded to the dtype). */
static void nt_fill(nten *x, tu_rng *r, double lo, double hi, double mult)
{
    const int64_t *n = x->f.t.shape;
    for (int64_t b = 0; b < n[0]; b++)
        for (int64_t h = 0; h < n[1]; h++)
            for (int64_t s = 0; s < n[2]; s++)
                for (int64_t d = 0; d < n[3]; d++)
                    nt_set(x, b, h, s, d, (float)(mult * tu_uniform(r, lo, hi)));
}

static void nt_free(nten *x)
{
    tu_free(&x->f);
    free(x->h);
    x->h = NULL;
}

/* ------------------------------------------------------------------ fixture */

typedef struct ncase {
    int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
    attn_dtype dq, dk, dv; /* input dtypes; out is f32 */
    int causal;
    int32_t wl, wr;        /* window_left / window_right; 0 = off */
    int kvlen;             /* nonzero: kv_len = kvl[], NaN garbage past it */
    int32_t kvl[4];
    float scale;           /* 0: 1/sqrt(D) */
    int lay_kv;            /* tu_layouts index of K and V (Q and out contiguous) */
} ncase;

static ncase nk(int64_t B, int64_t Hq, int64_t Hkv, int64_t Lq, int64_t Lk, int64_t D,
                int64_t Dv)
{
    ncase c;
    memset(&c, 0, sizeof c);
    c.B = B, c.Hq = Hq, c.Hkv = Hkv, c.Lq = Lq, c.Lk = Lk, c.D = D, c.Dv = Dv;
    c.dq = c.dk = c.dv = ATTN_F32;
    return c;
}

typedef struct nfix {
    ncase c;
    nten q, k, v;
    tu_tensor o, lse;
    double *ref_out, *ref_lse;
    double tol; /* absolute, of out */
    char desc[320];
} nfix;

static void nf_describe(nfix *f)
{
    const ncase *c = &f->c;
    char kv[48] = "none";
    if (c->kvlen) {
        int n = 0;
        for (int64_t b = 0; b < c->B; b++)
            n += snprintf(kv + n, sizeof kv - (size_t)n, "%s%d", b ? "," : "", (int)c->kvl[b]);
    }
    snprintf(f->desc, sizeof f->desc,
             "B=%lld Hq=%lld Hkv=%lld Lq=%lld Lk=%lld D=%lld Dv=%lld q/k/v %s/%s/%s causal=%d "
             "window=(%d,%d) kv_len=[%s] scale=%g layout %d",
             (long long)c->B, (long long)c->Hq, (long long)c->Hkv, (long long)c->Lq,
             (long long)c->Lk, (long long)c->D, (long long)c->Dv, dtn(c->dq), dtn(c->dk),
             dtn(c->dv), c->causal, (int)c->wl, (int)c->wr, kv, (double)c->scale, c->lay_kv);
}

/* Q, K, V uniform in [-1, 1) (rounded to their dtypes); NaN past kv_len. */
static void nf_init(nfix *f, const ncase *c, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    cr_assert_leq(c->B, 4, "fixture: kv_len is kept for at most 4 batches");
    f->c = *c;
    nt_make(&f->q, c->B, c->Hq, c->Lq, c->D, 0, c->dq);
    nt_make(&f->k, c->B, c->Hkv, c->Lk, c->D, c->lay_kv, c->dk);
    nt_make(&f->v, c->B, c->Hkv, c->Lk, c->Dv, c->lay_kv, c->dv);
    tu_make(&f->o, c->B, c->Hq, c->Lq, c->Dv, &tu_layouts[0], TU_SENTINEL);
    tu_make(&f->lse, c->B, c->Hq, c->Lq, 1, &tu_layouts[0], TU_SENTINEL);
    tu_rng r = {seed};
    nt_fill(&f->q, &r, -1, 1, 1);
    nt_fill(&f->k, &r, -1, 1, 1);
    nt_fill(&f->v, &r, -1, 1, 1);
    nf_describe(f);
}

/* Keys at or past kv_len: NaN in K and V (never read). Call after the fills. */
static void nf_garbage(nfix *f)
{
    if (!f->c.kvlen)
        return;
    for (int64_t b = 0; b < f->c.B; b++)
        for (int64_t h = 0; h < f->c.Hkv; h++)
            for (int64_t j = f->c.kvl[b]; j < f->c.Lk; j++) {
                for (int64_t d = 0; d < f->c.D; d++)
                    nt_set(&f->k, b, h, j, d, NAN);
                for (int64_t d = 0; d < f->c.Dv; d++)
                    nt_set(&f->v, b, h, j, d, NAN);
            }
}

static void nf_free(nfix *f)
{
    nt_free(&f->q);
    nt_free(&f->k);
    nt_free(&f->v);
    tu_free(&f->o);
    tu_free(&f->lse);
    free(f->ref_out);
    free(f->ref_lse);
}

static ref_opts nf_ropts(const nfix *f)
{
    ref_opts o = {ref_scale(f->c.scale, f->c.D), f->c.causal, f->c.kvlen ? f->c.kvl : NULL};
    o.window_left = f->c.wl;
    o.window_right = f->c.wr;
    return o;
}

static attn_options nf_opts(nfix *f)
{
    attn_options o;
    memset(&o, 0, sizeof o);
    o.scale = f->c.scale;
    o.causal = f->c.causal;
    o.kv_len = f->c.kvlen ? f->c.kvl : NULL;
    o.window_left = f->c.wl;
    o.window_right = f->c.wr;
    o.lse = &f->lse.t;
    return o;
}

/* max |v| over the finite V values a batch can see */
static double finite_maxabs_v(const nfix *f)
{
    double m = 0.0;
    for (int64_t b = 0; b < f->c.B; b++)
        for (int64_t h = 0; h < f->c.Hkv; h++)
            for (int64_t j = 0; j < (f->c.kvlen ? f->c.kvl[b] : f->c.Lk); j++)
                for (int64_t d = 0; d < f->c.Dv; d++) {
                    const double a = fabs((double)nt_get(&f->v, b, h, j, d));
                    if (isfinite(a) && a > m)
                        m = a;
                }
    return m;
}

static void nf_alloc_ref(nfix *f)
{
    free(f->ref_out);
    free(f->ref_lse);
    f->ref_out = malloc(sizeof(double) * (size_t)(tu_numel(&f->o.t) + 1));
    f->ref_lse = malloc(sizeof(double) * (size_t)(tu_numel(&f->lse.t) + 1));
    cr_assert(f->ref_out && f->ref_lse);
}

/* The reference of the current inputs; tol = 1e-5·max|V| (finite V). */
static void nf_ref(nfix *f)
{
    const ref_opts o = nf_ropts(f);
    nf_alloc_ref(f);
    ref_forward(&f->q.f.t, &f->k.f.t, &f->v.f.t, &o, f->ref_out, f->ref_lse);
    f->tol = 1e-5 * finite_maxabs_v(f);
}

static int64_t nf_row(const nfix *f, int64_t b, int64_t h, int64_t i)
{
    return (b * f->c.Hq + h) * f->c.Lq + i;
}

/* Rows of the reference with some NaN output / with only finite outputs. */
static void nf_count_rows(const nfix *f, int64_t *nan_rows, int64_t *finite_rows)
{
    *nan_rows = *finite_rows = 0;
    const int64_t rows = f->c.B * f->c.Hq * f->c.Lq;
    for (int64_t r = 0; r < rows; r++) {
        int nan = 0, fin = 1;
        for (int64_t d = 0; d < f->c.Dv; d++) {
            nan |= isnan(f->ref_out[r * f->c.Dv + d]);
            fin &= isfinite(f->ref_out[r * f->c.Dv + d]);
        }
        *nan_rows += nan;
        *finite_rows += fin;
    }
}

/* attn_forward on the current ISA into sentinel-filled outputs. */
static attn_status nf_run(nfix *f)
{
    tu_reset(&f->o, TU_SENTINEL);
    tu_reset(&f->lse, TU_SENTINEL);
    const attn_options o = nf_opts(f);
    return attn_forward(&f->q.t, &f->k.t, &f->v.t, &f->o.t, &o);
}

static void nf_check(nfix *f, const char *tag)
{
    const char *isa = attn_isa_name(attn_get_isa());
    char msg[400];
    cr_assert_eq(tu_compare(&f->o.t, f->ref_out, f->tol, 0.0, msg, sizeof msg), 0,
                 "%s [%s] %s: out: %s", tag, isa, f->desc, msg);
    cr_assert_eq(tu_compare(&f->lse.t, f->ref_lse, 1e-5, 1e-6, msg, sizeof msg), 0,
                 "%s [%s] %s: lse: %s", tag, isa, f->desc, msg);
    const int64_t rows = f->c.B * f->c.Hq * f->c.Lq;
    for (int64_t r = 0; r < rows; r++) {
        if (f->ref_lse[r] != -INFINITY)
            continue;
        const int64_t b = r / (f->c.Hq * f->c.Lq), h = r / f->c.Lq % f->c.Hq, i = r % f->c.Lq;
        for (int64_t c = 0; c < f->c.Dv; c++) {
            const float x = *ref_ptr(&f->o.t, b, h, i, c);
            cr_assert(x == 0.0f, "%s [%s] %s: row [%lld,%lld,%lld] sees no key: out[%lld] = %g",
                      tag, isa, f->desc, (long long)b, (long long)h, (long long)i, (long long)c,
                      (double)x);
        }
    }
    cr_assert_eq(tu_outside_changed(&f->o, TU_SENTINEL), 0, "%s [%s] %s: wrote outside out",
                 tag, isa, f->desc);
}

/* attn_forward + checks on every kernel set. */
static void nf_all_isas(nfix *f, const char *tag)
{
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    for (int i = 0; i < n; i++) {
        cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
        const attn_status st = nf_run(f);
        cr_assert_eq(st, ATTN_OK, "%s [%s] %s: %s (%s)", tag, attn_isa_name(isas[i]), f->desc,
                     attn_status_str(st), attn_last_error());
        nf_check(f, tag);
    }
    attn_set_isa(saved);
}

/* Whether attn_forward splits this fixture's keys (split-KV): its workspace
 * has per-chunk records that a 600-key view of the same call has not. */
static int nf_splits(nfix *f)
{
    attn_options o;
    memset(&o, 0, sizeof o);
    attn_tensor k = f->k.t, v = f->v.t;
    size_t full = 0, short_ = 0;
    cr_assert_eq(attn_forward_workspace(&f->q.t, &k, &v, &f->o.t, &o, &full), ATTN_OK);
    k.shape[2] = v.shape[2] = 600;
    cr_assert_eq(attn_forward_workspace(&f->q.t, &k, &v, &f->o.t, &o, &short_), ATTN_OK);
    return full > short_;
}

/* ------------------------------------------------------------------ staged */

/* attn_qk → attn_softmax → attn_pv with the fixture's masks, each stage
 * against the reference of its own inputs (the previous stage's output):
 * scores within qk_atol + 1e-6 relative (exact ±inf and NaN), probabilities
 * within 1e-6, out within f->tol + pv_extra. K/V past kv_len must be finite
 * here (attn_pv has no kv_len). */
static void nf_staged(nfix *f, double qk_atol, double pv_extra, const char *tag)
{
    const ncase *c = &f->c;
    const ref_opts ro = nf_ropts(f);
    tu_tensor s, p, o, l;
    tu_make(&s, c->B, c->Hq, c->Lq, c->Lk, &tu_layouts[0], TU_SENTINEL);
    tu_make(&p, c->B, c->Hq, c->Lq, c->Lk, &tu_layouts[0], TU_SENTINEL);
    tu_make(&o, c->B, c->Hq, c->Lq, c->Dv, &tu_layouts[0], TU_SENTINEL);
    tu_make(&l, c->B, c->Hq, c->Lq, 1, &tu_layouts[0], TU_SENTINEL);
    const size_t ns = (size_t)tu_numel(&s.t) + 1;
    double *rs = malloc(sizeof(double) * ns), *rp = malloc(sizeof(double) * ns);
    double *rl = malloc(sizeof(double) * (size_t)(tu_numel(&l.t) + 1));
    double *rout = malloc(sizeof(double) * (size_t)(tu_numel(&o.t) + 1));
    cr_assert(rs && rp && rl && rout);
    ref_qk(&f->q.f.t, &f->k.f.t, ro.scale, rs);
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    char msg[400];
    for (int i = 0; i < n; i++) {
        const char *isa = attn_isa_name(isas[i]);
        cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
        tu_reset(&s, TU_SENTINEL);
        attn_status st = attn_qk(&f->q.t, &f->k.t, &s.t, c->scale);
        cr_assert_eq(st, ATTN_OK, "%s [%s] %s: attn_qk: %s", tag, isa, f->desc, attn_last_error());
        cr_assert_eq(tu_compare(&s.t, rs, qk_atol, 1e-6, msg, sizeof msg), 0,
                     "%s [%s] %s: attn_qk: %s", tag, isa, f->desc, msg);
        memcpy(p.mem, s.mem, s.n * sizeof(float));
        ref_softmax(&s.t, &ro, rp, rl); /* masked entries exactly 0, as attn.h says */
        attn_options opt = nf_opts(f);
        opt.lse = &l.t;
        st = attn_softmax(&p.t, &opt);
        cr_assert_eq(st, ATTN_OK, "%s [%s] %s: attn_softmax: %s", tag, isa, f->desc,
                     attn_last_error());
        cr_assert_eq(tu_compare(&p.t, rp, 1e-6, 0.0, msg, sizeof msg), 0,
                     "%s [%s] %s: attn_softmax: %s", tag, isa, f->desc, msg);
        cr_assert_eq(tu_compare(&l.t, rl, 1e-5, 1e-6, msg, sizeof msg), 0,
                     "%s [%s] %s: attn_softmax lse: %s", tag, isa, f->desc, msg);
        ref_pv(&p.t, &f->v.f.t, rout);
        tu_reset(&o, TU_SENTINEL);
        st = attn_pv(&p.t, &f->v.t, &o.t);
        cr_assert_eq(st, ATTN_OK, "%s [%s] %s: attn_pv: %s", tag, isa, f->desc, attn_last_error());
        cr_assert_eq(tu_compare(&o.t, rout, f->tol + pv_extra, 0.0, msg, sizeof msg), 0,
                     "%s [%s] %s: attn_pv: %s", tag, isa, f->desc, msg);
    }
    attn_set_isa(saved);
    free(rs);
    free(rp);
    free(rl);
    free(rout);
    tu_free(&s);
    tu_free(&p);
    tu_free(&o);
    tu_free(&l);
}

/* ------------------------------------------------------------------ NaN */

/* Sliding windows without a bias (test_masks.c puts its NaN under a bias,
 * which takes another path): NaN in one K element or one V element of key j0
 * reaches exactly the rows whose window holds j0 (in V: only that column),
 * with and without causal, with kv_len, Lq < Lk and Lq = 1. */
Test(numerics, nan_under_sliding_windows)
{
    typedef struct { int64_t Lq, Lk; int causal; int32_t wl, wr; int kv; } wcase;
    const wcase w[] = {{48, 48, 1, 8, 0, 0},   {48, 48, 0, 5, 5, 0},   {20, 70, 0, 0, 7, 0},
                       {20, 70, 1, 16, 0, 1},  {1, 300, 0, 32, 0, 1},  {33, 130, 0, 12, 40, 1}};
    int64_t seen = 0, hidden = 0; /* cases where some row sees j0 / none does */
    for (size_t s = 0; s < NELEM(w); s++)
        for (int in_k = 0; in_k <= 1; in_k++) {
            const int64_t j0s[] = {0, w[s].Lk / 3, w[s].Lk - 5, w[s].Lk - 1};
            for (size_t jj = 0; jj < NELEM(j0s); jj++) {
                ncase c = nk(1, 2, 1, w[s].Lq, w[s].Lk, 16, 16);
                c.causal = w[s].causal, c.wl = w[s].wl, c.wr = w[s].wr;
                if (w[s].kv)
                    c.kvlen = 1, c.kvl[0] = (int32_t)(w[s].Lk - 3);
                nfix f;
                nf_init(&f, &c, 100 + s * 10 + jj);
                nf_garbage(&f);
                const int64_t j0 = j0s[jj];
                if (in_k)
                    nt_set(&f.k, 0, 0, j0, 7, NAN);
                else
                    nt_set(&f.v, 0, 0, j0, 2, NAN);
                nf_ref(&f);
                int64_t nan_rows, fin_rows;
                nf_count_rows(&f, &nan_rows, &fin_rows);
                seen += nan_rows > 0 && fin_rows > 0;
                hidden += nan_rows == 0;
                char tag[80];
                snprintf(tag, sizeof tag, "window: NaN in %s at key %lld", in_k ? "K" : "V",
                         (long long)j0);
                nf_all_isas(&f, tag);
                nf_free(&f);
            }
        }
    cr_assert(seen > 0 && hidden > 0, "NaN seen by some rows in %lld cases, by none in %lld",
              (long long)seen, (long long)hidden);
}

/* GQA: a tile holds the rows of every query head of a group. NaN in one
 * query row of one head stays in that row; NaN in K or V of K/V head hk
 * reaches only the heads of group hk (the rows that see the key). Prefill
 * (causal and not), decode unsplit, and decode split over the keys. */
Test(numerics, nan_in_gqa_groups)
{
    const int64_t long_lk = tu_small_run() ? 2100 : 4500;
    typedef struct { int64_t B, Hq, Hkv, Lq, Lk; int causal; } gcase;
    const gcase g[] = {{2, 8, 2, 19, 37, 0}, {2, 8, 2, 19, 37, 1}, {1, 8, 1, 1, 700, 0},
                       {1, 16, 2, 1, long_lk, 0}, {1, 8, 1, 3, long_lk, 1}};
    for (size_t s = 0; s < NELEM(g); s++)
        for (int where = 0; where < 3; where++) { /* Q, K, V */
            ncase c = nk(g[s].B, g[s].Hq, g[s].Hkv, g[s].Lq, g[s].Lk, 32, 24);
            c.causal = g[s].causal;
            c.lay_kv = 1; /* [B,S,H,D] */
            nfix f;
            nf_init(&f, &c, 200 + s * 3 + (uint64_t)where);
            const int64_t b = c.B - 1, hq = c.Hq / 2 + 1, hk = c.Hkv - 1, i0 = c.Lq / 2;
            const int64_t j0 = c.Lk / 2;
            if (where == 0)
                nt_set(&f.q, b, hq, i0, 5, NAN);
            else if (where == 1)
                nt_set(&f.k, b, hk, j0, 11, NAN);
            else
                nt_set(&f.v, b, hk, j0, 3, NAN);
            nf_ref(&f);
            int64_t nan_rows, fin_rows;
            nf_count_rows(&f, &nan_rows, &fin_rows);
            if (where == 0)
                cr_assert_eq(nan_rows, 1, "%s: NaN in one Q row: %lld NaN rows in the reference",
                             f.desc, (long long)nan_rows);
            else
                cr_assert(nan_rows > 0 && nan_rows <= c.B * c.Lq * (c.Hq / c.Hkv),
                          "%s: %lld NaN rows in the reference", f.desc, (long long)nan_rows);
            if (g[s].Lk >= 2048)
                cr_assert(nf_splits(&f), "%s: expected a split-KV plan", f.desc);
            static const char *const wn[] = {"NaN in one Q row", "NaN in K", "NaN in V"};
            nf_all_isas(&f, wn[where]);
            nf_free(&f);
        }
}

/* Split-KV decode (Lq = 1, and 3 causal speculative rows), Lk ≥ 4096 (2048
 * under ASan): NaN in K or V at a key in any chunk, at chunk edges, past
 * kv_len (never read) and before a window (masked) — exactly the rows that
 * see it are NaN, whichever chunk holds it. */
Test(numerics, nan_in_split_kv_decode)
{
    const int64_t Lk = tu_small_run() ? 2048 : 4608;
    const int32_t kv1 = (int32_t)(Lk * 2 / 3);
    const int64_t j0s[] = {0, 511, 512, 1023, 1500, kv1 - 1, kv1 + 5, Lk - 1};
    for (int lq3 = 0; lq3 <= 1; lq3++)
        for (int win = 0; win <= 1; win++)
            for (int in_k = 0; in_k <= 1; in_k++) {
                /* B·Hkv·row tiles < 4 whatever the kernel set: a split plan */
                ncase c = nk(lq3 ? 1 : 2, 4, 1, lq3 ? 3 : 1, Lk, 32, 32);
                c.causal = lq3;
                c.kvlen = 1, c.kvl[0] = lq3 ? kv1 : (int32_t)Lk, c.kvl[1] = kv1;
                c.wl = win ? 1000 : 0;
                c.lay_kv = 3; /* a KV-cache slice */
                nfix f;
                nf_init(&f, &c, 300 + (uint64_t)(lq3 * 4 + win * 2 + in_k));
                nf_garbage(&f);
                cr_assert(nf_splits(&f), "%s: expected a split-KV plan", f.desc);
                float saved[2];
                for (size_t jj = 0; jj < NELEM(j0s); jj++) {
                    const int64_t j0 = j0s[jj];
                    /* the same key of every batch (kv_len kv1 masks it past kv1) */
                    for (int64_t b = 0; b < c.B; b++) {
                        saved[b] = nt_get(in_k ? &f.k : &f.v, b, 0, j0, 3);
                        nt_set(in_k ? &f.k : &f.v, b, 0, j0, 3, NAN);
                    }
                    nf_ref(&f);
                    char tag[80];
                    snprintf(tag, sizeof tag, "split decode: NaN in %s at key %lld",
                             in_k ? "K" : "V", (long long)j0);
                    nf_all_isas(&f, tag);
                    for (int64_t b = 0; b < c.B; b++)
                        nt_set(in_k ? &f.k : &f.v, b, 0, j0, 3, saved[b]);
                }
                nf_free(&f);
            }
}

/* f16 and bf16 Q, K, V (and mixes): a NaN or ±inf half in Q, K or V reaches
 * exactly the rows that see it, under causal + window + kv_len (NaN halves
 * past it), prefill and split decode; the staged attn_qk and attn_pv with
 * 16-bit NaN/inf inputs put NaN/inf exactly where the reference does. */
Test(numerics, nan_and_inf_in_16_bit_inputs)
{
    const attn_dtype mixes[][3] = {{ATTN_F16, ATTN_F16, ATTN_F16},
                                   {ATTN_BF16, ATTN_BF16, ATTN_BF16},
                                   {ATTN_F16, ATTN_BF16, ATTN_F32},
                                   {ATTN_F32, ATTN_F16, ATTN_BF16}};
    for (size_t m = 0; m < NELEM(mixes); m++)
        for (int dec = 0; dec <= 1; dec++)
            for (int where = 0; where < 4; where++) { /* NaN Q, NaN K, NaN V, +inf K */
                ncase c = dec ? nk(1, 4, 2, 2, 2100, 16, 16) : nk(1, 4, 2, 21, 45, 16, 16);
                c.dq = mixes[m][0], c.dk = mixes[m][1], c.dv = mixes[m][2];
                c.causal = 1;
                c.wl = dec ? 1500 : 20;
                c.kvlen = 1, c.kvl[0] = (int32_t)(c.Lk - 4);
                nfix f;
                nf_init(&f, &c, 400 + m * 8 + (uint64_t)(dec * 4 + where));
                nf_garbage(&f);
                const int64_t j0 = c.Lk - 7;
                if (where == 0)
                    nt_set(&f.q, 0, 1, c.Lq - 1, 4, NAN);
                else if (where == 1)
                    nt_set(&f.k, 0, 0, j0, 4, NAN);
                else if (where == 2)
                    nt_set(&f.v, 0, 0, j0, 4, NAN);
                else
                    nt_set(&f.k, 0, 0, j0, 4, INFINITY); /* ±inf scores, NaN for q = 0 */
                nf_ref(&f);
                int64_t nan_rows, fin_rows;
                nf_count_rows(&f, &nan_rows, &fin_rows);
                cr_assert(nan_rows > 0 && fin_rows > 0, "%s: %lld NaN and %lld finite rows",
                          f.desc, (long long)nan_rows, (long long)fin_rows);
                static const char *const wn[] = {"16-bit NaN in Q", "16-bit NaN in K",
                                                 "16-bit NaN in V", "16-bit +inf in K"};
                nf_all_isas(&f, wn[where]);
                if (!dec) {
                    /* staged: finite keys past kv_len (attn_pv reads every key) */
                    for (int64_t h = 0; h < c.Hkv; h++)
                        for (int64_t j = c.kvl[0]; j < c.Lk; j++) {
                            for (int64_t d = 0; d < c.D; d++)
                                nt_set(&f.k, 0, h, j, d, 0.5f);
                            for (int64_t d = 0; d < c.Dv; d++)
                                nt_set(&f.v, 0, h, j, d, 0.25f);
                        }
                    nf_staged(&f, 4e-7 * (double)c.D * 0.25, 0.0, wn[where]);
                }
                nf_free(&f);
            }
}

/* ------------------------------------------------------------------ ±inf */

/*
 * Infinite Q and K (attn.h, numerics): a score of +inf makes its row NaN (out
 * and lse: exp(inf − inf)); a score of −inf drops its key (weight 0); a row
 * whose every visible score is −inf gives out 0 and lse −inf; inf·0 = NaN.
 * ±inf in V at a visible key: that column of the rows that see it is ±inf
 * (NaN where +inf and −inf meet). Masked keys stay out. Prefill (causal and
 * not, and the staged stages) and split decode.
 *   0: K[j0][d0] = +inf, Q[:, d0] > 0, < 0 or 0 by row: +inf / −inf / NaN
 *   1: K[j0][d0] = −inf, the same Q pattern
 *   2: Q[row][d0] = +inf, K[:, d0] < 0 everywhere: that row sees only −inf
 *   3: Q[row][d0] = −inf, K[:, d0] of both signs: +inf scores, a NaN row
 *   4: V[j0][c0] = +inf, V[j1][c0] = −inf, V[j1][c1] = +inf
 */
static void infinite_inputs(const ncase *base, int placement, uint64_t seed)
{
    nfix f;
    nf_init(&f, base, seed);
    const ncase *c = &f.c;
    const int64_t d0 = 2, j0 = c->Lk - 3, j1 = c->Lk - 6; /* seen by the last rows */
    tu_rng r = {seed + 1};
    for (int64_t h = 0; h < c->Hq; h++)
        for (int64_t i = 0; i < c->Lq; i++) {
            const int64_t row = h * c->Lq + i;
            const float mag = (float)tu_uniform(&r, 0.1, 1.0);
            if (placement <= 1)
                nt_set(&f.q, 0, h, i, d0, row % 3 == 0 ? mag : row % 3 == 1 ? -mag : 0.0f);
        }
    const int64_t r0h = c->Hq - 1, r0i = c->Lq - 1; /* the last row sees every key */
    switch (placement) {
    case 0:
    case 1:
        nt_set(&f.k, 0, 0, j0, d0, placement == 0 ? INFINITY : -INFINITY);
        break;
    case 2:
        for (int64_t h = 0; h < c->Hkv; h++)
            for (int64_t j = 0; j < c->Lk; j++)
                nt_set(&f.k, 0, h, j, d0, -(float)tu_uniform(&r, 0.1, 1.0));
        nt_set(&f.q, 0, r0h, r0i, d0, INFINITY);
        if (c->Lq > 1)
            nt_set(&f.q, 0, 0, 0, d0, INFINITY);
        break;
    case 3:
        nt_set(&f.q, 0, r0h, r0i, d0, -INFINITY);
        break;
    default:
        nt_set(&f.v, 0, 0, j0, 1, INFINITY);
        nt_set(&f.v, 0, 0, j1, 1, -INFINITY);
        nt_set(&f.v, 0, 0, j1, 5, INFINITY);
        break;
    }
    nf_ref(&f);
    int64_t nan_rows, fin_rows;
    nf_count_rows(&f, &nan_rows, &fin_rows);
    if (placement == 2)
        cr_assert(f.ref_lse[nf_row(&f, 0, r0h, r0i)] == -INFINITY,
                  "%s: a row of -inf scores should see no key", f.desc);
    else
        cr_assert_gt(nan_rows, 0, "%s: placement %d gives no NaN row", f.desc, placement);
    if (placement <= 1) {
        /* some row that sees j0 with an infinite score stays finite */
        int64_t fin_seeing = 0;
        const ref_opts o = nf_ropts(&f);
        for (int64_t h = 0; h < c->Hq; h++)
            for (int64_t i = 0; i < c->Lq; i++)
                if (ref_score_mod(&o, 0, h, i, j0, c->Lq, c->Lk, NULL) &&
                    nt_get(&f.q, 0, h, i, d0) != 0.0f && isfinite(f.ref_lse[nf_row(&f, 0, h, i)]))
                    fin_seeing++;
        cr_assert_gt(fin_seeing, 0, "%s: no row drops a -inf key", f.desc);
    }
    char tag[64];
    snprintf(tag, sizeof tag, "infinite inputs (placement %d)", placement);
    nf_all_isas(&f, tag);
    if (c->Lk < 1024) /* qk_tol-like bound for |q|, |k| < 1 */
        nf_staged(&f, 4e-7 * (double)c->D * ref_scale(c->scale, c->D), 0.0, tag);
    nf_free(&f);
}

Test(numerics, infinite_q_and_k_give_documented_scores)
{
    for (int p = 0; p <= 4; p++) {
        for (int causal = 0; causal <= 1; causal++) {
            ncase c = nk(1, 2, 1, 24, 40, 8, 8);
            c.causal = causal;
            infinite_inputs(&c, p, 500 + (uint64_t)(p * 2 + causal));
        }
        ncase c = nk(1, 6, 1, 1, 2100, 8, 8); /* split decode: rows are heads */
        infinite_inputs(&c, p, 520 + (uint64_t)p);
        c = nk(1, 4, 2, 16, 70, 8, 8); /* GQA, window */
        c.wl = 9, c.wr = 4;
        infinite_inputs(&c, p, 530 + (uint64_t)p);
    }
}

/*
 * A score of −inf that comes from Q·K itself (K holds −inf) drops its key
 * like a mask: a NaN or inf in that key's V stays out of the row, with or
 * without causal/window/kv_len/bias (once the library formed 0·NaN unless
 * the block was masked anyway, so a row's result depended on unrelated
 * options). Lq = Lk = 4, D = 2, Dv = 1, q rows (1, 1), k = (−inf, 0), (1, 0),
 * (2, 0), (3, 0), v = (NaN, 2, 3, 4), scale 1, and the same at Lk = 100.
 */
Test(numerics, minus_inf_score_drops_a_nonfinite_v)
{
    for (int causal = 0; causal <= 1; causal++)
        for (int64_t lk = 4; lk <= 100; lk += 96) {
            ncase c = nk(1, 1, 1, 4, lk, 2, 1);
            c.causal = causal;
            c.scale = 1.0f;
            nfix f;
            nf_init(&f, &c, 600 + (uint64_t)lk);
            for (int64_t i = 0; i < c.Lq; i++)
                nt_set(&f.q, 0, 0, i, 0, 1.0f);
            nt_set(&f.k, 0, 0, 0, 0, -INFINITY);
            nt_set(&f.v, 0, 0, 0, 0, NAN);
            nf_ref(&f);
            f.tol = 1e-5;
            nf_all_isas(&f, "-inf score over NaN V");
            nf_free(&f);
        }
}

/* ------------------------------------------------------------------ large magnitudes */

/*
 * Scores of ±1e30: q = a·2^50, k = b·2^50 with small integers a, b, so that
 * q·k = (Σ ab)·2^100 is exact in f32. Scale 1: scores up to ±2^108 and
 * differences ≥ 2^100 — rows are exactly one-hot (ties split evenly), lse the
 * max score; scale 2^-100 and 1e-30: ordinary integer-sized scores. Prefill
 * (causal and not), split decode, and the staged path.
 */
Test(numerics, scores_of_1e30_are_exact)
{
    const float scales[] = {1.0f, 0x1p-100f, 1e-30f};
    for (size_t is = 0; is < NELEM(scales); is++)
        for (int shape = 0; shape < 3; shape++) {
            ncase c = shape == 2 ? nk(1, 4, 1, 1, 2100, 4, 16) : nk(1, 2, 1, 19, 37, 4, 16);
            c.causal = shape == 1;
            c.scale = scales[is];
            nfix f;
            nf_init(&f, &c, 700 + is * 3 + (uint64_t)shape);
            tu_rng r = {710 + is};
            for (int64_t h = 0; h < c.Hq; h++)
                for (int64_t i = 0; i < c.Lq; i++)
                    for (int64_t d = 0; d < c.D; d++)
                        nt_set(&f.q, 0, h, i, d, ldexpf((float)tu_int(&r, -8, 8), 50));
            for (int64_t j = 0; j < c.Lk; j++)
                for (int64_t d = 0; d < c.D; d++)
                    nt_set(&f.k, 0, 0, j, d, ldexpf((float)tu_int(&r, -8, 8), 50));
            nf_ref(&f);
            if (is == 0) {
                double mx = 0.0;
                for (int64_t row = 0; row < c.Hq * c.Lq; row++)
                    mx = fmax(mx, fabs(f.ref_lse[row]));
                cr_assert_gt(mx, 1e30, "scores should reach 1e30 (max |lse| %g)", mx);
            }
            nf_all_isas(&f, "scores of 1e30");
            if (shape != 2) /* exact scores: any rounding is relative */
                nf_staged(&f, 1e-30, 0.0, "scores of 1e30");
            nf_free(&f);
        }
}

/* Round an exact score to f32: ±inf from 2^128 − 2^103 on (round to nearest). */
static double sat_f32(double x)
{
    if (isnan(x))
        return x;
    if (fabs(x) >= 0x1.ffffffp127)
        return copysign(INFINITY, x);
    return (double)(float)x;
}

/* The f32 score attn_forward forms, for inputs designed so that it is
 * independent of the summation order: sat_f32(Σ_d sat_f32(scale·q_d)·k_d)
 * (scale·q_d is exact or overflows; the products are exact in double). */
static double f32_score(const nfix *f, int64_t b, int64_t h, int64_t i, int64_t j, double scale)
{
    const int64_t hk = h / (f->c.Hq / f->c.Hkv);
    double s = 0.0;
    for (int64_t d = 0; d < f->c.D; d++)
        s += sat_f32(scale * nt_get(&f->q, b, h, i, d)) * (double)nt_get(&f->k, b, hk, j, d);
    return sat_f32(s);
}

/* The reference on given scores (for rows whose f32 scores differ from the
 * float64 ones): the masks of the fixture, a −inf score drops its key. */
static void nf_ref_from_f32_scores(nfix *f)
{
    const ncase *c = &f->c;
    const ref_opts o = nf_ropts(f);
    nf_alloc_ref(f);
    double *s = malloc(sizeof(double) * (size_t)c->Lk), *w = malloc(sizeof(double) * (size_t)c->Lk);
    unsigned char *vis = malloc((size_t)c->Lk);
    cr_assert(s && w && vis);
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t h = 0; h < c->Hq; h++)
            for (int64_t i = 0; i < c->Lq; i++) {
                const int64_t hk = h / (c->Hq / c->Hkv), row = nf_row(f, b, h, i);
                for (int64_t j = 0; j < c->Lk; j++) {
                    vis[j] = (unsigned char)ref_score_mod(&o, b, h, i, j, c->Lq, c->Lk, NULL);
                    s[j] = vis[j] ? f32_score(f, b, h, i, j, o.scale) : 0.0;
                    if (s[j] == -INFINITY)
                        vis[j] = 0;
                }
                f->ref_lse[row] = ref_row_softmax((size_t)c->Lk, s, vis, w);
                for (int64_t d = 0; d < c->Dv; d++) {
                    double acc = 0.0;
                    for (int64_t j = 0; j < c->Lk; j++)
                        if (vis[j])
                            acc += w[j] * nt_get(&f->v, b, hk, j, d);
                    f->ref_out[row * c->Dv + d] = acc;
                }
            }
    f->tol = 1e-5 * finite_maxabs_v(f);
    free(s);
    free(w);
    free(vis);
}

/*
 * Dot products beyond FLT_MAX. D = 4; key j: k = (c_j·2^64, e_j, e_j, x_j)
 * with c_j ∈ {−1, 0, 1} (±1 at one key each), e_j a multiple of 1/4 in
 * [−1, 1] (±1 at one key each), x_j in [−1, 1]. Query rows, by row number:
 *   A±: (±2^64, 0, 0, y): ±c_j·2^128 + y·x_j → ±inf where c_j ≠ 0;
 *   C:  (0, 2^127, 2^127, y): 2^128·e_j + …: ±inf for e_j = ±1, otherwise
 *       finite scores up to 0.75·2^128 ≈ 2.6e38 (near FLT_MAX: one-hot);
 *   E:  (0, 0, 0, FLT_MAX): with scale 2, scale·q = inf → ±inf scores;
 *   B:  (2^-70·y0, y1/2, y2/2, y3): ordinary scores.
 * Scale 1, 2^-80 (scale·q is applied first: nothing overflows, scores up to
 * 2^48) and 2 (scale·q overflows for C and E). Expected: the exact scores
 * rounded to f32 (sat_f32), then the reference softmax — so a row with a
 * +inf score is NaN, −inf scores drop their keys. Prefill, split decode,
 * staged (attn_qk gives exactly those scores).
 */
static void overflow_case(const ncase *base, uint64_t seed)
{
    nfix f;
    nf_init(&f, base, seed);
    const ncase *c = &f.c;
    tu_rng r = {seed + 1};
    const int64_t ja = c->Lk / 3, jb = c->Lk * 2 / 3, jc = c->Lk / 2, jd = c->Lk / 4;
    for (int64_t h = 0; h < c->Hkv; h++)
        for (int64_t j = 0; j < c->Lk; j++) {
            const float cj = j == ja ? 1.0f : j == jb ? -1.0f : 0.0f;
            const float ej = j == jc ? 1.0f : j == jd ? -1.0f : 0.25f * (float)tu_int(&r, -3, 3);
            nt_set(&f.k, 0, h, j, 0, cj * 0x1p64f);
            nt_set(&f.k, 0, h, j, 1, ej);
            nt_set(&f.k, 0, h, j, 2, ej);
            nt_set(&f.k, 0, h, j, 3, (float)tu_uniform(&r, 0.05, 1.0) * (tu_int(&r, 0, 1) ? 1 : -1));
        }
    for (int64_t h = 0; h < c->Hq; h++)
        for (int64_t i = 0; i < c->Lq; i++) {
            const int64_t type = (h * c->Lq + i) % 5;
            const float y = (float)tu_uniform(&r, -1, 1);
            float q[4] = {0.0f, 0.0f, 0.0f, y};
            if (type <= 1)
                q[0] = type == 0 ? 0x1p64f : -0x1p64f;
            else if (type == 2)
                q[1] = q[2] = 0x1p127f;
            else if (type == 3)
                q[3] = FLT_MAX;
            else
                q[0] = 0x1p-70f * y, q[1] = 0.5f * (float)tu_uniform(&r, -1, 1),
                q[2] = 0.5f * (float)tu_uniform(&r, -1, 1);
            for (int64_t d = 0; d < 4; d++)
                nt_set(&f.q, 0, h, i, d, q[d]);
        }
    nf_ref_from_f32_scores(&f);
    int64_t nan_rows, fin_rows;
    nf_count_rows(&f, &nan_rows, &fin_rows);
    cr_assert_gt(fin_rows, 0, "%s: no finite row", f.desc);
    if (c->scale == 1.0f)
        cr_assert_gt(nan_rows, 0, "%s: no row sees an overflowing score", f.desc);
    nf_all_isas(&f, "dot products beyond FLT_MAX");
    if (c->Lk < 1024) {
        /* attn_qk: exactly the f32 scores; then the staged softmax and P·V */
        double *want = malloc(sizeof(double) * (size_t)(c->Hq * c->Lq * c->Lk));
        for (int64_t h = 0; h < c->Hq; h++)
            for (int64_t i = 0; i < c->Lq; i++)
                for (int64_t j = 0; j < c->Lk; j++)
                    want[(h * c->Lq + i) * c->Lk + j] = f32_score(&f, 0, h, i, j, c->scale);
        tu_tensor s;
        tu_make(&s, 1, c->Hq, c->Lq, c->Lk, &tu_layouts[0], TU_SENTINEL);
        attn_isa isas[4];
        const int n = tu_isas(isas);
        const attn_isa saved = attn_get_isa();
        char msg[400];
        for (int i = 0; i < n; i++) {
            cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
            cr_assert_eq(attn_qk(&f.q.t, &f.k.t, &s.t, c->scale), ATTN_OK);
            cr_assert_eq(tu_compare(&s.t, want, 1e-6, 1e-6, msg, sizeof msg), 0,
                         "[%s] %s: attn_qk beyond FLT_MAX: %s", attn_isa_name(isas[i]), f.desc, msg);
        }
        attn_set_isa(saved);
        tu_free(&s);
        free(want);
    }
    nf_free(&f);
}

Test(numerics, dot_products_beyond_flt_max)
{
    const float scales[] = {1.0f, 0x1p-80f, 2.0f};
    for (size_t is = 0; is < NELEM(scales); is++) {
        for (int causal = 0; causal <= 1; causal++) {
            ncase c = nk(1, 2, 1, 20, 24, 4, 8);
            c.causal = causal;
            c.scale = scales[is];
            overflow_case(&c, 800 + is * 4 + (uint64_t)causal);
        }
        ncase c = nk(1, 5, 1, 1, 2100, 4, 8); /* split decode: one head per row type */
        c.scale = scales[is];
        overflow_case(&c, 810 + is);
    }
}

/* V up to FLT_MAX / (2·Lk) (attn.h: the unnormalised f32 sum Σ e^(s−m)·v
 * must stay finite): results finite and within 1e-5·max|V|, fused and staged;
 * uniform rows (q = 0: every weight 1, the sum is Lk·v) included. */
Test(numerics, large_values_within_the_documented_range)
{
    for (int shape = 0; shape < 2; shape++) {
        ncase c = shape ? nk(1, 4, 1, 1, 2100, 16, 16) : nk(1, 2, 1, 21, 45, 16, 16);
        c.causal = !shape;
        nfix f;
        nf_init(&f, &c, 900 + (uint64_t)shape);
        tu_rng r = {901};
        nt_fill(&f.v, &r, -1, 1, FLT_MAX / (2.0 * (double)c.Lk));
        for (int64_t j = 0; j < c.Lk; j++) /* a column of the largest value */
            nt_set(&f.v, 0, 0, j, 0, FLT_MAX / (2.0f * (float)c.Lk));
        for (int64_t d = 0; d < c.D; d++)
            nt_set(&f.q, 0, 0, 0, d, 0.0f); /* row 0 of head 0: uniform */
        nf_ref(&f);
        nf_all_isas(&f, "large V");
        if (!shape)
            nf_staged(&f, 4e-7 * (double)c.D * 0.25, 0.0, "large V");
        nf_free(&f);
    }
}

/*
 * Rows of near-equal weights over a constant V, Lk up to 10^4, within
 * DESIGN §4's 1e-5·max|V|: n equal products p·v round the same way n times,
 * so one f32 chain over the row errs by up to ~n·2^-24/2 (it did: 5.9e-5 at
 * Lk = 5000 staged, 1.39e-5 at 1000 fused on the scalar set). The library
 * sums each K/V block of ≤ kc keys on its own and then the blocks, fused and
 * staged, and the scalar softmax_row keeps 8 partial sums, so the error
 * grows with kc + Lk/kc instead:
 *   - staged: q = 0 (uniform probabilities 1/Lk), V = 1;
 *   - fused: one key with score 0.001, the others 0, V = 1.
 */
Test(numerics, near_uniform_rows_of_a_constant_v)
{
    const int64_t lks[] = {1000, 3000, 5000, 10000};
    for (size_t il = 0; il < NELEM(lks); il++) {
        ncase c = nk(1, 1, 1, 2, lks[il], 2, 1);
        c.scale = 1.0f;
        nfix f;
        nf_init(&f, &c, 950 + il);
        for (int64_t j = 0; j < c.Lk; j++) {
            nt_set(&f.k, 0, 0, j, 0, j == 0 ? 0.001f : 0.0f);
            nt_set(&f.k, 0, 0, j, 1, 0.0f);
            nt_set(&f.v, 0, 0, j, 0, 1.0f);
        }
        nt_set(&f.q, 0, 0, 0, 0, 0.0f), nt_set(&f.q, 0, 0, 0, 1, 0.0f); /* uniform */
        nt_set(&f.q, 0, 0, 1, 0, 1.0f), nt_set(&f.q, 0, 0, 1, 1, 0.0f); /* key 0 a bit up */
        nf_ref(&f);
        nf_all_isas(&f, "near-uniform rows, V = 1");
        nf_staged(&f, 1e-6, 0.0, "near-uniform rows, V = 1");
        nf_free(&f);
    }
}

/* ------------------------------------------------------------------ subnormals */

/*
 * Subnormal inputs are computed as such (no flush to zero, no
 * denormals-are-zero), never NaN:
 *   a: Q = u·2^-130 (f32 subnormal), scale 2^127: scale·q = u/8, O(1) scores
 *   b: K = u·2^-135, scale 2^127: scale·q up to 2^127, products ≤ 2^-8
 *   c: V = u·2^-130: subnormal outputs (scale 0.05 keeps the weights within
 *      e^1.6 of each other, so each output's rounding is a few 2^-149)
 *   d: Q, K = u·2^-70: subnormal products and scores (uniform rows)
 *   e: f16 Q = u·2^-16 (subnormal halves), scale 2^14; f16 V subnormal
 *   f: bf16 K = u·2^-130 (subnormal bfloat16), scale 2^127; bf16 V subnormal
 * Flushing (FTZ/DAZ in the library's threads) fails a, b, c and f: scores
 * or outputs of 0, far outside the tolerance; d and e check exactness and
 * the absence of NaN (e's halves widen to normal floats). Prefill (causal),
 * split decode, and the staged path for a–d.
 */
Test(numerics, subnormal_inputs_are_not_flushed)
{
    for (int sc = 0; sc < 6; sc++)
        for (int dec = 0; dec <= 1; dec++) {
            ncase c = dec ? nk(1, 2, 1, 1, 2100, 16, 16) : nk(1, 2, 1, 19, 45, 16, 16);
            c.causal = !dec;
            if (sc == 4)
                c.dq = c.dk = c.dv = ATTN_F16;
            if (sc == 5)
                c.dk = c.dv = ATTN_BF16;
            nfix f;
            nf_init(&f, &c, 1000 + (uint64_t)(sc * 2 + dec));
            tu_rng r = {1100 + (uint64_t)sc};
            /* subnormal V: fused, each output's products are rounded on the
             * 2^-149 grid and then divided by l ≥ Lk·e^-1.6; staged, up to Lk
             * such roundings of the normalised products add up */
            const int sub_v = sc == 2 || sc == 5;
            const double pv_extra = sub_v ? 16 * 0x1p-149 : 0.0;
            const double staged_extra = sub_v ? (double)(c.Lk + 16) * 0x1p-149 : 0.0;
            double qk_atol = 0.0;
            switch (sc) {
            case 0:
                nt_fill(&f.q, &r, -1, 1, 0x1p-130);
                c.scale = 0x1p127f;
                qk_atol = 4e-7 * 16 * 0.125;
                break;
            case 1:
                nt_fill(&f.k, &r, -1, 1, 0x1p-135);
                c.scale = 0x1p127f;
                qk_atol = 4e-7 * 16 * 0x1p-8;
                break;
            case 2:
                nt_fill(&f.v, &r, -1, 1, 0x1p-130);
                c.scale = 0.05f;
                qk_atol = 4e-7 * 16 * 0.05;
                break;
            case 3:
                nt_fill(&f.q, &r, -1, 1, 0x1p-70);
                nt_fill(&f.k, &r, -1, 1, 0x1p-70);
                c.scale = 1.0f;
                qk_atol = 16 * 0x1p-149;
                break;
            case 4:
                nt_fill(&f.q, &r, -1, 1, 0x1p-16);
                nt_fill(&f.v, &r, -1, 1, 0x1p-17);
                c.scale = 0x1p14f;
                break;
            default:
                nt_fill(&f.k, &r, -1, 1, 0x1p-130);
                nt_fill(&f.v, &r, -1, 1, 0x1p-128);
                c.scale = 0x1p127f;
                break;
            }
            f.c.scale = c.scale;
            nf_describe(&f);
            nf_ref(&f);
            f.tol += pv_extra;
            /* the reference itself sees ordinary scores (a, b, e, f) or
             * subnormal outputs (c, f): no case reduces to zeros */
            double mo = 0.0;
            for (int64_t e = 0; e < tu_numel(&f.o.t); e++)
                mo = fmax(mo, fabs(f.ref_out[e]));
            cr_assert_gt(mo, 0.0, "%s: the reference is all 0", f.desc);
            char tag[48];
            snprintf(tag, sizeof tag, "subnormal case %c", 'a' + sc);
            nf_all_isas(&f, tag);
            if (!dec && sc <= 3) {
                f.tol -= pv_extra;
                nf_staged(&f, qk_atol, staged_extra, tag);
            }
            nf_free(&f);
        }
}

/* ------------------------------------------------------------------ alignment */

/* The same bytes at a 64-byte boundary (a) and at byte offset off of one (m). */
typedef struct twin {
    unsigned char *a, *m;
    void *m_alloc;
    size_t bytes;
} twin;

static void tw_init(twin *t, const void *src, size_t bytes, size_t off)
{
    const size_t cap = (bytes + off + 127) / 64 * 64;
    t->a = aligned_alloc(64, cap);
    t->m_alloc = aligned_alloc(64, cap);
    cr_assert(t->a && t->m_alloc);
    t->m = (unsigned char *)t->m_alloc + off;
    t->bytes = bytes;
    memcpy(t->a, src, bytes);
    memcpy(t->m, src, bytes);
}

static void tw_fill(twin *t, unsigned char byte)
{
    memset(t->a, byte, t->bytes);
    memset(t->m, byte, t->bytes);
}

static int tw_same(const twin *t)
{
    return memcmp(t->a, t->m, t->bytes) == 0;
}

static void tw_free(twin *t)
{
    free(t->a);
    free(t->m_alloc);
}

static size_t esz(attn_dtype dt)
{
    return dt == ATTN_F32 ? 4 : 2;
}

/* A contiguous [b, h, s, d] view. */
static attn_tensor cview(void *p, attn_dtype dt, int64_t b, int64_t h, int64_t s, int64_t d)
{
    attn_tensor t = {p, dt, {b, h, s, d}, {h * s * d, s * d, d, 1}};
    return t;
}

/* n random elements of dtype dt (f32 in [-1, 1), 16-bit of [2^-10, 1)). */
static void *rand_elems(tu_rng *r, attn_dtype dt, int64_t n)
{
    void *p = malloc((size_t)n * esz(dt) + 1);
    cr_assert_not_null(p);
    for (int64_t i = 0; i < n; i++) {
        if (dt == ATTN_F32)
            ((float *)p)[i] = (float)tu_uniform(r, -1, 1);
        else
            ((uint16_t *)p)[i] = tu_rand_half(r, dt);
    }
    return p;
}

typedef struct acase {
    int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
    attn_dtype dq, dk, dv, dout, dbias;
    int mods; /* 0: lse only; 1: causal, kv_len, window, softcap, bias, ALiBi, sinks, lse */
} acase;

/* Everything the options point at, as twins. */
typedef struct aopts {
    twin bias, alibi, sinks, kvl, lse;
    attn_tensor bias_a, bias_m, lse_a, lse_m;
} aopts;

static void ao_init(aopts *ao, const acase *c, tu_rng *r, int64_t lse_rows_b, int64_t lse_rows_h,
                    int64_t lse_rows_l)
{
    const int64_t nb = c->B * c->Hq * c->Lq * c->Lk;
    void *bias = rand_elems(r, c->dbias, nb);
    for (int64_t i = 0; i < nb; i += 7) /* scattered −inf */
        if (c->dbias == ATTN_F32)
            ((float *)bias)[i] = -INFINITY;
        else
            ((uint16_t *)bias)[i] = 0xfc00;
    tw_init(&ao->bias, bias, (size_t)nb * esz(c->dbias), 3 * esz(c->dbias));
    free(bias);
    float alibi[64], sinks[64];
    cr_assert_leq(c->Hq, 64);
    for (int64_t h = 0; h < c->Hq; h++) {
        alibi[h] = -0.05f * (float)(h + 1);
        sinks[h] = (float)tu_uniform(r, -1, 2);
    }
    tw_init(&ao->alibi, alibi, sizeof(float) * (size_t)c->Hq, 4);
    tw_init(&ao->sinks, sinks, sizeof(float) * (size_t)c->Hq, 8);
    int32_t kvl[8];
    for (int64_t b = 0; b < c->B && b < 8; b++)
        kvl[b] = (int32_t)(b % 2 ? c->Lk / 2 + 3 : c->Lk - 5);
    tw_init(&ao->kvl, kvl, sizeof(int32_t) * (size_t)c->B, 4);
    const int64_t nl = lse_rows_b * lse_rows_h * lse_rows_l;
    float *l = calloc((size_t)nl + 1, sizeof(float));
    tw_init(&ao->lse, l, sizeof(float) * (size_t)nl, 4);
    free(l);
    ao->bias_a = cview(ao->bias.a, c->dbias, c->B, c->Hq, c->Lq, c->Lk);
    ao->bias_m = cview(ao->bias.m, c->dbias, c->B, c->Hq, c->Lq, c->Lk);
    ao->lse_a = cview(ao->lse.a, ATTN_F32, lse_rows_b, lse_rows_h, lse_rows_l, 1);
    ao->lse_m = cview(ao->lse.m, ATTN_F32, lse_rows_b, lse_rows_h, lse_rows_l, 1);
}

/* The options of one side (m: the misaligned twins). */
static attn_options ao_opts(const aopts *ao, const acase *c, int m)
{
    attn_options o;
    memset(&o, 0, sizeof o);
    o.lse = m ? &ao->lse_m : &ao->lse_a;
    if (c->mods) {
        o.causal = 1;
        o.kv_len = (const int32_t *)(const void *)(m ? ao->kvl.m : ao->kvl.a);
        o.window_left = 24;
        o.softcap = 6.0f;
        o.bias = m ? &ao->bias_m : &ao->bias_a;
        o.alibi_slopes = (const float *)(const void *)(m ? ao->alibi.m : ao->alibi.a);
        o.sinks = (const float *)(const void *)(m ? ao->sinks.m : ao->sinks.a);
    }
    return o;
}

static void ao_free(aopts *ao)
{
    tw_free(&ao->bias);
    tw_free(&ao->alibi);
    tw_free(&ao->sinks);
    tw_free(&ao->kvl);
    tw_free(&ao->lse);
}

static void misaligned_forward(const acase *c, uint64_t seed, const char *isa)
{
    tu_rng r = {seed};
    const int64_t nq = c->B * c->Hq * c->Lq * c->D, nk_ = c->B * c->Hkv * c->Lk * c->D;
    const int64_t nv = c->B * c->Hkv * c->Lk * c->Dv, no = c->B * c->Hq * c->Lq * c->Dv;
    void *hq = rand_elems(&r, c->dq, nq), *hk = rand_elems(&r, c->dk, nk_);
    void *hv = rand_elems(&r, c->dv, nv), *ho = calloc((size_t)no + 1, esz(c->dout));
    twin q, k, v, o;
    tw_init(&q, hq, (size_t)nq * esz(c->dq), 1 * esz(c->dq));
    tw_init(&k, hk, (size_t)nk_ * esz(c->dk), 3 * esz(c->dk));
    tw_init(&v, hv, (size_t)nv * esz(c->dv), 5 * esz(c->dv));
    tw_init(&o, ho, (size_t)no * esz(c->dout), 7 * esz(c->dout));
    free(hq), free(hk), free(hv), free(ho);
    aopts ao;
    ao_init(&ao, c, &r, c->B, c->Hq, c->Lq);
    const attn_tensor qa = cview(q.a, c->dq, c->B, c->Hq, c->Lq, c->D);
    const attn_tensor qm = cview(q.m, c->dq, c->B, c->Hq, c->Lq, c->D);
    const attn_tensor ka = cview(k.a, c->dk, c->B, c->Hkv, c->Lk, c->D);
    const attn_tensor km = cview(k.m, c->dk, c->B, c->Hkv, c->Lk, c->D);
    const attn_tensor va = cview(v.a, c->dv, c->B, c->Hkv, c->Lk, c->Dv);
    const attn_tensor vm = cview(v.m, c->dv, c->B, c->Hkv, c->Lk, c->Dv);
    const attn_tensor oa = cview(o.a, c->dout, c->B, c->Hq, c->Lq, c->Dv);
    const attn_tensor om = cview(o.m, c->dout, c->B, c->Hq, c->Lq, c->Dv);
    const attn_options opa = ao_opts(&ao, c, 0), opm = ao_opts(&ao, c, 1);
    char what[160];
    snprintf(what, sizeof what, "[%s] B=%lld Hq=%lld Hkv=%lld Lq=%lld Lk=%lld q/k/v/out %s/%s/%s/%s "
             "bias %s mods %d", isa, (long long)c->B, (long long)c->Hq, (long long)c->Hkv,
             (long long)c->Lq, (long long)c->Lk, dtn(c->dq), dtn(c->dk), dtn(c->dv), dtn(c->dout),
             dtn(c->dbias), c->mods);

    size_t wa = 0, wm = 1;
    cr_assert_eq(attn_forward_workspace(&qa, &ka, &va, &oa, &opa, &wa), ATTN_OK, "%s: %s", what,
                 attn_last_error());
    cr_assert_eq(attn_forward_workspace(&qm, &km, &vm, &om, &opm, &wm), ATTN_OK,
                 "%s: attn_forward_workspace, misaligned: %s", what, attn_last_error());
    cr_assert_eq(wa, wm, "%s: attn_forward_workspace %zu (aligned) != %zu (misaligned)", what, wa, wm);
    tw_fill(&o, 0xa5);
    tw_fill(&ao.lse, 0xa5);
    cr_assert_eq(attn_forward(&qa, &ka, &va, &oa, &opa), ATTN_OK, "%s: %s", what, attn_last_error());
    cr_assert_eq(attn_forward(&qm, &km, &vm, &om, &opm), ATTN_OK, "%s: misaligned: %s", what,
                 attn_last_error());
    cr_assert(tw_same(&o), "%s: attn_forward out differs between aligned and misaligned", what);
    cr_assert(tw_same(&ao.lse), "%s: attn_forward lse differs between aligned and misaligned", what);
    tw_free(&q), tw_free(&k), tw_free(&v), tw_free(&o);
    ao_free(&ao);
}

Test(numerics, misaligned_pointers_forward_bitwise)
{
    const attn_dtype f32 = ATTN_F32, f16 = ATTN_F16, bf16 = ATTN_BF16;
    const acase cases[] = {
        {2, 4, 2, 37, 53, 40, 24, f32, f32, f32, f32, f32, 0},
        {2, 4, 2, 37, 53, 40, 24, f32, f32, f32, f32, f32, 1},
        {2, 4, 2, 37, 53, 40, 24, f16, bf16, f16, bf16, f16, 1},
        {2, 4, 2, 37, 53, 33, 17, bf16, f16, bf16, f16, f32, 0},
        {1, 4, 1, 1, 1500, 64, 48, f32, f32, f32, f32, f32, 1}, /* split decode */
        {1, 4, 1, 1, 1500, 64, 48, f16, f16, bf16, f32, f16, 1},
        {1, 8, 2, 2, 1100, 16, 16, bf16, bf16, f16, f16, f16, 0},
    };
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    for (int i = 0; i < n; i++) {
        cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
        for (size_t ic = 0; ic < NELEM(cases); ic++)
            misaligned_forward(&cases[ic], 1200 + ic, attn_isa_name(isas[i]));
    }
    attn_set_isa(saved);
}

/* attn_qk → attn_scale → attn_softmax (every modifier; lse) → attn_pv, each
 * call on both twins of its inputs, the next stage fed from the aligned
 * result; then attn_merge of 3 shards (some lse −inf), in place and not. */
static void misaligned_staged(const acase *c, uint64_t seed, const char *isa)
{
    tu_rng r = {seed};
    const int64_t nq = c->B * c->Hq * c->Lq * c->D, nk_ = c->B * c->Hkv * c->Lk * c->D;
    const int64_t nv = c->B * c->Hkv * c->Lk * c->Dv, no = c->B * c->Hq * c->Lq * c->Dv;
    const int64_t ns = c->B * c->Hq * c->Lq * c->Lk, nl = c->B * c->Hq * c->Lq;
    void *hq = rand_elems(&r, c->dq, nq), *hk = rand_elems(&r, c->dk, nk_);
    void *hv = rand_elems(&r, c->dv, nv), *hs = calloc((size_t)ns + 1, sizeof(float));
    float *ho = malloc(sizeof(float) * (size_t)no);
    twin q, k, v, s, o;
    tw_init(&q, hq, (size_t)nq * esz(c->dq), 3 * esz(c->dq));
    tw_init(&k, hk, (size_t)nk_ * esz(c->dk), 1 * esz(c->dk));
    tw_init(&v, hv, (size_t)nv * esz(c->dv), 7 * esz(c->dv));
    tw_init(&s, hs, sizeof(float) * (size_t)ns, 4 * 5);
    tw_init(&o, ho, sizeof(float) * (size_t)no, 4 * 3);
    aopts ao;
    ao_init(&ao, c, &r, c->B, c->Hq, c->Lq);
    const attn_tensor qa = cview(q.a, c->dq, c->B, c->Hq, c->Lq, c->D);
    const attn_tensor qm = cview(q.m, c->dq, c->B, c->Hq, c->Lq, c->D);
    const attn_tensor ka = cview(k.a, c->dk, c->B, c->Hkv, c->Lk, c->D);
    const attn_tensor km = cview(k.m, c->dk, c->B, c->Hkv, c->Lk, c->D);
    const attn_tensor va = cview(v.a, c->dv, c->B, c->Hkv, c->Lk, c->Dv);
    const attn_tensor vm = cview(v.m, c->dv, c->B, c->Hkv, c->Lk, c->Dv);
    const attn_tensor sa = cview(s.a, ATTN_F32, c->B, c->Hq, c->Lq, c->Lk);
    const attn_tensor sm = cview(s.m, ATTN_F32, c->B, c->Hq, c->Lq, c->Lk);
    const attn_tensor oa = cview(o.a, ATTN_F32, c->B, c->Hq, c->Lq, c->Dv);
    const attn_tensor om = cview(o.m, ATTN_F32, c->B, c->Hq, c->Lq, c->Dv);
    char what[160];
    snprintf(what, sizeof what, "[%s] B=%lld Hq=%lld Hkv=%lld Lq=%lld Lk=%lld q/k/v %s/%s/%s bias %s "
             "mods %d", isa, (long long)c->B, (long long)c->Hq, (long long)c->Hkv, (long long)c->Lq,
             (long long)c->Lk, dtn(c->dq), dtn(c->dk), dtn(c->dv), dtn(c->dbias), c->mods);

    tw_fill(&s, 0xa5);
    cr_assert_eq(attn_qk(&qa, &ka, &sa, 0.0f), ATTN_OK, "%s: attn_qk: %s", what, attn_last_error());
    cr_assert_eq(attn_qk(&qm, &km, &sm, 0.0f), ATTN_OK, "%s: attn_qk: %s", what, attn_last_error());
    cr_assert(tw_same(&s), "%s: attn_qk scores differ between aligned and misaligned", what);

    cr_assert_eq(attn_scale(&sa, 1.75f), ATTN_OK);
    cr_assert_eq(attn_scale(&sm, 1.75f), ATTN_OK);
    cr_assert(tw_same(&s), "%s: attn_scale differs between aligned and misaligned", what);

    const attn_options opa = ao_opts(&ao, c, 0), opm = ao_opts(&ao, c, 1);
    tw_fill(&ao.lse, 0xa5);
    cr_assert_eq(attn_softmax(&sa, &opa), ATTN_OK, "%s: attn_softmax: %s", what, attn_last_error());
    cr_assert_eq(attn_softmax(&sm, &opm), ATTN_OK, "%s: attn_softmax: %s", what, attn_last_error());
    cr_assert(tw_same(&s), "%s: attn_softmax probabilities differ between aligned and misaligned",
              what);
    cr_assert(tw_same(&ao.lse), "%s: attn_softmax lse differs between aligned and misaligned", what);

    tw_fill(&o, 0xa5);
    cr_assert_eq(attn_pv(&sa, &va, &oa), ATTN_OK, "%s: attn_pv: %s", what, attn_last_error());
    cr_assert_eq(attn_pv(&sm, &vm, &om), ATTN_OK, "%s: attn_pv: %s", what, attn_last_error());
    cr_assert(tw_same(&o), "%s: attn_pv differs between aligned and misaligned", what);

    /* attn_merge: 3 shards, each out and lse at its own offset */
    enum { NSH = 3 };
    twin so[NSH], sl[NSH], mo, ml;
    attn_tensor outs_a[NSH], outs_m[NSH], lses_a[NSH], lses_m[NSH];
    for (int sh = 0; sh < NSH; sh++) {
        for (int64_t e = 0; e < no; e++)
            ho[e] = (float)tu_uniform(&r, -3, 3);
        float *hl = malloc(sizeof(float) * (size_t)nl);
        for (int64_t e = 0; e < nl; e++)
            hl[e] = (e + sh) % 5 == 0 ? -INFINITY : (float)tu_uniform(&r, -4, 6);
        tw_init(&so[sh], ho, sizeof(float) * (size_t)no, 4 * (size_t)(1 + 2 * sh));
        tw_init(&sl[sh], hl, sizeof(float) * (size_t)nl, 4 * (size_t)(3 + sh));
        free(hl);
        outs_a[sh] = cview(so[sh].a, ATTN_F32, c->B, c->Hq, c->Lq, c->Dv);
        outs_m[sh] = cview(so[sh].m, ATTN_F32, c->B, c->Hq, c->Lq, c->Dv);
        lses_a[sh] = cview(sl[sh].a, ATTN_F32, c->B, c->Hq, c->Lq, 1);
        lses_m[sh] = cview(sl[sh].m, ATTN_F32, c->B, c->Hq, c->Lq, 1);
    }
    tw_init(&mo, ho, sizeof(float) * (size_t)no, 4 * 9);
    tw_init(&ml, ho, sizeof(float) * (size_t)nl, 4 * 2);
    tw_fill(&mo, 0xa5);
    tw_fill(&ml, 0xa5);
    const attn_tensor moa = cview(mo.a, ATTN_F32, c->B, c->Hq, c->Lq, c->Dv);
    const attn_tensor mom = cview(mo.m, ATTN_F32, c->B, c->Hq, c->Lq, c->Dv);
    const attn_tensor mla = cview(ml.a, ATTN_F32, c->B, c->Hq, c->Lq, 1);
    const attn_tensor mlm = cview(ml.m, ATTN_F32, c->B, c->Hq, c->Lq, 1);
    cr_assert_eq(attn_merge(outs_a, lses_a, NSH, &moa, &mla), ATTN_OK, "%s: attn_merge: %s", what,
                 attn_last_error());
    cr_assert_eq(attn_merge(outs_m, lses_m, NSH, &mom, &mlm), ATTN_OK, "%s: attn_merge: %s", what,
                 attn_last_error());
    cr_assert(tw_same(&mo) && tw_same(&ml), "%s: attn_merge differs between aligned and misaligned",
              what);
    /* in place into shard 1, lse NULL */
    cr_assert_eq(attn_merge(outs_a, lses_a, NSH, &outs_a[1], NULL), ATTN_OK);
    cr_assert_eq(attn_merge(outs_m, lses_m, NSH, &outs_m[1], NULL), ATTN_OK);
    cr_assert(tw_same(&so[1]), "%s: attn_merge in place differs between aligned and misaligned",
              what);
    cr_assert(memcmp(so[1].a, mo.a, mo.bytes) == 0, "%s: attn_merge in place != into out", what);
    for (int sh = 0; sh < NSH; sh++)
        tw_free(&so[sh]), tw_free(&sl[sh]);
    tw_free(&mo), tw_free(&ml);

    free(hq), free(hk), free(hv), free(hs), free(ho);
    tw_free(&q), tw_free(&k), tw_free(&v), tw_free(&s), tw_free(&o);
    ao_free(&ao);
}

Test(numerics, misaligned_pointers_staged_and_merge_bitwise)
{
    const attn_dtype f32 = ATTN_F32, f16 = ATTN_F16, bf16 = ATTN_BF16;
    const acase cases[] = {
        {2, 4, 2, 37, 53, 40, 24, f32, f32, f32, f32, f32, 0},
        {2, 4, 2, 37, 53, 40, 24, f32, f32, f32, f32, f32, 1},
        {2, 4, 2, 29, 61, 33, 17, f16, bf16, f16, f32, f16, 1},
        {1, 4, 1, 3, 700, 64, 48, bf16, f16, bf16, f32, f32, 1},
    };
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    for (int i = 0; i < n; i++) {
        cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
        for (size_t ic = 0; ic < NELEM(cases); ic++)
            misaligned_staged(&cases[ic], 1300 + ic, attn_isa_name(isas[i]));
    }
    attn_set_isa(saved);
}

/* ------------------------------------------------------------------ fuzzer findings */

/* A [1, 1, rows, n] f32 view of p (p may be NULL when rows·n = 0). */
static attn_tensor view4(float *p, int64_t rows, int64_t n)
{
    attn_tensor t;
    memset(&t, 0, sizeof t);
    t.data = p;
    t.dtype = ATTN_F32;
    t.shape[0] = t.shape[1] = 1, t.shape[2] = rows, t.shape[3] = n;
    t.stride[0] = t.stride[1] = rows * n, t.stride[2] = n, t.stride[3] = 1;
    return t;
}

/*
 * Found by tests/fuzz (crashes-found/): element-less tensors with data =
 * NULL reach no pointer arithmetic (attn_softmax and attn_pv with Lk = 0:
 * lse = −inf or the sink, out = 0); in a NaN row of attn_softmax the entries
 * a −inf bias masks stay exactly 0; a subnormal softcap (1/cap = inf) gives
 * no NaN. Every kernel set.
 */
Test(numerics, fuzzer_findings_empty_keys_nan_rows_and_tiny_softcap)
{
    attn_isa isas[4];
    const int ni = tu_isas(isas);
    for (int ii = 0; ii < ni; ii++) {
        cr_assert_eq(attn_set_isa(isas[ii]), ATTN_OK);
        const char *isa = attn_isa_name(isas[ii]);
        /* Lk = 0, scores.data = NULL: lse only */
        float lse[3] = {1, 1, 1}, sink = 0.5f;
        attn_tensor sc = view4(NULL, 3, 0), l = view4(lse, 3, 1);
        attn_options o;
        memset(&o, 0, sizeof o);
        o.lse = &l;
        cr_assert_eq(attn_softmax(&sc, &o), ATTN_OK, "%s: %s", isa, attn_last_error());
        for (int i = 0; i < 3; i++)
            cr_assert(lse[i] == -INFINITY, "%s: lse[%d] = %g", isa, i, (double)lse[i]);
        o.sinks = &sink;
        cr_assert_eq(attn_softmax(&sc, &o), ATTN_OK, "%s: %s", isa, attn_last_error());
        cr_assert(lse[2] == 0.5f, "%s: lse with a sink = %g", isa, (double)lse[2]);
        /* attn_pv with Lk = 0: out = 0 */
        float out[6] = {7, 7, 7, 7, 7, 7};
        attn_tensor p = view4(NULL, 3, 0), v = view4(NULL, 0, 2), ot = view4(out, 3, 2);
        cr_assert_eq(attn_pv(&p, &v, &ot), ATTN_OK, "%s: %s", isa, attn_last_error());
        for (int i = 0; i < 6; i++)
            cr_assert(out[i] == 0.0f, "%s: attn_pv Lk = 0: out[%d] = %g", isa, i, (double)out[i]);
        /* a NaN row keeps its −inf-masked entries at 0 */
        float s[5] = {1, NAN, 2, 3, 4}, bias[5] = {0, 0, -INFINITY, 0, -INFINITY};
        attn_tensor st = view4(s, 1, 5), bt = view4(bias, 1, 5);
        memset(&o, 0, sizeof o);
        o.bias = &bt;
        cr_assert_eq(attn_softmax(&st, &o), ATTN_OK, "%s: %s", isa, attn_last_error());
        cr_assert(isnan(s[0]) && isnan(s[1]) && s[2] == 0.0f && isnan(s[3]) && s[4] == 0.0f,
                  "%s: NaN row with a -inf bias: %g %g %g %g %g", isa, (double)s[0],
                  (double)s[1], (double)s[2], (double)s[3], (double)s[4]);
        /* softcap 2^-140: scores 0 stay 0, others become ±cap: no NaN */
        float s2[4] = {0, 1, -1, 0};
        attn_tensor s2t = view4(s2, 1, 4);
        memset(&o, 0, sizeof o);
        o.softcap = 0x1p-140f;
        cr_assert_eq(attn_softmax(&s2t, &o), ATTN_OK, "%s: %s", isa, attn_last_error());
        for (int j = 0; j < 4; j++)
            cr_assert(isfinite(s2[j]) && fabs(s2[j] - 0.25) < 1e-6, "%s: tiny softcap: p[%d] = %g",
                      isa, j, (double)s2[j]);
    }
}

/*
 * Found by tests/fuzz: attn_softmax with a sink as large as the scores
 * (1e30) gave the visible keys all the weight — the shrink was taken as
 * exp(lse − logaddexp(lse, sink)), and at 1e30 logaddexp rounds back to lse.
 * The weights are σ(lse − sink) of the softmax: a sink equal to the only
 * score takes half, to three equal scores a quarter each. Every kernel set.
 */
Test(numerics, sink_as_large_as_the_scores_keeps_its_share)
{
    attn_isa isas[4];
    const int ni = tu_isas(isas);
    for (int ii = 0; ii < ni; ii++) {
        cr_assert_eq(attn_set_isa(isas[ii]), ATTN_OK);
        const char *isa = attn_isa_name(isas[ii]);
        const float big = 1e30f;
        const struct {
            int n;
            float score, sink, want;
        } cases[] = {{1, big, big, 0.5f},     {3, big, big, 0.25f},   {2, -big, big, 0.0f},
                     {2, big, -big, 0.5f},    {1, -big, -big, 0.5f},  {1, 3e38f, -3e38f, 1.0f},
                     {1, -3e38f, 3e38f, 0.0f}};
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            float s[3], lse = 0, sink = cases[c].sink;
            for (int j = 0; j < cases[c].n; j++)
                s[j] = cases[c].score;
            attn_tensor st = view4(s, 1, cases[c].n), lt = view4(&lse, 1, 1);
            attn_options o;
            memset(&o, 0, sizeof o);
            o.sinks = &sink;
            o.lse = &lt;
            cr_assert_eq(attn_softmax(&st, &o), ATTN_OK, "%s: %s", isa, attn_last_error());
            for (int j = 0; j < cases[c].n; j++)
                cr_assert(fabsf(s[j] - cases[c].want) <= 1e-6f,
                          "%s: %d scores %g, sink %g: p[%d] = %g, want %g", isa, cases[c].n,
                          (double)cases[c].score, (double)sink, j, (double)s[j],
                          (double)cases[c].want);
            const float hi = cases[c].score > sink ? cases[c].score : sink;
            cr_assert(isfinite(lse) && fabsf(lse - hi) <= 1e-6f * fabsf(hi) + 2.0f,
                      "%s: %d scores %g, sink %g: lse = %g", isa, cases[c].n,
                      (double)cases[c].score, (double)sink, (double)lse);
        }
    }
}
