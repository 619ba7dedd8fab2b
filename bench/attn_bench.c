/*
 * attn_bench — how fast attn_forward runs, per shape, kernel set and thread
 * count, next to the limits of the machine it runs on, measured in the same
 * run (DESIGN §5):
 *
 *   prefill  GFLOP/s and % of the FMA peak of that ISA on that many threads;
 *            FLOPs = 2 · B · Hq · (D + Dv) · (visible query-key pairs), i.e.
 *            4 · B · Hq · pairs · d when D = Dv, the pairs a causal or
 *            sliding-window mask leaves counted exactly (bottom-right
 *            aligned, as attn_forward masks);
 *   decode   (Lq ≤ 16) also GB/s of unique K/V bytes read and % of the read
 *            bandwidth of a streaming sum over a buffer much larger than the
 *            last-level cache; the caches are flushed before each repetition
 *            (a KV cache of many layers is not cache-resident).
 *
 * Score modifiers (--window, --alibi, --softcap, --sinks) and 16-bit inputs
 * (--dtype, --kv-dtype) apply to every shape of the run; --mem adds the peak
 * resident memory of each run.
 *
 * Each figure is the median of --reps timed repetitions after a warm-up.
 * --baseline blas times the same attention composed from cblas_sgemm +
 * softmax + cblas_sgemm on the same tensors, and prints the ratio.
 *
 * Run `attn_bench --help` for the flags.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "attn.h"
#include "probes.h"
#if BENCH_HAVE_BLAS
#include "baseline.h"
#endif

#define MAX_SHAPES 16
#define MAX_LIST 16
#define DECODE_MAX_LQ 16

typedef struct shape {
    char name[16];
    int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
    int causal;
} shape;

/* The standard shapes (issue 3). */
static const shape suite_shapes[] = {
    {"S1", 1, 8, 8, 512, 512, 64, 64, 0},
    {"S2", 1, 8, 8, 2048, 2048, 128, 128, 0},
    {"S3", 1, 8, 8, 2048, 2048, 128, 128, 1},
    {"S4", 1, 32, 32, 1, 4096, 128, 128, 0},
    {"S5", 1, 32, 8, 1, 8192, 128, 128, 0},
};

enum { FMT_TEXT, FMT_CSV, FMT_JSON };

typedef struct config {
    shape shapes[MAX_SHAPES];
    int nshapes;
    attn_isa isas[MAX_LIST];
    int nisas;          /* 0: the library's choice */
    int threads[MAX_LIST];
    int nthreads;       /* 0 in the list = the library default */
    int reps, warmup;
    double min_rep_ms;  /* warm runs repeat the call until a repetition lasts this long */
    int bshd;           /* layout [B,S,H,D] instead of [B,H,S,D] */
    int blas;
    int fmt;
    int probes;
    int warm_decode;    /* do not flush the caches before decode repetitions */
    double bw_mib;      /* 0: from the L3 size */
    double probe_s;
    uint64_t seed;
    /* applied to every shape */
    int32_t window_left, window_right; /* 0: unbounded */
    int alibi, sinks;
    float softcap;
    attn_dtype qo_dtype, kv_dtype;
    int mem;            /* report peak resident memory */
} config;

/* ---------------------------------------------------------------- output */

static int g_fmt = FMT_TEXT;

/* Comments: '#' lines on stdout in text mode, stderr otherwise. */
static void note(const char *fmt, ...)
{
    va_list ap;
    FILE *f = g_fmt == FMT_TEXT ? stdout : stderr;
    va_start(ap, fmt);
    fputs("# ", f);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    va_end(ap);
}

