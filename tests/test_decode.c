/*
 * test_decode.c — decoding (issue 6; include/attn.h): few query rows against
 * long K/V, on every kernel set, against the float64 reference of tests/ref:
 *   Lq = 1 and Lq = 4 (speculative rows), Lk from 1 to 100 000 (around the
 *   K/V block and chunk sizes), GQA ratios 1, 4, 8, 32, every mix of f32 /
 *   f16 / bf16 for q, k, v and out (inputs rounded to their dtype, the
 *   reference on the exactly widened values), split-KV and unsplit paths (the
 *   plan splits the keys when B·Hkv·row tiles < 4·cores and Lk ≥ 1024: the
 *   same data as a many-batch broadcast does not), kv_len per batch (0, mid
 *   chunk; keys past it on PROT_NONE pages), bitwise identical results for
 *   every thread count on split shapes; decode tiles wider than one row
 *   block of qk_direct (NaN in V seen by the last positions only); decode items of several K/V heads
 *   over [B,S,H,D] caches (head groups: every GQA ratio and K/V dtype, split
 *   and not, kv_len, the planner on made-up machines); attn_merge of 1..8 shards over
 *   disjoint key ranges (views into one K/V buffer, empty shards, in place,
 *   lse NULL, NaN lse, causal shards through a bias) against one full call;
 *   attn_forward_workspace O(tile) and a real Lq = Lk = 32768 run; the staged
 *   attn_qk / attn_pv with 16-bit inputs.
 *
 * Tolerance: f32 out |out − ref| ≤ 1e-5·max|V| (DESIGN §4; ×sqrt(Lk/16384)
 * beyond 16384 keys); a 16-bit out adds its own rounding: half an ulp of the
 * 16-bit type relative to the value (2^-11 f16, 2^-8 bf16; plus 2^-25 for f16
 * subnormals). lse within 1e-5 (+1e-6 relative).
 *
 * Sizes shrink under AddressSanitizer or with ATTN_TESTS_SMALL=1 in the
 * environment (tu_small_run()); the emulated kernel sets (TU_EMULATED_ONLY) run
 * the 32768 prefill at 4096.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <pthread.h>
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


static const char *const dt_name[] = {"f32", "f16", "bf16"};

/* ------------------------------------------------------------------ 16-bit tensors */

static float widen(attn_dtype dt, uint16_t h)
{
    return dt == ATTN_F16 ? tu_f16_to_f32(h) : tu_bf16_to_f32(h);
}

static uint16_t nan16(attn_dtype dt) { return dt == ATTN_F16 ? 0x7E00 : 0x7FC0; }

/* A random 16-bit value in (-1, 1); one in 16 is a special: ±0 or a
 * subnormal (f16: down to 2^-24; bf16: f32 subnormals). */
static uint16_t rand16(tu_rng *r, attn_dtype dt)
{
    static const uint16_t sp16[] = {0x0000, 0x8000, 0x0001, 0x83FF, 0x0200, 0x8001};
    static const uint16_t spbf[] = {0x0000, 0x8000, 0x0001, 0x807F, 0x0040, 0x8001};
    if (tu_next(r) % 16 == 0)
        return (dt == ATTN_F16 ? sp16 : spbf)[tu_next(r) % 6];
    return tu_rand_half(r, dt);
}

/* A tensor as the library sees it (t: f32, f16 or bf16) and as the
 * reference reads it (f.t: f32 holding the exactly widened values). */
typedef struct dten {
    tu_tensor f;
    uint16_t *h; /* 16-bit twin of f.mem (same offsets), or NULL */
    attn_tensor t;
} dten;

/* bcast: one batch of data, read by all b batches through stride[0] = 0. */
static void dt_make(dten *x, int64_t b, int64_t hh, int64_t s, int64_t d, int lay,
                    attn_dtype dt, int output, tu_rng *r, int bcast)
{
    memset(x, 0, sizeof *x);
    tu_make(&x->f, bcast ? 1 : b, hh, s, d, &tu_layouts[lay], output ? TU_SENTINEL : TU_NAN_BITS);
    if (!output)
        tu_fill_view(&x->f, r, -1, 1);
    x->t = x->f.t;
    if (dt != ATTN_F32) {
        x->h = malloc(x->f.n * sizeof(uint16_t));
        for (size_t e = 0; e < x->f.n; e++)
            x->h[e] = output ? 0xA5A5 : nan16(dt);
        x->t.dtype = dt;
        x->t.data = x->h + ((float *)x->f.t.data - x->f.mem);
        if (!output) {
            const attn_tensor *t = &x->f.t;
            for (int64_t i0 = 0; i0 < t->shape[0]; i0++)
                for (int64_t i1 = 0; i1 < t->shape[1]; i1++)
                    for (int64_t i2 = 0; i2 < t->shape[2]; i2++)
                        for (int64_t i3 = 0; i3 < t->shape[3]; i3++) {
                            float *p = ref_ptr(t, i0, i1, i2, i3);
                            const size_t off = (size_t)(p - x->f.mem);
                            x->h[off] = rand16(r, dt);
                            *p = widen(dt, x->h[off]);
                        }
        }
    }
    if (bcast) {
        x->f.t.shape[0] = x->t.shape[0] = b;
        x->f.t.stride[0] = x->t.stride[0] = 0;
    }
}

static void dt_free(dten *x)
{
    tu_free(&x->f);
    free(x->h);
}

/* Element (b, h, s, d) set to NaN in both views (garbage past kv_len). */
static void dt_nan(dten *x, int64_t b, int64_t h, int64_t s, int64_t d)
{
    float *p = ref_ptr(&x->f.t, b, h, s, d);
    *p = tu_nanf();
    if (x->h)
        x->h[p - x->f.mem] = nan16(x->t.dtype);
}

static void dt_reset_out(dten *x)
{
    tu_reset(&x->f, TU_SENTINEL);
    if (x->h)
        for (size_t e = 0; e < x->f.n; e++)
            x->h[e] = 0xA5A5;
}

/* After a call: a 16-bit output is widened into f's view (and its view reset
 * to the sentinel, so that what remains shows writes outside the view).
 * Returns the number of elements written outside the view. */
static size_t dt_collect_out(dten *x)
{
    if (!x->h)
        return tu_outside_changed(&x->f, TU_SENTINEL);
    const attn_tensor *t = &x->f.t;
    for (int64_t i0 = 0; i0 < t->shape[0]; i0++)
        for (int64_t i1 = 0; i1 < t->shape[1]; i1++)
            for (int64_t i2 = 0; i2 < t->shape[2]; i2++)
                for (int64_t i3 = 0; i3 < t->shape[3]; i3++) {
                    float *p = ref_ptr(t, i0, i1, i2, i3);
                    const size_t off = (size_t)(p - x->f.mem);
                    *p = widen(x->t.dtype, x->h[off]);
                    x->h[off] = 0xA5A5;
                }
    size_t bad = 0;
    for (size_t e = 0; e < x->f.n; e++)
        bad += x->h[e] != 0xA5A5;
    return bad;
}

/* ------------------------------------------------------------------ fixture */

typedef struct dcase {
    int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
    attn_dtype dq, dk, dv, dout;
    int causal;
    int kvlen; /* 0: none; 2: kvl[] */
    int32_t kvl[MAXB];
    float scale;
    int lay[4];
    int threads; /* 0: one thread (df_all_isas); determinism() covers the rest */
    int bcast;   /* q, k, v: one batch of data for every batch (stride[0] = 0) */
} dcase;

static dcase dk(int64_t B, int64_t Hq, int64_t Hkv, int64_t Lq, int64_t Lk, int64_t D,
                int64_t Dv)
{
    dcase c;
    memset(&c, 0, sizeof c);
    c.B = B, c.Hq = Hq, c.Hkv = Hkv, c.Lq = Lq, c.Lk = Lk, c.D = D, c.Dv = Dv;
    return c;
}

typedef struct dfix {
    dcase c;
    dten q, k, v, o;
    tu_tensor lse;
    double *ref_out, *ref_lse;
    double maxv;
    char desc[300];
} dfix;

static size_t plan_splits_dims(int64_t B, int64_t Hq, int64_t Hkv, int64_t Lq, int64_t Lk,
                               int64_t D, int64_t Dv)
{
    const attn_dims d = {(size_t)B, (size_t)Hq, (size_t)Hkv, (size_t)Lq, (size_t)Lk, (size_t)D,
                         (size_t)Dv};
    attn_plan p;
    attn_plan_forward(attn_active_kernels(), attn_topology(), &d, &p);
    return p.splits;
}

static size_t plan_splits(const dcase *c)
{
    return plan_splits_dims(c->B, c->Hq, c->Hkv, c->Lq, c->Lk, c->D, c->Dv);
}

/* The plan attn_forward makes for a fixture (with its K/V strides). */
static attn_plan df_plan(const dfix *f)
{
    const dcase *c = &f->c;
    const attn_dims d = {(size_t)c->B, (size_t)c->Hq, (size_t)c->Hkv, (size_t)c->Lq,
                         (size_t)c->Lk, (size_t)c->D, (size_t)c->Dv};
    attn_plan p;
    attn_plan_call(attn_active_kernels(), attn_topology(), &d, &f->k.t, &f->v.t, &p);
    return p;
}

static void df_describe(dfix *f)
{
    const dcase *c = &f->c;
    char kv[80] = "none";
    if (c->kvlen) {
        int n = 0;
        for (int64_t b = 0; b < c->B && b < MAXB; b++)
            n += snprintf(kv + n, sizeof kv - (size_t)n, "%s%d", b ? "," : "", (int)c->kvl[b]);
    }
    const attn_plan p = df_plan(f);
    snprintf(f->desc, sizeof f->desc,
             "B=%lld Hq=%lld Hkv=%lld Lq=%lld Lk=%lld D=%lld Dv=%lld q %s k %s v %s out %s "
             "causal=%d kv_len=[%s] scale=%g layouts q%d k%d v%d o%d threads=%d bcast=%d "
             "splits=%zu heads=%zu",
             (long long)c->B, (long long)c->Hq, (long long)c->Hkv, (long long)c->Lq,
             (long long)c->Lk, (long long)c->D, (long long)c->Dv, dt_name[c->dq], dt_name[c->dk],
             dt_name[c->dv], dt_name[c->dout], c->causal, kv, (double)c->scale, c->lay[0],
             c->lay[1], c->lay[2], c->lay[3], c->threads, c->bcast, p.splits, p.heads);
}

