"""FUSE daemons run in the foreground, the mount table, and a guard against hung mounts."""
import os
import shutil
import subprocess
import threading
import time

from . import proc

log = proc.logger("bench")


def _resolved(path):
    """path made absolute with its parent's symlinks resolved, without an lstat of path
    itself (that of a hung FUSE mount point blocks)."""
    path = os.path.abspath(path)
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


def mountinfo(path):
    """The /proc/self/mountinfo fields of the mount at path (absolute, no symlinks), or None."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == path:
                return fields
    return None


def mounted(path):
    """fs type of the mount at path, or None."""
    fields = mountinfo(_resolved(path))
    return fields[fields.index("-") + 1] if fields else None


def mount_options(path):
    fl = mountinfo(_resolved(path))
    if not fl:
        return {}
    i = fl.index("-")
    return {"mount": fl[5], "super": fl[i + 3], "fstype": fl[i + 1], "source": fl[i + 2]}


def mounts_under(path):
    path = os.path.realpath(path)
    res = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if mp == path or mp.startswith(path + "/"):
                res.append(mp)
    return res


def unmount(mnt):
    """fusermount3 -u, falling back to a lazy umount; quiet when nothing is mounted."""
    if not mounted(mnt):
        return
    r = subprocess.run(["fusermount3", "-u", mnt], capture_output=True)
    if r.returncode != 0 and mounted(mnt):
        log(f"fusermount3 -u {mnt} failed ({r.stderr.decode().strip()}); umount -l")
        subprocess.run(["umount", "-l", mnt])


class Daemon:
    """A FUSE daemon run in the foreground, its output in logpath. start() returns once the
    mount point shows in the mount table (polled every `poll` seconds, so the mount time
    is measured: mount_seconds) and records the kernel-visible mount options."""

    def __init__(self, name, argv, mnt, logpath, env=None, append=False, poll=0.05):
        self.name, self.argv, self.mnt, self.logpath = name, argv, _resolved(mnt), logpath
        self.env, self.append, self.poll = env, append, poll
        self.proc = None
        self.options = {}

    def start(self, timeout=120):
        os.makedirs(self.mnt, exist_ok=True)
        if mounted(self.mnt):
            raise RuntimeError(f"{self.mnt} is already a mount point")
        self.logf = open(self.logpath, "ab" if self.append else "wb")
        log(f"mount {self.name}: {' '.join(self.argv)}")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env)
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            fstype = mounted(self.mnt)
            if fstype:
                self.mount_seconds = time.perf_counter() - t0
                if not fstype.startswith("fuse"):
                    raise RuntimeError(f"{self.mnt}: unexpected fs type {fstype}")
                self.options = mount_options(self.mnt)
                return self.mount_seconds
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; "
                                   f"log:\n{self.tail()}")
            time.sleep(self.poll)
        raise RuntimeError(f"{self.name} did not mount within {timeout} s; log:\n{self.tail()}")

    def tail(self, n=4000):
        return proc.tail(self.logpath, n)

    def log_text(self):
        return proc.read_text(self.logpath)

    def cpu(self):
        return proc.cpu_of(self.proc.pid) if self.proc else float("nan")

    def stop(self):
        if self.proc is None:
            return
        unmount(self.mnt)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            log(f"{self.name} (pid {self.proc.pid}) did not exit; killing it")
            self.proc.kill()
            self.proc.wait()
        self.exit_code = self.proc.returncode
        self.logf.close()
        self.proc = None


class Guard:
    """Aborts a mount whose daemon does not answer an operation within `seconds` (a hung
    daemon would block the bench forever): through /sys/fs/fuse/connections/N/abort
    where fusectl is mounted, else by killing the daemon (by PID), which fails the
    pending requests with ECONNABORTED."""

    def __init__(self, daemon, seconds, what):
        self.m, self.seconds, self.what, self.fired = daemon, seconds, what, False

    def _fire(self):
        self.fired = True
        log(f"{self.what}: no answer within {self.seconds:g} s; aborting {self.m.mnt}")
        try:
            fl = mountinfo(self.m.mnt)
            if fl:
                ctl = f"/sys/fs/fuse/connections/{fl[2].split(':')[1]}/abort"
                if os.path.exists(ctl):
                    with open(ctl, "w") as a:
                        a.write("1")
                    return
        except OSError as e:
            log(f"abort {self.m.mnt}: {e}")
        if self.m.proc is not None:
            log(f"killing {self.m.name} (pid {self.m.proc.pid})")
            self.m.proc.kill()

    def __enter__(self):
        self.timer = threading.Timer(self.seconds, self._fire)
        self.timer.daemon = True
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.cancel()
        if self.fired:
            raise RuntimeError(f"{self.what}: no answer within {self.seconds:g} s (mount "
                               f"aborted; then: {exc[1]!r}); log:\n{self.m.tail()}")
        return False


def stop_all(daemons):
    """Stops every daemon (a failure is logged; the others are still stopped)."""
    for d in list(daemons):
        try:
            d.stop()
        except Exception as e:  # keep unmounting the others
            log(f"stopping {d.name}: {e}")


def remove_unless_mounted(tmp, keep=False):
    """Removes a benchmark's temporary directory unless something is still mounted below
    it (or keep)."""
    left = mounts_under(tmp)
    if left:
        log(f"still mounted, NOT removing {tmp}: {left}")
    elif keep:
        log(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