static _Noreturn void die(int code, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    va_start(ap, fmt);
    fputs("attn_bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

static const char *fmt_bytes(double b, char *buf, size_t n)
{
    if (b >= 1024.0 * 1024 * 1024)
        snprintf(buf, n, "%.3g GiB", b / (1024.0 * 1024 * 1024));
    else if (b >= 1024.0 * 1024)
        snprintf(buf, n, "%.3g MiB", b / (1024.0 * 1024));
    else
        snprintf(buf, n, "%.3g KiB", b / 1024.0);
    return buf;
}

/* ----------------------------------------------------------------- usage */

static void usage(FILE *f)
{
    fputs(
        "usage: attn_bench [options]\n"
        "Times attn_forward (f32) and prints, per shape x ISA x thread count, the median\n"
        "time, GFLOP/s and %% of the FMA peak measured in the same run (decode shapes:\n"
        "also GB/s of K/V read and %% of the measured read bandwidth).\n"
        "\n"
        "shape (any of these adds a shape; unset ones default to S1):\n"
        "  --batch N            B (1)\n"
        "  --heads N            query heads Hq (8)\n"
        "  --kv-heads N         K/V heads Hkv, Hq %% Hkv == 0 (= heads)\n"
        "  --seq N              Lq = Lk = N\n"
        "  --seq-q N            query rows Lq (512)\n"
        "  --seq-k N            keys Lk (= seq-q)\n"
        "  --dim N              head dim D (64)\n"
        "  --dim-v N            value dim Dv (= dim)\n"
        "  --causal             causal mask, bottom-right aligned\n"
        "  --suite NAME         prefill (S1 S2 S3) | decode (S4 S5) | all, plus any shape above\n"
        "                       S1 B1 H8 L512 d64; S2 B1 H8 L2048 d128; S3 = S2 causal;\n"
        "                       S4 B1 H32 Lq1 Lk4096 d128; S5 B1 Hq32 Hkv8 Lq1 Lk8192 d128\n"
        "  --layout L           bhsd (default) or bshd (KV-cache layout, strided views)\n"
        "modifiers and dtypes (every shape of the run):\n"
        "  --window L[:R]       sliding window: keys more than L before (R after) the row's\n"
        "                       diagonal are masked; 0 = unbounded (R defaults to 0)\n"
        "  --alibi              ALiBi with the usual slopes 2^(-8(h+1)/Hq)\n"
        "  --softcap X          scores become X*tanh(score/X) (e.g. 30, 50)\n"
        "  --sinks              one sink logit per head (values 0..1)\n"
        "  --dtype T            f32 | f16 | bf16 for Q, K, V and the output [f32]\n"
        "  --kv-dtype T         f32 | f16 | bf16 for K and V only (after --dtype)\n"
        "run:\n"
        "  --isa LIST           scalar,avx2,avx512,neon | all (every set this CPU runs);\n"
        "                       default: the library's choice (ATTN_ISA is honoured)\n"
        "  --threads LIST       e.g. 1,2; 0 = library default (physical cores) [0]\n"
        "  --reps N             timed repetitions, median reported [5]\n"
        "  --warmup N           untimed calls first [1]\n"
        "  --min-ms X           repeat the call within a repetition until it lasts X ms [20]\n"
        "                       (not for decode shapes, which run once per flushed cache)\n"
        "  --warm-cache         decode: do not flush the caches before each repetition\n"
        "  --baseline blas      also time cblas_sgemm + softmax + cblas_sgemm, print the ratio\n"
        "  --no-probe           skip the FMA-peak and bandwidth probes\n"
        "  --probe-ms X         length of one FMA-peak timing (best of 5) [50]\n"
        "  --bw-mib N           bandwidth-probe buffer in MiB [4 x L3, 256..1024]\n"
        "  --seed N             input data seed [1]\n"
        "  --mem                peak resident memory (VmHWM) of each run, and how much of it\n"
        "                       the run added over the inputs (the library's workspace)\n"
        "output:\n"
        "  --csv | --json       machine-readable rows on stdout (notes go to stderr)\n"
        "  --help\n",
        f);
}

/* ---------------------------------------------------------- arg parsing */

static int64_t parse_int(const char *opt, const char *s, int64_t lo, int64_t hi)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        die(2, "%s: '%s' is not an integer in %" PRId64 "..%" PRId64, opt, s, lo, hi);
    return (int64_t)v;
}

static double parse_double(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        die(2, "%s: '%s' is not a number in %g..%g", opt, s, lo, hi);
    return v;
}

static int parse_isa(const char *name, attn_isa *isa)
{
    for (int i = ATTN_ISA_SCALAR; i <= ATTN_ISA_NEON; i++)
        if (strcmp(name, attn_isa_name((attn_isa)i)) == 0) {
            *isa = (attn_isa)i;
            return 1;
        }
    return 0;
}

/* Splits a comma list into items; calls fn on each. */
static void for_each_item(const char *list, void (*fn)(const char *item, void *ctx), void *ctx)
{
    char buf[256];
    if (strlen(list) >= sizeof buf)
        die(2, "list too long: %s", list);
    strcpy(buf, list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        fn(tok, ctx);
}

static void add_isa(const char *item, void *ctx)
{
    config *c = ctx;
    if (strcmp(item, "all") == 0) {
        for (int i = ATTN_ISA_SCALAR; i <= ATTN_ISA_NEON; i++)
            if (attn_isa_supported((attn_isa)i) && c->nisas < MAX_LIST)
                c->isas[c->nisas++] = (attn_isa)i;
        return;
    }
    attn_isa isa;
    if (!parse_isa(item, &isa))
        die(2, "--isa: unknown kernel set '%s' (scalar, avx2, avx512, neon, all)", item);
    if (!attn_isa_supported(isa))
        die(2, "--isa %s: this CPU or build cannot run it (attn_info lists what it can)", item);
    if (c->nisas == MAX_LIST)
        die(2, "--isa: too many entries");
    c->isas[c->nisas++] = isa;
}

static void add_threads(const char *item, void *ctx)
{
    config *c = ctx;
    if (c->nthreads == MAX_LIST)
        die(2, "--threads: too many entries");
    c->threads[c->nthreads++] = (int)parse_int("--threads", item, 0, 4096);
}

static attn_dtype parse_dtype(const char *opt, const char *a)
{
    if (strcmp(a, "f32") == 0) return ATTN_F32;
    if (strcmp(a, "f16") == 0) return ATTN_F16;
    if (strcmp(a, "bf16") == 0) return ATTN_BF16;
    die(2, "%s: f32, f16 or bf16, not '%s'", opt, a);
    return ATTN_F32;
}

static void parse_window(const char *a, config *c)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", a);
    char *colon = strchr(buf, ':');
    if (colon)
        *colon = 0;
    c->window_left = (int32_t)parse_int("--window", buf, 0, INT32_MAX);
    c->window_right = colon ? (int32_t)parse_int("--window", colon + 1, 0, INT32_MAX) : 0;
}

static void add_shape(config *c, const shape *s)
{
    if (c->nshapes == MAX_SHAPES)
        die(2, "too many shapes");
    c->shapes[c->nshapes++] = *s;
}

static void parse_args(int argc, char **argv, config *c)
{
    enum {
        O_BATCH = 256, O_HEADS, O_KVHEADS, O_SEQ, O_SEQQ, O_SEQK, O_DIM, O_DIMV, O_CAUSAL,
        O_SUITE, O_LAYOUT, O_ISA, O_THREADS, O_REPS, O_WARMUP, O_MINMS, O_WARMCACHE,
        O_BASELINE, O_NOPROBE, O_PROBEMS, O_BWMIB, O_SEED, O_CSV, O_JSON, O_HELP,
        O_WINDOW, O_ALIBI, O_SOFTCAP, O_SINKS, O_DTYPE, O_KVDTYPE, O_MEM
    };
    static const struct option opts[] = {
        {"batch", required_argument, 0, O_BATCH},
        {"heads", required_argument, 0, O_HEADS},
        {"kv-heads", required_argument, 0, O_KVHEADS},
        {"seq", required_argument, 0, O_SEQ},
        {"seq-q", required_argument, 0, O_SEQQ},
        {"seq-k", required_argument, 0, O_SEQK},
        {"dim", required_argument, 0, O_DIM},
        {"dim-v", required_argument, 0, O_DIMV},
        {"causal", no_argument, 0, O_CAUSAL},
        {"suite", required_argument, 0, O_SUITE},
        {"layout", required_argument, 0, O_LAYOUT},
        {"isa", required_argument, 0, O_ISA},
        {"threads", required_argument, 0, O_THREADS},
        {"reps", required_argument, 0, O_REPS},
        {"warmup", required_argument, 0, O_WARMUP},
        {"min-ms", required_argument, 0, O_MINMS},
        {"warm-cache", no_argument, 0, O_WARMCACHE},
        {"baseline", required_argument, 0, O_BASELINE},
        {"no-probe", no_argument, 0, O_NOPROBE},
        {"probe-ms", required_argument, 0, O_PROBEMS},
        {"bw-mib", required_argument, 0, O_BWMIB},
        {"seed", required_argument, 0, O_SEED},
        {"csv", no_argument, 0, O_CSV},
        {"json", no_argument, 0, O_JSON},
        {"help", no_argument, 0, O_HELP},
        {"window", required_argument, 0, O_WINDOW},
        {"alibi", no_argument, 0, O_ALIBI},
        {"softcap", required_argument, 0, O_SOFTCAP},
        {"sinks", no_argument, 0, O_SINKS},
        {"dtype", required_argument, 0, O_DTYPE},
        {"kv-dtype", required_argument, 0, O_KVDTYPE},
        {"mem", no_argument, 0, O_MEM},
        {0, 0, 0, 0},
    };
    const int64_t big = INT64_C(1) << 31;
    int64_t B = -1, Hq = -1, Hkv = -1, Lq = -1, Lk = -1, D = -1, Dv = -1;
    int causal = 0, custom = 0;
    const char *suite = NULL;
    attn_dtype kv_dtype = (attn_dtype)-1;

    memset(c, 0, sizeof *c);
    c->reps = 5;
    c->warmup = 1;
    c->min_rep_ms = 20.0;
    c->probes = 1;
    c->probe_s = 0.05;
    c->seed = 1;

    int o;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const char *a = optarg;
        switch (o) {
        case O_BATCH: B = parse_int("--batch", a, 1, big), custom = 1; break;
        case O_HEADS: Hq = parse_int("--heads", a, 1, big), custom = 1; break;
        case O_KVHEADS: Hkv = parse_int("--kv-heads", a, 1, big), custom = 1; break;
        case O_SEQ: Lq = Lk = parse_int("--seq", a, 1, big), custom = 1; break;
        case O_SEQQ: Lq = parse_int("--seq-q", a, 1, big), custom = 1; break;
        case O_SEQK: Lk = parse_int("--seq-k", a, 0, big), custom = 1; break;
        case O_DIM: D = parse_int("--dim", a, 1, 65536), custom = 1; break;
        case O_DIMV: Dv = parse_int("--dim-v", a, 1, 65536), custom = 1; break;
        case O_CAUSAL: causal = 1, custom = 1; break;
        case O_SUITE: suite = a; break;
        case O_LAYOUT:
            if (strcmp(a, "bhsd") == 0) c->bshd = 0;
            else if (strcmp(a, "bshd") == 0) c->bshd = 1;
            else die(2, "--layout: bhsd or bshd, not '%s'", a);
            break;
        case O_ISA: for_each_item(a, add_isa, c); break;
        case O_THREADS: for_each_item(a, add_threads, c); break;
        case O_REPS: c->reps = (int)parse_int("--reps", a, 1, 100000); break;
        case O_WARMUP: c->warmup = (int)parse_int("--warmup", a, 0, 100000); break;
        case O_MINMS: c->min_rep_ms = parse_double("--min-ms", a, 0.0, 1e6); break;
        case O_WARMCACHE: c->warm_decode = 1; break;
        case O_BASELINE:
            if (strcmp(a, "blas") == 0) c->blas = 1;
            else if (strcmp(a, "none") == 0) c->blas = 0;
            else die(2, "--baseline: blas or none, not '%s'", a);
            break;
        case O_NOPROBE: c->probes = 0; break;
        case O_PROBEMS: c->probe_s = parse_double("--probe-ms", a, 1.0, 1e5) * 1e-3; break;
        case O_BWMIB: c->bw_mib = parse_double("--bw-mib", a, 1.0, 1 << 20); break;
        case O_SEED: c->seed = (uint64_t)parse_int("--seed", a, 0, INT64_MAX); break;
        case O_CSV: c->fmt = FMT_CSV; break;
        case O_JSON: c->fmt = FMT_JSON; break;
        case O_WINDOW: parse_window(a, c); break;
        case O_ALIBI: c->alibi = 1; break;
        case O_SOFTCAP: c->softcap = (float)parse_double("--softcap", a, 1e-3, 1e30); break;
        case O_SINKS: c->sinks = 1; break;
        case O_DTYPE: c->qo_dtype = c->kv_dtype = parse_dtype("--dtype", a); break;
        case O_KVDTYPE: kv_dtype = parse_dtype("--kv-dtype", a); break;
        case O_MEM: c->mem = 1; break;
        case 'h':
        case O_HELP: usage(stdout); exit(0);
        default:
            fprintf(stderr, "attn_bench: unknown or incomplete option '%s'\n\n", argv[optind - 1]);
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc)
        die(2, "unexpected argument '%s' (see --help)", argv[optind]);
    if ((int)kv_dtype >= 0)
        c->kv_dtype = kv_dtype;

    if (suite) {
        int lo, hi;
        if (strcmp(suite, "prefill") == 0) lo = 0, hi = 3;
        else if (strcmp(suite, "decode") == 0) lo = 3, hi = 5;
        else if (strcmp(suite, "all") == 0) lo = 0, hi = 5;
        else die(2, "--suite: prefill, decode or all, not '%s'", suite);
        for (int i = lo; i < hi; i++)
            add_shape(c, &suite_shapes[i]);
    }
    if (custom || !suite) {
        shape s = suite_shapes[0]; /* S1 fills what is not given */
        snprintf(s.name, sizeof s.name, "%s", custom ? "custom" : "S1");
        if (B > 0) s.B = B;
        if (Hq > 0) s.Hq = s.Hkv = Hq;
        if (Hkv > 0) s.Hkv = Hkv;
        if (Lq > 0) s.Lq = s.Lk = Lq;
        if (Lk >= 0) s.Lk = Lk;
        if (D > 0) s.D = s.Dv = D;
        if (Dv > 0) s.Dv = Dv;
        s.causal = causal;
        if (s.Hq % s.Hkv != 0)
            die(2, "--heads %" PRId64 " is not a multiple of --kv-heads %" PRId64, s.Hq, s.Hkv);
        add_shape(c, &s);
    }
    if (c->nthreads == 0)
        c->threads[c->nthreads++] = 0;
}

/* ------------------------------------------------------------- the work */

static int is_decode(const shape *s) { return s->Lq <= DECODE_MAX_LQ; }

/* Visible keys [lo, hi) of row i: the causal and window masks of attn.h,
 * bottom-right aligned (diagonal p = i + Lk − Lq). */
static void row_keys(const config *c, const shape *s, int64_t i, int64_t *lo, int64_t *hi)
{
    const int64_t p = i + s->Lk - s->Lq;
    int64_t a = 0, b = s->Lk;
    if (s->causal && p + 1 < b)
        b = p + 1;
    if (c->window_right && p + c->window_right + 1 < b)
        b = p + c->window_right + 1;
    if (c->window_left && p - c->window_left > a)
        a = p - c->window_left;
    *lo = a;
    *hi = b > a ? b : a;
}

/* Query-key pairs attn_forward computes, counted exactly: what the causal
 * and window masks leave of Lq × Lk. */
static double visible_pairs(const config *c, const shape *s)
{
    double n = 0.0;
    for (int64_t i = 0; i < s->Lq; i++) {
        int64_t lo, hi;
        row_keys(c, s, i, &lo, &hi);
        n += (double)(hi - lo);
    }
    return n;
}

static double shape_flops(const config *c, const shape *s)
{
    return 2.0 * (double)s->B * (double)s->Hq * (double)(s->D + s->Dv) * visible_pairs(c, s);
}

static size_t dtype_size(attn_dtype t) { return t == ATTN_F32 ? 4 : 2; }

/* Unique K/V bytes a forward pass must read: every key some row sees. */
static double shape_kv_bytes(const config *c, const shape *s)
{
    int64_t lo = s->Lk, hi = 0;
    for (int64_t i = 0; i < s->Lq; i++) {
        int64_t a, b;
        row_keys(c, s, i, &a, &b);
        if (a < b) {
            lo = a < lo ? a : lo;
            hi = b > hi ? b : hi;
        }
    }
    const double keys = hi > lo ? (double)(hi - lo) : 0.0;
    return (double)s->B * (double)s->Hkv * keys * (double)(s->D + s->Dv) *
           (double)dtype_size(c->kv_dtype);
}

typedef struct tensor_buf {
    attn_tensor t;
    float *mem; /* f32 data; for f16/bf16 tensors the values before rounding */
    void *mem16; /* f16/bf16 data: what t points to */
    size_t n;
} tensor_buf;

/* [B, H, S, D] view over a fresh 64-byte aligned buffer, laid out as
 * [B,H,S,D] or, with bshd, [B,S,H,D]. */
static void tensor_alloc(tensor_buf *tb, int64_t B, int64_t H, int64_t S, int64_t D, int bshd)
{
    memset(tb, 0, sizeof *tb);
    double elems = (double)B * (double)H * (double)S * (double)D;
    if (elems * sizeof(float) > 0x1p46)
        die(1, "a tensor of %.3g elements is too large", elems);
    tb->n = (size_t)(B * H * S * D);
    size_t bytes = ((tb->n ? tb->n : 1) * sizeof(float) + 63) & ~(size_t)63;
    tb->mem = aligned_alloc(64, bytes);
    if (!tb->mem) {
        char buf[32];
        die(1, "cannot allocate %s", fmt_bytes((double)bytes, buf, sizeof buf));
    }
    tb->t.data = tb->mem;
    tb->t.dtype = ATTN_F32;
    int64_t shp[4] = {B, H, S, D};
    memcpy(tb->t.shape, shp, sizeof shp);
    if (bshd) {
        int64_t st[4] = {S * H * D, D, H * D, 1};
        memcpy(tb->t.stride, st, sizeof st);
    } else {
        int64_t st[4] = {H * S * D, S * D, D, 1};
        memcpy(tb->t.stride, st, sizeof st);
    }
}

/* f32 → binary16 / bfloat16, round to nearest even (NaN stays NaN). */
static uint16_t to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    const uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00u);
    if (ax >= 0x477ff000u) /* rounds to ≥ 65520: inf */
        return (uint16_t)(sign | 0x7c00u);
    if (ax < 0x38800000u) { /* below 2^-14: subnormal half, one rounding */
        float a;
        memcpy(&a, &ax, sizeof a);
        return (uint16_t)(sign | (uint16_t)lrintf(a * 0x1p24f));
    }
    const uint32_t r = ax + 0xfffu + ((ax >> 13) & 1u);
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

