"""The warehouse's raw tables, declared from the canonical schema (DuckDB)."""

from __future__ import annotations

import duckdb

from portrait.clean.parse import sql_str
from portrait.engine import run
from portrait.schema import HASHED_FIELDS, SQL_TYPES, TABLES, Table

# numeric fields whose outliers are flagged (IQR and 3σ) as columns on import
OUTLIER_FIELDS: dict[str, tuple[str, ...]] = {
    "customers": ("age",),
    "orders": ("amount", "quantity", "unit_price"),
    "events": ("duration_s",),
    "interactions": ("handle_minutes",),
    "channels": ("revenue", "cost"),
    "products": ("price",),
}
OUTLIER_RULES = ("iqr", "3sigma")
# sealed values (personal fields, quarantined raw text) and hashes are random bytes to a compressor: trying
# to compress them costs a checkpoint most of its time (1.5 s for 110 k quarantined rows) and saves nothing
SEALED = " USING COMPRESSION uncompressed"
# a text unique per row (``Field.unique_text``): ZSTD, see there
UNIQUE_TEXT = " USING COMPRESSION zstd"


def outlier_column(field: str, rule: str) -> str:
    """Name of the flag column for ``field`` under ``rule`` (iqr or 3sigma)."""
    return f"outlier_{rule}_{field}"


def table_columns(table: Table) -> list[tuple[str, str]]:
    """Return (column, SQL type) of a raw warehouse table, in order."""
    cols: list[tuple[str, str]] = []
    for f in table.fields:
        cols.append((f.name, "VARCHAR" if f.personal else SQL_TYPES[f.kind]))
    cols.extend(table.derived)
    if table.name == "customers":
        cols.extend((f"{h}_hash", "VARCHAR") for h in HASHED_FIELDS)
        cols.append(("merged_into", "VARCHAR"))
    for f in OUTLIER_FIELDS.get(table.name, ()):
        cols.extend((outlier_column(f, r), "BOOLEAN") for r in OUTLIER_RULES)
    cols.append(("_key", "UHUGEINT"))  # md5 of the natural key
    if table.name == "customers":
        # personal values are stored as tokens that differ on every import: a keyed hash of the clear
        # values tells a changed record from an unchanged one. Other tables compare their stored values
        cols.append(("_content_hash", "UBIGINT"))
    cols.extend(
        [
            ("_filled", "VARCHAR[]"),
            ("_import_id", "BIGINT"),
            ("_row", "BIGINT"),
            # where the row came from: file ``_file`` (its position among the files of import ``_import_id``,
            # whose names and fingerprints import_log keeps), line ``_row``. A number, not the file's name on
            # every row: a text column costs the warehouse write several times a small number's
            ("_file", "USMALLINT"),
        ]
    )
    return cols


def _number_the_files(con: duckdb.DuckDBPyConnection, prefix: str, names: list[str]) -> None:
    """Give the tables ``names``, made before rows named their file by number (``_source``: the file's
    name on every row), the column ``_file`` in its place: the position of that name among the import's
    files."""
    # the files of each import, in order (import_log.files: the import report's sources; a row's _source
    # held the last part of the file's path)
    path = "json_extract_string(l.files, '$[' || f.i || '].path')"
    files = (
        f"(SELECT l.import_id, CAST(f.i AS USMALLINT) AS i, regexp_extract({path}, '[^/]*$') AS name "
        f"FROM {prefix}import_log l, (SELECT unnest(range(CAST(json_array_length(l.files) AS BIGINT))) AS i) f)"
    )
    run(con, "BEGIN TRANSACTION")
    try:
        for name in names:
            run(con, f"ALTER TABLE {prefix}{name} ADD COLUMN _file USMALLINT")
            run(
                con,
                f"UPDATE {prefix}{name} SET _file = m.i FROM (SELECT import_id, name, min(i) AS i FROM {files} "
                f"GROUP BY ALL) m WHERE m.import_id = {prefix}{name}._import_id AND m.name = {prefix}{name}._source",
            )
            run(con, f"ALTER TABLE {prefix}{name} DROP COLUMN _source")
        run(con, "COMMIT")
    except BaseException:
        run(con, "ROLLBACK")
        raise


def data_columns(table: Table) -> list[str]:
    """The columns of a raw table that hold data (its bookkeeping columns, named ``_…``, left out)."""
    return [name for name, _ in table_columns(table) if not name.startswith("_")]


META_TABLES = {
    "quarantine": f"""
        import_id BIGINT, table_name VARCHAR, source VARCHAR, fingerprint VARCHAR, source_row BIGINT,
        reasons VARCHAR[], raw VARCHAR{SEALED}, quarantined_at TIMESTAMP
    """,
    "import_log": """
        import_id BIGINT PRIMARY KEY, table_name VARCHAR, actor VARCHAR, started_at TIMESTAMP,
        finished_at TIMESTAMP, files VARCHAR, report VARCHAR
    """,
    "merge_log": """
        merge_id BIGINT PRIMARY KEY, import_id BIGINT, merged_at TIMESTAMP, survivor VARCHAR,
        members VARCHAR[], evidence VARCHAR, undone_at TIMESTAMP, undone_by VARCHAR
    """,
    "identity_exclusions": "user_id_a VARCHAR, user_id_b VARCHAR, merge_id BIGINT",
}


def create_tables(con: duckdb.DuckDBPyConnection, schema: str | None = None) -> None:
    """Create every raw and bookkeeping table that does not exist yet."""
    prefix = f"{schema}." if schema else ""
    for table in TABLES.values():
        storage = {f.name: SEALED for f in table.fields if f.personal}
        storage.update({f.name: UNIQUE_TEXT for f in table.fields if f.unique_text})
        storage["_key"] = SEALED  # a hash: random bits, which every compressor tries and drops (0.1 CPU-s / 10 M)
        cols = ", ".join(f'"{name}" {sql}{storage.get(name, "")}' for name, sql in table_columns(table))
        run(con, f"CREATE TABLE IF NOT EXISTS {prefix}{table.name} ({cols})")
    # earlier layouts, found in one look at the catalogue: a content hash on every table (before rows
    # other than customers were compared by value), the file's name on every row (``_source``)
    database = sql_str(schema) if schema else "current_database()"
    old: dict[str, list[str]] = {"_content_hash": [], "_source": []}
    for name, column in run(
        con,
        "SELECT table_name, column_name FROM duckdb_columns() WHERE column_name IN ('_content_hash', '_source') "
        f"AND database_name = {database} AND schema_name = 'main' ORDER BY table_name",
    ):
        if name in TABLES or name == "merge_before":
            old[column].append(name)
    # customers (and their merge-undo records) keep their keyed content hash
    for name in old["_content_hash"]:
        if name not in ("customers", "merge_before"):
            run(con, f"ALTER TABLE {prefix}{name} DROP COLUMN _content_hash")
    for name, cols in META_TABLES.items():
        run(con, f"CREATE TABLE IF NOT EXISTS {prefix}{name} ({cols})")
    if old["_source"]:
        _number_the_files(con, prefix, old["_source"])
    # the customer records as they were before each identity merge, for `portrait merge undo`
    run(
        con,
        f"CREATE TABLE IF NOT EXISTS {prefix}merge_before AS "
        f"SELECT CAST(NULL AS BIGINT) AS merge_id, * FROM {prefix}customers LIMIT 0",
    )
