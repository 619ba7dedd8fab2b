/*
 * kernel_checks.c — one microkernel at a time against float64 references
 * and against its contract in kernels/microkernels.h: tile-sized, smaller
 * and larger shapes with tails in every dimension, masked (−inf) rows, NaN
 * propagation, scores that overflow exp() unless the max is subtracted,
 * exact packed layouts, nothing written outside the output, and the
 * determinism the flash driver relies on (a row's result does not depend on
 * m or on its position in the tile; −inf columns appended to a softmax row
 * change nothing; pv accumulates each element over the keys in one chain).
 * Sizes are small: the runner also runs under qemu-user.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "plain.h"

/* A rigorous bound on the rounding error of an n-term f32 dot product (any
 * order, FMA or not), doubled for slack: (n + 2)·2⁻²³·Σ|aᵢbᵢ|. */
static double dot_bound(size_t n, double sum_abs)
{
    return (double)(n + 2) * 0x1.0p-23 * sum_abs + 1e-37;
}

/* Distinct sizes around a tile width w (all ≥ 1), plus `extra`. */
static size_t sizes_around(unsigned w, size_t extra, size_t out[8])
{
    const size_t cand[] = {1, 2, (size_t)w - 1, w, (size_t)w + 1, 2 * (size_t)w + 3, extra};
    size_t k = 0;
    for (size_t i = 0; i < PT_NELEM(cand); i++) {
        int dup = cand[i] == 0;
        for (size_t j = 0; j < k; j++)
            dup |= out[j] == cand[i];
        if (!dup)
            out[k++] = cand[i];
    }
    return k;
}

/* The packed K layout of microkernels.h, written out plainly. */
static void pack_ref(size_t n, size_t d, const float *k, size_t ldk, float *kp, size_t nr)
{
    const size_t panels = (n + nr - 1) / nr;
    for (size_t t = 0; t < panels; t++)
        for (size_t dd = 0; dd < d; dd++)
            for (size_t jj = 0; jj < nr; jj++) {
                const size_t j = t * nr + jj;
                kp[t * nr * d + dd * nr + jj] = j < n ? k[j * ldk + dd] : 0.0f;
            }
}

/* ------------------------------------------------------------------ qk_tile */

static void qk_case(const char *name, attn_qk_tile_fn *fn, unsigned mr, unsigned nr, size_t n,
                    size_t d, pt_rng *rng)
{
    const size_t ldq = d + 3, ldk = d + 1, lds = n + 5;
    const size_t kpn = (n + nr - 1) / nr * nr * d;
    float *q = pt_alloc(mr * ldq, PT_SENTINEL), *k = pt_alloc(n * ldk, PT_SENTINEL);
    float *kp = pt_alloc(kpn, 0), *s = pt_alloc(mr * lds, PT_SENTINEL);
    float *s1 = pt_alloc(n, PT_SENTINEL);
    for (size_t i = 0; i < mr; i++)
        for (size_t dd = 0; dd < d; dd++)
            q[i * ldq + dd] = pt_uniformf(rng, -1, 1);
    for (size_t j = 0; j < n; j++)
        for (size_t dd = 0; dd < d; dd++)
            k[j * ldk + dd] = pt_uniformf(rng, -1, 1);
    pack_ref(n, d, k, ldk, kp, nr);

    for (size_t m = 1; m <= mr; m++) {
        pt_fill_bits(s, mr * lds, PT_SENTINEL);
        fn(m, n, d, q, ldq, kp, s, lds);
        for (size_t r = 0; r < mr; r++)
            for (size_t j = 0; j < lds; j++) {
                const float got = s[r * lds + j];
                if (r >= m || j >= n) {
                    if (!pt_expect(pt_bits(got) == PT_SENTINEL, "%s: m=%zu n=%zu d=%zu wrote "
                                   "S[%zu][%zu] outside the tile", name, m, n, d, r, j))
                        goto out;
                    continue;
                }
                double ref = 0, abs = 0;
                for (size_t dd = 0; dd < d; dd++) {
                    const double p = (double)q[r * ldq + dd] * (double)k[j * ldk + dd];
                    ref += p;
                    abs += fabs(p);
                }
                if (!pt_expect(fabs(got - ref) <= dot_bound(d, abs), "%s: m=%zu n=%zu d=%zu "
                               "S[%zu][%zu] = %.9g, float64 %.9g", name, m, n, d, r, j,
                               (double)got, ref))
                    goto out;
            }
    }
    /* full tile (s holds m = mr): each row alone must give the same bits */
    for (size_t r = 0; r < mr; r++) {
        pt_fill_bits(s1, n, PT_SENTINEL);
        fn(1, n, d, q + r * ldq, ldq, kp, s1, n);
        for (size_t j = 0; j < n; j++)
            if (!pt_expect(pt_same_bits(s1[j], s[r * lds + j]), "%s: n=%zu d=%zu row %zu "
                           "alone differs from row %zu of a %u-row tile at key %zu",
                           name, n, d, r, r, mr, j))
                goto out;
    }
    /* a prefix of the keys must give the same bits (a score depends on its
     * own dot product only, not on n) */
    if (n > 1) {
        const size_t n2 = n / 2;
        pack_ref(n2, d, k, ldk, kp, nr);
        pt_fill_bits(s1, n, PT_SENTINEL);
        fn(1, n2, d, q + (mr - 1) * ldq, ldq, kp, s1, n2);
        for (size_t j = 0; j < n2; j++)
            if (!pt_expect(pt_same_bits(s1[j], s[(mr - 1) * lds + j]), "%s: d=%zu key %zu "
                           "differs between n=%zu and n=%zu", name, d, j, n2, n))
                goto out;
    }
out:
    free(q), free(k), free(kp), free(s), free(s1);
}