static uint16_t to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/* Makes tb an f16/bf16 tensor holding tb->mem's values rounded. */
static void tensor_to(tensor_buf *tb, attn_dtype t)
{
    if (t == ATTN_F32)
        return;
    uint16_t *h = aligned_alloc(64, ((tb->n ? tb->n : 1) * 2 + 63) & ~(size_t)63);
    if (!h)
        die(1, "out of memory");
    for (size_t i = 0; i < tb->n; i++)
        h[i] = t == ATTN_F16 ? to_f16(tb->mem[i]) : to_bf16(tb->mem[i]);
    tb->mem16 = h;
    tb->t.data = h;
    tb->t.dtype = t;
}

static void tensor_free(tensor_buf *tb)
{
    free(tb->mem);
    free(tb->mem16);
}

/* Normal-ish values (Box–Muller over xorshift64*). */
static void fill_normal(float *x, size_t n, uint64_t *state)
{
    for (size_t i = 0; i < n; i += 2) {
        uint64_t s = *state;
        s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
        uint64_t r1 = s * UINT64_C(0x2545F4914F6CDD1D);
        s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
        uint64_t r2 = s * UINT64_C(0x2545F4914F6CDD1D);
        *state = s;
        double u1 = ((double)(r1 >> 11) + 1.0) * 0x1p-53; /* (0, 1] */
        double u2 = (double)(r2 >> 11) * 0x1p-53;
        double rad = sqrt(-2.0 * log(u1));
        x[i] = (float)(rad * cos(6.283185307179586 * u2));
        if (i + 1 < n)
            x[i + 1] = (float)(rad * sin(6.283185307179586 * u2));
    }
}

