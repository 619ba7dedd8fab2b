/*
 * forward.c — attn_forward: the flash-attention driver (DESIGN §1.2, §6).
 *
 * Work items are tiles of query rows (plan.c): `rows` positions × the g =
 * Hq/Hkv query heads that share a K/V head, row t of a tile being position
 * i0 + t/g of head hk·g + t%g. Items run in parallel (OpenMP, dynamic).
 * For each item, K/V are swept in blocks of kc keys, aligned to multiples of
 * kc in absolute key position; each block is packed once and visited by
 * every mr-row block of the tile: S = Q·Kᵀ (qk_tile), masks written into S
 * as −inf, online softmax (softmax_tile), O = α⊙O + P·V (pv_tile). Row
 * blocks that see no key of a block are skipped; a masked score contributes
 * exactly nothing (exp(−inf) = 0, α = 1), so a row's arithmetic does not
 * depend on the tile it sits in, and results are bitwise identical for any
 * thread count. Extra memory: one workspace per thread, O(tile), whatever
 * the sequence lengths.
 *
 * Masked keys: keys at or past kv_len are never read. A key that a row
 * cannot see but that shares a block with rows that can (causal diagonal)
 * gets P = 0; if that key's V holds NaN or inf, 0·V would poison the row,
 * so such blocks are accumulated row by row over each row's own key range.
 */
#include <math.h>
#include <string.h>

#include <omp.h>

#include "internal.h"

typedef struct fwd_call {
    const attn_kernels *kt;
    attn_dims d;
    attn_plan plan;
    size_t g, tiles_per_head; /* query heads per K/V head; tiles along Lq */
    float scale;
    int causal;
    const int32_t *kv_len;
    const attn_tensor *q, *k, *v, *out, *lse;
} fwd_call;

typedef struct fwd_ws {
    float *q;      /* R × D, scaled Q rows of the tile            */
    float *kp;     /* packed K block: kcp × D                     */
    float *s;      /* scores/probabilities of one row block: mb × kc */
    float *o;      /* R × Dv accumulator                          */
    float *mx, *l, *alpha; /* R each: running max, sum, rescale   */
    size_t *lo, *hi;       /* R each: visible keys of the row     */
} fwd_ws;

static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; } /* floats → 64 B */

/* Per-thread workspace size in bytes (0 on overflow), and its carving. */
static size_t ws_bytes(const fwd_call *c, fwd_ws *w, char *base)
{
    const size_t R = c->plan.rows * c->g, D = c->d.D, Dv = c->d.Dv;
    const size_t nr = c->kt->qk_tile.nr, mb = c->kt->qk_tile.mr;
    const size_t kcp = (c->plan.kc + nr - 1) / nr * nr;
    const size_t parts[9] = {align16(R * D), align16(kcp * D), align16(mb * c->plan.kc),
                             align16(R * Dv), align16(R), align16(R), align16(R),
                             align16(R * 2), align16(R * 2)};
    size_t off = 0;
    float *ptr[9];
    for (int i = 0; i < 9; i++) {
        ptr[i] = base ? (float *)(void *)(base + off * sizeof(float)) : NULL;
        if (parts[i] > ((size_t)-1) / 8 - off)
            return 0;
        off += parts[i];
    }
    if (w) {
        w->q = ptr[0], w->kp = ptr[1], w->s = ptr[2], w->o = ptr[3];
        w->mx = ptr[4], w->l = ptr[5], w->alpha = ptr[6];
        w->lo = (size_t *)(void *)ptr[7], w->hi = (size_t *)(void *)ptr[8];
    }
    return off * sizeof(float);
}

static const float *at(const attn_tensor *t, size_t a, size_t b, size_t c)
{
    return (const float *)t->data + a * t->stride[0] + b * t->stride[1] + c * t->stride[2];
}

static int any_nonfinite(size_t n, size_t dv, const float *v, size_t ldv)
{
    int bad = 0;
    for (size_t j = 0; j < n; j++)
        for (size_t c = 0; c < dv; c++)
            bad |= !isfinite(v[j * ldv + c]);
    return bad;
}

