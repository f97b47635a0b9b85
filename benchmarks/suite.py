"""The benchmark suite: one entry point for every size tier, every job, and the pandas baselines.

    .venv/bin/python benchmarks/suite.py [--tiers 100000,1000000,10000000] [--runs 3] [--write-docs]

For each tier (demo customers; 10× orders and 100× behaviour events each), the suite

1. builds the workspace once (``write_demo_shop`` + import of every table, reused afterwards;
   shared with ``bench_refresh.py``) and records the generation and import times;
2. imports the tier's orders CSV into a fresh workspace, beside the pandas import baseline
   (``benchmarks/pandas_import.py``) in the same run (``bench_import.bench_size``);
3. refreshes the workspace (every stage, the models included), beside the pandas feature
   baseline (``benchmarks/pandas_features.py``), alternating the order of the contenders;
4. runs every user-facing job on the new snapshot through the real ``portrait`` command: metrics,
   tag statistics, a segment preview, each analysis and each model command that exists;

records wall time and peak RSS (``ru_maxrss`` of each child process) for every step and rewrites
the "## Suite" section of docs/benchmarks.md (machine, command, one table per measure, the growth
exponent between tiers, a log-log chart ``docs/benchmarks-suite.svg``). Jobs run one at a time; a
job that fails or does not exist yet is listed with its reason, never left out silently.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_import  # noqa: E402  (benchmarks/ is a folder of scripts, not a package)
import bench_refresh  # noqa: E402
from common import log, machine, machine_line, portrait_cli, replace_section, run_child  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
DOCS = ROOT / "docs" / "benchmarks.md"
CHART = ROOT / "docs" / "benchmarks-suite.svg"
RESULTS = DATA / "suite-results.json"
AS_OF = bench_refresh.AS_OF
SECTION = "## Suite"


def jobs(as_of: date) -> list[tuple[str, list[str]]]:
    """The jobs timed on each tier's snapshot: (name, ``portrait`` arguments)."""
    month = f"{as_of.year - (as_of.month == 1)}-{(as_of.month - 2) % 12 + 1:02d}"  # the last whole month
    rule = "age between 26 and 35 and city_tier = '一线'"
    return [
        ("metrics (month, MoM+YoY)", ["metrics", "--period", month, "--compare", "mom,yoy"]),
        ("tags stats", ["tags", "stats"]),
        ("rfm", ["rfm"]),
        ("segment preview", ["segment", "preview", rule]),
        ("analyze dimensions", ["analyze", "dimensions"]),
        ("analyze funnel", ["analyze", "funnel"]),
        ("analyze cohort", ["analyze", "cohort"]),
        ("analyze channels", ["analyze", "channels"]),
        ("analyze paths", ["analyze", "paths"]),
        ("analyze aipl", ["analyze", "aipl"]),
        (
            "analyze basket (customer-day, category)",
            ["analyze", "basket", "--by", "customer-day", "--level", "category"],
        ),
        ("analyze campaign", ["analyze", "campaign", "CMP-2024-09"]),
        ("model churn", ["model", "churn"]),
        ("model clv", ["model", "clv"]),
        ("model cluster", ["model", "cluster"]),
        ("model recommend (one customer)", ["model", "recommend", "CUS000000001"]),
        ("model recommend --evaluate", ["model", "recommend", "--evaluate"]),
    ]


def exists(args: list[str]) -> bool:
    """Whether this ``portrait`` sub-command exists in the installed code."""
    words = [a for a in args if not a.startswith("-")][:2]
    probe = subprocess.run([*portrait_cli(), *words[:2], "--help"], capture_output=True, text=True)
    return probe.returncode == 0 and "No such command" not in probe.stderr


def time_job(ws: Path, args: list[str], runs: int, cap: float | None) -> dict[str, Any]:
    """Median wall time and highest peak RSS of ``portrait ARGS --workspace WS --json``."""
    if not exists(args):
        return {"skipped": "not in this version"}
    cmd = [*portrait_cli(), *args, "--workspace", str(ws), "--json"]
    out = []
    for _ in range(runs):
        try:
            r = run_child(cmd, cap)
        except RuntimeError as exc:
            return {"failed": str(exc).splitlines()[-1][:200]}
        if "failed" in r:
            return {"failed": r["failed"]}
        out.append(r)
    return {
        "runs": len(out),
        "seconds": statistics.median(r["seconds"] for r in out),
        "peak_rss": max(r["peak_rss"] for r in out),
    }


