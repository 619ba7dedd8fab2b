/*
 * testutil.h — helpers shared by the Criterion tests: a deterministic PRNG,
 * the list of kernel sets this host runs, strided tensor buffers whose unused
 * bytes are sentinel-filled, and comparisons against the float64 reference.
 * Nothing here computes attention.
 */
#ifndef ATTN_TESTS_TESTUTIL_H
#define ATTN_TESTS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "attn.h"

/* ---- deterministic PRNG (splitmix64) ---- */
typedef struct tu_rng {
    uint64_t s;
} tu_rng;
uint64_t tu_next(tu_rng *r);
double tu_uniform(tu_rng *r, double lo, double hi); /* [lo, hi) */
int64_t tu_int(tu_rng *r, int64_t lo, int64_t hi);  /* [lo, hi] */
float tu_nanf(void);                                 /* a quiet NaN */

/* ---- kernel sets ---- */
/* Every ISA value the host can run and the build has a table for (scalar
 * first), in enum order. Returns the count. Built with TU_EMULATED_ONLY
 * (the tests linked with the SIMDe-emulated core), only the emulated sets:
 * AVX-512 and NEON. */
int tu_isas(attn_isa out[4]);
/* Whether tu_isas() lists this ISA. */
int tu_isa_selected(attn_isa isa);

/* ---- tensors ---- */
/* How a tensor view sits in its buffer. */
typedef struct tu_layout {
    int bshd;          /* 0: [B,H,S,D]; 1: [B,S,H,D] (seq and head strides swapped) */
    int64_t extra_seq; /* seq capacity beyond the view (KV-cache slice) */
    int64_t pad_d;     /* elements between rows beyond the dim */
    int64_t off_seq;   /* the view starts this many seq positions into the buffer */
} tu_layout;
#define TU_NLAYOUTS 5
extern const tu_layout tu_layouts[TU_NLAYOUTS]; /* [0] is contiguous [B,H,S,D] */

typedef struct tu_tensor {
    float *mem;   /* the whole buffer; ends exactly at the last element of the view */
    size_t n;     /* floats in mem (≥ 1) */
    attn_tensor t;
} tu_tensor;

/* A buffer sized for the view, every float set to the bit pattern fill. */
void tu_make(tu_tensor *x, int64_t b, int64_t h, int64_t s, int64_t d, const tu_layout *lay,
             uint32_t fill);
void tu_free(tu_tensor *x);
/* Set every element of the view to uniform [lo, hi). */
void tu_fill_view(tu_tensor *x, tu_rng *r, double lo, double hi);
/* Refill the whole buffer with the bit pattern fill. */
void tu_reset(tu_tensor *x, uint32_t fill);
/* Number of floats of mem outside the view whose bits differ from fill. */
size_t tu_outside_changed(const tu_tensor *x, uint32_t fill);
/* In-view element count of a tensor. */
int64_t tu_numel(const attn_tensor *t);

#define TU_SENTINEL 0x7fa5a5a5u   /* a NaN nobody computes: "never written" */
#define TU_NAN_BITS 0x7fc00000u   /* the default quiet NaN */

/* ---- comparisons ---- */
/*
 * Compare a view of shape [B,H,S,D] element-wise with a contiguous double
 * reference of the same shape: NaN in ref needs NaN in the view; ±inf needs
 * the same inf; otherwise the value must be finite with
 * |x − ref| ≤ atol + rtol·|ref|. Returns the number of failures and describes
 * the first (and the max error) in msg.
 */
int64_t tu_compare(const attn_tensor *x, const double *ref, double atol, double rtol, char *msg,
                   size_t msz);

/* max |v| over the keys a batch can see (j < kv_len[b] when kv_len is given). */
double tu_maxabs_keys(const attn_tensor *v, const int32_t *kv_len);

/* Human-readable shape for failure messages. */
const char *tu_shape(char *buf, size_t n, const attn_tensor *t);

/* Exact widening of IEEE binary16 / bfloat16 bits to f32 (plain C). */
float tu_f16_to_f32(uint16_t h);
float tu_bf16_to_f32(uint16_t h);
/* A random finite half of magnitude in [2^-10, 1) (or 0), as bits. */
uint16_t tu_rand_half(tu_rng *r, attn_dtype dt);

/* ulp distance between two finite floats of the same sign. */
int64_t tu_ulps(float a, float b);

/* Nonzero for smaller long-sequence cases: under ASan, or with
 * ATTN_TESTS_SMALL=1 in the environment. */
int tu_small_run(void);

/* Shrinks a random shape until B·Hq·Lq·Lk·dsum ≤ budget: batch first, then
 * query heads (halved), then K/V heads, then Lq, then Lk. */
void tu_shrink_shape(int64_t *B, int64_t *Hq, int64_t *Hkv, int64_t *Lq, int64_t *Lk,
                     int64_t dsum, int64_t budget);

#endif /* ATTN_TESTS_TESTUTIL_H */
