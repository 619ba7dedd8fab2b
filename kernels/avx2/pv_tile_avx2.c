/*
 * pv_tile, AVX2 + FMA: O[m × dv] = P[m × n] · V[n × dv] + (overwrite ? 0 :
 * alpha ⊙ O), alpha NULL meaning 1 (contract in microkernels.h). m ≤ 6, n ≥ 0,
 * V rows f32 at ldv (packed or in place, no alignment assumed); and
 * pv_tile_f16/bf16, the same with 16-bit V rows (last paragraph).
 *
 * Blocking 6 × 16: O is walked in chunks of 16 columns; a chunk's 6 × 16
 * outputs stay in 12 accumulators while j runs over the n keys: 2 loads of
 * V[j, chunk] + 1 broadcast of P[r, j] per row, 12 FMAs per 8 loads — the
 * same register budget as qk_tile (15 of 16 ymm), and the same mr, so the
 * driver feeds both with one row tile. Each O chunk is loaded and stored once
 * per call, so long key blocks amortise it; P (m·n floats) is re-read from L1
 * once per chunk.
 * Tails: a last chunk of dv mod 16 columns uses masked loads/stores of V and O
 * (no access past a row's end; 8 columns or fewer use one vector per row);
 * m < 6 is the same code with rows ≥ m compiled out. Every output is its
 * (rescaled) old value followed by the n products FMA'd in key order, so a
 * row's result does not depend on m, on its position in the tile or on its
 * column's position in a chunk.
 * With overwrite, O is never read (it may hold garbage or NaN).
 * pv_tile_f16/bf16 run the same code with V rows of 16-bit values, widened as
 * they are loaded (F16C / a 16-bit shift; tails through memory): the same
 * chains on the same values, so bitwise the f32 kernel on widened rows.
 */
#include <assert.h>
#include <immintrin.h>

#include "convert.h"
#include "microkernels.h"
#include "avx2/mask_avx2.h"

enum { MR = 6, NR = 16 };
enum { VT_F32, VT_F16, VT_BF16 }; /* V's element type */

/* Element `at` of a V array of type VT. */
static inline __attribute__((always_inline)) const void *
v_at(const int VT, const void *v, size_t at)
{
    return (const char *)v + at * (VT == VT_F32 ? sizeof(float) : sizeof(uint16_t));
}

/* 8 values of a V row at `row`, widened; masked: only the first nc (lanes
 * of mask), zeros after, nothing past them read. */
static inline __attribute__((always_inline)) __m256
load_v8(const int VT, const void *row, int masked, __m256i mask, size_t nc)
{
    if (VT == VT_F32)
        return masked ? _mm256_maskload_ps(row, mask) : _mm256_loadu_ps(row);
    const uint16_t *h = row;
    if (masked) {
        float t[8] = {0};
        attn_widen16(h, nc, VT == VT_BF16, t);
        return _mm256_loadu_ps(t);
    }
    const __m128i x = _mm_loadu_si128((const __m128i *)row);
    if (VT == VT_F16)
        return _mm256_cvtph_ps(x);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(x), 16));
}

/* Old value of 8 outputs of row r: 0 (overwrite), O, or alpha[r]·O. */
static inline __attribute__((always_inline)) __m256
init_acc(const float *orow, const float *alpha, size_t r, int overwrite,
         int masked, __m256i mask)
{
    if (overwrite)
        return _mm256_setzero_ps();
    const __m256 old = masked ? _mm256_maskload_ps(orow, mask) : _mm256_loadu_ps(orow);
    return alpha ? _mm256_mul_ps(_mm256_set1_ps(alpha[r]), old) : old;
}

static inline __attribute__((always_inline)) void
store_acc(float *orow, __m256 acc, int masked, __m256i mask)
{
    if (masked)
        _mm256_maskstore_ps(orow, mask, acc);
    else
        _mm256_storeu_ps(orow, acc);
}

