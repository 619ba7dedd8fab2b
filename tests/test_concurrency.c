/*
 * test_concurrency.c — the thread-safety promises of include/attn.h, as
 * observable results:
 *   - "calls from many threads at once are safe" and "results are bitwise
 *     identical for every num_threads": 8 pthreads call attn_forward at once,
 *     over and over, each with its own shape and options (causal, kv_len,
 *     GQA/MQA, windows, ALiBi, softcap, sinks, f32/f16 bias, f16/bf16 inputs
 *     and outputs, lse, [B,S,H,D] views, split-KV decode shapes) and its own
 *     num_threads per round; every result equals, bit for bit, the same call
 *     made serially first. attn_last_error() stays per thread meanwhile.
 *   - "called from inside an active OpenMP parallel region, the call runs on
 *     the calling thread only": the same calls from the caller's own
 *     `omp parallel` team give the same bits, the library sizes them for one
 *     thread (attn_thread_count() = 1, and the public attn_forward_workspace
 *     equals the one-thread workspace), and, with nested parallelism enabled
 *     so that a nested team would really start threads, no OS thread other
 *     than the caller's team ever appears while the calls run (a sampler
 *     thread lists /proc/self/task; a positive control shows it sees a
 *     nested team).
 *   - "attn_set_isa ... safe to call at any time: a call in flight finishes
 *     on the set it started with": one thread switches the kernel set in a
 *     loop while others call attn_forward; every call succeeds and gives the
 *     serial result of one of the sets, never a mix.
 *   - first use: 8 threads make their first library call at once (each a
 *     different entry point), racing the one-time initialisation.
 *
 * Each test runs in its own child process (Criterion's default; not under
 * --debug), so the first-use test really starts with an uninitialised
 * library. Sizes are small: the whole file runs in about a second, also under
 * ThreadSanitizer, which .ci/run builds it with (clang + libomp with the
 * Archer OMPT tool; -DTU_PLAIN_RUNNER, below).
 */
#if defined(TU_PLAIN_RUNNER) && TU_PLAIN_RUNNER
/* The ThreadSanitizer build: Criterion cannot start under TSan (its BoxFort
 * arena probes a few random addresses for free space and TSan has reserved
 * nearly all of them: Snaipe/Criterion#274, "Could not initialize
 * inheritable arena"), so the same tests run under the small runner at the
 * end of this file: each test in a child forked from a parent that never
 * calls the library, Criterion's assertion names, its closing line. */
#include <sys/wait.h>
#define TP_PRINTF(a, b) __attribute__((format(printf, a, b)))
typedef struct tp_test {
    const char *suite, *name;
    void (*fn)(void);
} tp_test;
static void tp_register(const char *suite, const char *name, void (*fn)(void));
static void tp_check(int ok, int fatal, const char *file, int line, const char *expr,
                     const char *fmt, ...) TP_PRINTF(6, 7);
static void tp_skip(const char *fmt, ...) TP_PRINTF(1, 2);
#define Test(suite, name)                                                      \
    static void suite##_##name(void);                                          \
    __attribute__((constructor)) static void suite##_##name##_reg(void)        \
    {                                                                          \
        tp_register(#suite, #name, suite##_##name);                            \
    }                                                                          \
    static void suite##_##name(void)
#define cr_assert(cond, ...) tp_check(!!(cond), 1, __FILE__, __LINE__, #cond, " " __VA_ARGS__)
#define cr_expect(cond, ...) tp_check(!!(cond), 0, __FILE__, __LINE__, #cond, " " __VA_ARGS__)
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b), __VA_ARGS__)
#define cr_expect_eq(a, b, ...) cr_expect((a) == (b), __VA_ARGS__)
#define cr_assert_not_null(p, ...) cr_assert((p) != NULL, __VA_ARGS__)
#define cr_skip_test(...) tp_skip(" " __VA_ARGS__)
#define cr_log_info(...) (fprintf(stderr, "[----] " __VA_ARGS__), fputc('\n', stderr))
#else
#include <criterion/criterion.h>
#endif

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "internal.h"
#include "testutil.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define NJOBS 8
#define MAXB 4

/* ------------------------------------------------------------------ calls */

typedef struct cspec {
    int64_t B, Hq, Hkv, Lq, Lk, D, Dv;
    attn_dtype dq, dk, dv, dout;
    int bshd;        /* q, k, v, out as [B,S,H,D] buffers */
    int causal;
    int32_t wl, wr;  /* window_left / window_right */
    int kvlen;       /* kv_len[b] = Lk − b·Lk/3 (batch 2 of 3: a third) */
    int alibi, sinks, lse;
    float softcap, scale;
    int bias;        /* 0: none; 1: f32 [B,Hq,Lq,Lk]; 2: f16 [1,1,Lq,Lk] */
    int nthreads;    /* opt.num_threads of the serial call */
} cspec;

/* Eight calls, each exercising a different part of the option space; two
 * of them (1 and 6) are decode shapes that the plan splits over their keys
 * (split-KV: partial results merged by a second parallel loop) on machines
 * of 2 cores or more (checked below). */
