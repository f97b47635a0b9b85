"""Where does `portrait import` spend its time? Times every engine statement and the Python steps between.

    python benchmarks/profile_import.py TABLE FILE [--top 25] [--json OUT]

Imports FILE into a fresh temporary workspace (made outside the timing) through ``api.import_files``,
with the scratch connection wrapped so that every ``execute`` / ``executemany`` / ``sql`` is timed, and
the main Python steps of the job (file fingerprint, sealing of customers' personal values, cleaner
steps) timed as well. Prints the slowest statements and the time per step. Nothing in ``src/`` is changed: the
wrappers are installed on the imported modules of this process only.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from portrait import api
from portrait.clean import pipeline
from portrait.ingest import job, readers
from portrait.privacy import Vault

STATEMENTS: list[tuple[float, float, str, str]] = []  # (seconds, CPU seconds of the process, step, sql)
STEPS: dict[str, float] = {}
_current = ["job"]


class TimedConnection:
    """A DuckDB connection whose statements are timed (results are materialised inside the timing)."""

    def __init__(self, con: Any) -> None:
        self._con = con

    def _timed(self, kind: str, sql: str, call: Callable[[], Any]) -> Any:
        started, cpu = time.perf_counter(), time.process_time()
        result = call()
        STATEMENTS.append(
            (time.perf_counter() - started, time.process_time() - cpu, _current[0], f"{kind}{' '.join(sql.split())}")
        )
        return result

    def execute(self, sql: str, params: Any = None) -> Any:
        return self._timed("", sql, lambda: self._con.execute(sql, params or []))

    def executemany(self, sql: str, rows: Any) -> Any:
        rows = list(rows)
        return self._timed(f"[executemany × {len(rows):,}] ", sql, lambda: self._con.executemany(sql, rows))

    def sql(self, sql: str) -> Any:
        return self._timed("[relation] ", sql, lambda: self._con.sql(sql))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def _step(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # a step on another thread (the fingerprint of a lazily staged CSV) is timed but does not label the
        # main thread's statements
        main = threading.current_thread() is threading.main_thread()
        outer = _current[0]
        if main:
            _current[0] = name
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            STEPS[name] = STEPS.get(name, 0.0) + time.perf_counter() - started
            if main:
                _current[0] = outer

    return wrapper


def install() -> None:
    """Wrap the scratch connection and the job's steps (this process only)."""
    scratch = job._scratch
    job._scratch = lambda ws, tmpdir: TimedConnection(scratch(ws, tmpdir))  # type: ignore[assignment]
    readers.fingerprint = _step("read: fingerprint (XXH3 of the file)", readers.fingerprint)
    readers.stage_csv = _step("read: stage_csv", readers.stage_csv)
    job.stage_file = _step("read: stage_file", job.stage_file)
    for name in ("parse", "split", "dedupe", "derive", "fill_missing", "flag_outliers", "finish"):
        setattr(pipeline.BatchCleaner, name, _step(f"clean: {name}", getattr(pipeline.BatchCleaner, name)))
    job._load = _step("load: _load", job._load)
    Vault.encrypt_many = _step(
        "vault.encrypt_many (customers' personal values; quarantined rows, on a thread beside the load)",
        Vault.encrypt_many,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table")
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=25, help="how many statements to show")
    parser.add_argument("--json", type=Path, help="also write every timing to this JSON file")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="portrait-profile-"))
    try:
        ws = api.init_workspace(tmp / "ws")
        install()
        started = time.perf_counter()
        report = job.import_files(ws, args.table, [args.file])
        total = time.perf_counter() - started
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    in_sql = sum(s for s, _, _, _ in STATEMENTS)
    print(
        f"import of {report.totals['rows_read']:,} rows: {total:.2f} s; {in_sql:.2f} s in {len(STATEMENTS)} statements"
    )
    print(
        "\nsteps (inclusive; 'read: stage_file' contains stage_csv; the fingerprint of a file parsed straight from "
        "the CSV reader, and the sealing of quarantined rows, run on threads beside the load):"
    )
    for name, seconds in sorted(STEPS.items(), key=lambda kv: -kv[1]):
        print(f"  {seconds:8.2f} s  {name}")
    print(f"\nslowest {args.top} statements (wall s, CPU s):")
    for seconds, cpu, step, sql in sorted(STATEMENTS, key=lambda s: -s[0])[: args.top]:
        text = re.sub(r"\s+", " ", sql)
        print(f"  {seconds:8.2f} {cpu:8.2f}  [{step}] {text[:160]}{'…' if len(text) > 160 else ''}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rows": report.totals["rows_read"],
                    "seconds": total,
                    "steps": STEPS,
                    "statements": [{"seconds": s, "cpu": c, "step": st, "sql": q} for s, c, st, q in STATEMENTS],
                },
                ensure_ascii=False,
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
