/*
 * test_masks.c — the masks and score modifiers of attn_options (issue 5;
 * include/attn.h): sliding windows (window_left/right, alone and with
 * causal), additive bias (f32 and f16, broadcast by shape 1 or by 0 strides,
 * padded rows, −inf entries, rows and whole heads of −inf), ALiBi, softcap,
 * attention sinks, alone and combined with kv_len and GQA, on every kernel
 * set, against the float64 reference of tests/ref (ref_score_mod and
 * ref_row_softmax_sink carry the definitions of attn.h):
 *   s = scale·q·k → softcap·tanh(s/softcap) → + slope_h·(j − p) → + bias;
 *   masks (kv_len, causal, windows, −inf bias); sinks join the denominator;
 *   a row with no visible key: out 0 and lse = sinks[h] (−inf without sinks).
 * Also: NaN in V at a key masked only by a −inf bias (or by a window) stays
 * out of that row but reaches the rows that see it; NaN in the bias matters
 * only where the key is visible; long sequences with windows 64/256 (tile
 * skipping must not change results, and blocks wholly before every row's
 * window are never read: they sit on PROT_NONE pages); staged attn_qk →
 * attn_softmax → attn_pv with every modifier == fused; split-KV decode shapes
 * with modifiers (sinks belong to one chunk only), and over [B,S,H,D] caches
 * where an item spans several K/V heads (each head's slope, sink and bias
 * reach its own rows); bitwise identical results
 * for num_threads 1/2/3/8.
 *
 * Tolerance (DESIGN §4): |out − ref| ≤ (1e-5 + e)·max|V|, lse within 1e-5
 * (+1e-6 relative), where e = 3·2^-24·(bound on |score|) accounts for f32
 * scores of large magnitude (ALiBi over long rows, bias, scale); rows with no
 * visible key are exact. Nothing is written outside the output views.
 *
 * Sizes shrink under AddressSanitizer or with ATTN_TESTS_SMALL=1 in the
 * environment (see tu_small_run()).
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "ref.h"
#include "testutil.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MAXB 8
#define MAXH 64


/* ------------------------------------------------------------------ cases */

typedef struct mcase {
    int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
    int causal;
    int kvlen;         /* 0: none; 1: random per batch in 0..Lk; 2: kvl[] */
    int32_t kvl[MAXB];
    int32_t wl, wr;    /* window_left, window_right */
    int bias;          /* 0: none; 1: f32; 2: f16 */
    int bias_b1, bias_h1;          /* shape 1 in dim 0 / dim 1 */
    int bias_b0, bias_h0, bias_r0; /* stride 0 in dim 0 / 1 / 2 (full shape) */
    int bias_pad;                  /* extra elements per bias row */
    int bias_lhk;                  /* [B, Lq, H, Lk] memory order (heads inside rows) */
    double bias_ninf;              /* fraction of scattered −inf entries */
    int bias_ninf_rows;            /* every third physical bias row is all −inf */
    int alibi;         /* 0: none; 1: 2^(-8(h+1)/Hq); 2: random in [-0.3, 0.3] (h 0: 0) */
    float softcap;
    int sinks;         /* 0: none; 1: random [-2, 3]; 2: 20 + h; 3: all −inf; 4: mixed */
    float scale;       /* 0: 1/sqrt(D) */
    int intqk;         /* q, k integers in [-3, 3] (exact scores) */
    int lay[4];        /* tu_layouts of q, k, v, out */
    int threads;       /* 0: one thread (determinism() covers the others) */
    int nolse;         /* do not request lse */
} mcase;

static mcase mk(int64_t B, int64_t Hq, int64_t Hkv, int64_t Lq, int64_t Lk, int64_t D,
                int64_t Dv)
{
    mcase c;
    memset(&c, 0, sizeof c);
    c.B = B, c.Hq = Hq, c.Hkv = Hkv, c.Lq = Lq, c.Lk = Lk, c.D = D, c.Dv = Dv;
    return c;
}

typedef struct mfix {
    mcase c;
    tu_tensor q, k, v, o, lse;
    int32_t kvl[MAXB];
    float alibi[MAXH], sinks[MAXH];
    void *bias_mem;
    size_t bias_n; /* elements */
    attn_tensor bias;
    double bias_max; /* max |finite bias| */
    double *ref_out, *ref_lse;
    unsigned char *empty; /* per row: no visible key */
    double maxv, tol;
    char desc[600];
} mfix;

static void describe(mfix *f)
{
    const mcase *c = &f->c;
    char kv[96] = "none";
    if (c->kvlen) {
        int n = 0;
        for (int64_t b = 0; b < c->B && b < MAXB; b++)
            n += snprintf(kv + n, sizeof kv - (size_t)n, "%s%d", b ? "," : "", (int)f->kvl[b]);
    }
    snprintf(f->desc, sizeof f->desc,
             "B=%lld Hq=%lld Hkv=%lld Lq=%lld Lk=%lld D=%lld Dv=%lld causal=%d kv_len=[%s] "
             "window=(%d,%d) bias=%s%s%s%s%s%s%s pad=%d ninf=%.2f rows=%d alibi=%d softcap=%g "
             "sinks=%d scale=%g intqk=%d layouts q%d k%d v%d o%d threads=%d",
             (long long)c->B, (long long)c->Hq, (long long)c->Hkv, (long long)c->Lq,
             (long long)c->Lk, (long long)c->D, (long long)c->Dv, c->causal, kv, (int)c->wl,
             (int)c->wr, c->bias == 0 ? "none" : c->bias == 1 ? "f32" : "f16",
             c->bias_b1 ? " b:1" : "", c->bias_h1 ? " h:1" : "", c->bias_b0 ? " b:st0" : "",
             c->bias_h0 ? " h:st0" : "", c->bias_r0 ? " row:st0" : "",
             c->bias_lhk ? " [B,Lq,H,Lk]" : "", c->bias_pad,
             c->bias_ninf, c->bias_ninf_rows, c->alibi, (double)c->softcap, c->sinks,
             (double)c->scale, c->intqk, c->lay[0], c->lay[1], c->lay[2], c->lay[3], c->threads);
}

static void make_bias(mfix *f, tu_rng *r)
{
    const mcase *c = &f->c;
    const int64_t pb = (c->bias_b1 || c->bias_b0) ? 1 : c->B; /* physical extents */
    const int64_t ph = (c->bias_h1 || c->bias_h0) ? 1 : c->Hq;
    const int64_t pr = c->bias_r0 ? 1 : c->Lq;
    const int64_t pitch = c->Lk + c->bias_pad;
    const int64_t S1 = pr * pitch, S0 = ph * S1;
    attn_tensor *t = &f->bias;
    t->dtype = c->bias == 2 ? ATTN_F16 : ATTN_F32;
    t->shape[0] = c->bias_b1 ? 1 : c->B;
    t->shape[1] = c->bias_h1 ? 1 : c->Hq;
    t->shape[2] = c->Lq;
    t->shape[3] = c->Lk;
    /* a size-1 dimension's stride is never used: give it a silly value */
    t->stride[0] = c->bias_b1 ? 77777 : c->bias_b0 ? 0 : S0;
    t->stride[1] = c->bias_h1 ? 99991 : c->bias_h0 ? 0 : S1;
    t->stride[2] = c->bias_r0 ? 0 : pitch;
    t->stride[3] = 1;
    if (c->bias_lhk && !c->bias_h1 && !c->bias_h0 && !c->bias_r0) {
        t->stride[1] = pitch; /* heads pitch rows, rows pitch heads × rows */
        t->stride[2] = ph * pitch;
    }
    /* exactly the elements the view can reach (ASan sees any overread) */
    int64_t n = (pb - 1) * S0 + (ph - 1) * S1 + (pr - 1) * pitch + c->Lk;
    if (n < 1 || pb * ph * pr * c->Lk == 0)
        n = 1;
    f->bias_n = (size_t)n;
    const size_t es = c->bias == 2 ? 2 : 4;
    f->bias_mem = malloc(f->bias_n * es);
    t->data = f->bias_mem;
    f->bias_max = 0.0;
    for (int64_t e = 0; e < n; e++) {
        const int64_t row = e / pitch;
        const int ninf = (c->bias_ninf_rows && row % 3 == 1) ||
                         (c->bias_ninf > 0 && tu_uniform(r, 0, 1) < c->bias_ninf);
        if (c->bias == 2) {
            uint16_t h = ninf ? 0xFC00 : tu_rand_half(r, ATTN_F16);
            ((uint16_t *)f->bias_mem)[e] = h;
            if (!ninf && fabs(ref_f16(h)) > f->bias_max)
                f->bias_max = fabs(ref_f16(h));
        } else {
            const float x = ninf ? -INFINITY : (float)tu_uniform(r, -2, 2);
            ((float *)f->bias_mem)[e] = x;
            if (!ninf && fabs((double)x) > f->bias_max)
                f->bias_max = fabs((double)x);
        }
    }
}