static const cspec specs[NJOBS] = {
    /*  B  Hq Hkv  Lq    Lk   D  Dv   dq        dk        dv        dout */
    {2, 4, 4, 37, 53, 32, 32, ATTN_F32, ATTN_F32, ATTN_F32, ATTN_F32,
     .causal = 1},
    {3, 8, 2, 1, 1500, 64, 64, ATTN_F32, ATTN_F16, ATTN_F16, ATTN_F32,
     .kvlen = 1, .lse = 1, .nthreads = 2},
    {1, 6, 3, 64, 64, 48, 40, ATTN_BF16, ATTN_F32, ATTN_F32, ATTN_F16,
     .wl = 9, .wr = 3, .nthreads = 1},
    {2, 4, 1, 20, 90, 16, 24, ATTN_F32, ATTN_F32, ATTN_F32, ATTN_BF16,
     .bshd = 1, .causal = 1, .alibi = 1, .lse = 1},
    {1, 4, 2, 33, 77, 16, 16, ATTN_F32, ATTN_F32, ATTN_F32, ATTN_F32,
     .softcap = 2.5f, .scale = 3.0f, .sinks = 1, .lse = 1},
    {2, 2, 2, 16, 40, 24, 24, ATTN_F16, ATTN_F32, ATTN_BF16, ATTN_F32,
     .kvlen = 1, .bias = 1},
    {1, 8, 2, 4, 1100, 32, 16, ATTN_F16, ATTN_F16, ATTN_F16, ATTN_F16,
     .causal = 1, .bias = 2, .sinks = 1, .lse = 1, .nthreads = 2},
    {3, 4, 2, 50, 50, 40, 40, ATTN_BF16, ATTN_BF16, ATTN_BF16, ATTN_BF16,
     .bshd = 1, .causal = 1, .wl = 7, .alibi = 1, .softcap = 5.0f, .sinks = 1, .kvlen = 1,
     .lse = 1},
};

typedef struct cjob {
    cspec s;
    void *qm, *km, *vm, *om, *bm;
    float *lm, *alibi, *sinks;
    size_t obytes, lbytes;
    attn_tensor q, k, v, o, bias, lse;
    int32_t kv_len[MAXB];
    attn_options opt;
    unsigned char *want; /* out bytes, then lse bytes, of the serial call */
    char desc[200];
} cjob;

static size_t dt_size(attn_dtype dt) { return dt == ATTN_F32 ? 4 : 2; }

/* A [b,h,s,d] tensor of dtype dt in a fresh buffer: contiguous [B,H,S,D],
 * or [B,S,H,D] (bshd). Inputs get random values; outputs stay unset. */
static void *mk(attn_tensor *t, attn_dtype dt, int64_t b, int64_t h, int64_t s, int64_t d,
                int bshd, tu_rng *r, size_t *bytes)
{
    const size_t n = (size_t)(b * h * s * d);
    void *mem = malloc(n ? n * dt_size(dt) : 1);
    cr_assert_not_null(mem);
    t->data = mem;
    t->dtype = dt;
    t->shape[0] = b, t->shape[1] = h, t->shape[2] = s, t->shape[3] = d;
    t->stride[0] = h * s * d;
    t->stride[1] = bshd ? d : s * d;
    t->stride[2] = bshd ? h * d : d;
    t->stride[3] = 1;
    if (bytes)
        *bytes = n * dt_size(dt);
    if (r) {
        for (size_t e = 0; e < n; e++) {
            if (dt == ATTN_F32)
                ((float *)mem)[e] = (float)tu_uniform(r, -1, 1);
            else
                ((uint16_t *)mem)[e] = tu_rand_half(r, dt);
        }
    }
    return mem;
}

static const char *dtn(attn_dtype dt)
{
    return dt == ATTN_F32 ? "f32" : dt == ATTN_F16 ? "f16" : "bf16";
}