static void df_init(dfix *f, const dcase *c, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    cr_assert_leq(c->B, MAXB);
    f->c = *c;
    tu_rng r = {seed};
    dt_make(&f->q, c->B, c->Hq, c->Lq, c->D, c->lay[0], c->dq, 0, &r, c->bcast);
    dt_make(&f->k, c->B, c->Hkv, c->Lk, c->D, c->lay[1], c->dk, 0, &r, c->bcast);
    dt_make(&f->v, c->B, c->Hkv, c->Lk, c->Dv, c->lay[2], c->dv, 0, &r, c->bcast);
    dt_make(&f->o, c->B, c->Hq, c->Lq, c->Dv, c->lay[3], c->dout, 1, &r, 0);
    tu_make(&f->lse, c->B, c->Hq, c->Lq, 1, &tu_layouts[0], TU_SENTINEL);
    if (c->kvlen) /* garbage past kv_len: never read */
        for (int64_t b = 0; b < c->B; b++)
            for (int64_t h = 0; h < c->Hkv; h++)
                for (int64_t j = c->kvl[b]; j < c->Lk; j++) {
                    for (int64_t d = 0; d < c->D; d++)
                        dt_nan(&f->k, b, h, j, d);
                    for (int64_t d = 0; d < c->Dv; d++)
                        dt_nan(&f->v, b, h, j, d);
                }
    df_describe(f);
}

/* Change the output dtype (reference and inputs unchanged). */
static void df_set_out(dfix *f, attn_dtype dout, uint64_t seed)
{
    tu_rng r = {seed};
    dt_free(&f->o);
    f->c.dout = dout;
    dt_make(&f->o, f->c.B, f->c.Hq, f->c.Lq, f->c.Dv, f->c.lay[3], dout, 1, &r, 0);
    df_describe(f);
}

static void df_ref(dfix *f)
{
    const dcase *c = &f->c;
    const ref_opts o = {ref_scale(c->scale, c->D), c->causal, c->kvlen ? c->kvl : NULL};
    free(f->ref_out);
    free(f->ref_lse);
    f->ref_out = malloc(sizeof(double) * (size_t)(tu_numel(&f->o.f.t) + 1));
    f->ref_lse = malloc(sizeof(double) * (size_t)(tu_numel(&f->lse.t) + 1));
    ref_forward(&f->q.f.t, &f->k.f.t, &f->v.f.t, &o, f->ref_out, f->ref_lse);
    f->maxv = tu_maxabs_keys(&f->v.f.t, c->kvlen ? c->kvl : NULL);
}

static void df_free(dfix *f)
{
    dt_free(&f->q);
    dt_free(&f->k);
    dt_free(&f->v);
    dt_free(&f->o);
    tu_free(&f->lse);
    free(f->ref_out);
    free(f->ref_lse);
}

static attn_status df_run(dfix *f, int threads)
{
    dt_reset_out(&f->o);
    tu_reset(&f->lse, TU_SENTINEL);
    attn_options o;
    memset(&o, 0, sizeof o);
    o.scale = f->c.scale;
    o.causal = f->c.causal;
    o.kv_len = f->c.kvlen ? f->c.kvl : NULL;
    o.lse = &f->lse.t;
    o.num_threads = threads;
    return attn_forward(&f->q.t, &f->k.t, &f->v.t, &f->o.t, &o);
}

/* The f32 tolerance of DESIGN §4, widened past 16384 keys. */
static double f32_tol(int64_t lk)
{
    return lk > 16384 ? 1e-5 * sqrt((double)lk / 16384.0) : 1e-5;
}

/* Checks the last df_run against the reference. */
static void df_check(dfix *f, const char *tag)
{
    const dcase *c = &f->c;
    const char *isa = attn_isa_name(attn_get_isa());
    char msg[400];
    cr_assert_eq(dt_collect_out(&f->o), 0, "%s [%s] %s: wrote outside the out view", tag, isa,
                 f->desc);
    double atol = f32_tol(c->Lk) * f->maxv, rtol = 0.0;
    if (c->dout == ATTN_F16)
        atol = atol * (1.0 + 0x1p-8) + 0x1p-25, rtol = 0x1p-11;
    else if (c->dout == ATTN_BF16)
        atol *= 1.0 + 0x1p-6, rtol = 0x1p-8;
    cr_assert_eq(tu_compare(&f->o.f.t, f->ref_out, atol, rtol, msg, sizeof msg), 0,
                 "%s [%s] %s: out: %s", tag, isa, f->desc, msg);
    cr_assert_eq(tu_compare(&f->lse.t, f->ref_lse, 1e-5, 1e-6, msg, sizeof msg), 0,
                 "%s [%s] %s: lse: %s", tag, isa, f->desc, msg);
    const int64_t rows = c->B * c->Hq * c->Lq;
    for (int64_t r = 0; r < rows; r++) {
        if (f->ref_lse[r] != -INFINITY)
            continue;
        const int64_t b = r / (c->Hq * c->Lq), h = r / c->Lq % c->Hq, i = r % c->Lq;
        for (int64_t d = 0; d < c->Dv; d++)
            cr_assert(*ref_ptr(&f->o.f.t, b, h, i, d) == 0.0f,
                      "%s [%s] %s: row [%lld,%lld,%lld] sees no key but out != 0", tag, isa,
                      f->desc, (long long)b, (long long)h, (long long)i);
    }
}

static void df_all_isas(dfix *f, const char *tag)
{
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    for (int i = 0; i < n; i++) {
        cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
        /* one thread unless the case asks: the split does not depend on it,
         * and small calls on a loaded machine wait on their barriers */
        const attn_status st = df_run(f, f->c.threads ? f->c.threads : 1);
        cr_assert_eq(st, ATTN_OK, "%s [%s] %s: %s (%s)", tag, attn_isa_name(isas[i]), f->desc,
                     attn_status_str(st), attn_last_error());
        df_check(f, tag);
    }
    attn_set_isa(saved);
}

static void determinism(const dcase *c, uint64_t seed);

static void run_case(const dcase *c, uint64_t seed, const char *tag)
{
    dfix f;
    df_init(&f, c, seed);
    df_ref(&f);
    df_all_isas(&f, tag);
    df_free(&f);
}

/* ------------------------------------------------------------------ lengths */

static void lengths(int64_t lq)
{
    const int64_t lks[] = {1, 7, 511, 512, 513, 4096, 20000, 100000};
    const int small = tu_small_run();
    for (size_t i = 0; i < NELEM(lks); i++) {
        const int64_t Lk = small && lks[i] > 20000 ? 30000 : lks[i];
        dcase c = dk(1, 4, 1, lq, Lk, i % 2 ? 32 : 16, i % 2 ? 16 : 32);
        c.causal = lq > 1 && i % 2;
        c.dk = c.dv = (attn_dtype)(i % 3); /* f32, f16, bf16 caches */
        c.lay[1] = c.lay[2] = i % 3 == 2 ? 3 : 0; /* a KV-cache slice */
        run_case(&c, 100 + (uint64_t)(i + 10 * lq), lq == 1 ? "Lq = 1" : "Lq = 4");
        if (Lk >= 4096) { /* the same with two K/V heads and a second batch */
            c = dk(2, 4, 2, lq, Lk, 16, 16);
            c.kvlen = 2, c.kvl[0] = (int32_t)Lk, c.kvl[1] = (int32_t)(Lk * 2 / 3 + 1);
            c.causal = lq > 1;
            run_case(&c, 150 + (uint64_t)(i + 10 * lq), "lengths, kv_len");
        }
    }
}

Test(decode, lengths_lq1) { lengths(1); }
Test(decode, lengths_lq4) { lengths(4); }

Test(decode, gqa_ratios)
{
    const int64_t g[] = {1, 4, 8, 32};
    const int64_t Lk = tu_small_run() ? 1500 : 3000;
    for (size_t i = 0; i < NELEM(g); i++)
        for (int64_t hkv = 1; hkv <= 2; hkv++)
            for (int64_t lq = 1; lq <= 4; lq += 3) {
                dcase c = dk(1, g[i] * hkv, hkv, lq, Lk, 32, 32);
                c.causal = lq > 1;
                c.lay[1] = c.lay[2] = 1; /* [B,S,H,D] cache */
                if (hkv == 1 && lq == 1) /* one row tile: split on any machine */
                    cr_assert_gt(plan_splits(&c), 1, "g=%lld Lk=%lld: no split", (long long)g[i],
                                 (long long)Lk);
                run_case(&c, 200 + i * 10 + (uint64_t)(hkv * 2 + lq), "GQA ratio");
                c.Lk = 300; /* unsplit */
                run_case(&c, 250 + i * 10 + (uint64_t)(hkv * 2 + lq), "GQA ratio, short");
            }
}

/* ------------------------------------------------------------------ head groups */

/* Caches whose heads of one key lie side by side ([B,S,H,D], a slice of
 * one): decode items span several K/V heads (plan.heads > 1; rows of every
 * head of the item interleaved with the others' blocks). Every GQA ratio,
 * K/V dtype, split or not, kv_len per batch, against the reference. */
