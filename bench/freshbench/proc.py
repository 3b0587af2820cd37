"""Processes: logging, running commands, CPU and memory of a process, log files."""
import os
import resource
import socket
import subprocess
import sys
import time


def logger(tag):
    """A log function writing "[tag] msg" lines to stderr."""
    def log(msg):
        print(f"[{tag}] {msg}", file=sys.stderr, flush=True)
    return log


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def out(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def version(argv, missing="unknown"):
    """First line of a tool's version output (stdout, else stderr)."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return ((r.stdout or r.stderr).strip().splitlines() or ["?"])[0].strip()
    except (OSError, subprocess.TimeoutExpired):
        return missing


def proc_cpu_seconds(pid):
    """user+system CPU of a whole process (all threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_of(pid):
    """As proc_cpu_seconds, NaN when the process is gone."""
    try:
        return proc_cpu_seconds(pid)
    except (OSError, IndexError, ValueError):
        return float("nan")


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def high_priority():
    """preexec_fn for timed helpers: nice -20 where allowed (shared, noisy machines:
    fewer preemptions)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -20)
    except OSError:
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, step=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False


def stop(proc, timeout=10):
    """SIGTERM to a Popen (by PID), SIGKILL if it has not exited within timeout; returns
    its exit status."""
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def tail(path, n=3000):
    try:
        with open(path, "rb") as f:
            return f.read()[-n:].decode(errors="replace")
    except OSError:
        return ""


def run_logged(argv, logpath, timeout=None):
    """Runs argv, its output into logpath and (prefixed) onto stderr; returns (rc, seconds,
    the last lines of output)."""
    t0 = time.time()
    last = []
    with open(logpath, "w") as logf:
        logf.write("$ " + " ".join(argv) + "\n")
        logf.flush()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, text=True, errors="replace")
        try:
            for line in p.stdout:
                logf.write(line)
                print("    " + line.rstrip("\n"), file=sys.stderr, flush=True)
                last = (last + [line.rstrip("\n")])[-40:]
                if timeout and time.time() - t0 > timeout:
                    raise subprocess.TimeoutExpired(argv, timeout)
            p.wait()
        except BaseException:
            stop(p, timeout=120)  # by PID; the part's own cleanup unmounts what it mounted
            raise
    return p.returncode, round(time.time() - t0, 1), last


def raise_nofile(need):
    """Raises RLIMIT_NOFILE (inherited by the daemons; passthrough_ll keeps one O_PATH fd
    per looked-up inode) as far as allowed; returns the soft limit set."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(need, soft)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            return hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want
