/*
 * forward.c — attn_forward: the flash-attention driver (DESIGN §1.2, §6).
 *
 * Work items are tiles of query rows (plan.c): `rows` positions × the g =
 * Hq/Hkv query heads that share a K/V head, row t of a tile being position
 * i0 + t/g of head hk·g + t%g, so each K/V block is packed once for the
 * whole group (GQA). Items run in parallel (OpenMP, dynamic schedule); the
 * tiling depends on the shape and the machine only, never on the thread
 * count, so results are bitwise identical for any num_threads.
 *
 * For each item, K/V are swept in blocks of kc keys aligned to multiples of
 * kc in absolute key position; each block (the part of it that some row of
 * the tile sees, from an aligned start) is packed once and visited by
 * every mr-row block of the tile over the union of those rows' visible keys
 * (its start aligned to ATTN_SPAN_ALIGN keys within the block, so the lanes
 * of every sum keep their place): S = Q·Kᵀ (qk_tile), score modifiers
 * (softcap, ALiBi, bias), masks written into S as −inf, online softmax
 * (softmax_tile), O = α⊙O + P·V (pv_tile). Row blocks that see no key of a
 * block are skipped, so causal and sliding-window runs cost what they see.
 *
 * Split-KV (decoding): when there are too few row tiles, each tile's keys
 * are also cut into chunks of whole blocks (plan.c), each chunk a work item
 * writing its unnormalised (max, sum, O); a second pass merges the chunks
 * of a row in chunk order, exactly, by their maxima.
 *
 * Decode tiles (at most twice qk_direct's mr rows: a few query positions
 * × the GQA group) skip the K packing: qk_direct reads K rows in place (a
 * 16-bit cache as it is, widened in registers by qk_direct_f16/bf16), a
 * tile of up to mr rows being one row block, so each K/V byte is read from
 * memory once, sequentially (a wider tile's later row blocks find the
 * block's rows in L1). Such a tile is memory-bound: its K/V rows are
 * hinted into L2 a fixed number of keys ahead of use, a few rows at every
 * step of the Q·Kᵀ and P·V sweeps (shared among a wider tile's row
 * blocks), so that the memory is kept busy while the core
 * computes (see DIRECT_STEP). Over a cache whose heads of one key lie side
 * by side ([B,S,H,D]), one head's rows are a few hundred bytes at the key
 * stride, which memory serves at half speed: there an item takes several
 * K/V heads (plan.heads, plan.c), visits each block head by head, and
 * hints the rows of all its heads key by key, so that it reads runs of
 * adjacent rows.
 *
 * Dtypes: Q is widened and scaled into the tile; K and V are widened by the
 * pack kernels (prefill: V blocks are copied to contiguous f32 rows), or in
 * registers by the kernels that read a 16-bit cache in place (decode tiles:
 * qk_direct_f16/bf16, pv_tile_f16/bf16); O is rounded to the output dtype at
 * the very end; everything in between is f32.
 *
 * Masked keys: keys at or past kv_len are never read. A key that a row
 * cannot see but that shares a block with rows that can gets P = 0; if that
 * key's V holds NaN or inf, 0·V would poison the row, so such blocks are
 * accumulated row by row over each row's own visible runs of keys.
 */
#include <math.h>
#include <string.h>

#include <omp.h>

#include "convert.h"
#include "internal.h"

/* Sub-block starts are multiples of this many keys and of the K panel
 * width nr. 16 is the longest lane period of any kernel's softmax sum
 * (AVX-512: column j in lane j mod 16; AVX2 8, NEON 4, scalar 1): a start
 * moved by a multiple of it only puts masked columns (+0 terms) in front,
 * so a row's bits do not depend on the rows it shares a block with. Any
 * more would compute masked keys for nothing (a 256-key window on mr = 14
 * rows cost 30 % more with 64). */
#define ATTN_SPAN_ALIGN 16

/* Decode tiles sweep a K/V block in steps of c->step keys (DIRECT_STEP;
 * DIRECT_STEP_WIDE for tiles of several row blocks): Q·Kᵀ with K in place
 * (and the copy of those keys' V rows), then P·V. Before every step of
 * either sweep, the K and V rows of the next step / 2 keys not yet hinted
 * go to L2 (prefetcht1), the hints running DIRECT_LEAD keys ahead of the
 * sweep from the tile's start. Hinting only while the loads run left the
 * memory idle while the core computed softmax and P·V, and copying V as a
 * pass of its own idled it too: S4 f16 at 1 thread 8.4 -> 6.3 ms, f32 12.4
 * -> 11.2 ms; S5 likewise (AVX2 host with AVX-512, L2 2 MiB). Hints into
 * L1 instead of L2 were slower (the block's scores and V copy live in L1).
 * Steps of 4 keys rather than 8, hints of 2 (smaller bunches of
 * prefetches, which a core's fill buffers serve while it computes): S5 f16
 * AVX2 T1 3.83-3.93 -> 3.52-3.59 ms, f32 6.35 -> 6.07, Hq 32 Hkv 8 Lq 2
 * (8 rows) AVX-512 7.6-8.0 -> 6.9. A wide tile, whose row blocks share
 * each step's hints, was 8-10 % slower with them on AVX2 (Hq 32 Hkv 8
 * Lq 4), and keeps 8 (16: 8-15 % slower, 32: 25 %). */
