"""Spark engine benchmark: the same refresh on DuckDB (the baseline) and on Spark local mode, same demo shop.

    .venv/bin/python benchmarks/bench_spark.py [--customers 300,3000] [--runs 3] [--write-docs]

For each size a demo shop (``write_demo_shop``, seed 7, 5 orders and 30 events per customer) is imported
once into ``benchmarks/data/spark-<customers>/duck``, then copied to ``…/spark`` with
``[engine] kind = "spark"``. Each run is ``portrait refresh --as-of 2025-01-01 --json`` in its own child
process (interpreter, JVM and Spark session started afresh, as a user's command does), alternating which
engine goes first. Figures: wall time of the child, the refresh's own ``seconds``, and for Spark the
session start-up (``spark_start``: JVM, session, Parquet export of the raw tables). Medians of the runs
and the ratio Spark / DuckDB.

``--write-docs`` replaces the "## Spark engine" section at the end of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
DOCS = ROOT / "docs" / "benchmarks.md"
PORTRAIT = str(Path(sys.executable).with_name("portrait"))
SECTION = "## Spark engine"


def build(customers: int) -> tuple[Path, Path]:
    """The DuckDB and the Spark workspace of one size (built once, reused)."""
    from portrait import api
    from portrait.demo import write_demo_shop
    from portrait.workspace import init_workspace

    base = DATA / f"spark-{customers}"
    duck, spark = base / "duck", base / "spark"
    if (base / "built.json").exists():
        return duck, spark
    shutil.rmtree(base, ignore_errors=True)
    files = write_demo_shop(base / "data", customers, seed=7, orders_per_customer=5, events_per_customer=30)
    ws = init_workspace(duck)
    api.import_demo_shop(ws, files)
    shutil.rmtree(base / "data")
    shutil.copytree(duck, spark)
    toml = spark / "portrait.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('kind = "duckdb"', 'kind = "spark"'), encoding="utf-8")
    (base / "built.json").write_text(json.dumps({"customers": customers}), encoding="utf-8")
    return duck, spark


def refresh_once(ws: Path) -> dict[str, Any]:
    """One ``portrait refresh`` in a child process: wall seconds and the refresh's own report."""
    t0 = time.perf_counter()
    out = subprocess.run(
        [PORTRAIT, "refresh", "--as-of", "2025-01-01", "--workspace", str(ws), "--json"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    )
    wall = time.perf_counter() - t0
    return {"wall": wall, **json.loads(out.stdout)}


def measure(customers: int, runs: int) -> dict[str, Any]:
    """Median figures of ``runs`` refreshes on each engine."""
    duck, spark = build(customers)
    got: dict[str, list[dict[str, Any]]] = {"duckdb": [], "spark": []}
    loads = [os.getloadavg()[0]]
    for i in range(runs):
        order = [("duckdb", duck), ("spark", spark)]
        for name, ws in order if i % 2 == 0 else order[::-1]:
            got[name].append(refresh_once(ws))
            loads.append(os.getloadavg()[0])
            print(f"{customers} {name} run {i + 1}: {got[name][-1]['wall']:.1f} s", file=sys.stderr)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] if key in r else r["stages"].get(key, 0.0) for r in got[name])

    result = {
        "customers": customers,
        "runs": runs,
        "duckdb_wall": med("duckdb", "wall"),
        "duckdb_refresh": med("duckdb", "seconds"),
        "spark_wall": med("spark", "wall"),
        "spark_refresh": med("spark", "seconds"),
        "spark_start": med("spark", "spark_start"),
        "spark_stages": {k: med("spark", k) for k in got["spark"][0]["stages"]},
        "load": (min(loads), max(loads)),
    }
    result["ratio_wall"] = result["spark_wall"] / result["duckdb_wall"]
    result["ratio_refresh"] = result["spark_refresh"] / result["duckdb_refresh"]
    return result


def write_docs(results: list[dict[str, Any]], command: str) -> None:
    """Replace this benchmark's section at the end of docs/benchmarks.md."""
    lines = [
        SECTION,
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, shared with "
        "other work while measured (1-minute load average between runs: "
        + ", ".join(f"{r['customers']:,} customers {r['load'][0]:.0f}–{r['load'][1]:.0f}" for r in results)
        + "); figures of one run are compared with each other only.",
        "Each refresh is `portrait refresh --as-of 2025-01-01 --json` in its own process (a new JVM for Spark);",
        "medians; ratio = Spark / DuckDB.",
        "",
        "| customers | DuckDB wall s | Spark wall s | ratio | DuckDB refresh s | Spark refresh s | ratio | Spark start s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['customers']:,} | {r['duckdb_wall']:.1f} | {r['spark_wall']:.1f} | {r['ratio_wall']:.1f}× | "
            f"{r['duckdb_refresh']:.2f} | {r['spark_refresh']:.1f} | {r['ratio_refresh']:.0f}× | {r['spark_start']:.1f} |"
        )
    lines += ["", "Spark refresh by stage (medians, seconds):", ""]
    stages = list(results[0]["spark_stages"])
    lines.append("| customers | " + " | ".join(stages) + " |")
    lines.append("|---:|" + "---:|" * len(stages))
    for r in results:
        lines.append(f"| {r['customers']:,} | " + " | ".join(f"{r['spark_stages'][s]:.1f}" for s in stages) + " |")
    text = DOCS.read_text(encoding="utf-8") if DOCS.exists() else "# Benchmarks\n"
    head = text.split("\n" + SECTION + "\n")[0].rstrip("\n")
    DOCS.write_text(head + "\n\n" + "\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    """Run the benchmark and print (and optionally write) its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", default="300,3000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    results = [measure(int(n), args.runs) for n in args.customers.split(",")]
    print(json.dumps(results, indent=2))
    if args.write_docs:
        write_docs(results, "python " + " ".join(["benchmarks/bench_spark.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