/* Keys at or past kv_len: NaN in K and V (never read), or a large finite V
 * for the staged path (attn_pv reads every key). */
static void mf_garbage(mfix *f, int v_finite)
{
    if (!f->c.kvlen)
        return;
    for (int64_t b = 0; b < f->c.B; b++)
        for (int64_t h = 0; h < f->c.Hkv; h++)
            for (int64_t j = f->kvl[b]; j < f->c.Lk; j++) {
                for (int64_t d = 0; d < f->c.D; d++)
                    *ref_ptr(&f->k.t, b, h, j, d) = tu_nanf();
                for (int64_t d = 0; d < f->c.Dv; d++)
                    *ref_ptr(&f->v.t, b, h, j, d) = v_finite ? 1e3f : tu_nanf();
            }
}

static void fill_int(tu_tensor *x, tu_rng *r)
{
    const attn_tensor *t = &x->t;
    for (int64_t b = 0; b < t->shape[0]; b++)
        for (int64_t h = 0; h < t->shape[1]; h++)
            for (int64_t s = 0; s < t->shape[2]; s++)
                for (int64_t d = 0; d < t->shape[3]; d++)
                    *ref_ptr(t, b, h, s, d) = (float)tu_int(r, -3, 3);
}

static void mf_init(mfix *f, const mcase *c, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    cr_assert_leq(c->B, MAXB);
    cr_assert_leq(c->Hq, MAXH);
    f->c = *c;
    tu_rng rng = {seed};
    tu_make(&f->q, c->B, c->Hq, c->Lq, c->D, &tu_layouts[c->lay[0]], TU_NAN_BITS);
    tu_make(&f->k, c->B, c->Hkv, c->Lk, c->D, &tu_layouts[c->lay[1]], TU_NAN_BITS);
    tu_make(&f->v, c->B, c->Hkv, c->Lk, c->Dv, &tu_layouts[c->lay[2]], TU_NAN_BITS);
    tu_make(&f->o, c->B, c->Hq, c->Lq, c->Dv, &tu_layouts[c->lay[3]], TU_SENTINEL);
    tu_make(&f->lse, c->B, c->Hq, c->Lq, 1, &tu_layouts[0], TU_SENTINEL);
    if (c->intqk) {
        fill_int(&f->q, &rng);
        fill_int(&f->k, &rng);
    } else {
        tu_fill_view(&f->q, &rng, -1, 1);
        tu_fill_view(&f->k, &rng, -1, 1);
    }
    tu_fill_view(&f->v, &rng, -1, 1);
    for (int64_t b = 0; b < c->B; b++) {
        if (c->kvlen == 2)
            f->kvl[b] = c->kvl[b];
        else {
            const int64_t pick = tu_int(&rng, 0, 4);
            f->kvl[b] = (int32_t)(pick == 0 ? 0 : pick == 1 ? c->Lk : tu_int(&rng, 0, c->Lk));
        }
    }
    for (int64_t h = 0; h < c->Hq; h++) {
        f->alibi[h] = c->alibi == 1 ? (float)exp2(-8.0 * (double)(h + 1) / (double)c->Hq)
                      : h == 0      ? 0.0f
                                    : (float)tu_uniform(&rng, -0.3, 0.3);
        switch (c->sinks) {
        case 1: f->sinks[h] = (float)tu_uniform(&rng, -2, 3); break;
        case 2: f->sinks[h] = 20.0f + (float)h; break;
        case 3: f->sinks[h] = -INFINITY; break;
        default: f->sinks[h] = h % 2 ? -INFINITY : (float)tu_uniform(&rng, -1, 2); break;
        }
    }
    if (c->bias)
        make_bias(f, &rng);
    describe(f);
}

static ref_opts mf_ropts(const mfix *f)
{
    ref_opts o;
    memset(&o, 0, sizeof o);
    o.scale = ref_scale(f->c.scale, f->c.D);
    o.causal = f->c.causal;
    o.kv_len = f->c.kvlen ? f->kvl : NULL;
    o.window_left = f->c.wl;
    o.window_right = f->c.wr;
    o.bias = f->c.bias ? &f->bias : NULL;
    o.alibi_slopes = f->c.alibi ? f->alibi : NULL;
    o.softcap = f->c.softcap;
    o.sinks = f->c.sinks ? f->sinks : NULL;
    return o;
}

static attn_options mf_opts(mfix *f, int threads)
{
    attn_options o;
    memset(&o, 0, sizeof o);
    o.scale = f->c.scale;
    o.causal = f->c.causal;
    o.kv_len = f->c.kvlen ? f->kvl : NULL;
    o.lse = f->c.nolse ? NULL : &f->lse.t;
    o.num_threads = threads;
    o.window_left = f->c.wl;
    o.window_right = f->c.wr;
    o.bias = f->c.bias ? &f->bias : NULL;
    o.alibi_slopes = f->c.alibi ? f->alibi : NULL;
    o.softcap = f->c.softcap;
    o.sinks = f->c.sinks ? f->sinks : NULL;
    return o;
}

/* Rows with no visible key, from the reference's own definition. */
static void mf_empty_rows(mfix *f, const ref_opts *o)
{
    const mcase *c = &f->c;
    const int64_t rows = c->B * c->Hq * c->Lq;
    free(f->empty);
    f->empty = calloc((size_t)(rows + 1), 1);
    for (int64_t r = 0; r < rows; r++) {
        const int64_t b = r / (c->Hq * c->Lq), h = r / c->Lq % c->Hq, i = r % c->Lq;
        int any = 0;
        for (int64_t j = 0; j < c->Lk && !any; j++) {
            double s = 0.0;
            any = ref_score_mod(o, b, h, i, j, c->Lq, c->Lk, NULL) &&
                  ref_score_mod(o, b, h, i, j, c->Lq, c->Lk, &s);
        }
        f->empty[r] = (unsigned char)!any;
    }
}

