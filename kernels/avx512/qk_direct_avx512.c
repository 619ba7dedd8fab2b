/*
 * qk_direct, AVX-512: S[m × n] = Q[m × d] · Kᵀ with K read in place, row by
 * row (contract in microkernels.h), for the few query rows of decoding.
 *
 * Four keys at a time, four query rows at a time (then two, then one): 16
 * accumulators over d in chunks of 16 (the last chunk k-masked), 4 K loads
 * + 4 Q loads per 16 FMAs; the four keys' rows stay in L1 for the next rows,
 * so K streams from memory once while the FMAs run. Each score is one chain
 * over d in order and one fixed reduction of its 16 lanes (attn_qkd_sum16,
 * the same tree for every lane of every call), so its value does not depend
 * on m, n or its position. Keys past the last multiple of 4 repeat the
 * last key (computed, not stored).
 */
#include "convert.h"
#include "microkernels.h"
#include "avx512_intrin.h"
#include "vec_avx512.h"
#include "avx2/hsum_avx2.h"

/* One step of the 4 keys' chains for R ≤ 4 rows: a[r][c] += q_r · k_c over
 * 16 elements at t; KL loads (widens) a key's 16, QL a query row's. */
#define QD_STEP(R, KL, QL)                                                     \
    do {                                                                       \
        const __m512 x0 = KL(k0 + t), x1 = KL(k1 + t);                        \
        const __m512 x2 = KL(k2 + t), x3 = KL(k3 + t);                         \
        for (int r = 0; r < (R); r++) {                                        \
            const __m512 y = QL(q[r] + t);                                     \
            a[r][0] = _mm512_fmadd_ps(y, x0, a[r][0]);                         \
            a[r][1] = _mm512_fmadd_ps(y, x1, a[r][1]);                         \
            a[r][2] = _mm512_fmadd_ps(y, x2, a[r][2]);                         \
            a[r][3] = _mm512_fmadd_ps(y, x3, a[r][3]);                         \
        }                                                                      \
    } while (0)

#define QD_QLOADU(p) _mm512_loadu_ps(p)
#define QD_QLOADM(p) _mm512_maskz_loadu_ps(mk, p)

/* Key loaders: 16 whole elements, and the last d − t < 16 (zeros after). */
#define QD_f32_LOAD(p) _mm512_loadu_ps(p)
#define QD_f32_TAIL(p) _mm512_maskz_loadu_ps(mk, p)
#define QD_f16_LOAD(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define QD_f16_TAIL(p) tail16(p, d - t, 0)
#define QD_bf16_LOAD(p)                                                        \
    _mm512_castsi512_ps(_mm512_slli_epi32(                                     \
        _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(p))), 16))
#define QD_bf16_TAIL(p) tail16(p, d - t, 1)

/* The last nd < 16 16-bit values of a key row, widened exactly, zeros after
 * (through memory: no masked 16-bit load needed, and it is one per row). */
static inline __m512 tail16(const uint16_t *p, size_t nd, int bf16)
{
    float row[16] = {0};
    attn_widen16(p, nd, bf16, row);
    return _mm512_loadu_ps(row);
}

/* The 16 lane sums of v0..v15 in one vector, lane 4i + j holding vector
 * 4j + i's sum (so with v = a[r][c] at 4c + r, 128-bit quarter r holds row
 * r's four keys). A butterfly of 128-bit and in-lane shuffles, every sum
 * the same tree: ((l0 + l8) + (l4 + l12)) + ((l2 + l10) + (l6 + l14)) plus
 * the same over the odd lanes: 30 shuffles and 15 adds for 16 sums, where
 * folding to 8 lanes and two 8-way hadd sums took 44 and 30, on the ports
 * the FMAs use (d = 128, K in L1, 8 rows × 8 keys a call: 44 -> 57 % of
 * the FMA peak; 4 × 4: 42 -> 51 %). */
static inline __m512 attn_qkd_sum16(__m512 v0, __m512 v1, __m512 v2, __m512 v3, __m512 v4,
                                    __m512 v5, __m512 v6, __m512 v7, __m512 v8, __m512 v9,
                                    __m512 v10, __m512 v11, __m512 v12, __m512 v13,
                                    __m512 v14, __m512 v15)
{
#define SUM_A(a, b) _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE))
#define SUM_B(a, b) _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x88), _mm512_shuffle_f32x4(a, b, 0xDD))
#define SUM_C(a, b) _mm512_add_ps(_mm512_shuffle_ps(a, b, 0x44), _mm512_shuffle_ps(a, b, 0xEE))
#define SUM_D(a, b) _mm512_add_ps(_mm512_shuffle_ps(a, b, 0x88), _mm512_shuffle_ps(a, b, 0xDD))
    const __m512 a0 = SUM_A(v0, v1), a1 = SUM_A(v2, v3), a2 = SUM_A(v4, v5), a3 = SUM_A(v6, v7);
    const __m512 a4 = SUM_A(v8, v9), a5 = SUM_A(v10, v11), a6 = SUM_A(v12, v13);
    const __m512 a7 = SUM_A(v14, v15);
    const __m512 b0 = SUM_B(a0, a1), b1 = SUM_B(a2, a3), b2 = SUM_B(a4, a5), b3 = SUM_B(a6, a7);
    return SUM_D(SUM_C(b0, b1), SUM_C(b2, b3));
#undef SUM_A
#undef SUM_B
#undef SUM_C
#undef SUM_D
}