/* Builds the tensors and options of job i; no library call. */
static void job_init(cjob *j, int i)
{
    memset(j, 0, sizeof *j);
    const cspec *s = &specs[i];
    j->s = *s;
    tu_rng r = {9100 + (uint64_t)i};
    j->qm = mk(&j->q, s->dq, s->B, s->Hq, s->Lq, s->D, s->bshd, &r, NULL);
    j->km = mk(&j->k, s->dk, s->B, s->Hkv, s->Lk, s->D, s->bshd, &r, NULL);
    j->vm = mk(&j->v, s->dv, s->B, s->Hkv, s->Lk, s->Dv, s->bshd, &r, NULL);
    j->om = mk(&j->o, s->dout, s->B, s->Hq, s->Lq, s->Dv, s->bshd, NULL, &j->obytes);
    attn_options *o = &j->opt;
    o->scale = s->scale;
    o->causal = s->causal;
    o->window_left = s->wl;
    o->window_right = s->wr;
    o->softcap = s->softcap;
    o->num_threads = s->nthreads;
    if (s->kvlen) {
        for (int64_t b = 0; b < s->B; b++)
            j->kv_len[b] = (int32_t)(s->Lk - b * s->Lk / 3);
        o->kv_len = j->kv_len;
    }
    if (s->lse) {
        j->lm = mk(&j->lse, ATTN_F32, s->B, s->Hq, s->Lq, 1, 0, NULL, &j->lbytes);
        o->lse = &j->lse;
    }
    if (s->alibi) {
        j->alibi = malloc((size_t)s->Hq * sizeof(float));
        for (int64_t h = 0; h < s->Hq; h++)
            j->alibi[h] = exp2f(-8.0f * (float)(h + 1) / (float)s->Hq);
        o->alibi_slopes = j->alibi;
    }
    if (s->sinks) {
        j->sinks = malloc((size_t)s->Hq * sizeof(float));
        for (int64_t h = 0; h < s->Hq; h++)
            j->sinks[h] = (float)tu_uniform(&r, -2, 2);
        o->sinks = j->sinks;
    }
    if (s->bias == 1) {
        j->bm = mk(&j->bias, ATTN_F32, s->B, s->Hq, s->Lq, s->Lk, 0, &r, NULL);
        float *b = j->bm;
        for (int64_t e = 0; e < s->B * s->Hq * s->Lq * s->Lk; e += 13)
            b[e] = -INFINITY;
        o->bias = &j->bias;
    } else if (s->bias == 2) {
        j->bm = mk(&j->bias, ATTN_F16, 1, 1, s->Lq, s->Lk, 0, &r, NULL);
        uint16_t *b = j->bm;
        for (int64_t e = 0; e < s->Lq * s->Lk; e += 17)
            b[e] = 0xFC00; /* −inf */
        o->bias = &j->bias;
    }
    snprintf(j->desc, sizeof j->desc,
             "job %d: B=%lld Hq=%lld Hkv=%lld Lq=%lld Lk=%lld D=%lld Dv=%lld "
             "q/k/v/out=%s/%s/%s/%s%s%s%s%s%s%s%s%s%s",
             i, (long long)s->B, (long long)s->Hq, (long long)s->Hkv, (long long)s->Lq,
             (long long)s->Lk, (long long)s->D, (long long)s->Dv, dtn(s->dq), dtn(s->dk),
             dtn(s->dv), dtn(s->dout), s->bshd ? " bshd" : "", s->causal ? " causal" : "",
             s->kvlen ? " kv_len" : "", s->wl || s->wr ? " window" : "",
             s->alibi ? " alibi" : "", s->softcap > 0 ? " softcap" : "",
             s->sinks ? " sinks" : "", s->bias ? (s->bias == 1 ? " bias-f32" : " bias-f16") : "",
             s->lse ? " lse" : "");
}

static void job_free(cjob *j)
{
    free(j->qm), free(j->km), free(j->vm), free(j->om), free(j->bm);
    free(j->lm), free(j->alibi), free(j->sinks), free(j->want);
}

/* One call of job j with opt.num_threads = nt, into outputs first filled
 * with the byte fill (so that a call that writes nothing cannot pass). */
static attn_status job_run(cjob *j, int nt, unsigned char fill)
{
    memset(j->om, fill, j->obytes);
    if (j->lm)
        memset(j->lm, fill, j->lbytes);
    attn_options o = j->opt;
    o.num_threads = nt;
    return attn_forward(&j->q, &j->k, &j->v, &j->o, &o);
}

/* Whether the outputs hold exactly the bytes at want. */
static int job_same(const cjob *j, const unsigned char *want)
{
    return memcmp(j->om, want, j->obytes) == 0 &&
           (!j->lm || memcmp(j->lm, want + j->obytes, j->lbytes) == 0);
}

/* A copy of the outputs' bytes (out, then lse). */
static unsigned char *job_save(const cjob *j)
{
    unsigned char *w = malloc(j->obytes + j->lbytes + 1);
    if (!w) /* (also called on worker threads: no cr_assert there) */
        abort();
    memcpy(w, j->om, j->obytes);
    if (j->lm)
        memcpy(w + j->obytes, j->lm, j->lbytes);
    return w;
}

/* The serial result of job j on the active kernel set: two calls over two
 * different fills must agree (every output byte is written), and the call
 * with num_threads = 1 gives the same bits. */
static unsigned char *job_serial(cjob *j)
{
    cr_assert_eq(job_run(j, j->opt.num_threads, 0xA5), ATTN_OK, "%s: %s", j->desc,
                 attn_last_error());
    unsigned char *w = job_save(j);
    cr_assert_eq(job_run(j, 1, 0x5A), ATTN_OK, "%s: %s", j->desc, attn_last_error());
    cr_assert(job_same(j, w), "%s: two serial calls (num_threads %d and 1) differ, or an "
              "output byte is never written", j->desc, j->opt.num_threads);
    return w;
}

