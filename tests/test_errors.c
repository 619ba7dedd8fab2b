/*
 * test_errors.c — bad input (DESIGN §1.4, §1.4a, include/attn.h): every entry
 * point returns the documented status, writes no output byte (outputs are
 * sentinel-filled and compared byte for byte; inputs too), and leaves a
 * message in attn_last_error() that names the function and the argument at
 * fault. Plus the small runtime API: attn_set_isa, attn_isa_name,
 * attn_status_str, attn_last_error; the masks and modifiers of issue 5
 * (windows, softcap, bias) in attn_forward, attn_forward_workspace and
 * attn_softmax; attn_forward_workspace's validation; attn_merge (issue 6).
 */
#include <criterion/criterion.h>

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define S(x) (1u << (x))

/* f16/bf16 q, k, v and out are tested in test_forward.c (half_* tests):
 * either refused with ATTN_ERR_UNSUPPORTED and nothing written, or computed
 * like the reference on the widened values. */
/* f32-only arguments (lse, scores, probs): "a dtype this argument cannot
 * take" (DTYPE) or "not in this build" (UNSUPPORTED) are both acceptable. */
#define F32_ONLY (S(ATTN_ERR_DTYPE) | S(ATTN_ERR_UNSUPPORTED))

/* ------------------------------------------------------------------ helpers */

static const char *status_names[] = {
    "ATTN_OK",          "ATTN_ERR_NULL",   "ATTN_ERR_SHAPE",       "ATTN_ERR_STRIDE",
    "ATTN_ERR_DTYPE",   "ATTN_ERR_OVERFLOW", "ATTN_ERR_NOMEM",     "ATTN_ERR_UNSUPPORTED",
    "ATTN_ERR_ARG",
};

static const char *sname(attn_status s)
{
    return (unsigned)s < NELEM(status_names) ? status_names[s] : "(out of range)";
}

static int is_ident(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_';
}

/* msg mentions one of the '|'-separated words as a whole word. */
static int mentions(const char *msg, const char *words)
{
    char w[64];
    while (*words) {
        size_t n = strcspn(words, "|");
        memcpy(w, words, n);
        w[n] = '\0';
        for (const char *p = strstr(msg, w); p; p = strstr(p + 1, w))
            if ((p == msg || !is_ident(p[-1])) && !is_ident(p[n]))
                return 1;
        words += n + (words[n] == '|');
    }
    return 0;
}

static const char *want_str(unsigned want, char *buf, size_t n)
{
    buf[0] = '\0';
    for (unsigned i = 0; i < NELEM(status_names); i++)
        if (want & S(i)) {
            const size_t len = strlen(buf);
            snprintf(buf + len, n - len, "%s%s", len ? " or " : "", status_names[i]);
        }
    return buf;
}

static void expect_error(attn_status got, unsigned want, const char *fn, const char *words,
                         const char *what, const char *isa)
{
    const char *err = attn_last_error();
    char w[160];
    cr_expect((unsigned)got < 32 && (want & S(got)), "[%s] %s: %s returned %s (\"%s\"), want %s",
              isa, fn, what, sname(got), err ? err : "(null)", want_str(want, w, sizeof w));
    cr_expect(err != NULL && err[0] != '\0', "[%s] %s: %s: attn_last_error() is empty", isa, fn,
              what);
    if (err && err[0]) {
        cr_expect(strstr(err, fn) != NULL, "[%s] %s: %s: message \"%s\" does not name %s", isa,
                  fn, what, err, fn);
        cr_expect(mentions(err, words), "[%s] %s: %s: message \"%s\" names none of {%s}", isa, fn,
                  what, err, words);
    }
}

/* ------------------------------------------------------------------ context */

enum { B = 2, HQ = 4, HKV = 2, LQ = 5, LK = 7, D = 8, DV = 6 };

typedef struct ectx {
    float qb[B * HQ * LQ * D], kb[B * HKV * LK * D], vb[B * HKV * LK * DV];
    float ob[B * HQ * LQ * DV], lb[B * HQ * LQ], sb[B * HQ * LQ * LK];
    attn_tensor q, k, v, o, l, s; /* s: scores / probs / x of the staged calls */
    const attn_tensor *qp, *kp, *vp, *op, *sp;
    int32_t kvl[B];
    attn_options opt;
    float scale;
    /* copies to compare with after the call */
    unsigned char before[sizeof(float) * (B * HQ * LQ * D + B * HKV * LK * D + B * HKV * LK * DV +
                                          B * HQ * LQ * DV + B * HQ * LQ + B * HQ * LQ * LK)];
} ectx;

static attn_tensor contiguous(float *p, int64_t b, int64_t h, int64_t s, int64_t d)
{
    attn_tensor t = {p, ATTN_F32, {b, h, s, d}, {h * s * d, s * d, d, 1}};
    return t;
}

static void ectx_init(ectx *c)
{
    memset(c, 0, sizeof *c);
    tu_rng r = {7};
    for (size_t i = 0; i < NELEM(c->qb); i++)
        c->qb[i] = (float)tu_uniform(&r, -1, 1);
    for (size_t i = 0; i < NELEM(c->kb); i++)
        c->kb[i] = (float)tu_uniform(&r, -1, 1);
    for (size_t i = 0; i < NELEM(c->vb); i++)
        c->vb[i] = (float)tu_uniform(&r, -1, 1);
    for (size_t i = 0; i < NELEM(c->sb); i++)
        c->sb[i] = (float)tu_uniform(&r, 0, 1);
    memset(c->ob, 0xA5, sizeof c->ob);
    memset(c->lb, 0x5A, sizeof c->lb);
    c->q = contiguous(c->qb, B, HQ, LQ, D);
    c->k = contiguous(c->kb, B, HKV, LK, D);
    c->v = contiguous(c->vb, B, HKV, LK, DV);
    c->o = contiguous(c->ob, B, HQ, LQ, DV);
    c->l = contiguous(c->lb, B, HQ, LQ, 1);
    c->s = contiguous(c->sb, B, HQ, LQ, LK);
    c->qp = &c->q, c->kp = &c->k, c->vp = &c->v, c->op = &c->o, c->sp = &c->s;
    c->kvl[0] = LK, c->kvl[1] = 3;
    c->opt.causal = 1;
    c->opt.kv_len = c->kvl;
    c->opt.lse = &c->l;
    c->opt.num_threads = 2;
    c->scale = 0.0f;
}

static void snapshot(const ectx *c, unsigned char *dst)
{
    size_t off = 0;
#define SNAP(buf)                                                                              \
    memcpy(dst + off, c->buf, sizeof c->buf);                                                  \
    off += sizeof c->buf;
    SNAP(qb) SNAP(kb) SNAP(vb) SNAP(ob) SNAP(lb) SNAP(sb)
#undef SNAP
}

/* Every buffer byte for byte as before the call: no output, no input touched. */
static int untouched(const ectx *c)
{
    unsigned char now[sizeof c->before];
    snapshot(c, now);
    return memcmp(now, c->before, sizeof now) == 0;
}

typedef struct ecase {
    const char *what;
    unsigned want;     /* bitmask of acceptable statuses */
    const char *words; /* the message names one of these */
} ecase;