Test(decode, head_groups_over_interleaved_caches)
{
    const int64_t hkvs[] = {2, 3, 8, 32};
    const int64_t lks[] = {1, 45, 700, 2500};
    size_t grouped = 0, cases = 0;
    for (size_t i = 0; i < NELEM(hkvs); i++)
        for (size_t j = 0; j < NELEM(lks); j++)
            for (int64_t g = 1; g <= 4; g += 3) {
                const int64_t lq = (i + j) % 2 ? 4 : 1;
                dcase c = dk(2, g * hkvs[i], hkvs[i], lq, lks[j], 16, 24);
                c.causal = lq > 1;
                c.lay[1] = c.lay[2] = (i + j + (size_t)g) % 2 ? 3 : 1;
                c.dk = (attn_dtype)((i + j) % 3), c.dv = (attn_dtype)((i + j + 1) % 3);
                if (j % 2)
                    c.kvlen = 2, c.kvl[0] = (int32_t)lks[j], c.kvl[1] = (int32_t)(lks[j] * 2 / 3);
                dfix f;
                df_init(&f, &c, 1000 + i * 100 + j * 10 + (uint64_t)g);
                const attn_plan p = df_plan(&f);
                cr_assert_eq(c.Hkv % (int64_t)p.heads, 0, "%s: %zu heads per item", f.desc,
                             p.heads);
                grouped += p.heads > 1;
                cases++;
                df_ref(&f);
                df_all_isas(&f, "head groups");
                df_free(&f);
            }
    /* on a machine of up to 9 cores the 2500-key cases of 32 heads group */
    if (attn_topology()->physical_cores <= 9)
        cr_assert_gt(grouped, 0, "no case of %zu used head groups", cases);
}

/* One case that groups on a machine of up to 64 cores (Lk / 128 chunks of
 * 8 heads: 257 items), split, with a 16-bit cache; and its bits do not
 * depend on the thread count. */
Test(decode, head_groups_long_cache_and_every_thread_count)
{
    dcase c = dk(1, 32, 8, 1, tu_small_run() ? 4100 : 33000, 16, 16);
    c.lay[1] = c.lay[2] = 1;
    c.dk = ATTN_F16, c.dv = ATTN_BF16;
    dfix f;
    df_init(&f, &c, 1500);
    const attn_plan p = df_plan(&f);
    if (!tu_small_run() || attn_topology()->physical_cores <= 8)
        cr_assert(p.heads > 1 && p.splits > 1, "%s: heads %zu splits %zu", f.desc, p.heads,
                  p.splits);
    df_ref(&f);
    df_all_isas(&f, "head groups, long");
    df_free(&f);
    c.Lk = 5000;
    determinism(&c, 1501);
}

/* The planner itself on made-up machines: groups leave every core work, a
 * block of all the group's heads fits a quarter of L2, and a whole key's
 * heads go to one item when there is work enough (S4, S5 on 2 cores). */
Test(decode, head_group_plans_on_other_machines)
{
    const int cores[] = {1, 2, 16, 64, 256};
    const size_t shapes[][7] = {
        {1, 32, 32, 1, 4096, 128, 128}, /* S4 */
        {1, 32, 8, 1, 8192, 128, 128},  /* S5 */
        {16, 32, 8, 1, 2048, 128, 128}, /* a batch of sequences */
        {1, 8, 8, 1, 200, 64, 64},      /* short */
        {1, 64, 4, 4, 30000, 128, 128}, /* speculative rows, GQA 16 */
    };
    const size_t elt[] = {4, 2};
    for (size_t ci_i = 0; ci_i < NELEM(cores); ci_i++)
        for (size_t s = 0; s < NELEM(shapes); s++)
            for (size_t e = 0; e < NELEM(elt); e++) {
                attn_cpu_info ci = *attn_topology();
                ci.physical_cores = cores[ci_i];
                ci.l1d_bytes = 48 << 10, ci.l2_bytes = 2 << 20;
                const attn_dims d = {shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3],
                                     shapes[s][4], shapes[s][5], shapes[s][6]};
                attn_plan p;
                attn_plan_forward(attn_active_kernels(), &ci, &d, &p);
                cr_assert_eq(p.heads, 1);
                const attn_plan flat = p;
                const size_t row = (d.D + d.Dv) * elt[e];
                attn_plan_head_groups(&ci, &d, row, &p);
                const size_t tiles = d.B * ((d.Lq + p.rows - 1) / p.rows);
                const size_t items = tiles * (d.Hkv / p.heads) * p.splits;
                char what[120];
                snprintf(what, sizeof what, "cores %d shape %zu elt %zu: heads %zu kc %zu splits %zu",
                         cores[ci_i], s, elt[e], p.heads, p.kc, p.splits);
                cr_assert(flat.direct == p.direct && flat.rows == p.rows, "%s", what);
                cr_assert_eq(d.Hkv % p.heads, 0, "%s", what);
                cr_assert(p.splits * p.chunk >= d.Lk && (p.splits - 1) * p.chunk < d.Lk &&
                              p.chunk % p.kc == 0 && p.kc % 16 == 0, "%s", what);
                if (p.heads == 1) {
                    cr_assert(p.kc == flat.kc && p.splits == flat.splits, "%s", what);
                    continue;
                }
                cr_assert_geq(items, (size_t)cores[ci_i], "%s: %zu items", what, items);
                cr_assert(p.kc == 16 || p.kc * p.heads * row <= (2u << 20) / 4, "%s", what);
                cr_assert_leq(p.kc, flat.kc, "%s", what);
            }
    /* S4 and S5 on 2 cores: one item holds every head of its keys */
    attn_cpu_info ci = *attn_topology();
    ci.physical_cores = 2, ci.l1d_bytes = 48 << 10, ci.l2_bytes = 2 << 20;
    for (size_t s = 0; s < 2; s++) {
        const attn_dims d = {shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3],
                             shapes[s][4], shapes[s][5], shapes[s][6]};
        attn_plan p;
        attn_plan_forward(attn_active_kernels(), &ci, &d, &p);
        attn_plan_head_groups(&ci, &d, (d.D + d.Dv) * 4, &p);
        cr_assert_eq(p.heads, d.Hkv, "shape %zu: %zu heads", s, p.heads);
    }
}

/* ------------------------------------------------------------------ dtypes */

/* Every q/k/v dtype mix (the reference once per input mix) × every out dtype. */
static void dtype_mixes(int64_t Lk, int want_split, uint64_t seed)
{
    const attn_dtype dts[] = {ATTN_F32, ATTN_F16, ATTN_BF16};
    for (int mix = 0; mix < 27; mix++) {
        dcase c = dk(1, 8, 1, mix % 2 ? 1 : 4, Lk, 32, 24);
        c.dq = dts[mix % 3], c.dk = dts[mix / 3 % 3], c.dv = dts[mix / 9];
        c.causal = mix % 2;
        c.scale = mix % 4 == 1 ? 0.3f : 0.0f; /* the scale is applied in f32 */
        c.lay[0] = mix % 2, c.lay[1] = c.lay[2] = mix % 5 == 0 ? 3 : 1, c.lay[3] = mix % 3 ? 0 : 2;
        c.kvlen = mix % 3 == 2;
        c.kvl[0] = (int32_t)(Lk - Lk / 3);
        if (c.Lq == 1 || !want_split) /* Lq = 4: split unless the machine has one core */
            cr_assert_eq(plan_splits(&c) > 1, want_split, "Lk = %lld: split %zu", (long long)Lk,
                         plan_splits(&c));
        dfix f;
        df_init(&f, &c, seed + (uint64_t)mix);
        df_ref(&f);
        for (int o = 0; o < 3; o++) {
            df_set_out(&f, dts[o], seed + 100 + (uint64_t)o);
            df_all_isas(&f, want_split ? "dtype mix, split" : "dtype mix, unsplit");
        }
        df_free(&f);
    }
}

Test(decode, every_dtype_mix_split) { dtype_mixes(1500, 1, 300); }
Test(decode, every_dtype_mix_unsplit) { dtype_mixes(333, 0, 400); }

/* 16-bit q/k/v/out with head dims that leave tails in every vector width. */
Test(decode, half_dtypes_odd_head_dims)
{
    const int64_t dd[][2] = {{1, 1}, {3, 5}, {17, 33}, {80, 7}, {96, 128}, {256, 256}};
    const attn_dtype h16[] = {ATTN_F16, ATTN_BF16};
    for (size_t i = 0; i < NELEM(dd); i++)
        for (int t = 0; t < 2; t++)
            for (int64_t lk = 77; lk <= 1100; lk += 1023) {
                dcase c = dk(1, 4, 1, 1 + 3 * (int64_t)t, lk, dd[i][0], dd[i][1]);
                c.dq = h16[t], c.dk = h16[1 - t], c.dv = h16[t], c.dout = h16[(i + (size_t)t) % 2];
                c.lay[0] = 2, c.lay[1] = c.lay[2] = 4, c.lay[3] = 2; /* padded, odd pitches */
                c.causal = t;
                run_case(&c, 580 + i * 4 + (uint64_t)(t * 2) + (lk > 77), "odd head dims, 16-bit");
            }
}

/* Calls from several threads at once (each with its own split decode shape,
 * the thread-local workspace cache, OpenMP inside): every result equals the
 * one computed alone, bit for bit. */
typedef struct conc_job {
    dfix *f;
    int rounds, ok;
    unsigned char *want; /* the out bytes of the solo run */
    size_t nbytes;
} conc_job;

static void *conc_thread(void *arg)
{
    conc_job *j = arg;
    j->ok = 1;
    for (int r = 0; r < j->rounds && j->ok; r++) {
        if (df_run(j->f, 1 + r % 2) != ATTN_OK)
            j->ok = 0;
        const void *out = j->f->o.h ? (const void *)j->f->o.h : (const void *)j->f->o.f.mem;
        if (memcmp(out, j->want, j->nbytes) != 0)
            j->ok = 0;
    }
    return NULL;
}

