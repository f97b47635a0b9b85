"""Clusters and recommendations benchmark: model build, evaluation and look-ups, item CF beside popularity.

    .venv/bin/python benchmarks/bench_reco.py [--customers 100000] [--runs 3] [--refresh] [--write-docs]

The workspace is the one ``benchmarks/bench_refresh.py`` builds (``write_demo_shop``, seed 7; 100 000
customers are about 1 M order lines and 10 M behaviour events), reused when present. One refresh as of
2025-01-01 makes the snapshot the models read, when missing or with ``--refresh`` (its ``models`` stage
is then reported as a by-product). Then,
``--runs`` times, each in its own child process (peak memory is the child's ``ru_maxrss``):

* build: ``cluster.build`` and ``recommend.build`` on the snapshot's tables, into a scratch in-memory
  database (the refresh's ``models`` stage without the rest of the refresh), each timed;
* evaluate: ``evaluate_recommendations(ws)`` (what ``portrait model recommend --evaluate`` prints) — the
  time split (30 days), the item-CF model rebuilt on the history before it, hit-rate@10 of item CF and of
  the popularity baseline, in one run;
* look-up: ``recommend(ws, user_id)`` for 20 customers in one process (median milliseconds per call),
  and ``cluster_report``.

Each step reports wall seconds and CPU seconds (``time.process_time``: all threads of the child) — on a
shared machine the CPU figure is the steadier one. Figures are medians over the runs; the baseline (popularity) is measured in the same evaluation runs.
``--write-docs`` replaces the "## Clusters and recommendations" section of docs/benchmarks.md. Raw
figures go to ``benchmarks/data/reco-results.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_refresh as br  # noqa: E402 - the data builder of the refresh benchmark
from common import gib, log, machine, machine_line, para, portrait_cli, run_child, splice_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = br.DATA / "reco-results.json"
AS_OF = date(2025, 1, 1)
SECTION = "## Clusters and recommendations"
LOOKUPS = 20


def snapshot_ready(ws_path: Path) -> bool:
    """True when the current snapshot is as of AS_OF and holds both models."""
    from portrait import snapshots
    from portrait.workspace import open_workspace

    ws = open_workspace(ws_path)
    snap = snapshots.current(ws)
    if snap is None or snap.as_of != AS_OF.isoformat():
        return False
    with snapshots.reader(ws) as (con, _):
        got = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
            ).fetchall()
        }
    return {"cluster_scores", "item_neighbours", "model_reports"} <= got


def build_child(ws_path: Path) -> None:
    """Child: both models' build on the current snapshot, into a scratch database; prints timings as JSON."""
    import duckdb

    from portrait import snapshots
    from portrait.models import cluster, recommend
    from portrait.workspace import open_workspace

    ws = open_workspace(ws_path)
    snap = snapshots.require_current(ws)
    cfg = ws.config.engine
    con = duckdb.connect(config={"memory_limit": cfg.memory_limit, "threads": cfg.threads})
    con.execute(f"ATTACH '{snapshots.folder(ws) / snap.file}' AS snap (READ_ONLY)")
    con.execute(f"ATTACH '{ws.warehouse_path}' AS raw (READ_ONLY)")
    for table in ("customer_table", "order_lines", "identity"):
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM snap.{table}")
    con.execute("CREATE TABLE model_reports (model VARCHAR, status VARCHAR, message VARCHAR, report JSON)")
    out: dict[str, Any] = {}
    for name, module in (("cluster", cluster), ("recommend", recommend)):
        t0, c0 = time.perf_counter(), time.process_time()
        module.build(con, AS_OF, ws)
        out[name] = round(time.perf_counter() - t0, 3)
        out[f"{name}_cpu"] = round(time.process_time() - c0, 3)
    reports = {m: (s, msg, json.loads(r)) for m, s, msg, r in con.execute("SELECT * FROM model_reports").fetchall()}
    out["cluster_message"] = reports["cluster"][1]
    out["cluster_k"] = reports["cluster"][2].get("k")
    out["silhouette"] = reports["cluster"][2].get("silhouette")
    out["clusters"] = [(c["name"], c["size"]) for c in reports["cluster"][2].get("clusters", [])]
    out["recommend_report"] = reports["recommend"][2]
    print(json.dumps(out, ensure_ascii=False))


def evaluate_child(ws_path: Path) -> None:
    """Child: ``evaluate_recommendations`` (what ``portrait model recommend --evaluate`` prints), wall and CPU."""
    from portrait.models.recommend import evaluate_recommendations
    from portrait.workspace import open_workspace

    t0, c0 = time.perf_counter(), time.process_time()
    result = evaluate_recommendations(open_workspace(ws_path))
    result["wall"] = round(time.perf_counter() - t0, 3)
    result["cpu"] = round(time.process_time() - c0, 3)
    print(json.dumps(result, ensure_ascii=False))


