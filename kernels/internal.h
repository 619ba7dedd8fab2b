/*
 * internal.h — what the portable parts of the library share: error
 * reporting, argument validation, tile planning and thread counts.
 * Nothing here is compiled with ISA flags.
 */
#ifndef ATTN_INTERNAL_H
#define ATTN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "attn.h"
#include "microkernels.h"

#if defined(__GNUC__)
#define ATTN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ATTN_PRINTF(a, b)
#endif

/* Records a message for attn_last_error() on this thread; returns s. */
attn_status attn_error(attn_status s, const char *fmt, ...) ATTN_PRINTF(2, 3);

/* The cores and caches found at start-up (dispatch.c). */
const attn_cpu_info *attn_topology(void);

/* Greatest common divisor (tile steps that keep mr/nr and alignment). */
static inline size_t attn_gcd(size_t a, size_t b)
{
    while (b) {
        const size_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* ---- validation (validate.c) ------------------------------------------ */

enum {
    ATTN_CHK_OUTPUT = 1u << 0, /* written by the call: its elements must not alias */
    ATTN_CHK_F32 = 1u << 1,    /* f32 by contract: another dtype is ATTN_ERR_DTYPE */
};

/* Checks one tensor: pointer, dtype, shape ≥ 0, strides ≥ 0 with
 * stride[3] == 1, byte extent within int64 and the address space, data
 * non-NULL when it has elements, and (outputs) no self-aliasing. */
attn_status attn_check_tensor(const char *fn, const char *name,
                              const attn_tensor *t, unsigned flags);

/* The sizes of one attention call, after validation. */
typedef struct attn_dims {
    size_t B, Hq, Hkv, Lq, Lk, D, Dv;
} attn_dims;

/* Validates q, k, v (and out when non-NULL: [B, Hq, Lq, Dv]) together;
 * callers that need an output check it is non-NULL first. */
attn_status attn_check_qkv(const char *fn, const attn_tensor *q,
                           const attn_tensor *k, const attn_tensor *v,
                           const attn_tensor *out, attn_dims *dims);

/* Validates the options against the call's sizes (lse shape included). */
attn_status attn_check_options(const char *fn, const attn_options *opt,
                               const attn_dims *dims);

/* Checks shape equality of a tensor against an expected [4]. */
attn_status attn_check_shape(const char *fn, const char *name,
                             const attn_tensor *t, const int64_t want[4]);

/* ---- tensor access (tensor.c) ------------------------------------------ */

size_t attn_dtype_bytes(attn_dtype t);

/* Address of element [a, b, c, 0] of a tensor (any dtype). */
void *attn_at(const attn_tensor *t, size_t a, size_t b, size_t c);

/* Packs rows [j0, j0 + nb) of K head (b, h) for the table's qk_tile, widening
 * 16-bit keys with the matching pack kernel. */
void attn_pack_k_rows(const attn_kernels *kt, const attn_tensor *k, size_t b,
                      size_t h, size_t j0, size_t nb, float *kp);

/* Rows [j0, j0 + nb) of V head (b, h) copied to vp as contiguous f32 rows
 * (nb × Dv), widened when 16-bit. */
void attn_pack_v_rows(const attn_kernels *kt, const attn_tensor *v, size_t b, size_t h,
                      size_t j0, size_t nb, float *vp);

/* Rows [j0, j0 + nb) of head (b, h) of V (or K) as f32 rows at *ldv: the
 * tensor itself when it is f32, else widened into vp (nb × Dv, *ldv = Dv). */
const float *attn_rows_f32(const attn_kernels *kt, const attn_tensor *v, size_t b,
                         size_t h, size_t j0, size_t nb, float *vp, size_t *ldv);

/* ---- planning (plan.c) ------------------------------------------------- */

typedef struct attn_plan {
    size_t rows;   /* query positions per row tile (× Hq/Hkv heads = tile rows) */
    size_t kc;     /* keys per K/V block; a multiple of the qk kernel's nr,
                      or of 16 for direct tiles */
    size_t splits; /* key chunks per row tile (split-KV), ≥ 1 */
    size_t chunk;  /* keys per chunk, a multiple of kc (Lk when splits = 1) */
    int direct;    /* decode-sized tiles (≤ 2 × qk_direct's mr rows): K read
                      in place by qk_direct, the tile one row block or (wider)
                      a few */
    size_t heads;  /* K/V heads per tile: 1, or for direct tiles over a cache
                      with the heads of a key adjacent, a divisor of Hkv
                      (attn_plan_head_groups) */
} attn_plan;

/* Tile sizes from the cache sizes and the kernels' mr/nr, and the split of
 * the keys into chunks when there are too few row tiles to keep a many-core
 * machine busy (decoding). They depend on the shape and the machine only,
 * never on the thread count, so the arithmetic of every row is the same
 * whatever the number of threads. */
void attn_plan_forward(const attn_kernels *kt, const attn_cpu_info *ci,
                       const attn_dims *dims, attn_plan *plan);

/* For direct tiles over a cache whose heads of one key lie side by side:
 * tiles of several K/V heads (plan->heads, the most that still leave enough
 * work items with the keys split into chunks of at least 128), a K/V block
 * of kc keys short enough that a block of all those heads, kv_row_bytes per
 * key and head (K and V as stored), takes at most a quarter of L2, and the
 * split of the keys redone for the fewer tiles. No change otherwise. */
void attn_plan_head_groups(const attn_cpu_info *ci, const attn_dims *dims,
                           size_t kv_row_bytes, attn_plan *plan);

/* The plan of an attn_forward call: attn_plan_forward, then head groups
 * when K's and V's heads of one key lie closer together than its keys
 * ([B,S,H,D], paged blocks). */
void attn_plan_call(const attn_kernels *kt, const attn_cpu_info *ci, const attn_dims *dims,
                    const attn_tensor *k, const attn_tensor *v, attn_plan *plan);

/* Threads for a call with `items` independent work items: 1 inside an active
 * OpenMP parallel region, else min(requested or the physical cores, items). */
int attn_thread_count(int requested, size_t items);

/* 64-byte aligned allocation of n bytes (n > 0), or NULL. */
void *attn_alloc(size_t n);
void attn_free(void *p);

/* A call's workspace (workspace.c): the calling thread's cached block when it
 * is large enough, so repeated calls of one shape allocate nothing after the
 * first; attn_ws_put hands it back. */
void *attn_ws_get(size_t n);
void attn_ws_put(void *p);

/* The masks and score modifiers of one call (attn_options), resolved. */
typedef struct attn_mods {
    size_t Lq, Lk;
    int causal;
    const int32_t *kv_len;
    size_t window_left, window_right; /* 0 = unbounded */
    const attn_tensor *bias;
    const float *alibi, *sinks;
    float softcap;
    attn_softcap_row_fn *softcap_row; /* the call's kernel set's */
    int scores; /* softcap, ALiBi or bias: scores need attn_score_mods() */
} attn_mods;

void attn_mods_init(attn_mods *m, const attn_options *opt, const attn_dims *d,
                    const attn_kernels *kt);

/* Key count of batch b. */
static inline size_t attn_mods_len(const attn_mods *m, size_t b)
{
    return m->kv_len ? (size_t)m->kv_len[b] : m->Lk;
}

/* Visible keys of query row i of a batch with len keys: [lo, hi), lo ≥ hi
 * when none. Diagonal position p = i + len − Lq (bottom-right aligned). */
static inline void attn_row_range(const attn_mods *m, size_t len, size_t i,
                                  size_t *lo, size_t *hi)
{
    const int64_t p = (int64_t)i + (int64_t)len - (int64_t)m->Lq;
    int64_t a = 0, b = (int64_t)len;
    if (m->causal && p + 1 < b)
        b = p + 1;
    if (m->window_right && p + (int64_t)m->window_right + 1 < b)
        b = p + (int64_t)m->window_right + 1;
    if (m->window_left && p - (int64_t)m->window_left > a)
        a = p - (int64_t)m->window_left;
    if (b < a)
        b = a;
    *lo = (size_t)a;
    *hi = (size_t)b;
}

/* softcap, ALiBi and bias on the scores s[0..n) of row (b, h, i), keys
 * j0..j0+n−1 (masks are not applied here). */
void attn_score_mods(const attn_mods *m, size_t b, size_t h, size_t i, size_t len,
                     size_t j0, size_t n, float *s);

/* Default scale: 0 means 1/sqrt(D). */
float attn_resolve_scale(float scale, size_t D);

#endif /* ATTN_INTERNAL_H */