def tier(customers: int, runs: int, cap: float | None, work: Path, import_runs: int) -> dict[str, Any]:
    log(f"tier {customers:,} customers")
    meta = bench_refresh.ensure_workspace(customers)
    ws = bench_refresh.folder(customers) / "ws"
    result: dict[str, Any] = {"customers": customers, "rows": meta["rows"], "build": meta}
    log("  import: portrait vs pandas on the orders file")
    result["import"] = bench_import.bench_size(customers * int(bench_refresh.ORDERS_PER_CUSTOMER), import_runs, work)
    log("  refresh: portrait vs pandas")
    refresh_runs: dict[str, list[dict[str, Any]]] = {"portrait": [], "pandas": []}
    for i in range(runs):
        order = ("portrait", "pandas") if i % 2 == 0 else ("pandas", "portrait")
        for who in order:
            if who == "portrait":
                r = bench_refresh.run_portrait(ws, cap)
            else:
                r = bench_refresh.run_pandas(ws, work / f"pandas-{customers}", cap)
            if "failed" in r:
                raise SystemExit(f"{who} refresh failed at {customers:,} customers: {r['failed']}")
            refresh_runs[who].append(r)
            log(f"    {who:<8} {r['seconds']:8.1f} s  peak RSS {r['peak_rss'] / 2**30:.2f} GiB")
    p, q = refresh_runs["portrait"], refresh_runs["pandas"]
    result["refresh"] = {
        "runs": runs,
        "compared_seconds": statistics.median(r["seconds"] for r in p),
        "whole_seconds": statistics.median(r["refresh_seconds"] for r in p),
        "stages": {k: statistics.median(r["stages"][k] for r in p) for k in p[0]["stages"]},
        "peak_rss": max(r["peak_rss"] for r in p),
        "pandas_seconds": statistics.median(r["seconds"] for r in q),
        "pandas_peak_rss": max(r["peak_rss"] for r in q),
    }
    result["refresh"]["ratio"] = result["refresh"]["pandas_seconds"] / result["refresh"]["compared_seconds"]
    (DATA / f"suite-partial-{customers}.json").write_text(json.dumps(result, indent=1, default=str))
    result["jobs"] = {}
    for name, args in jobs(AS_OF):
        r = time_job(ws, args, runs, cap)
        result["jobs"][name] = r
        (DATA / f"suite-partial-{customers}.json").write_text(json.dumps(result, indent=1, default=str))
        shown = f"{r['seconds']:.2f} s, {r['peak_rss'] / 2**30:.2f} GiB" if "seconds" in r else next(iter(r.values()))
        log(f"  {name}: {shown}")
    return result


# -- docs ------------------------------------------------------------------------------------------
def gib(n: float) -> str:
    return f"{n / 2**30:.2f}"


def cell(r: dict[str, Any], key: str) -> str:
    if "seconds" not in r:
        return "skipped" if "skipped" in r else "failed"
    if key == "seconds":
        return f"{r['seconds']:.2f}"
    return "—" if r.get("peak_rss") is None or math.isnan(r["peak_rss"]) else gib(r["peak_rss"])