void pt_check_qk_tile(const char *name, attn_qk_tile_fn *fn, unsigned mr, unsigned nr)
{
    static const size_t dims[] = {1, 3, 16, 64, 80, 96, 128, 256};
    size_t ns[8];
    const size_t nn = sizes_around(nr, 37, ns);
    pt_rng rng = {0x9c1};
    for (size_t di = 0; di < PT_NELEM(dims); di++) {
        pt_begin("qk_tile %s: d=%zu, m=1..%u, n=%zu..%zu vs float64, row and n independence",
                 name, dims[di], mr, ns[0], ns[nn - 1]);
        for (size_t i = 0; i < nn && !pt_failed(); i++)
            qk_case(name, fn, mr, nr, ns[i], dims[di], &rng);
        pt_end();
    }
}

/* ------------------------------------------------------------------ softmax_tile */

/* Relative tolerance of e^x for a ≤ 2-ulp exp: 2.5 ulp. */
#define EXP_REL (2.5 * 0x1.0p-23)

static int close_rel(double got, double ref, double rel)
{
    if (isnan(ref) || isnan(got))
        return isnan(ref) && isnan(got);
    if (isinf(ref) || isinf(got))
        return got == ref;
    return fabs(got - ref) <= rel * fabs(ref) + 1e-40;
}

/* One step on m rows against float64, with the tile's other bookkeeping. */
static void smt_step_check(const char *name, attn_softmax_tile_fn *fn, size_t m, size_t n,
                           const float *s0, size_t lds, float *mx, float *l,
                           const char *what)
{
    float *s = pt_alloc(m * lds, PT_SENTINEL), *alpha = pt_alloc(m + 1, PT_SENTINEL);
    float *mx0 = pt_alloc(m, 0), *l0 = pt_alloc(m, 0);
    memcpy(s, s0, m * lds * sizeof(float));
    memcpy(mx0, mx, m * sizeof(float));
    memcpy(l0, l, m * sizeof(float));
    const int ret = fn(m, n, s, lds, mx, l, alpha);
    int want_ret = 0;
    for (size_t r = 0; r < m; r++) {
        const float *in = s0 + r * lds;
        float mref = mx0[r];
        int nan = isnan(mref);
        for (size_t j = 0; j < n; j++) {
            nan |= isnan(in[j]);
            mref = in[j] > mref ? in[j] : mref;
        }
        if (nan)
            mref = NAN;
        for (size_t j = n; j < lds; j++)
            pt_expect(pt_bits(s[r * lds + j]) == PT_SENTINEL, "%s %s: n=%zu wrote column %zu",
                      name, what, n, j);
        if (mref == -INFINITY) {
            pt_expect(mx[r] == -INFINITY && l[r] == l0[r] && alpha[r] == 1.0f,
                      "%s %s: row %zu all −inf: mx %g l %g alpha %g, want −inf, %g, 1", name,
                      what, r, (double)mx[r], (double)l[r], (double)alpha[r], (double)l0[r]);
            for (size_t j = 0; j < n; j++)
                pt_expect(pt_same_bits(s[r * lds + j], 0.0f), "%s %s: row %zu all −inf: "
                          "s[%zu] = %g, want +0", name, what, r, j, (double)s[r * lds + j]);
            continue;
        }
        pt_expect(pt_same(mx[r], mref), "%s %s: row %zu max %g, want %g", name, what, r,
                  (double)mx[r], (double)mref);
        const double aref = mx0[r] == mref ? 1.0 : exp((double)mx0[r] - (double)mref);
        pt_expect(close_rel(alpha[r], aref, EXP_REL), "%s %s: row %zu alpha %.9g, want %.9g",
                  name, what, r, (double)alpha[r], aref);
        want_ret |= !(alpha[r] == 1.0f);
        double sum = 0;
        for (size_t j = 0; j < n; j++) {
            const double e = exp((double)in[j] - (double)mref);
            sum += e;
            /* + the rounding of s − m in f32 (exact when s, m are within 2×) */
            const double rel = EXP_REL + fabs((double)in[j] - (double)mref) * 0x1.0p-24;
            if (!pt_expect(close_rel(s[r * lds + j], e, rel), "%s %s: m=%zu n=%zu row %zu "
                           "p[%zu] = %.9g, want %.9g", name, what, m, n, r, j,
                           (double)s[r * lds + j], e))
                break;
        }
        const double lref = aref * l0[r] + sum;
        pt_expect(close_rel(l[r], lref, (double)(n + 6) * 0x1.0p-23), "%s %s: m=%zu n=%zu "
                  "row %zu l = %.9g, want %.9g", name, what, m, n, r, (double)l[r], lref);
    }
    pt_expect(pt_bits(alpha[m]) == PT_SENTINEL, "%s %s: wrote alpha[%zu]", name, what, m);
    pt_expect((ret != 0) == (want_ret != 0), "%s %s: returned %d, but alpha != 1 is %s",
              name, what, ret, want_ret ? "true" : "false");
    free(s), free(alpha), free(mx0), free(l0);
}

static void smt_accuracy(const char *name, attn_softmax_tile_fn *fn)
{
    static const size_t ns[] = {0, 1, 3, 4, 5, 8, 17, 64};
    pt_rng rng = {0x5a1};
    pt_begin("softmax_tile %s: two online steps vs float64 (m=1..6, n=0..64, scores "
             "90..100 overflow without the max)", name);
    for (size_t m = 1; m <= 6 && !pt_failed(); m++)
        for (size_t i = 0; i < PT_NELEM(ns) && !pt_failed(); i++) {
            const size_t n = ns[i], lds = n + 3;
            float *s = pt_alloc(m * lds, PT_SENTINEL), mx[6], l[6];
            for (size_t r = 0; r < m; r++) {
                mx[r] = -INFINITY, l[r] = 0;
                for (size_t j = 0; j < n; j++)
                    s[r * lds + j] = pt_uniformf(&rng, 90, 100);
            }
            smt_step_check(name, fn, m, n, s, lds, mx, l, "first step");
            /* second step: even rows' max grows, odd rows' stays (alpha = 1) */
            for (size_t r = 0; r < m; r++)
                for (size_t j = 0; j < n; j++)
                    s[r * lds + j] = r % 2 ? pt_uniformf(&rng, 80, mx[r])
                                           : pt_uniformf(&rng, 85, 105);
            smt_step_check(name, fn, m, n, s, lds, mx, l, "second step");
            /* only the odd rows: nothing moves, return 0 */
            if (m >= 2) {
                float mo[3], lo[3];
                float *so = pt_alloc(3 * lds, PT_SENTINEL);
                size_t k = 0;
                for (size_t r = 1; r < m; r += 2, k++) {
                    mo[k] = mx[r], lo[k] = l[r];
                    for (size_t j = 0; j < n; j++)
                        so[k * lds + j] = pt_uniformf(&rng, 70, mx[r]);
                }
                smt_step_check(name, fn, k, n, so, lds, mo, lo, "max unchanged");
                free(so);
            }
            free(s);
        }
    pt_end();
}

