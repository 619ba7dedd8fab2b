#!/bin/sh
# bench/device_check.sh — issue 4's check on a lent x86-64 machine (the
# `device` tool: many cores, maybe AVX-512, no network, no Criterion, no
# hwloc, no OpenBLAS). One command, so that a short lease is not spent typing:
#
#     sh bench/device_check.sh [build-dir]          (default /tmp/attn-device)
#
# It prints the CPU (lscpu model line, cores, caches, AVX-512 flags), builds
# the library, attn_info, attn_bench and the plain C test runner (release,
# without Criterion, hwloc, BLAS or SIMDe), runs the plain runner on the
# native kernel sets, then `attn_bench --suite all` on every kernel set the
# CPU runs, at 1 thread and at all of its cores, the decode shapes over a
# [B,S,H,D] cache, and a decode of 4 speculative positions × GQA 4. Everything also goes to
# $OUT/device_check.log when $OUT is set (the device tool brings it back).
# Exit status: that of the first step that failed.
set -u
BUILD=${1:-/tmp/attn-device}
LOG=${OUT:+$OUT/device_check.log}
SRC=$(cd "$(dirname "$0")/.." && pwd)

step() { printf '\n=== %s\n' "$*"; }

main() {
    step "machine"
    lscpu | grep -E '^(Model name|CPU\(s\)|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|L1d|L2|L3)' || true
    printf 'AVX-512 flags:'
    grep -o -w -E 'avx512[a-z_0-9]*|amx[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' '
    echo
    cores=$(nproc)

    step "build ($BUILD)"
    if command -v meson >/dev/null 2>&1; then MESON=meson; else MESON="python3 -m mesonbuild.mesonmain"; fi
    $MESON --version || return 1
    rm -rf "$BUILD"
    $MESON setup "$BUILD" "$SRC" -Dbuildtype=release -Dtests=disabled -Dhwloc=disabled \
        -Dblas=disabled -Dsimde=disabled >"$BUILD.setup.log" 2>&1 ||
        { cat "$BUILD.setup.log"; return 1; }
    ninja -C "$BUILD" bench/attn_bench bench/attn_info tests/plain/attn_plain_tests >"$BUILD.ninja.log" 2>&1 ||
        { tail -40 "$BUILD.ninja.log"; return 1; }
    tail -1 "$BUILD.ninja.log"

    step "attn_info"
    "$BUILD/bench/attn_info" | head -8

    step "plain runner (native kernels)"
    "$BUILD/tests/plain/attn_plain_tests" >"$BUILD.plain.log" 2>&1
    rc=$?
    grep -v '^ok' "$BUILD.plain.log" | tail -15
    [ $rc -eq 0 ] || return $rc

    # the SIMD sets only: the scalar set would take minutes on S2
    isa=avx2
    grep -q -w avx512f /proc/cpuinfo && isa=avx2,avx512
    step "attn_bench --suite all --isa $isa, 1 and $cores threads"
    "$BUILD/bench/attn_bench" --suite all --isa "$isa" --threads "1,$cores" --reps 5 || return 1
    # decode over a [B,S,H,D] cache: items of several K/V heads, as many as
    # the cores need (plan.c, attn_plan_head_groups)
    step "attn_bench --suite decode --layout bshd --isa $isa, 1 and $cores threads"
    "$BUILD/bench/attn_bench" --suite decode --layout bshd --isa "$isa" --threads "1,$cores" || return 1
    # 16 decode rows per K/V head (4 speculative positions x GQA 4): direct
    # tiles of two row blocks, whose hints the row blocks share (forward.c)
    step "attn_bench: Lq 4 x GQA 4 decode, --isa $isa, 1 and $cores threads"
    "$BUILD/bench/attn_bench" --heads 32 --kv-heads 8 --seq-q 4 --seq-k 8192 --dim 128 --causal \
        --isa "$isa" --threads "1,$cores"
}

if [ -n "$LOG" ]; then
    main >"$LOG" 2>&1
    rc=$?
    cat "$LOG"
    exit $rc
fi
main
