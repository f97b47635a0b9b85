"""The Spark engine: the refresh's SQL definitions, written once in DuckDB's dialect, run on Apache Spark.

With ``[engine] kind = "spark"`` the refresh stages whose statements are engine-neutral (facts,
customer table, RFM, scores, tag values) run on Spark: each statement is transpiled from DuckDB's
dialect to Spark SQL with SQLGlot, with these fixed rewrites of the syntax tree:

- ``raw.<table>`` names the raw table's Parquet file (exported from the warehouse before the run),
  registered as the temporary view ``raw__<table>``;
- ``quantile_cont(x, p)`` becomes ``percentile(x, p)`` (both interpolate linearly; Spark's
  ``percentile_cont`` has no list form);
- ``?`` parameters are bound as literals.

``CREATE TABLE … AS`` writes the result as Parquet under ``<spark_dir>/stage`` and reads it back as a
temporary view, so later statements read the stored result; after each stage the new tables are
loaded into the snapshot's DuckDB file, where every reader finds them as before. The DuckDB-only
parts (models, tag definitions, tag history, ``segment_base``) then run on that snapshot.

Definitions that could not be transpiled faithfully were rewritten once, engine-neutrally, in the
definition itself (see docs/spark.md): there is no second copy of any definition.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from portrait.config import EngineConfig
from portrait.engine import run
from portrait.errors import ConfigError, PortraitError
from portrait.parquet import export_parquet, spark_dir
from portrait.workspace import Workspace

RAW_PREFIX = "raw__"
# stages whose statements run on Spark; the others (models) run on the snapshot in DuckDB
SPARK_STAGES = ("facts", "customer_table", "rfm", "scores", "tags")


class SparkError(PortraitError):
    """A statement Spark refused or failed on (names the statement's target and Spark's reason)."""

    code = "spark_failed"


def _require_pyspark() -> Any:
    try:
        import pyspark  # noqa: F401
        import sqlglot  # noqa: F401
    except ImportError:
        raise ConfigError(
            '[engine] kind = "spark" needs PySpark and SQLGlot: pip install "portrait[spark]" (and Java 17)'
        ) from None
    from pyspark.sql import SparkSession

    return SparkSession


def session(config: EngineConfig) -> Any:
    """The Spark session of ``[engine]``: Spark Connect when ``spark_connect_url`` is set, else ``spark_master``.

    Local mode is set up for one machine: bound to 127.0.0.1, UI off, two shuffle partitions,
    time zone UTC. ``spark_conf`` entries are applied last and win. The session is reused by later
    refreshes in the same process.
    """
    SparkSession = _require_pyspark()
    conf: dict[str, str] = {"spark.sql.session.timeZone": "UTC"}
    if config.spark_connect_url:
        builder = SparkSession.builder.remote(config.spark_connect_url)
    else:
        builder = SparkSession.builder.master(config.spark_master).appName("portrait-refresh")
        if config.spark_master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            conf.update(
                {
                    "spark.ui.enabled": "false",
                    "spark.ui.showConsoleProgress": "false",
                    "spark.sql.shuffle.partitions": "2",
                    "spark.default.parallelism": "2",
                    "spark.driver.memory": "1g",
                    "spark.driver.host": "127.0.0.1",
                    "spark.driver.bindAddress": "127.0.0.1",
                }
            )
    conf.update(config.spark_conf)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # the JVM or the cluster could not be reached
        raise SparkError(
            f"cannot start Spark ({_first_line(exc)}); check Java 17 and [engine] in portrait.toml"
        ) from None
    if not config.spark_connect_url:
        spark.sparkContext.setLogLevel("ERROR")
    return spark


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


@contextmanager
def _guard(target: str) -> Iterator[None]:
    """Turn an exception from Spark (py4j, Spark Connect) into a one-line SparkError naming ``target``."""
    try:
        yield
    except PortraitError:
        raise
    except Exception as exc:
        raise SparkError(f"Spark failed on {target}: {_first_line(exc)}") from None


def _literal(value: Any) -> Any:
    from sqlglot import exp

    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float | Decimal):
        return exp.Literal.number(value)
    if isinstance(value, datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    return exp.Literal.string(str(value))


def translate(sql: str, params: list[Any] | None = None) -> list[Any]:
    """Parse DuckDB SQL into SQLGlot trees rewritten for Spark (raw tables, percentiles, bound parameters)."""
    import sqlglot
    from sqlglot import exp

    values = list(params or [])
    out = []
    for tree in sqlglot.parse(sql, read="duckdb"):
        if tree is None:
            continue
        for node in list(tree.find_all(exp.Placeholder, bfs=False)):  # in the order they are written
            if not values:
                raise SparkError("a statement has more ? parameters than values")
            node.replace(_literal(values.pop(0)))
        for table in tree.find_all(exp.Table):
            if table.db == "raw":
                table.set("db", None)
                table.set("this", exp.to_identifier(RAW_PREFIX + table.name))
        for node in list(tree.find_all(exp.PercentileCont, exp.Quantile)):
            if node.args.get("expression") is not None and not isinstance(node.parent, exp.WithinGroup):
                node.replace(exp.Anonymous(this="percentile", expressions=[node.this, node.expression]))
        out.append(tree)
    if values:
        raise SparkError(f"{len(values)} parameter value(s) left over: the statement has fewer ? parameters")
    return out


def spark_sql(sql: str, params: list[Any] | None = None) -> list[str]:
    """The Spark SQL text of each statement of ``sql`` (for docs, debugging and tests)."""
    return [t.sql(dialect="spark") for t in translate(sql, params)]


class _Rows:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows


@dataclass
class SparkEngine:
    """A connection-like object the stage functions use in place of DuckDB's (``execute``, ``register``).

    ``execute`` runs one or more DuckDB-dialect statements on Spark. Tables created since the last
    ``flush`` are loaded into a DuckDB connection by ``flush``; views are re-created there from their
    original statement.
    """

    spark: Any
    folder: Path
    pending: list[str] = field(default_factory=list)
    views: dict[str, str] = field(default_factory=dict)
    locations: dict[str, Path] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)  # every temporary view made, dropped at the end

    def execute(self, sql: str, params: list[Any] | None = None) -> _Rows:
        """Run DuckDB-dialect SQL on Spark; the rows of the last statement (none for CREATE)."""
        from sqlglot import exp

        rows: list[tuple[Any, ...]] = []
        for tree in translate(sql, params):
            if isinstance(tree, exp.Create) and tree.args.get("kind") in ("TABLE", "VIEW"):
                rows = self._create(tree, sql)
            else:
                with _guard("a query"):
                    rows = [tuple(r) for r in self.spark.sql(tree.sql(dialect="spark")).collect()]
        return _Rows(rows)

    def _sql(self, text: str, target: str) -> Any:
        with _guard(target):
            return self.spark.sql(text)

    def _create(self, tree: Any, original: str) -> list[tuple[Any, ...]]:
        from sqlglot import exp

        name = tree.this.name if isinstance(tree.this, exp.Table) else tree.this.this.name
        select = tree.expression
        if select is None:
            raise SparkError(f"CREATE {tree.args.get('kind')} {name} without AS SELECT does not run on Spark")
        df = self._sql(select.sql(dialect="spark"), name)
        self.names.add(name)
        if tree.args.get("kind") == "VIEW":
            df.createOrReplaceTempView(name)
            self.views[name] = original
            return []
        temporary = any(
            isinstance(p, exp.TemporaryProperty) for p in (tree.args.get("properties") or exp.Properties()).expressions
        )
        path = self.folder / f"t-{name.strip('_')}-{uuid.uuid4().hex[:8]}"
        with _guard(name):
            df.write.mode("overwrite").parquet(str(path))
            self.spark.read.parquet(str(path)).createOrReplaceTempView(name)
        old = self.locations.get(name)
        self.locations[name] = path
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        if not temporary and name not in self.pending:
            self.pending.append(name)
        return []

    def register(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table a temporary view (through a Parquet file Spark can read)."""
        path = self.folder / f"in-{name.strip('_')}-{uuid.uuid4().hex[:8]}.parquet"
        pq.write_table(table, path)
        self.names.add(name)
        with _guard(name):
            self.spark.read.parquet(str(path)).createOrReplaceTempView(name)

    def unregister(self, name: str) -> None:
        """Drop a view made by ``register``."""
        self.spark.catalog.dropTempView(name)

    def push(self, duck: duckdb.DuckDBPyConnection, table: str) -> None:
        """Make a table of the DuckDB snapshot visible to Spark (through Parquet)."""
        path = self.folder / f"in-{table.strip('_')}-{uuid.uuid4().hex[:8]}.parquet"
        run(duck, f"""COPY "{table}" TO '{_path_sql(path)}' (FORMAT parquet)""")
        self.names.add(table)
        with _guard(table):
            self.spark.read.parquet(str(path)).createOrReplaceTempView(table)

    def flush(self, duck: duckdb.DuckDBPyConnection) -> list[str]:
        """Load the tables Spark built since the last flush into ``duck``; re-create the views there."""
        loaded = []
        for name in self.pending:
            files = f"{_path_sql(self.locations[name])}/*.parquet"
            run(duck, f"""CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM read_parquet('{files}')""")
            loaded.append(name)
        for original in self.views.values():
            run(duck, original)
        self.pending.clear()
        self.views.clear()
        return loaded


