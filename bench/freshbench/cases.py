"""bench/report: the raw JSON of every part turned into one list of cases.

A case is one measured quantity (e.g. "cached sequential read, local") with every
sample of every contender that ran it. Its summary is the median of the samples
(latency cases: a percentile over all changes, "never seen" counting as infinite);
freshfs's advantage over a contender is freshfs/contender for rates and
contender/freshfs for times (>1 = freshfs better), given as the ratio of the
summaries and, where the samples were taken round by round (back to back), as the
median of the per-round ratios.
"""
import csv
import math
import os
import statistics

from .stats import pct

# id: (column header, description)
CONTENDERS = {
    "freshfs": ("freshfs", "freshfs-mount, Release build (`build-bench/`)"),
    "pll-always": ("pll always", "libfuse `passthrough_ll -o cache=always`: FUSE's ceiling"),
    "pll-never": ("pll never", "libfuse `passthrough_ll -o cache=never`: FUSE's floor"),
    "bindfs": ("bindfs", "`bindfs` (Debian), defaults"),
    "rclone": ("rclone", "`rclone mount` (Debian), defaults: no VFS cache"),
    "rclone-full": ("rclone full", "`rclone mount --vfs-cache-mode full`"),
    "s3fs": ("s3fs", "`s3fs` (Debian s3fs-fuse), defaults"),
    "native": ("native", "the source directory itself, no FUSE"),
    "raw-get": ("raw GET", "`curl` GET straight from s3rver"),
}
MIB = 1 << 20
INF = math.inf


def _num(x):
    return None if x is None or x == "never" else float(x)


def summarize(samples, stat):
    v = [x for x in samples if x is not None]
    if not v:
        return None
    out = {"n": len(v), "min": min(v), "max": max(v)}
    if stat == "median":
        out["value"] = statistics.median(v)
    else:
        out["value"] = pct(v, float(stat[1:]))
        out["never"] = sum(math.isinf(x) for x in v)
    return out


def _ratio(f, p, higher):
    if f is None or p is None:
        return None
    if higher:
        f, p = p, f  # rates: freshfs/peer == (1/peer)/(1/freshfs)
    # times: peer/freshfs
    if math.isinf(p) and math.isinf(f):
        return None
    if math.isinf(p):
        return INF
    if math.isinf(f):
        return 0.0
    if f == 0:
        return None
    return p / f


def advantage(case, name):
    higher, fs = case["higher"], case["summary"].get("freshfs")
    ps = case["summary"].get(name)
    if not fs or not ps:
        return None
    out = {"of_summaries": _ratio(fs["value"], ps["value"], higher), "per_round": None}
    if case["paired"]:
        pairs = [_ratio(f, p, higher) for f, p in zip(case["samples"]["freshfs"],
                                                      case["samples"][name])
                 if f is not None and p is not None]
        pairs = [r for r in pairs if r is not None]
        if pairs:
            out["per_round"] = statistics.median(pairs)
    out["shown"] = out["per_round"] if out["per_round"] is not None else out["of_summaries"]
    return out


def make_case(cid, group, label, unit, higher, samples, source, stat="median", paired=True,
              freshfs_variant=None, note=None):
    samples = {k: v for k, v in samples.items() if v and any(x is not None for x in v)}
    if "freshfs" not in samples:
        return None
    c = {"id": cid, "group": group, "label": label, "unit": unit, "higher": higher,
         "stat": stat, "paired": paired, "source": source, "samples": samples,
         "freshfs_variant": freshfs_variant, "note": note}
    c["summary"] = {k: summarize(v, stat) for k, v in samples.items()}
    c["advantage"] = {k: advantage(c, k) for k in samples if k != "freshfs"}
    return c


def _scaled(vals, scale):
    return [None if x is None else x * scale for x in vals]


# ---------------------------------------------------------------- per part

