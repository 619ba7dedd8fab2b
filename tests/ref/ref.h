/*
 * ref.h — the double-precision reference of libattn's tests (DESIGN §4).
 *
 * Plain, obvious float64 loops over strided attn_tensor views; nothing here
 * calls the library. Inputs are read as f32 and widened exactly.
 *
 * Semantics (include/attn.h):
 *   score(b,h,i,j) = scale · q[b,h,i,:] · k[b,h/(Hq/Hkv),j,:]
 *   visible(b,h,i,j) = j < len && (!causal || j <= i + len − Lq),
 *                      len = kv_len ? kv_len[b] : Lk          (bottom-right causal)
 *   row with no visible key: out = 0, lse = −inf (sinks: see below)
 *   otherwise: m = max visible score, w_j = exp(s_j − m), l = Σ w_j,
 *              out = Σ w_j v_j / l, lse = m + log l; a NaN score or a NaN
 *              value reached by the row makes it NaN.
 *   Masked keys are never read (they may hold garbage, even NaN).
 *
 * Masks and score modifiers (attn.h, attn_options; issue 5), all in
 * ref_score_mod(), one call per (batch, head, row, key), with the diagonal
 * position p = i + len − Lq:
 *   s = scale · q·k;  if softcap > 0: s = softcap · tanh(s / softcap);
 *   s += slope_h · (j − p)  (ALiBi);  s += bias[b|0, h|0, i, j]  (f32 or f16);
 *   masked: j ≥ len, causal and j > p, window_left > 0 and j < p − window_left,
 *   window_right > 0 and j > p + window_right, or a final score of −inf (a −inf
 *   bias masks: the key is dropped, so 0 · V is never formed with its V).
 * Sinks (ref_row_softmax_sink): sinks[h] joins the row's denominator (and its
 * max) but has no value; a row with no visible key gives out 0 and lse =
 * sinks[h] (−inf without sinks).
 *
 * ref_opts is append-only like attn_options: the first three fields may be
 * initialised positionally ({scale, causal, kv_len}); the rest are then zero,
 * which means "off". The pragma below keeps such initialisers (test_forward.c,
 * plain/api_checks.c) free of -Wmissing-field-initializers under -Werror.
 */
#ifndef ATTN_TESTS_REF_H
#define ATTN_TESTS_REF_H

#include <stddef.h>
#include <stdint.h>

#include "attn.h"

#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif

typedef struct ref_opts {
    double scale;          /* the effective scale (already resolved; see ref_scale) */
    int causal;            /* bottom-right aligned */
    const int32_t *kv_len; /* [B] or NULL */
    /* issue 5, as in attn_options (0 / NULL = off) */
    int32_t window_left, window_right;
    const attn_tensor *bias;   /* f32 or f16 [B|1, H|1, Lq, Lk], any strides */
    const float *alibi_slopes; /* [H] */
    double softcap;
    const float *sinks;        /* [H] */
} ref_opts;

/* The scale attn_forward/attn_qk use for a requested scale: 0 → 1/sqrt(D). */
double ref_scale(float requested, int64_t d);

/* The valid key count of batch b: kv_len[b] or Lk. */
int64_t ref_len(const ref_opts *o, int64_t b, int64_t lk);

/*
 * Visibility and score modifier of one (b, h, i, j) of an [., ., Lq, Lk]
 * problem. Returns 0 when key j is masked for row i; otherwise may modify *s
 * (the scaled raw score) and returns 1. Must not be called with *s read from a
 * masked key: callers ask first with s == NULL (visibility only).
 */
int ref_score_mod(const ref_opts *o, int64_t b, int64_t h, int64_t i, int64_t j,
                  int64_t lq, int64_t lk, double *s);

/* Element (b, h, s, d) of an f32 tensor view, widened. */
double ref_at(const attn_tensor *t, int64_t b, int64_t h, int64_t s, int64_t d);
/* Pointer to element (b, h, s, d) of an f32 tensor view. */
float *ref_ptr(const attn_tensor *t, int64_t b, int64_t h, int64_t s, int64_t d);

/*
 * Softmax of one row of n scores with a visibility flag per score (vis may be
 * NULL: all visible). Writes w[j] (0 for masked) and returns the row's lse
 * (−inf when nothing is visible, NaN when a visible score is NaN, then every
 * visible w is NaN).
 */
double ref_row_softmax(size_t n, const double *s, const unsigned char *vis, double *w);
/* The same with a sink logit in the denominator (−inf: no sink): m = max of
 * the visible scores and the sink, l = Σ exp(s_j − m) + exp(sink − m),
 * w_j = exp(s_j − m) / l, lse = m + log l; nothing visible: w = 0, returns
 * the sink. */
double ref_row_softmax_sink(size_t n, const double *s, const unsigned char *vis, double sink,
                            double *w);

/* The sink of head h (−inf when o has none). */
double ref_sink(const ref_opts *o, int64_t h);

/* Exact widening of IEEE binary16 bits (for f16 bias). */
double ref_f16(uint16_t h);

/*
 * Fused attention: out [B, Hq, Lq, Dv] and lse [B, Hq, Lq] (may be NULL),
 * both contiguous double.
 */
void ref_forward(const attn_tensor *q, const attn_tensor *k, const attn_tensor *v,
                 const ref_opts *o, double *out, double *lse);

/* scores [B, Hq, Lq, Lk] contiguous = scale · q kᵀ (no masks). */
void ref_qk(const attn_tensor *q, const attn_tensor *k, double scale, double *scores);

/* Row-wise masked softmax of f32 scores (o->scale is ignored): probs
 * [B, H, Lq, Lk] contiguous (masked entries 0) and lse [B, H, Lq] (may be NULL). */
void ref_softmax(const attn_tensor *scores, const ref_opts *o, double *probs, double *lse);

/* out [B, Hq, Lq, Dv] contiguous = probs · v (GQA mapping as forward). */
void ref_pv(const attn_tensor *probs, const attn_tensor *v, double *out);

#endif /* ATTN_TESTS_REF_H */
