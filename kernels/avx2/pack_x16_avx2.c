/*
 * pack_k / pack_v from 16-bit storage (f16, bf16), AVX2 + F16C: the f32
 * layouts of pack_k_f32 / pack_v_f32 (microkernels.h), every value widened
 * exactly — f16 by vcvtph2ps (subnormals exact; a signalling NaN comes out
 * quiet, still NaN), bf16 by a 16-bit left shift into the f32 bit pattern.
 *
 * pack_v: 8 values per vector along the row, the dv mod 8 tail one by one.
 * pack_k: as pack_k_f32_avx2.c — each group of 8 whole keys is widened 8 × 8
 * at a time and transposed in registers (8 unpacks, 8 shuffles, 8 lane
 * permutes); leftover columns, partial groups and nr not a multiple of 8 go
 * element by element with the portable widening of convert.h.
 */
#include <immintrin.h>

#include "convert.h"
#include "microkernels.h"

typedef __m256 widen8_fn(const uint16_t *);
typedef float widen1_fn(uint16_t);

static inline __m256 widen8_f16(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
}

static inline __m256 widen8_bf16(const uint16_t *p)
{
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

static inline __attribute__((always_inline)) void
pack_v(size_t n, size_t dv, const uint16_t *v, size_t ldv, float *vp,
       widen8_fn *widen8, widen1_fn *widen1)
{
    for (size_t j = 0; j < n; j++) {
        const uint16_t *src = v + j * ldv;
        float *dst = vp + j * dv;
        size_t c = 0;
        for (; c + 8 <= dv; c += 8)
            _mm256_storeu_ps(dst + c, widen8(src + c));
        for (; c < dv; c++)
            dst[c] = widen1(src[c]);
    }
}

/* Keys k[0..nk) → columns 0..nk of the nr-strided panel dst, for dd in
 * [dd0, d); keys nk..nk_pad get zeros. */
static inline __attribute__((always_inline)) void
pack_k_scalar(size_t nk, size_t nk_pad, size_t dd0, size_t d, const uint16_t *k,
              size_t ldk, float *dst, size_t nr, widen1_fn *widen1)
{
    for (size_t jj = 0; jj < nk_pad; jj++) {
        if (jj < nk) {
            const uint16_t *krow = k + jj * ldk;
            for (size_t dd = dd0; dd < d; dd++)
                dst[dd * nr + jj] = widen1(krow[dd]);
        } else {
            for (size_t dd = dd0; dd < d; dd++)
                dst[dd * nr + jj] = 0.0f;
        }
    }
}

/* 8 rows of 8 floats → 8 columns: dst[i·nr .. +8) = (r0[i], …, r7[i]). */
static inline void transpose8_store(const __m256 r[8], float *dst, size_t nr)
{
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    /* u0..u3: columns 0..3 of rows 0–3 in the low 128 bits, columns 4..7 of
     * rows 0–3 in the high 128; u4..u7 the same for rows 4–7. */
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst + 0 * nr, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + 1 * nr, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * nr, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * nr, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * nr, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * nr, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * nr, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * nr, _mm256_permute2f128_ps(u3, u7, 0x31));
}

static inline __attribute__((always_inline)) void
pack_k(size_t n, size_t d, const uint16_t *k, size_t ldk, float *kp, size_t nr,
       widen8_fn *widen8, widen1_fn *widen1)
{
    for (size_t j0 = 0; j0 < n; j0 += nr) {
        float *panel = kp + j0 * d; /* panel j0/nr starts at (j0/nr)·nr·d */
        const size_t nn = n - j0 < nr ? n - j0 : nr;
        if (nr % 8 != 0) {
            pack_k_scalar(nn, nr, 0, d, k + j0 * ldk, ldk, panel, nr, widen1);
            continue;
        }
        for (size_t jb = 0; jb < nr; jb += 8) {
            if (jb + 8 > nn) { /* a partial or empty group: zero-padded */
                const size_t nk = nn > jb ? nn - jb : 0;
                pack_k_scalar(nk, 8, 0, d, nk ? k + (j0 + jb) * ldk : k, ldk, panel + jb,
                              nr, widen1);
                continue;
            }
            const uint16_t *kg = k + (j0 + jb) * ldk;
            size_t dd = 0;
            for (; dd + 8 <= d; dd += 8) {
                __m256 r[8];
                for (int i = 0; i < 8; i++)
                    r[i] = widen8(kg + (size_t)i * ldk + dd);
                transpose8_store(r, panel + dd * nr + jb, nr);
            }
            pack_k_scalar(8, 8, dd, d, kg, ldk, panel + jb, nr, widen1);
        }
    }
}

void attn_f16_pack_k_ukr__avx2(size_t n, size_t d, const uint16_t *k, size_t ldk,
                               float *kp, size_t nr)
{
    pack_k(n, d, k, ldk, kp, nr, widen8_f16, attn_f16_to_f32);
}

void attn_bf16_pack_k_ukr__avx2(size_t n, size_t d, const uint16_t *k, size_t ldk,
                                float *kp, size_t nr)
{
    pack_k(n, d, k, ldk, kp, nr, widen8_bf16, attn_bf16_to_f32);
}

void attn_f16_pack_v_ukr__avx2(size_t n, size_t dv, const uint16_t *v, size_t ldv,
                               float *vp)
{
    pack_v(n, dv, v, ldv, vp, widen8_f16, attn_f16_to_f32);
}

void attn_bf16_pack_v_ukr__avx2(size_t n, size_t dv, const uint16_t *v, size_t ldv,
                                float *vp)
{
    pack_v(n, dv, v, ldv, vp, widen8_bf16, attn_bf16_to_f32);
}
