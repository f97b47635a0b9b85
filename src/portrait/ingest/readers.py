"""Readers: turn a user's file (CSV in any encoding, Excel, Parquet, JSON lines) or SQL query into a
staging table of text columns ``c0 … cN`` plus ``_row`` (the row number a spreadsheet user sees).

Readers only read; mapping, parsing and validation come after, in the engine.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import mmap
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import duckdb

from portrait.engine import run, scalar
from portrait.errors import InputError

SAMPLE_BYTES = 1 << 20
TRANSCODE_CHUNK = 1 << 24
DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon"}
OTHER_DELIMITERS = ("|", "^", "~", ":")
FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".xls": "excel",
    ".xlsb": "excel",
    ".ods": "excel",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
MAGIC = {
    b"PK\x03\x04": "a zip/Excel (.xlsx) file",
    b"\xd0\xcf\x11\xe0": "an Excel 97 (.xls) file",
    b"PAR1": "a Parquet file",
}


@dataclass
class Source:
    """What was read from one file: its format, encoding, headers and row count."""

    path: str
    format: str
    fingerprint: str
    headers: list[str]
    rows: int = 0
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    notes: list[str] = field(default_factory=list)
    read_from: str | None = None  # the file DuckDB reads (a transcoded copy for non-UTF-8 CSV)
    lazy: bool = False  # staged as a view over the CSV reader, read by the parse (see ``stage_csv``)

    @property
    def name(self) -> str:
        """The file's name as shown in messages."""
        return Path(self.path).name

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form for reports (how the file was staged is not part of them)."""
        data = asdict(self)
        del data["lazy"]
        return data


def fingerprint(path: Path) -> str:
    """Return the fingerprint of a file's bytes: their 128-bit XXH3 hash, as 32 hex digits.

    It tells one file's content from another's (the quarantine keeps a file's row once; the import log
    names each file by it); nothing is kept secret by it, so a fast non-cryptographic hash serves:
    XXH3 reads a 1.5 GB file in 0.3 s where SHA-256 took 1.1 s. The file is mapped into memory and
    hashed in slices of that mapping (no copy of its bytes in Python); each slice is let go once
    hashed, so the process holds one slice of the file at a time, for any size. The hash releases
    the interpreter lock as it runs.
    """
    import xxhash  # loaded where it is used

    digest = xxhash.xxh3_128()
    with path.open("rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:  # an empty file cannot be mapped
            return digest.hexdigest()
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                for start in range(0, len(view), TRANSCODE_CHUNK):
                    digest.update(view[start : start + TRANSCODE_CHUNK])
                    # the pages stay in the system's file cache; only this process's mapping of them goes
                    mapped.madvise(mmap.MADV_DONTNEED, start, min(TRANSCODE_CHUNK, len(view) - start))
            finally:
                view.release()
    return digest.hexdigest()


def detect_format(path: Path, given: str | None = None) -> str:
    """Return csv / excel / parquet / jsonl from ``given`` or the file's suffix."""
    if given:
        if given not in set(FORMATS.values()):
            raise InputError(f"unknown format '{given}': choose csv, excel, parquet or jsonl")
        return given
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"{path.name}: cannot tell the format from the suffix '{path.suffix}'; "
            "use .csv/.xlsx/.xls/.parquet/.jsonl or pass --format"
        )
    return fmt


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; name the files to import")
    if path.stat().st_size == 0:
        raise InputError(f"{path.name}: the file is empty; export it again with a header row and data")


