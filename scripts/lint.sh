#!/usr/bin/env bash
# clang-tidy (.clang-tidy at the root) over every C++ source of pkg/ and cmd/,
# with the compile commands of a build directory, 2 files at a time. Fails on
# any warning (.clang-tidy makes them errors) and lists the files.
# Usage: scripts/lint.sh [--since REV] [BUILD_DIR]   (default build/; configured if needed)
#   --since REV  only the .cc files that differ from REV (e.g. main): a quick check
#                that does not cover the users of a changed header
# Env:   LINT_JOBS (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
since=""
if [ "${1:-}" = --since ]; then since=$2; shift 2; fi
build=${1:-build}
jobs=${LINT_JOBS:-2}

command -v clang-tidy >/dev/null || { echo "clang-tidy missing: run scripts/deps.sh" >&2; exit 2; }
if [ ! -f "$build/compile_commands.json" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
fi
# pkg/csi includes the code protoc generates for proto/csi.proto
if [ ! -f "$build/proto/csi.pb.h" ]; then
  cmake --build "$build" --target freshfs_csi_proto -j"$jobs" >/dev/null
fi

if [ -n "$since" ]; then
  mapfile -t files < <(git diff --name-only --diff-filter=d "$since" -- 'pkg/*.cc' 'cmd/*.cc')
  [ ${#files[@]} -gt 0 ] || { echo "lint: no source differs from $since"; exit 0; }
else
  mapfile -t files < <(git ls-files 'pkg/*.cc' 'cmd/*.cc')
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$SECONDS
status=0
# one block of output per failing file: "== FILE" and clang-tidy's findings
printf '%s\n' "${files[@]}" |
  xargs -P "$jobs" -I{} sh -c \
    'found=$(clang-tidy --quiet -p "$0" "$1" 2>&1) && exit 0; printf "== %s\n%s\n" "$1" "$found"; exit 1' \
    "$build" {} >"$out" || status=$?
if [ "$status" -ne 0 ]; then
  # without clang-tidy's "N warnings generated" chatter
  grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' "$out" >&2 || true
  echo "FAIL: clang-tidy found problems in $(grep -c '^== ' "$out") file(s) ($((SECONDS - start)) s)" >&2
  exit 1
fi
echo "lint: ${#files[@]} files clean ($((SECONDS - start)) s)"