/* Chunks of one row through the online step give the full softmax. */
static void smt_online(const char *name, attn_softmax_tile_fn *fn)
{
    enum { M = 3, N = 37 };
    static const size_t chunks[] = {5, 16, 16};
    pt_rng rng = {0x0c1};
    float all[M][N], p[M][N], mx[M], l[M], alpha[M];
    pt_begin("softmax_tile %s: online over chunks 5+16+16 == full softmax (float64)", name);
    for (size_t r = 0; r < M; r++) {
        for (size_t j = 0; j < N; j++)
            all[r][j] = pt_uniformf(&rng, -30, 30) + (float)(r * 5);
        mx[r] = -INFINITY, l[r] = 0;
    }
    size_t j0 = 0;
    for (size_t c = 0; c < PT_NELEM(chunks); c++) {
        float s[M][16];
        for (size_t r = 0; r < M; r++)
            memcpy(s[r], &all[r][j0], chunks[c] * sizeof(float));
        fn(M, chunks[c], &s[0][0], 16, mx, l, alpha);
        for (size_t r = 0; r < M; r++) {
            for (size_t j = 0; j < j0; j++)
                p[r][j] *= alpha[r]; /* what pv_tile's alpha does to O */
            memcpy(&p[r][j0], s[r], chunks[c] * sizeof(float));
        }
        j0 += chunks[c];
    }
    for (size_t r = 0; r < M; r++) {
        double m = -INFINITY, sum = 0;
        for (size_t j = 0; j < N; j++)
            m = all[r][j] > m ? all[r][j] : m;
        for (size_t j = 0; j < N; j++)
            sum += exp(all[r][j] - m);
        pt_expect(mx[r] == (float)m, "%s: row %zu final max %g, want %g", name, r,
                  (double)mx[r], m);
        pt_expect(close_rel(l[r], sum, 1e-5), "%s: row %zu final l %.9g, want %.9g", name, r,
                  (double)l[r], sum);
        for (size_t j = 0; j < N; j++) {
            const double want = exp(all[r][j] - m) / sum, got = (double)p[r][j] / l[r];
            if (!pt_expect(fabs(got - want) <= 1e-5 * want + 1e-30, "%s: row %zu p[%zu] %.9g, "
                           "full softmax %.9g", name, r, j, got, want))
                break;
        }
    }
    pt_end();
}

static void smt_special(const char *name, attn_softmax_tile_fn *fn)
{
    enum { N = 13, LDS = 16 };
    pt_rng rng = {0x1f};
    float s[5][LDS], mx[5], l[5], alpha[5];

    pt_begin("softmax_tile %s: −inf rows, −inf scores, n = 0", name);
    for (size_t r = 0; r < 5; r++)
        for (size_t j = 0; j < LDS; j++)
            s[r][j] = j % 3 ? pt_uniformf(&rng, -3, 3) : -INFINITY;
    for (size_t j = 0; j < N; j++)
        s[0][j] = s[2][j] = -INFINITY;
    mx[0] = -INFINITY, l[0] = 0;   /* masked so far and now: stays empty    */
    mx[1] = -INFINITY, l[1] = 0;   /* some −inf scores: exact 0 there       */
    mx[2] = 4.0f, l[2] = 2.5f;     /* masked now, not before: nothing moves */
    mx[3] = -INFINITY, l[3] = 0;
    mx[4] = 50.0f, l[4] = 1.0f;    /* max does not move: alpha exactly 1    */
    const int ret = fn(5, N, &s[0][0], LDS, mx, l, alpha);
    pt_expect(mx[0] == -INFINITY && l[0] == 0 && alpha[0] == 1, "%s: empty row: mx %g l %g "
              "alpha %g", name, (double)mx[0], (double)l[0], (double)alpha[0]);
    pt_expect(mx[2] == 4.0f && l[2] == 2.5f && alpha[2] == 1, "%s: row masked in this block: "
              "mx %g l %g alpha %g, want 4 2.5 1", name, (double)mx[2], (double)l[2],
              (double)alpha[2]);
    pt_expect(alpha[4] == 1.0f && mx[4] == 50.0f, "%s: unmoved max: alpha %g", name,
              (double)alpha[4]);
    for (size_t r = 0; r < 5; r++)
        for (size_t j = 0; j < N; j++) {
            if (r == 0 || r == 2 || j % 3 == 0)
                pt_expect(pt_same_bits(s[r][j], 0.0f), "%s: row %zu s[%zu] = %g for −inf, "
                          "want +0", name, r, j, (double)s[r][j]);
            else
                pt_expect(isfinite(s[r][j]) && s[r][j] > 0, "%s: row %zu s[%zu] = %g", name,
                          r, j, (double)s[r][j]);
        }
    pt_expect(ret != 0, "%s: returned 0 though rows 1 and 3 moved their max", name);
    float mx0 = 1.5f, l0 = 3.0f, a0 = 7.0f, dummy = 0;
    const int ret0 = fn(1, 0, &dummy, 1, &mx0, &l0, &a0);
    pt_expect(ret0 == 0 && mx0 == 1.5f && l0 == 3.0f && a0 == 1.0f && dummy == 0,
              "%s: n = 0 changed mx/l (%g %g) or gave alpha %g, returned %d", name,
              (double)mx0, (double)l0, (double)a0, ret0);
    pt_end();

    pt_begin("softmax_tile %s: NaN propagates to its row (s, l, mx) and no further", name);
    for (size_t r = 0; r < 3; r++) {
        for (size_t j = 0; j < LDS; j++)
            s[r][j] = pt_uniformf(&rng, -3, 3);
        mx[r] = -INFINITY, l[r] = 0;
    }
    s[1][7] = NAN;
    float ref[LDS];
    float rmx = -INFINITY, rl = 0, ra;
    memcpy(ref, s[2], sizeof ref);
    fn(1, N, ref, LDS, &rmx, &rl, &ra);
    const int retn = fn(3, N, &s[0][0], LDS, mx, l, alpha);
    pt_expect(isnan(mx[1]) && isnan(l[1]), "%s: NaN row: mx %g l %g", name, (double)mx[1],
              (double)l[1]);
    for (size_t j = 0; j < N; j++)
        pt_expect(isnan(s[1][j]), "%s: NaN row: s[%zu] = %g", name, j, (double)s[1][j]);
    pt_expect(isfinite(l[0]) && isfinite(l[2]) && pt_same_bits(l[2], rl),
              "%s: rows beside the NaN row changed (l %g %g)", name, (double)l[0], (double)l[2]);
    pt_expect(retn != 0, "%s: returned 0 on a first step", name);
    /* a NaN row stays NaN in later steps */
    for (size_t j = 0; j < N; j++)
        s[1][j] = pt_uniformf(&rng, -3, 3);
    fn(1, N, s[1], LDS, &mx[1], &l[1], &alpha[1]);
    pt_expect(isnan(l[1]) && isnan(s[1][0]), "%s: a NaN row recovered in the next step", name);
    pt_end();
}

