"""freshfs S3 benchmark: freshfs vs s3fs vs rclone mount on the same s3rver, in one run.

Contenders (every one a fresh FUSE mount of a bucket served by s3rver 3.7.1):
  freshfs         AWS_ACCESS_KEY_ID=S3RVER ... freshfs-mount -f s3://BUCKET MNT
                  --s3-endpoint URL --s3-path-style --poll-interval 1s --staging-dir DIR
                  --metrics-address 127.0.0.1:0
  freshfs-events  the same with --poll-interval 1h --events-address 127.0.0.1:0 (latency
                  phase only; the bench POSTs the S3 event notification itself)
  s3fs            s3fs BUCKET MNT -f -o passwd_file=F,url=URL,use_path_request_style,
                  endpoint=us-east-1                           (Debian s3fs, defaults)
  rclone          env -u AWS_CA_BUNDLE rclone --config F mount REMOTE:BUCKET MNT
                  --cache-dir DIR                              (Debian rclone, defaults)
  rclone-full     the same with --vfs-cache-mode full
  raw GET         curl of the big object straight from s3rver (context for cold reads)
Every contender talks to its own s3rver process; all of them serve the same data
directory (one node process per contender, so one contender's request load does not
queue another's requests; their CPU time is reported as the server load each causes).

Phase "reads" (bucket `data`): per round, contenders in rotated order, one mounted at a
time, each on a fresh mount (and fresh cache dirs), after `echo 3 > drop_caches` and
re-reading the server's files (the server side is warm for every contender):
  cold     sequential read of the big object (--big-mib, default 256) with 1 MiB reads
  cached   the same object again at once (3 samples of >= 0.5 s of repeated reads; the
           round's value is their median), then an untimed md5 check through the mount
  small    1,000 objects of 4 KiB: open+read+close of all (first pass), 2 s pause, all
           again: the second pass is the "re-read" (content checked)
Phase "list" (bucket `list`, a directory of --list-files objects, default 10,000): per
round and contender: mount (timed), os.scandir + stat of every entry (first listing),
2 s pause, the same again (cached listing), unmount.
Phase "writes" (bucket `writes`, empty at every mount): per round and contender, a fresh
mount: sequential write of a new --big-mib object with 1 MiB write(2)s, timed until
close returns and until the server lists it at its full size (ListObjectsV2 through the
writer's s3rver, every 10 ms); then --create-files new 4 KiB files (open O_CREAT|O_EXCL,
write, close), timed the same two ways (the server listing them all); unmount; the
objects are deleted through the writer's s3rver.
Phase "latency" (bucket `lat`): all latency contenders mounted at once; CHANGES writes
by another writer (boto3 put_object through its own s3rver process), alternating a
same-size overwrite of a 4 KiB object every mount has just read and a new object whose
name every mount has just looked up; for freshfs-events the bench POSTs
{"Records":[{"eventName":"ObjectCreated:Put",...}]} right after the write, as a
MinIO/Ceph webhook would. Latency = write completed -> a poller process per mount
(this script, `_watch`) sees it (re-reads every --check-ms, default 2 ms; changes older
than 2 s every age/200); not seen within --cap seconds (default 30) = "never".

Usage: bench/s3 [--quick] [--rounds N] [--big-mib N] [--list-files N] [--changes N]
                [--cap S] [--only reads,list,writes,latency] [--populate direct|api]
                [--create-files N] [--freshfs-bin PATH] [--json-out PATH] [--write-docs]
                                                             (also: bench/run s3 ...)
Env:   BENCH_DIR (parent of the temporary dir, default /tmp), FRESHFS_EXTRA_ARGS.
"""
import argparse
import atexit
import datetime
import hashlib
import http.client
import json
import math
import os
import random
import re
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from . import BENCH, DOC, RESULTS, ROOT, changes, metrics, server
from .build import deps
from .docs import replace_heading
from .host import cpu_model, drop_caches, git_state, machine_info as host_machine_info, vm_counters
from .mount import Daemon, Guard, mounted, remove_unless_mounted
from .proc import high_priority, logger, version
from .server import KEY, S3rver
from .stats import latency_stats, write_json

SECTION = "## S3: freshfs vs s3fs vs rclone"
FILE_SIZE = 4096
POLL_INTERVAL = 1.0
BUCKETS = ("data", "list", "lat", "writes")
READ_NAMES = ["freshfs", "s3fs", "rclone", "rclone-full"]
LAT_NAMES = ["freshfs-poll", "freshfs-events", "s3fs", "rclone", "rclone-full"]
PEERS = ["s3fs", "rclone", "rclone-full"]
LAT_TARGETS = {"freshfs-poll": POLL_INTERVAL + 0.2, "freshfs-events": 0.1}
X_TARGET = 20.0    # cached re-read and small-file re-read: freshfs / s3fs
COLD_TARGET = 1.0  # cold read: freshfs / the fastest peer
SESSION_TIMEOUT = 600.0  # a hung mount is aborted (/sys/fs/fuse/connections/N/abort)
log = logger("s3")


# ---------------------------------------------------------------- poller (child)

def watch_main(root, cap, check):
    """Visibility poller, one process per mount. Reads "m ID REL TOKEN T0" (object must
    start with TOKEN) or "n ID REL T0" (name must exist) from stdin, T0 in
    CLOCK_MONOTONIC seconds; prints "r ID LATENCY" when seen or "r ID -1" after CAP s;
    at EOF with nothing pending "s CHECKS ERRORS_JSON"."""
    fd = sys.stdin.fileno()
    os.set_blocking(fd, False)
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    pending, buf, eof, checks, errors = {}, b"", False, 0, {}
    out = sys.stdout

    def seen(it):
        path = os.path.join(root, it["rel"])
        try:
            if it["token"] is None:
                os.stat(path)
                return True
            f = os.open(path, os.O_RDONLY)
            try:
                return os.read(f, len(it["token"])) == it["token"]
            finally:
                os.close(f)
        except OSError as e:
            if not (it["token"] is None and e.errno == 2):
                k = os.strerror(e.errno) if e.errno else str(e)
                errors[k] = errors.get(k, 0) + 1
            return False

    while True:
        if eof and not pending:
            break
        if not eof:
            for _ in sel.select(None if not pending else check):
                data = os.read(fd, 65536)
                if not data:
                    eof = True
                    sel.unregister(fd)
                    break
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    f = line.decode().split()
                    if f[0] == "m":
                        pending[f[1]] = {"rel": f[2], "token": f[3].encode(), "t0": float(f[4]),
                                         "next": 0.0}
                    else:
                        pending[f[1]] = {"rel": f[2], "token": None, "t0": float(f[3]),
                                         "next": 0.0}
        else:
            time.sleep(check)
        now = time.monotonic()
        for i, it in list(pending.items()):
            if now < it["next"]:
                continue
            ok = seen(it)
            checks += 1
            t = time.monotonic()
            lat = t - it["t0"]
            if ok:
                out.write(f"r {i} {lat:.6f}\n")
                del pending[i]
            elif lat > cap:
                out.write(f"r {i} -1\n")
                del pending[i]
            else:
                it["next"] = t + (0.0 if lat < 2.0 else lat / 200)
        out.flush()
    out.write(f"s {checks} {json.dumps(errors, separators=(',', ':'))}\n")
    out.flush()
    return 0


# ---------------------------------------------------------------- helpers

def read_all_files(path):
    """Reads every file under path (puts the server's files in the page cache)."""
    buf = bytearray(1 << 20)
    for d, _, files in os.walk(path):
        for n in files:
            fd = os.open(os.path.join(d, n), os.O_RDONLY)
            try:
                while os.readv(fd, [buf]):
                    pass
            finally:
                os.close(fd)


