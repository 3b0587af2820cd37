"""freshfs benchmark: cached read throughput and cached stat rate.

Contenders, measured side by side in one run on the same source directory:
  freshfs         build-bench/cmd/freshfs-mount/freshfs-mount -f --entry-timeout 1h
                  --attr-timeout 1h --kernel-cache SRC MNT
  passthrough_ll  libfuse's example (from the libfuse3-dev package) -o cache=always
  native          the source directory itself (reference)
With --peers (used by bench/report), also:
  passthrough_ll_never  passthrough_ll -o cache=never (FUSE's floor: every call reaches it)
  bindfs                bindfs -f SRC MNT (Debian bindfs, defaults)
  rclone                env -u AWS_CA_BUNDLE rclone mount SRC MNT (Debian rclone, defaults)
These do not keep the kernel cache across opens or for long: for them a sample is one
pass, and the cache-loss checks (residency, daemon CPU) do not apply.

Metrics (the same helper, bench/fsbench.c, for every contender; timing inside it):
  read   sequential read(2) of one big file with 1 MiB buffers, after a warm-up
         read has put it in the page cache (residency verified with mincore).
  stat   fstatat(2) of every file of NDIRS x NFILES, after a warm-up pass.

Every metric is measured RUNS times, contenders interleaved (order rotated per
round); the table gives median/min/max and the ratios of medians, followed by the
medians of per-round ratios (the verdict on the 0.95 target uses those). See
docs/benchmarks.md for the method and its caveats.

Usage: bench/run [--quick] [--runs N] [--debug] [--write-docs] [--freshfs-bin PATH]
                 [--peers pll-never,bindfs,rclone] [--json-out PATH]
       bench/run freshness [ARGS...]   same as bench/freshness ARGS... (change visibility
                                       latency, small-file re-reads; see that script)
       bench/run s3 [ARGS...]          same as bench/s3 ARGS... (freshfs vs s3fs vs rclone
                                       mount on s3rver; see that script)
       bench/run fsops [ARGS...]       same as bench/fsops ARGS... (listing, sequential
                                       write, small-file creates on a local directory)
       bench/run report [ARGS...]      same as bench/report ARGS... (every benchmark in
                                       one run: JSON/CSV, plots, docs/benchmarks.md)
       bench/run scale [ARGS...]       same as bench/scale/run ARGS... (the watcher at
                                       1,000,000 entries, in process; docs/scale.md)
Env:   BENCH_DIR (parent of the temporary data dir, default /tmp),
       BENCH_BUILD_DIR (default <repo>/build-bench),
       FRESHFS_EXTRA_ARGS (extra freshfs-mount arguments, split on spaces).
"""
import argparse
import datetime
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time

from . import BENCH, DOC, RESULTS, ROOT
from .build import build, helper_run
from .docs import replace_marked
from .host import machine_info, vm_counters
from .mount import Daemon, remove_unless_mounted, stop_all
from .proc import logger, raise_nofile
from .stats import summarize, write_json

TARGET = 0.95
CONTROL = "passthrough_ll_2"  # --control: a second, identical passthrough_ll
# --peers: contenders that do not keep pages across opens / cache attributes for long
PEERS = {"pll-never": "passthrough_ll_never", "bindfs": "bindfs", "rclone": "rclone"}
UNCACHED = set(PEERS.values())
DOC_BEGIN = "<!-- bench/run:begin -->"
DOC_END = "<!-- bench/run:end -->"
log = logger("bench")


def count_opcodes(path, start, end, counts):
    """Add the opcodes of a libfuse debug log's bytes [start, end) to counts."""
    with open(path, "rb") as f:
        f.seek(start)
        for m in re.finditer(rb"opcode: (\w+)", f.read(end - start)):
            k = m.group(1).decode()
            counts[k] = counts.get(k, 0) + 1



