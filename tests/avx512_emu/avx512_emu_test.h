/*
 * avx512_emu_test.h — what the AVX-512 compat tests call across translation
 * units, on plain float arrays, so that no test file itself needs ISA flags:
 *   nat_*  the native intrinsics (native_avx512.c, -mavx512f …); call only
 *          when have_avx512() says the CPU and the OS run them;
 *   emu_exp16  exp_avx512.h as the emulated kernels build it (emu_exp_avx512.c,
 *          -mavx2 -mfma -DATTN_AVX512_EMULATED); call only when have_avx2_fma().
 */
#ifndef ATTN_TESTS_AVX512_EMU_TEST_H
#define ATTN_TESTS_AVX512_EMU_TEST_H

#include <stdint.h>

int have_avx512(void);   /* F+BW+VL+DQ and ZMM state enabled by the OS */
int have_avx2_fma(void);

void nat_maskz_loadu(uint32_t out[16], uint16_t k, const void *p);
void nat_mask_storeu(void *p, uint16_t k, const uint32_t in[16]);
void nat_shuffle_f32x4(uint32_t out[16], const uint32_t a[16], const uint32_t b[16], int imm);
uint32_t nat_cvtss_f32(const uint32_t a[16]);
void nat_scalef(uint32_t out[16], const uint32_t a[16], const uint32_t b[16]);
void nat_cvtph_ps(uint32_t out[16], const uint16_t h[16]);
void nat_cvtepu16_epi32(uint32_t out[16], const uint16_t h[16]);
void nat_exp16(float out[16], const float in[16]);

void emu_exp16(float out[16], const float in[16]);

#endif
