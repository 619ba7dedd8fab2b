/*
 * softcap_row, AVX2 + FMA: s[j] ← cap · tanh(s[j] · (1/cap)) for j < n
 * (contract in microkernels.h). tanh per kernels/tanh_coeffs.h: ≤ 2 ulp,
 * ±inf → ±cap, NaN stays NaN. The n mod 8 tail is a masked vector.
 *
 * A vector whose lanes are all small (|x| < 0.625, the common case for
 * Gemma-style caps of 30–50) skips the exp and the division.
 */
#include "microkernels.h"
#include "tanh_coeffs.h"
#include "avx2/exp_avx2.h"
#include "avx2/mask_avx2.h"

static inline __m256 tanh_avx2(__m256 x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 a = _mm256_andnot_ps(sign, x);
    const __m256 u = _mm256_mul_ps(a, a);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(ATTN_TANH_C4), u, _mm256_set1_ps(ATTN_TANH_C3));
    p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(ATTN_TANH_C2));
    p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(ATTN_TANH_C1));
    p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(ATTN_TANH_C0));
    /* on |x|, the sign put back at the end: x + x³P would turn −0 into +0 */
    const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(a, u), p, a);
    const __m256 sx = _mm256_and_ps(sign, x);
    /* ordered compare: NaN lanes take the large path, which keeps them NaN */
    const __m256 is_small = _mm256_cmp_ps(a, _mm256_set1_ps(ATTN_TANH_SMALL), _CMP_LT_OQ);
    if (_mm256_movemask_ps(is_small) == 0xFF)
        return _mm256_or_ps(small, sx);
    /* min(c, NaN) is NaN: the NaN operand goes second */
    const __m256 a2 = _mm256_min_ps(_mm256_set1_ps(ATTN_TANH_CLAMP2), _mm256_add_ps(a, a));
    const __m256 e = attn_exp_avx2_fast(a2);
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 t = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f),
                                                      _mm256_add_ps(e, one)));
    return _mm256_or_ps(_mm256_blendv_ps(t, small, is_small), sx);
}

void attn_f32_softcap_row_ukr__avx2(size_t n, float *s, float cap)
{
    const __m256 c = _mm256_set1_ps(cap), inv = _mm256_set1_ps(1.0f / cap);
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(s + j, _mm256_mul_ps(c, tanh_avx2(_mm256_mul_ps(_mm256_loadu_ps(s + j), inv))));
    if (j < n) {
        const __m256i k = attn_avx2_lane_mask((ptrdiff_t)(n - j));
        const __m256 x = _mm256_mul_ps(_mm256_maskload_ps(s + j, k), inv);
        _mm256_maskstore_ps(s + j, k, _mm256_mul_ps(c, tanh_avx2(x)));
    }
}
