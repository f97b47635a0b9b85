"""Backup/restore round trip, and erasure that leaves no trace of a customer in any workspace file."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pytest

from portrait import backup, snapshots
from portrait.erasure import forget
from portrait.errors import InputError, NotFound, PermissionDenied
from portrait.ingest.job import import_files
from portrait.refresh import refresh
from portrait.tags import add_manual_tag, tag_history
from portrait.workspace import open_workspace
from tests.shops import load_may_shop, write


def _all_tables(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        return {n: con.execute(f'SELECT * FROM "{n}" ORDER BY ALL').fetchall() for n in names}
    finally:
        con.close()


def test_backup_and_restore_round_trip_every_table(ws, tmp_path):
    load_may_shop(ws, tmp_path)
    refresh(ws, date(2024, 6, 1))
    refresh(ws, date(2024, 9, 1))
    result = backup.backup(ws, tmp_path / "bk", include_key=True)
    assert result["row_counts"]["warehouse"]["orders"] == 9
    with pytest.raises(InputError, match="not empty"):
        backup.backup(ws, tmp_path / "bk")
    restored = backup.restore(tmp_path / "bk", tmp_path / "again")
    ws2 = open_workspace(tmp_path / "again")
    assert _all_tables(ws2.warehouse_path) == _all_tables(ws.warehouse_path)
    snap = snapshots.current(ws2)
    assert snap.as_of == "2024-09-01"
    assert _all_tables(snapshots.folder(ws2) / snap.file) == _all_tables(snapshots.folder(ws) / snap.file)
    assert restored["note"] == ""
    assert tag_history(ws2, "A") == tag_history(ws, "A")  # earlier refreshes' tag changes came along
    assert any(c["as_of"] == "2024-06-01" for c in tag_history(ws2, "A")["changes"])
    from portrait.customers import customer_record

    assert customer_record(ws2, "A")["user_name"] == "张*"  # the key came along


def test_restore_refuses_what_is_not_a_backup(tmp_path):
    (tmp_path / "junk").mkdir()
    with pytest.raises(InputError, match="not a Portrait backup"):
        backup.restore(tmp_path / "junk", tmp_path / "t")


def test_backup_without_the_key_says_so_on_restore(ws, tmp_path):
    load_may_shop(ws, tmp_path)
    backup.backup(ws, tmp_path / "bk")
    result = backup.restore(tmp_path / "bk", tmp_path / "again")
    assert "PORTRAIT_KEY" in result["note"]


def _bytes_of(folder):
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_forget_leaves_no_trace_in_any_file(ws, tmp_path):
    target, control = "CUS-ERASE-ME-0001", "CUS-KEEP-ME-00002"
    people = [
        ["客户ID", "客户名称", "手机号", "注册时间", "年龄"],
        [target, "欧阳娜娜", "13912345678", "2024-01-01", "30"],
        ["CUS-OLD-ACCOUNT-9", "欧阳娜娜", "13912345678", "2024-03-01", "30"],  # merged into the target
        [control, "张三", "13700000001", "2024-01-01", "40"],
        [target, "欧阳娜娜", "", "", "999"],  # quarantined (age) but names the target
    ]
    import_files(ws, "customers", [write(tmp_path / "c.csv", people)])
    orders = [
        ["订单号", "客户ID", "下单时间", "订单金额"],
        ["O1", target, "2024-05-01", "10"],
        ["O2", control, "2024-05-02", "20"],
    ]
    import_files(ws, "orders", [write(tmp_path / "o.csv", orders)])
    add_manual_tag(ws, target, "潜在需求", "家电", "phone call")
    refresh(ws, date(2024, 6, 1))
    refresh(ws, date(2024, 7, 1))
    with pytest.raises(PermissionDenied):
        forget(ws, target)
    ws.store.add_user("admin1", "admin")
    admin = open_workspace(ws.path, actor="admin1")
    before = _bytes_of(ws.path)
    assert target.encode() in before and control.encode() in before
    result = forget(admin, target)
    assert result["records"] == 2 and result["rows"]["orders"] == 1 and result["rows"]["quarantine"] == 1
    assert result["rows"]["manual_tags"] == 1 and result["snapshots_rewritten"] == 2
    after = _bytes_of(ws.path)
    for trace in (target, "CUS-OLD-ACCOUNT-9"):
        assert trace.encode() not in after, f"{trace} is still in a workspace file"
    assert control.encode() in after  # the scan would see an id if it were there
    # the tag history is kept in compressed Parquet files, where a byte scan proves nothing: read them
    history = sorted((ws.path / snapshots.SNAPSHOT_DIR / "tag_history").glob("*.parquet"))
    assert len(history) == 2
    con = duckdb.connect()
    kept = {
        r[0]
        for r in con.execute("SELECT DISTINCT user_id FROM read_parquet(?)", [[str(p) for p in history]]).fetchall()
    }
    con.close()
    assert control in kept and target not in kept and "CUS-OLD-ACCOUNT-9" not in kept
    entry = admin.store.audit_entries(1)[0]
    assert entry["action"] == "forget" and entry["target"].startswith("erased:")
    assert target not in json.dumps(admin.store.audit_entries(500))
    with pytest.raises(NotFound):
        forget(admin, target)
    assert refresh(admin, date(2024, 8, 1))["snapshot"]["id"] == 3  # the workspace still works