def small_content(seed, j):
    return random.Random(f"{seed}-small-{j}").randbytes(FILE_SIZE)


def idle_cpu_share(srv, seconds):
    """Sleeps `seconds`; the server's CPU seconds per second meanwhile (background
    polling of an idle mount)."""
    c0, t0 = srv.cpu(), time.perf_counter()
    time.sleep(seconds)
    return round((srv.cpu() - c0) / (time.perf_counter() - t0), 3)


def freshfs_metrics(logtext):
    """The non-zero freshfs_* samples (histogram buckets left out) of a daemon's
    endpoint."""
    found = metrics.scrape_log(
        logtext, lambda name: name.startswith("freshfs_") and not name.endswith("_bucket"))
    return {k: v for k, v in found.items() if k == "error" or v != 0} if found else found


def problems_in(logtext):
    """Warning/error lines of a freshfs log (at most 30)."""
    lines = [l for l in logtext.splitlines() if re.search(r"\b(warn|warning|error|critical)\b", l)]
    return lines[:30] + ([f"... {len(lines) - 30} more"] if len(lines) > 30 else [])


# ---------------------------------------------------------------- the bench

class Bench:
    def __init__(self, a):
        self.a = a
        self.tmp = os.path.realpath(tempfile.mkdtemp(  # mount points: no symlinks
            prefix="freshfs-s3bench.", dir=os.environ.get("BENCH_DIR", "/tmp")))
        self.data = os.path.join(self.tmp, "s3data")
        os.makedirs(self.data)
        self.servers, self.mounts, self.pollers = {}, [], {}
        self.errors = []
        self.seq = 0
        self.cleaned = False

    # -------------------------------------------------- setup

    def setup(self):
        a = self.a
        self.freshfs = os.path.join(self.tmp, "freshfs-mount")  # private copy
        shutil.copy2(a.freshfs_bin, self.freshfs)
        self.pwfile = os.path.join(self.tmp, "s3fs.passwd")
        with open(self.pwfile, "w") as f:
            f.write(f"{KEY}:{KEY}\n")
        os.chmod(self.pwfile, 0o600)
        for n in ("writer", "freshfs", "freshfs-events", "s3fs", "rclone", "rclone-full"):
            self.servers[n] = S3rver(n, self.data, os.path.join(self.tmp, f"s3rver-{n}.log"), BUCKETS)
        self.rclone_conf = os.path.join(self.tmp, "rclone.conf")
        with open(self.rclone_conf, "w") as f:
            for n in ("rclone", "rclone-full"):
                f.write(f"[{n}]\ntype = s3\nprovider = Other\nenv_auth = false\n"
                        f"access_key_id = {KEY}\nsecret_access_key = {KEY}\n"
                        f"endpoint = {self.servers[n].url}\nforce_path_style = true\n"
                        f"region = us-east-1\n\n")
        for s in self.servers.values():
            s.start()
        log(f"s3rver x{len(self.servers)} on one data dir {self.data}: " + ", ".join(
            f"{n} :{s.port}" for n, s in self.servers.items()))
        self.s3 = server.client(self.servers["writer"].port)
        t0 = time.time()
        if a.populate == "direct":
            self.populate_direct()
        else:
            self.populate_api()
        self.verify_population()
        self.populate_seconds = round(time.time() - t0, 1)
        log(f"data ready in {self.populate_seconds} s ({a.populate})")

    def objects(self):
        """(bucket, key, bytes) of every object but the big one."""
        a = self.a
        for j in range(a.small_files):
            yield "data", f"small/f{j:05d}", small_content(a.seed, j)
        for j in range(a.list_files):
            yield "list", f"d/f{j:05d}", f"list-{j:05d}".encode().ljust(64, b".")
        nmod = (a.changes + 1) // 2
        for j in range(nmod):
            yield "lat", f"mod/m{j:04d}", changes.content("old", j, FILE_SIZE)
        yield "lat", "new/keep", b"keep\n"

    def big_blocks(self):
        block = os.urandom(64 << 20)
        mib = self.a.big_mib
        for i in range(mib // 64):
            yield block[i % 7:] + block[:i % 7]
        if mib % 64:
            yield block[: (mib % 64) << 20]

    def populate_direct(self):
        """Writes the objects in s3rver 3.7.1's on-disk format (KEY._S3rver_object,
        .md5, _metadata.json) -- ~10x faster than 11,000 PUTs; checked by
        verify_population through the S3 API."""
        def put(bucket, key, body=None, blocks=None):
            p = os.path.join(self.data, bucket, key)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            h = hashlib.md5()
            with open(p + "._S3rver_object", "wb") as f:
                for b in ([body] if body is not None else blocks):
                    h.update(b)
                    f.write(b)
            with open(p + "._S3rver_object.md5", "w") as f:
                f.write(h.hexdigest())
            with open(p + "._S3rver_metadata.json", "w") as f:
                json.dump({"content-type": "application/octet-stream"}, f)
            return h.hexdigest()
        self.big_md5 = put("data", "big.bin", blocks=self.big_blocks())
        for bucket, key, body in self.objects():
            put(bucket, key, body)

    def populate_api(self):
        import concurrent.futures
        import boto3.s3.transfer
        path = os.path.join(self.tmp, "big.bin")
        h = hashlib.md5()
        with open(path, "wb") as f:
            for b in self.big_blocks():
                h.update(b)
                f.write(b)
        self.big_md5 = h.hexdigest()
        self.s3.upload_file(path, "data", "big.bin", Config=boto3.s3.transfer.TransferConfig(
            multipart_chunksize=64 << 20, max_concurrency=4))
        os.unlink(path)
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            list(ex.map(lambda o: self.s3.put_object(Bucket=o[0], Key=o[1], Body=o[2]),
                        self.objects()))

    def verify_population(self):
        a = self.a
        want = {("data", "small/"): a.small_files, ("list", "d/"): a.list_files,
                ("lat", "mod/"): (a.changes + 1) // 2}
        for (bucket, prefix), n in want.items():
            got = sum(len(p.get("Contents", [])) for p in self.s3.get_paginator(
                "list_objects_v2").paginate(Bucket=bucket, Prefix=prefix))
            if got != n:
                raise RuntimeError(f"s3://{bucket}/{prefix}: {got} objects listed, {n} expected")
        body = self.s3.get_object(Bucket="data", Key="small/f00007")["Body"].read()
        if body != small_content(a.seed, 7):
            raise RuntimeError("s3://data/small/f00007: wrong content")
        head = self.s3.head_object(Bucket="data", Key="big.bin")
        if head["ContentLength"] != a.big_mib << 20:
            raise RuntimeError(f"big.bin: {head['ContentLength']} bytes")

    # -------------------------------------------------- mounts

    def new_mount(self, name, bucket, server_name, tag):
        self.seq += 1
        mnt = os.path.join(self.tmp, "mnt", f"{name}-{tag}")
        os.makedirs(mnt, exist_ok=True)
        srv = self.servers[server_name]
        env, own = None, []
        logpath = os.path.join(self.tmp, f"{name}-{tag}.log")
        if name.startswith("freshfs"):
            stage = os.path.join(self.tmp, "staging", f"{name}-{self.seq}")
            os.makedirs(stage)
            own.append(stage)
            argv = [self.freshfs, "-f", f"s3://{bucket}", mnt, "--s3-endpoint", srv.url,
                    "--s3-path-style", "--staging-dir", stage,
                    "--metrics-address", "127.0.0.1:0"]
            if name == "freshfs-events":
                argv += ["--poll-interval", "1h", "--events-address", "127.0.0.1:0"]
            else:
                argv += ["--poll-interval", "1s"]
            argv += os.environ.get("FRESHFS_EXTRA_ARGS", "").split()
            env = server.credentials_env()
        elif name == "s3fs":
            argv = ["s3fs", bucket, mnt, "-f", "-o",
                    f"passwd_file={self.pwfile},url={srv.url},use_path_request_style,"
                    "endpoint=us-east-1"]
        else:
            cache = os.path.join(self.tmp, "rclone-cache", f"{name}-{self.seq}")
            own.append(cache)
            argv = ["env", "-u", "AWS_CA_BUNDLE", "rclone", "--config", self.rclone_conf,
                    "mount", f"{name}:{bucket}", mnt, "--cache-dir", cache]
            if name == "rclone-full":
                argv += ["--vfs-cache-mode", "full"]
        m = Daemon(name, argv, mnt, logpath, env=env, append=True, poll=0.005)
        m.server, m.own_dirs = srv, own
        self.mounts.append(m)
        return m

    def unmount(self, m):
        try:
            m.stop()
        finally:
            if m in self.mounts:
                self.mounts.remove(m)
        if mounted(m.mnt):
            raise RuntimeError(f"{m.mnt} still mounted")
        for d in m.own_dirs:  # this mount's staging/cache dir: free the disk space
            shutil.rmtree(d, ignore_errors=True)

    def cleanup(self):
        if self.cleaned:
            return
        self.cleaned = True
        for p in self.pollers.values():
            try:
                p.kill()  # by PID (Popen)
                p.wait()
            except OSError:
                pass
        self.pollers.clear()
        for m in list(self.mounts):
            try:
                self.unmount(m)
            except Exception as e:  # keep unmounting the others
                log(f"stopping {m.name}: {e}")
        for s in self.servers.values():
            try:
                s.stop()
            except Exception as e:
                log(f"stopping s3rver {s.name}: {e}")
        remove_unless_mounted(self.tmp, keep=self.a.keep_tmp)

    # -------------------------------------------------- measurements

    @staticmethod
    def read_file(path, min_secs=0.0):
        """Sequential read(2)s of 1 MiB until EOF, repeated until min_secs have passed.
        Returns (bytes/s, seconds, passes, bytes per pass)."""
        buf = bytearray(1 << 20)
        total, n = 0, 0
        t0 = time.perf_counter()
        while True:
            fd = os.open(path, os.O_RDONLY)
            try:
                while True:
                    k = os.readv(fd, [buf])
                    if k == 0:
                        break
                    total += k
            finally:
                os.close(fd)
            n += 1
            el = time.perf_counter() - t0
            if el >= min_secs:
                return total / el, el, n, total // n

    @staticmethod
    def md5_of(path):
        h = hashlib.md5()
        with open(path, "rb", buffering=0) as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    return h.hexdigest()
                h.update(b)

    def small_pass(self, d):
        expected = self.expected_small
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        bad = 0
        try:
            t0 = time.perf_counter()
            for j in range(self.a.small_files):
                fd = os.open(f"f{j:05d}", os.O_RDONLY, dir_fd=dfd)
                try:
                    if os.read(fd, 65536) != expected[j]:
                        bad += 1
                finally:
                    os.close(fd)
            el = time.perf_counter() - t0
        finally:
            os.close(dfd)
        return self.a.small_files / el, el, bad

    @staticmethod
    def list_pass(d):
        t0 = time.perf_counter()
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with os.scandir(dfd) as it:
                names = [e.name for e in it]
            wrong = 0
            for nm in names:
                if os.stat(nm, dir_fd=dfd, follow_symlinks=False).st_size != 64:
                    wrong += 1
        finally:
            os.close(dfd)
        return time.perf_counter() - t0, len(names), wrong

    def session_error(self, phase, name, rnd, m, e):
        msg = f"{phase} {name} round {rnd + 1}: {type(e).__name__}: {e}"
        log("ERROR " + msg.splitlines()[0])
        self.errors.append({"phase": phase, "contender": name, "round": rnd + 1,
                            "error": str(e), "log_tail": m.tail() if m else None})

    @staticmethod
    def session_end(rec, name, m, d0, s0):
        """A session's daemon and server CPU since d0, s0; freshfs's metrics and log
        problems."""
        rec["daemon_cpu"] = round(m.cpu() - d0, 3)
        rec["server_cpu"] = round(m.server.cpu() - s0, 3)
        if name.startswith("freshfs"):
            text = m.log_text()
            rec["metrics"] = freshfs_metrics(text)
            rec["log_problems"] = problems_in(text)

    def reads_session(self, name, rnd):
        a, rec, m = self.a, {}, None
        srv_dir = os.path.join(self.data, "data")
        drop_caches()
        read_all_files(srv_dir)  # the server side is warm for every contender
        if name == "raw":
            srv = self.servers["writer"]
            s0 = srv.cpu()
            r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w",
                                "%{http_code} %{size_download} %{time_total}",
                                f"{srv.url}/data/big.bin"], capture_output=True, text=True,
                               timeout=SESSION_TIMEOUT)
            code, size, secs = r.stdout.split()
            if code != "200" or int(size) != a.big_mib << 20:
                raise RuntimeError(f"raw GET: HTTP {code}, {size} bytes; {r.stderr.strip()}")
            rec["cold"] = int(size) / float(secs)
            rec["server_cpu"] = round(srv.cpu() - s0, 3)
            return rec
        m = self.new_mount(name, "data", "freshfs" if name == "freshfs" else name, f"data{rnd}")
        try:
            s0 = m.server.cpu()
            rec["mount_s"] = m.start()
            d0 = m.cpu()
            big = os.path.join(m.mnt, "big.bin")
            with Guard(m, SESSION_TIMEOUT, f"{name} cold read"):
                rec["cold"], rec["cold_s"], _, nbytes = self.read_file(big)
            if nbytes != a.big_mib << 20:
                raise RuntimeError(f"cold read of big.bin returned {nbytes} bytes")
            rec["cached"], rec["cached_retaken"] = [], 0
            for k in range(a.cached_samples):
                for attempt in range(3):
                    vm0 = vm_counters()
                    with Guard(m, SESSION_TIMEOUT, f"{name} cached read"):
                        v = self.read_file(big, 0.5)[0]
                    if vm_counters() == vm0 or attempt == 2:
                        break
                    rec["cached_retaken"] += 1
                    log(f"cached read {name}: page cache dropped/reclaimed meanwhile; retaking")
                    with Guard(m, SESSION_TIMEOUT, f"{name} re-warm"):
                        self.read_file(big)
                rec["cached"].append(v)
            with Guard(m, SESSION_TIMEOUT, f"{name} md5"):
                rec["big_md5_ok"] = self.md5_of(big) == self.big_md5
            if not rec["big_md5_ok"]:
                log(f"WRONG DATA: {name} big.bin md5 differs")
            small = os.path.join(m.mnt, "small")
            rec["small_retaken"] = 0
            for attempt in range(3):
                vm0 = vm_counters()
                with Guard(m, SESSION_TIMEOUT, f"{name} small first pass"):
                    rec["small_first"], _, bad1 = self.small_pass(small)
                rec["idle_server_cpu_share"] = idle_cpu_share(m.server, 2.0)
                with Guard(m, SESSION_TIMEOUT, f"{name} small re-read"):
                    rec["small_reread"], _, bad2 = self.small_pass(small)
                if vm_counters() == vm0 or attempt == 2:
                    break
                rec["small_retaken"] += 1
                log(f"small {name}: caches dropped/reclaimed meanwhile; retaking")
            rec["small_wrong"] = bad1 + bad2
            if bad1 or bad2:
                log(f"WRONG DATA: {name} small files: {bad1} + {bad2} differ")
            self.session_end(rec, name, m, d0, s0)
        finally:
            self.unmount(m)
        return rec

    def list_session(self, name, rnd):
        rec = {}
        read_all_files(os.path.join(self.data, "list"))
        m = self.new_mount(name, "list", "freshfs" if name == "freshfs" else name, f"list{rnd}")
        try:
            s0 = m.server.cpu()
            rec["mount_s"] = m.start()
            d = os.path.join(m.mnt, "d")
            with Guard(m, SESSION_TIMEOUT, f"{name} first listing"):
                rec["first_s"], n1, w1 = self.list_pass(d)
            rec["total_s"] = rec["mount_s"] + rec["first_s"]
            rec["idle_server_cpu_share"] = idle_cpu_share(m.server, 2.0)
            with Guard(m, SESSION_TIMEOUT, f"{name} cached listing"):
                rec["cached_s"], n2, w2 = self.list_pass(d)
            rec["entries"] = [n1, n2]
            rec["wrong_size"] = w1 + w2
            if n1 != self.a.list_files or n2 != self.a.list_files or w1 or w2:
                log(f"WRONG LISTING: {name}: {n1}/{n2} entries (want {self.a.list_files}), "
                    f"{w1 + w2} with wrong sizes")
            rec["daemon_cpu"] = round(m.cpu(), 3)
            rec["server_cpu"] = round(m.server.cpu() - s0, 3)
            if name.startswith("freshfs"):
                text = m.log_text()
                rec["metrics"] = freshfs_metrics(text)
                rec["log_problems"] = problems_in(text)
        finally:
            self.unmount(m)
        return rec

    def wait_on_server(self, keys, size, t0, timeout=120.0):
        """Seconds from t0 until the writer's s3rver lists every key at `size` bytes (None
        after timeout)."""
        left = set(keys)
        deadline = time.monotonic() + timeout
        import botocore.exceptions
        while True:  # one LIST per 1,000 keys: checking does not slow down what it times
            try:
                for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket="writes"):
                    for o in page.get("Contents", []):
                        if o["Size"] == size:
                            left.discard(o["Key"])
            except botocore.exceptions.ClientError as e:  # s3rver lists a file being written
                self.list_errors = getattr(self, "list_errors", 0) + 1
                log(f"writes: listing failed ({e}); retrying")
            if not left:
                return time.perf_counter() - t0
            if time.monotonic() > deadline:
                return None
            time.sleep(0.01)

    def empty_bucket(self, bucket):
        keys = [o["Key"] for p in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket) for o in p.get("Contents", [])]
        for i in range(0, len(keys), 1000):
            self.s3.delete_objects(Bucket=bucket, Delete={
                "Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True})

    def writes_session(self, name, rnd):
        a, rec = self.a, {}
        self.empty_bucket("writes")
        m = self.new_mount(name, "writes", "freshfs" if name == "freshfs" else name, f"wr{rnd}")
        try:
            s0 = m.server.cpu()
            rec["mount_s"] = m.start()
            d0 = m.cpu()
            buf = bytearray(random.Random(f"{a.seed}-write").randbytes(1 << 20))
            path = os.path.join(m.mnt, "big-write.bin")
            with Guard(m, SESSION_TIMEOUT, f"{name} sequential write"):
                t0 = time.perf_counter()
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    for i in range(a.big_mib):
                        buf[:8] = i.to_bytes(8, "little")  # every MiB differs
                        view = memoryview(buf)
                        while view:
                            view = view[os.write(fd, view):]
                finally:
                    os.close(fd)
                el = time.perf_counter() - t0
            rec["write"] = (a.big_mib << 20) / el
            dur = self.wait_on_server(["big-write.bin"], a.big_mib << 20, t0)
            rec["write_durable"] = (a.big_mib << 20) / dur if dur else None
            body = b"c" * FILE_SIZE
            keys = [f"c{j:05d}" for j in range(a.create_files)]
            with Guard(m, SESSION_TIMEOUT, f"{name} small-file creates"):
                t0 = time.perf_counter()
                for k in keys:
                    fd = os.open(os.path.join(m.mnt, k), os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                                 0o644)
                    try:
                        os.write(fd, body)
                    finally:
                        os.close(fd)
                el = time.perf_counter() - t0
            rec["create"] = a.create_files / el
            dur = self.wait_on_server(keys, FILE_SIZE, t0)
            rec["create_durable"] = a.create_files / dur if dur else None
            self.session_end(rec, name, m, d0, s0)
        finally:
            self.unmount(m)
        return rec

    def run_rounds(self, phase, names, session):
        res = {n: [] for n in names}
        for i in range(self.a.rounds):
            order = names[i % len(names):] + names[:i % len(names)]
            for n in order:
                try:
                    res[n].append(session(n, i))
                except Exception as e:  # recorded; the other contenders go on
                    self.session_error(phase, n, i, None, e)
                    res[n].append({"error": str(e)})
            log(f"{phase} round {i + 1}/{self.a.rounds}: " + "; ".join(
                f"{n} " + ", ".join(f"{k}={v:.3g}" for k, v in res[n][-1].items()
                                    if isinstance(v, float) and not k.endswith("cpu"))
                for n in order))
        return res

    # -------------------------------------------------- latency

    def latency_phase(self):
        a = self.a
        ds = {}
        for n in LAT_NAMES:
            m = self.new_mount(n, "lat", "freshfs" if n == "freshfs-poll" else n, "lat")
            m.start()
            ds[n] = m
        ev = re.search(r"notifications at http://([\d.]+):(\d+)/", ds["freshfs-events"].log_text())
        if not ev:
            raise RuntimeError("freshfs-events: no events address in its log:\n"
                               + ds["freshfs-events"].tail())
        ev_conn = http.client.HTTPConnection(ev.group(1), int(ev.group(2)), timeout=10)
        for n, m in ds.items():
            self.pollers[n] = subprocess.Popen(
                [sys.executable, os.path.join(BENCH, "s3"), "_watch", m.mnt, str(a.cap),
                 str(a.check_ms / 1000)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                text=True, preexec_fn=high_priority)
        cpu0 = {n: m.cpu() for n, m in ds.items()}
        scpu0 = {n: m.server.cpu() for n, m in ds.items()}
        wcpu0 = self.servers["writer"].cpu()
        rng = random.Random(a.seed)
        kinds, prep_anomalies = {}, {n: 0 for n in ds}
        put_s, post_s, post_fail = [], [], []
        t_start = time.time()
        log(f"latency: {a.changes} changes, spacing {a.spacing[0]}-{a.spacing[1]} s, "
            f"cap {a.cap:g} s")
        for i in range(a.changes):
            j = i // 2
            if i % 2 == 0:
                key = f"mod/m{j:04d}"
                for n, m in ds.items():  # every mount has just read the old content
                    try:
                        with Guard(m, 60, f"{n} prep read"):
                            with open(os.path.join(m.mnt, key), "rb") as f:
                                ok = f.read().startswith(changes.token("old", j).encode())
                    except (OSError, RuntimeError):
                        ok = False
                    prep_anomalies[n] += not ok
                body = changes.content("new", j, FILE_SIZE)
            else:
                key = f"new/n{j:04d}"
                for n, m in ds.items():  # every mount has just looked the name up
                    try:
                        with Guard(m, 60, f"{n} prep lookup"):
                            os.stat(os.path.join(m.mnt, key))
                        prep_anomalies[n] += 1
                    except FileNotFoundError:
                        pass
                    except (OSError, RuntimeError):
                        prep_anomalies[n] += 1
                body = changes.content("new", j, FILE_SIZE)
            tp = time.monotonic()
            self.s3.put_object(Bucket="lat", Key=key, Body=body)
            t0 = time.monotonic()
            put_s.append(t0 - tp)
            line = (f"m {i} {key} {changes.token('new', j)} {t0:.6f}\n" if i % 2 == 0
                    else f"n {i} {key} {t0:.6f}\n")
            for pn, p in self.pollers.items():
                try:
                    p.stdin.write(line)
                    p.stdin.flush()
                except OSError as e:  # the poller died: its results will be missing
                    log(f"poller {pn}: {e}")
            event = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3",
                                  "eventName": "ObjectCreated:Put",
                                  "s3": {"bucket": {"name": "lat"},
                                         "object": {"key": urllib.parse.quote_plus(key, safe="/"),
                                                    "size": len(body)}}}]}
            try:
                ev_conn.request("POST", "/", json.dumps(event),
                                {"Content-Type": "application/json"})
                r = ev_conn.getresponse()
                r.read()
                if r.status != 200:
                    post_fail.append(f"{i}: HTTP {r.status}")
            except OSError as e:
                post_fail.append(f"{i}: {e}")
                ev_conn.close()
            post_s.append(time.monotonic() - t0)
            kinds[i] = "modify" if i % 2 == 0 else "create"
            time.sleep(rng.uniform(*a.spacing))
        t_last = time.time()
        log(f"all changes made; waiting up to {a.cap:g} s for the pollers")
        lat, checks, poll_errors = {n: {} for n in ds}, {}, {}
        deadline = time.monotonic() + a.cap + 60
        for n in ds:
            p = self.pollers[n]
            try:
                outp = p.communicate(timeout=max(1.0, deadline - time.monotonic()))[0]
            except subprocess.TimeoutExpired:  # its reads through the mount hang
                log(f"poller {n}: no answer {a.cap + 60:g} s after the last change; killing it")
                p.kill()
                outp = p.communicate()[0]
                self.errors.append({"phase": "latency", "contender": n, "round": 1,
                                    "error": "poller hung (reads through the mount blocked); "
                                             "its unfinished changes count as never",
                                    "log_tail": ds[n].tail()})
            for l in outp.splitlines():
                f = l.split(None, 2)
                if f[0] == "r":
                    v = float(f[2])
                    lat[n][int(f[1])] = math.inf if v < 0 else v
                elif f[0] == "s":
                    checks[n] = int(f[1])
                    poll_errors[n] = json.loads(f[2])
            del self.pollers[n]
            for i in kinds:  # a killed poller's unfinished changes: never seen
                lat[n].setdefault(i, math.inf)
        elapsed = time.time() - t_start
        cpu = {n: round(m.cpu() - cpu0[n], 2) for n, m in ds.items()}
        scpu = {n: round(m.server.cpu() - scpu0[n], 2) for n, m in ds.items()}
        scpu["writer"] = round(self.servers["writer"].cpu() - wcpu0, 2)
        metrics = {n: freshfs_metrics(m.log_text()) for n, m in ds.items()
                   if n.startswith("freshfs")}
        problems = {n: problems_in(m.log_text()) for n, m in ds.items()
                    if n.startswith("freshfs")}
        mount_opts = {}
        for n, m in ds.items():
            mount_opts[n] = m.argv
            self.unmount(m)
        ev_conn.close()
        stats = {n: latency_stats(lat[n], kinds, n) for n in ds}
        return {"names": list(ds), "argv": mount_opts, "stats": stats,
                "prep_anomalies": prep_anomalies, "poller_checks": checks,
                "poller_errors": poll_errors, "daemon_cpu_seconds": cpu,
                "server_cpu_seconds": scpu, "metrics": metrics, "log_problems": problems,
                "put_seconds": {"median": statistics.median(put_s), "max": max(put_s)},
                "event_post_seconds": {"median": statistics.median(post_s), "max": max(post_s)},
                "event_post_failures": post_fail, "seconds": round(elapsed, 1),
                "put_seconds_each": [round(x, 4) for x in put_s],
                "event_post_seconds_each": [round(x, 4) for x in post_s],
                "changes_seconds": round(t_last - t_start, 1),
                "raw": {n: {str(i): (None if math.isinf(x) else round(x, 6))
                            for i, x in sorted(v.items())} for n, v in lat.items()},
                "kinds": kinds}