def fmt_table(res, names):
    lines = []
    units = {"read": ("GiB/s", 1), "stat": ("k stat/s", 1e-3)}
    lines.append("| metric | contender | median | min | max | freshfs/this |")
    lines.append("|---|---|---:|---:|---:|---:|")
    for metric in ("read", "stat"):
        unit, scale = units[metric]
        fmed = res[metric]["freshfs"]["median"]
        for n in names:
            s = res[metric][n]
            ratio = "" if n == "freshfs" else f"{fmed / s['median']:.3f}"
            lines.append(f"| {metric} ({unit}) | {n} | {s['median'] * scale:.2f} | "
                         f"{s['min'] * scale:.2f} | {s['max'] * scale:.2f} | {ratio} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- main

def main():
    if sys.argv[1:2] == ["scale"]:  # the watcher at 1,000,000 entries: bench/scale/run
        os.execv(os.path.join(BENCH, "scale", "run"), ["bench/scale/run", *sys.argv[2:]])
    if sys.argv[1:2] and sys.argv[1] in ("freshness", "s3", "fsops", "report"):
        script = os.path.join(BENCH, sys.argv[1])
        os.execv(script, [script, *sys.argv[2:]])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="256 MiB file, 20,000 files, 5 runs (< 2 minutes)")
    ap.add_argument("--runs", type=int, help="timed runs per metric and contender")
    ap.add_argument("--size-mib", type=int, help="size of the big file")
    ap.add_argument("--dirs", type=int, help="directories of small files")
    ap.add_argument("--files-per-dir", type=int, help="files per directory")
    ap.add_argument("--freshfs-bin", help="use this freshfs-mount instead of building one")
    ap.add_argument("--debug", action="store_true",
                    help="run both daemons with FUSE debug logs and count the requests "
                         "that reach them during the timed phase (slows warm-up)")
    ap.add_argument("--control", action="store_true",
                    help=f"add a second passthrough_ll ({CONTROL}) as an A/A control: its "
                         "ratio to passthrough_ll shows the noise floor of the run")
    ap.add_argument("--peers", default="",
                    help="comma-separated extra contenders: " + ",".join(PEERS)
                         + " (uncached FUSE peers: one pass per sample, no cache-loss checks)")
    ap.add_argument("--json-out", help="write the raw results here (default "
                                       "bench/results/<timestamp>.json)")
    ap.add_argument("--write-docs", action="store_true",
                    help=f"replace the generated section of {os.path.relpath(DOC, ROOT)}")
    a = ap.parse_args()
    peers = [p for p in a.peers.split(",") if p]
    if set(peers) - set(PEERS):
        ap.error(f"--peers: unknown contender in {a.peers} (known: {', '.join(PEERS)})")
    runs = a.runs or (5 if a.quick else 7)
    size_mib = a.size_mib or (256 if a.quick else 1024)
    ndirs = a.dirs or (20 if a.quick else 100)
    nfiles = a.files_per_dir or 1000
    command = "bench/run " + " ".join(sys.argv[1:])

    freshfs_bin, pll_bin, helper = build(a.freshfs_bin)
    # passthrough_ll holds one O_PATH fd per cached inode. If RLIMIT_NOFILE cannot hold
    # all files (no CAP_SYS_RESOURCE to raise the hard limit), the file tree is split
    # into shards and passthrough_ll serves each shard from its own instance. Every
    # contender stats the same dNNN/fNNNNN paths relative to a shard directory fd,
    # so the timed path walk is identical (2 components, no mount crossing).
    nofile = raise_nofile(ndirs * nfiles + ndirs + 1024)
    per = max(1, min(ndirs, (nofile - 1024) // (nfiles + 1)))
    nshards = (ndirs + per - 1) // per
    # One timed sample = several passes (~4 GiB read, ~500k stats), so that a sample
    # lasts a few hundred ms and scheduler noise averages out.
    passes = {"read": max(1, 4096 // size_mib), "stat": max(1, 500_000 // (ndirs * nfiles))}

    tmp = tempfile.mkdtemp(prefix="freshfs-bench.", dir=os.environ.get("BENCH_DIR", "/tmp"))
    daemons = []

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    try:
        t_start = time.time()
        src = os.path.join(tmp, "src")
        shards = [f"files/s{k}" for k in range(nshards)]
        for s in shards:
            os.makedirs(os.path.join(src, s))
        log(f"data in {tmp}: {size_mib} MiB file, {ndirs} x {nfiles} files"
            + (f" in {nshards} shards (RLIMIT_NOFILE {nofile})" if nshards > 1 else ""))
        with open(os.path.join(src, "big.bin"), "wb") as f:
            block = os.urandom(64 << 20)
            for i in range(size_mib // 64):
                f.write(block[i % 7:] + block[:i % 7])  # distinct 64 MiB blocks
            f.write(block[: (size_mib % 64) << 20])
        helper_run(helper, "mkdata", ndirs, nfiles, per, *[os.path.join(src, s) for s in shards])

        fargs = ["-f", "--entry-timeout", "1h", "--attr-timeout", "1h", "--kernel-cache"]
        fargs += os.environ.get("FRESHFS_EXTRA_ARGS", "").split()
        pargs = ["-f", "-o", "cache=always"]
        if a.debug:
            fargs.append("--debug")
            pargs.append("-d")

        def pll(name, source, mnt):
            return Daemon(name, [pll_bin, *pargs, "-o", f"source={source}", mnt], mnt,
                          os.path.join(tmp, f"{name}.log"))

        def pll_contender(name):
            m = os.path.join(mnt, name)
            c = {"daemons": [pll(name, src, m)], "big": os.path.join(m, "big.bin"),
                 "shards": [os.path.join(m, s) for s in shards]}
            if nshards > 1:
                c["shards"] = []
                for k, s in enumerate(shards):
                    sm = os.path.join(mnt, f"{name}-s{k}")
                    c["daemons"].append(pll(f"{name}-s{k}", os.path.join(src, s), sm))
                    c["shards"].append(sm)
            return c
        mnt = os.path.join(tmp, "mnt")
        fmnt = os.path.join(mnt, "freshfs")
        contenders = {
            "freshfs": {"daemons": [Daemon("freshfs", [freshfs_bin, *fargs, src, fmnt], fmnt,
                                           os.path.join(tmp, "freshfs.log"))],
                        "big": os.path.join(fmnt, "big.bin"),
                        "shards": [os.path.join(fmnt, s) for s in shards]},
            "passthrough_ll": pll_contender("passthrough_ll"),
            "native": {"daemons": [], "big": os.path.join(src, "big.bin"),
                       "shards": [os.path.join(src, s) for s in shards]},
        }
        if a.control:
            contenders[CONTROL] = pll_contender(CONTROL)
        if "pll-never" in peers:
            pll_never = [pll_bin, "-f", "-o", "cache=never"] + (["-d"] if a.debug else [])
            c = pll_contender(PEERS["pll-never"])
            for d in c["daemons"]:
                d.argv = [*pll_never, *d.argv[len(pargs) + 1:]]
            contenders[PEERS["pll-never"]] = c
        for p, argv in (("bindfs", ["bindfs", "-f"]),
                        ("rclone", ["env", "-u", "AWS_CA_BUNDLE", "rclone", "mount"])):
            if p in peers:
                m = os.path.join(mnt, p)
                contenders[p] = {"daemons": [Daemon(p, [*argv, src, m], m,
                                                    os.path.join(tmp, f"{p}.log"))],
                                 "big": os.path.join(m, "big.bin"),
                                 "shards": [os.path.join(m, s) for s in shards]}
        for c in contenders.values():
            for d in c["daemons"]:
                daemons.append(d)
                d.start()
        names = list(contenders)

        def cpu(n):
            return sum(d.cpu() for d in contenders[n]["daemons"])

        def measure(n, metric, npass=1):
            c = contenders[n]
            if n in UNCACHED:
                npass = 1  # every call reaches the daemon: one pass is long enough
            if metric == "read":
                secs, nbytes = helper_run(helper, f"-n{npass}", "read", c["big"])
                return int(nbytes) / float(secs) / (1 << 30)
            secs, cnt = helper_run(helper, f"-n{npass}", "stat", ndirs, nfiles, per,
                                   *c["shards"])
            return int(cnt) / float(secs)

        # Page-cache copies of the big file: where a copy lands in (guest-)physical
        # memory moves its read speed by up to 2x on a VM, and the copy populated
        # first is systematically slower. So the mounts' copies are dropped and
        # re-populated in lockstep (1 MiB of each in turn) before every read round.
        resident = {n: {"after_warmup": 1.0} for n in names}

        def is_resident(n):
            return float(helper_run(helper, "resident", contenders[n]["big"])[0])

        def rewarm(order):
            # Page-cache copies of the big file: where a copy lands in (guest-)physical
            # memory moves its read speed by up to 2x on a VM, and a copy populated
            # before another is systematically slower. So the mounts' copies are
            # dropped and re-populated in lockstep (1 MiB of each in turn, order
            # rotated) before every read round.
            fuse = [n for n in order if contenders[n]["daemons"] and n not in UNCACHED]
            for n in fuse:
                helper_run(helper, "evict", contenders[n]["big"])
            helper_run(helper, "warm", *[contenders[n]["big"] for n in fuse])
            for n in order:
                measure(n, "read")
                if n not in UNCACHED:  # mmap+mincore would open (and drop) the file
                    resident[n]["after_warmup"] = min(resident[n]["after_warmup"],
                                                      is_resident(n))

        # Timed phase: contenders interleaved, order rotated each round.
        # Shared machines drop caches (other tests write /proc/sys/vm/drop_caches;
        # dropping dentries and inodes also drops a FUSE inode's pages). A sample
        # counts only if /proc/vmstat shows no cache drop and no reclaim since the
        # caches were last warmed, the big file is still fully resident after a read
        # sample, and the daemons did not do request-serving work (>= 0.5 s CPU);
        # otherwise every contender is re-warmed and the sample retaken.
        daemon_cpu_names = [n for n in names if contenders[n]["daemons"]]
        res = {"read": {n: [] for n in names}, "stat": {n: [] for n in names}}
        daemon_cpu = {m: {n: 0.0 for n in daemon_cpu_names} for m in res}
        requests = {m: {n: {} for n in daemon_cpu_names} for m in res}
        discarded = {m: {n: 0 for n in names} for m in res}
        sample_cpu = {m: {n: [] for n in daemon_cpu_names} for m in res}
        t_timed = time.time()
        cpu_timed = {n: cpu(n) for n in daemon_cpu_names}
        for metric in ("read", "stat"):
            warmed = None
            for i in range(runs):
                order = names[i % len(names):] + names[:i % len(names)]
                if metric == "read":
                    rewarm(order)
                    warmed = vm_counters()
                elif warmed is None:
                    for n in names:
                        log(f"warm up {n}")
                        measure(n, "stat")
                    warmed = vm_counters()
                for n in order:
                    ds = contenders[n]["daemons"]
                    for attempt in range(5):
                        if a.debug and ds:
                            time.sleep(0.05)  # earlier requests finish logging
                        offs = [os.path.getsize(d.logpath) for d in ds]
                        c0 = cpu(n)
                        v = measure(n, metric, passes[metric])
                        dcpu = cpu(n) - c0 if ds else 0.0
                        if a.debug and ds:
                            time.sleep(0.05)  # let the daemons finish logging
                        ends = [os.path.getsize(d.logpath) for d in ds]
                        why = []
                        now = vm_counters()
                        if now != warmed:
                            why.append("vmstat " + ", ".join(
                                f"{k} +{now[k] - warmed[k]}" for k in now if now[k] != warmed[k]))
                        if metric == "read" and n not in UNCACHED:
                            frac = is_resident(n)
                            if frac not in (-1.0, 1.0):
                                why.append(f"{frac:.6f} of the file resident after it")
                        if dcpu >= 0.5 and n not in UNCACHED:
                            why.append(f"daemon used {dcpu * 1000:.0f} ms CPU")
                        if not why or attempt == 4:
                            break
                        discarded[metric][n] += 1
                        log(f"{metric} {n}: cache lost ({v:.3g}; {'; '.join(why)}); "
                            "re-warming all, retaking")
                        if metric == "read":
                            rewarm(order)
                        else:
                            for m in names:
                                measure(m, "stat")
                        warmed = vm_counters()
                    res[metric][n].append(v)
                    if ds:
                        daemon_cpu[metric][n] += dcpu
                        sample_cpu[metric][n].append(round(dcpu, 3))
                        if a.debug:
                            for d, off, end in zip(ds, offs, ends):
                                count_opcodes(d.logpath, off, end, requests[metric][n])
                log(f"{metric} round {i + 1}/{runs}: " + ", ".join(
                    f"{n}={res[metric][n][-1]:.3g}" for n in names))
            if metric == "read":
                for n in names:
                    resident[n]["after_read_rounds"] = (None if n in UNCACHED
                                                        else is_resident(n))
        if not a.debug:
            requests = None
        # Background work (e.g. periodic polls of the source) over the whole timed
        # phase, in CPU seconds per wall second.
        t_timed = time.time() - t_timed
        background = {n: round((cpu(n) - cpu_timed[n]) / t_timed, 4) for n in daemon_cpu_names}
        mount_opts = {d.name: d.options for d in daemons}
        argvs = {n: [d.argv for d in c["daemons"]] for n, c in contenders.items()}
    finally:
        stop_all(daemons)
        remove_unless_mounted(tmp)

    stats = {m: {n: summarize(v) for n, v in res[m].items()} for m in res}
    # Ratios of medians; and, less sensitive to load changing between rounds, the
    # median of per-round ratios (samples of one round are taken back to back).
    ratios = {m: {"freshfs/passthrough_ll": stats[m]["freshfs"]["median"]
                  / stats[m]["passthrough_ll"]["median"],
                  "freshfs/native": stats[m]["freshfs"]["median"] / stats[m]["native"]["median"],
                  "paired freshfs/passthrough_ll": statistics.median(
                      f / p for f, p in zip(res[m]["freshfs"], res[m]["passthrough_ll"])),
                  "paired freshfs/native": statistics.median(
                      f / p for f, p in zip(res[m]["freshfs"], res[m]["native"]))}
              for m in stats}
    if a.control:
        for m in stats:
            ratios[m]["control: passthrough_ll_2/passthrough_ll"] = (
                stats[m][CONTROL]["median"] / stats[m]["passthrough_ll"]["median"])
            ratios[m]["paired control: passthrough_ll_2/passthrough_ll"] = statistics.median(
                c / p for c, p in zip(res[m][CONTROL], res[m]["passthrough_ll"]))
    # Verdict on the paired ratios: on a shared machine the load changes between
    # rounds far more than between the back-to-back samples of one round.
    ok = all(r["paired freshfs/passthrough_ll"] >= TARGET for r in ratios.values())
    ts = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    result = {
        "timestamp": ts, "command": command, "machine": machine_info(),
        "peers": [PEERS[p] for p in peers], "uncached_one_pass_per_sample": sorted(UNCACHED),
        "params": {"runs": runs, "passes_per_sample": passes, "size_mib": size_mib,
                   "dirs": ndirs, "files_per_dir": nfiles,
                   "rlimit_nofile": nofile},
        "units": {"read": "GiB/s", "stat": "stat/s"},
        "contenders": argvs, "passthrough_ll_shards": nshards,
        "mount_options": mount_opts, "results": stats, "ratios": ratios,
        "page_cache_resident_fraction": resident,
        "daemon_cpu_seconds_during_timed_runs": daemon_cpu,
        "discarded_samples_cache_lost": discarded,
        "daemon_cpu_seconds_per_sample": sample_cpu,
        "daemon_cpu_share_during_timed_phase": background,
        "fuse_requests_during_timed_runs": requests,
        "target": {"freshfs/passthrough_ll": TARGET, "met": ok},
        "elapsed_seconds": round(time.time() - t_start, 1),
    }
    jpath = a.json_out or os.path.join(RESULTS, f"{ts}.json")
    write_json(jpath, result)

    table = fmt_table(stats, names)
    rl = "\n".join(f"- {m}: freshfs/passthrough_ll = {r['freshfs/passthrough_ll']:.3f} "
                   f"(median of per-round ratios {r['paired freshfs/passthrough_ll']:.3f}), "
                   f"freshfs/native = {r['freshfs/native']:.3f} "
                   f"({r['paired freshfs/native']:.3f})"
                   + (f"; A/A control {CONTROL}/passthrough_ll = "
                      f"{r['control: passthrough_ll_2/passthrough_ll']:.3f} "
                      f"({r['paired control: passthrough_ll_2/passthrough_ll']:.3f})"
                      if a.control else "")
                   for m, r in ratios.items())
    cpu_line = ", ".join(f"{m}: " + ", ".join(f"{n} {v * 1000:.0f} ms" for n, v in d.items())
                    for m, d in daemon_cpu.items())
    res_line = ", ".join(f"{n} {v['after_warmup']:.2f}/{v['after_read_rounds']:.2f}"
                         for n, v in resident.items() if n not in UNCACHED)
    print(f"\n{size_mib} MiB file, {ndirs}x{nfiles} files, {runs} runs each "
          f"(sample = {passes['read']} reads / {passes['stat']} stat passes), "
          f"{result['elapsed_seconds']} s\n")
    print(table)
    print(f"\n{rl}\n- target freshfs/passthrough_ll >= {TARGET} on both (per-round ratios): "
          f"{'MET' if ok else 'MISSED'}")
    print(f"- daemon CPU during timed runs: {cpu_line}")
    print(f"- daemon CPU over the whole timed phase (CPU s per s): {json.dumps(background)}")
    print(f"- samples retaken because the cache was lost: {json.dumps(discarded)}")
    print(f"- big file resident in page cache (min after warm-ups/after read rounds): {res_line}")
    if requests is not None:
        print(f"- FUSE requests during timed runs: {json.dumps(requests)}")
    print(f"- raw results: {os.path.relpath(jpath, ROOT)}")

    if a.write_docs:
        m = result["machine"]
        section = "\n".join([
            DOC_BEGIN,
            f"### Latest run ({ts})", "",
            f"Command: `{command.strip()}` ({size_mib} MiB file, {ndirs} x {nfiles} files, "
            f"{runs} runs per metric and contender, medians).", "",
            f"Machine: {m['nproc']} CPUs (`nproc`), kernel `{m['kernel']}`, {m['mem_total']} RAM, "
            f"libfuse {m['libfuse']}.", "", "```", *m["lscpu_head"], "```", "",
            table, "", rl,
            f"- target freshfs/passthrough_ll >= {TARGET} on both (per-round ratios): "
            f"{'MET' if ok else 'MISSED'}",
            f"- daemon CPU during timed runs: {cpu_line}",
            f"- daemon CPU over the whole timed phase (CPU s per s): {json.dumps(background)}",
            f"- samples retaken because the cache was lost: {json.dumps(discarded)}",
            f"- big file resident in page cache (min after warm-ups/after read rounds): {res_line}",
            DOC_END])
        replace_marked(DOC, DOC_BEGIN, DOC_END, section)
        log(f"updated {os.path.relpath(DOC, ROOT)}")
    return 0
