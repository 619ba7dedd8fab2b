/*
 * test_kernels.c — every microkernel listed in kernels/ukr/<slot>.inc, tested
 * slot by slot against float64 references (DESIGN §2, §4): tile-sized,
 * smaller, larger and multiple-of-tile shapes, tails in every dimension,
 * masked (−inf) rows, NaN propagation, scores that overflow exp() without max
 * subtraction, and exact packed layouts. Buffers end exactly at their last
 * element (ASan sees any over-read) and everything a kernel must not write is
 * sentinel-filled and checked.
 *
 * The lists are included here with our own ATTN_UKR, guarded by ATTN_IF_<isa>
 * like microkernels.h, so a kernel listed there cannot escape these tests; an
 * entry whose ISA this host cannot execute is skipped at run time.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microkernels.h"
#include "ref.h"
#include "testutil.h"

#ifndef TU_EMULATED_ONLY
#define TU_EMULATED_ONLY 0
#endif

#define ISA_ENUM_scalar ATTN_ISA_SCALAR
#define ISA_ENUM_avx2 ATTN_ISA_AVX2
#define ISA_ENUM_avx512 ATTN_ISA_AVX512
#define ISA_ENUM_neon ATTN_ISA_NEON

#define SLOT_ENTRY(type)                                                                       \
    struct {                                                                                   \
        const char *name;                                                                      \
        attn_isa isa;                                                                          \
        type *fn;                                                                              \
        unsigned mr, nr;                                                                       \
    }

typedef SLOT_ENTRY(attn_qk_tile_fn) qk_entry;
typedef SLOT_ENTRY(attn_qk_direct_fn) qkd_entry;
typedef SLOT_ENTRY(attn_qk_direct_x16_fn) qkx_entry;
typedef SLOT_ENTRY(attn_softmax_tile_fn) smt_entry;
typedef SLOT_ENTRY(attn_pv_tile_fn) pv_entry;
typedef SLOT_ENTRY(attn_pv_tile_x16_fn) pvt16_entry;
typedef SLOT_ENTRY(attn_softmax_row_fn) smr_entry;
typedef SLOT_ENTRY(attn_softcap_row_fn) scr_entry;
typedef SLOT_ENTRY(attn_pack_k_f32_fn) pk_entry;
typedef SLOT_ENTRY(attn_pack_v_f32_fn) pvk_entry;
typedef SLOT_ENTRY(attn_pack_k_x16_fn) pkx_entry;
typedef SLOT_ENTRY(attn_pack_v_x16_fn) pvx_entry;

/* One array per slot, <slot>_list, from kernels/ukr/all.h (every line of
 * every .inc whose ISA is built): ATTN_EACH keeps the lines of one slot. */
#define ENTRY(isa, sym, mr, nr) {#sym, ISA_ENUM_##isa, sym, mr, nr},
#define ATTN_EACH(slot, type, isa, sym, mr, nr) PICK_##slot(ENTRY(isa, sym, mr, nr))
#define PICK_qk_tile(x)
#define PICK_qk_direct(x)
#define PICK_qk_direct_f16(x)
#define PICK_qk_direct_bf16(x)
#define PICK_softmax_tile(x)
#define PICK_pv_tile(x)
#define PICK_pv_tile_f16(x)
#define PICK_pv_tile_bf16(x)
#define PICK_softmax_row(x)
#define PICK_softcap_row(x)
#define PICK_pack_k_f32(x)
#define PICK_pack_v_f32(x)
#define PICK_pack_k_f16(x)
#define PICK_pack_k_bf16(x)
#define PICK_pack_v_f16(x)
#define PICK_pack_v_bf16(x)

#undef PICK_qk_tile
#define PICK_qk_tile(x) x
static const qk_entry qk_tile_list[] = {
#include "ukr/all.h"
};
#undef PICK_qk_tile
#define PICK_qk_tile(x)

#undef PICK_qk_direct
#define PICK_qk_direct(x) x
static const qkd_entry qk_direct_list[] = {
#include "ukr/all.h"
};
#undef PICK_qk_direct
#define PICK_qk_direct(x)

#undef PICK_qk_direct_f16
#define PICK_qk_direct_f16(x) x
static const qkx_entry qk_direct_f16_list[] = {
#include "ukr/all.h"
};
#undef PICK_qk_direct_f16
#define PICK_qk_direct_f16(x)

#undef PICK_qk_direct_bf16
#define PICK_qk_direct_bf16(x) x
static const qkx_entry qk_direct_bf16_list[] = {
#include "ukr/all.h"
};
#undef PICK_qk_direct_bf16
#define PICK_qk_direct_bf16(x)

#undef PICK_softmax_tile
#define PICK_softmax_tile(x) x
static const smt_entry softmax_tile_list[] = {
#include "ukr/all.h"
};
#undef PICK_softmax_tile
#define PICK_softmax_tile(x)

#undef PICK_pv_tile
#define PICK_pv_tile(x) x
static const pv_entry pv_tile_list[] = {
#include "ukr/all.h"
};
#undef PICK_pv_tile
#define PICK_pv_tile(x)

#undef PICK_pv_tile_f16
#define PICK_pv_tile_f16(x) x
static const pvt16_entry pv_tile_f16_list[] = {
#include "ukr/all.h"
};
#undef PICK_pv_tile_f16
#define PICK_pv_tile_f16(x)

#undef PICK_pv_tile_bf16
#define PICK_pv_tile_bf16(x) x
static const pvt16_entry pv_tile_bf16_list[] = {
#include "ukr/all.h"
};
#undef PICK_pv_tile_bf16
#define PICK_pv_tile_bf16(x)

#undef PICK_softmax_row
#define PICK_softmax_row(x) x
static const smr_entry softmax_row_list[] = {
#include "ukr/all.h"
};
#undef PICK_softmax_row
#define PICK_softmax_row(x)

#undef PICK_softcap_row
#define PICK_softcap_row(x) x
static const scr_entry softcap_row_list[] = {
#include "ukr/all.h"
};
#undef PICK_softcap_row
#define PICK_softcap_row(x)

#undef PICK_pack_k_f32
#define PICK_pack_k_f32(x) x
static const pk_entry pack_k_f32_list[] = {
#include "ukr/all.h"
};
#undef PICK_pack_k_f32
#define PICK_pack_k_f32(x)

#undef PICK_pack_v_f32
#define PICK_pack_v_f32(x) x
static const pvk_entry pack_v_f32_list[] = {
#include "ukr/all.h"
};
#undef PICK_pack_v_f32
#define PICK_pack_v_f32(x)

#undef PICK_pack_k_f16
#define PICK_pack_k_f16(x) x
static const pkx_entry pack_k_f16_list[] = {
#include "ukr/all.h"
};
#undef PICK_pack_k_f16
#define PICK_pack_k_f16(x)

#undef PICK_pack_k_bf16
#define PICK_pack_k_bf16(x) x
static const pkx_entry pack_k_bf16_list[] = {
#include "ukr/all.h"
};
#undef PICK_pack_k_bf16
#define PICK_pack_k_bf16(x)

#undef PICK_pack_v_f16
#define PICK_pack_v_f16(x) x
static const pvx_entry pack_v_f16_list[] = {
#include "ukr/all.h"
};
#undef PICK_pack_v_f16
#define PICK_pack_v_f16(x)

#undef PICK_pack_v_bf16
#define PICK_pack_v_bf16(x) x
static const pvx_entry pack_v_bf16_list[] = {
#include "ukr/all.h"
};
#undef PICK_pack_v_bf16
#define PICK_pack_v_bf16(x)
#undef ATTN_EACH

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The host can execute this ISA's code, the build has its table, and this
 * executable tests it (see tu_isa_selected). */
static int runnable(attn_isa isa)
{
    return tu_isa_selected(isa);
}

static float *alloc_f32(size_t n, uint32_t fill)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    cr_assert_not_null(p);
    uint32_t *u = (uint32_t *)(void *)p;
    for (size_t i = 0; i < (n ? n : 1); i++)
        u[i] = fill;
    return p;
}

static int is_bits(float f, uint32_t bits)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u == bits;
}

/* A rigorous bound on the rounding error of an n-term f32 dot product (any
 * order, FMA or not), doubled for slack: n·2⁻²³·Σ|aᵢbᵢ|. */
static double dot_bound(size_t n, double sum_abs)
{
    return (double)(n + 2) * 0x1.0p-23 * sum_abs + 1e-37;
}

/* Whether got is the score q·k of two d-float rows, against float64 (NaN
 * where the exact sum is NaN); else a message naming S[r][j]. */
