"""freshfs mounts any bucket in constant time (issue 20): s3rver buckets of 1,000,
100,000 and 1,000,000 objects, each mounted in turn, measured in the same run.

Per bucket (100 directories of 10 subdirectories of N/1,000 objects each, plus
deep/l1/l2/l3/l4/l5 with 10; one object directly in each directory above the leaves, as
s3rver leaves a prefix out of a delimiter listing when all its objects lie two or more
levels below it, and walks every file one level below the prefix for such a listing):
  1. The objects are written straight into s3rver's data directory (its on-disk layout:
     KEY._S3rver_object, .md5, ._S3rver_metadata.json), far faster than N PUTs, as
     hard links of one object's three files (a million objects cost
     three million directory entries and no data).
  2. freshfs-mount s3://BUCKET (--poll-interval POLL, --full-sync-interval 0: no
     background scan, so nothing but the mount itself runs). Reported: seconds until
     the mount point appears, S3 requests made by then, RSS after the mount.
  3. `ls -l` of the root, then of deep/l1/l2/l3/l4/l5 (the lookups down to it
     included): seconds and S3 requests (LIST, HEAD) each.
  4. `ls -l` of the leaf directories until the kernel holds HOLD entries (10,000);
     after the next cached sync, RSS again: bytes per entry held (RSS growth since
     the mount / freshfs_kernel_inodes).
Prints a table and writes bench/results/lazy-mount-<UTC>.json.

Usage: bench/lazy-mount [--sizes 1000,100000,1000000] [--poll SECONDS] [--hold N]
Env:   BENCH_DIR (parent of the temporary data, default /tmp),
       BENCH_BUILD_DIR (default <repo>/build-bench; freshfs-mount is built there).
"""
import argparse
import datetime
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

from . import RESULTS, metrics, server
from .build import freshfs_mount
from .mount import Daemon, Guard
from .proc import logger, rss_bytes
from .server import S3rver

BUCKET = "lazy"
DIRS = 100
SUBDIRS = 10
DEEP = "deep/l1/l2/l3/l4/l5"
OBJECT_FILES = ("._S3rver_object", "._S3rver_object.md5", "._S3rver_metadata.json")
log = logger("lazy-mount")


def populate(data, objects):
    """N/100 objects in each of 100 directories and 10 in DEEP, all hard links of one
    object's files (s3rver serves each as an object of its own)."""
    bucket = os.path.join(data, BUCKET)
    body = b"lazy object\n"

    def new_proto(n):  # ext4 allows 65,000 links to a file: a new one every 60,000
        proto = os.path.join(data, f"proto{n}")
        for ending, content in zip(OBJECT_FILES, (body, hashlib.md5(body).hexdigest().encode(),
                                                  b'{"content-type": "binary/octet-stream"}')):
            with open(proto + ending, "wb") as f:
                f.write(content)
        return proto
    # One object on every level above DEEP too: s3rver leaves a prefix out of a
    # delimiter listing when all its objects lie two or more levels below it.
    levels = DEEP.split("/")
    keys = [f"{'/'.join(levels[:n])}/x" for n in range(1, len(levels))]
    keys += [f"{DEEP}/f{i:02d}" for i in range(10)]
    per_leaf = objects // (DIRS * SUBDIRS)
    for d in range(DIRS):
        keys.append(f"d{d:03d}/x")
        keys += [f"{leaf(d, s)}/f{i:06d}" for s in range(SUBDIRS) for i in range(per_leaf)]
    made = set()
    for n, key in enumerate(keys):
        if n % 60_000 == 0:
            proto = new_proto(n)
        parent = os.path.dirname(key)
        if parent not in made:
            os.makedirs(os.path.join(bucket, parent), exist_ok=True)
            made.add(parent)
        for ending in OBJECT_FILES:
            os.link(proto + ending, os.path.join(bucket, key) + ending)
    return len(keys)


def leaf(d, s):
    return f"d{d:03d}/s{s:02d}"


class Metrics:
    """A freshfs-mount's metrics endpoint, found in its log."""

    def __init__(self, mount):
        self.url = metrics.wait_url(mount.log_text)

    def total(self, name, **want):
        return metrics.total(metrics.fetch(self.url, timeout=30), name, **want)

    def requests(self):
        return {op: self.total("freshfs_s3_requests_total", op=op) for op in ("list", "head")}


def ls_l(path):
    names = os.listdir(path)
    for n in names:
        os.lstat(os.path.join(path, n))
    return len(names)


def timed(endpoint, fn):
    before = endpoint.requests()
    t = time.perf_counter()
    n = fn()
    seconds = time.perf_counter() - t
    after = endpoint.requests()
    return {"seconds": seconds, "names": n,
            "list_requests": after["list"] - before["list"],
            "head_requests": after["head"] - before["head"]}


