#!/usr/bin/python3
"""Turns the results scripts/bench collected into bench/results/<date>.md and a PNG chart of the ratios.

usage: [QUOTA=N] bench/report.py RESULTS.tsv OUT.md OUT.png COMMAND [EXTRA.md ...]

RESULTS.tsv has one line per measurement (bench/common.sh's record): scenario, metric, unit, which way is
better ("higher" or "lower"), then drawbridge's, HAProxy's and nginx's values (medians), and optionally each
one's values round by round. With those, the ratios are the medians of the per-round ratios (paired: the
proxies of one round run back to back, so the machine's drift between rounds cancels out), and the ratios
of the medians are shown beside them. EXTRA.md files (the rolling upgrade's table) are appended as they are.

With QUOTA=N (scripts/bench --quota N), RESULTS.tsv.quota holds the same measurements with each proxy limited
to N% of a core, and RESULTS.tsv.quota.load the load core's busy share and the proxy's throttled share in
each of those runs: that table comes first, with the goals of issues 21 and 22 and whether each is met, and the chart
shows its ratios.
"""

import datetime
import os
import platform
import statistics
import subprocess
import sys


def run(*command):
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20)
        return (done.stdout + done.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def first_line(text):
    return text.splitlines()[0] if text else "?"


def machine():
    model = "?"
    for line in run("lscpu").splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    memory = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    debian = open("/etc/debian_version").read().strip() if os.path.exists("/etc/debian_version") else "?"
    return f"{os.cpu_count()} cores ({model}), {memory} memory, Debian {debian}, Linux {platform.release()}"


def versions():
    return {
        "drawbridge": first_line(run("build/drawbridge", "--version")) + " at " +
                      run("git", "rev-parse", "--short", "HEAD") +
                      ("" if run("git", "status", "--porcelain") == "" else " (uncommitted changes)"),
        "HAProxy": first_line(run("haproxy", "-v")),
        "nginx": first_line(run("nginx", "-v")),
        "wrk": first_line(run("wrk", "-v")),
    }


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def better_by(d, a, better):
    """How many times better d is than a: above 1 is better, whichever way is better."""
    if not d or not a:
        return None
    return d / a if better == "higher" else a / d


def of_medians(row, anchor):
    return better_by(number(row["drawbridge"]), number(row[anchor]), row["better"])


def advantage(row, anchor):
    """drawbridge against the anchor: the median of the per-round ratios when the rounds are known."""
    rounds_d, rounds_a = row.get("rounds_drawbridge"), row.get(f"rounds_{anchor}")
    if rounds_d and rounds_a:
        pairs = [better_by(number(d), number(a), row["better"]) for d, a in zip(rounds_d.split(), rounds_a.split())]
        pairs = [p for p in pairs if p]
        if pairs:
            return statistics.median(pairs)
    return of_medians(row, anchor)


# Issue 21's goals (and issue 22's for HTTP/2), judged in the quota layout: (words in the scenario, metric,
# anchor, at least). An anchor of None bounds drawbridge's own value from above instead (idle memory, in
# bytes). The first row whose words a scenario contains judges it.
GOALS = [
    ("HTTP/2 small GETs", "requests/s", "haproxy", 1.1),
    ("small JSON GET", "requests/s", "haproxy", 1.25),
    ("HTTPS keep-alive", "requests/s", "haproxy", 1.2),
    ("HTTPS new-connection", "requests/s", "nginx", 1.2),
    ("gzip of", "requests/s", "haproxy", 1.6),
    ("gzip of", "compressed size", "haproxy", 1.0),
    ("paced", "p99 latency", "haproxy", 1.3),
    ("idle HTTPS keep-alive", "memory per connection", None, 4096),
    ("idle keep-alive", "memory per connection", None, 320),
]


def goal_of(row):
    for words, metric, anchor, bound in GOALS:
        if words in row["scenario"] and row["metric"] == metric:
            if anchor is None:
                v = number(row["drawbridge"])
                met = v is not None and v <= bound
                return f"≤ {bound:,} B: {'met' if met else 'not met'}"
            ratio = advantage(row, anchor)
            met = ratio is not None and ratio >= bound
            name = "HAProxy" if anchor == "haproxy" else "nginx"
            return f"≥ {bound} × {name}: {'met' if met else 'not met'}"
    return ""


def read_rows(tsv):
    rows = []
    if not os.path.exists(tsv):
        return rows
    with open(tsv) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) not in (7, 10):
                continue
            rows.append(dict(zip(["scenario", "metric", "unit", "better", "drawbridge", "haproxy", "nginx",
                                  "rounds_drawbridge", "rounds_haproxy", "rounds_nginx"], parts)))
    return rows


def table(rows, goals):
    def ratio(r, anchor):
        paired, plain = advantage(r, anchor), of_medians(r, anchor)
        return f"{paired:.2f}" + (f" ({plain:.2f})" if r.get("rounds_drawbridge") else "")

    lines = ["| scenario | metric | drawbridge | HAProxy | nginx | vs HAProxy | vs nginx |" + (" goal |" if goals else ""),
             "|---|---|---:|---:|---:|---:|---:|" + ("---|" if goals else "")]
    for r in rows:
        h, n = advantage(r, "haproxy"), advantage(r, "nginx")
        goal = f" {goal_of(r)} |" if goals else ""
        lines.append(f"| {r['scenario']} | {r['metric']} ({r['unit']}, {r['better']} is better) | {fmt(r['drawbridge'])} | "
                     f"{fmt(r['haproxy'])} | {fmt(r['nginx'])} | {ratio(r, 'haproxy')} | {ratio(r, 'nginx')} |{goal}" if h and n else
                     f"| {r['scenario']} | {r['metric']} ({r['unit']}) | {r['drawbridge']} | {r['haproxy']} | {r['nginx']} | | |{goal}")
    return lines


