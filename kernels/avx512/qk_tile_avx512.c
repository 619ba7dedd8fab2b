/*
 * qk_tile, AVX-512: S[m × n] = Q[m × d] · Kᵀ on a K block packed in panels of
 * NR = 32 keys (contract and layout in microkernels.h). m ≤ MR = 14.
 *
 * Blocking: 14 rows × 32 keys = 28 zmm accumulators, 2 zmm for the panel's
 * two 16-key vectors and one for Q[r, dd], broadcast from memory (a
 * load-port µop): 31 of the 32 registers, no spill; the inner loop runs 28
 * FMAs per 16 loads, unrolled by 4 over dd so that pointer increments do
 * not take issue slots from the two FMA ports (84 % → 97 % of peak at
 * d = 128). Why 14 × 32 rather than 6 × 64 or 8 × 48: 28 accumulators
 * either way, but 14 rows share each K panel load and the driver hands
 * pv_tile the same 14-row block, whose V traffic from L2 falls with the
 * row count (14 rows read V 2.3× less often than 6).
 *
 * Tails: m < 14 runs an instantiation with exactly m rows (no wasted FMAs);
 * the last, zero-padded panel is computed whole and stored with k-masks.
 * Every score is one FMA chain over dd = 0..d−1 from 0, whatever m, n or
 * the row's position: a row's scores do not depend on the tile.
 */
#include <assert.h>

#include "avx512_intrin.h"
#include "microkernels.h"
#include "vec_avx512.h"

enum { MR = 14, NR = 32 };

#if defined(__GNUC__)
#define ATTN_INLINE static inline __attribute__((always_inline))
#else
#define ATTN_INLINE static inline
#endif

/* One panel (32 keys) against M rows; M is a constant after inlining, so
 * the accumulator array lives in registers. */
ATTN_INLINE void qk_panel(const size_t M, size_t d, const float *q, size_t ldq,
                          const float *panel, float *s, size_t lds, size_t nn)
{
    __m512 acc[MR][2];
    ATTN_UNROLL_FULL
    for (size_t r = 0; r < M; r++)
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();

    /* Rows through four base pointers (rows 4b .. 4b+3), each stepping one
     * float per dd: with offsets 0, ldq, 2ldq, 3ldq the 14 row addresses
     * need 8 general registers, where 14 row pointers would spill. */
    const float *qb[4] = {q, M > 4 ? q + 4 * ldq : q, M > 8 ? q + 8 * ldq : q,
                          M > 12 ? q + 12 * ldq : q};
    ATTN_UNROLL4
    for (size_t dd = 0; dd < d; dd++) {
        const __m512 k0 = _mm512_loadu_ps(panel + dd * NR);
        const __m512 k1 = _mm512_loadu_ps(panel + dd * NR + 16);
        ATTN_UNROLL_FULL
        for (size_t r = 0; r < M; r++) {
            const __m512 qv = _mm512_set1_ps(qb[r / 4][(r % 4) * ldq]);
            acc[r][0] = _mm512_fmadd_ps(qv, k0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(qv, k1, acc[r][1]);
        }
        qb[0]++, qb[1]++, qb[2]++, qb[3]++;
    }

    if (nn == NR) {
        ATTN_UNROLL_FULL
        for (size_t r = 0; r < M; r++) {
            _mm512_storeu_ps(s + r * lds, acc[r][0]);
            _mm512_storeu_ps(s + r * lds + 16, acc[r][1]);
        }
    } else {
        const __mmask16 k0 = attn_mask16(nn), k1 = attn_mask16(nn > 16 ? nn - 16 : 0);
        ATTN_UNROLL_FULL
        for (size_t r = 0; r < M; r++) {
            _mm512_mask_storeu_ps(s + r * lds, k0, acc[r][0]);
            _mm512_mask_storeu_ps(s + r * lds + 16, k1, acc[r][1]);
        }
    }
}

ATTN_INLINE void qk_rows(const size_t M, size_t n, size_t d, const float *q, size_t ldq,
                         const float *kp, float *s, size_t lds)
{
    for (size_t j0 = 0; j0 < n; j0 += NR)
        qk_panel(M, d, q, ldq, kp + j0 * d, s + j0, lds, n - j0 < NR ? n - j0 : NR);
}

void attn_f32_qk_tile_ukr_14x32__avx512(size_t m, size_t n, size_t d,
                                        const float *q, size_t ldq,
                                        const float *kp, float *s, size_t lds)
{
    assert(m <= MR);
#ifdef ATTN_AVX512_EMULATED
    /* Emulated build (tests only): one instantiation with a run-time row
     * count computes the same FMA chains, so the same bits, and compiles in
     * seconds instead of minutes. */
    if (m > 0)
        qk_rows(m, n, d, q, ldq, kp, s, lds);
#else
    switch (m) {
    case 14: qk_rows(14, n, d, q, ldq, kp, s, lds); break;
    case 13: qk_rows(13, n, d, q, ldq, kp, s, lds); break;
    case 12: qk_rows(12, n, d, q, ldq, kp, s, lds); break;
    case 11: qk_rows(11, n, d, q, ldq, kp, s, lds); break;
    case 10: qk_rows(10, n, d, q, ldq, kp, s, lds); break;
    case 9: qk_rows(9, n, d, q, ldq, kp, s, lds); break;
    case 8: qk_rows(8, n, d, q, ldq, kp, s, lds); break;
    case 7: qk_rows(7, n, d, q, ldq, kp, s, lds); break;
    case 6: qk_rows(6, n, d, q, ldq, kp, s, lds); break;
    case 5: qk_rows(5, n, d, q, ldq, kp, s, lds); break;
    case 4: qk_rows(4, n, d, q, ldq, kp, s, lds); break;
    case 3: qk_rows(3, n, d, q, ldq, kp, s, lds); break;
    case 2: qk_rows(2, n, d, q, ldq, kp, s, lds); break;
    case 1: qk_rows(1, n, d, q, ldq, kp, s, lds); break;
    default: break; /* m = 0: nothing to do */
    }
#endif
}
