"""The visibility-latency phases of bench/freshness and bench/s3: the source changes
(change j of a kind is a file or object that starts with token(tag, j)) and the
tables of their results."""
from .stats import fmt_lat


def token(tag, j):
    return f"{tag}-{j:05d}-"


def content(tag, j, size):
    head = token(tag, j).encode()
    return head + b"x" * (size - len(head))


def lat_table(lp, cap, labels):
    """n, p50, p99, max and never seen per contender (labels: name -> row label) and kind
    of change."""
    lines = [f"| contender | change | n | p50 | p99 | max | never (> {cap:g} s) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for k in lp["names"]:
        for kind in ("modify", "create", "all"):
            s = lp["stats"][k][kind]
            lines.append(f"| {labels[k]} | {kind} | {s['n']} | {fmt_lat(s['p50'])} | "
                         f"{fmt_lat(s['p99'])} | {fmt_lat(s['max'])} | {s['never']} |")
    return "\n".join(lines)


def lat_verdict(lp, name, target, what="p99"):
    """"- target NAME WHAT <= T ms: MET|MISSED (...)" for a p99 target of `name`."""
    st = lp["stats"][name]
    p = st["all"]["p99"]
    return (f"- target {name} {what} <= {target * 1000:.0f} ms: "
            f"{'MET' if p <= target else 'MISSED'} (p99 {fmt_lat(p)}; modify "
            f"{fmt_lat(st['modify']['p99'])}, create {fmt_lat(st['create']['p99'])})")
