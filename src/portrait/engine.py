"""The compute engine (DuckDB): helpers every stage uses to run statements."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import duckdb


def run(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Execute a statement and consume its result (the connection is free for the next one)."""
    return con.execute(sql, params or []).fetchall()


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    """Execute a query and return the first column of its first row (None when no row)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None


@contextmanager
def python_function(
    con: duckdb.DuckDBPyConnection, name: str, fn: Callable[..., Any], args: list[Any], returns: Any
) -> Iterator[str]:
    """Let statements run inside the block call ``fn`` as SQL function ``name`` (once per row it is applied
    to; no column of values passes through Python lists); removed afterwards."""
    con.create_function(name, fn, args, returns, type="native", side_effects=True)
    try:
        yield name
    finally:
        con.remove_function(name)