enum { DIRECT_STEP = 4, DIRECT_STEP_WIDE = 8, DIRECT_LEAD = 32,
       DIRECT_GROUP_LEAD = 128 << 10 };
/* (With head groups the hints count head-rows, key-major: step / 2 at
 * each step still matches what a step reads, and the lead is half a block
 * of every head, see run_item.) */

typedef struct fwd_call {
    const attn_kernels *kt;
    attn_dims d;
    attn_plan plan;
    attn_mods mods;
    size_t g, tiles_per_head, tiles, span_align;
    size_t hb;  /* K/V heads per item (plan.heads): > 1 only for direct tiles
                   over a cache whose heads of one key are adjacent */
    size_t blocks_h; /* row blocks per K/V head of a tile */
    size_t step;     /* direct tiles: keys per step of a sweep */
    size_t mb;  /* rows per row block: qk_tile's mr, or (direct) all of one
                   K/V head's rows of the tile, or for wider direct tiles
                   what both qk_direct and pv_tile take (direct_mb) */
    int direct; /* decode-sized tiles: qk_direct on K rows in place, no pack */
    float scale;
    const attn_tensor *q, *k, *v, *out, *lse;
    float *partials; /* splits > 1: per tile, chunk and row: max, sum, O[Dv] */
} fwd_call;

typedef struct fwd_ws {
    float *q;              /* R × D, scaled Q rows of the tile               */
    float *kp;             /* packed K block: kcp × D                        */
    float *s;              /* scores → probabilities of one row block: mb × kc */
    float *s_mask;         /* copy of s before the softmax (NaN-V fallback)   */
    float *o;              /* R × Dv accumulator                             */
    float *ob;             /* mb × Dv: one row block's P·V of one K/V block   */
    float *vp;             /* V block as contiguous f32 rows: kc × Dv        */
    float *mx, *l, *alpha; /* R each: running max, sum, rescale factor       */
    size_t *lo, *hi;       /* R each: visible keys of the row                */
    size_t hinted;         /* direct tiles: head-rows hinted (hint_rows)      */
    size_t credit;         /* direct tiles: hint steps owed (hint_step)       */
} fwd_ws;

/* Work item coordinates: row tile (b, K/V heads hk .. hk + hb − 1,
 * positions i0..i1), key chunk [k0, k1). */
typedef struct fwd_item {
    size_t b, hk, i0, i1, len, tile, chunk, k0, k1;
} fwd_item;

/* Rows of an item: per K/V head in turn, (i1 − i0)·g rows, position-major,
 * then the g query heads that share the K/V head. */
static size_t item_rows(const fwd_call *c, const fwd_item *it)
{
    return (it->i1 - it->i0) * c->g * c->hb;
}

/* Query head h and position i of row t of an item. */
static void row_at(const fwd_call *c, const fwd_item *it, size_t t, size_t *h, size_t *i)
{
    const size_t per_head = (it->i1 - it->i0) * c->g, r = t % per_head;
    *h = (it->hk + t / per_head) * c->g + r % c->g;
    *i = it->i0 + r / c->g;
}

static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; } /* floats → 64 B */

/* Per-thread workspace size in bytes (0 on overflow), and its carving. */
static size_t ws_bytes(const fwd_call *c, fwd_ws *w, char *base)
{
    const size_t R = c->plan.rows * c->g * c->hb, D = c->d.D, Dv = c->d.Dv;
    const size_t nr = c->kt->qk_tile.nr, mb = c->mb, kc = c->plan.kc;
    /* direct tiles read K in place, and a 16-bit V too (run_item) */
    const size_t kp = c->direct ? 0 : (kc + nr - 1) / nr * nr * D;
    const size_t vp = c->direct && c->v->dtype != ATTN_F32 ? 0 : kc * Dv;
    const size_t parts[12] = {R * D, kp, mb * kc, mb * kc, R * Dv, vp,
                              R, R, R, R * 2, R * 2, mb * Dv};
    float *ptr[12];
    size_t off = 0;
    for (int i = 0; i < 12; i++) {
        ptr[i] = base ? (float *)(void *)(base + off * sizeof(float)) : NULL;
        if (parts[i] > ((size_t)-1) / 16 - off)
            return 0;
        off += align16(parts[i]);
    }
    if (w) {
        w->q = ptr[0], w->kp = ptr[1], w->s = ptr[2], w->s_mask = ptr[3];
        w->o = ptr[4], w->vp = ptr[5];
        w->mx = ptr[6], w->l = ptr[7], w->alpha = ptr[8];
        w->lo = (size_t *)(void *)ptr[9], w->hi = (size_t *)(void *)ptr[10];
        w->ob = ptr[11];
    }
    return off * sizeof(float);
}

/* Whether any of the n × dv values is NaN or ±inf (exponent all ones:
 * integer tests, which the compiler vectorises; isfinite() it does not). */
