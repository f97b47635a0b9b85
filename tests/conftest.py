"""Shared fixtures: small real workspaces (DuckDB warehouse + SQLite store) and file writers."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest
from hypothesis import settings

from portrait.workspace import Workspace, init_workspace

# examples run DuckDB statements, whose time depends on what else the machine is doing: no deadline
settings.register_profile("portrait", deadline=None)
settings.load_profile("portrait")

os.environ.setdefault("PORTRAIT_TEST", "1")


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A fresh workspace in a temporary folder."""
    return init_workspace(tmp_path / "ws")


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write rows (first row = header) as a CSV file and return its path."""

    def write(name: str, rows: list[list[object]], encoding: str = "utf-8", delimiter: str = ",") -> Path:
        path = tmp_path / name
        with path.open("w", encoding=encoding, newline="") as fh:
            csv.writer(fh, delimiter=delimiter).writerows(rows)
        return path

    return write


@pytest.fixture
def query(ws: Workspace) -> Callable[..., list[tuple]]:
    """Run a read-only query against the workspace's warehouse."""

    def run(sql: str, params: list[object] | None = None) -> list[tuple]:
        con = duckdb.connect(str(ws.warehouse_path), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    return run


def set_config(ws: Workspace, text: str) -> Workspace:
    """Rewrite the workspace's portrait.toml and reopen it."""
    from portrait.workspace import open_workspace

    (ws.path / "portrait.toml").write_text(text, encoding="utf-8")
    return open_workspace(ws.path)


@pytest.fixture
def reopen() -> Callable[[Workspace, str], Workspace]:
    """Replace a workspace's configuration and return the reopened workspace."""
    return set_config


@pytest.fixture(autouse=True)
def _no_env_leak(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("PORTRAIT_KEY", raising=False)
    monkeypatch.delenv("PORTRAIT_USER", raising=False)
    monkeypatch.delenv("PORTRAIT_STORE_URL", raising=False)
    yield