static void jobs_init(cjob jobs[NJOBS])
{
    for (int i = 0; i < NJOBS; i++)
        job_init(&jobs[i], i);
}

static void jobs_serial(cjob jobs[NJOBS])
{
    for (int i = 0; i < NJOBS; i++)
        jobs[i].want = job_serial(&jobs[i]);
}

static void jobs_free(cjob jobs[NJOBS])
{
    for (int i = 0; i < NJOBS; i++)
        job_free(&jobs[i]);
}

/* Number of key chunks the plan cuts job j into (1: no split-KV). */
static size_t job_splits(const cjob *j)
{
    const cspec *s = &j->s;
    const attn_dims d = {(size_t)s->B, (size_t)s->Hq, (size_t)s->Hkv, (size_t)s->Lq,
                         (size_t)s->Lk, (size_t)s->D, (size_t)s->Dv};
    attn_plan p;
    attn_plan_forward(attn_active_kernels(), attn_topology(), &d, &p);
    return p.splits;
}

/* A failure seen on a worker thread, reported by the main thread. */
typedef struct fail_note {
    int n;
    char first[300];
} fail_note;

static void note(fail_note *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(fail_note *f, const char *fmt, ...)
{
    if (f->n++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(f->first, sizeof f->first, fmt, ap);
        va_end(ap);
    }
}

/* num_threads of round r: the serial call's, 1, 2, the default. */
static int round_threads(const cjob *j, int r)
{
    const int v[4] = {j->opt.num_threads, 1, 2, 0};
    return v[r % 4];
}

/* ------------------------------------------------ 8 threads, serial results */

typedef struct mt_arg {
    cjob *j;
    int t, rounds;
    pthread_barrier_t *go;
    fail_note f;
} mt_arg;

static void *mt_thread(void *p)
{
    mt_arg *a = p;
    cjob *j = a->j;
    pthread_barrier_wait(a->go);
    for (int r = 0; r < a->rounds; r++) {
        const int nt = round_threads(j, r + a->t);
        attn_status s = job_run(j, nt, (unsigned char)(0xA5 ^ r));
        if (s != ATTN_OK)
            note(&a->f, "%s: round %d (num_threads %d): %s", j->desc, r, nt, attn_last_error());
        else if (!job_same(j, j->want))
            note(&a->f, "%s: round %d (num_threads %d): differs from the serial call", j->desc,
                 r, nt);
        /* attn_last_error is per thread: an error of mine names my value,
         * whatever the other threads' calls do meanwhile */
        attn_options o = j->opt;
        o.num_threads = -(1000 + a->t);
        char want[64];
        snprintf(want, sizeof want, "opt.num_threads = %d ", o.num_threads);
        if (attn_forward(&j->q, &j->k, &j->v, &j->o, &o) != ATTN_ERR_ARG)
            note(&a->f, "%s: num_threads %d accepted", j->desc, o.num_threads);
        sched_yield();
        if (!strstr(attn_last_error(), want))
            note(&a->f, "thread %d: attn_last_error() = \"%s\", expected it to name \"%s\"",
                 a->t, attn_last_error(), want);
    }
    return NULL;
}

Test(concurrency, eight_threads_give_the_serial_results_bit_for_bit)
{
    static cjob jobs[NJOBS];
    jobs_init(jobs);
    jobs_serial(jobs);
    int split = 0;
    char splits[64] = "";
    for (int i = 0; i < NJOBS; i++) {
        const size_t n = job_splits(&jobs[i]);
        split += n > 1;
        snprintf(splits + strlen(splits), sizeof splits - strlen(splits), " %zu", n);
    }
    cr_assert(split >= 1 || attn_topology()->physical_cores < 2,
              "no job takes the split-KV path on this machine");
    cr_log_info("key chunks per job:%s", splits);

    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, NJOBS);
    pthread_t th[NJOBS];
    mt_arg a[NJOBS];
    for (int t = 0; t < NJOBS; t++) {
        a[t] = (mt_arg){.j = &jobs[t], .t = t, .rounds = 48, .go = &go};
        cr_assert_eq(pthread_create(&th[t], NULL, mt_thread, &a[t]), 0);
    }
    for (int t = 0; t < NJOBS; t++)
        cr_assert_eq(pthread_join(th[t], NULL), 0);
    pthread_barrier_destroy(&go);
    for (int t = 0; t < NJOBS; t++)
        cr_expect_eq(a[t].f.n, 0, "thread %d: %d failures; first: %s", t, a[t].f.n,
                     a[t].f.first);
    jobs_free(jobs);
}

/* -------------------------------------------- inside the caller's OpenMP team */

#ifdef _OPENMP
/* The OS threads of this process, seen by a sampler thread that lists
 * /proc/self/task over and over while it runs. */
#define MAX_TIDS 512
typedef struct sampler {
    pthread_t th;
    atomic_int stop;
    atomic_long sweeps;
    pthread_mutex_t mu;
    long tids[MAX_TIDS];
    int n, overflow;
} sampler;