static int any_nonfinite(size_t n, size_t dv, const float *v, size_t ldv)
{
    unsigned bad = 0;
    for (size_t j = 0; j < n; j++) {
        const float *row = v + j * ldv;
        for (size_t cc = 0; cc < dv; cc++) {
            uint32_t u;
            memcpy(&u, row + cc, sizeof u);
            bad |= (u & 0x7f800000u) == 0x7f800000u;
        }
    }
    return bad != 0;
}

/* The same for 16-bit values whose exponent field is `exp` (f16 0x7c00,
 * bf16 0x7f80). */
static int any_nonfinite16(size_t n, size_t dv, const uint16_t *v, size_t ldv, uint16_t exp)
{
    unsigned bad = 0;
    for (size_t j = 0; j < n; j++)
        for (size_t cc = 0; cc < dv; cc++)
            bad |= (v[j * ldv + cc] & exp) == exp;
    return bad != 0;
}

/* Whether any of the m × n scores is −inf (an infinite Q or K, or a dot
 * product below −FLT_MAX): such a key must carry no V either. One pass over
 * scores the kernels just wrote, 1/D of the cost of computing them. */
static int any_minus_inf(size_t m, size_t n, const float *s, size_t lds)
{
    int any = 0;
    for (size_t r = 0; r < m; r++)
        for (size_t j = 0; j < n; j++)
            any |= s[r * lds + j] == -INFINITY;
    return any;
}

/* One K/V block [j0, j0 + nb) as the kernels read it: K packed in w->kp,
 * or (direct) K rows in place at ldk; V rows at ldv: f32 rows copied by
 * run_item, or for direct tiles by the Q·Kᵀ sweep (only the keys [v0, v0 +
 * vn)); for direct tiles a 16-bit V is read in place instead. */
typedef struct fwd_blk {
    size_t j0, nb, hk; /* keys [j0, j0 + nb) of K/V head hk */
    const float *krows, *vblk;
    const uint16_t *krows16; /* direct, 16-bit K: its rows in place (else NULL) */
    const uint16_t *vblk16;  /* direct, 16-bit V: its rows in place (else NULL) */
    size_t ldk, ldv;
    size_t v0, vn; /* the keys whose V rows vblk holds */
    int v_bad; /* −1 unknown until a row block needs it */
    size_t kend; /* the item's last visible key + 1 (how far to hint ahead) */
    size_t row_blocks; /* how many row blocks visit the block (cost model) */
} fwd_blk;

/* Whether the block's V holds NaN or inf (tested once, on first need). */
static int block_v_bad(const fwd_call *c, fwd_blk *blk)
{
    const size_t dv = c->d.Dv;
    const size_t off = (blk->v0 - blk->j0) * blk->ldv;
    if (blk->v_bad >= 0)
        return blk->v_bad;
    if (blk->vblk16)
        blk->v_bad = any_nonfinite16(blk->vn, dv, blk->vblk16 + off, blk->ldv,
                                     c->v->dtype == ATTN_F16 ? 0x7c00 : 0x7f80);
    else
        blk->v_bad = any_nonfinite(blk->vn, dv, blk->vblk + off, blk->ldv);
    return blk->v_bad;
}

/* The most rows one pv_tile call takes for V of dtype dt, read as f32 rows
 * (a copy, or f32 in place) or, with v16, as 16-bit rows in place. */
static size_t pv_rows_max(const attn_kernels *kt, int v16, attn_dtype dt)
{
    return !v16 ? kt->pv_tile.mr : dt == ATTN_F16 ? kt->pv_tile_f16.mr : kt->pv_tile_bf16.mr;
}

/* The most rows one pv_keys call takes. */
static size_t pv_mr(const fwd_call *c, const fwd_blk *blk)
{
    return pv_rows_max(c->kt, blk->vblk16 != NULL, c->v->dtype);
}

/* t (m ≤ pv_mr rows at Dv) ← P·V (+ t unless overwrite) over the block's
 * keys [j, j + n), P rows at ldp: pv_tile on f32 V rows, or pv_tile_f16/bf16
 * on a 16-bit V in place (bitwise the same sums). */
static void pv_keys(const fwd_call *c, const fwd_blk *blk, size_t m, size_t j, size_t n,
                    const float *p, size_t ldp, float *t, int overwrite)
{
    const attn_kernels *kt = c->kt;
    const size_t Dv = c->d.Dv, off = (j - blk->j0) * blk->ldv;
    if (!blk->vblk16)
        kt->pv_tile.fn(m, n, Dv, p, ldp, blk->vblk + off, blk->ldv, t, Dv, NULL, overwrite);
    else if (c->v->dtype == ATTN_F16)
        kt->pv_tile_f16.fn(m, n, Dv, p, ldp, blk->vblk16 + off, blk->ldv, t, Dv, NULL, overwrite);
    else
        kt->pv_tile_bf16.fn(m, n, Dv, p, ldp, blk->vblk16 + off, blk->ldv, t, Dv, NULL, overwrite);
}

/* t ← the row's visible runs of P·V over the block's keys [a, a + n) (runs =
 * maximal spans where the saved scores are not −inf), 0 when it has none. */