static int score_ok(const char *name, size_t m, size_t n, size_t d, size_t r, size_t j,
                    const float *q, const float *k, float got, char *msg, size_t msz)
{
    double ref = 0.0, abs = 0.0;
    for (size_t dd = 0; dd < d; dd++) {
        ref += (double)q[dd] * (double)k[dd];
        abs += fabs((double)q[dd] * (double)k[dd]);
    }
    if (isnan(ref) ? isnan(got) : fabs((double)got - ref) <= dot_bound(d, abs))
        return 1;
    snprintf(msg, msz, "%s m=%zu n=%zu d=%zu: S[%zu][%zu] = %.9g, ref %.9g (tol %.3g)", name, m,
             n, d, r, j, (double)got, ref, dot_bound(d, abs));
    return 0;
}

static const size_t dims[] = {1, 3, 16, 64, 80, 96, 128, 256};

/* n values around a tile width: below, equal, above and multiples. */
static size_t tile_sizes(unsigned nr, size_t out[10])
{
    const size_t cand[] = {1, 2, nr - 1, nr, nr + 1, 2 * nr, 2 * nr + 1, 3 * nr + nr / 2, 5 * nr - 1, 37};
    size_t k = 0;
    for (size_t i = 0; i < NELEM(cand); i++) {
        int dup = cand[i] == 0;
        for (size_t j = 0; j < k; j++)
            dup |= out[j] == cand[i];
        if (!dup)
            out[k++] = cand[i];
    }
    return k;
}

/* ------------------------------------------------------------------ tables */

