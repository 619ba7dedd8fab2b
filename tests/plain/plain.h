/*
 * plain.h — the plain C test runner's helpers (no Criterion: it must run
 * under qemu-user, DESIGN §4). A check prints exactly one line,
 * "ok   <name>" or "FAIL <name>: <first failure>", and the runner closes with
 * "N passed, N failed", exiting nonzero on any failure.
 *
 *   pt_begin("qk_tile %s d=%zu", ...);   open a check
 *   pt_expect(cond, "m=%zu got %g", ...); record a failure (the first is kept)
 *   pt_end();                            print its line, count it
 */
#ifndef ATTN_TESTS_PLAIN_H
#define ATTN_TESTS_PLAIN_H

#include <stddef.h>
#include <stdint.h>

#include "microkernels.h"

#if defined(__GNUC__)
#define PT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PT_PRINTF(a, b)
#endif

/* ---- checks ---- */
void pt_begin(const char *fmt, ...) PT_PRINTF(1, 2);
/* Returns cond; on a false cond records the message (the first one wins). */
int pt_expect(int cond, const char *fmt, ...) PT_PRINTF(2, 3);
/* Nonzero when the open check has failed so far. */
int pt_failed(void);
void pt_end(void);
/* Prints "N passed, N failed"; returns the process exit status. */
int pt_summary(void);

/* ---- deterministic PRNG (splitmix64) ---- */
typedef struct pt_rng {
    uint64_t s;
} pt_rng;
double pt_uniform(pt_rng *r, double lo, double hi); /* [lo, hi) */
float pt_uniformf(pt_rng *r, float lo, float hi);

/* ---- buffers ---- */
/* n floats (n may be 0: one float), every one with the bit pattern fill. */
float *pt_alloc(size_t n, uint32_t fill);
void pt_fill_bits(float *p, size_t n, uint32_t fill);
uint32_t pt_bits(float f);
int pt_same_bits(float a, float b);
/* Bitwise equal, or both NaN. */
int pt_same(float a, float b);

#define PT_SENTINEL 0x7fa5a5a5u /* a NaN nobody computes: "never written" */
#define PT_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the two halves of the runner ---- */
/* Kernel checks on one kernel (kernel_checks.c); name is its symbol. */
void pt_check_qk_tile(const char *name, attn_qk_tile_fn *fn, unsigned mr, unsigned nr);
void pt_check_softmax_tile(const char *name, attn_softmax_tile_fn *fn);
void pt_check_pv_tile(const char *name, attn_pv_tile_fn *fn, unsigned mr);
void pt_check_pv_tile_x16(const char *name, attn_pv_tile_x16_fn *fn, unsigned mr, int bf);
void pt_check_softmax_row(const char *name, attn_softmax_row_fn *fn);
void pt_check_softcap_row(const char *name, attn_softcap_row_fn *fn);
void pt_check_qk_direct(const char *name, attn_qk_direct_fn *fn, unsigned mr);
void pt_check_qk_direct_x16(const char *name, attn_qk_direct_x16_fn *fn, unsigned mr, int bf);
/* nrs: the panel widths this packer is used with. */
void pt_check_pack_k(const char *name, attn_pack_k_f32_fn *fn, const unsigned *nrs, size_t nnrs);
void pt_check_pack_v(const char *name, attn_pack_v_f32_fn *fn);
/* bf: bfloat16, else binary16. */
void pt_check_pack_k_x16(const char *name, attn_pack_k_x16_fn *fn, const unsigned *nrs,
                         size_t nnrs, int bf);
void pt_check_pack_v_x16(const char *name, attn_pack_v_x16_fn *fn, int bf);

/* API checks of the active kernel set (api_checks.c). */
void pt_check_api(const char *isa_name);
/* API checks that do not depend on the kernel set (bad input, empty). */
void pt_check_api_args(void);

#endif /* ATTN_TESTS_PLAIN_H */
