/*
 * attn_info — what libattn finds on this machine and what it would run:
 * the CPU features the library probed, cores and caches, the kernel set
 * chosen (and whether ATTN_ISA forced it), for every kernel set built the
 * kernel of each slot of its table (symbol, mr × nr, scalar fallbacks
 * marked), every kernel listed in kernels/ukr/<slot>.inc, and the tile sizes the
 * flash driver plans for the standard shapes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attn.h"
#include "cpu.h"
#include "internal.h"
#include "microkernels.h"

static const char *kib(int64_t b, char *buf, size_t n)
{
    if (b <= 0)
        snprintf(buf, n, "unknown");
    else if (b >= 1024 * 1024)
        snprintf(buf, n, "%.4g MiB", (double)b / (1024.0 * 1024.0));
    else
        snprintf(buf, n, "%.4g KiB", (double)b / 1024.0);
    return buf;
}

static void print_features(void)
{
    attn_cpu_features f;
    attn_cpu_probe(&f);
    struct { const char *name; int on; } bits[] = {
        {"sse2", f.sse2}, {"avx", f.avx}, {"avx2", f.avx2}, {"fma", f.fma}, {"f16c", f.f16c},
        {"avx512f", f.avx512f}, {"avx512bw", f.avx512bw}, {"avx512vl", f.avx512vl},
        {"avx512dq", f.avx512dq}, {"avx512bf16", f.avx512bf16}, {"avx512fp16", f.avx512fp16},
        {"os-ymm-state", f.os_ymm}, {"os-zmm-state", f.os_zmm},
        {"asimd", f.asimd}, {"fphp", f.fphp}, {"asimdhp", f.asimdhp},
    };
    printf("cpu features:");
    int any = 0;
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
        if (bits[i].on) {
            printf(" %s", bits[i].name);
            any = 1;
        }
    printf("%s\n", any ? "" : " (none the library looks for)");
}

#define SLOT_ROW(tab, slot)                                                              \
    printf("    %-13s %-44s %-7s mr %2u nr %2u%s\n", #slot, (tab)->slot.name,            \
           attn_isa_name((tab)->slot.isa), (tab)->slot.mr, (tab)->slot.nr,               \
           (tab)->slot.isa != (tab)->isa ? "  (fallback)" : "")

/* Every slot of the table (ATTN_SLOTS: a new slot shows up by itself). */
static void print_table(const attn_kernels *t)
{
#define PRINT_SLOT(slot, type) SLOT_ROW(t, slot);
    ATTN_SLOTS(PRINT_SLOT)
#undef PRINT_SLOT
}

/* Every kernel of every .inc list whose ISA is built, in list order. */
typedef struct listed {
    const char *slot, *isa, *sym;
    unsigned mr, nr;
} listed;

static const listed every_kernel[] = {
#define ATTN_EACH(slot, type, isa, sym, mr, nr) {#slot, #isa, #sym, mr, nr},
#include "ukr/all.h"
#undef ATTN_EACH
};

static void print_plans(const attn_cpu_info *ci, attn_isa isa)
{
    const attn_kernels *t = attn_kernels_for(isa);
    static const struct { const char *name; attn_dims d; } shapes[] = {
        {"S1 B1 H8 L512 d64", {1, 8, 8, 512, 512, 64, 64}},
        {"S2 B1 H8 L2048 d128", {1, 8, 8, 2048, 2048, 128, 128}},
        {"S4 B1 H32 Lq1 Lk4096 d128", {1, 32, 32, 1, 4096, 128, 128}},
        {"S5 B1 Hq32/8 Lq1 Lk8192 d128", {1, 32, 8, 1, 8192, 128, 128}},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        attn_plan p;
        memset(&p, 0, sizeof p);
        attn_plan_forward(t, ci, &shapes[i].d, &p);
        printf("    %-30s %4zu query rows x %4zu keys", shapes[i].name, p.rows, p.kc);
        if (p.splits > 1)
            printf(", keys split in %zu chunks of %zu", p.splits, p.chunk);
        if (p.direct)
            printf(", K rows in place (qk_direct)");
        printf("\n");
    }
}

int main(void)
{
    attn_status st = attn_init(); /* non-OK: ATTN_ISA was refused, the best set is kept */
    if (st != ATTN_OK)
        printf("attn_init: %s %s\n", attn_status_str(st), attn_last_error());
    attn_cpu_info ci;
    st = attn_cpu_info_get(&ci);
    if (st != ATTN_OK) {
        fprintf(stderr, "attn_info: attn_cpu_info_get: %s: %s\n", attn_status_str(st),
                attn_last_error());
        return 1;
    }
    char b1[32], b2[32], b3[32];
    printf("libattn %d.%d.%d\n", ATTN_VERSION_MAJOR, ATTN_VERSION_MINOR, ATTN_VERSION_PATCH);
    print_features();
    printf("topology (%s): %d physical cores, %d logical CPUs; L1d %s, L2 %s per core; L3 %s total\n",
           ci.source ? ci.source : "?", ci.physical_cores, ci.logical_cpus,
           kib(ci.l1d_bytes, b1, sizeof b1), kib(ci.l2_bytes, b2, sizeof b2),
           kib(ci.l3_bytes, b3, sizeof b3));
    printf("default threads: %d (physical cores)\n", ci.physical_cores);

    printf("kernel sets:");
    for (int i = ATTN_ISA_SCALAR; i <= ATTN_ISA_NEON; i++)
        printf("  %s: %s", attn_isa_name((attn_isa)i),
               !attn_kernels_for((attn_isa)i) ? "not built"
               : attn_isa_supported((attn_isa)i) ? "runs here"
                                                 : "built, cannot run here");
    printf("\n");
    const char *env = getenv("ATTN_ISA");
    attn_isa cur = attn_get_isa();
    printf("best: %s; in use: %s%s%s%s\n", attn_isa_name(ci.best_isa), attn_isa_name(cur),
           env ? " (ATTN_ISA=" : "", env ? env : "", env ? ")" : "");

    for (int i = ATTN_ISA_SCALAR; i <= ATTN_ISA_NEON; i++) {
        const attn_kernels *t = attn_kernels_for((attn_isa)i);
        if (!t)
            continue;
        printf("\n%s kernel table%s:\n", attn_isa_name((attn_isa)i),
               (attn_isa)i == cur ? " (in use)" : "");
        print_table(t);
        if (attn_isa_supported((attn_isa)i)) {
            printf("  tiles planned by the flash driver (query rows per work item x keys per K/V block):\n");
            print_plans(&ci, (attn_isa)i);
        }
    }

    printf("\nevery listed kernel (kernels/ukr/<slot>.inc, ISAs built):\n");
    for (size_t i = 0; i < sizeof every_kernel / sizeof every_kernel[0]; i++)
        printf("    %-13s %-7s %-44s mr %2u nr %2u\n", every_kernel[i].slot, every_kernel[i].isa,
               every_kernel[i].sym, every_kernel[i].mr, every_kernel[i].nr);
    return 0;
}
