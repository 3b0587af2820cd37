#!/usr/bin/env bash
# Builds the container image freshfs:<version> from the Dockerfile with podman
# and checks it: both binaries and fusermount3 start inside the image with the
# libraries the image carries, and report the version the image is labelled
# with. Slow (the build stage compiles the project and runs its unit tests);
# not part of scripts/test.sh.
#
# Usage: scripts/image.sh
#   FRESHFS_IMAGE=name     image name (default freshfs; tagged <version>)
#   FRESHFS_IMAGE_JOBS=n   parallel compile/test jobs in the build stage (default 2)
#   DEBIAN_MIRROR=url      Debian mirror for the base image (default: the one
#                          this machine's apt uses for bookworm)
#   DEBIAN_SECURITY_MIRROR=url  the same for bookworm-security (default: this
#                          machine's, else none: the image then has no
#                          security updates source)
#
# Without a Docker engine, the base image debian:bookworm-slim is made here
# when podman does not have it: debootstrap --variant=minbase, trimmed the way
# the official slim image is (no docs, man pages or locales), imported with
# podman import. The root filesystem is cached in .tools/image/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [ "$(id -u)" -ne 0 ]; then exec sudo --preserve-env=FRESHFS_IMAGE,FRESHFS_IMAGE_JOBS,DEBIAN_MIRROR,DEBIAN_SECURITY_MIRROR "$0" "$@"; fi

name=${FRESHFS_IMAGE:-freshfs}
jobs=${FRESHFS_IMAGE_JOBS:-2}
base=docker.io/library/debian:bookworm-slim

log() { echo "image: $*" >&2; }
fail() { echo "image: FAIL: $*" >&2; exit 1; }

# The URI this machine's apt fetches SUITE's main component from (so the
# image builds wherever apt works: behind a proxy, from a local mirror).
apt_uri() {
  apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 2>/dev/null |
    awk -v suite="$1" '$2 == suite && $3 == "main" { sub(/\/$/, "", $1); print $1; exit }'
}
mirror=${DEBIAN_MIRROR:-$(apt_uri bookworm)}
security_mirror=${DEBIAN_SECURITY_MIRROR:-$(apt_uri bookworm-security)}

# --- tools ---------------------------------------------------------------
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- base image ----------------------------------------------------------
make_rootfs() {
  local rootfs=$1
  rm -rf "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null

  # Where apt looks, as in the official image (the release, its updates and
  # security updates), at the mirrors this machine uses.
  rm -f "$rootfs/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\n' "$mirror"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    if [ -n "$security_mirror" ]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: bookworm-security\nComponents: main\n' "$security_mirror"
      printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    fi
  } >"$rootfs/etc/apt/sources.list.d/debian.sources"

  # Slim: packages installed later leave out documentation, manuals and
  # translations (copyright files stay), and what is there already goes.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
  echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/no-languages"
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/{man,info,groff,lintian,linda,locale}/*
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log \
    "$rootfs"/var/log/apt/* "$rootfs"/var/cache/debconf/*-old
}

if ! podman image exists "$base"; then
  [ -n "$mirror" ] || fail "no Debian bookworm source in this machine's apt configuration; set DEBIAN_MIRROR"
  [ -n "$security_mirror" ] || log "warning: no bookworm-security source in apt's configuration; the image gets none (set DEBIAN_SECURITY_MIRROR)"
  rootfs=$root/.tools/image/bookworm-minbase
  if [ ! -f "$rootfs.done" ]; then
    log "making the bookworm-slim root filesystem in ${rootfs#"$root"/} (debootstrap, a few minutes)"
    mkdir -p "$(dirname "$rootfs")"
    make_rootfs "$rootfs"
    touch "$rootfs.done"
  fi
  log "importing it as $base"
  tar --numeric-owner -C "$rootfs" -c . |
    podman import --change 'CMD ["bash"]' - "$base" >/dev/null
fi

# --- build ---------------------------------------------------------------
version=$(sed -n 's/^project(freshfs VERSION \([0-9][0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || fail "no project version in CMakeLists.txt"
revision=$(git rev-parse HEAD 2>/dev/null || true)
if [ -n "$revision" ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  log "warning: the work tree has uncommitted changes; the image holds them, its revision label says $revision"
fi
source_url=$(git remote get-url origin 2>/dev/null || true)
image=$name:$version

log "building $image (compiles the project and runs the unit tests: many minutes)"
podman build --pull=never --isolation=chroot --network=host \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" \
  --build-arg SOURCE="$source_url" --build-arg JOBS="$jobs" \
  -t "$image" .

# --- check ---------------------------------------------------------------
# podman run does not work on these machines: check the image's own files by
# mounting it and running its binaries in a chroot, so they load the image's
# libraries and not the host's.
mnt=$(podman image mount "$image")
trap 'podman image unmount "$image" >/dev/null' EXIT
status=0
for bin in freshfs-mount freshfs-csi; do
  missing_libs=$(chroot "$mnt" ldd "/usr/bin/$bin" | grep 'not found' || true)
  [ -z "$missing_libs" ] || { echo "$bin: libraries missing from the image:"; echo "$missing_libs"; status=1; }
  reported=$(chroot "$mnt" "/usr/bin/$bin" --version) || { echo "$bin --version failed"; status=1; }
  echo "$bin --version: $reported"
  [ "$reported" = "$bin $version" ] || { echo "$bin: expected '$bin $version'"; status=1; }
done
fuse=$(chroot "$mnt" fusermount3 -V 2>&1) || { echo "fusermount3 -V failed: $fuse"; status=1; }
echo "fusermount3 -V: $fuse"
[ -s "$mnt/etc/ssl/certs/ca-certificates.crt" ] || { echo "no CA certificates in the image"; status=1; }
podman image unmount "$image" >/dev/null
trap - EXIT

label=$(podman image inspect --format '{{ index .Labels "org.opencontainers.image.version" }}' "$image")
entrypoint=$(podman image inspect --format '{{ .Config.Entrypoint }}' "$image")
echo "label org.opencontainers.image.version: $label"
echo "entrypoint: $entrypoint"
[ "$label" = "$version" ] || { echo "image labelled '$label', expected $version"; status=1; }

podman image ls "$image"
size=$(podman image inspect --format '{{ .Size }}' "$image")
echo "image size: $((size / 1000000)) MB ($size bytes, uncompressed)"
[ "$status" = 0 ] || fail "$image does not pass its checks"
echo "image: OK $image"
