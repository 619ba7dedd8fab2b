/*
 * avx512_intrin.h — the one include through which every AVX-512 kernel file
 * reaches its intrinsics.
 *
 * Native build (the library): <immintrin.h>, compiled with -mavx512f/bw/vl/dq.
 * Emulated build (tests on hosts without AVX-512, DESIGN §4): the same
 * sources compiled with -DATTN_AVX512_EMULATED -mavx2 -mfma against SIMDe,
 * whose native aliases map _mm512_* onto plain C / AVX2; avx512_emu.h adds
 * the few intrinsics Debian's SIMDe 0.7.4 lacks (or gets wrong) that the
 * kernels use. Kernel code is identical in both builds.
 */
#ifndef ATTN_AVX512_INTRIN_H
#define ATTN_AVX512_INTRIN_H

#ifdef ATTN_AVX512_EMULATED
/* SIMDe passes 64-byte vectors by value between static functions, which
 * clang warns about (-Wpsabi) without -mavx512f: silenced for the whole
 * emulated file (clang reports it where the call is, in our code). GCC
 * prints the same as a note that only -Wno-psabi silences (meson passes it). */
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include "avx512_emu.h"
#else
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VL__) || \
    !defined(__AVX512DQ__)
#error "kernels/avx512 needs -mavx512f -mavx512bw -mavx512vl -mavx512dq (or -DATTN_AVX512_EMULATED)"
#endif
#include <immintrin.h>
#endif

#endif /* ATTN_AVX512_INTRIN_H */