/* One mr-row block of the tile against K/V block [j0, j0 + nb). */
static void row_block(const fwd_call *c, fwd_ws *w, size_t t0, size_t m,
                      size_t j0, size_t nb, const float *vblk, size_t ldv,
                      int *v_bad)
{
    const attn_kernels *kt = c->kt;
    const size_t D = c->d.D, Dv = c->d.Dv, kc = c->plan.kc, j1 = j0 + nb;
    int partial = 0, any = 0;
    for (size_t r = t0; r < t0 + m; r++) {
        const size_t lo = w->lo[r], hi = w->hi[r];
        const int sees = lo < hi && lo < j1 && hi > j0;
        any |= sees;
        partial |= !sees || lo > j0 || hi < j1;
    }
    if (!any)
        return;

    kt->qk_tile.fn(m, nb, D, w->q + t0 * D, D, w->kp, w->s, kc);
    if (partial) {
        for (size_t r = 0; r < m; r++) {
            float *srow = w->s + r * kc;
            const size_t lo = w->lo[t0 + r], hi = w->hi[t0 + r];
            for (size_t j = 0; j < nb; j++)
                if (j0 + j < lo || j0 + j >= hi)
                    srow[j] = -INFINITY;
        }
    }
    const int rescale = kt->softmax_tile.fn(m, nb, w->s, kc, w->mx + t0,
                                            w->l + t0, w->alpha + t0);
    const size_t pmr = kt->pv_tile.mr;
    if (partial && *v_bad < 0)
        *v_bad = any_nonfinite(nb, Dv, vblk, ldv);
    if (partial && *v_bad) {
        /* row by row, each over its own visible keys only */
        for (size_t r = 0; r < m; r++) {
            const size_t lo = w->lo[t0 + r], hi = w->hi[t0 + r];
            const size_t a = lo > j0 ? lo - j0 : 0;
            const size_t b = hi < j1 ? (hi > j0 ? hi - j0 : 0) : nb;
            kt->pv_tile.fn(1, b > a ? b - a : 0, Dv, w->s + r * kc + a, kc,
                           vblk + a * ldv, ldv, w->o + (t0 + r) * Dv, Dv,
                           rescale ? w->alpha + t0 + r : NULL, 0);
        }
        return;
    }
    for (size_t r = 0; r < m; r += pmr) {
        const size_t mm = m - r < pmr ? m - r : pmr;
        kt->pv_tile.fn(mm, nb, Dv, w->s + r * kc, kc, vblk, ldv,
                       w->o + (t0 + r) * Dv, Dv, rescale ? w->alpha + t0 + r : NULL, 0);
    }
}