/* ------------------------------------------------------------------ attn_forward */

#define LARGE (INT64_C(1) << 62)

/* X(what, want, words, mutation) */
#define FORWARD_CASES(X)                                                                       \
    X("q.data == NULL", S(ATTN_ERR_NULL), "q", c->q.data = NULL)                               \
    X("k.data == NULL", S(ATTN_ERR_NULL), "k", c->k.data = NULL)                               \
    X("v.data == NULL", S(ATTN_ERR_NULL), "v", c->v.data = NULL)                               \
    X("out.data == NULL", S(ATTN_ERR_NULL), "out", c->o.data = NULL)                           \
    X("lse.data == NULL", S(ATTN_ERR_NULL), "lse", c->l.data = NULL)                           \
    X("q.shape[0] < 0", S(ATTN_ERR_SHAPE), "q|out", (c->q.shape[0] = -1, c->o.shape[0] = -1))  \
    X("k.shape[2] < 0", S(ATTN_ERR_SHAPE), "k|v",                                              \
      (c->k.shape[2] = -3, c->v.shape[2] = -3, c->opt.kv_len = NULL))                          \
    X("q.shape[1] < 0", S(ATTN_ERR_SHAPE), "q|out", (c->q.shape[1] = -4, c->o.shape[1] = -4))  \
    X("out.shape[3] < 0", S(ATTN_ERR_SHAPE), "out|v", c->o.shape[3] = -6)                      \
    X("D == 0", S(ATTN_ERR_SHAPE), "q|k|D", (c->q.shape[3] = 0, c->k.shape[3] = 0))            \
    X("Dv == 0", S(ATTN_ERR_SHAPE), "v|out|Dv", (c->v.shape[3] = 0, c->o.shape[3] = 0))        \
    X("Hkv == 0, Hq >= 1", S(ATTN_ERR_SHAPE), "k|v|Hkv",                                       \
      (c->k.shape[1] = 0, c->v.shape[1] = 0))                                                  \
    X("Hq % Hkv != 0", S(ATTN_ERR_SHAPE), "q|k|v|Hq|Hkv",                                      \
      (c->k.shape[1] = 3, c->v.shape[1] = 3, c->k.shape[2] = 2, c->v.shape[2] = 2,             \
       c->kvl[0] = 2, c->kvl[1] = 1))                                                          \
    X("k.shape[3] != q.shape[3]", S(ATTN_ERR_SHAPE), "k|q", c->k.shape[3] = 4)                 \
    X("k.shape[0] != q.shape[0]", S(ATTN_ERR_SHAPE), "k|q", c->k.shape[0] = 1)                 \
    X("v.shape[2] != k.shape[2]", S(ATTN_ERR_SHAPE), "v|k", c->v.shape[2] = 6)                 \
    X("v.shape[1] != k.shape[1]", S(ATTN_ERR_SHAPE), "v|k", c->v.shape[1] = 1)                 \
    X("v.shape[0] != q.shape[0]", S(ATTN_ERR_SHAPE), "v|q|k", c->v.shape[0] = 1)               \
    X("out.shape[3] != v.shape[3]", S(ATTN_ERR_SHAPE), "out|v", c->o.shape[3] = 5)             \
    X("out.shape[2] != q.shape[2]", S(ATTN_ERR_SHAPE), "out|q", c->o.shape[2] = 4)             \
    X("out.shape[1] != q.shape[1]", S(ATTN_ERR_SHAPE), "out|q", c->o.shape[1] = 2)             \
    X("out.shape[0] != q.shape[0]", S(ATTN_ERR_SHAPE), "out|q", c->o.shape[0] = 1)             \
    X("lse.shape[2] != Lq", S(ATTN_ERR_SHAPE), "lse", c->l.shape[2] = 4)                       \
    X("lse.shape[1] != Hq", S(ATTN_ERR_SHAPE), "lse", c->l.shape[1] = 2)                       \
    X("lse.shape[3] != 1", S(ATTN_ERR_SHAPE) | S(ATTN_ERR_STRIDE), "lse", c->l.shape[3] = 2)   \
    X("q.stride[2] < 0", S(ATTN_ERR_STRIDE), "q", c->q.stride[2] = -8)                         \
    X("k.stride[0] < 0", S(ATTN_ERR_STRIDE), "k", c->k.stride[0] = -1)                         \
    X("v.stride[1] < 0", S(ATTN_ERR_STRIDE), "v", c->v.stride[1] = -42)                        \
    X("out.stride[2] < 0", S(ATTN_ERR_STRIDE), "out", c->o.stride[2] = -6)                     \
    X("q.stride[3] != 1", S(ATTN_ERR_STRIDE), "q", c->q.stride[3] = 2)                         \
    X("k.stride[3] == 0", S(ATTN_ERR_STRIDE), "k", c->k.stride[3] = 0)                         \
    X("out.stride[3] != 1", S(ATTN_ERR_STRIDE), "out", c->o.stride[3] = 2)                     \
    X("out.stride[2] == 0", S(ATTN_ERR_STRIDE), "out", c->o.stride[2] = 0)                     \
    X("out.stride[1] == 0", S(ATTN_ERR_STRIDE), "out", c->o.stride[1] = 0)                     \
    X("out.stride[0] == 0", S(ATTN_ERR_STRIDE), "out", c->o.stride[0] = 0)                     \
    X("out rows overlap", S(ATTN_ERR_STRIDE), "out", c->o.stride[2] = DV - 1)                  \
    X("out heads overlap", S(ATTN_ERR_STRIDE), "out", c->o.stride[1] = 2 * DV)                 \
    X("out batches overlap", S(ATTN_ERR_STRIDE), "out", c->o.stride[0] = c->o.stride[1])       \
    X("lse rows alias", S(ATTN_ERR_STRIDE), "lse", c->l.stride[2] = 0)                         \
    X("q.dtype unknown", S(ATTN_ERR_DTYPE), "q", c->q.dtype = (attn_dtype)7)                   \
    X("k.dtype unknown", S(ATTN_ERR_DTYPE), "k", c->k.dtype = (attn_dtype)-1)                  \
    X("v.dtype unknown", S(ATTN_ERR_DTYPE), "v", c->v.dtype = (attn_dtype)3)                   \
    X("out.dtype unknown", S(ATTN_ERR_DTYPE), "out", c->o.dtype = (attn_dtype)7)               \
    X("lse.dtype unknown", S(ATTN_ERR_DTYPE), "lse", c->l.dtype = (attn_dtype)7)               \
    X("lse.dtype f16", F32_ONLY, "lse", c->l.dtype = ATTN_F16)                                 \
    X("k extent overflows (Lk = 2^62)", S(ATTN_ERR_OVERFLOW), "k|v",                           \
      (c->k.shape[2] = LARGE, c->v.shape[2] = LARGE, c->k.stride[2] = D, c->v.stride[2] = DV,  \
       c->k.stride[1] = 0, c->v.stride[1] = 0, c->k.stride[0] = 0, c->v.stride[0] = 0,         \
       c->opt.kv_len = NULL))                                                                  \
    X("q batch stride overflows", S(ATTN_ERR_OVERFLOW), "q", c->q.stride[0] = INT64_MAX / 2)  \
    X("out extent overflows", S(ATTN_ERR_OVERFLOW), "out", c->o.stride[0] = INT64_MAX / 2)    \
    X("scale NaN", S(ATTN_ERR_ARG), "scale", c->opt.scale = NAN)                               \
    X("scale +inf", S(ATTN_ERR_ARG), "scale", c->opt.scale = INFINITY)                         \
    X("scale -inf", S(ATTN_ERR_ARG), "scale", c->opt.scale = -INFINITY)                        \
    X("num_threads < 0", S(ATTN_ERR_ARG), "num_threads", c->opt.num_threads = -1)              \
    X("kv_len[1] < 0", S(ATTN_ERR_ARG), "kv_len", c->kvl[1] = -1)                              \
    X("kv_len[0] > Lk", S(ATTN_ERR_ARG), "kv_len", c->kvl[0] = LK + 1)                         \
    X("kv_len[1] = INT32_MIN", S(ATTN_ERR_ARG), "kv_len", c->kvl[1] = INT32_MIN)

