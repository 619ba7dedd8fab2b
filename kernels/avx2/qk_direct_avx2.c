/*
 * qk_direct, AVX2 + FMA: S[m × n] = Q[m × d] · Kᵀ with K read in place, row
 * by row (contract in microkernels.h), for the few query rows of decoding.
 *
 * Four keys at a time, two query rows at a time: 8 accumulators over d in
 * chunks of 8 (the last chunk masked), 4 K loads + 2 Q loads per 8 FMAs; the
 * four keys' rows (4 × d floats) stay in L1 for the next pair of rows, so K
 * streams from memory once while the FMAs run. Each score is one chain over
 * d in order and one fixed reduction (attn_avx2_hsum8), so its value does
 * not depend on m, n or its position. Keys past the last multiple of 4 run
 * the same code with their key pointers repeated (results not stored).
 * 16-bit keys (qk_direct_f16/bf16) are widened by F16C / a shift as they
 * are loaded: the same chains on the same values.
 */
#include <immintrin.h>

#include "convert.h"
#include "microkernels.h"
#include "avx2/hsum_avx2.h"
#include "avx2/mask_avx2.h"

/* Key loaders: 8 whole elements, and the last d − t < 8 (zeros after). */
#define QD_f32_LOAD(p) _mm256_loadu_ps(p)
#define QD_f32_TAIL(p) _mm256_maskload_ps(p, mk)
#define QD_f16_LOAD(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define QD_f16_TAIL(p) tail8(p, d - t, 0)
#define QD_bf16_LOAD(p)                                                        \
    _mm256_castsi256_ps(_mm256_slli_epi32(                                     \
        _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p))), 16))
#define QD_bf16_TAIL(p) tail8(p, d - t, 1)

/* The last nd < 8 16-bit values of a key row, widened exactly, zeros after. */
static inline __m256 tail8(const uint16_t *p, size_t nd, int bf16)
{
    float row[8] = {0};
    attn_widen16(p, nd, bf16, row);
    return _mm256_loadu_ps(row);
}

/* The four key vectors of a step kept in registers: gcc folded each load
 * into both rows' FMAs (10 loads per 8 FMAs, indexed memory operands that
 * do not stay fused): in L1, d = 128, 8 rows a call, 60-64 -> 73-74 % of
 * the FMA peak; 2 rows 54-58 -> 67 %. */
#if defined(__GNUC__)
#define QD_IN_REGS(a, b, c, d) __asm__("" : "+x"(a), "+x"(b), "+x"(c), "+x"(d))
#else
#define QD_IN_REGS(a, b, c, d) ((void)0)
#endif

/* One step over 8 elements at t: rows q0 (and q1 with two) × keys k0..k3. */
#define QD_STEP(KL, QL)                                                        \
    do {                                                                       \
        __m256 x0 = KL(k0 + t), x1 = KL(k1 + t);                              \
        __m256 x2 = KL(k2 + t), x3 = KL(k3 + t);                               \
        QD_IN_REGS(x0, x1, x2, x3);                                            \
        const __m256 y0 = QL(q0 + t);                                          \
        a00 = _mm256_fmadd_ps(y0, x0, a00);                                    \
        a01 = _mm256_fmadd_ps(y0, x1, a01);                                    \
        a02 = _mm256_fmadd_ps(y0, x2, a02);                                    \
        a03 = _mm256_fmadd_ps(y0, x3, a03);                                    \
        if (two) {                                                             \
            const __m256 y1 = QL(q1 + t);                                      \
            a10 = _mm256_fmadd_ps(y1, x0, a10);                                \
            a11 = _mm256_fmadd_ps(y1, x1, a11);                                \
            a12 = _mm256_fmadd_ps(y1, x2, a12);                                \
            a13 = _mm256_fmadd_ps(y1, x3, a13);                                \
        }                                                                      \
    } while (0)
#define QD_QLOADU(p) _mm256_loadu_ps(p)
#define QD_QLOADM(p) _mm256_maskload_ps(p, mk)

/* quad_<T>: scores of rows q0, q1 (two) against keys k0..k3 (kk of them
 * stored); attn_<T>_qk_direct_ukr__avx2: the slot, K of element type KT.
 * Widening is exact, so a 16-bit key's scores are bitwise those of its f32
 * copy. */
#define QD_DEFINE(T, KT)                                                       \
    static inline __attribute__((always_inline)) void                          \
    quad_##T(size_t d, const float *q0, const float *q1, const KT *k0, const KT *k1, \
             const KT *k2, const KT *k3, float *s0, float *s1, size_t kk, int two) \
    {                                                                          \
        __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps();          \
        __m256 a02 = _mm256_setzero_ps(), a03 = _mm256_setzero_ps();          \
        __m256 a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps();          \
        __m256 a12 = _mm256_setzero_ps(), a13 = _mm256_setzero_ps();          \
        size_t t = 0;                                                          \
        for (; t + 8 <= d; t += 8)                                             \
            QD_STEP(QD_##T##_LOAD, QD_QLOADU);                                 \
        if (t < d) {                                                           \
            const __m256i mk = attn_avx2_lane_mask((ptrdiff_t)(d - t));        \
            QD_STEP(QD_##T##_TAIL, QD_QLOADM);                                 \
        }                                                                      \
        const __m256 r = attn_avx2_hsum8(a00, a01, a02, a03, a10, a11, a12, a13); \
        attn_avx2_store_quad(r, s0, s1, kk, two);                              \
    }                                                                          \
                                                                               \
    void attn_##T##_qk_direct_ukr__avx2(size_t m, size_t n, size_t d, const float *q, \
                                        size_t ldq, const KT *k, size_t ldk, float *s, \
                                        size_t lds)                            \
    {                                                                          \
        for (size_t j = 0; j < n; j += 4) {                                    \
            const size_t kk = n - j < 4 ? n - j : 4;                           \
            /* keys past n repeat the last one: read, never stored */          \
            const KT *k0 = k + j * ldk;                                        \
            const KT *k1 = k + (j + (kk > 1 ? 1 : 0)) * ldk;                   \
            const KT *k2 = k + (j + (kk > 2 ? 2 : kk - 1)) * ldk;              \
            const KT *k3 = k + (j + (kk > 3 ? 3 : kk - 1)) * ldk;              \
            size_t r = 0;                                                      \
            for (; r + 2 <= m; r += 2)                                         \
                quad_##T(d, q + r * ldq, q + (r + 1) * ldq, k0, k1, k2, k3,    \
                         s + r * lds + j, s + (r + 1) * lds + j, kk, 1);       \
            if (r < m)                                                         \
                quad_##T(d, q + r * ldq, q + r * ldq, k0, k1, k2, k3, s + r * lds + j, \
                         s + r * lds + j, kk, 0);                              \
        }                                                                      \
    }

QD_DEFINE(f32, float)
QD_DEFINE(f16, uint16_t)
QD_DEFINE(bf16, uint16_t)
