/*
 * fuzz_forward.c — libFuzzer harness for the public API of libattn
 * (include/attn.h): arbitrary bytes become one call of attn_forward (most
 * inputs), attn_forward_workspace, attn_qk, attn_scale, attn_softmax,
 * attn_pv or attn_merge, on a kernel set chosen with attn_set_isa().
 *
 * What it checks (any failure prints the case and abort()s):
 *   - the status against an independent model of the header's rules: every
 *     rule the description breaks is an acceptable status; an invalid
 *     description that returns ATTN_OK, or a valid one refused, is a finding
 *     (tolerated both ways only where attn.h leaves it open: see model_*);
 *   - after an error: attn_status_str() names the status, attn_last_error()
 *     names the function, and no byte of any output buffer changed;
 *   - inputs are never written; outputs never written outside their view;
 *     keys at or past kv_len[b] and every byte outside an input's view are
 *     ASan-poisoned during the call, so the library cannot read them;
 *   - ATTN_OK results against the float64 reference of tests/ref with the
 *     tolerances of the Criterion tests (DESIGN §4: 1e-5·max|V|, lse 1e-5 +
 *     1e-6 relative, f16/bf16 outputs widened by their rounding as in
 *     test_decode.c), plus the f32 rounding of the scores themselves, which
 *     the header's bound assumes small (test_masks.c's 3·2^-24·|score|, here
 *     (D+2)·2^-24·Σ|scale·q·k| so that no summation order can exceed it);
 *     rows the header leaves undefined (a visible +inf score, scores beyond
 *     f32 range, a +inf sink) are not compared. NaN must reach exactly the
 *     rows (and, for V, the columns) that attend to it; rows that see no key
 *     are exactly 0 with lse = -inf (or the sink);
 *   - with RERUN, a second attn_forward with another num_threads is bitwise
 *     identical; attn_forward_workspace returns the status attn_forward does.
 *
 * Input contract — bytes are read front to back; a header byte read past
 * the end is 0. Value bytes past the end come from a splitmix64 generator
 * seeded with a hash of the whole input, so short inputs still fill their
 * tensors (with full-precision values in [-4, 4)·magnitude).
 *
 *  h0  entry     e % 32: 0-19 attn_forward, 20-21 attn_forward_workspace,
 *                22-23 attn_qk, 24 attn_scale, 25-27 attn_softmax,
 *                28-29 attn_pv, 30-31 attn_merge
 *  h1  isa       i % 8: 0 the best set (fuzz_forward_emu: NEON); 1-4 attn_set_isa(i - 1)
 *                (scalar, avx2, avx512, neon: refused with
 *                ATTN_ERR_UNSUPPORTED where attn_isa_supported() is 0);
 *                5, 6, 7: the unknown values 4, -1, INT_MAX (ATTN_ERR_ARG).
 *                Every input starts from the best set, so runs reproduce.
 *  h2  threads   t % 8: 0-3 → t, 4 → 1, 5 → 2, 6 → -1, 7 → INT_MIN
 *  h3 h4 flags   16 bits, little endian:
 *                0x0001 HOSTILE  edits use the hostile tables (below)
 *                0x0002 LONGK    Lk = 500..2100 (several K/V blocks, split-KV)
 *                0x0004 RERUN    attn_forward again with another num_threads
 *                0x0008 SPECIAL  values include NaN, ±inf, denormals, ±1e30
 *                0x0010 KVLEN    opt.kv_len      0x0020 CAUSAL   opt.causal
 *                0x0040 LSE      opt.lse / merge lse
 *                0x0080 BIAS     opt.bias        0x0100 ALIBI    opt.alibi_slopes
 *                0x0200 SINKS    opt.sinks       0x0400 SOFTCAP  opt.softcap
 *                0x0800 WINDOW   opt.window_left/right
 *                0x1000 EDIT     apply 1-4 edits (below) to the description
 *                0x2000 NULLOPT  opt = NULL (attn_forward, attn_softmax)
 *                0x4000 EMPTYNULL data = NULL for tensors without elements
 *                0x8000 INPLACE  attn_merge: out is the view outs[0]
 *  h5..h11       B, Hkv, group (Hq = Hkv·group), Lq, Lk, D, Dv:
 *                B: b%16 = 0 → 0, 1-9 → 1, 10-13 → 2, else 3;
 *                Hkv: b%16 = 0 → 0, 1-10 → 1, 11-13 → 2, else 3;
 *                group 1 + b%4; Lq: 0 → 0, < 80 → 1, else 1 + b%40;
 *                Lk: LONGK ? 500 + 7b % 1601 : b % 41 (merge: 1, unused);
 *                D, Dv: b ≥ 240 → {64, 80, 96, 128, 256, 3, 1, 17}[b%8]
 *                (merge Dv: 250 + 4(b − 240)), else 1 + b%40.
 *                Then shrunk (B, group, Hkv, D/Dv, Lq, Lk) until
 *                B·Hq·Lq·Lk·(D+Dv) ≤ 60000 (120000 with LONGK).
 *  h12 dtypes    2 bits each, q (0-1), k (2-3), v (4-5), out (6-7):
 *                0 f32, 1 f16, 2 bf16, 3 the invalid value 3. f32-only
 *                tensors (scores, probs, x, merge, pv out) use the out bits:
 *                3 → f16 (ATTN_ERR_DTYPE), else f32.
 *  h13 magnitude bits 0-2 |q|,|k| ×{1,1,1,1/8,8,100,1e-3,3000}[·];
 *                bits 3-5 |v| ×{1,1,1,1/16,16,1e4,1e-4,1e6}[·];
 *                bits 6-7: merge shard count 1 + (h13>>6) + (h5>>4)%3 (≤ 6)
 *  h14 scale     s % 8: 0 → 0 (1/sqrt(D)), 1, 0.125, -0.5, 1e-3, 30,
 *                6 → the f32 in the next 4 bytes, 7 → {NaN, +inf, -inf,
 *                1e38, 1e-45, -0, 65504, 2^-20}[(s/8)%8]
 *  Tensors: 2 bytes each, L then M, in the order of the entry:
 *    forward/workspace q k v out [lse] [bias]; qk q k scores; scale x;
 *    softmax scores [lse] [bias]; pv probs v out; merge out [lse] then
 *    outs[c] lses[c] for each shard.
 *    L: bit 0 [B,S,H,D] order; bits 1-2 row padding; bits 3-4 spare seq
 *       capacity; bits 5-6 seq offset of the view; bit 7: M's high nibble
 *       zeroes the strides of dims 0-3 (broadcast; an output aliases).
 *    M: bits 0-3: the view starts this many elements past a malloc()
 *       boundary (no alignment beyond the element's; an edited dtype can
 *       leave less, see tb_aligned()); each buffer ends exactly at the
 *       view's last element (ASan sees any overread).
 *  Options, each only when its flag is set (read for every entry; used by
 *  forward, workspace and softmax), with m = 8 under LONGK, else 1:
 *    CAUSAL 1 byte: c%4 → opt.causal = 1, 1, 2, -1;
 *    KVLEN  B bytes: x < 32 → 0, x < 64 → Lk, else m·(x−64) % (Lk+1);
 *    WINDOW 2 bytes left, right: x < 64 → 0 (unbounded), else m·(x−64) % (Lk+4);
 *    SOFTCAP 1 byte: {0.5, 1, 5, 30, 1e-3, 1e-30, 1e30, raw f32 (4 bytes)};
 *    ALIBI  Hq bytes: (x−128)/256 (SPECIAL, x ≥ 250: NaN, ±inf, ±1e30, 1e-40);
 *    SINKS  Hq bytes: (x−128)/16; x ≥ 248: {−inf, −inf, 1e30, −1e30, 20, 0,
 *           NaN, +inf} (the last two only with SPECIAL);
 *    BIAS   (forward, workspace, softmax only) 1 byte: bit 0 f16, bit 1
 *           shape[0] = 1, bit 2 shape[1] = 1, bit 3 [B,Lq,H,Lk] memory
 *           order, bit 4 row stride 0, bits 5-6 row padding, bit 7 value
 *           bytes < 64 mean −inf; then 1 byte M.
 *  Edits (EDIT): 1 byte n (n%4 + 1 edits), then 3 bytes each: kind, slot,
 *    value. kind%12: 0 shape[v%4], 1 stride[v%4] ← mild (±1, 0, 1, 2, ×2,
 *    +3, −1) or, with HOSTILE, {−1, INT64_MIN, INT64_MAX, 2^31, 2^32, 2^40,
 *    2^62, 3037000500, 2^62+…, 2^61−1, 2^21, 65537, 0, 1, 2, −2}; 2 dtype ←
 *    {3, −1, 255, INT_MAX, 0, 1, 2, 3}; 3 data ← NULL, a PROT_NONE page,
 *    the top of the address space, (void *)16; 4 pass NULL for the tensor;
 *    5 scale; 6 num_threads; 7 one kv_len entry; 8 a window; 9 softcap
 *    (each from its table of out-of-range values); 10 merge n / opt = NULL /
 *    workspace bytes = NULL; 11 stride[v%4] = 0 (bias: shape[v%2] = 1).
 *    The slot indexes the entry's tensors in the order above.
 *  Values: 1 byte per element, inputs in the order above (merge: outs[c],
 *    lses[c]): (x − 124)/32 · magnitude; with SPECIAL, x ≥ 248 is
 *    {NaN, +inf, −inf, 1e-40, −2^-149, 1e30, −1e30, 2^-20}[x − 248]
 *    (generated values: 1 in 64). Merge lse bytes: x < 64 → −inf, else
 *    (x − 128)/8. f16/bf16 tensors hold the value rounded to the dtype.
 *    Keys at or past kv_len hold NaN.
 *
 * Descriptions the model finds invalid are passed as they are, even with
 * shapes whose memory was never allocated: validation must refuse them
 * without touching memory. Valid ones run only when every view lies in its
 * buffer and the work is small; otherwise only attn_forward_workspace
 * (which touches no tensor data) is called.
 *
 * Running (build: tests/fuzz/meson.build; seeds: tests/fuzz/gen_corpus.py):
 *   CC=clang meson setup build-fuzz -Dfuzz=enabled -Dtests=disabled
 *   ninja -C build-fuzz tests/fuzz/fuzz_forward
 *   build-fuzz/tests/fuzz/fuzz_forward -timeout=20 NEW_DIR tests/fuzz/corpus
 * The build points UBSan at tests/fuzz/ubsan.supp (UB already reported);
 * UBSAN_OPTIONS in the environment applies on top (suppressions=/dev/null
 * shows those reports again). FUZZ_VERBOSE=1 prints each case and the model's verdict (handy with
 * a crash file as the argument). Library findings once tolerated here
 * (KNOWN_* below) are fixed and fail again, as does anything else;
 * FUZZ_STRICT=0 tolerates them (counted at exit), for triage.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "attn.h"
#include "ref.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZ_ASAN 1
#endif
#endif
#if !defined(FZ_ASAN) && defined(__SANITIZE_ADDRESS__)
#define FZ_ASAN 1
#endif
#ifndef FZ_ASAN
#define FZ_ASAN 0
#endif
#if FZ_ASAN
#include <sanitizer/asan_interface.h>
#endif

#define U32 0x1p-24 /* unit roundoff of f32 */
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define BIT(s) (1u << (unsigned)(s))
#define MAXSH 6 /* merge shards */

/* The reference, the checks and the per-element loops carry no coverage
 * instrumentation: they are most of an execution's time, and the fuzzer
 * learns nothing from their branches (the library's are what matter). */
#if defined(__clang__)
#define NOCOV __attribute__((no_sanitize("coverage"), noinline))
#else
#define NOCOV
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ------------------------------------------------------------------ bytes */

typedef struct rd {
    const uint8_t *p;
    size_t n;
    uint64_t s; /* generator for values past the end */
} rd;

NOCOV static uint64_t sm64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

