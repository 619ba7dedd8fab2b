/*
 * staged.c — the four stage kernels (DESIGN §1.3), for engines that compose
 * their own attention and for looking at the weights:
 *   attn_qk      scores = scale · Q Kᵀ     (qk_tile over packed K blocks)
 *   attn_scale   x *= scale               (a literal multiply)
 *   attn_softmax row-wise stable softmax with causal / kv_len masks (softmax_row)
 *   attn_pv      out = P V                 (pv_tile)
 * Each validates everything first, then runs rows in parallel (OpenMP).
 */
#include <math.h>
#include <string.h>

#include <omp.h>

#include "convert.h"
#include "internal.h"

static float *row_ptr(const attn_tensor *t, size_t a, size_t b, size_t c)
{
    return (float *)t->data + a * t->stride[0] + b * t->stride[1] + c * t->stride[2];
}

/* Rows of a [B, H, L, *] tensor, as one flat index for OpenMP. */
static void row_index(const attn_tensor *t, size_t r, size_t *a, size_t *b, size_t *c)
{
    const size_t L = (size_t)t->shape[2], H = (size_t)t->shape[1];
    *c = r % L;
    *b = r / L % H;
    *a = r / L / H;
}

ATTN_API attn_status attn_qk(const attn_tensor *q, const attn_tensor *k,
                             const attn_tensor *scores, float scale)
{
    static const char fn[] = "attn_qk";
    attn_dims d;
    attn_status s;
    if ((s = attn_check_tensor(fn, "scores", scores, ATTN_CHK_OUTPUT | ATTN_CHK_F32)))
        return s;
    /* v is not used: check q and k against themselves as the V of the call */
    if ((s = attn_check_qkv(fn, q, k, k, NULL, &d)))
        return s;
    const int64_t want[4] = {(int64_t)d.B, (int64_t)d.Hq, (int64_t)d.Lq, (int64_t)d.Lk};
    if ((s = attn_check_shape(fn, "scores", scores, want)))
        return s;
    if (!isfinite(scale))
        return attn_error(ATTN_ERR_ARG, "%s: scale = %g is not finite", fn, (double)scale);
    if (d.B == 0 || d.Hq == 0 || d.Lq == 0 || d.Lk == 0)
        return ATTN_OK;

    const attn_kernels *kt = attn_active_kernels();
    const float sc = attn_resolve_scale(scale, d.D);
    const size_t mr = kt->qk_tile.mr, nr = kt->qk_tile.nr, g = d.Hq / d.Hkv;
    attn_plan plan;
    attn_plan_forward(kt, attn_topology(), &d, &plan);
    const size_t kc = plan.kc, kcp = (kc + nr - 1) / nr * nr;
    const size_t tiles = (d.Lq + mr - 1) / mr, items = d.B * d.Hq * tiles;
    const int nt = attn_thread_count(0, items);
    const size_t per = (mr * d.D + kcp * d.D + 15) & ~(size_t)15;
    if (per > ((size_t)-1) / 4 / (size_t)nt)
        return attn_error(ATTN_ERR_OVERFLOW, "%s: workspace size overflows", fn);
    float *ws = attn_alloc(per * sizeof(float) * (size_t)nt);
    if (!ws)
        return attn_error(ATTN_ERR_NOMEM, "%s: out of memory for the workspace", fn);

    #pragma omp parallel num_threads(nt)
    {
        float *qb = ws + per * (size_t)omp_get_thread_num(), *kp = qb + mr * d.D;
        #pragma omp for schedule(dynamic, 1)
        for (long long it = 0; it < (long long)items; it++) {
            const size_t tile = (size_t)it % tiles, bh = (size_t)it / tiles;
            const size_t b = bh / d.Hq, h = bh % d.Hq, i0 = tile * mr;
            const size_t m = d.Lq - i0 < mr ? d.Lq - i0 : mr;
            for (size_t r = 0; r < m; r++)
                attn_load_row(attn_at(q, b, h, i0 + r), q->dtype, d.D, sc, qb + r * d.D);
            for (size_t j0 = 0; j0 < d.Lk; j0 += kc) {
                const size_t nb = d.Lk - j0 < kc ? d.Lk - j0 : kc;
                attn_pack_k_rows(kt, k, b, h / g, j0, nb, kp);
                kt->qk_tile.fn(m, nb, d.D, qb, d.D, kp, row_ptr(scores, b, h, i0) + j0,
                               (size_t)scores->stride[2]);
            }
        }
    }
    attn_free(ws);
    return ATTN_OK;
}

