/*
 * attn.h — the whole public API of libattn.
 *
 * libattn computes attention on the CPU:
 *
 *     O = softmax(Q Kᵀ · scale + mask) V
 *
 * with hand-written SIMD kernels chosen once at start-up for the CPU it runs
 * on, in parallel with OpenMP over batch, heads and query rows.
 *
 * Contract of every entry point:
 *   - arguments are checked before any output byte is written; a bad argument
 *     returns an attn_status error (never a crash, never a partial write) and
 *     attn_last_error() says, in words, what was wrong;
 *   - tensors are views, never owned or retained by the library;
 *   - results are bitwise identical for every num_threads and every run on the
 *     same kernel set (the work split never changes the arithmetic);
 *   - calls from many threads at once are safe.
 *
 * Numerics (f32, d_k ≤ 256, Lk ≤ 16384): max |out − ref| ≤ 1e-5 · max|V|
 * against a float64 reference; lse within 1e-5.
 *   - A row with no visible key (all masked, kv_len = 0, Lk = 0) gives output 0
 *     and lse = −inf, never NaN.
 *   - NaN in Q, K or V reaches exactly the rows that attend to it; a masked key
 *     (causal future, past kv_len) never turns a row into NaN, and keys at or
 *     past kv_len[b] are never read.
 *   - Scores are f32, s = Σ_d (scale·q_d)·k_d: the scale multiplies Q before
 *     the dot product, so a large Q with a small scale does not overflow.
 *     Finite scores of any size are safe: the softmax subtracts the row max,
 *     so scores of ±1e30 or near ±FLT_MAX never give inf or NaN (far-apart
 *     scores give one-hot rows, ties share evenly). A score of +inf (an
 *     infinite Q or K, or a dot product beyond FLT_MAX; a softcap first maps
 *     ±inf to ±softcap) makes its row NaN, out and lse (e^(inf − inf), as in
 *     any IEEE softmax). A score of −inf (likewise, below −FLT_MAX) drops its
 *     key as a mask does: weight exactly 0, a NaN or inf in that key's V stays
 *     out of the row, and attn_softmax gives it exactly 0 even in a NaN row;
 *     a row whose every visible score is −inf is a row with no visible key.
 *     inf·0 in a dot product is NaN. ±inf in V makes that column non-finite
 *     (±inf; NaN where opposite infinities meet or the key's weight rounds
 *     to 0) in exactly the rows that see the key.
 *   - attn_forward sums Σ_j e^(s_j − max)·v_j in f32 before it divides by the
 *     softmax denominator: |V| ≤ FLT_MAX / (number of keys a row sees) keeps
 *     that sum finite; beyond, out may be ±inf although the exact result is
 *     finite (attn_pv sums normalised weights and has no such limit).
 *   - Subnormal Q, K, V and scores are computed as such: the library leaves
 *     the floating-point environment alone (no flush to zero under the default
 *     one). Only softmax terms e^(s − max) < e^−64, below 2^−92 of the row's
 *     largest term, may be given as exactly 0.
 *
 * Alignment: a data pointer (tensor data, kv_len, alibi_slopes, sinks) needs
 * only the natural alignment of its element type: 4 bytes for f32 and int32,
 * 2 for f16 and bf16. Nothing needs vector or cache-line alignment, and the
 * results are bitwise the same at any such address. A pointer not aligned to
 * its element type is undefined behaviour in C; the library does not check it.
 *
 * This header includes only <stddef.h> and <stdint.h>; it is C11 and C++
 * compatible.
 */
#ifndef ATTN_H
#define ATTN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(ATTN_BUILDING_DLL)
#define ATTN_API __declspec(dllexport)
#elif defined(__GNUC__)
#define ATTN_API __attribute__((visibility("default")))
#else
#define ATTN_API
#endif

#define ATTN_VERSION_MAJOR 0
#define ATTN_VERSION_MINOR 1
#define ATTN_VERSION_PATCH 0

