"""freshfs freshness benchmark: how fast a source change becomes visible, and what
the caching buys (cached sequential reads, small-file re-reads), in one run.

Phase 1, visibility latency. One source directory, mounted side by side by:
  freshfs-poll     freshfs-mount -f --events none --poll-interval 1s SRC MNT
  freshfs-inotify  freshfs-mount -f --events inotify --poll-interval 1h SRC MNT
  pll-always       passthrough_ll -f -o cache=always -o source=SRC MNT
  pll-never        passthrough_ll -f -o cache=never -o source=SRC MNT
  bindfs           bindfs -f SRC MNT                      (Debian bindfs, defaults)
  rclone           env -u AWS_CA_BUNDLE rclone mount SRC MNT   (Debian rclone, defaults)
(freshfs also gets --metrics-address 127.0.0.1:0; its counters are scraped at the end.)
CHANGES source changes, alternating: an in-place, same-size rewrite of a 4 KiB file
that every mount has just read (mod/mNNNN), and a new file whose absence every mount
has just looked up (new/nNNNN; a cached negative lookup where the mount caches them).
Latency = from the write at the source completing (close returned) until a poller
reading through the mount sees it: one `fsbench watch` process per mount checks every
pending change about every 1 ms (modification: open+read+close, compares the first
bytes; new name: stat); changes older than 2 s are checked every age/200. Changes are
made at random intervals (uniform SPACING) while earlier ones may still be pending, so
mounts that never show a change cost CAP seconds once, not per change. Not seen within
CAP seconds = "never".

Phase 2, cached reads, on a second source directory mounted by:
  freshfs          freshfs-mount -f --entry-timeout 1h --attr-timeout 1h --kernel-cache
  freshfs-ro       the same with --read-only
  passthrough_ll   passthrough_ll -f -o cache=always
  native           the source directory itself
  read   sequential read of one big file from the page cache, as bench/run measures it
         (copies re-populated in lockstep before every round; residency checked).
  small  open+read+close of 1,000 4 KiB files (after one warm-up pass), one pass per
         sample, with a 2 s pause before every round (so 1 s cache timeouts expire).
  --peers (used by bench/report) adds pll-never, bindfs and/or rclone (run as in
  phase 1) to phase 2; they do not keep pages across opens, so their read samples
  are one pass and are not checked for page-cache residency. --only small runs
  phase 2 with the small-file metric only (bench/report takes the sequential read
  from bench/run).
Samples interleaved, order rotated per round; medians, min, max, ratios of medians
and medians of per-round ratios.

Usage: bench/freshness [--quick] [--changes N] [--rounds N] [--cap S] [--only PHASE]
                       [--peers pll-never,bindfs,rclone] [--json-out PATH]
                       [--write-docs] [--freshfs-bin PATH]     (also: bench/run freshness ...)
Env:   BENCH_DIR, BENCH_BUILD_DIR, FRESHFS_EXTRA_ARGS as for bench/run.
"""
import argparse
import datetime
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from . import DOC, RESULTS, ROOT, changes, metrics
from .build import build, deps, helper_run
from .docs import replace_marked
from .host import git_state, machine_info, vm_counters
from .mount import Daemon, remove_unless_mounted, stop_all
from .proc import high_priority, logger, read_text, version
from .stats import latency_stats, summarize, write_json

DOC_BEGIN = "<!-- bench/freshness:begin -->"
DOC_END = "<!-- bench/freshness:end -->"
FILE_SIZE = 4096
POLL_INTERVAL = 1.0
TARGETS = {"freshfs-poll": POLL_INTERVAL + 0.1, "freshfs-inotify": 0.05}
SMALL_TARGET = 1.0  # freshfs (rw) / passthrough_ll, small-file re-read
LAT_NAMES = {"freshfs-poll": "freshfs (--events none --poll-interval 1s)",
             "freshfs-inotify": "freshfs (--events inotify --poll-interval 1h)",
             "pll-always": "passthrough_ll -o cache=always",
             "pll-never": "passthrough_ll -o cache=never",
             "bindfs": "bindfs (defaults)",
             "rclone": "rclone mount (defaults)"}