#define X_DESC(what, want, words, stmt) {what, want, words},
static const ecase forward_cases[] = {FORWARD_CASES(X_DESC)};

static void forward_mutate(ectx *c, size_t id)
{
    size_t i = 0;
#define X_MUT(what, want, words, stmt)                                                          \
    if (id == i++) {                                                                           \
        stmt;                                                                                  \
    }
    FORWARD_CASES(X_MUT)
#undef X_MUT
}

static void each_isa(void (*body)(const char *isa))
{
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
    for (int i = 0; i < n; i++) {
        cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK);
        body(attn_isa_name(isas[i]));
    }
    attn_set_isa(saved);
}

static void forward_body(const char *isa)
{
    static ectx c;
    ectx_init(&c);
    attn_status st = attn_forward(c.qp, c.kp, c.vp, c.op, &c.opt);
    cr_assert_eq(st, ATTN_OK, "[%s] the unmutated call fails: %s", isa, attn_last_error());
    for (size_t id = 0; id < NELEM(forward_cases); id++) {
        ectx_init(&c);
        forward_mutate(&c, id);
        snapshot(&c, c.before);
        st = attn_forward(c.qp, c.kp, c.vp, c.op, &c.opt);
        expect_error(st, forward_cases[id].want, "attn_forward", forward_cases[id].words,
                     forward_cases[id].what, isa);
        cr_expect(untouched(&c), "[%s] attn_forward: %s: a buffer changed", isa,
                  forward_cases[id].what);
    }
}

Test(errors, forward_bad_input)
{
    each_isa(forward_body);
}

/* NULL tensor pointers, one Test each so that a crash names its argument. */
static void forward_null(int which)
{
    static const char *const names[] = {"q", "k", "v", "out"};
    static ectx c;
    ectx_init(&c);
    const attn_tensor **p[] = {&c.qp, &c.kp, &c.vp, &c.op};
    *p[which] = NULL;
    snapshot(&c, c.before);
    const attn_status st = attn_forward(c.qp, c.kp, c.vp, c.op, &c.opt);
    char what[32];
    snprintf(what, sizeof what, "%s == NULL", names[which]);
    expect_error(st, S(ATTN_ERR_NULL), "attn_forward", names[which], what, "any");
    cr_expect(untouched(&c), "attn_forward: %s: a buffer changed", what);
}

Test(errors, forward_null_q) { forward_null(0); }
Test(errors, forward_null_k) { forward_null(1); }
Test(errors, forward_null_v) { forward_null(2); }
Test(errors, forward_null_out) { forward_null(3); }
Test(errors, forward_all_null)
{
    cr_expect_eq(attn_forward(NULL, NULL, NULL, NULL, NULL), ATTN_ERR_NULL);
}

/* Zero strides broadcast inputs: legal. */
static void broadcast_body(const char *isa)
{
    static ectx c;
    ectx_init(&c);
    c.k.stride[0] = 0, c.v.stride[0] = 0; /* both batches read batch 0's K/V */
    c.q.stride[1] = 0;                    /* every head reads head 0's queries */
    attn_status st = attn_forward(c.qp, c.kp, c.vp, c.op, &c.opt);
    cr_expect_eq(st, ATTN_OK, "[%s] zero input strides: %s (%s)", isa, sname(st),
                 attn_last_error());
}

Test(errors, zero_input_strides_broadcast)
{
    each_isa(broadcast_body);
}

/* ------------------------------------------------------------------ attn_qk */

#define QK_CASES(X)                                                                            \
    X("q == NULL", S(ATTN_ERR_NULL), "q", c->qp = NULL)                                        \
    X("k == NULL", S(ATTN_ERR_NULL), "k", c->kp = NULL)                                        \
    X("scores == NULL", S(ATTN_ERR_NULL), "scores", c->sp = NULL)                              \
    X("scores.data == NULL", S(ATTN_ERR_NULL), "scores", c->s.data = NULL)                     \
    X("k.data == NULL", S(ATTN_ERR_NULL), "k", c->k.data = NULL)                               \
    X("q.shape[2] < 0", S(ATTN_ERR_SHAPE), "q|scores", (c->q.shape[2] = -1, c->s.shape[2] = -1)) \
    X("D == 0", S(ATTN_ERR_SHAPE), "q|k|D", (c->q.shape[3] = 0, c->k.shape[3] = 0))            \
    X("k.shape[3] != q.shape[3]", S(ATTN_ERR_SHAPE), "k|q", c->k.shape[3] = 7)                 \
    X("scores.shape[3] != Lk", S(ATTN_ERR_SHAPE), "scores|k", c->s.shape[3] = LK - 1)          \
    X("scores.shape[2] != Lq", S(ATTN_ERR_SHAPE), "scores|q", c->s.shape[2] = LQ - 1)          \
    X("scores.shape[1] != Hq", S(ATTN_ERR_SHAPE), "scores|q", c->s.shape[1] = HQ - 1)          \
    X("Hq % Hkv != 0", S(ATTN_ERR_SHAPE), "q|k|Hq|Hkv", (c->k.shape[1] = 3, c->k.shape[2] = 2, \
                                                          c->s.shape[3] = 2))                  \
    X("Hkv == 0", S(ATTN_ERR_SHAPE), "k|Hkv", c->k.shape[1] = 0)                               \
    X("k.stride[2] < 0", S(ATTN_ERR_STRIDE), "k", c->k.stride[2] = -8)                         \
    X("scores.stride[3] != 1", S(ATTN_ERR_STRIDE), "scores", c->s.stride[3] = 3)               \
    X("scores.stride[2] == 0", S(ATTN_ERR_STRIDE), "scores", c->s.stride[2] = 0)               \
    X("scores rows overlap", S(ATTN_ERR_STRIDE), "scores", c->s.stride[2] = LK - 2)            \
    X("q.dtype unknown", S(ATTN_ERR_DTYPE), "q", c->q.dtype = (attn_dtype)7)                   \
    X("scores.dtype unknown", S(ATTN_ERR_DTYPE), "scores", c->s.dtype = (attn_dtype)9)         \
    X("scores f16", F32_ONLY, "scores", c->s.dtype = ATTN_F16)                                 \
    X("k extent overflows", S(ATTN_ERR_OVERFLOW), "k", c->k.stride[1] = INT64_MAX / 3)         \
    X("scale NaN", S(ATTN_ERR_ARG), "scale", c->scale = NAN)                                   \
    X("scale inf", S(ATTN_ERR_ARG), "scale", c->scale = INFINITY)

