"""What an upgrade in place costs applications, and what keeping the resume state costs
(issue 15; docs/resume.md#costs). Everything is measured in the same run, on one
directory source under BENCH_DIR, and reported as ratios against a baseline of that run.

1. Upgrade pause. A reader process opens, reads and closes 64 small files of a
   freshfs-mount in a loop (pages cached: every open still reaches the daemon),
   recording each call's latency. After a steady window (the baseline), the mount is
   taken over TAKEOVERS times (freshfs-mount --take-over, alternating with the +next
   build). Reported: p50/p99/max of the latency in the steady window and of the calls
   that started during a take-over (from starting the successor until the predecessor
   exited), their ratio, and freshfs_resume_pause_seconds of each successor.
2. Crash pause. The same reader on a mount this script makes as freshfs-csi does (it
   opens /dev/fuse, mounts it with fd=N, creates the state memfd and keeps both), served
   by a freshfs-mount given them (--state-fd); it is SIGKILLed KILLS times, each time a
   successor with --resume crash is started on the same descriptors. Reported:
   p50/p99/max of the calls that started between the kill and the successor's metrics
   endpoint answering, against the steady window, and the requests resent to each
   successor (freshfs_fuse_resent_requests_total). Needs Linux 6.9+ (FUSE_NOTIFY_RESEND).
3. Journal cost. FILES files in directories of 100, on a fresh mount each round, with
   the state journal (default) and without (--resumable=false): stat of every file
   (one LOOKUP each: one journal record) then open+close of every file (one OPEN and
   RELEASE each: two records). Seconds per contender, median of ROUNDS rounds
   (contenders interleaved), and the ratio journal/none.

Prints a table. No assertion: a run reports, it does not judge.

Usage: bench/resume [--takeovers N] [--kills N] [--files N] [--rounds N]
Env:   BENCH_DIR (parent of the temporary data, default /tmp),
       BENCH_BUILD_DIR (default <repo>/build; freshfs-mount and freshfs-mount-next there).
"""
import argparse
import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from . import ROOT, metrics, proc
from .mount import mounted
from .proc import read_text, wait_for
from .stats import pct

BUILD = os.environ.get("BENCH_BUILD_DIR", os.path.join(ROOT, "build"))
MOUNT = os.path.join(BUILD, "cmd/freshfs-mount/freshfs-mount")
NEXT = os.path.join(BUILD, "cmd/freshfs-mount/freshfs-mount-next")
SMALL_FILES = 64

READER = r"""
import os, sys, time
mnt, out, stop = sys.argv[1], sys.argv[2], sys.argv[3]
names = [os.path.join(mnt, "r%d" % i) for i in range(NFILES)]
rows = []
i = 0
while not os.path.exists(stop):
    t0 = time.monotonic_ns()
    try:
        fd = os.open(names[i % len(names)], os.O_RDONLY)
        os.read(fd, 8192)
        os.close(fd)
        ok = 1
    except OSError:
        ok = 0
    rows.append("%d %d %d" % (t0, time.monotonic_ns() - t0, ok))
    i += 1
with open(out, "w") as f:
    f.write("\n".join(rows))
""".replace("NFILES", str(SMALL_FILES))


class Daemon:
    """One freshfs-mount -f, its log in LOG (appended)."""

    def __init__(self, binary, args, src, mnt, log):
        self.log = log
        with open(log, "ab") as f:
            self.proc = subprocess.Popen([binary, "-f"] + args + [src, mnt], stdout=f, stderr=f)

    def metrics_url(self):
        """The newest metrics address in the (shared) log, or None."""
        urls = metrics.urls_in(read_text(self.log))
        return urls[-1] if urls else None


def unmount(mnt, daemons):
    subprocess.run(["fusermount3", "-u", mnt], stderr=subprocess.DEVNULL)
    for d in daemons:
        proc.stop(d.proc)
    if mounted(mnt):
        subprocess.run(["umount", "-l", mnt])


def percentiles(values):
    """p50, p99 (nearest rank) and max; NaN for no values."""
    if not values:
        return (float("nan"),) * 3
    return pct(values, 50), pct(values, 99), max(values)


def small_source(work, tag):
    """TAG-src with SMALL_FILES files of 4 KiB (r0, r1, ...), an empty TAG-mnt, and the
    path of TAG.log, under work."""
    src, mnt = os.path.join(work, f"{tag}-src"), os.path.join(work, f"{tag}-mnt")
    os.makedirs(src)
    os.makedirs(mnt)
    for i in range(SMALL_FILES):
        with open(os.path.join(src, "r%d" % i), "wb") as f:
            f.write(os.urandom(4096))
    return src, mnt, os.path.join(work, f"{tag}.log")