NOCOV static unsigned hb(rd *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static uint32_t h32(rd *r)
{
    uint32_t x = 0;
    for (int i = 0; i < 4; i++)
        x |= (uint32_t)hb(r) << (8 * i);
    return x;
}

NOCOV static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

NOCOV static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static const float k_special[8] = {NAN, INFINITY, -INFINITY, 1e-40f, -0x1p-149f, 1e30f, -1e30f,
                                   0x1p-20f};

/* One input value: from the bytes while they last, then generated. */
NOCOV static float gen_value(rd *r, double mag, int special)
{
    if (r->n) {
        const unsigned b = hb(r);
        if (special && b >= 248)
            return k_special[b - 248];
        return (float)((double)((int)b - 124) / 32.0 * mag);
    }
    const uint64_t z = sm64(&r->s);
    if (special && (z & 63) == 0)
        return k_special[(z >> 6) & 7];
    return (float)(((double)(z >> 11) * 0x1p-53 * 8.0 - 4.0) * mag);
}

/* ------------------------------------------------------------------ dtypes */

static int dt_valid(attn_dtype d) { return (int)d >= 0 && (int)d <= 2; }
static size_t dt_size(attn_dtype d) { return d == ATTN_F32 ? 4 : 2; }

NOCOV static uint16_t to_f16(float f)
{
    const uint32_t u = f32_bits(f), sign = (u >> 16) & 0x8000, a = u & 0x7fffffffu;
    if (a > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00);
    if (a >= 0x477ff000u)
        return (uint16_t)(sign | 0x7c00);
    if (a < 0x38800000u) { /* subnormal: round a·2^24 to an integer, ties to even */
        const double v = (double)bits_f32(a) * 0x1p24;
        double r = floor(v);
        const double fr = v - r;
        if (fr > 0.5 || (fr == 0.5 && fmod(r, 2.0) != 0.0))
            r += 1.0;
        return (uint16_t)(sign | (uint32_t)r);
    }
    uint32_t t = a - 0x38000000u;
    t += 0xfffu + ((t >> 13) & 1);
    return (uint16_t)(sign | (t >> 13));
}

NOCOV static uint16_t to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

/* Exact widening (tests/ref's ref_f16 for binary16). */
NOCOV static double widen_bits(const void *base, attn_dtype dt, int64_t off)
{
    if (dt == ATTN_F32)
        return (double)((const float *)base)[off];
    const uint16_t h = ((const uint16_t *)base)[off];
    if (dt == ATTN_F16)
        return ref_f16(h);
    return (double)bits_f32((uint32_t)h << 16);
}

NOCOV static void put_value(void *base, attn_dtype dt, int64_t off, float x)
{
    if (dt == ATTN_F16)
        ((uint16_t *)base)[off] = to_f16(x);
    else if (dt == ATTN_BF16)
        ((uint16_t *)base)[off] = to_bf16(x);
    else
        ((float *)base)[off] = x;
}

/* ------------------------------------------------------------------ tensors */

typedef struct tb {
    const char *name;
    attn_tensor t;        /* the view passed to the library */
    int pass;             /* pass &t (0: a NULL tensor pointer) */
    int used;             /* part of this call */
    int out;              /* written by the call */
    unsigned char *mem;   /* the allocation (exactly nbytes), or NULL */
    size_t nbytes;
    unsigned char *snap;  /* mem before the call */
} tb;

NOCOV static int64_t off4(const attn_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d)
{
    return a * t->stride[0] + b * t->stride[1] + c * t->stride[2] + d * t->stride[3];
}

#define FOR_VIEW(t, a, b, c, d)                                                                 \
    for (int64_t a = 0; a < (t)->shape[0]; a++)                                                 \
        for (int64_t b = 0; b < (t)->shape[1]; b++)                                             \
            for (int64_t c = 0; c < (t)->shape[2]; c++)                                         \
                for (int64_t d = 0; d < (t)->shape[3]; d++)

NOCOV static int64_t numel(const attn_tensor *t)
{
    return t->shape[0] * t->shape[1] * t->shape[2] * t->shape[3];
}

/* A buffer for a [b, h, s, d] view of dtype dt laid out by L and M (see the
 * contract); outputs are filled with a canary. */
static void tb_make(tb *x, const char *name, int64_t b, int64_t h, int64_t s, int64_t d,
                    attn_dtype dt, unsigned L, unsigned M, int out, int emptynull)
{
    memset(x, 0, sizeof *x);
    x->name = name;
    x->used = 1;
    x->pass = 1;
    x->out = out;
    attn_tensor *t = &x->t;
    const int bshd = L & 1;
    const int64_t pad = (L >> 1) & 3, extra = (L >> 3) & 3, offs = (L >> 5) & 3;
    const int64_t dp = d + pad, sc = s + extra + offs;
    t->dtype = dt;
    t->shape[0] = b, t->shape[1] = h, t->shape[2] = s, t->shape[3] = d;
    if (bshd) {
        t->stride[0] = sc * h * dp, t->stride[1] = dp, t->stride[2] = h * dp;
    } else {
        t->stride[0] = h * sc * dp, t->stride[1] = sc * dp, t->stride[2] = dp;
    }
    t->stride[3] = 1;
    if (L & 0x80)
        for (int i = 0; i < 4; i++)
            if ((M >> (4 + i)) & 1)
                t->stride[i] = 0;
    const size_t es = dt_valid(dt) ? dt_size(dt) : 4;
    const int empty = b == 0 || h == 0 || s == 0 || d == 0;
    int64_t extent = 0;
    if (!empty)
        extent = (b - 1) * t->stride[0] + (h - 1) * t->stride[1] + (s - 1) * t->stride[2] +
                 (d - 1) * t->stride[3] + 1;
    const int64_t start = (int64_t)(M & 15) + offs * t->stride[2];
    if (empty && emptynull) {
        t->data = NULL;
        return;
    }
    int64_t n = start + extent;
    x->nbytes = (size_t)(n > 0 ? n : 1) * es;
    x->mem = malloc(x->nbytes);
    if (!x->mem)
        abort();
    if (out) {
        for (size_t i = 0; i + 1 < x->nbytes; i += 2) { /* a NaN no kernel computes */
            x->mem[i] = 0xa5;
            x->mem[i + 1] = (es == 4 && (i & 2)) ? 0x7f : 0x7d;
        }
    } else {
        memset(x->mem, 0xcd, x->nbytes);
    }
    t->data = x->mem + (size_t)start * es;
}

NOCOV static void tb_fill(tb *x, rd *r, double mag, int special)
{
    if (!x->mem)
        return;
    const attn_tensor *t = &x->t;
    FOR_VIEW(t, a, b, c, d)
    put_value(t->data, t->dtype, off4(t, a, b, c, d), gen_value(r, mag, special));
}

static void tb_free(tb *x)
{
#if FZ_ASAN
    if (x->mem)
        __asan_unpoison_memory_region(x->mem, x->nbytes);
#endif
    free(x->mem);
    free(x->snap);
    x->mem = x->snap = NULL;
}

static const attn_tensor *tp(const tb *x) { return x->pass ? &x->t : NULL; }

/* The view lies inside the buffer (or has no element). Shapes and strides
 * are known to be non-negative by the caller. */
/* data aligned to its element size. The harness's own buffers always are;
 * an edit of the dtype (f16 → f32) can leave an f32 view 2-byte aligned.
 * attn.h requires the natural alignment of the element type (a pointer not
 * so aligned is undefined behaviour in C, unchecked), so such calls are the
 * caller's error and are made only with FUZZ_MISALIGNED=1 (what the library
 * then does: crashes-found/ub-misaligned-f32-data). */
NOCOV static int tb_aligned(const tb *x)
{
    const attn_tensor *t = &x->t;
    if (!x->pass || !x->used || !t->data || !dt_valid(t->dtype))
        return 1;
    for (int i = 0; i < 4; i++)
        if (t->shape[i] <= 0)
            return 1; /* no element (or invalid anyway) */
    return (uintptr_t)t->data % dt_size(t->dtype) == 0;
}

NOCOV static int tb_fits(const tb *x)
{
    if (!x->pass || !x->used)
        return 1;
    const attn_tensor *t = &x->t;
    for (int i = 0; i < 4; i++)
        if (t->shape[i] < 0 || t->stride[i] < 0)
            return 0;
    for (int i = 0; i < 4; i++)
        if (t->shape[i] == 0)
            return 1;
    if (!x->mem || !dt_valid(t->dtype) || !t->data)
        return 0;
    unsigned __int128 last = 0;
    for (int i = 0; i < 4; i++)
        last += (unsigned __int128)(t->shape[i] - 1) * (unsigned __int128)t->stride[i];
    const unsigned __int128 bytes = (last + 1) * dt_size(t->dtype);
    const uintptr_t p = (uintptr_t)t->data, m = (uintptr_t)x->mem;
    return p >= m && (unsigned __int128)(p - m) + bytes <= x->nbytes;
}

/* Byte map of mem: 1 where a view element (not skipped) lies. */
NOCOV static unsigned char *tb_map(const tb *x, const int32_t *kvl)
{
    unsigned char *m = calloc(x->nbytes ? x->nbytes : 1, 1);
    const attn_tensor *t = &x->t;
    if (!t->data || !x->mem || !tb_fits(x))
        return m;
    for (int i = 0; i < 4; i++)
        if (t->shape[i] == 0)
            return m; /* no element in the buffer */
    const size_t es = dt_size(t->dtype);
    const size_t base = (size_t)((const unsigned char *)t->data - x->mem);
    FOR_VIEW(t, a, b, c, d)
    {
        if (kvl && c >= kvl[a])
            continue;
        memset(m + base + (size_t)off4(t, a, b, c, d) * es, 1, es);
    }
    return m;
}

/* ASan-poisons every byte of an input's buffer outside its view (and, for
 * K and V, the keys at or past kv_len): the library must not read them. */
NOCOV static void tb_poison(const tb *x, const int32_t *kvl)
{
#if FZ_ASAN
    if (!x->mem || !x->pass || !x->used)
        return;
    unsigned char *m = tb_map(x, kvl);
    for (size_t i = 0; i < x->nbytes;) {
        if (m[i]) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < x->nbytes && !m[j])
            j++;
        __asan_poison_memory_region(x->mem + i, j - i);
        i = j;
    }
    free(m);
#else
    (void)x;
    (void)kvl;
#endif
}

static void tb_unpoison(const tb *x)
{
#if FZ_ASAN
    if (x->mem)
        __asan_unpoison_memory_region(x->mem, x->nbytes);
#else
    (void)x;
#endif
}

NOCOV static void tb_snap(tb *x)
{
    free(x->snap);
    x->snap = NULL;
    if (!x->mem)
        return;
    x->snap = malloc(x->nbytes);
    memcpy(x->snap, x->mem, x->nbytes);
}

/* A contiguous f32 copy of a view (widened exactly), for the reference. */
NOCOV static float *widen(const attn_tensor *t, attn_tensor *dst)
{
    const int64_t n = numel(t);
    float *w = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    *dst = *t;
    dst->data = w;
    dst->dtype = ATTN_F32;
    dst->stride[3] = 1;
    dst->stride[2] = t->shape[3];
    dst->stride[1] = t->shape[2] * t->shape[3];
    dst->stride[0] = t->shape[1] * dst->stride[1];
    int64_t i = 0;
    FOR_VIEW(t, a, b, c, d)
    w[i++] = (float)widen_bits(t->data, t->dtype, off4(t, a, b, c, d));
    return w;
}

/* ------------------------------------------------------------------ the case */

enum { E_FWD, E_WS, E_QK, E_SCALE, E_SOFTMAX, E_PV, E_MERGE };
static const char *const k_entry_name[] = {"attn_forward", "attn_forward_workspace", "attn_qk",
                                           "attn_scale", "attn_softmax", "attn_pv", "attn_merge"};

enum {
    F_HOSTILE = 0x0001, F_LONGK = 0x0002, F_RERUN = 0x0004, F_SPECIAL = 0x0008,
    F_KVLEN = 0x0010, F_CAUSAL = 0x0020, F_LSE = 0x0040, F_BIAS = 0x0080,
    F_ALIBI = 0x0100, F_SINKS = 0x0200, F_SOFTCAP = 0x0400, F_WINDOW = 0x0800,
    F_EDIT = 0x1000, F_NULLOPT = 0x2000, F_EMPTYNULL = 0x4000, F_INPLACE = 0x8000,
};

typedef struct fz {
    rd r;
    int entry;
    unsigned flags;
    int isa_req;   /* -100: none */
    int threads;
    int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
    attn_dtype dq, dk, dv, dout;
    double magqk, magv;
    float scale;   /* attn_qk / attn_scale, and opt.scale */
    attn_options opt;
    int use_opt;
    int32_t *kvl;  /* exactly kvn entries */
    int64_t kvn;
    float *alibi, *sinks; /* exactly nh entries */
    int64_t nh;
    int softcap_inf;
    size_t bytes;
    int bytes_null;
    /* tensors: q k v out lse bias, x (scores / probs / x), merge shards */
    tb q, k, v, out, lse, bias, x;
    tb outs[MAXSH], lses[MAXSH];
    int nsh, merge_n, inplace;
    tb *slot[4 + 2 * MAXSH];
    int nslot;
    char edits[160];
} fz;

static fz F; /* one case at a time */

/* attn_merge's shard c: with INPLACE, shard 0 is out itself. */
static tb *shard_out(fz *f, int c) { return c == 0 && f->inplace ? &f->out : &f->outs[c]; }

/* An edit passed NULL for one shard: the whole array is NULL. */
static int shards_null(const fz *f, int lses)
{
    for (int c = 0; c < f->nsh; c++) {
        const tb *x = lses ? &f->lses[c] : (c == 0 && f->inplace ? NULL : &f->outs[c]);
        if (x && !x->pass)
            return 1;
    }
    return 0;
}
static attn_isa g_best;
static unsigned char *g_guard; /* 1 MiB of PROT_NONE */
static int g_verbose;          /* FUZZ_VERBOSE=1: print each case */
static int g_strict;           /* 0 (FUZZ_STRICT=0): tolerate the KNOWN_* findings */
static int g_misaligned;       /* FUZZ_MISALIGNED=1: run data not aligned to its element */

/*
 * Library findings (see tests/fuzz/crashes-found/): all fixed, so they fail
 * like anything else; FUZZ_STRICT=0 tolerates them again (a way to triage a
 * new finding while fuzzing on past it: add its KNOWN_* here). UB findings
 * would be silenced in tests/fuzz/ubsan.supp instead (none now).
 */
enum {
    /* attn_softmax: in a row made NaN by a NaN score, an entry masked by a
     * -inf bias is NaN instead of exactly 0 (staged.c runs softmax_row over
     * [lo, hi) with the -inf entries in it). Reproducer:
     * crashes-found/softmax-nan-row-bias-masked-not-zero */
    KNOWN_SOFTMAX_NAN_ROW_MASK,
    /* opt.softcap subnormal (< 2^-126, valid: "> 0 caps"): the softcap_row
     * kernels compute s · (1/cap) with 1/cap = +inf, so a score of exactly 0
     * gives 0 · inf = NaN and its row turns NaN (attn_forward and
     * attn_softmax). Reproducer: crashes-found/softcap-subnormal-nan */
    KNOWN_SOFTCAP_SUBNORMAL,
    KNOWN_COUNT
};
static unsigned long g_known_hits[KNOWN_COUNT];

static const char *const k_known_name[KNOWN_COUNT] = {"KNOWN_SOFTMAX_NAN_ROW_MASK",
                                                      "KNOWN_SOFTCAP_SUBNORMAL"};

static void print_known(void)
{
    for (int i = 0; i < KNOWN_COUNT; i++)
        if (g_known_hits[i])
            fprintf(stderr, "fuzz_forward: known finding %s tolerated %lu times "
                            "(FUZZ_STRICT=1 to fail on it)\n", k_known_name[i], g_known_hits[i]);
}

