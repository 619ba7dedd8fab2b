/*
 * cpu_arm.c — aarch64 feature probe: getauxval(AT_HWCAP). ASIMD (NEON) is the
 * aarch64 baseline, so it is present on every conforming CPU; the probe still
 * asks, for the benefit of odd emulators. Empty outside aarch64.
 */
#include <string.h>

#include "cpu.h"

#if defined(__aarch64__)
#include <sys/auxv.h>

#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_FPHP
#define HWCAP_FPHP (1UL << 9)
#endif
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1UL << 10)
#endif

void attn_cpu_probe(attn_cpu_features *f)
{
    memset(f, 0, sizeof *f);
    const unsigned long hw = getauxval(AT_HWCAP);
    f->asimd = (hw & HWCAP_ASIMD) != 0;
    f->fphp = (hw & HWCAP_FPHP) != 0;
    f->asimdhp = (hw & HWCAP_ASIMDHP) != 0;
}
#else
/* ISO C forbids an empty translation unit. */
typedef int attn_cpu_arm_unused;
#endif