def upgrade_pause(work, takeovers):
    src, mnt, log = small_source(work, "u")
    args = ["--metrics-address", "127.0.0.1:0"]
    daemons = [Daemon(MOUNT, args, src, mnt, log)]
    events, pauses = [], []
    stop = os.path.join(work, "stop")
    out = os.path.join(work, "latencies")
    try:
        if not wait_for(lambda: mounted(mnt), 10):
            sys.exit("bench/resume: no mount at %s:\n%s" % (mnt, open(log).read()))
        reader = subprocess.Popen([sys.executable, "-c", READER, mnt, out, stop])
        time.sleep(0.5)  # warm: every file's pages cached
        steady = (time.monotonic_ns(), None)
        time.sleep(2)
        steady = (steady[0], time.monotonic_ns())
        for n in range(takeovers):
            binary = NEXT if n % 2 == 0 else MOUNT
            old = daemons[-1]
            t0 = time.monotonic_ns()
            daemons.append(Daemon(binary, ["--take-over"] + args, src, mnt, log))
            try:
                code = old.proc.wait(20)
            except subprocess.TimeoutExpired:
                code = None
            t1 = time.monotonic_ns()
            if code != 0:
                sys.exit("bench/resume: take-over %d failed (predecessor status %s):\n%s"
                         % (n, code, open(log).read()[-4000:]))
            events.append((t0, t1))
            wait_for(lambda: daemons[-1].metrics_url() is not None, 5)
            url = daemons[-1].metrics_url()
            pauses.append(metrics.value(url, "freshfs_resume_pause_seconds") if url else None)
            time.sleep(1)
        open(stop, "w").close()
        reader.wait(30)
    finally:
        unmount(mnt, daemons)
    rows = [tuple(int(x) for x in line.split()) for line in open(out).read().split("\n") if line]
    failed = sum(1 for r in rows if r[2] == 0)
    base = [r[1] / 1e6 for r in rows if steady[0] <= r[0] < steady[1]]
    around = [r[1] / 1e6 for r in rows if any(a <= r[0] <= b for a, b in events)]
    return base, around, failed, pauses


MS_NOSUID, MS_NODEV, MNT_DETACH = 2, 4, 2


def crash_pause(work, kills):
    src, mnt, log = small_source(work, "c")
    libc = ctypes.CDLL(None, use_errno=True)
    fuse_fd = os.open("/dev/fuse", os.O_RDWR)
    state_fd = os.memfd_create("freshfs-state", 0)
    for fd in (fuse_fd, state_fd):
        os.set_inheritable(fd, True)
    options = "fd=%d,rootmode=40000,user_id=0,group_id=0,default_permissions,allow_other" % fuse_fd
    if libc.mount(b"freshfs-bench", mnt.encode(), b"fuse.freshfs", MS_NOSUID | MS_NODEV,
                  options.encode()) != 0:
        sys.exit("bench/resume: mount(2) of /dev/fuse: %s" % os.strerror(ctypes.get_errno()))
    args = ["--metrics-address", "127.0.0.1:0", "--state-fd", str(state_fd)]

    def spawn(extra):
        with open(log, "ab") as f:
            return subprocess.Popen([MOUNT, "-f"] + args + extra + [src, "/dev/fd/%d" % fuse_fd],
                                    stdout=f, stderr=f, pass_fds=(fuse_fd, state_fd))

    def urls():
        return metrics.urls_in(read_text(log))

    def answering(url):
        try:
            metrics.fetch(url, timeout=1)
            return True
        except OSError:
            return False

    daemon = spawn([])
    events, resent = [], []
    stop = os.path.join(work, "c-stop")
    out = os.path.join(work, "c-latencies")
    try:
        if not wait_for(lambda: len(urls()) == 1 and os.path.exists(os.path.join(mnt, "r0")), 10):
            sys.exit("bench/resume: the first daemon did not serve:\n" + open(log).read())
        reader = subprocess.Popen([sys.executable, "-c", READER, mnt, out, stop])
        time.sleep(0.5)
        steady = (time.monotonic_ns(), None)
        time.sleep(2)
        steady = (steady[0], time.monotonic_ns())
        for n in range(kills):
            before = len(urls())
            t0 = time.monotonic_ns()
            daemon.kill()
            daemon.wait()
            daemon = spawn(["--resume", "crash"])
            if not wait_for(lambda: len(urls()) > before and answering(urls()[-1]), 20):
                sys.exit("bench/resume: successor %d did not serve:\n%s" % (n, open(log).read()[-4000:]))
            events.append((t0, time.monotonic_ns()))
            resent.append(metrics.value(urls()[-1], "freshfs_fuse_resent_requests_total"))
            time.sleep(1)
        open(stop, "w").close()
        reader.wait(30)
    finally:
        proc.stop(daemon)
        libc.umount2(mnt.encode(), MNT_DETACH)
        os.close(fuse_fd)
        os.close(state_fd)
    rows = [tuple(int(x) for x in line.split()) for line in open(out).read().split("\n") if line]
    failed = sum(1 for r in rows if r[2] == 0)
    base = [r[1] / 1e6 for r in rows if steady[0] <= r[0] < steady[1]]
    around = [r[1] / 1e6 for r in rows if any(a <= r[0] <= b for a, b in events)]
    return base, around, failed, resent