static int known(int id)
{
    if (g_strict)
        return 0;
    g_known_hits[id]++;
    return 1;
}

static void describe(const fz *f, FILE *o)
{
    static const char *const dn[] = {"f32", "f16", "bf16"};
#define DN(d) (dt_valid(d) ? dn[(int)(d)] : "invalid")
    fprintf(o, "  case: %s on %s, flags 0x%04x, threads %d, B=%lld Hq=%lld Hkv=%lld Lq=%lld "
               "Lk=%lld D=%lld Dv=%lld, dtypes q %s k %s v %s out %s, scale %g%s\n",
            k_entry_name[f->entry], attn_isa_name(attn_get_isa()), f->flags, f->threads,
            (long long)f->B, (long long)f->Hq, (long long)f->Hkv, (long long)f->Lq,
            (long long)f->Lk, (long long)f->D, (long long)f->Dv, DN(f->dq), DN(f->dk), DN(f->dv),
            DN(f->dout), (double)f->scale, f->edits);
    if (f->use_opt) {
        const attn_options *p = &f->opt;
        fprintf(o, "  opt: scale %g causal %d kv_len %s", (double)p->scale, p->causal,
                p->kv_len ? "[" : "NULL");
        for (int64_t b = 0; p->kv_len && b < f->kvn; b++)
            fprintf(o, "%s%d", b ? "," : "", (int)p->kv_len[b]);
        fprintf(o, "%s lse %s threads %d window (%d,%d) bias %s alibi %s softcap %g sinks %s\n",
                p->kv_len ? "]" : "", p->lse ? "yes" : "no", p->num_threads,
                (int)p->window_left, (int)p->window_right, p->bias ? DN(p->bias->dtype) : "no",
                p->alibi_slopes ? "yes" : "no", (double)p->softcap, p->sinks ? "yes" : "no");
        if (p->sinks)
            for (int64_t h = 0; h < f->nh; h++)
                fprintf(o, "    sinks[%lld] = %g\n", (long long)h, (double)p->sinks[h]);
        if (p->alibi_slopes)
            for (int64_t h = 0; h < f->nh; h++)
                fprintf(o, "    alibi[%lld] = %g\n", (long long)h, (double)p->alibi_slopes[h]);
    } else {
        fprintf(o, "  opt: NULL\n");
    }
    for (int i = 0; i < f->nslot; i++) {
        const tb *x = f->slot[i];
        if (!x->used)
            continue;
        const attn_tensor *t = &x->t;
        fprintf(o, "  %-8s %s dtype %d shape {%lld,%lld,%lld,%lld} stride {%lld,%lld,%lld,%lld} "
                   "data %p (buffer %p, %zu bytes)\n",
                x->name, x->pass ? "   " : "NULL", (int)t->dtype, (long long)t->shape[0],
                (long long)t->shape[1], (long long)t->shape[2], (long long)t->shape[3],
                (long long)t->stride[0], (long long)t->stride[1], (long long)t->stride[2],
                (long long)t->stride[3], t->data, (void *)x->mem, x->nbytes);
    }
#undef DN
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2), noreturn))
#endif
static void fail(const char *fmt, ...);
static void set_names(char *buf, size_t n, unsigned set);

#include <stdarg.h>
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "\n==fuzz_forward== FAILURE: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    describe(&F, stderr);
    fflush(stderr);
    abort();
}

/* ------------------------------------------------------------------ model */

/*
 * The header's rules as sets of statuses: `must` holds one status per rule
 * the description breaks (the call must return one of them), `may` the
 * statuses the header leaves open (an extent beyond any real address space,
 * an empty tensor whose other dims overflow, an output layout that does not
 * alias but is not nested, a non-finite opt.scale in attn_softmax, which
 * ignores the scale, softcap = +inf).
 */
typedef struct verdict {
    unsigned must, may;
} verdict;

static void must(verdict *v, attn_status s) { v->must |= BIT(s); }
static void may(verdict *v, attn_status s) { v->may |= BIT(s); }

/* Sorted by stride, every dim of size > 1 starts past the span of the
 * smaller ones: no two elements share an address. */
static int nested(const attn_tensor *t)
{
    int64_t st[4], sh[4];
    int n = 0;
    for (int i = 0; i < 4; i++)
        if (t->shape[i] > 1)
            st[n] = t->stride[i], sh[n] = t->shape[i], n++;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && st[j] < st[j - 1]; j--) {
            const int64_t a = st[j], b = sh[j];
            st[j] = st[j - 1], sh[j] = sh[j - 1];
            st[j - 1] = a, sh[j - 1] = b;
        }
    unsigned __int128 span = 0;
    for (int i = 0; i < n; i++) {
        if ((unsigned __int128)st[i] <= span)
            return 0;
        span += (unsigned __int128)(sh[i] - 1) * (unsigned __int128)st[i];
    }
    return 1;
}

/* 1: two elements share an offset; 0: none; -1: too large to enumerate. */
NOCOV static int aliases_brute(const attn_tensor *t, unsigned __int128 last, unsigned __int128 count)
{
    if (count > (1u << 16) || last >= (1u << 22))
        return -1;
    const size_t nb = (size_t)last / 8 + 1;
    unsigned char *seen = calloc(nb, 1);
    int hit = 0;
    FOR_VIEW(t, a, b, c, d)
    {
        const uint64_t o = (uint64_t)off4(t, a, b, c, d);
        if (seen[o / 8] & (1u << (o % 8))) {
            hit = 1;
            goto done;
        }
        seen[o / 8] |= (unsigned char)(1u << (o % 8));
    }
done:
    free(seen);
    return hit;
}

/* The rules of one tensor view (attn.h, attn_tensor and attn_status). */
static void model_tensor(verdict *v, const attn_tensor *t, int out, int f32only)
{
    if (!t) {
        must(v, ATTN_ERR_NULL);
        return;
    }
    const int dok = dt_valid(t->dtype);
    if (!dok || (f32only && t->dtype != ATTN_F32))
        must(v, ATTN_ERR_DTYPE);
    int neg = 0, sneg = 0, empty = 0;
    for (int i = 0; i < 4; i++) {
        if (t->shape[i] < 0)
            neg = 1;
        if (t->stride[i] < 0)
            sneg = 1;
        if (t->shape[i] == 0)
            empty = 1;
    }
    if (neg)
        must(v, ATTN_ERR_SHAPE);
    if (sneg || t->stride[3] != 1)
        must(v, ATTN_ERR_STRIDE);
    if (neg)
        return;
    unsigned __int128 count = 1;
    int covf = 0;
    for (int i = 0; i < 4; i++) {
        if (t->shape[i] == 0)
            continue;
        count *= (unsigned __int128)t->shape[i];
        if (count > (unsigned __int128)INT64_MAX) {
            covf = 1;
            break;
        }
    }
    if (covf) {
        if (empty)
            may(v, ATTN_ERR_OVERFLOW); /* 0 elements, but the other dims overflow */
        else
            must(v, ATTN_ERR_OVERFLOW);
    }
    if (empty || sneg || covf)
        return; /* nothing is read or written; the extent is moot */
    if (!dok) {
        may(v, ATTN_ERR_OVERFLOW), may(v, ATTN_ERR_NULL), may(v, ATTN_ERR_STRIDE);
        return;
    }
    unsigned __int128 last = 0;
    for (int i = 0; i < 4; i++)
        last += (unsigned __int128)(t->shape[i] - 1) * (unsigned __int128)t->stride[i];
    const unsigned __int128 bytes = (last + 1) * dt_size(t->dtype);
    if (bytes > (unsigned __int128)INT64_MAX)
        must(v, ATTN_ERR_OVERFLOW);
    else if (bytes > ((unsigned __int128)1 << 47))
        may(v, ATTN_ERR_OVERFLOW); /* fits 64 bits, but no address space holds it */
    if (!t->data)
        must(v, ATTN_ERR_NULL);
    else if ((unsigned __int128)(uintptr_t)t->data + bytes - 1 > (unsigned __int128)UINTPTR_MAX)
        must(v, ATTN_ERR_OVERFLOW);
    if (out) {
        int zero = 0;
        for (int i = 0; i < 4; i++)
            if (t->shape[i] > 1 && t->stride[i] == 0)
                zero = 1;
        if (zero) {
            must(v, ATTN_ERR_STRIDE);
        } else if (!nested(t)) {
            const int a = aliases_brute(t, last, count);
            if (a == 1)
                must(v, ATTN_ERR_STRIDE);
            else
                may(v, ATTN_ERR_STRIDE); /* interleaved but disjoint: either answer */
        }
    }
}

static int shape_is(const attn_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d)
{
    return t->shape[0] == a && t->shape[1] == b && t->shape[2] == c && t->shape[3] == d;
}

/* opt against the call's sizes (attn_options). */
static void model_options(const fz *f, verdict *v, const attn_options *o, int dims, int64_t B,
                          int64_t H, int64_t Lq, int64_t Lk, int softmax)
{
    if (!o)
        return;
    if (!isfinite(o->scale)) {
        if (softmax)
            may(v, ATTN_ERR_ARG);
        else
            must(v, ATTN_ERR_ARG);
    }
    if (o->num_threads < 0)
        must(v, ATTN_ERR_ARG);
    if (o->kv_len && dims)
        for (int64_t b = 0; b < B && b < f->kvn; b++)
            if (o->kv_len[b] < 0 || (int64_t)o->kv_len[b] > Lk)
                must(v, ATTN_ERR_ARG);
    if (o->window_left < 0 || o->window_right < 0)
        must(v, ATTN_ERR_ARG);
    if (isnan(o->softcap) || o->softcap < 0.0f)
        must(v, ATTN_ERR_ARG);
    else if (isinf(o->softcap))
        may(v, ATTN_ERR_ARG);
    if (o->bias) {
        const attn_tensor *t = o->bias;
        model_tensor(v, t, 0, 0);
        if (t->dtype == ATTN_BF16)
            must(v, ATTN_ERR_DTYPE);
        if (dims && ((t->shape[0] != 1 && t->shape[0] != B) ||
                     (t->shape[1] != 1 && t->shape[1] != H) || t->shape[2] != Lq ||
                     t->shape[3] != Lk))
            must(v, ATTN_ERR_SHAPE);
    }
    if (o->lse) {
        model_tensor(v, o->lse, 1, 1);
        if (dims && !shape_is(o->lse, B, H, Lq, 1))
            must(v, ATTN_ERR_SHAPE);
    }
}

static verdict model(const fz *f)
{
    verdict v = {0, 0};
    const attn_options *o = f->use_opt ? &f->opt : NULL;
    switch (f->entry) {
    case E_FWD:
    case E_WS: {
        const attn_tensor *q = tp(&f->q), *k = tp(&f->k), *vv = tp(&f->v), *out = tp(&f->out);
        model_tensor(&v, q, 0, 0);
        model_tensor(&v, k, 0, 0);
        model_tensor(&v, vv, 0, 0);
        model_tensor(&v, out, 1, 0);
        if (f->entry == E_WS && f->bytes_null)
            must(&v, ATTN_ERR_NULL);
        if (!q || !k || !vv) {
            model_options(f, &v, o, 0, 0, 0, 0, 0, 0);
            break;
        }
        const int64_t B = q->shape[0], Hq = q->shape[1], Lq = q->shape[2], D = q->shape[3];
        const int64_t Hkv = k->shape[1], Lk = k->shape[2], Dv = vv->shape[3];
        if (D < 1 || Dv < 1 || (Hq >= 1 && Hkv < 1))
            must(&v, ATTN_ERR_SHAPE);
        if (k->shape[0] != B || k->shape[3] != D || vv->shape[0] != B || vv->shape[1] != Hkv ||
            vv->shape[2] != Lk)
            must(&v, ATTN_ERR_SHAPE);
        if (Hkv > 0 && Hq >= 0 && Hq % Hkv != 0)
            must(&v, ATTN_ERR_SHAPE);
        if (out && !shape_is(out, B, Hq, Lq, Dv))
            must(&v, ATTN_ERR_SHAPE);
        model_options(f, &v, o, 1, B, Hq, Lq, Lk, 0);
        break;
    }
    case E_QK: {
        const attn_tensor *q = tp(&f->q), *k = tp(&f->k), *s = tp(&f->x);
        model_tensor(&v, q, 0, 0);
        model_tensor(&v, k, 0, 0);
        model_tensor(&v, s, 1, 1);
        if (!isfinite(f->scale))
            must(&v, ATTN_ERR_ARG);
        if (!q || !k)
            break;
        const int64_t B = q->shape[0], Hq = q->shape[1], Lq = q->shape[2], D = q->shape[3];
        const int64_t Hkv = k->shape[1], Lk = k->shape[2];
        if (D < 1 || (Hq >= 1 && Hkv < 1) || k->shape[0] != B || k->shape[3] != D)
            must(&v, ATTN_ERR_SHAPE);
        if (Hkv > 0 && Hq >= 0 && Hq % Hkv != 0)
            must(&v, ATTN_ERR_SHAPE);
        if (s && !shape_is(s, B, Hq, Lq, Lk))
            must(&v, ATTN_ERR_SHAPE);
        break;
    }
    case E_SCALE:
        model_tensor(&v, tp(&f->x), 1, 1);
        if (!isfinite(f->scale))
            must(&v, ATTN_ERR_ARG);
        break;
    case E_SOFTMAX: {
        const attn_tensor *s = tp(&f->x);
        model_tensor(&v, s, 1, 1);
        if (s)
            model_options(f, &v, o, 1, s->shape[0], s->shape[1], s->shape[2], s->shape[3], 1);
        else
            model_options(f, &v, o, 0, 0, 0, 0, 0, 1);
        break;
    }
    case E_PV: {
        const attn_tensor *p = tp(&f->x), *vv = tp(&f->v), *out = tp(&f->out);
        model_tensor(&v, p, 0, 1);
        model_tensor(&v, vv, 0, 0);
        model_tensor(&v, out, 1, 1);
        if (!p || !vv)
            break;
        const int64_t B = p->shape[0], Hq = p->shape[1], Lq = p->shape[2], Lk = p->shape[3];
        const int64_t Hkv = vv->shape[1], Dv = vv->shape[3];
        if (Dv < 1 || (Hq >= 1 && Hkv < 1) || vv->shape[0] != B || vv->shape[2] != Lk)
            must(&v, ATTN_ERR_SHAPE);
        if (Hkv > 0 && Hq >= 0 && Hq % Hkv != 0)
            must(&v, ATTN_ERR_SHAPE);
        if (out && !shape_is(out, B, Hq, Lq, Dv))
            must(&v, ATTN_ERR_SHAPE);
        break;
    }
    case E_MERGE: {
        fz *mf = (fz *)f;
        const int nulls = shards_null(f, 0) || shards_null(f, 1);
        if (f->merge_n < 1)
            must(&v, ATTN_ERR_ARG);
        if (nulls)
            must(&v, ATTN_ERR_NULL);
        const attn_tensor *out = tp(&f->out), *lse = (f->flags & F_LSE) ? tp(&f->lse) : NULL;
        model_tensor(&v, out, 1, 1);
        if (lse)
            model_tensor(&v, lse, 1, 1);
        if (nulls)
            break;
        for (int c = 0; c < f->merge_n; c++) {
            model_tensor(&v, &shard_out(mf, c)->t, 0, 1);
            model_tensor(&v, &f->lses[c].t, 0, 1);
        }
        if (!out)
            break;
        const int64_t *s = out->shape;
        if (lse && !shape_is(lse, s[0], s[1], s[2], 1))
            must(&v, ATTN_ERR_SHAPE);
        for (int c = 0; c < f->merge_n; c++)
            if (!shape_is(&shard_out(mf, c)->t, s[0], s[1], s[2], s[3]) ||
                !shape_is(&f->lses[c].t, s[0], s[1], s[2], 1))
                must(&v, ATTN_ERR_SHAPE);
        break;
    }
    }
    return v;
}

