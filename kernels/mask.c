/*
 * mask.c — score modifiers and masks shared by the fused and staged paths
 * (attn.h, attn_options): softcap, ALiBi and bias applied to a run of one
 * row's scores, in that order. softcap is the call's kernel set's softcap_row
 * slot (a vector tanh); ALiBi and bias are plain loops. The visible-key
 * interval of a row (causal, window, kv_len) is attn_row_range() in internal.h.
 */
#include <math.h>

#include "convert.h"
#include "internal.h"

void attn_mods_init(attn_mods *m, const attn_options *opt, const attn_dims *d,
                    const attn_kernels *kt)
{
    m->softcap_row = kt->softcap_row.fn;
    m->Lq = d->Lq;
    m->Lk = d->Lk;
    m->causal = opt && opt->causal;
    m->kv_len = opt ? opt->kv_len : NULL;
    m->window_left = opt ? (size_t)opt->window_left : 0;
    m->window_right = opt ? (size_t)opt->window_right : 0;
    m->bias = opt ? opt->bias : NULL;
    m->alibi = opt ? opt->alibi_slopes : NULL;
    m->softcap = opt ? opt->softcap : 0.0f;
    m->sinks = opt ? opt->sinks : NULL;
    m->scores = m->softcap > 0.0f || m->alibi || m->bias;
}

void attn_score_mods(const attn_mods *m, size_t b, size_t h, size_t i, size_t len,
                     size_t j0, size_t n, float *s)
{
    if (n == 0) /* nothing to modify; bias.data may be NULL when it has no element */
        return;
    if (m->softcap > 0.0f) {
        if (m->softcap >= 0x1p-126f) {
            m->softcap_row(n, s, m->softcap);
        } else {
            /* subnormal cap: 1/cap overflows, and the kernels' s·(1/cap)
             * would turn a score of 0 into NaN; divide instead */
            for (size_t j = 0; j < n; j++)
                s[j] = m->softcap * tanhf(s[j] / m->softcap);
        }
    }
    if (m->alibi) {
        /* slope · (j − p), p = i + len − Lq, in float from exact integers */
        const float slope = m->alibi[h];
        const double d0 = (double)j0 - ((double)i + (double)len - (double)m->Lq);
        if (fabs(d0) + (double)n < 0x1p24) {
            /* j − p as int32, exact in float below 2^24 (int32 → float
             * vectorises; size_t → float and a float counter do not) */
            const int32_t d = (int32_t)d0;
            for (int32_t j = 0; j < (int32_t)n; j++)
                s[j] += slope * (float)(d + j);
        } else {
            for (size_t j = 0; j < n; j++)
                s[j] += slope * (float)(d0 + (double)j);
        }
    }
    if (m->bias) {
        const attn_tensor *t = m->bias;
        const size_t bb = t->shape[0] == 1 ? 0 : b, hh = t->shape[1] == 1 ? 0 : h;
        const size_t off = bb * (size_t)t->stride[0] + hh * (size_t)t->stride[1] +
                           i * (size_t)t->stride[2] + j0;
        if (t->dtype == ATTN_F32) {
            const float *row = (const float *)t->data + off;
            for (size_t j = 0; j < n; j++)
                s[j] += row[j];
        } else {
            const uint16_t *row = (const uint16_t *)t->data + off;
            for (size_t j = 0; j < n; j++)
                s[j] += attn_f16_to_f32(row[j]);
        }
    }
}