/* Every entry point returns one of these. Values are stable. */
typedef enum attn_status {
    ATTN_OK = 0,
    ATTN_ERR_NULL,        /* a required pointer is NULL                          */
    ATTN_ERR_SHAPE,       /* a negative or zero-width dim, or shapes that disagree */
    ATTN_ERR_STRIDE,      /* negative stride, stride[3] != 1, or an aliasing output */
    ATTN_ERR_DTYPE,       /* unknown dtype, or a dtype that this argument cannot take */
    ATTN_ERR_OVERFLOW,    /* a size or byte extent that does not fit in 64 bits / the address space */
    ATTN_ERR_NOMEM,       /* a workspace allocation failed (nothing was written) */
    ATTN_ERR_UNSUPPORTED, /* valid, but not available in this build or on this CPU */
    ATTN_ERR_ARG          /* a scalar argument out of range (NaN scale, negative threads, kv_len > Lk, ...) */
} attn_status;

/* A fixed name for the status ("ATTN_ERR_SHAPE: ..."); never NULL, never empty. */
ATTN_API const char *attn_status_str(attn_status s);

/* The message of the last error returned on the calling thread, naming the
 * function, the argument and the values at fault (e.g.
 * "attn_forward: k.shape[3] = 80 differs from q.shape[3] = 64").
 * Never NULL; "" before any error. Thread-local: not changed by other threads. */
ATTN_API const char *attn_last_error(void);

typedef enum attn_dtype { ATTN_F32 = 0, ATTN_F16 = 1, ATTN_BF16 = 2 } attn_dtype;

typedef enum attn_isa {
    ATTN_ISA_SCALAR = 0,
    ATTN_ISA_AVX2,
    ATTN_ISA_AVX512,
    ATTN_ISA_NEON
} attn_isa;

/*
 * A tensor view: shape [batch, heads, seq, dim], strides in elements (not
 * bytes), stride[3] must be 1. Strides are ≥ 0; a zero stride broadcasts an
 * input. Outputs may not alias themselves (a zero or overlapping stride).
 * Any other strides work, so [B,S,H,D] buffers and slices of a larger KV cache
 * are read in place. data may be NULL only when the tensor has no element.
 */
typedef struct attn_tensor {
    void      *data;
    attn_dtype dtype;
    int64_t    shape[4];
    int64_t    stride[4];
} attn_tensor;

/*
 * Options of attn_forward and attn_softmax. A zeroed struct, or a NULL
 * pointer, means the defaults. Fields are only ever appended.
 */
typedef struct attn_options {
    /* Multiplies Q·Kᵀ. 0 → 1/sqrt(D). NaN or ±inf → ATTN_ERR_ARG.
     * (attn_softmax ignores it: scores arrive scaled.) */
    float scale;
    /* Nonzero: causal, bottom-right aligned. Query row i (of Lq) sees keys
     * j <= i + len − Lq, where len = kv_len[b] (or Lk). With Lq = len this is
     * the usual lower triangle; with Lq < len the rows are the last Lq
     * positions of the sequence (decoding with a KV cache). A row with
     * i + len − Lq < 0 sees no key. */
    int causal;
    /* [batch] valid keys per sequence, each in 0..Lk, or NULL (all Lk valid).
     * Keys at or past kv_len[b] are masked and never read. Out of range →
     * ATTN_ERR_ARG. */
    const int32_t *kv_len;
    /* Optional output, f32 [B, Hq, Lq, 1]: per row, the natural log of the
     * softmax denominator including its max, lse = m + log Σ exp(s_j − m),
     * so partial results over disjoint key ranges can be merged. −inf for a
     * row with no visible key. NULL: not written. */
    const attn_tensor *lse;
    /* 0 = library default (the physical core count); > 0 = at most that many
     * OpenMP threads; < 0 → ATTN_ERR_ARG. Called from inside an active OpenMP
     * parallel region, the call runs on the calling thread only. */
    int num_threads;

    /* ---- masks and score modifiers (all zero = off). For query row i, with
     * diagonal position p = i + len − Lq (len = kv_len[b] or Lk), and key j:
     *   s = scale · q·k
     *   if softcap > 0:   s = softcap · tanh(s / softcap)
     *   s += alibi_slopes[h] · (j − p)           (when alibi_slopes != NULL)
     *   s += bias[b, h, i, j]                    (when bias != NULL; −inf masks)
     * then key j is masked when j ≥ len, or causal and j > p, or
     * window_left > 0 and j < p − window_left, or window_right > 0 and
     * j > p + window_right. With sinks, the softmax runs over the visible
     * scores plus sinks[h], whose column is then dropped:
     *   out = Σ exp(s_j − m)·v_j / (Σ exp(s_j − m) + exp(sinks[h] − m))
     * and lse includes the sink (a row with no visible key: out 0, lse =
     * sinks[h]). Every kernel set applies these inside its tile loop; K/V
     * blocks wholly outside a row tile's causal/window range are skipped. */
    int32_t window_left;      /* keys further left of the diagonal than this are masked; 0 = unbounded; < 0 → ATTN_ERR_ARG */
    int32_t window_right;     /* keys further right than this are masked; 0 = unbounded; < 0 → ATTN_ERR_ARG */
    const attn_tensor *bias;  /* f32 or f16, shape [B or 1, Hq or 1, Lq, Lk], any strides (0 broadcasts) */
    const float *alibi_slopes;/* [Hq] or NULL */
    float softcap;            /* 0 = off; > 0 caps; < 0 or NaN → ATTN_ERR_ARG */
    const float *sinks;       /* [Hq] logits joining each row's denominator, or NULL */
} attn_options;