typedef struct result {
    const shape *s;
    attn_isa isa;
    int threads;        /* resolved count */
    int threads_default;
    int reps, inner, cold;
    double med_ms, min_ms, max_ms;
    double gflops, peak;  /* peak 0: not measured */
    double gbps, bw;      /* bw 0: not measured */
    int have_blas;
    double blas_ms, blas_gflops, blas_diff;
    char blas_plan[64];
    double rss_peak_mib, rss_added_mib; /* --mem: VmHWM of the run, and above its start */
} result;

/* Progress on stderr for runs that take more than a few seconds. */
typedef struct progress {
    char label[96];
    double start, last;
} progress;

static void progress_start(progress *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->label, sizeof p->label, fmt, ap);
    va_end(ap);
    p->start = p->last = bench_now();
}

static void progress_tick(progress *p, const char *what, int done, int total)
{
    double now = bench_now();
    if (now - p->start < 3.0 || now - p->last < 3.0)
        return;
    p->last = now;
    fprintf(stderr, "attn_bench: %s: %s %d/%d, %.0f s\n", p->label, what, done, total, now - p->start);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Times fn(arg): warm-up, then reps repetitions of `inner` calls each
 * (inner chosen so a repetition lasts min_rep_ms, 1 when flushing caches);
 * fills med/min/max in ms per call. */
typedef int timed_fn(void *arg);

typedef struct timing {
    double med_ms, min_ms, max_ms;
    int inner;
} timing;

static timing time_it(timed_fn *fn, void *arg, const config *c, int flush, const void *flush_buf,
                      size_t flush_bytes, int flush_threads, progress *pg)
{
    timing tm = {0, 0, 0, 1};
    double t_once = 0.0;
    for (int w = 0; w < (c->warmup > 0 ? c->warmup : 1); w++) {
        if (flush)
            bench_flush_caches(flush_buf, flush_bytes, flush_threads);
        double t0 = bench_now();
        if (fn(arg))
            return tm;
        t_once = bench_now() - t0;
        progress_tick(pg, "warm-up", w + 1, c->warmup);
    }
    if (!flush && t_once * 1e3 < c->min_rep_ms)
        tm.inner = (int)fmin(1e6, ceil(c->min_rep_ms / fmax(t_once * 1e3, 1e-6)));
    double *ms = malloc(sizeof(double) * (size_t)c->reps);
    if (!ms)
        die(1, "out of memory");
    for (int r = 0; r < c->reps; r++) {
        if (flush)
            bench_flush_caches(flush_buf, flush_bytes, flush_threads);
        double t0 = bench_now();
        for (int i = 0; i < tm.inner; i++)
            if (fn(arg)) {
                free(ms);
                return tm;
            }
        ms[r] = (bench_now() - t0) * 1e3 / tm.inner;
        progress_tick(pg, "repetition", r + 1, c->reps);
    }
    qsort(ms, (size_t)c->reps, sizeof(double), cmp_double);
    tm.min_ms = ms[0];
    tm.max_ms = ms[c->reps - 1];
    tm.med_ms = c->reps % 2 ? ms[c->reps / 2] : 0.5 * (ms[c->reps / 2 - 1] + ms[c->reps / 2]);
    free(ms);
    return tm;
}

typedef struct fwd_arg {
    const attn_tensor *q, *k, *v, *o;
    attn_options opt;
} fwd_arg;

static int run_forward(void *p)
{
    fwd_arg *a = p;
    attn_status st = attn_forward(a->q, a->k, a->v, a->o, &a->opt);
    if (st != ATTN_OK)
        die(1, "attn_forward: %s: %s", attn_status_str(st), attn_last_error());
    return 0;
}

#if BENCH_HAVE_BLAS
static int run_blas(void *p)
{
    bench_blas_run(p);
    return 0;
}
#endif

/* max |a − b| over two [B,H,S,D] views of the same shape, over max |ref|. */
static double max_rel_diff(const attn_tensor *a, const attn_tensor *b, const tensor_buf *ref)
{
    double vmax = 0.0, d = 0.0;
    for (size_t i = 0; i < ref->n; i++)
        vmax = fmax(vmax, fabs((double)ref->mem[i]));
    for (int64_t i0 = 0; i0 < a->shape[0]; i0++)
        for (int64_t i1 = 0; i1 < a->shape[1]; i1++)
            for (int64_t i2 = 0; i2 < a->shape[2]; i2++)
                for (int64_t i3 = 0; i3 < a->shape[3]; i3++) {
                    const float *pa = (const float *)a->data +
                                      i0 * a->stride[0] + i1 * a->stride[1] + i2 * a->stride[2] + i3;
                    const float *pb = (const float *)b->data +
                                      i0 * b->stride[0] + i1 * b->stride[1] + i2 * b->stride[2] + i3;
                    double e = fabs((double)*pa - (double)*pb);
                    if (!(e <= d)) /* NaN counts */
                        d = isnan(e) ? INFINITY : e;
                }
    return vmax > 0.0 ? d / vmax : d;
}

/* ------------------------------------------------------------ the probes */

/* The machine's limits for every ISA x thread count used, measured right
 * before each run; every row is reported against the best measurement of
 * the whole run (the machine may be shared: the least disturbed timing is
 * the closest to its real limit, and one figure per ISA x threads keeps the
 * rows comparable). */
typedef struct probes {
    double seconds;
    int n, nbw;
    struct { attn_isa isa; int thr; double gflops; } peak[MAX_LIST * MAX_LIST];
    struct { int thr; double gbps; } bw[MAX_LIST];
    void *buf;          /* bandwidth probe buffer, also read to flush the caches */
    size_t buf_bytes;
} probes;

/* Measures the FMA peak of isa on thr threads; returns the best so far
 * (0: no probe for that ISA). */
static double probe_peak(probes *p, attn_isa isa, int thr, int *used)
{
    double g = bench_fma_peak(isa, thr, p->seconds, used);
    for (int i = 0; i < p->n; i++)
        if (p->peak[i].isa == isa && p->peak[i].thr == thr)
            return p->peak[i].gflops = fmax(p->peak[i].gflops, g);
    p->peak[p->n].isa = isa, p->peak[p->n].thr = thr, p->peak[p->n].gflops = g;
    return p->peak[p->n++].gflops;
}

/* Measures the read bandwidth of thr threads; returns the best so far. */
static double probe_bw(probes *p, int thr)
{
    double g = bench_read_bw(p->buf, p->buf_bytes, thr, 2);
    for (int i = 0; i < p->nbw; i++)
        if (p->bw[i].thr == thr)
            return p->bw[i].gbps = fmax(p->bw[i].gbps, g);
    p->bw[p->nbw].thr = thr, p->bw[p->nbw].gbps = g;
    return p->bw[p->nbw++].gbps;
}

static double peak_of(const probes *p, attn_isa isa, int thr)
{
    for (int i = 0; i < p->n; i++)
        if (p->peak[i].isa == isa && p->peak[i].thr == thr)
            return p->peak[i].gflops;
    return 0.0;
}

static double bw_of(const probes *p, int thr)
{
    for (int i = 0; i < p->nbw; i++)
        if (p->bw[i].thr == thr)
            return p->bw[i].gbps;
    return 0.0;
}

static size_t bw_buffer_bytes(const config *c, const attn_cpu_info *ci)
{
    const double mib = 1024.0 * 1024.0;
    double b;
    if (c->bw_mib > 0)
        b = c->bw_mib * mib;
    else {
        /* Well past the last-level cache, but not absurd where a VM reports
         * a huge L3: 4 × L3, within 256 MiB .. 1 GiB, at most 1/4 of RAM. */
        b = ci->l3_bytes > 0 ? 4.0 * (double)ci->l3_bytes : 1024 * mib;
        b = fmin(fmax(b, 256 * mib), 1024 * mib);
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        if (pages > 0 && psz > 0)
            b = fmin(b, (double)pages * (double)psz / 4.0);
    }
    return (size_t)b & ~(size_t)63;
}

/* ------------------------------------------------------------- printing */

static const char *csv_header =
    "shape,B,Hq,Hkv,Lq,Lk,D,Dv,causal,layout,isa,threads,reps,inner,cold_cache,"
    "median_ms,min_ms,max_ms,gflops,peak_gflops,pct_peak,decode,kv_gbps,bw_gbps,pct_bw,"
    "blas_ms,blas_gflops,speedup_vs_blas,blas_max_rel_diff,"
    "window_left,window_right,alibi,softcap,sinks,qo_dtype,kv_dtype,rss_peak_mib,rss_added_mib";

static const char *dtype_name(attn_dtype t)
{
    return t == ATTN_F16 ? "f16" : t == ATTN_BF16 ? "bf16" : "f32";
}

static void print_text_header(const config *c)
{
    printf("%-6s %3s %4s %4s %6s %6s %4s %4s %1s %-6s %3s %10s %9s %6s %8s %5s",
           "shape", "B", "Hq", "Hkv", "Lq", "Lk", "D", "Dv", "c", "isa", "thr",
           "median_ms", "GFLOP/s", "%peak", "KV_GB/s", "%bw");
    if (c->blas)
        printf(" %10s %7s %8s", "blas_ms", "x_blas", "diff");
    if (c->mem)
        printf(" %9s %9s", "peak_MiB", "added_MiB");
    printf("\n");
}

static void print_row(const config *c, const result *r, int *first)
{
    const shape *s = r->s;
    int dec = is_decode(s);
    double pct = r->peak > 0 ? 100.0 * r->gflops / r->peak : NAN;
    double pbw = r->bw > 0 && dec ? 100.0 * r->gbps / r->bw : NAN;
    const char *layout = c->bshd ? "bshd" : "bhsd";
    if (c->fmt == FMT_TEXT) {
        char pk[16] = "-", bw[16] = "-", pb[16] = "-";
        if (!isnan(pct)) snprintf(pk, sizeof pk, "%.1f", pct);
        if (dec) snprintf(bw, sizeof bw, "%.2f", r->gbps);
        if (!isnan(pbw)) snprintf(pb, sizeof pb, "%.1f", pbw);
        printf("%-6s %3" PRId64 " %4" PRId64 " %4" PRId64 " %6" PRId64 " %6" PRId64 " %4" PRId64
               " %4" PRId64 " %1d %-6s %3d %10.3f %9.2f %6s %8s %5s",
               s->name, s->B, s->Hq, s->Hkv, s->Lq, s->Lk, s->D, s->Dv, s->causal,
               attn_isa_name(r->isa), r->threads, r->med_ms, r->gflops, pk, bw, pb);
        if (c->blas && r->have_blas)
            printf(" %10.3f %6.2fx %8.1e", r->blas_ms, r->blas_ms / r->med_ms, r->blas_diff);
        else if (c->blas)
            printf(" %10s %7s %8s", "-", "-", "-");
        if (c->mem)
            printf(" %9.1f %9.1f", r->rss_peak_mib, r->rss_added_mib);
        printf("\n");
    } else if (c->fmt == FMT_CSV) {
        printf("%s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
               ",%" PRId64 ",%d,%s,%s,%d,%d,%d,%d,%.6f,%.6f,%.6f,%.4f,",
               s->name, s->B, s->Hq, s->Hkv, s->Lq, s->Lk, s->D, s->Dv, s->causal, layout,
               attn_isa_name(r->isa), r->threads, r->reps, r->inner, r->cold,
               r->med_ms, r->min_ms, r->max_ms, r->gflops);
        if (r->peak > 0) printf("%.4f,%.2f,", r->peak, pct); else printf(",,");
        printf("%d,%.4f,", dec, r->gbps);
        if (r->bw > 0) printf("%.4f,", r->bw); else printf(",");
        if (!isnan(pbw)) printf("%.2f,", pbw); else printf(",");
        if (r->have_blas)
            printf("%.6f,%.4f,%.4f,%.3e,", r->blas_ms, r->blas_gflops, r->blas_ms / r->med_ms,
                   r->blas_diff);
        else
            printf(",,,,");
        printf("%d,%d,%d,%g,%d,%s,%s,", c->window_left, c->window_right, c->alibi,
               (double)c->softcap, c->sinks, dtype_name(c->qo_dtype), dtype_name(c->kv_dtype));
        if (c->mem)
            printf("%.2f,%.2f\n", r->rss_peak_mib, r->rss_added_mib);
        else
            printf(",\n");
    } else {
        printf("%s\n    {\"shape\": \"%s\", \"B\": %" PRId64 ", \"Hq\": %" PRId64 ", \"Hkv\": %" PRId64
               ", \"Lq\": %" PRId64 ", \"Lk\": %" PRId64 ", \"D\": %" PRId64 ", \"Dv\": %" PRId64
               ", \"causal\": %s, \"layout\": \"%s\", \"isa\": \"%s\", \"threads\": %d, "
               "\"threads_default\": %s, \"reps\": %d, \"inner\": %d, \"cold_cache\": %s, "
               "\"median_ms\": %.6f, \"min_ms\": %.6f, \"max_ms\": %.6f, \"gflops\": %.4f, ",
               *first ? "" : ",", s->name, s->B, s->Hq, s->Hkv, s->Lq, s->Lk, s->D, s->Dv,
               s->causal ? "true" : "false", layout, attn_isa_name(r->isa), r->threads,
               r->threads_default ? "true" : "false", r->reps, r->inner, r->cold ? "true" : "false",
               r->med_ms, r->min_ms, r->max_ms, r->gflops);
        if (r->peak > 0) printf("\"peak_gflops\": %.4f, \"pct_peak\": %.2f, ", r->peak, pct);
        else printf("\"peak_gflops\": null, \"pct_peak\": null, ");
        printf("\"decode\": %s, \"kv_gbps\": %.4f, ", dec ? "true" : "false", r->gbps);
        if (r->bw > 0) printf("\"bw_gbps\": %.4f, ", r->bw); else printf("\"bw_gbps\": null, ");
        if (!isnan(pbw)) printf("\"pct_bw\": %.2f", pbw); else printf("\"pct_bw\": null");
        printf(", \"window_left\": %d, \"window_right\": %d, \"alibi\": %s, \"softcap\": %g, "
               "\"sinks\": %s, \"qo_dtype\": \"%s\", \"kv_dtype\": \"%s\"",
               c->window_left, c->window_right, c->alibi ? "true" : "false", (double)c->softcap,
               c->sinks ? "true" : "false", dtype_name(c->qo_dtype), dtype_name(c->kv_dtype));
        if (c->mem)
            printf(", \"rss_peak_mib\": %.2f, \"rss_added_mib\": %.2f", r->rss_peak_mib,
                   r->rss_added_mib);
        if (r->have_blas)
            printf(", \"blas_ms\": %.6f, \"blas_gflops\": %.4f, \"speedup_vs_blas\": %.4f, "
                   "\"blas_max_rel_diff\": %.3e, \"blas_plan\": \"%s\"}",
                   r->blas_ms, r->blas_gflops, r->blas_ms / r->med_ms, r->blas_diff, r->blas_plan);
        else
            printf("}");
        *first = 0;
    }
    fflush(stdout);
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

/* ------------------------------------------------------------------ main */

static void print_json_head(const attn_cpu_info *ci, attn_isa lib_isa, int blas)
{
    printf("{\"libattn\": \"%d.%d.%d\", \"cpu\": {\"physical_cores\": %d, \"logical_cpus\": %d, "
           "\"l1d_bytes\": %" PRId64 ", \"l2_bytes\": %" PRId64 ", \"l3_bytes\": %" PRId64
           ", \"best_isa\": \"%s\", \"source\": ",
           ATTN_VERSION_MAJOR, ATTN_VERSION_MINOR, ATTN_VERSION_PATCH, ci->physical_cores,
           ci->logical_cpus, ci->l1d_bytes, ci->l2_bytes, ci->l3_bytes, attn_isa_name(ci->best_isa));
    json_string(ci->source ? ci->source : "");
    printf("}, \"isa_in_use\": \"%s\"", attn_isa_name(lib_isa));
#if BENCH_HAVE_BLAS
    if (blas) {
        printf(", \"blas\": ");
        json_string(bench_blas_name());
    }
#else
    (void)blas;
#endif
    printf(", \"runs\": [");
}

static void print_json_tail(const probes *pr)
{
    printf("\n], \"fma_peak\": [");
    for (int i = 0; i < pr->n; i++)
        printf("%s{\"isa\": \"%s\", \"threads\": %d, \"gflops\": %.4f}", i ? ", " : "",
               attn_isa_name(pr->peak[i].isa), pr->peak[i].thr, pr->peak[i].gflops);
    printf("], \"read_bw\": [");
    for (int i = 0; i < pr->nbw; i++)
        printf("%s{\"threads\": %d, \"gbps\": %.4f, \"buffer_bytes\": %zu}", i ? ", " : "",
               pr->bw[i].thr, pr->bw[i].gbps, pr->buf_bytes);
    printf("]}\n");
}

static const char *window_text(const config *c, char *buf, size_t n)
{
    snprintf(buf, n, " %d:%d", c->window_left, c->window_right);
    return buf;
}

static const char *softcap_text(const config *c, char *buf, size_t n)
{
    snprintf(buf, n, " %g", (double)c->softcap);
    return buf;
}

static int has_mods(const config *c)
{
    return c->window_left || c->window_right || c->alibi || c->softcap > 0.0f || c->sinks;
}

/* Resident memory in MiB from /proc/self/status (Linux): the field VmRSS or
 * VmHWM; 0 where it cannot be read. */
static double proc_status_mib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0.0;
    char line[256];
    double kib = 0.0;
    const size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            kib = strtod(line + n + 1, NULL);
            break;
        }
    fclose(f);
    return kib / 1024.0;
}

