/*
 * plan.c — tile sizes and thread counts.
 *
 * A work item is a tile of query rows: `rows` query positions × the Hq/Hkv
 * heads that share one K/V head, so each K/V block is packed once and used
 * by every head of the group (GQA). Its Q tile and O accumulator stay in L2;
 * the K/V block (kc keys) is packed into at most half of L2 and swept by
 * every mr-row block of the tile while its score rows (mr × kc) sit in L1.
 * Decode tiles (direct) over a cache whose heads of one key are adjacent
 * take several K/V heads (attn_plan_head_groups), so that one thread reads
 * runs of those heads' rows; attn_plan_call picks this from the strides.
 */
#include <stdlib.h>

#include <omp.h>

#include "internal.h"

enum { KC_MAX = 512, TILE_ROWS_MAX = 1024, ITEMS_PER_CORE = 4, SPLIT_MIN_KEYS = 512,
       GROUP_MIN_KEYS = 128, DIRECT_WIDE = 2 };

static size_t clampz(size_t x, size_t lo, size_t hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

static size_t min_items(const attn_cpu_info *ci)
{
    return ITEMS_PER_CORE * (size_t)(ci->physical_cores > 0 ? ci->physical_cores : 1);
}

/* Split-KV ("flash-decoding"): too few row tiles → cut the keys into chunks
 * of whole K/V blocks of at least min_keys, each chunk its own work item;
 * partial results are merged exactly by their log-sum-exp. */
static void plan_split(const attn_cpu_info *ci, const attn_dims *d, size_t tiles,
                       size_t min_keys, attn_plan *plan)
{
    const size_t kc = plan->kc, want = min_items(ci);
    size_t splits = 1;
    if (tiles < want && d->Lk >= 2 * min_keys) {
        splits = (want + tiles - 1) / tiles;
        if (splits > d->Lk / min_keys)
            splits = d->Lk / min_keys;
    }
    size_t chunk = (d->Lk + splits - 1) / splits;
    chunk = (chunk + kc - 1) / kc * kc;
    plan->chunk = chunk > 0 ? chunk : kc;
    plan->splits = d->Lk > 0 ? (d->Lk + plan->chunk - 1) / plan->chunk : 1;
}

void attn_plan_forward(const attn_kernels *kt, const attn_cpu_info *ci,
                       const attn_dims *d, attn_plan *plan)
{
    const size_t nr = kt->qk_tile.nr, mr = kt->qk_tile.mr;
    const size_t row_bytes = 4 * (d->D + d->Dv);
    const size_t l2 = (size_t)ci->l2_bytes;

    /* K and V blocks of kc keys fill about half of L2. */
    size_t kc = clampz(l2 / 2 / row_bytes, nr, KC_MAX);
    kc -= kc % nr;
    plan->kc = kc;

    /* The Q tile and its O accumulator take what the K/V block leaves of
     * three quarters of L2 (d128: 1024 rows). Every tile re-reads its
     * head's K/V from L3 or memory to pack it: 2 tiles per S2 head instead
     * of 8 took packing from ~9 % of the time to ~4 %. */
    const size_t g = d->Hkv ? d->Hq / d->Hkv : 1;
    const size_t kv_bytes = kc * row_bytes, budget = l2 / 4 * 3;
    const size_t tile_rows = clampz(budget > kv_bytes ? (budget - kv_bytes) / row_bytes : 0,
                                    mr, TILE_ROWS_MAX);
    size_t rows = tile_rows / g > 0 ? tile_rows / g : 1;
    if (rows > d->Lq && d->Lq > 0)
        rows = d->Lq;
    /* Enough work items for every core of the machine (a causal split is
     * uneven: several per core), but no fewer rows than one mr block, and no
     * more items than that: each item packs its K/V blocks again. The shape
     * and the machine decide, never the thread count of the call. */
    const size_t heads = d->B * d->Hkv;
    const size_t min_rows = (mr + g - 1) / g;
    while (rows > min_rows && heads * ((d->Lq + rows - 1) / rows) < min_items(ci))
        rows = rows / 2 > min_rows ? rows / 2 : min_rows;
    /* The same rows for every tile of a head, and whole mr-row blocks: a
     * head's rows cut into equal tiles, each rounded up so that rows × g is
     * a multiple of mr where that keeps the tile count (S2 on AVX2: 4 × 516
     * rows, one partial row block per head instead of one per tile). Every
     * tile re-reads all of its head's K/V, so fewer, fuller tiles also
     * read less. */
    if (d->Lq > rows) {
        const size_t tiles_h = (d->Lq + rows - 1) / rows;
        const size_t even = (d->Lq + tiles_h - 1) / tiles_h;
        const size_t step = mr / attn_gcd(mr, g);
        const size_t whole = (even + step - 1) / step * step;
        rows = (d->Lq + whole - 1) / whole == tiles_h ? whole : even;
    }
    plan->rows = rows;

    /* Decoding: a tile of one query position × the GQA group reads K rows in
     * place (qk_direct), so a K/V block need not fill L2: about two thirds of
     * L1 keeps the block's V copy (and widened 16-bit K) there for P·V, and
     * the next block's rows stream in meanwhile (S4 f16 8.9 → 6.5 ms, f32
     * 13.6 → 11.3 ms with 32 keys instead of 512 on a 48 KiB L1).
     * Up to DIRECT_WIDE × qk_direct's mr rows (a few speculative positions
     * × the GQA group, or a wide group: row blocks of what both qk_direct
     * and pv_tile take): such a tile is still about as much memory as
     * compute, and its hinted sweeps keep the memory busy while it computes,
     * where a packed tile reads a block, then computes. At 1 / 2 threads
     * (AVX2 host with AVX-512): Hq 32 Hkv 8 Lq 4 causal f32 AVX2 13.0 →
     * 10.6 ms / 6.8 → 5.5; Hq 32 Hkv 2 Lq 1 f16 AVX-512 5.1 → 4.5 / 2.6 →
     * 2.2; Hq 28 Hkv 4 Lq 2 [B,S,H,D] AVX-512 6.7 → 5.0 (head groups now
     * apply) / 3.6 → 2.5. Wider tiles are compute-bound: 32 rows (MQA 32)
     * went 3.6 → 3.9 ms on AVX-512 (qk_direct's dot products run below the
     * packed kernels' FMA rate; after qk_direct's faster reductions, direct
     * and packed measured the same for 24-32 rows), so they stay packed. */
    plan->direct = rows * g <= DIRECT_WIDE * kt->qk_direct.mr;
    if (plan->direct) {
        const size_t l1 = ci->l1d_bytes > 0 ? (size_t)ci->l1d_bytes : 32768;
        kc = clampz(l1 * 2 / 3 / row_bytes / 16 * 16, 16, KC_MAX);
        plan->kc = kc;
    }

    plan->heads = 1;
    plan_split(ci, d, heads * ((d->Lq + rows - 1) / rows), SPLIT_MIN_KEYS, plan);
}

/* Decode items over a cache such as [B,S,H,D] read one head's rows at the
 * key stride (H·D), a few hundred bytes per page: half of what a
 * sequential read gets from memory (S4 f32 at 79 % of the read bandwidth,
 * [B,H,S,D] 121 %). An item of hb heads reads runs of hb rows instead. */
void attn_plan_head_groups(const attn_cpu_info *ci, const attn_dims *d,
                           size_t kv_row_bytes, attn_plan *plan)
{
    if (!plan->direct || d->Hkv < 2 || kv_row_bytes == 0)
        return;
    const size_t per_head = d->B * ((d->Lq + plan->rows - 1) / plan->rows);
    const size_t most_splits = d->Lk / GROUP_MIN_KEYS > 0 ? d->Lk / GROUP_MIN_KEYS : 1;
    size_t hb = d->Hkv;
    while (hb > 1 && (d->Hkv % hb || per_head * (d->Hkv / hb) * most_splits < min_items(ci)))
        hb--;
    if (hb < 2)
        return;
    plan->heads = hb;
    const size_t quarter = (size_t)(ci->l2_bytes > 0 ? ci->l2_bytes : 1 << 20) / 4;
    plan->kc = clampz(quarter / (hb * kv_row_bytes) / 16 * 16, 16, plan->kc);
    plan_split(ci, d, per_head * (d->Hkv / hb), GROUP_MIN_KEYS, plan);
}

void attn_plan_call(const attn_kernels *kt, const attn_cpu_info *ci, const attn_dims *d,
                    const attn_tensor *k, const attn_tensor *v, attn_plan *plan)
{
    attn_plan_forward(kt, ci, d, plan);
    /* S4 f32 [B,S,H,D] at 1 thread on AVX2: 15.6 → 12.1 ms, S5 9.7 → 7.0 ms
     * ([B,H,S,D]: 10.6, 6.3) */
    if (k->stride[1] < k->stride[2] && v->stride[1] < v->stride[2])
        attn_plan_head_groups(ci, d,
                              d->D * attn_dtype_bytes(k->dtype) +
                                  d->Dv * attn_dtype_bytes(v->dtype),
                              plan);
}

int attn_thread_count(int requested, size_t items)
{
    if (omp_in_parallel())
        return 1;
    size_t n = requested > 0 ? (size_t)requested
                             : (size_t)attn_topology()->physical_cores;
    if (n > items)
        n = items;
    return n < 1 ? 1 : (int)n;
}

void *attn_alloc(size_t n)
{
    const size_t rounded = (n + 63) & ~(size_t)63;
    if (n == 0 || rounded < n)
        return NULL;
    return aligned_alloc(64, rounded);
}

void attn_free(void *p) { free(p); }
