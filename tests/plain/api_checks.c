/*
 * api_checks.c — the public entry points on the active kernel set, against
 * the float64 reference of tests/ref (DESIGN §4: max |out − ref| ≤
 * 1e-5 · max|V|, lse within 1e-5): head dims 1..80, causal with Lq < Lk and
 * Lq > Lk, kv_len (0 included; keys past it hold NaN and must never be
 * read), GQA and MQA, [B,S,H,D] strides with padded rows, lse, NaN reaching
 * exactly the rows that attend to it, the staged kernels against the fused
 * call, bitwise identical results for every thread count; plus bad input
 * (refused before any output byte is written) and empty problems.
 * Small shapes: this also runs under qemu-user.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn.h"
#include "convert.h"
#include "plain.h"
#include "ref.h"

/* A tensor view in its own buffer: [B,H,S,D] or [B,S,H,D], rows padded. */
typedef struct pt_tensor {
    float *mem;
    size_t n;
    attn_tensor t;
} pt_tensor;

static void tensor_make(pt_tensor *x, int64_t B, int64_t H, int64_t S, int64_t D, int bshd,
                        int64_t pad, uint32_t fill)
{
    const int64_t row = D + pad;
    x->n = (size_t)(B * H * S * row);
    x->mem = pt_alloc(x->n, fill);
    x->t.data = x->mem;
    x->t.dtype = ATTN_F32;
    const int64_t shape[4] = {B, H, S, D};
    const int64_t bhsd[4] = {H * S * row, S * row, row, 1};
    const int64_t bs_hd[4] = {S * H * row, row, H * row, 1};
    memcpy(x->t.shape, shape, sizeof shape);
    memcpy(x->t.stride, bshd ? bs_hd : bhsd, sizeof bhsd);
}

static float *elem(const pt_tensor *x, int64_t b, int64_t h, int64_t s, int64_t d)
{
    return x->mem + b * x->t.stride[0] + h * x->t.stride[1] + s * x->t.stride[2] + d;
}

static void tensor_fill(pt_tensor *x, pt_rng *rng, float lo, float hi)
{
    const int64_t *sh = x->t.shape;
    for (int64_t b = 0; b < sh[0]; b++)
        for (int64_t h = 0; h < sh[1]; h++)
            for (int64_t s = 0; s < sh[2]; s++)
                for (int64_t d = 0; d < sh[3]; d++)
                    *elem(x, b, h, s, d) = pt_uniformf(rng, lo, hi);
}

/* Elements outside the view whose bits are not `fill` (padding written). */
static size_t outside_changed(const pt_tensor *x, uint32_t fill)
{
    unsigned char *in = calloc(x->n ? x->n : 1, 1);
    const int64_t *sh = x->t.shape;
    for (int64_t b = 0; b < sh[0]; b++)
        for (int64_t h = 0; h < sh[1]; h++)
            for (int64_t s = 0; s < sh[2]; s++)
                for (int64_t d = 0; d < sh[3]; d++)
                    in[elem(x, b, h, s, d) - x->mem] = 1;
    size_t bad = 0;
    for (size_t i = 0; i < x->n; i++)
        bad += !in[i] && pt_bits(x->mem[i]) != fill;
    free(in);
    return bad;
}

/* Compares a view with a contiguous double reference of its shape: NaN ↔ NaN,
 * ±inf exactly, else |x − ref| ≤ atol. Returns 1 when all match. */
static int compare(const char *what, const pt_tensor *x, const double *ref, double atol)
{
    const int64_t *sh = x->t.shape;
    size_t i = 0;
    for (int64_t b = 0; b < sh[0]; b++)
        for (int64_t h = 0; h < sh[1]; h++)
            for (int64_t s = 0; s < sh[2]; s++)
                for (int64_t d = 0; d < sh[3]; d++, i++) {
                    const double got = *elem(x, b, h, s, d), want = ref[i];
                    int ok;
                    if (isnan(want) || isnan(got))
                        ok = isnan(want) && isnan(got);
                    else if (isinf(want) || isinf(got))
                        ok = got == want;
                    else
                        ok = fabs(got - want) <= atol;
                    if (!pt_expect(ok, "%s[%lld,%lld,%lld,%lld] = %.9g, float64 %.9g (tol %.3g)",
                                   what, (long long)b, (long long)h, (long long)s, (long long)d,
                                   got, want, atol))
                        return 0;
                }
    return 1;
}