Test(decode, concurrent_calls_from_many_threads)
{
    enum { NT = 4 };
    dfix f[NT];
    conc_job jobs[NT];
    pthread_t th[NT];
    for (int t = 0; t < NT; t++) {
        dcase c = dk(1, 4 * (t + 1), t % 2 + 1, t % 2 ? 4 : 1, 1500 + 700 * t, 16 + 16 * t, 24);
        c.dk = c.dv = (attn_dtype)(t % 3);
        c.dout = (attn_dtype)((t + 1) % 3);
        c.causal = t % 2;
        df_init(&f[t], &c, 1200 + (uint64_t)t);
        cr_assert_eq(df_run(&f[t], 1), ATTN_OK, "%s", attn_last_error());
        jobs[t].f = &f[t];
        jobs[t].rounds = 6;
        jobs[t].nbytes = f[t].o.h ? f[t].o.f.n * 2 : f[t].o.f.n * 4;
        jobs[t].want = malloc(jobs[t].nbytes);
        memcpy(jobs[t].want, f[t].o.h ? (const void *)f[t].o.h : (const void *)f[t].o.f.mem,
               jobs[t].nbytes);
    }
    for (int t = 0; t < NT; t++)
        cr_assert_eq(pthread_create(&th[t], NULL, conc_thread, &jobs[t]), 0);
    for (int t = 0; t < NT; t++)
        cr_assert_eq(pthread_join(th[t], NULL), 0);
    for (int t = 0; t < NT; t++) {
        cr_assert(jobs[t].ok, "%s: a call made alongside others differs from the solo call",
                  f[t].desc);
        df_ref(&f[t]);
        df_check(&f[t], "concurrent");
        free(jobs[t].want);
        df_free(&f[t]);
    }
}

/* Calls made from inside the caller's own OpenMP parallel region run on the
 * calling thread only; results are the same as the call made alone. */
Test(decode, calls_from_inside_an_openmp_region)
{
#ifdef _OPENMP
    enum { NT = 3 };
    dfix f[NT];
    unsigned char *want[NT];
    size_t nb[NT];
    for (int t = 0; t < NT; t++) {
        dcase c = dk(1, 8, 1, 1 + 3 * (t % 2), 2000 + 500 * t, 32, 32);
        c.dv = (attn_dtype)t;
        df_init(&f[t], &c, 1250 + (uint64_t)t);
        cr_assert_eq(df_run(&f[t], 0), ATTN_OK, "%s", attn_last_error());
        nb[t] = f[t].o.h ? f[t].o.f.n * 2 : f[t].o.f.n * 4;
        want[t] = malloc(nb[t]);
        memcpy(want[t], f[t].o.h ? (const void *)f[t].o.h : (const void *)f[t].o.f.mem, nb[t]);
    }
    int ok[NT] = {0};
    #pragma omp parallel for num_threads(NT) schedule(static, 1)
    for (int t = 0; t < NT; t++) {
        ok[t] = 1;
        for (int r = 0; r < 3; r++) {
            ok[t] &= df_run(&f[t], 0) == ATTN_OK;
            ok[t] &= memcmp(f[t].o.h ? (const void *)f[t].o.h : (const void *)f[t].o.f.mem,
                            want[t], nb[t]) == 0;
        }
    }
    for (int t = 0; t < NT; t++) {
        cr_assert(ok[t], "%s: called inside an OpenMP region: differs from the call alone",
                  f[t].desc);
        free(want[t]);
        df_free(&f[t]);
    }
#else
    cr_skip_test("tests built without OpenMP");
#endif
}

/* An exactly representable value v (a small integer) into both views. */
static void dt_set(dten *x, int64_t b, int64_t h, int64_t s, int64_t d, float v)
{
    float *p = ref_ptr(&x->f.t, b, h, s, d);
    *p = v;
    if (!x->h)
        return;
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    uint16_t bits = (uint16_t)(u >> 16); /* bf16: exact for small integers */
    if (x->t.dtype == ATTN_F16) {
        static const uint16_t ints[] = {0x0000, 0x3C00, 0x4000, 0x4200};
        bits = (uint16_t)(ints[(int)fabsf(v)] | (v < 0 ? 0x8000 : 0));
    }
    x->h[p - x->f.mem] = bits;
}

/* Exact integer scores up to ±144 (scale 1): every row's softmax is
 * nearly one-hot and the chunks of a split row have maxima far apart, so
 * their merge weights underflow to 0. */
Test(decode, peaked_scores_split_and_merged)
{
    for (int v = 0; v < 6; v++) {
        dcase c = dk(1, 4, 1, v % 2 ? 4 : 1, 3000 + 1111 * (v / 2), 16, 16);
        c.scale = 1.0f;
        c.dq = c.dk = (attn_dtype)(v / 2);
        c.causal = v % 2;
        dfix f;
        df_init(&f, &c, 1300 + (uint64_t)v);
        tu_rng r = {1310 + (uint64_t)v};
        for (int64_t h = 0; h < c.Hq; h++)
            for (int64_t i = 0; i < c.Lq; i++)
                for (int64_t d = 0; d < c.D; d++)
                    dt_set(&f.q, 0, h, i, d, (float)tu_int(&r, -3, 3));
        for (int64_t j = 0; j < c.Lk; j++)
            for (int64_t d = 0; d < c.D; d++)
                dt_set(&f.k, 0, 0, j, d, (float)tu_int(&r, -3, 3));
        df_ref(&f);
        df_all_isas(&f, "peaked scores");
        df_free(&f);
    }
}

/* A 16-bit NaN in K or V at key j0 of a split decode reaches exactly the
 * rows that see j0 (causal speculative rows: the last ones only). */
/* Hq 4 : Hkv 1 puts one query position in a decode tile (its 4 heads see
 * the same keys); Hq = Hkv = 1 puts the 4 positions in one tile, so the
 * last keys are masked for some of its rows: a NaN there must stay out of
 * them (16-bit V is read in place there, and tested for NaN in place). */
Test(decode, nan_in_16_bit_kv_reaches_exactly_the_rows_that_see_it)
{
    const int64_t Lk = 2000;
    const int64_t j0s[] = {0, 777, Lk - 3, Lk - 2, Lk - 1};
    for (int hq = 1; hq <= 4; hq += 3)
        for (int dt = 1; dt <= 2; dt++)
            for (int in_k = 0; in_k <= 1; in_k++)
                for (size_t jj = 0; jj < NELEM(j0s); jj++) {
                    dcase c = dk(1, hq, 1, 4, Lk, 16, 16);
                    c.dk = c.dv = (attn_dtype)dt;
                    c.causal = 1;
                    dfix f;
                    df_init(&f, &c,
                            1350 + jj * 4 + (uint64_t)(dt * 2 + in_k) + (uint64_t)hq * 100);
                    if (in_k)
                        dt_nan(&f.k, 0, 0, j0s[jj], 5);
                    else
                        for (int64_t d = 0; d < c.Dv; d++)
                            dt_nan(&f.v, 0, 0, j0s[jj], d);
                    df_ref(&f);
                    df_all_isas(&f, in_k ? "16-bit NaN in K" : "16-bit NaN in V");
                    df_free(&f);
                }
}

/* ------------------------------------------------------------------ wide decode tiles */

/* Whether the active kernel set plans the fixture's tiles as direct tiles
 * of more rows per K/V head than qk_direct takes at once (several row
 * blocks sweep each K/V block: the first copies the V rows it sees, a later
 * one only those past them, and the block's NaN test is redone over both). */
static int wide_direct(const dfix *f)
{
    const attn_plan p = df_plan(f);
    return p.direct && p.rows * (size_t)(f->c.Hq / f->c.Hkv) > attn_active_kernels()->qk_direct.mr;
}

/* Decode tiles of up to twice qk_direct's mr rows (speculative positions ×
 * a GQA group, or a wide group): every K/V dtype, [B,H,S,D] and [B,S,H,D]
 * caches, split and not, against the reference; NaN in V at the last keys,
 * which only the last positions see (the second row block's keys: a V test
 * kept from the first row block would let 0·NaN into the rows that mask
 * them); bitwise the same for every thread count. Every kernel set must
 * plan some case as such a tile on a machine of up to 8 cores. */
Test(decode, wide_direct_tiles)
{
    typedef struct { int64_t Hq, Hkv, Lq, Lk; } wshape;
    const wshape sh[] = {{16, 1, 1, 2000}, {32, 8, 4, 700}, {8, 8, 16, 300},
                         {12, 4, 3, 1100}, {24, 2, 1, 600}};
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    int wide[4] = {0};
    for (size_t i = 0; i < NELEM(sh); i++)
        for (int v = 0; v < 3; v++) {
            dcase c = dk(1, sh[i].Hq, sh[i].Hkv, sh[i].Lq, sh[i].Lk, 16, 24);
            c.causal = sh[i].Lq > 1;
            c.dk = (attn_dtype)v, c.dv = (attn_dtype)((v + (int)i) % 3);
            c.lay[1] = c.lay[2] = (i + (size_t)v) % 2 ? 1 : 0;
            for (int nan = 0; nan <= 1; nan++) {
                dfix f;
                df_init(&f, &c, 1700 + i * 10 + (uint64_t)(v * 2 + nan));
                if (nan) /* K/V head 0: key Lk − 1 (last position), Lk − 3 */
                    for (int64_t d = 0; d < c.Dv; d++) {
                        dt_nan(&f.v, 0, 0, c.Lk - 1, d);
                        dt_nan(&f.v, 0, 0, c.Lk - 3, d);
                    }
                df_ref(&f);
                for (int a = 0; a < n; a++) {
                    cr_assert_eq(attn_set_isa(isas[a]), ATTN_OK);
                    wide[a] += wide_direct(&f);
                    const attn_status st = df_run(&f, 1 + (int)(i % 2));
                    cr_assert_eq(st, ATTN_OK, "%s", attn_last_error());
                    df_check(&f, nan ? "wide decode tiles, NaN in V" : "wide decode tiles");
                }
                attn_set_isa(saved);
                df_free(&f);
            }
        }
    if (attn_topology()->physical_cores <= 8)
        for (int a = 0; a < n; a++)
            cr_assert_gt(wide[a], 0, "[%s] no case planned as a wide direct tile",
                         attn_isa_name(isas[a]));
    dcase c = dk(1, 32, 8, 4, 900, 16, 16);
    c.causal = 1, c.dk = ATTN_BF16;
    determinism(&c, 1790);
}