static const ecase qk_cases[] = {QK_CASES(X_DESC)};

static void qk_mutate(ectx *c, size_t id)
{
    size_t i = 0;
#define X_MUT(what, want, words, stmt)                                                          \
    if (id == i++) {                                                                           \
        stmt;                                                                                  \
    }
    QK_CASES(X_MUT)
#undef X_MUT
}

static void qk_body(const char *isa)
{
    static ectx c;
    ectx_init(&c);
    cr_assert_eq(attn_qk(c.qp, c.kp, c.sp, c.scale), ATTN_OK, "[%s] unmutated attn_qk: %s", isa,
                 attn_last_error());
    for (size_t id = 0; id < NELEM(qk_cases); id++) {
        ectx_init(&c);
        qk_mutate(&c, id);
        snapshot(&c, c.before);
        const attn_status st = attn_qk(c.qp, c.kp, c.sp, c.scale);
        expect_error(st, qk_cases[id].want, "attn_qk", qk_cases[id].words, qk_cases[id].what,
                     isa);
        cr_expect(untouched(&c), "[%s] attn_qk: %s: a buffer changed", isa, qk_cases[id].what);
    }
}

Test(errors, qk_bad_input)
{
    each_isa(qk_body);
}

/* ------------------------------------------------------------------ attn_scale */

#define SCALE_CASES(X)                                                                         \
    X("x == NULL", S(ATTN_ERR_NULL), "x", c->sp = NULL)                                        \
    X("x.data == NULL", S(ATTN_ERR_NULL), "x", c->s.data = NULL)                               \
    X("x.shape[1] < 0", S(ATTN_ERR_SHAPE), "x", c->s.shape[1] = -2)                            \
    X("x.stride[0] < 0", S(ATTN_ERR_STRIDE), "x", c->s.stride[0] = -1)                         \
    X("x.stride[3] != 1", S(ATTN_ERR_STRIDE), "x", c->s.stride[3] = 2)                         \
    X("x.stride[2] == 0", S(ATTN_ERR_STRIDE), "x", c->s.stride[2] = 0)                         \
    X("x heads overlap", S(ATTN_ERR_STRIDE), "x", c->s.stride[1] = LK)                         \
    X("x.dtype unknown", S(ATTN_ERR_DTYPE), "x", c->s.dtype = (attn_dtype)7)                   \
    X("x f16", F32_ONLY, "x", c->s.dtype = ATTN_F16)                                           \
    X("x extent overflows", S(ATTN_ERR_OVERFLOW), "x", c->s.stride[0] = INT64_MAX / 2)         \
    X("scale NaN", S(ATTN_ERR_ARG), "scale", c->scale = NAN)                                   \
    X("scale -inf", S(ATTN_ERR_ARG), "scale", c->scale = -INFINITY)

static const ecase scale_cases[] = {SCALE_CASES(X_DESC)};

static void scale_mutate(ectx *c, size_t id)
{
    size_t i = 0;
#define X_MUT(what, want, words, stmt)                                                          \
    if (id == i++) {                                                                           \
        stmt;                                                                                  \
    }
    SCALE_CASES(X_MUT)
#undef X_MUT
}

static void scale_body(const char *isa)
{
    static ectx c;
    ectx_init(&c);
    cr_assert_eq(attn_scale(c.sp, 2.0f), ATTN_OK, "[%s] unmutated attn_scale: %s", isa,
                 attn_last_error());
    for (size_t id = 0; id < NELEM(scale_cases); id++) {
        ectx_init(&c);
        c.scale = 2.0f;
        scale_mutate(&c, id);
        snapshot(&c, c.before);
        const attn_status st = attn_scale(c.sp, c.scale);
        expect_error(st, scale_cases[id].want, "attn_scale", scale_cases[id].words,
                     scale_cases[id].what, isa);
        cr_expect(untouched(&c), "[%s] attn_scale: %s: a buffer changed", isa,
                  scale_cases[id].what);
    }
}

Test(errors, scale_bad_input)
{
    each_isa(scale_body);
}

/* ------------------------------------------------------------------ attn_softmax */

#define SOFTMAX_CASES(X)                                                                       \
    X("scores == NULL", S(ATTN_ERR_NULL), "scores", c->sp = NULL)                              \
    X("scores.data == NULL", S(ATTN_ERR_NULL), "scores", c->s.data = NULL)                     \
    X("lse.data == NULL", S(ATTN_ERR_NULL), "lse", c->l.data = NULL)                           \
    X("scores.shape[0] < 0", S(ATTN_ERR_SHAPE), "scores", c->s.shape[0] = -1)                  \
    X("lse.shape[2] != Lq", S(ATTN_ERR_SHAPE), "lse", c->l.shape[2] = LQ - 1)                  \
    X("lse.shape[1] != H", S(ATTN_ERR_SHAPE), "lse", c->l.shape[1] = 1)                        \
    X("scores.stride[3] != 1", S(ATTN_ERR_STRIDE), "scores", c->s.stride[3] = 0)               \
    X("scores.stride[1] < 0", S(ATTN_ERR_STRIDE), "scores", c->s.stride[1] = -LQ * LK)         \
    X("scores rows alias", S(ATTN_ERR_STRIDE), "scores", c->s.stride[2] = 0)                   \
    X("scores rows overlap", S(ATTN_ERR_STRIDE), "scores", c->s.stride[2] = 1)                 \
    X("lse rows alias", S(ATTN_ERR_STRIDE), "lse", c->l.stride[2] = 0)                         \
    X("scores.dtype unknown", S(ATTN_ERR_DTYPE), "scores", c->s.dtype = (attn_dtype)7)         \
    X("scores bf16", F32_ONLY, "scores", c->s.dtype = ATTN_BF16)                               \
    X("lse.dtype unknown", S(ATTN_ERR_DTYPE), "lse", c->l.dtype = (attn_dtype)7)               \
    X("scores extent overflows", S(ATTN_ERR_OVERFLOW), "scores", c->s.stride[0] = INT64_MAX / 2) \
    X("num_threads < 0", S(ATTN_ERR_ARG), "num_threads", c->opt.num_threads = -3)              \
    X("kv_len[0] < 0", S(ATTN_ERR_ARG), "kv_len", c->kvl[0] = -1)                              \
    X("kv_len[1] > Lk", S(ATTN_ERR_ARG), "kv_len", c->kvl[1] = LK + 1)

static const ecase softmax_cases[] = {SOFTMAX_CASES(X_DESC)};

static void softmax_mutate(ectx *c, size_t id)
{
    size_t i = 0;
#define X_MUT(what, want, words, stmt)                                                          \
    if (id == i++) {                                                                           \
        stmt;                                                                                  \
    }
    SOFTMAX_CASES(X_MUT)
#undef X_MUT
}