static int same_view(const pt_tensor *a, const pt_tensor *b)
{
    const int64_t *sh = a->t.shape;
    for (int64_t i = 0; i < sh[0]; i++)
        for (int64_t h = 0; h < sh[1]; h++)
            for (int64_t s = 0; s < sh[2]; s++)
                for (int64_t d = 0; d < sh[3]; d++)
                    if (!pt_same(*elem(a, i, h, s, d), *elem(b, i, h, s, d)))
                        return 0;
    return 1;
}

typedef struct fwd_spec {
    int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
    int causal;
    const int32_t *kv_len;
    int bshd;
    float scale;
} fwd_spec;

typedef struct fwd_bufs {
    pt_tensor q, k, v, out, lse;
} fwd_bufs;

static void bufs_make(fwd_bufs *f, const fwd_spec *s, pt_rng *rng)
{
    const int64_t pad = s->bshd ? 3 : 0;
    tensor_make(&f->q, s->B, s->Hq, s->Lq, s->D, s->bshd, pad, PT_SENTINEL);
    tensor_make(&f->k, s->B, s->Hkv, s->Lk, s->D, s->bshd, pad, PT_SENTINEL);
    tensor_make(&f->v, s->B, s->Hkv, s->Lk, s->Dv, s->bshd, pad, PT_SENTINEL);
    tensor_make(&f->out, s->B, s->Hq, s->Lq, s->Dv, s->bshd, pad, PT_SENTINEL);
    tensor_make(&f->lse, s->B, s->Hq, s->Lq, 1, 0, 0, PT_SENTINEL);
    tensor_fill(&f->q, rng, -2, 2);
    tensor_fill(&f->k, rng, -2, 2);
    tensor_fill(&f->v, rng, -1, 1);
    /* keys past kv_len hold NaN: reading one would poison a row */
    if (s->kv_len)
        for (int64_t b = 0; b < s->B; b++)
            for (int64_t h = 0; h < s->Hkv; h++)
                for (int64_t j = s->kv_len[b]; j < s->Lk; j++) {
                    for (int64_t d = 0; d < s->D; d++)
                        *elem(&f->k, b, h, j, d) = NAN;
                    for (int64_t d = 0; d < s->Dv; d++)
                        *elem(&f->v, b, h, j, d) = NAN;
                }
}

static void bufs_free(fwd_bufs *f)
{
    free(f->q.mem), free(f->k.mem), free(f->v.mem), free(f->out.mem), free(f->lse.mem);
}

static attn_options spec_opts(const fwd_spec *s, const pt_tensor *lse, int threads)
{
    attn_options o;
    memset(&o, 0, sizeof o);
    o.scale = s->scale;
    o.causal = s->causal;
    o.kv_len = s->kv_len;
    o.lse = lse ? &lse->t : NULL;
    o.num_threads = threads;
    return o;
}

static double max_abs_v(const fwd_bufs *f, const fwd_spec *s)
{
    double m = 0;
    for (int64_t b = 0; b < s->B; b++)
        for (int64_t h = 0; h < s->Hkv; h++)
            for (int64_t j = 0; j < (s->kv_len ? s->kv_len[b] : s->Lk); j++)
                for (int64_t d = 0; d < s->Dv; d++) {
                    /* not fmax(): gcc 12.2 for aarch64 crashes vectorising it */
                    const double a = fabs(*elem(&f->v, b, h, j, d));
                    m = a > m ? a : m;
                }
    return m;
}