/* Row r's W accumulators += P[r, j] · V[j, chunk]. */
#define PV_FMA(r)                                                              \
    if (M > r) {                                                               \
        const __m256 b = _mm256_broadcast_ss(p##r + j);                        \
        a##r##0 = _mm256_fmadd_ps(b, v0, a##r##0);                             \
        if (W > 1)                                                             \
            a##r##1 = _mm256_fmadd_ps(b, v1, a##r##1);                         \
    }
#define PV_INIT(r)                                                             \
    if (M > r) {                                                               \
        a##r##0 = init_acc(o + r * ldo, alpha, r, overwrite, W == 1 && MASKED, mask); \
        if (W > 1)                                                             \
            a##r##1 = init_acc(o + r * ldo + 8, alpha, r, overwrite, MASKED, mask); \
    }
#define PV_STORE(r)                                                            \
    if (M > r) {                                                               \
        store_acc(o + r * ldo, a##r##0, W == 1 && MASKED, mask);               \
        if (W > 1)                                                             \
            store_acc(o + r * ldo + 8, a##r##1, MASKED, mask);                 \
    }

/* One chunk of W·8 columns starting at o / v (already offset by the chunk).
 * M, W, MASKED and VT are constants after inlining; with MASKED the last of
 * the W vectors touches only the lanes of mask (its nc columns). One mask at
 * most keeps the masked 6-row chunk at 12 + 2 + 1 + 1 = 16 registers,
 * spill-free like the others. */
static inline __attribute__((always_inline)) void
pv_chunk(const size_t M, const int W, const int MASKED, const int VT, __m256i mask,
         size_t nc, size_t n, const float *p, size_t ldp, const void *v, size_t ldv,
         float *o, size_t ldo, const float *alpha, int overwrite)
{
    /* Rows past M alias row 0: never read, but no out-of-object pointer. */
    const float *p0 = p;
    const float *p1 = M > 1 ? p + ldp : p;
    const float *p2 = M > 2 ? p + 2 * ldp : p;
    const float *p3 = M > 3 ? p + 3 * ldp : p;
    const float *p4 = M > 4 ? p + 4 * ldp : p;
    const float *p5 = M > 5 ? p + 5 * ldp : p;
    __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps();
    __m256 a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps();
    __m256 a20 = _mm256_setzero_ps(), a21 = _mm256_setzero_ps();
    __m256 a30 = _mm256_setzero_ps(), a31 = _mm256_setzero_ps();
    __m256 a40 = _mm256_setzero_ps(), a41 = _mm256_setzero_ps();
    __m256 a50 = _mm256_setzero_ps(), a51 = _mm256_setzero_ps();
    PV_INIT(0) PV_INIT(1) PV_INIT(2) PV_INIT(3) PV_INIT(4) PV_INIT(5)
#pragma GCC unroll 4
    for (size_t j = 0; j < n; j++) {
        const __m256 v0 = load_v8(VT, v_at(VT, v, j * ldv), W == 1 && MASKED, mask, nc);
        const __m256 v1 = W == 1 ? v0 : load_v8(VT, v_at(VT, v, j * ldv + 8), MASKED, mask, nc);
        PV_FMA(0) PV_FMA(1) PV_FMA(2) PV_FMA(3) PV_FMA(4) PV_FMA(5)
    }
    PV_STORE(0) PV_STORE(1) PV_STORE(2) PV_STORE(3) PV_STORE(4) PV_STORE(5)
}

#undef PV_FMA
#undef PV_INIT
#undef PV_STORE

/* One row, 64 columns: 8 chains. (A 16-column chunk has only 2 chains per
 * row, and one row — decoding — would leave the FMA ports waiting on their
 * latency.) The same operations per output as pv_chunk. */
static inline __attribute__((always_inline)) void
pv_row64(const int VT, size_t n, const float *p, const void *v, size_t ldv, float *o,
         const float *alpha, int overwrite)
{
    const __m256i none = _mm256_setzero_si256();
    __m256 acc[8];
    for (int x = 0; x < 8; x++)
        acc[x] = init_acc(o + 8 * x, alpha, 0, overwrite, 0, none);
    for (size_t j = 0; j < n; j++) {
        const __m256 b = _mm256_broadcast_ss(p + j);
        for (int x = 0; x < 8; x++)
            acc[x] = _mm256_fmadd_ps(b, load_v8(VT, v_at(VT, v, j * ldv + 8 * (size_t)x), 0, none, 8),
                                     acc[x]);
    }
    for (int x = 0; x < 8; x++)
        store_acc(o + 8 * x, acc[x], 0, none);
}

static inline __attribute__((always_inline)) void
pv_rows(const size_t M, const int VT, size_t n, size_t dv, const float *p, size_t ldp,
        const void *v, size_t ldv, float *o, size_t ldo,
        const float *alpha, int overwrite)
{
    const __m256i none = _mm256_setzero_si256();
    size_t c0 = 0;
    if (M == 1)
        for (; c0 + 64 <= dv; c0 += 64)
            pv_row64(VT, n, p, v_at(VT, v, c0), ldv, o + c0, alpha, overwrite);
    for (; c0 + NR <= dv; c0 += NR)
        pv_chunk(M, 2, 0, VT, none, 8, n, p, ldp, v_at(VT, v, c0), ldv, o + c0, ldo, alpha,
                 overwrite);
    const size_t nc = dv - c0; /* 0..15 columns left */
    if (nc > 8)
        pv_chunk(M, 2, 1, VT, attn_avx2_lane_mask((ptrdiff_t)nc - 8), nc - 8,
                 n, p, ldp, v_at(VT, v, c0), ldv, o + c0, ldo, alpha, overwrite);
    else if (nc > 0)
        pv_chunk(M, 1, 1, VT, attn_avx2_lane_mask((ptrdiff_t)nc), nc,
                 n, p, ldp, v_at(VT, v, c0), ldv, o + c0, ldo, alpha, overwrite);
}

/* The slot for V of type VT (m ≤ 6: one instantiation per row count). */
static inline __attribute__((always_inline)) void
pv_tile(const int VT, size_t m, size_t n, size_t dv, const float *p, size_t ldp,
        const void *v, size_t ldv, float *o, size_t ldo, const float *alpha, int overwrite)
{
    assert(m <= MR);
    switch (m) {
    case 6: pv_rows(6, VT, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 5: pv_rows(5, VT, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 4: pv_rows(4, VT, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 3: pv_rows(3, VT, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 2: pv_rows(2, VT, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    case 1: pv_rows(1, VT, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite); break;
    default: break; /* m = 0: nothing to do */
    }
}

/* attn_<T>_pv_tile_ukr_6x16__avx2: V elements of type VT, VT_<KIND>. */
#define PV_ENTRY(T, VT, KIND)                                                  \
    void attn_##T##_pv_tile_ukr_6x16__avx2(size_t m, size_t n, size_t dv,      \
                                           const float *p, size_t ldp,         \
                                           const VT *v, size_t ldv,            \
                                           float *o, size_t ldo,               \
                                           const float *alpha, int overwrite)  \
    {                                                                          \
        pv_tile(KIND, m, n, dv, p, ldp, v, ldv, o, ldo, alpha, overwrite);     \
    }

PV_ENTRY(f32, float, VT_F32)
PV_ENTRY(f16, uint16_t, VT_F16)
PV_ENTRY(bf16, uint16_t, VT_BF16)
