"""Refresh benchmark: Portrait's refresh beside plain pandas and hand-written DuckDB SQL, tags and segments.

    .venv/bin/python benchmarks/bench_refresh.py [--sizes 100000,1000000] [--runs 3] [--pandas-runs-big 1]
        [--write-docs]

Sizes are numbers of demo customers (10 orders and 100 behaviour events each: 100 000 customers are 1 M
orders and 10 M events). For each size a workspace is built once from ``write_demo_shop`` data (seed 7)
with the Python API (``api.import_demo_shop``: products, customers, orders, events, interactions,
channels) into ``benchmarks/data/refresh-<customers>/ws`` (git-ignored; ``built.json`` marks a finished
build, which later runs reuse; the CSV files are deleted after the import). Then, ``--runs`` times and
rotating the order, each in its own child process:

* portrait: ``portrait refresh --as-of 2025-01-01 --workspace WS --json`` — the time compared is the sum
  of the stages ``facts``, ``customer_table`` and ``rfm`` as the refresh reports them;
* pandas: ``benchmarks/pandas_features.py WS 2025-01-01`` — read the raw tables + compute;
* hand SQL: ``benchmarks/sql_features.py WS 2025-01-01`` — the statements of the hand-written script.

Peak memory is each child's ``ru_maxrss`` (``os.wait4``); for portrait that is the whole refresh, all
its stages. A watchdog kills a child whose resident memory passes ``--memory-cap`` (GiB). After the
runs, the pandas and SQL results are compared column by column with the snapshot's ``customer_table``
and ``rfm``.

At the largest size, also: a copy of the workspace with 50 more rule tags in its ``tags.yaml``
refreshed ``--runs`` times in-process with every engine statement timed (``tags`` stage, the statement
building ``tag_values``, the 50 rules alone, and the slowest statements of every stage), and
``segments.size`` for three rules, median of 20 calls after a warm-up. The full refresh time and peak
memory at the largest size are those of the portrait runs above.

``--write-docs`` rewrites the "## Refresh" section of docs/benchmarks.md (created with a machine header
when missing; other sections are kept). Every run leaves its raw figures in
``benchmarks/data/refresh-results.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from common import (
    GiB,
    gib,
    log,
    machine,
    machine_line,
    para,
    parse_list,
    portrait_cli,
    replace_section,
    run_child,
    warm,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
DOCS = ROOT / "docs" / "benchmarks.md"
RESULTS = DATA / "refresh-results.json"
PANDAS_SCRIPT = ROOT / "benchmarks" / "pandas_features.py"
SQL_SCRIPT = ROOT / "benchmarks" / "sql_features.py"
AS_OF = date(2025, 1, 1)
SEED = 7
ORDERS_PER_CUSTOMER = 10.0
EVENTS_PER_CUSTOMER = 100.0
CONTENDERS = ("portrait", "pandas", "sql")
COMPARED_STAGES = ("facts", "customer_table", "rfm")
TAG_RULES = 50
SEGMENT_REPEATS = 20
SEGMENT_RULES = (
    "city_tier = '一线'",
    "age between 26 and 35 and city_tier = '一线' and 品类偏好 = '手机'",
    "(客户价值 in ('高价值', '潜力客户') or rfm_group = '重要价值客户') and recency_days <= 90 "
    "and not (流失风险 = '高') and monetary_180d / orders_180d >= 300 and (visits_30d >= 1 or favs_30d + carts_30d > 0)",
)
PROFILE_TOP = 8
# before each timed run, wait (up to QUIET_WAIT s) until other work uses less than QUIET of the CPU
QUIET = 0.25
QUIET_WAIT = 600.0
# engine memory of the build's imports (a new workspace's default; an earlier version needed 12GB for the 100 M
# events). The refreshes use the default.
IMPORT_MEMORY_LIMIT = "3GB"


# -- data ------------------------------------------------------------------------------------------
def folder(customers: int) -> Path:
    return DATA / f"refresh-{customers}"


def wanted_meta(customers: int) -> dict[str, Any]:
    return {
        "customers": customers,
        "seed": SEED,
        "orders_per_customer": ORDERS_PER_CUSTOMER,
        "events_per_customer": EVENTS_PER_CUSTOMER,
    }


def built(customers: int) -> dict[str, Any] | None:
    marker = folder(customers) / "built.json"
    if not marker.exists():
        return None
    meta = json.loads(marker.read_text())
    want = wanted_meta(customers)
    return meta if {k: meta.get(k) for k in want} == want else None


def build(customers: int) -> None:
    """Generate the demo shop and import it into a new workspace (runs in a child process)."""
    from portrait import api
    from portrait.demo import write_demo_shop

    base = folder(customers)
    if base.exists():
        shutil.rmtree(base)
    csv_dir, ws_dir = base / "csv", base / "ws"
    log(f"generating the demo shop: {customers:,} customers …")
    t0 = time.perf_counter()
    files = write_demo_shop(
        csv_dir,
        customers=customers,
        seed=SEED,
        orders_per_customer=ORDERS_PER_CUSTOMER,
        events_per_customer=EVENTS_PER_CUSTOMER,
    )
    generate_s = time.perf_counter() - t0
    sizes = {name: path.stat().st_size for name, path in files.items()}
    log(f"  {sum(sizes.values()) / 1e9:.2f} GB of CSV in {generate_s:.0f} s")
    api.init_workspace(ws_dir)
    toml = ws_dir / "portrait.toml"
    default = toml.read_text(encoding="utf-8")
    toml.write_text(
        default.replace('memory_limit = "3GB"', f'memory_limit = "{IMPORT_MEMORY_LIMIT}"'), encoding="utf-8"
    )
    ws = api.open_workspace(ws_dir)
    imports = {}
    try:
        for name in api.DEMO_TABLE_ORDER:
            t0 = time.perf_counter()
            report = api.import_files(ws, name, [files[name]])
            seconds = time.perf_counter() - t0
            totals = report.totals
            imports[name] = {
                "seconds": round(seconds, 1),
                "rows_read": totals["rows_read"],
                "accepted": totals["accepted"],
                "csv_bytes": sizes[name],
            }
            log(f"  imported {name}: {totals['rows_read']:,} rows in {seconds:.0f} s")
    finally:
        toml.write_text(default, encoding="utf-8")  # refreshes run with the workspace defaults
    ws = api.open_workspace(ws_dir)
    with ws.warehouse(read_only=True) as con:
        rows = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in api.DEMO_TABLE_ORDER}
        merged = con.execute("SELECT count(*) FROM customers WHERE merged_into IS NOT NULL").fetchall()[0][0]
    shutil.rmtree(csv_dir)
    meta = {
        **wanted_meta(customers),
        "import_memory_limit": IMPORT_MEMORY_LIMIT,
        "generate_seconds": round(generate_s, 1),
        "imports": imports,
        "rows": rows,
        "merged_records": merged,
        "warehouse_bytes": (ws_dir / "warehouse.duckdb").stat().st_size,
    }
    (base / "built.json").write_text(json.dumps(meta, indent=1))


def ensure_workspace(customers: int) -> dict[str, Any]:
    meta = built(customers)
    if meta is None:
        log(f"building the {customers:,}-customer workspace (once; reused afterwards)")
        result = run_child([sys.executable, __file__, "--_build", str(customers)], cap=None, echo=True)
        meta = built(customers)
        if meta is None:
            raise RuntimeError("the build finished without its marker")
        meta["build_peak_rss"] = result["peak_rss"]
        (folder(customers) / "built.json").write_text(json.dumps(meta, indent=1))
    return meta


def busy_share(seconds: float = 2.0) -> float:
    """Share of the machine's CPU in use over ``seconds`` (this process is idle meanwhile)."""
    import psutil

    return psutil.cpu_percent(interval=seconds) / 100


