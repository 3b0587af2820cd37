# freshfs container image: freshfs-csi (the entrypoint, as the Helm chart runs
# it) and freshfs-mount in /usr/bin, plus fusermount3.
#
# Build it with scripts/image.sh: it makes the debian:bookworm-slim base when
# there is none, passes VERSION/REVISION/SOURCE, and checks that the binaries
# start with the libraries the image carries. By hand:
#   podman build --build-arg VERSION=0.1.0 -t freshfs:0.1.0 .

# ---- build: the project's own build (CMake, Release) and its unit tests ----
FROM docker.io/library/debian:bookworm-slim AS build
ARG JOBS=2
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
# The package list lives in scripts/deps.sh; copied alone so that the
# installed toolchain stays cached while sources change.
COPY scripts/deps.sh scripts/deps.sh
RUN scripts/deps.sh --build ninja-build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /freshfs-build -G Ninja -DCMAKE_BUILD_TYPE=Release
# Only the two binaries and the unit test executables: every directory under
# tests/unit has a Ninja "<dir>/all" target with its tests and what they link.
RUN targets="freshfs-mount freshfs-csi"; \
    for dir in tests/unit/*/; do targets="$targets ${dir%/}/all"; done; \
    cmake --build /freshfs-build -j "$JOBS" --target $targets
RUN ctest --test-dir /freshfs-build -L unit -j "$JOBS" --output-on-failure --timeout 600
RUN DESTDIR=/out cmake --install /freshfs-build --prefix /usr --strip
# The binaries report the version the image is labelled with.
ARG VERSION=""
RUN for bin in freshfs-mount freshfs-csi; do \
      reported="$(/out/usr/bin/$bin --version)"; echo "$reported"; \
      if [ -n "$VERSION" ] && [ "$reported" != "$bin $VERSION" ]; then \
        echo "$bin reports '$reported', the image is labelled $VERSION" >&2; exit 1; \
      fi; \
    done
# The Debian packages holding the shared libraries the binaries load: the
# runtime stage installs exactly these (and what they depend on).
RUN set -e; \
    for lib in $(ldd /out/usr/bin/* | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u); do \
      real="$(readlink -f "$lib")"; \
      owner=""; \
      for candidate in "$lib" "$real" "/usr$lib" "/usr$real" "${lib#/usr}" "${real#/usr}"; do \
        owner="$(dpkg -S "$candidate" 2>/dev/null | head -n1 | cut -d: -f1)" && [ -n "$owner" ] && break; \
      done; \
      if [ -z "$owner" ]; then echo "no Debian package owns $lib" >&2; exit 1; fi; \
      echo "$owner"; \
    done | sort -u > /out/runtime-packages; \
    echo "runtime packages:"; cat /out/runtime-packages

# ---- runtime: bookworm-slim, the binaries and only what they need ----------
FROM docker.io/library/debian:bookworm-slim
COPY --from=build /out/runtime-packages /tmp/runtime-packages
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates fuse3 $(cat /tmp/runtime-packages) \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /tmp/runtime-packages /var/log/apt /var/log/dpkg.log
COPY --from=build /out/usr/bin/freshfs-mount /out/usr/bin/freshfs-csi /usr/bin/

ARG VERSION=""
ARG REVISION=""
ARG SOURCE=""
# The project has no licence file yet: NOASSERTION (SPDX) until it does.
ARG LICENSES=NOASSERTION
LABEL org.opencontainers.image.title="freshfs" \
      org.opencontainers.image.description="FUSE filesystem for S3 buckets and shared directories that keeps the kernel cache fresh by invalidating exactly what changed, and its CSI driver freshfs.csi.dev (freshfs-csi, freshfs-mount, fusermount3)" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION" \
      org.opencontainers.image.source="$SOURCE" \
      org.opencontainers.image.licenses="$LICENSES" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

ENTRYPOINT ["/usr/bin/freshfs-csi"]