Test(kernels, tables_follow_inc_lists)
{
    for (int i = ATTN_ISA_SCALAR; i <= ATTN_ISA_NEON; i++) {
        const attn_isa isa = (attn_isa)i;
        const attn_kernels *t = attn_kernels_for(isa);
        if (attn_isa_supported(isa))
            cr_expect_not_null(t, "%s is supported but has no kernel table", attn_isa_name(isa));
        if (!t)
            continue;
        cr_expect_eq(t->isa, isa, "table of %s says isa %d", attn_isa_name(isa), (int)t->isa);
#define CHECK_SLOT(list, slot)                                                                 \
    do {                                                                                       \
        size_t pick = NELEM(list), fallback = NELEM(list);                                     \
        for (size_t e = NELEM(list); e-- > 0;) {                                               \
            if (list[e].isa == isa)                                                            \
                pick = e;                                                                      \
            if (list[e].isa == ATTN_ISA_SCALAR)                                                \
                fallback = e;                                                                  \
        }                                                                                      \
        if (pick == NELEM(list))                                                               \
            pick = fallback;                                                                   \
        cr_assert_lt(pick, NELEM(list), #slot ": no scalar kernel listed");                   \
        cr_expect(t->slot.fn == list[pick].fn,                                                 \
                     "%s table: " #slot " is %s, the .inc list says %s", attn_isa_name(isa),   \
                     t->slot.name ? t->slot.name : "(null)", list[pick].name);                 \
        cr_expect(t->slot.name && strcmp(t->slot.name, list[pick].name) == 0,                  \
                  "%s table: " #slot " name %s, want %s", attn_isa_name(isa),                 \
                  t->slot.name ? t->slot.name : "(null)", list[pick].name);                    \
        cr_expect(t->slot.mr == list[pick].mr && t->slot.nr == list[pick].nr,                  \
                  "%s table: " #slot " mr/nr %u/%u, want %u/%u", attn_isa_name(isa),           \
                  t->slot.mr, t->slot.nr, list[pick].mr, list[pick].nr);                       \
        cr_expect_eq(t->slot.isa, list[pick].isa, "%s table: " #slot " isa", attn_isa_name(isa)); \
    } while (0)
        /* every slot of the table (a new slot needs its <slot>_list here,
         * and its tests below, or this file does not compile) */
#define CHECK_ONE(slot, type) CHECK_SLOT(slot##_list, slot);
        ATTN_SLOTS(CHECK_ONE)
#undef CHECK_ONE
#undef CHECK_SLOT
    }
}

Test(kernels, active_table_follows_set_isa)
{
    attn_isa isas[4];
    const int n = tu_isas(isas);
    const attn_isa saved = attn_get_isa();
#if !TU_EMULATED_ONLY
    cr_assert_gt(n, 0, "no runnable kernel set");
    cr_expect_eq(isas[0], ATTN_ISA_SCALAR, "scalar must always run");
#endif
    char names[64] = "";
    for (int i = 0; i < n; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), " %s",
                 attn_isa_name(isas[i]));
    cr_log_info("kernel sets under test:%s", names);
#if TU_EMULATED_ONLY
    cr_expect_gt(n, 0, "no emulated kernel set runs here (the host lacks AVX2+FMA?)");
#endif
    for (int i = 0; i < n; i++) {
        cr_assert_eq(attn_set_isa(isas[i]), ATTN_OK, "attn_set_isa(%s)", attn_isa_name(isas[i]));
        cr_expect_eq(attn_get_isa(), isas[i]);
        cr_expect_eq(attn_active_kernels(), attn_kernels_for(isas[i]),
                     "active table is not %s's", attn_isa_name(isas[i]));
    }
    attn_set_isa(saved);
}

/* ------------------------------------------------------------------ pack_k / pack_v */

/* The nr values a pack_k kernel of this ISA is used with: every qk_tile nr of
 * the ISA and the nr of the ISA table's qk_tile. */
static size_t pack_nrs(attn_isa isa, unsigned out[16])
{
    size_t k = 0;
    const attn_kernels *t = attn_kernels_for(isa);
    out[k++] = t->qk_tile.nr;
    for (size_t e = 0; e < NELEM(qk_tile_list) && k < 16; e++) {
        int dup = 0;
        for (size_t j = 0; j < k; j++)
            dup |= out[j] == qk_tile_list[e].nr;
        if (qk_tile_list[e].isa == isa && !dup)
            out[k++] = qk_tile_list[e].nr;
    }
    return k;
}

Test(kernels, pack_k_f32_layout)
{
    tu_rng rng = {101};
    for (size_t e = 0; e < NELEM(pack_k_f32_list); e++) {
        if (!runnable(pack_k_f32_list[e].isa))
            continue;
        unsigned nrs[16];
        const size_t nnr = pack_nrs(pack_k_f32_list[e].isa, nrs);
        for (size_t a = 0; a < nnr; a++) {
            const unsigned nr = nrs[a];
            size_t ns[10];
            const size_t nn = tile_sizes(nr, ns);
            for (size_t in = 0; in < nn; in++)
                for (size_t id = 0; id < NELEM(dims); id++) {
                    const size_t n = ns[in], d = dims[id], ldk = d + 3;
                    const size_t panels = (n + nr - 1) / nr, np = panels * nr * d;
                    float *k = alloc_f32((n - 1) * ldk + d, TU_NAN_BITS);
                    for (size_t j = 0; j < n; j++)
                        for (size_t dd = 0; dd < d; dd++)
                            k[j * ldk + dd] = (float)tu_uniform(&rng, -2, 2);
                    float *kp = alloc_f32(np, TU_SENTINEL);
                    pack_k_f32_list[e].fn(n, d, k, ldk, kp, nr);
                    size_t bad = 0, first = 0;
                    for (size_t t = 0; t < panels; t++)
                        for (size_t dd = 0; dd < d; dd++)
                            for (size_t jj = 0; jj < nr; jj++) {
                                const size_t j = t * nr + jj, at = t * nr * d + dd * nr + jj;
                                const float want = j < n ? k[j * ldk + dd] : 0.0f;
                                if (memcmp(&kp[at], &want, sizeof want) != 0 && !bad++)
                                    first = at;
                            }
                    cr_assert_eq(bad, 0,
                                 "%s: n=%zu d=%zu ldk=%zu nr=%u: %zu packed values wrong, first "
                                 "at %zu (got %g)",
                                 pack_k_f32_list[e].name, n, d, ldk, nr, bad, first, (double)kp[first]);
                    free(k);
                    free(kp);
                }
        }
    }
}

Test(kernels, pack_v_f32_layout)
{
    tu_rng rng = {102};
    for (size_t e = 0; e < NELEM(pack_v_f32_list); e++) {
        if (!runnable(pack_v_f32_list[e].isa))
            continue;
        const size_t ns[] = {1, 2, 7, 8, 9, 16, 33, 100};
        const size_t dvs[] = {1, 3, 7, 8, 9, 16, 17, 64, 80, 96, 128, 256};
        for (size_t in = 0; in < NELEM(ns); in++)
            for (size_t id = 0; id < NELEM(dvs); id++) {
                const size_t n = ns[in], dv = dvs[id], ldv = dv + 5;
                uint32_t *v = (uint32_t *)(void *)alloc_f32((n - 1) * ldv + dv, TU_SENTINEL);
                for (size_t j = 0; j < n; j++)
                    for (size_t c = 0; c < dv; c++)
                        v[j * ldv + c] = (uint32_t)tu_next(&rng); /* any bits, NaNs included */
                float *vp = alloc_f32(n * dv, TU_SENTINEL);
                pack_v_f32_list[e].fn(n, dv, (const float *)(void *)v, ldv, vp);
                int ok = 1;
                for (size_t j = 0; j < n && ok; j++)
                    ok = memcmp(vp + j * dv, v + j * ldv, dv * sizeof(float)) == 0;
                cr_assert(ok, "%s: n=%zu dv=%zu ldv=%zu: packed rows differ bitwise",
                          pack_v_f32_list[e].name, n, dv, ldv);
                free(v);
                free(vp);
            }
    }
}

/* ------------------------------------------------------------------ pack_*_f16 / bf16 */

/* Same value, bit for bit (any NaN matches any NaN: payloads may be quieted). */
static int same_f32(float a, float b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

static void pack_k_x16_run(const pkx_entry *list, size_t count, float (*widen)(uint16_t),
                           uint64_t seed)
{
    tu_rng rng = {seed};
    for (size_t e = 0; e < count; e++) {
        if (!runnable(list[e].isa))
            continue;
        unsigned nrs[16];
        const size_t nnr = pack_nrs(list[e].isa, nrs);
        for (size_t a = 0; a < nnr; a++) {
            const unsigned nr = nrs[a];
            size_t ns[10];
            const size_t nn = tile_sizes(nr, ns);
            for (size_t in = 0; in < nn; in++)
                for (size_t id = 0; id < NELEM(dims); id++) {
                    const size_t n = ns[in], d = dims[id], ldk = d + 5;
                    const size_t panels = (n + nr - 1) / nr, np = panels * nr * d;
                    const size_t nk = (n - 1) * ldk + d;
                    uint16_t *k = malloc(nk * sizeof(uint16_t));
                    for (size_t i = 0; i < nk; i++)
                        k[i] = (uint16_t)tu_next(&rng); /* every pattern: subnormals, inf, NaN */
                    float *kp = alloc_f32(np, TU_SENTINEL);
                    list[e].fn(n, d, k, ldk, kp, nr);
                    size_t bad = 0, first = 0;
                    for (size_t t = 0; t < panels; t++)
                        for (size_t dd = 0; dd < d; dd++)
                            for (size_t jj = 0; jj < nr; jj++) {
                                const size_t j = t * nr + jj, at = t * nr * d + dd * nr + jj;
                                const float want = j < n ? widen(k[j * ldk + dd]) : 0.0f;
                                if (!same_f32(kp[at], want) && !bad++)
                                    first = at;
                            }
                    cr_assert_eq(bad, 0,
                                 "%s: n=%zu d=%zu ldk=%zu nr=%u: %zu packed values wrong, first "
                                 "at %zu (got %g)",
                                 list[e].name, n, d, ldk, nr, bad, first, (double)kp[first]);
                    free(k);
                    free(kp);
                }
        }
    }
}

static void pack_v_x16_run(const pvx_entry *list, size_t count, float (*widen)(uint16_t))
{
    for (size_t e = 0; e < count; e++) {
        if (!runnable(list[e].isa))
            continue;
        /* all 65536 patterns, as 256 rows of 256 at a padded pitch; then tails */
        const size_t shapes[][2] = {{256, 256}, {1, 1}, {3, 7}, {9, 17}, {5, 33}, {2, 100}};
        for (size_t sh = 0; sh < NELEM(shapes); sh++) {
            const size_t n = shapes[sh][0], dv = shapes[sh][1], ldv = dv + 3;
            const size_t nv = (n - 1) * ldv + dv;
            uint16_t *v = malloc(nv * sizeof(uint16_t));
            for (size_t j = 0; j < n; j++)
                for (size_t c = 0; c < dv; c++)
                    v[j * ldv + c] = (uint16_t)((j * dv + c) * 40503u);
            float *vp = alloc_f32(n * dv, TU_SENTINEL);
            list[e].fn(n, dv, v, ldv, vp);
            size_t bad = 0, first = 0;
            for (size_t j = 0; j < n; j++)
                for (size_t c = 0; c < dv; c++)
                    if (!same_f32(vp[j * dv + c], widen(v[j * ldv + c])) && !bad++)
                        first = j * dv + c;
            cr_assert_eq(bad, 0, "%s: n=%zu dv=%zu: %zu values wrong, first at %zu (got %g from 0x%04x)",
                         list[e].name, n, dv, bad, first, (double)vp[first],
                         (unsigned)v[first / dv * ldv + first % dv]);
            free(v);
            free(vp);
        }
    }
}

Test(kernels, pack_k_f16_widens_exactly)
{
    pack_k_x16_run(pack_k_f16_list, NELEM(pack_k_f16_list), tu_f16_to_f32, 103);
}

Test(kernels, pack_k_bf16_widens_exactly)
{
    pack_k_x16_run(pack_k_bf16_list, NELEM(pack_k_bf16_list), tu_bf16_to_f32, 104);
}

Test(kernels, pack_v_f16_widens_exactly)
{
    pack_v_x16_run(pack_v_f16_list, NELEM(pack_v_f16_list), tu_f16_to_f32);
}

Test(kernels, pack_v_bf16_widens_exactly)
{
    pack_v_x16_run(pack_v_bf16_list, NELEM(pack_v_bf16_list), tu_bf16_to_f32);
}

/* ------------------------------------------------------------------ qk_tile */

/* Runs one qk_tile case; Q/K are random unless nan_q/nan_k name a row/key
 * (SIZE_MAX: none) that gets one NaN. Returns 0 and a message on failure. */
static int qk_case(const qk_entry *e, size_t m, size_t n, size_t d, tu_rng *rng, size_t nan_q,
                   size_t nan_k, char *msg, size_t msz)
{
    const attn_kernels *t = attn_kernels_for(e->isa);
    const size_t ldq = d + 3, ldk = d + 1, lds = n + 4, nr = e->nr;
    float *q = alloc_f32((m - 1) * ldq + d, TU_NAN_BITS);
    float *k = alloc_f32((n - 1) * ldk + d, TU_NAN_BITS);
    float *kp = alloc_f32((n + nr - 1) / nr * nr * d, TU_SENTINEL);
    float *s = alloc_f32(e->mr * lds, TU_SENTINEL);
    for (size_t r = 0; r < m; r++)
        for (size_t dd = 0; dd < d; dd++)
            q[r * ldq + dd] = (float)tu_uniform(rng, -1, 1);
    for (size_t j = 0; j < n; j++)
        for (size_t dd = 0; dd < d; dd++)
            k[j * ldk + dd] = (float)tu_uniform(rng, -1, 1);
    if (nan_q < m)
        q[nan_q * ldq + d / 2] = tu_nanf();
    if (nan_k < n)
        k[nan_k * ldk + d - 1] = tu_nanf();
    t->pack_k_f32.fn(n, d, k, ldk, kp, nr);
    e->fn(m, n, d, q, ldq, kp, s, lds);
    int ok = 1;
    for (size_t r = 0; r < e->mr && ok; r++)
        for (size_t j = 0; j < lds && ok; j++) {
            const float got = s[r * lds + j];
            if (r >= m || j >= n) {
                if (!is_bits(got, TU_SENTINEL)) {
                    snprintf(msg, msz, "%s m=%zu n=%zu d=%zu: wrote S[%zu][%zu] outside the tile",
                             e->name, m, n, d, r, j);
                    ok = 0;
                }
                continue;
            }
            ok = score_ok(e->name, m, n, d, r, j, q + r * ldq, k + j * ldk, got, msg, msz);
        }
    free(q);
    free(k);
    free(kp);
    free(s);
    return ok;
}

Test(kernels, qk_tile_shapes)
{
    tu_rng rng = {201};
    char msg[512];
    for (size_t e = 0; e < NELEM(qk_tile_list); e++) {
        if (!runnable(qk_tile_list[e].isa))
            continue;
        size_t ns[10];
        const size_t nn = tile_sizes(qk_tile_list[e].nr, ns);
        for (size_t m = 1; m <= qk_tile_list[e].mr; m++)
            for (size_t in = 0; in < nn; in++)
                for (size_t id = 0; id < NELEM(dims); id++)
                    cr_assert(qk_case(&qk_tile_list[e], m, ns[in], dims[id], &rng, SIZE_MAX, SIZE_MAX,
                                      msg, sizeof msg),
                              "%s", msg);
    }
}

Test(kernels, qk_tile_nan_stays_in_its_row_and_column)
{
    tu_rng rng = {202};
    char msg[512];
    for (size_t e = 0; e < NELEM(qk_tile_list); e++) {
        if (!runnable(qk_tile_list[e].isa))
            continue;
        const qk_entry *k = &qk_tile_list[e];
        const size_t n = 2 * k->nr + 3;
        for (size_t r = 0; r < k->mr; r++)
            cr_assert(qk_case(k, k->mr, n, 19, &rng, r, SIZE_MAX, msg, sizeof msg), "%s", msg);
        for (size_t j = 0; j < n; j++)
            cr_assert(qk_case(k, k->mr, n, 19, &rng, SIZE_MAX, j, msg, sizeof msg), "%s", msg);
    }
}

/* ------------------------------------------------------------------ softmax_tile */

/* Rows a softmax_tile kernel is asked to handle: up to its mr when it has
 * one, else a spread of small counts (the driver's Q tile heights). */
static size_t smt_rows(const smt_entry *e, size_t out[16])
{
    size_t k = 0;
    if (e->mr > 1) {
        for (size_t m = 1; m <= e->mr && k < 16; m++)
            out[k++] = m;
    } else {
        const size_t c[] = {1, 2, 3, 4, 5, 6, 8, 13, 16};
        for (size_t i = 0; i < NELEM(c); i++)
            out[k++] = c[i];
    }
    return k;
}

/*
 * Several online steps over tiles of random widths, scores drawn by gen(),
 * against one float64 softmax over the concatenated row: P per step,
 * alpha, the return value, the final max and sum, and Σ p·v accumulated the
 * way the driver does.
 */
typedef double score_gen(tu_rng *rng, size_t r, size_t tile, size_t j);

static double gen_shifting(tu_rng *rng, size_t r, size_t tile, size_t j)
{
    (void)j;
    /* even rows: max grows from tile to tile; odd rows: it shrinks; some -inf */
    const double shift = (r % 2 ? -3.0 : 3.0) * (double)tile;
    if (tu_int(rng, 0, 9) == 0)
        return -INFINITY;
    return shift + tu_uniform(rng, -6, 6);
}

static double gen_overflow(tu_rng *rng, size_t r, size_t tile, size_t j)
{
    (void)r, (void)tile, (void)j;
    return tu_uniform(rng, 90, 100);
}

static double gen_huge(tu_rng *rng, size_t r, size_t tile, size_t j)
{
    (void)tile, (void)j;
    return (r % 2 ? -1e4 : 1e4) + tu_uniform(rng, -20, 20);
}

enum { MAXTILES = 5 };

static int smt_online_case(const smt_entry *e, size_t m, const size_t *widths, size_t ntiles,
                           score_gen *gen, tu_rng *rng, char *msg, size_t msz)
{
    size_t total = 0;
    for (size_t t = 0; t < ntiles; t++)
        total += widths[t];
    double *all = malloc(sizeof(double) * m * total); /* the scores, row-major */
    double *vv = malloc(sizeof(double) * total);       /* one value column */
    for (size_t j = 0; j < total; j++)
        vv[j] = tu_uniform(rng, -1, 1);
    size_t off = 0;
    for (size_t t = 0; t < ntiles; t++) {
        for (size_t r = 0; r < m; r++)
            for (size_t j = 0; j < widths[t]; j++)
                all[r * total + off + j] = (double)(float)gen(rng, r, t, j);
        off += widths[t];
    }
    float mx[16], l[16], alpha[16];
    double num[16], rmax[16];
    for (size_t r = 0; r < m; r++) {
        mx[r] = -INFINITY;
        l[r] = 0.0f;
        num[r] = 0.0;
        rmax[r] = -INFINITY;
    }
    int ok = 1;
    off = 0;
    for (size_t t = 0; t < ntiles && ok; t++) {
        const size_t n = widths[t], lds = n + 2;
        float *s = alloc_f32((m - 1) * lds + n, TU_SENTINEL);
        for (size_t r = 0; r < m; r++)
            for (size_t j = 0; j < n; j++)
                s[r * lds + j] = (float)all[r * total + off + j];
        for (size_t r = 0; r < m; r++)
            alpha[r] = tu_nanf();
        const int ret = e->fn(m, n, s, lds, mx, l, alpha);
        int moved = 0, alpha_not_one = 0;
        for (size_t r = 0; r < m && ok; r++) {
            double mnew = rmax[r];
            for (size_t j = 0; j < n; j++)
                if (all[r * total + off + j] > mnew)
                    mnew = all[r * total + off + j];
            moved |= mnew > rmax[r];
            alpha_not_one |= alpha[r] != 1.0f;
            /* alpha: exactly 1 when the max did not move (or stays -inf) */
            const double aref = (mnew == rmax[r]) ? 1.0 : exp(rmax[r] - mnew);
            if (!(fabs((double)alpha[r] - aref) <= 2e-6 * aref + 0x1p-126)) {
                snprintf(msg, msz, "%s m=%zu tile %zu (n=%zu): alpha[%zu] = %.9g, want %.9g",
                         e->name, m, t, n, r, (double)alpha[r], aref);
                ok = 0;
                break;
            }
            if ((double)mx[r] != mnew) {
                snprintf(msg, msz, "%s m=%zu tile %zu: mx[%zu] = %.9g, want %.9g", e->name, m,
                         t, r, (double)mx[r], mnew);
                ok = 0;
                break;
            }
            double sum = 0.0;
            for (size_t j = 0; j < n; j++) {
                const double x = all[r * total + off + j];
                const double pref = (mnew == -INFINITY || x == -INFINITY) ? 0.0 : exp(x - mnew);
                const float p = s[r * lds + j];
                if (!(fabs((double)p - pref) <= 2e-6 * pref + 0x1p-126) || signbit(p)) {
                    snprintf(msg, msz,
                             "%s m=%zu tile %zu (n=%zu): P[%zu][%zu] = %.9g, want exp(%.9g - "
                             "%.9g) = %.9g",
                             e->name, m, t, n, r, j, (double)p, x, mnew, pref);
                    ok = 0;
                    break;
                }
                sum += p * vv[off + j];
            }
            for (size_t j = n; j < lds && r + 1 < m; j++)
                if (!is_bits(s[r * lds + j], TU_SENTINEL)) {
                    snprintf(msg, msz, "%s m=%zu n=%zu: wrote S[%zu][%zu] past n", e->name, m, n,
                             r, j);
                    ok = 0;
                }
            num[r] = alpha[r] * num[r] + sum;
            rmax[r] = mnew;
        }
        if (ok && alpha_not_one && !ret) {
            snprintf(msg, msz, "%s m=%zu tile %zu: an alpha != 1 but returned 0", e->name, m, t);
            ok = 0;
        }
        if (ok && !moved && ret) {
            snprintf(msg, msz, "%s m=%zu tile %zu: no max moved but returned %d", e->name, m, t,
                     ret);
            ok = 0;
        }
        free(s);
        off += widths[t];
    }
    /* the whole row at once, in float64 */
    double *w = malloc(sizeof(double) * total);
    for (size_t r = 0; r < m && ok; r++) {
        ref_row_softmax(total, all + r * total, NULL, w);
        double outref = 0.0, lref = 0.0;
        for (size_t j = 0; j < total; j++) {
            outref += w[j] * vv[j];
            lref += (rmax[r] == -INFINITY || all[r * total + j] == -INFINITY)
                        ? 0.0
                        : exp(all[r * total + j] - rmax[r]);
        }
        const double out = l[r] > 0.0f ? num[r] / l[r] : 0.0;
        if (!(fabs((double)l[r] - lref) <= 1e-5 * lref) || !(fabs(out - outref) <= 1e-5)) {
            snprintf(msg, msz,
                     "%s m=%zu, %zu tiles: row %zu: l = %.9g (ref %.9g), online out %.9g vs one "
                     "softmax %.9g",
                     e->name, m, ntiles, r, (double)l[r], lref, out, outref);
            ok = 0;
        }
    }
    free(w);
    free(all);
    free(vv);
    return ok;
}

static void smt_run(score_gen *gen, uint64_t seed, size_t max_tiles)
{
    tu_rng rng = {seed};
    char msg[512];
    const size_t wl[] = {1, 3, 7, 8, 9, 16, 17, 31, 64, 100};
    for (size_t e = 0; e < NELEM(softmax_tile_list); e++) {
        if (!runnable(softmax_tile_list[e].isa))
            continue;
        size_t rows[16];
        const size_t nrows = smt_rows(&softmax_tile_list[e], rows);
        for (size_t ir = 0; ir < nrows; ir++)
            for (size_t rep = 0; rep < 6; rep++) {
                size_t widths[MAXTILES];
                const size_t nt = 1 + (size_t)tu_int(&rng, 0, (int64_t)max_tiles - 1);
                for (size_t t = 0; t < nt; t++)
                    widths[t] = wl[tu_int(&rng, 0, NELEM(wl) - 1)];
                cr_assert(smt_online_case(&softmax_tile_list[e], rows[ir], widths, nt, gen, &rng, msg,
                                          sizeof msg),
                          "%s", msg);
            }
    }
}

Test(kernels, softmax_tile_online_equals_one_softmax)
{
    smt_run(gen_shifting, 301, MAXTILES);
}

Test(kernels, softmax_tile_no_overflow_in_90_100)
{
    smt_run(gen_overflow, 302, 3);
}

Test(kernels, softmax_tile_scores_of_1e4)
{
    smt_run(gen_huge, 303, 3);
}

/* A row masked in every tile stays (mx, l) = (−inf, 0) with P = 0 and
 * alpha = 1; one that becomes visible later gets alpha = 0 then. */
Test(kernels, softmax_tile_masked_rows)
{
    for (size_t e = 0; e < NELEM(softmax_tile_list); e++) {
        if (!runnable(softmax_tile_list[e].isa))
            continue;
        size_t rows[16];
        const size_t nrows = smt_rows(&softmax_tile_list[e], rows);
        for (size_t ir = 0; ir < nrows; ir++) {
            const size_t m = rows[ir];
            const size_t ns[] = {1, 5, 8, 16, 33};
            for (size_t in = 0; in < NELEM(ns); in++) {
                const size_t n = ns[in];
                float mx[16], l[16], alpha[16];
                for (size_t r = 0; r < m; r++)
                    mx[r] = -INFINITY, l[r] = 0.0f;
                float *s = alloc_f32(m * n, TU_SENTINEL);
                /* step 1: every row fully masked */
                for (size_t i = 0; i < m * n; i++)
                    s[i] = -INFINITY;
                int ret = softmax_tile_list[e].fn(m, n, s, n, mx, l, alpha);
                cr_assert_eq(ret, 0, "%s m=%zu n=%zu: all -inf returned %d", softmax_tile_list[e].name, m,
                             n, ret);
                for (size_t r = 0; r < m; r++) {
                    cr_assert(mx[r] == -INFINITY && l[r] == 0.0f && alpha[r] == 1.0f,
                              "%s m=%zu n=%zu row %zu: masked row got mx %g l %g alpha %g",
                              softmax_tile_list[e].name, m, n, r, (double)mx[r], (double)l[r],
                              (double)alpha[r]);
                    for (size_t j = 0; j < n; j++)
                        cr_assert(s[r * n + j] == 0.0f && !signbit(s[r * n + j]),
                                  "%s m=%zu n=%zu: masked P[%zu][%zu] = %g, want 0",
                                  softmax_tile_list[e].name, m, n, r, j, (double)s[r * n + j]);
                }
                /* step 2: even rows become visible (score 2 at key 0, others -inf) */
                for (size_t r = 0; r < m; r++)
                    for (size_t j = 0; j < n; j++)
                        s[r * n + j] = (r % 2 == 0 && j == 0) ? 2.0f : -INFINITY;
                ret = softmax_tile_list[e].fn(m, n, s, n, mx, l, alpha);
                cr_assert_neq(ret, 0, "%s m=%zu n=%zu: rows became visible, returned 0",
                              softmax_tile_list[e].name, m, n);
                for (size_t r = 0; r < m; r++) {
                    const int vis = r % 2 == 0;
                    cr_assert(vis ? (mx[r] == 2.0f && l[r] == 1.0f && alpha[r] == 0.0f)
                                  : (mx[r] == -INFINITY && l[r] == 0.0f && alpha[r] == 1.0f),
                              "%s m=%zu n=%zu row %zu: got mx %g l %g alpha %g", softmax_tile_list[e].name,
                              m, n, r, (double)mx[r], (double)l[r], (double)alpha[r]);
                    for (size_t j = 0; j < n; j++)
                        cr_assert(s[r * n + j] == ((vis && j == 0) ? 1.0f : 0.0f),
                                  "%s m=%zu n=%zu: P[%zu][%zu] = %g", softmax_tile_list[e].name, m, n, r,
                                  j, (double)s[r * n + j]);
                }
                free(s);
            }
        }
    }
}

/* A NaN score makes its row's P and l NaN; the other rows are untouched by it. */
Test(kernels, softmax_tile_nan_propagates_to_its_row_only)
{
    tu_rng rng = {304};
    for (size_t e = 0; e < NELEM(softmax_tile_list); e++) {
        if (!runnable(softmax_tile_list[e].isa))
            continue;
        size_t rows[16];
        const size_t nrows = smt_rows(&softmax_tile_list[e], rows);
        for (size_t ir = 0; ir < nrows; ir++) {
            const size_t m = rows[ir], n = 21;
            for (size_t bad = 0; bad < m; bad++) {
                float mx[16], l[16], alpha[16];
                float *s = alloc_f32(m * n, TU_SENTINEL);
                double ref[16 * 21];
                for (size_t r = 0; r < m; r++) {
                    mx[r] = 0.5f; /* a previous step saw a score of 0.5 */
                    l[r] = 1.0f;
                    for (size_t j = 0; j < n; j++)
                        ref[r * n + j] = s[r * n + j] = (float)tu_uniform(&rng, -1, 1);
                }
                const size_t j0 = (size_t)tu_int(&rng, 0, n - 1);
                s[bad * n + j0] = tu_nanf();
                softmax_tile_list[e].fn(m, n, s, n, mx, l, alpha);
                for (size_t r = 0; r < m; r++) {
                    if (r == bad) {
                        cr_assert(isnan(l[r]) && isnan(s[r * n + j0]),
                                  "%s m=%zu: NaN at [%zu][%zu] gave l = %g, P = %g",
                                  softmax_tile_list[e].name, m, r, j0, (double)l[r],
                                  (double)s[r * n + j0]);
                        continue;
                    }
                    double mref = 0.5, lref = 0.0;
                    for (size_t j = 0; j < n; j++)
                        mref = ref[r * n + j] > mref ? ref[r * n + j] : mref;
                    lref = exp(0.5 - mref);
                    for (size_t j = 0; j < n; j++)
                        lref += exp(ref[r * n + j] - mref);
                    cr_assert((double)mx[r] == mref && fabs((double)l[r] - lref) <= 1e-5 * lref,
                              "%s m=%zu: NaN in row %zu changed row %zu: mx %g (%g), l %g (%g)",
                              softmax_tile_list[e].name, m, bad, r, (double)mx[r], mref, (double)l[r],
                              lref);
                }
                free(s);
            }
        }
    }
}

/* ------------------------------------------------------------------ pv_tile */

enum { PV_OVERWRITE, PV_ACCUMULATE, PV_RESCALE };

static int pv_case(const pv_entry *e, size_t m, size_t n, size_t dv, int mode, int nan_in_o,
                   tu_rng *rng, char *msg, size_t msz)
{
    static const char *const modes[] = {"overwrite", "accumulate (alpha NULL)", "rescale"};
    const size_t ldp = n + 3, ldv = dv + 2, ldo = dv + 5;
    float *p = alloc_f32(n ? (m - 1) * ldp + n : 1, TU_NAN_BITS);
    float *v = alloc_f32(n ? (n - 1) * ldv + dv : 1, TU_NAN_BITS);
    float *o = alloc_f32(e->mr * ldo, TU_SENTINEL);
    float alpha[64];
    double *o0 = malloc(sizeof(double) * m * dv);
    for (size_t r = 0; r < m; r++)
        for (size_t j = 0; j < n; j++)
            p[r * ldp + j] = (float)tu_uniform(rng, 0, 1);
    for (size_t j = 0; j < n; j++)
        for (size_t c = 0; c < dv; c++)
            v[j * ldv + c] = (float)tu_uniform(rng, -1, 1);
    for (size_t r = 0; r < m; r++) {
        const int64_t pick = tu_int(rng, 0, 3);
        alpha[r] = pick == 0 ? 0.0f : pick == 1 ? 1.0f : (float)tu_uniform(rng, 0, 1);
        for (size_t c = 0; c < dv; c++) {
            o[r * ldo + c] = nan_in_o ? (c % 3 ? tu_nanf() : (float)tu_uniform(rng, -1e30, 1e30))
                                      : (float)tu_uniform(rng, -2, 2);
            o0[r * dv + c] = o[r * ldo + c];
        }
    }
    e->fn(m, n, dv, p, ldp, v, ldv, o, ldo, mode == PV_RESCALE ? alpha : NULL,
          mode == PV_OVERWRITE);
    int ok = 1;
    for (size_t r = 0; r < e->mr && ok; r++)
        for (size_t c = 0; c < ldo && ok; c++) {
            const float got = o[r * ldo + c];
            if (r >= m || c >= dv) {
                if (!is_bits(got, TU_SENTINEL)) {
                    snprintf(msg, msz, "%s %s m=%zu n=%zu dv=%zu: wrote O[%zu][%zu] outside",
                             e->name, modes[mode], m, n, dv, r, c);
                    ok = 0;
                }
                continue;
            }
            double ref = 0.0, abs = 0.0;
            if (mode != PV_OVERWRITE) {
                const double a = mode == PV_RESCALE ? alpha[r] : 1.0;
                ref = a * o0[r * dv + c];
                abs = fabs(ref);
            }
            for (size_t j = 0; j < n; j++) {
                ref += (double)p[r * ldp + j] * v[j * ldv + c];
                abs += fabs((double)p[r * ldp + j] * v[j * ldv + c]);
            }
            if (!(fabs((double)got - ref) <= dot_bound(n + 1, abs))) {
                snprintf(msg, msz, "%s %s m=%zu n=%zu dv=%zu: O[%zu][%zu] = %.9g, ref %.9g%s",
                         e->name, modes[mode], m, n, dv, r, c, (double)got, ref,
                         nan_in_o ? " (O held NaN/garbage before an overwrite)" : "");
                ok = 0;
            }
        }
    free(p);
    free(v);
    free(o);
    free(o0);
    return ok;
}

Test(kernels, pv_tile_shapes_and_modes)
{
    tu_rng rng = {401};
    char msg[512];
    for (size_t e = 0; e < NELEM(pv_tile_list); e++) {
        if (!runnable(pv_tile_list[e].isa))
            continue;
        const pv_entry *k = &pv_tile_list[e];
        const size_t ns[] = {0, 1, 5, 8, 17, 40};
        const size_t dvs[] = {1, 3, k->nr - 1, k->nr, k->nr + 1, 2 * k->nr + 3, 64, 80, 96, 128, 256};
        for (size_t m = 1; m <= k->mr; m++)
            for (size_t in = 0; in < NELEM(ns); in++)
                for (size_t id = 0; id < NELEM(dvs); id++) {
                    if (dvs[id] == 0)
                        continue;
                    for (int mode = PV_OVERWRITE; mode <= PV_RESCALE; mode++)
                        cr_assert(pv_case(k, m, ns[in], dvs[id], mode, 0, &rng, msg, sizeof msg),
                                  "%s", msg);
                }
    }
}

Test(kernels, pv_tile_overwrite_ignores_garbage_in_o)
{
    tu_rng rng = {402};
    char msg[512];
    for (size_t e = 0; e < NELEM(pv_tile_list); e++) {
        if (!runnable(pv_tile_list[e].isa))
            continue;
        const pv_entry *k = &pv_tile_list[e];
        const size_t ns[] = {0, 1, 9, 33};
        const size_t dvs[] = {1, k->nr + 1, 64, 80, 128};
        for (size_t m = 1; m <= k->mr; m++)
            for (size_t in = 0; in < NELEM(ns); in++)
                for (size_t id = 0; id < NELEM(dvs); id++)
                    cr_assert(pv_case(k, m, ns[in], dvs[id], PV_OVERWRITE, 1, &rng, msg,
                                      sizeof msg),
                              "%s", msg);
    }
}

/* A random 16-bit value (bf: bfloat16, else binary16) of |value| < 2,
 * exponents down to the subnormals. */
static uint16_t rand_x16(tu_rng *rng, int bf)
{
    const uint64_t r = tu_next(rng);
    const uint16_t sign = (uint16_t)((r >> 20 & 1) << 15);
    return bf ? (uint16_t)(sign | (uint16_t)(100 + r % 28) << 7 | (r >> 8 & 0x7f))
              : (uint16_t)(sign | (uint16_t)(r % 16) << 10 | (r >> 8 & 0x3ff));
}

/* The output of a 16-bit kernel (got: rows × ld) against its f32 twin's on
 * the widened values (want): [m × n] bitwise the same (NaN for NaN), the
 * sentinel elsewhere. ctx names the call. */
static void assert_twin(const char *ctx, const char *twin, size_t rows, size_t ld, size_t m,
                        size_t n, const float *got, const float *want)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < ld; c++) {
            const float g = got[r * ld + c];
            if (r >= m || c >= n)
                cr_assert(is_bits(g, TU_SENTINEL), "%s: wrote [%zu][%zu] outside", ctx, r, c);
            else
                cr_assert(same_f32(g, want[r * ld + c]),
                          "%s: [%zu][%zu] = %a, %s on the widened values gives %a", ctx, r, c,
                          (double)g, twin, (double)want[r * ld + c]);
        }
}