/* e of the header: f32 rounding of scores of large magnitude. */
static double score_bound(const mfix *f)
{
    const mcase *c = &f->c;
    const double range = c->intqk ? 3.0 : 1.0;
    double qk = fabs(ref_scale(c->scale, c->D)) * (double)c->D * range * range;
    if (c->softcap > 0 && (c->intqk || c->softcap < qk))
        qk = c->softcap; /* exact integer scores: only the cap's own rounding */
    double al = 0.0;
    if (c->alibi)
        for (int64_t h = 0; h < c->Hq; h++)
            al = fmax(al, fabs((double)f->alibi[h]) * (double)(c->Lk + c->Lq));
    return qk + al + f->bias_max;
}

static void mf_ref(mfix *f)
{
    const ref_opts o = mf_ropts(f);
    free(f->ref_out);
    free(f->ref_lse);
    f->ref_out = malloc(sizeof(double) * (size_t)(tu_numel(&f->o.t) + 1));
    f->ref_lse = malloc(sizeof(double) * (size_t)(tu_numel(&f->lse.t) + 1));
    ref_forward(&f->q.t, &f->k.t, &f->v.t, &o, f->ref_out, f->ref_lse);
    mf_empty_rows(f, &o);
    f->maxv = tu_maxabs_keys(&f->v.t, f->c.kvlen ? f->kvl : NULL);
    f->tol = (1e-5 + 3.0 * 0x1p-24 * score_bound(f)) * f->maxv;
}

static void mf_free(mfix *f)
{
    tu_free(&f->q);
    tu_free(&f->k);
    tu_free(&f->v);
    tu_free(&f->o);
    tu_free(&f->lse);
    free(f->bias_mem);
    free(f->ref_out);
    free(f->ref_lse);
    free(f->empty);
}

static attn_status mf_run(mfix *f, int threads)
{
    tu_reset(&f->o, TU_SENTINEL);
    tu_reset(&f->lse, TU_SENTINEL);
    const attn_options o = mf_opts(f, threads);
    return attn_forward(&f->q.t, &f->k.t, &f->v.t, &f->o.t, &o);
}

/* Rows with no visible key: out exactly 0, lse exactly sinks[h] or −inf. */
static void check_empty_rows(const mfix *f, const attn_tensor *out, const attn_tensor *lse,
                             const char *tag)
{
    const mcase *c = &f->c;
    const char *isa = attn_isa_name(attn_get_isa());
    const int64_t rows = c->B * c->Hq * c->Lq;
    for (int64_t r = 0; r < rows; r++) {
        if (!f->empty[r])
            continue;
        const int64_t b = r / (c->Hq * c->Lq), h = r / c->Lq % c->Hq, i = r % c->Lq;
        for (int64_t d = 0; d < c->Dv; d++) {
            const float x = *ref_ptr(out, b, h, i, d);
            cr_assert(x == 0.0f, "%s [%s] %s: row [%lld,%lld,%lld] sees no key: out[%lld] = %g, "
                      "want 0", tag, isa, f->desc, (long long)b, (long long)h, (long long)i,
                      (long long)d, (double)x);
        }
        if (lse) {
            const float want = c->sinks ? f->sinks[h] : -INFINITY;
            const float got = *ref_ptr(lse, b, h, i, 0);
            cr_assert(got == want, "%s [%s] %s: row [%lld,%lld,%lld] sees no key: lse = %.9g, "
                      "want %.9g (the sink or -inf)", tag, isa, f->desc, (long long)b,
                      (long long)h, (long long)i, (double)got, (double)want);
        }
    }
}

static void mf_check(mfix *f, const char *tag)
{
    const char *isa = attn_isa_name(attn_get_isa());
    char msg[400];
    cr_assert_eq(tu_compare(&f->o.t, f->ref_out, f->tol, 0.0, msg, sizeof msg), 0,
                 "%s [%s] %s: out: %s", tag, isa, f->desc, msg);
    cr_assert_eq(tu_outside_changed(&f->o, TU_SENTINEL), 0, "%s [%s] %s: wrote outside out", tag,
                 isa, f->desc);
    if (f->c.nolse) {
        for (size_t e = 0; e < f->lse.n; e++) {
            uint32_t u;
            memcpy(&u, &f->lse.mem[e], sizeof u);
            cr_assert_eq(u, TU_SENTINEL, "%s [%s] %s: lse written without opt.lse", tag, isa,
                         f->desc);
        }
    } else {
        cr_assert_eq(tu_compare(&f->lse.t, f->ref_lse, 1e-5, 1e-6, msg, sizeof msg), 0,
                     "%s [%s] %s: lse: %s", tag, isa, f->desc, msg);
    }
    check_empty_rows(f, &f->o.t, f->c.nolse ? NULL : &f->lse.t, tag);
}

/* Reference once, then attn_forward + checks on every kernel set. */
static void mf_all_isas(mfix *f, const char *tag)
{
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    mf_ref(f);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
        /* one thread unless the case asks (random cases pick 1..3) */
        const attn_status st = mf_run(f, f->c.threads ? f->c.threads : 1);
        cr_assert_eq(st, ATTN_OK, "%s [%s] %s: status %s (%s)", tag, attn_isa_name(isas[i]),
                     f->desc, attn_status_str(st), attn_last_error());
        mf_check(f, tag);
    }
    attn_set_isa(saved);
}

static void run_case(const mcase *c, uint64_t seed, const char *tag)
{
    mfix f;
    mf_init(&f, c, seed);
    mf_garbage(&f, 0);
    mf_all_isas(&f, tag);
    mf_free(&f);
}

/* ------------------------------------------------------------------ each feature alone */

typedef struct feature {
    const char *name;
    void (*set)(mcase *c);
} feature;

static void f_wl(mcase *c) { c->wl = 5; }
static void f_wr(mcase *c) { c->wr = 3; }
static void f_wlr(mcase *c) { c->wl = 4, c->wr = 6; }
static void f_w1(mcase *c) { c->wl = 1, c->wr = 1; }
static void f_wbig(mcase *c) { c->wl = INT32_MAX, c->wr = INT32_MAX; }
static void f_causal_wl(mcase *c) { c->causal = 1, c->wl = 7; }
static void f_causal_wl1(mcase *c) { c->causal = 1, c->wl = 1; }
static void f_causal_wr(mcase *c) { c->causal = 1, c->wr = 4; }
static void f_alibi(mcase *c) { c->alibi = 1; }
static void f_alibi_rand(mcase *c) { c->alibi = 2; }
static void f_softcap(mcase *c) { c->softcap = 5.0f, c->scale = 1.0f; }
static void f_softcap_hard(mcase *c) { c->softcap = 0.5f, c->scale = 2.0f; }
static void f_sinks(mcase *c) { c->sinks = 1; }
static void f_sinks_big(mcase *c) { c->sinks = 2; }
static void f_sinks_ninf(mcase *c) { c->sinks = 3; }
static void f_sinks_mixed(mcase *c) { c->sinks = 4; }
static void f_bias32(mcase *c) { c->bias = 1; }
static void f_bias16(mcase *c) { c->bias = 2; }
static void f_kvlen(mcase *c) { c->kvlen = 1; }
static void f_causal(mcase *c) { c->causal = 1; }

static const feature features[] = {
    {"window_left", f_wl},          {"window_right", f_wr},
    {"window both", f_wlr},         {"window 1/1", f_w1},
    {"window INT32_MAX", f_wbig},   {"causal + window_left", f_causal_wl},
    {"causal + window_left 1", f_causal_wl1}, {"causal + window_right", f_causal_wr},
    {"alibi", f_alibi},             {"alibi random", f_alibi_rand},
    {"softcap", f_softcap},         {"softcap hard", f_softcap_hard},
    {"sinks", f_sinks},             {"sinks 20", f_sinks_big},
    {"sinks -inf", f_sinks_ninf},   {"sinks mixed", f_sinks_mixed},
    {"bias f32", f_bias32},         {"bias f16", f_bias16},
    {"kv_len", f_kvlen},            {"causal", f_causal},
};

