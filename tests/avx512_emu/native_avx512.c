/*
 * native_avx512.c — the real AVX-512 intrinsics behind plain-array wrappers,
 * for comparing the compat header with them (compiled with -mavx512f/bw/vl/dq;
 * the tests call these only after have_avx512()). Lanes travel as 32-bit
 * patterns so NaN payloads are compared exactly.
 */
#include <immintrin.h>
#include <string.h>

#include "avx512/exp_avx512.h"
#include "avx512_emu_test.h"

void nat_maskz_loadu(uint32_t out[16], uint16_t k, const void *p)
{
    _mm512_storeu_ps(out, _mm512_maskz_loadu_ps(k, p));
}

void nat_mask_storeu(void *p, uint16_t k, const uint32_t in[16])
{
    _mm512_mask_storeu_ps(p, k, _mm512_loadu_ps(in));
}

#define SH1(i)                                                                 \
    case i:                                                                    \
        r = _mm512_shuffle_f32x4(va, vb, i);                                   \
        break;
#define SH4(i) SH1(i) SH1(i + 1) SH1(i + 2) SH1(i + 3)
#define SH16(i) SH4(i) SH4(i + 4) SH4(i + 8) SH4(i + 12)
#define SH64(i) SH16(i) SH16(i + 16) SH16(i + 32) SH16(i + 48)

void nat_shuffle_f32x4(uint32_t out[16], const uint32_t a[16], const uint32_t b[16], int imm)
{
    const __m512 va = _mm512_loadu_ps(a), vb = _mm512_loadu_ps(b);
    __m512 r = _mm512_setzero_ps();
    switch (imm) { /* the immediate must be a constant: one case per value */
        SH64(0) SH64(64) SH64(128) SH64(192)
    default: break;
    }
    _mm512_storeu_ps(out, r);
}

uint32_t nat_cvtss_f32(const uint32_t a[16])
{
    const float f = _mm512_cvtss_f32(_mm512_loadu_ps(a));
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

void nat_scalef(uint32_t out[16], const uint32_t a[16], const uint32_t b[16])
{
    _mm512_storeu_ps(out, _mm512_scalef_ps(_mm512_loadu_ps(a), _mm512_loadu_ps(b)));
}

void nat_cvtph_ps(uint32_t out[16], const uint16_t h[16])
{
    _mm512_storeu_ps(out, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)h)));
}

void nat_cvtepu16_epi32(uint32_t out[16], const uint16_t h[16])
{
    _mm512_storeu_si512(out, _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)h)));
}

void nat_exp16(float out[16], const float in[16])
{
    _mm512_storeu_ps(out, attn_exp_avx512(_mm512_loadu_ps(in)));
}