/* Every view in its buffer, the per-head arrays long enough, the work small:
 * the call may touch tensor data. */
static int runnable(const fz *f)
{
    for (int i = 0; i < f->nslot; i++)
        if (!tb_fits(f->slot[i]) || (!g_misaligned && !tb_aligned(f->slot[i])))
            return 0;
    const attn_options *o = f->use_opt ? &f->opt : NULL;
    int64_t dims[4 * 8], nd = 0;
    for (int i = 0; i < f->nslot; i++)
        if (f->slot[i]->used)
            for (int j = 0; j < 4 && nd < (int64_t)NELEM(dims); j++)
                dims[nd++] = f->slot[i]->t.shape[j];
    for (int64_t i = 0; i < nd; i++)
        if (dims[i] > 5000)
            return 0;
    /* the per-head arrays are read for head h < q.shape[1] (scores.shape[1]) */
    const tb *hsrc = f->entry == E_SOFTMAX ? &f->x : &f->q;
    if (o && (o->alibi_slopes || o->sinks) && hsrc->t.shape[1] > f->nh)
        return 0;
    /* no tensor too large, and the reference's work small (the shapes of a
     * valid description agree, so one tensor per dim will do) */
    for (int i = 0; i < f->nslot; i++) {
        const tb *x = f->slot[i];
        if (x->used && (double)x->t.shape[0] * (double)x->t.shape[1] * (double)x->t.shape[2] *
                               (double)x->t.shape[3] > 1e6)
            return 0;
    }
    const int64_t *q = f->q.t.shape, *k = f->k.t.shape, *v = f->v.t.shape, *x = f->x.t.shape;
    double w;
    switch (f->entry) {
    case E_FWD:
    case E_WS: w = (double)q[0] * q[1] * q[2] * (double)k[2] * (double)(q[3] + v[3]); break;
    case E_QK: w = (double)q[0] * q[1] * q[2] * (double)k[2] * (double)q[3]; break;
    case E_PV: w = (double)x[0] * x[1] * x[2] * (double)x[3] * (double)v[3]; break;
    case E_MERGE: w = 1.0; break; /* bounded by the tensor sizes */
    default: w = (double)x[0] * x[1] * x[2] * (double)x[3]; break;
    }
    return w <= 4e6;
}

/* ------------------------------------------------------------------ building */

static int64_t dec_B(unsigned b)
{
    b %= 16;
    return b == 0 ? 0 : b < 10 ? 1 : b < 14 ? 2 : 3;
}

static int64_t dec_Hkv(unsigned b)
{
    b %= 16;
    return b == 0 ? 0 : b < 11 ? 1 : b < 14 ? 2 : 3;
}

static int64_t dec_D(unsigned b)
{
    static const int64_t big[8] = {64, 80, 96, 128, 256, 3, 1, 17};
    return b >= 240 ? big[b % 8] : 1 + (int64_t)(b % 40);
}

static int64_t imax1(int64_t x) { return x > 1 ? x : 1; }

static void shrink(fz *f, int64_t *g, int64_t budget)
{
    for (;;) {
        const int64_t w = f->B * f->Hkv * *g * imax1(f->Lq) * imax1(f->Lk) * (f->D + f->Dv);
        if (w <= budget)
            return;
        if (f->B > 1)
            f->B--;
        else if (*g > 1)
            (*g)--;
        else if (f->Hkv > 1)
            f->Hkv--;
        else if (f->D + f->Dv > 16 && (f->D > 8 || f->Dv > 8)) {
            if (f->D >= f->Dv)
                f->D = (f->D + 1) / 2;
            else
                f->Dv = (f->Dv + 1) / 2;
        } else if (f->Lq > 1)
            f->Lq = (f->Lq + 1) / 2;
        else if (f->Lk > 1)
            f->Lk = (f->Lk + 1) / 2;
        else if (f->D > 1 || f->Dv > 1) {
            if (f->D >= f->Dv)
                f->D = (f->D + 1) / 2;
            else
                f->Dv = (f->Dv + 1) / 2;
        } else
            return;
    }
}

static float dec_scale(rd *r)
{
    static const float fixed[6] = {0.0f, 1.0f, 0.125f, -0.5f, 1e-3f, 30.0f};
    static const float odd[8] = {NAN, INFINITY, -INFINITY, 1e38f, 1e-45f, -0.0f, 65504.0f,
                                 0x1p-20f};
    const unsigned s = hb(r);
    if (s % 8 < 6)
        return fixed[s % 8];
    if (s % 8 == 6)
        return bits_f32(h32(r));
    return odd[(s / 8) % 8];
}

static void add_slot(fz *f, tb *x) { f->slot[f->nslot++] = x; }

/* The edit tables (see the contract). */
static const int64_t k_hostile64[16] = {-1, INT64_MIN, INT64_MAX, (int64_t)1 << 31,
                                        (int64_t)1 << 32, (int64_t)1 << 40, (int64_t)1 << 62,
                                        3037000500LL, INT64_MAX / 2 + 1,
                                        ((int64_t)1 << 61) - 1, (int64_t)1 << 21, 65537, 0, 1, 2,
                                        -2};

static int64_t wrap_add(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }

static int64_t edit64(const fz *f, int64_t cur, unsigned v)
{
    if (f->flags & F_HOSTILE)
        return k_hostile64[v % 16];
    switch (v % 8) {
    case 0: return wrap_add(cur, 1);
    case 1: return wrap_add(cur, -1);
    case 2: return 0;
    case 3: return 1;
    case 4: return 2;
    case 5: return wrap_add(cur, cur);
    case 6: return wrap_add(cur, 3);
    default: return -1;
    }
}

static void apply_edit(fz *f, unsigned kind, unsigned slot, unsigned val)
{
    tb *x = f->slot[slot % (unsigned)f->nslot];
    attn_tensor *t = &x->t;
    char note[48] = "";
    kind %= 12;
    switch (kind) {
    case 0: t->shape[val % 4] = edit64(f, t->shape[val % 4], val / 4);
        snprintf(note, sizeof note, " %s.shape[%u]", x->name, val % 4);
        break;
    case 1: t->stride[val % 4] = edit64(f, t->stride[val % 4], val / 4);
        snprintf(note, sizeof note, " %s.stride[%u]", x->name, val % 4);
        break;
    case 2: {
        static const int dts[8] = {3, -1, 255, INT_MAX, 0, 1, 2, 3};
        t->dtype = (attn_dtype)dts[val % 8];
        snprintf(note, sizeof note, " %s.dtype", x->name);
        break;
    }
    case 3:
        switch (val % 4) {
        case 0: t->data = NULL; break;
        case 1: t->data = g_guard + 2 * ((val / 4) % 64); break;
        case 2: t->data = (void *)(UINTPTR_MAX - 8 * (uintptr_t)((val / 4) % 16)); break;
        default: t->data = (void *)(uintptr_t)16; break;
        }
        snprintf(note, sizeof note, " %s.data", x->name);
        break;
    case 4: x->pass = 0; snprintf(note, sizeof note, " %s=NULL", x->name); break;
    case 5: {
        static const float sc[8] = {NAN, INFINITY, -INFINITY, 1e38f, 1e-45f, 0.0f, -0.0f, FLT_MAX};
        f->scale = f->opt.scale = sc[val % 8];
        snprintf(note, sizeof note, " scale");
        break;
    }
    case 6: {
        static const int th[8] = {-1, INT_MIN, 1, 64, 0, 2, 3, -7};
        f->opt.num_threads = th[val % 8];
        snprintf(note, sizeof note, " threads");
        break;
    }
    case 7:
        if (f->opt.kv_len && f->kvn > 0) {
            const int64_t L = f->Lk;
            const int64_t kv[8] = {-1, L + 1, INT32_MAX, INT32_MIN, 0, L, L - 1, 1};
            int64_t val64 = kv[(val / 8) % 8];
            f->kvl[val % (unsigned)f->kvn] = (int32_t)(val64 < INT32_MIN ? INT32_MIN : val64);
            snprintf(note, sizeof note, " kv_len");
        }
        break;
    case 8: {
        static const int32_t w[8] = {-1, INT32_MIN, INT32_MAX, 1, 0, 2, 5, -100};
        if (val & 1)
            f->opt.window_left = w[(val / 2) % 8];
        else
            f->opt.window_right = w[(val / 2) % 8];
        snprintf(note, sizeof note, " window");
        break;
    }
    case 9: {
        static const float sc[8] = {-1.0f, NAN, INFINITY, -0.0f, 1e-40f, 1e30f, 0.0f, 2.0f};
        f->opt.softcap = sc[val % 8];
        snprintf(note, sizeof note, " softcap");
        break;
    }
    case 10:
        if (f->entry == E_MERGE) {
            const int ns[8] = {0, -1, INT_MIN, 1, 2, 3, f->nsh, f->nsh};
            f->merge_n = ns[val % 8] > f->nsh ? f->nsh : ns[val % 8];
            snprintf(note, sizeof note, " n");
        } else if (f->entry == E_WS && (val & 1)) {
            f->bytes_null = 1;
            snprintf(note, sizeof note, " bytes=NULL");
        } else {
            f->use_opt = 0;
            snprintf(note, sizeof note, " opt=NULL");
        }
        break;
    default:
        if (x == &f->bias)
            t->shape[val % 2] = 1;
        else
            t->stride[val % 4] = 0;
        snprintf(note, sizeof note, " %s zero stride", x->name);
        break;
    }
    const size_t len = strlen(f->edits);
    if (len + strlen(note) + 1 < sizeof f->edits)
        memcpy(f->edits + len, note, strlen(note) + 1);
}