def wait_quiet(threshold: float, max_wait: float) -> float:
    """Wait (up to ``max_wait`` s) until other work uses less than ``threshold`` of the CPU; return the last share."""
    deadline = time.monotonic() + max_wait
    share = busy_share()
    while share > threshold and time.monotonic() < deadline:
        log(f"  the machine is {share:.0%} busy with other work; waiting …")
        time.sleep(15)
        share = busy_share()
    return share


# -- child processes -------------------------------------------------------------------------------
def run_portrait(ws: Path, cap: float | None) -> dict[str, Any]:
    cmd = [*portrait_cli(), "refresh", "--as-of", AS_OF.isoformat(), "--workspace", str(ws), "--json"]
    r = run_child(cmd, cap)
    if "failed" in r:
        return r
    out = json.loads(r.pop("stdout"))
    stages = out["stages"]
    return {
        **r,
        "wall": r["seconds"],
        "seconds": sum(stages[s] for s in COMPARED_STAGES),
        "refresh_seconds": out["seconds"],
        "stages": stages,
        "snapshot": out["snapshot"]["file"],
    }


def run_pandas(ws: Path, out_dir: Path, cap: float | None) -> dict[str, Any]:
    cmd = [sys.executable, str(PANDAS_SCRIPT), str(ws), AS_OF.isoformat(), "--out", str(out_dir), "--json"]
    r = run_child(cmd, cap)
    if "failed" in r:
        return r
    out = json.loads(r.pop("stdout"))
    return {
        **r,
        "wall": r["seconds"],
        **{k: out[k] for k in ("read_seconds", "compute_seconds", "write_seconds")},
        "seconds": out["seconds"],
        "rfm_groups": out["rfm_groups"],
        "customers": out["customers"],
    }


def run_sql(ws: Path, out_db: Path, cap: float | None) -> dict[str, Any]:
    cmd = [sys.executable, str(SQL_SCRIPT), str(ws), AS_OF.isoformat(), "--out", str(out_db), "--json"]
    r = run_child(cmd, cap)
    if "failed" in r:
        return r
    out = json.loads(r.pop("stdout"))
    return {
        **r,
        "wall": r["seconds"],
        "seconds": out["seconds"],
        "statements": out["statements"],
        "rfm_groups": out["rfm_groups"],
        "customers": out["customers"],
    }


# -- agreement -------------------------------------------------------------------------------------
def compare_tables(snapshot: Path, other: str, other_kind: str) -> dict[str, Any]:
    """Column-by-column agreement of ``customer_table`` and ``rfm`` with another result (parquet folder or db)."""
    import duckdb

    con = duckdb.connect(config={"threads": 2, "memory_limit": "4GB"})
    con.execute(f"ATTACH '{snapshot}' AS s (READ_ONLY)")
    if other_kind == "duckdb":
        con.execute(f"ATTACH '{other}' AS o (READ_ONLY)")
    out: dict[str, Any] = {}
    for table in ("customer_table", "rfm"):
        source = f"o.{table}" if other_kind == "duckdb" else f"read_parquet('{Path(other) / (table + '.parquet')}')"
        con.execute(f"CREATE OR REPLACE TEMP VIEW b AS SELECT * FROM {source}")
        types = {r[0]: r[1] for r in con.execute(f"DESCRIBE s.{table}").fetchall()}
        theirs = {r[0] for r in con.execute("DESCRIBE b").fetchall()}
        rows_a, rows_b, both = con.execute(
            f"SELECT (SELECT count(*) FROM s.{table}), (SELECT count(*) FROM b), "
            f"(SELECT count(*) FROM s.{table} JOIN b USING (user_id))"
        ).fetchall()[0]
        conds, cols = [], []
        for col, typ in types.items():
            if col == "user_id":
                continue
            if col not in theirs:
                conds.append("NULL")
                cols.append(col)
                continue
            qa, qb = f'a."{col}"', f'b."{col}"'
            if typ == "DATE":
                cond = f"CAST({qa} AS DATE) IS NOT DISTINCT FROM CAST({qb} AS DATE)"
            elif typ.startswith("TIMESTAMP"):
                cond = f"CAST({qa} AS TIMESTAMP) IS NOT DISTINCT FROM CAST({qb} AS TIMESTAMP)"
            elif typ.split("(")[0] in ("BIGINT", "INTEGER", "HUGEINT", "DOUBLE", "DECIMAL", "FLOAT", "SMALLINT"):
                cond = (
                    f"{qa} IS NOT DISTINCT FROM {qb} OR abs(CAST({qa} AS DOUBLE) - CAST({qb} AS DOUBLE)) "
                    f"<= 1e-6 * greatest(1, abs(CAST({qa} AS DOUBLE)))"
                )
            else:
                cond = f"CAST({qa} AS VARCHAR) IS NOT DISTINCT FROM CAST({qb} AS VARCHAR)"
            conds.append(cond)
            cols.append(col)
        counts = con.execute(
            "SELECT "
            + ", ".join(f"count(*) FILTER (WHERE NOT COALESCE({c}, false))" for c in conds)
            + f" FROM s.{table} a FULL JOIN b USING (user_id)"
        ).fetchall()[0]
        out[table] = {
            "rows": rows_a,
            "rows_other": rows_b,
            "matched_rows": both,
            "columns": len(cols),
            "differing": {c: n for c, n in zip(cols, counts, strict=True) if n},
        }
    con.close()
    return out