/* pv_tile_f16/bf16 against pv_tile of the same ISA on the widened rows:
 * bitwise the same O (NaN for NaN) in every mode, for m up to the entry's
 * mr, tails of n and dv, subnormal values, a NaN value; nothing outside
 * O[m × dv] written. V is allocated to its last element (ASan sees a read
 * past a row's dv). */
static void pv_x16_run(const pvt16_entry *list, size_t count, int bf, uint64_t seed)
{
    tu_rng rng = {seed};
    float (*const widen)(uint16_t) = bf ? tu_bf16_to_f32 : tu_f16_to_f32;
    const size_t ns[] = {0, 1, 3, 8, 17, 40};
    for (size_t e = 0; e < count; e++) {
        const pvt16_entry *x = &list[e];
        if (!runnable(x->isa))
            continue;
        const pv_entry *f = NULL;
        for (size_t i = 0; i < NELEM(pv_tile_list) && !f; i++)
            if (pv_tile_list[i].isa == x->isa)
                f = &pv_tile_list[i];
        cr_assert(f != NULL, "%s: no f32 pv_tile of its ISA", x->name);
        cr_assert(x->mr <= f->mr, "%s: mr %u > pv_tile's %u", x->name, x->mr, f->mr);
        const size_t dvs[] = {1, 3, 7, 8, 9, x->nr - 1, x->nr, x->nr + 1, 2 * x->nr + 3, 64, 128};
        for (size_t m = 1; m <= x->mr; m++)
            for (size_t in = 0; in < NELEM(ns); in++)
                for (size_t id = 0; id < NELEM(dvs); id++)
                    for (int mode = PV_OVERWRITE; mode <= PV_RESCALE; mode++) {
                        const size_t n = ns[in], dv = dvs[id], ldp = n + 3, ldv = dv + 2;
                        const size_t ldo = dv + 5, nv = n ? (n - 1) * ldv + dv : 1;
                        float *p = alloc_f32(n ? (m - 1) * ldp + n : 1, TU_NAN_BITS);
                        uint16_t *v = malloc(nv * sizeof(uint16_t));
                        float *vw = alloc_f32(nv, TU_NAN_BITS);
                        float *o = alloc_f32(x->mr * ldo, TU_SENTINEL);
                        float *o32 = alloc_f32(x->mr * ldo, TU_SENTINEL);
                        float alpha[64];
                        for (size_t r = 0; r < m; r++) {
                            for (size_t j = 0; j < n; j++)
                                p[r * ldp + j] = (float)tu_uniform(&rng, 0, 1);
                            alpha[r] = (float)tu_uniform(&rng, 0, 1);
                            for (size_t c = 0; c < dv; c++)
                                o[r * ldo + c] = o32[r * ldo + c] = (float)tu_uniform(&rng, -2, 2);
                        }
                        for (size_t i = 0; i < nv; i++)
                            v[i] = rand_x16(&rng, bf);
                        if (n > 2 && dv > 1) /* a NaN in key 2's row */
                            v[2 * ldv + dv / 2] = bf ? 0x7fc1 : 0x7e01;
                        for (size_t i = 0; i < nv; i++)
                            vw[i] = widen(v[i]);
                        const float *al = mode == PV_RESCALE ? alpha : NULL;
                        x->fn(m, n, dv, p, ldp, v, ldv, o, ldo, al, mode == PV_OVERWRITE);
                        f->fn(m, n, dv, p, ldp, vw, ldv, o32, ldo, al, mode == PV_OVERWRITE);
                        char ctx[160];
                        snprintf(ctx, sizeof ctx, "%s mode %d m=%zu n=%zu dv=%zu: O", x->name,
                                 mode, m, n, dv);
                        assert_twin(ctx, f->name, x->mr, ldo, m, dv, o, o32);
                        if (n > 2 && dv > 1)
                            for (size_t r = 0; r < m; r++)
                                cr_assert(isnan(o[r * ldo + dv / 2]), "%s: NaN value gave %a",
                                          x->name, (double)o[r * ldo + dv / 2]);
                        free(p), free(v), free(vw), free(o), free(o32);
                    }
    }
}

