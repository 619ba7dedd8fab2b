/*
 * pack_k / pack_v from 16-bit storage (f16, bf16), portable C: the f32
 * layouts of pack_k_f32 / pack_v_f32 (microkernels.h), each value widened
 * exactly (convert.h).
 */
#include "convert.h"
#include "microkernels.h"

typedef float widen_fn(uint16_t);

static inline void pack_k(size_t n, size_t d, const uint16_t *k, size_t ldk,
                          float *kp, size_t nr, widen_fn *widen)
{
    for (size_t j0 = 0; j0 < n; j0 += nr) {
        float *panel = kp + (j0 / nr) * nr * d;
        for (size_t jj = 0; jj < nr; jj++) {
            const uint16_t *krow = k + (j0 + jj) * ldk;
            const int valid = j0 + jj < n;
            for (size_t dd = 0; dd < d; dd++)
                panel[dd * nr + jj] = valid ? widen(krow[dd]) : 0.0f;
        }
    }
}

static inline void pack_v(size_t n, size_t dv, const uint16_t *v, size_t ldv,
                          float *vp, widen_fn *widen)
{
    for (size_t j = 0; j < n; j++)
        for (size_t c = 0; c < dv; c++)
            vp[j * dv + c] = widen(v[j * ldv + c]);
}

void attn_f16_pack_k_ukr__scalar(size_t n, size_t d, const uint16_t *k, size_t ldk,
                                 float *kp, size_t nr)
{
    pack_k(n, d, k, ldk, kp, nr, attn_f16_to_f32);
}

void attn_bf16_pack_k_ukr__scalar(size_t n, size_t d, const uint16_t *k, size_t ldk,
                                  float *kp, size_t nr)
{
    pack_k(n, d, k, ldk, kp, nr, attn_bf16_to_f32);
}

void attn_f16_pack_v_ukr__scalar(size_t n, size_t dv, const uint16_t *v, size_t ldv,
                                 float *vp)
{
    pack_v(n, dv, v, ldv, vp, attn_f16_to_f32);
}

void attn_bf16_pack_v_ukr__scalar(size_t n, size_t dv, const uint16_t *v, size_t ldv,
                                  float *vp)
{
    pack_v(n, dv, v, ldv, vp, attn_bf16_to_f32);
}
