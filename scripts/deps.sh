#!/usr/bin/env bash
# Installs the Debian packages freshfs needs to build, run and test.
# Idempotent: installs only what is missing. Usage: scripts/deps.sh [extra packages...]
set -euo pipefail

packages=(
  # build
  cmake g++ make pkg-config libfuse3-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  libcli11-dev prometheus-cpp-dev libgtest-dev libgmock-dev
  # run
  fuse3
  # test
  fio attr python3 curl prometheus
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