Test(kernels, pv_tile_f16_is_pv_tile_on_widened_values)
{
    pv_x16_run(pv_tile_f16_list, NELEM(pv_tile_f16_list), 0, 621);
}

Test(kernels, pv_tile_bf16_is_pv_tile_on_widened_values)
{
    pv_x16_run(pv_tile_bf16_list, NELEM(pv_tile_bf16_list), 1, 622);
}

/* ------------------------------------------------------------------ softmax_row */

static int smr_case(const smr_entry *e, size_t n, const double *x0, char *msg, size_t msz)
{
    float *x = alloc_f32(n, TU_SENTINEL);
    double *xd = malloc(sizeof(double) * (n ? n : 1));
    double *w = malloc(sizeof(double) * (n ? n : 1));
    for (size_t j = 0; j < n; j++)
        xd[j] = x[j] = (float)x0[j];
    const double lref = ref_row_softmax(n, xd, NULL, w);
    const float lse = e->fn(n, x);
    int ok = 1;
    if (isnan(lref) ? !isnan(lse)
        : isinf(lref) ? (double)lse != lref
                      : !(fabs((double)lse - lref) <= 1e-5 * (fabs(lref) > 1 ? fabs(lref) : 1))) {
        snprintf(msg, msz, "%s n=%zu: lse = %.9g, ref %.9g", e->name, n, (double)lse, lref);
        ok = 0;
    }
    for (size_t j = 0; j < n && ok; j++) {
        const int good = isnan(w[j]) ? isnan(x[j])
                                     : (fabs((double)x[j] - w[j]) <= 1e-5 * w[j] + 0x1p-126 &&
                                        !signbit(x[j]));
        if (!good) {
            snprintf(msg, msz, "%s n=%zu: p[%zu] = %.9g, ref %.9g (x = %.9g)", e->name, n, j,
                     (double)x[j], w[j], xd[j]);
            ok = 0;
        }
    }
    free(x);
    free(xd);
    free(w);
    return ok;
}

