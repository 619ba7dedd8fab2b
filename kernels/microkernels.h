/*
 * microkernels.h — the internal contract between the portable driver and the
 * per-ISA kernels (BLIS's framework/kernel split, XNNPACK's microkernels).
 *
 * The driver (forward.c, staged.c) owns loops over batch, heads and tiles,
 * masking, threading and bookkeeping. A kernel owns only register-level work
 * on cache-resident tiles, tails included (m < mr, any n, any d ≥ 1).
 *
 * Every kernel is listed once in kernels/ukr/<slot>.inc as
 *     ATTN_UKR(isa, symbol, mr, nr)
 * and that list, through kernels/ukr/all.h, feeds the prototypes below, the
 * dispatch tables, the tests and the bench, so a kernel cannot exist untested. The first entry of an ISA in a
 * list is the one that ISA's table uses; a slot an ISA does not list falls back
 * to the scalar kernel.
 *
 * All matrices are f32, row-major, with an explicit leading dimension (in
 * elements). No alignment is assumed. Kernels assert their preconditions and
 * trust the driver; they never allocate.
 */
#ifndef ATTN_MICROKERNELS_H
#define ATTN_MICROKERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "attn.h"
#include "attn_config.h"

/* ATTN_IF_<isa>(x) expands to x when that ISA's kernels are built. */
#define ATTN_IF_scalar(x) x
#if ATTN_HAVE_AVX2
#define ATTN_IF_avx2(x) x
#else
#define ATTN_IF_avx2(x)
#endif
#if ATTN_HAVE_AVX512
#define ATTN_IF_avx512(x) x
#else
#define ATTN_IF_avx512(x)
#endif
#if ATTN_HAVE_NEON
#define ATTN_IF_neon(x) x
#else
#define ATTN_IF_neon(x)
#endif

/*
 * qk_tile: S[m × n] = Q[m × d] · Kᵀ.
 *   m ≤ mr rows of Q (ldq), already multiplied by the scale.
 *   kp: n keys packed by pack_k with this kernel's nr: ceil(n/nr) panels, panel
 *       t holds, for each dd in 0..d-1, the nr values K[t·nr + jj][dd]
 *       (jj = 0..nr-1), zero-padded past n. Panel t starts at kp + t·nr·d.
 *   S rows at lds; only the first n columns of each row are written.
 */
typedef void attn_qk_tile_fn(size_t m, size_t n, size_t d,
                             const float *q, size_t ldq,
                             const float *kp, float *s, size_t lds);

/*
 * qk_direct: S[m × n] = Q[m × d] · Kᵀ with K read in place, n rows at ldk
 * (no packing): for the few query rows of decoding, where packing K would
 * cost more than the product. Any m (mr rows is the driver's row block: a
 * decode tile of up to 2·mr rows per K/V head takes this kernel in row
 * blocks of at most mr), n ≥ 0, d ≥ 1; S rows at lds, only the first n columns written. Each
 * score's value depends on its q row and k row only (not on m, n or its
 * position), like qk_tile's — but qk_tile and qk_direct may round
 * differently.
 */
typedef void attn_qk_direct_fn(size_t m, size_t n, size_t d, const float *q, size_t ldq,
                               const float *k, size_t ldk, float *s, size_t lds);

/*
 * qk_direct_f16 / qk_direct_bf16: qk_direct with K rows of 16-bit values
 * (ldk in elements), each widened exactly as it is read, so a 16-bit KV
 * cache is read once, in place, with no widening pass. Every score is
 * bitwise the one qk_direct of the same ISA gives on the widened rows (the
 * same chains and reduction; a NaN key gives NaN, its payload aside).
 */
typedef void attn_qk_direct_x16_fn(size_t m, size_t n, size_t d, const float *q, size_t ldq,
                                   const uint16_t *k, size_t ldk, float *s, size_t lds);

/*
 * softmax_tile: one online-softmax step over m rows of n scores (in place).
 * For each row r, with running max mx[r] and running sum l[r] (−inf and 0
 * before the first step):
 *     m_new   = max(mx[r], max_j s[r,j])
 *     s[r,j]  = exp(s[r,j] − m_new)            (0 for s = −inf; a kernel may
 *                                               give 0 where s − m_new < −64:
 *                                               see below)
 *     alpha[r]= exp(mx[r] − m_new)             (1 when the max did not move)
 *     l[r]    = alpha[r]·l[r] + Σ_j s[r,j];     mx[r] = m_new
 * A row whose scores and max are all −inf stays at mx = −inf, l = 0, its
 * scores become 0 and alpha = 1. NaN scores propagate into s and l.
 * Returns nonzero when some alpha[r] != 1 (O must be rescaled).
 * Giving 0 for e^x < e^−64 (< 2^−92) changes a row's sum by less than
 * 2^−61 of it even over 2^31 keys (its largest term is 1), and spares x86
 * the microcode assists of the subnormal products such terms make in P·V.
 */
typedef int attn_softmax_tile_fn(size_t m, size_t n, float *s, size_t lds,
                                 float *mx, float *l, float *alpha);

/*
 * pv_tile: O[m × dv] = P[m × n] · V[n × dv] + (overwrite ? 0 : alpha ⊙ O).
 *   m ≤ mr; n ≥ 0; V rows at ldv (f32, in place or packed by pack_v);
 *   alpha == NULL (and !overwrite) means alpha = 1: O += P·V.
 *   With overwrite, O is write-only (may hold garbage, even NaN).
 *   Each output element accumulates its products in one chain, in key order
 *   j = 0..n−1, so splitting the keys over two calls (the second with
 *   alpha = NULL) gives bitwise the same O, and a column of P = 0 adds
 *   exactly nothing when V is finite.
 *   nr is the width of the column chunk the kernel keeps in registers.
 */
