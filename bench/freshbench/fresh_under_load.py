"""freshfs under load (issue 21): readers busy through the mount while another writer
replaces the same files at the source as fast as it can; how many reads mix two versions,
how many fail, and how long after the writer stops the mount shows the source again.

Runs the FreshUnderLoad integration tests (tests/integration/fresh_under_load_test.cc)
RUNS times each, one variant after the other in every round, and tabulates the one
"[ LOAD     ] {json}" line each test prints:
  dir-inotify   FreshUnderLoad.ReplacedFilesInotify     32 files of 64 KiB, defaults (inotify)
  dir-poll      FreshUnderLoad.ReplacedFilesPolling     same, --events none --poll-interval 1s
  s3-poll       FreshUnderLoadS3.ReplacedObjectsPolling 16 objects of 64 KiB on s3rver, 1 s poll
  s3-events     FreshUnderLoadS3.ReplacedObjectsEvents  same, --events-address and a 1 h poll;
                                                         an event POST after every PUT
8 readers open+read+close whole files; the writer writes a temporary file and renames it
over the target (S3: PUTs), so the source only ever holds whole versions. With --all
also the names workload (names-dir-inotify, names-dir-poll, names-s3-poll: 4 readers
list, stat and open while the writer creates, deletes and renames among 200 names) and
in-place rewrites (inplace-dir-inotify, inplace-dir-poll: mixed reads allowed there).

Per variant: runs that passed, and min / median / max over runs of reads, torn reads
(reads mixing versions or holding a page no version had), read errors, source changes,
and the time from the writer stopping until every file (and name) through the mount
equals the source; "never" = still different at the test's deadline (twice the bound
+ 1 s), with how many files/names were still stale then. The bound each test asserts:
inotify and S3 events 2 s, directory polling 1 s + 3 s, S3 polling 1 s + 4 s.

Usage: bench/fresh-under-load [--runs N] [--seconds S] [--binary PATH] [--variants a,b]
                              [--all] [--build-dir DIR] [--json-out PATH]
  --binary      the freshfs_integration_tests binary to run (it runs the freshfs-mount
                it was built with, or $FRESHFS_MOUNT_BIN); without it the two targets
                are built (Release) in --build-dir (default <repo>/build-load).
Needs root (real FUSE mounts) and s3rver in .tools/ (scripts/deps.sh).
Exit status 1 when any run failed its assertions (the table is printed anyway).
Every run's output and a results.json go to bench/results/fresh-under-load-<UTC>/.
"""
import argparse
import ctypes
import datetime
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time

from . import RESULTS, ROOT
from .build import integration_tests
from .host import cpu_model, git_state, mem_kib
from .proc import logger

VARIANTS = {
    "dir-inotify": "FreshUnderLoad.ReplacedFilesInotify",
    "dir-poll": "FreshUnderLoad.ReplacedFilesPolling",
    "s3-poll": "FreshUnderLoadS3.ReplacedObjectsPolling",
    "s3-events": "FreshUnderLoadS3.ReplacedObjectsEvents",
    "names-dir-inotify": "FreshUnderLoad.NamesInotify",
    "names-dir-poll": "FreshUnderLoad.NamesPolling",
    "names-s3-poll": "FreshUnderLoadS3.NamesPolling",
    "inplace-dir-inotify": "FreshUnderLoad.InPlaceRewritesInotify",
    "inplace-dir-poll": "FreshUnderLoad.InPlaceRewritesPolling",
}
DEFAULT_VARIANTS = ["dir-inotify", "dir-poll", "s3-poll", "s3-events"]
LOAD_LINE = re.compile(r"^\[ LOAD     \] (\{.*\})\s*$")
PR_SET_CHILD_SUBREAPER = 36
log = logger("bench")


