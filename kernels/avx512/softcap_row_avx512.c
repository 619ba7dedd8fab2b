/*
 * softcap_row, AVX-512: s[j] ← cap · tanh(s[j] · (1/cap)) for j < n
 * (contract in microkernels.h). tanh per kernels/tanh_coeffs.h: ≤ 2 ulp,
 * ±inf → ±cap, NaN stays NaN. Tails are k-masked.
 *
 * A vector whose lanes are all small (|x| < 0.625, the common case for
 * Gemma-style caps of 30–50) skips the exp and the division.
 */
#include "microkernels.h"
#include "tanh_coeffs.h"
#include "exp_avx512.h"
#include "vec_avx512.h"

static inline __m512 tanh_avx512(__m512 x)
{
    const __m512 sign = _mm512_set1_ps(-0.0f);
    const __m512 a = _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_castps_si512(sign),
                                                             _mm512_castps_si512(x)));
    const __m512 u = _mm512_mul_ps(a, a);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(ATTN_TANH_C4), u, _mm512_set1_ps(ATTN_TANH_C3));
    p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(ATTN_TANH_C2));
    p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(ATTN_TANH_C1));
    p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(ATTN_TANH_C0));
    /* on |x|, the sign put back at the end: x + x³P would turn −0 into +0 */
    const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(a, u), p, a);
    const __m512i sx = _mm512_and_si512(_mm512_castps_si512(sign), _mm512_castps_si512(x));
    /* ordered compare: NaN lanes take the large path, which keeps them NaN */
    const __mmask16 is_small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(ATTN_TANH_SMALL), _CMP_LT_OQ);
    if (is_small == 0xFFFF)
        return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(small), sx));
    /* min(c, NaN) is NaN: the NaN operand goes second */
    const __m512 a2 = _mm512_min_ps(_mm512_set1_ps(ATTN_TANH_CLAMP2), _mm512_add_ps(a, a));
    const __m512 e = attn_exp_reduced_avx512(a2);
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 t = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f),
                                                      _mm512_add_ps(e, one)));
    return _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_castps_si512(_mm512_mask_blend_ps(is_small, t, small)), sx));
}

void attn_f32_softcap_row_ukr__avx512(size_t n, float *s, float cap)
{
    const __m512 c = _mm512_set1_ps(cap), inv = _mm512_set1_ps(1.0f / cap);
    size_t j = 0;
    for (; j + 16 <= n; j += 16)
        _mm512_storeu_ps(s + j, _mm512_mul_ps(c, tanh_avx512(_mm512_mul_ps(_mm512_loadu_ps(s + j), inv))));
    if (j < n) {
        const __mmask16 k = attn_mask16(n - j);
        const __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s + j), inv);
        _mm512_mask_storeu_ps(s + j, k, _mm512_mul_ps(c, tanh_avx512(x)));
    }
}
