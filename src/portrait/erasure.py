"""Erasure (PIPL / GDPR right to be forgotten): remove every trace of one customer from a workspace.

The customer's records — and the records merged into them — leave the raw tables, the
quarantine, the merge bookkeeping, every snapshot and the manual tags. Files are rewritten
table by table into fresh files (a DELETE alone may leave old bytes in free blocks), and the
audit log keeps an entry that names only a keyed hash of the id.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from portrait import snapshots, tags
from portrait.errors import NotFound, WorkspaceError
from portrait.store import AuditEntry, ManualTag
from portrait.workspace import Workspace

USER_TABLES = ("customers", "orders", "events", "interactions", "campaigns", "merge_before")


def _erased_label(ws: Workspace, user_id: str) -> str:
    return f"erased:{ws.vault.pseudonym(user_id)}"


def _rewrite(path: Path, statements: list[tuple[str, list[Any]]]) -> None:
    """Apply deletions to a DuckDB file, then copy it table by table into a fresh file and swap it in."""
    con = duckdb.connect(str(path))
    try:
        for sql, params in statements:
            con.execute(sql, params).fetchall()
        con.execute("CHECKPOINT").fetchall()
    finally:
        con.close()
    fresh = path.with_suffix(".erasing")
    fresh.unlink(missing_ok=True)
    con = duckdb.connect(str(fresh))
    try:
        con.execute(f"ATTACH '{path}' AS src (READ_ONLY)").fetchall()
        con.execute(f'COPY FROM DATABASE src TO "{_db_name(con)}"').fetchall()
        con.execute("DETACH src").fetchall()
        con.execute("CHECKPOINT").fetchall()
    finally:
        con.close()
    os.replace(fresh, path)
    Path(str(path) + ".wal").unlink(missing_ok=True)


def _db_name(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("SELECT current_database()").fetchall()[0][0]


def forget(ws: Workspace, user_id: str) -> dict[str, Any]:
    """Erase a customer (and the records merged into them) everywhere; return what was removed."""
    ws.require("erase")
    with ws.warehouse(read_only=True) as con:
        ids = [
            r[0]
            for r in con.execute(
                "SELECT user_id FROM customers WHERE user_id = ? OR merged_into = ?", [user_id, user_id]
            ).fetchall()
        ]
        # a workspace made before a table joined the schema has no such table until its next import
        present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        user_tables = [t for t in USER_TABLES if t in present]
        seen = any(
            con.execute(f"SELECT count(*) FROM {t} WHERE user_id = ?", [user_id]).fetchall()[0][0]
            for t in ("orders", "events", "interactions", "campaigns")
            if t in present
        )
        if not ids and not seen:
            raise NotFound(f"no customer '{user_id}' in the warehouse; nothing to erase")
        ids = sorted(set(ids) | {user_id})
        counts = {
            t: con.execute(f"SELECT count(*) FROM {t} WHERE list_contains(?, user_id)", [ids]).fetchall()[0][0]
            for t in user_tables
        }
        # quarantined rows keep their raw values sealed: open each to see whose it is
        quarantined = []
        for fp, row, raw in con.execute("SELECT fingerprint, source_row, raw FROM quarantine").fetchall():
            values = json.loads(ws.vault.decrypt(raw) or "{}")
            if values.get("user_id") in ids:
                quarantined.append((fp, row))
        merges = [
            r[0]
            for r in con.execute(
                "SELECT merge_id FROM merge_log WHERE len(list_intersect(members, ?)) > 0", [ids]
            ).fetchall()
        ]
    label = _erased_label(ws, user_id)
    statements: list[tuple[str, list[Any]]] = [
        (f"DELETE FROM {t} WHERE list_contains(?, user_id)", [ids]) for t in user_tables
    ]
    statements += [
        ("DELETE FROM quarantine WHERE fingerprint = ? AND source_row = ?", [fp, row]) for fp, row in quarantined
    ]
    statements += [
        (
            "DELETE FROM identity_exclusions WHERE list_contains(?, user_id_a) OR list_contains(?, user_id_b)",
            [ids, ids],
        ),
        (
            "UPDATE merge_log SET members = list_transform(members, lambda m: CASE WHEN list_contains(?, m) THEN ? ELSE m END), "
            "survivor = CASE WHEN list_contains(?, survivor) THEN ? ELSE survivor END, evidence = '[]' "
            "WHERE merge_id IN (SELECT unnest(?))",
            [ids, label, ids, label, merges or [-1]],
        ),
    ]
    try:
        _rewrite(ws.warehouse_path, statements)
    except duckdb.IOException as exc:
        raise WorkspaceError(
            f"{ws.warehouse_path.name} is in use ({str(exc).splitlines()[0]}); erase when it is free"
        ) from None
    snapshot_files = sorted(snapshots.folder(ws).glob("snap-*.duckdb"))
    for path in snapshot_files:
        con = duckdb.connect(str(path), read_only=True)
        tables = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT c.table_name FROM duckdb_columns() c JOIN duckdb_tables() t "
                "ON t.table_name = c.table_name AND t.database_name = c.database_name "
                "WHERE c.column_name = 'user_id' AND c.database_name = current_database()"
            ).fetchall()
        ]
        con.close()
        _rewrite(path, [(f'DELETE FROM "{t}" WHERE list_contains(?, user_id)', [ids]) for t in tables])
    history_files = sorted(tags.history_folder(ws).glob("changes-*.parquet"))
    for path in history_files:
        fresh = path.with_suffix(".erasing")
        con = duckdb.connect()
        try:
            con.execute(
                f"COPY (SELECT * FROM read_parquet('{path}') WHERE NOT list_contains(?, user_id)) "
                f"TO '{fresh}' (FORMAT parquet, COMPRESSION zstd)",
                [ids],
            ).fetchall()
        finally:
            con.close()
        os.replace(fresh, path)
    with Session(ws.store.engine) as session, session.begin():
        manual = session.scalars(select(ManualTag).where(ManualTag.user_id.in_(ids))).all()
        session.execute(delete(ManualTag).where(ManualTag.user_id.in_(ids)))
        session.execute(update(AuditEntry).where(AuditEntry.target.in_(ids)).values(target=label))
    ws.audit(
        "forget",
        label,
        records=len(ids),
        rows={**counts, "quarantine": len(quarantined)},
        snapshots=len(snapshot_files),
    )
    return {
        "erased": label,
        "records": len(ids),
        "rows": {**counts, "quarantine": len(quarantined), "manual_tags": len(manual)},
        "snapshots_rewritten": len(snapshot_files),
    }