typedef void attn_pv_tile_fn(size_t m, size_t n, size_t dv,
                             const float *p, size_t ldp,
                             const float *v, size_t ldv,
                             float *o, size_t ldo,
                             const float *alpha, int overwrite);

/*
 * pv_tile_f16 / pv_tile_bf16: pv_tile with V rows of 16-bit values (ldv in
 * elements), each widened exactly as it is read, so a decode step reads a
 * 16-bit KV cache's V in place, with no widening pass. m ≤ the entry's mr
 * (which may be less than pv_tile's). Every output is bitwise what pv_tile
 * of the same ISA gives on the widened rows (the same chains in the same
 * order; a NaN value gives NaN, its payload aside).
 */
typedef void attn_pv_tile_x16_fn(size_t m, size_t n, size_t dv,
                                 const float *p, size_t ldp,
                                 const uint16_t *v, size_t ldv,
                                 float *o, size_t ldo,
                                 const float *alpha, int overwrite);

/*
 * softmax_row: x[0..n) ← softmax(x) in place, max-subtracted; returns the
 * row's log-sum-exp (max + log Σ exp(x − max)). All −inf (or n = 0): x = 0,
 * returns −inf. NaN in x: the row and the result are NaN. Like softmax_tile,
 * a kernel may give 0 for a term exp(x − max) below e^−64.
 */
typedef float attn_softmax_row_fn(size_t n, float *x);

/*
 * softcap_row: s[j] ← cap · tanh(s[j] · (1/cap)) for j < n (Gemma 2's logit
 * soft-capping); cap > 0 and finite. tanh within 3 ulp (2 on x86),
 * ±inf → ±cap, NaN stays NaN, |result| ≤ cap; each element depends on its
 * own input only.
 */
typedef void attn_softcap_row_fn(size_t n, float *s, float cap);

/*
 * pack_k_f32: pack n keys of d floats (rows at ldk) into panels of nr keys, the
 * layout qk_tile reads (see above), zero-padding the last panel to nr.
 * Writes ceil(n/nr)·nr·d floats.
 */
typedef void attn_pack_k_f32_fn(size_t n, size_t d, const float *k, size_t ldk,
                                float *kp, size_t nr);

/*
 * pack_v_f32: copy n rows of dv floats (rows at ldv) to vp, contiguous
 * (leading dimension dv).
 */
typedef void attn_pack_v_f32_fn(size_t n, size_t dv, const float *v, size_t ldv,
                                float *vp);

/*
 * pack_k_f16 / pack_k_bf16: as pack_k_f32, from IEEE binary16 / bfloat16 keys,
 * widened exactly to f32 while packing.
 */
typedef void attn_pack_k_x16_fn(size_t n, size_t d, const uint16_t *k, size_t ldk,
                                float *kp, size_t nr);

/*
 * pack_v_f16 / pack_v_bf16: as pack_v_f32, from binary16 / bfloat16 rows,
 * widened exactly to f32.
 */
typedef void attn_pack_v_x16_fn(size_t n, size_t dv, const uint16_t *v, size_t ldv,
                                float *vp);

/* Prototypes of every listed kernel. */
#define ATTN_EACH(slot, type, isa, sym, mr, nr) type sym;
#include "ukr/all.h"
#undef ATTN_EACH

/* Every slot of a kernel table: X(slot, fn_type). */
#define ATTN_SLOTS(X)                                                          \
    X(qk_tile, attn_qk_tile_fn)                                                \
    X(qk_direct, attn_qk_direct_fn)                                            \
    X(qk_direct_f16, attn_qk_direct_x16_fn)                                    \
    X(qk_direct_bf16, attn_qk_direct_x16_fn)                                   \
    X(softmax_tile, attn_softmax_tile_fn)                                      \
    X(pv_tile, attn_pv_tile_fn)                                                \
    X(pv_tile_f16, attn_pv_tile_x16_fn)                                        \
    X(pv_tile_bf16, attn_pv_tile_x16_fn)                                       \
    X(softmax_row, attn_softmax_row_fn)                                        \
    X(softcap_row, attn_softcap_row_fn)                                        \
    X(pack_k_f32, attn_pack_k_f32_fn)                                          \
    X(pack_v_f32, attn_pack_v_f32_fn)                                          \
    X(pack_k_f16, attn_pack_k_x16_fn)                                          \
    X(pack_k_bf16, attn_pack_k_x16_fn)                                         \
    X(pack_v_f16, attn_pack_v_x16_fn)                                          \
    X(pack_v_bf16, attn_pack_v_x16_fn)

/* One slot of a kernel table: the function, its symbol name and blocking. */
#define ATTN_SLOT(type)                                                        \
    struct {                                                                   \
        type *fn;                                                              \
        const char *name;                                                      \
        attn_isa isa;                                                          \
        unsigned mr, nr;                                                       \
    }

/* A complete kernel set: every slot non-NULL (scalar where the ISA has none). */
typedef struct attn_kernels {
    attn_isa isa;
#define ATTN_SLOT_FIELD(slot, type) ATTN_SLOT(type) slot;
    ATTN_SLOTS(ATTN_SLOT_FIELD)
#undef ATTN_SLOT_FIELD
} attn_kernels;

/* The kernel set in use: one atomic load; callers keep the pointer for the
 * whole call, so attn_set_isa() never changes a call in flight. */
const attn_kernels *attn_active_kernels(void);
/* The complete table of an ISA (scalar-filled), or NULL when not built. */
const attn_kernels *attn_kernels_for(attn_isa isa);

#endif /* ATTN_MICROKERNELS_H */
