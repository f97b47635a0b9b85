"""The warehouse's raw tables as Parquet files, so Spark (or any other reader) sees the data DuckDB holds.

Each table becomes one file ``<out>/<table>.parquet`` with its data columns: the bookkeeping columns
(``_key``, ``_content_hash`` …) are left out, and so are the customers' personal fields (name, phone,
e-mail, address, id number): no refresh definition reads them, and a copy is one more place they could leak.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from portrait.engine import run, scalar
from portrait.schema import PERSONAL_FIELDS, TABLES
from portrait.warehouse import data_columns
from portrait.workspace import Workspace


def exported_columns(table: str) -> list[str]:
    """The columns of raw table ``table`` that go into its Parquet file."""
    skip = set(PERSONAL_FIELDS) if table == "customers" else set()
    return [c for c in data_columns(TABLES[table]) if c not in skip]


def export_parquet(ws: Workspace, out: Path | None = None) -> dict[str, Any]:
    """Write every raw table (customers, orders, events, interactions, channels, products) as Parquet.

    ``out`` defaults to ``<spark_dir>/raw`` of the workspace (``[engine] spark_dir``). Files are
    replaced whole, written under a temporary name first, so a reader never sees half a file.
    """
    ws.require("import")
    folder = Path(out) if out is not None else spark_dir(ws) / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    tables: dict[str, Any] = {}
    with ws.warehouse(read_only=True) as con:
        for name in TABLES:
            cols = ", ".join(f'"{c}"' for c in exported_columns(name))
            path = folder / f"{name}.parquet"
            tmp = folder / f".{name}.parquet.tmp"
            target = str(tmp).replace("'", "''")
            run(con, f"COPY (SELECT {cols} FROM {name}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
            tmp.replace(path)
            tables[name] = {"path": str(path), "rows": scalar(con, f"SELECT count(*) FROM {name}")}
    ws.audit("export_parquet", str(folder), tables=len(tables))
    return {"folder": str(folder), "tables": tables}


def spark_dir(ws: Workspace) -> Path:
    """The folder where Spark and DuckDB exchange Parquet files (``[engine] spark_dir``, relative to the workspace)."""
    path = Path(ws.config.engine.spark_dir)
    return path if path.is_absolute() else ws.path / path