static void pv_by_runs(const fwd_call *c, const fwd_blk *blk, const float *p, const float *smask,
                       size_t a, size_t n, float *t)
{
    int first = 1;
    for (size_t x = 0; x < n;) {
        while (x < n && smask[x] == -INFINITY)
            x++;
        size_t y = x;
        while (y < n && smask[y] != -INFINITY)
            y++;
        if (y > x) {
            pv_keys(c, blk, 1, a + x, y - x, p + x, 0, t, first);
            first = 0;
        }
        x = y;
    }
    if (first)
        pv_keys(c, blk, 1, a, 0, p, 0, t, 1);
}

/* O ← alpha ⊙ O + T over m rows (alpha NULL: 1). Each K/V block's P·V is
 * summed on its own (pv_tile into T) and then added to O: the f32 rounding
 * of long rows grows with the block length (≤ kc keys) plus the number of
 * blocks, not with the whole row (a near-uniform row over 10^4 keys of a
 * constant V erred by 5e-5 with one chain). */
static void add_block(size_t m, size_t dv, float *o, const float *t, const float *alpha)
{
    for (size_t r = 0; r < m; r++) {
        float *orow = o + r * dv;
        const float *trow = t + r * dv;
        if (alpha) {
            const float a = alpha[r];
            for (size_t cc = 0; cc < dv; cc++)
                orow[cc] = a * orow[cc] + trow[cc];
        } else {
            for (size_t cc = 0; cc < dv; cc++)
                orow[cc] += trow[cc];
        }
    }
}

/* Decode scores: rows t0..t0+m of the tile against keys [a, a + n) of the
 * block, K rows in place (qk_direct, or its 16-bit form reading a 16-bit
 * cache as it is), into s (rows at kc). */
static void direct_scores(const fwd_call *c, fwd_ws *w, size_t t0, size_t m, size_t a,
                          size_t n, const fwd_blk *blk, float *s)
{
    const size_t D = c->d.D, off = (a - blk->j0) * blk->ldk;
    const float *q = w->q + t0 * D;
    if (!blk->krows16)
        c->kt->qk_direct.fn(m, n, D, q, D, blk->krows + off, blk->ldk, s, c->plan.kc);
    else if (c->k->dtype == ATTN_F16)
        c->kt->qk_direct_f16.fn(m, n, D, q, D, blk->krows16 + off, blk->ldk, s, c->plan.kc);
    else
        c->kt->qk_direct_bf16.fn(m, n, D, q, D, blk->krows16 + off, blk->ldk, s, c->plan.kc);
}

/* Direct tiles: the K and V rows of the next `rows` head-rows not yet
 * hinted (up to key kend) into L2. Head-rows are counted key-major over the
 * item's hb K/V heads (row p: key p / hb, head hk + p % hb), so with heads
 * adjacent in memory the hints stream through it. */
static void hint_rows(const fwd_call *c, fwd_ws *w, const fwd_item *it, size_t rows,
                      size_t kend)
{
    const size_t kb = c->d.D * attn_dtype_bytes(c->k->dtype);
    const size_t vb = c->d.Dv * attn_dtype_bytes(c->v->dtype);
    const size_t hb = c->hb, last = kend * hb;
    if (w->hinted >= last)
        return;
    const size_t end = last - w->hinted > rows ? w->hinted + rows : last;
    for (size_t p = w->hinted; p < end; p++) {
        const size_t j = hb == 1 ? p : p / hb, h = hb == 1 ? it->hk : it->hk + p % hb;
        const char *krow = attn_at(c->k, it->b, h, j);
        const char *vrow = attn_at(c->v, it->b, h, j);
        for (size_t o = 0; o < kb; o += 64)
            __builtin_prefetch(krow + o, 0, 2);
        for (size_t o = 0; o < vb; o += 64)
            __builtin_prefetch(vrow + o, 0, 2);
    }
    w->hinted = end;
}

/* Direct tiles, one step of a sweep: step / 2 head-rows shared among
 * the tile's row blocks of a head (each sweeps the block), so the hints
 * keep pace with the keys, whatever the number of row blocks. */
static void hint_step(const fwd_call *c, fwd_ws *w, const fwd_item *it, size_t kend)
{
    w->credit += c->step / 2;
    const size_t rows = w->credit / c->blocks_h;
    w->credit -= rows * c->blocks_h;
    if (rows)
        hint_rows(c, w, it, rows, kend);
}

/* Direct tiles: the f32 V rows of keys [lo, hi) of the block into w->vp,
 * less those already there ([v0, v0 + vn)). */
static void copy_v(const fwd_call *c, fwd_ws *w, const fwd_item *it, const fwd_blk *blk,
                   size_t lo, size_t hi)
{
    const size_t e0 = blk->vn ? blk->v0 : hi, e1 = blk->vn ? blk->v0 + blk->vn : hi;
    const size_t p[2][2] = {{lo, hi < e0 ? hi : e0}, {lo > e1 ? lo : e1, hi}};
    for (int x = 0; x < 2; x++)
        if (p[x][0] < p[x][1])
            attn_pack_v_rows(c->kt, c->v, it->b, blk->hk, p[x][0], p[x][1] - p[x][0],
                             w->vp + (p[x][0] - blk->j0) * c->d.Dv);
}

/* Direct tiles: scores of keys [a, a + n) (K in place) and the copy of
 * their f32 V rows to w->vp (a 16-bit V is read in place), c->step keys
 * at a time, hinting as it goes. The block's V rows are [v0, v0 + vn): the
 * first row block's keys, grown by a later row block's (wide tiles) to the
 * hull of both, so its NaN test is redone. */