/* A row's result does not depend on m, its position, or −inf columns appended. */
static void smt_determinism(const char *name, attn_softmax_tile_fn *fn)
{
    enum { M = 6, N = 45, LDS = 53 };
    pt_rng rng = {0xd7};
    pt_begin("softmax_tile %s: bitwise: row alone == row in a %d-row tile, −inf columns "
             "appended change nothing", name, M);
    static float s0[M][LDS], s[M][LDS], t[LDS];
    for (size_t r = 0; r < M; r++)
        for (size_t j = 0; j < LDS; j++)
            s0[r][j] = pt_uniformf(&rng, -20, 20);
    for (size_t n = 1; n <= 41 && !pt_failed(); n += 4) {
        float mx[M], l[M], alpha[M];
        memcpy(s, s0, sizeof s);
        for (size_t r = 0; r < M; r++)
            mx[r] = r % 2 ? -INFINITY : 10.0f, l[r] = r % 2 ? 0.0f : 3.0f;
        fn(M, n, &s[0][0], LDS, mx, l, alpha);
        for (size_t r = 0; r < M && !pt_failed(); r++) {
            for (size_t extra = 0; extra <= 4; extra += 4) {
                float m1 = r % 2 ? -INFINITY : 10.0f, l1 = r % 2 ? 0.0f : 3.0f, a1;
                memcpy(t, s0[r], sizeof t);
                for (size_t j = n; j < n + extra; j++)
                    t[j] = -INFINITY;
                fn(1, n + extra, t, LDS, &m1, &l1, &a1);
                int same = pt_same_bits(m1, mx[r]) && pt_same_bits(l1, l[r]) &&
                           pt_same_bits(a1, alpha[r]);
                for (size_t j = 0; j < n; j++)
                    same &= pt_same_bits(t[j], s[r][j]);
                for (size_t j = n; j < n + extra; j++)
                    same &= pt_same_bits(t[j], 0.0f);
                pt_expect(same, "%s: n=%zu row %zu: alone with %zu −inf columns appended "
                          "differs from its tile (l %a vs %a)", name, n, r, extra, (double)l1,
                          (double)l[r]);
            }
        }
    }
    pt_end();
}

void pt_check_softmax_tile(const char *name, attn_softmax_tile_fn *fn)
{
    smt_accuracy(name, fn);
    smt_online(name, fn);
    smt_special(name, fn);
    smt_determinism(name, fn);
}

/* ------------------------------------------------------------------ pv_tile */

/* A pv_tile (f32 V) or pv_tile_f16/bf16 (x16 = 1, 2: V read as 16-bit). */
typedef struct pv_kernel {
    attn_pv_tile_fn *f32;
    attn_pv_tile_x16_fn *f16;
    int x16;
} pv_kernel;

/* V from element voff on: the f32 values v, or their 16-bit patterns v16. */
static void pv_call(const pv_kernel *k, size_t m, size_t n, size_t dv, const float *p, size_t ldp,
                    const float *v, const uint16_t *v16, size_t voff, size_t ldv, float *o,
                    size_t ldo, const float *alpha, int overwrite)
{
    if (k->x16)
        k->f16(m, n, dv, p, ldp, v16 + voff, ldv, o, ldo, alpha, overwrite);
    else
        k->f32(m, n, dv, p, ldp, v + voff, ldv, o, ldo, alpha, overwrite);
}

/* mode 0: overwrite (O holds NaN garbage); 1: alpha NULL (O += PV); 2: alpha.
 * 16-bit V (k->x16) are patterns of |value| < 2, subnormals included; the
 * float64 reference uses their exact values (v holds them widened). */