def rows_of(t: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every step of a tier as {seconds, peak_rss} (or skipped/failed), in display order."""
    b = t["build"]
    steps: dict[str, dict[str, Any]] = {
        "generate demo data": {"seconds": b["generate_seconds"], "peak_rss": b.get("build_peak_rss", float("nan"))},
        "import (all tables)": {
            "seconds": sum(v["seconds"] for v in b["imports"].values()),
            "peak_rss": b.get("build_peak_rss", float("nan")),
        },
        "import orders (portrait)": t["import"]["portrait"],
        "import orders (pandas baseline)": t["import"]["pandas"],
        "refresh: facts+customer table+RFM (portrait)": {
            "seconds": t["refresh"]["compared_seconds"],
            "peak_rss": t["refresh"]["peak_rss"],
        },
        "refresh: same (pandas baseline)": {
            "seconds": t["refresh"]["pandas_seconds"],
            "peak_rss": t["refresh"]["pandas_peak_rss"],
        },
        "refresh: all stages": {"seconds": t["refresh"]["whole_seconds"], "peak_rss": t["refresh"]["peak_rss"]},
    }
    steps.update(t["jobs"])
    return steps


def growth(ts: list[dict[str, Any]], step: str) -> str:
    """The exponent k in time ∝ size^k between the two largest tiers that both ran the step."""
    pts = [(t["customers"], rows_of(t)[step]) for t in ts]
    pts = [(n, r["seconds"]) for n, r in pts if "seconds" in r and r["seconds"] > 0]
    if len(pts) < 2:
        return ""
    (n0, s0), (n1, s1) = pts[-2], pts[-1]
    return f"{math.log(s1 / s0) / math.log(n1 / n0):.2f}"


def chart(ts: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6))
    for step in rows_of(ts[0]):
        pts = [(t["customers"], rows_of(t)[step]) for t in ts]
        pts = [(n, r["seconds"]) for n, r in pts if "seconds" in r and r["seconds"] > 0]
        if len(pts) >= 2:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=step)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("customers (10× orders, 100× events)")
    ax.set_ylabel("wall seconds")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6, loc="upper left", ncol=2)
    ax.set_title("Portrait benchmark suite: time against size (log-log)")
    fig.tight_layout()
    fig.savefig(CHART, format="svg", metadata={"Date": None})
    plt.close(fig)


def section(command: str, ts: list[dict[str, Any]], machine: str) -> str:
    sizes = [t["customers"] for t in ts]
    head = "| step | " + " | ".join(f"{n:,}" for n in sizes) + " | growth k |"
    rule = "|---|" + "---:|" * len(sizes) + "---:|"
    steps = list(rows_of(ts[-1]))
    secs = [head, rule] + [
        f"| {s} | " + " | ".join(cell(rows_of(t)[s], "seconds") for t in ts) + f" | {growth(ts, s)} |" for s in steps
    ]
    mem = ["| step | " + " | ".join(f"{n:,}" for n in sizes) + " |", "|---|" + "---:|" * len(sizes)] + [
        f"| {s} | " + " | ".join(cell(rows_of(t)[s], "rss") for t in ts) + " |" for s in steps
    ]
    ratios = [
        f"- {t['customers']:,} customers ({t['rows']['orders']:,} orders, {t['rows']['events']:,} events): "
        f"import {t['import']['ratio']:.2f}× pandas ({t['import']['rows']:,} order rows), refresh "
        f"{t['refresh']['ratio']:.2f}× pandas (facts + customer table + RFM)."
        for t in ts
    ]
    not_run = [
        f"- {s}: " + ", ".join(f"{t['customers']:,}: {next(iter(rows_of(t)[s].values()))}" for t in ts)
        for s in steps
        if any("seconds" not in rows_of(t)[s] for t in ts)
    ]
    lines = [
        SECTION,
        "",
        "Every job at each size tier, one at a time, through the real `portrait` command (wall seconds of",
        "the whole process, median of the runs; peak RSS, the highest of the runs). Produced by:",
        "",
        "```bash",
        command,
        "```",
        "",
        f"Machine: {machine}.",
        "",
        "Speed against the pandas baselines, measured in the same run:",
        "",
        *ratios,
        "",
        "Wall seconds (growth k: time ∝ size^k between the two largest tiers):",
        "",
        *secs,
        "",
        "Peak RSS, GiB (build steps: the whole build process):",
        "",
        *mem,
        "",
        "![time against size, log-log](benchmarks-suite.svg)",
        "",
        "The models (churn, CLV, clusters, the recommendation neighbours) are fitted in the refresh's `models`",
        'stage, so their cost is inside "refresh: all stages"; `portrait model churn/clv/cluster` read the fitted',
        "report. The build steps (demo data, import of all tables) are those recorded when the tier's workspace was",
        "built, possibly in an earlier run and on a busier machine; the other rows come from this run.",
    ]
    if not_run:
        lines += ["", "Steps that did not run everywhere:", "", *not_run]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tiers", default="100000,1000000,10000000", help="customers per tier (smaller tiers: e.g. 100000,1000000)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs of each job per tier")
    parser.add_argument("--import-runs", type=int, default=3, help="runs of each import contender per tier")
    parser.add_argument("--memory-cap", type=float, default=20.0, help="kill a job past this RSS (GiB)")
    parser.add_argument(
        "--write-docs", action="store_true", help='rewrite the "## Suite" section of docs/benchmarks.md'
    )
    parser.add_argument("--from-results", action="store_true", help="rewrite the docs from the last results file")
    args = parser.parse_args(argv)
    command = ".venv/bin/python benchmarks/suite.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    if args.from_results:
        record = json.loads(RESULTS.read_text())
    else:
        DATA.mkdir(parents=True, exist_ok=True)
        tiers = sorted(int(x) for x in args.tiers.split(","))
        record = {"command": command, "machine": machine_line(machine()), "tiers": []}
        with tempfile.TemporaryDirectory(prefix="suite-", dir=DATA) as tmp:
            for n in tiers:
                record["tiers"].append(tier(n, args.runs, args.memory_cap * 2**30, Path(tmp), args.import_runs))
                RESULTS.write_text(json.dumps(record, indent=1, default=str))  # kept tier by tier
    text = section(record["command"], record["tiers"], record["machine"])
    print(text)
    if args.write_docs:
        chart(record["tiers"])
        replace_section(DOCS, SECTION, text)
        log(f"wrote {DOCS.relative_to(ROOT)} and {CHART.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