Test(kernels, softmax_row_values_and_lse)
{
    tu_rng rng = {501};
    char msg[512];
    const size_t ns[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 257, 1000};
    double *x = malloc(sizeof(double) * 1000);
    for (size_t e = 0; e < NELEM(softmax_row_list); e++) {
        if (!runnable(softmax_row_list[e].isa))
            continue;
        for (size_t in = 0; in < NELEM(ns); in++)
            for (int kind = 0; kind < 5; kind++) {
                const size_t n = ns[in];
                for (size_t j = 0; j < n; j++) {
                    switch (kind) {
                    case 0: x[j] = tu_uniform(&rng, -10, 10); break;
                    case 1: x[j] = tu_uniform(&rng, 90, 100); break; /* exp(x) overflows f32 */
                    case 2: x[j] = 1e4 + tu_uniform(&rng, -30, 30); break;
                    case 3: x[j] = -1e4 + tu_uniform(&rng, -30, 30); break;
                    default: /* some masked entries, never all */
                        x[j] = (j % 3 == 1) ? -INFINITY : tu_uniform(&rng, -5, 5);
                    }
                }
                cr_assert(smr_case(&softmax_row_list[e], n, x, msg, sizeof msg), "%s (kind %d)", msg, kind);
            }
    }
    free(x);
}

