#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_forward (tests/fuzz/corpus/*.bin).

Each seed is encoded with the byte contract at the top of fuzz_forward.c;
the dims are decoded and shrunk here exactly as the harness does, so the
option bytes that depend on B and Hq (kv_len, ALiBi, sinks) line up. Values
are left to the harness's generator unless a seed gives them.

    python3 tests/fuzz/gen_corpus.py [outdir]     (default: tests/fuzz/corpus)
"""
import os
import struct
import sys

ENTRY = {'fwd': 0, 'ws': 20, 'qk': 22, 'scale': 24, 'softmax': 25, 'pv': 28, 'merge': 30}
ISA = {'best': 0, 'scalar': 1, 'avx2': 2, 'avx512': 3, 'neon': 4, 'unknown4': 5,
       'unknown-1': 6, 'unknown-max': 7}
THREADS = {0: 0, 1: 1, 2: 2, 3: 3, -1: 6, 'INT_MIN': 7}
F = dict(HOSTILE=0x0001, LONGK=0x0002, RERUN=0x0004, SPECIAL=0x0008, KVLEN=0x0010,
         CAUSAL=0x0020, LSE=0x0040, BIAS=0x0080, ALIBI=0x0100, SINKS=0x0200,
         SOFTCAP=0x0400, WINDOW=0x0800, EDIT=0x1000, NULLOPT=0x2000, EMPTYNULL=0x4000,
         INPLACE=0x8000)
BIG_D = [64, 80, 96, 128, 256, 3, 1, 17]
SCALE = {0.0: 0, 1.0: 1, 0.125: 2, -0.5: 3, 1e-3: 4, 30.0: 5}
SCALE_ODD = ['nan', 'inf', '-inf', '1e38', '1e-45', '-0', '65504', '2^-20']
SOFTCAP = {0.5: 0, 1.0: 1, 5.0: 2, 30.0: 3, 1e-3: 4, 1e-30: 5, 1e30: 6}
DT = {'f32': 0, 'f16': 1, 'bf16': 2, 'bad': 3}


def enc_B(b):
    return {0: 0, 1: 1, 2: 10, 3: 14}[b]


def dec_B(x):
    x %= 16
    return 0 if x == 0 else 1 if x < 10 else 2 if x < 14 else 3


def enc_Hkv(h):
    return {0: 0, 1: 1, 2: 11, 3: 14}[h]


def dec_Hkv(x):
    x %= 16
    return 0 if x == 0 else 1 if x < 11 else 2 if x < 14 else 3


def enc_Lq(n):
    return 0 if n == 0 else 1 if n == 1 else 79 + n


def dec_Lq(x):
    return 0 if x == 0 else 1 if x < 80 else 1 + x % 40


def enc_Lk(n, longk):
    if not longk:
        return n
    for b in range(256):
        if 500 + (7 * b) % 1601 == n:
            return b
    raise ValueError('no byte gives Lk = %d' % n)


def dec_Lk(x, longk):
    return 500 + (7 * x) % 1601 if longk else x % 41


def enc_D(d):
    return 240 + BIG_D.index(d) if d > 40 else d - 1


def dec_D(x):
    return BIG_D[x % 8] if x >= 240 else 1 + x % 40


def shrink(B, g, Hkv, Lq, Lk, D, Dv, budget):
    """fuzz_forward.c's shrink()."""
    while True:
        w = B * Hkv * g * max(Lq, 1) * max(Lk, 1) * (D + Dv)
        if w <= budget:
            break
        if B > 1:
            B -= 1
        elif g > 1:
            g -= 1
        elif Hkv > 1:
            Hkv -= 1
        elif D + Dv > 16 and (D > 8 or Dv > 8):
            if D >= Dv:
                D = (D + 1) // 2
            else:
                Dv = (Dv + 1) // 2
        elif Lq > 1:
            Lq = (Lq + 1) // 2
        elif Lk > 1:
            Lk = (Lk + 1) // 2
        elif D > 1 or Dv > 1:
            if D >= Dv:
                D = (D + 1) // 2
            else:
                Dv = (Dv + 1) // 2
        else:
            break
    return B, g, Hkv, Lq, Lk, D, Dv