/* attn_forward on one shape against ref_forward: out, lse, padding. */
static void forward_case(const char *isa, const char *label, const fwd_spec *s, pt_rng *rng)
{
    pt_begin("attn_forward [%s] %s: B=%lld Hq=%lld Hkv=%lld Lq=%lld Lk=%lld D=%lld Dv=%lld%s%s%s",
             isa, label, (long long)s->B, (long long)s->Hq, (long long)s->Hkv, (long long)s->Lq,
             (long long)s->Lk, (long long)s->D, (long long)s->Dv, s->causal ? " causal" : "",
             s->kv_len ? " kv_len" : "", s->bshd ? " [B,S,H,D]" : "");
    fwd_bufs f;
    bufs_make(&f, s, rng);
    const attn_options o = spec_opts(s, &f.lse, 0);
    const attn_status st = attn_forward(&f.q.t, &f.k.t, &f.v.t, &f.out.t, &o);
    if (pt_expect(st == ATTN_OK, "returned %s (%s)", attn_status_str(st), attn_last_error())) {
        const size_t rows = (size_t)(s->B * s->Hq * s->Lq);
        double *ref = malloc(sizeof(double) * (rows * (size_t)s->Dv + 1));
        double *lref = malloc(sizeof(double) * (rows + 1));
        const ref_opts ro = {ref_scale(s->scale, s->D), s->causal, s->kv_len};
        ref_forward(&f.q.t, &f.k.t, &f.v.t, &ro, ref, lref);
        compare("out", &f.out, ref, 1e-5 * fmax(max_abs_v(&f, s), 1e-30));
        compare("lse", &f.lse, lref, 1e-5);
        pt_expect(outside_changed(&f.out, PT_SENTINEL) == 0, "wrote padding of out");
        free(ref), free(lref);
    }
    bufs_free(&f);
    pt_end();
}

static void forward_shapes(const char *isa)
{
    pt_rng rng = {0xf0};
    static const int64_t ds[] = {1, 3, 16, 64, 80};
    for (size_t i = 0; i < PT_NELEM(ds); i++) {
        const fwd_spec s = {1, 2, 2, 7, 19, ds[i], ds[i], 0, NULL, 0, 0.0f};
        forward_case(isa, "head dim", &s, &rng);
    }
    const int32_t kv3[3] = {13, 0, 5};
    const fwd_spec cases[] = {
        {1, 1, 1, 5, 23, 16, 16, 1, NULL, 0, 0.0f},    /* causal, Lq < Lk (decode-like)   */
        {1, 1, 1, 9, 4, 8, 8, 1, NULL, 0, 0.0f},       /* causal, Lq > Lk: empty rows     */
        {1, 2, 2, 17, 17, 16, 24, 1, NULL, 0, 0.5f},   /* square causal, Dv ≠ D, scale     */
        {3, 2, 1, 6, 13, 16, 16, 0, kv3, 0, 0.0f},     /* kv_len incl 0, NaN past it, MQA */
        {3, 2, 2, 6, 13, 16, 16, 1, kv3, 0, 0.0f},     /* kv_len + causal                 */
        {2, 8, 2, 5, 21, 32, 32, 1, NULL, 0, 0.0f},    /* GQA 4:1                         */
        {2, 4, 2, 6, 11, 20, 12, 0, NULL, 1, 0.0f},    /* [B,S,H,D] strides, padded rows  */
        {1, 2, 1, 1, 40, 64, 64, 0, NULL, 0, 0.0f},    /* decode: Lq = 1                  */
        {1, 1, 1, 3, 600, 16, 16, 1, NULL, 0, 0.0f},   /* Lk beyond one K/V block         */
        {1, 1, 1, 4, 0, 8, 8, 0, NULL, 0, 0.0f},       /* Lk = 0: out 0, lse −inf         */
        {3, 6, 3, 1, 13, 16, 24, 0, kv3, 1, 0.0f},     /* decode, [B,S,H,D]: head groups  */
        {1, 16, 8, 1, 2000, 16, 16, 0, NULL, 1, 0.0f}, /* the same, split                 */
        {1, 16, 1, 1, 300, 16, 16, 0, NULL, 0, 0.0f},  /* decode, 16 rows a K/V head      */
        {1, 12, 3, 4, 97, 16, 24, 1, NULL, 1, 0.0f},   /* 4 causal positions × GQA 4      */
    };
    static const char *labels[] = {"causal Lq<Lk", "causal Lq>Lk", "causal square",
                                   "kv_len MQA", "kv_len causal", "GQA", "strides",
                                   "decode", "long Lk", "empty K/V", "decode head groups",
                                   "decode head groups, split", "wide decode tile",
                                   "wide decode tile, causal"};
    for (size_t i = 0; i < PT_NELEM(cases); i++)
        forward_case(isa, labels[i], &cases[i], &rng);
}