def from_run(r):
    names = {"freshfs": "freshfs", "passthrough_ll": "pll-always",
             "passthrough_ll_never": "pll-never", "bindfs": "bindfs", "rclone": "rclone",
             "native": "native"}
    out = []
    for metric, label, unit, scale in (("read", "cached sequential read", "GiB/s", 1),
                                       ("stat", "cached stat", "k stat/s", 1e-3)):
        res = r["results"].get(metric, {})
        samples = {names[k]: _scaled(v["runs"], scale) for k, v in res.items() if k in names}
        out.append(make_case(f"local.{metric}", "local", label, unit, True, samples,
                             "bench/run"))
    return out


def from_small(r):
    names = {"freshfs": "freshfs", "passthrough_ll": "pll-always", "pll-never": "pll-never",
             "bindfs": "bindfs", "rclone": "rclone", "native": "native"}
    st = (r.get("reads") or {}).get("stats", {}).get("small", {})
    samples = {names[k]: _scaled(v["runs"], 1e-3) for k, v in st.items() if k in names}
    out = [make_case("local.small_reread", "local", "small-file re-read, 2 s later",
                     "k files/s", True, samples, "bench/freshness")]
    if "freshfs-ro" in st:
        ro = dict(samples, freshfs=_scaled(st["freshfs-ro"]["runs"], 1e-3))
        out.append(make_case("local.small_reread_ro", "local",
                             "small-file re-read, 2 s later (freshfs `--read-only`)",
                             "k files/s", True, ro, "bench/freshness",
                             freshfs_variant="freshfs --read-only"))
    return out


def latency_cases(lat, group, modes, others, source):
    """lat: the `latency` object of bench/freshness or bench/s3 (raw: name -> change ->
    seconds or null = never seen); modes: (freshfs contender, mode label)."""
    raw = {n: [INF if x is None else float(x) for _, x in sorted(v.items(), key=lambda kv:
                                                                 int(kv[0]))]
           for n, v in lat["raw"].items()}
    out = []
    for fname, mode in modes:
        if fname not in raw:
            continue
        samples = {k: raw[k] for k in others if k in raw}
        samples["freshfs"] = raw[fname]
        for p in ("p50", "p99"):
            out.append(make_case(f"{group}.visibility_{p}_{fname}", group,
                                 f"visibility of a change, {p}, freshfs {mode}", "ms", False,
                                 {k: _scaled(v, 1000) for k, v in samples.items()}, source,
                                 stat=p, paired=False, freshfs_variant=f"{fname}"))
    return out


def from_latency(r):
    lat = r.get("latency")
    if not lat:
        return []
    return latency_cases(lat, "local", (("freshfs-poll", "poll 1 s"),
                                        ("freshfs-inotify", "inotify")),
                         ("pll-always", "pll-never", "bindfs", "rclone"), "bench/freshness")


def from_fsops(r):
    labels = {"list_uncached_readdir": "listing 10k entries, uncached: readdir",
              "list_uncached": "listing 10k entries, uncached: readdir+stat",
              "list_cached_readdir": "listing 10k entries, cached 2 s later: readdir",
              "list_cached": "listing 10k entries, cached 2 s later: readdir+stat",
              "write": "sequential write (open to close)",
              "create": "small-file creates (4 KiB)"}
    n = r["params"]["list_files"]
    out = []
    for c, samples in r["samples"].items():
        unit, higher = r["units"][c], r["higher_is_better"][c]
        scale = 1000 if unit == "s" else 1
        out.append(make_case(f"local.{c}", "local",
                             labels[c].replace("10k", f"{n / 1000:g}k"),
                             "ms" if unit == "s" else unit, higher,
                             {k: _scaled(v, scale) for k, v in samples.items()}, "bench/fsops"))
    return out