def snapshot_groups(snapshot: Path) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        return dict(con.execute("SELECT rfm_group, count(*) FROM rfm GROUP BY 1 ORDER BY 1").fetchall())
    finally:
        con.close()


def agreement_line(name: str, cmp: dict[str, Any]) -> str:
    parts = []
    for table, c in cmp.items():
        if c["rows"] == c["rows_other"] == c["matched_rows"] and not c["differing"]:
            parts.append(f"{table}: all {c['rows']:,} rows × {c['columns']} columns agree")
        else:
            diff = ", ".join(f"{k} ({v:,} rows)" for k, v in c["differing"].items()) or "none"
            parts.append(
                f"{table}: {c['rows']:,} vs {c['rows_other']:,} rows ({c['matched_rows']:,} matched), "
                f"differing columns: {diff}"
            )
    return f"{name} vs portrait — " + "; ".join(parts)


# -- one size --------------------------------------------------------------------------------------
def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "failed" not in r]
    if not ok:
        return {"runs": 0, "failed": runs[0]["failed"] if runs else "not run", "all": runs}
    s: dict[str, Any] = {
        "runs": len(ok),
        "seconds": median([r["seconds"] for r in ok]),
        "wall": median([r["wall"] for r in ok]),
        "peak_rss": median([r["peak_rss"] for r in ok]),
        "peak_rss_max": max(r["peak_rss"] for r in ok),
        "all_seconds": [round(r["seconds"], 2) for r in ok],
        "busy_before": [round(r.get("busy_before", 0.0), 2) for r in ok],
    }
    if ok[0].get("stages"):
        s["stages"] = {k: median([r["stages"][k] for r in ok]) for k in ok[0]["stages"]}
        s["refresh_seconds"] = median([r["refresh_seconds"] for r in ok])
    if "read_seconds" in ok[0]:
        s["read_seconds"] = median([r["read_seconds"] for r in ok])
        s["compute_seconds"] = median([r["compute_seconds"] for r in ok])
    if "statements" in ok[0]:
        s["statements"] = [
            {"sql": st["sql"], "seconds": median([r["statements"][i]["seconds"] for r in ok])}
            for i, st in enumerate(ok[0]["statements"])
        ]
    if len(ok) < len(runs):
        s["failed_runs"] = [r["failed"] for r in runs if "failed" in r]
    return s


def bench_size(customers: int, runs: int, pandas_runs: int, cap: float | None, work: Path) -> dict[str, Any]:
    meta = ensure_workspace(customers)
    ws = folder(customers) / "ws"
    pandas_out, sql_out = work / f"pandas-{customers}", work / f"sql-{customers}.duckdb"
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in CONTENDERS}
    snapshot = None
    for i in range(runs):
        order = CONTENDERS[i % 3 :] + CONTENDERS[: i % 3]
        for name in order:
            if name == "pandas" and i >= pandas_runs:
                continue
            warm(ws / "warehouse.duckdb")  # a pandas run can push the warehouse out of the page cache
            busy = wait_quiet(QUIET, QUIET_WAIT)
            log(f"{customers:,} customers, run {i + 1}/{runs}: {name} (machine {busy:.0%} busy before) …")
            if name == "portrait":
                r = run_portrait(ws, cap)
                snapshot = ws / "snapshots" / r["snapshot"] if "snapshot" in r else snapshot
            elif name == "pandas":
                r = run_pandas(ws, pandas_out, cap)
            else:
                r = run_sql(ws, sql_out, cap)
            r["busy_before"] = busy
            results[name].append(r)
            log(
                f"  {name}: "
                + (
                    r["failed"]
                    if "failed" in r
                    else f"{r['seconds']:.2f} s compared, {r['wall']:.1f} s wall, "
                    f"peak RSS {r['peak_rss'] / GiB:.2f} GiB"
                )
            )
    summary = {c: summarise(results[c]) for c in CONTENDERS}
    checks: dict[str, Any] = {}
    if snapshot is not None:
        checks["portrait_groups"] = snapshot_groups(snapshot)
        if summary["pandas"]["runs"]:
            checks["pandas"] = compare_tables(snapshot, str(pandas_out), "parquet")
            checks["pandas_groups"] = results["pandas"][0]["rfm_groups"]
        if summary["sql"]["runs"]:
            checks["sql"] = compare_tables(snapshot, str(sql_out), "duckdb")
            checks["sql_groups"] = results["sql"][0]["rfm_groups"]
        for name in ("pandas", "sql"):
            if name in checks:
                log(agreement_line(name, checks[name]))
        log(f"rfm groups: portrait {checks['portrait_groups']}")
    shutil.rmtree(pandas_out, ignore_errors=True)
    sql_out.unlink(missing_ok=True)
    p, b, s = summary["portrait"], summary["pandas"], summary["sql"]
    ratios = {
        "pandas_over_portrait": b["seconds"] / p["seconds"] if b["runs"] and p["runs"] else None,
        "portrait_over_sql": p["seconds"] / s["seconds"] if s["runs"] and p["runs"] else None,
    }
    return {"customers": customers, "meta": meta, **summary, "ratios": ratios, "checks": checks}


