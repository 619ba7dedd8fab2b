/*
 * tanh_coeffs.h — the constants of the vector tanh used by the softcap_row
 * kernels (AVX2, AVX-512, NEON); one definition so the sets cannot drift.
 *
 * tanh(x), a = |x|:
 *   a < ATTN_TANH_SMALL: x + x³·P(x²), P = c0 + c1 u + … + c4 u⁴ (u = x²), the
 *       near-minimax fit (Chebyshev, 40-digit mpmath) of (tanh(x)/x − 1)/x² on
 *       u ∈ [0, 0.625²]: fit error 4.3e−8 on P, so ≤ 0.73 ulp of tanh with the
 *       coefficients rounded to float (measured, FMA Horner);
 *   otherwise: sign(x)·(1 − 2/(e^{2a} + 1)), 2a clamped to ATTN_TANH_CLAMP2
 *       (tanh is 1 in float long before): ≤ 1.8 ulp with an exp of ≤ 1 ulp
 *       (the subtraction from 1 cancels at most one bit for a ≥ 0.625).
 * ±inf → ±1, NaN → NaN (the clamp keeps NaN: it is passed through min's
 * NaN-propagating operand), −0 → −0.
 */
#ifndef ATTN_TANH_COEFFS_H
#define ATTN_TANH_COEFFS_H

#define ATTN_TANH_SMALL 0.625f
#define ATTN_TANH_CLAMP2 80.0f
#define ATTN_TANH_C0 (-0x1.555552p-2f)
#define ATTN_TANH_C1 0x1.110E1Cp-3f
#define ATTN_TANH_C2 (-0x1.B9258Ap-5f)
#define ATTN_TANH_C3 0x1.58048Ep-6f
#define ATTN_TANH_C4 (-0x1.8F8DE4p-8f)

#endif /* ATTN_TANH_COEFFS_H */
