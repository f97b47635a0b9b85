"""Journeys benchmark: paths (sessions, entry/exit, flows), volume, AIPL and a campaign report at 100 000 customers.

    .venv/bin/python benchmarks/bench_journeys.py [--customers 100000] [--runs 5] [--write-docs]

Data: the demo shop (seed 7, 10 orders and 100 behaviour events per customer: 100 000 customers are
1 M orders and 10 M events, plus the demo campaign's membership) in ``benchmarks/data/journeys-<customers>``
(git-ignored; ``built.json`` marks a finished build that later runs reuse). When bench_refresh.py's
workspace of the same size exists, it is copied and only the campaigns are imported into the copy.
The workspace is refreshed as of 2025-01-01 once.

Timed, ``--runs`` times each, in this process, rotating the order of the contenders; medians:

* ``journeys.paths`` over the last 30 days before the as-of date and over the whole of 2024;
* the baseline beside it: pandas sessionisation of the same events (the events of the range read from
  the warehouse with identity merges followed, sorted, split at pauses over 30 minutes, first and last
  page per session) — the number of sessions and the entry/exit page counts must agree with paths;
* ``journeys.volume`` per day over 90 days and per week over 2024;
* ``aipl.aipl`` (two 30-day periods) and ``campaigns.campaign_report`` for the demo campaign;
* ``analysis.funnel`` (an existing analysis reading the same events), as a yardstick.

``--write-docs`` appends (or rewrites) the "## Journeys, AIPL and campaigns" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from common import log, replace_section

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Journeys, AIPL and campaigns"
AS_OF = date(2025, 1, 1)
SEED = 7
ORDERS_PER_CUSTOMER = 10.0
EVENTS_PER_CUSTOMER = 100.0
GAP_MINUTES = 30


def build(customers: int) -> dict[str, Any]:
    """The benchmark workspace (built once, reused): demo shop imported and refreshed as of AS_OF."""
    from portrait import api
    from portrait.demo import write_demo_shop

    base = DATA / f"journeys-{customers}"
    marker = base / "built.json"
    if marker.exists():
        return json.loads(marker.read_text())
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    ws_dir = base / "ws"
    reused = DATA / f"refresh-{customers}"
    meta: dict[str, Any] = {"customers": customers, "seed": SEED}
    with tempfile.TemporaryDirectory(dir=DATA) as tmp:
        t0 = time.perf_counter()
        files = write_demo_shop(
            Path(tmp),
            customers=customers,
            seed=SEED,
            orders_per_customer=ORDERS_PER_CUSTOMER,
            events_per_customer=EVENTS_PER_CUSTOMER,
        )
        meta["generate_seconds"] = round(time.perf_counter() - t0, 1)
        if (reused / "built.json").exists():
            log(f"copying {reused / 'ws'} (bench_refresh.py's workspace)")
            shutil.copytree(reused / "ws", ws_dir)
            tables = ["campaigns"]
        else:
            api.init_workspace(ws_dir)
            tables = list(api.DEMO_TABLE_ORDER)
        ws = api.open_workspace(ws_dir)
        meta["imports"] = {}
        for name in tables:
            t0 = time.perf_counter()
            report = api.import_files(ws, name, [files[name]])
            meta["imports"][name] = {"rows": report.totals["rows_read"], "seconds": round(time.perf_counter() - t0, 1)}
            log(f"  imported {name}: {report.totals['rows_read']:,} rows in {meta['imports'][name]['seconds']} s")
    t0 = time.perf_counter()
    api.refresh(ws, AS_OF)
    meta["refresh_seconds"] = round(time.perf_counter() - t0, 1)
    with ws.warehouse(read_only=True) as con:
        meta["rows"] = {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            for t in ("customers", "orders", "events", "campaigns")
        }
    marker.write_text(json.dumps(meta, indent=1))
    return meta


def pandas_sessions(ws: Any, start: date, end: date) -> dict[str, Any]:
    """The baseline: sessions, entry and exit page counts with pandas, from the same events."""
    import duckdb
    import pandas as pd

    from portrait import snapshots

    snap = snapshots.current(ws)
    con = duckdb.connect(str(snapshots.folder(ws) / snap.file), read_only=True)
    try:
        con.execute(f"ATTACH '{ws.warehouse_path}' AS raw (READ_ONLY)")
        ev = con.execute(
            f"""SELECT COALESCE(i.customer_id, e.user_id) AS user_id, e.behavior_time AS t, e.behavior_type AS kind,
                       COALESCE(e.page, '未知') AS page, COALESCE(e.referrer, '未知') AS source
                FROM raw.events e LEFT JOIN identity i USING (user_id)
                WHERE CAST(e.behavior_time AS DATE) BETWEEN DATE '{start}' AND DATE '{end}'"""
        ).df()
    finally:
        con.close()
    ev = ev.sort_values(["user_id", "t", "kind", "page", "source"], kind="stable", ignore_index=True)
    new_user = ev["user_id"].ne(ev["user_id"].shift())
    pause = ev["t"].diff() > pd.Timedelta(minutes=GAP_MINUTES)
    session = (new_user | pause).cumsum()
    grouped = ev.groupby(session, sort=False)
    entry = grouped["page"].first().value_counts()
    exits = grouped["page"].last().value_counts()
    return {"sessions": int(session.iloc[-1]) if len(session) else 0, "entry": entry.to_dict(), "exit": exits.to_dict()}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()

    from portrait import aipl, analysis, api, campaigns, journeys
    from portrait.demo import CAMPAIGN_ID

    meta = build(args.customers)
    ws = api.open_workspace(DATA / f"journeys-{args.customers}" / "ws")
    year = ("2024-01-01", "2024-12-31")
    contenders: dict[str, Callable[[], Any]] = {
        "paths, last 30 days": lambda: journeys.paths(ws),
        "pandas sessions, last 30 days": lambda: pandas_sessions(ws, date(2024, 12, 2), date(2024, 12, 31)),
        "paths, 2024": lambda: journeys.paths(ws, *year),
        "pandas sessions, 2024": lambda: pandas_sessions(ws, date(2024, 1, 1), date(2024, 12, 31)),
        "volume per day, 90 days": lambda: journeys.volume(ws, "2024-10-03", "2024-12-31"),
        "volume per week, 2024": lambda: journeys.volume(ws, *year, grain="week"),
        "aipl, 2 × 30 days": lambda: aipl.aipl(ws),
        f"campaign {CAMPAIGN_ID}": lambda: campaigns.campaign_report(ws, CAMPAIGN_ID),
        "funnel pv→cart→purchase (yardstick)": lambda: analysis.funnel(ws, ["pv", "cart", "purchase"]),
    }
    names = list(contenders)
    load = [os.getloadavg()[0]]
    seconds: dict[str, list[float]] = {n: [] for n in names}
    outputs: dict[str, Any] = {}
    for run in range(args.runs):
        order = names[run % len(names) :] + names[: run % len(names)]
        for name in order:
            s, outputs[name] = timed(contenders[name])
            seconds[name].append(s)
        log(f"run {run + 1}/{args.runs} done")
    load.append(os.getloadavg()[0])
    medians = {n: statistics.median(v) for n, v in seconds.items()}
    checks = {}
    for label in ("last 30 days", "2024"):
        mine, theirs = outputs[f"paths, {label}"], outputs[f"pandas sessions, {label}"]
        entry = {r["page"]: r["sessions"] for r in mine["entry_pages"]}
        exits = {r["page"]: r["sessions"] for r in mine["exit_pages"]}
        checks[label] = (
            mine["sessions"] == theirs["sessions"]
            and entry == {k: int(v) for k, v in theirs["entry"].items()}
            and exits == {k: int(v) for k, v in theirs["exit"].items()}
        )
    report = outputs[f"campaign {CAMPAIGN_ID}"]
    figures = {
        "meta": meta,
        "runs": args.runs,
        "load_average": load,
        "medians": medians,
        "all": seconds,
        "agree": checks,
        "sessions": {k: outputs[f"paths, {k}"]["sessions"] for k in ("last 30 days", "2024")},
        "campaign": {
            "treatment": report["groups"]["treatment"]["conversion_after"],
            "control": report["groups"]["control"]["conversion_after"],
            "p_value": report["lift"]["test"]["p_value"],
        },
    }
    (DATA / "journeys-results.json").write_text(json.dumps(figures, indent=1, default=str))
    section = docs_section(figures, " ".join(["benchmarks/bench_journeys.py", *sys.argv[1:]]))
    print(section)
    if args.write_docs:
        write_docs(section)


def docs_section(f: dict[str, Any], command: str) -> str:
    import duckdb
    import pandas as pd

    m, med = f["meta"], f["medians"]
    rows = m["rows"]
    lines = [
        SECTION,
        "",
        "Behaviour paths, browse volume, AIPL and a campaign report on the demo shop, timed in one process "
        "with the order of the contenders rotated between runs; medians. Produced by:",
        "",
        "```bash",
        f".venv/bin/python {command}",
        "```",
        "",
        f"Machine: {platform.processor() or platform.machine()}, 2 cores shared with other work, Linux "
        f"{platform.release()}; Python {platform.python_version()}, DuckDB {duckdb.__version__}, pandas "
        f"{pd.__version__}; {date.today()}. Data: {rows['customers']:,} customers, {rows['orders']:,} order lines, "
        f"{rows['events']:,} events, {rows['campaigns']:,} campaign members (demo shop, seed 7), refreshed as of "
        f"{AS_OF}; {f['runs']} runs. Load average (1 min) of the machine at the start and the end of the runs: "
        f"{f['load_average'][0]:.1f} and {f['load_average'][1]:.1f} on 2 cores — other work was running, so the "
        "seconds are several times an idle machine's; compare figures within the table.",
        "",
        "| what | median s | runs (s) |",
        "|---|---:|---|",
    ]
    for name, s in med.items():
        lines.append(f"| {name} | {s:.2f} | {', '.join(f'{x:.2f}' for x in f['all'][name])} |")
    r30 = med["pandas sessions, last 30 days"] / med["paths, last 30 days"]
    ry = med["pandas sessions, 2024"] / med["paths, 2024"]
    lines += [
        "",
        f"Sessions: {f['sessions']['last 30 days']:,} in the last 30 days, {f['sessions']['2024']:,} in 2024. "
        f"Ratio pandas / paths (above 1: paths is faster): {r30:.2f} over 30 days, {ry:.2f} over 2024 — and paths "
        "computes sources, exits and the Sankey flows besides. The session count and the entry and exit page "
        f"counts agree with pandas: {'yes' if all(f['agree'].values()) else 'NO'} "
        f"({', '.join(f'{k}: {v}' for k, v in f['agree'].items())}).",
        "",
        f"The demo campaign: treatment converts {f['campaign']['treatment']:.1%} in the 30 days after the start, "
        f"control {f['campaign']['control']:.1%} (p = {f['campaign']['p_value']:.2g}).",
    ]
    if "generate_seconds" in m:
        imports = ", ".join(f"{k} {v['rows']:,} rows {v['seconds']} s" for k, v in m["imports"].items())
        lines += [
            "",
            f"By-product, building the workspace: demo data {m['generate_seconds']} s; imports: {imports}; "
            f"refresh {m['refresh_seconds']} s.",
        ]
    return "\n".join(lines) + "\n"


def write_docs(section: str) -> None:
    replace_section(DOCS, SECTION, section)
    log(f"wrote the {SECTION[3:]} section of {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
