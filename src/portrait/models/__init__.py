"""Models fitted during a refresh (churn, CLV, …) and their per-customer outputs.

Each model is a module ``portrait.models.<name>`` with ``build(con, as_of, ws)``. The refresh's
``models`` stage calls every module in ``REGISTRY`` on the new snapshot's connection (the raw
warehouse attached as ``raw``; ``customer_table``, the facts, ``rfm`` and ``scores`` already built).
A module writes its per-customer table (named in ``OUTPUTS``; one row per customer, ``user_id``
first) and one row in ``model_reports``. Data too thin to fit is not a failure: the module writes
its table with NULLs, ``status = 'skipped'`` and a message saying why. The ``tags`` stage joins
every output table into ``tag_base``, so tag rules and segments can use the model fields.
"""

from __future__ import annotations

import importlib
import json
from datetime import date
from typing import Any

import duckdb

from portrait.engine import run
from portrait.workspace import Workspace

REGISTRY: list[str] = ["churn", "clv", "cluster", "recommend"]  # run in this order by the refresh's models stage
OUTPUTS: dict[str, str] = {"churn": "churn_scores", "clv": "clv_scores", "cluster": "cluster_scores"}


def build_all(con: duckdb.DuckDBPyConnection, as_of: date, ws: Workspace) -> None:
    """Run every registered model on the snapshot being built."""
    run(
        con,
        "CREATE OR REPLACE TABLE model_reports (model VARCHAR, status VARCHAR, message VARCHAR, report JSON)",
    )
    for name in REGISTRY:
        importlib.import_module(f"portrait.models.{name}").build(con, as_of, ws)


def record_report(con: duckdb.DuckDBPyConnection, model: str, status: str, message: str, report: Any) -> None:
    """Write one model's outcome (``ok`` or ``skipped``) and its evaluation into ``model_reports``."""
    run(
        con,
        "INSERT INTO model_reports VALUES (?, ?, ?, ?)",
        [model, status, message, json.dumps(report, ensure_ascii=False, default=str)],
    )


def output_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The model output tables present in this snapshot."""
    present = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchall()
    }
    return [t for t in OUTPUTS.values() if t in present]