def _path_sql(path: Path) -> str:
    return str(path).replace("'", "''")


@contextmanager
def spark_engine(ws: Workspace, duck: duckdb.DuckDBPyConnection) -> Iterator[SparkEngine]:
    """A Spark engine for one refresh: raw tables exported and registered, ``snapshot_info`` pushed.

    The staging folder ``<spark_dir>/stage-<id>`` is removed afterwards, whatever happened.
    """
    spark = session(ws.config.engine)
    raw = export_parquet(ws)
    stage = spark_dir(ws) / f"stage-{uuid.uuid4().hex[:12]}"
    stage.mkdir(parents=True)
    eng = SparkEngine(spark, stage)
    created: list[str] = []
    try:
        for name, info in raw["tables"].items():
            with _guard(f"raw table {name}"):
                spark.read.parquet(info["path"]).createOrReplaceTempView(RAW_PREFIX + name)
            created.append(RAW_PREFIX + name)
        eng.push(duck, "snapshot_info")
        yield eng
    finally:
        for view in created + sorted(eng.names):
            try:
                spark.catalog.dropTempView(view)
            except Exception:  # noqa: BLE001 - the session may be gone already
                pass
        shutil.rmtree(stage, ignore_errors=True)


def run_stage(eng: SparkEngine, stage: Any, duck: duckdb.DuckDBPyConnection, as_of: date, ws: Workspace) -> None:
    """Run refresh stage ``stage`` (a ``refresh.Stage``) on Spark and bring its tables into the snapshot ``duck``.

    A stage's own build function runs with the Spark engine in place of the DuckDB connection; the
    tags stage computes ``tag_values`` on Spark and finishes (definitions, history, ``segment_base``)
    on the snapshot.
    """
    from portrait import models, tags

    if stage.name == "tags":
        for table in models.output_tables(duck):
            eng.push(duck, table)
        computed = tags.build_tag_values(eng, ws, tags.base_view_sql(duck))  # type: ignore[arg-type]
        eng.flush(duck)
        tags.finish_tags(duck, ws, computed, as_of)
        return
    stage.build(eng, as_of, ws)
    eng.flush(duck)
