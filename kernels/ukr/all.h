/*
 * all.h — every kernel of every slot, in list order:
 *     ATTN_EACH(slot, fn_type, isa, symbol, mr, nr)
 * for each line of kernels/ukr/<slot>.inc whose ISA is built (ATTN_IF_<isa>).
 * Define ATTN_EACH, include this file, undefine ATTN_EACH. It feeds the
 * prototypes (microkernels.h), the dispatch tables, the tests and the bench.
 * A new slot is one block here, its typedef and its ATTN_SLOTS entry in
 * microkernels.h.
 */
#define ATTN_UKR(isa, sym, mr, nr) ATTN_IF_##isa(ATTN_EACH(qk_tile, attn_qk_tile_fn, isa, sym, mr, nr))
#include "ukr/qk_tile.inc"
#undef ATTN_UKR
#define ATTN_UKR(isa, sym, mr, nr) ATTN_IF_##isa(ATTN_EACH(qk_direct, attn_qk_direct_fn, isa, sym, mr, nr))
#include "ukr/qk_direct.inc"
#undef ATTN_UKR
#define ATTN_UKR(isa, sym, mr, nr) ATTN_IF_##isa(ATTN_EACH(qk_direct_f16, attn_qk_direct_x16_fn, isa, sym, mr, nr))
#include "ukr/qk_direct_f16.inc"
#undef ATTN_UKR
#define ATTN_UKR(isa, sym, mr, nr) ATTN_IF_##isa(ATTN_EACH(qk_direct_bf16, attn_qk_direct_x16_fn, isa, sym, mr, nr))
#include "ukr/qk_direct_bf16.inc"
#undef ATTN_UKR
#define ATTN_UKR(isa, sym, mr, nr) ATTN_IF_##isa(ATTN_EACH(softmax_tile, attn_softmax_tile_fn, isa, sym, mr, nr))
#include "ukr/softmax_tile.inc"
#undef ATTN_UKR
#define ATTN_UKR(isa, sym, mr, nr) ATTN_IF_##isa(ATTN_EACH(pv_tile, attn_pv_tile_fn, isa, sym, mr, nr))
#include "ukr/pv_tile.inc"
#undef ATTN_UKR
#define ATTN_UKR(isa, sym, mr, nr) ATTN_IF_##isa(ATTN_EACH(pv_tile_f16, attn_pv_tile_x16_fn, isa, sym, mr, nr))
#include "ukr/pv_tile_f16.inc"
#undef ATTN_UKR
#define ATTN_UKR(isa, sym, mr, nr) ATTN_IF_##isa(ATTN_EACH(pv_tile_bf16, attn_pv_tile_x16_fn, isa, sym, mr, nr))
#include "ukr/pv_tile_bf16.inc"
#undef ATTN_UKR
#define ATTN_UKR(isa, sym, mr, nr) ATTN_IF_##isa(ATTN_EACH(softmax_row, attn_softmax_row_fn, isa, sym, mr, nr))
#include "ukr/softmax_row.inc"
#undef ATTN_UKR
#define ATTN_UKR(isa, sym, mr, nr) ATTN_IF_##isa(ATTN_EACH(softcap_row, attn_softcap_row_fn, isa, sym, mr, nr))
#include "ukr/softcap_row.inc"
#undef ATTN_UKR
#define ATTN_UKR(isa, sym, mr, nr) ATTN_IF_##isa(ATTN_EACH(pack_k_f32, attn_pack_k_f32_fn, isa, sym, mr, nr))
#include "ukr/pack_k_f32.inc"
#undef ATTN_UKR
#define ATTN_UKR(isa, sym, mr, nr) ATTN_IF_##isa(ATTN_EACH(pack_v_f32, attn_pack_v_f32_fn, isa, sym, mr, nr))
#include "ukr/pack_v_f32.inc"
#undef ATTN_UKR
#define ATTN_UKR(isa, sym, mr, nr) ATTN_IF_##isa(ATTN_EACH(pack_k_f16, attn_pack_k_x16_fn, isa, sym, mr, nr))
#include "ukr/pack_k_f16.inc"
#undef ATTN_UKR
#define ATTN_UKR(isa, sym, mr, nr) ATTN_IF_##isa(ATTN_EACH(pack_k_bf16, attn_pack_k_x16_fn, isa, sym, mr, nr))
#include "ukr/pack_k_bf16.inc"
#undef ATTN_UKR
#define ATTN_UKR(isa, sym, mr, nr) ATTN_IF_##isa(ATTN_EACH(pack_v_f16, attn_pack_v_x16_fn, isa, sym, mr, nr))
#include "ukr/pack_v_f16.inc"
#undef ATTN_UKR
#define ATTN_UKR(isa, sym, mr, nr) ATTN_IF_##isa(ATTN_EACH(pack_v_bf16, attn_pack_v_x16_fn, isa, sym, mr, nr))
#include "ukr/pack_v_bf16.inc"
#undef ATTN_UKR
