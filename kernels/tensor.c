/*
 * tensor.c — element addressing and the dtype switch in front of the pack
 * kernels, shared by the fused and staged paths.
 */
#include "internal.h"

size_t attn_dtype_bytes(attn_dtype t) { return t == ATTN_F32 ? 4 : 2; }

void *attn_at(const attn_tensor *t, size_t a, size_t b, size_t c)
{
    const size_t off = a * (size_t)t->stride[0] + b * (size_t)t->stride[1] +
                       c * (size_t)t->stride[2];
    return (char *)t->data + off * attn_dtype_bytes(t->dtype);
}

void attn_pack_k_rows(const attn_kernels *kt, const attn_tensor *k, size_t b,
                      size_t h, size_t j0, size_t nb, float *kp)
{
    const void *src = attn_at(k, b, h, j0);
    const size_t ldk = (size_t)k->stride[2], nr = kt->qk_tile.nr, d = (size_t)k->shape[3];
    switch (k->dtype) {
    case ATTN_F32: kt->pack_k_f32.fn(nb, d, src, ldk, kp, nr); break;
    case ATTN_F16: kt->pack_k_f16.fn(nb, d, src, ldk, kp, nr); break;
    case ATTN_BF16: kt->pack_k_bf16.fn(nb, d, src, ldk, kp, nr); break;
    }
}

void attn_pack_v_rows(const attn_kernels *kt, const attn_tensor *v, size_t b, size_t h,
                      size_t j0, size_t nb, float *vp)
{
    const void *src = attn_at(v, b, h, j0);
    const size_t ldv = (size_t)v->stride[2], dv = (size_t)v->shape[3];
    switch (v->dtype) {
    case ATTN_F32: kt->pack_v_f32.fn(nb, dv, src, ldv, vp); break;
    case ATTN_F16: kt->pack_v_f16.fn(nb, dv, src, ldv, vp); break;
    case ATTN_BF16: kt->pack_v_bf16.fn(nb, dv, src, ldv, vp); break;
    }
}

const float *attn_rows_f32(const attn_kernels *kt, const attn_tensor *v, size_t b,
                         size_t h, size_t j0, size_t nb, float *vp, size_t *ldv)
{
    const void *src = attn_at(v, b, h, j0);
    const size_t dv = (size_t)v->shape[3];
    *ldv = (size_t)v->stride[2];
    switch (v->dtype) {
    case ATTN_F32: return src;
    case ATTN_F16: kt->pack_v_f16.fn(nb, dv, src, *ldv, vp); break;
    case ATTN_BF16: kt->pack_v_bf16.fn(nb, dv, src, *ldv, vp); break;
    }
    *ldv = dv;
    return vp;
}
