/*
 * test_forward.c — attn_forward and the staged API (attn_qk, attn_scale,
 * attn_softmax, attn_pv) against the float64 reference of tests/ref, on every
 * kernel set this host runs (DESIGN §1.2–1.4a, §4):
 *   random shapes (d 1…256, Dv ≠ D, odd and unequal Lq/Lk, Lq = 1, Lk = 1),
 *   [B,S,H,D] strides and KV-cache slices, GQA/MQA, bottom-right causal with
 *   Lq < Lk and Lq > Lk, kv_len (0 included, garbage past it never read),
 *   NaN reaching exactly the rows that attend to it, scores of ±1e4, empty
 *   problems, lse, staged == fused, the worked example, and bitwise
 *   determinism over thread counts and runs.
 * Tolerance (DESIGN §4): max |out − ref| ≤ 1e-5 · max|V|; lse within 1e-5
 * (plus 1e-6 relative for large values); a row with no visible key gives
 * exactly 0 and lse = −inf. Nothing written outside the output views.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ref.h"
#include "testutil.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ fixture */

typedef struct fcase {
    int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
    int causal;
    int kvlen;          /* 0: kv_len NULL; 1: random per batch in 0..Lk; 2: use kvl[] */
    int32_t kvl[4];     /* with kvlen == 2 */
    int lse;            /* request lse */
    float scale;        /* 0: 1/sqrt(D) */
    int lay[4];         /* tu_layouts index of q, k, v, out */
    int threads;
} fcase;

typedef struct fixture {
    fcase c;
    tu_tensor q, k, v, o, lse;
    int32_t kvl[4];
    double *ref_out, *ref_lse;
    double maxv;
    double tol_extra; /* added to the 1e-5 relative tolerance (f16/bf16 outputs) */
    char desc[400];
} fixture;

static void describe(fixture *f)
{
    const fcase *c = &f->c;
    char kv[64] = "none";
    if (c->kvlen) {
        int n = 0;
        for (int64_t b = 0; b < c->B && b < 4; b++)
            n += snprintf(kv + n, sizeof kv - (size_t)n, "%s%d", b ? "," : "", (int)f->kvl[b]);
    }
    snprintf(f->desc, sizeof f->desc,
             "B=%lld Hq=%lld Hkv=%lld Lq=%lld Lk=%lld D=%lld Dv=%lld causal=%d kv_len=[%s] "
             "scale=%g lse=%d layouts q%d k%d v%d o%d threads=%d",
             (long long)c->B, (long long)c->Hq, (long long)c->Hkv, (long long)c->Lq,
             (long long)c->Lk, (long long)c->D, (long long)c->Dv, c->causal, kv,
             (double)c->scale, c->lse, c->lay[0], c->lay[1], c->lay[2], c->lay[3], c->threads);
}

/* Keys at or past kv_len get garbage: NaN (or, for the staged path whose
 * attn_pv has no kv_len, a large finite value in V). */
static void fx_garbage(fixture *f, int v_finite)
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

static void fx_init(fixture *f, const fcase *c, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    cr_assert_leq(c->B, 4, "fixture: kv_len is kept for at most 4 batches");
    f->c = *c;
    tu_rng rng = {seed};
    tu_make(&f->q, c->B, c->Hq, c->Lq, c->D, &tu_layouts[c->lay[0]], TU_NAN_BITS);
    tu_make(&f->k, c->B, c->Hkv, c->Lk, c->D, &tu_layouts[c->lay[1]], TU_NAN_BITS);
    tu_make(&f->v, c->B, c->Hkv, c->Lk, c->Dv, &tu_layouts[c->lay[2]], TU_NAN_BITS);
    tu_make(&f->o, c->B, c->Hq, c->Lq, c->Dv, &tu_layouts[c->lay[3]], TU_SENTINEL);
    tu_make(&f->lse, c->B, c->Hq, c->Lq, 1, &tu_layouts[0], TU_SENTINEL);
    tu_fill_view(&f->q, &rng, -1, 1);
    tu_fill_view(&f->k, &rng, -1, 1);
    tu_fill_view(&f->v, &rng, -1, 1);
    for (int64_t b = 0; b < c->B && b < 4; b++) {
        if (c->kvlen == 2)
            f->kvl[b] = c->kvl[b];
        else {
            const int64_t pick = tu_int(&rng, 0, 4);
            f->kvl[b] = (int32_t)(pick == 0 ? 0 : pick == 1 ? c->Lk : tu_int(&rng, 0, c->Lk));
        }
    }
    describe(f);
}

static ref_opts fx_ropts(const fixture *f)
{
    ref_opts o = {ref_scale(f->c.scale, f->c.D), f->c.causal, f->c.kvlen ? f->kvl : NULL};
    return o;
}

static void fx_ref(fixture *f)
{
    const ref_opts o = fx_ropts(f);
    free(f->ref_out);
    free(f->ref_lse);
    f->ref_out = malloc(sizeof(double) * (size_t)(tu_numel(&f->o.t) + 1));
    f->ref_lse = malloc(sizeof(double) * (size_t)(tu_numel(&f->lse.t) + 1));
    ref_forward(&f->q.t, &f->k.t, &f->v.t, &o, f->ref_out, f->ref_lse);
    f->maxv = tu_maxabs_keys(&f->v.t, f->c.kvlen ? f->kvl : NULL);
}

static void fx_free(fixture *f)
{
    tu_free(&f->q);
    tu_free(&f->k);
    tu_free(&f->v);
    tu_free(&f->o);
    tu_free(&f->lse);
    free(f->ref_out);
    free(f->ref_lse);
}

static attn_options fx_opts(fixture *f, int threads)
{
    attn_options o;
    memset(&o, 0, sizeof o);
    o.scale = f->c.scale;
    o.causal = f->c.causal;
    o.kv_len = f->c.kvlen ? f->kvl : NULL;
    o.lse = f->c.lse ? &f->lse.t : NULL;
    o.num_threads = threads;
    return o;
}

/* attn_forward on the current ISA into freshly sentinel-filled outputs. */
static attn_status fx_run(fixture *f, int threads)
{
    tu_reset(&f->o, TU_SENTINEL);
    tu_reset(&f->lse, TU_SENTINEL);
    const attn_options o = fx_opts(f, threads);
    return attn_forward(&f->q.t, &f->k.t, &f->v.t, &f->o.t, &o);
}