/* NaN in q, k or v reaches exactly the rows that see it; masked NaN none. */
static void forward_nan(const char *isa)
{
    static const char *where[] = {"q row 2", "k key 3", "v key 5"};
    pt_rng rng = {0xa7};
    for (int w = 0; w < 3; w++) {
        pt_begin("attn_forward [%s] NaN in %s (causal Lq = Lk = 9) reaches exactly the rows "
                 "that attend to it", isa, where[w]);
        const fwd_spec s = {1, 1, 1, 9, 9, 8, 8, 1, NULL, 0, 0.0f};
        fwd_bufs f;
        bufs_make(&f, &s, &rng);
        if (w == 0)
            *elem(&f.q, 0, 0, 2, 1) = NAN;
        else if (w == 1)
            *elem(&f.k, 0, 0, 3, 4) = NAN;
        else
            for (int64_t d = 0; d < 8; d++)
                *elem(&f.v, 0, 0, 5, d) = NAN;
        const attn_options o = spec_opts(&s, &f.lse, 0);
        const attn_status st = attn_forward(&f.q.t, &f.k.t, &f.v.t, &f.out.t, &o);
        pt_expect(st == ATTN_OK, "returned %s", attn_status_str(st));
        for (int64_t i = 0; i < 9; i++) {
            const int want_nan = w == 0 ? i == 2 : w == 1 ? i >= 3 : i >= 5;
            for (int64_t d = 0; d < 8; d++) {
                const float x = *elem(&f.out, 0, 0, i, d);
                if (!pt_expect(want_nan ? isnan(x) : isfinite(x), "row %lld out[%lld] = %g, "
                               "want %s", (long long)i, (long long)d, (double)x,
                               want_nan ? "NaN" : "finite"))
                    break;
            }
        }
        bufs_free(&f);
        pt_end();
    }
}

