"""freshfs file-operation benchmark: listing a large directory (uncached and cached),
sequential write of a big file and small-file creates, on one local source directory,
freshfs side by side with other FUSE filesystems and the native directory.

Contenders:
  freshfs     freshfs-mount -f --entry-timeout 1h --attr-timeout 1h --kernel-cache SRC MNT
  pll-always  passthrough_ll -f -o cache=always -o source=SRC MNT   (FUSE's ceiling)
  pll-never   passthrough_ll -f -o cache=never -o source=SRC MNT    (FUSE's floor)
  bindfs      bindfs -f SRC MNT                                      (Debian bindfs, defaults)
  rclone      env -u AWS_CA_BUNDLE rclone mount SRC MNT              (Debian rclone, defaults)
  native      SRC itself
Cases (all timed inside bench/fsbench.c, the same helper for every contender):
  list     SRC/list, one directory of --list-files empty files. Per round every FUSE
           contender is mounted afresh; `fsbench list` (readdir(3) to the end, then
           fstatat(2) of every entry) through each mount in rotated order: "uncached"
           (nothing of the directory in that mount's kernel caches; the source's own
           dentries are warm); a 2 s pause; the same again: "cached" (native: this one
           only). Reported: readdir alone and readdir+stat.
  write    a new --write-mib MiB file written with 1 MiB write(2)s, open to close
           returned (no fsync: every contender's data ends in the source's page cache).
  create   --create-files new 4 KiB files (open O_CREAT|O_EXCL, write, close) in a new
           directory.
  For write and create, one contender is mounted at a time (no other daemon, e.g.
  freshfs's watcher, sees the writes), on a fresh mount; what was written is removed
  through the mount and the machine synced (untimed) before the next sample.
Rounds: --rounds (default 7, quick 3), contenders in rotated order per round; medians,
min, max, and freshfs's advantage (>1 = freshfs better) as ratio of medians and as
the median of per-round ratios.

Usage: bench/fsops [--quick] [--rounds N] [--list-files N] [--write-mib N]
                   [--create-files N] [--only list,write,create] [--freshfs-bin PATH]
                   [--json-out PATH]                     (also: bench/run fsops ...)
Env:   BENCH_DIR, BENCH_BUILD_DIR, FRESHFS_EXTRA_ARGS as for bench/run.
"""
import argparse
import datetime
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time

from . import RESULTS, ROOT
from .build import build, deps, helper_run
from .host import machine_info
from .mount import Daemon, mounted, remove_unless_mounted, stop_all
from .proc import logger, raise_nofile
from .stats import summarize_present as summarize, write_json

NAMES = ["freshfs", "pll-always", "pll-never", "bindfs", "rclone", "native"]
SMALL = 4096
# case -> (unit, higher is better)
CASES = {"list_uncached_readdir": ("s", False), "list_uncached": ("s", False),
         "list_cached_readdir": ("s", False), "list_cached": ("s", False),
         "write": ("MiB/s", True), "create": ("files/s", True)}
log = logger("fsops")


def advantage(res, case, name):
    """freshfs's advantage over `name` (>1: freshfs better)."""
    higher = CASES[case][1]
    f, p = res[case].get("freshfs", []), res[case].get(name, [])
    sf, sp = summarize(f), summarize(p)
    if not sf or not sp:
        return None

    def r(x, y):
        return x / y if higher else y / x
    pairs = [(x, y) for x, y in zip(f, p) if x and y]
    return {"of_medians": r(sf["median"], sp["median"]),
            "per_round": statistics.median(r(x, y) for x, y in pairs) if pairs else None}


