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

/* Validates q, k, v (and out when non-NULL: [B, Hq, Lq, Dv]) together. */
attn_status attn_check_qkv(const char *fn, const attn_tensor *q,
                           const attn_tensor *k, const attn_tensor *v,
                           const attn_tensor *out, attn_dims *dims);

/* Validates the options against the call's sizes (lse shape included). */
attn_status attn_check_options(const char *fn, const attn_options *opt,
                               const attn_dims *dims);

/* Checks shape equality of a tensor against an expected [4]. */
attn_status attn_check_shape(const char *fn, const char *name,
                             const attn_tensor *t, const int64_t want[4]);

/* ---- planning (plan.c) ------------------------------------------------- */

typedef struct attn_plan {
    size_t rows; /* query positions per work item (× Hq/Hkv heads = tile rows) */
    size_t kc;   /* keys per K/V block; a multiple of the qk kernel's nr */
} attn_plan;

/* Tile sizes from the cache sizes and the kernels' mr/nr. kc depends on the
 * shape and the machine only (it fixes the arithmetic); rows may also follow
 * the thread count (it does not change any row's arithmetic). */
void attn_plan_forward(const attn_kernels *kt, const attn_cpu_info *ci,
                       const attn_dims *dims, int threads, attn_plan *plan);

/* Threads for a call with `items` independent work items: 1 inside an active
 * OpenMP parallel region, else min(requested or the physical cores, items). */
int attn_thread_count(int requested, size_t items);

/* 64-byte aligned allocation of n bytes (n > 0), or NULL. */
void *attn_alloc(size_t n);
void attn_free(void *p);

/* Visible keys of query row i: [lo, hi). len = the batch's key count. */
static inline void attn_row_range(int causal, size_t len, size_t Lq, size_t i,
                                  size_t *lo, size_t *hi)
{
    *lo = 0;
    *hi = len;
    if (causal) {
        /* row i sees keys j <= i + len - Lq (bottom-right aligned) */
        const int64_t p = (int64_t)i + (int64_t)len - (int64_t)Lq;
        *hi = p < 0 ? 0 : ((size_t)p + 1 < len ? (size_t)p + 1 : len);
    }
}

/* Default scale: 0 means 1/sqrt(D). */
float attn_resolve_scale(float scale, size_t D);

#endif /* ATTN_INTERNAL_H */