/* attn_qk → attn_softmax → attn_pv equals attn_forward (and the reference). */
static void staged_vs_fused(const char *isa)
{
    pt_rng rng = {0x5d};
    const int32_t kv2[2] = {11, 4};
    const fwd_spec cases[] = {
        {2, 4, 2, 7, 11, 16, 16, 1, kv2, 0, 0.0f},
        {1, 2, 2, 5, 9, 3, 5, 0, NULL, 1, 0.25f},
    };
    for (size_t c = 0; c < PT_NELEM(cases); c++) {
        const fwd_spec *s = &cases[c];
        pt_begin("staged == fused [%s]: qk → softmax → pv vs attn_forward, lse (%s)", isa,
                 c ? "strides, scale" : "GQA, causal, kv_len");
        fwd_bufs f;
        /* staged attn_pv has no kv_len: keys past it must be finite there */
        bufs_make(&f, s, &rng);
        for (size_t i = 0; i < f.k.n; i++)
            if (isnan(f.k.mem[i]) && pt_bits(f.k.mem[i]) != PT_SENTINEL)
                f.k.mem[i] = 7.0f;
        for (size_t i = 0; i < f.v.n; i++)
            if (isnan(f.v.mem[i]) && pt_bits(f.v.mem[i]) != PT_SENTINEL)
                f.v.mem[i] = 3.0f;
        pt_tensor sc, out2, lse2;
        tensor_make(&sc, s->B, s->Hq, s->Lq, s->Lk, 0, 0, PT_SENTINEL);
        tensor_make(&out2, s->B, s->Hq, s->Lq, s->Dv, 0, 0, PT_SENTINEL);
        tensor_make(&lse2, s->B, s->Hq, s->Lq, 1, 0, 0, PT_SENTINEL);
        const attn_options o = spec_opts(s, &f.lse, 0);
        attn_options o2 = spec_opts(s, &lse2, 0);
        o2.scale = 0.0f;
        attn_status st = attn_forward(&f.q.t, &f.k.t, &f.v.t, &f.out.t, &o);
        pt_expect(st == ATTN_OK, "attn_forward: %s", attn_status_str(st));
        st = attn_qk(&f.q.t, &f.k.t, &sc.t, s->scale);
        pt_expect(st == ATTN_OK, "attn_qk: %s", attn_status_str(st));
        st = attn_softmax(&sc.t, &o2);
        pt_expect(st == ATTN_OK, "attn_softmax: %s", attn_status_str(st));
        st = attn_pv(&sc.t, &f.v.t, &out2.t);
        pt_expect(st == ATTN_OK, "attn_pv: %s", attn_status_str(st));
        const size_t rows = (size_t)(s->B * s->Hq * s->Lq);
        double *fused = malloc(sizeof(double) * rows * (size_t)s->Dv);
        double *fl = malloc(sizeof(double) * rows);
        size_t i = 0;
        for (int64_t b = 0; b < s->B; b++)
            for (int64_t h = 0; h < s->Hq; h++)
                for (int64_t r = 0; r < s->Lq; r++) {
                    fl[i / (size_t)s->Dv] = *elem(&f.lse, b, h, r, 0);
                    for (int64_t d = 0; d < s->Dv; d++, i++)
                        fused[i] = *elem(&f.out, b, h, r, d);
                }
        compare("staged out vs fused", &out2, fused, 2e-5 * max_abs_v(&f, s));
        compare("staged lse vs fused", &lse2, fl, 2e-5);
        const ref_opts ro = {ref_scale(s->scale, s->D), s->causal, s->kv_len};
        double *ref = malloc(sizeof(double) * rows * (size_t)s->Dv);
        ref_forward(&f.q.t, &f.k.t, &f.v.t, &ro, ref, NULL);
        compare("staged out vs float64", &out2, ref, 1e-5 * max_abs_v(&f, s));
        free(fused), free(fl), free(ref);
        free(sc.mem), free(out2.mem), free(lse2.mem);
        bufs_free(&f);
        pt_end();
    }
}

/* Results are bitwise identical for every thread count. */
static void thread_determinism(const char *isa)
{
    pt_rng rng = {0x7d};
    const int32_t kv2[2] = {70, 45};
    const fwd_spec cases[] = {
        {2, 4, 2, 33, 70, 16, 16, 1, kv2, 0, 0.0f}, /* GQA, causal, kv_len: uneven tiles */
        {1, 4, 1, 1, 257, 32, 32, 0, NULL, 0, 0.0f}, /* decode, MQA */
    };
    for (size_t c = 0; c < PT_NELEM(cases); c++) {
        const fwd_spec *s = &cases[c];
        pt_begin("attn_forward [%s] bitwise identical for num_threads 1, 2, 3, 4 (%s)", isa,
                 c ? "decode" : "GQA causal kv_len");
        fwd_bufs f;
        bufs_make(&f, s, &rng);
        pt_tensor out1, lse1;
        tensor_make(&out1, s->B, s->Hq, s->Lq, s->Dv, 0, 0, PT_SENTINEL);
        tensor_make(&lse1, s->B, s->Hq, s->Lq, 1, 0, 0, PT_SENTINEL);
        for (int t = 1; t <= 4; t++) {
            const attn_options o = spec_opts(s, t == 1 ? &lse1 : &f.lse, t);
            const attn_status st =
                attn_forward(&f.q.t, &f.k.t, &f.v.t, t == 1 ? &out1.t : &f.out.t, &o);
            pt_expect(st == ATTN_OK, "num_threads %d: %s", t, attn_status_str(st));
            if (t > 1)
                pt_expect(same_view(&out1, &f.out) && same_view(&lse1, &f.lse),
                          "num_threads %d differs from 1", t);
        }
        free(out1.mem), free(lse1.mem);
        bufs_free(&f);
        pt_end();
    }
}