def detect_encoding(sample: bytes, name: str) -> str:
    """Return the encoding of a CSV sample: utf-8, utf-8-sig, utf-16 or gb18030; else raise."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for magic, what in MAGIC.items():
        if sample.startswith(magic):
            raise InputError(f"{name}: this is {what}, not CSV text; import the original file or export it as CSV")
    if b"\x00" in sample:
        raise InputError(f"{name}: binary content (NUL bytes), not CSV text; export the data as CSV or Excel")
    whole = len(sample) < SAMPLE_BYTES
    cut = sample.rfind(b"\n")
    body = sample if whole or cut < 0 else sample[: cut + 1]
    for encoding in ("utf-8", "gb18030"):
        try:
            text = body.decode(encoding)
        except UnicodeDecodeError as exc:
            if whole and exc.start >= len(body) - 3 and exc.reason == "unexpected end of data":
                raise InputError(
                    f"{name}: the file ends inside a {encoding.upper()} character; it looks truncated — export it again"
                ) from None
            continue
        controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\r\n\t")
        if controls > max(2, len(text) // 100):
            break
        return encoding
    raise InputError(
        f"{name}: not readable as UTF-8 or GB18030/GBK text (binary or an unknown encoding); save it as UTF-8 CSV"
    )


def sniff_delimiter(lines: list[str], name: str) -> str:
    """Return the delimiter (comma, tab or semicolon) that splits the first lines evenly."""
    best: tuple[int, str] | None = None
    for delim in DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=delim) if row]
        if not counts or counts[0] < 2:
            continue
        steady = sum(1 for c in counts if c == counts[0])
        score = (steady * 1000 + counts[0], delim)
        if steady == len(counts) and (best is None or score[0] > best[0]):
            best = score
    if best:
        return best[1]
    header = lines[0] if lines else ""
    for other in OTHER_DELIMITERS:
        if header.count(other) >= 1:
            raise InputError(
                f"{name}: the columns seem separated by '{other}', which is not supported; "
                "save the file with comma, tab or semicolon separators, or pass --delimiter"
            )
    return ","


def _read_sample(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(SAMPLE_BYTES)


def _transcode(path: Path, encoding: str, tmpdir: Path, cr_only: bool = False) -> Path:
    """Stream a non-UTF-8 (or CR-only line ended) file into a UTF-8 copy in ``tmpdir`` (outside the workspace)."""
    target = tmpdir / (path.stem + ".utf8.csv")
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    with path.open("rb") as src, target.open("w", encoding="utf-8", newline="") as dst:
        for block in iter(lambda: src.read(TRANSCODE_CHUNK), b""):
            try:
                text = decoder.decode(block)
                dst.write(text.replace("\r", "\n") if cr_only else text)
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{path.name}: byte {offset + exc.start} is not valid {encoding}; "
                    "the file mixes encodings — save it again as UTF-8"
                ) from None
            offset += len(block)
        try:
            dst.write(decoder.decode(b"", final=True))
        except UnicodeDecodeError:
            raise InputError(f"{path.name}: the file ends inside a character; it looks truncated") from None
    return target


def _header_check(headers: list[str], name: str) -> list[str]:
    clean = [h.strip().lstrip("\ufeff") for h in headers]
    if not any(clean):
        raise InputError(f"{name}: the first row is empty; the first row must hold the column names")
    dupes = [h for h, n in Counter(clean).items() if n > 1 and h]
    if dupes:
        raise InputError(f"{name}: duplicate column name '{dupes[0]}'; rename one of the columns")
    return [h or f"column{i + 1}" for i, h in enumerate(clean)]


_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")
_CSV_COLS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")


def _csv_error(exc: duckdb.Error, name: str) -> InputError:
    text = str(exc)
    line = _CSV_LINE.search(text)
    where = f"{name}: line {line.group(1)}" if line else name
    cols = _CSV_COLS.search(text)
    if cols:
        expected, found = cols.groups()
        return InputError(
            f"{where} has {found} fields where the header has {expected}; "
            "the file may be truncated, or a value contains an unquoted separator"
        )
    if "unterminated quote" in text:
        return InputError(f"{where}: a quoted value never ends; the file may be truncated — export it again")
    first = text.splitlines()[0] if text else "unreadable"
    return InputError(f"{where}: cannot be read as CSV ({first})")


def stage_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    stage: str,
    tmpdir: Path,
    delimiter: str | None = None,
    *,
    lazy: bool = False,
) -> Source:
    """Stage a CSV file of any supported encoding/delimiter as ``stage``.

    ``stage`` is a table, or with ``lazy`` a view over the reader: the file is then read by the query
    that reads the view (the parse step of the import), and its parsing errors arise there (see
    ``csv_error``). A lazy stage has no row numbers: the rows of the table its one reader fills are
    numbered by that table's rowid (see ``BatchCleaner.parse``). Its ``fingerprint`` is left empty for the
    caller to fill (the import hashes the file on a thread while the engine parses it).
    """
    _check_exists(path)
    sample = _read_sample(path)
    encoding = detect_encoding(sample, path.name)
    text_sample = sample.decode(encoding, errors="ignore")
    lines = text_sample.splitlines()[:50]
    if len(sample) == SAMPLE_BYTES and len(lines) > 1:
        lines = lines[:-1]
    if not lines or not lines[0].strip():
        raise InputError(f"{path.name}: the first line is empty; the first line must hold the column names")
    delim = delimiter or sniff_delimiter(lines, path.name)
    headers = _header_check(next(csv.reader([lines[0]], delimiter=delim)), path.name)
    if len(headers) == 1:
        for other in OTHER_DELIMITERS + tuple(d for d in DELIMITERS if d != delim):
            if other in headers[0]:
                raise InputError(
                    f"{path.name}: only one column '{headers[0][:40]}' — the separator looks like '{other}'; "
                    "pass --delimiter or save with comma separators"
                )
    if len(sample) < SAMPLE_BYTES and not any(line.strip() for line in text_sample.splitlines()[1:]):
        raise InputError(f"{path.name}: only a header row, no data; export the file again with its rows")
    cr_only = b"\r" in sample and b"\n" not in sample  # old Mac line ends, which the CSV reader does not take
    needs_copy = cr_only or encoding not in ("utf-8", "utf-8-sig")
    source_path = _transcode(path, encoding, tmpdir, cr_only) if needs_copy else path
    columns = {f"c{i}": "VARCHAR" for i in range(len(headers))}
    # staged as a table, read on every core, in file order (the connection preserves insertion order):
    # the table has no _row column, and its rowid numbers the records (see ``row_number_sql``) — a
    # row_number() over the read was a serial pass (measured: 11.2 s against 6.8 s for 10 M rows).
    # A lazy stage skips the copy of every value as text (and at 10 M rows the spilling to disk it caused)
    try:
        run(
            con,
            f"""CREATE OR REPLACE {"VIEW" if lazy else "TABLE"} {stage} AS
            SELECT * FROM read_csv({_literal(str(source_path))}, header=true, auto_detect=false,
                                   columns={columns!r}, delim={_literal(delim)}, quote='"', escape='"',
                                   strict_mode=true, null_padding=false, max_line_size=10000000)""",
        )
    except duckdb.Error as exc:
        raise _csv_error(exc, path.name) from None
    return Source(
        str(path),
        "csv",
        "" if lazy else fingerprint(path),  # a lazy stage's file is fingerprinted while it is parsed
        headers,
        0,
        encoding="utf-8" if encoding == "utf-8-sig" else encoding,
        delimiter=DELIMITERS.get(delim, delim),
        notes=["UTF-8 with BOM"] if encoding == "utf-8-sig" else [],
        read_from=str(source_path),
        lazy=lazy,
    )


def row_number_sql(con: duckdb.DuckDBPyConnection, stage: str) -> str:
    """The expression for a staged row's number as a spreadsheet user sees it (the header is row 1).

    Stages of CSV files have no ``_row`` column: their rows were inserted in file order, so the row
    id (0 for the first record) gives it. (A lazy stage has neither: its rows are numbered by the parse.)
    """
    has_row = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = ? AND column_name = '_row'", [stage]
    ).fetchone()
    return "_row" if has_row and has_row[0] else "(rowid + 2)"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def csv_error(exc: duckdb.Error, sources: list[Source]) -> InputError | None:
    """Turn a CSV parsing error raised while a staged CSV view is read into a one-line error, or None."""
    text = str(exc)
    if "CSV Error" not in text and "unterminated quote" not in text and "CSV" not in text.split("\n")[0]:
        return None
    for source in sources:
        if source.read_from and source.read_from in text:
            return _csv_error(exc, source.name)
    return _csv_error(exc, sources[0].name if len(sources) == 1 else "a CSV file")


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    text = str(value)
    return text if text.strip() else None


def stage_excel(con: duckdb.DuckDBPyConnection, path: Path, stage: str, sheet: str | None = None) -> Source:
    """Load the first (or the named) sheet of an .xlsx/.xls/.xlsb/.ods workbook into ``stage``."""
    import pyarrow as pa  # loaded only where Arrow is used (0.2 s)
    from python_calamine import CalamineWorkbook

    _check_exists(path)
    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several error types for unreadable workbooks
        raise InputError(f"{path.name}: not a readable Excel workbook ({str(exc).splitlines()[0]})") from None
    names = book.sheet_names
    if sheet is None:
        if not names:
            raise InputError(f"{path.name}: the workbook has no sheets")
        sheet = names[0]
    elif sheet not in names:
        raise InputError(f"{path.name}: no sheet named '{sheet}'; the sheets are: {', '.join(names)}")
    grid = book.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    # keep each row's number as Excel shows it (1-based), skipping rows with nothing in them
    numbered = [(i + 1, r) for i, r in enumerate(grid) if any(v not in (None, "") for v in r)]
    if not numbered:
        raise InputError(f"{path.name} [{sheet}]: the sheet is empty")
    header_row = numbered[0][1]
    first_col = min(next(j for j, v in enumerate(r) if v not in (None, "")) for _, r in numbered)
    headers = _header_check([_cell_text(v) or "" for v in header_row[first_col:]], f"{path.name} [{sheet}]")
    while (
        headers
        and headers[-1].startswith("column")
        and all(
            len(r) <= first_col + len(headers) - 1 or r[first_col + len(headers) - 1] in (None, "") for _, r in numbered
        )
    ):
        headers.pop()
    body = numbered[1:]
    if not body:
        raise InputError(f"{path.name} [{sheet}]: only a header row, no data")
    width = len(headers)
    cols = {
        f"c{i}": pa.array(
            [_cell_text(r[first_col + i]) if first_col + i < len(r) else None for _, r in body], pa.string()
        )
        for i in range(width)
    }
    cols["_row"] = pa.array([n for n, _ in body], pa.int64())
    arrow = pa.table(cols)
    con.register("_excel_arrow", arrow)
    try:
        run(con, f"CREATE OR REPLACE TABLE {stage} AS SELECT * FROM _excel_arrow")
    finally:
        con.unregister("_excel_arrow")
    return Source(str(path), "excel", fingerprint(path), headers, len(body), sheet=sheet)


def _stage_typed(
    con: duckdb.DuckDBPyConnection, relation_sql: str, params: list[Any], stage: str, name: str
) -> list[str]:
    """Stage a typed relation as text columns c0…cN; return its headers."""
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {relation_sql}", params).fetchall()
    except duckdb.Error as exc:
        raise InputError(f"{name}: cannot be read ({str(exc).splitlines()[0]})") from None
    headers = _header_check([row[0] for row in described if row[0] != "file_row_number"], name)
    has_row = any(row[0] == "file_row_number" for row in described)
    select = ", ".join(
        f"CASE WHEN typeof(\"{h}\") LIKE '%[]%' OR typeof(\"{h}\") LIKE 'STRUCT%' OR typeof(\"{h}\") LIKE 'MAP%' "
        f'THEN CAST(to_json("{h}") AS VARCHAR) ELSE CAST("{h}" AS VARCHAR) END AS c{i}'
        for i, h in enumerate(headers)
    )
    row_expr = "CAST(file_row_number AS BIGINT) + 1" if has_row else "row_number() OVER ()"
    try:
        if has_row:
            run(
                con,
                f"CREATE OR REPLACE TABLE {stage} AS SELECT {select}, {row_expr} AS _row FROM {relation_sql}",
                params,
            )
        else:
            run(
                con,
                f"CREATE OR REPLACE TABLE {stage} AS SELECT *, {row_expr} AS _row FROM "
                f"(SELECT {select} FROM {relation_sql})",
                params,
            )
    except duckdb.Error as exc:
        raise InputError(f"{name}: cannot be read ({str(exc).splitlines()[0]})") from None
    return headers


def stage_parquet(con: duckdb.DuckDBPyConnection, path: Path, stage: str) -> Source:
    """Load a Parquet file into ``stage`` (values as text, row numbers from the file)."""
    _check_exists(path)
    with path.open("rb") as fh:
        if fh.read(4) != b"PAR1":
            raise InputError(f"{path.name}: not a Parquet file (no PAR1 header)")
    headers = _stage_typed(con, "read_parquet(?, file_row_number=true)", [str(path)], stage, path.name)
    rows = scalar(con, f"SELECT count(*) FROM {stage}")
    if rows == 0:
        raise InputError(f"{path.name}: the file has no rows")
    return Source(str(path), "parquet", fingerprint(path), headers, rows)


def stage_jsonl(con: duckdb.DuckDBPyConnection, path: Path, stage: str) -> Source:
    """Load a JSON-lines file (one object per line) into ``stage``."""
    _check_exists(path)
    sample = _read_sample(path)
    if b"\x00" in sample:
        raise InputError(f"{path.name}: binary content, not JSON lines")
    first = sample.lstrip().split(b"\n", 1)[0]
    try:
        json.loads(first.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(f"{path.name}: line 1 is not a JSON object; expected one JSON object per line") from None
    headers = _stage_typed(
        con, "read_json(?, format='newline_delimited', records=true, sample_size=-1)", [str(path)], stage, path.name
    )
    rows = scalar(con, f"SELECT count(*) FROM {stage}")
    return Source(str(path), "jsonl", fingerprint(path), headers, rows)


def stage_sql(con: duckdb.DuckDBPyConnection, url: str, query: str, stage: str, batch: int = 50_000) -> Source:
    """Run ``query`` through SQLAlchemy at ``url`` and load its rows into ``stage`` in batches."""
    import pyarrow as pa  # loaded only where Arrow is used (0.2 s)
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    safe_url = re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
    try:
        engine = create_engine(url)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise InputError(f"{safe_url}: not a usable database URL ({exc})") from None
    digest = hashlib.sha256(f"{safe_url}\x1f{query}".encode()).hexdigest()
    created = False
    total = 0
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(text(query))
            headers = _header_check([str(k) for k in result.keys()], "query")
            while chunk := result.fetchmany(batch):
                cols = {f"c{i}": pa.array([_cell_text(r[i]) for r in chunk], pa.string()) for i in range(len(headers))}
                cols["_row"] = pa.array(range(total + 1, total + len(chunk) + 1), pa.int64())
                con.register("_sql_arrow", pa.table(cols))
                if created:
                    run(con, f"INSERT INTO {stage} SELECT * FROM _sql_arrow")
                else:
                    run(con, f"CREATE OR REPLACE TABLE {stage} AS SELECT * FROM _sql_arrow")
                    created = True
                con.unregister("_sql_arrow")
                total += len(chunk)
    except SQLAlchemyError as exc:
        raise InputError(f"{safe_url}: the query failed ({str(exc.orig or exc).splitlines()[0]})") from None
    finally:
        engine.dispose()
    if not created:
        raise InputError(f"{safe_url}: the query returned no rows")
    return Source(safe_url, "sql", digest, headers, total, notes=[query])


Stager = Callable[..., Source]


def stage_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    stage: str,
    tmpdir: Path,
    *,
    fmt: str | None = None,
    sheet: str | None = None,
    delimiter: str | None = None,
    lazy: bool = False,
) -> Source:
    """Stage any supported file by its format; errors are one line naming the file.

    ``lazy`` stages a CSV file as a view (see ``stage_csv``); other formats are always tables.
    """
    path = Path(path)
    _check_exists(path)
    kind = detect_format(path, fmt)
    if sheet and kind != "excel":
        raise InputError(f"{path.name}: --sheet applies to Excel files only")
    if kind == "csv":
        return stage_csv(con, path, stage, tmpdir, delimiter, lazy=lazy)
    if kind == "excel":
        return stage_excel(con, path, stage, sheet)
    if kind == "parquet":
        return stage_parquet(con, path, stage)
    return stage_jsonl(con, path, stage)


def read_text_lines(data: bytes) -> list[str]:
    """Decode bytes as UTF-8 text lines (used by tests and the mapping reader)."""
    return io.StringIO(data.decode("utf-8")).read().splitlines()
