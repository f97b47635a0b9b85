"""The import job: read → map → clean in a scratch engine → load into the warehouse in one transaction.

Clear personal values exist only in the scratch engine (memory, spilling to a private temporary
folder outside the workspace, removed afterwards); the warehouse receives tokens and keyed hashes.
A failure at any step leaves the warehouse exactly as it was.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from portrait.clean.identity import MergeOutcome, merge_identities
from portrait.clean.parse import q, sql_str
from portrait.clean.pipeline import BatchCleaner, TableStats
from portrait.engine import run, scalar
from portrait.errors import InputError, PortraitError, WorkspaceError
from portrait.ingest import readers
from portrait.ingest.mapping import ColumnMap, map_columns, read_mapping_file
from portrait.ingest.readers import Source, csv_error, row_number_sql, stage_file, stage_sql
from portrait.schema import CUSTOMERS, Table, get_table
from portrait.warehouse import create_tables, table_columns
from portrait.workspace import Workspace

Progress = Callable[[str, int, int], None]
# waits for the work done beside the load; gives the sealed quarantine rows per table (a scratch table's
# name, or Arrow rows) and each file's name and fingerprint by index
Quarantine = Callable[[], tuple[dict[str, Any], dict[int, tuple[str, str]]]]
# from this many quarantined rows on, they are sealed on a thread beside the load (loading pyarrow,
# 0.2 s, to hand them back to the engine); fewer are sealed in a statement before it
SEAL_BESIDE_THE_LOAD = 20_000
STAGES = ("read", "clean", "load")


@dataclass
class ImportReport:
    """What one import did: per table counts, quarantine reasons, merges, the files read."""

    import_id: int
    table: str
    sources: list[dict[str, Any]]
    tables: dict[str, dict[str, Any]]
    identity: dict[str, Any]
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def totals(self) -> dict[str, int]:
        """Totals over the tables this import touched."""
        keys = ("rows_read", "accepted", "updated", "unchanged", "duplicates_removed", "quarantined")
        out = {k: sum(int(t[k]) for t in self.tables.values()) for k in keys}
        out["rows_read"] = int(self.tables[self.table]["rows_read"])
        out["fixed"] = sum(sum(t["fixed"].values()) for t in self.tables.values())
        out["filled"] = sum(sum(t["filled"].values()) for t in self.tables.values())
        out["flagged"] = sum(sum(t["flagged"].values()) for t in self.tables.values())
        out["customers_merged"] = int(self.identity.get("records_merged", 0)) + int(
            self.tables.get("customers", {}).get("merged_same_id", 0)
        )
        return out

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form (the `--json` output)."""
        return {
            "import_id": self.import_id,
            "table": self.table,
            "totals": self.totals,
            "tables": self.tables,
            "identity": self.identity,
            "sources": self.sources,
            "ignored_columns": self.ignored_columns,
            "seconds": round(self.seconds, 3),
        }


def _scratch(ws: Workspace, tmpdir: Path) -> duckdb.DuckDBPyConnection:
    spill = tmpdir / "spill"
    spill.mkdir()
    return duckdb.connect(
        ":memory:",
        config={
            "memory_limit": ws.config.engine.memory_limit,
            "threads": ws.config.engine.threads,
            "temp_directory": str(spill),
            "preserve_insertion_order": True,
        },
    )


def _raw_table(
    con: duckdb.DuckDBPyConnection, name: str, table: Table, parts: list[tuple[str, Source, dict[str, int]]]
) -> None:
    """Union the staged files into one table of canonical text columns.

    Stage ``stage_<i>`` holds file ``i`` of the import: ``i`` is the row's ``_file`` (see ``file_names``).
    A lazy stage (the one file of an import, read by the parse) gives rows without ``_seq`` and ``_row``:
    the parse numbers them (see ``BatchCleaner.parse``).
    """
    selects = []
    for stage, source, fields in parts:
        file_index = int(stage.rsplit("_", 1)[1])
        cols = [
            f"c{fields[f.name]} AS {q(f.name)}" if f.name in fields else f"CAST(NULL AS VARCHAR) AS {q(f.name)}"
            for f in table.fields
        ]
        if source.lazy:
            assert len(parts) == 1 and file_index == 0, "only the one file of an import is staged lazily"
            run(
                con,
                f"CREATE OR REPLACE VIEW {name} AS SELECT CAST(0 AS USMALLINT) AS _file, {', '.join(cols)} FROM {stage}",
            )
            return
        row = row_number_sql(con, stage)
        # rows carry the file's index, not its name and fingerprint: a few bytes a row instead of ~90
        selects.append(
            f"SELECT CAST({file_index} AS USMALLINT) AS _file, "
            f"CAST({file_index} AS BIGINT) * 1000000000000 + {row} AS _seq, {row} AS _row, {', '.join(cols)} "
            f"FROM {stage}"
        )
    run(con, f"CREATE OR REPLACE VIEW {name} AS " + " UNION ALL ".join(selects))