static void direct_sweep(const fwd_call *c, fwd_ws *w, const fwd_item *it, size_t t0,
                         size_t m, size_t a, size_t n, fwd_blk *blk)
{
    const int copy = !blk->vblk16;
    for (size_t x = 0; x < n; x += c->step) {
        const size_t nn = n - x < c->step ? n - x : c->step;
        hint_step(c, w, it, blk->kend);
        direct_scores(c, w, t0, m, a + x, nn, blk, w->s + x);
        if (copy)
            copy_v(c, w, it, blk, a + x, a + x + nn);
    }
    size_t lo = a, hi = a + n;
    if (blk->vn) {
        const size_t e1 = blk->v0 + blk->vn;
        if (copy) /* a gap between the spans (none from today's masks, whose
                     rows' spans overlap; the hull must hold no stale row) */
            copy_v(c, w, it, blk, hi < blk->v0 ? hi : blk->v0, lo > e1 ? lo : e1);
        lo = lo < blk->v0 ? lo : blk->v0;
        hi = hi > e1 ? hi : e1;
        if (lo != blk->v0 || hi != e1)
            blk->v_bad = -1;
    }
    blk->v0 = lo, blk->vn = hi - lo;
}

/* One mb-row block of the tile against a K/V block. */
static void row_block(const fwd_call *c, fwd_ws *w, const fwd_item *it, size_t t0,
                      size_t m, fwd_blk *blk)
{
    const size_t j0 = blk->j0, nb = blk->nb;
    int *v_bad = &blk->v_bad;
    const attn_kernels *kt = c->kt;
    const size_t D = c->d.D, Dv = c->d.Dv, kc = c->plan.kc;
    /* union of the rows' visible keys within the block */
    size_t a = j0 + nb, b = j0;
    for (size_t r = t0; r < t0 + m; r++) {
        const size_t lo = w->lo[r] > j0 ? w->lo[r] : j0;
        const size_t hi = w->hi[r] < j0 + nb ? w->hi[r] : j0 + nb;
        if (lo < hi) {
            a = lo < a ? lo : a;
            b = hi > b ? hi : b;
        }
    }
    if (a >= b)
        return;
    a = j0 + (a - j0) / c->span_align * c->span_align;
    const size_t n = b - a;
    int partial = 0;
    for (size_t r = t0; r < t0 + m; r++)
        partial |= w->lo[r] > a || w->hi[r] < b;

    float *s = w->s;
    if (c->direct)
        direct_sweep(c, w, it, t0, m, a, n, blk);
    else
        kt->qk_tile.fn(m, n, D, w->q + t0 * D, D, w->kp + (a - j0) * D, s, kc);
    if (c->mods.scores)
        for (size_t r = 0; r < m; r++) {
            size_t h, i;
            row_at(c, it, t0 + r, &h, &i);
            attn_score_mods(&c->mods, it->b, h, i, it->len, a, n, s + r * kc);
        }
    if (partial)
        for (size_t r = 0; r < m; r++) {
            /* keys outside the row's [lo, hi) within [a, b): a head and a
             * tail run (lo ≥ hi, no visible key: the whole span) */
            const size_t lo = w->lo[t0 + r], hi = w->hi[t0 + r];
            const size_t head = lo >= hi ? n : lo > a ? (lo - a < n ? lo - a : n) : 0;
            const size_t tail = lo >= hi ? n : hi > a ? (hi - a < n ? hi - a : n) : 0;
            float *srow = s + r * kc;
            for (size_t j = 0; j < head; j++)
                srow[j] = -INFINITY;
            for (size_t j = tail; j < n; j++)
                srow[j] = -INFINITY;
        }
    /* a masked key (by range, a −inf bias or a −inf score) with NaN/inf V:
     * keep the mask to accumulate each row over its visible keys only. Both
     * must hold; the V test is made once per block for all its row blocks,
     * the score test per row block: the cheaper one decides first (with a
     * finite V, the usual case, prefill never scans its scores). */
    int by_runs;
    if (partial || c->mods.bias) {
        by_runs = block_v_bad(c, blk);
    } else if (*v_bad >= 0 || blk->row_blocks * m * n >= nb * Dv) {
        by_runs = block_v_bad(c, blk) && any_minus_inf(m, n, s, kc);
    } else {
        by_runs = any_minus_inf(m, n, s, kc) && block_v_bad(c, blk);
    }
    if (by_runs)
        for (size_t r = 0; r < m; r++)
            memcpy(w->s_mask + r * kc, s + r * kc, n * sizeof(float));

    const int rescale = kt->softmax_tile.fn(m, n, s, kc, w->mx + t0, w->l + t0,
                                            w->alpha + t0);
    if (by_runs) {
        for (size_t r = 0; r < m; r++)
            pv_by_runs(c, blk, s + r * kc, w->s_mask + r * kc, a, n, w->ob + r * Dv);
    } else {
        /* direct tiles in steps, hinting (the same sums: pv_tile adds its
         * keys in order, a call with overwrite = 0 continuing the chain) */
        const size_t pmr = pv_mr(c, blk), step = c->direct ? c->step : n;
        for (size_t x = 0; x < n; x += step) {
            const size_t nn = n - x < step ? n - x : step;
            if (c->direct)
                hint_step(c, w, it, blk->kend);
            for (size_t r = 0; r < m; r += pmr)
                pv_keys(c, blk, m - r < pmr ? m - r : pmr, a + x, nn, s + r * kc + x, kc,
                        w->ob + r * Dv, x == 0);
        }
    }
    add_block(m, Dv, w->o + t0 * Dv, w->ob, rescale ? w->alpha + t0 : NULL);
}