static const int64_t alone_shapes[][2] = {{37, 37}, {5, 70}, {70, 23}, {1, 130}};

static void alone(size_t from, size_t to)
{
    for (size_t fi = from; fi < to && fi < NELEM(features); fi++)
        for (size_t s = 0; s < NELEM(alone_shapes); s++) {
            mcase c = mk(2, 4, 2, alone_shapes[s][0], alone_shapes[s][1], 32, 24);
            features[fi].set(&c);
            char tag[96];
            snprintf(tag, sizeof tag, "alone: %s", features[fi].name);
            run_case(&c, 100 + fi * 10 + s, tag);
        }
}

Test(masks, each_feature_alone_a) { alone(0, 8); }
Test(masks, each_feature_alone_b) { alone(8, 14); }
Test(masks, each_feature_alone_c) { alone(14, NELEM(features)); }

/* A row position p outside [0, len): windows clip to nothing or to the ends. */
Test(masks, window_edges)
{
    const int32_t w[][2] = {{1, 0}, {0, 1}, {2, 2}, {50, 0}, {0, 50}, {1, INT32_MAX}};
    const int64_t l[][2] = {{1, 1}, {9, 3}, {3, 9}, {16, 16}, {17, 64}, {64, 17}};
    for (size_t i = 0; i < NELEM(w); i++)
        for (size_t s = 0; s < NELEM(l); s++)
            for (int causal = 0; causal <= 1; causal++) {
                mcase c = mk(3, 2, 1, l[s][0], l[s][1], 16, 8);
                c.wl = w[i][0], c.wr = w[i][1];
                c.causal = causal;
                c.kvlen = 2;
                c.kvl[0] = (int32_t)l[s][1], c.kvl[1] = 0, c.kvl[2] = (int32_t)(l[s][1] / 2);
                run_case(&c, 300 + i * 20 + s * 2 + (uint64_t)causal, "window edges");
            }
}

/* ------------------------------------------------------------------ combinations */

static mcase random_case(tu_rng *r)
{
    static const int64_t lqs[] = {1, 2, 5, 16, 17, 33, 64, 65, 100};
    static const int64_t lks[] = {1, 3, 16, 17, 50, 64, 65, 129, 200, 300};
    static const int64_t ds[] = {1, 3, 16, 32, 64, 80, 128};
    static const int64_t groups[] = {1, 2, 4, 8};
    static const float caps[] = {0.0f, 0.0f, 1.0f, 5.0f, 30.0f};
    mcase c = mk(tu_int(r, 1, 3), 0, tu_int(r, 1, 3), lqs[tu_int(r, 0, NELEM(lqs) - 1)],
                 lks[tu_int(r, 0, NELEM(lks) - 1)], ds[tu_int(r, 0, NELEM(ds) - 1)], 0);
    c.Hq = c.Hkv * groups[tu_int(r, 0, NELEM(groups) - 1)];
    c.Dv = tu_int(r, 0, 1) ? c.D : tu_int(r, 1, 70);
    c.causal = (int)tu_int(r, 0, 1);
    c.kvlen = tu_int(r, 0, 2) == 0;
    if (tu_int(r, 0, 2))
        c.wl = (int32_t)tu_int(r, 1, 40);
    if (tu_int(r, 0, 2) == 0)
        c.wr = (int32_t)tu_int(r, 1, 40);
    c.bias = (int)tu_int(r, 0, 2);
    if (c.bias) {
        c.bias_b1 = tu_int(r, 0, 3) == 0;
        c.bias_h1 = tu_int(r, 0, 3) == 0;
        c.bias_b0 = !c.bias_b1 && tu_int(r, 0, 4) == 0;
        c.bias_h0 = !c.bias_h1 && tu_int(r, 0, 4) == 0;
        c.bias_r0 = tu_int(r, 0, 6) == 0;
        c.bias_pad = (int)tu_int(r, 0, 2) * 3;
        c.bias_lhk = tu_int(r, 0, 3) == 0;
        c.bias_ninf = tu_int(r, 0, 2) == 0 ? 0.2 : 0.0;
        c.bias_ninf_rows = tu_int(r, 0, 4) == 0;
    }
    c.alibi = (int)tu_int(r, 0, 2);
    c.softcap = caps[tu_int(r, 0, NELEM(caps) - 1)];
    c.sinks = (int)tu_int(r, 0, 4);
    const int64_t sc = tu_int(r, 0, 3);
    c.scale = sc == 0 ? 0.0f : sc == 1 ? 1.0f : sc == 2 ? 0.25f : -0.5f;
    for (int i = 0; i < 4; i++)
        c.lay[i] = (int)tu_int(r, 0, TU_NLAYOUTS - 1);
    c.threads = (int)tu_int(r, 1, 3);
    c.nolse = tu_int(r, 0, 5) == 0;
    tu_shrink_shape(&c.B, &c.Hq, &c.Hkv, &c.Lq, &c.Lk, c.D + c.Dv, 2000000);
    return c;
}

static void random_batch(uint64_t seed, int count)
{
    tu_rng r = {seed};
    for (int i = 0; i < count; i++) {
        const mcase c = random_case(&r);
        char tag[64];
        snprintf(tag, sizeof tag, "random #%d (seed %llu)", i, (unsigned long long)seed);
        run_case(&c, seed * 1000 + (uint64_t)i, tag);
    }
}

Test(masks, random_combinations_a) { random_batch(51, 20); }
Test(masks, random_combinations_b) { random_batch(52, 20); }
Test(masks, random_combinations_c) { random_batch(53, 20); }

/* Every modifier at once, with kv_len and GQA, several shapes. */
Test(masks, everything_together)
{
    const int64_t l[][2] = {{1, 40}, {4, 300}, {33, 33}, {50, 120}, {120, 50}};
    for (size_t s = 0; s < NELEM(l); s++)
        for (int bias = 1; bias <= 2; bias++) {
            mcase c = mk(2, 8, 2, l[s][0], l[s][1], 64, 48);
            c.causal = (int)(s % 2);
            c.kvlen = 1;
            c.wl = 20, c.wr = s % 2 ? 0 : 9;
            c.bias = bias, c.bias_ninf = 0.1, c.bias_h1 = (int)(s == 2);
            c.alibi = 1, c.softcap = 10.0f, c.sinks = 1;
            c.lay[0] = 1, c.lay[1] = c.lay[2] = 3, c.lay[3] = 2;
            run_case(&c, 400 + s * 2 + (uint64_t)bias, "everything");
        }
}

/* Softcap keeps large exact scores bounded (q, k integers, scale 1 and 8). */
Test(masks, softcap_on_large_scores)
{
    const float caps[] = {1.0f, 10.0f, 50.0f};
    for (size_t i = 0; i < NELEM(caps); i++)
        for (int big = 0; big <= 1; big++) {
            mcase c = mk(1, 2, 1, 19, 70, 16, 16);
            c.intqk = 1;
            c.scale = big ? 8.0f : 1.0f; /* scores up to ±1152 */
            c.softcap = caps[i];
            c.causal = big;
            c.sinks = (int)i % 2;
            run_case(&c, 500 + i * 2 + (uint64_t)big, "softcap on large scores");
        }
}

/* ------------------------------------------------------------------ bias */