static void softmax_body(const char *isa)
{
    static ectx c;
    ectx_init(&c);
    cr_assert_eq(attn_softmax(c.sp, &c.opt), ATTN_OK, "[%s] unmutated attn_softmax: %s", isa,
                 attn_last_error());
    for (size_t id = 0; id < NELEM(softmax_cases); id++) {
        ectx_init(&c);
        softmax_mutate(&c, id);
        snapshot(&c, c.before);
        const attn_status st = attn_softmax(c.sp, &c.opt);
        expect_error(st, softmax_cases[id].want, "attn_softmax", softmax_cases[id].words,
                     softmax_cases[id].what, isa);
        cr_expect(untouched(&c), "[%s] attn_softmax: %s: a buffer changed", isa,
                  softmax_cases[id].what);
    }
}

Test(errors, softmax_bad_input)
{
    each_isa(softmax_body);
}

/* ------------------------------------------------------------------ attn_pv */

#define PV_CASES(X)                                                                            \
    X("probs == NULL", S(ATTN_ERR_NULL), "probs", c->sp = NULL)                                \
    X("v == NULL", S(ATTN_ERR_NULL), "v", c->vp = NULL)                                        \
    X("out == NULL", S(ATTN_ERR_NULL), "out", c->op = NULL)                                    \
    X("out.data == NULL", S(ATTN_ERR_NULL), "out", c->o.data = NULL)                           \
    X("probs.data == NULL", S(ATTN_ERR_NULL), "probs", c->s.data = NULL)                       \
    X("Dv == 0", S(ATTN_ERR_SHAPE), "v|out|Dv", (c->v.shape[3] = 0, c->o.shape[3] = 0))        \
    X("probs.shape[3] != Lk", S(ATTN_ERR_SHAPE), "probs|v", c->s.shape[3] = LK - 1)            \
    X("out.shape[3] != Dv", S(ATTN_ERR_SHAPE), "out|v", c->o.shape[3] = DV - 1)                \
    X("out.shape[2] != Lq", S(ATTN_ERR_SHAPE), "out|probs", c->o.shape[2] = LQ - 1)            \
    X("v.shape[0] != B", S(ATTN_ERR_SHAPE), "v|probs", c->v.shape[0] = 1)                      \
    X("Hq % Hkv != 0", S(ATTN_ERR_SHAPE), "probs|v|Hq|Hkv", c->v.shape[1] = 3)                 \
    X("v.stride[2] < 0", S(ATTN_ERR_STRIDE), "v", c->v.stride[2] = -6)                         \
    X("out.stride[1] == 0", S(ATTN_ERR_STRIDE), "out", c->o.stride[1] = 0)                     \
    X("out rows overlap", S(ATTN_ERR_STRIDE), "out", c->o.stride[2] = 2)                       \
    X("v.dtype unknown", S(ATTN_ERR_DTYPE), "v", c->v.dtype = (attn_dtype)7)                   \
    X("probs.dtype unknown", S(ATTN_ERR_DTYPE), "probs", c->s.dtype = (attn_dtype)7)           \
    X("out.dtype unknown", S(ATTN_ERR_DTYPE), "out", c->o.dtype = (attn_dtype)100)             \
    X("probs f16", F32_ONLY, "probs", c->s.dtype = ATTN_F16)                                   \
    X("v extent overflows", S(ATTN_ERR_OVERFLOW), "v", c->v.stride[2] = INT64_MAX / 4)

static const ecase pv_cases[] = {PV_CASES(X_DESC)};

static void pv_mutate(ectx *c, size_t id)
{
    size_t i = 0;
#define X_MUT(what, want, words, stmt)                                                          \
    if (id == i++) {                                                                           \
        stmt;                                                                                  \
    }
    PV_CASES(X_MUT)
#undef X_MUT
}

static void pv_body(const char *isa)
{
    static ectx c;
    ectx_init(&c);
    cr_assert_eq(attn_pv(c.sp, c.vp, c.op), ATTN_OK, "[%s] unmutated attn_pv: %s", isa,
                 attn_last_error());
    for (size_t id = 0; id < NELEM(pv_cases); id++) {
        ectx_init(&c);
        pv_mutate(&c, id);
        snapshot(&c, c.before);
        const attn_status st = attn_pv(c.sp, c.vp, c.op);
        expect_error(st, pv_cases[id].want, "attn_pv", pv_cases[id].words, pv_cases[id].what,
                     isa);
        cr_expect(untouched(&c), "[%s] attn_pv: %s: a buffer changed", isa, pv_cases[id].what);
    }
}

Test(errors, pv_bad_input)
{
    each_isa(pv_body);
}

/* ------------------------------------------------------------------ runtime API */

Test(errors, last_error_is_empty_before_any_error_and_per_thread)
{
    const char *e = attn_last_error();
    cr_assert(e != NULL && e[0] == '\0', "attn_last_error() before any error: \"%s\"",
              e ? e : "(null)");
}

static void *fail_in_thread(void *arg)
{
    (void)arg;
    const char *before = attn_last_error();
    const int empty_before = before && before[0] == '\0';
    attn_status st = attn_forward(NULL, NULL, NULL, NULL, NULL);
    const char *after = attn_last_error();
    return (void *)(intptr_t)(empty_before && st == ATTN_ERR_NULL && after && after[0]);
}

Test(errors, last_error_is_thread_local)
{
    attn_tensor bad = {NULL, ATTN_F32, {1, 1, 1, 1}, {1, 1, 1, 1}};
    cr_assert_eq(attn_scale(&bad, 1.0f), ATTN_ERR_NULL);
    char mine[512];
    snprintf(mine, sizeof mine, "%s", attn_last_error());
    cr_assert(mine[0] != '\0');
    pthread_t t;
    void *ok = NULL;
    cr_assert_eq(pthread_create(&t, NULL, fail_in_thread, NULL), 0);
    cr_assert_eq(pthread_join(t, &ok), 0);
    cr_expect(ok != NULL, "another thread saw a non-empty message before its first error, or "
                          "got no message of its own");
    cr_expect_str_eq(attn_last_error(), mine, "another thread's error changed this thread's");
}

Test(errors, set_isa_rejects_unknown_and_unsupported)
{
    const attn_isa cur = attn_get_isa();
    cr_assert(attn_isa_supported(cur), "the current ISA %s is not supported?", attn_isa_name(cur));
    const attn_isa bad[] = {(attn_isa)42, (attn_isa)-1, (attn_isa)(ATTN_ISA_NEON + 1)};
    for (size_t i = 0; i < NELEM(bad); i++) {
        const attn_status st = attn_set_isa(bad[i]);
        cr_expect_eq(st, ATTN_ERR_ARG, "attn_set_isa(%d) = %s, want ATTN_ERR_ARG", (int)bad[i],
                     sname(st));
        cr_expect_eq(attn_get_isa(), cur, "attn_set_isa(%d) changed the ISA", (int)bad[i]);
        const char *e = attn_last_error();
        cr_expect(e && e[0] && strstr(e, "attn_set_isa"), "attn_set_isa(%d): message \"%s\"",
                  (int)bad[i], e ? e : "(null)");
    }
    for (int i = ATTN_ISA_SCALAR; i <= ATTN_ISA_NEON; i++) {
        if (attn_isa_supported((attn_isa)i))
            continue;
        const attn_status st = attn_set_isa((attn_isa)i);
        cr_expect_eq(st, ATTN_ERR_UNSUPPORTED, "attn_set_isa(%s) on a host without it = %s",
                     attn_isa_name((attn_isa)i), sname(st));
        cr_expect_eq(attn_get_isa(), cur, "attn_set_isa(%s) changed the ISA",
                     attn_isa_name((attn_isa)i));
    }
    cr_expect(attn_isa_supported(ATTN_ISA_SCALAR), "scalar is always supported");
    cr_expect(!attn_isa_supported((attn_isa)42) && !attn_isa_supported((attn_isa)-1),
              "attn_isa_supported of an unknown value");
}