static fwd_item item_at(const fwd_call *c, size_t index)
{
    fwd_item it;
    it.chunk = index % c->plan.splits;
    it.tile = index / c->plan.splits;
    const size_t bh = it.tile / c->tiles_per_head, groups = c->d.Hkv / c->hb;
    it.b = bh / groups;
    it.hk = bh % groups * c->hb;
    it.i0 = it.tile % c->tiles_per_head * c->plan.rows;
    it.i1 = it.i0 + c->plan.rows < c->d.Lq ? it.i0 + c->plan.rows : c->d.Lq;
    it.len = attn_mods_len(&c->mods, it.b);
    it.k0 = it.chunk * c->plan.chunk;
    it.k1 = it.k0 + c->plan.chunk;
    return it;
}

/* Scaled Q rows, visible ranges (clipped to the chunk) and the running
 * state of every row of the tile; returns the union [*kmin, *kmax). */
static void start_tile(const fwd_call *c, fwd_ws *w, const fwd_item *it, size_t R,
                       size_t *kmin, size_t *kmax)
{
    *kmin = (size_t)-1, *kmax = 0;
    for (size_t t = 0; t < R; t++) {
        size_t h, i;
        row_at(c, it, t, &h, &i);
        attn_load_row(attn_at(c->q, it->b, h, i), c->q->dtype, c->d.D, c->scale,
                      w->q + t * c->d.D);
        size_t lo, hi;
        attn_row_range(&c->mods, it->len, i, &lo, &hi);
        lo = lo > it->k0 ? lo : it->k0;
        hi = hi < it->k1 ? hi : it->k1;
        w->lo[t] = lo;
        w->hi[t] = hi > lo ? hi : lo;
        if (lo < hi) {
            *kmin = lo < *kmin ? lo : *kmin;
            *kmax = hi > *kmax ? hi : *kmax;
        }
        /* a sink is a key with logit sinks[h] and a zero value (chunk 0 only) */
        const float sink = c->mods.sinks && it->chunk == 0 ? c->mods.sinks[h] : -INFINITY;
        w->mx[t] = sink;
        w->l[t] = sink == -INFINITY ? 0.0f : 1.0f;
    }
    memset(w->o, 0, R * c->d.Dv * sizeof(float));
}

/* out row (and lse) from a row's running max, sum and unnormalised O. */
static void finish_row(const fwd_call *c, size_t b, size_t h, size_t i, float mx,
                       float l, const float *o)
{
    void *orow = attn_at(c->out, b, h, i);
    /* l = 0 exactly when no key (nor sink) carries weight */
    if (l == 0.0f)
        memset(orow, 0, c->d.Dv * attn_dtype_bytes(c->out->dtype));
    else
        attn_store_row(orow, c->out->dtype, c->d.Dv, 1.0f / l, o);
    if (c->lse)
        *(float *)attn_at(c->lse, b, h, i) = l == 0.0f ? -INFINITY : mx + logf(l);
}

static float *partial_row(const fwd_call *c, size_t tile, size_t chunk, size_t t)
{
    const size_t R = c->plan.rows * c->g * c->hb, per = c->d.Dv + 2;
    return c->partials + ((tile * c->plan.splits + chunk) * R + t) * per;
}

