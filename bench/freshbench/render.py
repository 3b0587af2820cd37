"""bench/report: plots (matplotlib, Debian python3-matplotlib) and the generated section
of docs/benchmarks.md, both from the results.json that bench/report writes."""
import math
import os

from . import docs
from .stats import flatten

DOC_BEGIN = "<!-- bench/report:begin -->"
DOC_END = "<!-- bench/report:end -->"
GROUPS = {"local": "Local directory source", "s3": "S3 source (s3rver)"}
COLORS = {"freshfs": "#d62728", "pll-always": "#1f77b4", "pll-never": "#aec7e8",
          "bindfs": "#2ca02c", "rclone": "#ff7f0e", "rclone-full": "#ffbb78",
          "s3fs": "#9467bd", "native": "#7f7f7f", "raw-get": "#c7c7c7"}


def _inf(x):
    return isinstance(x, str) and x == "never" or (isinstance(x, float) and math.isinf(x))


def _f(x):
    """results.json value -> float (never -> inf)."""
    return math.inf if _inf(x) else x


def fmt_ratio(r):
    if r is None:
        return ""
    r = _f(r)
    if math.isinf(r):
        return "∞"
    if r == 0:
        return "0"
    if r < 0.1:
        return f"{r:.1g}"
    if r < 10:
        return f"{r:.2f}"
    return f"{r:.1f}" if r < 100 else f"{r:,.0f}"


def fmt_val(v):
    if v is None:
        return ""
    v = _f(v)
    if math.isinf(v):
        return "never"
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _cases(results):
    return [c for c in results["cases"] if "error" not in c]


def columns(results, with_freshfs):
    used = {k for c in _cases(results) for k in c["samples"]}
    return [k for k in results["contenders"] if k in used and (with_freshfs or k != "freshfs")]


def case_label(c):
    return c["label"]


def plain(text):
    return text.replace("`", "")


# ---------------------------------------------------------------- markdown

def _table(results, cols, lead, row):
    """A markdown table of every case: a header of `lead` columns and the contenders'
    column headers, a bold row per group, then row(case) -> (its lead cells, its
    contenders' cells)."""

    def line(first, rest):
        return "| " + " | ".join(first) + " | " + " | ".join(rest) + " |"
    hdr = [results["contenders"][k][0] for k in cols]
    lines = [line(lead, hdr), "|" + "---|" * len(lead) + "---:|" * len(cols)]
    group = None
    for c in _cases(results):
        if c["group"] != group:
            group = c["group"]
            lines.append(f"| **{GROUPS.get(group, group)}** |" + " |" * (len(lead) - 1 + len(cols)))
        lines.append(line(*row(c)))
    return "\n".join(lines)


def ratio_table(results):
    cols = columns(results, False)

    def row(c):
        advs = [c["advantage"].get(k) for k in cols]
        return [case_label(c)], [fmt_ratio(a["shown"]) if a else "" for a in advs]
    return _table(results, cols, ["case"], row)


def value_table(results):
    cols = columns(results, True)

    def row(c):
        sums = [c["summary"].get(k) for k in cols]
        unit = c["unit"] + ("" if c["stat"] == "median" else f", {c['stat']}")
        better = "higher" if c["higher"] else "lower"
        return ([case_label(c), f"{unit} ({better} is better)"],
                [fmt_val(s["value"]) if s else "" for s in sums])
    return _table(results, cols, ["case", "unit"], row)


def scale_lines(results):
    sc = results.get("scale") or {}
    out = []
    if sc.get("bench/scale"):
        out += scale_table(sc["bench/scale"])
    else:
        why = next((p.get("skipped") or f"exit {p.get('rc')}"
                    for n, p in results["meta"]["parts"].items() if n == "scale"),
                   "not run (`--only`/`--skip`)")
        out += [f"**TODO: sync cost at 1M entries.** `bench/scale` (CMake target "
                f"`freshfs_bench_scale`) gave no results in this run: {why}. Once the "
                "target exists, `bench/report` builds it in `build-bench/` and reports its "
                "JSON lines here.", ""]
    if sc.get("bench/lazy-mount"):
        d = sc["bench/lazy-mount"]
        rows = [(k, v) for k, v in flatten(d) if not k.endswith(("date", "command"))]
        out += ["Lazy mounts of real s3rver buckets (`bench/lazy-mount`):", "",
                "| quantity | value |", "|---|---:|"]
        out += [f"| {k} | {fmt_val(v)} |" for k, v in rows]
        out.append("")
    return out


def _median(vals):
    vals = sorted(v for v in vals if isinstance(v, (int, float)))
    if not vals:
        return None
    n = len(vals)
    return vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2


