"""Faults: a disk that fills up during an import or a refresh loses nothing and says so in one line."""

from __future__ import annotations

import resource
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb

from portrait import snapshots
from portrait.refresh import refresh, status
from tests.shops import load_may_shop

PORTRAIT = str(Path(sys.executable).with_name("portrait"))


def _limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _tables(path: Path) -> dict[str, list]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        return {n: con.execute(f'SELECT * FROM "{n}" ORDER BY ALL').fetchall() for n in names}
    finally:
        con.close()


def test_disk_full_during_an_import_changes_nothing(ws, tmp_path, write_csv):
    load_may_shop(ws, tmp_path)
    before = _tables(ws.warehouse_path)
    rows = [["订单号", "客户ID", "下单时间", "订单金额", "产品名称"]]
    rows += [[f"N{i:07d}", f"U{i % 5000}", "2024-05-01 10:00:00", str(i % 997), "某产品" * 20] for i in range(150_000)]
    big = write_csv("big.csv", rows)
    size = ws.warehouse_path.stat().st_size
    result = subprocess.run(
        [PORTRAIT, "import", "orders", str(big), "--workspace", str(ws.path), "--json"],
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size(size + 256 * 1024),
    )
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    assert _tables(ws.warehouse_path) == before
    # with room again, the same import goes through
    again = subprocess.run(
        [PORTRAIT, "import", "orders", str(big), "--workspace", str(ws.path), "--json"], capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr


def test_disk_full_during_a_refresh_keeps_the_last_snapshot(ws, tmp_path):
    load_may_shop(ws, tmp_path)
    refresh(ws, date(2024, 8, 1))
    result = subprocess.run(
        [PORTRAIT, "refresh", "--as-of", "2024-09-01", "--workspace", str(ws.path), "--json"],
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size(200 * 1024),
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: refresh failed at stage") and "snapshot #1" in result.stderr
    assert snapshots.current(ws).as_of == "2024-08-01"
    assert not list(snapshots.folder(ws).glob("*.partial*"))
    assert status(ws)["last_refresh"]["status"] == "failed"
    assert refresh(ws, date(2024, 9, 1))["snapshot"]["id"] == 2