# ---------------------------------------------------------------- analysis

MIB = 1 << 20
# (key, label, unit, scale, phase, higher_is_better)
ROWS = [("cold", "cold sequential read", "MiB/s", 1 / MIB, "reads", True),
        ("cached", "cached re-read", "MiB/s", 1 / MIB, "reads", True),
        ("small_first", "small files, first read", "files/s", 1, "reads", True),
        ("small_reread", "small files, re-read 2 s later", "files/s", 1, "reads", True),
        ("mount_s", "mount (bucket `data`)", "s", 1, "reads", False),
        ("mount_s", "mount (bucket `list`)", "s", 1, "list", False),
        ("first_s", "first listing (scandir+stat)", "s", 1, "list", False),
        ("total_s", "mount + first listing", "s", 1, "list", False),
        ("cached_s", "cached listing, 2 s later", "s", 1, "list", False),
        ("write", "sequential write, until close returns", "MiB/s", 1 / MIB, "writes", True),
        ("write_durable", "sequential write, until on the server", "MiB/s", 1 / MIB,
         "writes", True),
        ("create", "small-file creates, until close returns", "files/s", 1, "writes", True),
        ("create_durable", "small-file creates, until on the server", "files/s", 1,
         "writes", True)]


def values(res, phase, name, key):
    """Per-round values (None where the session failed); `cached` is a list per round,
    its median is the round's value."""
    out = []
    for rec in res.get(phase, {}).get(name, []):
        v = rec.get(key)
        if isinstance(v, list):
            v = statistics.median(v) if v else None
        out.append(v)
    return out


