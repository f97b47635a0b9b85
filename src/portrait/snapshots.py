"""Snapshots: each refresh writes its derived tables into a new DuckDB file; a pointer names the current one.

The pointer (``snapshots/CURRENT.json``) is replaced atomically (write, fsync, rename), so a reader
sees either the old snapshot or the new one, never a half-built one; a refresh that dies leaves
only an unpublished ``*.partial`` file, removed by the next refresh.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from portrait.errors import NotFound, WorkspaceError
from portrait.workspace import Workspace

SNAPSHOT_DIR = "snapshots"
POINTER = "CURRENT.json"
KEEP = 3


@dataclass
class Snapshot:
    """A published snapshot: its id, file, as-of date and when it was made."""

    id: int
    file: str
    as_of: str
    created_at: str
    job_id: int | None = None

    @property
    def as_of_date(self) -> date:
        """The as-of date as a date."""
        return date.fromisoformat(self.as_of)

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return asdict(self)


def folder(ws: Workspace) -> Path:
    """The workspace's snapshot folder (created if missing)."""
    path = ws.path / SNAPSHOT_DIR
    path.mkdir(exist_ok=True)
    return path


def current(ws: Workspace) -> Snapshot | None:
    """The published snapshot, or None before the first refresh."""
    pointer = folder(ws) / POINTER
    if not pointer.exists():
        return None
    try:
        return Snapshot(**json.loads(pointer.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise WorkspaceError(f"{pointer}: damaged snapshot pointer ({exc}); run `portrait refresh` again") from None


def require_current(ws: Workspace) -> Snapshot:
    """The published snapshot, or NotFound telling the user to refresh."""
    snap = current(ws)
    if snap is None:
        raise NotFound(f"{ws.path}: no refresh yet — run `portrait refresh` after importing data")
    return snap


def next_paths(ws: Workspace) -> tuple[int, Path, Path]:
    """Id, temporary path and final path of the next snapshot."""
    snap = current(ws)
    existing = [int(p.stem.split("-")[1]) for p in folder(ws).glob("snap-*.duckdb")]
    new_id = max([snap.id if snap else 0, *existing]) + 1
    final = folder(ws) / f"snap-{new_id:06d}.duckdb"
    return new_id, final.with_suffix(".partial"), final


def publish(ws: Workspace, snap: Snapshot) -> None:
    """Make ``snap`` the current snapshot, atomically; prune snapshots older than the last few."""
    pointer = folder(ws) / POINTER
    tmp = pointer.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(snap.as_dict(), fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, pointer)
    files = sorted(folder(ws).glob("snap-*.duckdb"))
    for old in files[:-KEEP]:
        if old.name != snap.file:
            old.unlink(missing_ok=True)
            Path(str(old) + ".wal").unlink(missing_ok=True)


def remove_partials(ws: Workspace) -> None:
    """Delete unpublished snapshot files left by refreshes that died."""
    for partial in folder(ws).glob("*.partial*"):
        partial.unlink(missing_ok=True)


@contextmanager
def reader(ws: Workspace) -> Iterator[tuple[duckdb.DuckDBPyConnection, Snapshot]]:
    """A read-only connection to the current snapshot (the last good one while a refresh runs)."""
    snap = require_current(ws)
    path = folder(ws) / snap.file
    try:
        con = duckdb.connect(str(path), read_only=True, config={"threads": ws.config.engine.threads})
    except duckdb.Error as exc:
        raise WorkspaceError(
            f"{path}: cannot open the current snapshot ({str(exc).splitlines()[0]}); run `portrait refresh`"
        ) from None
    try:
        yield con, snap
    finally:
        con.close()
