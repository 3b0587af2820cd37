"""Builds what the benchmarks run: freshfs-mount (Release, in build-bench/ or
$BENCH_BUILD_DIR), libfuse's passthrough_ll example and the fsbench helper."""
import os
import subprocess
import sys

from . import ROOT
from .proc import high_priority, out, sh

BUILD = os.environ.get("BENCH_BUILD_DIR", os.path.join(ROOT, "build-bench"))
SCALE_TARGET = "freshfs_bench_scale"


def deps(*packages):
    """scripts/deps.sh with these extra Debian packages."""
    sh([os.path.join(ROOT, "scripts", "deps.sh"), *packages])


def configure(build=BUILD):
    if not os.path.exists(os.path.join(build, "build.ninja")):
        sh(["cmake", "-S", ROOT, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
            "-DFRESHFS_BUILD_TESTS=OFF"], stdout=subprocess.DEVNULL)


def freshfs_mount():
    """Builds freshfs-mount (Release) in BUILD; its path."""
    configure()
    sh(["cmake", "--build", BUILD, "--target", "freshfs-mount", "-j2"], stdout=subprocess.DEVNULL)
    return os.path.join(BUILD, "cmd", "freshfs-mount", "freshfs-mount")


def build(freshfs=None):
    """(freshfs-mount, passthrough_ll, fsbench): freshfs built unless given."""
    deps("ninja-build", "gcc", "util-linux")
    freshfs = freshfs or freshfs_mount()
    os.makedirs(BUILD, exist_ok=True)

    src = [l for l in out(["dpkg", "-L", "libfuse3-dev"]).splitlines()
           if l.endswith("/passthrough_ll.c")]
    if not src:
        sys.exit("passthrough_ll.c not found in libfuse3-dev")
    pll = os.path.join(BUILD, "passthrough_ll")
    flags = out(["pkg-config", "--cflags", "--libs", "fuse3"]).split()
    if not os.path.exists(pll) or os.path.getmtime(pll) < os.path.getmtime(src[0]):
        sh(["gcc", "-O2", src[0], *flags, "-o", pll])

    helper = os.path.join(BUILD, "fsbench")
    hsrc = os.path.join(ROOT, "bench", "fsbench.c")
    if not os.path.exists(helper) or os.path.getmtime(helper) < os.path.getmtime(hsrc):
        sh(["gcc", "-O2", "-Wall", hsrc, "-o", helper])
    return freshfs, pll, helper


def scale_binary(build=BUILD):
    """Builds the bench/scale target if the tree has one: (its path, None) or (None, why)."""
    if not os.path.exists(os.path.join(ROOT, "bench", "scale", "CMakeLists.txt")):
        return None, "bench/scale/ does not exist in this tree"
    r = subprocess.run(["cmake", "--build", build, "--target", SCALE_TARGET, "-j2"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, f"building {SCALE_TARGET} failed: " + (r.stdout + r.stderr).strip()[-600:]
    for d, _, files in os.walk(build):
        if SCALE_TARGET in files and os.access(os.path.join(d, SCALE_TARGET), os.X_OK):
            return os.path.join(d, SCALE_TARGET), None
    return None, f"{SCALE_TARGET} built but not found under {build}"


def integration_tests(build):
    """freshfs-mount and freshfs_integration_tests (Release, tests on) in build."""
    if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
        sh(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release"],
           stdout=subprocess.DEVNULL)
    sh(["cmake", "--build", build, "-j2", "--target", "freshfs-mount",
        "freshfs_integration_tests"], stdout=subprocess.DEVNULL)
    return os.path.join(build, "tests", "integration", "freshfs_integration_tests")


def helper_run(helper, *args):
    """Runs the fsbench helper (bench/fsbench.c) at high priority; its output's words."""
    r = subprocess.run([helper, *map(str, args)], capture_output=True, text=True,
                       preexec_fn=high_priority)
    if r.returncode != 0:
        raise RuntimeError(f"fsbench {' '.join(map(str, args))}: {r.stderr.strip()}")
    return r.stdout.split()