S3_ROWS = [  # (phase, key, label, unit, scale, higher)
    ("reads", "cold", "cold sequential read", "MiB/s", 1 / MIB, True),
    ("reads", "cached", "cached re-read", "MiB/s", 1 / MIB, True),
    ("reads", "small_first", "small files, first read", "files/s", 1, True),
    ("reads", "small_reread", "small files, re-read 2 s later", "files/s", 1, True),
    ("list", "total_s", "listing 10k objects: mount + first listing", "s", 1, False),
    ("list", "cached_s", "listing 10k objects: cached, 2 s later", "s", 1, False),
    ("writes", "write", "sequential write, until close returns", "MiB/s", 1 / MIB, True),
    ("writes", "write_durable", "sequential write, until on the server", "MiB/s", 1 / MIB,
     True),
    ("writes", "create", "small-file creates, until close returns", "files/s", 1, True),
    ("writes", "create_durable", "small-file creates, until on the server", "files/s", 1,
     True)]


def from_s3(r):
    names = {"freshfs": "freshfs", "s3fs": "s3fs", "rclone": "rclone",
             "rclone-full": "rclone-full", "raw": "raw-get"}
    out = []
    nlist = (r.get("params") or {}).get("list_files", 10000)
    for phase, key, label, unit, scale, higher in S3_ROWS:
        recs = r.get(phase) or {}
        samples = {}
        for k, rounds in recs.items():
            if k not in names:
                continue
            vals = []
            for rec in rounds:
                v = rec.get(key)
                if isinstance(v, list):
                    v = statistics.median(v) if v else None
                vals.append(None if v is None else v * scale)
            samples[names[k]] = vals
        out.append(make_case(f"s3.{phase}.{key}", "s3",
                             label.replace("10k", f"{nlist / 1000:g}k"), unit, higher,
                             samples, "bench/s3"))
    if r.get("latency"):
        out += latency_cases(r["latency"], "s3", (("freshfs-poll", "poll 1 s"),
                                                  ("freshfs-events", "S3 events")),
                             ("s3fs", "rclone", "rclone-full"), "bench/s3")
    return out


def build(raw):
    """raw: part name -> its JSON. Returns (cases, extra) where extra carries what is not
    a contender comparison (scale)."""
    cases = []
    for part, fn in (("run", from_run), ("small", from_small), ("fsops", from_fsops),
                     ("latency", from_latency), ("s3", from_s3)):
        if part in raw:
            try:
                cases += fn(raw[part])
            except (KeyError, TypeError, ValueError) as e:  # a part's format changed
                cases.append({"id": f"{part}.error", "error": f"{type(e).__name__}: {e}"})
    cases = [c for c in cases if c]
    order = ["local.read", "local.stat", "local.small_reread", "local.small_reread_ro",
             "local.list_uncached_readdir", "local.list_uncached", "local.list_cached_readdir",
             "local.list_cached", "local.write", "local.create"]
    cases.sort(key=lambda c: (c["id"].split(".")[0] != "local",
                              order.index(c["id"]) if c["id"] in order else len(order)))
    extra = {"scale": {}}
    if "scale" in raw:
        extra["scale"]["bench/scale"] = raw["scale"]
    if "lazy-mount" in raw:
        extra["scale"]["bench/lazy-mount"] = raw["lazy-mount"]
    return cases, extra


# ---------------------------------------------------------------- output

def _cell(x):
    if x is None:
        return ""
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return f"{x:.6g}"


def write_csv(cases, out):
    with open(os.path.join(out, "samples.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case", "label", "unit", "contender", "sample", "value"])
        for c in cases:
            if "error" in c:
                continue
            for k, vals in c["samples"].items():
                for i, v in enumerate(vals):
                    w.writerow([c["id"], c["label"], c["unit"], k, i,
                                "never" if v is not None and math.isinf(v) else _cell(v)])
    with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case", "label", "unit", "statistic", "higher_is_better", "contender",
                    "value", "min", "max", "n", "freshfs_advantage",
                    "freshfs_advantage_per_round"])
        for c in cases:
            if "error" in c:
                continue
            for k, s in c["summary"].items():
                if not s:
                    continue
                adv = c["advantage"].get(k) or {}
                w.writerow([c["id"], c["label"], c["unit"], c["stat"], c["higher"], k,
                            _cell(s["value"]), _cell(s["min"]), _cell(s["max"]), s["n"],
                            _cell(adv.get("of_summaries")), _cell(adv.get("per_round"))])