/* f16 / bf16 K and V (widened by the pack kernels) equal f32 ones holding
 * the same values: k/64 for integers |k| < 128 are exact in both formats. */
static void forward_x16(const char *isa)
{
    pt_rng rng = {0x16};
    for (int bf = 0; bf < 2; bf++) {
        const fwd_spec s = {1, 4, 2, 5, 37, 24, 20, 1, NULL, 0, 0.0f};
        pt_begin("attn_forward [%s] %s K and V == f32 K and V of the same values (GQA causal)",
                 isa, bf ? "bf16" : "f16");
        fwd_bufs f;
        bufs_make(&f, &s, &rng);
        pt_tensor *kv[2] = {&f.k, &f.v};
        attn_tensor h[2];
        uint16_t *mem[2];
        for (int t = 0; t < 2; t++) {
            mem[t] = malloc(kv[t]->n * sizeof(uint16_t));
            for (size_t i = 0; i < kv[t]->n; i++) {
                const float x = (float)((int)pt_uniform(&rng, -127, 128)) / 64.0f;
                kv[t]->mem[i] = x;
                mem[t][i] = bf ? attn_f32_to_bf16(x) : attn_f32_to_f16(x);
            }
            h[t] = kv[t]->t;
            h[t].data = mem[t];
            h[t].dtype = bf ? ATTN_BF16 : ATTN_F16;
        }
        const attn_options o = spec_opts(&s, &f.lse, 0);
        const attn_status st = attn_forward(&f.q.t, &h[0], &h[1], &f.out.t, &o);
        if (pt_expect(st == ATTN_OK, "returned %s (%s)", attn_status_str(st), attn_last_error())) {
            const size_t rows = (size_t)(s.B * s.Hq * s.Lq);
            double *ref = malloc(sizeof(double) * rows * (size_t)s.Dv);
            const ref_opts ro = {ref_scale(s.scale, s.D), s.causal, s.kv_len};
            ref_forward(&f.q.t, &f.k.t, &f.v.t, &ro, ref, NULL);
            compare("out", &f.out, ref, 1e-5 * max_abs_v(&f, &s));
            free(ref);
        }
        free(mem[0]), free(mem[1]);
        bufs_free(&f);
        pt_end();
    }
}

void pt_check_api(const char *isa)
{
    forward_shapes(isa);
    forward_nan(isa);
    staged_vs_fused(isa);
    thread_determinism(isa);
    forward_x16(isa);
}

/* ------------------------------------------------------------------ arguments */

static void expect_refused(const char *what, attn_status want, fwd_bufs *f,
                           const attn_tensor *q, const attn_tensor *k, const attn_tensor *v,
                           const attn_options *o)
{
    pt_fill_bits(f->out.mem, f->out.n, PT_SENTINEL);
    const attn_status st = attn_forward(q, k, v, &f->out.t, o);
    pt_expect(st == want, "%s: returned %s, want %s", what, attn_status_str(st),
              attn_status_str(want));
    pt_expect(attn_last_error()[0] != '\0', "%s: attn_last_error() is empty", what);
    size_t written = 0;
    for (size_t i = 0; i < f->out.n; i++)
        written += pt_bits(f->out.mem[i]) != PT_SENTINEL;
    pt_expect(written == 0, "%s: wrote %zu output elements before refusing", what, written);
}