/*
 * The fused forward pass (flash attention; never materialises Lq × Lk).
 *   q   [B, Hq,  Lq, D ]     k [B, Hkv, Lk, D]     v [B, Hkv, Lk, Dv]
 *   out [B, Hq,  Lq, Dv]     Hq % Hkv == 0: query head h reads K/V head
 *                            h / (Hq / Hkv) (GQA; Hkv = 1 is MQA).
 * Dtypes: q, k, v each f32, f16 or bf16 (any mix), widened exactly to f32
 * (the scale is applied in f32, before any rounding); f32 accumulation; out
 * f32, f16 or bf16 (rounded to nearest even at the end); lse always f32.
 * B, Hq, Lq may be 0 (ATTN_OK, nothing written); Lk may be 0 (every row
 * masked: out = 0, lse = −inf); D, Dv ≥ 1; Hkv ≥ 1 when Hq ≥ 1.
 */
ATTN_API attn_status attn_forward(const attn_tensor *q, const attn_tensor *k,
                                  const attn_tensor *v, const attn_tensor *out,
                                  const attn_options *opt);

/*
 * attn_forward_workspace: *bytes = the workspace attn_forward allocates for
 * exactly this call (arguments validated as attn_forward does; 0 when there
 * is nothing to compute). It is O(threads × tile), whatever the sequence
 * lengths, plus, when a decode-like shape is split over its keys, one f32
 * (max, sum, Dv partial outputs) record per row and key chunk. The calling
 * thread keeps its last workspace (up to 64 MiB) for its next call, so
 * repeated calls of one shape (decoding) allocate nothing after the first;
 * it is freed when the thread exits.
 */
ATTN_API attn_status attn_forward_workspace(const attn_tensor *q, const attn_tensor *k,
                                            const attn_tensor *v, const attn_tensor *out,
                                            const attn_options *opt, size_t *bytes);

