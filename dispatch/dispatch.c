/*
 * dispatch.c — which kernel set runs. Once (pthread_once) at the first call:
 * probe the CPU and the topology, build one complete table per kernel set
 * compiled in (scalar kernels in every slot the set does not list), choose
 * the best set the CPU can run, then apply the ATTN_ISA override.
 * Afterwards the only mutable state is the pointer to the active table,
 * an atomic: each call loads it once and keeps it to the end, so
 * attn_set_isa() never changes a call in flight.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cpu.h"
#include "internal.h"
#include "microkernels.h"

#define ATTN_ISA_COUNT 4
#define ATTN_ISA_ENUM_scalar ATTN_ISA_SCALAR
#define ATTN_ISA_ENUM_avx2 ATTN_ISA_AVX2
#define ATTN_ISA_ENUM_avx512 ATTN_ISA_AVX512
#define ATTN_ISA_ENUM_neon ATTN_ISA_NEON

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static attn_kernels g_tables[ATTN_ISA_COUNT];
static int g_built[ATTN_ISA_COUNT];
static attn_cpu_features g_features;
static attn_cpu_info g_info;
static attn_status g_env_status = ATTN_OK;
static _Atomic(const attn_kernels *) g_active;

/* The first entry of an ISA in a slot's list wins. */
#define ATTN_FILL(slot, isa_, sym, mr_, nr_)                                   \
    do {                                                                       \
        attn_kernels *t_ = &g_tables[ATTN_ISA_ENUM_##isa_];                   \
        g_built[ATTN_ISA_ENUM_##isa_] = 1;                                     \
        if (!t_->slot.fn) {                                                    \
            t_->slot.fn = sym;                                                 \
            t_->slot.name = #sym;                                              \
            t_->slot.isa = ATTN_ISA_ENUM_##isa_;                               \
            t_->slot.mr = (mr_);                                               \
            t_->slot.nr = (nr_);                                               \
        }                                                                      \
    } while (0);

static void fill_tables(void)
{
#define ATTN_EACH(slot, type, isa, sym, mr, nr) ATTN_FILL(slot, isa, sym, mr, nr)
#include "ukr/all.h"
#undef ATTN_EACH

    /* A set counts as built when its folder was compiled in, even if it
     * lists no kernel yet for some slot: those slots run the scalar kernel. */
    g_built[ATTN_ISA_SCALAR] = 1;
    g_built[ATTN_ISA_AVX2] |= ATTN_HAVE_AVX2;
    g_built[ATTN_ISA_AVX512] |= ATTN_HAVE_AVX512;
    g_built[ATTN_ISA_NEON] |= ATTN_HAVE_NEON;

    const attn_kernels *s = &g_tables[ATTN_ISA_SCALAR];
    for (int i = 0; i < ATTN_ISA_COUNT; i++) {
        attn_kernels *t = &g_tables[i];
        t->isa = (attn_isa)i;
#define ATTN_INHERIT(slot, type) if (!t->slot.fn) t->slot = s->slot;
        ATTN_SLOTS(ATTN_INHERIT)
#undef ATTN_INHERIT
    }
}

static int runnable(attn_isa isa)
{
    return (unsigned)isa < ATTN_ISA_COUNT && g_built[isa] &&
           attn_cpu_features_run(&g_features, isa);
}

static attn_isa best_isa(void)
{
    static const attn_isa order[] = {ATTN_ISA_AVX512, ATTN_ISA_AVX2,
                                     ATTN_ISA_NEON, ATTN_ISA_SCALAR};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (runnable(order[i]))
            return order[i];
    return ATTN_ISA_SCALAR;
}

static int parse_isa(const char *s, attn_isa *isa)
{
    for (int i = 0; i < ATTN_ISA_COUNT; i++) {
        if (strcasecmp(s, attn_isa_name((attn_isa)i)) == 0) {
            *isa = (attn_isa)i;
            return 1;
        }
    }
    return 0;
}

static void init_once(void)
{
    attn_cpu_probe(&g_features);
    attn_topology_probe(&g_info);
    fill_tables();
    attn_isa chosen = best_isa();
    g_info.best_isa = chosen;

    /* ATTN_ISA forces a set; one this CPU or build cannot run is refused
     * with a warning (the library keeps the best set, never crashes). */
    const char *env = getenv("ATTN_ISA");
    if (env && *env) {
        attn_isa want;
        if (!parse_isa(env, &want)) {
            g_env_status = ATTN_ERR_ARG;
            fprintf(stderr, "libattn: ATTN_ISA=%s is not a kernel set "
                            "(scalar, avx2, avx512, neon); using %s\n",
                    env, attn_isa_name(chosen));
        } else if (!runnable(want)) {
            g_env_status = ATTN_ERR_UNSUPPORTED;
            fprintf(stderr, "libattn: ATTN_ISA=%s cannot run on this CPU or "
                            "build; using %s\n", env, attn_isa_name(chosen));
        } else {
            chosen = want;
        }
    }
    atomic_store_explicit(&g_active, &g_tables[chosen], memory_order_release);
}

static void ensure_init(void) { pthread_once(&g_once, init_once); }

const attn_kernels *attn_active_kernels(void)
{
    ensure_init();
    return atomic_load_explicit(&g_active, memory_order_acquire);
}

const attn_kernels *attn_kernels_for(attn_isa isa)
{
    ensure_init();
    return (unsigned)isa < ATTN_ISA_COUNT && g_built[isa] ? &g_tables[isa] : NULL;
}

const attn_cpu_info *attn_topology(void)
{
    ensure_init();
    return &g_info;
}

ATTN_API attn_status attn_init(void)
{
    ensure_init();
    if (g_env_status != ATTN_OK)
        return attn_error(g_env_status, "attn_init: ATTN_ISA=%s was refused; "
                          "using %s", getenv("ATTN_ISA") ? getenv("ATTN_ISA") : "",
                          attn_isa_name(attn_get_isa()));
    return ATTN_OK;
}

ATTN_API attn_status attn_set_isa(attn_isa isa)
{
    ensure_init();
    if ((unsigned)isa >= ATTN_ISA_COUNT)
        return attn_error(ATTN_ERR_ARG, "attn_set_isa: %d is not an attn_isa "
                          "value (0..%d)", (int)isa, ATTN_ISA_COUNT - 1);
    if (!runnable(isa))
        return attn_error(ATTN_ERR_UNSUPPORTED, "attn_set_isa: kernel set '%s' "
                          "is not %s", attn_isa_name(isa),
                          g_built[isa] ? "supported by this CPU" : "built into this library");
    atomic_store_explicit(&g_active, &g_tables[isa], memory_order_release);
    return ATTN_OK;
}

ATTN_API attn_isa attn_get_isa(void) { return attn_active_kernels()->isa; }

ATTN_API int attn_isa_supported(attn_isa isa)
{
    ensure_init();
    return runnable(isa);
}

ATTN_API const char *attn_isa_name(attn_isa isa)
{
    switch (isa) {
    case ATTN_ISA_SCALAR: return "scalar";
    case ATTN_ISA_AVX2: return "avx2";
    case ATTN_ISA_AVX512: return "avx512";
    case ATTN_ISA_NEON: return "neon";
    }
    return "unknown";
}

ATTN_API attn_status attn_cpu_info_get(attn_cpu_info *info)
{
    if (!info)
        return attn_error(ATTN_ERR_NULL, "attn_cpu_info_get: info is NULL");
    ensure_init();
    *info = g_info;
    return ATTN_OK;
}