# -- tags and segments -----------------------------------------------------------------------------
NUMERIC_FIELDS: dict[str, list[float]] = {
    "frequency": [1, 2, 3, 5, 8, 12, 20],
    "monetary": [500, 1000, 2000, 5000, 10000, 20000, 50000],
    "orders_30d": [1, 2, 3],
    "orders_90d": [1, 2, 3, 5],
    "orders_180d": [1, 2, 4, 6],
    "orders_365d": [1, 3, 6, 10],
    "monetary_30d": [100, 500, 1000, 3000],
    "monetary_90d": [300, 1000, 3000, 8000],
    "monetary_180d": [500, 2000, 5000, 10000],
    "monetary_365d": [1000, 5000, 10000, 20000],
    "avg_order_value": [100, 300, 800, 2000],
    "avg_order_value_180d": [100, 300, 800, 2000],
    "refunds": [1, 2, 3],
    "coupon_share": [0.1, 0.3, 0.5, 0.8],
    "visits_7d": [1, 2, 3, 5],
    "visits_30d": [1, 3, 5, 10],
    "visits_90d": [1, 5, 10, 20],
    "pv_30d": [5, 10, 30, 60],
    "favs_30d": [1, 2, 5],
    "carts_30d": [1, 2, 5],
    "favs": [1, 5, 10, 20],
    "carts": [1, 5, 10, 20],
    "consultations_90d": [1, 2, 3],
    "complaints": [1, 2, 3],
    "interactions": [1, 3, 5],
    "avg_satisfaction": [2, 3, 4, 4.5],
    "consumption_score": [30, 50, 70, 85],
    "loyalty_score": [30, 50, 70, 85],
    "activity_score": [30, 50, 70, 85],
    "demand_score": [30, 50, 70, 85],
}
LOW_IS_GOOD = {
    "recency_days": [7, 14, 30, 60, 90, 180, 365],
    "days_since_visit": [3, 7, 30, 90],
    "repurchase_cycle_days": [7, 15, 30, 60, 90],
}
CATEGORICAL_FIELDS = {
    "gender": ["男", "女"],
    "city_tier": ["一线", "新一线", "二线", "下沉市场"],
    "member_level": ["普通", "白银", "黄金", "铂金"],
    "favourite_category": ["手机", "电脑", "数码", "家电", "美妆", "服饰", "食品", "家居", "母婴", "运动"],
    "preferred_terminal": ["APP", "小程序", "PC", "H5"],
    "source_channel": ["官网", "门店", "推荐", "小程序", "电商平台"],
    "preferred_contact": ["phone", "online", "email"],
    "rfm_group": ["重要价值客户", "重要发展客户", "重要保持客户", "重要挽留客户", "一般价值客户", "一般发展客户"],
}
LADDER = ["很高", "高", "中", "低"]


def rule_tags(n: int = TAG_RULES, seed: int = SEED) -> list[dict[str, Any]]:
    """``n`` rule tags of realistic shape: thresholds ladders, combinations, categories with numbers, nulls."""
    rng = random.Random(seed)
    cats = ["basic", "behavior", "preference", "value_risk"]
    numeric = sorted(NUMERIC_FIELDS)
    tags = []
    for i in range(n):
        kind = i % 6
        values: list[dict[str, str]]
        if kind in (0, 1):  # a ladder of 2–4 thresholds on one field
            field = rng.choice(numeric)
            k = rng.randint(2, min(4, len(NUMERIC_FIELDS[field])))
            cuts = sorted(rng.sample(NUMERIC_FIELDS[field], k), reverse=True)
            values = [{"value": LADDER[j], "when": f"{field} >= {c}"} for j, c in enumerate(cuts)]
            other = "无"
        elif kind == 2:  # lower is better (recency-like), 2–4 values
            field = rng.choice(sorted(LOW_IS_GOOD))
            k = rng.randint(2, min(4, len(LOW_IS_GOOD[field])))
            cuts = sorted(rng.sample(LOW_IS_GOOD[field], k))
            values = [{"value": LADDER[j], "when": f"{field} <= {c}"} for j, c in enumerate(cuts)]
            other = "未知"
        elif kind == 3:  # two fields, and / or
            f1, f2 = rng.sample(numeric, 2)
            a, b = rng.choice(NUMERIC_FIELDS[f1]), rng.choice(NUMERIC_FIELDS[f2])
            values = [
                {"value": "双高", "when": f"{f1} >= {a} and {f2} >= {b}"},
                {"value": "单高", "when": f"{f1} >= {a} or {f2} >= {b}"},
            ]
            if rng.random() < 0.5:
                values.append({"value": "有记录", "when": f"{f1} > 0 or {f2} > 0"})
            other = "其他"
        elif kind == 4:  # a category (in-list) with a number
            cat = rng.choice(sorted(CATEGORICAL_FIELDS))
            chosen = rng.sample(CATEGORICAL_FIELDS[cat], min(2, len(CATEGORICAL_FIELDS[cat])))
            listed = ", ".join(f"'{v}'" for v in chosen)
            field = rng.choice(numeric)
            t = rng.choice(NUMERIC_FIELDS[field])
            values = [
                {"value": "目标核心", "when": f"{cat} in ({listed}) and {field} >= {t}"},
                {"value": "目标", "when": f"{cat} in ({listed})"},
                {"value": "潜在", "when": f"{field} >= {t} and {cat} is not null"},
            ][: rng.randint(2, 3)]
            other = "其他"
        else:  # lifecycle-style with nulls, between and arithmetic
            lo = rng.choice([18, 22, 26, 30, 36])
            t = rng.choice([100, 300, 500, 1000])
            values = [
                {"value": "未购买", "when": "frequency = 0"},
                {"value": "沉睡", "when": "recency_days > 180 and (days_since_visit is null or days_since_visit > 60)"},
                {
                    "value": "高客单年轻",
                    "when": f"age between {lo} and {lo + 10} and monetary_180d / orders_180d >= {t}",
                },
                {"value": "活跃", "when": "recency_days <= 30 or visits_30d >= 3"},
            ][: rng.randint(3, 4)]
            other = "一般"
        tags.append(
            {"name": f"规则{i + 1:02d}", "category": cats[i % 4], "kind": "rule", "values": values, "else": other}
        )
    return tags