/* Resets the peak-RSS mark to the current RSS (writing 5 to clear_refs,
 * Linux ≥ 4.0) and returns the current RSS in MiB. */
static double rss_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
    return proc_status_mib("VmRSS");
}

/* Peak RSS in MiB since the last rss_reset (getrusage where /proc has no
 * VmHWM: then since the start of the process). */
static double rss_peak(void)
{
    double hwm = proc_status_mib("VmHWM");
    if (hwm <= 0.0) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) == 0)
            hwm = (double)ru.ru_maxrss / 1024.0;
    }
    return hwm;
}

/* Times every ISA x thread count on one shape (and the baseline per thread
 * count), appending to rows. */
static void run_shape(const config *c, const shape *s, probes *pr, int def_threads,
                      uint64_t *seed, result *rows, int *nrows, int total, double t0)
{
    tensor_buf q, k, v, o, ob;
    tensor_alloc(&q, s->B, s->Hq, s->Lq, s->D, c->bshd);
    tensor_alloc(&k, s->B, s->Hkv, s->Lk, s->D, c->bshd);
    tensor_alloc(&v, s->B, s->Hkv, s->Lk, s->Dv, c->bshd);
    tensor_alloc(&o, s->B, s->Hq, s->Lq, s->Dv, c->bshd);
    /* the baseline knows causal f32 attention only */
    const int blas = c->blas && !has_mods(c) && c->qo_dtype == ATTN_F32 &&
                     c->kv_dtype == ATTN_F32;
    tensor_alloc(&ob, blas ? s->B : 0, s->Hq, s->Lq, s->Dv, c->bshd);
    fill_normal(q.mem, q.n, seed);
    fill_normal(k.mem, k.n, seed);
    fill_normal(v.mem, v.n, seed);
    memset(o.mem, 0, o.n * sizeof(float));
    tensor_to(&q, c->qo_dtype);
    tensor_to(&k, c->kv_dtype);
    tensor_to(&v, c->kv_dtype);
    tensor_to(&o, c->qo_dtype);
    /* ALiBi slopes 2^(−8(h+1)/Hq) (Press et al.), sinks in [0, 1) */
    float *slopes = NULL, *sinks = NULL;
    if (c->alibi || c->sinks) {
        slopes = malloc(sizeof(float) * (size_t)s->Hq);
        sinks = malloc(sizeof(float) * (size_t)s->Hq);
        if (!slopes || !sinks)
            die(1, "out of memory");
        for (int64_t h = 0; h < s->Hq; h++) {
            slopes[h] = (float)exp2(-8.0 * (double)(h + 1) / (double)s->Hq);
            sinks[h] = (float)((double)(h % 8) / 8.0);
        }
    }
    const int flush = is_decode(s) && !c->warm_decode && pr->buf;
    const double flops = shape_flops(c, s), kvb = shape_kv_bytes(c, s);

    for (int ti = 0; ti < c->nthreads; ti++) {
        const int thr = c->threads[ti] ? c->threads[ti] : def_threads;
        result base;
        memset(&base, 0, sizeof base);
#if BENCH_HAVE_BLAS
        /* Baseline first, then, if it ran BLAS's own thread pool, a pause:
         * OpenBLAS's pthreads spin for a while after their last call and
         * would slow libattn's OpenMP threads. */
        if (blas) {
            bench_problem bp = {&q.t, &k.t, &v.t, &ob.t, s->causal, 0.0f};
            bench_blas *bb = bench_blas_new(&bp, thr);
            if (!bb)
                die(1, "out of memory for the BLAS baseline's score matrices");
            progress pg;
            progress_start(&pg, "%s blas T%d", s->name, thr);
            timing tm = time_it(run_blas, bb, c, flush, pr->buf, pr->buf_bytes, thr, &pg);
            base.have_blas = 1;
            base.blas_ms = tm.med_ms;
            base.blas_gflops = flops / (tm.med_ms * 1e-3) * 1e-9;
            snprintf(base.blas_plan, sizeof base.blas_plan, "%s", bench_blas_plan(bb));
            if (bench_blas_pool_threads(bb) > 1)
                usleep(300000);
            bench_blas_free(bb);
        }
#endif
        for (int ii = 0; ii < c->nisas; ii++) {
            const attn_isa isa = c->isas[ii];
            attn_status st = attn_set_isa(isa);
            if (st != ATTN_OK)
                die(1, "attn_set_isa(%s): %s: %s", attn_isa_name(isa), attn_status_str(st),
                    attn_last_error());
            /* The machine's limits, measured again right before the run. */
            if (c->probes) {
                probe_peak(pr, isa, thr, NULL);
                if (is_decode(s) && pr->buf)
                    probe_bw(pr, thr);
            }
            fwd_arg fa = {.q = &q.t, .k = &k.t, .v = &v.t, .o = &o.t};
            fa.opt.causal = s->causal;
            fa.opt.num_threads = c->threads[ti];
            fa.opt.window_left = c->window_left;
            fa.opt.window_right = c->window_right;
            fa.opt.alibi_slopes = c->alibi ? slopes : NULL;
            fa.opt.softcap = c->softcap;
            fa.opt.sinks = c->sinks ? sinks : NULL;
            progress pg;
            progress_start(&pg, "%s %s T%d", s->name, attn_isa_name(isa), thr);
            const double rss0 = c->mem ? rss_reset() : 0.0;
            timing tm = time_it(run_forward, &fa, c, flush, pr->buf, pr->buf_bytes, thr, &pg);
            const double hwm = c->mem ? rss_peak() : 0.0;

            result *r = &rows[(*nrows)++];
            *r = base;
            r->s = s;
            r->isa = isa;
            r->threads = thr;
            r->threads_default = c->threads[ti] == 0;
            r->reps = c->reps;
            r->inner = tm.inner;
            r->cold = flush;
            r->med_ms = tm.med_ms, r->min_ms = tm.min_ms, r->max_ms = tm.max_ms;
            r->gflops = flops / (tm.med_ms * 1e-3) * 1e-9;
            r->gbps = kvb / (tm.med_ms * 1e-3) * 1e-9;
            r->rss_peak_mib = hwm;
            r->rss_added_mib = hwm > rss0 ? hwm - rss0 : 0.0;
            if (r->have_blas)
                r->blas_diff = max_rel_diff(&o.t, &ob.t, &v);
            if (bench_now() - t0 > 3.0)
                fprintf(stderr, "attn_bench: [%d/%d] %s %s T%d: %.3f ms, %.2f GFLOP/s\n", *nrows,
                        total, s->name, attn_isa_name(isa), thr, r->med_ms, r->gflops);
        }
    }
    tensor_free(&q), tensor_free(&k), tensor_free(&v), tensor_free(&o), tensor_free(&ob);
    free(slopes), free(sinks);
}

