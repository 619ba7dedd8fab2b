/*
 * qk_direct, AVX-512: S[m × n] = Q[m × d] · Kᵀ with K read in place, row by
 * row (contract in microkernels.h), for the few query rows of decoding.
 *
 * Four keys at a time, four query rows at a time (then two, then one): 16
 * accumulators over d in chunks of 16 (the last chunk k-masked), 4 K loads
 * + 4 Q loads per 16 FMAs; the four keys' rows stay in L1 for the next rows,
 * so K streams from memory once while the FMAs run. Each score is one chain over d in
 * order and one fixed reduction, so its value does not depend on m, n or its
 * position. Keys past the last multiple of 4 repeat the last key (computed,
 * not stored).
 */
#include "microkernels.h"
#include "avx512_intrin.h"
#include "vec_avx512.h"
#include "avx2/hsum_avx2.h"

/* The 16 lanes of a folded to 8 (a[i] + a[i + 8]). */
static inline __m256 fold(__m512 a)
{
    return _mm256_add_ps(_mm512_castps512_ps256(a),
                         _mm512_castps512_ps256(_mm512_shuffle_f32x4(a, a, 0x4E)));
}

/* One step of the 4 keys' chains for R ≤ 4 rows: a[r][c] += q_r · k_c over
 * the 16 (mask mk) elements at t. */
#define QD_STEP(R, LOAD)                                                       \
    do {                                                                       \
        const __m512 x0 = LOAD(k0 + t), x1 = LOAD(k1 + t);                    \
        const __m512 x2 = LOAD(k2 + t), x3 = LOAD(k3 + t);                     \
        for (int r = 0; r < (R); r++) {                                        \
            const __m512 y = LOAD(q[r] + t);                                   \
            a[r][0] = _mm512_fmadd_ps(y, x0, a[r][0]);                         \
            a[r][1] = _mm512_fmadd_ps(y, x1, a[r][1]);                         \
            a[r][2] = _mm512_fmadd_ps(y, x2, a[r][2]);                         \
            a[r][3] = _mm512_fmadd_ps(y, x3, a[r][3]);                         \
        }                                                                      \
    } while (0)

/* Scores of R ∈ {1, 2, 4} rows q[0..R) against keys k0..k3 (kk of them
 * stored) into s[r][0..kk). With R = 4 the 16 accumulators and 4 K vectors
 * fit the 32 registers: 8 loads per 16 FMAs (R = 2: 6 per 8). */
static inline __attribute__((always_inline)) void
quad(int R, size_t d, const float *const q[4], const float *k0, const float *k1,
     const float *k2, const float *k3, float *const s[4], size_t kk)
{
    __m512 a[4][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < 4; c++)
            a[r][c] = _mm512_setzero_ps();
    size_t t = 0;
#define QD_LOADU(p) _mm512_loadu_ps(p)
#define QD_LOADM(p) _mm512_maskz_loadu_ps(mk, p)
    for (; t + 16 <= d; t += 16)
        QD_STEP(R, QD_LOADU);
    if (t < d) {
        const __mmask16 mk = attn_mask16(d - t);
        QD_STEP(R, QD_LOADM);
    }
#undef QD_LOADU
#undef QD_LOADM
    for (int r = 0; r < R; r += 2) {
        const int two = r + 1 < R;
        const __m256 x = attn_avx2_hsum8(fold(a[r][0]), fold(a[r][1]), fold(a[r][2]),
                                         fold(a[r][3]), fold(a[r + two][0]),
                                         fold(a[r + two][1]), fold(a[r + two][2]),
                                         fold(a[r + two][3]));
        attn_avx2_store_quad(x, s[r], s[r + two], kk, two);
    }
}

void attn_f32_qk_direct_ukr__avx512(size_t m, size_t n, size_t d, const float *q, size_t ldq,
                                    const float *k, size_t ldk, float *s, size_t lds)
{
    for (size_t j = 0; j < n; j += 4) {
        const size_t kk = n - j < 4 ? n - j : 4;
        const float *k0 = k + j * ldk;
        const float *k1 = k + (j + (kk > 1 ? 1 : 0)) * ldk;
        const float *k2 = k + (j + (kk > 2 ? 2 : kk - 1)) * ldk;
        const float *k3 = k + (j + (kk > 3 ? 3 : kk - 1)) * ldk;
        size_t r = 0;
        for (; r + 4 <= m; r += 4) {
            const float *const qq[4] = {q + r * ldq, q + (r + 1) * ldq, q + (r + 2) * ldq,
                                        q + (r + 3) * ldq};
            float *const ss[4] = {s + r * lds + j, s + (r + 1) * lds + j,
                                  s + (r + 2) * lds + j, s + (r + 3) * lds + j};
            quad(4, d, qq, k0, k1, k2, k3, ss, kk);
        }
        for (; r + 2 <= m; r += 2) {
            const float *const qq[4] = {q + r * ldq, q + (r + 1) * ldq, NULL, NULL};
            float *const ss[4] = {s + r * lds + j, s + (r + 1) * lds + j, NULL, NULL};
            quad(2, d, qq, k0, k1, k2, k3, ss, kk);
        }
        if (r < m) {
            const float *const qq[4] = {q + r * ldq, NULL, NULL, NULL};
            float *const ss[4] = {s + r * lds + j, s + r * lds + j, NULL, NULL};
            quad(1, d, qq, k0, k1, k2, k3, ss, kk);
        }
    }
}