static void run_item(const fwd_call *c, fwd_ws *w, size_t index)
{
    const attn_kernels *kt = c->kt;
    const fwd_item it = item_at(c, index);
    const size_t R = item_rows(c, &it), Rh = R / c->hb, Dv = c->d.Dv;
    size_t kmin, kmax;
    start_tile(c, w, &it, R, &kmin, &kmax);
    if (c->direct) {
        /* head groups: half a block of every head ahead, and at least
         * DIRECT_GROUP_LEAD bytes of K/V rows (a whole block: S4
         * [B,S,H,D] f32 at 2 threads 2-6 % slower, K and V of a block of all
         * heads take a quarter of L2; S5 f16, whose half block is 64 KiB,
         * 7-10 % faster with 128 KiB) */
        const size_t row = c->d.D * attn_dtype_bytes(c->k->dtype) +
                           c->d.Dv * attn_dtype_bytes(c->v->dtype);
        const size_t half = c->plan.kc * c->hb / 2, bytes = DIRECT_GROUP_LEAD / row;
        w->hinted = kmin * c->hb;
        w->credit = 0;
        hint_rows(c, w, &it, c->hb == 1 ? DIRECT_LEAD : half > bytes ? half : bytes, kmax);
    }

    const size_t kc = c->plan.kc, mb = c->mb;
    for (size_t j0 = kmax > kmin ? kmin / kc * kc : kmax; j0 < kmax; j0 += kc) {
        /* the block's keys that some row of the tile sees, from a start
         * aligned like every row block's (a window's tile sees only part) */
        const size_t js = kmin > j0 ? j0 + (kmin - j0) / c->span_align * c->span_align : j0;
        const size_t je = kmax - j0 < kc ? kmax : j0 + kc;
        for (size_t u = 0; u < c->hb; u++) {
            const size_t hk = it.hk + u;
            fwd_blk blk = {.j0 = js, .nb = je - js, .hk = hk, .v0 = js,
                           .vn = c->direct ? 0 : je - js,
                           .v_bad = -1, .row_blocks = (Rh + mb - 1) / mb, .kend = kmax};
            if (c->direct && c->k->dtype != ATTN_F32) {
                /* a 16-bit cache read in place (S5 f16: 2-11 % faster than a
                 * widening pass; S4 too, once hinted ahead) */
                blk.krows16 = attn_at(c->k, it.b, hk, js);
                blk.ldk = (size_t)c->k->stride[2];
            } else if (c->direct) {
                blk.krows = attn_at(c->k, it.b, hk, js);
                blk.ldk = (size_t)c->k->stride[2];
            } else {
                attn_pack_k_rows(kt, c->k, it.b, hk, js, blk.nb, w->kp);
            }
            /* V streamed once into contiguous f32 rows: pv_tile sweeps V one
             * column chunk at a time, which is latency-bound on rows in
             * memory and on rows pages apart ([B,S,H,D]: S2 on AVX2 49 → 84
             * GFLOP/s; S5 decode 58 → 74 % of the read bandwidth), not from
             * L2. Direct tiles copy the keys they see during their Q·Kᵀ
             * sweep, hinted into L2 ahead; a 16-bit V they read in place
             * (pv_tile_f16/bf16: S4 f16 3-7 % faster on AVX2 than widening
             * it into L1 first). */
            if (!c->direct)
                attn_pack_v_rows(kt, c->v, it.b, hk, js, blk.nb, w->vp);
            if (c->direct && c->v->dtype != ATTN_F32) {
                blk.vblk16 = attn_at(c->v, it.b, hk, js);
                blk.ldv = (size_t)c->v->stride[2];
            } else {
                blk.vblk = w->vp, blk.ldv = c->d.Dv;
            }
            for (size_t t0 = u * Rh; t0 < (u + 1) * Rh; t0 += mb)
                row_block(c, w, &it, t0, (u + 1) * Rh - t0 < mb ? (u + 1) * Rh - t0 : mb, &blk);
        }
    }

    for (size_t t = 0; t < R; t++) {
        if (c->plan.splits == 1) {
            size_t h, i;
            row_at(c, &it, t, &h, &i);
            finish_row(c, it.b, h, i, w->mx[t], w->l[t], w->o + t * Dv);
        } else {
            float *p = partial_row(c, it.tile, it.chunk, t);
            p[0] = w->mx[t];
            p[1] = w->l[t];
            memcpy(p + 2, w->o + t * Dv, Dv * sizeof(float));
        }
    }
}

/* Split-KV: row t of a tile from its chunks, merged in chunk order:
 * M = max m_c, l = Σ l_c·e^(m_c − M), O = Σ O_c·e^(m_c − M). */
static void merge_row(const fwd_call *c, size_t tile, size_t t, float *o)
{
    const size_t Dv = c->d.Dv;
    float M = -INFINITY;
    int nan = 0;
    for (size_t ch = 0; ch < c->plan.splits; ch++) {
        const float *p = partial_row(c, tile, ch, t);
        nan |= isnan(p[0]) || isnan(p[1]);
        if (p[1] != 0.0f && p[0] > M)
            M = p[0];
    }
    float l = 0.0f;
    memset(o, 0, Dv * sizeof(float));
    for (size_t ch = 0; ch < c->plan.splits && !nan; ch++) {
        const float *p = partial_row(c, tile, ch, t);
        if (p[1] == 0.0f)
            continue;
        const float w = expf(p[0] - M);
        l += w * p[1];
        for (size_t cc = 0; cc < Dv; cc++)
            o[cc] += w * p[2 + cc];
    }
    if (nan) {
        l = NAN;
        for (size_t cc = 0; cc < Dv; cc++)
            o[cc] = NAN;
    }
    const fwd_item it = item_at(c, tile * c->plan.splits);
    size_t h, i;
    row_at(c, &it, t, &h, &i);
    finish_row(c, it.b, h, i, M, l, o);
}

/* Rows per row block of a direct tile with more rows per K/V head than
 * qk_direct's mr: the most both qk_direct and the V dtype's pv_tile take. */
static size_t direct_mb(const fwd_call *c)
{
    /* direct tiles read a 16-bit V in place (run_item) */
    const size_t pmr = pv_rows_max(c->kt, c->v->dtype != ATTN_F32, c->v->dtype);
    return pmr < c->kt->qk_direct.mr ? pmr : c->kt->qk_direct.mr;
}