static void build(fz *f, const uint8_t *data, size_t size)
{
    memset(f, 0, sizeof *f);
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a of the whole input */
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 0x100000001b3ull;
    f->r.p = data, f->r.n = size, f->r.s = h;
    rd *r = &f->r;

    static const int entries[32] = {E_FWD, E_FWD, E_FWD, E_FWD, E_FWD, E_FWD, E_FWD, E_FWD,
                                    E_FWD, E_FWD, E_FWD, E_FWD, E_FWD, E_FWD, E_FWD, E_FWD,
                                    E_FWD, E_FWD, E_FWD, E_FWD, E_WS, E_WS, E_QK, E_QK,
                                    E_SCALE, E_SOFTMAX, E_SOFTMAX, E_SOFTMAX, E_PV, E_PV,
                                    E_MERGE, E_MERGE};
    f->entry = entries[hb(r) % 32];
    const unsigned isab = hb(r) % 8;
    static const int isas[8] = {-100, 0, 1, 2, 3, 4, -1, INT_MAX};
    f->isa_req = isas[isab];
    static const int ths[8] = {0, 1, 2, 3, 1, 2, -1, INT_MIN};
    f->threads = ths[hb(r) % 8];
    f->flags = hb(r);
    f->flags |= hb(r) << 8;
    const unsigned fl = f->flags;
    const unsigned bB = hb(r);
    f->B = dec_B(bB);
    f->Hkv = dec_Hkv(hb(r));
    int64_t g = 1 + (int64_t)(hb(r) % 4);
    unsigned b = hb(r);
    f->Lq = b == 0 ? 0 : b < 80 ? 1 : 1 + (int64_t)(b % 40);
    b = hb(r);
    f->Lk = (fl & F_LONGK) ? 500 + (int64_t)((7u * b) % 1601u) : (int64_t)(b % 41);
    f->D = dec_D(hb(r));
    b = hb(r);
    f->Dv = f->entry == E_MERGE && b >= 240 ? 250 + 4 * (int64_t)(b - 240) : dec_D(b);
    const unsigned dts = hb(r);
    const unsigned mags = hb(r);
    static const double mqk[8] = {1, 1, 1, 0.125, 8, 100, 1e-3, 3000};
    static const double mv[8] = {1, 1, 1, 1.0 / 16, 16, 1e4, 1e-4, 1e6};
    f->magqk = mqk[mags & 7];
    f->magv = mv[(mags >> 3) & 7];
    f->nsh = 1 + (int)(mags >> 6) + (int)((bB >> 4) % 3);
    f->scale = dec_scale(r);
    if (f->entry == E_MERGE)
        f->Lk = 1; /* merge has no keys */
    shrink(f, &g, (fl & F_LONGK) ? 120000 : 60000);
    f->Hq = f->Hkv * g;

    const int dq = dts & 3, dk = (dts >> 2) & 3, dv = (dts >> 4) & 3, dout = (dts >> 6) & 3;
    f->dq = (attn_dtype)dq, f->dk = (attn_dtype)dk, f->dv = (attn_dtype)dv;
    f->dout = (attn_dtype)dout;
    const attn_dtype d32 = dout == 3 ? ATTN_F16 : ATTN_F32; /* f32-only tensors */
    const int en = (fl & F_EMPTYNULL) != 0;
    const int64_t B = f->B, Hq = f->Hq, Hkv = f->Hkv, Lq = f->Lq, Lk = f->Lk, D = f->D,
                  Dv = f->Dv;
    const int use_bias = (fl & F_BIAS) && (f->entry == E_FWD || f->entry == E_WS ||
                                           f->entry == E_SOFTMAX);
    const int use_lse = (fl & F_LSE) != 0;
    unsigned L, M;
#define LM() (L = hb(r), M = hb(r))
    switch (f->entry) {
    case E_FWD:
    case E_WS:
        LM(), tb_make(&f->q, "q", B, Hq, Lq, D, f->dq, L, M, 0, en);
        LM(), tb_make(&f->k, "k", B, Hkv, Lk, D, f->dk, L, M, 0, en);
        LM(), tb_make(&f->v, "v", B, Hkv, Lk, Dv, f->dv, L, M, 0, en);
        LM(), tb_make(&f->out, "out", B, Hq, Lq, Dv, f->dout, L, M, 1, en);
        add_slot(f, &f->q), add_slot(f, &f->k), add_slot(f, &f->v), add_slot(f, &f->out);
        if (use_lse)
            LM(), tb_make(&f->lse, "lse", B, Hq, Lq, 1, ATTN_F32, L, M, 1, en), add_slot(f, &f->lse);
        break;
    case E_QK:
        LM(), tb_make(&f->q, "q", B, Hq, Lq, D, f->dq, L, M, 0, en);
        LM(), tb_make(&f->k, "k", B, Hkv, Lk, D, f->dk, L, M, 0, en);
        LM(), tb_make(&f->x, "scores", B, Hq, Lq, Lk, d32, L, M, 1, en);
        add_slot(f, &f->q), add_slot(f, &f->k), add_slot(f, &f->x);
        break;
    case E_SCALE:
        LM(), tb_make(&f->x, "x", B, Hq, Lq, D, d32, L, M, 1, en);
        add_slot(f, &f->x);
        break;
    case E_SOFTMAX:
        LM(), tb_make(&f->x, "scores", B, Hq, Lq, Lk, d32, L, M, 1, en);
        add_slot(f, &f->x);
        if (use_lse)
            LM(), tb_make(&f->lse, "lse", B, Hq, Lq, 1, ATTN_F32, L, M, 1, en), add_slot(f, &f->lse);
        break;
    case E_PV:
        LM(), tb_make(&f->x, "probs", B, Hq, Lq, Lk, d32, L, M, 0, en);
        LM(), tb_make(&f->v, "v", B, Hkv, Lk, Dv, f->dv, L, M, 0, en);
        LM(), tb_make(&f->out, "out", B, Hq, Lq, Dv, d32, L, M, 1, en);
        add_slot(f, &f->x), add_slot(f, &f->v), add_slot(f, &f->out);
        break;
    case E_MERGE:
        /* INPLACE: out is the very view outs[0] (its values are shard 0's) */
        f->inplace = (fl & F_INPLACE) != 0;
        if (!f->inplace)
            LM(), tb_make(&f->out, "out", B, Hq, Lq, Dv, d32, L, M, 1, en), add_slot(f, &f->out);
        if (use_lse)
            LM(), tb_make(&f->lse, "lse", B, Hq, Lq, 1, ATTN_F32, L, M, 1, en), add_slot(f, &f->lse);
        for (int c = 0; c < f->nsh; c++) {
            static const char *const on[MAXSH] = {"outs[0]", "outs[1]", "outs[2]", "outs[3]",
                                                  "outs[4]", "outs[5]"};
            static const char *const ln[MAXSH] = {"lses[0]", "lses[1]", "lses[2]", "lses[3]",
                                                  "lses[4]", "lses[5]"};
            LM();
            if (c == 0 && f->inplace) {
                tb_make(&f->out, "out=outs[0]", B, Hq, Lq, Dv, ATTN_F32, L, M, 0, en);
                f->out.out = 1;
                add_slot(f, &f->out);
            } else {
                tb_make(&f->outs[c], on[c], B, Hq, Lq, Dv, ATTN_F32, L, M, 0, en);
                add_slot(f, &f->outs[c]);
            }
            LM(), tb_make(&f->lses[c], ln[c], B, Hq, Lq, 1, ATTN_F32, L, M, 0, en);
            add_slot(f, &f->lses[c]);
        }
        f->merge_n = f->nsh;
        break;
    }

    /* options */
    attn_options *o = &f->opt;
    f->use_opt = (f->entry == E_FWD || f->entry == E_WS || f->entry == E_SOFTMAX) &&
                 !(fl & F_NULLOPT);
    o->scale = f->scale;
    o->num_threads = f->threads;
    if (fl & F_CAUSAL) {
        static const int cs[4] = {1, 1, 2, -1};
        o->causal = cs[hb(r) % 4];
    }
    const int64_t lmul = (fl & F_LONGK) ? 8 : 1;
    if (fl & F_KVLEN) {
        f->kvn = B;
        f->kvl = malloc(sizeof(int32_t) * (size_t)(B > 0 ? B : 1));
        for (int64_t i = 0; i < B; i++) {
            const unsigned x = hb(r);
            f->kvl[i] = (int32_t)(x < 32 ? 0 : x < 64 ? Lk : (int64_t)(x - 64) * lmul % (Lk + 1));
        }
        o->kv_len = f->kvl;
    }
    if (fl & F_WINDOW) {
        for (int i = 0; i < 2; i++) {
            const unsigned x = hb(r);
            const int32_t w = (int32_t)(x < 64 ? 0 : ((int64_t)(x - 64) * lmul) % (Lk + 4));
            if (i == 0)
                o->window_left = w;
            else
                o->window_right = w;
        }
    }
    if (fl & F_SOFTCAP) {
        static const float caps[7] = {0.5f, 1.0f, 5.0f, 30.0f, 1e-3f, 1e-30f, 1e30f};
        const unsigned x = hb(r) % 8;
        o->softcap = x < 7 ? caps[x] : bits_f32(h32(r));
    }
    f->nh = Hq;
    if (fl & F_ALIBI) {
        static const float sp[6] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 1e-40f};
        f->alibi = malloc(sizeof(float) * (size_t)(Hq > 0 ? Hq : 1));
        for (int64_t i = 0; i < Hq; i++) {
            const unsigned x = hb(r);
            f->alibi[i] = (fl & F_SPECIAL) && x >= 250 ? sp[x - 250]
                                                        : (float)((int)x - 128) / 256.0f;
        }
        o->alibi_slopes = f->alibi;
    }
    if (fl & F_SINKS) {
        static const float sp[8] = {-INFINITY, -INFINITY, 1e30f, -1e30f, 20.0f, 0.0f, NAN,
                                    INFINITY};
        f->sinks = malloc(sizeof(float) * (size_t)(Hq > 0 ? Hq : 1));
        for (int64_t i = 0; i < Hq; i++) {
            const unsigned x = hb(r);
            float s = (float)((int)x - 128) / 16.0f;
            if (x >= 248 && ((fl & F_SPECIAL) || x < 254))
                s = sp[x - 248];
            f->sinks[i] = s;
        }
        o->sinks = f->sinks;
    }
    unsigned bias_cfg = 0;
    if (use_bias) {
        bias_cfg = hb(r);
        M = hb(r);
        const int64_t bb = (bias_cfg & 2) ? 1 : B, bh = (bias_cfg & 4) ? 1 : Hq;
        /* [bb, bh, Lq, Lk] laid out as [B,H,S,D] with row padding, or
         * [B,S,H,D] (bit 3), then the row stride zeroed (bit 4: L bit 7
         * with M bit 6) */
        const unsigned Lbias = ((bias_cfg >> 3) & 1) | (((bias_cfg >> 5) & 3) << 1) |
                               ((bias_cfg & 16) ? 0x80u : 0u);
        tb_make(&f->bias, "bias", bb, bh, Lq, Lk, (bias_cfg & 1) ? ATTN_F16 : ATTN_F32, Lbias,
                (M & 15) | ((bias_cfg & 16) ? 0x40u : 0u), 0, en);
        if (bias_cfg & 2)
            f->bias.t.stride[0] = 77777; /* a size-1 dim's stride is never used */
        add_slot(f, &f->bias);
        o->bias = &f->bias.t;
    }
    if (use_lse && f->entry != E_MERGE && f->entry != E_QK && f->entry != E_SCALE &&
        f->entry != E_PV)
        o->lse = &f->lse.t;

    /* edits: read now, applied after the values are in place */
    unsigned ek[4], es[4], ev[4], ne = 0;
    if (fl & F_EDIT) {
        ne = hb(r) % 4 + 1;
        for (unsigned i = 0; i < ne; i++)
            ek[i] = hb(r), es[i] = hb(r), ev[i] = hb(r);
    }

    /* values */
    const int sp = (fl & F_SPECIAL) != 0;
    switch (f->entry) {
    case E_FWD:
    case E_WS:
    case E_QK:
        tb_fill(&f->q, r, f->magqk, sp);
        tb_fill(&f->k, r, f->magqk, sp);
        if (f->entry != E_QK)
            tb_fill(&f->v, r, f->magv, sp);
        break;
    case E_SCALE:
        tb_fill(&f->x, r, f->magv, sp);
        break;
    case E_SOFTMAX:
        tb_fill(&f->x, r, f->magqk, sp);
        break;
    case E_PV:
        tb_fill(&f->x, r, 0.25, sp); /* probabilities-ish, any sign */
        tb_fill(&f->v, r, f->magv, sp);
        break;
    case E_MERGE:
        for (int c = 0; c < f->nsh; c++) {
            tb_fill(shard_out(f, c), r, f->magv, sp);
            tb *xl = &f->lses[c];
            if (!xl->mem)
                continue;
            const attn_tensor *t = &xl->t;
            FOR_VIEW(t, a, bb2, cc, d)
            {
                float val;
                if (r->n) {
                    const unsigned x = hb(r);
                    val = x < 64 ? -INFINITY : sp && x >= 250 ? k_special[x - 248] : (float)((int)x - 128) / 8.0f;
                } else {
                    const uint64_t z = sm64(&r->s);
                    val = (z & 3) == 0 ? -INFINITY : (float)((double)(z >> 11) * 0x1p-53 * 20.0 - 10.0);
                }
                ((float *)t->data)[off4(t, a, bb2, cc, d)] = val;
            }
        }
        break;
    }
    if (use_bias && f->bias.mem) {
        const attn_tensor *t = &f->bias.t;
        FOR_VIEW(t, a, bb2, c, d)
        {
            float val;
            if ((bias_cfg & 128) && r->n && *r->p < 64) {
                hb(r);
                val = -INFINITY;
            } else {
                val = gen_value(r, 1.0, sp);
            }
            put_value(t->data, t->dtype, off4(t, a, bb2, c, d), val);
        }
    }
    /* keys at or past kv_len hold NaN (never read) */
    if ((f->entry == E_FWD || f->entry == E_WS) && f->kvl) {
        tb *kv[2] = {&f->k, &f->v};
        for (int i = 0; i < 2; i++) {
            const attn_tensor *t = &kv[i]->t;
            if (!kv[i]->mem)
                continue;
            unsigned char *m = tb_map(kv[i], f->kvl); /* reachable by a valid key */
            const size_t es2 = dt_size(t->dtype), base = (size_t)((unsigned char *)t->data - kv[i]->mem);
            FOR_VIEW(t, a, bb2, c, d)
            {
                const int64_t o2 = off4(t, a, bb2, c, d);
                if (c >= f->kvl[a] && !m[base + (size_t)o2 * es2])
                    put_value(t->data, t->dtype, o2, NAN);
            }
            free(m);
        }
    }
    for (unsigned i = 0; i < ne; i++)
        apply_edit(f, ek[i], es[i], ev[i]);
    /* an edit that passes NULL for opt.lse or opt.bias drops the option */
    if (f->opt.lse && !f->lse.pass)
        f->opt.lse = NULL;
    if (f->opt.bias && !f->bias.pass)
        f->opt.bias = NULL;
    /* the harness never passes a kv_len array shorter than the batch the
     * call will read it for */
    if (f->opt.kv_len) {
        const tb *bsrc = f->entry == E_SOFTMAX ? &f->x : &f->q;
        if (bsrc->t.shape[0] > f->kvn)
            f->opt.kv_len = NULL;
    }
    if (f->opt.softcap == INFINITY)
        f->softcap_inf = 1;
}

static void cleanup(fz *f)
{
    tb *all[] = {&f->q, &f->k, &f->v, &f->out, &f->lse, &f->bias, &f->x};
    for (size_t i = 0; i < NELEM(all); i++)
        tb_free(all[i]);
    for (int c = 0; c < MAXSH; c++)
        tb_free(&f->outs[c]), tb_free(&f->lses[c]);
    free(f->kvl);
    free(f->alibi);
    free(f->sinks);
}

