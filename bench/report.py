#!/usr/bin/python3
"""Turns the results scripts/bench collected into bench/results/<date>.md and a PNG chart of the ratios.

usage: bench/report.py RESULTS.tsv OUT.md OUT.png COMMAND [EXTRA.md ...]

RESULTS.tsv has one line per measurement (bench/common.sh's record): scenario, metric, unit, which way is
better ("higher" or "lower"), then drawbridge's, HAProxy's and nginx's values (medians), and optionally each
one's values round by round. With those, the ratios are the medians of the per-round ratios (paired: the
proxies of one round run back to back, so the machine's drift between rounds cancels out), and the ratios
of the medians are shown beside them. EXTRA.md files (the rolling upgrade's table) are appended as they are.
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


def fmt(value):
    v = number(value)
    if v is None:
        return value
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"


def main():
    tsv, out_md, out_png, command = sys.argv[1:5]
    extras = sys.argv[5:]
    rows = []
    with open(tsv) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) not in (7, 10):
                continue
            rows.append(dict(zip(["scenario", "metric", "unit", "better", "drawbridge", "haproxy", "nginx",
                                  "rounds_drawbridge", "rounds_haproxy", "rounds_nginx"], parts)))

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
             "of the medians follows in brackets.", "",
             "| scenario | metric | drawbridge | HAProxy | nginx | vs HAProxy | vs nginx |",
             "|---|---|---:|---:|---:|---:|---:|"]
    def ratio(r, anchor):
        paired, plain = advantage(r, anchor), of_medians(r, anchor)
        return f"{paired:.2f}" + (f" ({plain:.2f})" if r.get("rounds_drawbridge") else "")

    for r in rows:
        h, n = advantage(r, "haproxy"), advantage(r, "nginx")
        lines.append(f"| {r['scenario']} | {r['metric']} ({r['unit']}, {r['better']} is better) | {fmt(r['drawbridge'])} | "
                     f"{fmt(r['haproxy'])} | {fmt(r['nginx'])} | {ratio(r, 'haproxy')} | {ratio(r, 'nginx')} |" if h and n else
                     f"| {r['scenario']} | {r['metric']} ({r['unit']}) | {r['drawbridge']} | {r['haproxy']} | {r['nginx']} | | |")
    lines += ["", f"![ratios]({os.path.basename(out_png)})", ""]
    for extra in extras:
        if os.path.exists(extra):
            lines += [open(extra).read().rstrip(), ""]
    with open(out_md, "w") as f:
        f.write("\n".join(lines))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    charted = [r for r in rows if advantage(r, "haproxy") and advantage(r, "nginx")]
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
    ax.set_title(f"drawbridge beside HAProxy and nginx, {today}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)


if __name__ == "__main__":
    main()