/* ------------------------------------------------------------------ split vs unsplit */

/* The smallest broadcast batch count whose plan does not split the keys on
 * any of the kernel sets (the split threshold follows the machine's cores). */
static int64_t unsplit_batches(const dcase *c)
{
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    int64_t B = 1;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
        while (B < 4096 &&
               plan_splits_dims(B, c->Hq, c->Hkv, c->Lq, c->Lk, c->D, c->Dv) > 1)
            B *= 2;
    }
    attn_set_isa(saved);
    return B;
}

/* One shape that splits its keys, and the same data read as a many-batch
 * broadcast (stride[0] = 0) that does not: both equal the reference. */
Test(decode, split_and_unsplit_paths_agree)
{
    const int64_t lks[] = {1023, 1024, 1500, 4096, 9000};
    const attn_dtype kv[] = {ATTN_F32, ATTN_F16, ATTN_BF16};
    for (size_t i = 0; i < NELEM(lks); i++)
        for (int64_t lq = 1; lq <= 4; lq += 3) {
            const attn_dtype dt = kv[(i + (size_t)lq) % 3];
            dcase c = dk(1, 4, 1, lq, lks[i], 32, 32);
            c.dk = c.dv = dt;
            c.causal = lq > 1;
            c.threads = (int)(i % 3);
            const size_t s1 = plan_splits(&c);
            if (lq == 1 || lks[i] < 1024)
                cr_assert_eq(s1 > 1, lks[i] >= 1024, "Lk = %lld, one row tile: splits = %zu",
                             (long long)lks[i], s1);
            dfix f;
            df_init(&f, &c, 500 + i * 4 + (uint64_t)lq);
            df_ref(&f);
            df_all_isas(&f, "split path");

            /* the same data, as many batches of it as it takes not to split */
            const int64_t B = lks[i] >= 1024 ? unsplit_batches(&c) : 3;
            dfix g;
            memset(&g, 0, sizeof g);
            g.c = c;
            g.c.B = B;
            g.c.bcast = 1;
            g.q = f.q, g.k = f.k, g.v = f.v;
            dten *in[] = {&g.q, &g.k, &g.v};
            for (int t = 0; t < 3; t++) {
                in[t]->t.shape[0] = in[t]->f.t.shape[0] = B;
                in[t]->t.stride[0] = in[t]->f.t.stride[0] = 0;
            }
            tu_rng r = {9};
            dt_make(&g.o, B, c.Hq, lq, c.Dv, 0, ATTN_F32, 1, &r, 0);
            tu_make(&g.lse, B, c.Hq, lq, 1, &tu_layouts[0], TU_SENTINEL);
            df_describe(&g);
            /* every batch holds batch 0's data: its reference is f's */
            g.ref_out = malloc(sizeof(double) * (size_t)tu_numel(&g.o.f.t));
            g.ref_lse = malloc(sizeof(double) * (size_t)tu_numel(&g.lse.t));
            const int64_t per = c.Hq * lq * c.Dv, perl = c.Hq * lq;
            for (int64_t b = 0; b < B; b++) {
                memcpy(g.ref_out + b * per, f.ref_out, sizeof(double) * (size_t)per);
                memcpy(g.ref_lse + b * perl, f.ref_lse, sizeof(double) * (size_t)perl);
            }
            g.maxv = f.maxv;
            df_all_isas(&g, "unsplit path (broadcast batches)");
            dt_free(&g.o);
            tu_free(&g.lse);
            free(g.ref_out);
            free(g.ref_lse);
            df_free(&f);
        }
}

/* ------------------------------------------------------------------ kv_len */

Test(decode, kv_len_per_batch)
{
    const int64_t Lk = tu_small_run() ? 2500 : 5000;
    const int32_t lens[][4] = {{0, (int32_t)Lk, 1537, 513},
                               {1, 1023, 1024, 1025},
                               {(int32_t)Lk - 1, 0, 0, 4000 % (int32_t)Lk},
                               {511, 2049, 777, 3}};
    for (size_t i = 0; i < NELEM(lens); i++)
        for (int64_t lq = 1; lq <= 4; lq += 3)
            for (int causal = 0; causal <= (lq > 1); causal++) {
                dcase c = dk(4, 4, 2, lq, Lk, 16, 16);
                c.kvlen = 2;
                memcpy(c.kvl, lens[i], sizeof lens[i]);
                c.causal = causal;
                c.dk = c.dv = (attn_dtype)(i % 3);
                c.lay[1] = c.lay[2] = 3;
                run_case(&c, 600 + i * 8 + (uint64_t)(lq * 2 + causal), "kv_len per batch");
            }
}

/* Keys at or past kv_len sit on PROT_NONE pages: the split path (chunks,
 * pack kernels, 16-bit widening) must not read a byte of them. */
typedef struct guarded {
    void *map;
    size_t len;
    char *data;
} guarded;

