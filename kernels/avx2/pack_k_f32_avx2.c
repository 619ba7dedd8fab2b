/*
 * pack_k (f32), AVX2: n keys of d floats (rows at ldk) → panels of nr keys,
 * for each dd the nr keys' values side by side, the last panel zero-padded to
 * nr (layout in microkernels.h); writes ceil(n/nr)·nr·d floats. Any nr.
 *
 * When nr is a multiple of 8, each group of 8 whole keys is transposed in
 * 8 × 8 blocks: two 128-bit loads per key row, paired into ymm by
 * vinsertf128 (a load-port op), then a 4 × 4 transpose in each 128-bit lane
 * (8 unpacks + 8 shuffles), 8 stores of 8 keys. The d mod 8 leftover
 * columns, a group with fewer than 8 keys (the last panel) and nr not a
 * multiple of 8 are copied element by element. Packing is a copy: the result
 * is exact whatever path wrote it.
 */
#include <immintrin.h>

#include "microkernels.h"

/* Keys k[0..nk) (nk ≤ nr, rows at ldk) → their nr-strided columns of the
 * panel starting at dst, for dd in [dd0, d); keys nk..nk_pad get zeros. */
static void pack_scalar(size_t nk, size_t nk_pad, size_t dd0, size_t d,
                        const float *k, size_t ldk, float *dst, size_t nr)
{
    for (size_t jj = 0; jj < nk_pad; jj++) {
        if (jj < nk) {
            const float *krow = k + jj * ldk;
            for (size_t dd = dd0; dd < d; dd++)
                dst[dd * nr + jj] = krow[dd];
        } else {
            for (size_t dd = dd0; dd < d; dd++)
                dst[dd * nr + jj] = 0.0f;
        }
    }
}

/* Transpose an 8 × 8 block: rows r[i][0..8) → dst[i·nr .. +8) holding
 * (r[0][i], …, r[7][i]). */
static inline void transpose8(const float *const r[8], size_t dd, float *dst, size_t nr)
{
    /* a0 = (r0[0..4) | r4[0..4)), …, a4 = (r0[4..8) | r4[4..8)), … */
    __m256 a[8];
    for (int i = 0; i < 4; i++) {
        a[i] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(r[i] + dd)),
                                    _mm_loadu_ps(r[i + 4] + dd), 1);
        a[i + 4] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(r[i] + dd + 4)),
                                        _mm_loadu_ps(r[i + 4] + dd + 4), 1);
    }
    for (int h = 0; h < 8; h += 4) {
        const __m256 t0 = _mm256_unpacklo_ps(a[h + 0], a[h + 1]);
        const __m256 t1 = _mm256_unpackhi_ps(a[h + 0], a[h + 1]);
        const __m256 t2 = _mm256_unpacklo_ps(a[h + 2], a[h + 3]);
        const __m256 t3 = _mm256_unpackhi_ps(a[h + 2], a[h + 3]);
        _mm256_storeu_ps(dst + (size_t)(h + 0) * nr, _mm256_shuffle_ps(t0, t2, 0x44));
        _mm256_storeu_ps(dst + (size_t)(h + 1) * nr, _mm256_shuffle_ps(t0, t2, 0xEE));
        _mm256_storeu_ps(dst + (size_t)(h + 2) * nr, _mm256_shuffle_ps(t1, t3, 0x44));
        _mm256_storeu_ps(dst + (size_t)(h + 3) * nr, _mm256_shuffle_ps(t1, t3, 0xEE));
    }
}

void attn_f32_pack_k_ukr__avx2(size_t n, size_t d, const float *k, size_t ldk,
                               float *kp, size_t nr)
{
    for (size_t j0 = 0; j0 < n; j0 += nr) {
        float *panel = kp + j0 * d; /* panel j0/nr starts at (j0/nr)·nr·d */
        const size_t nn = n - j0 < nr ? n - j0 : nr;
        if (nr % 8 != 0) {
            pack_scalar(nn, nr, 0, d, k + j0 * ldk, ldk, panel, nr);
            continue;
        }
        for (size_t jb = 0; jb < nr; jb += 8) {
            if (jb + 8 > nn) { /* a partial or empty group: zero-padded */
                const size_t nk = nn > jb ? nn - jb : 0;
                pack_scalar(nk, 8, 0, d, nk ? k + (j0 + jb) * ldk : k, ldk, panel + jb, nr);
                continue;
            }
            const float *kg = k + (j0 + jb) * ldk;
            const float *r[8];
            for (int i = 0; i < 8; i++)
                r[i] = kg + (size_t)i * ldk;
            size_t dd = 0;
            for (; dd + 8 <= d; dd += 8)
                transpose8(r, dd, panel + dd * nr + jb, nr);
            pack_scalar(8, 8, dd, d, kg, ldk, panel + jb, nr);
        }
    }
}