Test(errors, isa_names)
{
    cr_expect_str_eq(attn_isa_name(ATTN_ISA_SCALAR), "scalar");
    cr_expect_str_eq(attn_isa_name(ATTN_ISA_AVX2), "avx2");
    cr_expect_str_eq(attn_isa_name(ATTN_ISA_AVX512), "avx512");
    cr_expect_str_eq(attn_isa_name(ATTN_ISA_NEON), "neon");
    const attn_isa unknown[] = {(attn_isa)4, (attn_isa)42, (attn_isa)-1, (attn_isa)1000000};
    for (size_t i = 0; i < NELEM(unknown); i++) {
        const char *n = attn_isa_name(unknown[i]);
        cr_expect(n && strcmp(n, "unknown") == 0, "attn_isa_name(%d) = %s", (int)unknown[i],
                  n ? n : "(null)");
    }
    cr_expect(attn_isa_name(attn_get_isa()) && strcmp(attn_isa_name(attn_get_isa()), "unknown"),
              "the ISA in use has a name");
}

Test(errors, status_strings)
{
    for (int s = -5; s <= 40; s++) {
        const char *str = attn_status_str((attn_status)s);
        cr_assert(str != NULL && str[0] != '\0', "attn_status_str(%d) is NULL or empty", s);
        if (s >= 0 && (size_t)s < NELEM(status_names)) {
            cr_expect(strstr(str, status_names[s]) == str, "attn_status_str(%s) = \"%s\"",
                      status_names[s], str);
            for (int t = 0; t < s; t++)
                cr_expect(strcmp(str, attn_status_str((attn_status)t)) != 0,
                          "statuses %d and %d share the string \"%s\"", t, s, str);
        }
    }
    cr_expect(attn_status_str((attn_status)1000000)[0] != '\0');
}

/* ------------------------------------------------------------------ masks and modifiers */

/* attn_forward, attn_forward_workspace and attn_softmax with every modifier
 * of issue 5 on (windows, bias, ALiBi, softcap, sinks): bad values are
 * refused before anything is written. */
typedef struct mctx {
    ectx e;
    float bias32[B * HQ * LQ * LK];
    float alibi[HQ], sinks[HQ];
    attn_tensor bias;
    unsigned char bias_before[sizeof(float) * B * HQ * LQ * LK];
} mctx;

static void mctx_init(mctx *c)
{
    ectx_init(&c->e);
    tu_rng r = {11};
    for (size_t i = 0; i < NELEM(c->bias32); i++)
        c->bias32[i] = i % 7 == 3 ? -INFINITY : (float)tu_uniform(&r, -1, 1);
    for (int h = 0; h < HQ; h++) {
        c->alibi[h] = 0.25f / (float)(h + 1);
        c->sinks[h] = (float)h - 1.0f;
    }
    c->bias = contiguous(c->bias32, B, HQ, LQ, LK);
    c->e.opt.bias = &c->bias;
    c->e.opt.window_left = 2;
    c->e.opt.window_right = 1;
    c->e.opt.alibi_slopes = c->alibi;
    c->e.opt.softcap = 5.0f;
    c->e.opt.sinks = c->sinks;
    memcpy(c->bias_before, c->bias32, sizeof c->bias32);
}

/* X(what, want, words, mutation) — c is an mctx * */
#define MODS_CASES(X)                                                                          \
    X("window_left < 0", S(ATTN_ERR_ARG), "window_left", c->e.opt.window_left = -1)            \
    X("window_left = INT32_MIN", S(ATTN_ERR_ARG), "window_left",                               \
      c->e.opt.window_left = INT32_MIN)                                                        \
    X("window_right < 0", S(ATTN_ERR_ARG), "window_right", c->e.opt.window_right = -5)         \
    X("softcap < 0", S(ATTN_ERR_ARG), "softcap", c->e.opt.softcap = -1.0f)                     \
    X("softcap NaN", S(ATTN_ERR_ARG), "softcap", c->e.opt.softcap = NAN)                       \
    X("softcap +inf", S(ATTN_ERR_ARG), "softcap", c->e.opt.softcap = INFINITY)                 \
    X("softcap -inf", S(ATTN_ERR_ARG), "softcap", c->e.opt.softcap = -INFINITY)                \
    X("bias.data == NULL", S(ATTN_ERR_NULL), "bias", c->bias.data = NULL)                      \
    X("bias.shape[0] = 3 (not B or 1)", S(ATTN_ERR_SHAPE), "bias", c->bias.shape[0] = 3)       \
    X("bias.shape[1] = Hkv (not Hq or 1)", S(ATTN_ERR_SHAPE), "bias", c->bias.shape[1] = HKV)  \
    X("bias.shape[1] = 3", S(ATTN_ERR_SHAPE), "bias", c->bias.shape[1] = 3)                    \
    X("bias.shape[2] = Lq - 1", S(ATTN_ERR_SHAPE), "bias", c->bias.shape[2] = LQ - 1)          \
    X("bias.shape[2] = 1 (rows broadcast by stride only)", S(ATTN_ERR_SHAPE), "bias",          \
      c->bias.shape[2] = 1)                                                                    \
    X("bias.shape[3] = Lk + 1", S(ATTN_ERR_SHAPE), "bias", c->bias.shape[3] = LK + 1)          \
    X("bias.shape[3] = 1", S(ATTN_ERR_SHAPE), "bias", c->bias.shape[3] = 1)                    \
    X("bias.shape[0] < 0", S(ATTN_ERR_SHAPE), "bias", c->bias.shape[0] = -1)                   \
    X("bias bf16", S(ATTN_ERR_DTYPE), "bias", c->bias.dtype = ATTN_BF16)                       \
    X("bias.dtype unknown (7)", S(ATTN_ERR_DTYPE), "bias", c->bias.dtype = (attn_dtype)7)      \
    X("bias.dtype unknown (-1)", S(ATTN_ERR_DTYPE), "bias", c->bias.dtype = (attn_dtype)-1)    \
    X("bias.stride[3] = 2", S(ATTN_ERR_STRIDE), "bias", c->bias.stride[3] = 2)                 \
    X("bias.stride[3] = 0", S(ATTN_ERR_STRIDE), "bias", c->bias.stride[3] = 0)                 \
    X("bias.stride[2] < 0", S(ATTN_ERR_STRIDE), "bias", c->bias.stride[2] = -LK)               \
    X("bias.stride[0] < 0", S(ATTN_ERR_STRIDE), "bias", c->bias.stride[0] = -1)                \
    X("bias extent overflows", S(ATTN_ERR_OVERFLOW), "bias", c->bias.stride[0] = INT64_MAX / 2)