/*
 * The staged kernels; attn_qk → attn_softmax → attn_pv equals attn_forward to
 * within the library's tolerance.
 *
 * attn_qk: scores[b,h,i,j] = scale · q_i · k_j, scores f32 [B, Hq, Lq, Lk]
 *          (scale 0 → 1/sqrt(D), like opt.scale; GQA as attn_forward;
 *          q and k f32, f16 or bf16).
 * attn_scale: x *= scale in place (a literal multiply: 0 gives 0), x f32.
 * attn_softmax: in place, row-wise, max-subtracted softmax of f32 scores
 *          [B, H, Lq, Lk], with every mask and modifier of opt (causal,
 *          kv_len, window, softcap, ALiBi, bias, sinks) applied to the scores
 *          as in attn_forward (masked entries become exactly 0; a row with no
 *          visible key becomes all 0). Writes opt->lse when given. Never
 *          applies a scale.
 * attn_pv: out[b,h,i,:] = Σ_j probs[b,h,i,j] · v[b,h/(Hq/Hkv),j,:],
 *          probs f32 [B, Hq, Lq, Lk], v f32, f16 or bf16, out f32
 *          [B, Hq, Lq, Dv].
 * Scores, probs, x and lse are f32 only: another dtype is ATTN_ERR_DTYPE.
 */
ATTN_API attn_status attn_qk(const attn_tensor *q, const attn_tensor *k,
                             const attn_tensor *scores, float scale);
ATTN_API attn_status attn_scale(const attn_tensor *x, float scale);
ATTN_API attn_status attn_softmax(const attn_tensor *scores, const attn_options *opt);
ATTN_API attn_status attn_pv(const attn_tensor *probs, const attn_tensor *v,
                             const attn_tensor *out);

/*
 * attn_merge: combines partial results computed over disjoint key ranges of
 * the same queries — (outs[c], lses[c]) for c < n, each out f32 [B, H, Lq, Dv]
 * and lse f32 [B, H, Lq, 1] as attn_forward writes them — into the result of
 * one call over all the keys (to rounding):
 *     M = max_c lse_c,  w_c = exp(lse_c − M),
 *     out = Σ w_c·out_c / Σ w_c,  lse = M + log Σ w_c.
 * A shard with lse = −inf (no visible key, e.g. an empty key range) carries
 * no weight; if every shard has none, out = 0 and lse = −inf. `lse` may be
 * NULL. `out` may be the very view outs[c] of one shard (merging in place);
 * other overlaps between out and the inputs are not allowed.
 *
 * Context parallelism: split one sequence's keys across processes or
 * machines, run attn_forward with opt.lse on each shard (same Q, its own
 * K/V slice; for causal attention give each shard the positions it holds,
 * e.g. through kv_len and a causal mask built with bias), gather the
 * (out, lse) pairs and attn_merge them: the result equals one full call.
 * n < 1 → ATTN_ERR_ARG; shapes must agree (ATTN_ERR_SHAPE).
 */
ATTN_API attn_status attn_merge(const attn_tensor *outs, const attn_tensor *lses, int n,
                                const attn_tensor *out, const attn_tensor *lse);

/*
 * Kernel sets. The best set the CPU and build support is chosen once, at the
 * first call (or attn_init()); the environment variable ATTN_ISA
 * (scalar|avx2|avx512|neon) or attn_set_isa() forces another one.
 * attn_set_isa: unknown value → ATTN_ERR_ARG; a set this CPU or build cannot
 * run → ATTN_ERR_UNSUPPORTED (the current set is kept). Safe to call at any
 * time: a call in flight finishes on the set it started with.
 */
ATTN_API attn_status attn_init(void);
ATTN_API attn_status attn_set_isa(attn_isa isa);
ATTN_API attn_isa    attn_get_isa(void);
/* "scalar", "avx2", "avx512", "neon"; "unknown" for any other value. */
ATTN_API const char *attn_isa_name(attn_isa isa);
/* Nonzero when this CPU and build can run the kernel set. */
ATTN_API int         attn_isa_supported(attn_isa isa);

/* What the library found about the machine it runs on. */
typedef struct attn_cpu_info {
    int     physical_cores;   /* cores, not SMT siblings; the default thread count */
    int     logical_cpus;
    int64_t l1d_bytes;        /* per core */
    int64_t l2_bytes;         /* per core */
    int64_t l3_bytes;         /* total */
    attn_isa best_isa;        /* the best kernel set this CPU and build can run */
    const char *source;       /* "hwloc" or "sysconf" */
} attn_cpu_info;
ATTN_API attn_status attn_cpu_info_get(attn_cpu_info *info);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_H */