/* ------------------------------------------------------------------ checks */

static const char *const k_status_name[] = {"ATTN_OK", "ATTN_ERR_NULL", "ATTN_ERR_SHAPE",
                                            "ATTN_ERR_STRIDE", "ATTN_ERR_DTYPE",
                                            "ATTN_ERR_OVERFLOW", "ATTN_ERR_NOMEM",
                                            "ATTN_ERR_UNSUPPORTED", "ATTN_ERR_ARG"};

static const char *sname(attn_status s)
{
    return (unsigned)s < NELEM(k_status_name) ? k_status_name[s] : "(not a status)";
}

static void set_names(char *buf, size_t n, unsigned set)
{
    buf[0] = '\0';
    for (unsigned s = 0; s < NELEM(k_status_name); s++)
        if (set & BIT(s)) {
            const size_t len = strlen(buf);
            snprintf(buf + len, n - len, "%s%s", len ? " " : "", k_status_name[s]);
        }
    if (!buf[0])
        snprintf(buf, n, "(none)");
}

/* The status of a call against the model; the error message contract. */
static void check_status(const fz *f, const verdict *v, attn_status st, const char *fn,
                         unsigned extra_ok)
{
    char a[200], b[200];
    if (st == ATTN_OK) {
        if (v->must) {
            set_names(a, sizeof a, v->must);
            fail("%s returned ATTN_OK for a description the header refuses (expected one of: %s)",
                 fn, a);
        }
        return;
    }
    unsigned ok = v->must | v->may | extra_ok;
    if (!v->must)
        ok |= BIT(ATTN_ERR_NOMEM);
    if (!(ok & BIT(st))) {
        set_names(a, sizeof a, v->must);
        set_names(b, sizeof b, v->may);
        fail("%s returned %s (%s); the header's rules give: must %s; may %s", fn, sname(st),
             attn_last_error(), a, b);
    }
    const char *ss = attn_status_str(st), *le = attn_last_error();
    if (!ss || strncmp(ss, k_status_name[st], strlen(k_status_name[st])) != 0)
        fail("attn_status_str(%d) = \"%s\" does not name %s", (int)st, ss ? ss : "(null)",
             k_status_name[st]);
    if (!le || !le[0] || !strstr(le, fn))
        fail("%s returned %s but attn_last_error() = \"%s\" does not name the function", fn,
             sname(st), le ? le : "(null)");
    (void)f;
}

NOCOV static void check_inputs_unchanged(const fz *f)
{
    for (int i = 0; i < f->nslot; i++) {
        const tb *x = f->slot[i];
        if (!x->used || x->out || !x->mem || !x->snap)
            continue;
        if (memcmp(x->mem, x->snap, x->nbytes) != 0)
            fail("the call wrote into input %s", x->name);
    }
}

/* After an error: nothing written. After ATTN_OK: nothing outside the views. */
NOCOV static void check_outputs(const fz *f, int ok)
{
    for (int i = 0; i < f->nslot; i++) {
        const tb *x = f->slot[i];
        if (!x->used || !x->out || !x->mem || !x->snap)
            continue;
        if (!ok || !x->pass) {
            if (memcmp(x->mem, x->snap, x->nbytes) != 0)
                fail("%s output %s", ok ? "the call wrote into the unpassed" :
                     "the call returned an error but wrote into", x->name);
            continue;
        }
        unsigned char *m = tb_map(x, NULL);
        for (size_t j = 0; j < x->nbytes; j++)
            if (!m[j] && x->mem[j] != x->snap[j]) {
                free(m);
                fail("output %s: byte %zu of its buffer, outside the view, was written", x->name, j);
            }
        free(m);
    }
}

/* Output overflow to ±inf: allowed when [ref − tol, ref + tol] reaches the
 * largest finite value of the dtype on that side. */
NOCOV static int overflow_ok(double got, double ref, double tol, attn_dtype dt)
{
    const double big = dt == ATTN_F16 ? 65504.0 : dt == ATTN_BF16 ? 0x1.fep127 : (double)FLT_MAX;
    if (!isinf(got))
        return 0;
    return got > 0 ? ref + tol >= big : ref - tol <= -big;
}

/* One output element against the reference: NaN needs NaN, ±inf the same
 * inf; otherwise finite within atol + rtol·|ref| (widened for f16/bf16 as
 * test_decode.c does). Returns 1 when fine. */
NOCOV static int close_to(double got, double ref, double atol, double rtol, attn_dtype dt)
{
    if (isnan(ref))
        return isnan(got);
    if (isinf(ref))
        return got == ref;
    if (dt == ATTN_F16)
        atol = atol * (1.0 + 0x1p-8) + 0x1p-25, rtol += 0x1p-11;
    else if (dt == ATTN_BF16)
        atol = atol * (1.0 + 0x1p-6) + 0x1p-134, rtol += 0x1p-8;
    const double tol = atol + rtol * fabs(ref);
    if (isinf(got))
        return overflow_ok(got, ref, tol, dt);
    return isfinite(got) && fabs(got - ref) <= tol;
}

/* Score analysis of one (row, key): the f32 rounding bound of scale·q·k and
 * what is special about it. */
typedef struct sc_info {
    double sabs;   /* Σ |scale·q_d·k_d| over the finite terms */
    double qmax;   /* max |scale·q_d| (finite) */
    double kmax;   /* max |k_d| (finite) */
    int nan_in, inf_in;
} sc_info;

NOCOV static sc_info score_info(const float *qrow, const float *krow, int64_t D, double scale)
{
    sc_info s = {0, 0, 0, 0, 0};
    for (int64_t d = 0; d < D; d++) {
        const double q = qrow[d], k = krow[d];
        if (isnan(q) || isnan(k)) {
            s.nan_in = 1;
            continue;
        }
        if (isinf(q) || isinf(k)) {
            s.inf_in = 1;
            continue;
        }
        const double sq = fabs(scale * q);
        s.sabs += sq * fabs(k);
        s.qmax = sq > s.qmax ? sq : s.qmax;
        s.kmax = fabs(k) > s.kmax ? fabs(k) : s.kmax;
    }
    return s;
}

/* Rounding bound of the f32 score: the dot (any order, FMA or not), the
 * scaling, and underflow. */
NOCOV static double dot_err(const sc_info *s, int64_t D)
{
    return (double)(D + 2) * U32 * s->sabs + (double)D * 0x1p-148 * (1.0 + s->kmax);
}

NOCOV static ref_opts make_ropts(const fz *f, const attn_options *o, int64_t D)
{
    ref_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.scale = ref_scale(o ? o->scale : 0.0f, D);
    if (o) {
        ro.causal = o->causal != 0;
        ro.kv_len = o->kv_len;
        ro.window_left = o->window_left;
        ro.window_right = o->window_right;
        ro.bias = o->bias;
        ro.alibi_slopes = o->alibi_slopes;
        ro.softcap = (double)o->softcap;
        ro.sinks = o->sinks;
    }
    (void)f;
    return ro;
}

/* The bias element the reference adds (f32 or f16, broadcast by shape 1). */
NOCOV static double bias_val(const attn_tensor *t, int64_t b, int64_t h, int64_t i, int64_t j)
{
    const int64_t bb = t->shape[0] == 1 ? 0 : b, hh = t->shape[1] == 1 ? 0 : h;
    return widen_bits(t->data, t->dtype, off4(t, bb, hh, i, j));
}

/* The modifier part of one score's error bound (softcap, ALiBi, bias), and
 * whether its size leaves f32's range. s is the raw score. */
NOCOV static double mod_err(const ref_opts *ro, int64_t b, int64_t h, int64_t i, int64_t j,
                      int64_t Lq, int64_t Lk, double s, double sfinal, int *big)
{
    double e = 0.0;
    const double sf = isfinite(sfinal) ? fabs(sfinal) : 0.0;
    if (ro->softcap > 0.0) /* s·(1/c) and tanh rounded, times c */
        e += 4.0 * U32 * ro->softcap + 2.0 * U32 * fabs(s);
    if (ro->alibi_slopes) {
        const int64_t len = ref_len(ro, b, Lk), p = i + len - Lq;
        const double term = (double)ro->alibi_slopes[h] * (double)(j - p);
        e += 2.0 * U32 * (fabs(term) + sf);
        if (fabs(term) > 1e37)
            *big = 1;
    }
    if (ro->bias) {
        const double bv = bias_val(ro->bias, b, h, i, j);
        if (isfinite(bv)) {
            e += 2.0 * U32 * (fabs(bv) + sf);
            if (fabs(bv) > 1e37)
                *big = 1;
        }
    }
    if (fabs(s) > 1e37 || (isfinite(sfinal) && fabs(sfinal) > 1e37))
        *big = 1;
    return e;
}

NOCOV static double elem_out(const attn_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d)
{
    return widen_bits(t->data, t->dtype, off4(t, a, b, c, d));
}

/* ---- attn_forward ---- */

NOCOV static void check_forward(fz *f)
{
    const attn_options *o = f->use_opt ? &f->opt : NULL;
    attn_tensor tq, tk, tv;
    float *wq = widen(&f->q.t, &tq), *wk = widen(&f->k.t, &tk), *wv = widen(&f->v.t, &tv);
    const int64_t B = tq.shape[0], Hq = tq.shape[1], Lq = tq.shape[2], D = tq.shape[3];
    const int64_t Hkv = tk.shape[1], Lk = tk.shape[2], Dv = tv.shape[3];
    const ref_opts ro = make_ropts(f, o, D);
    const size_t rows = (size_t)(B * Hq * Lq);
    double *rout = malloc(sizeof(double) * (rows * (size_t)Dv + 1));
    double *rlse = malloc(sizeof(double) * (rows + 1));
    ref_forward(&tq, &tk, &tv, &ro, rout, rlse);

    double maxv = 0.0; /* max finite |V| over the keys a batch can read */
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hkv; h++)
            for (int64_t j = 0; j < ref_len(&ro, b, Lk); j++)
                for (int64_t c = 0; c < Dv; c++) {
                    const double x = fabs((double)wv[((b * Hkv + h) * Lk + j) * Dv + c]);
                    if (isfinite(x) && x > maxv)
                        maxv = x;
                }
    const attn_tensor *out = &f->out.t, *lse = o ? o->lse : NULL;
    const int64_t group = Hkv > 0 ? Hq / Hkv : 1;
    unsigned char *vnan = malloc((size_t)Dv), *vinf = malloc((size_t)Dv);
    double *vsum = malloc(sizeof(double) * (size_t)Dv); /* Σ |V| over a row's keys */
    size_t row = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t i = 0; i < Lq; i++, row++) {
                const int64_t hk = h / group;
                const float *qrow = wq + ((b * Hq + h) * Lq + i) * D;
                int ill = 0, nvis = 0, nan_row = 0, zero = 0;
                double E = 0.0;
                memset(vnan, 0, (size_t)Dv);
                memset(vinf, 0, (size_t)Dv);
                memset(vsum, 0, sizeof(double) * (size_t)Dv);
                for (int64_t j = 0; j < Lk; j++) {
                    if (!ref_score_mod(&ro, b, h, i, j, Lq, Lk, NULL))
                        continue;
                    const float *krow = wk + ((b * Hkv + hk) * Lk + j) * D;
                    const sc_info si = score_info(qrow, krow, D, ro.scale);
                    double s = 0.0;
                    for (int64_t d = 0; d < D; d++)
                        s += (double)qrow[d] * (double)krow[d];
                    s *= ro.scale;
                    const double raw = s;
                    const int vis = ref_score_mod(&ro, b, h, i, j, Lq, Lk, &s);
                    int big = si.sabs > 1e37 || si.qmax > 1e37;
                    double e = dot_err(&si, D) + mod_err(&ro, b, h, i, j, Lq, Lk, raw, s, &big);
                    if (big || si.inf_in)
                        ill = 1; /* f32 overflow, or ±inf inputs: undefined by the header */
                    if (!vis) {
                        /* a -inf score: masked only when a -inf bias made it */
                        if (!(ro.bias && isfinite(raw) && bias_val(ro.bias, b, h, i, j) == -INFINITY))
                            ill = 1;
                        continue;
                    }
                    nvis++;
                    zero |= fabs(raw) < 0x1p-100; /* 0, or 0 once rounded to f32 */
                    if (isnan(s))
                        nan_row = 1;
                    else if (isinf(s))
                        ill = 1; /* a visible +inf score */
                    E = e > E ? e : E;
                    const float *vrow = wv + ((b * Hkv + hk) * Lk + j) * Dv;
                    for (int64_t c = 0; c < Dv; c++) {
                        vnan[c] |= (unsigned char)isnan(vrow[c]);
                        vinf[c] |= (unsigned char)isinf(vrow[c]);
                        if (isfinite(vrow[c]))
                            vsum[c] += fabs((double)vrow[c]);
                    }
                }
                const double sink = ref_sink(&ro, h);
                if (sink == INFINITY || f->softcap_inf || E > 0.5)
                    ill = 1;
                /* the unnormalised f32 sum Σ p·V may overflow past Σ|V| > FLT_MAX:
                 * values that large (bit patterns read as bf16, say) are outside
                 * what f32 accumulation can promise */
                for (int64_t c = 0; c < Dv; c++)
                    if (vsum[c] > 1e37)
                        ill = 1;
                if (zero && ro.softcap > 0.0 && ro.softcap < 0x1p-126 && !ill &&
                    known(KNOWN_SOFTCAP_SUBNORMAL))
                    ill = 1;
                const double *rrow = rout + row * (size_t)Dv;
                const double rl = rlse[row];
                if (nvis == 0 && !isnan(sink) && !ill) {
                    /* no visible key: exactly 0, lse = the sink (or -inf) */
                    for (int64_t c = 0; c < Dv; c++) {
                        const double x = elem_out(out, b, h, i, c);
                        if (x != 0.0)
                            fail("attn_forward: row [%lld,%lld,%lld] sees no key but out[%lld] = %g",
                                 (long long)b, (long long)h, (long long)i, (long long)c, x);
                    }
                    if (lse) {
                        const double x = elem_out(lse, b, h, i, 0);
                        if (!(x == sink))
                            fail("attn_forward: row [%lld,%lld,%lld] sees no key: lse = %.9g, want %.9g",
                                 (long long)b, (long long)h, (long long)i, x, sink);
                    }
                    continue;
                }
                if (nvis == 0 && isnan(sink) && !ill) {
                    /* a NaN sink and no visible key: attn.h's "out 0, lse =
                     * sinks[h]" and NaN propagation disagree; the library
                     * gives 0 or NaN (NaN when masked keys were in its
                     * tiles). Either is accepted; lse must be NaN. */
                    for (int64_t c = 0; c < Dv; c++) {
                        const double x = elem_out(out, b, h, i, c);
                        if (!(x == 0.0 || isnan(x)))
                            fail("attn_forward: row [%lld,%lld,%lld] sees no key, NaN sink, but "
                                 "out[%lld] = %g", (long long)b, (long long)h, (long long)i,
                                 (long long)c, x);
                    }
                    if (lse && !isnan(elem_out(lse, b, h, i, 0)))
                        fail("attn_forward: row [%lld,%lld,%lld] sees no key, NaN sink, but lse = %g",
                             (long long)b, (long long)h, (long long)i, elem_out(lse, b, h, i, 0));
                    continue;
                }
                if (ill)
                    continue;
                /* relative to max|V|, plus f32's absolute floor: with subnormal V
                 * each product, block sum and the final scaling round to a
                 * multiple of 2^-149 (a long run of 1e-40 values erred by 10
                 * such steps, 1.4e-5 relative) */
                const double tol = (1e-5 + 2.0 * expm1(2.0 * E)) * maxv +
                                   (2.0 * (double)Lk + 8.0) * 0x1p-149;
                for (int64_t c = 0; c < Dv; c++) {
                    const double x = elem_out(out, b, h, i, c);
                    int ok;
                    if (!nan_row && vnan[c])
                        ok = isnan(x);
                    else if (!nan_row && vinf[c])
                        ok = !isfinite(x);
                    else
                        ok = close_to(x, rrow[c], tol, 0.0, out->dtype);
                    if (!ok)
                        fail("attn_forward: out[%lld,%lld,%lld,%lld] = %.9g, reference %.9g "
                             "(tol %.3g, score error bound %.3g, max|V| %.3g, NaN/inf V column %d/%d)",
                             (long long)b, (long long)h, (long long)i, (long long)c, x, rrow[c],
                             tol, E, maxv, vnan[c], vinf[c]);
                }
                if (lse) {
                    const double x = elem_out(lse, b, h, i, 0);
                    const double ltol = 1e-5 + 1e-6 * fabs(rl) + 2.0 * E;
                    if (!close_to(x, rl, ltol, 0.0, ATTN_F32))
                        fail("attn_forward: lse[%lld,%lld,%lld] = %.9g, reference %.9g (tol %.3g)",
                             (long long)b, (long long)h, (long long)i, x, rl, ltol);
                }
            }
    free(vnan);
    free(vinf);
    free(vsum);
    free(rout);
    free(rlse);
    free(wq);
    free(wk);
    free(wv);
}