Test(masks, bias_broadcast)
{
    /* b1 h1 b0 h0 r0 pad lhk */
    const int v[][7] = {{1, 0, 0, 0, 0, 0, 0}, {0, 1, 0, 0, 0, 0, 0}, {1, 1, 0, 0, 0, 0, 0},
                        {0, 0, 1, 0, 0, 0, 0}, {0, 0, 0, 1, 0, 0, 0}, {0, 0, 1, 1, 0, 0, 0},
                        {0, 0, 0, 0, 1, 0, 0}, {1, 1, 0, 0, 1, 0, 0}, {0, 0, 1, 1, 1, 5, 0},
                        {0, 0, 0, 0, 0, 7, 0}, {1, 0, 0, 1, 0, 3, 0}, {0, 1, 1, 0, 0, 1, 0},
                        {0, 0, 0, 0, 0, 0, 1}, {1, 0, 0, 0, 0, 2, 1}};
    for (size_t i = 0; i < NELEM(v); i++)
        for (int dt = 1; dt <= 2; dt++) {
            mcase c = mk(3, 4, 2, 13, 45, 16, 16);
            c.bias = dt;
            c.bias_b1 = v[i][0], c.bias_h1 = v[i][1], c.bias_b0 = v[i][2];
            c.bias_h0 = v[i][3], c.bias_r0 = v[i][4], c.bias_pad = v[i][5];
            c.bias_lhk = v[i][6];
            c.causal = (int)(i % 2);
            c.bias_ninf = i % 3 == 0 ? 0.15 : 0.0;
            run_case(&c, 600 + i * 2 + (uint64_t)dt, "bias broadcast");
            c.Lq = 1, c.Lk = 200; /* decode */
            run_case(&c, 650 + i * 2 + (uint64_t)dt, "bias broadcast, decode");
        }
}

/* Whole rows of −inf (fully masked rows: out 0, lse −inf or the sink),
 * scattered −inf, whole K/V blocks masked by the bias only, a head of −inf. */
Test(masks, bias_minus_inf)
{
    for (int dt = 1; dt <= 2; dt++)
        for (int sinks = 0; sinks <= 1; sinks++) {
            mcase c = mk(2, 4, 2, 20, 150, 32, 32);
            c.bias = dt, c.sinks = sinks;
            c.bias_ninf_rows = 1;
            run_case(&c, 700 + (uint64_t)(dt * 2 + sinks), "bias -inf rows");
            c.bias_ninf_rows = 0;
            c.bias_ninf = 0.5;
            run_case(&c, 710 + (uint64_t)(dt * 2 + sinks), "bias scattered -inf 50%");
            c.bias_ninf = 0.97; /* most rows see one or two keys, some none */
            c.causal = 1;
            run_case(&c, 720 + (uint64_t)(dt * 2 + sinks), "bias scattered -inf 97%");
            c.bias_ninf = 0.0;
            /* one bias row per head: head 1's is all −inf */
            c.bias_ninf_rows = 1, c.bias_r0 = 1, c.bias_b1 = 1;
            run_case(&c, 730 + (uint64_t)(dt * 2 + sinks), "bias row-broadcast");
        }

    /* a block of keys masked for every row by the bias alone, and a whole head */
    mfix f;
    mcase c = mk(1, 2, 1, 33, 700, 16, 16);
    c.bias = 1;
    c.sinks = 4; /* head 0 has a sink, head 1 none */
    mf_init(&f, &c, 740);
    for (int64_t h = 0; h < 2; h++)
        for (int64_t i = 0; i < c.Lq; i++)
            for (int64_t j = 0; j < c.Lk; j++) {
                float *p = (float *)f.bias.data + h * f.bias.stride[1] + i * f.bias.stride[2] + j;
                if ((j >= 64 && j < 600) || h == 1)
                    *p = -INFINITY;
            }
    /* NaN in V inside the masked block: no row may see it */
    for (int64_t d = 0; d < c.Dv; d++)
        *ref_ptr(&f.v.t, 0, 0, 300, d) = tu_nanf();
    mf_all_isas(&f, "bias masks a block and a head");
    mf_free(&f);
}

/* NaN in the bias where the key is masked anyway (causal future, outside the
 * window, past kv_len) is never seen; NaN at one visible key of one row
 * makes exactly that row NaN. */
Test(masks, nan_bias_only_where_visible_matters)
{
    const int64_t l[][2] = {{37, 70}, {1, 70}, {4, 2600}, {64, 200}};
    for (size_t s = 0; s < NELEM(l); s++)
        for (int dt = 1; dt <= 2; dt++) {
            mcase c = mk(2, 4, 2, l[s][0], l[s][1], 16, 16);
            c.bias = dt;
            c.causal = (int)(s % 2 == 0);
            c.wl = 20, c.wr = c.causal ? 0 : 3;
            c.kvlen = 2, c.kvl[0] = (int32_t)(l[s][1] - 5), c.kvl[1] = (int32_t)(l[s][1] / 2);
            c.sinks = dt == 2;
            mfix f;
            mf_init(&f, &c, 1500 + s * 2 + (uint64_t)dt);
            const ref_opts o = mf_ropts(&f);
            for (int64_t b = 0; b < c.B; b++)
                for (int64_t h = 0; h < c.Hq; h++)
                    for (int64_t i = 0; i < c.Lq; i++)
                        for (int64_t j = 0; j < c.Lk; j++) {
                            const int64_t off = b * f.bias.stride[0] + h * f.bias.stride[1] +
                                                i * f.bias.stride[2] + j;
                            const int masked = !ref_score_mod(&o, b, h, i, j, c.Lq, c.Lk, NULL);
                            /* and one visible key of row (1, 3, last) */
                            const int poison =
                                b == 1 && h == 3 && i == c.Lq - 1 && j == f.kvl[1] - 1;
                            if (!masked && !poison)
                                continue;
                            if (dt == 2)
                                ((uint16_t *)f.bias.data)[off] = 0x7E00;
                            else
                                ((float *)f.bias.data)[off] = tu_nanf();
                        }
            mf_garbage(&f, 0);
            mf_all_isas(&f, "NaN bias at masked keys");
            cr_assert(isnan(f.ref_lse[(1 * c.Hq + 3) * c.Lq + c.Lq - 1]),
                      "the row with a visible NaN bias should be NaN");
            mf_free(&f);
        }
}

/* NaN in V at key j0: rows that mask j0 by a −inf bias (or by a window)
 * stay finite; rows that see it become NaN. */