/* quad_<T>: scores of R ∈ {1, 2, 4} rows q[0..R) against keys k0..k3 (kk
 * of them stored) into s[r][0..kk). With R = 4 the 16 accumulators and 4 K
 * vectors fit the 32 registers: 8 loads per 16 FMAs (R = 2: 6 per 8).
 * attn_<T>_qk_direct_ukr__avx512: the slot, K of element type KT. Widening
 * is exact, so a 16-bit key's scores are bitwise those of its f32 copy. */
#define QD_DEFINE(T, KT)                                                       \
    static inline __attribute__((always_inline)) void                          \
    quad_##T(int R, size_t d, const float *const q[4], const KT *k0, const KT *k1, \
             const KT *k2, const KT *k3, float *const s[4], size_t kk)         \
    {                                                                          \
        __m512 a[4][4];                                                        \
        for (int r = 0; r < R; r++)                                            \
            for (int c = 0; c < 4; c++)                                        \
                a[r][c] = _mm512_setzero_ps();                                 \
        size_t t = 0;                                                          \
        for (; t + 16 <= d; t += 16)                                           \
            QD_STEP(R, QD_##T##_LOAD, QD_QLOADU);                              \
        if (t < d) {                                                           \
            const __mmask16 mk = attn_mask16(d - t);                           \
            QD_STEP(R, QD_##T##_TAIL, QD_QLOADM);                              \
        }                                                                      \
        const __m512 z = _mm512_setzero_ps();                                   \
        const __m512 x = attn_qkd_sum16(                                        \
            a[0][0], R > 1 ? a[1][0] : z, R > 2 ? a[2][0] : z, R > 3 ? a[3][0] : z, \
            a[0][1], R > 1 ? a[1][1] : z, R > 2 ? a[2][1] : z, R > 3 ? a[3][1] : z, \
            a[0][2], R > 1 ? a[1][2] : z, R > 2 ? a[2][2] : z, R > 3 ? a[3][2] : z, \
            a[0][3], R > 1 ? a[1][3] : z, R > 2 ? a[2][3] : z, R > 3 ? a[3][3] : z); \
        /* rows 0, 1 in the low 256 bits, rows 2, 3 in the high */           \
        attn_avx2_store_quad(_mm512_castps512_ps256(x), s[0], s[1], kk, R > 1); \
        if (R > 2)                                                             \
            attn_avx2_store_quad(                                              \
                _mm512_castps512_ps256(_mm512_shuffle_f32x4(x, x, 0xEE)), s[2], s[3], kk, \
                R > 3);                                                        \
    }                                                                          \
                                                                               \
    void attn_##T##_qk_direct_ukr__avx512(size_t m, size_t n, size_t d, const float *q, \
                                          size_t ldq, const KT *k, size_t ldk, float *s, \
                                          size_t lds)                          \
    {                                                                          \
        for (size_t j = 0; j < n; j += 4) {                                    \
            const size_t kk = n - j < 4 ? n - j : 4;                           \
            const KT *k0 = k + j * ldk;                                        \
            const KT *k1 = k + (j + (kk > 1 ? 1 : 0)) * ldk;                   \
            const KT *k2 = k + (j + (kk > 2 ? 2 : kk - 1)) * ldk;              \
            const KT *k3 = k + (j + (kk > 3 ? 3 : kk - 1)) * ldk;              \
            size_t r = 0;                                                      \
            for (; r + 4 <= m; r += 4) {                                       \
                const float *const qq[4] = {q + r * ldq, q + (r + 1) * ldq,    \
                                            q + (r + 2) * ldq, q + (r + 3) * ldq}; \
                float *const ss[4] = {s + r * lds + j, s + (r + 1) * lds + j,  \
                                      s + (r + 2) * lds + j, s + (r + 3) * lds + j}; \
                quad_##T(4, d, qq, k0, k1, k2, k3, ss, kk);                    \
            }                                                                  \
            for (; r + 2 <= m; r += 2) {                                       \
                const float *const qq[4] = {q + r * ldq, q + (r + 1) * ldq, NULL, NULL}; \
                float *const ss[4] = {s + r * lds + j, s + (r + 1) * lds + j, NULL, NULL}; \
                quad_##T(2, d, qq, k0, k1, k2, k3, ss, kk);                    \
            }                                                                  \
            if (r < m) {                                                       \
                const float *const qq[4] = {q + r * ldq, NULL, NULL, NULL};    \
                float *const ss[4] = {s + r * lds + j, s + r * lds + j, NULL, NULL}; \
                quad_##T(1, d, qq, k0, k1, k2, k3, ss, kk);                    \
            }                                                                  \
        }                                                                      \
    }

QD_DEFINE(f32, float)
QD_DEFINE(f16, uint16_t)
QD_DEFINE(bf16, uint16_t)
