/*
 * cpu_check.c — which of the compat tests' code this CPU can run: CPUID leaf 7
 * feature bits, and XGETBV for the register state the OS saves (YMM: XCR0
 * bits 1–2; ZMM and opmask: bits 5–7). Compiled without ISA flags.
 */
#include <cpuid.h>

#include "avx512_emu_test.h"

static unsigned long long xcr0(void)
{
    unsigned eax, edx;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0)); /* xgetbv */
    return ((unsigned long long)edx << 32) | eax;
}

static int probe(int want_avx512)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx || __get_cpuid_max(0, 0) < 7)
        return 0;
    const unsigned long long x = xcr0();
    __cpuid_count(7, 0, a, b, c, d);
    if (!want_avx512)
        return fma && ((b >> 5) & 1) && (x & 0x6) == 0x6;
    const unsigned f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
    return f && dq && bw && vl && (x & 0xE6) == 0xE6;
}

int have_avx512(void) { return probe(1); }
int have_avx2_fma(void) { return probe(0); }