Test(masks, nan_in_v_reaches_only_rows_that_see_it)
{
    const int64_t l[][2] = {{40, 40}, {7, 130}, {1, 70}, {64, 600}, {1, 3000}, {4, 2600}};
    for (size_t s = 0; s < NELEM(l); s++) /* the last two split their keys */
        for (int mode = 0; mode < 3; mode++)
            for (int64_t j0 = 0; j0 < l[s][1]; j0 += l[s][1] / 4 + 1) {
                mcase c = mk(1, 4, 2, l[s][0], l[s][1], 16, 16);
                c.bias = mode == 2 ? 2 : 1;
                if (mode == 1)
                    c.wl = 5, c.wr = 5, c.alibi = 1; /* window masks j0 for most rows */
                c.sinks = (int)(s % 2);
                mfix f;
                mf_init(&f, &c, 800 + s * 10 + (uint64_t)mode);
                /* −inf bias at (·, h, i, j0) for even i, and for every row of head 1 */
                for (int64_t h = 0; h < c.Hq; h++)
                    for (int64_t i = 0; i < c.Lq; i++)
                        if (i % 2 == 0 || h == 1) {
                            const int64_t off = h * f.bias.stride[1] + i * f.bias.stride[2] + j0;
                            if (c.bias == 2)
                                ((uint16_t *)f.bias.data)[off] = 0xFC00;
                            else
                                ((float *)f.bias.data)[off] = -INFINITY;
                        }
                for (int64_t d = 0; d < c.Dv; d++)
                    *ref_ptr(&f.v.t, 0, 0, j0, d) = tu_nanf(); /* K/V head 0: q heads 0, 1 */
                char tag[96];
                snprintf(tag, sizeof tag, "NaN in V at key %lld (mode %d)", (long long)j0, mode);
                mf_ref(&f);
                f.maxv = 1.0;
                f.tol = (1e-5 + 3.0 * 0x1p-24 * score_bound(&f)) * f.maxv;
                attn_isa isas[4];
                const int n = tu_isas(isas);
                const attn_isa saved = attn_get_isa();
                for (int a = 0; a < n; a++) {
                    cr_assert_eq(attn_set_isa(isas[a]), ATTN_OK);
                    cr_assert_eq(mf_run(&f, (int)(s % 3)), ATTN_OK, "%s", attn_last_error());
                    mf_check(&f, tag); /* NaN in ref <-> NaN in out */
                }
                attn_set_isa(saved);
                mf_free(&f);
            }
}

/* ------------------------------------------------------------------ long rows, windows */

/* Windows of 64 and 256 over thousands of keys: the driver skips the K/V
 * blocks outside every row's window; results must equal the reference. */
Test(masks, long_sequences_with_windows)
{
    const int64_t L = 2048;
    typedef struct { int64_t Lq, Lk; int32_t wl, wr; int causal, alibi, sinks, bias; } lw;
    const lw cases[] = {
        {L, L, 64, 0, 1, 0, 0, 0},     {L, L, 256, 0, 1, 0, 0, 0},
        {L, L, 64, 64, 0, 0, 0, 0},    {L, L, 256, 256, 0, 1, 1, 0},
        {L, L, 0, 64, 0, 0, 0, 0},     {L / 4, L + 900, 256, 0, 1, 1, 0, 1},
        {3, 3 * L, 256, 0, 1, 0, 1, 0}, {1, 3 * L, 64, 0, 0, 1, 1, 1},
    };
    for (size_t i = 0; i < NELEM(cases); i++) {
        /* two query heads on one K/V head; one under ASan / ATTN_TESTS_SMALL */
        const int64_t hq = tu_small_run() ? 1 : 2;
        mcase c = mk(1, hq, 1, cases[i].Lq, cases[i].Lk, 16, 16);
        c.wl = cases[i].wl, c.wr = cases[i].wr;
        c.causal = cases[i].causal, c.alibi = cases[i].alibi, c.sinks = cases[i].sinks;
        c.bias = cases[i].bias, c.bias_b1 = 1, c.bias_h1 = 1;
        if (i == 5) { /* kv_len ending mid-block */
            c.B = 2;
            c.kvlen = 2;
            c.kvl[0] = (int32_t)(L + 900 - 333), c.kvl[1] = (int32_t)(L / 4 + 100);
        }
        run_case(&c, 900 + i, "long sequence, window");
    }
}

/* K/V blocks wholly before every row's window are skipped, not read: the
 * keys before the block that holds the first visible key sit on PROT_NONE
 * pages, K, V and a row-broadcast bias alike. */
typedef struct front_guard {
    void *map;
    size_t len;
    char *data; /* element 0; bytes [data, data + skip) are inaccessible */
} front_guard;

