/*
 * cpu_x86.c — x86 feature probe: CPUID leaves 1 and 7, then XGETBV(0) to
 * confirm the OS saves YMM (XCR0 bits 1,2) and ZMM/opmask state (bits 5,6,7).
 * Compiled on every architecture; empty outside x86.
 */
#include <string.h>

#include "attn_config.h"
#include "cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long read_xcr0(void)
{
    unsigned eax, edx;
    /* xgetbv, encoded by hand so this file needs no -mxsave. */
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

void attn_cpu_probe(attn_cpu_features *f)
{
    unsigned a, b, c, d;
    memset(f, 0, sizeof *f);
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    f->sse2 = (d >> 26) & 1;
    f->fma = (c >> 12) & 1;
    const int osxsave = (c >> 27) & 1;
    f->avx = (c >> 28) & 1;
    f->f16c = (c >> 29) & 1;
    if (osxsave) {
        const unsigned long long xcr0 = read_xcr0();
        f->os_ymm = (xcr0 & 0x6) == 0x6;
        f->os_zmm = (xcr0 & 0xE6) == 0xE6;
    }
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f->avx2 = (b >> 5) & 1;
        f->avx512f = (b >> 16) & 1;
        f->avx512dq = (b >> 17) & 1;
        f->avx512bw = (b >> 30) & 1;
        f->avx512vl = (b >> 31) & 1;
        f->avx512fp16 = (d >> 23) & 1;
        __cpuid_count(7, 1, a, b, c, d);
        f->avx512bf16 = (a >> 5) & 1;
    }
}

#elif !defined(__aarch64__)
void attn_cpu_probe(attn_cpu_features *f) { memset(f, 0, sizeof *f); }
#endif

int attn_cpu_features_run(const attn_cpu_features *f, attn_isa isa)
{
#if ATTN_EMULATED
    /* Test-only core: the AVX-512 and NEON sets are SIMDe code compiled for
     * AVX2+FMA, so they run wherever the AVX2 set does. */
    if (isa == ATTN_ISA_AVX512 || isa == ATTN_ISA_NEON)
        isa = ATTN_ISA_AVX2;
#endif
    switch (isa) {
    case ATTN_ISA_SCALAR:
        return 1;
    case ATTN_ISA_AVX2:
        return f->avx && f->avx2 && f->fma && f->f16c && f->os_ymm;
    case ATTN_ISA_AVX512:
        return f->avx2 && f->fma && f->f16c && f->os_ymm && f->avx512f &&
               f->avx512bw && f->avx512vl && f->avx512dq && f->os_zmm;
    case ATTN_ISA_NEON:
        return f->asimd;
    }
    return 0;
}
