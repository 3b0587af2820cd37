"""freshfs benchmarks: one package behind the executable scripts in bench/.

Shared parts: proc (processes, logs, CPU time), mount (FUSE daemons, mount table,
hung-mount guard), server (s3rver), stats (percentiles, summaries, formatting),
metrics (freshfs's Prometheus endpoint), build (freshfs-mount, passthrough_ll and
the fsbench helper), host (machine and tree description), docs (generated sections
of docs/benchmarks.md). One module per benchmark: run, freshness, fsops, s3,
lazy_mount, resume, fresh_under_load, and report (with cases and render).
"""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
BENCH = os.path.join(ROOT, "bench")
RESULTS = os.path.join(BENCH, "results")
DOC = os.path.join(ROOT, "docs", "benchmarks.md")