static int tid_in(const long *v, int n, long tid)
{
    for (int i = 0; i < n; i++)
        if (v[i] == tid)
            return 1;
    return 0;
}

/* Adds every thread of the process to s (once each). */
static void sweep(sampler *s)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    struct dirent *e;
    pthread_mutex_lock(&s->mu);
    while ((e = readdir(d))) {
        const long tid = atol(e->d_name);
        if (tid <= 0 || tid_in(s->tids, s->n, tid))
            continue;
        if (s->n < MAX_TIDS)
            s->tids[s->n++] = tid;
        else
            s->overflow = 1;
    }
    pthread_mutex_unlock(&s->mu);
    closedir(d);
}

static void *sampler_main(void *p)
{
    sampler *s = p;
    while (!atomic_load(&s->stop)) {
        sweep(s);
        atomic_fetch_add(&s->sweeps, 1);
    }
    return NULL;
}

static void sampler_start(sampler *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    cr_assert_eq(pthread_create(&s->th, NULL, sampler_main, s), 0);
    /* the sampler itself, and every thread alive now, are known */
    while (atomic_load(&s->sweeps) < 2)
        sched_yield();
}

static void sampler_stop(sampler *s)
{
    atomic_store(&s->stop, 1);
    cr_assert_eq(pthread_join(s->th, NULL), 0);
    pthread_mutex_destroy(&s->mu);
    cr_assert(!s->overflow, "more than %d threads", MAX_TIDS);
}

/* How many of tids[from, to) are not in team; *first = the first of them. */
static int strangers(const long *tids, int from, int to, const long *team, int nteam,
                     long *first)
{
    int k = 0;
    for (int i = from; i < to; i++)
        if (!tid_in(team, nteam, tids[i]) && k++ == 0)
            *first = tids[i];
    return k;
}

static long my_tid(void) { return (long)syscall(SYS_gettid); }
#endif

Test(concurrency, calls_inside_an_openmp_team_run_on_the_calling_thread)
{
#ifdef _OPENMP
    enum { MAX_TEAM = 64 };
    static cjob jobs[NJOBS];
    jobs_init(jobs);
    jobs_serial(jobs);

    /* The public observable: attn_forward_workspace is per-thread blocks ×
     * the call's threads (+ split-KV partials). Outside a team, 1 and 2
     * threads differ (so it tells them apart); inside, whatever num_threads
     * asks for, it must be the one-thread size. */
    size_t ws1[NJOBS], ws2[NJOBS];
    int distinct = 0;
    for (int i = 0; i < NJOBS; i++) {
        attn_options o = jobs[i].opt;
        o.num_threads = 1;
        cr_assert_eq(attn_forward_workspace(&jobs[i].q, &jobs[i].k, &jobs[i].v, &jobs[i].o,
                                            &o, &ws1[i]), ATTN_OK, "%s", attn_last_error());
        o.num_threads = 2;
        cr_assert_eq(attn_forward_workspace(&jobs[i].q, &jobs[i].k, &jobs[i].v, &jobs[i].o,
                                            &o, &ws2[i]), ATTN_OK, "%s", attn_last_error());
        distinct += ws2[i] > ws1[i];
    }
    cr_assert(distinct >= NJOBS / 2, "attn_forward_workspace does not depend on the threads: "
              "no observable");

    /* Nested parallelism on, so that a library that opened its own team
     * inside ours would really start threads: libgomp always starts new ones
     * for a nested team; libomp takes idle ones from its pool first, so our
     * team is made at least as large as every thread alive now (the pool
     * left by the serial calls is then all in our team, none idle). */
    const int old_levels = omp_get_max_active_levels();
    omp_set_max_active_levels(2);
    static sampler s;
    sampler_start(&s);
    long team[MAX_TIDS + MAX_TEAM];
    pthread_mutex_lock(&s.mu);
    int nteam = s.n;
    memcpy(team, s.tids, (size_t)s.n * sizeof(long));
    pthread_mutex_unlock(&s.mu);
    const int n0 = nteam;
    const int want_team = nteam + 1 < 4 ? 4 : nteam + 1 > MAX_TEAM ? MAX_TEAM : nteam + 1;

    int team_size = 0, tc_bad = 0;
    long members[MAX_TEAM] = {0};
    static fail_note f[MAX_TEAM];
    #pragma omp parallel num_threads(want_team)
    {
        const int me = omp_get_thread_num();
        members[me] = my_tid();
        #pragma omp single
        team_size = omp_get_num_threads();
        /* (implicit barrier) */
        if (attn_thread_count(0, 1000) != 1 || attn_thread_count(8, 1000) != 1)
            __atomic_add_fetch(&tc_bad, 1, __ATOMIC_RELAXED);
        const int nr = 24;
        for (int i = me; i < NJOBS; i += team_size) {
            cjob *j = &jobs[i];
            for (int r = 0; r < nr; r++) {
                const int nt = (int[]){0, 2, 8}[r % 3];
                attn_options o = j->opt;
                o.num_threads = nt;
                size_t ws = 0;
                if (attn_forward_workspace(&j->q, &j->k, &j->v, &j->o, &o, &ws) != ATTN_OK ||
                    ws != ws1[i])
                    note(&f[me], "%s: num_threads %d inside the team: workspace %zu bytes, "
                         "one thread's is %zu (two threads': %zu)", j->desc, nt, ws, ws1[i],
                         ws2[i]);
                if (job_run(j, nt, (unsigned char)(0x3C + r)) != ATTN_OK)
                    note(&f[me], "%s: %s", j->desc, attn_last_error());
                else if (!job_same(j, j->want))
                    note(&f[me], "%s: called inside an OpenMP team (num_threads %d): differs "
                         "from the serial call", j->desc, nt);
            }
        }
    }
    /* every thread the sampler had seen by now ran during (or before) the calls */
    pthread_mutex_lock(&s.mu);
    const int n_calls = s.n;
    pthread_mutex_unlock(&s.mu);
    for (int t = 0; t < team_size; t++)
        team[nteam++] = members[t];

    /* Positive control: nested teams of our own, kept alive until the
     * sampler has swept twice more, must show up as threads outside the team. */
    if (team_size >= 2) {
        #pragma omp parallel num_threads(team_size)
        {
            #pragma omp parallel num_threads(2)
            {
                const long s0 = atomic_load(&s.sweeps);
                const time_t t0 = time(NULL);
                while (atomic_load(&s.sweeps) < s0 + 2 && time(NULL) - t0 < 10)
                    sched_yield();
            }
        }
    }
    sampler_stop(&s);
    omp_set_max_active_levels(old_levels);
    if (team_size < 2) {
        jobs_free(jobs);
        cr_skip_test("the OpenMP runtime gave a team of %d thread(s)", team_size);
    }

    for (int t = 0; t < team_size; t++)
        cr_expect_eq(f[t].n, 0, "team member %d: %d failures; first: %s", t, f[t].n,
                     f[t].first);
    cr_expect_eq(tc_bad, 0, "attn_thread_count() inside an OpenMP team is not 1");
    long first = 0;
    const int k = strangers(s.tids, n0, n_calls, team, nteam, &first);
    cr_expect_eq(k, 0, "%d OS thread(s) (first: tid %ld) besides the caller's team of %d "
                 "appeared while it called the library: the calls opened a nested team", k,
                 first, team_size);
    cr_assert(strangers(s.tids, n_calls, s.n, team, nteam, &first) > 0,
              "positive control: the sampler did not see our own nested team's threads, so "
              "the check above proves nothing");
    cr_log_info("OpenMP team of %d; %d threads before, %d sampler sweeps", team_size, n0,
                (int)atomic_load(&s.sweeps));
    jobs_free(jobs);
#else
    cr_skip_test("tests built without OpenMP");
#endif
}