def summ(vals):
    v = [x for x in vals if x is not None]
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


def speedup(res, phase, key, higher, peer, a_name="freshfs"):
    """freshfs's advantage over peer (>1: freshfs better): ratio of medians and median of
    per-round ratios."""
    fa, pa = values(res, phase, a_name, key), values(res, phase, peer, key)
    sf, sp = summ(fa), summ(pa)
    if not sf or not sp or not sf["median"] or not sp["median"]:
        return None
    pairs = [(f, p) for f, p in zip(fa, pa) if f and p]

    def r(f, p):
        return f / p if higher else p / f
    return {"of_medians": r(sf["median"], sp["median"]),
            "per_round": statistics.median(r(f, p) for f, p in pairs) if pairs else None}


def analyse(res):
    out = {"stats": {}, "speedups": {}}
    for key, label, unit, scale, phase, higher in ROWS:
        names = READ_NAMES + (["raw"] if key == "cold" else [])
        rowid = f"{phase}:{key}"
        out["stats"][rowid] = {n: summ(values(res, phase, n, key)) for n in names}
        out["speedups"][rowid] = {p: speedup(res, phase, key, higher, p) for p in PEERS}
    # cold read against the fastest peer of each round
    fa = values(res, "reads", "freshfs", "cold")
    peers = [values(res, "reads", p, "cold") for p in PEERS]
    per_round = []
    for i, f in enumerate(fa):
        best = max((p[i] for p in peers if i < len(p) and p[i]), default=None)
        if f and best:
            per_round.append(f / best)
    best_med = max((summ(p)["median"] for p in peers if summ(p)), default=None)
    sf = summ(fa)
    out["cold_vs_fastest_peer"] = {
        "of_medians": sf["median"] / best_med if sf and best_med else None,
        "per_round": statistics.median(per_round) if per_round else None}
    return out