ATTN_API attn_status attn_scale(const attn_tensor *x, float scale)
{
    static const char fn[] = "attn_scale";
    attn_status s = attn_check_tensor(fn, "x", x, ATTN_CHK_OUTPUT | ATTN_CHK_F32);
    if (s)
        return s;
    if (!isfinite(scale))
        return attn_error(ATTN_ERR_ARG, "%s: scale = %g is not finite", fn, (double)scale);
    const size_t rows = (size_t)(x->shape[0] * x->shape[1] * x->shape[2]);
    const size_t n = (size_t)x->shape[3];
    if (rows == 0 || n == 0)
        return ATTN_OK;
    const int nt = attn_thread_count(0, rows / 64 + 1);
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long long r = 0; r < (long long)rows; r++) {
        size_t a, b, c;
        row_index(x, (size_t)r, &a, &b, &c);
        float *row = row_ptr(x, a, b, c);
        for (size_t j = 0; j < n; j++)
            row[j] *= scale;
    }
    return ATTN_OK;
}

/* Whether the softmax of x is NaN: a NaN score, or a +inf one (inf − inf). */
static int nan_softmax(size_t n, const float *x)
{
    int any = 0;
    for (size_t j = 0; j < n; j++)
        any |= isnan(x[j]) || x[j] == INFINITY;
    return any;
}

/* One row of attn_softmax: modifiers, masks, softmax (with the sink in the
 * denominator), lse. */
static float softmax_one_row(const attn_kernels *kt, const attn_mods *m, float *row,
                             size_t b, size_t h, size_t i)
{
    if (m->Lk == 0) /* no score (row may be NULL): only the sink, if any */
        return m->sinks ? m->sinks[h] : -INFINITY;
    const size_t len = attn_mods_len(m, b);
    size_t lo, hi;
    attn_row_range(m, len, i, &lo, &hi);
    if (m->scores)
        attn_score_mods(m, b, h, i, len, lo, hi - lo, row + lo);
    for (size_t j = 0; j < lo; j++)
        row[j] = 0.0f;
    for (size_t j = hi; j < m->Lk; j++)
        row[j] = 0.0f;
    if ((m->sinks && isnan(m->sinks[h])) || nan_softmax(hi - lo, row + lo)) {
        /* a NaN row (a NaN or +inf score, or a NaN sink): its −inf entries
         * (masked by a bias, or −inf scores) are still exactly 0 */
        for (size_t j = lo; j < hi; j++)
            row[j] = row[j] == -INFINITY ? 0.0f : NAN;
        return NAN;
    }
    /* with a sink: the row's max and where it is, before the softmax */
    float mx = -INFINITY;
    size_t at = lo;
    if (m->sinks)
        for (size_t j = lo; j < hi; j++)
            if (row[j] > mx)
                mx = row[j], at = j;
    float lse = kt->softmax_row.fn(hi - lo, row + lo);
    if (m->sinks) {
        /* the sink joins the denominator: lse' = logaddexp(lse, sink), and the
         * visible weights shrink by l / (l + e^(sink − max)), l = Σ e^(s − max)
         * = 1 / p[argmax]. Not exp(lse − lse'), nor from lse at all: at scores
         * ~1e30, lse rounds to the max and loses l (fuzz: a sink equal to the
         * only score took nothing instead of half). */
        const float sink = m->sinks[h];
        const float hi_ = lse > sink ? lse : sink, lo_ = lse > sink ? sink : lse;
        const float total = lo_ == -INFINITY ? hi_ : hi_ + log1pf(expf(lo_ - hi_));
        float shrink = 0.0f; /* lse = −inf: no visible weight to shrink */
        if (sink == -INFINITY)
            shrink = 1.0f;
        else if (lse != -INFINITY)
            shrink = 1.0f / (1.0f + row[at] * expf(sink - mx));
        if (!isnan(lse)) /* a NaN row is NaN already, and its masked 0s stay */
            for (size_t j = lo; j < hi; j++)
                row[j] *= shrink;
        lse = isnan(lse) ? NAN : total;
    }
    return lse;
}

ATTN_API attn_status attn_softmax(const attn_tensor *scores, const attn_options *opt)
{
    static const char fn[] = "attn_softmax";
    attn_status s = attn_check_tensor(fn, "scores", scores, ATTN_CHK_OUTPUT | ATTN_CHK_F32);
    if (s)
        return s;
    attn_dims d = {(size_t)scores->shape[0], (size_t)scores->shape[1], 1,
                   (size_t)scores->shape[2], (size_t)scores->shape[3], 1, 1};
    if ((s = attn_check_options(fn, opt, &d)))
        return s;
    const size_t rows = d.B * d.Hq * d.Lq;
    if (rows == 0)
        return ATTN_OK;
    const attn_kernels *kt = attn_active_kernels();
    attn_mods mods;
    attn_mods_init(&mods, opt, &d, kt);
    const attn_tensor *lse = opt ? opt->lse : NULL;
    const int nt = attn_thread_count(opt ? opt->num_threads : 0, rows);

    #pragma omp parallel for num_threads(nt) schedule(static)
    for (long long r = 0; r < (long long)rows; r++) {
        size_t b, h, i;
        row_index(scores, (size_t)r, &b, &h, &i);
        float *row = d.Lk ? row_ptr(scores, b, h, i) : NULL; /* data may be NULL */
        const float l = softmax_one_row(kt, &mods, row, b, h, i);
        if (lse)
            *row_ptr(lse, b, h, i) = l;
    }
    return ATTN_OK;
}