def layout(bshd=0, pad=0, extra=0, offs=0, zero=(), misalign=0):
    """The L and M bytes of one tensor."""
    L = bshd | (pad << 1) | (extra << 3) | (offs << 5) | (0x80 if zero else 0)
    M = misalign | sum(1 << (4 + i) for i in zero)
    return [L, M]


def seed(entry='fwd', isa='best', threads=0, flags=(), B=1, Hkv=1, group=1, Lq=4, Lk=8, D=8,
         Dv=8, dt=('f32', 'f32', 'f32', 'f32'), magqk=0, magv=0, shards=1, scale=0.0,
         layouts=None, causal=1, kvlen=None, window=None, softcap=None, alibi=None,
         sinks=None, bias=None, bias_m=0, edits=(), values=b''):
    fl = 0
    for name in flags:
        fl |= F[name]
    longk = bool(fl & F['LONGK'])
    out = [ENTRY[entry], ISA[isa], THREADS[threads], fl & 255, fl >> 8]
    # shards: 1 + (h13 >> 6) + (h5 >> 4) % 3; put the rest in h5's high bits
    extra = shards - 1
    hi13 = min(extra, 3)
    hi5 = extra - hi13
    assert 0 <= hi5 <= 2
    bB = enc_B(B) | (hi5 << 4)
    out += [bB, enc_Hkv(Hkv), group - 1, enc_Lq(Lq), enc_Lk(Lk, longk), enc_D(D)]
    if entry == 'merge' and Dv > 40:
        out.append(240 + (Dv - 250) // 4)
    else:
        out.append(enc_D(Dv))
    out.append(DT[dt[0]] | DT[dt[1]] << 2 | DT[dt[2]] << 4 | DT[dt[3]] << 6)
    out.append(magqk | magv << 3 | hi13 << 6)
    if isinstance(scale, str):
        out.append(7 | SCALE_ODD.index(scale) << 3)
    elif scale in SCALE:
        out.append(SCALE[scale])
    else:
        out.append(6)
        out += list(struct.pack('<f', scale))
    # the harness's decoded and shrunk dims
    dB, dHkv, dg = dec_B(bB), dec_Hkv(out[6]), 1 + out[7] % 4
    dLq, dLk, dD = dec_Lq(out[8]), dec_Lk(out[9], longk), dec_D(out[10])
    dDv = dec_D(out[11]) if not (entry == 'merge' and out[11] >= 240) else 250 + 4 * (out[11] - 240)
    assert (dB, dHkv, dg, dLq, dLk, dD, dDv) == (B, Hkv, group, Lq, Lk, D, Dv), 'encoding'
    if entry == 'merge':
        Lk = 1  # merge has no keys
    B, g, Hkv, Lq, Lk, D, Dv = shrink(B, group, Hkv, Lq, Lk, D, Dv,
                                      120000 if longk else 60000)
    Hq = Hkv * g
    # tensors
    names = {'fwd': ['q', 'k', 'v', 'out'] + (['lse'] if fl & F['LSE'] else []),
             'qk': ['q', 'k', 'scores'], 'scale': ['x'],
             'softmax': ['scores'] + (['lse'] if fl & F['LSE'] else []),
             'pv': ['probs', 'v', 'out']}
    names['ws'] = names['fwd']
    if entry == 'merge':
        tn = [] if fl & F['INPLACE'] else ['out']
        tn += ['lse'] if fl & F['LSE'] else []
        for c in range(shards):
            tn += ['outs[%d]' % c, 'lses[%d]' % c]
    else:
        tn = names[entry]
    layouts = layouts or {}
    for name in tn:
        out += layouts.get(name, layout())
    # options (read for any entry when the flag is set; bias only for
    # forward, workspace and softmax)
    if fl & F['CAUSAL']:
        out.append({1: 0, 2: 2, -1: 3}[causal])
    mul = 8 if longk else 1
    if fl & F['KVLEN']:
        kv = list(kvlen or [])
        kv += [Lk] * (B - len(kv))
        for x in kv[:B]:
            if x == 0:
                out.append(0)
            elif x == Lk:
                out.append(32)
            else:
                out.append(next(b for b in range(64, 256) if ((b - 64) * mul) % (Lk + 1) == x))
    if fl & F['WINDOW']:
        for w in window:
            if w == 0:
                out.append(0)
            else:
                out.append(next(b for b in range(64, 256) if ((b - 64) * mul) % (Lk + 4) == w))
    if fl & F['SOFTCAP']:
        if softcap in SOFTCAP:
            out.append(SOFTCAP[softcap])
        else:
            out.append(7)
            out += list(struct.pack('<f', softcap))
    if fl & F['ALIBI']:
        sl = list(alibi or [])
        sl += [0.0625] * (Hq - len(sl))
        out += [max(0, min(249, int(round(s * 256)) + 128)) for s in sl[:Hq]]
    if fl & F['SINKS']:
        sk = list(sinks or [])
        sk += [0.5] * (Hq - len(sk))
        for s in sk[:Hq]:
            if s == float('-inf'):
                out.append(248)
            elif s == 20.0:
                out.append(252)
            else:
                out.append(max(0, min(247, int(round(s * 16)) + 128)))
    if fl & F['BIAS'] and entry in ('fwd', 'ws', 'softmax'):
        out += [bias or 0, bias_m]
    if fl & F['EDIT']:
        assert 1 <= len(edits) <= 4
        out.append(len(edits) - 1)
        for kind, slot, val in edits:
            out += [kind, slot, val]
    return bytes(out) + bytes(values)


def seeds():
    S = {}
    S['plain'] = seed(B=1, Hkv=2, Lq=7, Lk=13, D=16, Dv=16)
    S['plain_bshd_padded'] = seed(B=2, Hkv=1, group=2, Lq=5, Lk=9, D=12, Dv=7, flags=['LSE'],
                                  layouts={'q': layout(1, 2, 1, 1, misalign=3),
                                           'k': layout(1, 0, 2, 0, misalign=1),
                                           'v': layout(0, 3, 0, 2, misalign=5),
                                           'out': layout(1, 1, 0, 0, misalign=7)})
    S['causal_gqa'] = seed(B=2, Hkv=2, group=4, Lq=9, Lk=21, D=8, Dv=8, flags=['CAUSAL', 'LSE'],
                           layouts={n: layout(bshd=1) for n in ('q', 'k', 'v', 'out')})
    S['causal_lq_gt_lk'] = seed(Hkv=1, group=3, Lq=30, Lk=5, D=4, Dv=6, flags=['CAUSAL', 'LSE'])
    kvcache = layout(bshd=1, extra=3, offs=2, misalign=2)
    S['decode_kvlen'] = seed(B=3, Hkv=1, group=4, Lq=1, Lk=37, D=32, Dv=32,
                             flags=['KVLEN', 'LSE', 'CAUSAL'], kvlen=[0, 37, 19],
                             layouts={'k': kvcache, 'v': kvcache})
    S['decode_split_kv'] = seed(B=1, Hkv=1, group=2, Lq=1, Lk=1991, D=8, Dv=8,
                                flags=['LONGK', 'KVLEN', 'LSE'], kvlen=[1496])
    S['long_causal_window'] = seed(B=1, Hkv=1, group=1, Lq=6, Lk=1102, D=4, Dv=4,
                                   flags=['LONGK', 'CAUSAL', 'WINDOW', 'LSE'], window=[72, 0])
    S['window'] = seed(Hkv=1, group=2, Lq=12, Lk=20, D=8, Dv=8, flags=['WINDOW', 'CAUSAL', 'LSE'],
                       window=[3, 2])
    S['bias_f32_broadcast_ninf'] = seed(B=2, Hkv=1, group=2, Lq=6, Lk=11, flags=['BIAS', 'LSE'],
                                        bias=0x02 | 0x04 | 0x80, bias_m=3)
    S['bias_f16_row_stride0'] = seed(B=1, Hkv=2, Lq=5, Lk=9, flags=['BIAS', 'LSE', 'CAUSAL'],
                                     bias=0x01 | 0x10 | 0x08, bias_m=1)
    S['alibi_causal'] = seed(Hkv=1, group=4, Lq=10, Lk=10, flags=['ALIBI', 'CAUSAL', 'LSE'],
                             alibi=[0.5, 0.25, 0.125, 0.0625])
    S['softcap'] = seed(Hkv=2, Lq=8, Lk=15, flags=['SOFTCAP', 'LSE'], softcap=5.0, scale=1.0,
                        magqk=5)
    S['sinks'] = seed(Hkv=1, group=3, Lq=4, Lk=6, flags=['SINKS', 'LSE', 'CAUSAL'],
                      sinks=[float('-inf'), 20.0, 0.5])
    S['all_modifiers'] = seed(B=2, Hkv=1, group=2, Lq=7, Lk=16, D=8, Dv=8,
                              flags=['CAUSAL', 'KVLEN', 'WINDOW', 'BIAS', 'ALIBI', 'SOFTCAP',
                                     'SINKS', 'LSE'],
                              kvlen=[16, 9], window=[4, 1], softcap=30.0, bias=0x80,
                              alibi=[0.25, -0.125], sinks=[1.0, float('-inf')])
    S['f16_everything'] = seed(Hkv=1, group=2, Lq=9, Lk=17, D=16, Dv=24,
                               dt=('f16', 'f16', 'f16', 'f16'), flags=['LSE', 'CAUSAL'])
    S['bf16_mixed'] = seed(B=2, Hkv=1, Lq=3, Lk=12, D=8, Dv=8, dt=('bf16', 'f16', 'f32', 'bf16'),
                           flags=['KVLEN', 'LSE'], kvlen=[5, 12],
                           layouts={'k': kvcache, 'v': kvcache})
    S['qk'] = seed('qk', Hkv=1, group=2, Lq=5, Lk=11, D=24, scale=0.125,
                   layouts={'scores': layout(pad=2)})
    S['qk_half'] = seed('qk', Hkv=2, Lq=3, Lk=7, D=9, dt=('f16', 'bf16', 'f32', 'f32'))
    S['scale'] = seed('scale', B=2, Hkv=1, group=3, Lq=7, D=19, scale=-0.5,
                      layouts={'x': layout(1, 1, 0, 0)})
    S['softmax_masks'] = seed('softmax', B=2, Hkv=1, group=2, Lq=6, Lk=13,
                              flags=['CAUSAL', 'KVLEN', 'LSE', 'BIAS', 'SINKS', 'WINDOW'],
                              kvlen=[13, 4], window=[5, 0], bias=0x86, sinks=[0.0, 20.0])
    S['softmax_special'] = seed('softmax', Hkv=1, Lq=3, Lk=9, flags=['SPECIAL', 'LSE'],
                                values=bytes([128, 255, 250, 130, 126, 125, 250, 250, 250,
                                              248, 128, 129, 131, 60, 200, 251, 128, 128]))
    S['pv'] = seed('pv', Hkv=1, group=2, Lq=4, Lk=10, Dv=12, dt=('f32', 'f32', 'f16', 'f32'))
    S['merge_inplace'] = seed('merge', B=2, Hkv=1, group=2, Lq=3, Dv=16, shards=3,
                              flags=['LSE', 'INPLACE'])
    S['merge_wide'] = seed('merge', Hkv=1, Lq=2, Dv=290, shards=5, flags=['LSE'])
    S['workspace'] = seed('ws', B=2, Hkv=2, group=2, Lq=64 // 2, Lk=40, flags=['CAUSAL'])
    S['rerun_threads'] = seed(threads=3, B=2, Hkv=2, group=2, Lq=19, Lk=33, D=8, Dv=8,
                              flags=['RERUN', 'CAUSAL', 'LSE'])
    S['special_values'] = seed(Hkv=1, Lq=4, Lk=6, D=4, Dv=4, flags=['SPECIAL', 'CAUSAL', 'LSE'],
                               values=bytes([128, 129, 248, 130] + [140] * 12 +
                                            [128] * 20 + [249, 128, 128, 128, 254, 253] + [130] * 18))
    S['isa_scalar'] = seed(isa='scalar', Hkv=1, group=2, Lq=5, Lk=7, flags=['CAUSAL'])
    S['isa_avx2'] = seed(isa='avx2', Hkv=1, group=2, Lq=5, Lk=7, flags=['LSE'])
    S['isa_unknown'] = seed(isa='unknown-1', Hkv=1, Lq=2, Lk=3)
    S['empty_lk0_nulldata'] = seed(B=2, Hkv=1, group=2, Lq=3, Lk=0, flags=['EMPTYNULL', 'LSE'])
    S['empty_batch'] = seed(B=0, Hkv=1, Lq=3, Lk=4, flags=['LSE'])
    S['null_opt'] = seed(Hkv=1, Lq=3, Lk=5, flags=['NULLOPT'])
    # bad inputs
    S['bad_nan_scale'] = seed(Hkv=1, Lq=2, Lk=3, scale='nan')
    S['bad_dtype'] = seed(Hkv=1, Lq=2, Lk=3, dt=('bad', 'f32', 'f32', 'f32'))
    S['bad_out_alias'] = seed(Hkv=1, Lq=4, Lk=3, layouts={'out': layout(zero=(2,))})
    S['bad_negative_stride'] = seed(Hkv=1, Lq=2, Lk=3, flags=['EDIT'], edits=[(1, 1, 2 + 4 * 7)])
    S['bad_threads'] = seed(threads=-1, Hkv=1, Lq=2, Lk=3)
    S['bad_kvlen'] = seed(B=2, Hkv=1, Lq=2, Lk=3, flags=['KVLEN', 'EDIT'], kvlen=[1, 2],
                          edits=[(7, 0, 1 + 8 * 1)])
    S['hostile_shape_overflow'] = seed(Hkv=1, Lq=2, Lk=3, flags=['HOSTILE', 'EDIT'],
                                       edits=[(0, 1, 2 + 4 * 2), (1, 1, 2 + 4 * 8)])
    S['hostile_huge_valid'] = seed(Hkv=1, Lq=2, Lk=3, flags=['HOSTILE', 'EDIT'],
                                   edits=[(0, 1, 2 + 4 * 5), (0, 2, 2 + 4 * 5), (11, 1, 2),
                                          (11, 2, 2)])
    S['hostile_data_top'] = seed(Hkv=1, Lq=2, Lk=3, flags=['HOSTILE', 'EDIT'],
                                 edits=[(3, 0, 2), (3, 3, 1)])
    S['hostile_softmax_window'] = seed('softmax', Hkv=1, Lq=2, Lk=3,
                                       flags=['HOSTILE', 'EDIT', 'WINDOW'], window=[1, 1],
                                       edits=[(8, 0, 3), (9, 0, 1)])
    S['hostile_merge_n'] = seed('merge', Hkv=1, Lq=2, Dv=4, shards=2,
                                flags=['HOSTILE', 'EDIT'], edits=[(10, 0, 1), (0, 2, 3 + 4 * 1)])
    S['bad_bias_bf16_shape'] = seed(Hkv=1, Lq=3, Lk=4, flags=['BIAS', 'EDIT'], bias=0,
                                    edits=[(2, 4, 6), (0, 4, 3)])
    S['bad_lse_dtype'] = seed(Hkv=1, Lq=3, Lk=4, flags=['LSE', 'EDIT'], edits=[(2, 4, 5)])
    return S


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(
        os.path.abspath(__file__)), 'corpus')
    os.makedirs(outdir, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(outdir, name + '.bin'), 'wb') as f:
            f.write(data)
    print('%d seeds in %s' % (len(seeds()), outdir))


if __name__ == '__main__':
    main()
