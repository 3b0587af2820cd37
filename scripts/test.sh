#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, checks the format
# (scripts/check-format.sh), builds with AddressSanitizer +
# UndefinedBehaviorSanitizer, runs unit and integration
# tests (real FUSE mounts; needs root or a user allowed to use /dev/fuse),
# then briefly fuzzes every parser (scripts/fuzz.sh; FRESHFS_FUZZ_SECONDS per
# target, default 10; FRESHFS_SKIP_FUZZ=1 skips it).
# Usage: scripts/test.sh [ctest args...]   e.g. scripts/test.sh -R Readdir
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
# The tree is formatted as .clang-format says (fails fast, before the build).
[ $# -gt 0 ] || scripts/check-format.sh
# An existing build directory keeps the generator it was made with.
generator() { gen=(); [ -f "$1/CMakeCache.txt" ] || gen=(-G "Unix Makefiles"); }
build=${FRESHFS_TEST_BUILD_DIR:-build-test}
generator "$build"
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFRESHFS_SANITIZE=ON >/dev/null
cmake --build "$build" -j "$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The freshness stress test runs this long under ASan and again under TSan.
export FRESHFS_STRESS_SECONDS=${FRESHFS_STRESS_SECONDS:-60}
status=0
ctest --test-dir "$build" --output-on-failure -j 2 --timeout 600 "$@" || status=$?

# Every parser of bytes from outside the process under libFuzzer, ASan and
# UBSan (tests/fuzz): each target replays its regression inputs, then fuzzes
# for FRESHFS_FUZZ_SECONDS from its seeds. A crash fails the run and saves
# the input to tests/fuzz/regressions/<target>/ (commit it with the fix).
if [ "${FRESHFS_SKIP_FUZZ:-0}" != 1 ] && [ $# -eq 0 ]; then
  scripts/fuzz.sh "${FRESHFS_FUZZ_SECONDS:-10}" || status=$?
fi

# The race-prone parts once more under ThreadSanitizer: unit tests, the
# freshness stress test (readers, a fast remote writer, the invalidator),
# the S3 client's connection pool, the disk cache, the webhook server, and
# S3 mounts (readahead pool, staged uploads, events).
if [ "${FRESHFS_SKIP_TSAN:-0}" != 1 ] && [ $# -eq 0 ]; then
  tsan=${build}-tsan
  generator "$tsan"
  cmake -S . -B "$tsan" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFRESHFS_TSAN=ON >/dev/null
  cmake --build "$tsan" -j "$(nproc)" --target freshfs-mount freshfs_integration_tests \
    freshfs_watch_tests freshfs_invalidate_tests freshfs_fs_tests freshfs_cache_tests \
    freshfs_s3_client_tests
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    ctest --test-dir "$tsan" --output-on-failure -j 2 --timeout 600 \
    -R '^(Stress|WatcherTest|WatcherPoll|Invalidator|ChangeApplier|InodeTable|FileSystemTest|DiskCacheTest|ClientWire|WebhookServerTest|S3MountTest|S3EventsTest)' \
    || status=$?
fi

# A test run must leave no mount behind, whatever happened.
# (Test mounts live under /tmp/freshfs-itest-*; other tools' mounts are not ours.)
leftovers=$(awk '$2 ~ /freshfs-itest-/ || $3 ~ /^fuse\.freshfs/' /proc/mounts)
if [ -n "$leftovers" ]; then
  echo "FAIL: freshfs mounts left behind:" >&2
  echo "$leftovers" >&2
  status=1
fi
exit $status
