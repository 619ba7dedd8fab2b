/*
 * pv_tile, AVX-512: O[m × dv] = P[m × n] · V[n × dv] + (overwrite ? 0 : α ⊙ O)
 * (contract in microkernels.h). m ≤ MR = 14, n ≥ 0, any dv ≥ 1; V rows are
 * f32 at stride ldv, unaligned, not packed.
 *
 * Blocking: O is swept in chunks of NR = 32 columns; a chunk of 14 rows is
 * 28 zmm accumulators, loaded (and scaled by α) once, then for each key j
 * the two V vectors are loaded and P[r, j] is broadcast from memory (a
 * load-port µop) into 28 FMAs: 31 registers, no spill. V streams from L2
 * (the block is read once per chunk); 14 rows per V load keep that traffic
 * at 128 bytes per 28 FMAs, and the P rows (14 × n) stay in L1 across the
 * chunks. The key loop is unrolled by 4 so that pointer increments do not
 * take issue slots from the two FMA ports (~5 % on the 512-bit path).
 *
 * Tails: m < 14 runs an exact-m instantiation; the last chunk of dv uses
 * k-masked loads and stores (a chunk of ≤ 16 columns keeps one vector per
 * row), so nothing past dv is read or written.
 *
 * Determinism: each output element is one FMA chain over j = 0..n−1 in
 * order, starting from α·O (or 0), whatever m, dv or the chunk it sits in;
 * a key with P = 0 adds exactly 0·V.
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

/* One chunk of NV (1 or 2) vectors × M rows; km[x] masks vector x's lanes.
 * M and NV are constants after inlining: the accumulators live in zmm. */
ATTN_INLINE void pv_chunk(const size_t M, const int NV, size_t n,
                          const float *p, size_t ldp, const float *v, size_t ldv,
                          float *o, size_t ldo, const float *alpha, int overwrite,
                          __mmask16 km0, __mmask16 km1)
{
    const __mmask16 km[2] = {km0, km1};
    __m512 acc[MR][2];
    ATTN_UNROLL_FULL
    for (size_t r = 0; r < M; r++) {
        ATTN_UNROLL_FULL
        for (int x = 0; x < NV; x++) {
            if (overwrite) {
                acc[r][x] = _mm512_setzero_ps(); /* O may hold garbage: not read */
            } else {
                const __m512 ov = _mm512_maskz_loadu_ps(km[x], o + r * ldo + 16 * x);
                acc[r][x] = alpha ? _mm512_mul_ps(_mm512_set1_ps(alpha[r]), ov) : ov;
            }
        }
    }

    /* P rows through four base pointers (see qk_tile_avx512.c): 8 general
     * registers address 14 rows without spilling. */
    const float *pb[4] = {p, M > 4 ? p + 4 * ldp : p, M > 8 ? p + 8 * ldp : p,
                          M > 12 ? p + 12 * ldp : p};
    ATTN_UNROLL4
    for (size_t j = 0; j < n; j++) {
        const float *vj = v + j * ldv;
        __m512 vv[2];
        ATTN_UNROLL_FULL
        for (int x = 0; x < NV; x++)
            vv[x] = _mm512_maskz_loadu_ps(km[x], vj + 16 * x);
        ATTN_UNROLL_FULL
        for (size_t r = 0; r < M; r++) {
            const __m512 pv = _mm512_set1_ps(pb[r / 4][(r % 4) * ldp]);
            ATTN_UNROLL_FULL
            for (int x = 0; x < NV; x++)
                acc[r][x] = _mm512_fmadd_ps(pv, vv[x], acc[r][x]);
        }
        pb[0]++, pb[1]++, pb[2]++, pb[3]++;
    }

    ATTN_UNROLL_FULL
    for (size_t r = 0; r < M; r++) {
        ATTN_UNROLL_FULL
        for (int x = 0; x < NV; x++)
            _mm512_mask_storeu_ps(o + r * ldo + 16 * x, km[x], acc[r][x]);
    }
}

ATTN_INLINE void pv_rows(const size_t M, size_t n, size_t dv, const float *p, size_t ldp,
                         const float *v, size_t ldv, float *o, size_t ldo,
                         const float *alpha, int overwrite)
{
    for (size_t c0 = 0; c0 < dv; c0 += NR) {
        const size_t nc = dv - c0 < NR ? dv - c0 : NR;
        if (nc > 16)
            pv_chunk(M, 2, n, p, ldp, v + c0, ldv, o + c0, ldo, alpha, overwrite,
                     (__mmask16)0xFFFF, attn_mask16(nc - 16));
        else
            pv_chunk(M, 1, n, p, ldp, v + c0, ldv, o + c0, ldo, alpha, overwrite,
                     attn_mask16(nc), 0);
    }
}

void attn_f32_pv_tile_ukr_14x32__avx512(size_t m, size_t n, size_t dv,
                                        const float *p, size_t ldp,
                                        const float *v, size_t ldv,
                                        float *o, size_t ldo,
                                        const float *alpha, int overwrite)
{
    assert(m <= MR);
#ifdef ATTN_AVX512_EMULATED
    /* Emulated build (tests only): one instantiation with a run-time row
     * count computes the same FMA chains, so the same bits, and compiles in
     * seconds instead of minutes. */
    if (m > 0)
        pv_rows(m, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite);
#else
    switch (m) {
    case 14: pv_rows(14, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 13: pv_rows(13, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 12: pv_rows(12, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 11: pv_rows(11, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 10: pv_rows(10, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 9: pv_rows(9, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 8: pv_rows(8, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 7: pv_rows(7, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 6: pv_rows(6, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 5: pv_rows(5, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 4: pv_rows(4, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 3: pv_rows(3, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 2: pv_rows(2, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 1: pv_rows(1, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    default: break; /* m = 0: nothing to do */
    }
#endif
}