static void pv_case(const char *name, const pv_kernel *k, unsigned mr, size_t n, size_t dv,
                    int mode, pt_rng *rng)
{
    static const char *modes[] = {"overwrite", "alpha=NULL", "alpha"};
    const size_t ldp = n + 1, ldv = dv + 2, ldo = dv + 3;
    float *p = pt_alloc(mr * ldp, PT_SENTINEL), *v = pt_alloc(n * ldv, PT_SENTINEL);
    uint16_t *v16 = malloc((n * ldv + 1) * sizeof(uint16_t));
    float *o0 = pt_alloc(mr * ldo, PT_SENTINEL), *o = pt_alloc(mr * ldo, PT_SENTINEL);
    float *o1 = pt_alloc(ldo, PT_SENTINEL), *alpha = pt_alloc(mr, PT_SENTINEL);
    for (size_t r = 0; r < mr; r++) {
        for (size_t j = 0; j < n; j++)
            p[r * ldp + j] = pt_uniformf(rng, 0, 1);
        for (size_t c = 0; c < dv; c++)
            o0[r * ldo + c] = mode == 0 ? NAN : pt_uniformf(rng, -2, 2);
        alpha[r] = r == 1 ? 1.0f : pt_uniformf(rng, 0, 1);
    }
    for (size_t j = 0; j < n; j++)
        for (size_t c = 0; c < dv; c++) {
            const size_t i = j * ldv + c;
            if (!k->x16) {
                v[i] = pt_uniformf(rng, -1, 1);
                continue;
            }
            const uint16_t sign = pt_uniformf(rng, -1, 1) < 0 ? 0x8000 : 0;
            const unsigned e = (unsigned)(pt_uniformf(rng, 0, 1) * 16) % 16;
            const unsigned f = (unsigned)(pt_uniformf(rng, 0, 1) * 1024) % 1024;
            v16[i] = k->x16 == 2 ? (uint16_t)(sign | (100 + e) << 7 | (f & 0x7f))
                                  : (uint16_t)(sign | e << 10 | f);
            v[i] = k->x16 == 2 ? attn_bf16_to_f32(v16[i]) : attn_f16_to_f32(v16[i]);
        }
    const float *al = mode == 2 ? alpha : NULL;

    for (size_t m = 1; m <= mr; m++) {
        memcpy(o, o0, mr * ldo * sizeof(float));
        pv_call(k, m, n, dv, p, ldp, v, v16, 0, ldv, o, ldo, al, mode == 0);
        for (size_t r = 0; r < mr; r++)
            for (size_t c = 0; c < ldo; c++) {
                const float got = o[r * ldo + c];
                if (r >= m || c >= dv) {
                    if (!pt_expect(pt_same_bits(got, o0[r * ldo + c]), "%s %s: m=%zu n=%zu "
                                   "dv=%zu wrote O[%zu][%zu] outside the tile", name,
                                   modes[mode], m, n, dv, r, c))
                        goto out;
                    continue;
                }
                const double init = mode == 0 ? 0.0
                                    : mode == 1 ? (double)o0[r * ldo + c]
                                                : (double)(alpha[r] * o0[r * ldo + c]);
                double ref = init, abs = fabs(init);
                for (size_t j = 0; j < n; j++) {
                    const double t = (double)p[r * ldp + j] * (double)v[j * ldv + c];
                    ref += t;
                    abs += fabs(t);
                }
                if (!pt_expect(fabs(got - ref) <= dot_bound(n, abs), "%s %s: m=%zu n=%zu "
                               "dv=%zu O[%zu][%zu] = %.9g, float64 %.9g", name, modes[mode],
                               m, n, dv, r, c, (double)got, ref))
                    goto out;
            }
    }
    /* o holds the full tile: each row alone gives the same bits */
    for (size_t r = 0; r < mr; r++) {
        memcpy(o1, o0 + r * ldo, ldo * sizeof(float));
        pv_call(k, 1, n, dv, p + r * ldp, ldp, v, v16, 0, ldv, o1, ldo, al ? al + r : NULL,
                mode == 0);
        for (size_t c = 0; c < dv; c++)
            if (!pt_expect(pt_same_bits(o1[c], o[r * ldo + c]), "%s %s: n=%zu dv=%zu row %zu "
                           "alone differs from the %u-row tile at column %zu", name,
                           modes[mode], n, dv, r, mr, c))
                goto out;
    }
    /* one chain over the keys: keys [0, h) then [h, n) accumulated onto O
     * give the bits of one call over [0, n) */
    if (n >= 2) {
        const size_t h = n / 2 + 1;
        memcpy(o1, o0 + (mr - 1) * ldo, ldo * sizeof(float));
        const float *p1 = p + (mr - 1) * ldp;
        pv_call(k, 1, h, dv, p1, ldp, v, v16, 0, ldv, o1, ldo, al ? al + mr - 1 : NULL, mode == 0);
        pv_call(k, 1, n - h, dv, p1 + h, ldp, v, v16, h * ldv, ldv, o1, ldo, NULL, 0);
        for (size_t c = 0; c < dv; c++)
            if (!pt_expect(pt_same_bits(o1[c], o[(mr - 1) * ldo + c]), "%s %s: n=%zu dv=%zu "
                           "keys split %zu+%zu differ from one call at column %zu (not one "
                           "chain in key order)", name, modes[mode], n, dv, h, n - h, c))
                goto out;
    }
out:
    free(p), free(v), free(v16), free(o0), free(o), free(o1), free(alpha);
}

static void check_pv(const char *name, const pv_kernel *k, unsigned mr)
{
    static const size_t ns[] = {0, 1, 3, 4, 5, 17};
    static const size_t dvs[] = {1, 3, 4, 5, 16, 17, 33, 80, 128};
    static const char *const what[] = {"pv_tile", "pv_tile_f16", "pv_tile_bf16"};
    pt_rng rng = {0x77 + (uint64_t)k->x16};
    for (int mode = 0; mode < 3; mode++) {
        static const char *modes[] = {"overwrite", "O += PV (alpha NULL)", "alpha ⊙ O + PV"};
        pt_begin("%s %s: %s, m=1..%u, n=0..17, dv=1..128 vs float64, row independence, "
                 "one chain over keys", what[k->x16], name, modes[mode], mr);
        for (size_t i = 0; i < PT_NELEM(ns) && !pt_failed(); i++)
            for (size_t j = 0; j < PT_NELEM(dvs) && !pt_failed(); j++)
                pv_case(name, k, mr, ns[i], dvs[j], mode, &rng);
        pt_end();
    }
}

void pt_check_pv_tile(const char *name, attn_pv_tile_fn *fn, unsigned mr)
{
    const pv_kernel k = {fn, NULL, 0};
    check_pv(name, &k, mr);
}

void pt_check_pv_tile_x16(const char *name, attn_pv_tile_x16_fn *fn, unsigned mr, int bf)
{
    const pv_kernel k = {NULL, fn, bf ? 2 : 1};
    check_pv(name, &k, mr);
}

/* ------------------------------------------------------------------ softmax_row */

