"""The Spark engine gives the refresh DuckDB gives: one demo shop, refreshed on both engines, every table compared.

One Spark session (local mode) serves the whole module. The demo shop is imported once into a DuckDB
workspace, which is then copied (same warehouse, key and store) into a workspace whose ``[engine]``
says ``kind = "spark"``; both are refreshed as of the same day. Every snapshot table must have the
same columns, the same column types and the same rows (counts, strings and dates exactly, floats to
1e-9 relative); the analyses that read the snapshot (metrics, dimensions, funnel, cohorts, RFM) must
agree too.
"""

from __future__ import annotations

import gc
import json
import math
import shutil
import subprocess
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from portrait import analysis, api, snapshots, spark
from portrait.demo import write_demo_shop
from portrait.errors import ConfigError
from portrait.metrics import metrics
from portrait.parquet import exported_columns
from portrait.refresh import refresh
from portrait.schema import PERSONAL_FIELDS
from portrait.tags import add_manual_tag
from portrait.workspace import Workspace, init_workspace, open_workspace

PORTRAIT = str(Path(sys.executable).with_name("portrait"))
# py4j (PySpark's bridge to the JVM) lets some of its client sockets be garbage-collected unclosed
# (scripts/test runs pytest with --dist loadscope: one xdist worker runs this whole module, one Spark refresh)
pytestmark = pytest.mark.filterwarnings(
    "ignore:unclosed <socket.socket:ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)
AS_OF = date(2025, 1, 1)

# rule and computed tags that exercise the rule language's SQL on both engines
EXTRA_TAGS = """
tags:
  - name: 测试规则
    category: value_risk
    kind: rule
    values:
      - value: 高频新客
        when: frequency >= 3 and recency_days between 0 and 60 and city_tier in ('一线', '新一线')
      - value: 沉睡
        when: recency_days > 180 or (frequency = 0 and days_since_visit is null)
      - value: 客单高
        when: monetary / nullif(frequency, 0) >= 500 and not (gender = '女')
    else: 其他
  - name: 测试计算
    category: behavior
    kind: computed
    expr: round(coalesce(avg_satisfaction, 0) * 10 + orders_90d % 3, 1)
  - name: 测试长度
    category: basic
    kind: computed
    expr: length(lower(coalesce(favourite_category, 'none')))
  - name: 名单客户
    category: preference
    kind: file
    path: vip.csv
    value: 名单内
"""


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Workspace, dict[str, Any]]]:
    """The same shop refreshed on DuckDB and on Spark: (DuckDB workspace, Spark workspace, Spark refresh result)."""
    root = tmp_path_factory.mktemp("parity")
    files = write_demo_shop(root / "data", 300, seed=11, orders_per_customer=5, events_per_customer=30)
    duck = init_workspace(root / "duck")
    api.import_demo_shop(duck, files)
    (duck.path / "tags.yaml").write_text(EXTRA_TAGS, encoding="utf-8")
    (duck.path / "vip.csv").write_text("user_id\nCUS000000001\nCUS000000005\nCUS000000009\n", encoding="utf-8")
    add_manual_tag(duck, "CUS000000002", "客服备注", "重点关注", "parity test")
    shutil.copytree(duck.path, root / "spark")
    toml = root / "spark" / "portrait.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('kind = "duckdb"', 'kind = "spark"'), encoding="utf-8")
    on_spark = open_workspace(root / "spark")
    assert on_spark.config.engine.kind == "spark"
    refresh(duck, AS_OF)
    result = refresh(on_spark, AS_OF)
    yield duck, on_spark, result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        spark.session(on_spark.config.engine).stop()
        gc.collect()  # py4j's leftover sockets are closed here, not in a later test module


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    names = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() ORDER BY 1"
        ).fetchall()
    ]
    return {n: [(r[0], r[1]) for r in con.execute(f'DESCRIBE "{n}"').fetchall()] for n in names}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _untimed(value: Any) -> Any:
    """A model report without its timings (how long a fit took differs from run to run)."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if "second" not in k and k != "timings"}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def _without_floats(value: Any) -> Any:
    """The value with every float (at any depth) replaced by None: what must match exactly."""
    if isinstance(value, float):
        return None
    if isinstance(value, list | tuple):
        return tuple(_without_floats(v) for v in value)
    return value


def _rows(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[Any, ...]]:
    return sorted(con.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)


def test_same_tables_columns_and_types(pair):
    duck, on_spark, result = pair
    assert result["engine"] == "spark"
    with snapshots.reader(duck) as (a, _), snapshots.reader(on_spark) as (b, _):
        ta, tb = _tables(a), _tables(b)
    assert ta == tb
    for table in ("identity", "order_facts", "order_lines", "channel_days", "visit_days", "customer_table"):
        assert table in ta
    for table in ("rfm", "rfm_thresholds", "scores", "tag_values", "tag_definitions", "tag_changes", "segment_base"):
        assert table in ta


def test_every_row_of_every_table_agrees(pair):
    duck, on_spark, _ = pair
    with snapshots.reader(duck) as (a, _), snapshots.reader(on_spark) as (b, _):
        for table in _tables(a):
            ra, rb = _rows(a, table), _rows(b, table)
            if table == "model_reports":  # (model, status, message, report JSON): floats inside the JSON too
                ja = {r[0]: (r[1], r[2], _untimed(json.loads(r[3]))) for r in ra}
                jb = {r[0]: (r[1], r[2], _untimed(json.loads(r[3]))) for r in rb}
                assert ja.keys() == jb.keys() and all(_same(ja[m], jb[m]) for m in ja), table
                continue
            assert len(ra) == len(rb), table
            # floats may differ in the last bits (also inside lists, e.g. the RFM cuts): pair rows up by their
            # non-float values, then compare
            key = lambda row: repr(_without_floats(row))  # noqa: E731
            assert Counter(map(key, ra)) == Counter(map(key, rb)), table
            for x, y in zip(sorted(ra, key=key), sorted(rb, key=key), strict=True):
                assert _same(x, y), (table, x, y)


def test_the_shop_is_not_trivial(pair):
    """The comparison means something: buyers, every RFM group but rare ones, tags with many values."""
    duck, _, _ = pair
    with snapshots.reader(duck) as (con, _):
        assert con.execute("SELECT count(*) FROM customer_table").fetchone()[0] > 250
        assert con.execute("SELECT count(DISTINCT rfm_group) FROM rfm").fetchone()[0] >= 6
        assert con.execute("SELECT count(*) FROM order_facts WHERE refunded").fetchone()[0] > 0
        assert con.execute('SELECT count(DISTINCT "测试规则") FROM tag_values').fetchone()[0] == 4
        assert con.execute("SELECT count(*) FROM tag_values WHERE \"名单客户\" = '名单内'").fetchone()[0] == 3
        assert (
            con.execute("SELECT \"客服备注\" FROM tag_values WHERE user_id = 'CUS000000002'").fetchone()[0]
            == "重点关注"
        )
        assert (
            con.execute("SELECT count(*) FROM customer_table WHERE favourite_category IS NOT NULL").fetchone()[0] > 200
        )


def test_analyses_over_the_snapshot_agree(pair):
    duck, on_spark, _ = pair
    for fn in (
        lambda ws: metrics(ws, "2024-09", ["mom"]),
        lambda ws: analysis.dimensions(ws),
        lambda ws: analysis.dimensions(ws, rule="frequency >= 2"),
        lambda ws: analysis.funnel(ws),
        lambda ws: analysis.cohorts(ws, months=6),
        lambda ws: api.rfm(ws),
    ):
        a, b = fn(duck), fn(on_spark)
        a.pop("snapshot", None), b.pop("snapshot", None)
        assert _same(json.loads(json.dumps(a, default=str)), json.loads(json.dumps(b, default=str)))


def test_spark_refresh_reports_its_stages_and_cleans_up(pair):
    _, on_spark, result = pair
    assert set(result["stages"]) == {"spark_start", "facts", "customer_table", "rfm", "scores", "models", "tags"}
    # the raw tables were exported for Spark; the staging folder of the run is gone
    folder = on_spark.path / "spark"
    assert sorted(p.name for p in (folder / "raw").iterdir()) == [
        f"{t}.parquet"
        for t in sorted(["customers", "orders", "events", "interactions", "channels", "products", "campaigns"])
    ]
    assert not list(folder.glob("stage-*"))


def test_a_statement_spark_refuses_is_one_clear_error(pair):
    _, on_spark, _ = pair
    eng = spark.SparkEngine(spark.session(on_spark.config.engine), on_spark.path / "spark")
    with pytest.raises(spark.SparkError) as err:
        eng.execute("CREATE OR REPLACE TABLE broken AS SELECT no_such_column FROM range(3)")
    assert str(err.value).startswith("Spark failed on broken: ")
    assert "\n" not in str(err.value)


def test_connect_url_is_checked(ws, reopen):
    with pytest.raises(ConfigError, match="spark_connect_url must start with sc://"):
        reopen(ws, '[engine]\nkind = "spark"\nspark_connect_url = "http://host:15002"\n')


def test_export_parquet_cli_writes_every_table_without_personal_fields(pair, tmp_path):
    duck, _, _ = pair
    out = subprocess.run(
        [PORTRAIT, "export-parquet", "--out", str(tmp_path / "pq"), "--workspace", str(duck.path), "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result = json.loads(out.stdout)
    con = duckdb.connect()
    with duck.warehouse(read_only=True) as wh:
        for table, info in result["tables"].items():
            assert info["rows"] == wh.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{info['path']}')").fetchall()]
            assert columns == exported_columns(table)
            assert not any(c.startswith("_") for c in columns)
            assert con.execute(f"SELECT count(*) FROM read_parquet('{info['path']}')").fetchone()[0] == info["rows"]
    assert not set(PERSONAL_FIELDS) & set(exported_columns("customers"))
    assert "user_id" in exported_columns("customers") and "birth_date" in exported_columns("customers")