def load_core_line(path):
    """Who limited the quota runs: the load core (90% busy or more while the proxy was throttled in fewer than
    half its periods, the test bench/common.sh's run_wrk applies too) or the proxies; lines of
    "script busy% throttled%" (older files: no throttled%)."""
    runs = []
    if os.path.exists(path):
        with open(path) as f:
            for parts in (line.split() for line in f):
                if len(parts) in (2, 3):
                    runs.append((parts[0], int(parts[1]), int(parts[2]) if len(parts) == 3 else None))
    if not runs:
        return "Load core: no samples were taken."
    busiest = max(runs, key=lambda r: r[1])
    limited = [r for r in runs if r[1] >= 90 and (r[2] is None or r[2] < 50)]
    busy_but_throttled = [r for r in runs if r[1] >= 90 and r[2] is not None and r[2] >= 50]
    if limited:
        line = (f"Load core: **in {len(limited)} of {len(runs)} quota runs the load core limited the rate** (90% "
                f"busy or more while the proxy was throttled in fewer than half its periods; in "
                f"{', '.join(sorted({r[0] + '.sh' for r in limited}))}).")
    else:
        line = (f"Load core (wrk and the upstream, core 1): it limited none of the {len(runs)} quota runs; at most "
                f"{busiest[1]}% busy (in {busiest[0]}.sh).")
    if busy_but_throttled:
        line += (f" In {len(busy_but_throttled)} runs (in "
                 f"{', '.join(sorted({r[0] + '.sh' for r in busy_but_throttled}))}) it was 90% busy or more while "
                 f"the proxy was throttled in {min(r[2] for r in busy_but_throttled)}% or more of its periods, so "
                 "the proxy was the limit there all the same (wrk, for one, busy-waits during TLS handshakes: "
                 "`bench/common.sh`).")
    return line


def fmt(value):
    v = number(value)
    if v is None:
        return value
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"


def main():
    tsv, out_md, out_png, command = sys.argv[1:5]
    extras = sys.argv[5:]
    rows = read_rows(tsv)
    quota = os.environ.get("QUOTA", "")
    quota_rows = read_rows(tsv + ".quota") if quota else []

    today = datetime.date.today().isoformat()
    lines = [f"# Benchmark, {today}", "",
             f"Machine: {machine()}.", "",
             "Versions: " + "; ".join(f"{k} {v}" for k, v in versions().items()) + ".", "",
             f"Command: `{command}`. Each proxy runs one worker/thread pinned to core 0 (taskset); wrk and the "
             "upstream (nginx serving fixed JSON, or the demo node for uploads) share core 1. Each scenario runs "
             "the proxies in turn, A B C A B C, and reports medians. The configurations are the templates in "
             "`bench/conf/` (the rolling upgrade's are `bench/conf/rollout-*.in`), with each scenario's additions "
             "in its script.", "",
             "Ratio columns: how many times better drawbridge did than the anchor, whichever way is better "
             "(above 1: drawbridge ahead; for memory, latency and size the anchor's value over drawbridge's). "
             "Where a scenario has rounds, the ratio is the median of the per-round ratios (the proxies of a "
             "round run back to back, so this machine's drift in speed between rounds cancels out); the ratio "
             "of the medians follows in brackets.", ""]
    if quota_rows:
        lines += [f"## Quota layout: each proxy limited to {quota}% of core 0", "",
                  f"Each proxy in a cpu cgroup of its own (a {quota}% quota of a 10 ms period), still pinned to core 0: "
                  "with the same fraction of a core each, the proxy is the bottleneck, so requests/s measure each "
                  "proxy's own efficiency (the paced latency run slows its pace in proportion). The goal column is "
                  "issue 21's (and issue 22's for HTTP/2).", "", load_core_line(tsv + ".quota.load"), ""]
        lines += table(quota_rows, goals=True)
        lines += ["", "## Whole-core layout: each proxy with all of core 0", "",
                  "What a user sees on a 2-core machine; here the load core saturates first in the throughput "
                  "scenarios (`bench/in-the-way.md`).", ""]
    lines += table(rows, goals=False)
    lines += ["", f"![ratios]({os.path.basename(out_png)})", ""]
    for extra in extras:
        if os.path.exists(extra):
            lines += [open(extra).read().rstrip(), ""]
    with open(out_md, "w") as f:
        f.write("\n".join(lines))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    charted = [r for r in (quota_rows or rows) if advantage(r, "haproxy") and advantage(r, "nginx")]
    labels = [f"{r['scenario']}\n{r['metric']}" for r in charted]
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(charted) + 1.5))
    ys = range(len(charted))
    ax.barh([y - 0.2 for y in ys], [advantage(r, "haproxy") for r in charted], height=0.4, label="vs HAProxy")
    ax.barh([y + 0.2 for y in ys], [advantage(r, "nginx") for r in charted], height=0.4, label="vs nginx")
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(list(ys))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("times better than the anchor (above 1: drawbridge ahead)")
    ax.set_title(f"drawbridge beside HAProxy and nginx, {today}" +
                 (f" (each proxy limited to {quota}% of a core)" if quota_rows else ""))
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)


if __name__ == "__main__":
    main()