static front_guard guard_front(size_t skip, size_t total)
{
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    const size_t P = (skip + pg - 1) / pg * pg;
    front_guard g;
    g.len = P + total - skip + pg;
    g.map = mmap(NULL, g.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(g.map, MAP_FAILED);
    if (P)
        cr_assert_eq(mprotect(g.map, P, PROT_NONE), 0);
    g.data = (char *)g.map + P - skip;
    return g;
}

Test(masks, blocks_outside_the_window_are_never_read)
{
    const int64_t Lk = 5000, D = 16, Dv = 24;
    attn_isa isas[4];
    const int nisa = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    for (int v = 0; v < 4; v++) {
        mcase c = mk(1, 4, 1, v % 2 ? 4 : 1, Lk, D, Dv);
        c.causal = 1;
        c.wl = v < 2 ? 256 : 64;
        c.sinks = 1;
        c.alibi = v >= 2;
        c.bias = v == 3 ? 1 : 0, c.bias_h0 = 1, c.bias_r0 = 1; /* one bias row */
        mfix f;
        mf_init(&f, &c, 1400 + (uint64_t)v);
        mf_ref(&f);
        /* the smallest visible key, and the start of its K/V block (blocks
         * are aligned to multiples of the plan's kc in key position) */
        const int64_t first = (Lk - c.Lq) - c.wl;
        int64_t G = first;
        for (int i = 0; i < nisa; i++) {
            cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
            const attn_dims d = {1, 4, 1, (size_t)c.Lq, (size_t)Lk, (size_t)D, (size_t)Dv};
            attn_plan p;
            attn_plan_forward(attn_active_kernels(), attn_topology(), &d, &p);
            if (first / (int64_t)p.kc * (int64_t)p.kc < G)
                G = first / (int64_t)p.kc * (int64_t)p.kc;
        }
        front_guard gk = guard_front((size_t)(G * D) * 4, (size_t)(Lk * D) * 4);
        front_guard gv = guard_front((size_t)(G * Dv) * 4, (size_t)(Lk * Dv) * 4);
        front_guard gb = guard_front((size_t)G * 4, (size_t)Lk * 4);
        memcpy(gk.data + G * D * 4, (float *)f.k.t.data + G * D, (size_t)((Lk - G) * D) * 4);
        memcpy(gv.data + G * Dv * 4, (float *)f.v.t.data + G * Dv, (size_t)((Lk - G) * Dv) * 4);
        if (c.bias)
            memcpy(gb.data + G * 4, (float *)f.bias.data + G, (size_t)(Lk - G) * 4);
        void *kd = f.k.t.data, *vd = f.v.t.data, *bd = f.bias.data;
        f.k.t.data = gk.data;
        f.v.t.data = gv.data;
        f.bias.data = gb.data;
        for (int i = 0; i < nisa; i++) {
            cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
            const attn_status st = mf_run(&f, 1 + v % 2);
            cr_assert_eq(st, ATTN_OK, "[%s] %s: %s", attn_isa_name(isas[i]), f.desc,
                         attn_last_error());
            mf_check(&f, "keys before the window on PROT_NONE pages");
        }
        f.k.t.data = kd, f.v.t.data = vd, f.bias.data = bd;
        munmap(gk.map, gk.len);
        munmap(gv.map, gv.len);
        munmap(gb.map, gb.len);
        mf_free(&f);
    }
    attn_set_isa(saved);
}

/* ------------------------------------------------------------------ split-KV decode */

static size_t plan_splits(const mcase *c)
{
    const attn_dims d = {(size_t)c->B, (size_t)c->Hq, (size_t)c->Hkv, (size_t)c->Lq,
                         (size_t)c->Lk, (size_t)c->D, (size_t)c->Dv};
    attn_plan p;
    attn_plan_forward(attn_active_kernels(), attn_topology(), &d, &p);
    return p.splits;
}

/* Decode shapes whose keys are split into chunks (the sink belongs to one
 * chunk; a window may leave whole chunks empty; kv_len ends mid-chunk). */
Test(masks, split_kv_decode_with_modifiers)
{
    const int64_t Lk = tu_small_run() ? 2100 : 5000;
    for (int v = 0; v < 8; v++) {
        mcase c = mk(2, 8, 1, v % 2 ? 4 : 1, Lk, 32, 32);
        c.sinks = 1;
        c.kvlen = 2;
        c.kvl[0] = (int32_t)Lk, c.kvl[1] = (int32_t)(Lk / 2 + 77);
        switch (v / 2) {
        case 0: c.wl = 100; break;                              /* chunk 0 sees nothing */
        case 1: c.alibi = 1, c.softcap = 20.0f, c.causal = 1; break;
        case 2: /* batch 1 has no key: lse = the sink, from chunk 0 alone */
            c.bias = 2, c.bias_ninf = 0.3, c.wl = 1500, c.bias_h1 = 1, c.kvl[1] = 0;
            break;
        default: /* non-causal rows before the end: the window's right edge */
            c.wr = 2, c.wl = 1200, c.alibi = 2, c.bias = 1, c.bias_r0 = 1;
            break;
        }
        if (c.Lq == 1) /* two row tiles: split on any machine (Lq = 4: unless one core) */
            cr_assert_gt(plan_splits(&c), 1, "the decode shape should split its keys");
        run_case(&c, 1000 + (uint64_t)v, "split-KV decode with modifiers");
    }
}

/* Decode over [B,S,H,D] caches, where an item takes several K/V heads (head
 * groups, plan.c): every per-head modifier (ALiBi slopes, sinks, a bias with
 * its own head stride) must reach the rows of its own head, split and not. */
Test(masks, head_groups_with_every_modifier)
{
    const int64_t Lk = tu_small_run() ? 1500 : 3000;
    for (int v = 0; v < 6; v++) {
        mcase c = mk(2, 8, 4, v % 3 == 2 ? 4 : 1, v < 3 ? Lk : 300, 32, 24);
        c.lay[0] = v % 2, c.lay[1] = c.lay[2] = v % 2 ? 3 : 1, c.lay[3] = 2;
        c.kvlen = 2, c.kvl[0] = (int32_t)c.Lk, c.kvl[1] = (int32_t)(c.Lk * 2 / 3 + 5);
        c.alibi = 1 + v % 2, c.sinks = 1 + v % 4, c.softcap = v % 3 ? 20.0f : 0.0f;
        c.bias = 1 + v % 2, c.bias_ninf = 0.1, c.bias_lhk = v % 2;
        c.causal = c.Lq > 1, c.wl = v == 4 ? 200 : 0;
        mfix f;
        mf_init(&f, &c, 1100 + (uint64_t)v);
        const attn_dims d = {(size_t)c.B, (size_t)c.Hq, (size_t)c.Hkv, (size_t)c.Lq,
                             (size_t)c.Lk, (size_t)c.D, (size_t)c.Dv};
        attn_plan p;
        attn_plan_call(attn_active_kernels(), attn_topology(), &d, &f.k.t, &f.v.t, &p);
        /* 2 batches × 1 group × Lk/128 chunks ≥ 4 items per core up to 11 cores */
        if (c.Lk >= 1500 && attn_topology()->physical_cores <= 11)
            cr_assert(p.heads > 1, "%s: no head groups (plan.heads %zu)", f.desc, p.heads);
        mf_garbage(&f, 0);
        mf_all_isas(&f, "head groups with modifiers");
        mf_free(&f);
    }
}

/* ------------------------------------------------------------------ staged == fused */

static double qk_tol(int64_t d, double scale)
{
    return 4e-7 * (double)d * fabs(scale) + 1e-30;
}

static void staged_case(const mcase *c, uint64_t seed)
{
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    mfix f;
    mf_init(&f, c, seed);
    mf_garbage(&f, 1); /* attn_pv reads every key: finite garbage in V */
    mf_ref(&f);
    const ref_opts ro = mf_ropts(&f);
    tu_tensor s, o2, l2;
    tu_make(&s, c->B, c->Hq, c->Lq, c->Lk, &tu_layouts[2], TU_SENTINEL);
    tu_make(&o2, c->B, c->Hq, c->Lq, c->Dv, &tu_layouts[0], TU_SENTINEL);
    tu_make(&l2, c->B, c->Hq, c->Lq, 1, &tu_layouts[0], TU_SENTINEL);
    const size_t ns = (size_t)tu_numel(&s.t) + 1;
    double *rp = malloc(sizeof(double) * ns), *rs = malloc(sizeof(double) * ns);
    double *rl = malloc(sizeof(double) * (size_t)(tu_numel(&l2.t) + 1));
    double *ro2 = malloc(sizeof(double) * (size_t)(tu_numel(&o2.t) + 1));
    double *fused = malloc(sizeof(double) * (size_t)(tu_numel(&o2.t) + 1));
    double *fused_lse = malloc(sizeof(double) * (size_t)(tu_numel(&l2.t) + 1));
    char msg[400];
    for (int i = 0; i < n; i++) {
        const char *isa = attn_isa_name(isas[i]);
        cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
        cr_assert_eq(mf_run(&f, c->threads), ATTN_OK, "%s", attn_last_error());
        mf_check(&f, "staged: fused");
        tu_reset(&s, TU_SENTINEL);
        attn_status st = attn_qk(&f.q.t, &f.k.t, &s.t, c->scale);
        cr_assert_eq(st, ATTN_OK, "[%s] %s: attn_qk: %s", isa, f.desc, attn_last_error());
        ref_qk(&f.q.t, &f.k.t, ref_scale(c->scale, c->D), rs);
        cr_assert_eq(tu_compare(&s.t, rs, qk_tol(c->D, ref_scale(c->scale, c->D)), 1e-6, msg,
                                sizeof msg), 0, "[%s] %s: attn_qk: %s", isa, f.desc, msg);
        /* softmax with every modifier: reference on the very f32 scores */
        ref_softmax(&s.t, &ro, rp, rl);
        attn_options o = mf_opts(&f, c->threads);
        o.lse = &l2.t;
        o.scale = 0.0f;
        tu_reset(&l2, TU_SENTINEL);
        st = attn_softmax(&s.t, &o);
        cr_assert_eq(st, ATTN_OK, "[%s] %s: attn_softmax: %s", isa, f.desc, attn_last_error());
        cr_assert_eq(tu_compare(&s.t, rp, 1e-6, 1e-5, msg, sizeof msg), 0,
                     "[%s] %s: attn_softmax probs: %s", isa, f.desc, msg);
        cr_assert_eq(tu_compare(&l2.t, rl, 1e-5, 1e-6, msg, sizeof msg), 0,
                     "[%s] %s: attn_softmax lse: %s", isa, f.desc, msg);
        cr_assert_eq(tu_outside_changed(&s, TU_SENTINEL), 0, "[%s] %s: softmax wrote outside",
                     isa, f.desc);
        tu_reset(&o2, TU_SENTINEL);
        st = attn_pv(&s.t, &f.v.t, &o2.t);
        cr_assert_eq(st, ATTN_OK, "[%s] %s: attn_pv: %s", isa, f.desc, attn_last_error());
        ref_pv(&s.t, &f.v.t, ro2);
        cr_assert_eq(tu_compare(&o2.t, ro2, 1e-5 * f.maxv, 0.0, msg, sizeof msg), 0,
                     "[%s] %s: attn_pv: %s", isa, f.desc, msg);
        /* staged against the reference and against fused */
        cr_assert_eq(tu_compare(&o2.t, f.ref_out, f.tol, 0.0, msg, sizeof msg), 0,
                     "[%s] %s: staged out vs reference: %s", isa, f.desc, msg);
        cr_assert_eq(tu_compare(&l2.t, f.ref_lse, 1e-5, 1e-6, msg, sizeof msg), 0,
                     "[%s] %s: staged lse vs reference: %s", isa, f.desc, msg);
        check_empty_rows(&f, &o2.t, &l2.t, "staged");
        int64_t idx = 0;
        for (int64_t b = 0; b < c->B; b++)
            for (int64_t h = 0; h < c->Hq; h++)
                for (int64_t r = 0; r < c->Lq; r++) {
                    for (int64_t d = 0; d < c->Dv; d++)
                        fused[idx * c->Dv + d] = *ref_ptr(&f.o.t, b, h, r, d);
                    fused_lse[idx] = *ref_ptr(&f.lse.t, b, h, r, 0);
                    idx++;
                }
        cr_assert_eq(tu_compare(&o2.t, fused, 2 * f.tol, 0.0, msg, sizeof msg), 0,
                     "[%s] %s: staged out != fused: %s", isa, f.desc, msg);
        cr_assert_eq(tu_compare(&l2.t, fused_lse, 1e-5, 1e-6, msg, sizeof msg), 0,
                     "[%s] %s: staged lse != fused: %s", isa, f.desc, msg);
    }
    attn_set_isa(saved);
    tu_free(&s);
    tu_free(&o2);
    tu_free(&l2);
    free(rp);
    free(rs);
    free(rl);
    free(ro2);
    free(fused);
    free(fused_lse);
    mf_free(&f);
}

Test(masks, staged_equals_fused_with_every_modifier)
{
    const int64_t l[][2] = {{21, 35}, {1, 90}, {40, 17}, {64, 130}};
    for (size_t s = 0; s < NELEM(l); s++)
        for (int bias = 1; bias <= 2; bias++) {
            mcase c = mk(2, 4, 2, l[s][0], l[s][1], 32, 24);
            c.causal = (int)(s % 2);
            c.kvlen = 1;
            c.wl = 9, c.wr = s % 2 ? 0 : 4;
            c.alibi = 1 + (int)(s % 2);
            c.softcap = 4.0f;
            c.sinks = s == 3 ? 4 : 1;
            c.bias = bias, c.bias_ninf = 0.1, c.bias_b1 = (int)(s == 1);
            c.bias_ninf_rows = (int)(s == 2);
            c.threads = (int)s;
            staged_case(&c, 1100 + s * 2 + (uint64_t)bias);
        }
    /* each modifier alone through the staged path */
    for (size_t fi = 0; fi < NELEM(features); fi++) {
        mcase c = mk(1, 2, 1, 13, 29, 16, 16);
        features[fi].set(&c);
        staged_case(&c, 1150 + fi);
    }
}

/* Lk = 0, kv_len = 0 and causal rows before the first key, with sinks: out 0,
 * lse = the sink, fused and staged. */
Test(masks, sinks_on_rows_without_keys)
{
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    for (int v = 0; v < 3; v++) {
        mcase c = mk(2, 4, 2, 6, v == 0 ? 0 : 5, 8, 8);
        c.sinks = 1;
        if (v == 1)
            c.kvlen = 2, c.kvl[0] = 0, c.kvl[1] = 3;
        if (v == 2)
            c.causal = 1, c.Lq = 9; /* the first 4 rows see no key */
        run_case(&c, 1200 + (uint64_t)v, "sinks without keys");
        /* staged softmax alone: a row of no key is all 0 with lse = the sink */
        mfix f;
        mf_init(&f, &c, 1210 + (uint64_t)v);
        mf_ref(&f);
        tu_tensor s, l;
        tu_make(&s, c.B, c.Hq, c.Lq, c.Lk, &tu_layouts[0], TU_SENTINEL);
        tu_make(&l, c.B, c.Hq, c.Lq, 1, &tu_layouts[0], TU_SENTINEL);
        tu_rng r = {5};
        tu_fill_view(&s, &r, -1, 1);
        for (int i = 0; i < n; i++) {
            cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
            attn_options o = mf_opts(&f, 0);
            o.lse = &l.t;
            tu_fill_view(&s, &r, -1, 1);
            cr_assert_eq(attn_softmax(&s.t, &o), ATTN_OK, "%s", attn_last_error());
            for (int64_t row = 0; row < c.B * c.Hq * c.Lq; row++) {
                if (!f.empty[row])
                    continue;
                const int64_t b = row / (c.Hq * c.Lq), h = row / c.Lq % c.Hq, i2 = row % c.Lq;
                cr_assert(*ref_ptr(&l.t, b, h, i2, 0) == f.sinks[h],
                          "[%s] staged: row without keys: lse %g, want sink %g",
                          attn_isa_name(isas[i]), (double)*ref_ptr(&l.t, b, h, i2, 0),
                          (double)f.sinks[h]);
                for (int64_t j = 0; j < c.Lk; j++)
                    cr_assert(*ref_ptr(&s.t, b, h, i2, j) == 0.0f, "[%s] staged: row without "
                              "keys has a nonzero weight", attn_isa_name(isas[i]));
            }
        }
        tu_free(&s);
        tu_free(&l);
        mf_free(&f);
    }
    attn_set_isa(saved);
}

/* ------------------------------------------------------------------ determinism */

static void determinism(const mcase *c, uint64_t seed)
{
    static const int threads[] = {1, 2, 3, 8, 0, 2};
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    mfix f;
    mf_init(&f, c, seed);
    mf_garbage(&f, 0);
    float *o1 = malloc(f.o.n * sizeof(float)), *l1 = malloc(f.lse.n * sizeof(float));
    for (int i = 0; i < n; i++) {
        cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
        for (size_t t = 0; t < NELEM(threads); t++) {
            cr_assert_eq(mf_run(&f, threads[t]), ATTN_OK, "%s", attn_last_error());
            if (t == 0) {
                memcpy(o1, f.o.mem, f.o.n * sizeof(float));
                memcpy(l1, f.lse.mem, f.lse.n * sizeof(float));
                continue;
            }
            cr_assert(memcmp(o1, f.o.mem, f.o.n * sizeof(float)) == 0 &&
                          memcmp(l1, f.lse.mem, f.lse.n * sizeof(float)) == 0,
                      "[%s] %s: num_threads %d differs bitwise from num_threads 1",
                      attn_isa_name(isas[i]), f.desc, threads[t]);
        }
    }
    attn_set_isa(saved);
    free(o1);
    free(l1);
    mf_free(&f);
}

Test(masks, bitwise_identical_for_every_thread_count)
{
    mcase c = mk(2, 4, 2, 150, 170, 32, 32); /* prefill */
    c.causal = 1, c.kvlen = 1, c.wl = 40, c.alibi = 1, c.softcap = 8.0f, c.sinks = 1;
    c.bias = 2, c.bias_ninf = 0.1;
    determinism(&c, 1300);
    c = mk(1, 8, 2, 1, 3000, 32, 32); /* decode, split over keys */
    c.wl = 1000, c.alibi = 2, c.sinks = 1, c.bias = 1, c.bias_b1 = 1;
    cr_assert_gt(plan_splits(&c), 1);
    determinism(&c, 1301);
    c = mk(2, 4, 1, 4, 2600, 16, 16); /* speculative rows, kv_len, split */
    c.kvlen = 2, c.kvl[0] = 2600, c.kvl[1] = 1111;
    c.causal = 1, c.wl = 700, c.softcap = 3.0f, c.sinks = 4;
    determinism(&c, 1302); /* split unless the machine has one core */
}
