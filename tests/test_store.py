"""The store on SQLite and on a real PostgreSQL server; an unreachable store is a clear error, and loses nothing."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from portrait.errors import InputError, WorkspaceError
from portrait.ingest.job import import_files
from portrait.refresh import refresh
from portrait.segments import define
from portrait.tags import add_manual_tag
from portrait.workspace import init_workspace, open_workspace
from tests.pg import PostgresServer
from tests.shops import load_may_shop, write


@pytest.fixture(scope="module")
def postgres():
    server = PostgresServer()
    yield server
    server.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_ws(request, tmp_path, monkeypatch):
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        server.reset()
        monkeypatch.setenv("PORTRAIT_STORE_URL", server.url)
    return init_workspace(tmp_path / "ws")


def test_store_round_trips_users_audit_jobs_tags_and_segments(store_ws, tmp_path):
    ws = store_ws
    assert ws.store.url.startswith("postgresql") == ("PORTRAIT_STORE_URL" in __import__("os").environ)
    ws.store.add_user("li", "service_lead")
    with pytest.raises(InputError, match="exists already"):
        ws.store.add_user("li", "analyst")
    load_may_shop(ws, tmp_path)
    add_manual_tag(ws, "A", "潜在需求", "家电", "asked on the phone")
    refresh(ws, date(2024, 9, 1))
    define(ws, "一线", "city_tier = '一线'")
    again = open_workspace(ws.path)
    assert again.store.role_of("li") == "service_lead"
    assert [m["why"] for m in again.store.manual_tags()] == ["asked on the phone"]
    assert again.store.segment("一线")["rule"] == "city_tier = '一线'"
    assert again.store.jobs("refresh")[0]["status"] == "ok"
    actions = [e["action"] for e in again.store.audit_entries(50)]
    assert actions.count("import") == 3 and "refresh" in actions and "segment_define" in actions


def test_store_down_is_a_clear_error_and_the_warehouse_is_untouched(postgres, tmp_path, monkeypatch):
    postgres.reset()
    monkeypatch.setenv("PORTRAIT_STORE_URL", postgres.url)
    ws = init_workspace(tmp_path / "ws")
    load_may_shop(ws, tmp_path)
    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    before = con.execute("SELECT * FROM orders ORDER BY ALL").fetchall()
    con.close()
    postgres.stop()
    try:
        ws2 = open_workspace(ws.path)
        with pytest.raises(
            WorkspaceError, match=r"the store postgresql\+psycopg://postgres@127\.0\.0\.1:\d+/postgres is unavailable"
        ):
            import_files(
                ws2,
                "orders",
                [
                    write(
                        tmp_path / "more.csv",
                        [["订单号", "客户ID", "下单时间", "订单金额"], ["X1", "A", "2024-06-01", "5"]],
                    )
                ],
            )
        with pytest.raises(WorkspaceError, match="is unavailable"):
            refresh(ws2, date(2024, 9, 1))
    finally:
        postgres.start()
    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    assert con.execute("SELECT * FROM orders ORDER BY ALL").fetchall() == before
    con.close()
