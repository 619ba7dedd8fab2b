/*
 * cpu.h — what the CPU and the OS let us run. Probed once by dispatch.c.
 * x86: CPUID feature bits, confirmed by XGETBV that the OS saves the wide
 * registers (a feature bit alone is not enough). aarch64: getauxval(AT_HWCAP).
 */
#ifndef ATTN_CPU_H
#define ATTN_CPU_H

#include "attn.h"

typedef struct attn_cpu_features {
    int sse2, avx, avx2, fma, f16c;
    int avx512f, avx512bw, avx512vl, avx512dq, avx512bf16, avx512fp16;
    int os_ymm, os_zmm; /* XCR0 says the OS saves YMM / ZMM+opmask state */
    int asimd, fphp, asimdhp;
} attn_cpu_features;

/* Fills f from the hardware (all zero on an architecture it does not know). */
void attn_cpu_probe(attn_cpu_features *f);

/* Whether the probed features are enough for a kernel set (build aside). */
int attn_cpu_features_run(const attn_cpu_features *f, attn_isa isa);

/* Cores and caches: hwloc when built with it, sysconf/CPUID otherwise. */
void attn_topology_probe(attn_cpu_info *info);

#endif