def become_subreaper():
    """Daemons and s3rver servers of a test binary that had to be killed are re-parented
    to us, so we can find exactly those (and nothing else) and stop them."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except OSError:
        pass


def our_children():
    me, found = os.getpid(), []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            if ppid == me:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
                found.append((int(pid), argv))
        except (OSError, ValueError):
            continue
    return found


def fuse_mounts():
    out = set()
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[2] == "fuse" or fields[2].startswith("fuse."):
                out.add(fields[1])
    return out


def clean_up_orphans():
    """Unmounts and stops what a killed test binary left behind (our re-parented
    descendants only, by PID)."""
    left = []
    mounts = fuse_mounts()
    for pid, argv in our_children():
        for arg in argv:
            if arg in mounts:
                subprocess.run(["fusermount3", "-u", arg], stderr=subprocess.DEVNULL)
                if arg in fuse_mounts():
                    subprocess.run(["umount", "-l", arg], stderr=subprocess.DEVNULL)
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        left.append(f"{pid} {' '.join(argv)[:120]}")
    return left


def run_once(binary, test, seconds, log_path):
    env = dict(os.environ, FRESHFS_LOAD_SECONDS=str(seconds))
    start = time.time()
    timed_out = False
    with open(log_path, "w") as out:
        proc = subprocess.Popen([binary, f"--gtest_filter={test}", "--gtest_color=no"],
                                stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=seconds + 300)  # the test's own watchdog fires at +150 s
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.kill()
            code = proc.wait()
    orphans = clean_up_orphans()
    with open(log_path) as f:
        text = f.read()
    result = {"test": test, "exit_code": code, "timed_out": timed_out,
              "wall_seconds": round(time.time() - start, 1), "log": log_path,
              "orphans_cleaned": orphans}
    for line in text.splitlines():
        m = LOAD_LINE.match(line)
        if m:
            result["load"] = json.loads(m.group(1))
    # The first lines of every failure gtest reported, for the summary.
    failures = []
    lines = text.splitlines()
    noise = re.compile(r"^(Expected equality of these values:|Which is: .*|Failed|"
                       r"report\.\w+|[0-9]+)$")
    for i, line in enumerate(lines):
        if line.endswith(": Failure") or line.startswith("watchdog:"):
            said = [l.strip() for l in lines[i + 1:i + 8] if not noise.match(l.strip())]
            failures.append(" ".join(said[:2])[:300])
    result["failures"] = failures
    result["passed"] = code == 0 and "load" in result
    return result


def dist(values):
    if not values:
        return ""
    med = statistics.median(values)
    fmt = (lambda v: f"{v:,.0f}") if all(float(v).is_integer() for v in values) or med >= 100 \
        else (lambda v: f"{v:,.1f}")
    if min(values) == max(values):
        return fmt(med)
    return f"{fmt(med)} ({fmt(min(values))}-{fmt(max(values))})"


def table(variants, results):
    rows = ["| variant | runs passed | reads | torn reads | read errors | source changes | "
            "converged after (ms) | never converged | stale at the deadline |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for v in variants:
        runs = results[v]
        loads = [r["load"] for r in runs if "load" in r]
        conv = [l["converge_ms"] for l in loads if l["converge_ms"] is not None]
        never = [l for l in loads if l["converge_ms"] is None]
        torn = dist([l["torn"] for l in loads])
        if loads and loads[0]["workload"] == "inplace":
            torn += " (allowed)"
        if loads and loads[0]["workload"] == "names":
            torn = "n/a"
        stale = dist([l["stale"] for l in never]) if never else "0"
        if never and loads[0]["workload"] == "names":
            stale += f" ({dist([l['ghosts'] for l in never])} ghost names)"
        rows.append(
            f"| {v} | {sum(r['passed'] for r in runs)}/{len(runs)} | "
            f"{dist([l['reads'] for l in loads])} | {torn} | "
            f"{dist([l['errors'] for l in loads])} | {dist([l['writes'] for l in loads])} | "
            f"{dist(conv) if conv else 'never'} | {len(never)} | {stale} |")
    return "\n".join(rows)


def machine():
    return {"cpu": cpu_model(), "nproc": os.cpu_count(), "mem_gib": round(mem_kib() / 2**20, 1),
            "kernel": platform.release(), "loadavg_1m": os.getloadavg()[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=20, help="how long each writer runs")
    ap.add_argument("--binary", help="freshfs_integration_tests to run (default: build it)")
    ap.add_argument("--build-dir", default=os.environ.get(
        "BENCH_LOAD_BUILD_DIR", os.path.join(ROOT, "build-load")))
    ap.add_argument("--variants", help="comma-separated, of: " + ", ".join(VARIANTS))
    ap.add_argument("--all", action="store_true", help="every variant, names and in-place too")
    ap.add_argument("--json-out", help="also write the results JSON here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/fresh-under-load: run as root (the tests make real FUSE mounts)")
    variants = (args.variants.split(",") if args.variants
                else list(VARIANTS) if args.all else DEFAULT_VARIANTS)
    for v in variants:
        if v not in VARIANTS:
            sys.exit(f"unknown variant {v!r}; known: {', '.join(VARIANTS)}")
    binary = os.path.abspath(args.binary) if args.binary else integration_tests(args.build_dir)
    if not os.access(binary, os.X_OK):
        sys.exit(f"{binary}: not an executable")
    become_subreaper()

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir = os.path.join(RESULTS, f"fresh-under-load-{stamp}")
    os.makedirs(out_dir, exist_ok=True)
    info = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv), "binary": binary,
            "mount_binary": os.environ.get("FRESHFS_MOUNT_BIN", "(built with the binary)"),
            "code": "as built into --binary" if args.binary else git_state(("pkg", "cmd")),
            "machine": machine(), "runs": args.runs,
            "seconds": args.seconds}
    log(f"{len(variants)} variants x {args.runs} runs of {args.seconds} s; "
        f"about {len(variants) * args.runs * (args.seconds + 12) / 60:.0f} min")
    results = {v: [] for v in variants}
    for run in range(args.runs):
        for v in variants:
            path = os.path.join(out_dir, f"{v}-{run + 1}.log")
            r = run_once(binary, VARIANTS[v], args.seconds, path)
            results[v].append(r)
            l = r.get("load", {})
            log(f"run {run + 1}/{args.runs} {v}: {'passed' if r['passed'] else 'FAILED'}; "
                f"reads {l.get('reads')}, torn {l.get('torn')}, errors {l.get('errors')}, "
                f"writes {l.get('writes')}, converged after {l.get('converge_ms')} ms, "
                f"stale at the deadline {l.get('stale')}"
                + (f"; cleaned up {len(r['orphans_cleaned'])} leftover processes"
                   if r["orphans_cleaned"] else ""))
    info["machine"]["loadavg_1m_end"] = os.getloadavg()[0]
    doc = {"info": info, "results": results}
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(doc, f, indent=2)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(doc, f, indent=2)

    m = info["machine"]
    print(f"freshfs under load, {info['date']}: {args.runs} runs x {args.seconds} s per variant; "
          f"code {info['code']}")
    print(f"machine: {m['cpu']}, {m['nproc']} CPUs, {m['mem_gib']} GiB, kernel {m['kernel']}; "
          f"load average {m['loadavg_1m']:.1f} at the start, {m['loadavg_1m_end']:.1f} at the end")
    print("median (min-max) over runs\n")
    print(table(variants, results))
    failed = [(v, i + 1, r) for v in variants for i, r in enumerate(results[v]) if not r["passed"]]
    if failed:
        print("\nfailed runs (first failure of each):")
        for v, i, r in failed:
            why = r["failures"][0] if r["failures"] else (
                "timed out" if r["timed_out"] else f"exit {r['exit_code']}, no LOAD line")
            print(f"- {v} run {i}: {why}")
    print(f"\nraw output: {out_dir}")
    return 1 if failed else 0