static guarded guarded_alloc(size_t valid, size_t total)
{
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    const size_t vb = (valid + pg - 1) / pg * pg + pg;
    const size_t rest = (total - valid + pg - 1) / pg * pg + pg;
    guarded g;
    g.len = vb + rest;
    g.map = mmap(NULL, g.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(g.map, MAP_FAILED);
    cr_assert_eq(mprotect((char *)g.map + vb, rest, PROT_NONE), 0);
    g.data = (char *)g.map + vb - valid;
    return g;
}

Test(decode, keys_past_kv_len_are_never_read_when_split)
{
    const int64_t Lk = 4000, D = 24, Dv = 40;
    const int32_t lens[] = {0, 1, 511, 1537, 3999};
    attn_isa isas[4];
    const int nisa = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    for (size_t il = 0; il < NELEM(lens); il++)
        for (int dt = 0; dt < 3; dt++)
            for (int64_t lq = 1; lq <= 4; lq += 3) {
                dcase c = dk(1, 4, 1, lq, Lk, D, Dv);
                c.dk = c.dv = (attn_dtype)dt;
                c.kvlen = 2;
                c.kvl[0] = lens[il];
                c.causal = lq > 1;
                if (lq == 1)
                    cr_assert_gt(plan_splits(&c), 1);
                dfix f;
                df_init(&f, &c, 700 + il * 8 + (uint64_t)(dt * 2 + lq));
                df_ref(&f);
                const size_t es = dt ? 2 : 4;
                guarded gk = guarded_alloc((size_t)(lens[il] * D) * es, (size_t)(Lk * D) * es);
                guarded gv = guarded_alloc((size_t)(lens[il] * Dv) * es, (size_t)(Lk * Dv) * es);
                memcpy(gk.data, f.k.t.data, (size_t)(lens[il] * D) * es);
                memcpy(gv.data, f.v.t.data, (size_t)(lens[il] * Dv) * es);
                void *kd = f.k.t.data, *vd = f.v.t.data;
                f.k.t.data = gk.data;
                f.v.t.data = gv.data;
                for (int i = 0; i < nisa; i++) {
                    cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
                    const attn_status st = df_run(&f, 0);
                    cr_assert_eq(st, ATTN_OK, "[%s] %s: %s", attn_isa_name(isas[i]), f.desc,
                                 attn_last_error());
                    df_check(&f, "guarded kv_len, split");
                }
                f.k.t.data = kd;
                f.v.t.data = vd;
                munmap(gk.map, gk.len);
                munmap(gv.map, gv.len);
                df_free(&f);
            }
    attn_set_isa(saved);
}

/* ------------------------------------------------------------------ determinism */

static void determinism(const dcase *c, uint64_t seed)
{
    static const int threads[] = {1, 2, 3, 8, 0, 5};
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    dfix f;
    df_init(&f, c, seed);
    const size_t ob = f.o.h ? f.o.f.n * 2 : f.o.f.n * 4;
    unsigned char *o1 = malloc(ob);
    float *l1 = malloc(f.lse.n * sizeof(float));
    for (int i = 0; i < n; i++) {
        cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
        for (size_t t = 0; t < NELEM(threads); t++) {
            cr_assert_eq(df_run(&f, threads[t]), ATTN_OK, "%s", attn_last_error());
            const void *out = f.o.h ? (const void *)f.o.h : (const void *)f.o.f.mem;
            if (t == 0) {
                memcpy(o1, out, ob);
                memcpy(l1, f.lse.mem, f.lse.n * sizeof(float));
                continue;
            }
            cr_assert(memcmp(o1, out, ob) == 0 &&
                          memcmp(l1, f.lse.mem, f.lse.n * sizeof(float)) == 0,
                      "[%s] %s: num_threads %d differs bitwise from num_threads 1",
                      attn_isa_name(isas[i]), f.desc, threads[t]);
        }
    }
    attn_set_isa(saved);
    free(o1);
    free(l1);
    df_free(&f);
}

Test(decode, bitwise_identical_for_every_thread_count_when_split)
{
    dcase c = dk(1, 8, 1, 1, 6000, 32, 32);
    cr_assert_gt(plan_splits(&c), 1);
    determinism(&c, 800);
    c = dk(2, 8, 2, 4, 3000, 16, 24);
    c.causal = 1;
    c.kvlen = 2, c.kvl[0] = 3000, c.kvl[1] = 1700;
    c.dk = ATTN_F16, c.dv = ATTN_BF16, c.dout = ATTN_F16;
    determinism(&c, 801); /* split unless the machine has one core */
    c = dk(1, 32, 1, 1, 2048, 16, 16); /* GQA 32 */
    c.dq = ATTN_BF16, c.dout = ATTN_BF16;
    cr_assert_gt(plan_splits(&c), 1);
    determinism(&c, 802);
}

/* ------------------------------------------------------------------ attn_merge */

typedef struct shards {
    int n;
    int64_t k0[8], len[8];
} shards;

/* Random cut points over [0, Lk) into n shards, some of them empty. */
static shards cut(tu_rng *r, int n, int64_t Lk, int with_empty)
{
    shards s;
    s.n = n;
    int64_t pts[9];
    pts[0] = 0, pts[n] = Lk;
    for (int c = 1; c < n; c++)
        pts[c] = tu_int(r, 0, Lk);
    for (int a = 1; a < n; a++) /* sort */
        for (int b = a; b > 1 && pts[b] < pts[b - 1]; b--) {
            const int64_t t = pts[b];
            pts[b] = pts[b - 1], pts[b - 1] = t;
        }
    if (with_empty && n == 2)
        pts[1] = 0; /* shard 0 empty */
    if (with_empty && n >= 3)
        pts[2] = pts[1]; /* shard 1 empty */
    if (with_empty && n >= 5)
        pts[n - 1] = Lk; /* the last shard empty too */
    for (int c = 0; c < n; c++) {
        s.k0[c] = pts[c];
        s.len[c] = pts[c + 1] - pts[c];
    }
    return s;
}

/* A view of keys [k0, k0 + len) of a K/V tensor. */
static attn_tensor key_range(const attn_tensor *t, int64_t k0, int64_t len)
{
    attn_tensor v = *t;
    v.data = (float *)t->data + k0 * t->stride[2];
    v.shape[2] = len;
    return v;
}

static void merge_case(int n, int with_empty, int causal, int64_t Lk, int64_t Dv, uint64_t seed)
{
    const int64_t B = 2, Hq = 4, Hkv = 2, Lq = 4, D = 16;
    tu_rng r = {seed};
    tu_tensor q, k, v, full, full_lse, mo, ml;
    tu_make(&q, B, Hq, Lq, D, &tu_layouts[0], TU_NAN_BITS);
    tu_make(&k, B, Hkv, Lk, D, &tu_layouts[1], TU_NAN_BITS);
    tu_make(&v, B, Hkv, Lk, Dv, &tu_layouts[1], TU_NAN_BITS);
    tu_fill_view(&q, &r, -1, 1);
    tu_fill_view(&k, &r, -1, 1);
    tu_fill_view(&v, &r, -1, 1);
    tu_make(&full, B, Hq, Lq, Dv, &tu_layouts[0], TU_SENTINEL);
    tu_make(&full_lse, B, Hq, Lq, 1, &tu_layouts[0], TU_SENTINEL);
    tu_make(&mo, B, Hq, Lq, Dv, &tu_layouts[2], TU_SENTINEL);
    tu_make(&ml, B, Hq, Lq, 1, &tu_layouts[0], TU_SENTINEL);
    /* causal shards: a bottom-right causal mask as a [1, 1, Lq, Lk] bias */
    float *cb = malloc(sizeof(float) * (size_t)(Lq * Lk + 1));
    for (int64_t i = 0; i < Lq; i++)
        for (int64_t j = 0; j < Lk; j++)
            cb[i * Lk + j] = j <= i + Lk - Lq ? 0.0f : -INFINITY;
    const attn_tensor cbias = {cb, ATTN_F32, {1, 1, Lq, Lk}, {0, 0, Lk, 1}};

    const ref_opts ro = {ref_scale(0.0f, D), causal, NULL};
    double *rout = malloc(sizeof(double) * (size_t)(B * Hq * Lq * Dv));
    double *rlse = malloc(sizeof(double) * (size_t)(B * Hq * Lq));
    ref_forward(&q.t, &k.t, &v.t, &ro, rout, rlse);
    const double tol = 1e-5 * tu_maxabs_keys(&v.t, NULL);

    const shards s = cut(&r, n, Lk, with_empty);
    tu_tensor outs[8], lses[8];
    attn_tensor to[8], tl[8];
    for (int c = 0; c < n; c++) {
        tu_make(&outs[c], B, Hq, Lq, Dv, &tu_layouts[c % TU_NLAYOUTS], TU_SENTINEL);
        tu_make(&lses[c], B, Hq, Lq, 1, &tu_layouts[c % 2 ? 0 : 2], TU_SENTINEL);
    }
    char desc[300];
    int dn = snprintf(desc, sizeof desc, "merge n=%d causal=%d Lk=%lld Dv=%lld shards", n, causal,
                      (long long)Lk, (long long)Dv);
    for (int c = 0; c < n; c++)
        dn += snprintf(desc + dn, sizeof desc - (size_t)dn, " [%lld,+%lld)", (long long)s.k0[c],
                       (long long)s.len[c]);

    attn_isa isas[4];
    const int nisa = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    char msg[400];
    for (int ii = 0; ii < nisa; ii++) {
        const char *isa = attn_isa_name(isas[ii]);
        cr_assert_eq(attn_set_isa(isas[ii]), ATTN_OK);
        attn_options o;
        memset(&o, 0, sizeof o);
        o.causal = causal;
        o.lse = &full_lse.t;
        o.num_threads = 1 + n % 2;
        cr_assert_eq(attn_forward(&q.t, &k.t, &v.t, &full.t, &o), ATTN_OK, "%s",
                     attn_last_error());
        for (int c = 0; c < n; c++) {
            const attn_tensor kc = key_range(&k.t, s.k0[c], s.len[c]);
            const attn_tensor vc = key_range(&v.t, s.k0[c], s.len[c]);
            attn_tensor bc = cbias; /* columns [k0, k0 + len) of the causal bias */
            bc.data = cb + s.k0[c];
            bc.shape[3] = s.len[c];
            attn_options so;
            memset(&so, 0, sizeof so);
            so.lse = &lses[c].t;
            so.num_threads = 1;
            so.bias = causal ? &bc : NULL;
            tu_reset(&outs[c], TU_SENTINEL);
            tu_reset(&lses[c], TU_SENTINEL);
            cr_assert_eq(attn_forward(&q.t, &kc, &vc, &outs[c].t, &so), ATTN_OK,
                         "[%s] %s: shard %d: %s", isa, desc, c, attn_last_error());
            if (s.len[c] == 0) { /* an empty shard: out 0, lse −inf */
                for (int64_t e = 0; e < B * Hq * Lq; e++) {
                    const int64_t b = e / (Hq * Lq), h = e / Lq % Hq, i = e % Lq;
                    cr_assert(*ref_ptr(&lses[c].t, b, h, i, 0) == -INFINITY,
                              "[%s] %s: empty shard lse != -inf", isa, desc);
                    for (int64_t d = 0; d < Dv; d++)
                        cr_assert(*ref_ptr(&outs[c].t, b, h, i, d) == 0.0f,
                                  "[%s] %s: empty shard out != 0", isa, desc);
                }
            }
            to[c] = outs[c].t;
            tl[c] = lses[c].t;
        }
        /* merged == reference == one full call */
        tu_reset(&mo, TU_SENTINEL);
        tu_reset(&ml, TU_SENTINEL);
        cr_assert_eq(attn_merge(to, tl, n, &mo.t, &ml.t), ATTN_OK, "[%s] %s: %s", isa, desc,
                     attn_last_error());
        cr_assert_eq(tu_compare(&mo.t, rout, 2 * tol, 0.0, msg, sizeof msg), 0,
                     "[%s] %s: merged out vs reference: %s", isa, desc, msg);
        cr_assert_eq(tu_compare(&ml.t, rlse, 1e-5, 1e-6, msg, sizeof msg), 0,
                     "[%s] %s: merged lse vs reference: %s", isa, desc, msg);
        cr_assert_eq(tu_outside_changed(&mo, TU_SENTINEL), 0, "[%s] %s: merge wrote outside",
                     isa, desc);
        cr_assert_eq(tu_compare(&full.t, rout, tol, 0.0, msg, sizeof msg), 0,
                     "[%s] %s: full call vs reference: %s", isa, desc, msg);
        double *fo = malloc(sizeof(double) * (size_t)(B * Hq * Lq * Dv));
        double *fl = malloc(sizeof(double) * (size_t)(B * Hq * Lq));
        for (int64_t e = 0; e < B * Hq * Lq; e++) {
            const int64_t b = e / (Hq * Lq), h = e / Lq % Hq, i = e % Lq;
            fl[e] = *ref_ptr(&full_lse.t, b, h, i, 0);
            for (int64_t d = 0; d < Dv; d++)
                fo[e * Dv + d] = *ref_ptr(&full.t, b, h, i, d);
        }
        cr_assert_eq(tu_compare(&mo.t, fo, 2 * tol, 0.0, msg, sizeof msg), 0,
                     "[%s] %s: merged out vs one full call: %s", isa, desc, msg);
        cr_assert_eq(tu_compare(&ml.t, fl, 1e-5, 0.0, msg, sizeof msg), 0,
                     "[%s] %s: merged lse vs one full call: %s", isa, desc, msg);
        /* lse NULL gives the same out, bit for bit */
        float *keep = malloc(mo.n * sizeof(float));
        memcpy(keep, mo.mem, mo.n * sizeof(float));
        tu_reset(&mo, TU_SENTINEL);
        cr_assert_eq(attn_merge(to, tl, n, &mo.t, NULL), ATTN_OK, "%s", attn_last_error());
        cr_assert(memcmp(keep, mo.mem, mo.n * sizeof(float)) == 0,
                  "[%s] %s: lse = NULL changed out", isa, desc);
        /* in place, into the last shard's out */
        attn_tensor inplace = to[n - 1];
        cr_assert_eq(attn_merge(to, tl, n, &inplace, NULL), ATTN_OK, "in place: %s",
                     attn_last_error());
        cr_assert_eq(tu_compare(&outs[n - 1].t, fo, 2 * tol, 0.0, msg, sizeof msg), 0,
                     "[%s] %s: merged in place into outs[%d]: %s", isa, desc, n - 1, msg);
        free(keep);
        free(fo);
        free(fl);
    }
    attn_set_isa(saved);
    for (int c = 0; c < n; c++) {
        tu_free(&outs[c]);
        tu_free(&lses[c]);
    }
    tu_free(&q);
    tu_free(&k);
    tu_free(&v);
    tu_free(&full);
    tu_free(&full_lse);
    tu_free(&mo);
    tu_free(&ml);
    free(cb);
    free(rout);
    free(rlse);
}

Test(decode, merge_of_key_range_shards_equals_one_call)
{
    for (int n = 1; n <= 8; n++) {
        merge_case(n, n > 1, 0, 700, 24, 900 + (uint64_t)n);
        merge_case(n, n % 2, 1, 333, 300, 920 + (uint64_t)n); /* Dv > 256 */
    }
    merge_case(4, 1, 1, 3000, 16, 940); /* the full call splits, shards may too */
}

/* Rows no shard saw, NaN lse, and shards whose lse is −inf holding garbage. */
Test(decode, merge_special_rows)
{
    enum { B = 1, H = 2, L = 3, DV = 5, N = 3 };
    float ob[N][B * H * L * DV], lb[N][B * H * L], out[B * H * L * DV], lse[B * H * L];
    attn_tensor to[N], tl[N];
    tu_rng r = {950};
    for (int c = 0; c < N; c++) {
        for (int e = 0; e < B * H * L * DV; e++)
            ob[c][e] = (float)tu_uniform(&r, -1, 1);
        for (int e = 0; e < B * H * L; e++)
            lb[c][e] = (float)tu_uniform(&r, -3, 3);
        const attn_tensor t = {ob[c], ATTN_F32, {B, H, L, DV}, {H * L * DV, L * DV, DV, 1}};
        const attn_tensor u = {lb[c], ATTN_F32, {B, H, L, 1}, {H * L, L, 1, 1}};
        to[c] = t, tl[c] = u;
    }
    /* row 0: no shard saw a key; row 1: NaN lse in shard 1; row 2: shard 2 has
     * lse −inf and NaN garbage in its out (no weight) */
    for (int c = 0; c < N; c++)
        lb[c][0] = -INFINITY;
    lb[1][1] = NAN;
    lb[2][2] = -INFINITY;
    for (int d = 0; d < DV; d++)
        ob[2][2 * DV + d] = NAN;
    const attn_tensor tout = {out, ATTN_F32, {B, H, L, DV}, {H * L * DV, L * DV, DV, 1}};
    const attn_tensor tlse = {lse, ATTN_F32, {B, H, L, 1}, {H * L, L, 1, 1}};
    cr_assert_eq(attn_merge(to, tl, N, &tout, &tlse), ATTN_OK, "%s", attn_last_error());
    for (int d = 0; d < DV; d++) {
        cr_assert(out[d] == 0.0f, "no shard saw a key: out[%d] = %g", d, (double)out[d]);
        cr_assert(isnan(out[DV + d]), "NaN lse: out[%d] = %g, want NaN", d, (double)out[DV + d]);
        /* row 2 = merge of shards 0 and 1 only */
        const double m = fmax(lb[0][2], lb[1][2]);
        const double w0 = exp(lb[0][2] - m), w1 = exp(lb[1][2] - m);
        const double want = (w0 * ob[0][2 * DV + d] + w1 * ob[1][2 * DV + d]) / (w0 + w1);
        cr_assert(fabs(out[2 * DV + d] - want) <= 1e-6, "a -inf shard with NaN out: got %g, "
                  "want %g", (double)out[2 * DV + d], want);
    }
    cr_assert(lse[0] == -INFINITY, "no shard saw a key: lse = %g", (double)lse[0]);
    cr_assert(isnan(lse[1]), "NaN lse: merged lse = %g", (double)lse[1]);
    const double m = fmax(lb[0][2], lb[1][2]);
    cr_assert(fabs(lse[2] - (m + log(exp(lb[0][2] - m) + exp(lb[1][2] - m)))) <= 1e-5,
              "lse of row 2 = %g", (double)lse[2]);
    /* rows of the other head: plain merge of 3 shards */
    for (int i = 0; i < L; i++) {
        const int e = L + i;
        double M = -INFINITY, sw = 0.0;
        for (int c = 0; c < N; c++)
            M = fmax(M, lb[c][e]);
        for (int c = 0; c < N; c++)
            sw += exp(lb[c][e] - M);
        cr_assert(fabs(lse[e] - (M + log(sw))) <= 1e-5);
        for (int d = 0; d < DV; d++) {
            double acc = 0.0;
            for (int c = 0; c < N; c++)
                acc += exp(lb[c][e] - M) / sw * ob[c][e * DV + d];
            cr_assert(fabs(out[e * DV + d] - acc) <= 1e-6, "row %d: %g vs %g", e,
                      (double)out[e * DV + d], acc);
        }
    }
    /* n = 1: a copy */
    cr_assert_eq(attn_merge(to, tl, 1, &tout, &tlse), ATTN_OK);
    for (int e = DV; e < B * H * L * DV; e++)
        cr_assert(out[e] == ob[0][e], "n = 1 must copy: out[%d] = %.9g vs %.9g", e,
                  (double)out[e], (double)ob[0][e]);
}

Test(decode, merge_bad_arguments)
{
    enum { B = 1, H = 2, L = 3, DV = 5 };
    float ob[2][B * H * L * DV] = {{0}}, lb[2][B * H * L] = {{0}}, out[B * H * L * DV],
          lse[B * H * L];
    attn_tensor to[2], tl[2];
    for (int c = 0; c < 2; c++) {
        const attn_tensor t = {ob[c], ATTN_F32, {B, H, L, DV}, {H * L * DV, L * DV, DV, 1}};
        const attn_tensor u = {lb[c], ATTN_F32, {B, H, L, 1}, {H * L, L, 1, 1}};
        to[c] = t, tl[c] = u;
    }
    attn_tensor tout = {out, ATTN_F32, {B, H, L, DV}, {H * L * DV, L * DV, DV, 1}};
    attn_tensor tlse = {lse, ATTN_F32, {B, H, L, 1}, {H * L, L, 1, 1}};
    memset(out, 0x5A, sizeof out);
    memset(lse, 0x5A, sizeof lse);
#define UNTOUCHED()                                                                            \
    do {                                                                                       \
        for (size_t e = 0; e < NELEM(out); e++) {                                              \
            uint32_t u;                                                                        \
            memcpy(&u, &out[e], 4);                                                            \
            cr_assert_eq(u, 0x5A5A5A5Au, "out written on error");                              \
        }                                                                                      \
        for (size_t e = 0; e < NELEM(lse); e++) {                                              \
            uint32_t u;                                                                        \
            memcpy(&u, &lse[e], 4);                                                            \
            cr_assert_eq(u, 0x5A5A5A5Au, "lse written on error");                              \
        }                                                                                      \
    } while (0)
    cr_assert_eq(attn_merge(to, tl, 0, &tout, &tlse), ATTN_ERR_ARG);
    cr_assert_eq(attn_merge(to, tl, -1, &tout, &tlse), ATTN_ERR_ARG);
    UNTOUCHED();
    to[1].shape[3] = DV - 1;
    cr_assert_eq(attn_merge(to, tl, 2, &tout, &tlse), ATTN_ERR_SHAPE, "outs[1] Dv differs");
    to[1].shape[3] = DV;
    tl[0].shape[2] = L - 1;
    cr_assert_eq(attn_merge(to, tl, 2, &tout, &tlse), ATTN_ERR_SHAPE, "lses[0] Lq differs");
    tl[0].shape[2] = L;
    tl[1].shape[3] = 2;
    cr_assert_eq(attn_merge(to, tl, 2, &tout, &tlse), ATTN_ERR_SHAPE, "lses[1] shape[3] = 2");
    tl[1].shape[3] = 1;
    tlse.shape[1] = 1;
    cr_assert_eq(attn_merge(to, tl, 2, &tout, &tlse), ATTN_ERR_SHAPE, "lse H differs");
    tlse.shape[1] = H;
    tout.shape[0] = 2;
    cr_assert_eq(attn_merge(to, tl, 2, &tout, &tlse), ATTN_ERR_SHAPE, "out B differs");
    tout.shape[0] = B;
    UNTOUCHED();
    cr_assert_eq(attn_merge(to, tl, 2, &tout, &tlse), ATTN_OK, "%s", attn_last_error());
#undef UNTOUCHED
}

/* ------------------------------------------------------------------ workspace, 32768 */

static attn_status ws_bytes(int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t D, float *in,
                            float *outb, size_t *bytes)
{
    const attn_tensor q = {in, ATTN_F32, {B, H, Lq, D}, {H * Lq * D, Lq * D, D, 1}};
    const attn_tensor k = {in, ATTN_F32, {B, H, Lk, D}, {H * Lk * D, Lk * D, D, 1}};
    const attn_tensor o = {outb, ATTN_F32, {B, H, Lq, D}, {H * Lq * D, Lq * D, D, 1}};
    attn_options opt;
    memset(&opt, 0, sizeof opt);
    opt.num_threads = 2;
    opt.causal = 1;
    return attn_forward_workspace(&q, &k, &k, &o, &opt, bytes);
}

Test(decode, workspace_is_o_tile_not_o_l2)
{
    const int64_t L = 32768, D = 64;
    float *in = calloc((size_t)(L * D), sizeof(float));
    float *outb = calloc((size_t)(L * D), sizeof(float));
    cr_assert(in && outb);
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    for (int i = 0; i < n; i++) {
        cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
        size_t b4 = 0, b32 = 0, bmix = 0, bdec = 0, bdec2 = 0, b0 = 1;
        cr_assert_eq(ws_bytes(1, 1, 4096, 4096, D, in, outb, &b4), ATTN_OK, "%s",
                     attn_last_error());
        cr_assert_eq(ws_bytes(1, 1, L, L, D, in, outb, &b32), ATTN_OK, "%s", attn_last_error());
        cr_assert_eq(ws_bytes(1, 1, 4096, L, D, in, outb, &bmix), ATTN_OK);
        cr_assert_eq(ws_bytes(1, 1, 1, L, D, in, outb, &bdec), ATTN_OK);
        cr_assert_eq(ws_bytes(1, 1, 1, L / 8, D, in, outb, &bdec2), ATTN_OK);
        cr_assert_eq(ws_bytes(0, 1, 4096, 4096, D, in, outb, &b0), ATTN_OK);
        cr_log_info("[%s] workspace: L=4096 %zu B, L=32768 %zu B, Lq=4096 Lk=32768 %zu B, "
                    "decode Lk=32768 %zu B, Lk=4096 %zu B", attn_isa_name(isas[i]), b4, b32,
                    bmix, bdec, bdec2);
        cr_assert_gt(b4, 0);
        cr_assert_lt(b32, (size_t)64 << 20, "[%s] L = 32768: %zu bytes of workspace",
                     attn_isa_name(isas[i]), b32);
        cr_assert_leq(b32, 2 * b4, "[%s] workspace grows with L: %zu B at 4096, %zu B at 32768",
                      attn_isa_name(isas[i]), b4, b32);
        cr_assert_eq(bmix, b4, "[%s] prefill workspace depends on Lk: %zu vs %zu",
                     attn_isa_name(isas[i]), bmix, b4);
        cr_assert_lt(bdec, (size_t)64 << 20);
        cr_assert_leq(bdec, 2 * bdec2 + 65536, "[%s] decode workspace grows with Lk: %zu vs %zu",
                      attn_isa_name(isas[i]), bdec, bdec2);
        cr_assert_eq(b0, 0, "nothing to compute: %zu bytes", b0);
        size_t *null_bytes = NULL;
        const attn_tensor q = {in, ATTN_F32, {1, 1, 4, D}, {4 * D, 4 * D, D, 1}};
        cr_assert_eq(attn_forward_workspace(&q, &q, &q, &q, NULL, null_bytes), ATTN_ERR_NULL);
    }
    attn_set_isa(saved);
    free(in);
    free(outb);
}

/* One real causal prefill of 32768 tokens (H = 1, D = 64) on the best kernel
 * set; a few rows checked against the reference (a row's reference is the
 * non-causal one over its first i + 1 keys). */
Test(decode, prefill_32768_runs_in_o_tile_memory, .timeout = 600)
{
#if defined(TU_EMULATED_ONLY) && TU_EMULATED_ONLY
    const int64_t L = 4096;
#else
    const int64_t L = tu_small_run() ? 8192 : 32768;
#endif
    const int64_t D = 64;
    attn_isa isas[4];
    const int n = tu_isas(isas);
    cr_assert_gt(n, 0);
    const attn_isa saved = attn_get_isa();
    cr_assert_eq(attn_set_isa(isas[n - 1]), ATTN_OK);
    tu_rng r = {1000};
    tu_tensor q, k, v, o, l;
    tu_make(&q, 1, 1, L, D, &tu_layouts[0], TU_NAN_BITS);
    tu_make(&k, 1, 1, L, D, &tu_layouts[0], TU_NAN_BITS);
    tu_make(&v, 1, 1, L, D, &tu_layouts[0], TU_NAN_BITS);
    tu_make(&o, 1, 1, L, D, &tu_layouts[0], TU_SENTINEL);
    tu_make(&l, 1, 1, L, 1, &tu_layouts[0], TU_SENTINEL);
    tu_fill_view(&q, &r, -1, 1);
    tu_fill_view(&k, &r, -1, 1);
    tu_fill_view(&v, &r, -1, 1);
    attn_options opt;
    memset(&opt, 0, sizeof opt);
    opt.causal = 1;
    opt.lse = &l.t;
    size_t bytes = 0;
    cr_assert_eq(attn_forward_workspace(&q.t, &k.t, &v.t, &o.t, &opt, &bytes), ATTN_OK);
    cr_assert_lt(bytes, (size_t)64 << 20, "L = %lld: workspace %zu bytes", (long long)L, bytes);
    const attn_status st = attn_forward(&q.t, &k.t, &v.t, &o.t, &opt);
    cr_assert_eq(st, ATTN_OK, "[%s] L = %lld: %s (%s)", attn_isa_name(isas[n - 1]), (long long)L,
                 attn_status_str(st), attn_last_error());
    const int64_t rows[] = {0, 1, 2, 63, 64, 511, 4095, L / 2 - 1, L / 2, L - 2, L - 1,
                            tu_int(&r, 0, L - 1), tu_int(&r, 0, L - 1)};
    const ref_opts ro = {1.0 / sqrt((double)D), 0, NULL};
    double ref[64], rl;
    char msg[400];
    for (size_t i = 0; i < NELEM(rows); i++) {
        const int64_t row = rows[i];
        attn_tensor qr = q.t, kr = k.t, vr = v.t, orow = o.t, lrow = l.t;
        qr.data = ref_ptr(&q.t, 0, 0, row, 0), qr.shape[2] = 1;
        kr.shape[2] = vr.shape[2] = row + 1;
        orow.data = ref_ptr(&o.t, 0, 0, row, 0), orow.shape[2] = 1;
        lrow.data = ref_ptr(&l.t, 0, 0, row, 0), lrow.shape[2] = 1;
        ref_forward(&qr, &kr, &vr, &ro, ref, &rl);
        const double tol = f32_tol(row + 1) * tu_maxabs_keys(&vr, NULL);
        cr_assert_eq(tu_compare(&orow, ref, tol, 0.0, msg, sizeof msg), 0,
                     "[%s] L = %lld, row %lld: %s", attn_isa_name(isas[n - 1]), (long long)L,
                     (long long)row, msg);
        cr_assert_eq(tu_compare(&lrow, &rl, 1e-5, 1e-6, msg, sizeof msg), 0,
                     "[%s] L = %lld, row %lld: lse: %s", attn_isa_name(isas[n - 1]),
                     (long long)L, (long long)row, msg);
    }
    cr_assert_eq(tu_outside_changed(&o, TU_SENTINEL), 0);
    attn_set_isa(saved);
    tu_free(&q);
    tu_free(&k);
    tu_free(&v);
    tu_free(&o);
    tu_free(&l);
}

/* ------------------------------------------------------------------ staged, 16-bit */

Test(decode, staged_qk_and_pv_take_16_bit_inputs)
{
    const attn_dtype dts[] = {ATTN_F32, ATTN_F16, ATTN_BF16};
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    for (int mix = 1; mix < 9; mix++) {
        const attn_dtype dq = dts[mix % 3], dkk = dts[mix / 3];
        const int64_t B = 2, Hq = 4, Hkv = 2, Lq = mix % 2 ? 1 : 7, Lk = 700, D = 24, Dv = 20;
        tu_rng r = {1100 + (uint64_t)mix};
        dten q, k, v;
        dt_make(&q, B, Hq, Lq, D, 1, dq, 0, &r, 0);
        dt_make(&k, B, Hkv, Lk, D, 3, dkk, 0, &r, 0);
        dt_make(&v, B, Hkv, Lk, Dv, mix % 2 ? 3 : 0, dts[mix % 3 ? mix % 3 : 1], 0, &r, 0);
        tu_tensor s, p, o;
        tu_make(&s, B, Hq, Lq, Lk, &tu_layouts[2], TU_SENTINEL);
        tu_make(&p, B, Hq, Lq, Lk, &tu_layouts[0], TU_SENTINEL);
        tu_make(&o, B, Hq, Lq, Dv, &tu_layouts[2], TU_SENTINEL);
        tu_fill_view(&p, &r, 0, 1.0 / 64);
        double *rs = malloc(sizeof(double) * (size_t)(B * Hq * Lq * Lk));
        double *ro = malloc(sizeof(double) * (size_t)(B * Hq * Lq * Dv));
        const double scale = mix == 4 ? 0.7 : 1.0 / sqrt((double)D);
        ref_qk(&q.f.t, &k.f.t, scale, rs);
        ref_pv(&p.t, &v.f.t, ro);
        char msg[400];
        for (int i = 0; i < n; i++) {
            const char *isa = attn_isa_name(isas[i]);
            cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
            tu_reset(&s, TU_SENTINEL);
            attn_status st = attn_qk(&q.t, &k.t, &s.t, mix == 4 ? 0.7f : 0.0f);
            cr_assert_eq(st, ATTN_OK, "[%s] attn_qk q %s k %s: %s", isa, dt_name[dq],
                         dt_name[dkk], attn_last_error());
            cr_assert_eq(tu_compare(&s.t, rs, 4e-7 * (double)D * scale, 1e-6, msg, sizeof msg),
                         0, "[%s] attn_qk q %s k %s: %s", isa, dt_name[dq], dt_name[dkk], msg);
            cr_assert_eq(tu_outside_changed(&s, TU_SENTINEL), 0);
            tu_reset(&o, TU_SENTINEL);
            st = attn_pv(&p.t, &v.t, &o.t);
            cr_assert_eq(st, ATTN_OK, "[%s] attn_pv v %s: %s", isa, dt_name[v.t.dtype],
                         attn_last_error());
            cr_assert_eq(tu_compare(&o.t, ro, 1e-5 * tu_maxabs_keys(&v.f.t, NULL) * Lk / 64.0,
                                    1e-6, msg, sizeof msg), 0,
                         "[%s] attn_pv v %s: %s", isa, dt_name[v.t.dtype], msg);
            cr_assert_eq(tu_outside_changed(&o, TU_SENTINEL), 0);
        }
        free(rs);
        free(ro);
        tu_free(&s);
        tu_free(&p);
        tu_free(&o);
        dt_free(&q);
        dt_free(&k);
        dt_free(&v);
    }
    attn_set_isa(saved);
}