static const ecase mods_cases[] = {MODS_CASES(X_DESC)};

static void mods_mutate(mctx *c, size_t id)
{
    size_t i = 0;
#define X_MUT(what, want, words, stmt)                                                          \
    if (id == i++) {                                                                           \
        stmt;                                                                                  \
    }
    MODS_CASES(X_MUT)
#undef X_MUT
}

enum { M_FORWARD, M_WORKSPACE, M_SOFTMAX };

static attn_status mods_call(mctx *c, int which, size_t *bytes)
{
    switch (which) {
    case M_FORWARD: return attn_forward(c->e.qp, c->e.kp, c->e.vp, c->e.op, &c->e.opt);
    case M_WORKSPACE:
        return attn_forward_workspace(c->e.qp, c->e.kp, c->e.vp, c->e.op, &c->e.opt, bytes);
    default: return attn_softmax(c->e.sp, &c->e.opt);
    }
}

static void mods_body_for(const char *isa, int which)
{
    static const char *const fns[] = {"attn_forward", "attn_forward_workspace", "attn_softmax"};
    static mctx c;
    size_t bytes = 0;
    mctx_init(&c);
    attn_status st = mods_call(&c, which, &bytes);
    cr_assert_eq(st, ATTN_OK, "[%s] %s with every modifier: %s", isa, fns[which],
                 attn_last_error());
    /* valid broadcasts: shape 1, zero strides, f16 */
    mctx_init(&c);
    c.bias.shape[0] = 1, c.bias.shape[1] = 1, c.bias.stride[0] = 12345, c.bias.stride[1] = 0;
    c.bias.stride[2] = 0;
    cr_assert_eq(mods_call(&c, which, &bytes), ATTN_OK, "[%s] %s: broadcast bias: %s", isa,
                 fns[which], attn_last_error());
    mctx_init(&c);
    c.bias.dtype = ATTN_F16; /* the same bytes read as f16: values of any kind */
    c.bias.shape[3] = LK;
    cr_assert_eq(mods_call(&c, which, &bytes), ATTN_OK, "[%s] %s: f16 bias: %s", isa, fns[which],
                 attn_last_error());
    mctx_init(&c);
    c.e.opt.window_left = INT32_MAX, c.e.opt.window_right = INT32_MAX, c.e.opt.softcap = 1e30f;
    cr_assert_eq(mods_call(&c, which, &bytes), ATTN_OK, "[%s] %s: huge windows/softcap: %s", isa,
                 fns[which], attn_last_error());
    for (size_t id = 0; id < NELEM(mods_cases); id++) {
        mctx_init(&c);
        mods_mutate(&c, id);
        snapshot(&c.e, c.e.before);
        st = mods_call(&c, which, &bytes);
        expect_error(st, mods_cases[id].want, fns[which], mods_cases[id].words,
                     mods_cases[id].what, isa);
        cr_expect(untouched(&c.e) && memcmp(c.bias32, c.bias_before, sizeof c.bias32) == 0,
                  "[%s] %s: %s: a buffer changed", isa, fns[which], mods_cases[id].what);
    }
}

static void mods_forward_body(const char *isa) { mods_body_for(isa, M_FORWARD); }
static void mods_workspace_body(const char *isa) { mods_body_for(isa, M_WORKSPACE); }
static void mods_softmax_body(const char *isa) { mods_body_for(isa, M_SOFTMAX); }

Test(errors, forward_bad_modifiers) { each_isa(mods_forward_body); }
Test(errors, workspace_bad_modifiers) { each_isa(mods_workspace_body); }
Test(errors, softmax_bad_modifiers) { each_isa(mods_softmax_body); }

/* attn_forward_workspace validates exactly as attn_forward does. */
static void workspace_body(const char *isa)
{
    static ectx c;
    size_t bytes = 0;
    ectx_init(&c);
    cr_assert_eq(attn_forward_workspace(c.qp, c.kp, c.vp, c.op, &c.opt, &bytes), ATTN_OK,
                 "[%s] unmutated attn_forward_workspace: %s", isa, attn_last_error());
    cr_expect_gt(bytes, 0, "[%s] attn_forward_workspace: 0 bytes for a real call", isa);
    for (size_t id = 0; id < NELEM(forward_cases); id++) {
        ectx_init(&c);
        forward_mutate(&c, id);
        snapshot(&c, c.before);
        const attn_status st = attn_forward_workspace(c.qp, c.kp, c.vp, c.op, &c.opt, &bytes);
        expect_error(st, forward_cases[id].want, "attn_forward_workspace",
                     forward_cases[id].words, forward_cases[id].what, isa);
        cr_expect(untouched(&c), "[%s] attn_forward_workspace: %s: a buffer changed", isa,
                  forward_cases[id].what);
    }
    ectx_init(&c);
    expect_error(attn_forward_workspace(c.qp, c.kp, c.vp, c.op, &c.opt, NULL), S(ATTN_ERR_NULL),
                 "attn_forward_workspace", "bytes", "bytes == NULL", isa);
    expect_error(attn_forward_workspace(NULL, c.kp, c.vp, c.op, &c.opt, &bytes),
                 S(ATTN_ERR_NULL), "attn_forward_workspace", "q", "q == NULL", isa);
    expect_error(attn_forward_workspace(c.qp, c.kp, c.vp, NULL, &c.opt, &bytes),
                 S(ATTN_ERR_NULL), "attn_forward_workspace", "out", "out == NULL", isa);
}

Test(errors, workspace_bad_input) { each_isa(workspace_body); }

/* ------------------------------------------------------------------ attn_merge */

enum { NSH = 3 };

typedef struct gctx {
    float ob[NSH][B * HQ * LQ * DV], lb[NSH][B * HQ * LQ];
    float out[B * HQ * LQ * DV], lse[B * HQ * LQ];
    attn_tensor outs[NSH], lses[NSH], o, l;
    const attn_tensor *outsp, *lsesp, *op, *lp;
    int n;
    unsigned char before[sizeof(float) * (NSH * B * HQ * LQ * (DV + 1) + B * HQ * LQ * (DV + 1))];
} gctx;

static void gctx_snapshot(const gctx *c, unsigned char *dst)
{
    size_t off = 0;
    memcpy(dst + off, c->ob, sizeof c->ob), off += sizeof c->ob;
    memcpy(dst + off, c->lb, sizeof c->lb), off += sizeof c->lb;
    memcpy(dst + off, c->out, sizeof c->out), off += sizeof c->out;
    memcpy(dst + off, c->lse, sizeof c->lse);
}

static int gctx_untouched(const gctx *c)
{
    unsigned char now[sizeof c->before];
    gctx_snapshot(c, now);
    return memcmp(now, c->before, sizeof now) == 0;
}

