/*
 * pack_k (f32), AVX-512: n keys of d floats (rows at ldk) → panels of nr keys,
 * for each dd the nr keys' values side by side, the last panel zero-padded
 * to nr (layout in microkernels.h). Writes ceil(n/nr)·nr·d floats.
 *
 * Fast path (nr a multiple of 16, e.g. qk_tile's 32): 16 keys × 16 dims are
 * loaded as 16 row vectors and transposed in registers (unpack ps, unpack
 * pd, two rounds of 128-bit block shuffles: 64 shuffles per 256 floats),
 * then stored as 16 panel rows of 16 keys. The d tail loads with a k-mask
 * and stores only the valid panel rows; keys past n are zero vectors, never
 * read. Other nr: the portable loop. Packing is done once per K block and
 * read by every row block of the tile, so it is a few % of qk_tile's time.
 */
#include "avx512_intrin.h"
#include "microkernels.h"
#include "transpose_avx512.h"
#include "vec_avx512.h"

/* Keys [j, j + nk) (nk ≤ 16) × all d dims → columns 0..15 of the panel
 * rows at out (stride nr), zero for keys past nk. */
static void pack16(size_t nk, size_t d, const float *k, size_t ldk, float *out, size_t nr)
{
    for (size_t dd = 0; dd < d; dd += 16) {
        const size_t nd = d - dd < 16 ? d - dd : 16;
        const __mmask16 kd = attn_mask16(nd);
        __m512 r[16];
        for (size_t i = 0; i < 16; i++)
            r[i] = i < nk ? _mm512_maskz_loadu_ps(kd, k + i * ldk + dd) : _mm512_setzero_ps();
        attn_transpose16_avx512(r);
        for (size_t i = 0; i < nd; i++)
            _mm512_storeu_ps(out + (dd + i) * nr, r[i]);
    }
}

static void pack_portable(size_t n, size_t d, const float *k, size_t ldk, float *kp, size_t nr)
{
    for (size_t j0 = 0; j0 < n; j0 += nr) {
        float *panel = kp + (j0 / nr) * nr * d;
        const size_t nn = n - j0 < nr ? n - j0 : nr;
        for (size_t jj = 0; jj < nr; jj++)
            for (size_t dd = 0; dd < d; dd++)
                panel[dd * nr + jj] = jj < nn ? k[(j0 + jj) * ldk + dd] : 0.0f;
    }
}

void attn_f32_pack_k_ukr__avx512(size_t n, size_t d, const float *k, size_t ldk,
                                 float *kp, size_t nr)
{
    if (nr % 16 != 0) {
        pack_portable(n, d, k, ldk, kp, nr);
        return;
    }
    for (size_t j0 = 0; j0 < n; j0 += nr) {
        float *panel = kp + (j0 / nr) * nr * d;
        for (size_t g = 0; g < nr; g += 16) {
            const size_t nk = j0 + g < n ? (n - j0 - g < 16 ? n - j0 - g : 16) : 0;
            /* keys past n: zero columns, and no pointer past the rows */
            pack16(nk, d, nk ? k + (j0 + g) * ldk : k, ldk, panel + g, nr);
        }
    }
}