static void run_item(const fwd_call *c, fwd_ws *w, size_t item)
{
    const attn_kernels *kt = c->kt;
    const size_t D = c->d.D, Dv = c->d.Dv, Lq = c->d.Lq, g = c->g;
    const size_t tile = item % c->tiles_per_head;
    const size_t bh = item / c->tiles_per_head;
    const size_t b = bh / c->d.Hkv, hk = bh % c->d.Hkv;
    const size_t i0 = tile * c->plan.rows;
    const size_t i1 = i0 + c->plan.rows < Lq ? i0 + c->plan.rows : Lq;
    const size_t R = (i1 - i0) * g;
    const size_t len = c->kv_len ? (size_t)c->kv_len[b] : c->d.Lk;

    size_t kmin = (size_t)-1, kmax = 0;
    for (size_t t = 0; t < R; t++) {
        const size_t i = i0 + t / g, h = hk * g + t % g;
        const float *qrow = at(c->q, b, h, i);
        for (size_t dd = 0; dd < D; dd++)
            w->q[t * D + dd] = c->scale * qrow[dd];
        attn_row_range(c->causal, len, Lq, i, &w->lo[t], &w->hi[t]);
        if (w->lo[t] < w->hi[t]) {
            kmin = w->lo[t] < kmin ? w->lo[t] : kmin;
            kmax = w->hi[t] > kmax ? w->hi[t] : kmax;
        }
        w->mx[t] = -INFINITY;
        w->l[t] = 0.0f;
    }
    memset(w->o, 0, R * Dv * sizeof(float));

    const size_t kc = c->plan.kc, mb = kt->qk_tile.mr;
    const size_t ldk = (size_t)c->k->stride[2], ldv = (size_t)c->v->stride[2];
    for (size_t j0 = kmax > kmin ? kmin / kc * kc : kmax; j0 < kmax; j0 += kc) {
        const size_t nb = kmax - j0 < kc ? kmax - j0 : kc;
        kt->pack_k_f32.fn(nb, D, at(c->k, b, hk, j0), ldk, w->kp, kt->qk_tile.nr);
        const float *vblk = at(c->v, b, hk, j0);
        int v_bad = -1; /* unknown until a partial row block needs it */
        for (size_t t0 = 0; t0 < R; t0 += mb)
            row_block(c, w, t0, R - t0 < mb ? R - t0 : mb, j0, nb, vblk, ldv, &v_bad);
    }

    for (size_t t = 0; t < R; t++) {
        const size_t i = i0 + t / g, h = hk * g + t % g;
        float *orow = (float *)at(c->out, b, h, i);
        const int none = w->mx[t] == -INFINITY;
        const float inv = none ? 0.0f : 1.0f / w->l[t];
        for (size_t cc = 0; cc < Dv; cc++)
            orow[cc] = none ? 0.0f : w->o[t * Dv + cc] * inv;
        if (c->lse)
            *(float *)at(c->lse, b, h, i) = none ? -INFINITY : w->mx[t] + logf(w->l[t]);
    }
}

/* Rows of an empty key range (Lk = 0 or kv_len = 0 everywhere) need no
 * workspace, but the general path handles them too; only B/Hq/Lq = 0 is a
 * no-op. */
ATTN_API attn_status attn_forward(const attn_tensor *q, const attn_tensor *k,
                                  const attn_tensor *v, const attn_tensor *out,
                                  const attn_options *opt)
{
    static const char fn[] = "attn_forward";
    fwd_call c;
    attn_status s = attn_check_qkv(fn, q, k, v, out, &c.d);
    if (s || (s = attn_check_options(fn, opt, &c.d)))
        return s;
    if (c.d.B == 0 || c.d.Hq == 0 || c.d.Lq == 0)
        return ATTN_OK;

    c.kt = attn_active_kernels();
    c.g = c.d.Hq / c.d.Hkv;
    c.scale = attn_resolve_scale(opt ? opt->scale : 0.0f, c.d.D);
    c.causal = opt && opt->causal;
    c.kv_len = opt ? opt->kv_len : NULL;
    c.q = q, c.k = k, c.v = v, c.out = out;
    c.lse = opt ? opt->lse : NULL;

    const int want = attn_thread_count(opt ? opt->num_threads : 0, (size_t)-1);
    attn_plan_forward(c.kt, attn_topology(), &c.d, want, &c.plan);
    c.tiles_per_head = (c.d.Lq + c.plan.rows - 1) / c.plan.rows;
    const size_t items = c.d.B * c.d.Hkv * c.tiles_per_head;
    const int nt = (size_t)want < items ? want : (int)items;

    const size_t per = ws_bytes(&c, NULL, NULL);
    if (per == 0 || per > ((size_t)-1) / (size_t)nt)
        return attn_error(ATTN_ERR_OVERFLOW, "%s: workspace size overflows", fn);
    char *ws = attn_alloc(per * (size_t)nt);
    if (!ws)
        return attn_error(ATTN_ERR_NOMEM, "%s: cannot allocate %zu bytes of "
                          "workspace", fn, per * (size_t)nt);

    #pragma omp parallel num_threads(nt)
    {
        fwd_ws w;
        ws_bytes(&c, &w, ws + per * (size_t)omp_get_thread_num());
        #pragma omp for schedule(dynamic, 1)
        for (long long it = 0; it < (long long)items; it++)
            run_item(&c, &w, (size_t)it);
    }
    attn_free(ws);
    return ATTN_OK;
}
