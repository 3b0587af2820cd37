"""Statistics and their formatting, shared by every benchmark and the report."""
import json
import math
import os
import statistics


def pct(vals, p):
    """Nearest-rank percentile (None for no values); timeouts ("never seen") are
    math.inf."""
    s = sorted(vals)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)] if s else None


def summarize(vals):
    """median, min, max and every sample."""
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "runs": vals}


def summarize_present(vals):
    """median, min, max and count of the samples that are not None; None if none is."""
    v = [x for x in vals if x is not None]
    if not v:
        return None
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


def fmt_lat(v):
    """A latency in seconds as ms or s; inf = "never"."""
    if v is None:
        return ""
    if math.isinf(v):
        return "never"
    return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"


def jsonable(x):
    """x with infinities as "never" ("-inf"), NaN as None and keys as strings, for JSON."""
    if isinstance(x, float) and math.isinf(x):
        return "never" if x > 0 else "-inf"
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    return x


def flatten(d, prefix=""):
    """Numeric leaves of a JSON object as (dotted key, value)."""
    found = []
    if isinstance(d, dict):
        for k, v in d.items():
            found += flatten(v, f"{prefix}{k}.")
    elif isinstance(d, (int, float)) and not isinstance(d, bool):
        found.append((prefix[:-1], d))
    return found


def latency_stats(lat, kinds, who):
    """n, p50, p99, max and never-seen count of one mount's latencies (change id ->
    seconds, math.inf = never seen), per kind of change ("modify", "create") and "all";
    kinds: change id -> kind. RuntimeError when the poller of `who` missed a change."""
    out = {}
    for kind in ("modify", "create", "all"):
        v = [x for i, x in lat.items() if kind == "all" or kinds[i] == kind]
        if len(v) != sum(1 for i in kinds if kind == "all" or kinds[i] == kind):
            raise RuntimeError(f"poller {who}: missing results")
        out[kind] = {"n": len(v), "p50": pct(v, 50), "p99": pct(v, 99), "max": max(v),
                     "never": sum(math.isinf(x) for x in v)}
    return out


def write_json(path, result, indent=2):
    """Writes jsonable(result) to path, creating its directory."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(jsonable(result), f, indent=indent)
