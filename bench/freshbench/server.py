"""s3rver (the npm S3 server in .tools/, installed by scripts/deps.sh) as a benchmark's
S3 endpoint, and a boto3 client for it."""
import os
import re
import subprocess
import time
import urllib.request

from . import ROOT, proc

S3RVER = os.path.join(ROOT, ".tools", "node_modules", ".bin", "s3rver")
KEY = "S3RVER"  # s3rver's fixed access key id and secret


class S3rver:
    """One s3rver process serving `data` on a free port of 127.0.0.1, creating `buckets`."""

    def __init__(self, name, data, logpath, buckets):
        self.name, self.data, self.logpath, self.buckets = name, data, logpath, buckets
        self.port, self.proc = proc.free_port(), None

    def start(self):
        env = dict(os.environ, NODE_OPTIONS="--openssl-legacy-provider")
        argv = [S3RVER, "-d", self.data, "-a", "127.0.0.1", "-p", str(self.port)]
        for b in self.buckets:
            argv += ["--configure-bucket", b]
        self.argv = argv
        self.logf = open(self.logpath, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"s3rver {self.name} exited: {self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"s3rver {self.name} not answering on port {self.port}")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def cpu(self):
        return proc.cpu_of(self.proc.pid)

    def tail(self, n=3000):
        return proc.tail(self.logpath, n)

    def errors(self):
        """Requests s3rver answered with an error, by message (from its log)."""
        found = {}
        for line in proc.read_text(self.logpath).splitlines():
            line = re.sub(r"\x1b\[[0-9;]*m", "", line)
            if line.startswith("error:"):
                k = line[6:].strip()
                found[k] = found.get(k, 0) + 1
        return found

    def stop(self):
        if self.proc is None:
            return
        proc.stop(self.proc, timeout=10)
        self.logf.close()
        self.proc = None


def client(port):
    """boto3 S3 client for the s3rver on port (path-style, no retries)."""
    import boto3
    import botocore.config
    return boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id=KEY,
        aws_secret_access_key=KEY, region_name="us-east-1",
        config=botocore.config.Config(s3={"addressing_style": "path"},
                                      max_pool_connections=32,
                                      retries={"total_max_attempts": 1}))


def credentials_env():
    """The environment for a freshfs-mount (or aws CLI) talking to s3rver."""
    return dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=KEY)