def run_size(binary, work, objects, poll, hold):
    data = os.path.join(work, f"data-{objects}")
    os.makedirs(os.path.join(data, BUCKET))
    t = time.time()
    n = populate(data, objects)
    log(f"{n} objects linked into s3rver's data dir in {time.time() - t:.1f} s")
    s3 = S3rver(str(objects), data, os.path.join(work, f"s3rver-{objects}.log"), [BUCKET])
    m = None
    try:
        s3.start()
        mnt = os.path.join(work, f"mnt-{objects}")
        env = server.credentials_env()
        argv = [binary, "-f", f"s3://{BUCKET}", mnt, "--s3-endpoint", s3.url,
                "--s3-path-style", "--poll-interval", f"{poll}s", "--full-sync-interval", "0",
                "--metrics-address", "127.0.0.1:0", "--staging-dir",
                os.path.join(work, f"staging-{objects}")]
        m = Daemon(f"freshfs-{objects}", argv, mnt, os.path.join(work, f"freshfs-{objects}.log"),
                   env=env, poll=0.005)
        mount_seconds = m.start(timeout=600)
        endpoint = Metrics(m)
        entry = {"objects": n, "mount_seconds": mount_seconds,
                 "requests_at_mount": endpoint.requests(),
                 "rss_after_mount_bytes": rss_bytes(m.proc.pid)}
        with Guard(m, 900, "ls -l of the root"):
            entry["ls_root"] = timed(endpoint, lambda: ls_l(mnt))
        with Guard(m, 900, "ls -l of the deep directory"):
            entry["ls_deep"] = timed(endpoint, lambda: ls_l(os.path.join(mnt, DEEP)))
        held, n = 0, 0
        t = time.perf_counter()
        while held < hold and n < DIRS * SUBDIRS and objects:
            where = leaf(n // SUBDIRS, n % SUBDIRS)
            with Guard(m, 900, f"ls -l of {where}"):
                held += ls_l(os.path.join(mnt, where))
            n += 1
        entry["list_held_seconds"] = time.perf_counter() - t
        # One whole cached sync after the listings: the snapshot covers them then.
        syncs = endpoint.total("freshfs_syncs_total", kind="cached")
        deadline = time.time() + 3 * poll + 900
        while endpoint.total("freshfs_syncs_total", kind="cached") < syncs + 2 and time.time() < deadline:
            time.sleep(0.5)
        inodes = endpoint.total("freshfs_kernel_inodes")
        rss = rss_bytes(m.proc.pid)
        entry.update({"listed_entries": held, "kernel_inodes": inodes,
                      "watched_entries": endpoint.total("freshfs_watched_entries"),
                      "rss_after_listing_bytes": rss,
                      "bytes_per_entry_held": (rss - entry["rss_after_mount_bytes"]) / max(inodes, 1)})
        return entry
    finally:
        if m:
            m.stop()
        s3.stop()
        shutil.rmtree(data, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,100000,1000000")
    ap.add_argument("--poll", type=float, default=10.0)
    ap.add_argument("--hold", type=int, default=10_000)
    args = ap.parse_args()
    binary = freshfs_mount()
    work = tempfile.mkdtemp(prefix="freshfs-lazy-", dir=os.environ.get("BENCH_DIR", "/tmp"))
    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(sys.argv), "poll_seconds": args.poll, "sizes": []}
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            entry = run_size(binary, work, size, args.poll, args.hold)
            log(json.dumps(entry))
            result["sizes"].append(entry)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sizes = result["sizes"]
    result["mount_seconds_largest_over_smallest"] = (sizes[-1]["mount_seconds"] /
                                                     max(sizes[0]["mount_seconds"], 1e-9))
    print(f"{'objects':>10} {'mount s':>8} {'reqs':>5} {'RSS MiB':>8} "
          f"{'ls / s':>8} {'LIST':>5} {'HEAD':>5} {'ls deep s':>9} {'LIST':>5} {'HEAD':>5} "
          f"{'held':>6} {'B/held':>7}")
    for e in sizes:
        r, d = e["ls_root"], e["ls_deep"]
        print(f"{e['objects']:>10} {e['mount_seconds']:>8.3f} "
              f"{sum(e['requests_at_mount'].values()):>5.0f} "
              f"{e['rss_after_mount_bytes'] / 2**20:>8.1f} {r['seconds']:>8.2f} "
              f"{r['list_requests']:>5.0f} {r['head_requests']:>5.0f} {d['seconds']:>9.3f} "
              f"{d['list_requests']:>5.0f} {d['head_requests']:>5.0f} "
              f"{e['kernel_inodes']:>6.0f} {e['bytes_per_entry_held']:>7.0f}")
    print(f"mount time, largest / smallest bucket: "
          f"{result['mount_seconds_largest_over_smallest']:.2f}")
    out_dir = RESULTS
    os.makedirs(out_dir, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")
    path = os.path.join(out_dir, f"lazy-mount-{stamp}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(f"raw results: {path}")
    return 0