static void gctx_init(gctx *c)
{
    memset(c, 0, sizeof *c);
    tu_rng r = {13};
    for (int s = 0; s < NSH; s++) {
        for (size_t i = 0; i < NELEM(c->ob[s]); i++)
            c->ob[s][i] = (float)tu_uniform(&r, -1, 1);
        for (size_t i = 0; i < NELEM(c->lb[s]); i++)
            c->lb[s][i] = (float)tu_uniform(&r, -2, 2);
        c->outs[s] = contiguous(c->ob[s], B, HQ, LQ, DV);
        c->lses[s] = contiguous(c->lb[s], B, HQ, LQ, 1);
    }
    memset(c->out, 0xA5, sizeof c->out);
    memset(c->lse, 0x5A, sizeof c->lse);
    c->o = contiguous(c->out, B, HQ, LQ, DV);
    c->l = contiguous(c->lse, B, HQ, LQ, 1);
    c->outsp = c->outs, c->lsesp = c->lses, c->op = &c->o, c->lp = &c->l;
    c->n = NSH;
}

#define MERGE_CASES(X)                                                                         \
    X("n = 0", S(ATTN_ERR_ARG), "n", c->n = 0)                                                 \
    X("n = -1", S(ATTN_ERR_ARG), "n", c->n = -1)                                               \
    X("n = INT_MIN", S(ATTN_ERR_ARG), "n", c->n = INT32_MIN)                                   \
    X("outs == NULL", S(ATTN_ERR_NULL), "outs", c->outsp = NULL)                               \
    X("lses == NULL", S(ATTN_ERR_NULL), "lses", c->lsesp = NULL)                               \
    X("out == NULL", S(ATTN_ERR_NULL), "out", c->op = NULL)                                    \
    X("out.data == NULL", S(ATTN_ERR_NULL), "out", c->o.data = NULL)                           \
    X("outs[1].data == NULL", S(ATTN_ERR_NULL), "outs", c->outs[1].data = NULL)                \
    X("lses[2].data == NULL", S(ATTN_ERR_NULL), "lses", c->lses[2].data = NULL)                \
    X("lse.data == NULL", S(ATTN_ERR_NULL), "lse", c->l.data = NULL)                           \
    X("outs[1].shape[3] != Dv", S(ATTN_ERR_SHAPE), "outs", c->outs[1].shape[3] = DV - 1)       \
    X("outs[2].shape[0] != B", S(ATTN_ERR_SHAPE), "outs", c->outs[2].shape[0] = 1)             \
    X("outs[0].shape[2] != Lq", S(ATTN_ERR_SHAPE), "outs", c->outs[0].shape[2] = LQ + 1)       \
    X("lses[0].shape[2] != Lq", S(ATTN_ERR_SHAPE), "lses", c->lses[0].shape[2] = LQ - 1)       \
    X("lses[1].shape[3] = 2", S(ATTN_ERR_SHAPE) | S(ATTN_ERR_STRIDE), "lses",                   \
      c->lses[1].shape[3] = 2)                                                                 \
    X("lse.shape[1] != H", S(ATTN_ERR_SHAPE), "lse", c->l.shape[1] = 1)                        \
    X("out.shape[2] != the shards'", S(ATTN_ERR_SHAPE), "out|outs|lse",                       \
      c->o.shape[2] = LQ - 1)                                                                  \
    X("outs[2].shape[1] < 0", S(ATTN_ERR_SHAPE), "outs", c->outs[2].shape[1] = -1)             \
    X("outs[0] f16", F32_ONLY, "outs", c->outs[0].dtype = ATTN_F16)                            \
    X("lses[1] bf16", F32_ONLY, "lses", c->lses[1].dtype = ATTN_BF16)                          \
    X("out f16", F32_ONLY, "out", c->o.dtype = ATTN_F16)                                       \
    X("lse.dtype unknown", S(ATTN_ERR_DTYPE), "lse", c->l.dtype = (attn_dtype)9)               \
    X("outs[2].dtype unknown", S(ATTN_ERR_DTYPE), "outs", c->outs[2].dtype = (attn_dtype)-3)   \
    X("out.stride[2] == 0", S(ATTN_ERR_STRIDE), "out", c->o.stride[2] = 0)                     \
    X("out rows overlap", S(ATTN_ERR_STRIDE), "out", c->o.stride[2] = DV - 1)                  \
    X("lse rows alias", S(ATTN_ERR_STRIDE), "lse", c->l.stride[2] = 0)                         \
    X("outs[1].stride[3] = 2", S(ATTN_ERR_STRIDE), "outs", c->outs[1].stride[3] = 2)           \
    X("outs[0].stride[1] < 0", S(ATTN_ERR_STRIDE), "outs", c->outs[0].stride[1] = -1)          \
    X("lses[2].stride[0] < 0", S(ATTN_ERR_STRIDE), "lses", c->lses[2].stride[0] = -4)          \
    X("out extent overflows", S(ATTN_ERR_OVERFLOW), "out", c->o.stride[0] = INT64_MAX / 2)     \
    X("outs[1] extent overflows", S(ATTN_ERR_OVERFLOW), "outs",                                \
      c->outs[1].stride[1] = INT64_MAX / 3)

static const ecase merge_cases[] = {MERGE_CASES(X_DESC)};

static void merge_mutate(gctx *c, size_t id)
{
    size_t i = 0;
#define X_MUT(what, want, words, stmt)                                                          \
    if (id == i++) {                                                                           \
        stmt;                                                                                  \
    }
    MERGE_CASES(X_MUT)
#undef X_MUT
}

Test(errors, merge_bad_input)
{
    static gctx c;
    gctx_init(&c);
    cr_assert_eq(attn_merge(c.outsp, c.lsesp, c.n, c.op, c.lp), ATTN_OK, "unmutated attn_merge: %s",
                 attn_last_error());
    gctx_init(&c);
    cr_assert_eq(attn_merge(c.outsp, c.lsesp, c.n, c.op, NULL), ATTN_OK, "lse = NULL: %s",
                 attn_last_error());
    for (size_t id = 0; id < NELEM(merge_cases); id++) {
        gctx_init(&c);
        merge_mutate(&c, id);
        gctx_snapshot(&c, c.before);
        const attn_status st = attn_merge(c.outsp, c.lsesp, c.n, c.op, c.lp);
        expect_error(st, merge_cases[id].want, "attn_merge", merge_cases[id].words,
                     merge_cases[id].what, "any");
        cr_expect(gctx_untouched(&c), "attn_merge: %s: a buffer changed", merge_cases[id].what);
    }
}

/* An extent of exactly INT64_MAX elements (found by tests/fuzz: the message
 * once computed INT64_MAX + 1 in signed arithmetic). */
Test(errors, extent_of_int64_max_elements)
{
    float x[2] = {0, 0};
    attn_tensor t;
    memset(&t, 0, sizeof t);
    t.data = x;
    t.dtype = ATTN_F32;
    const int64_t shape[4] = {1, 2, 1, 1}, stride[4] = {1, INT64_MAX, 1, 1};
    memcpy(t.shape, shape, sizeof shape);
    memcpy(t.stride, stride, sizeof stride);
    cr_assert_eq(attn_scale(&t, 2.0f), ATTN_ERR_OVERFLOW);
    cr_assert(strstr(attn_last_error(), "9223372036854775808 elements") != NULL, "%s",
              attn_last_error());
    cr_assert(x[0] == 0.0f && x[1] == 0.0f);
}
