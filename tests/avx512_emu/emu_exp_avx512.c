/*
 * emu_exp_avx512.c — exp_avx512.h compiled the way the emulated kernel set
 * is (SIMDe on AVX2+FMA, -DATTN_AVX512_EMULATED), behind a plain-array
 * wrapper; called only after have_avx2_fma().
 */
#include "avx512/exp_avx512.h"
#include "avx512_emu_test.h"

void emu_exp16(float out[16], const float in[16])
{
    _mm512_storeu_ps(out, attn_exp_avx512(_mm512_loadu_ps(in)));
}
