"""The machine and the source tree a benchmark ran on, for its results."""
import json
import os
import platform
import subprocess

from . import ROOT, proc


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")),
                        "")
    except OSError:
        return ""


def mem_kib():
    with open("/proc/meminfo") as f:
        return int(f.readline().split()[1])


def machine_info():
    """nproc, kernel, the head of lscpu, MemTotal and libfuse's version."""
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()[:10]
    with open("/proc/meminfo") as f:
        mem = f.readline().split(":")[1].strip()
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "lscpu_head": lscpu,
            "mem_total": mem,
            "libfuse": proc.out(["pkg-config", "--modversion", "fuse3"]).strip()}


def lscpu_fields(keys):
    """The named fields of `lscpu -J` that it reports."""
    found = {}
    try:
        data = json.loads(subprocess.run(["lscpu", "-J"], capture_output=True,
                                         text=True).stdout)
        fields = {e["field"].rstrip(":"): e["data"] for e in data["lscpu"]}
        found = {k: fields[k] for k in keys if k in fields}
    except (ValueError, KeyError):
        pass
    return found


def git_state(paths=()):
    """HEAD's short hash, "+ uncommitted changes" when tracked files (under paths, if
    given) differ from it; "unknown" outside a git tree."""
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    argv = ["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"]
    dirty = subprocess.run(argv + (["--", *paths] if paths else []),
                           capture_output=True, text=True).stdout.strip()
    where = f" in {' or '.join(p + '/' for p in paths)}" if paths else ""
    return rev + (f" + uncommitted changes{where}" if dirty else "")


VM_COUNTERS = ("drop_pagecache", "drop_slab", "pgscan_kswapd", "pgscan_direct")


def vm_counters():
    """Counters of /proc/vmstat that move when caches are dropped or reclaimed."""
    vals = {}
    with open("/proc/vmstat") as f:
        for line in f:
            k, v = line.split()
            if k in VM_COUNTERS:
                vals[k] = int(v)
    return vals


def drop_caches():
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")