def lookup_child(ws_path: Path) -> None:
    """Child: median time of ``recommend`` for LOOKUPS customers and of ``cluster_report``."""
    from portrait import snapshots
    from portrait.models.cluster import cluster_report
    from portrait.models.recommend import recommend
    from portrait.workspace import open_workspace

    ws = open_workspace(ws_path)
    with snapshots.reader(ws) as (con, _):
        users = [
            r[0]
            for r in con.execute(
                f"SELECT user_id FROM customer_table USING SAMPLE reservoir({LOOKUPS} ROWS) REPEATABLE (7)"
            ).fetchall()
        ]
    recommend(ws, users[0])  # warm-up
    times, reasons = [], {}
    for user in users:
        t0 = time.perf_counter()
        result = recommend(ws, user)
        times.append(time.perf_counter() - t0)
        for r in result["recommendations"]:
            reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
    t0 = time.perf_counter()
    cluster_report(ws)
    report_s = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "recommend_ms": round(statistics.median(times) * 1000, 1),
                "recommend_max_ms": round(max(times) * 1000, 1),
                "cluster_report_ms": round(report_s * 1000, 1),
                "reasons": reasons,
            }
        )
    )


def child(args: list[str]) -> dict[str, Any]:
    r = run_child([sys.executable, __file__, *args], cap=None)
    return {**json.loads(r["stdout"]), "_seconds": r["seconds"], "_peak_rss": r["peak_rss"]}


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def run(customers: int, runs: int, force_refresh: bool) -> dict[str, Any]:
    meta = br.ensure_workspace(customers)
    ws = br.folder(customers) / "ws"
    refresh_doc = None
    if force_refresh or not snapshot_ready(ws):
        log(f"refreshing the {customers:,}-customer workspace as of {AS_OF} …")
        r = run_child(
            [*portrait_cli(), "refresh", "--as-of", AS_OF.isoformat(), "--workspace", str(ws), "--json"], cap=None
        )
        refresh_doc = {**json.loads(r["stdout"]), "peak_rss": r["peak_rss"], "wall": r["seconds"]}
        log(f"  refresh {r['seconds']:.0f} s; stages {refresh_doc['stages']}")
    builds, evals, lookups = [], [], []
    for i in range(runs):
        log(f"run {i + 1}/{runs}: build")
        builds.append(child(["--_build", str(ws)]))
        log(f"  cluster {builds[-1]['cluster']:.1f} s, recommend {builds[-1]['recommend']:.1f} s")
        log(f"run {i + 1}/{runs}: evaluate")
        evals.append(child(["--_evaluate", str(ws)]))
        m = evals[-1]["models"]
        log(
            f"  {evals[-1]['wall']:.1f} s; hit-rate CF {m['item_cf']['hit_rate']:.3f} vs pop {m['popularity']['hit_rate']:.3f}"
        )
        log(f"run {i + 1}/{runs}: look-ups")
        lookups.append(child(["--_lookup", str(ws)]))
    return {
        "customers": customers,
        "rows": meta.get("rows"),
        "runs": runs,
        "refresh": refresh_doc,
        "builds": builds,
        "evaluations": evals,
        "lookups": lookups,
        "machine": machine(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
        "load": open("/proc/loadavg").read().split()[:3],
    }


def docs_section(res: dict[str, Any]) -> str:
    b, e, lk = res["builds"], res["evaluations"], res["lookups"]
    ev = e[0]
    cf = [x["models"]["item_cf"] for x in e]
    pop = [x["models"]["popularity"] for x in e]
    rows = res["rows"] or {}
    hit_cf, hit_pop = median([c["hit_rate"] for c in cf]), median([p["hit_rate"] for p in pop])
    t_cf, t_pop = median([c["seconds"] for c in cf]), median([p["seconds"] for p in pop])
    lines = [
        SECTION,
        "",
        "Customer clusters (`portrait model cluster`) and item-based recommendations (`portrait model recommend`)",
        "on the refresh benchmark's demo shop, with the popularity baseline measured in the same evaluation runs.",
        "Produced by:",
        "",
        "```bash",
        f".venv/bin/python benchmarks/bench_reco.py --customers {res['customers']} --runs {res['runs']}"
        + (" --refresh" if res.get("refresh") else "")
        + " --write-docs",
        "```",
        "",
        para(
            f"Machine: {machine_line(res['machine'])}; portrait at commit `{res['commit']}`. Data: "
            f"{res['customers']:,} customers, {rows.get('orders', 0):,} order lines, {rows.get('events', 0):,} "
            f"behaviour events, {ev['model']['items']} products; as of {AS_OF}. Medians of {res['runs']} runs, each "
            "in its own process. "
            + (
                "The machine was shared with other jobs while this ran (load average "
                f"{' / '.join(res['load'])} at the end on 2 cores), so wall times are upper bounds; CPU-bound "
                "steps would run faster alone."
                if float(res["load"][0]) > 2.5
                else f"Load average {' / '.join(res['load'])} at the end on 2 cores: the benchmark's own work."
            )
        ),
        "",
        "| step | wall s | CPU s | peak RSS |",
        "|---|---:|---:|---:|",
        f"| clusters: features, k = {b[0]['cluster_k']} chosen from 3–8, fit, names (`cluster.build`) | "
        f"{median([x['cluster'] for x in b]):.2f} | {median([x['cluster_cpu'] for x in b]):.2f} | "
        f"{gib(max(x['_peak_rss'] for x in b))} (both builds) |",
        f"| recommendations: customer-product strengths, catalogue, item neighbours (`recommend.build`) | "
        f"{median([x['recommend'] for x in b]):.2f} | {median([x['recommend_cpu'] for x in b]):.2f} | |",
        f"| evaluation (`evaluate_recommendations`, n = 10) | {median([x['wall'] for x in e]):.2f} | "
        f"{median([x['cpu'] for x in e]):.2f} | {gib(max(x['_peak_rss'] for x in e))} |",
        f"| — of which: model rebuilt on the history before the split | {median([x['seconds']['build'] for x in e]):.2f} | | |",
        f"| — of which: item-CF top 10 for every test customer | {t_cf:.2f} | | |",
        f"| — of which: popularity top 10 for every test customer (baseline) | {t_pop:.2f} | | |",
        f"| one customer's recommendations (`recommend`, median of {LOOKUPS}, in process) | "
        f"{median([x['recommend_ms'] for x in lk]) / 1000:.3f} | | |",
        f"| cluster report (`cluster_report`) | {median([x['cluster_report_ms'] for x in lk]) / 1000:.3f} | | |",
        "",
        para(
            f"Evaluation (split {ev['split_date']}, purchases up to {ev['as_of']}): {ev['customers_evaluated']:,} "
            f"customers bought a product new to them ({ev['with_history']:,} with history before the split, "
            f"{ev['without_history']:,} without)."
        ),
        "",
        "| model | hit-rate@10 | with history | without history | precision@10 | recall@10 | coverage |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, ms in (("item CF + fallbacks", cf), ("popularity (baseline)", pop)):
        m = ms[0]
        lines.append(
            f"| {name} | {median([x['hit_rate'] for x in ms]):.1%} | {m['hit_rate_with_history']:.1%} | "
            f"{(m['hit_rate_without_history'] or 0):.1%} | {m['precision']:.1%} | {m['recall']:.1%} | {m['coverage']:.1%} |"
        )
    lines += [
        "",
        para(
            f"Item CF finds {hit_cf / hit_pop:.2f}× the popularity baseline's hits at 10 and recommends "
            f"{cf[0]['recommended_products']} of {ev['model']['items']} products (popularity: "
            f"{pop[0]['recommended_products']}); its ranking costs {t_cf / t_pop:.1f}× the baseline's time. The "
            "evaluation is deterministic: every run gives the same hit-rates."
        ),
        "",
        "Clusters found (size):",
        "",
    ]
    for name, size in b[0]["clusters"]:
        lines.append(f"- {name}: {size:,}")
    lines.append("")
    lines.append(
        "Silhouette by k (selection sample): " + ", ".join(f"{k}: {v:.3f}" for k, v in b[0]["silhouette"].items()) + "."
    )
    if res.get("refresh"):
        r = res["refresh"]
        lines += [
            "",
            para(
                f"By-product: the refresh that made the snapshot took {r['wall']:.0f} s, of which the `models` stage "
                f"(both models) {r['stages'].get('models', 0):.0f} s; peak RSS {gib(r['peak_rss'])}."
            ),
        ]
    return "\n".join(lines) + "\n"


def write_docs(section: str) -> None:
    splice_section(br.DOCS, SECTION, section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--refresh", action="store_true", help="refresh the workspace first even if its snapshot is ready"
    )
    parser.add_argument("--write-docs", action="store_true", help=f'replace the "{SECTION}" section of the docs')
    parser.add_argument("--_build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_lookup", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_evaluate", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._build:
        build_child(args._build)
        return 0
    if args._evaluate:
        evaluate_child(args._evaluate)
        return 0
    if args._lookup:
        lookup_child(args._lookup)
        return 0
    res = run(args.customers, args.runs, args.refresh)
    br.DATA.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, ensure_ascii=False, indent=1, default=str))
    section = docs_section(res)
    print(section)
    if args.write_docs:
        write_docs(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