def write_tags_yaml(path: Path, tags: list[dict[str, Any]]) -> None:
    import yaml

    header = f"# {len(tags)} rule tags of realistic shape, written by benchmarks/bench_refresh.py\n"
    path.write_text(header + yaml.safe_dump({"tags": tags}, allow_unicode=True, sort_keys=False), encoding="utf-8")


def tags_workspace(customers: int) -> Path:
    """A copy of the workspace (warehouse, config, key, store; no snapshots) with 50 rule tags in tags.yaml."""
    src, dst = folder(customers) / "ws", folder(customers) / "ws-tags"
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir()
    for name in ("portrait.toml", "portrait.key", "store.sqlite", "warehouse.duckdb"):
        if (src / name).exists():
            shutil.copy2(src / name, dst / name)
    write_tags_yaml(dst / "tags.yaml", rule_tags())
    return dst


def profile_child(ws_path: Path) -> None:
    """In-process refresh with every engine statement timed; prints one JSON document (run as a child)."""
    import duckdb

    import portrait.engine
    from portrait import features, refresh, rfm, scores, snapshots, tags
    from portrait.workspace import open_workspace

    names = [stage.name for stage in refresh._stages()]  # every stage the progress callback counts
    state = {"stage": names[0]}
    statements: list[dict[str, Any]] = []
    hwm: dict[str, int] = {}
    original = portrait.engine.run

    def timed(con: Any, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        t0 = time.perf_counter()
        try:
            return original(con, sql, params)
        finally:
            statements.append(
                {"stage": state["stage"], "seconds": time.perf_counter() - t0, "sql": " ".join(sql.split())}
            )

    for module in (features, rfm, scores, tags, refresh):
        module.run = timed

    def vm_hwm() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    def tick(_: str, done: int, total: int) -> None:
        hwm[names[done - 1]] = vm_hwm()
        state["stage"] = names[done] if done < len(names) else "finish"  # DETACH and CHECKPOINT come after

    ws = open_workspace(ws_path)
    result = refresh.refresh(ws, AS_OF, progress=tick)
    # the rule tags of the workspace's tags.yaml alone, over the new snapshot's tag base
    own = tags.load_tag_file(ws_path / tags.WORKSPACE_TAGS) if (ws_path / tags.WORKSPACE_TAGS).exists() else []
    rules_alone = []
    if own:
        snap = snapshots.current(ws)
        con = duckdb.connect(
            str(snapshots.folder(ws) / snap.file),
            read_only=True,
            config={"memory_limit": ws.config.engine.memory_limit, "threads": ws.config.engine.threads},
        )
        fields = tags.base_fields(con)
        cols = ", ".join(f'{tags.tag_sql(t, fields, "bench")} AS "{t.name}"' for t in own)
        for _ in range(3):
            t0 = time.perf_counter()
            con.execute(f"CREATE OR REPLACE TEMP TABLE rules_alone AS SELECT user_id, {cols} FROM tag_base")
            rules_alone.append(time.perf_counter() - t0)
            con.execute("DROP TABLE rules_alone")
        con.close()
    print(
        json.dumps(
            {
                "stages": result["stages"],
                "seconds": result["seconds"],
                "statements": statements,
                "hwm_after_stage": hwm,
                "rule_tags": len(own),
                "tag_count": len(tags.tag_library(ws)),
                "rules_alone_seconds": rules_alone,
            },
            ensure_ascii=False,
        )
    )


def bench_tags(customers: int, runs: int, cap: float | None) -> dict[str, Any]:
    """The first refresh of the tags workspace (no previous snapshot), then ``runs`` later ones (medians)."""
    import duckdb

    from portrait import tags as tag_module
    from portrait.workspace import open_workspace

    ws = tags_workspace(customers)
    log(f"tags: {TAG_RULES} rule tags in {ws / 'tags.yaml'}; 1 + {runs} refreshes with statement timing")
    out = []
    for i in range(runs + 1):
        warm(ws / "warehouse.duckdb")
        busy = wait_quiet(QUIET, QUIET_WAIT)
        r = run_child([sys.executable, __file__, "--_profile", str(ws)], cap)
        if "failed" in r:
            raise RuntimeError(f"profiled refresh: {r['failed']}")
        doc = json.loads(r["stdout"])
        doc["peak_rss"] = r["peak_rss"]
        doc["wall"] = r["seconds"]
        doc["busy_before"] = busy
        out.append(doc)
        log(
            f"  {'first refresh' if i == 0 else f'refresh {i + 1}'}: tags stage {doc['stages']['tags']:.2f} s, "
            f"tag_values {stmt(doc, 'TABLE tag_values'):.2f} s, history {stmt(doc, 'tag_history'):.2f} s, "
            f"{TAG_RULES} rules alone {median(doc['rules_alone_seconds']):.2f} s, refresh {doc['seconds']:.1f} s"
        )
    # the tag history lives in Parquet files beside the snapshots (one per published refresh)
    files = sorted(tag_module.history_folder(open_workspace(ws)).glob("*.parquet"))
    history_rows = (
        duckdb.sql(f"SELECT count(*) FROM read_parquet({[str(f) for f in files]!r})").fetchall()[0][0] if files else 0
    )
    first, later = out[0], out[1:]
    return {
        "workspace": str(ws),
        "runs": len(later),
        "rule_tags": first["rule_tags"],
        "tag_count": first["tag_count"],
        "history_rows": history_rows,
        "first": {
            "tags_stage": first["stages"]["tags"],
            "tag_history": stmt(first, "tag_history"),
            "refresh_seconds": first["seconds"],
        },
        "tags_stage": median([d["stages"]["tags"] for d in later]),
        "tag_values": median([stmt(d, "TABLE tag_values") for d in later]),
        "tag_history": median([stmt(d, "tag_history") for d in later]),
        "segment_base": median([stmt(d, "TABLE segment_base") for d in later]),
        "rules_alone": median([median(d["rules_alone_seconds"]) for d in out]),
        "stages": {k: median([d["stages"][k] for d in later]) for k in later[0]["stages"]},
        "refresh_seconds": median([d["seconds"] for d in later]),
        "busy_before": [round(d["busy_before"], 2) for d in out],
        "peak_rss": max(d["peak_rss"] for d in out),
        "hwm_after_stage": later[-1]["hwm_after_stage"],
        "profile": profile_summary(later),
        "tags_yaml": (ws / "tags.yaml").read_text(encoding="utf-8"),
    }


def stmt(doc: dict[str, Any], key: str) -> float:
    """Seconds of the profiled statements whose SQL contains ``key``."""
    return sum(s["seconds"] for s in doc["statements"] if key in s["sql"] and not s["sql"].startswith("DESCRIBE"))


def profile_summary(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median seconds of each statement over the profiled runs (statements line up run by run)."""
    first = docs[0]["statements"]
    same = [d for d in docs if len(d["statements"]) == len(first)]
    return [
        {"stage": s["stage"], "sql": s["sql"], "seconds": median([d["statements"][i]["seconds"] for d in same])}
        for i, s in enumerate(first)
    ]


def bench_segments(ws_path: Path, repeats: int = SEGMENT_REPEATS) -> list[dict[str, Any]]:
    from portrait import segments
    from portrait.workspace import open_workspace

    ws = open_workspace(ws_path)
    out = []
    for rule in SEGMENT_RULES:
        size = segments.size(ws, rule)  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            segments.size(ws, rule)
            times.append(time.perf_counter() - t0)
        out.append({"rule": rule, "customers": size, "median_ms": median(times) * 1000, "max_ms": max(times) * 1000})
        log(f"segment size {size:,} in {median(times) * 1000:.0f} ms (median of {repeats}): {rule}")
    return out


# -- report ----------------------------------------------------------------------------------------
def plural(n: int, word: str) -> str:
    """``1 run``, ``3 runs``; ``1 more time``, ``2 more times``."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def secs(s: dict[str, Any]) -> str:
    return f"{s['seconds']:.2f}" if s["runs"] else "—"


def rss(s: dict[str, Any]) -> str:
    return gib(s["peak_rss"]) if s["runs"] else "—"


def ratio(x: float | None) -> str:
    return f"{x:.2f}×" if x is not None else "—"


def table_lines(sizes: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| customers | orders | events | runs (portrait / SQL / pandas) | portrait s | hand SQL s | pandas s "
        "| pandas / portrait | portrait / hand SQL | peak RSS portrait (whole refresh) | peak RSS hand SQL "
        "| peak RSS pandas |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sizes:
        p, b, s, rows = r["portrait"], r["pandas"], r["sql"], r["meta"]["rows"]
        lines.append(
            f"| {r['customers']:,} | {rows['orders']:,} | {rows['events']:,} | {p['runs']} / {s['runs']} / {b['runs']} "
            f"| {secs(p)} | {secs(s)} | {secs(b)} | {ratio(r['ratios']['pandas_over_portrait'])} "
            f"| {ratio(r['ratios']['portrait_over_sql'])} | {rss(p)} | {rss(s)} | {rss(b)} |"
        )
    return lines


def verdicts(sizes: list[dict[str, Any]], tags: dict[str, Any] | None, segs: list[dict[str, Any]] | None) -> list[str]:
    out = []
    largest = max(sizes, key=lambda r: r["customers"])
    rt = largest["ratios"]
    orders = largest["meta"]["rows"]["orders"]
    if rt["pandas_over_portrait"] is not None:
        x = rt["pandas_over_portrait"]
        out.append(
            f"At {orders:,} orders, refresh ≥ 5× faster than pandas (aim 10×): "
            f"**{'met' if x >= 5 else 'not met'}** ({x:.1f}×{', aim met' if x >= 10 else ''})."
        )
    ok = [r for r in sizes if r["ratios"]["portrait_over_sql"] is not None]
    if ok:
        worst = max(r["ratios"]["portrait_over_sql"] for r in ok)
        each = ", ".join(f"{r['meta']['rows']['orders']:,} orders {r['ratios']['portrait_over_sql']:.2f}×" for r in ok)
        out.append(f"Within 1.5× of hand-written SQL: **{'met' if worst <= 1.5 else 'not met'}** ({each}).")
    p = largest["portrait"]
    if p["runs"]:
        out.append(
            f"Full refresh at {largest['customers']:,} customers / {orders:,} orders / "
            f"{largest['meta']['rows']['events']:,} events within 8 GB peak memory: "
            f"**{'met' if p['peak_rss_max'] < 8e9 else 'not met'}** ({p['peak_rss_max'] / 1e9:.2f} GB, highest "
            f"of {plural(p['runs'], 'run')}; {p['refresh_seconds']:.0f} s for all stages, median)."
        )
    if tags:
        out.append(
            f"{tags['rule_tags']} tag rules over {largest['customers']:,} customers in under 5 s: "
            f"**{'met' if tags['rules_alone'] < 5 else 'not met'}** ({tags['rules_alone']:.2f} s for the "
            f"{tags['rule_tags']} rules alone; the `tag_values` statement, all {tags['tag_count']} tags, "
            f"{tags['tag_values']:.2f} s). The whole tags stage is slower: {tags['tags_stage']:.0f} s, "
            f"{tags['tag_history']:.0f} s of it the tag history (see below)."
        )
    if segs:
        worst = max(s["median_ms"] for s in segs)
        out.append(
            f"A segment's size over {largest['customers']:,} customers in under 300 ms: "
            f"**{'met' if worst < 300 else 'not met'}** (slowest of the three rules {worst:.0f} ms, median)."
        )
    return out


def profile_lines(tags: dict[str, Any], top: int = PROFILE_TOP) -> list[str]:
    stmts = tags["profile"]
    total = tags["refresh_seconds"]
    lines = ["| stage | seconds | statement |", "|---|---:|---|"]
    for st in sorted(stmts, key=lambda s: -s["seconds"])[:top]:
        text = st["sql"].replace("|", "\\|")
        text = text[:120] + ("…" if len(text) > 120 else "")
        lines.append(f"| {st['stage']} | {st['seconds']:.2f} | `{text}` |")
    rest = total - sum(s["seconds"] for s in sorted(stmts, key=lambda s: -s["seconds"])[:top])
    lines.append(f"| | {rest:.2f} | everything else (of {total:.1f} s) |")
    return lines


def docs_section(
    command: str,
    sizes: list[dict[str, Any]],
    tags: dict[str, Any] | None,
    segs: list[dict[str, Any]] | None,
    pandas_note: str,
) -> str:
    largest = max(sizes, key=lambda r: r["customers"])
    out = [
        "## Refresh",
        "",
        para(
            "`portrait refresh` beside the same customer features and RFM written as a plain pandas script and "
            "as hand-written DuckDB SQL, on the same stored data, measured in the same run; then tag rules and "
            "segment sizes. Produced by:"
        ),
        "",
        "```bash",
        command,
        "```",
        "",
        para(
            f"Machine: {machine_line(machine())}. Engine settings: the defaults of a new workspace "
            '(`[engine] memory_limit = "3GB"`, `threads = 2`); the hand-written SQL runs with the same settings.'
        ),
        "",
        para(
            "Data: `write_demo_shop` (seed 7, 10 orders and 100 behaviour events per customer, with its dirty "
            "rows), imported with the Python API (`api.import_demo_shop`) into a workspace per size "
            "(`benchmarks/data/refresh-<customers>/ws`); as of 2025-01-01. Each contender runs in its own child "
            "process, the order rotating from run to run. Compared time: for portrait, the stages `facts` + "
            "`customer_table` + `rfm` as `portrait refresh --json` reports them; for the hand-written SQL "
            "(`benchmarks/sql_features.py`), its statements, which build the same tables (`order_lines`, "
            "`channel_days`, `order_facts`, `visit_days`, `customer_table`, `rfm`, `rfm_thresholds`) in a new database file with the warehouse "
            "attached; for pandas (`benchmarks/pandas_features.py`), reading the four raw tables through DuckDB "
            "plus computing. Peak RSS is the child's `ru_maxrss`; portrait's is the whole refresh (all "
            f"stages). Figures are medians ({pandas_note})."
        ),
        "",
        *table_lines(sizes),
        "",
    ]
    busy = [b for r in sizes for c in CONTENDERS for b in r[c].get("busy_before", [])]
    busy += tags.get("busy_before", []) if tags else []
    if busy:
        out += [
            para(
                "The machine was shared with other work; before each run the benchmark waited until that used "
                f"less than {QUIET:.0%} of the CPU (at most {QUIET_WAIT:.0f} s). CPU in use just before the runs: "
                f"median {median(busy):.0%}, highest {max(busy):.0%}."
            ),
            "",
        ]
    out += [para(v) for v in verdicts(sizes, tags, segs)]
    out += [""]
    for r in sizes:
        p, b = r["portrait"], r["pandas"]
        bits = []
        if p["runs"]:
            st = ", ".join(f"{k} {v:.2f} s" for k, v in p["stages"].items())
            bits.append(f"portrait refresh {p['refresh_seconds']:.1f} s in all ({st})")
        if b["runs"]:
            bits.append(f"pandas read {b['read_seconds']:.1f} s + compute {b['compute_seconds']:.1f} s")
        checks = r["checks"]
        for name, label in (("sql", "hand SQL"), ("pandas", "pandas")):
            if name in checks:
                c = checks[name]
                bad = {**c["customer_table"]["differing"], **c["rfm"]["differing"]}
                rows_ok = all(c[t]["rows"] == c[t]["rows_other"] == c[t]["matched_rows"] for t in c)
                if rows_ok and not bad:
                    bits.append(
                        f"{label} agrees with the snapshot on every row and column of `customer_table` "
                        f"({c['customer_table']['rows']:,} × {c['customer_table']['columns']}) and `rfm`"
                    )
                else:
                    bits.append(f"{label} differs from the snapshot: {agreement_line(label, c)}")
        if checks.get("portrait_groups"):
            same = [n for n in ("sql", "pandas") if checks.get(f"{n}_groups") == checks["portrait_groups"]]
            if same:
                bits.append(f"RFM group sizes identical ({' and '.join(same)} vs portrait)")
        out += [para(f"{r['customers']:,} customers: " + "; ".join(bits) + "."), ""]
    p = largest["portrait"]
    meta = largest["meta"]
    if p["runs"]:
        out += [
            para(
                f"Full refresh at {largest['customers']:,} customers ({meta['rows']['orders']:,} orders, "
                f"{meta['rows']['events']:,} events, warehouse {meta['warehouse_bytes'] / 1e9:.1f} GB): "
                f"**{p['refresh_seconds']:.0f} s** (the refresh's own timer; {p['wall']:.0f} s wall for the "
                f"whole `portrait refresh` process), peak RSS **{gib(p['peak_rss_max'])}** (highest of "
                f"{plural(p['runs'], 'run')})."
            ),
            "",
        ]
    if tags:
        hw = tags.get("hwm_after_stage", {})
        out += [
            para(
                f"Tags: a copy of the {largest['customers']:,}-customer workspace with {tags['rule_tags']} rule tags "
                "in its `tags.yaml` (2–4 values each: threshold ladders, two-field and/or, category lists with a "
                "number, lifecycle rules with nulls, `between` and division; generated by `rule_tags()`), besides "
                f"the default library ({tags['tag_count']} tags in all), refreshed in-process with every statement "
                f"timed: once as a new workspace, then {plural(tags['runs'], 'more time')} (medians of these). "
                f"The {tags['rule_tags']} rules alone (one `CREATE TEMP TABLE … AS SELECT user_id, "
                f"<{tags['rule_tags']} CASE expressions> FROM tag_base` on the new snapshot, every refresh): "
                f"**{tags['rules_alone']:.2f} s**. The tags stage: {tags['tags_stage']:.1f} s, of which `tag_values` "
                f"(every tag) {tags['tag_values']:.1f} s, the history {tags['tag_history']:.1f} s, `segment_base` "
                f"{tags['segment_base']:.1f} s; in the first refresh the stage took {tags['first']['tags_stage']:.1f} s "
                f"(history {tags['first']['tag_history']:.1f} s). Each refresh writes only its own changes "
                "(`tag_changes`: the first one row per customer and tag, later ones the customers whose value "
                "moved), filed as Parquet in the history folder once the snapshot is published "
                f"({tags['history_rows']:,} rows of history after these refreshes). "
                f"Whole refresh {tags['refresh_seconds']:.0f} s, peak RSS {gib(tags['peak_rss'])}"
                + (
                    f" (peak after `rfm`: {gib(hw['rfm'])}, after `tags`: {gib(hw['tags'])})."
                    if "rfm" in hw and "tags" in hw
                    else "."
                )
            ),
            "",
        ]
    if segs:
        out += [
            para(
                f"Segment size (`segments.size(ws, rule)`, in-process on that snapshot, which opens the snapshot "
                f"and counts; median of {SEGMENT_REPEATS} calls after one warm-up):"
            ),
            "",
            "| rule | customers | median ms | max ms |",
            "|---|---:|---:|---:|",
        ]
        for s in segs:
            out.append(f"| `{s['rule']}` | {s['customers']:,} | {s['median_ms']:.0f} | {s['max_ms']:.0f} |")
        out += [""]
    if tags:
        out += [
            para(
                f"Where the refresh's time goes at {largest['customers']:,} customers (statements of the profiled "
                "refreshes after the first, medians; `benchmarks/bench_refresh.py` wraps `portrait.engine.run` in its own "
                "process, nothing in `src/` changes):"
            ),
            "",
            *profile_lines(tags),
            "",
        ]
    s = largest["sql"]
    if s["runs"] and s.get("statements"):
        out += [
            para("The hand-written SQL's statements at the same size (medians):"),
            "",
            "| seconds | statement |",
            "|---:|---|",
        ]
        for st in s["statements"]:
            text = st["sql"].replace("|", "\\|")
            out.append(f"| {st['seconds']:.2f} | `{text[:110] + ('…' if len(text) > 110 else '')}` |")
        out += [""]
    imports = meta.get("imports")
    if imports:
        total = sum(v["seconds"] for v in imports.values())
        each = ", ".join(f"{k} {v['rows_read']:,} rows {v['seconds']:.0f} s" for k, v in imports.items())
        out += [
            para(
                f"By-product, building the {largest['customers']:,}-customer workspace: demo data written in "
                f"{meta['generate_seconds']:.0f} s; import {total:.0f} s ({each})"
                + (f"; peak RSS of the build {gib(meta['build_peak_rss'])}" if meta.get("build_peak_rss") else "")
                + (
                    f'. The build imported with `[engine] memory_limit = "{meta["import_memory_limit"]}"`; the '
                    "refreshes use the default."
                    if meta.get("import_memory_limit", "3GB") != "3GB"
                    else "."
                )
            ),
            "",
        ]
    return "\n".join(out)


def new_docs() -> str:
    """The start of docs/benchmarks.md when it does not exist yet."""
    return (
        "# Benchmarks\n\nMeasured speed and memory of Portrait, each section with the command that produced it "
        f"(how to run them: `benchmarks/README.md`).\n\nMachine: {machine_line(machine())}.\n"
    )


def write_docs(section: str) -> None:
    replace_section(DOCS, "## Refresh", section, new_docs)
    log(f"wrote the Refresh section of {DOCS.relative_to(ROOT)}")


# -- main ------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    global QUIET, QUIET_WAIT
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="demo customers per size, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="runs per contender and size")
    parser.add_argument(
        "--pandas-runs-big",
        type=int,
        default=1,
        help="pandas runs at sizes of 1,000,000 customers or more (it is slow there)",
    )
    parser.add_argument("--memory-cap", type=float, default=20.0, help="kill a child past this RSS (GiB)")
    parser.add_argument(
        "--quiet-share", type=float, default=QUIET, help="before a run, wait until other work uses less CPU than this"
    )
    parser.add_argument("--quiet-wait", type=float, default=QUIET_WAIT, help="but wait at most this many seconds")
    parser.add_argument("--skip-tags", action="store_true", help="no tags and segments at the largest size")
    parser.add_argument(
        "--write-docs", action="store_true", help='rewrite the "## Refresh" section of docs/benchmarks.md'
    )
    parser.add_argument("--_build", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--_profile", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._build:
        build(args._build)
        return 0
    if args._profile:
        profile_child(args._profile)
        return 0

    QUIET, QUIET_WAIT = args.quiet_share, args.quiet_wait
    sizes = sorted(parse_list(args.sizes))
    cap = args.memory_cap * GiB if args.memory_cap else None
    DATA.mkdir(parents=True, exist_ok=True)
    command = ".venv/bin/python benchmarks/bench_refresh.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    results = []
    with tempfile.TemporaryDirectory(prefix="refresh-work-", dir=DATA) as tmp:
        for customers in sizes:
            pandas_runs = args.pandas_runs_big if customers >= 1_000_000 else args.runs
            results.append(bench_size(customers, args.runs, min(args.runs, pandas_runs), cap, Path(tmp)))
    tags = segs = None
    if not args.skip_tags:
        tags = bench_tags(sizes[-1], args.runs, cap)
        segs = bench_segments(Path(tags["workspace"]))
    big_pandas = [r for r in results if r["customers"] >= 1_000_000 and r["pandas"]["runs"] < args.runs]
    pandas_note = f"{plural(args.runs, 'run')} each" + (
        f"; pandas ran {plural(args.pandas_runs_big, 'time')} at "
        + ", ".join(f"{r['customers']:,}" for r in big_pandas)
        + " customers, where one run takes minutes"
        if big_pandas
        else ""
    )
    section = docs_section(command, results, tags, segs, pandas_note)
    print()
    print(section)
    RESULTS.write_text(
        json.dumps(
            {"command": command, "machine": machine(), "sizes": results, "tags": tags, "segments": segs},
            indent=1,
            ensure_ascii=False,
            default=str,
        )
    )
    if args.write_docs:
        write_docs(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
