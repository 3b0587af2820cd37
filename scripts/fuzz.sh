#!/usr/bin/env bash
# Fuzzes every parser of bytes from outside the process (tests/fuzz, see its
# README.md): builds the libFuzzer targets with clang, ASan and UBSan into
# build-fuzz/, replays each target's regression inputs, then fuzzes it for
# SECONDS from its seed corpus. A crash, leak, hang or failed property fails
# the run, and the input that caused it is saved to
# tests/fuzz/regressions/<target>/: fix the bug, then commit the input with
# the fix so every later run replays it.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (default: 300 s, every target)
#   e.g. scripts/fuzz.sh 3600 s3_events volume
# scripts/test.sh runs it for FRESHFS_FUZZ_SECONDS (default 10) per target.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
[ $# -eq 0 ] || shift
case $seconds in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2 ;; esac
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/*_fuzz.cc; do f=${f##*/}; targets+=("${f%_fuzz.cc}"); done
fi

scripts/deps.sh
build=build-fuzz
gen=()
[ -f "$build/CMakeCache.txt" ] || gen=(-G "Unix Makefiles")
CC=clang CXX=clang++ cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFRESHFS_FUZZ=ON -DFRESHFS_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/%/_fuzz}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for target in "${targets[@]}"; do
  fuzzer=$build/tests/fuzz/${target}_fuzz
  seeds=tests/fuzz/corpus/$target
  regressions=tests/fuzz/regressions/$target
  # New inputs the fuzzer finds go to the build directory, not the seeds.
  work=$build/fuzz-corpus/$target
  artifacts=$build/fuzz-artifacts/$target
  log=$build/fuzz-logs/$target.log
  rm -rf "$artifacts"
  mkdir -p "$work" "$artifacts" "${log%/*}"

  # 1. Every input that once failed, each run once.
  mapfile -t old < <(find "$regressions" -type f 2>/dev/null | sort)
  if [ ${#old[@]} -gt 0 ] && ! "$fuzzer" "${old[@]}" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "FAIL: fuzz $target: a regression input in $regressions/ fails again" \
      "(full log: $log)" >&2
    status=1
    continue
  fi
  # 2. Fuzzing from the seeds (and the regressions, as seeds too).
  dirs=("$work" "$seeds")
  [ -d "$regressions" ] && dirs+=("$regressions")
  if "$fuzzer" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 \
      -artifact_prefix="$artifacts/" -print_final_stats=1 "${dirs[@]}" >>"$log" 2>&1; then
    runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -n 1)
    echo "fuzz $target: ${runs:-?} inputs in ${seconds}s, ok (${#old[@]} regression inputs replayed)"
    continue
  fi
  status=1
  tail -n 40 "$log" >&2
  mkdir -p "$regressions"
  saved=()
  for input in "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-*; do
    [ -f "$input" ] || continue
    cp "$input" "$regressions/"
    saved+=("$regressions/${input##*/}")
  done
  echo "FAIL: fuzz $target failed (full log: $log)." >&2
  if [ ${#saved[@]} -gt 0 ]; then
    echo "      The input is saved as ${saved[*]}:" >&2
    echo "      fix the bug, then commit that file with the fix (every run replays it)." >&2
  fi
done
exit $status