def fmt_val(s, unit, scale):
    if not s:
        return "error"
    med = s["median"] * scale
    if unit == "s":
        f = (lambda x: f"{x:.3f}") if med < 10 else (lambda x: f"{x:.1f}")
    else:
        f = (lambda x: f"{x:,.0f}")
    if s["n"] == 1:
        return f(med)
    return f"{f(med)} ({f(s['min'] * scale)}-{f(s['max'] * scale)})"


def reads_table(an, res):
    cols = READ_NAMES + ["raw GET"]
    lines = ["| metric | " + " | ".join(cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for key, label, unit, scale, phase, higher in ROWS:
        if phase not in res:
            continue
        st = an["stats"][f"{phase}:{key}"]
        cells = [fmt_val(st.get(n), unit, scale) for n in READ_NAMES]
        cells.append(fmt_val(st.get("raw"), unit, scale) if key == "cold" else "")
        lines.append(f"| {label} ({unit}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratio_lines(an, res):
    out = []
    for key, label, unit, scale, phase, higher in ROWS:
        if phase not in res:
            continue
        sp = an["speedups"][f"{phase}:{key}"]
        parts = []
        for p in PEERS:
            r = sp.get(p)
            parts.append(f"{p} {r['of_medians']:.2f}x" + (
                f" (per-round {r['per_round']:.2f}x)" if r["per_round"] else "")
                if r else f"{p} n/a")
        out.append(f"- {label}: freshfs vs " + ", ".join(parts))
    return out


def target_lines(an, res, lp):
    out = []

    def verdict(v, t):
        return "n/a" if v is None else ("MET" if v >= t else "MISSED")
    if "reads" in res:
        for key, label in (("cached", "cached re-read"), ("small_reread", "small-file re-read")):
            r = an["speedups"][f"reads:{key}"].get("s3fs")
            v = r and (r["per_round"] or r["of_medians"])
            out.append(f"- target {label} freshfs >= {X_TARGET:g}x s3fs: {verdict(v, X_TARGET)}"
                       + (f" ({v:.1f}x per-round median; {r['of_medians']:.1f}x of medians)"
                          if v else ""))
        c = an["cold_vs_fastest_peer"]
        v = c["per_round"] or c["of_medians"]
        out.append(f"- target cold read freshfs >= {COLD_TARGET:g}x the fastest of "
                   f"{'/'.join(PEERS)}: {verdict(v, COLD_TARGET)}"
                   + (f" ({v:.2f}x per-round median; {c['of_medians']:.2f}x of medians)"
                      if v else ""))
    if lp:
        out += [changes.lat_verdict(lp, n, t, "visibility p99")
                for n, t in LAT_TARGETS.items()]
    return out


LAT_LABELS = {"freshfs-poll": "freshfs (--poll-interval 1s)",
              "freshfs-events": "freshfs (--events-address, --poll-interval 1h)",
              "s3fs": "s3fs (defaults)", "rclone": "rclone mount (defaults)",
              "rclone-full": "rclone mount --vfs-cache-mode full"}


def notes(res, lp, bench):
    out = []
    for phase in ("reads", "list"):
        if phase not in res:
            continue
        names = READ_NAMES + (["raw"] if phase == "reads" else [])
        srv = ", ".join(f"{n} {summ([r.get('server_cpu') for r in res[phase][n]])['median']:.2f} s"
                        for n in names if summ([r.get("server_cpu") for r in res[phase][n]]))
        out.append(f"- s3rver CPU per {phase} session (median): {srv}")
        idle = ", ".join(
            f"{n} {summ([r.get('idle_server_cpu_share') for r in res[phase][n]])['median']:.2f}"
            for n in READ_NAMES if summ([r.get("idle_server_cpu_share") for r in res[phase][n]]))
        out.append(f"- s3rver CPU share during the 2 s pause ({phase}, CPU s per s; "
                   f"background polling): {idle}")
        dcpu = ", ".join(f"{n} {summ([r.get('daemon_cpu') for r in res[phase][n]])['median']:.2f} s"
                         for n in READ_NAMES if summ([r.get("daemon_cpu") for r in res[phase][n]]))
        out.append(f"- FUSE daemon CPU per {phase} session (median): {dcpu}")
    if "writes" in res:
        late = [f"{n} round {i + 1}: {k}" for n in READ_NAMES
                for i, r in enumerate(res["writes"][n]) if "error" not in r
                for k in ("write_durable", "create_durable") if r.get(k) is None]
        out.append("- writes on the server within 120 s of the first write: "
                   + ("all" if not late else "MISSING " + "; ".join(late)))
    if "reads" in res:
        bad = []
        for n in READ_NAMES:
            for i, r in enumerate(res["reads"][n]):
                if r.get("big_md5_ok") is False:
                    bad.append(f"{n} round {i + 1}: big object content wrong")
                if r.get("small_wrong"):
                    bad.append(f"{n} round {i + 1}: {r['small_wrong']} small files wrong")
        out.append("- content checks (md5 of the big object, every small file): "
                   + ("; ".join(bad) if bad else "all correct"))
        rt = {n: sum(r.get("cached_retaken", 0) + r.get("small_retaken", 0)
                     for r in res["reads"][n]) for n in READ_NAMES}
        if any(rt.values()):
            out.append(f"- samples retaken because caches were dropped meanwhile: {json.dumps(rt)}")
    def metric_sum(mt, name, *labels):
        return sum(v for k, v in (mt or {}).items()
                   if k.startswith(name + "{") and all(lb in k for lb in labels))

    def per_round(rs, fmt, name, *labels):
        return ", ".join(fmt.format(metric_sum(r["metrics"], name, *labels)) for r in rs)
    for phase in ("reads", "list"):
        rs = [r for r in res.get(phase, {}).get("freshfs", []) if r.get("metrics")]
        if not rs:
            continue
        s3req, dur = "freshfs_s3_requests_total", "freshfs_fuse_request_duration_seconds_sum"

        def op(o):
            return f'op="{o}"'
        out.append(
            f"- freshfs per {phase} session (rounds in order): S3 requests LIST "
            f"{per_round(rs, '{:g}', s3req, op('list'))}, GET "
            f"{per_round(rs, '{:g}', s3req, op('get'))}, HEAD "
            f"{per_round(rs, '{:g}', s3req, op('head'))}; full syncs "
            f"{per_round(rs, '{:g}', 'freshfs_syncs_total')}; seconds in FUSE OPENDIR "
            f"{per_round(rs, '{:.3f}', dur, op('opendir'))}, LOOKUP "
            f"{per_round(rs, '{:.3f}', dur, op('lookup'))}, READ "
            f"{per_round(rs, '{:.3f}', dur, op('read'))}")
    if "list" in res:
        bad = [f"{n} round {i + 1}: {r['entries']} entries, {r['wrong_size']} wrong sizes"
               for n in READ_NAMES for i, r in enumerate(res["list"][n])
               if "entries" in r and (r["entries"] != [bench.a.list_files] * 2 or r["wrong_size"])]
        out.append("- listing checks (entry count, sizes): " + ("; ".join(bad) if bad
                                                                 else "all correct"))
    if lp:
        out.append(f"- latency phase ({lp['seconds']} s): FUSE daemon CPU "
                   + ", ".join(f"{n} {v:.2f} s" for n, v in lp["daemon_cpu_seconds"].items())
                   + "; s3rver CPU " + ", ".join(f"{n} {v:.2f} s"
                                                 for n, v in lp["server_cpu_seconds"].items()))
        out.append(f"- writer: put_object median {lp['put_seconds']['median'] * 1000:.1f} ms; "
                   f"event POST to freshfs-events median "
                   f"{lp['event_post_seconds']['median'] * 1000:.1f} ms, max "
                   f"{lp['event_post_seconds']['max'] * 1000:.1f} ms"
                   + (f"; POST failures: {lp['event_post_failures']}"
                      if lp["event_post_failures"] else ""))
        bad = {n: v for n, v in lp["prep_anomalies"].items() if v}
        if bad:
            out.append(f"- prep reads/lookups that did not show the old state: {json.dumps(bad)}")
        pe = {n: v for n, v in lp["poller_errors"].items() if v}
        if pe:
            out.append(f"- errors seen by the pollers (reads through the mount): {json.dumps(pe)}")
        for n, mt in lp["metrics"].items():
            if mt and "error" not in mt:
                keep = {k[k.index("{"):] if "{" in k else k: v for k, v in mt.items()
                        if k.startswith(("freshfs_invalidations_total", "freshfs_s3_events",
                                         "freshfs_events", "freshfs_sync_errors",
                                         "freshfs_s3_requests_total"))
                        and "outcome=\"ok\"" not in k}
                if keep:
                    out.append(f"- {n} metrics: " + ", ".join(f"{k} {v:g}"
                                                            for k, v in sorted(keep.items())))
    errs = {n: s.errors() for n, s in bench.servers.items()}
    errs = {n: e for n, e in errs.items() if e}
    if errs:
        out.append(f"- s3rver errors logged: {json.dumps(errs)}")
    probs = set()
    for phase in ("reads", "list"):
        for r in res.get(phase, {}).get("freshfs", []):
            probs.update(r.get("log_problems") or [])
    if lp:
        for v in lp["log_problems"].values():
            probs.update(v)
    if probs:
        out.append(f"- freshfs log warnings/errors ({len(probs)} distinct lines), e.g.: "
                   + " / ".join(sorted(probs)[:3]))
    if bench.errors:
        out.append("- FAILED sessions: " + "; ".join(
            f"{e['phase']} {e['contender']} round {e['round']}: {e['error'].splitlines()[0]}"
            for e in bench.errors))
    return out


def machine_info():
    m = host_machine_info()
    m["cpu_model"] = cpu_model()
    m["s3fs"] = version(["s3fs", "--version"])
    m["rclone"] = version(["rclone", "version"])
    m["node"] = version(["node", "--version"])
    try:
        with open(os.path.join(ROOT, ".tools", "node_modules", "s3rver", "package.json")) as f:
            m["s3rver"] = json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        m["s3rver"] = "unknown"
    import boto3
    m["boto3"] = boto3.__version__
    return m


def write_docs(section):
    replace_heading(DOC, SECTION, section)
    log(f"updated {os.path.relpath(DOC, ROOT)}")


DOC_METHOD = """\
`bench/s3` compares freshfs's S3 mode with s3fs-fuse and rclone mount on the same
S3 server, measured side by side in one run. The server is s3rver 3.7.1 (node,
`NODE_OPTIONS=--openssl-legacy-provider`), one process per contender, all serving
one data directory on the local disk, so one contender's requests do not queue behind
another's and the server CPU each contender causes is measured.

| contender | how it is run |
|---|---|
| freshfs | `freshfs-mount -f s3://BUCKET MNT --s3-endpoint URL --s3-path-style --poll-interval 1s --staging-dir DIR --metrics-address 127.0.0.1:0` (a private copy of `build/cmd/freshfs-mount/freshfs-mount` or `--freshfs-bin`) |
| freshfs-events | the same with `--poll-interval 1h --events-address 127.0.0.1:0` (latency only); the bench POSTs the S3 event notification (`ObjectCreated:Put`) right after each write, as a MinIO/Ceph webhook would |
| s3fs | `s3fs BUCKET MNT -f -o passwd_file=F,url=URL,use_path_request_style,endpoint=us-east-1` (Debian `s3fs`, defaults: no data cache) |
| rclone | `env -u AWS_CA_BUNDLE rclone --config F mount REMOTE:BUCKET MNT --cache-dir DIR` (Debian `rclone`, an `s3` remote, `provider = Other`, `force_path_style = true`; defaults: no VFS cache, 5 min directory cache) |
| rclone-full | the same with `--vfs-cache-mode full` |
| raw GET | `curl` of the big object straight from s3rver (what the server can deliver) |

- **Reads** (bucket `data`): per round, contenders in rotated order, one mounted at a
  time, each on a fresh mount with fresh cache directories, after
  `echo 3 > /proc/sys/vm/drop_caches` and after re-reading the server's files (the
  server side is warm for everyone, the client side cold). *Cold read*: the big object
  (256 MiB, `--quick` 64 MiB) read sequentially with 1 MiB `read(2)`s. *Cached
  re-read*: the same object again at once (3 samples of >= 0.5 s of repeated reads
  each; the round's value is their median), then an untimed md5 check through the
  mount. *Small files*: 1,000 objects of
  4 KiB, `open`+`read`+`close` of all (first read), a 2 s pause, all again
  (re-read; this is the one the target is about); contents checked. A sample is
  retaken when `/proc/vmstat` shows caches dropped or reclaimed meanwhile.
- **Listing** (bucket `list`, one directory of 10,000 objects, `--quick` 2,000): per
  round and contender: mount (timed until it shows in `/proc/self/mountinfo`),
  `os.scandir` + `stat` of every entry (first listing), a 2 s pause, the same again
  (cached listing), unmount. freshfs lists the bucket before it mounts, so compare
  *mount + first listing*.
- **Writes** (bucket `writes`, emptied before every session): per round and contender, a
  fresh mount; a new object of the big object's size written sequentially with
  1 MiB `write(2)`s, then 300 (`--quick` 100) new 4 KiB files (`open` with
  `O_CREAT|O_EXCL`, `write`, `close`). Each timed twice: until the last `close`
  returns, and until the server lists every object at its full size
  (ListObjectsV2 through another s3rver process, every 10 ms). freshfs and s3fs upload on
  `close`; rclone without a VFS cache streams the upload during the writes;
  `rclone --vfs-cache-mode full` uploads in the background after close (5 s
  write-back delay), so only its "until on the server" figure is comparable.
- **Visibility latency** (bucket `lat`): all five latency contenders mounted at once;
  another writer (boto3 `put_object` through its own s3rver process) makes N changes
  (40, `--quick` 16) at random intervals (0.2-0.6 s), alternating a same-size
  overwrite of a 4 KiB object every mount has read just before and a new object
  whose name every mount has looked up just before. Latency = from `put_object`
  returning to a poller reading through the mount seeing the change (one poller
  process per mount, re-checking every 2 ms; changes older than 2 s every age/200);
  not seen within 30 s (`--quick` 15 s) = *never*.

Ratios are freshfs's advantage (>1 = freshfs better: throughput ratio, or time
ratio for times), as ratio of medians and as the median of per-round ratios.
**Targets** (reported, not asserted): cached re-read and small-file re-read
>= 20x s3fs; cold read >= 1x the fastest of s3fs/rclone/rclone-full; freshfs
visibility p99 <= poll interval + 200 ms (1.2 s), and <= 100 ms with events.
Caveat: s3rver is a single-threaded node server on the same 2-CPU machine as the
clients; absolute numbers are far below a real object store's, and the server's
speed (raw GET) bounds every cold read.

Run: `bench/s3` (~10 minutes), `bench/s3 --quick` (~2 minutes), `bench/s3
--write-docs` (replaces this section), also `bench/run s3 ...`. Needs root, Debian
`s3fs rclone awscli python3-boto3 python3-prometheus-client curl fuse3` and s3rver in `.tools/`
(`scripts/deps.sh s3fs rclone`). Raw results: `bench/results/s3-<timestamp>.json`.
"""


def main():
    if sys.argv[1:2] == ["_watch"]:  # a visibility poller, started by the latency phase
        return watch_main(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
    ap = argparse.ArgumentParser(prog="bench/s3", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="1 round, 64 MiB, 2,000 listed objects, 16 changes (~2 minutes)")
    ap.add_argument("--rounds", type=int, help="rounds of the reads and list phases "
                                               "(default 3; quick 1)")
    ap.add_argument("--big-mib", type=int, help="big object size (default 256; quick 64)")
    ap.add_argument("--small-files", type=int, default=1000)
    ap.add_argument("--list-files", type=int, help="objects in the listed directory "
                                                   "(default 10000; quick 2000)")
    ap.add_argument("--cached-samples", type=int, default=3,
                    help="cached re-read samples per round (default 3)")
    ap.add_argument("--changes", type=int, help="visibility changes (default 40; quick 16)")
    ap.add_argument("--cap", type=float, help="seconds after which a change counts as never "
                                              "seen (default 30; quick 15)")
    ap.add_argument("--spacing", default="0.2,0.6",
                    help="MIN,MAX seconds between changes (uniform; default 0.2,0.6)")
    ap.add_argument("--check-ms", type=float, default=2.0,
                    help="poller re-check interval for changes < 2 s old (default 2)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", help="comma-separated phases: reads,list,writes,latency "
                                   "(default all)")
    ap.add_argument("--create-files", type=int,
                    help="4 KiB files created per writes session (default 300; quick 100)")
    ap.add_argument("--json-out", help="write the raw results here (default "
                                       "bench/results/s3-<timestamp>.json)")
    ap.add_argument("--populate", choices=("direct", "api"), default="direct",
                    help="direct: write s3rver's on-disk format (fast, checked via the API); "
                         "api: boto3 PUTs from a thread pool")
    ap.add_argument("--freshfs-bin",
                    default=os.path.join(ROOT, "build", "cmd", "freshfs-mount", "freshfs-mount"))
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temporary dir (logs)")
    ap.add_argument("--write-docs", action="store_true",
                    help=f"replace the \"{SECTION[3:]}\" section of docs/benchmarks.md")
    a = ap.parse_args()
    a.rounds = a.rounds or (1 if a.quick else 3)
    a.big_mib = a.big_mib or (64 if a.quick else 256)
    a.list_files = a.list_files or (2000 if a.quick else 10000)
    a.changes = a.changes or (16 if a.quick else 40)
    a.cap = a.cap or (15.0 if a.quick else 30.0)
    a.spacing = tuple(float(x) for x in a.spacing.split(","))
    a.create_files = a.create_files or (100 if a.quick else 300)
    phases = a.only.split(",") if a.only else ["reads", "list", "writes", "latency"]
    if set(phases) - {"reads", "list", "writes", "latency"}:
        ap.error(f"--only: unknown phase in {a.only}")
    command = "bench/s3 " + " ".join(sys.argv[1:])
    if os.geteuid() != 0:
        sys.exit("bench/s3 must run as root (FUSE mounts, drop_caches)")

    deps("s3fs", "rclone")
    if not os.access(a.freshfs_bin, os.X_OK):
        sys.exit(f"{a.freshfs_bin}: not found (build it, or pass --freshfs-bin)")

    st = os.stat(a.freshfs_bin)
    binary = {"path": a.freshfs_bin, "version": version([a.freshfs_bin, "--version"]),
              "mtime": datetime.datetime.fromtimestamp(st.st_mtime).isoformat(timespec="seconds")}
    b = Bench(a)
    b.expected_small = [small_content(a.seed, j) for j in range(a.small_files)]
    atexit.register(b.cleanup)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    t0 = time.time()
    res, lp, lat_error = {}, None, None
    try:
        b.setup()
        if "reads" in phases:
            res["reads"] = b.run_rounds("reads", READ_NAMES + ["raw"], b.reads_session)
        if "list" in phases:
            res["list"] = b.run_rounds("list", READ_NAMES, b.list_session)
        if "writes" in phases:
            res["writes"] = b.run_rounds("writes", READ_NAMES, b.writes_session)
        if "latency" in phases:
            try:
                lp = b.latency_phase()
            except Exception as e:
                lat_error = f"{type(e).__name__}: {e}"
                b.session_error("latency", "all", 0, None, e)
        machine = machine_info()
        server_errors = {n: s.errors() for n, s in b.servers.items()}
        note_lines = notes(res, lp, b)
    finally:
        b.cleanup()

    an = analyse(res)
    ts = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    elapsed = round(time.time() - t0, 1)
    result = {"timestamp": ts, "command": command, "machine": machine,
              "freshfs_bin": binary,
              "freshfs_source": git_state(),
              "params": {k: v for k, v in vars(a).items() if k != "write_docs"},
              "populate_seconds": b.populate_seconds,
              "servers": {n: s.argv for n, s in b.servers.items()},
              "targets": {"cached/s3fs": X_TARGET, "small_reread/s3fs": X_TARGET,
                          "cold/fastest_peer": COLD_TARGET, "p99_seconds": LAT_TARGETS},
              "reads": res.get("reads"), "list": res.get("list"),
              "writes": res.get("writes"), "analysis": an,
              "latency": lp, "latency_error": lat_error, "failed_sessions": b.errors,
              "s3rver_errors": server_errors, "notes": note_lines,
              "elapsed_seconds": elapsed}
    jpath = a.json_out or os.path.join(RESULTS, f"s3-{ts}.json")
    write_json(jpath, result)

    body = []
    if res:
        body += [f"Reads and listing: {a.rounds} round(s); big object {a.big_mib} MiB, "
                 f"{a.small_files} x {FILE_SIZE // 1024} KiB objects, a directory of "
                 f"{a.list_files:,} objects; medians (min-max over rounds).", "",
                 reads_table(an, res), "", "freshfs's advantage (>1 = freshfs better):",
                 *ratio_lines(an, res), ""]
    if lp:
        body += [f"Visibility latency: {a.changes} changes ({(a.changes + 1) // 2} modify, "
                 f"{a.changes // 2} create), cap {a.cap:g} s.", "",
                 changes.lat_table(lp, a.cap, LAT_LABELS), ""]
    elif lat_error:
        body += [f"Visibility latency: FAILED: {lat_error.splitlines()[0]}", ""]
    body += ["Targets:", *target_lines(an, res, lp), "", "Notes:", *note_lines, ""]
    print("\n" + "\n".join(body))
    print(f"elapsed {elapsed} s; raw results: {os.path.relpath(jpath, ROOT)}")

    if a.write_docs:
        m = machine
        section = "\n".join([
            SECTION, "", DOC_METHOD, f"### Latest run ({ts})", "",
            f"Command: `{command.strip()}`; freshfs-mount {binary['version'].split()[-1]} "
            f"built {binary['mtime']}, tree at the start: `{result['freshfs_source']}`; "
            f"{elapsed:.0f} s.", "",
            f"Machine: {m['nproc']} CPUs (`nproc`), {m['cpu_model']}, kernel `{m['kernel']}`, "
            f"{m['mem_total']} RAM, libfuse {m['libfuse']}; {m['s3fs'].split(' with ')[0]}, "
            f"{m['rclone']}, s3rver {m['s3rver']} on node {m['node']}, boto3 {m['boto3']}.",
            "", *body])
        write_docs(section)
    return 1 if b.errors else 0