void pt_check_softmax_row(const char *name, attn_softmax_row_fn *fn)
{
    static const size_t ns[] = {1, 2, 3, 4, 5, 7, 8, 17, 64, 100};
    pt_rng rng = {0x3e};
    pt_begin("softmax_row %s: n=1..100 vs float64 (scores 90..100 and −20..20), lse", name);
    for (size_t i = 0; i < PT_NELEM(ns) && !pt_failed(); i++)
        for (int range = 0; range < 2; range++) {
            const size_t n = ns[i];
            float *x = pt_alloc(n + 2, PT_SENTINEL), *x0 = pt_alloc(n, 0);
            for (size_t j = 0; j < n; j++)
                x0[j] = x[j] = range ? pt_uniformf(&rng, -20, 20) : pt_uniformf(&rng, 90, 100);
            const float lse = fn(n, x);
            double m = -INFINITY, sum = 0;
            for (size_t j = 0; j < n; j++)
                m = x0[j] > m ? x0[j] : m;
            for (size_t j = 0; j < n; j++)
                sum += exp((double)x0[j] - m);
            for (size_t j = 0; j < n; j++) {
                /* exp, sum and divide, plus the rounding of x − max in f32 */
                const double rel = (double)(n + 8) * 0x1.0p-23 + fabs(x0[j] - m) * 0x1.0p-24;
                const double want = exp((double)x0[j] - m) / sum;
                if (!pt_expect(fabs(x[j] - want) <= rel * want + 1e-40, "%s: n=%zu x[%zu] = "
                               "%.9g, want %.9g", name, n, j, (double)x[j], want))
                    break;
            }
            const double lref = m + log(sum);
            pt_expect(fabs(lse - lref) <= 1e-5 + 0x1.0p-23 * fabs(lref), "%s: n=%zu lse %.9g, "
                      "want %.9g", name, n, (double)lse, lref);
            pt_expect(pt_bits(x[n]) == PT_SENTINEL && pt_bits(x[n + 1]) == PT_SENTINEL,
                      "%s: n=%zu wrote past the row", name, n);
            free(x), free(x0);
        }
    pt_end();

    pt_begin("softmax_row %s: n = 0, all −inf, some −inf, NaN", name);
    float x[11];
    pt_fill_bits(x, 11, PT_SENTINEL);
    float r = fn(0, x);
    pt_expect(r == -INFINITY && pt_bits(x[0]) == PT_SENTINEL, "%s: n = 0 returned %g or wrote",
              name, (double)r);
    for (size_t j = 0; j < 9; j++)
        x[j] = -INFINITY;
    r = fn(9, x);
    pt_expect(r == -INFINITY, "%s: all −inf returned %g", name, (double)r);
    for (size_t j = 0; j < 9; j++)
        pt_expect(pt_same_bits(x[j], 0.0f), "%s: all −inf: x[%zu] = %g", name, j, (double)x[j]);
    pt_expect(pt_bits(x[9]) == PT_SENTINEL, "%s: wrote past the row", name);
    for (size_t j = 0; j < 9; j++)
        x[j] = j % 2 ? -INFINITY : (float)j;
    r = fn(9, x);
    double sum = 0;
    for (size_t j = 0; j < 9; j += 2)
        sum += exp((double)j - 8.0);
    for (size_t j = 0; j < 9; j++) {
        if (j % 2)
            pt_expect(pt_same_bits(x[j], 0.0f), "%s: −inf entry x[%zu] = %g", name, j,
                      (double)x[j]);
        else
            pt_expect(close_rel(x[j], exp((double)j - 8.0) / sum, 20 * 0x1.0p-23),
                      "%s: x[%zu] = %g", name, j, (double)x[j]);
    }
    pt_expect(fabs(r - (8.0 + log(sum))) <= 1e-5, "%s: lse %g", name, (double)r);
    for (size_t j = 0; j < 9; j++)
        x[j] = (float)j;
    x[4] = NAN;
    r = fn(9, x);
    pt_expect(isnan(r), "%s: NaN row returned %g", name, (double)r);
    for (size_t j = 0; j < 9; j++)
        pt_expect(isnan(x[j]), "%s: NaN row: x[%zu] = %g", name, j, (double)x[j]);
    pt_end();
}

/* ------------------------------------------------------------------ pack_k, pack_v */

void pt_check_pack_k(const char *name, attn_pack_k_f32_fn *fn, const unsigned *nrs, size_t nnrs)
{
    static const size_t ds[] = {1, 3, 4, 5, 16, 17};
    pt_rng rng = {0x9a};
    for (size_t e = 0; e < nnrs; e++) {
        const unsigned nr = nrs[e];
        size_t ns[8];
        const size_t nn = sizes_around(nr, 2 * nr, ns);
        pt_begin("pack_k %s: nr=%u, n=%zu..%zu, d=1..17: exact layout, zero padding, bounds",
                 name, nr, ns[0], ns[nn - 1]);
        for (size_t i = 0; i < nn && !pt_failed(); i++)
            for (size_t di = 0; di < PT_NELEM(ds) && !pt_failed(); di++) {
                const size_t n = ns[i], d = ds[di], ldk = d + 2;
                const size_t out = (n + nr - 1) / nr * nr * d;
                float *k = pt_alloc(n * ldk, PT_SENTINEL);
                float *kp = pt_alloc(out + 3, PT_SENTINEL), *want = pt_alloc(out, 0);
                for (size_t j = 0; j < n; j++)
                    for (size_t dd = 0; dd < d; dd++)
                        k[j * ldk + dd] = pt_uniformf(&rng, -1, 1);
                k[0] = -0.0f;
                if (n * d > 1)
                    pt_fill_bits(&k[(n - 1) * ldk + d - 1], 1, 0x7fc12345u); /* NaN payload */
                pack_ref(n, d, k, ldk, want, nr);
                fn(n, d, k, ldk, kp, nr);
                for (size_t t = 0; t < out + 3; t++) {
                    const int ok = t < out ? pt_same_bits(kp[t], want[t])
                                           : pt_bits(kp[t]) == PT_SENTINEL;
                    if (!pt_expect(ok, "%s: nr=%u n=%zu d=%zu: kp[%zu] = %a, want %a%s", name,
                                   nr, n, d, t, (double)kp[t], t < out ? (double)want[t] : 0.0,
                                   t < out ? "" : " (past the end)"))
                        break;
                }
                free(k), free(kp), free(want);
            }
        pt_end();
    }
}