/* ---- attn_qk ---- */

NOCOV static void check_qk(fz *f)
{
    attn_tensor tq, tk;
    float *wq = widen(&f->q.t, &tq), *wk = widen(&f->k.t, &tk);
    const int64_t B = tq.shape[0], Hq = tq.shape[1], Lq = tq.shape[2], D = tq.shape[3];
    const int64_t Hkv = tk.shape[1], Lk = tk.shape[2];
    const double sc = ref_scale(f->scale, D);
    double *rs = malloc(sizeof(double) * (size_t)(B * Hq * Lq * Lk + 1));
    ref_qk(&tq, &tk, sc, rs);
    const attn_tensor *s = &f->x.t;
    size_t idx = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t i = 0; i < Lq; i++)
                for (int64_t j = 0; j < Lk; j++, idx++) {
                    const sc_info si = score_info(wq + ((b * Hq + h) * Lq + i) * D,
                                                  wk + ((b * Hkv + h / (Hq / Hkv)) * Lk + j) * D,
                                                  D, sc);
                    const double x = elem_out(s, b, h, i, j), r = rs[idx];
                    int ok;
                    if (si.nan_in)
                        ok = isnan(x);
                    else if (si.inf_in)
                        ok = !isfinite(x);
                    else if (si.sabs > 1e37 || si.qmax > 1e37)
                        ok = 1;
                    else
                        ok = close_to(x, r, 2.0 * dot_err(&si, D), 1e-6, ATTN_F32);
                    if (!ok)
                        fail("attn_qk: scores[%lld,%lld,%lld,%lld] = %.9g, reference %.9g (tol %.3g)",
                             (long long)b, (long long)h, (long long)i, (long long)j, x, r,
                             2.0 * dot_err(&si, D) + 1e-6 * fabs(r));
                }
    free(rs);
    free(wq);
    free(wk);
}

/* ---- attn_scale: a literal multiply ---- */

NOCOV static void check_scale(fz *f, const float *before)
{
    const attn_tensor *t = &f->x.t;
    int64_t i = 0;
    FOR_VIEW(t, a, b, c, d)
    {
        const volatile float want = before[i++] * f->scale;
        const float got = ((const float *)t->data)[off4(t, a, b, c, d)];
        if (!(got == want || (isnan(got) && isnan(want))))
            fail("attn_scale: x[%lld,%lld,%lld,%lld] = %.9g, want %.9g · %.9g = %.9g",
                 (long long)a, (long long)b, (long long)c, (long long)d, (double)got,
                 (double)before[i - 1], (double)f->scale, (double)want);
    }
}

/* ---- attn_softmax (in place; `in` is the scores before the call) ---- */

NOCOV static void check_softmax(fz *f, const attn_tensor *in)
{
    const attn_options *o = f->use_opt ? &f->opt : NULL;
    const int64_t B = in->shape[0], H = in->shape[1], Lq = in->shape[2], Lk = in->shape[3];
    const ref_opts ro = make_ropts(f, o, 1);
    double *rp = malloc(sizeof(double) * (size_t)(B * H * Lq * Lk + 1));
    double *rl = malloc(sizeof(double) * (size_t)(B * H * Lq + 1));
    ref_softmax(in, &ro, rp, rl);
    const attn_tensor *s = &f->x.t, *lse = o ? o->lse : NULL;
    size_t row = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Lq; i++, row++) {
                int ill = 0, nvis = 0, big = 0, zero = 0;
                double E = 0.0;
                for (int64_t j = 0; j < Lk; j++) {
                    if (!ref_score_mod(&ro, b, h, i, j, Lq, Lk, NULL))
                        continue;
                    double x = ref_at(in, b, h, i, j);
                    const double raw = x;
                    zero |= fabs(raw) < 0x1p-100; /* 0, or 0 once rounded to f32 */
                    const int vis = ref_score_mod(&ro, b, h, i, j, Lq, Lk, &x);
                    const double e = mod_err(&ro, b, h, i, j, Lq, Lk, isfinite(raw) ? raw : 0.0, x, &big);
                    if (!vis)
                        continue; /* a -inf score: the reference masks it */
                    nvis++;
                    if (isinf(x))
                        ill = 1;
                    E = e > E ? e : E;
                }
                const double sink = ref_sink(&ro, h);
                if (big || sink == INFINITY || f->softcap_inf || E > 0.5)
                    ill = 1;
                if (zero && ro.softcap > 0.0 && ro.softcap < 0x1p-126 && !ill &&
                    known(KNOWN_SOFTCAP_SUBNORMAL))
                    ill = 1;
                const double *prow = rp + row * (size_t)Lk;
                if (nvis == 0 && !isnan(sink) && !ill) {
                    for (int64_t j = 0; j < Lk; j++) {
                        const double x = elem_out(s, b, h, i, j);
                        if (x != 0.0)
                            fail("attn_softmax: row [%lld,%lld,%lld] sees no key but p[%lld] = %g",
                                 (long long)b, (long long)h, (long long)i, (long long)j, x);
                    }
                    if (lse && !(elem_out(lse, b, h, i, 0) == sink))
                        fail("attn_softmax: row [%lld,%lld,%lld] sees no key: lse = %.9g, want %.9g",
                             (long long)b, (long long)h, (long long)i, elem_out(lse, b, h, i, 0), sink);
                    continue;
                }
                /* entries outside the row's causal/window/kv_len range: exactly 0 */
                for (int64_t j = 0; j < Lk; j++)
                    if (!ref_score_mod(&ro, b, h, i, j, Lq, Lk, NULL) && elem_out(s, b, h, i, j) != 0.0)
                        fail("attn_softmax: p[%lld,%lld,%lld,%lld] = %.9g at a masked key, want 0",
                             (long long)b, (long long)h, (long long)i, (long long)j,
                             elem_out(s, b, h, i, j));
                if (ill)
                    continue;
                const int nan_row = isnan(rl[row]);
                const double rtol = 1e-5 + 2.0 * expm1(2.0 * E);
                for (int64_t j = 0; j < Lk; j++) {
                    const double x = elem_out(s, b, h, i, j);
                    if (nan_row && prow[j] == 0.0 && isnan(x) && ref_score_mod(&ro, b, h, i, j, Lq, Lk, NULL)) {
                        /* a -inf input score in a NaN row: 0 or NaN (attn.h says
                         * nothing); a -inf bias is a mask, and masks give 0 */
                        if (!(ro.bias && bias_val(ro.bias, b, h, i, j) == -INFINITY) ||
                            known(KNOWN_SOFTMAX_NAN_ROW_MASK))
                            continue;
                    }
                    if (!close_to(x, prow[j], 1e-6, rtol, ATTN_F32))
                        fail("attn_softmax: p[%lld,%lld,%lld,%lld] = %.9g, reference %.9g "
                             "(tol %.3g + %.3g·|ref|; input score %.9g%s%s)",
                             (long long)b, (long long)h, (long long)i, (long long)j, x, prow[j],
                             1e-6, rtol, ref_at(in, b, h, i, j), nan_row ? ", a NaN row" : "",
                             ro.bias ? (bias_val(ro.bias, b, h, i, j) == -INFINITY ? ", bias -inf" : ", bias finite") : "");
                }
                if (lse) {
                    const double x = elem_out(lse, b, h, i, 0);
                    const double ltol = 1e-5 + 1e-6 * fabs(rl[row]) + 2.0 * E;
                    if (!close_to(x, rl[row], ltol, 0.0, ATTN_F32))
                        fail("attn_softmax: lse[%lld,%lld,%lld] = %.9g, reference %.9g (tol %.3g)",
                             (long long)b, (long long)h, (long long)i, x, rl[row], ltol);
                }
            }
    free(rp);
    free(rl);
}

/* ---- attn_pv ---- */

NOCOV static void check_pv(fz *f)
{
    attn_tensor tv;
    float *wv = widen(&f->v.t, &tv);
    const attn_tensor *p = &f->x.t, *out = &f->out.t;
    const int64_t B = p->shape[0], Hq = p->shape[1], Lq = p->shape[2], Lk = p->shape[3];
    const int64_t Hkv = tv.shape[1], Dv = tv.shape[3];
    double *ro = malloc(sizeof(double) * (size_t)(B * Hq * Lq * Dv + 1));
    ref_pv(p, &tv, ro);
    size_t idx = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t i = 0; i < Lq; i++)
                for (int64_t c = 0; c < Dv; c++, idx++) {
                    double A = 0.0;
                    int nan_in = 0, inf_in = 0;
                    for (int64_t j = 0; j < Lk; j++) {
                        const double pj = ref_at(p, b, h, i, j);
                        const double vj = wv[((b * Hkv + h / (Hq / Hkv)) * Lk + j) * Dv + c];
                        nan_in |= isnan(pj) || isnan(vj);
                        inf_in |= isinf(pj) || isinf(vj);
                        if (isfinite(pj) && isfinite(vj))
                            A += fabs(pj * vj);
                    }
                    const double x = elem_out(out, b, h, i, c), r = ro[idx];
                    const double tol = 2.0 * (double)(Lk + 4) * U32 * A + 0x1p-140 * (double)Lk;
                    int ok;
                    if (nan_in)
                        ok = isnan(x);
                    else if (inf_in)
                        ok = !isfinite(x);
                    else if (A > 1e37)
                        ok = 1;
                    else
                        ok = close_to(x, r, tol, 0.0, ATTN_F32);
                    if (!ok)
                        fail("attn_pv: out[%lld,%lld,%lld,%lld] = %.9g, reference %.9g (tol %.3g)",
                             (long long)b, (long long)h, (long long)i, (long long)c, x, r, tol);
                }
    free(ro);
    free(wv);
}

/* ---- attn_merge (ins/lins: the shards before the call) ---- */