def print_pause(title, base, around, failed):
    b50, b99, bmax = percentiles(base)
    e50, e99, emax = percentiles(around)
    print("%s, %d reader calls failed" % (title, failed))
    print("  %-22s %8s %9s %9s %9s" % ("open+read+close, ms", "calls", "p50", "p99", "max"))
    print("  %-22s %8d %9.3f %9.3f %9.3f" % ("steady (baseline)", len(base), b50, b99, bmax))
    print("  %-22s %8d %9.3f %9.3f %9.3f" % ("around the event", len(around), e50, e99, emax))
    print("  %-22s %8s %9.2f %9.2f %9.2f" % ("ratio", "", e50 / b50, e99 / b99, emax / bmax))


def journal_cost(work, files, rounds):
    src = os.path.join(work, "j-src")
    for i in range(files):
        d = os.path.join(src, "d%d" % (i // 100))
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, "f%d" % i), "w").close()
    paths = [os.path.join("d%d" % (i // 100), "f%d" % i) for i in range(files)]
    contenders = {"journal": [], "none": ["--resumable=false"]}
    times = {name: [] for name in contenders}
    for r in range(rounds):
        order = list(contenders) if r % 2 == 0 else list(reversed(list(contenders)))
        for name in order:
            mnt = os.path.join(work, "j-mnt-%s-%d" % (name, r))
            os.makedirs(mnt)
            log = os.path.join(work, "j-%s.log" % name)
            d = Daemon(MOUNT, contenders[name], src, mnt, log)
            try:
                if not wait_for(lambda: mounted(mnt), 10):
                    sys.exit("bench/resume: no mount:\n" + open(log).read())
                t0 = time.perf_counter()
                for p in paths:
                    os.stat(os.path.join(mnt, p))
                for p in paths:
                    os.close(os.open(os.path.join(mnt, p), os.O_RDONLY))
                times[name].append(time.perf_counter() - t0)
            finally:
                unmount(mnt, [d])
    return {name: statistics.median(t) for name, t in times.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--takeovers", type=int, default=6)
    ap.add_argument("--kills", type=int, default=6)
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    for b in (MOUNT, NEXT):
        if not os.access(b, os.X_OK):
            sys.exit("bench/resume: %s missing (build freshfs-mount and freshfs-mount-next)" % b)
    work = tempfile.mkdtemp(prefix="freshfs-resume-", dir=os.environ.get("BENCH_DIR", "/tmp"))
    try:
        base, around, failed, pauses = upgrade_pause(work, a.takeovers)
        print_pause("upgrade in place: %d take-overs" % a.takeovers, base, around, failed)
        shown = ["%.4f" % p if p is not None else "?" for p in pauses]
        print("  freshfs_resume_pause_seconds per take-over: " + " ".join(shown))
        base, around, failed, resent = crash_pause(work, a.kills)
        print_pause("crash resume: %d SIGKILLs" % a.kills, base, around, failed)
        shown = ["%d" % r if r is not None else "?" for r in resent]
        print("  freshfs_fuse_resent_requests_total per successor: " + " ".join(shown))
        cost = journal_cost(work, a.files, a.rounds)
        print("state journal: stat + open/close of %d files on a fresh mount, median of %d"
              % (a.files, a.rounds))
        print("  journal %.3f s, none (--resumable=false) %.3f s, ratio %.3f"
              % (cost["journal"], cost["none"], cost["journal"] / cost["none"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