/* -------------------------------------------- attn_set_isa during calls */

typedef struct isa_arg {
    cjob *jobs;
    int t, nw, rounds, nisa;
    unsigned char *(*want)[NJOBS]; /* want[isa index][job] */
    unsigned seen[NJOBS];          /* bit k: a result matched set k */
    atomic_int *done;
    fail_note f;
} isa_arg;

static void *isa_worker(void *p)
{
    isa_arg *a = p;
    for (int r = 0; r < a->rounds; r++) {
        for (int i = a->t; i < NJOBS; i += a->nw) {
            cjob *j = &a->jobs[i];
            const int nt = round_threads(j, r);
            if (job_run(j, nt, (unsigned char)(0x11 * (r + 1))) != ATTN_OK) {
                note(&a->f, "%s: round %d: %s", j->desc, r, attn_last_error());
                continue;
            }
            int hit = -1;
            for (int k = 0; k < a->nisa && hit < 0; k++)
                if (job_same(j, a->want[k][i]))
                    hit = k;
            if (hit < 0)
                note(&a->f, "%s: round %d (num_threads %d): the result is none of the kernel "
                     "sets' (a mix?)", j->desc, r, nt);
            else
                a->seen[i] |= 1u << hit;
        }
    }
    atomic_fetch_add(a->done, 1);
    return NULL;
}