Test(kernels, softmax_row_masked_empty_and_nan)
{
    tu_rng rng = {502};
    char msg[512];
    double x[40];
    for (size_t e = 0; e < NELEM(softmax_row_list); e++) {
        if (!runnable(softmax_row_list[e].isa))
            continue;
        /* n = 0: returns −inf, touches nothing */
        float one = 0.0f;
        memcpy(&one, &(uint32_t){TU_SENTINEL}, sizeof one);
        const float lse0 = softmax_row_list[e].fn(0, &one);
        cr_assert(lse0 == -INFINITY && is_bits(one, TU_SENTINEL), "%s n=0: lse %g",
                  softmax_row_list[e].name, (double)lse0);
        for (size_t n = 1; n <= 40; n += 3) {
            for (size_t j = 0; j < n; j++)
                x[j] = -INFINITY;
            cr_assert(smr_case(&softmax_row_list[e], n, x, msg, sizeof msg), "%s (all -inf)", msg);
            for (size_t j = 0; j < n; j++)
                x[j] = tu_uniform(&rng, -3, 3);
            x[tu_int(&rng, 0, (int64_t)n - 1)] = NAN;
            cr_assert(smr_case(&softmax_row_list[e], n, x, msg, sizeof msg), "%s (one NaN)", msg);
        }
    }
}

/* ------------------------------------------------------------------ softcap_row */

/* |got − want| in units of the float ulp at want (the subnormal ulp below
 * 2^−126). */
static double ulps(float got, double want)
{
    const double a = fabs(want) < 0x1p-126 ? 0x1p-126 : fabs(want);
    int e;
    frexp(a, &e);
    return fabs((double)got - want) / ldexp(1.0, e - 24);
}

Test(kernels, softcap_row_tanh_within_3_ulp_over_the_float_range)
{
    /* cap = 1: the kernel is tanh itself (1/cap and cap·t are exact). Every
     * 251st float of each sign, in blocks whose length varies so every
     * tail length is taken. */
    enum { BLK = 1031 };
    float *x = alloc_f32(BLK + 1, TU_SENTINEL), *x0 = malloc(sizeof(float) * BLK);
    const uint32_t x_end = TU_SENTINEL;
    for (size_t e = 0; e < NELEM(softcap_row_list); e++) {
        if (!runnable(softcap_row_list[e].isa))
            continue;
        double worst = 0;
        float worst_x = 0;
        uint32_t bits = 0;
        for (int sign = 0; sign < 2; sign++) {
            bits = 0;
            while (bits < 0x7f800000u) {
                const size_t n = 1000 + bits % 32;
                size_t k = 0;
                for (; k < n && bits < 0x7f800000u; k++, bits += 251) {
                    const uint32_t b = bits | (sign ? 0x80000000u : 0);
                    memcpy(&x0[k], &b, sizeof b);
                }
                memcpy(x, x0, k * sizeof(float));
                memcpy(&x[k], &x_end, sizeof x_end);
                softcap_row_list[e].fn(k, x, 1.0f);
                cr_assert(is_bits(x[k], TU_SENTINEL), "%s wrote past n = %zu",
                          softcap_row_list[e].name, k);
                for (size_t j = 0; j < k; j++) {
                    const double u = ulps(x[j], tanh((double)x0[j]));
                    if (u > worst)
                        worst = u, worst_x = x0[j];
                }
            }
        }
        cr_assert(worst <= 3.0, "%s: tanh %.2f ulp off at x = %a", softcap_row_list[e].name,
                  worst, (double)worst_x);
    }
    free(x);
    free(x0);
}

Test(kernels, softcap_row_caps_special_values_and_tails)
{
    tu_rng rng = {503};
    const float caps[] = {0.5f, 1.0f, 30.0f, 50.0f, 1e6f};
    float x[48], x0[48];
    for (size_t e = 0; e < NELEM(softcap_row_list); e++) {
        if (!runnable(softcap_row_list[e].isa))
            continue;
        const char *name = softcap_row_list[e].name;
        for (size_t ic = 0; ic < NELEM(caps); ic++) {
            const float cap = caps[ic];
            for (size_t n = 0; n <= 40; n++) {
                float *y = alloc_f32(48, TU_SENTINEL);
                for (size_t j = 0; j < n; j++)
                    x0[j] = y[j] = (float)tu_uniform(&rng, -4.0 * cap, 4.0 * cap);
                softcap_row_list[e].fn(n, y, cap);
                memcpy(x, y, sizeof x);
                free(y);
                for (size_t j = 0; j < n; j++) {
                    /* s·(1/cap) rounds twice (2^−23 relative, at most that
                     * much on tanh too), then tanh, then the multiply */
                    const double want = cap * tanh((double)x0[j] / cap);
                    cr_assert(fabs(x[j] - want) <= 6 * 0x1p-24 * fabs(want) + 1e-37 &&
                                  fabs(x[j]) <= cap,
                              "%s cap %g n=%zu: %.9g -> %.9g, want %.9g", name, (double)cap, n,
                              (double)x0[j], (double)x[j], want);
                }
                for (size_t j = n; j < 48; j++)
                    cr_assert(is_bits(x[j], TU_SENTINEL), "%s wrote past n = %zu", name, n);
            }
            /* ±inf → ±cap, NaN stays NaN, ±0 keep their sign; mixed with
             * small and large lanes in one vector */
            const float sp[] = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 1e-3f, 5.0f, -1e30f,
                                1e-45f, -1e-40f, 0.3f, 1e30f, NAN, -INFINITY, 0.62f, 0.63f, 9.0f};
            const size_t ns = NELEM(sp);
            for (size_t j = 0; j < ns; j++)
                x[j] = sp[j] * (isinf(sp[j]) || isnan(sp[j]) || sp[j] == 0 ? 1.0f : cap);
            softcap_row_list[e].fn(ns, x, cap);
            cr_assert(x[0] == cap && x[1] == -cap && x[13] == -cap, "%s cap %g: inf -> %g %g",
                      name, (double)cap, (double)x[0], (double)x[1]);
            cr_assert(isnan(x[2]) && isnan(x[12]), "%s: NaN -> %g", name, (double)x[2]);
            cr_assert(is_bits(x[3], 0) && is_bits(x[4], 0x80000000u), "%s: ±0 -> %a %a", name,
                      (double)x[3], (double)x[4]);
            cr_assert(x[7] == -cap && x[11] == cap, "%s: ±1e30·cap -> %g %g", name,
                      (double)x[7], (double)x[11]);
        }
    }
}