/* Validates and plans a call; *bytes = its workspace (0: nothing to do). */
static attn_status prepare(const char *fn, fwd_call *c, const attn_tensor *q,
                           const attn_tensor *k, const attn_tensor *v,
                           const attn_tensor *out, const attn_options *opt,
                           size_t *items, int *nt, size_t *per, size_t *bytes)
{
    *bytes = 0;
    if (!out) /* attn_check_qkv takes a NULL out as "no output" */
        return attn_error(ATTN_ERR_NULL, "%s: out is NULL", fn);
    attn_status s = attn_check_qkv(fn, q, k, v, out, &c->d);
    if (s || (s = attn_check_options(fn, opt, &c->d)))
        return s;
    if (c->d.B == 0 || c->d.Hq == 0 || c->d.Lq == 0)
        return ATTN_OK;

    c->kt = attn_active_kernels();
    c->g = c->d.Hq / c->d.Hkv;
    c->scale = attn_resolve_scale(opt ? opt->scale : 0.0f, c->d.D);
    attn_mods_init(&c->mods, opt, &c->d, c->kt);
    c->q = q, c->k = k, c->v = v, c->out = out;
    c->lse = opt ? opt->lse : NULL;
    const size_t nr = c->kt->qk_tile.nr;
    c->span_align = ATTN_SPAN_ALIGN / attn_gcd(ATTN_SPAN_ALIGN, nr) * nr;

    attn_plan_call(c->kt, attn_topology(), &c->d, k, v, &c->plan);
    c->hb = c->plan.heads;
    /* Decoding (a tile of a few rows): K rows are read in place (widened
     * when 16-bit) by qk_direct, the whole tile one row block (or a few: a
     * wider tile), so each key is read from memory once and never packed.
     * A choice of the shape alone (plan.c). */
    c->direct = c->plan.direct;
    const size_t rh = c->plan.rows * c->g;
    c->mb = !c->direct ? c->kt->qk_tile.mr : rh <= c->kt->qk_direct.mr ? rh : direct_mb(c);
    c->blocks_h = (rh + c->mb - 1) / c->mb;
    c->step = c->blocks_h > 1 ? DIRECT_STEP_WIDE : DIRECT_STEP;
    c->tiles_per_head = (c->d.Lq + c->plan.rows - 1) / c->plan.rows;
    c->tiles = c->d.B * (c->d.Hkv / c->hb) * c->tiles_per_head;
    *items = c->tiles * c->plan.splits;
    *nt = attn_thread_count(opt ? opt->num_threads : 0, *items);

    *per = ws_bytes(c, NULL, NULL);
    const size_t R = c->plan.rows * c->g * c->hb;
    const size_t part = c->plan.splits > 1 ? *items * R * (c->d.Dv + 2) : 0;
    if (*per == 0 || *per > ((size_t)-1) / 4 / (size_t)*nt ||
        part > ((size_t)-1) / 8 - *per * (size_t)*nt / 4)
        return attn_error(ATTN_ERR_OVERFLOW, "%s: workspace size overflows", fn);
    *bytes = *per * (size_t)*nt + part * sizeof(float);
    return ATTN_OK;
}

ATTN_API attn_status attn_forward_workspace(const attn_tensor *q, const attn_tensor *k,
                                            const attn_tensor *v, const attn_tensor *out,
                                            const attn_options *opt, size_t *bytes)
{
    static const char fn[] = "attn_forward_workspace";
    if (!bytes)
        return attn_error(ATTN_ERR_NULL, "%s: bytes is NULL", fn);
    fwd_call c;
    size_t items, per;
    int nt;
    return prepare(fn, &c, q, k, v, out, opt, &items, &nt, &per, bytes);
}

ATTN_API attn_status attn_forward(const attn_tensor *q, const attn_tensor *k,
                                  const attn_tensor *v, const attn_tensor *out,
                                  const attn_options *opt)
{
    static const char fn[] = "attn_forward";
    fwd_call c;
    size_t items, per, bytes;
    int nt;
    attn_status s = prepare(fn, &c, q, k, v, out, opt, &items, &nt, &per, &bytes);
    if (s || bytes == 0)
        return s;
    /* everything is allocated before the first output byte is written */
    char *ws = attn_ws_get(bytes);
    if (!ws)
        return attn_error(ATTN_ERR_NOMEM, "%s: cannot allocate %zu bytes of "
                          "workspace", fn, bytes);
    const size_t R = c.plan.rows * c.g * c.hb;
    c.partials = c.plan.splits > 1 ? (float *)(void *)(ws + per * (size_t)nt) : NULL;

    #pragma omp parallel num_threads(nt)
    {
        fwd_ws w;
        ws_bytes(&c, &w, ws + per * (size_t)omp_get_thread_num());
        #pragma omp for schedule(dynamic, 1)
        for (long long i = 0; i < (long long)items; i++)
            run_item(&c, &w, (size_t)i);
        if (c.plan.splits > 1) {
            /* each thread's w.o is free now: merge into it */
            #pragma omp for schedule(static)
            for (long long r = 0; r < (long long)(c.tiles * R); r++) {
                const size_t tile = (size_t)r / R, t = (size_t)r % R;
                const fwd_item it = item_at(&c, tile * c.plan.splits);
                if (t < item_rows(&c, &it))
                    merge_row(&c, tile, t, w.o);
            }
        }
    }
    attn_ws_put(ws);
    return ATTN_OK;
}