Test(concurrency, set_isa_during_calls_gives_one_kernel_sets_result)
{
    enum { NW = 4 };
    attn_isa isas[4];
    const int n = tu_isas(isas);
    cr_assert(n >= 1);
    const attn_isa orig = attn_get_isa();
    static cjob jobs[NJOBS];
    jobs_init(jobs);
    unsigned char *want[4][NJOBS];
    for (int k = 0; k < n; k++) {
        cr_assert_eq(attn_set_isa(isas[k]), ATTN_OK, "%s", attn_last_error());
        for (int i = 0; i < NJOBS; i++)
            want[k][i] = job_serial(&jobs[i]);
    }
    cr_assert_eq(attn_set_isa(orig), ATTN_OK);
    /* the check is blind unless the sets' results differ */
    int telling = 0;
    for (int i = 0; i < NJOBS; i++) {
        int all_differ = 1;
        for (int k = 0; k < n; k++)
            for (int m = k + 1; m < n; m++)
                all_differ &= memcmp(want[k][i], want[m][i],
                                     jobs[i].obytes + jobs[i].lbytes) != 0;
        telling += all_differ;
    }
    if (n >= 2)
        cr_assert(telling >= 1, "the kernel sets give bitwise equal results on every job");
    attn_isa unsupported = (attn_isa)-1;
    for (int i = ATTN_ISA_SCALAR; i <= ATTN_ISA_NEON; i++)
        if (!attn_isa_supported((attn_isa)i))
            unsupported = (attn_isa)i;

    atomic_int done = 0;
    pthread_t th[NW];
    isa_arg a[NW];
    for (int t = 0; t < NW; t++) {
        a[t] = (isa_arg){.jobs = jobs, .t = t, .nw = NW, .rounds = 32, .nisa = n,
                         .want = want, .done = &done};
        cr_assert_eq(pthread_create(&th[t], NULL, isa_worker, &a[t]), 0);
    }
    /* This thread switches sets as fast as it can until the workers end. */
    long switches = 0, bad = 0;
    char first_bad[300] = "";
    while (atomic_load(&done) < NW) {
        const attn_isa want_isa = isas[switches % n];
        attn_status st = attn_set_isa(want_isa);
        if (st != ATTN_OK && !bad++)
            snprintf(first_bad, sizeof first_bad, "attn_set_isa(%s): %s",
                     attn_isa_name(want_isa), attn_last_error());
        if (switches % 5 == 0 && attn_set_isa((attn_isa)77) != ATTN_ERR_ARG && !bad++)
            snprintf(first_bad, sizeof first_bad, "attn_set_isa(77) accepted");
        if (switches % 5 == 1 && (int)unsupported >= 0 &&
            attn_set_isa(unsupported) != ATTN_ERR_UNSUPPORTED && !bad++)
            snprintf(first_bad, sizeof first_bad, "attn_set_isa(%s) accepted",
                     attn_isa_name(unsupported));
        const attn_isa now = attn_get_isa();
        int known = 0;
        for (int k = 0; k < n; k++)
            known |= now == isas[k];
        if (!known && !bad++)
            snprintf(first_bad, sizeof first_bad, "attn_get_isa() = %d, not a set of this host",
                     (int)now);
        switches++;
        if (switches % 64 == 0)
            sched_yield();
    }
    for (int t = 0; t < NW; t++)
        cr_assert_eq(pthread_join(th[t], NULL), 0);
    cr_assert_eq(attn_set_isa(orig), ATTN_OK);

    cr_expect_eq(bad, 0, "%ld of %ld switches went wrong; first: %s", bad, switches, first_bad);
    unsigned seen = 0;
    for (int t = 0; t < NW; t++) {
        cr_expect_eq(a[t].f.n, 0, "worker %d: %d failures; first: %s", t, a[t].f.n,
                     a[t].f.first);
        for (int i = 0; i < NJOBS; i++)
            seen |= a[t].seen[i];
    }
    cr_log_info("%ld switches over %d kernel set(s); %d of %d jobs tell the sets apart; "
                "results seen from sets mask 0x%x", switches, n, telling, NJOBS, seen);
    for (int k = 0; k < n; k++)
        for (int i = 0; i < NJOBS; i++)
            free(want[k][i]);
    jobs_free(jobs);
}

/* -------------------------------------------- first calls race the init */

typedef struct first_arg {
    cjob *j;
    int t;
    pthread_barrier_t *go;
    attn_status first;
    attn_isa isa;
    attn_cpu_info info;
    fail_note f;
} first_arg;

static void *first_thread(void *p)
{
    first_arg *a = p;
    cjob *j = a->j;
    size_t ws;
    pthread_barrier_wait(a->go);
    /* each thread's first call is another entry point */
    switch (a->t) {
    case 0: case 7: a->first = job_run(j, j->opt.num_threads, 0xA5); break;
    case 1: a->first = attn_get_isa() <= ATTN_ISA_NEON ? ATTN_OK : ATTN_ERR_ARG; break;
    case 2: a->first = attn_init(); break;
    case 3: a->first = attn_cpu_info_get(&a->info); break;
    case 4: a->first = attn_isa_supported(ATTN_ISA_SCALAR) ? ATTN_OK : ATTN_ERR_UNSUPPORTED; break;
    case 5: a->first = attn_forward_workspace(&j->q, &j->k, &j->v, &j->o, &j->opt, &ws); break;
    default: a->first = attn_set_isa((attn_isa)99) == ATTN_ERR_ARG ? ATTN_OK : ATTN_ERR_ARG; break;
    }
    if (a->first != ATTN_OK && a->t != 2)
        note(&a->f, "thread %d: first call: %s", a->t, attn_last_error());
    a->isa = attn_get_isa();
    if (a->t != 3 && attn_cpu_info_get(&a->info) != ATTN_OK)
        note(&a->f, "thread %d: attn_cpu_info_get: %s", a->t, attn_last_error());
    if (job_run(j, j->opt.num_threads, 0xA5) != ATTN_OK)
        note(&a->f, "%s: %s", j->desc, attn_last_error());
    j->want = job_save(j);
    return NULL;
}

