#!/usr/bin/env bash
# Builds freshfs-mount and shows it serving a built-in local directory
# source: no server, no configuration. Usage: scripts/demo.sh [--keep]
# With --keep the mount stays up afterwards (unmount: fusermount3 -u PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
[ "${1:-}" = "--keep" ] && keep=1

scripts/deps.sh
# An existing build directory keeps the generator it was made with.
generator() { gen=(); [ -f "$1/CMakeCache.txt" ] || gen=(-G "Unix Makefiles"); }
generator build
cmake -S . -B build "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DFRESHFS_BUILD_TESTS=OFF >/dev/null
cmake --build build -j "$(nproc)" --target freshfs-mount
bin=$PWD/build/cmd/freshfs-mount/freshfs-mount

demo=$PWD/build/demo
src=$demo/source
mnt=$demo/mnt
if grep -q " $mnt " /proc/mounts; then fusermount3 -u "$mnt"; fi
rm -rf "$demo"
mkdir -p "$src/docs" "$mnt"
echo "Hello from freshfs." >"$src/hello.txt"
printf 'line %s\n' $(seq 1 5) >"$src/docs/lines.txt"
ln -s hello.txt "$src/link-to-hello"

cleanup() { [ $keep -eq 1 ] || fusermount3 -u "$mnt" 2>/dev/null || true; }
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; eval "$@"; }
echo "freshfs demo: source $src  ->  mount $mnt"
step "'$bin' --version"
log=$demo/freshfs.log
step "'$bin' '$src' '$mnt' --metrics-address 127.0.0.1:0 --log-file '$log'"
metrics=$(sed -n 's/.*metrics at \(http[^ ]*\).*/\1/p' "$log" | head -n 1)
step "grep ' $mnt ' /proc/mounts"
step "ls -la '$mnt'"
step "cat '$mnt/hello.txt'"
step "echo 'written through the mount' > '$mnt/docs/new.txt'"
step "cat '$src/docs/new.txt'"
step "mv '$mnt/docs/new.txt' '$mnt/renamed.txt' && ls '$src'"
step "echo 'changed at the source' > '$src/hello.txt'"
echo '(the watcher saw the change and told the kernel; no cache timeout involved)'
step "sleep 0.2; cat '$mnt/hello.txt'"
echo '(what the mount counted: the change it saw, the notification it sent the kernel,'
echo ' and the bound on how stale any view it serves can be, in seconds)'
step "curl -s '$metrics' | awk '/^freshfs_(remote_changes_total|invalidations_total|staleness_seconds)/ && \$2 != 0'"
step "df -h '$mnt'"
if [ $keep -eq 1 ]; then
  echo; echo "Mounted at $mnt. Unmount with: fusermount3 -u $mnt"
else
  step "fusermount3 -u '$mnt'"
  trap - EXIT
  echo; echo "Demo done. Run 'scripts/demo.sh --keep' to keep the mount up and explore it."
fi