def main():
    ap = argparse.ArgumentParser(prog="bench/fsops", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="3 rounds, 256 MiB write, 1,000 creates (~1 minute)")
    ap.add_argument("--rounds", type=int, help="rounds (default 7; quick 3)")
    ap.add_argument("--list-files", type=int, default=10000,
                    help="entries of the listed directory (default 10000)")
    ap.add_argument("--write-mib", type=int, help="size of the written file (default 1024; "
                                                  "quick 256)")
    ap.add_argument("--create-files", type=int, help="files created per sample (default "
                                                     "5000; quick 1000)")
    ap.add_argument("--only", help="comma-separated cases: list,write,create (default all)")
    ap.add_argument("--freshfs-bin", help="use this freshfs-mount instead of building one")
    ap.add_argument("--json-out", help="write the raw results here (default "
                                       "bench/results/fsops-<timestamp>.json)")
    a = ap.parse_args()
    a.rounds = a.rounds or (3 if a.quick else 7)
    a.write_mib = a.write_mib or (256 if a.quick else 1024)
    a.create_files = a.create_files or (1000 if a.quick else 5000)
    cases = a.only.split(",") if a.only else ["list", "write", "create"]
    if set(cases) - {"list", "write", "create"}:
        ap.error(f"--only: unknown case in {a.only}")
    if os.geteuid() != 0:
        sys.exit("bench/fsops must run as root (FUSE mounts)")
    command = "bench/fsops " + " ".join(sys.argv[1:])

    deps("bindfs", "rclone")
    freshfs_bin, pll, helper = build(a.freshfs_bin)
    nofile = raise_nofile(a.list_files + a.create_files + 4096)
    tmp = os.path.realpath(tempfile.mkdtemp(prefix="freshfs-fsops.",
                                            dir=os.environ.get("BENCH_DIR", "/tmp")))
    freshfs = os.path.join(tmp, "freshfs-mount")  # private copy: build-bench may change
    shutil.copy2(freshfs_bin, freshfs)
    src, mnt = os.path.join(tmp, "src"), os.path.join(tmp, "mnt")
    os.makedirs(os.path.join(src, "list"))
    m = {k: os.path.join(mnt, k) for k in NAMES if k != "native"}
    m["native"] = src
    fargs = ["-f", "--entry-timeout", "1h", "--attr-timeout", "1h", "--kernel-cache",
             *os.environ.get("FRESHFS_EXTRA_ARGS", "").split()]
    argvs = {"freshfs": [freshfs, *fargs, src, m["freshfs"]],
             "pll-always": [pll, "-f", "-o", "cache=always", "-o", f"source={src}",
                            m["pll-always"]],
             "pll-never": [pll, "-f", "-o", "cache=never", "-o", f"source={src}",
                           m["pll-never"]],
             "bindfs": ["bindfs", "-f", src, m["bindfs"]],
             "rclone": ["env", "-u", "AWS_CA_BUNDLE", "rclone", "mount", src, m["rclone"]]}
    daemons = []

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    def start(k, tag):
        d = Daemon(k, argvs[k], m[k], os.path.join(tmp, f"{k}-{tag}.log"))
        daemons.append(d)
        d.start()
        return d

    def stop(d):
        d.stop()
        daemons.remove(d)
        if mounted(d.mnt):
            raise RuntimeError(f"{d.mnt} still mounted")

    res = {c: {k: [] for k in NAMES} for c in CASES}
    errors = []

    def sample(case_keys, k, rnd, fn):
        """Runs fn() -> values for case_keys; a failure is recorded, the bench goes on."""
        try:
            vals = fn()
        except Exception as e:  # e.g. a peer that does not support an operation
            msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            log(f"{'/'.join(case_keys)} {k} round {rnd + 1}: FAILED: {msg}")
            errors.append({"case": case_keys[0], "contender": k, "round": rnd + 1,
                           "error": str(e)})
            vals = [None] * len(case_keys)
        for c, v in zip(case_keys, vals):
            res[c][k].append(v)

    t_start = time.time()
    try:
        listdir = os.path.join(src, "list")
        for j in range(a.list_files):
            open(os.path.join(listdir, f"e{j:05d}"), "wb").close()
        log(f"data in {tmp}: {a.list_files} entries to list, {a.write_mib} MiB write, "
            f"{a.create_files} x 4 KiB creates, {a.rounds} rounds (RLIMIT_NOFILE {nofile})")
        fuse = [k for k in NAMES if k != "native"]

        def list_once(k):
            rd, st, n = helper_run(helper, "list", os.path.join(m[k], "list"))
            if int(n) != a.list_files:
                raise RuntimeError(f"{k}: listed {n} entries, {a.list_files} expected")
            return [float(rd), float(rd) + float(st)]

        for i in range(a.rounds):
            order = NAMES[i % len(NAMES):] + NAMES[:i % len(NAMES)]
            if "list" in cases:
                helper_run(helper, "list", listdir)  # the source side is warm for all
                ds = [start(k, f"list{i}") for k in fuse]
                try:
                    for k in order:
                        if k != "native":
                            sample(["list_uncached_readdir", "list_uncached"], k, i,
                                   lambda: list_once(k))
                    time.sleep(2.0)
                    for k in order:
                        sample(["list_cached_readdir", "list_cached"], k, i,
                               lambda: list_once(k))
                finally:
                    for d in ds:
                        stop(d)
                res["list_uncached_readdir"]["native"].append(None)
                res["list_uncached"]["native"].append(None)
            for k in order:
                if "write" not in cases and "create" not in cases:
                    break
                d = start(k, f"wr{i}") if k != "native" else None
                try:
                    if "write" in cases:
                        path = os.path.join(m[k], f"write-{i}.bin")
                        os.sync()

                        def write():
                            secs, nbytes = helper_run(helper, "write", path, a.write_mib)
                            return [int(nbytes) / float(secs) / (1 << 20)]
                        sample(["write"], k, i, write)
                        if os.path.exists(path):
                            os.unlink(path)
                    if "create" in cases:
                        cdir = os.path.join(m[k], f"create-{i}")
                        os.mkdir(cdir)
                        os.sync()

                        def create():
                            secs, n = helper_run(helper, "create", cdir, a.create_files, SMALL)
                            return [int(n) / float(secs)]
                        sample(["create"], k, i, create)
                        shutil.rmtree(cdir)
                finally:
                    if d:
                        stop(d)
                os.sync()
            log(f"round {i + 1}/{a.rounds}: " + "; ".join(
                f"{k} " + ", ".join(f"{c}={res[c][k][-1]:.3g}" for c in CASES
                                    if res[c][k] and res[c][k][-1] is not None)
                for k in order))
    finally:
        stop_all(daemons)
        remove_unless_mounted(tmp)

    res = {c: v for c, v in res.items() if any(x is not None for s in v.values() for x in s)}
    stats = {c: {k: summarize(v) for k, v in r.items()} for c, r in res.items()}
    adv = {c: {k: advantage(res, c, k) for k in NAMES if k != "freshfs"} for c in res}
    ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    result = {"timestamp": ts, "command": command, "machine": machine_info(),
              "params": {"rounds": a.rounds, "list_files": a.list_files,
                         "write_mib": a.write_mib, "create_files": a.create_files,
                         "create_size": SMALL, "cases": cases, "rlimit_nofile": nofile},
              "argv": argvs, "units": {c: CASES[c][0] for c in res},
              "higher_is_better": {c: CASES[c][1] for c in res},
              "samples": res, "stats": stats, "freshfs_advantage": adv, "errors": errors,
              "elapsed_seconds": round(time.time() - t_start, 1)}
    jpath = a.json_out or os.path.join(RESULTS, f"fsops-{ts}.json")
    write_json(jpath, result)

    lines = ["| case | " + " | ".join(NAMES) + " |", "|---|" + "---:|" * len(NAMES)]
    for c in res:
        cells = []
        for k in NAMES:
            s = stats[c][k]
            cells.append("" if not s else f"{s['median']:.4g}")
        lines.append(f"| {c} ({CASES[c][0]}) | " + " | ".join(cells) + " |")
    print("\n" + "\n".join(lines) + "\n")
    for c in res:
        print(f"- {c}: freshfs vs " + ", ".join(
            f"{k} {r['of_medians']:.2f}x" + (f" (per-round {r['per_round']:.2f}x)"
                                             if r["per_round"] else "")
            if r else f"{k} n/a" for k, r in adv[c].items()))
    if errors:
        print(f"- FAILED samples: {len(errors)} (see the JSON)")
    print(f"elapsed {result['elapsed_seconds']} s; raw results: {os.path.relpath(jpath, ROOT)}")
    return 0