def scale_table(lines):
    """bench/scale's JSON lines ({"case": ..., "layout": ...}) as one row per layout; any
    other shape as one row per line."""
    layouts = [l.get("layout") for l in lines if l.get("case") == "summary"]
    if not layouts:
        rows = ["| measurement | values |", "|---|---|"]
        for line in lines:
            rows.append(f"| {line.get('case', '')} | " + ", ".join(
                f"{k}: {fmt_val(v) if isinstance(v, (int, float)) else v}"
                for k, v in line.items() if not isinstance(v, (dict, list))) + " |")
        return ["`bench/scale` (target `freshfs_bench_scale`), its JSON lines:", "", *rows, ""]
    rows = ["| layout | entries | unchanged sync: diff CPU (goal <= 1 s) | listing CPU | "
            "notifications | 10k changes: diff+apply CPU | notifications | watcher bytes/entry "
            "(goal <= 200) | inode table bytes/entry | goals |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for lay in layouts:
        of = [l for l in lines if l.get("layout") == lay]
        summ = next(l for l in of if l.get("case") == "summary")
        unchanged = [l for l in of if l.get("case") == "unchanged_sync"]
        changed = [l for l in of if l.get("case") == "changed_sync"]
        inodes = next((l for l in of if l.get("case") == "inode_table"), {})
        diff = summ.get("unchanged_diff_cpu_s", _median(l.get("diff_cpu_s") for l in unchanged))
        ch = changed[0] if changed else {}
        scan = next((l for l in of if l.get("case") == "initial_scan"), {})
        watcher_bytes = next((x for x in (summ.get("max_bytes_per_entry"),
                                          summ.get("bytes_per_entry"),
                                          scan.get("bytes_per_entry")) if x is not None), None)
        rows.append(
            f"| {lay} | {fmt_val(summ.get('entries'))} | {fmt_val(diff)} s | "
            f"{fmt_val(_median(l.get('listing_cpu_s') for l in unchanged))} s | "
            f"{fmt_val(_median(l.get('notifications') for l in unchanged))} | "
            f"{fmt_val(ch.get('diff_plus_apply_cpu_s'))} s | {fmt_val(ch.get('notifications'))} | "
            f"{fmt_val(watcher_bytes)} | "
            f"{fmt_val(inodes.get('bytes_per_entry'))} | "
            f"{'met' if summ.get('goals_met') else 'MISSED' if 'goals_met' in summ else ''} |")
    return ["Sync cost at 1M entries: `bench/scale` (target `freshfs_bench_scale`, an in-process "
            "synthetic store; CPU seconds of one full sync's diff beyond fetching the listing, "
            f"median of {len(unchanged)} unchanged syncs; RSS growth per tracked entry). Every "
            "JSON line it printed is in `results.json`.", "", *rows, ""]


def section(results, outdir_rel, plots):
    meta, m = results["meta"], results["meta"]["machine"]
    lines = [DOC_BEGIN, "## Summary: every benchmark, one machine, one run (`bench/report`)", ""]
    if meta["quick"]:
        lines += ["> **QUICK RUN** (`--quick`): small data sets, few rounds. Every number in "
                  "this section is indicative only; run `bench/report` without `--quick` "
                  "for numbers to quote.", ""]
    cores = ""
    if "Core(s) per socket" in m:
        cores = (f" ({m.get('Socket(s)', '1')} socket x {m['Core(s) per socket']} cores x "
                 f"{m.get('Thread(s) per core', '1')} threads"
                 + (f", {m['Hypervisor vendor']} VM" if m.get("Hypervisor vendor") else "") + ")")
    la0, la1 = m.get("loadavg_start"), m.get("loadavg_end")
    lines += [
        f"Run `{meta['timestamp']}` ({m['date_utc']}), {meta['elapsed_seconds'] / 60:.0f} "
        f"minutes; freshfs-mount `{meta.get('freshfs_version', '?')}` built from "
        f"`{meta['freshfs_source']}`. The exact command:", "", "```",
        f"{meta['command']}", "```", "",
        f"Machine: {m.get('cpu_model', '?')}, {m['nproc']} CPUs{cores}, {m['ram_gib']} GiB "
        f"RAM, kernel `{m['kernel']}`, libfuse {m['libfuse']}; {m.get('bindfs')}, "
        f"{m.get('rclone')}, {m.get('s3fs', '').split(' with ')[0]}."
        + (f" Load average (1 min) {la0[0]:.1f} at the start, {la1[0]:.1f} at the end: a "
           "shared machine, so compare ratios, not absolute numbers." if la0 and la1 else ""),
        "", "Contenders: " + "; ".join(
            f"**{h}** = {d}" for k, (h, d) in results["contenders"].items()
            if k in columns(results, True)) + ".", "",
        "### freshfs's advantage", "",
        ">1 = freshfs better: freshfs/peer for rates, peer/freshfs for times and latencies. "
        "Where the contenders were sampled round by round (back to back, order rotated), "
        "the median of the per-round ratios; for visibility latency the ratio of the "
        "percentiles, where ∞ = freshfs showed the changes and the peer did not within the "
        "cap, 0 = the reverse. Rows marked \"freshfs `--read-only`\", \"poll\", "
        "\"inotify\" or \"S3 events\" compare that freshfs mode with the same peers.", "",
        ratio_table(results), "",
        "### Medians", "",
        "Medians over rounds (visibility latency: percentiles over all changes; never = "
        "not seen within the cap).", "",
        value_table(results), "",
        "### Scale", "", *scale_lines(results),
        "### Plots", ""]
    titles = {"ratios.png": "freshfs's advantage per case and peer (log scale)",
              "local.png": "local directory: medians with min-max over rounds",
              "s3.png": "S3 on s3rver: medians with min-max over rounds",
              "latency.png": "visibility latency: distribution over all changes"}
    for p in plots:
        lines.append(f"![{titles.get(p, p)}](benchmarks/{p})")
        lines.append("")
    parts = []
    for n, p in meta["parts"].items():
        if p.get("skipped"):
            parts.append(f"{n} skipped ({p['skipped']})")
        else:
            parts.append(f"{n} {p.get('seconds', 0):.0f} s"
                         + ("" if p.get("rc") == 0 else f" **FAILED (exit {p.get('rc')})**"))
    lines += [
        "How each part measures, and its caveats: the sections below (`bench/run`, "
        "`bench/freshness`, `bench/fsops`, `bench/s3`). Parts of this run: "
        + ", ".join(parts) + ".", "",
        "To reproduce: `bench/report` (as root; installs its tools with `scripts/deps.sh`, "
        "builds `freshfs-mount` in `build-bench/`, then runs `bench/run`, `bench/freshness` "
        "(twice: latency, small files), `bench/fsops`, `bench/s3`, the `bench/scale` target "
        "and `bench/lazy-mount`, one after the other); `bench/report --quick` "
        "for a smoke run of a few minutes; `bench/report --from bench/results/<timestamp>` "
        "re-renders the plots and this section from a finished run.", "",
        "Every part's exact command line, every sample, the machine and the logs are in "
        f"`{outdir_rel}/` (git-ignored): `results.json`, `samples.csv`, `summary.csv`, "
        "`raw/`, `logs/`.", "", DOC_END]
    return "\n".join(lines)


def _below_title(text, sec):
    """The section right below the title, above the detailed sections."""
    head, sep, tail = text.partition("\n## ")
    return head.rstrip("\n") + "\n\n" + sec + "\n" + (("\n## " + tail) if sep else "")


def write_doc(results, path, outdir_rel, plots):
    docs.replace_marked(path, DOC_BEGIN, DOC_END, section(results, outdir_rel, plots),
                        place=_below_title)


def summary_text(results):
    return "\n".join(["", "freshfs's advantage (>1 = freshfs better):", "",
                      ratio_table(results), "", "Medians:", "", value_table(results), ""])


# ---------------------------------------------------------------- plots

def plots(results, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"font.size": 8})
    made = []
    cases = _cases(results)
    if cases:
        made.append(_ratio_plot(plt, results, cases, out))
    for group in ("local", "s3"):
        cs = [c for c in cases if c["group"] == group and c["stat"] == "median"]
        if cs:
            made.append(_bars_plot(plt, results, cs, out, group))
    lat = [c for c in cases if c["stat"] == "p50"]
    if lat:
        made.append(_latency_plot(plt, results, lat, out))
    return made