METRICS = ("freshfs_invalidations_total", "freshfs_remote_changes_total",
           "freshfs_change_detection_seconds_sum", "freshfs_change_detection_seconds_count",
           "freshfs_invalidation_latency_seconds_sum",
           "freshfs_invalidation_latency_seconds_count", "freshfs_fuse_requests_total",
           "freshfs_sync_errors_total")
log = logger("freshness")


def scrape(logpath):
    """The METRICS samples of a freshfs daemon's endpoint (zeros included)."""
    return metrics.scrape_log(read_text(logpath), lambda name: name.startswith(METRICS))


# ---------------------------------------------------------------- phase 1

def latency_phase(a, tmp, freshfs, pll, helper, daemons, pollers):
    base = os.path.join(tmp, "lat")
    src, mnt = os.path.join(base, "src"), os.path.join(base, "mnt")
    nmod, nnew = (a.changes + 1) // 2, a.changes // 2
    os.makedirs(os.path.join(src, "mod"))
    os.makedirs(os.path.join(src, "new"))
    for j in range(nmod):
        with open(os.path.join(src, "mod", f"m{j:04d}"), "wb") as f:
            f.write(changes.content("old", j, FILE_SIZE))
    extra = os.environ.get("FRESHFS_EXTRA_ARGS", "").split()
    met = ["--metrics-address", "127.0.0.1:0"]
    m = {k: os.path.join(mnt, k) for k in LAT_NAMES}
    argvs = {
        "freshfs-poll": [freshfs, "-f", "--events", "none", "--poll-interval", "1s", *met,
                         *extra, src, m["freshfs-poll"]],
        "freshfs-inotify": [freshfs, "-f", "--events", "inotify", "--poll-interval", "1h",
                            *met, *extra, src, m["freshfs-inotify"]],
        "pll-always": [pll, "-f", "-o", "cache=always", "-o", f"source={src}", m["pll-always"]],
        "pll-never": [pll, "-f", "-o", "cache=never", "-o", f"source={src}", m["pll-never"]],
        "bindfs": ["bindfs", "-f", src, m["bindfs"]],
        "rclone": ["env", "-u", "AWS_CA_BUNDLE", "rclone", "mount", src, m["rclone"]],
    }
    ds = {}
    for k, argv in argvs.items():
        d = Daemon(k, argv, m[k], os.path.join(tmp, f"lat-{k}.log"))
        daemons.append(d)
        d.start()
        ds[k] = d
    names = list(argvs)
    for k in names:
        p = subprocess.Popen([helper, "watch", m[k], str(a.cap)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, preexec_fn=high_priority)
        pollers[k] = p
    cpu0 = {k: ds[k].cpu() for k in names}
    load0, t_start = os.getloadavg(), time.time()
    rng = random.Random(a.seed)
    kinds, prep_anomalies = {}, {k: 0 for k in names}
    log(f"{a.changes} changes, spacing {a.spacing[0]}-{a.spacing[1]} s, cap {a.cap} s")
    for i in range(a.changes):
        j = i // 2
        if i % 2 == 0:
            rel = f"mod/m{j:04d}"
            for k in names:  # every mount has read the old content just before
                try:
                    with open(os.path.join(m[k], rel), "rb") as f:
                        ok = f.read().startswith(changes.token("old", j).encode())
                except OSError:
                    ok = False
                prep_anomalies[k] += not ok
            fd = os.open(os.path.join(src, rel), os.O_WRONLY)
            os.pwrite(fd, changes.content("new", j, FILE_SIZE), 0)
            os.close(fd)
            t0 = time.monotonic()
            line = f"m {i} {rel} {changes.token('new', j)} {t0:.6f}\n"
        else:
            rel = f"new/n{j:04d}"
            for k in names:  # every mount has looked the name up (ENOENT) just before
                try:
                    os.stat(os.path.join(m[k], rel))
                    prep_anomalies[k] += 1
                except FileNotFoundError:
                    pass
            fd = os.open(os.path.join(src, rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, changes.content("new", j, FILE_SIZE))
            os.close(fd)
            t0 = time.monotonic()
            line = f"n {i} {rel} {t0:.6f}\n"
        kinds[i] = "modify" if i % 2 == 0 else "create"
        for k in names:
            pollers[k].stdin.write(line)
            pollers[k].stdin.flush()
        if (i + 1) % 50 == 0:
            log(f"{i + 1}/{a.changes} changes made")
        time.sleep(rng.uniform(*a.spacing))
    t_last = time.time()
    log(f"all changes made; waiting up to {a.cap} s for the pollers")
    lat = {k: {} for k in names}
    sweeps = {}
    for k in names:
        pollers[k].stdin.close()
        outp = pollers[k].stdout.read()
        pollers[k].wait()
        for l in outp.splitlines():
            f = l.split()
            if f[0] == "r":
                v = float(f[2])
                lat[k][int(f[1])] = math.inf if v < 0 else v
            elif f[0] == "s":
                sweeps[k] = {"sweeps": int(f[1]), "seconds": float(f[2]), "checks": int(f[3])}
        del pollers[k]
    elapsed = time.time() - t_start
    cpu = {k: round(ds[k].cpu() - cpu0[k], 2) for k in names}
    metrics = {k: scrape(ds[k].logpath) for k in names if k.startswith("freshfs")}
    mount_opts = {k: ds[k].options for k in names}
    for k in names:
        ds[k].stop()
        daemons.remove(ds[k])

    stats = {k: latency_stats(lat[k], kinds, k) for k in names}
    return {"names": names, "argv": argvs, "stats": stats, "prep_anomalies": prep_anomalies,
            "poller": sweeps, "daemon_cpu_seconds": cpu, "metrics": metrics,
            "mount_options": mount_opts, "loadavg_before": load0,
            "loadavg_after": os.getloadavg(),
            "seconds": round(elapsed, 1), "changes_seconds": round(t_last - t_start, 1),
            "raw": {k: {str(i): (None if math.isinf(x) else x) for i, x in sorted(v.items())}
                    for k, v in lat.items()}, "kinds": kinds}


# ---------------------------------------------------------------- phase 2

PHASE2_PEERS = ("pll-never", "bindfs", "rclone")  # --peers; no page cache across opens


def reads_phase(a, tmp, freshfs, pll, helper, daemons):
    base = os.path.join(tmp, "rd")
    src, mnt = os.path.join(base, "src"), os.path.join(base, "mnt")
    os.makedirs(os.path.join(src, "small"))
    metrics = ("small",) if a.only == "small" else ("read", "small")
    log(f"data: {a.size_mib if 'read' in metrics else 0} MiB file, "
        f"{a.small_files} x {FILE_SIZE // 1024} KiB files")
    with open(os.path.join(src, "big.bin"), "wb") as f:
        block = os.urandom(64 << 20) if "read" in metrics else b""
        for i in range(a.size_mib // 64 if "read" in metrics else 0):
            f.write(block[i % 7:] + block[:i % 7])
        f.write(block[: (a.size_mib % 64) << 20])
    for j in range(a.small_files):
        with open(os.path.join(src, "small", f"f{j:05d}"), "wb") as f:
            f.write(os.urandom(FILE_SIZE))
    fargs = ["-f", "--entry-timeout", "1h", "--attr-timeout", "1h", "--kernel-cache",
             *os.environ.get("FRESHFS_EXTRA_ARGS", "").split()]
    m = {k: os.path.join(mnt, k) for k in ("freshfs", "freshfs-ro", "passthrough_ll")}
    m["native"] = src
    argvs = {"freshfs": [freshfs, *fargs, src, m["freshfs"]],
             "freshfs-ro": [freshfs, *fargs, "--read-only", src, m["freshfs-ro"]],
             "passthrough_ll": [pll, "-f", "-o", "cache=always", "-o", f"source={src}",
                                m["passthrough_ll"]]}
    peer_argv = {"pll-never": [pll, "-f", "-o", "cache=never", "-o", f"source={src}"],
                 "bindfs": ["bindfs", "-f", src], "rclone": ["env", "-u", "AWS_CA_BUNDLE",
                                                             "rclone", "mount", src]}
    for k in a.peers:
        m[k] = os.path.join(mnt, k)
        argvs[k] = [*peer_argv[k], m[k]]
    argvs["native"] = []
    ds = {}
    for k, argv in argvs.items():
        if argv:
            d = Daemon(k, argv, m[k], os.path.join(tmp, f"rd-{k}.log"))
            daemons.append(d)
            d.start()
            ds[k] = d
    names = list(argvs)
    fuse = [k for k in names if k in ds]
    big = {k: os.path.join(m[k], "big.bin") for k in names}
    small = {k: os.path.join(m[k], "small") for k in names}
    passes = max(1, 4096 // a.size_mib)

    def measure(k, metric, npass=1):
        if metric == "read":
            npass = 1 if k in a.peers else npass
            secs, nbytes = helper_run(helper, f"-n{npass}", "read", big[k])
            return int(nbytes) / float(secs) / (1 << 30)
        secs, cnt = helper_run(helper, "smallread", small[k], a.small_files)
        return int(cnt) / float(secs)

    def resident(k):
        return float(helper_run(helper, "resident", big[k])[0])

    def rewarm(order):  # as bench/run: drop the FUSE copies, re-populate in lockstep
        fo = [k for k in order if k in ds and k not in a.peers]
        for k in fo:
            helper_run(helper, "evict", big[k])
        helper_run(helper, "warm", *[big[k] for k in fo])
        for k in order:
            measure(k, "read")

    res = {mt: {k: [] for k in names} for mt in metrics}
    retaken = {mt: {k: 0 for k in names} for mt in metrics}
    small_cpu = {k: [] for k in fuse}
    for i in range(a.read_rounds if "read" in metrics else 0):
        order = names[i % len(names):] + names[:i % len(names)]
        rewarm(order)
        warmed = vm_counters()
        for k in order:
            for attempt in range(4):
                v = measure(k, "read", passes)
                frac = -1.0 if k in a.peers else resident(k)  # peers: mmap would drop it
                if (frac in (-1.0, 1.0) and vm_counters() == warmed) or attempt == 3:
                    break
                retaken["read"][k] += 1
                log(f"read {k}: cache lost ({frac:.4f} resident); re-warming, retaking")
                rewarm(order)
                warmed = vm_counters()
            res["read"][k].append(v)
        log(f"read round {i + 1}/{a.read_rounds}: "
            + ", ".join(f"{k}={res['read'][k][-1]:.2f}" for k in names))

    def warm_small():
        for k in names:
            measure(k, "small")
        return vm_counters()

    warmed = warm_small()
    for i in range(a.small_rounds):
        order = names[i % len(names):] + names[:i % len(names)]
        time.sleep(2.0)
        for k in order:
            for attempt in range(3):
                c0 = ds[k].cpu() if k in ds else 0
                v = measure(k, "small")
                if k in ds:
                    small_cpu[k].append(round(ds[k].cpu() - c0, 3))
                if vm_counters() == warmed or attempt == 2:
                    break
                retaken["small"][k] += 1
                log(f"small {k}: caches dropped meanwhile (vmstat); re-warming, retaking")
                warmed = warm_small()
                time.sleep(2.0)
            res["small"][k].append(v)
        log(f"small round {i + 1}/{a.small_rounds}: "
            + ", ".join(f"{k}={res['small'][k][-1] / 1000:.1f}k" for k in names))
    mount_opts = {k: ds[k].options for k in ds}
    for k in fuse:
        ds[k].stop()
        daemons.remove(ds[k])

    stats = {mt: {k: summarize(v) for k, v in res[mt].items()} for mt in res}

    def ratio(mt, x, y):
        return {"of_medians": stats[mt][x]["median"] / stats[mt][y]["median"],
                "per_round_median": statistics.median(
                    p / q for p, q in zip(res[mt][x], res[mt][y]))}
    pairs = [("freshfs", "passthrough_ll"), ("freshfs-ro", "passthrough_ll"),
             ("freshfs-ro", "native"), ("freshfs", "native")]
    pairs += [("freshfs", k) for k in a.peers]
    ratios = {mt: {f"{x}/{y}": ratio(mt, x, y) for x, y in pairs} for mt in res}
    return {"names": names, "argv": argvs, "stats": stats, "ratios": ratios,
            "metrics": list(metrics), "uncached_peers": list(a.peers),
            "retaken": retaken, "read_passes_per_sample": passes,
            "small_daemon_cpu_seconds_per_sample": small_cpu, "mount_options": mount_opts}


# ---------------------------------------------------------------- report

def lat_verdicts(lp):
    return [changes.lat_verdict(lp, k, t) for k, t in TARGETS.items() if k in lp["stats"]]


def reads_table(rp):
    units = {"read": ("GiB/s", 1), "small": ("k files/s", 1e-3)}
    lines = ["| metric | contender | median | min | max |", "|---|---|---:|---:|---:|"]
    for mt, (unit, sc) in units.items():
        if mt not in rp["stats"]:
            continue
        label = "sequential read" if mt == "read" else "small-file re-read"
        for k in rp["names"]:
            s = rp["stats"][mt][k]
            lines.append(f"| {label} ({unit}) | {k} | {s['median'] * sc:.2f} | "
                         f"{s['min'] * sc:.2f} | {s['max'] * sc:.2f} |")
    return "\n".join(lines)


def reads_lines(rp):
    out = []
    for mt in rp["metrics"]:
        label = "sequential read" if mt == "read" else "small-file re-read"
        out.append(f"- {label}: " + ", ".join(
            f"{p} = {r['of_medians']:.3f} (per-round {r['per_round_median']:.3f})"
            for p, r in rp["ratios"][mt].items()))
    r = rp["ratios"]["small"]["freshfs/passthrough_ll"]["per_round_median"]
    out.append(f"- target small-file re-read freshfs/passthrough_ll >= {SMALL_TARGET:g} "
               f"(per-round ratios): {'MET' if r >= SMALL_TARGET else 'MISSED'}")
    return out


def lat_notes(lp):
    out = []
    cpu = ", ".join(f"{k} {v:.2f} s" for k, v in lp["daemon_cpu_seconds"].items())
    out.append(f"- daemon CPU during phase 1 ({lp['seconds']} s): {cpu}")
    per = ", ".join(f"{k} {v['seconds'] / v['sweeps'] * 1000:.2f} ms" if v["sweeps"]
                    else f"{k} n/a (every change seen at the first check)"
                    for k, v in lp["poller"].items())
    out.append(f"- poller: mean interval between sweeps while changes were pending "
               f"(= check interval for changes < 2 s old): {per}")
    bad = {k: v for k, v in lp["prep_anomalies"].items() if v}
    if bad:
        out.append(f"- prep reads/lookups that did not show the old state: {json.dumps(bad)}")
    for k, mt in lp["metrics"].items():
        if mt and "error" not in mt:
            inv = ", ".join(f"{n[n.index('{'):]} {v:g}" for n, v in sorted(mt.items())
                            if n.startswith("freshfs_invalidations_total") and v)
            out.append(f"- {k} `freshfs_invalidations_total`: {inv}")
    return out


def write_docs(section):
    replace_marked(DOC, DOC_BEGIN, DOC_END, section, place=lambda text, sec: (
        text.rstrip("\n") + "\n\n## Freshness (`bench/freshness`)\n\n" + sec + "\n"))
    log(f"updated {os.path.relpath(DOC, ROOT)}")


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(prog="bench/freshness", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="60 changes, 5 rounds, 256 MiB file (~2 minutes)")
    ap.add_argument("--changes", type=int, help="source changes (default 200; quick 60)")
    ap.add_argument("--rounds", type=int,
                    help="rounds per read metric (default 7 read / 21 small; quick 5)")
    ap.add_argument("--cap", type=float, default=15.0,
                    help="seconds after which a change counts as never seen (default 15)")
    ap.add_argument("--spacing", default="0.1,0.4",
                    help="MIN,MAX seconds between changes (uniform; default 0.1,0.4)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size-mib", type=int, help="big file (default 1024; quick 256)")
    ap.add_argument("--small-files", type=int, default=1000)
    ap.add_argument("--only", choices=("latency", "reads", "small"),
                    help="run one phase only (small: phase 2 without the sequential read)")
    ap.add_argument("--peers", default="",
                    help="comma-separated extra phase-2 contenders: " + ",".join(PHASE2_PEERS))
    ap.add_argument("--json-out", help="write the raw results here (default "
                                       "bench/results/freshness-<timestamp>.json)")
    ap.add_argument("--freshfs-bin", help="use this freshfs-mount instead of building one")
    ap.add_argument("--write-docs", action="store_true",
                    help=f"replace the freshness section of {os.path.relpath(DOC, ROOT)}")
    a = ap.parse_args()
    a.changes = a.changes or (60 if a.quick else 200)
    a.read_rounds = a.rounds or (5 if a.quick else 7)
    a.small_rounds = a.rounds or (5 if a.quick else 21)
    a.size_mib = a.size_mib or (256 if a.quick else 1024)
    a.spacing = tuple(float(x) for x in a.spacing.split(","))
    a.peers = [p for p in a.peers.split(",") if p]
    if set(a.peers) - set(PHASE2_PEERS):
        ap.error(f"--peers: unknown contender in {','.join(a.peers)}")
    command = "bench/freshness " + " ".join(sys.argv[1:])

    deps("bindfs", "rclone")
    freshfs_bin, pll, helper = build(a.freshfs_bin)
    tmp = tempfile.mkdtemp(prefix="freshfs-freshness.", dir=os.environ.get("BENCH_DIR", "/tmp"))
    # A private copy: other people may rebuild build-bench/ while this runs.
    freshfs = os.path.join(tmp, "freshfs-mount")
    shutil.copy2(freshfs_bin, freshfs)
    daemons, pollers = [], {}

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    t0 = time.time()
    lp = rp = None
    try:
        if a.only in (None, "latency"):
            lp = latency_phase(a, tmp, freshfs, pll, helper, daemons, pollers)
        if a.only != "latency":
            rp = reads_phase(a, tmp, freshfs, pll, helper, daemons)
    finally:
        for p in pollers.values():
            p.kill()  # by PID (Popen); they only poll
            p.wait()
        stop_all(daemons)
        remove_unless_mounted(tmp)

    ts = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    machine = machine_info()
    machine["rclone"] = version(["rclone", "version"])
    machine["bindfs"] = version(["bindfs", "--version"])
    result = {"timestamp": ts, "command": command, "machine": machine,
              "freshfs_source": git_state(),
              "params": {"changes": a.changes, "cap_seconds": a.cap, "spacing": a.spacing,
                         "seed": a.seed, "size_mib": a.size_mib, "small_files": a.small_files,
                         "file_size": FILE_SIZE, "read_rounds": a.read_rounds,
                         "small_rounds": a.small_rounds},
              "targets": {"p99_seconds": TARGETS,
                          "small freshfs/passthrough_ll": SMALL_TARGET},
              "latency": lp, "reads": rp, "elapsed_seconds": round(time.time() - t0, 1)}
    jpath = a.json_out or os.path.join(RESULTS, f"freshness-{ts}.json")
    write_json(jpath, result)

    body = []
    if lp:
        body += [f"Visibility latency: {a.changes} changes ({(a.changes + 1) // 2} modify, "
                 f"{a.changes // 2} create), cap {a.cap:g} s.", "",
                 changes.lat_table(lp, a.cap, LAT_NAMES), "", *lat_verdicts(lp), *lat_notes(lp),
                 ""]
    if rp:
        body += [f"Cached reads: {a.size_mib} MiB file ({rp['read_passes_per_sample']} reads "
                 f"per sample, {a.read_rounds} rounds); {a.small_files} x "
                 f"{FILE_SIZE // 1024} KiB files (one pass per sample, 2 s pause before "
                 f"each of {a.small_rounds} rounds).", "", reads_table(rp), "",
                 *reads_lines(rp),
                 f"- samples retaken (cache lost): {json.dumps(rp['retaken'])}", ""]
    print("\n" + "\n".join(body))
    print(f"elapsed {result['elapsed_seconds']} s; raw results: {os.path.relpath(jpath, ROOT)}")

    if a.write_docs:
        m = machine
        section = "\n".join([
            DOC_BEGIN, f"### Latest run ({ts})", "",
            f"Command: `{command.strip()}`; freshfs built from `{result['freshfs_source']}`.",
            "",
            f"Machine: {m['nproc']} CPUs (`nproc`), kernel `{m['kernel']}`, {m['mem_total']} "
            f"RAM, libfuse {m['libfuse']}, {m['rclone']}, {m['bindfs']}.", "",
            "```", *m["lscpu_head"], "```", "", *body, DOC_END])
        write_docs(section)
    return 0