ATTN_API attn_status attn_pv(const attn_tensor *probs, const attn_tensor *v,
                             const attn_tensor *out)
{
    static const char fn[] = "attn_pv";
    attn_status s;
    if ((s = attn_check_tensor(fn, "probs", probs, ATTN_CHK_F32)) ||
        (s = attn_check_tensor(fn, "v", v, 0)) ||
        (s = attn_check_tensor(fn, "out", out, ATTN_CHK_OUTPUT | ATTN_CHK_F32)))
        return s;
    const int64_t B = probs->shape[0], Hq = probs->shape[1], Hkv = v->shape[1];
    if (v->shape[3] < 1)
        return attn_error(ATTN_ERR_SHAPE, "%s: v.shape[3] (Dv) = %lld, must be >= 1",
                          fn, (long long)v->shape[3]);
    if (Hq >= 1 && Hkv < 1)
        return attn_error(ATTN_ERR_SHAPE, "%s: v.shape[1] (Hkv) = %lld, must be >= 1",
                          fn, (long long)Hkv);
    const int64_t vwant[4] = {B, Hkv, probs->shape[3], v->shape[3]};
    if ((s = attn_check_shape(fn, "v", v, vwant)))
        return s;
    if (Hkv > 0 && Hq % Hkv != 0)
        return attn_error(ATTN_ERR_SHAPE, "%s: probs heads (%lld) are not a multiple "
                          "of v heads (%lld)", fn, (long long)Hq, (long long)Hkv);
    const int64_t owant[4] = {B, Hq, probs->shape[2], v->shape[3]};
    if ((s = attn_check_shape(fn, "out", out, owant)))
        return s;
    const size_t Lq = (size_t)probs->shape[2], Lk = (size_t)probs->shape[3];
    const size_t Dv = (size_t)v->shape[3];
    if (B == 0 || Hq == 0 || Lq == 0)
        return ATTN_OK;

    /* K/V blocks of kc keys as in attn_forward; 16-bit V is widened per block */
    const attn_kernels *kt = attn_active_kernels();
    const attn_dims d = {(size_t)B, (size_t)Hq, (size_t)Hkv, Lq, Lk, 1, Dv};
    attn_plan plan;
    attn_plan_forward(kt, attn_topology(), &d, &plan);
    const size_t kc = plan.kc, mr = kt->pv_tile.mr, g = (size_t)(Hq / Hkv);
    const size_t tiles = (Lq + mr - 1) / mr, items = (size_t)(B * Hq) * tiles;
    const int nt = attn_thread_count(0, items);
    /* per thread: the widened V block (16-bit V) and one block's P·V */
    const size_t pvp = v->dtype == ATTN_F32 ? 0 : (kc * Dv + 15) & ~(size_t)15;
    const size_t per = pvp + ((mr * Dv + 15) & ~(size_t)15);
    float *ws = attn_alloc(per * sizeof(float) * (size_t)nt);
    if (!ws)
        return attn_error(ATTN_ERR_NOMEM, "%s: out of memory for the workspace", fn);

    #pragma omp parallel num_threads(nt)
    {
        float *vp = ws + per * (size_t)omp_get_thread_num(), *t = vp + pvp;
        #pragma omp for schedule(dynamic, 1)
        for (long long it = 0; it < (long long)items; it++) {
            const size_t tile = (size_t)it % tiles, bh = (size_t)it / tiles;
            const size_t b = bh / (size_t)Hq, h = bh % (size_t)Hq, i0 = tile * mr;
            const size_t m = Lq - i0 < mr ? Lq - i0 : mr;
            float *o = row_ptr(out, b, h, i0);
            const size_t ldo = (size_t)out->stride[2];
            if (Lk == 0) /* no key: out = 0 (probs and v may have no data) */
                for (size_t r = 0; r < m; r++)
                    memset(o + r * ldo, 0, Dv * sizeof(float));
            /* one sum per block of kc keys, then the blocks' sums (as in
             * attn_forward): f32 rounding grows with kc, not with Lk */
            for (size_t j0 = 0; j0 < Lk; j0 += kc) {
                const size_t nb = Lk - j0 < kc ? Lk - j0 : kc;
                size_t ldv;
                const float *vr = attn_rows_f32(kt, v, b, h / g, j0, nb, vp, &ldv);
                kt->pv_tile.fn(m, nb, Dv, row_ptr(probs, b, h, i0) + j0,
                               (size_t)probs->stride[2], vr, ldv, j0 ? t : o,
                               j0 ? Dv : ldo, NULL, 1);
                if (j0)
                    for (size_t r = 0; r < m; r++)
                        for (size_t cc = 0; cc < Dv; cc++)
                            o[r * ldo + cc] += t[r * Dv + cc];
            }
        }
    }
    attn_free(ws);
    return ATTN_OK;
}