int main(int argc, char **argv)
{
    config c;
    parse_args(argc, argv, &c);
    g_fmt = c.fmt;
    const double t0 = bench_now();

#if !BENCH_HAVE_BLAS
    if (c.blas) {
        fprintf(stderr, "attn_bench: --baseline blas: unavailable: this build has no CBLAS "
                        "(install libopenblas-dev, then reconfigure with -Dblas=enabled)\n");
        return 3;
    }
#endif

    /* A bad ATTN_ISA is reported by attn_init (and the library keeps its
     * best set): say so and go on, the rows name the set that ran. */
    attn_status st = attn_init();
    if (st != ATTN_OK)
        fprintf(stderr, "attn_bench: attn_init: %s: %s\n", attn_status_str(st), attn_last_error());
    attn_cpu_info ci;
    memset(&ci, 0, sizeof ci);
    st = attn_cpu_info_get(&ci);
    if (st != ATTN_OK)
        die(1, "attn_cpu_info_get: %s: %s", attn_status_str(st), attn_last_error());
    const int def_threads = ci.physical_cores > 0 ? ci.physical_cores : 1;
    const attn_isa lib_isa = attn_get_isa();
    if (c.nisas == 0)
        c.isas[c.nisas++] = lib_isa;

    probes pr;
    memset(&pr, 0, sizeof pr);
    pr.seconds = c.probe_s;
    int any_decode = 0;
    for (int i = 0; i < c.nshapes; i++)
        any_decode |= is_decode(&c.shapes[i]);
    char b1[32], b2[32], b3[32];
    if (any_decode) {
        size_t bytes = bw_buffer_bytes(&c, &ci);
        pr.buf = bench_bw_buffer(bytes, def_threads);
        pr.buf_bytes = pr.buf ? bytes : 0;
        if (!pr.buf)
            fprintf(stderr, "attn_bench: cannot allocate %s for the bandwidth probe: decode runs "
                            "without it\n", fmt_bytes((double)bytes, b1, sizeof b1));
    }

    /* Run everything, then print: every row is reported against the best
     * probe of the whole run. */
    const int total = c.nshapes * c.nthreads * c.nisas;
    result *rows = calloc((size_t)total, sizeof *rows);
    if (!rows)
        die(1, "out of memory");
    int nrows = 0;
    uint64_t seed = c.seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
    for (int si = 0; si < c.nshapes; si++)
        run_shape(&c, &c.shapes[si], &pr, def_threads, &seed, rows, &nrows, total, t0);
    attn_set_isa(lib_isa); /* leave the library as the environment set it */
    for (int i = 0; i < nrows; i++) {
        rows[i].peak = peak_of(&pr, rows[i].isa, rows[i].threads);
        rows[i].bw = is_decode(rows[i].s) ? bw_of(&pr, rows[i].threads) : 0.0;
    }

    note("attn_bench: libattn %d.%d.%d | %d physical cores, %d logical CPUs | L1d %s, L2 %s per "
         "core, L3 %s (%s) | best ISA %s, in use %s",
         ATTN_VERSION_MAJOR, ATTN_VERSION_MINOR, ATTN_VERSION_PATCH, ci.physical_cores,
         ci.logical_cpus, fmt_bytes((double)ci.l1d_bytes, b1, sizeof b1),
         fmt_bytes((double)ci.l2_bytes, b2, sizeof b2), fmt_bytes((double)ci.l3_bytes, b3, sizeof b3),
         ci.source ? ci.source : "?", attn_isa_name(ci.best_isa), attn_isa_name(lib_isa));
    note("Q/out %s, K/V %s, layout %s; FLOPs = 2*B*Hq*(D+Dv)*visible pairs (causal and window: "
         "bottom-right, exact); median of %d reps after %d warm-up",
         dtype_name(c.qo_dtype), dtype_name(c.kv_dtype), c.bshd ? "[B,S,H,D]" : "[B,H,S,D]",
         c.reps, c.warmup);
    if (has_mods(&c))
        note("modifiers on every shape:%s%s%s%s%s%s%s", c.window_left || c.window_right ? " window" : "",
             c.window_left || c.window_right ? window_text(&c, b1, sizeof b1) : "",
             c.alibi ? " alibi" : "", c.softcap > 0 ? " softcap" : "",
             c.softcap > 0 ? softcap_text(&c, b2, sizeof b2) : "", c.sinks ? " sinks" : "",
             c.blas ? " (no BLAS baseline with modifiers)" : "");
    if (c.blas && !has_mods(&c) && (c.qo_dtype != ATTN_F32 || c.kv_dtype != ATTN_F32))
        note("no BLAS baseline for 16-bit inputs");
    if (c.mem)
        note("--mem: peak_MiB = VmHWM during the run; added_MiB = peak minus the resident memory "
             "at its start (inputs and outputs already allocated): the library's workspace");
    for (int i = 0; i < pr.n; i++) {
        if (pr.peak[i].gflops > 0)
            note("FMA peak %-6s T%-2d %8.2f GFLOP/s (register-resident FMA loop, best of the run)",
                 attn_isa_name(pr.peak[i].isa), pr.peak[i].thr, pr.peak[i].gflops);
        else
            note("FMA peak %-6s: no probe for this ISA", attn_isa_name(pr.peak[i].isa));
    }
    for (int i = 0; i < pr.nbw; i++)
        note("read bandwidth T%-2d %8.2f GB/s (streaming sum over %s, best of the run)",
             pr.bw[i].thr, pr.bw[i].gbps, fmt_bytes((double)pr.buf_bytes, b1, sizeof b1));
    if (pr.buf && !c.warm_decode)
        note("decode shapes (Lq <= %d): caches flushed before each repetition (%s read)",
             DECODE_MAX_LQ, fmt_bytes((double)pr.buf_bytes, b1, sizeof b1));
#if BENCH_HAVE_BLAS
    if (c.blas)
        note("baseline: %s: cblas_sgemm(Q K^T) + row softmax (libmvec expf) + cblas_sgemm(P V), "
             "OpenMP over B*H with 1-thread BLAS (all-thread BLAS when B*H < threads); "
             "x_blas = blas time / libattn time, diff = max|O_blas - O_attn| / max|V|",
             bench_blas_name());
    /* An AVX2 kernel set against OpenBLAS's AVX-512 kernels is not like
     * for like; OpenBLAS reads its core type once, when it is loaded. */
    if (c.blas && !getenv("OPENBLAS_CORETYPE") &&
        (strstr(bench_blas_name(), "SkylakeX") || strstr(bench_blas_name(), "Cooperlake") ||
         strstr(bench_blas_name(), "SapphireRapids")))
        for (int ii = 0; ii < c.nisas; ii++)
            if (c.isas[ii] != ATTN_ISA_AVX512) {
                note("the %s lines are timed against OpenBLAS's AVX-512 kernels; "
                     "OPENBLAS_CORETYPE=Haswell in the environment gives them AVX2 ones",
                     attn_isa_name(c.isas[ii]));
                break;
            }
#endif

    int first_json = 1;
    if (c.fmt == FMT_TEXT)
        print_text_header(&c);
    else if (c.fmt == FMT_CSV)
        printf("%s\n", csv_header);
    else
        print_json_head(&ci, lib_isa, c.blas);
    for (int i = 0; i < nrows; i++)
        print_row(&c, &rows[i], &first_json);
    if (c.fmt == FMT_JSON)
        print_json_tail(&pr);
    free(rows);
    free(pr.buf);
    return 0;
}
