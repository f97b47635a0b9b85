"""Churn model benchmark: what the churn model adds to a refresh at 100 000 customers, in time and memory.

    .venv/bin/python benchmarks/bench_churn.py [--customers 100000] [--runs 3] [--write-docs]

The workspace is the one ``benchmarks/bench_refresh.py`` builds (``write_demo_shop`` seed 7: 10 orders and
100 behaviour events per customer, imported with ``api.import_demo_shop`` into
``benchmarks/data/refresh-<customers>/ws``; built once, reused). Then ``--runs`` times each, alternating,
each in its own child process, ``refresh(ws, 2025-01-01)``:

* with churn: the refresh as shipped (the ``models`` stage fits, evaluates and scores the churn model);
* baseline: the same refresh with the churn model's fit replaced by its "skipped" path (``churn_scores``
  written with NULLs, so the tag library still finds ``churn_risk``) — the refresh without the model.

Reported: medians of the refresh's wall time and of its ``models`` stage, their ratio, each child's peak
RSS (``ru_maxrss``), the churn model's own phase timings (cut-off customer tables, selection + fit +
evaluation, scoring + reasons), and its hold-out quality beside the plain recency rule's AUC.
``--write-docs`` replaces the "## Churn model" section at the end of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_refresh  # noqa: E402 - the refresh benchmark's workspace builder and quiet-machine wait
from common import log, replace_section, run_child, warm  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
RESULTS = bench_refresh.DATA / "churn-results.json"
AS_OF = date(2025, 1, 1)
SECTION = "## Churn model"
GiB = 2**30


def child(ws_dir: str, variant: str) -> None:
    """One timed refresh (run in a child process); prints the refresh result and the churn report as JSON."""
    from portrait import api
    from portrait.models import churn

    if variant == "baseline":

        def skip(con: Any, as_of: date, ws: Any) -> dict[str, Any]:
            raise churn.Skipped("benchmark baseline: the churn model is not fitted")

        churn.fit_and_score = skip
    ws = api.open_workspace(ws_dir)
    t0 = time.perf_counter()
    result = api.refresh(ws, AS_OF)
    seconds = time.perf_counter() - t0
    report = api.churn_report(ws, top=3)
    print(json.dumps({"seconds": seconds, "stages": result["stages"], "churn": report}, default=str))


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--_child", nargs=2, metavar=("WS", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        child(*args._child)
        return

    meta = bench_refresh.ensure_workspace(args.customers)
    ws_dir = bench_refresh.folder(args.customers) / "ws"
    warm(ws_dir / "warehouse.duckdb")
    runs: dict[str, list[dict[str, Any]]] = {"churn": [], "baseline": []}
    busy: list[float] = []
    for i in range(args.runs):
        for variant in ("churn", "baseline") if i % 2 == 0 else ("baseline", "churn"):
            busy.append(bench_refresh.wait_quiet(bench_refresh.QUIET, 60.0))
            got = run_child([sys.executable, __file__, "--_child", str(ws_dir), variant], cap=None)
            data = json.loads(got["stdout"].strip().splitlines()[-1])
            runs[variant].append({"seconds": data["seconds"], "peak_rss": got["peak_rss"], **data})
            log(
                f"run {i + 1} {variant}: refresh {data['seconds']:.1f} s, models stage {data['stages']['models']:.1f} s, "
                f"peak RSS {got['peak_rss'] / GiB:.2f} GiB"
            )
    summary = summarise(runs, meta, busy, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"summary": summary, "runs": runs}, indent=1, default=str))
    text = render(summary)
    print(text)
    if args.write_docs:
        write_docs(text)


def summarise(runs: dict[str, list[dict[str, Any]]], meta: dict[str, Any], busy: list[float], args: Any) -> dict:
    with_churn, baseline = runs["churn"], runs["baseline"]
    report = with_churn[-1]["churn"]["report"]
    phases = {k: median([r["churn"]["report"]["timings"][k] for r in with_churn]) for k in report["timings"]}
    return {
        "customers": args.customers,
        "runs": args.runs,
        "orders": meta["rows"]["orders"],
        "events": meta["rows"]["events"],
        "refresh_churn_s": median([r["seconds"] for r in with_churn]),
        "refresh_baseline_s": median([r["seconds"] for r in baseline]),
        "models_churn_s": median([r["stages"]["models"] for r in with_churn]),
        "models_baseline_s": median([r["stages"]["models"] for r in baseline]),
        "peak_churn": max(r["peak_rss"] for r in with_churn),
        "peak_baseline": max(r["peak_rss"] for r in baseline),
        "phases": phases,
        "report": report,
        "busy": max(busy) if busy else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }


def render(s: dict[str, Any]) -> str:
    r = s["report"]
    ratio = s["refresh_churn_s"] / s["refresh_baseline_s"]
    rows = [
        f"{SECTION}",
        "",
        "Command: `PYTHONPATH=src .venv/bin/python benchmarks/bench_churn.py --customers "
        f"{s['customers']} --runs {s['runs']} --write-docs` ({s['machine']}; "
        + (
            f"the machine was shared: up to {s['busy']:.0%} of its CPU busy with other work before a run)."
            if (s["busy"] or 0) >= 0.25
            else f"at most {(s['busy'] or 0):.0%} of the CPU busy with other work before a run)."
        ),
        "",
        f"Demo shop of {s['customers']:,} customers ({s['orders']:,} orders, {s['events']:,} events), refresh as of "
        f"{AS_OF}, `[models] churn_days = {r['horizon_days']}`; medians of {s['runs']} runs per variant, each a "
        "child process (peak RSS = its `ru_maxrss`, the largest run shown).",
        "",
        "| refresh | seconds | `models` stage s | peak RSS GiB |",
        "|---|---:|---:|---:|",
        f"| baseline (churn model skipped) | {s['refresh_baseline_s']:.1f} | {s['models_baseline_s']:.2f} | "
        f"{s['peak_baseline'] / GiB:.2f} |",
        f"| with the churn model | {s['refresh_churn_s']:.1f} | {s['models_churn_s']:.2f} | {s['peak_churn'] / GiB:.2f} |",
        f"| ratio | {ratio:.2f}× | | {s['peak_churn'] / s['peak_baseline']:.2f}× |",
        "",
        "Inside the churn model (medians, seconds): "
        + ", ".join(f"{k.replace('_', ' ')} {v:.1f}" for k, v in s["phases"].items())
        + f". Training rows {r['train']['rows_used']:,} (of {r['train']['customers']:,} buyers at "
        f"{r['train']['cutoff']}), hold-out {r['holdout']['rows_used']:,} at {r['holdout']['cutoff']}, "
        f"{r['scored_customers']:,} customers scored with reasons; {len(r['features'])} features kept.",
        "",
        "| hold-out | AUC | precision | recall | F1 | threshold |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, m in r["models"].items():
        chosen = " (chosen)" if name == r["chosen_model"] else ""
        rows.append(
            f"| {name}{chosen} | {m['auc']:.3f} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
            f"{m['threshold']:.2f} |"
        )
    rows.append(f"| recency alone (days since last purchase) | {r['baseline_recency_auc']:.3f} | | | | |")
    rows.append("")
    rows.append(
        "The cut-off tables are the two customer tables at the training and hold-out dates: views over the "
        "snapshot's facts cut back to each date, of which only the model's features and the label are computed. "
        "The fit phase also computes the mutual-information and chi-square report tables (20 000-row sample) "
        "and fits both models; the training and hold-out tables stay capped at `[models] churn_train_rows` "
        "(200 000) rows, while the cut-off tables and the scoring grow with the customers."
    )
    rows.append("")
    return "\n".join(rows)


def write_docs(text: str) -> None:
    replace_section(DOCS, SECTION, text, lambda: "# Benchmarks\n")


if __name__ == "__main__":
    main()