Test(concurrency, first_calls_race_the_initialisation)
{
    /* No library call before the threads start: Criterion runs this test in
     * a fresh child process, so they race the one-time set-up. */
    static cjob jobs[NJOBS];
    jobs_init(jobs);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, NJOBS);
    pthread_t th[NJOBS];
    first_arg a[NJOBS];
    for (int t = 0; t < NJOBS; t++) {
        a[t] = (first_arg){.j = &jobs[t], .t = t, .go = &go};
        cr_assert_eq(pthread_create(&th[t], NULL, first_thread, &a[t]), 0);
    }
    for (int t = 0; t < NJOBS; t++)
        cr_assert_eq(pthread_join(th[t], NULL), 0);
    pthread_barrier_destroy(&go);

    /* Now serially: the same set, the same machine, the same bits. */
    const attn_status init = attn_init();
    const attn_isa isa = attn_get_isa();
    attn_cpu_info info;
    cr_assert_eq(attn_cpu_info_get(&info), ATTN_OK);
    for (int t = 0; t < NJOBS; t++) {
        cr_expect_eq(a[t].f.n, 0, "%d failures; first: %s", a[t].f.n, a[t].f.first);
        if (t == 2)
            cr_expect_eq(a[t].first, init, "attn_init() racing: %d, alone: %d", a[t].first,
                         init);
        cr_expect_eq(a[t].isa, isa, "thread %d saw kernel set %s, later %s", t,
                     attn_isa_name(a[t].isa), attn_isa_name(isa));
        cr_expect(a[t].info.physical_cores == info.physical_cores &&
                  a[t].info.logical_cpus == info.logical_cpus &&
                  a[t].info.l1d_bytes == info.l1d_bytes && a[t].info.l2_bytes == info.l2_bytes &&
                  a[t].info.l3_bytes == info.l3_bytes && a[t].info.best_isa == info.best_isa &&
                  a[t].info.source && strcmp(a[t].info.source, info.source) == 0,
                  "thread %d: attn_cpu_info differs from the one read afterwards", t);
        cjob *j = &jobs[t];
        unsigned char *racing = j->want;
        j->want = job_serial(j);
        cr_expect(memcmp(racing, j->want, j->obytes + j->lbytes) == 0,
                  "%s: the call made during the first-use race differs from the serial call",
                  j->desc);
        free(racing);
    }
    jobs_free(jobs);
}

/* ------------------------------------------------ the runner without Criterion */

#if defined(TU_PLAIN_RUNNER) && TU_PLAIN_RUNNER
static tp_test tp_tests[16];
static int tp_ntests, tp_failed;

static void tp_register(const char *suite, const char *name, void (*fn)(void))
{
    if (tp_ntests < (int)NELEM(tp_tests))
        tp_tests[tp_ntests++] = (tp_test){suite, name, fn};
}

static void tp_check(int ok, int fatal, const char *file, int line, const char *expr,
                     const char *fmt, ...)
{
    if (ok)
        return;
    tp_failed = 1;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[----] %s:%d: %s failed: %s\n[----]  ", file, line,
            fatal ? "Assertion" : "Expectation", expr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (fatal)
        exit(1);
}

static void tp_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[----] skipped:");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(77);
}

/* Usage: test_concurrency [substring of suite::name]. Exit status 0 when
 * every test that ran passed (or skipped). */
int main(int argc, char **argv)
{
    int tested = 0, passing = 0, failing = 0, crashing = 0;
    for (int i = 0; i < tp_ntests; i++) {
        const tp_test *t = &tp_tests[i];
        char full[200];
        snprintf(full, sizeof full, "%s::%s", t->suite, t->name);
        if (argc > 1 && !strstr(full, argv[1]))
            continue;
        fprintf(stderr, "[RUN ] %s\n", full);
        fflush(NULL);
        const pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            t->fn();
            exit(tp_failed ? 1 : 0);
        }
        int st = 0;
        while (waitpid(pid, &st, 0) < 0)
            ;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
            fprintf(stderr, "[SKIP] %s\n", full);
            continue;
        }
        tested++;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            passing++;
            fprintf(stderr, "[PASS] %s\n", full);
        } else if (WIFEXITED(st)) {
            failing++;
            fprintf(stderr, "[FAIL] %s: exit status %d%s\n", full, WEXITSTATUS(st),
                    WEXITSTATUS(st) == 66 ? " (a ThreadSanitizer report, above)" : "");
        } else {
            crashing++;
            fprintf(stderr, "[FAIL] %s: CRASH! signal %d\n", full,
                    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        }
    }
    fprintf(stderr, "[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: %d\n",
            tested, passing, failing + crashing, crashing);
    return failing + crashing ? 1 : 0;
}
#endif
