"""Backup and restore: a consistent copy of the warehouse, the store, the current snapshot and the config.

The warehouse and the snapshot are copied table by table through DuckDB (read-only, so readers
may hold the workspace open; an import in progress is waited for by refusing with a message);
the SQLite store through SQLite's online backup. The key is not copied unless asked for: a
backup without it can only be restored where the key is known (file or PORTRAIT_KEY).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from portrait import __version__, snapshots, tags
from portrait.config import CONFIG_NAME
from portrait.errors import InputError, WorkspaceError
from portrait.workspace import KEY_NAME, STORE_NAME, WAREHOUSE_NAME, Workspace

MANIFEST = "portrait-backup.json"


def _copy_duckdb(source: Path, target: Path) -> dict[str, int]:
    """Copy every table of a DuckDB file into a new file; return row counts."""
    target.unlink(missing_ok=True)
    con = duckdb.connect(str(target))
    try:
        try:
            con.execute(f"ATTACH '{source}' AS src (READ_ONLY)").fetchall()
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0]
            if "lock" in first.lower():
                raise WorkspaceError(
                    f"{source.name} is being written (an import is running); back up when it ends"
                ) from None
            raise WorkspaceError(f"{source}: cannot be read ({first}); it may be damaged") from None
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'src' ORDER BY table_name"
            ).fetchall()
        ]
        counts = {}
        for t in tables:
            con.execute(f'CREATE TABLE "{t}" AS SELECT * FROM src."{t}"').fetchall()
            counts[t] = con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0]
        con.execute("DETACH src").fetchall()
        con.execute("CHECKPOINT").fetchall()
    finally:
        con.close()
    return counts


def _copy_sqlite(source: Path, target: Path) -> None:
    target.unlink(missing_ok=True)
    src = sqlite3.connect(str(source))
    dst = sqlite3.connect(str(target))
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def backup(ws: Workspace, folder: Path, include_key: bool = False) -> dict[str, Any]:
    """Write a consistent, restorable copy of the workspace into ``folder`` (which must be empty or new)."""
    ws.require("import")
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise InputError(f"{folder}: not empty; back up into a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".writing"
    tmp.mkdir()
    try:
        counts = {"warehouse": _copy_duckdb(ws.warehouse_path, tmp / WAREHOUSE_NAME)}
        store_path = ws.path / STORE_NAME
        if store_path.exists():
            _copy_sqlite(store_path, tmp / STORE_NAME)
        shutil.copy2(ws.path / CONFIG_NAME, tmp / CONFIG_NAME)
        for extra in ("tags.yaml",):
            if (ws.path / extra).exists():
                shutil.copy2(ws.path / extra, tmp / extra)
        snap = snapshots.current(ws)
        if snap is not None:
            (tmp / snapshots.SNAPSHOT_DIR).mkdir()
            counts["snapshot"] = _copy_duckdb(
                snapshots.folder(ws) / snap.file, tmp / snapshots.SNAPSHOT_DIR / snap.file
            )
            history = tags.history_folder(ws)
            if history.exists():
                shutil.copytree(history, tmp / snapshots.SNAPSHOT_DIR / history.name)
        if include_key and (ws.path / KEY_NAME).exists():
            shutil.copy2(ws.path / KEY_NAME, tmp / KEY_NAME)
        manifest = {
            "portrait": __version__,
            "made_at": datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds"),
            "workspace": str(ws.path),
            "snapshot": snap.as_dict() if snap else None,
            "key_included": include_key,
            "row_counts": counts,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        for item in tmp.iterdir():
            os.replace(item, folder / item.name)
        tmp.rmdir()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    ws.audit("backup", str(folder), rows=sum(counts["warehouse"].values()))
    return {"folder": str(folder), **manifest}


def restore(folder: Path, target: Path) -> dict[str, Any]:
    """Bring a backup back into ``target`` (a new folder, or a workspace to overwrite), all or nothing."""
    folder, target = Path(folder), Path(target)
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        raise InputError(f"{folder}: not a Portrait backup (no {MANIFEST})")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for needed in (WAREHOUSE_NAME, CONFIG_NAME):
        if not (folder / needed).exists():
            raise InputError(f"{folder}: the backup is incomplete ({needed} missing)")
    target.mkdir(parents=True, exist_ok=True)
    staging = target / ".restoring"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(folder, staging)
    (staging / MANIFEST).unlink()
    try:
        check = duckdb.connect(str(staging / WAREHOUSE_NAME), read_only=True)
        check.close()
    except duckdb.Error as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise InputError(f"{folder}: the backed-up warehouse cannot be opened ({str(exc).splitlines()[0]})") from None
    old_snapshots = target / snapshots.SNAPSHOT_DIR
    for item in staging.iterdir():
        dest = target / item.name
        if item.is_dir():
            shutil.rmtree(dest, ignore_errors=True)
        os.replace(item, dest)
    staging.rmdir()
    snap = manifest.get("snapshot")
    if snap:
        pointer = old_snapshots / snapshots.POINTER
        pointer.write_text(json.dumps(snap), encoding="utf-8")
    elif (old_snapshots / snapshots.POINTER).exists():
        (old_snapshots / snapshots.POINTER).unlink()
    Path(str(target / WAREHOUSE_NAME) + ".wal").unlink(missing_ok=True)
    if not (target / KEY_NAME).exists() and not os.environ.get("PORTRAIT_KEY"):
        note = "the key was not in the backup: set PORTRAIT_KEY or put portrait.key in the workspace"
    else:
        note = ""
    from portrait.workspace import open_workspace

    ws = open_workspace(target)
    ws.audit("restore", str(folder), made_at=manifest["made_at"])
    return {"workspace": str(target), "from": str(folder), "made_at": manifest["made_at"], "note": note}