void pt_check_pack_v(const char *name, attn_pack_v_f32_fn *fn)
{
    static const size_t ns[] = {0, 1, 5};
    static const size_t dvs[] = {1, 3, 16, 17};
    pt_rng rng = {0x9b};
    pt_begin("pack_v %s: n=0..5, dv=1..17: exact copy, bounds", name);
    for (size_t i = 0; i < PT_NELEM(ns); i++)
        for (size_t k = 0; k < PT_NELEM(dvs); k++) {
            const size_t n = ns[i], dv = dvs[k], ldv = dv + 3;
            float *v = pt_alloc(n * ldv, PT_SENTINEL), *vp = pt_alloc(n * dv + 2, PT_SENTINEL);
            for (size_t j = 0; j < n; j++)
                for (size_t c = 0; c < dv; c++)
                    v[j * ldv + c] = pt_uniformf(&rng, -1, 1);
            fn(n, dv, v, ldv, vp);
            for (size_t t = 0; t < n * dv + 2; t++) {
                const int ok = t < n * dv ? pt_same_bits(vp[t], v[t / dv * ldv + t % dv])
                                          : pt_bits(vp[t]) == PT_SENTINEL;
                if (!pt_expect(ok, "%s: n=%zu dv=%zu: vp[%zu] wrong", name, n, dv, t))
                    break;
            }
            free(v), free(vp);
        }
    pt_end();
}

/* ------------------------------------------------------------------ pack_*_f16 / bf16 */

/* The exact widening (kernels/convert.h); any NaN matches any NaN (FCVTL and
 * VCVTPH2PS quiet a signalling NaN). */
static int widened_ok(float got, uint16_t h, int bf)
{
    const float want = bf ? attn_bf16_to_f32(h) : attn_f16_to_f32(h);
    return pt_same(got, want);
}

void pt_check_pack_k_x16(const char *name, attn_pack_k_x16_fn *fn, const unsigned *nrs,
                         size_t nnrs, int bf)
{
    static const size_t ds[] = {1, 3, 4, 5, 16, 17};
    uint16_t pattern = 0x1234;
    for (size_t e = 0; e < nnrs; e++) {
        const unsigned nr = nrs[e];
        size_t ns[8];
        const size_t nn = sizes_around(nr, 2 * nr, ns);
        pt_begin("pack_k_%s %s: nr=%u, n=%zu..%zu, d=1..17: exact widening (every bit "
                 "pattern class), layout, zero padding, bounds", bf ? "bf16" : "f16", name, nr,
                 ns[0], ns[nn - 1]);
        for (size_t i = 0; i < nn && !pt_failed(); i++)
            for (size_t di = 0; di < PT_NELEM(ds) && !pt_failed(); di++) {
                const size_t n = ns[i], d = ds[di], ldk = d + 3;
                const size_t out = (n + nr - 1) / nr * nr * d, nk = (n - 1) * ldk + d;
                uint16_t *k = malloc(nk * sizeof(uint16_t));
                float *kp = pt_alloc(out + 3, PT_SENTINEL);
                for (size_t t = 0; t < nk; t++)
                    k[t] = pattern += 40503u; /* odd step: walks all 65536 patterns */
                fn(n, d, k, ldk, kp, nr);
                for (size_t t = 0; t < out + 3; t++) {
                    int ok;
                    if (t >= out) {
                        ok = pt_bits(kp[t]) == PT_SENTINEL;
                    } else {
                        const size_t p = t / (nr * d), dd = t % (nr * d) / nr, jj = t % nr;
                        const size_t j = p * nr + jj;
                        ok = j < n ? widened_ok(kp[t], k[j * ldk + dd], bf)
                                   : pt_same_bits(kp[t], 0.0f);
                    }
                    if (!pt_expect(ok, "%s: nr=%u n=%zu d=%zu: kp[%zu] = %a wrong%s", name, nr,
                                   n, d, t, (double)kp[t], t < out ? "" : " (past the end)"))
                        break;
                }
                free(k), free(kp);
            }
        pt_end();
    }
}

void pt_check_pack_v_x16(const char *name, attn_pack_v_x16_fn *fn, int bf)
{
    /* all 65536 patterns as 256 rows of 256 at a padded pitch; then tails */
    static const size_t shapes[][2] = {{256, 256}, {1, 1}, {3, 7}, {9, 17}, {5, 33}, {0, 4}};
    pt_begin("pack_v_%s %s: all 65536 bit patterns and row tails: exact widening, bounds",
             bf ? "bf16" : "f16", name);
    for (size_t sh = 0; sh < PT_NELEM(shapes) && !pt_failed(); sh++) {
        const size_t n = shapes[sh][0], dv = shapes[sh][1], ldv = dv + 3;
        uint16_t *v = malloc((n * ldv + 1) * sizeof(uint16_t));
        float *vp = pt_alloc(n * dv + 2, PT_SENTINEL);
        for (size_t j = 0; j < n; j++)
            for (size_t c = 0; c < dv; c++)
                v[j * ldv + c] = (uint16_t)((j * dv + c) * 40503u);
        fn(n, dv, v, ldv, vp);
        for (size_t t = 0; t < n * dv + 2; t++) {
            const int ok = t < n * dv ? widened_ok(vp[t], v[t / dv * ldv + t % dv], bf)
                                      : pt_bits(vp[t]) == PT_SENTINEL;
            if (!pt_expect(ok, "%s: n=%zu dv=%zu: vp[%zu] = %a wrong", name, n, dv, t,
                           (double)vp[t]))
                break;
        }
        free(v), free(vp);
    }
    pt_end();
}

/* ------------------------------------------------------------------ softcap_row */

