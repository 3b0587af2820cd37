#!/usr/bin/env bash
# Installs the Debian packages freshfs needs to build, run and test.
# Idempotent: installs only what is missing. Usage: scripts/deps.sh [extra packages...]
set -euo pipefail

packages=(
  # build
  cmake g++ make pkg-config libfuse3-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  libcli11-dev prometheus-cpp-dev libgtest-dev libgmock-dev
  libcurl4-openssl-dev libssl-dev zlib1g-dev libpugixml-dev nlohmann-json3-dev libcivetweb-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  # run
  fuse3
  # test
  fio attr python3 curl prometheus
  nodejs awscli python3-botocore python3-boto3
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's nodejs comes without npm; some package sources bundle it.
if ! command -v npm >/dev/null; then
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

# npm tools, pinned, into the git-ignored .tools/ of the project: s3rver is
# the S3 server the tests and benchmarks run against.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -x "$root/.tools/node_modules/.bin/s3rver" ]; then
  echo "deps: installing s3rver@3.7.1 into .tools/" >&2
  mkdir -p "$root/.tools"
  (cd "$root/.tools" && npm install --no-audit --no-fund --silent s3rver@3.7.1 >/dev/null)
fi
