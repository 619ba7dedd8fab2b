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
 *
 * pv_tile_f16/bf16 (m ≤ MR_X16 = 8: decode tiles): the same code with V rows
 * of 16-bit values, widened as they are loaded (vcvtph2ps / a 16-bit shift;
 * a last partial chunk through memory): the same chains on the same values,
 * so bitwise the f32 kernel on the widened rows.
 */
#include <assert.h>

#include "avx512_intrin.h"
#include "convert.h"
#include "microkernels.h"
#include "vec_avx512.h"

enum { MR = 14, NR = 32, MR_X16 = 8 };
enum { VT_F32, VT_F16, VT_BF16 }; /* V's element type */

#if defined(__GNUC__)
#define ATTN_INLINE static inline __attribute__((always_inline))
#else
#define ATTN_INLINE static inline
#endif

/* Element `at` of a V array of type VT. */
ATTN_INLINE const void *v_at(const int VT, const void *v, size_t at)
{
    return (const char *)v + at * (VT == VT_F32 ? sizeof(float) : sizeof(uint16_t));
}

/* 16 values of a V row, widened: f32 under the lane mask km; 16-bit all 16
 * (FULL) or the first nc, zeros after, through memory. */
ATTN_INLINE __m512 load_v16(const int VT, const int FULL, const void *row, __mmask16 km,
                            size_t nc)
{
    if (VT == VT_F32)
        return _mm512_maskz_loadu_ps(km, row);
    const uint16_t *h = row;
    if (!FULL) {
        float t[16] = {0};
        attn_widen16(h, nc, VT == VT_BF16, t);
        return _mm512_loadu_ps(t);
    }
    const __m256i x = _mm256_loadu_si256((const __m256i *)row);
    if (VT == VT_F16)
        return _mm512_cvtph_ps(x);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(x), 16));
}

/* One chunk of NV (1 or 2) vectors × M rows; km[x] masks vector x's lanes
 * (nc0, nc1 of them; FULL: all, for 16-bit V). M, NV, VT and FULL are
 * constants after inlining: the accumulators live in zmm. */
ATTN_INLINE void pv_chunk(const size_t M, const int NV, const int VT, const int FULL, size_t n,
                          const float *p, size_t ldp, const void *v, size_t ldv,
                          float *o, size_t ldo, const float *alpha, int overwrite,
                          __mmask16 km0, __mmask16 km1, size_t nc0, size_t nc1)
{
    const size_t ncv[2] = {nc0, nc1};
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
        __m512 vv[2];
        ATTN_UNROLL_FULL
        for (int x = 0; x < NV; x++)
            vv[x] = load_v16(VT, FULL, v_at(VT, v, j * ldv + 16 * (size_t)x), km[x], ncv[x]);
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

ATTN_INLINE void pv_rows(const size_t M, const int VT, size_t n, size_t dv, const float *p,
                         size_t ldp, const void *v, size_t ldv, float *o, size_t ldo,
                         const float *alpha, int overwrite)
{
    for (size_t c0 = 0; c0 < dv; c0 += NR) {
        const size_t nc = dv - c0 < NR ? dv - c0 : NR;
        const void *vc = v_at(VT, v, c0);
        if (VT != VT_F32 && nc == NR)
            pv_chunk(M, 2, VT, 1, n, p, ldp, vc, ldv, o + c0, ldo, alpha, overwrite,
                     (__mmask16)0xFFFF, (__mmask16)0xFFFF, 16, 16);
        else if (nc > 16)
            pv_chunk(M, 2, VT, 0, n, p, ldp, vc, ldv, o + c0, ldo, alpha, overwrite,
                     (__mmask16)0xFFFF, attn_mask16(nc - 16), 16, nc - 16);
        else
            pv_chunk(M, 1, VT, 0, n, p, ldp, vc, ldv, o + c0, ldo, alpha, overwrite,
                     attn_mask16(nc), 0, nc, 0);
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
        pv_rows(m, VT_F32, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite);
#else
    switch (m) {
    case 14: pv_rows(14, VT_F32, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 13: pv_rows(13, VT_F32, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 12: pv_rows(12, VT_F32, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 11: pv_rows(11, VT_F32, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 10: pv_rows(10, VT_F32, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 9: pv_rows(9, VT_F32, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 8: pv_rows(8, VT_F32, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 7: pv_rows(7, VT_F32, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 6: pv_rows(6, VT_F32, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 5: pv_rows(5, VT_F32, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 4: pv_rows(4, VT_F32, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 3: pv_rows(3, VT_F32, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 2: pv_rows(2, VT_F32, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 1: pv_rows(1, VT_F32, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    default: break; /* m = 0: nothing to do */
    }
#endif
}

/* 16-bit V: decode tiles, m ≤ MR_X16 (emulated: one run-time instantiation). */
ATTN_INLINE void pv_x16(const int VT, size_t m, size_t n, size_t dv, const float *p,
                        size_t ldp, const uint16_t *v, size_t ldv, float *o, size_t ldo,
                        const float *alpha, int overwrite)
{
    assert(m <= MR_X16);
#ifdef ATTN_AVX512_EMULATED
    if (m > 0)
        pv_rows(m, VT, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite);
#else
    switch (m) {
    case 8: pv_rows(8, VT, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 7: pv_rows(7, VT, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 6: pv_rows(6, VT, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 5: pv_rows(5, VT, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 4: pv_rows(4, VT, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 3: pv_rows(3, VT, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 2: pv_rows(2, VT, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 1: pv_rows(1, VT, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    default: break; /* m = 0: nothing to do */
    }
#endif
}

/* attn_<T>_pv_tile_ukr_8x32__avx512: 16-bit V, VT_<KIND>. */
#define PV_X16_ENTRY(T, KIND)                                                  \
    void attn_##T##_pv_tile_ukr_8x32__avx512(size_t m, size_t n, size_t dv,    \
                                             const float *p, size_t ldp,       \
                                             const uint16_t *v, size_t ldv,    \
                                             float *o, size_t ldo,             \
                                             const float *alpha, int overwrite) \
    {                                                                          \
        pv_x16(KIND, m, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite);      \
    }

PV_X16_ENTRY(f16, VT_F16)
PV_X16_ENTRY(bf16, VT_BF16)