/* Checks the outputs of the last fx_run against the reference. */
static void fx_check(fixture *f, const char *tag)
{
    const char *isa = attn_isa_name(attn_get_isa());
    char msg[400];
    const double tol = (1e-5 + f->tol_extra) * f->maxv;
    cr_assert_eq(tu_compare(&f->o.t, f->ref_out, tol, 0.0, msg, sizeof msg), 0,
                 "%s [%s] %s: out: %s", tag, isa, f->desc, msg);
    /* rows with no visible key: exactly 0 (never NaN), lse exactly -inf */
    const int64_t rows = f->c.B * f->c.Hq * f->c.Lq;
    for (int64_t r = 0; r < rows; r++) {
        if (f->ref_lse[r] != -INFINITY)
            continue;
        const int64_t b = r / (f->c.Hq * f->c.Lq), h = r / f->c.Lq % f->c.Hq, i = r % f->c.Lq;
        for (int64_t c = 0; c < f->c.Dv; c++) {
            const float x = *ref_ptr(&f->o.t, b, h, i, c);
            cr_assert(x == 0.0f, "%s [%s] %s: fully masked row [%lld,%lld,%lld] out[%lld] = %g, want 0",
                      tag, isa, f->desc, (long long)b, (long long)h, (long long)i, (long long)c,
                      (double)x);
        }
    }
    cr_assert_eq(tu_outside_changed(&f->o, TU_SENTINEL), 0,
                 "%s [%s] %s: wrote outside the out view", tag, isa, f->desc);
    if (f->c.lse) {
        cr_assert_eq(tu_compare(&f->lse.t, f->ref_lse, 1e-5, 1e-6, msg, sizeof msg), 0,
                     "%s [%s] %s: lse: %s", tag, isa, f->desc, msg);
    } else {
        cr_assert_eq(tu_outside_changed(&f->lse, TU_SENTINEL), 0, "%s: lse written", tag);
    }
}

/* Reference once, then attn_forward + checks on every kernel set. */
static void fx_all_isas(fixture *f, const char *tag)
{
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    fx_ref(f);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
        const attn_status st = fx_run(f, f->c.threads);
        cr_assert_eq(st, ATTN_OK, "%s [%s] %s: status %s (%s)", tag, attn_isa_name(isas[i]),
                     f->desc, attn_status_str(st), attn_last_error());
        fx_check(f, tag);
    }
    attn_set_isa(saved);
}

static void run_case(const fcase *c, uint64_t seed, const char *tag)
{
    fixture f;
    fx_init(&f, c, seed);
    fx_garbage(&f, 0);
    fx_all_isas(&f, tag);
    fx_free(&f);
}

static fcase basic(int64_t B, int64_t Hq, int64_t Hkv, int64_t Lq, int64_t Lk, int64_t D,
                   int64_t Dv)
{
    fcase c;
    memset(&c, 0, sizeof c);
    c.B = B, c.Hq = Hq, c.Hkv = Hkv, c.Lq = Lq, c.Lk = Lk, c.D = D, c.Dv = Dv;
    c.lse = 1;
    return c;
}

/* ------------------------------------------------------------------ random shapes */

static const int64_t dims[] = {1, 3, 16, 64, 80, 96, 128, 256};

static fcase random_case(tu_rng *r)
{
    static const int64_t lqs[] = {1, 1, 2, 5, 7, 16, 17, 31, 33, 64, 65, 100, 127};
    static const int64_t lks[] = {1, 3, 8, 13, 16, 17, 50, 63, 64, 65, 129, 200, 255, 300};
    static const int64_t dvs[] = {1, 7, 33, 64, 128};
    static const int64_t groups[] = {1, 2, 4, 8};
    fcase c = basic(tu_int(r, 1, 3), 0, tu_int(r, 1, 3), lqs[tu_int(r, 0, NELEM(lqs) - 1)],
                    lks[tu_int(r, 0, NELEM(lks) - 1)], dims[tu_int(r, 0, NELEM(dims) - 1)], 0);
    c.Hq = c.Hkv * groups[tu_int(r, 0, NELEM(groups) - 1)];
    c.Dv = tu_int(r, 0, 1) ? c.D : dvs[tu_int(r, 0, NELEM(dvs) - 1)];
    c.causal = (int)tu_int(r, 0, 1);
    c.kvlen = tu_int(r, 0, 2) == 0;
    c.lse = tu_int(r, 0, 3) != 0;
    const int64_t sc = tu_int(r, 0, 3);
    c.scale = sc == 0 ? 0.0f : sc == 1 ? 1.0f : sc == 2 ? 0.25f : -0.5f;
    for (int i = 0; i < 4; i++)
        c.lay[i] = (int)tu_int(r, 0, TU_NLAYOUTS - 1);
    c.threads = (int)tu_int(r, 0, 3);
    /* keep each case small: B·Hq·Lq·Lk·(D+Dv) ≤ 3e6 */
    tu_shrink_shape(&c.B, &c.Hq, &c.Hkv, &c.Lq, &c.Lk, c.D + c.Dv, 3000000);
    return c;
}

static void random_batch(uint64_t seed, int count)
{
    tu_rng r = {seed};
    for (int i = 0; i < count; i++) {
        const fcase c = random_case(&r);
        char tag[64];
        snprintf(tag, sizeof tag, "random #%d (seed %llu)", i, (unsigned long long)seed);
        run_case(&c, seed * 1000 + (uint64_t)i, tag);
    }
}

Test(forward, random_shapes_a) { random_batch(11, 24); }
Test(forward, random_shapes_b) { random_batch(12, 24); }
Test(forward, random_shapes_c) { random_batch(13, 24); }

/* ------------------------------------------------------------------ targeted shapes */

Test(forward, every_head_dim)
{
    for (size_t i = 0; i < NELEM(dims); i++)
        for (int causal = 0; causal <= 1; causal++) {
            fcase c = basic(1, 2, 1, 37, 53, dims[i], dims[i]);
            c.causal = causal;
            run_case(&c, 100 + i, "every_head_dim");
        }
}

Test(forward, value_dim_differs)
{
    const int64_t pairs[][2] = {{64, 128}, {128, 64}, {3, 1}, {1, 256}, {80, 7}, {256, 33}};
    for (size_t i = 0; i < NELEM(pairs); i++) {
        fcase c = basic(2, 2, 2, 19, 41, pairs[i][0], pairs[i][1]);
        c.causal = (int)(i % 2);
        run_case(&c, 200 + i, "Dv != D");
    }
}

Test(forward, odd_and_unequal_lengths)
{
    const int64_t l[][2] = {{1, 1}, {1, 2}, {2, 1}, {3, 5}, {5, 3}, {7, 7}, {15, 17}, {17, 15},
                            {33, 65}, {65, 33}, {31, 129}, {129, 31}};
    for (size_t i = 0; i < NELEM(l); i++)
        for (int causal = 0; causal <= 1; causal++) {
            fcase c = basic(1, 3, 3, l[i][0], l[i][1], 16, 16);
            c.causal = causal;
            run_case(&c, 300 + i, "odd lengths");
        }
}

Test(forward, single_query_decode)
{
    const int64_t lks[] = {1, 2, 7, 100, 1000, 4097};
    for (size_t i = 0; i < NELEM(lks); i++)
        for (int kv = 0; kv <= 1; kv++) {
            fcase c = basic(2, 8, 1, 1, lks[i], 128, 128);
            c.kvlen = kv;
            c.causal = (int)(i % 2);
            c.lay[1] = c.lay[2] = 3; /* a KV-cache slice */
            run_case(&c, 400 + i, "Lq = 1");
        }
}