void pt_check_api_args(void)
{
    pt_rng rng = {0xbad};
    const fwd_spec s = {2, 4, 2, 3, 5, 8, 8, 0, NULL, 0, 0.0f};
    fwd_bufs f;
    bufs_make(&f, &s, &rng);
    attn_options o;
    memset(&o, 0, sizeof o);

    pt_begin("attn_forward bad input is refused before any output byte is written");
    expect_refused("q = NULL", ATTN_ERR_NULL, &f, NULL, &f.k.t, &f.v.t, NULL);
    attn_tensor t = f.k.t;
    t.shape[3] = 7;
    expect_refused("k.shape[3] ≠ q.shape[3]", ATTN_ERR_SHAPE, &f, &f.q.t, &t, &f.v.t, NULL);
    t = f.q.t;
    t.stride[3] = 2;
    expect_refused("q.stride[3] = 2", ATTN_ERR_STRIDE, &f, &t, &f.k.t, &f.v.t, NULL);
    t = f.q.t;
    t.shape[1] = 3;
    expect_refused("Hq % Hkv ≠ 0", ATTN_ERR_SHAPE, &f, &t, &f.k.t, &f.v.t, NULL);
    t = f.q.t;
    t.dtype = (attn_dtype)99;
    expect_refused("unknown dtype", ATTN_ERR_DTYPE, &f, &t, &f.k.t, &f.v.t, NULL);
    o.scale = NAN;
    expect_refused("scale = NaN", ATTN_ERR_ARG, &f, &f.q.t, &f.k.t, &f.v.t, &o);
    o.scale = 0;
    o.num_threads = -1;
    expect_refused("num_threads = -1", ATTN_ERR_ARG, &f, &f.q.t, &f.k.t, &f.v.t, &o);
    o.num_threads = 0;
    const int32_t bad_len[2] = {5, 6};
    o.kv_len = bad_len;
    expect_refused("kv_len > Lk", ATTN_ERR_ARG, &f, &f.q.t, &f.k.t, &f.v.t, &o);
    o.kv_len = NULL;
    attn_tensor out = f.out.t;
    out.stride[2] = 0; /* rows alias */
    pt_fill_bits(f.out.mem, f.out.n, PT_SENTINEL);
    attn_status st = attn_forward(&f.q.t, &f.k.t, &f.v.t, &out, NULL);
    pt_expect(st == ATTN_ERR_STRIDE, "aliasing out: returned %s", attn_status_str(st));
    pt_expect(attn_status_str(ATTN_ERR_SHAPE) && attn_status_str(ATTN_ERR_SHAPE)[0],
              "attn_status_str is empty");
    pt_end();

    pt_begin("attn_forward empty problems: B = 0 and Lq = 0 write nothing, return ATTN_OK");
    t = f.q.t;
    t.shape[2] = 0;
    out = f.out.t;
    out.shape[2] = 0;
    pt_fill_bits(f.out.mem, f.out.n, PT_SENTINEL);
    st = attn_forward(&t, &f.k.t, &f.v.t, &out, NULL);
    pt_expect(st == ATTN_OK, "Lq = 0: returned %s", attn_status_str(st));
    attn_tensor qb = f.q.t, kb = f.k.t, vb = f.v.t;
    out = f.out.t;
    qb.shape[0] = kb.shape[0] = vb.shape[0] = out.shape[0] = 0;
    st = attn_forward(&qb, &kb, &vb, &out, NULL);
    pt_expect(st == ATTN_OK, "B = 0: returned %s", attn_status_str(st));
    size_t written = 0;
    for (size_t i = 0; i < f.out.n; i++)
        written += pt_bits(f.out.mem[i]) != PT_SENTINEL;
    pt_expect(written == 0, "an empty call wrote %zu elements", written);
    pt_end();
    bufs_free(&f);
}