def _load(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    ready: str,
    import_id: int,
    stats: TableStats,
    quarantine: Quarantine,
) -> None:
    """Upsert the ready rows into the warehouse table and append new quarantine rows."""
    target = f"wh.{table.name}"
    cols = [name for name, _ in table_columns(table)]

    def same(t: str) -> str:
        """The stored row ``t`` holds the values of the new row ``n``."""
        if table.name == "customers":
            return f"{t}._content_hash = n._content_hash"  # keyed hash of the clear values (stored: tokens)
        return " AND ".join(f"{t}.{q(f.name)} IS NOT DISTINCT FROM n.{q(f.name)}" for f in table.fields)

    before = scalar(con, f"SELECT count(*) FROM {target}")
    stats.unchanged = before and scalar(
        con, f"SELECT count(*) FROM {ready} n JOIN {target} t ON t._key = n._key AND {same('t')}"
    )
    if table.name == "customers":
        # latest non-empty values win; an empty new value does not erase a stored one
        keep = {"user_id", "merged_into", "_key", "_import_id"}
        sets = ", ".join(
            f"{q(c)} = COALESCE(n.{q(c)}, {target}.{q(c)})" if not c.startswith("_") else f"{q(c)} = n.{q(c)}"
            for c in cols
            if c not in keep
        )
    else:
        sets = ", ".join(f"{q(c)} = n.{q(c)}" for c in cols if c not in ("_key", "_import_id"))
    stats.updated = before and scalar(
        con, f"SELECT count(*) FROM {ready} n JOIN {target} t ON t._key = n._key AND NOT ({same('t')})"
    )
    if stats.updated:
        run(
            con,
            f"UPDATE {target} SET {sets}, _import_id = {import_id} FROM {ready} n "
            f"WHERE {target}._key = n._key AND NOT ({same(target)})",
        )
    insert_cols = ", ".join(f"n.{q(c)}" if c != "_import_id" else f"{import_id}" for c in cols)
    # into an empty table (a first import) every row is new: no look-up of each key
    new_only = f" WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE t._key = n._key)" if before else ""
    run(con, f"INSERT INTO {target} SELECT {insert_cols} FROM {ready} n{new_only}")
    stats.accepted = scalar(con, f"SELECT count(*) FROM {target}") - before  # type: ignore[index]
    # quarantine: raw values come sealed (a scratch table, or Arrow rows sealed beside the load); same
    # file + row is kept once
    sealed, file_names = quarantine()
    files = ", ".join(f"({i}, {sql_str(name)}, {sql_str(fp)})" for i, (name, fp) in sorted(file_names.items()))
    arrow = not isinstance(sealed[table.name], str)
    rows = f"_portrait_sealed_{table.name}" if arrow else sealed[table.name]
    if arrow:
        con.register(rows, sealed[table.name])
    try:
        run(
            con,
            f"INSERT INTO wh.quarantine SELECT {import_id}, {sql_str(table.name)}, qq._source, qq._fp, qq._row, "
            f"qq._reasons, qq.raw, now()::TIMESTAMP FROM (SELECT f._source, f._fp, x.* FROM {rows} x "
            f"JOIN (VALUES {files}) f(_file, _source, _fp) USING (_file)) qq "
            f"WHERE NOT EXISTS (SELECT 1 FROM wh.quarantine w WHERE w.table_name = {sql_str(table.name)} "
            f"AND w.fingerprint = qq._fp AND w.source_row = qq._row AND w.reasons = qq._reasons) "
            "ORDER BY qq._file, qq._row",
        )
    finally:
        if arrow:
            con.unregister(rows)