void pt_check_softcap_row(const char *name, attn_softcap_row_fn *fn)
{
    static const float caps[] = {1.0f, 30.0f, 50.0f};
    pt_rng rng = {0x3f};
    pt_begin("softcap_row %s: n=0..40, caps 1/30/50 vs float64 tanh, tails, ±inf, NaN, ±0", name);
    float x[44], x0[44];
    for (size_t ic = 0; ic < PT_NELEM(caps) && !pt_failed(); ic++) {
        const float cap = caps[ic];
        for (size_t n = 0; n <= 40 && !pt_failed(); n++) {
            pt_fill_bits(x, 44, PT_SENTINEL);
            for (size_t j = 0; j < n; j++)
                x0[j] = x[j] = pt_uniformf(&rng, -4 * cap, 4 * cap);
            fn(n, x, cap);
            for (size_t j = 0; j < n; j++) {
                const double want = cap * tanh((double)x0[j] / cap);
                if (!pt_expect(fabs(x[j] - want) <= 6 * 0x1p-24 * fabs(want) + 1e-37,
                               "%s cap %g: %.9g -> %.9g, want %.9g", name, (double)cap,
                               (double)x0[j], (double)x[j], want))
                    break;
            }
            pt_expect(pt_bits(x[n]) == PT_SENTINEL, "%s: wrote past n = %zu", name, n);
        }
        const float sp[] = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 0.1f, 3.0f};
        memcpy(x, sp, sizeof sp);
        fn(PT_NELEM(sp), x, cap);
        pt_expect(x[0] == cap && x[1] == -cap, "%s: ±inf -> %g %g", name, (double)x[0],
                  (double)x[1]);
        pt_expect(isnan(x[2]), "%s: NaN -> %g", name, (double)x[2]);
        pt_expect(pt_bits(x[3]) == 0 && pt_bits(x[4]) == 0x80000000u, "%s: ±0 lost its sign",
                  name);
    }
    pt_end();
}

/* ------------------------------------------------------------------ qk_direct */

/* qk_direct (x16 = 0) or qk_direct_f16/bf16 (x16 = 1, 2) against float64 on
 * the keys' values (16-bit keys widen exactly: the kernel's only error is
 * f32 accumulation): m = 1..mr+1, tails of d and n, K rows in place, bounds.
 * 16-bit keys are patterns of |value| < 2, subnormals included. */
static void check_qk_direct(const char *name, attn_qk_direct_fn *f32, attn_qk_direct_x16_fn *f16,
                            unsigned mr, int x16)
{
    static const size_t ns[] = {1, 3, 4, 5, 9, 17};
    static const size_t ds[] = {1, 5, 8, 16, 20, 64, 128};
    static const char *const what[] = {"qk_direct", "qk_direct_f16", "qk_direct_bf16"};
    pt_rng rng = {0x40 + (uint64_t)x16};
    pt_begin("%s %s: m=1..%u, n=1..17, d=1..128 vs float64, K rows in place, bounds", what[x16],
             name, mr + 1);
    for (size_t m = 1; m <= mr + 1 && !pt_failed(); m++)
        for (size_t in = 0; in < PT_NELEM(ns) && !pt_failed(); in++)
            for (size_t id = 0; id < PT_NELEM(ds) && !pt_failed(); id++) {
                const size_t n = ns[in], d = ds[id], ldq = d + 1, ldk = d + 3, lds = n + 2;
                float *q = pt_alloc(m * ldq, 0), *k = pt_alloc(n * ldk, 0);
                float *s = pt_alloc((m + 1) * lds, PT_SENTINEL);
                uint16_t *k16 = malloc(n * ldk * sizeof(uint16_t));
                for (size_t i = 0; i < m * ldq; i++)
                    q[i] = pt_uniformf(&rng, -1, 1);
                for (size_t i = 0; i < n * ldk; i++) {
                    if (!x16) {
                        k[i] = pt_uniformf(&rng, -1, 1);
                        continue;
                    }
                    const uint16_t sign = pt_uniformf(&rng, -1, 1) < 0 ? 0x8000 : 0;
                    const unsigned e = (unsigned)(pt_uniformf(&rng, 0, 1) * 16) % 16;
                    const unsigned f = (unsigned)(pt_uniformf(&rng, 0, 1) * 1024) % 1024;
                    k16[i] = x16 == 2 ? (uint16_t)(sign | (100 + e) << 7 | (f & 0x7f))
                                      : (uint16_t)(sign | e << 10 | f);
                    k[i] = x16 == 2 ? attn_bf16_to_f32(k16[i]) : attn_f16_to_f32(k16[i]);
                }
                if (x16)
                    f16(m, n, d, q, ldq, k16, ldk, s, lds);
                else
                    f32(m, n, d, q, ldq, k, ldk, s, lds);
                for (size_t r = 0; r <= m; r++)
                    for (size_t j = 0; j < lds; j++) {
                        if (r == m || j >= n) {
                            pt_expect(pt_bits(s[r * lds + j]) == PT_SENTINEL,
                                      "%s: m=%zu n=%zu d=%zu wrote S[%zu][%zu]", name, m, n, d, r,
                                      j);
                            continue;
                        }
                        double ref = 0, abs = 0;
                        for (size_t t = 0; t < d; t++) {
                            ref += (double)q[r * ldq + t] * k[j * ldk + t];
                            abs += fabs((double)q[r * ldq + t] * k[j * ldk + t]);
                        }
                        pt_expect(fabs(s[r * lds + j] - ref) <= (double)(d + 2) * 0x1p-24 * abs +
                                                                     1e-30,
                                  "%s: m=%zu n=%zu d=%zu S[%zu][%zu] = %.9g, want %.9g", name, m,
                                  n, d, r, j, (double)s[r * lds + j], ref);
                    }
                free(q), free(k), free(k16), free(s);
            }
    pt_end();
}

void pt_check_qk_direct(const char *name, attn_qk_direct_fn *fn, unsigned mr)
{
    check_qk_direct(name, fn, NULL, mr, 0);
}

void pt_check_qk_direct_x16(const char *name, attn_qk_direct_x16_fn *fn, unsigned mr, int bf)
{
    check_qk_direct(name, NULL, fn, mr, bf ? 2 : 1);
}
