"""Identity merge: same person across channels joins; strangers never do; merges undo exactly."""

from __future__ import annotations

import json

import pytest

from portrait import api
from portrait.errors import InputError, NotFound
from portrait.ingest.job import import_files

HEADER = ["客户ID", "客户名称", "手机号", "邮箱", "注册时间", "常住地区", "客户职业", "会员等级"]


def _import(ws, write_csv, rows, name="c.csv"):
    return import_files(ws, "customers", [write_csv(name, [HEADER, *rows])])


def test_same_phone_in_other_forms_merges_into_the_oldest_record_with_latest_values(ws, write_csv, query):
    rows = [
        ["C1", "张三", "138-1234-5678", "", "2023-01-01", "上海", "白领", "普通"],
        ["C2", "张三", "+86 13812345678", "zs@example.cn", "2024-03-01", "北京", "", "黄金"],
        ["C3", "李四", "13900000001", "", "2023-06-01", "广州", "教师", "白银"],
    ]
    report = _import(ws, write_csv, rows)
    assert report.identity["records_merged"] == 1
    assert report.totals["customers_merged"] == 1
    # survivor C1 (registered first); values from the latest registration where present
    assert query(
        "SELECT user_id, merged_into, province, occupation, member_level, email_hash IS NOT NULL FROM customers "
        "ORDER BY user_id"
    ) == [
        ("C1", None, "北京市", "白领", "黄金", True),
        ("C2", "C1", "北京市", "未知", "黄金", True),  # the merged-away record stays as it was
        ("C3", None, "广东省", "教师", "白银", False),
    ]
    merges = api.merges(ws)
    assert [(m["survivor"], m["members"], m["evidence"]) for m in merges] == [
        ("C1", ["C1", "C2"], [{"key": "phone", "records": ["C1", "C2"]}])
    ]
    record = api.customer_record(ws, "C1")
    assert record["merged_from"] == ["C2"]
    assert record["email"] == "z***@example.cn"


def test_phone_and_email_links_chain_into_one_merge(ws, write_csv, query):
    rows = [
        ["A", "王五", "13711112222", "", "2023-01-01", "", "", ""],
        ["B", "王五", "13711112222", "w5@mail.cn", "2023-02-01", "", "", ""],
        ["C", "王五", "", "W5@Mail.cn ", "2023-03-01", "", "", ""],
    ]
    _import(ws, write_csv, rows)
    merges = api.merges(ws)
    assert len(merges) == 1 and merges[0]["members"] == ["A", "B", "C"] and merges[0]["survivor"] == "A"
    keys = {e["key"]: e["records"] for e in merges[0]["evidence"]}
    assert keys == {"phone": ["A", "B"], "email": ["B", "C"]}


def test_blocked_values_never_join_strangers(ws, write_csv, query):
    rows = [[f"S{i}", f"路人{i}", "13800000000", "", f"2023-01-0{i + 1}", "", "", ""] for i in range(3)]
    report = _import(ws, write_csv, rows)
    assert report.identity["records_merged"] == 0
    assert query("SELECT count(*) FROM customers WHERE merged_into IS NULL") == [(3,)]


def test_a_merge_may_join_at_most_the_configured_number_of_records(ws, write_csv, query, reopen):
    rows = [[f"G{i}", f"客{i}", "", "front-desk@shop.cn", "2023-01-01", "", "", ""] for i in range(7)]
    report = _import(ws, write_csv, rows)
    assert report.identity == {"merges": [], "records_merged": 0, "skipped_too_large": 1, "skipped_kept_apart": 0}
    ws2 = reopen(ws, "[identity]\nmax_group_size = 10\n")
    report = _import(ws2, write_csv, rows, "again.csv")
    assert report.identity["records_merged"] == 6


def test_undo_restores_the_records_exactly_and_keeps_them_apart(ws, write_csv, query):
    rows = [
        ["C1", "赵六", "13600001111", "", "2023-01-01", "上海", "医生", "普通"],
        ["C2", "赵六", "13600001111", "", "2024-01-01", "杭州", "", "黄金"],
    ]
    columns = "user_id, user_name IS NOT NULL, province, city, occupation, member_level, merged_into, _content_hash"
    path = write_csv("c.csv", [HEADER, *rows])
    # what the records are before any merge: import with merging switched off via an impossible cap
    import_files(ws, "customers", [path])
    before = query(f"SELECT {columns} FROM merge_before ORDER BY user_id")
    assert query("SELECT merged_into FROM customers WHERE user_id = 'C2'") == [("C1",)]
    result = api.merge_undo(ws, 1)
    assert result["restored"] == ["C1", "C2"]
    assert query(f"SELECT {columns} FROM customers ORDER BY user_id") == before
    assert before[0][2:6] == ("上海市", "上海市", "医生", "普通")
    # importing the same people again does not fuse them again
    report = import_files(ws, "customers", [path])
    assert report.identity["skipped_kept_apart"] == 1
    assert query("SELECT count(*) FROM customers WHERE merged_into IS NULL") == [(2,)]
    assert api.merges(ws)[0]["undone_at"] is not None
    with pytest.raises(InputError, match="undone already"):
        api.merge_undo(ws, 1)
    with pytest.raises(NotFound, match="no merge 42"):
        api.merge_undo(ws, 42)
    audit = ws.store.audit_entries(action="merge_undo")
    assert audit[0]["target"] == "1" and json.dumps(audit[0]["detail"]).find("13600001111") < 0


def test_undo_refuses_while_a_later_merge_depends_on_it(ws, write_csv):
    _import(
        ws,
        write_csv,
        [
            ["C1", "甲", "13500000001", "", "2023-01-01", "", "", ""],
            ["C2", "甲", "13500000001", "", "2023-02-01", "", "", ""],
        ],
    )
    _import(
        ws,
        write_csv,
        [
            ["C3", "甲", "", "jia@x.cn", "2023-03-01", "", "", ""],
            ["C1", "甲", "13500000001", "jia@x.cn", "2023-01-01", "", "", ""],
        ],
        "later.csv",
    )
    assert [m["members"] for m in api.merges(ws)] == [["C1", "C2"], ["C1", "C3"]]
    with pytest.raises(InputError, match="undo merge 2 first"):
        api.merge_undo(ws, 1)
    api.merge_undo(ws, 2)
    api.merge_undo(ws, 1)


def test_same_user_id_twice_in_a_file_keeps_the_latest_non_empty_values(ws, write_csv, query):
    rows = [
        ["C1", "钱七", "13300000000", "", "2023-01-01", "上海", "学生", "普通"],
        ["C1", "", "", "", "", "", "白领", ""],
    ]
    report = _import(ws, write_csv, rows)
    assert report.tables["customers"]["merged_same_id"] == 1
    assert query("SELECT occupation, member_level, province FROM customers") == [("白领", "普通", "上海市")]