def import_files(
    ws: Workspace,
    table_name: str,
    files: Sequence[Path | str] = (),
    *,
    mapping: Path | None = None,
    sheet: str | None = None,
    fmt: str | None = None,
    delimiter: str | None = None,
    sql_url: str | None = None,
    query: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import files (or a SQL query) into a canonical table; all or nothing. Returns the import report."""
    ws.require("import")
    table = get_table(table_name)
    started = datetime.now()
    if not files and not sql_url:
        raise InputError("name at least one file to import, or --sql URL --query Q")
    if sql_url and not query:
        raise InputError("--sql needs --query 'SELECT …'")
    explicit = read_mapping_file(Path(mapping), table) if mapping else None
    tick = progress or (lambda stage, done, total: None)
    tmpdir = Path(tempfile.mkdtemp(prefix="portrait-import-"))
    try:
        con = _scratch(ws, tmpdir)
        try:
            report = _run(ws, con, table, files, explicit, sheet, fmt, delimiter, sql_url, query, tmpdir, tick, started)
        finally:
            con.close()
    except PortraitError as exc:
        ws.audit("import", table.name, "failed", error=str(exc), files=[str(f) for f in files])
        raise
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    ws.audit("import", table.name, "ok", import_id=report.import_id, totals=report.totals)
    return report


def _run(
    ws: Workspace,
    con: duckdb.DuckDBPyConnection,
    table: Table,
    files: Sequence[Path | str],
    explicit: dict[str, str | None] | None,
    sheet: str | None,
    fmt: str | None,
    delimiter: str | None,
    sql_url: str | None,
    query: str | None,
    tmpdir: Path,
    tick: Progress,
    started: datetime,
) -> ImportReport:
    sources: list[Source] = []
    maps: list[ColumnMap] = []
    count = len(files) + (1 if sql_url else 0)
    # the one file of an import is read by the parse step itself (no staged copy of its text)
    lazy = len(files) == 1 and not sql_url
    for i, path in enumerate(files):
        source = stage_file(con, Path(path), f"stage_{i}", tmpdir, fmt=fmt, sheet=sheet, delimiter=delimiter, lazy=lazy)
        sources.append(source)
        maps.append(map_columns(source.headers, table, source.name, explicit))
        tick("read", i + 1, count)
    if sql_url and query:
        source = stage_sql(con, sql_url, query, f"stage_{len(sources)}")
        sources.append(source)
        maps.append(map_columns(source.headers, table, "query", explicit))
        tick("read", count, count)
    stages = [f"stage_{i}" for i in range(len(sources))]
    _raw_table(con, "raw_main", table, [(s, src, m.fields) for s, src, m in zip(stages, sources, maps, strict=False)])
    present = {f for m in maps for f in m.fields}
    # filled in once every batch has parsed (a lazy stage's fingerprint is computed meanwhile)
    file_names = {i: (src.name, src.fingerprint) for i, src in enumerate(sources)}
    batches: list[tuple[Table, BatchCleaner]] = [
        (table, BatchCleaner(con, table, "raw_main", ws.config, ws.vault, present, file_names))
    ]
    side = [(s, src, m.customer_fields) for s, src, m in zip(stages, sources, maps, strict=False) if m.customer_fields]
    if side:
        # a flat order export also carries customer columns: fill customers from the same rows
        side = [
            (s, src, {**fields, "user_id": m.fields["user_id"]})
            for (s, src, fields), m in zip(side, maps, strict=False)
        ]
        _raw_table(con, "raw_cust", CUSTOMERS, side)
        present_side = {f for _, _, fields in side for f in fields}
        batches.append(
            (CUSTOMERS, BatchCleaner(con, CUSTOMERS, "raw_cust", ws.config, ws.vault, present_side, file_names))
        )
    ready: list[tuple[Table, BatchCleaner, str]] = []
    for _table, cleaner in batches:
        try:
            cleaner.parse()
        except duckdb.Error as exc:
            problem = csv_error(exc, sources)
            if problem is None:
                raise
            raise problem from None
    # every batch has parsed its rows: the staged text is no longer needed
    run(con, "DROP VIEW IF EXISTS raw_main")
    run(con, "DROP VIEW IF EXISTS raw_cust")
    for stage, source in zip(stages, sources, strict=True):
        run(con, f"DROP {'VIEW' if source.lazy else 'TABLE'} IF EXISTS {stage}")
    for i, (t, cleaner) in enumerate(batches):
        ready.append((t, cleaner, cleaner.clean()))
        tick("clean", i + 1, len(batches))
    for source in sources:
        source.rows = batches[0][1].source_rows.get(source.name, source.rows)
        if source.rows == 0:
            raise InputError(f"{source.name}: only a header row, no data; export the file again with its rows")
    # Python work the load needs only at its end runs on threads beside it, on the core the engine's
    # statements leave idle between them: hashing a file parsed straight from its CSV (the hash
    # releases the GIL), and sealing many quarantined rows (read through a cursor of the scratch
    # engine, sealed outside it, handed back as Arrow)
    beside = sum(c.stats.quarantined for _, c in batches) >= SEAL_BESIDE_THE_LOAD
    if not beside:
        for _t, cleaner in batches:
            cleaner.seal_quarantine()
    cursor = con.cursor()
    with ThreadPoolExecutor(max_workers=2) as pool:
        hashing = {
            i: pool.submit(readers.fingerprint, Path(src.path)) for i, src in enumerate(sources) if not src.fingerprint
        }
        sealing = pool.submit(lambda: {t.name: c.sealed_quarantine(cursor) for t, c in batches}) if beside else None

        def quarantine() -> tuple[dict[str, Any], dict[int, tuple[str, str]]]:
            for i, job in hashing.items():
                sources[i].fingerprint = job.result()
                file_names[i] = (sources[i].name, sources[i].fingerprint)
            if sealing is None:
                return {t.name: c.quarantine_table for t, c in batches}, file_names
            return sealing.result(), file_names

        try:
            return _store(ws, con, table, ready, sources, maps, started, tick, quarantine)
        finally:
            # the threads are done with the engine before it closes
            wait([*hashing.values(), *([sealing] if sealing else [])])
            cursor.close()


def _store(
    ws: Workspace,
    con: duckdb.DuckDBPyConnection,
    table: Table,
    ready: list[tuple[Table, BatchCleaner, str]],
    sources: list[Source],
    maps: list[ColumnMap],
    started: datetime,
    tick: Progress,
    quarantine: Quarantine,
) -> ImportReport:
    """Load the cleaned batches into the warehouse in one transaction, with the import's log entry."""
    run(con, f"ATTACH {sql_str(str(ws.warehouse_path))} AS wh")
    try:
        create_tables(con, "wh")
        run(con, "BEGIN TRANSACTION")
        try:
            import_id = con.execute("SELECT COALESCE(max(import_id), 0) + 1 FROM wh.import_log").fetchall()[0][0]
            for i, (t, cleaner, name) in enumerate(ready):
                _load(con, t, name, import_id, cleaner.stats, quarantine)
                tick("load", i + 1, len(ready) + 1)
            outcome = MergeOutcome()
            if any(t.name == "customers" for t, _, _ in ready):
                outcome = merge_identities(con, ws.config.identity, ws.vault, import_id)
            report = ImportReport(
                import_id=import_id,
                table=table.name,
                sources=[s.as_dict() for s in sources],
                tables={t.name: c.stats.as_dict() for t, c, _ in ready},
                identity=outcome.as_dict(),
                ignored_columns={s.name: m.ignored for s, m in zip(sources, maps, strict=False) if m.ignored},
                seconds=(datetime.now() - started).total_seconds(),
            )
            run(
                con,
                "INSERT INTO wh.import_log VALUES (?, ?, ?, ?, now()::TIMESTAMP, ?, ?)",
                [
                    import_id,
                    table.name,
                    ws.actor,
                    started,
                    json.dumps(report.sources, ensure_ascii=False),
                    json.dumps(report.as_dict(), ensure_ascii=False, default=str),
                ],
            )
            run(con, "COMMIT")
            tick("load", len(ready) + 1, len(ready) + 1)
        except BaseException:
            run(con, "ROLLBACK")
            raise
    except duckdb.Error as exc:
        raise InputError(
            f"loading into {ws.warehouse_path.name} failed ({str(exc).splitlines()[0]}); nothing was changed"
        ) from None
    finally:
        committed = "report" in locals()
        try:
            run(con, "DETACH wh")
        except duckdb.Error as exc:
            reason = str(exc).split("Original error: ")[-1].splitlines()[0]
            if committed:
                raise WorkspaceError(
                    f"{ws.warehouse_path.name}: the import was saved in the warehouse log, but writing the warehouse "
                    f"file failed ({reason}); free disk space — the log is applied the next time it opens"
                ) from None
            raise
    return report