Test(forward, long_keys_16384)
{
    fcase c = basic(1, 2, 1, 1, 16384, 64, 64);
    run_case(&c, 450, "Lk = 16384");
    c = basic(1, 1, 1, 3, 16384, 16, 16);
    c.causal = 1;
    run_case(&c, 451, "Lk = 16384 causal");
}

Test(forward, single_key)
{
    const int64_t lqs[] = {1, 2, 5, 16, 33};
    for (size_t i = 0; i < NELEM(lqs); i++)
        for (int causal = 0; causal <= 1; causal++) {
            fcase c = basic(2, 2, 1, lqs[i], 1, 64, 32);
            c.causal = causal; /* causal, Lq > Lk: all but the last row see nothing */
            run_case(&c, 500 + i, "Lk = 1");
        }
}

Test(forward, bshd_layout)
{
    fcase c = basic(2, 4, 2, 23, 29, 64, 64);
    for (int i = 0; i < 4; i++)
        c.lay[i] = 1; /* stride = {S*H*D, D, H*D, 1} */
    run_case(&c, 600, "[B,S,H,D]");
    c.causal = 1;
    c.kvlen = 1;
    run_case(&c, 601, "[B,S,H,D] causal kv_len");
}

Test(forward, kv_cache_slices)
{
    for (int lk = 3; lk <= 4; lk++) {
        fcase c = basic(3, 4, 2, 9, 70, 96, 80);
        c.lay[0] = 1;
        c.lay[1] = c.lay[2] = lk; /* a view into a larger cache: capacity, offset, pitch */
        c.lay[3] = 2;             /* padded output */
        c.causal = 1;
        c.kvlen = 1;
        run_case(&c, 700 + (uint64_t)lk, "KV-cache slice");
        c.Lq = 1;
        run_case(&c, 710 + (uint64_t)lk, "KV-cache slice decode");
    }
}

Test(forward, gqa_and_mqa)
{
    const int64_t groups[] = {1, 2, 4, 8};
    for (size_t g = 0; g < NELEM(groups); g++)
        for (int64_t hkv = 1; hkv <= 2; hkv++) {
            fcase c = basic(2, hkv * groups[g], hkv, 13, 27, 32, 32);
            c.causal = (int)(g % 2);
            c.lay[1] = c.lay[2] = 1;
            run_case(&c, 800 + g * 2 + (uint64_t)hkv, "GQA/MQA");
        }
}

Test(forward, causal_bottom_right)
{
    /* Lq < Lk: the rows are the sequence's last positions; Lq > Lk: the first
     * Lq - Lk rows see nothing (out 0, lse -inf) */
    const int64_t l[][2] = {{5, 40}, {1, 9}, {16, 64}, {40, 5}, {64, 16}, {9, 1}, {33, 33}};
    for (size_t i = 0; i < NELEM(l); i++) {
        fcase c = basic(2, 2, 1, l[i][0], l[i][1], 16, 24);
        c.causal = 1;
        run_case(&c, 900 + i, "causal");
        c.kvlen = 2;
        c.kvl[0] = (int32_t)(l[i][1] / 2);
        c.kvl[1] = (int32_t)l[i][1];
        run_case(&c, 950 + i, "causal + kv_len");
    }
}

Test(forward, kv_len_with_garbage_past_it)
{
    const int32_t lens[][3] = {{0, 0, 0}, {0, 5, 63}, {1, 64, 32}, {64, 63, 17}};
    for (size_t i = 0; i < NELEM(lens); i++)
        for (int causal = 0; causal <= 1; causal++) {
            fcase c = basic(3, 2, 2, 17, 64, 32, 32);
            c.kvlen = 2;
            memcpy(c.kvl, lens[i], sizeof lens[i]);
            c.causal = causal;
            run_case(&c, 1000 + i, "kv_len"); /* fx_garbage puts NaN past kv_len */
            c.Lq = 1;
            run_case(&c, 1010 + i, "kv_len decode");
        }
}

/* Keys at or past kv_len are never read: they sit on a PROT_NONE page. */
typedef struct guarded {
    void *map;
    size_t len;
    float *data;
} guarded;

/* A buffer of `total` floats whose first `valid` are readable and the rest
 * are on inaccessible pages. */
