/*
 * main.c — attn_plain_tests: the kernel and API checks without Criterion,
 * for the aarch64 cross build under qemu-user and for hosts without
 * Criterion (DESIGN §4). One line per check, then "N passed, N failed";
 * exit status 1 on any failure.
 *
 * Every kernel of kernels/ukr/all.h (every .inc line whose ISA is built) is
 * checked when this host can run its ISA; a slot this runner has no check
 * for is itself a failure, so a listed kernel cannot escape. The API checks
 * run once per kernel set the host can run.
 */
#include <stdio.h>
#include <string.h>

#include "attn.h"
#include "microkernels.h"
#include "plain.h"

#define ISA_ENUM_scalar ATTN_ISA_SCALAR
#define ISA_ENUM_avx2 ATTN_ISA_AVX2
#define ISA_ENUM_avx512 ATTN_ISA_AVX512
#define ISA_ENUM_neon ATTN_ISA_NEON

/* One listed kernel; fn is cast back to its slot's type before a call. */
typedef struct entry {
    const char *slot, *name;
    attn_isa isa;
    void (*fn)(void);
    unsigned mr, nr;
} entry;

#define ATTN_EACH(slot, type, isa, sym, mr, nr)                                \
    {#slot, #sym, ISA_ENUM_##isa, (void (*)(void))sym, mr, nr},
static const entry kernels[] = {
#include "ukr/all.h"
};
#undef ATTN_EACH

static int runnable(attn_isa isa)
{
    return attn_isa_supported(isa) && attn_kernels_for(isa) != NULL;
}

/* The panel widths a pack_k kernel of this ISA serves: its table's qk nr
 * and every listed qk kernel's nr of the ISA. */
static size_t pack_nrs(attn_isa isa, unsigned out[16])
{
    size_t k = 0;
    out[k++] = attn_kernels_for(isa)->qk_tile.nr;
    for (size_t e = 0; e < PT_NELEM(kernels) && k < 16; e++) {
        if (strcmp(kernels[e].slot, "qk_tile") != 0 || kernels[e].isa != isa)
            continue;
        int dup = 0;
        for (size_t j = 0; j < k; j++)
            dup |= out[j] == kernels[e].nr;
        if (!dup)
            out[k++] = kernels[e].nr;
    }
    return k;
}

static void check_kernel(const entry *e)
{
    unsigned nrs[16];
    const char *s = e->slot;
    if (!strcmp(s, "qk_tile"))
        pt_check_qk_tile(e->name, (attn_qk_tile_fn *)e->fn, e->mr, e->nr);
    else if (!strcmp(s, "softmax_tile"))
        pt_check_softmax_tile(e->name, (attn_softmax_tile_fn *)e->fn);
    else if (!strcmp(s, "pv_tile"))
        pt_check_pv_tile(e->name, (attn_pv_tile_fn *)e->fn, e->mr);
    else if (!strcmp(s, "pv_tile_f16") || !strcmp(s, "pv_tile_bf16"))
        pt_check_pv_tile_x16(e->name, (attn_pv_tile_x16_fn *)e->fn, e->mr, s[8] == 'b');
    else if (!strcmp(s, "softmax_row"))
        pt_check_softmax_row(e->name, (attn_softmax_row_fn *)e->fn);
    else if (!strcmp(s, "qk_direct"))
        pt_check_qk_direct(e->name, (attn_qk_direct_fn *)e->fn, e->mr);
    else if (!strcmp(s, "qk_direct_f16") || !strcmp(s, "qk_direct_bf16"))
        pt_check_qk_direct_x16(e->name, (attn_qk_direct_x16_fn *)e->fn, e->mr, s[10] == 'b');
    else if (!strcmp(s, "softcap_row"))
        pt_check_softcap_row(e->name, (attn_softcap_row_fn *)e->fn);
    else if (!strcmp(s, "pack_k_f32"))
        pt_check_pack_k(e->name, (attn_pack_k_f32_fn *)e->fn, nrs, pack_nrs(e->isa, nrs));
    else if (!strcmp(s, "pack_v_f32"))
        pt_check_pack_v(e->name, (attn_pack_v_f32_fn *)e->fn);
    else if (!strcmp(s, "pack_k_f16") || !strcmp(s, "pack_k_bf16"))
        pt_check_pack_k_x16(e->name, (attn_pack_k_x16_fn *)e->fn, nrs, pack_nrs(e->isa, nrs),
                            s[7] == 'b');
    else if (!strcmp(s, "pack_v_f16") || !strcmp(s, "pack_v_bf16"))
        pt_check_pack_v_x16(e->name, (attn_pack_v_x16_fn *)e->fn, s[7] == 'b');
    else {
        pt_begin("%s %s: the plain runner has a check for this slot", s, e->name);
        pt_expect(0, "no check for slot %s: add one to tests/plain", s);
        pt_end();
    }
}

int main(void)
{
    const attn_isa best = attn_get_isa();
    printf("# libattn plain tests; kernel set in use: %s\n", attn_isa_name(best));
    for (size_t e = 0; e < PT_NELEM(kernels); e++) {
        if (runnable(kernels[e].isa))
            check_kernel(&kernels[e]);
        else
            printf("#    skip %s (%s cannot run here)\n", kernels[e].name,
                   attn_isa_name(kernels[e].isa));
    }
    for (int i = ATTN_ISA_SCALAR; i <= ATTN_ISA_NEON; i++) {
        const attn_isa isa = (attn_isa)i;
        if (!runnable(isa))
            continue;
        pt_begin("attn_set_isa(%s) selects its table", attn_isa_name(isa));
        pt_expect(attn_set_isa(isa) == ATTN_OK && attn_get_isa() == isa &&
                      attn_active_kernels() == attn_kernels_for(isa),
                  "attn_set_isa(%s) failed or did not switch", attn_isa_name(isa));
        pt_end();
        pt_check_api(attn_isa_name(isa));
    }
    attn_set_isa(best);
    pt_check_api_args();
    return pt_summary();
}
