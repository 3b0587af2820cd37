"""freshfs benchmark report: every benchmark of the project, on one machine, in one run.

Runs, one after the other, with one freshfs-mount binary (a private copy of the
Release build in build-bench/):
  run        bench/run --peers pll-never,bindfs,rclone     cached sequential read, cached stat
  latency    bench/freshness --only latency                visibility of a source change
                                                           (poll and inotify modes)
  small      bench/freshness --only small --peers ...      small-file re-read
  fsops      bench/fsops                                   listing (uncached/cached), sequential
                                                           write, small-file creates
  s3         bench/s3                                      S3 on s3rver: cold/cached read, small
                                                           files, listing, writes, visibility
                                                           (poll and event modes)
  scale      the CMake target freshfs_bench_scale (bench/scale/), if the tree has it:
             sync cost and bytes/entry at 1M entries (its JSON lines)
  lazy-mount bench/lazy-mount: s3rver buckets of 1,000, 100,000 and 1,000,000 objects
             mounted in turn (mount time, first listings, bytes per entry held; full
             runs only). It replaced bench/s3-scale, whose full syncs lazy mounts no
             longer run.
Every part writes its raw JSON into bench/results/<UTC timestamp>/raw/ and its log into
.../logs/. The report then writes, in that directory:
  results.json  every sample per case and contender, medians/percentiles, freshfs's
                advantage (ratios), the machine, the exact commands
  samples.csv   one row per sample;  summary.csv  one row per case and contender
  *.png         plots (matplotlib), also copied to docs/benchmarks/
and replaces the generated top section of docs/benchmarks.md (between the
bench/report markers): ratios first (the machines are noisy), then medians, the
machine, the command and the plots.

Usage: bench/report [--quick] [--only PART,...] [--skip PART,...] [--no-docs]
                    [--freshfs-bin PATH]          (also: bench/run report ...)
       bench/report --from bench/results/<timestamp>   re-render plots/docs from a run
Needs root (FUSE mounts, drop_caches). --quick: small sizes, few rounds (~10 minutes);
its numbers are marked as such in the docs.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

from . import BENCH, RESULTS, ROOT, cases as report_cases, render
from .build import BUILD, build, scale_binary
from .host import cpu_model, git_state, lscpu_fields
from .proc import logger, run_logged, version
from .stats import write_json

PARTS = ["run", "latency", "small", "fsops", "s3", "scale", "lazy-mount"]
PEERS = "pll-never,bindfs,rclone"
log = logger("report")


def machine():
    info = {"date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), "kernel": platform.release(), "nproc": os.cpu_count()}
    model = cpu_model()
    if model:
        info["cpu_model"] = model
    info.update(lscpu_fields(("Core(s) per socket", "Thread(s) per core", "Socket(s)",
                              "Hypervisor vendor", "Virtualization type")))
    with open("/proc/meminfo") as f:
        kb = int(f.readline().split()[1])
    info["ram_gib"] = round(kb / (1 << 20), 1)
    info["libfuse"] = subprocess.run(["pkg-config", "--modversion", "fuse3"],
                                     capture_output=True, text=True).stdout.strip()
    for tool, argv in (("bindfs", ["bindfs", "--version"]), ("rclone", ["rclone", "version"]),
                       ("s3fs", ["s3fs", "--version"])):
        info[tool] = version(argv, missing="not installed")
    info["loadavg_start"] = os.getloadavg()
    return info


def part_argvs(a, freshfs, raw):
    py = "/usr/bin/python3"  # Debian's: boto3 and matplotlib live there, not in a pyenv
    q = ["--quick"] if a.quick else []
    bench = lambda n: os.path.join(BENCH, n)  # noqa: E731
    fb = ["--freshfs-bin", freshfs]
    return {
        "run": [py, bench("run"), *q, *(["--runs", "3"] if a.quick else []), "--peers", PEERS,
                *fb, "--json-out", os.path.join(raw, "run.json")],
        "latency": [py, bench("freshness"), *q, "--only", "latency", *fb,
                    "--json-out", os.path.join(raw, "latency.json")],
        "small": [py, bench("freshness"), *q, "--only", "small", "--peers", PEERS, *fb,
                  "--json-out", os.path.join(raw, "small.json")],
        "fsops": [py, bench("fsops"), *q, *fb, "--json-out", os.path.join(raw, "fsops.json")],
        "s3": [py, bench("s3"), *q, *fb, "--json-out", os.path.join(raw, "s3.json")],
        "lazy-mount": [py, bench("lazy-mount")],
    }


def run_parts(a, out):
    raw, logs = os.path.join(out, "raw"), os.path.join(out, "logs")
    os.makedirs(raw)
    os.makedirs(logs)
    freshfs_bin, _, _ = build(a.freshfs_bin)
    priv = tempfile.mkdtemp(prefix="freshfs-report.", dir=os.environ.get("BENCH_DIR", "/tmp"))
    freshfs = os.path.join(priv, "freshfs-mount")  # one binary for every part
    shutil.copy2(freshfs_bin, freshfs)
    version = subprocess.run([freshfs, "--version"], capture_output=True,
                             text=True).stdout.strip()
    parts = {}
    try:
        argvs = part_argvs(a, freshfs, raw)
        for name in a.parts:
            t0 = time.time()
            rec = {"started_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds")}
            parts[name] = rec
            logpath = os.path.join(logs, f"{name}.log")
            if name == "scale":
                binary, why = scale_binary(BUILD)
                if not binary:
                    rec.update(skipped=why)
                    log(f"scale: SKIPPED: {why}")
                    continue
                argvs["scale"] = [binary]
            if name == "lazy-mount" and a.quick:
                rec.update(skipped="full runs only (minutes of setup at 1,000,000 objects)")
                continue
            log(f"part {name}: {' '.join(argvs[name])}")
            rec["argv"] = argvs[name]
            try:
                rc, secs, tail = run_logged(argvs[name], logpath, timeout=a.part_timeout)
            except subprocess.TimeoutExpired:
                rc, secs, tail = "timeout", round(time.time() - t0, 1), []
            rec.update(rc=rc, seconds=secs, log=os.path.relpath(logpath, out))
            if rc != 0:
                rec["log_tail"] = tail[-15:]
                log(f"part {name}: FAILED (exit {rc}); the other parts go on")
            jpath = os.path.join(raw, f"{name}.json")
            if name == "scale":
                lines = []
                with open(logpath) as f:
                    for line in f:
                        if line.lstrip().startswith("{"):
                            try:
                                lines.append(json.loads(line))
                            except ValueError:
                                pass
                with open(jpath, "w") as f:
                    json.dump(lines, f, indent=2)
            if name == "lazy-mount":
                found = [l.split("raw results:", 1)[1].strip() for l in tail
                         if "raw results:" in l]
                if found and os.path.exists(found[-1]):
                    shutil.copy2(found[-1], jpath)
            if os.path.exists(jpath):
                rec["raw"] = os.path.relpath(jpath, out)
            log(f"part {name}: exit {rc} after {secs} s")
    finally:
        shutil.rmtree(priv, ignore_errors=True)
    return parts, version


def main():
    ap = argparse.ArgumentParser(prog="bench/report", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="small sizes and few rounds in every part (~10 minutes)")
    ap.add_argument("--only", help="comma-separated parts: " + ",".join(PARTS))
    ap.add_argument("--skip", default="", help="comma-separated parts to leave out")
    ap.add_argument("--no-docs", action="store_true",
                    help="do not touch docs/benchmarks.md and docs/benchmarks/")
    ap.add_argument("--from", dest="from_dir",
                    help="re-render a finished run's directory (no benchmarks run)")
    ap.add_argument("--freshfs-bin", help="use this freshfs-mount instead of building one")
    ap.add_argument("--part-timeout", type=float, default=3600,
                    help="seconds after which a part is stopped (default 3600)")
    a = ap.parse_args()

    if a.from_dir:
        out = os.path.realpath(a.from_dir)
        with open(os.path.join(out, "results.json")) as f:
            meta = json.load(f)["meta"]
    else:
        if os.geteuid() != 0:
            sys.exit("bench/report must run as root (FUSE mounts, drop_caches)")
        a.parts = a.only.split(",") if a.only else list(PARTS)
        skip = [p for p in a.skip.split(",") if p]
        if set(a.parts + skip) - set(PARTS):
            ap.error(f"unknown part; known: {','.join(PARTS)}")
        a.parts = [p for p in a.parts if p not in skip]
        subprocess.run([os.path.join(ROOT, "scripts", "deps.sh"), "python3-matplotlib",
                        "bindfs", "rclone", "s3fs"], check=True)
        ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out = os.path.join(RESULTS, ts)
        os.makedirs(out)
        command = "bench/report " + " ".join(sys.argv[1:])
        log(f"results into {os.path.relpath(out, ROOT)}; parts: {', '.join(a.parts)}")
        t0 = time.time()
        m = machine()
        parts, version = run_parts(a, out)
        m["loadavg_end"] = os.getloadavg()
        meta = {"timestamp": ts, "command": command.strip(), "quick": a.quick,
                "freshfs_source": git_state(), "freshfs_version": version, "machine": m,
                "parts": parts, "elapsed_seconds": round(time.time() - t0, 1)}

    raw = {}
    for name, rec in meta["parts"].items():
        if rec.get("raw"):
            with open(os.path.join(out, rec["raw"])) as f:
                raw[name] = json.load(f)
    cases, extra = report_cases.build(raw)
    results = {"meta": meta, "contenders": report_cases.CONTENDERS, "cases": cases, **extra}
    write_json(os.path.join(out, "results.json"), results, indent=1)
    report_cases.write_csv(cases, out)
    plots = render.plots(results, out)
    log(f"wrote {os.path.relpath(out, ROOT)}/results.json, samples.csv, summary.csv, "
        + ", ".join(plots))
    print(render.summary_text(results))
    if not a.no_docs:
        docs = os.path.join(ROOT, "docs", "benchmarks")
        os.makedirs(docs, exist_ok=True)
        for p in plots:
            shutil.copy2(os.path.join(out, p), os.path.join(docs, p))
        render.write_doc(results, os.path.join(ROOT, "docs", "benchmarks.md"),
                         os.path.relpath(out, ROOT), plots)
        log("updated docs/benchmarks.md and docs/benchmarks/")
    failed = [n for n, r in meta["parts"].items() if r.get("rc") not in (0, None)]
    if failed:
        log(f"parts that failed: {', '.join(failed)} (see {os.path.relpath(out, ROOT)}/logs/)")
    return 1 if failed else 0