static guarded guarded_alloc(size_t valid, size_t total)
{
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    const size_t vb = (valid * sizeof(float) + pg - 1) / pg * pg;
    const size_t rest = ((total - valid) * sizeof(float) + pg - 1) / pg * pg + pg;
    guarded g;
    g.len = vb + rest;
    g.map = mmap(NULL, g.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(g.map, MAP_FAILED);
    cr_assert_eq(mprotect((char *)g.map + vb, rest, PROT_NONE), 0);
    g.data = (float *)(void *)((char *)g.map + vb) - valid;
    return g;
}

Test(forward, keys_past_kv_len_are_never_read)
{
    const int64_t lqs[] = {1, 2, 37};
    const int32_t lens[] = {0, 1, 13, 64, 99};
    const int64_t Lk = 100, D = 24, Dv = 40;
    attn_isa isas[4];
    const int nisa = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    for (size_t il = 0; il < NELEM(lqs); il++)
        for (size_t ik = 0; ik < NELEM(lens); ik++)
            for (int causal = 0; causal <= 1; causal++) {
                fcase c = basic(1, 4, 1, lqs[il], Lk, D, Dv);
                c.causal = causal;
                c.kvlen = 2;
                c.kvl[0] = lens[ik];
                fixture f;
                fx_init(&f, &c, 1100 + il * 10 + ik);
                guarded gk = guarded_alloc((size_t)(lens[ik] * D), (size_t)(Lk * D));
                guarded gv = guarded_alloc((size_t)(lens[ik] * Dv), (size_t)(Lk * Dv));
                memcpy(gk.data, f.k.t.data, sizeof(float) * (size_t)(lens[ik] * D));
                memcpy(gv.data, f.v.t.data, sizeof(float) * (size_t)(lens[ik] * Dv));
                fx_ref(&f); /* before swapping: the reference reads the valid keys only */
                f.k.t.data = gk.data;
                f.v.t.data = gv.data;
                for (int i = 0; i < nisa; i++) {
                    cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
                    const attn_status st = fx_run(&f, 0);
                    cr_assert_eq(st, ATTN_OK, "[%s] %s: %s", attn_isa_name(isas[i]), f.desc,
                                 attn_status_str(st));
                    fx_check(&f, "guarded kv_len");
                }
                f.k.t.data = f.k.mem;
                f.v.t.data = f.v.mem;
                munmap(gk.map, gk.len);
                munmap(gv.map, gv.len);
                fx_free(&f);
            }
    attn_set_isa(saved);
}

/* ------------------------------------------------------------------ NaN and range */

/* NaN in V (or K) at key j0: exactly the rows that can see j0 become NaN,
 * including inside the diagonal tile where the others multiply it by 0. */
Test(forward, nan_reaches_exactly_the_rows_that_see_it)
{
    const int64_t l[][2] = {{50, 50}, {20, 50}, {64, 64}, {7, 30}, {1, 30}};
    for (size_t i = 0; i < NELEM(l); i++)
        for (int in_k = 0; in_k <= 1; in_k++)
            for (int64_t j0 = 0; j0 < l[i][1]; j0 += (l[i][1] / 5) + 1) {
                fcase c = basic(1, 2, 1, l[i][0], l[i][1], 16, 16);
                c.causal = 1;
                fixture f;
                fx_init(&f, &c, 1200 + i);
                if (in_k)
                    *ref_ptr(&f.k.t, 0, 0, j0, 3) = tu_nanf();
                else
                    for (int64_t d = 0; d < c.Dv; d++)
                        *ref_ptr(&f.v.t, 0, 0, j0, d) = tu_nanf();
                char tag[80];
                snprintf(tag, sizeof tag, "NaN in %s at key %lld", in_k ? "K" : "V", (long long)j0);
                fx_ref(&f);
                f.maxv = 1.0; /* max over the finite values */
                attn_isa isas[4];
                const int n = tu_isas(isas);
                const attn_isa saved = attn_get_isa();
                for (int a = 0; a < n; a++) {
                    cr_assert_eq(attn_set_isa(isas[a]), ATTN_OK);
                    cr_assert_eq(fx_run(&f, 0), ATTN_OK);
                    fx_check(&f, tag); /* NaN in ref <-> NaN in out, elsewhere within tol */
                }
                attn_set_isa(saved);
                fx_free(&f);
            }
}

Test(forward, nan_in_a_query_row_stays_in_that_row)
{
    for (int64_t i0 = 0; i0 < 21; i0 += 4) {
        fcase c = basic(2, 2, 2, 21, 45, 64, 64);
        fixture f;
        fx_init(&f, &c, 1300 + (uint64_t)i0);
        *ref_ptr(&f.q.t, 1, 0, i0, 17) = tu_nanf();
        fx_all_isas(&f, "NaN in Q");
        fx_free(&f);
    }
}

/* Scores of ±1e4 (exact in f32: integer inputs, scale 1): no overflow, no
 * precision loss beyond the tolerance. */
Test(forward, scores_of_1e4)
{
    for (int causal = 0; causal <= 1; causal++) {
        fcase c = basic(1, 2, 1, 19, 37, 4, 16);
        c.scale = 1.0f;
        c.causal = causal;
        fixture f;
        fx_init(&f, &c, 1400 + (uint64_t)causal);
        tu_rng r = {77};
        for (int64_t h = 0; h < c.Hq; h++)
            for (int64_t i = 0; i < c.Lq; i++) {
                const float sgn = tu_int(&r, 0, 1) ? 1.0f : -1.0f;
                *ref_ptr(&f.q.t, 0, h, i, 0) = 100.0f * sgn;
                *ref_ptr(&f.q.t, 0, h, i, 1) = 1.0f;
                *ref_ptr(&f.q.t, 0, h, i, 2) = (float)tu_int(&r, -2, 2);
                *ref_ptr(&f.q.t, 0, h, i, 3) = 0.0f;
            }
        for (int64_t j = 0; j < c.Lk; j++) {
            *ref_ptr(&f.k.t, 0, 0, j, 0) = tu_int(&r, 0, 1) ? 100.0f : -100.0f;
            *ref_ptr(&f.k.t, 0, 0, j, 1) = (float)tu_int(&r, -5, 5);
            *ref_ptr(&f.k.t, 0, 0, j, 2) = (float)tu_int(&r, -3, 3);
            *ref_ptr(&f.k.t, 0, 0, j, 3) = (float)tu_int(&r, -9, 9);
        }
        fx_all_isas(&f, "scores of +-1e4");
        fx_free(&f);
    }
}

/* ------------------------------------------------------------------ empty problems */

Test(forward, empty_batch_heads_or_rows_write_nothing)
{
    const int64_t shapes[][4] = {{0, 2, 5, 7}, {2, 0, 5, 7}, {2, 2, 0, 7}}; /* B, Hq, Lq, Lk */
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    for (size_t s = 0; s < NELEM(shapes); s++)
        for (int i = 0; i < n; i++) {
            cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
            fcase c = basic(shapes[s][0], shapes[s][1], 1, shapes[s][2], shapes[s][3], 16, 16);
            c.causal = 1;
            fixture f;
            fx_init(&f, &c, 1500);
            cr_assert_eq(fx_run(&f, 0), ATTN_OK, "[%s] %s: %s", attn_isa_name(isas[i]), f.desc,
                         attn_last_error());
            cr_assert_eq(tu_outside_changed(&f.o, TU_SENTINEL), 0, "%s: out written", f.desc);
            cr_assert_eq(tu_outside_changed(&f.lse, TU_SENTINEL), 0, "%s: lse written", f.desc);
            /* NULL data is fine for a tensor without elements */
            f.o.t.data = NULL;
            f.q.t.data = NULL;
            f.lse.t.data = NULL;
            attn_options o = fx_opts(&f, 0);
            cr_assert_eq(attn_forward(&f.q.t, &f.k.t, &f.v.t, &f.o.t, &o), ATTN_OK,
                         "%s with NULL data: %s", f.desc, attn_last_error());
            f.o.t.data = f.o.mem;
            f.q.t.data = f.q.mem;
            f.lse.t.data = f.lse.mem;
            fx_free(&f);
        }
    /* Hq = 0 with Hkv = 0: no heads at all */
    fcase c = basic(1, 0, 0, 3, 3, 8, 8);
    fixture f;
    fx_init(&f, &c, 1501);
    cr_assert_eq(fx_run(&f, 0), ATTN_OK, "Hq = Hkv = 0: %s", attn_last_error());
    cr_assert_eq(tu_outside_changed(&f.o, TU_SENTINEL), 0);
    fx_free(&f);
    attn_set_isa(saved);
}

Test(forward, no_keys_gives_zero_and_minus_inf)
{
    for (int causal = 0; causal <= 1; causal++) {
        fcase c = basic(2, 4, 2, 5, 0, 16, 24); /* Lk = 0: an empty KV cache */
        c.causal = causal;
        run_case(&c, 1600, "Lk = 0");
        c.kvlen = 2; /* kv_len all 0 with Lk = 0 */
        run_case(&c, 1601, "Lk = 0, kv_len = 0");
    }
    /* K and V data NULL for Lk = 0 */
    fcase c = basic(1, 2, 1, 3, 0, 8, 8);
    fixture f;
    fx_init(&f, &c, 1602);
    f.k.t.data = NULL;
    f.v.t.data = NULL;
    fx_all_isas(&f, "Lk = 0, K/V data NULL");
    f.k.t.data = f.k.mem;
    f.v.t.data = f.v.mem;
    fx_free(&f);
}

/* ------------------------------------------------------------------ determinism */

static void determinism(const fcase *c, uint64_t seed)
{
    static const int threads[] = {1, 2, 3, 8, 0, 1, 2};
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    fixture f;
    fx_init(&f, c, seed);
    fx_garbage(&f, 0);
    float *o1 = malloc(f.o.n * sizeof(float)), *l1 = malloc(f.lse.n * sizeof(float));
    for (int i = 0; i < n; i++) {
        cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
        for (size_t t = 0; t < NELEM(threads); t++) {
            cr_assert_eq(fx_run(&f, threads[t]), ATTN_OK);
            if (t == 0) {
                memcpy(o1, f.o.mem, f.o.n * sizeof(float));
                memcpy(l1, f.lse.mem, f.lse.n * sizeof(float));
                continue;
            }
            cr_assert(memcmp(o1, f.o.mem, f.o.n * sizeof(float)) == 0 &&
                          memcmp(l1, f.lse.mem, f.lse.n * sizeof(float)) == 0,
                      "[%s] %s: num_threads %d (run %zu) differs bitwise from num_threads 1",
                      attn_isa_name(isas[i]), f.desc, threads[t], t);
        }
    }
    attn_set_isa(saved);
    free(o1);
    free(l1);
    fx_free(&f);
}

Test(forward, bitwise_identical_for_every_thread_count)
{
    fcase c = basic(2, 4, 2, 100, 130, 64, 64); /* prefill, several query tiles */
    c.causal = 1;
    c.kvlen = 2;
    c.kvl[0] = 130, c.kvl[1] = 77;
    determinism(&c, 1700);
    c = basic(1, 8, 1, 1, 3000, 128, 128); /* decode: keys split across threads */
    determinism(&c, 1701);
    c = basic(3, 2, 1, 2, 2500, 64, 32); /* short rows, long keys, kv_len */
    c.kvlen = 1;
    c.causal = 1;
    c.lay[1] = c.lay[2] = 3;
    determinism(&c, 1702);
    c = basic(1, 1, 1, 333, 41, 16, 16); /* many rows, few keys */
    determinism(&c, 1703);
}

/* ------------------------------------------------------------------ staged */

/* Tolerance of an f32 score of D products of values in [-1, 1] (|q·k| terms
 * average 1/3): ~30 standard deviations of the rounding error of any
 * summation order, far below what a wrong key or a missed term gives. */
static double qk_tol(int64_t d, double scale)
{
    return 4e-7 * (double)d * fabs(scale) + 1e-30;
}

/* attn_qk → attn_softmax → attn_pv: each stage against its reference, and
 * the result against attn_forward. */
static void staged_case(const fcase *c, uint64_t seed, int scores_layout)
{
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    fixture f;
    fx_init(&f, c, seed);
    fx_garbage(&f, 1); /* attn_pv reads every key: finite garbage in V, NaN in K */
    fx_ref(&f);
    const ref_opts ro = fx_ropts(&f);
    tu_tensor s, o2, l2;
    tu_make(&s, c->B, c->Hq, c->Lq, c->Lk, &tu_layouts[scores_layout], TU_SENTINEL);
    tu_make(&o2, c->B, c->Hq, c->Lq, c->Dv, &tu_layouts[c->lay[3]], TU_SENTINEL);
    tu_make(&l2, c->B, c->Hq, c->Lq, 1, &tu_layouts[0], TU_SENTINEL);
    const size_t ns = (size_t)tu_numel(&s.t) + 1;
    double *rs = malloc(sizeof(double) * ns), *rp = malloc(sizeof(double) * ns);
    double *rl = malloc(sizeof(double) * (size_t)(tu_numel(&l2.t) + 1));
    double *ro2 = malloc(sizeof(double) * (size_t)(tu_numel(&o2.t) + 1));
    double *fused = malloc(sizeof(double) * (size_t)(tu_numel(&o2.t) + 1));
    double *fused_lse = malloc(sizeof(double) * (size_t)(tu_numel(&l2.t) + 1));
    const double scale = ref_scale(c->scale, c->D);
    char msg[400];
    for (int i = 0; i < n; i++) {
        const char *isa = attn_isa_name(isas[i]);
        cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
        cr_assert_eq(fx_run(&f, c->threads), ATTN_OK);
        fx_check(&f, "staged: fused");
        /* qk: scores of masked (garbage) keys are NaN; compare the visible ones */
        tu_reset(&s, TU_SENTINEL);
        attn_status st = attn_qk(&f.q.t, &f.k.t, &s.t, c->scale);
        cr_assert_eq(st, ATTN_OK, "[%s] %s: attn_qk %s (%s)", isa, f.desc, attn_status_str(st),
                     attn_last_error());
        cr_assert_eq(tu_outside_changed(&s, TU_SENTINEL), 0, "[%s] %s: attn_qk wrote outside", isa,
                     f.desc);
        ref_qk(&f.q.t, &f.k.t, scale, rs);
        cr_assert_eq(tu_compare(&s.t, rs, qk_tol(c->D, scale), 1e-6, msg, sizeof msg),
                     0, "[%s] %s: attn_qk: %s", isa, f.desc, msg);
        /* softmax (in place) with the masks; lse */
        attn_options o;
        memset(&o, 0, sizeof o);
        o.causal = c->causal;
        o.kv_len = c->kvlen ? f.kvl : NULL;
        o.lse = &l2.t;
        o.num_threads = c->threads;
        tu_tensor s_in = s; /* the scores before the softmax overwrites them */
        s_in.mem = malloc(s.n * sizeof(float));
        memcpy(s_in.mem, s.mem, s.n * sizeof(float));
        s_in.t.data = s_in.mem + ((float *)s.t.data - s.mem);
        ref_softmax(&s_in.t, &ro, rp, rl);
        tu_reset(&l2, TU_SENTINEL);
        st = attn_softmax(&s.t, &o);
        cr_assert_eq(st, ATTN_OK, "[%s] %s: attn_softmax %s (%s)", isa, f.desc,
                     attn_status_str(st), attn_last_error());
        cr_assert_eq(tu_compare(&s.t, rp, 1e-6, 1e-5, msg, sizeof msg), 0,
                     "[%s] %s: attn_softmax probs: %s", isa, f.desc, msg);
        cr_assert_eq(tu_compare(&l2.t, rl, 1e-5, 1e-6, msg, sizeof msg), 0,
                     "[%s] %s: attn_softmax lse: %s", isa, f.desc, msg);
        cr_assert_eq(tu_outside_changed(&s, TU_SENTINEL), 0, "[%s] %s: softmax wrote outside",
                     isa, f.desc);
        free(s_in.mem);
        /* pv */
        tu_reset(&o2, TU_SENTINEL);
        st = attn_pv(&s.t, &f.v.t, &o2.t);
        cr_assert_eq(st, ATTN_OK, "[%s] %s: attn_pv %s (%s)", isa, f.desc, attn_status_str(st),
                     attn_last_error());
        ref_pv(&s.t, &f.v.t, ro2);
        cr_assert_eq(tu_compare(&o2.t, ro2, 1e-5 * f.maxv, 0.0, msg, sizeof msg), 0,
                     "[%s] %s: attn_pv: %s", isa, f.desc, msg);
        cr_assert_eq(tu_outside_changed(&o2, TU_SENTINEL), 0, "[%s] %s: attn_pv wrote outside",
                     isa, f.desc);
        /* staged == fused, within the tolerance of DESIGN §4 */
        int64_t idx = 0;
        for (int64_t b = 0; b < c->B; b++)
            for (int64_t h = 0; h < c->Hq; h++)
                for (int64_t r = 0; r < c->Lq; r++) {
                    for (int64_t d = 0; d < c->Dv; d++)
                        fused[idx * c->Dv + d] = *ref_ptr(&f.o.t, b, h, r, d);
                    fused_lse[idx] = *ref_ptr(&f.lse.t, b, h, r, 0);
                    idx++;
                }
        cr_assert_eq(tu_compare(&o2.t, fused, 1e-5 * f.maxv, 0.0, msg, sizeof msg), 0,
                     "[%s] %s: staged out != fused: %s", isa, f.desc, msg);
        if (c->lse)
            cr_assert_eq(tu_compare(&l2.t, fused_lse, 1e-5, 1e-6, msg, sizeof msg), 0,
                         "[%s] %s: staged lse != fused: %s", isa, f.desc, msg);
    }
    attn_set_isa(saved);
    tu_free(&s);
    tu_free(&o2);
    tu_free(&l2);
    free(rs);
    free(rp);
    free(rl);
    free(ro2);
    free(fused);
    free(fused_lse);
    fx_free(&f);
}

Test(forward, staged_equals_fused)
{
    fcase c = basic(2, 4, 2, 21, 35, 64, 48);
    staged_case(&c, 1800, 0);
    c.causal = 1;
    staged_case(&c, 1801, 2);
    c.kvlen = 1;
    staged_case(&c, 1802, 0);
    c = basic(1, 8, 1, 40, 17, 80, 80); /* causal with Lq > Lk: empty rows */
    c.causal = 1;
    c.lay[0] = c.lay[1] = c.lay[2] = c.lay[3] = 1;
    staged_case(&c, 1803, 4);
    c = basic(2, 2, 2, 1, 200, 128, 128); /* decode shape */
    c.kvlen = 2;
    c.kvl[0] = 0, c.kvl[1] = 150;
    c.scale = 0.3f;
    staged_case(&c, 1804, 0);
    tu_rng r = {1805};
    for (int i = 0; i < 8; i++) {
        c = random_case(&r);
        c.lse = 1;
        staged_case(&c, 1810 + (uint64_t)i, (int)tu_int(&r, 0, TU_NLAYOUTS - 1));
    }
}

Test(forward, qk_scale_zero_means_inverse_sqrt_d)
{
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    for (size_t id = 0; id < NELEM(dims); id++) {
        fcase c = basic(1, 2, 1, 9, 11, dims[id], 4);
        fixture f;
        fx_init(&f, &c, 1900 + id);
        tu_tensor s0, s1;
        tu_make(&s0, 1, 2, 9, 11, &tu_layouts[0], TU_SENTINEL);
        tu_make(&s1, 1, 2, 9, 11, &tu_layouts[0], TU_SENTINEL);
        double *rs = malloc(sizeof(double) * 2 * 9 * 11);
        const double scale = 1.0 / sqrt((double)dims[id]);
        ref_qk(&f.q.t, &f.k.t, scale, rs);
        char msg[400];
        for (int i = 0; i < n; i++) {
            cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
            cr_assert_eq(attn_qk(&f.q.t, &f.k.t, &s0.t, 0.0f), ATTN_OK);
            cr_assert_eq(attn_qk(&f.q.t, &f.k.t, &s1.t, (float)scale), ATTN_OK);
            const double tol = qk_tol(dims[id], scale);
            cr_assert_eq(tu_compare(&s0.t, rs, tol, 1e-6, msg, sizeof msg), 0,
                         "[%s] d=%lld attn_qk(scale 0): %s", attn_isa_name(isas[i]),
                         (long long)dims[id], msg);
            cr_assert_eq(tu_compare(&s1.t, rs, tol, 1e-6, msg, sizeof msg), 0,
                         "[%s] d=%lld attn_qk(1/sqrt(d)): %s", attn_isa_name(isas[i]),
                         (long long)dims[id], msg);
        }
        free(rs);
        tu_free(&s0);
        tu_free(&s1);
        fx_free(&f);
    }
    attn_set_isa(saved);
}

Test(forward, scale_is_a_literal_multiply)
{
    const float scales[] = {2.0f, -0.5f, 1.0f / 3.0f, 1e-30f, 1.0f, 0.0f};
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    tu_rng r = {2000};
    for (int i = 0; i < n; i++) {
        cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
        for (size_t is = 0; is < NELEM(scales); is++)
            for (int lay = 0; lay < TU_NLAYOUTS; lay++) {
                tu_tensor x;
                tu_make(&x, 2, 3, 7, 19, &tu_layouts[lay], TU_SENTINEL);
                tu_fill_view(&x, &r, -100, 100);
                if (scales[is] != 0.0f)
                    *ref_ptr(&x.t, 1, 2, 3, 4) = tu_nanf(); /* NaN · s = NaN */
                *ref_ptr(&x.t, 0, 1, 6, 18) = -7.0f;
                float *before = malloc(x.n * sizeof(float));
                memcpy(before, x.mem, x.n * sizeof(float));
                cr_assert_eq(attn_scale(&x.t, scales[is]), ATTN_OK, "%s", attn_last_error());
                int64_t bad = 0;
                for (int64_t b = 0; b < 2; b++)
                    for (int64_t h = 0; h < 3; h++)
                        for (int64_t s = 0; s < 7; s++)
                            for (int64_t d = 0; d < 19; d++) {
                                const float *p = ref_ptr(&x.t, b, h, s, d);
                                const float want = before[p - x.mem] * scales[is];
                                if (!(*p == want || (isnan(*p) && isnan(want))))
                                    bad++;
                            }
                cr_assert_eq(bad, 0, "[%s] attn_scale(%g), layout %d: %lld values are not x*s",
                             attn_isa_name(isas[i]), (double)scales[is], lay, (long long)bad);
                cr_assert_eq(tu_outside_changed(&x, TU_SENTINEL), 0,
                             "[%s] attn_scale wrote outside the view", attn_isa_name(isas[i]));
                free(before);
                tu_free(&x);
            }
    }
    attn_set_isa(saved);
}

/* ------------------------------------------------------------------ f16 / bf16 */

/*
 * f16/bf16 tensors: attn.h says ATTN_ERR_UNSUPPORTED "for now" and they are
 * being added. Both answers are accepted and each is checked in full: a
 * refusal writes nothing; a result matches the reference computed on the
 * exactly widened values (an f16/bf16 output also carries its own rounding).
 */
typedef struct half_buf {
    uint16_t *mem;
    attn_tensor t;
} half_buf;

static uint16_t half_nan(attn_dtype dt)
{
    return dt == ATTN_F16 ? 0x7E00 : 0x7FC0;
}

static float half_widen(attn_dtype dt, uint16_t h)
{
    return dt == ATTN_F16 ? tu_f16_to_f32(h) : tu_bf16_to_f32(h);
}

/* A 16-bit twin of x with the same layout. Inputs: every view value becomes a
 * random half (NaN garbage stays NaN), and x's f32 view gets the widened value
 * so the reference reads exactly what the library reads. Outputs: filled with
 * the sentinel 0xA5A5. */
static void to_half(tu_tensor *x, half_buf *h, attn_dtype dt, tu_rng *r, int output)
{
    h->mem = malloc(x->n * sizeof(uint16_t));
    for (size_t i = 0; i < x->n; i++)
        h->mem[i] = output ? 0xA5A5 : half_nan(dt);
    h->t = x->t;
    h->t.dtype = dt;
    h->t.data = h->mem + ((float *)x->t.data - x->mem);
    if (output)
        return;
    for (int64_t b = 0; b < x->t.shape[0]; b++)
        for (int64_t hh = 0; hh < x->t.shape[1]; hh++)
            for (int64_t s = 0; s < x->t.shape[2]; s++)
                for (int64_t d = 0; d < x->t.shape[3]; d++) {
                    float *p = ref_ptr(&x->t, b, hh, s, d);
                    const size_t off = (size_t)(p - x->mem);
                    if (isnan(*p))
                        continue; /* garbage past kv_len */
                    h->mem[off] = tu_rand_half(r, dt);
                    *p = half_widen(dt, h->mem[off]);
                }
}

static size_t half_changed(const half_buf *h, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += h->mem[i] != 0xA5A5;
    return c;
}

static size_t all_changed(const tu_tensor *x, uint32_t fill)
{
    size_t c = 0;
    for (size_t i = 0; i < x->n; i++) {
        uint32_t u;
        memcpy(&u, &x->mem[i], sizeof u);
        c += u != fill;
    }
    return c;
}

enum { HQ_ = 1, HK_ = 2, HV_ = 4, HO_ = 8 };

static void half_forward(attn_dtype dt, unsigned which, uint64_t seed)
{
    static const char *const dn[] = {"f32", "f16", "bf16"};
    fcase c = basic(2, 4, 2, 9, 21, 16, 24);
    c.causal = 1;
    c.kvlen = 1;
    c.lay[0] = 1, c.lay[1] = c.lay[2] = 3, c.lay[3] = 2;
    fixture f;
    fx_init(&f, &c, seed);
    fx_garbage(&f, 0);
    tu_rng r = {seed + 1};
    half_buf hq = {0}, hk = {0}, hv = {0}, ho = {0};
    attn_tensor tq = f.q.t, tk = f.k.t, tv = f.v.t, to = f.o.t;
    if (which & HQ_)
        to_half(&f.q, &hq, dt, &r, 0), tq = hq.t;
    if (which & HK_)
        to_half(&f.k, &hk, dt, &r, 0), tk = hk.t;
    if (which & HV_)
        to_half(&f.v, &hv, dt, &r, 0), tv = hv.t;
    if (which & HO_)
        to_half(&f.o, &ho, dt, &r, 1), to = ho.t;
    fx_ref(&f);
    f.tol_extra = (which & HO_) ? (dt == ATTN_F16 ? 0x1p-11 : 0x1p-8) : 0.0;
    char tag[96];
    snprintf(tag, sizeof tag, "%s%s%s%s as %s", which & HQ_ ? "q " : "", which & HK_ ? "k " : "",
             which & HV_ ? "v " : "", which & HO_ ? "out " : "", dn[dt]);
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    for (int i = 0; i < n; i++) {
        cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
        tu_reset(&f.o, TU_SENTINEL);
        tu_reset(&f.lse, TU_SENTINEL);
        if (ho.mem)
            for (size_t e = 0; e < f.o.n; e++)
                ho.mem[e] = 0xA5A5;
        const attn_options o = fx_opts(&f, 0);
        const attn_status st = attn_forward(&tq, &tk, &tv, &to, &o);
        if (st == ATTN_ERR_UNSUPPORTED) {
            cr_assert(all_changed(&f.o, TU_SENTINEL) == 0 && all_changed(&f.lse, TU_SENTINEL) == 0 &&
                          (!ho.mem || half_changed(&ho, f.o.n) == 0),
                      "[%s] %s: refused, but wrote output", attn_isa_name(isas[i]), tag);
            cr_log_info("[%s] attn_forward with %s: ATTN_ERR_UNSUPPORTED", attn_isa_name(isas[i]),
                        tag);
            continue;
        }
        cr_assert_eq(st, ATTN_OK, "[%s] %s: %s (%s)", attn_isa_name(isas[i]), tag,
                     attn_status_str(st), attn_last_error());
        if (ho.mem) {
            for (int64_t b = 0; b < c.B; b++)
                for (int64_t h = 0; h < c.Hq; h++)
                    for (int64_t s = 0; s < c.Lq; s++)
                        for (int64_t d = 0; d < c.Dv; d++) {
                            float *p = ref_ptr(&f.o.t, b, h, s, d);
                            const size_t off = (size_t)(p - f.o.mem);
                            *p = half_widen(dt, ho.mem[off]);
                            ho.mem[off] = 0xA5A5; /* so that only outside writes remain */
                        }
            cr_assert_eq(half_changed(&ho, f.o.n), 0, "[%s] %s: wrote outside the out view",
                         attn_isa_name(isas[i]), tag);
        }
        fx_check(&f, tag);
    }
    attn_set_isa(saved);
    free(hq.mem);
    free(hk.mem);
    free(hv.mem);
    free(ho.mem);
    fx_free(&f);
}

Test(forward, half_inputs_refused_or_exact)
{
    const unsigned combos[] = {HQ_, HK_, HV_, HK_ | HV_, HQ_ | HK_ | HV_, HO_, HQ_ | HK_ | HV_ | HO_};
    for (size_t i = 0; i < NELEM(combos); i++) {
        half_forward(ATTN_F16, combos[i], 2100 + i);
        half_forward(ATTN_BF16, combos[i], 2200 + i);
    }
}

/* attn_qk with f16/bf16 q and k, attn_pv with f16/bf16 v: refused with
 * nothing written, or exact to the widened values. */
Test(forward, half_staged_refused_or_exact)
{
    const attn_dtype dts[] = {ATTN_F16, ATTN_BF16};
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    for (size_t id = 0; id < NELEM(dts); id++)
        for (unsigned which = 1; which <= 3; which++) {
            const attn_dtype dt = dts[id];
            fcase c = basic(1, 4, 2, 7, 19, 24, 12);
            c.lay[1] = c.lay[2] = 1;
            fixture f;
            fx_init(&f, &c, 2300 + which + 10 * id);
            tu_rng r = {2400 + which};
            half_buf hq = {0}, hk = {0}, hv = {0};
            attn_tensor tq = f.q.t, tk = f.k.t, tv = f.v.t;
            if (which & 1)
                to_half(&f.q, &hq, dt, &r, 0), tq = hq.t;
            if (which & 2)
                to_half(&f.k, &hk, dt, &r, 0), tk = hk.t;
            to_half(&f.v, &hv, dt, &r, 0), tv = hv.t;
            tu_tensor s, o;
            tu_make(&s, 1, 4, 7, 19, &tu_layouts[2], TU_SENTINEL);
            tu_make(&o, 1, 4, 7, 12, &tu_layouts[0], TU_SENTINEL);
            double *rs = malloc(sizeof(double) * 4 * 7 * 19), *ro = malloc(sizeof(double) * 4 * 7 * 12);
            const double scale = 1.0 / sqrt(24.0);
            ref_qk(&f.q.t, &f.k.t, scale, rs);
            char msg[400];
            for (int i = 0; i < n; i++) {
                const char *isa = attn_isa_name(isas[i]);
                cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
                tu_reset(&s, TU_SENTINEL);
                attn_status st = attn_qk(&tq, &tk, &s.t, 0.0f);
                if (st == ATTN_ERR_UNSUPPORTED || st == ATTN_ERR_DTYPE) {
                    cr_assert_eq(all_changed(&s, TU_SENTINEL), 0, "[%s] attn_qk %s q/k: refused, but wrote",
                                 isa, which == 1 ? "half" : "mixed");
                } else {
                    cr_assert_eq(st, ATTN_OK, "[%s] attn_qk half: %s", isa, attn_last_error());
                    cr_assert_eq(tu_compare(&s.t, rs, qk_tol(24, scale), 1e-6, msg, sizeof msg), 0,
                                 "[%s] attn_qk with %s q/k (which %u): %s", isa,
                                 dt == ATTN_F16 ? "f16" : "bf16", which, msg);
                    cr_assert_eq(tu_outside_changed(&s, TU_SENTINEL), 0);
                }
                /* probs: any f32 matrix will do; use the f32 scores of the reference */
                tu_tensor p;
                tu_make(&p, 1, 4, 7, 19, &tu_layouts[0], TU_SENTINEL);
                tu_rng pr = {99};
                tu_fill_view(&p, &pr, 0, 1);
                ref_pv(&p.t, &f.v.t, ro);
                tu_reset(&o, TU_SENTINEL);
                st = attn_pv(&p.t, &tv, &o.t);
                if (st == ATTN_ERR_UNSUPPORTED || st == ATTN_ERR_DTYPE) {
                    cr_assert_eq(all_changed(&o, TU_SENTINEL), 0, "[%s] attn_pv half v: refused, but wrote", isa);
                } else {
                    cr_assert_eq(st, ATTN_OK, "[%s] attn_pv half: %s", isa, attn_last_error());
                    cr_assert_eq(tu_compare(&o.t, ro, 1e-5 * tu_maxabs_keys(&f.v.t, NULL), 0.0, msg, sizeof msg), 0,
                                 "[%s] attn_pv with %s v: %s", isa, dt == ATTN_F16 ? "f16" : "bf16", msg);
                }
                tu_free(&p);
            }
            free(rs);
            free(ro);
            tu_free(&s);
            tu_free(&o);
            free(hq.mem);
            free(hk.mem);
            free(hv.mem);
            fx_free(&f);
        }
    attn_set_isa(saved);
}

/* ------------------------------------------------------------------ worked example */

/* 5 tokens, d = 1, all scores equal: every weight is 0.2 (not 0.282: the
 * weights sum to 1) and every output is 3.0 for V = [1, 2, 3, 4, 5]. */
Test(forward, worked_example_five_tokens)
{
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    float q[5], k[5], v[5], s[25], o[5], o2[5], lse[5];
    const attn_tensor tq = {q, ATTN_F32, {1, 1, 5, 1}, {5, 5, 1, 1}};
    const attn_tensor tk = {k, ATTN_F32, {1, 1, 5, 1}, {5, 5, 1, 1}};
    const attn_tensor tv = {v, ATTN_F32, {1, 1, 5, 1}, {5, 5, 1, 1}};
    const attn_tensor ts = {s, ATTN_F32, {1, 1, 5, 5}, {25, 25, 5, 1}};
    const attn_tensor to = {o, ATTN_F32, {1, 1, 5, 1}, {5, 5, 1, 1}};
    const attn_tensor to2 = {o2, ATTN_F32, {1, 1, 5, 1}, {5, 5, 1, 1}};
    const attn_tensor tl = {lse, ATTN_F32, {1, 1, 5, 1}, {5, 5, 1, 1}};
    for (int j = 0; j < 5; j++) {
        q[j] = 0.5f;
        k[j] = 2.0f; /* every score = 1 */
        v[j] = (float)(j + 1);
    }
    for (int i = 0; i < n; i++) {
        const char *isa = attn_isa_name(isas[i]);
        cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
        cr_assert_eq(attn_qk(&tq, &tk, &ts, 0.0f), ATTN_OK);
        for (int e = 0; e < 25; e++)
            cr_assert(s[e] == 1.0f, "[%s] score %d = %.9g, want 1", isa, e, (double)s[e]);
        attn_options opt;
        memset(&opt, 0, sizeof opt);
        opt.lse = &tl;
        cr_assert_eq(attn_softmax(&ts, &opt), ATTN_OK);
        for (int e = 0; e < 25; e++)
            cr_assert(tu_ulps(s[e], 0.2f) <= 1, "[%s] weight %d = %.9g, want 0.2 (1 ulp)", isa,
                      e, (double)s[e]);
        for (int e = 0; e < 5; e++)
            cr_assert(fabs((double)lse[e] - (1.0 + log(5.0))) <= 1e-5, "[%s] lse %.9g", isa,
                      (double)lse[e]);
        cr_assert_eq(attn_pv(&ts, &tv, &to), ATTN_OK);
        memset(lse, 0, sizeof lse);
        cr_assert_eq(attn_forward(&tq, &tk, &tv, &to2, &opt), ATTN_OK);
        for (int e = 0; e < 5; e++) {
            cr_assert(fabs((double)o[e] - 3.0) <= 5e-5, "[%s] staged out %d = %.9g, want 3", isa,
                      e, (double)o[e]);
            cr_assert(fabs((double)o2[e] - 3.0) <= 5e-5, "[%s] forward out %d = %.9g, want 3",
                      isa, e, (double)o2[e]);
            cr_assert(fabs((double)lse[e] - (1.0 + log(5.0))) <= 1e-5, "[%s] forward lse %.9g",
                      isa, (double)lse[e]);
        }
        cr_assert_eq(attn_forward(&tq, &tk, &tv, &to2, NULL), ATTN_OK, "opt = NULL");
        for (int e = 0; e < 5; e++)
            cr_assert(fabs((double)o2[e] - 3.0) <= 5e-5, "[%s] forward(NULL opt) out %.9g", isa,
                      (double)o2[e]);
    }
    attn_set_isa(saved);
}