def _ratio_plot(plt, results, cases, out):
    cols = columns(results, False)
    fig, ax = plt.subplots(figsize=(9, 0.26 * len(cases) + 1.6))
    lo, hi = 0.01, 1000
    ys = list(range(len(cases)))[::-1]
    for j, k in enumerate(cols):
        xs, yy, mk = [], [], []
        for y, c in zip(ys, cases):
            adv = c["advantage"].get(k)
            if not adv or adv["shown"] is None:
                continue
            r = _f(adv["shown"])
            off = (j - (len(cols) - 1) / 2) * 0.09
            if math.isinf(r) or r > hi:
                xs.append(hi), yy.append(y + off), mk.append(">")
            elif r < lo:
                xs.append(lo), yy.append(y + off), mk.append("<")
            else:
                xs.append(r), yy.append(y + off), mk.append("o")
        for m_ in set(mk):
            sel = [i for i, x in enumerate(mk) if x == m_]
            ax.scatter([xs[i] for i in sel], [yy[i] for i in sel], marker=m_, s=22,
                       color=COLORS.get(k), label=results["contenders"][k][0]
                       if m_ == "o" or "o" not in mk else None, zorder=3)
    ax.axvline(1, color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlim(lo * 0.8, hi * 1.25)
    ax.set_yticks(ys)
    ax.set_yticklabels([("S3: " if c["group"] == "s3" else "") + plain(c["label"])
                        for c in cases])
    ax.set_xlabel("freshfs's advantage (>1 = freshfs better; > / < at the edges: beyond, "
                  "incl. never seen)")
    ax.grid(axis="x", which="both", alpha=0.25)
    handles, labels = ax.get_legend_handles_labels()
    seen = {}
    for h, l in zip(handles, labels):
        seen.setdefault(l, h)
    fig.legend(seen.values(), seen.keys(), loc="lower center", ncol=min(len(seen), 8),
               frameon=False)
    title = "freshfs vs peers, one run" + (" (QUICK RUN)" if results["meta"]["quick"] else "")
    ax.set_title(title)
    fig.tight_layout(rect=(0, 0.9 / (0.26 * len(cases) + 1.6), 1, 1))
    name = "ratios.png"
    fig.savefig(os.path.join(out, name), dpi=80)
    plt.close(fig)
    return name


def _bars_plot(plt, results, cases, out, group):
    n = len(cases)
    ncol = 3
    nrow = (n + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(10, 2.3 * nrow + 0.5), squeeze=False)
    for ax, c in zip(axes.flat, cases):
        names = [k for k in results["contenders"] if c["summary"].get(k)]
        meds = [c["summary"][k]["value"] for k in names]
        lo = [c["summary"][k]["value"] - c["summary"][k]["min"] for k in names]
        hi = [c["summary"][k]["max"] - c["summary"][k]["value"] for k in names]
        ax.bar(range(len(names)), meds, yerr=[lo, hi], capsize=2,
               color=[COLORS.get(k) for k in names])
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([(c["freshfs_variant"] or "freshfs") if k == "freshfs"
                            else results["contenders"][k][0] for k in names], rotation=30,
                           ha="right")
        better = "higher" if c["higher"] else "lower"
        ax.set_title(f"{plain(c['label'])}\n({c['unit']}, {better} is better)", fontsize=7.5)
        if meds and max(meds) / max(min(m for m in meds if m > 0) if any(meds) else 1,
                                    1e-12) > 50:
            ax.set_yscale("log")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(f"{GROUPS[group]}: medians, whiskers min-max over rounds"
                 + (" (QUICK RUN)" if results["meta"]["quick"] else ""))
    fig.tight_layout()
    name = f"{group}.png"
    fig.savefig(os.path.join(out, name), dpi=80)
    plt.close(fig)
    return name


def _latency_plot(plt, results, cases, out):
    groups = sorted({c["group"] for c in cases}, key=["local", "s3"].index)
    fig, axes = plt.subplots(1, len(groups), figsize=(10, 4.4), squeeze=False)
    for ax, g in zip(axes.flat, groups):
        drawn = set()
        for c in (c for c in cases if c["group"] == g):
            for k, vals in c["samples"].items():
                label = c["freshfs_variant"] if k == "freshfs" else results["contenders"][k][0]
                if label in drawn:
                    continue
                drawn.add(label)
                v = sorted(_f(x) for x in vals if x is not None)
                finite = [x for x in v if not math.isinf(x)]
                if not v:
                    continue
                ys = [(i + 1) / len(v) for i in range(len(finite))]
                style = "-" if k == "freshfs" else "--"
                ax.step(finite or [1], ys or [0], where="post", ls=style, lw=1.4,
                        color=COLORS.get(k) if k != "freshfs" or "poll" in label
                        else "#8c0000", label=f"{label} ({len(v) - len(finite)} never)"
                        if len(finite) < len(v) else label)
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("ms from the change at the source to visible through the mount")
        ax.set_ylabel("fraction of changes seen")
        ax.set_title(GROUPS[g])
        ax.grid(alpha=0.25, which="both")
        ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3,
                  frameon=False)
    fig.suptitle("Visibility latency" + (" (QUICK RUN)" if results["meta"]["quick"] else ""))
    fig.tight_layout()
    name = "latency.png"
    fig.savefig(os.path.join(out, name), dpi=80)
    plt.close(fig)
    return name