/* ------------------------------------------------------------------ qk_direct */

/* One qk_direct case against float64, K rows in place at ldk; the scores
 * must be bitwise those of m = 1 calls on each row alone (a score depends on
 * its q and k rows only), and nothing outside S[m × n] written. */
static int qkd_case(const qkd_entry *e, size_t m, size_t n, size_t d, tu_rng *rng, size_t nan_k,
                    char *msg, size_t msz)
{
    const size_t ldq = d + 3, ldk = d + 5, lds = n + 4, rows = m + 1;
    float *q = alloc_f32((m - 1) * ldq + d, TU_NAN_BITS);
    float *k = alloc_f32(n ? (n - 1) * ldk + d : 1, TU_NAN_BITS);
    float *s = alloc_f32(rows * lds, TU_SENTINEL), *s1 = alloc_f32(lds, TU_SENTINEL);
    for (size_t r = 0; r < m; r++)
        for (size_t dd = 0; dd < d; dd++)
            q[r * ldq + dd] = (float)tu_uniform(rng, -1, 1);
    for (size_t j = 0; j < n; j++)
        for (size_t dd = 0; dd < d; dd++)
            k[j * ldk + dd] = (float)tu_uniform(rng, -1, 1);
    if (nan_k < n)
        k[nan_k * ldk + d / 2] = tu_nanf();
    e->fn(m, n, d, q, ldq, k, ldk, s, lds);
    int ok = 1;
    for (size_t r = 0; r < rows && ok; r++) {
        if (r < m)
            e->fn(1, n, d, q + r * ldq, ldq, k, ldk, s1, lds);
        for (size_t j = 0; j < lds && ok; j++) {
            const float got = s[r * lds + j];
            if (r >= m || j >= n) {
                if (!is_bits(got, TU_SENTINEL)) {
                    snprintf(msg, msz, "%s m=%zu n=%zu d=%zu: wrote S[%zu][%zu] outside",
                             e->name, m, n, d, r, j);
                    ok = 0;
                }
                continue;
            }
            if (!score_ok(e->name, m, n, d, r, j, q + r * ldq, k + j * ldk, got, msg, msz)) {
                ok = 0;
            } else if (memcmp(&got, &s1[j], sizeof got) != 0) {
                snprintf(msg, msz, "%s m=%zu n=%zu d=%zu: S[%zu][%zu] = %a alone but %a in a "
                         "block of %zu rows", e->name, m, n, d, r, j, (double)s1[j], (double)got,
                         m);
                ok = 0;
            }
        }
    }
    free(q), free(k), free(s), free(s1);
    return ok;
}

Test(kernels, qk_direct_shapes_rows_and_nan)
{
    tu_rng rng = {601};
    char msg[512];
    const size_t ns[] = {0, 1, 2, 3, 4, 5, 7, 8, 13, 37};
    const size_t ds[] = {1, 3, 8, 9, 16, 17, 31, 64, 128, 130};
    for (size_t e = 0; e < NELEM(qk_direct_list); e++) {
        const qkd_entry *k = &qk_direct_list[e];
        if (!runnable(k->isa))
            continue;
        for (size_t m = 1; m <= k->mr + 1; m++)
            for (size_t in = 0; in < NELEM(ns); in++)
                for (size_t id = 0; id < NELEM(ds); id++)
                    cr_assert(qkd_case(k, m, ns[in], ds[id], &rng, SIZE_MAX, msg, sizeof msg),
                              "%s", msg);
        /* a NaN in one key: exactly that column is NaN in every row */
        for (size_t nk = 0; nk < 9; nk++)
            cr_assert(qkd_case(k, 3, 9, 20, &rng, nk, msg, sizeof msg), "%s (NaN key %zu)", msg,
                      nk);
    }
}

/* qk_direct_f16/bf16 against qk_direct of the same ISA on the widened rows:
 * bitwise the same scores (NaN for NaN), for every m up to mr + 1, tails of
 * d and n, subnormal keys, a NaN key; nothing outside S[m × n] written. K
 * is allocated to its last element, so a read past a row's d shows in ASan. */
static void qk_direct_x16_run(const qkx_entry *list, size_t count, int bf, uint64_t seed)
{
    tu_rng rng = {seed};
    float (*const widen)(uint16_t) = bf ? tu_bf16_to_f32 : tu_f16_to_f32;
    const size_t ns[] = {1, 3, 4, 5, 9, 33};
    const size_t ds[] = {1, 7, 8, 16, 17, 64, 100, 128};
    for (size_t e = 0; e < count; e++) {
        const qkx_entry *x = &list[e];
        if (!runnable(x->isa))
            continue;
        const qkd_entry *f = NULL;
        for (size_t i = 0; i < NELEM(qk_direct_list) && !f; i++)
            if (qk_direct_list[i].isa == x->isa)
                f = &qk_direct_list[i];
        cr_assert(f != NULL, "%s: no f32 qk_direct of its ISA", x->name);
        for (size_t m = 1; m <= x->mr + 1; m++)
            for (size_t in = 0; in < NELEM(ns); in++)
                for (size_t id = 0; id < NELEM(ds); id++) {
                    const size_t n = ns[in], d = ds[id], ldq = d + 1, ldk = d + 3, lds = n + 2;
                    const size_t nk = (n - 1) * ldk + d;
                    float *q = alloc_f32((m - 1) * ldq + d, TU_NAN_BITS);
                    uint16_t *k = malloc(nk * sizeof(uint16_t));
                    float *kw = alloc_f32(nk, TU_NAN_BITS);
                    float *s = alloc_f32((m + 1) * lds, TU_SENTINEL);
                    float *s32 = alloc_f32((m + 1) * lds, TU_SENTINEL);
                    for (size_t r = 0; r < m; r++)
                        for (size_t t = 0; t < d; t++)
                            q[r * ldq + t] = (float)tu_uniform(&rng, -1, 1);
                    for (size_t i = 0; i < nk; i++)
                        k[i] = rand_x16(&rng, bf);
                    if (n > 2 && d > 1) /* a NaN in key 2 */
                        k[2 * ldk + d / 2] = bf ? 0x7fc1 : 0x7e01;
                    for (size_t i = 0; i < nk; i++)
                        kw[i] = widen(k[i]);
                    x->fn(m, n, d, q, ldq, k, ldk, s, lds);
                    f->fn(m, n, d, q, ldq, kw, ldk, s32, lds);
                    char ctx[160];
                    snprintf(ctx, sizeof ctx, "%s m=%zu n=%zu d=%zu: S", x->name, m, n, d);
                    assert_twin(ctx, f->name, m + 1, lds, m, n, s, s32);
                    if (n > 2 && d > 1)
                        for (size_t r = 0; r < m; r++)
                            cr_assert(isnan(s[r * lds + 2]), "%s: NaN key gave %a", x->name,
                                      (double)s[r * lds + 2]);
                    free(q), free(k), free(kw), free(s), free(s32);
                }
    }
}

Test(kernels, qk_direct_f16_is_qk_direct_on_widened_keys)
{
    qk_direct_x16_run(qk_direct_f16_list, NELEM(qk_direct_f16_list), 0, 611);
}

Test(kernels, qk_direct_bf16_is_qk_direct_on_widened_keys)
{
    qk_direct_x16_run(qk_direct_bf16_list, NELEM(qk_direct_bf16_list), 1, 612);
}