NOCOV static void check_merge(fz *f, float *const *ins, float *const *lins)
{
    const attn_tensor *out = &f->out.t, *lse = (f->flags & F_LSE) && f->lse.pass ? &f->lse.t : NULL;
    const int64_t B = out->shape[0], H = out->shape[1], L = out->shape[2], Dv = out->shape[3];
    const int n = f->merge_n;
    int64_t row = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < L; i++, row++) {
                double M = -INFINITY;
                int nan = 0;
                for (int c = 0; c < n; c++) {
                    const double l = lins[c][row];
                    nan |= isnan(l);
                    if (l > M)
                        M = l;
                }
                if (M == INFINITY && !nan)
                    continue; /* a +inf lse: undefined */
                double W = 0.0;
                if (!nan && M > -INFINITY)
                    for (int c = 0; c < n; c++)
                        if (lins[c][row] > -INFINITY)
                            W += exp(lins[c][row] - M);
                for (int64_t d = 0; d < Dv; d++) {
                    const double x = elem_out(out, b, h, i, d);
                    double r = 0.0, mo = 0.0;
                    int vn = 0, vi = 0;
                    if (nan) {
                        r = NAN;
                    } else if (M > -INFINITY) {
                        for (int c = 0; c < n; c++) {
                            const double l = lins[c][row];
                            if (l == -INFINITY)
                                continue;
                            const double y = ins[c][row * Dv + d];
                            vn |= isnan(y), vi |= isinf(y);
                            if (isfinite(y)) {
                                r += exp(l - M) / W * y;
                                mo = fabs(y) > mo ? fabs(y) : mo;
                            }
                        }
                    }
                    double sabs = 0.0; /* Σ |out_c| of the shards that count */
                    for (int c = 0; c < n && !nan && M > -INFINITY; c++)
                        if (lins[c][row] > -INFINITY && isfinite(ins[c][row * Dv + d]))
                            sabs += fabs((double)ins[c][row * Dv + d]);
                    int ok;
                    if (vn && !nan)
                        ok = isnan(x);
                    else if (vi && !nan)
                        ok = !isfinite(x);
                    else if (M == -INFINITY && !nan)
                        ok = x == 0.0;
                    else if (sabs > 1e37)
                        ok = 1; /* the f32 weighted sum may overflow */
                    else
                        ok = close_to(x, r, 1e-5 * mo + 1e-30, 0.0, ATTN_F32);
                    if (!ok)
                        fail("attn_merge: out[%lld,%lld,%lld,%lld] = %.9g, reference %.9g",
                             (long long)b, (long long)h, (long long)i, (long long)d, x, r);
                }
                if (lse) {
                    const double x = elem_out(lse, b, h, i, 0);
                    const double r = nan ? NAN : M == -INFINITY ? -INFINITY : M + log(W);
                    if (!close_to(x, r, 1e-5 + 1e-6 * fabs(r), 0.0, ATTN_F32))
                        fail("attn_merge: lse[%lld,%lld,%lld] = %.9g, reference %.9g",
                             (long long)b, (long long)h, (long long)i, x, r);
                }
            }
}

/* ------------------------------------------------------------------ ISA */

static void choose_isa(const fz *f)
{
    static const char *const names[4] = {"scalar", "avx2", "avx512", "neon"};
    if (attn_set_isa(g_best) != ATTN_OK)
        fail("attn_set_isa(best = %s) refused", attn_isa_name(g_best));
    if (f->isa_req == -100)
        return;
    const int want = f->isa_req;
    const attn_isa before = attn_get_isa();
    const attn_status st = attn_set_isa((attn_isa)want);
    const char *nm = attn_isa_name((attn_isa)want);
    if (want >= 0 && want <= 3) {
        if (strcmp(nm, names[want]) != 0)
            fail("attn_isa_name(%d) = \"%s\", want \"%s\"", want, nm, names[want]);
        const int sup = attn_isa_supported((attn_isa)want) != 0;
        if (st != (sup ? ATTN_OK : ATTN_ERR_UNSUPPORTED))
            fail("attn_set_isa(%s) = %s with attn_isa_supported() = %d", nm, sname(st), sup);
        if (sup && attn_get_isa() != (attn_isa)want)
            fail("attn_set_isa(%s) returned ATTN_OK but attn_get_isa() = %s", nm,
                 attn_isa_name(attn_get_isa()));
    } else {
        if (strcmp(nm, "unknown") != 0)
            fail("attn_isa_name(%d) = \"%s\", want \"unknown\"", want, nm);
        if (st != ATTN_ERR_ARG)
            fail("attn_set_isa(%d) = %s, want ATTN_ERR_ARG", want, sname(st));
        if (attn_isa_supported((attn_isa)want))
            fail("attn_isa_supported(%d) is nonzero", want);
    }
    if (st != ATTN_OK && attn_get_isa() != before)
        fail("attn_set_isa(%d) failed but changed the kernel set", want);
}

/* ------------------------------------------------------------------ driver */

static attn_status call(fz *f)
{
    const attn_options *o = f->use_opt ? &f->opt : NULL;
    switch (f->entry) {
    case E_FWD: return attn_forward(tp(&f->q), tp(&f->k), tp(&f->v), tp(&f->out), o);
    case E_WS:
        return attn_forward_workspace(tp(&f->q), tp(&f->k), tp(&f->v), tp(&f->out), o,
                                      f->bytes_null ? NULL : &f->bytes);
    case E_QK: return attn_qk(tp(&f->q), tp(&f->k), tp(&f->x), f->scale);
    case E_SCALE: return attn_scale(tp(&f->x), f->scale);
    case E_SOFTMAX: return attn_softmax(tp(&f->x), o);
    case E_PV: return attn_pv(tp(&f->x), tp(&f->v), tp(&f->out));
    default: {
        attn_tensor to[MAXSH], tl[MAXSH];
        for (int c = 0; c < f->nsh; c++)
            to[c] = shard_out(f, c)->t, tl[c] = f->lses[c].t;
        return attn_merge(shards_null(f, 0) ? NULL : to, shards_null(f, 1) ? NULL : tl, f->merge_n,
                          tp(&f->out), (f->flags & F_LSE) ? tp(&f->lse) : NULL);
    }
    }
}

static void snap_all(fz *f)
{
    for (int i = 0; i < f->nslot; i++)
        if (f->slot[i]->used)
            tb_snap(f->slot[i]);
}

static void reset_outputs(fz *f)
{
    for (int i = 0; i < f->nslot; i++) {
        tb *x = f->slot[i];
        if (x->used && x->out && x->mem && x->snap)
            memcpy(x->mem, x->snap, x->nbytes);
    }
}

static void poison_all(fz *f, int on)
{
    for (int i = 0; i < f->nslot; i++) {
        tb *x = f->slot[i];
        if (!x->used)
            continue;
        if (!on) {
            tb_unpoison(x);
            continue;
        }
        const int kv = (f->entry == E_FWD || f->entry == E_WS) && (x == &f->k || x == &f->v);
        tb_poison(x, kv && f->use_opt ? f->opt.kv_len : NULL);
    }
}

/* UBSan: stop at the first report (a crash for libFuzzer), with a stack;
 * known findings are listed in tests/fuzz/ubsan.supp (the build passes its
 * path). Options in UBSAN_OPTIONS override these one by one. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
#ifdef FUZZ_UBSAN_SUPP
    return "halt_on_error=1:print_stacktrace=1:report_error_type=1:suppressions=" FUZZ_UBSAN_SUPP;
#else
    return "halt_on_error=1:print_stacktrace=1:report_error_type=1";
#endif
}

/* LeakSanitizer: libomp's own thread bookkeeping (malloc called from inside
 * libomp.so, e.g. when a call asks for more threads than before) is still
 * allocated at exit and not reachable from scanned memory. libattn never
 * allocates inside a parallel region (its workspaces are taken before), so
 * a stack through libomp is never one of its leaks. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libomp.so\n"; }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* OpenMP threads sleep between calls: the fuzzer runs one call at a time */
    setenv("KMP_BLOCKTIME", "0", 0);
    setenv("OMP_WAIT_POLICY", "passive", 0);
    g_guard = mmap(NULL, 1u << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (g_guard == MAP_FAILED)
        abort();
    if (attn_init() != ATTN_OK)
        abort();
    g_best = attn_get_isa();
    const char *vb = getenv("FUZZ_VERBOSE");
    g_verbose = vb && vb[0] == '1';
    vb = getenv("FUZZ_MISALIGNED");
    g_misaligned = vb && vb[0] == '1';
    vb = getenv("FUZZ_STRICT");
    g_strict = !(vb && vb[0] == '0');
    atexit(print_known);
    attn_cpu_info ci;
    if (attn_cpu_info_get(&ci) != ATTN_OK || ci.best_isa != g_best || ci.physical_cores < 1)
        abort();
#ifdef FUZZ_PREFER_ISA
    /* the set this build is about (fuzz_forward_emu: NEON), when it runs */
    if (attn_isa_supported((attn_isa)FUZZ_PREFER_ISA) &&
        attn_set_isa((attn_isa)FUZZ_PREFER_ISA) == ATTN_OK)
        g_best = (attn_isa)FUZZ_PREFER_ISA;
#endif
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz *f = &F;
    build(f, data, size);
    choose_isa(f);
    const verdict v = model(f);
    const int run = runnable(f);
    if (g_verbose) {
        char a[200], b[200];
        set_names(a, sizeof a, v.must);
        set_names(b, sizeof b, v.may);
        fprintf(stderr, "fuzz_forward: %s; must %s; may %s\n", run ? "runnable" : "not runnable", a, b);
        describe(f, stderr);
    }
    const char *fn = k_entry_name[f->entry];

    if (!v.must && !run) {
        /* valid (as far as the header says) but its memory is not there, or
         * too much work: only ask for the workspace, which reads no data */
        if ((f->entry == E_FWD || f->entry == E_WS) && !f->bytes_null) {
            const attn_options *o = f->use_opt ? &f->opt : NULL;
            size_t bytes = 0;
            const attn_status st = attn_forward_workspace(tp(&f->q), tp(&f->k), tp(&f->v),
                                                          tp(&f->out), o, &bytes);
            check_status(f, &v, st, "attn_forward_workspace", BIT(ATTN_ERR_OVERFLOW));
        }
        cleanup(f);
        return 0;
    }

    /* copies of what an in-place call overwrites, for the reference */
    attn_tensor sin;
    float *win = NULL, *before = NULL;
    float *mins[MAXSH] = {0}, *mlin[MAXSH] = {0};
    if (run && !v.must) {
        if (f->entry == E_SOFTMAX)
            win = widen(&f->x.t, &sin);
        if (f->entry == E_SCALE)
            before = widen(&f->x.t, &sin);
        if (f->entry == E_MERGE)
            for (int c = 0; c < f->merge_n; c++) {
                attn_tensor tmp;
                mins[c] = widen(&shard_out(f, c)->t, &tmp);
                mlin[c] = widen(&f->lses[c].t, &tmp);
            }
    }

    snap_all(f);
    /* attn_forward_workspace validates as attn_forward does, writing nothing */
    attn_status ws_st = ATTN_OK;
    int ws_called = 0;
    size_t ws_bytes = 0;
    if (f->entry == E_FWD) {
        const attn_options *o = f->use_opt ? &f->opt : NULL;
        ws_st = attn_forward_workspace(tp(&f->q), tp(&f->k), tp(&f->v), tp(&f->out), o, &ws_bytes);
        ws_called = 1;
        check_outputs(f, 0);
    }
    if (run && !v.must)
        poison_all(f, 1);
    const attn_status st = call(f);
    poison_all(f, 0);
    check_status(f, &v, st, fn, 0);
    check_inputs_unchanged(f);
    check_outputs(f, st == ATTN_OK);
    if (ws_called && ws_st != st && ws_st != ATTN_ERR_NOMEM && st != ATTN_ERR_NOMEM)
        fail("attn_forward_workspace returned %s but attn_forward %s", sname(ws_st), sname(st));
    if (st == ATTN_OK && ws_called) {
        const int empty = f->q.t.shape[0] == 0 || f->q.t.shape[1] == 0 || f->q.t.shape[2] == 0;
        if ((ws_bytes == 0) != empty)
            fail("attn_forward_workspace: %zu bytes for a call with%s work", ws_bytes,
                 empty ? "out" : "");
    }
    if (st == ATTN_OK && f->entry == E_WS) {
        const int empty = f->q.t.shape[0] == 0 || f->q.t.shape[1] == 0 || f->q.t.shape[2] == 0;
        if ((f->bytes == 0) != empty)
            fail("attn_forward_workspace: %zu bytes for a call with%s work", f->bytes,
                 empty ? "out" : "");
    }

    if (st == ATTN_OK && run) {
        switch (f->entry) {
        case E_FWD: check_forward(f); break;
        case E_QK: check_qk(f); break;
        case E_SCALE: check_scale(f, before); break;
        case E_SOFTMAX: check_softmax(f, &sin); break;
        case E_PV: check_pv(f); break;
        case E_MERGE: check_merge(f, mins, mlin); break;
        default: break;
        }
        /* bitwise identical for another thread count */
        if (f->entry == E_FWD && (f->flags & F_RERUN)) {
            tb *outs[2] = {&f->out, &f->lse};
            unsigned char *first[2] = {0, 0};
            for (int i = 0; i < 2; i++)
                if (outs[i]->used && outs[i]->mem) {
                    first[i] = malloc(outs[i]->nbytes);
                    memcpy(first[i], outs[i]->mem, outs[i]->nbytes);
                }
            reset_outputs(f);
            const int t0 = f->opt.num_threads;
            f->opt.num_threads = t0 == 1 ? 2 : 1;
            poison_all(f, 1);
            const attn_status st2 = call(f);
            poison_all(f, 0);
            f->opt.num_threads = t0;
            if (st2 != ATTN_OK)
                fail("attn_forward: %s on the rerun with another num_threads", sname(st2));
            for (int i = 0; i < 2; i++)
                if (first[i]) {
                    if (memcmp(first[i], outs[i]->mem, outs[i]->nbytes) != 0)
                        fail("attn_forward: %s differs bitwise between num_threads %d and %d",
                             outs[i]->name, t0, t0 == 1 ? 2 : 1);
                    free(first[i]);
                }
        }
    }
    free(win);
    free(before);
    for (int c = 0; c < MAXSH; c++)
        free(mins[c]), free(mlin[c]);
    cleanup(f);
    return 0;
}
