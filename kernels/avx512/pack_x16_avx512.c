/*
 * pack_k / pack_v from 16-bit storage (f16, bf16), AVX-512: the f32 layouts
 * of pack_k_f32 / pack_v_f32 (microkernels.h), every value widened exactly —
 * f16 by vcvtph2ps (subnormals exact; a signalling NaN comes out quiet,
 * still NaN, as with F16C), bf16 by zero-extending to 32 bits and shifting
 * left 16 (the f32 with the same top half).
 *
 * pack_v: 16 values per vector along the row, the dv mod 16 tail with the
 * portable widening of convert.h.
 * pack_k (nr a multiple of 16, e.g. qk_tile's 32): as pack_k_f32_avx512.c —
 * 16 keys × 16 dims widened into 16 row vectors and transposed in registers;
 * the d tail and keys past n go through a small zero-padded row buffer.
 * Other nr: element by element.
 */
#include "avx512_intrin.h"
#include "convert.h"
#include "microkernels.h"
#include "transpose_avx512.h"

typedef __m512 widen16_fn(const uint16_t *);
typedef float widen1_fn(uint16_t);

#if defined(__GNUC__)
#define ATTN_INLINE static inline __attribute__((always_inline))
#else
#define ATTN_INLINE static inline
#endif

static inline __m512 widen16_f16(const uint16_t *p)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
}

static inline __m512 widen16_bf16(const uint16_t *p)
{
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

/* Keys k[0..nk) (nk ≤ 16) × dims [dd, dd + nd) (nd ≤ 16) as 16 row vectors:
 * whole rows by vector, a partial block through a zero-padded buffer. */
ATTN_INLINE void load_block(size_t nk, size_t nd, const uint16_t *k, size_t ldk,
                            __m512 r[16], widen16_fn *widen16, widen1_fn *widen1)
{
    for (size_t i = 0; i < 16; i++) {
        if (i >= nk) {
            r[i] = _mm512_setzero_ps();
        } else if (nd == 16) {
            r[i] = widen16(k + i * ldk);
        } else {
            float row[16] = {0};
            for (size_t c = 0; c < nd; c++)
                row[c] = widen1(k[i * ldk + c]);
            r[i] = _mm512_loadu_ps(row);
        }
    }
}

ATTN_INLINE void pack_k(size_t n, size_t d, const uint16_t *k, size_t ldk, float *kp,
                        size_t nr, widen16_fn *widen16, widen1_fn *widen1)
{
    for (size_t j0 = 0; j0 < n; j0 += nr) {
        float *panel = kp + (j0 / nr) * nr * d;
        if (nr % 16 != 0) {
            for (size_t jj = 0; jj < nr; jj++)
                for (size_t dd = 0; dd < d; dd++)
                    panel[dd * nr + jj] = j0 + jj < n ? widen1(k[(j0 + jj) * ldk + dd]) : 0.0f;
            continue;
        }
        for (size_t g = 0; g < nr; g += 16) {
            const size_t nk = j0 + g < n ? (n - j0 - g < 16 ? n - j0 - g : 16) : 0;
            const uint16_t *kg = nk ? k + (j0 + g) * ldk : k; /* no pointer past the rows */
            for (size_t dd = 0; dd < d; dd += 16) {
                const size_t nd = d - dd < 16 ? d - dd : 16;
                __m512 r[16];
                load_block(nk, nd, kg + dd, ldk, r, widen16, widen1);
                attn_transpose16_avx512(r);
                for (size_t i = 0; i < nd; i++)
                    _mm512_storeu_ps(panel + (dd + i) * nr + g, r[i]);
            }
        }
    }
}

ATTN_INLINE void pack_v(size_t n, size_t dv, const uint16_t *v, size_t ldv, float *vp,
                        widen16_fn *widen16, widen1_fn *widen1)
{
    for (size_t j = 0; j < n; j++) {
        const uint16_t *src = v + j * ldv;
        float *dst = vp + j * dv;
        size_t c = 0;
        for (; c + 16 <= dv; c += 16)
            _mm512_storeu_ps(dst + c, widen16(src + c));
        for (; c < dv; c++)
            dst[c] = widen1(src[c]);
    }
}

/* The portable f16 widening keeps a signalling NaN signalling; vcvtph2ps
 * quiets it. Tails use this wrapper so that a row's NaNs look the same
 * wherever they sit. */
static inline float f16_to_f32_quiet(uint16_t h)
{
    const float f = attn_f16_to_f32(h);
    return f != f ? attn_bits_f32(attn_f32_bits(f) | 0x00400000u) : f;
}

void attn_f16_pack_k_ukr__avx512(size_t n, size_t d, const uint16_t *k, size_t ldk,
                                 float *kp, size_t nr)
{
    pack_k(n, d, k, ldk, kp, nr, widen16_f16, f16_to_f32_quiet);
}

void attn_bf16_pack_k_ukr__avx512(size_t n, size_t d, const uint16_t *k, size_t ldk,
                                  float *kp, size_t nr)
{
    pack_k(n, d, k, ldk, kp, nr, widen16_bf16, attn_bf16_to_f32);
}

void attn_f16_pack_v_ukr__avx512(size_t n, size_t dv, const uint16_t *v, size_t ldv,
                                 float *vp)
{
    pack_v(n, dv, v, ldv, vp, widen16_f16, f16_to_f32_quiet);
}

void attn_bf16_pack_v_ukr__avx512(size_t n, size_t dv, const uint16_t *v, size_t ldv,
                                  float *vp)
{
    pack_v(n, dv, v, ldv, vp, widen16_bf16, attn_bf16_to_f32);
}
