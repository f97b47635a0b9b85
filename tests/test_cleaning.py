"""Cleaning rules (DOMAIN.md §3) on small hand-made files, checked against hand-computed results."""

from __future__ import annotations

import statistics
from datetime import datetime
from decimal import Decimal

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portrait.ingest.job import import_files
from portrait.workspace import init_workspace

ORDER_HEADER = ["订单号", "客户ID", "下单时间", "订单金额", "订单数量", "产品ID", "品类"]


def _orders(write_csv, rows, name="orders.csv"):
    return write_csv(name, [ORDER_HEADER, *rows])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-05-01 10:00:00", datetime(2024, 5, 1, 10, 0, 0)),
        ("2024/5/1 9:05", datetime(2024, 5, 1, 9, 5)),
        ("20240501", datetime(2024, 5, 1)),
        ("2024年5月1日 9:05", datetime(2024, 5, 1, 9, 5)),
        ("2024年5月1日", datetime(2024, 5, 1)),
        ("45413.5", datetime(2024, 5, 1, 12, 0)),  # Excel serial day: 2024-05-01 noon
        ("2024-05-01T08:30:00", datetime(2024, 5, 1, 8, 30)),
        ("2024.5.1", datetime(2024, 5, 1)),
    ],
)
def test_date_forms_normalise_to_one_timestamp(ws, write_csv, query, raw, expected):
    path = _orders(write_csv, [["O1", "C1", raw, "10", "1", "P1", "手机"]])
    report = import_files(ws, "orders", [path])
    assert query("SELECT order_time FROM orders") == [(expected,)]
    iso = raw in ("2024-05-01 10:00:00",)
    assert report.tables["orders"]["fixed"].get("order_time", 0) == (0 if iso else 1)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("2024-02-30", "order_time:impossible_date"),
        ("2024-13-45 10:00", "order_time:impossible_date"),
        ("not a date", "order_time:unparseable_date"),
        ("1850-01-01", "order_time:impossible_date"),
    ],
)
def test_bad_dates_go_to_quarantine_with_reason(ws, write_csv, query, raw, reason):
    path = _orders(
        write_csv, [["O1", "C1", "2024-05-01", "10", "1", "P1", "手机"], ["O2", "C1", raw, "10", "1", "P1", "手机"]]
    )
    report = import_files(ws, "orders", [path])
    assert report.tables["orders"]["quarantined_by_reason"] == {reason: 1}
    assert query("SELECT order_id FROM orders") == [("O1",)]
    assert query("SELECT source, source_row, reasons FROM quarantine") == [("orders.csv", 3, [reason])]


def test_numbers_with_separators_and_currency_parse(ws, write_csv, query):
    path = _orders(
        write_csv,
        [
            ["O1", "C1", "2024-05-01", "1,234.50", "2", "P1", "手机"],
            ["O2", "C1", "2024-05-02", "¥99", "1件", "P2", "手机"],
            ["O3", "C1", "2024-05-03", " 88元 ", "3", "P3", "手机"],
        ],
    )
    report = import_files(ws, "orders", [path])
    assert query("SELECT order_id, amount, quantity FROM orders ORDER BY order_id") == [
        ("O1", Decimal("1234.50"), 2),
        ("O2", Decimal("99.00"), 1),
        ("O3", Decimal("88.00"), 3),
    ]
    assert report.tables["orders"]["fixed"] == {"amount": 3, "quantity": 1}


def test_validation_rules_quarantine_each_bad_row_with_its_reason(ws, write_csv, query):
    rows = [
        ["O1", "C1", "2024-05-01", "100", "1", "P1", "手机"],
        ["O2", "C1", "2024-05-01", "-5", "1", "P1", "手机"],  # negative amount
        ["O3", "C2", "2024-05-01", "abc", "1", "P1", "手机"],  # unparseable number
        ["O4", "", "2024-05-01", "10", "1", "P1", "手机"],  # missing customer id
        ["O5", "C3", "2024-05-01", "10", "1.5", "P1", "手机"],  # not a whole quantity
        ["O6", "C3", "", "10", "1", "P1", "手机"],  # missing time
    ]
    report = import_files(ws, "orders", [_orders(write_csv, rows)])
    assert report.tables["orders"]["quarantined_by_reason"] == {
        "amount:negative": 1,
        "amount:unparseable_number": 1,
        "user_id:missing": 1,
        "quantity:not_whole_number": 1,
        "order_time:missing": 1,
    }
    assert query("SELECT order_id FROM orders") == [("O1",)]
    assert query("SELECT count(*) FROM quarantine") == [(5,)]
    assert report.totals["rows_read"] == 6 and report.totals["accepted"] == 1


def test_amount_is_derived_from_quantity_and_price_when_missing(ws, write_csv, query):
    path = write_csv(
        "o.csv",
        [
            ["订单号", "客户ID", "下单时间", "订单数量", "产品价格", "优惠金额"],
            ["O1", "C1", "2024-05-01", "3", "20", "5"],
        ],
    )
    report = import_files(ws, "orders", [path])
    assert query("SELECT amount FROM orders") == [(Decimal("55.00"),)]
    assert report.tables["orders"]["fixed"]["amount"] == 1


def test_age_range_is_configurable(ws, write_csv, query, reopen):
    header = ["客户ID", "年龄"]
    rows = [header, ["C1", "17"], ["C2", "30"], ["C3", "95"], ["C4", "121"]]
    report = import_files(ws, "customers", [write_csv("c.csv", rows)])
    assert report.tables["customers"]["quarantined_by_reason"] == {"age:out_of_range": 1}  # default 0–120
    ws2 = reopen(ws, "[cleaning]\nage_min = 18\nage_max = 90\n")
    report = import_files(ws2, "customers", [write_csv("c2.csv", rows)])
    assert report.tables["customers"]["quarantined_by_reason"] == {"age:out_of_range": 3}


def test_exact_duplicates_are_removed_and_counted(ws, write_csv, query):
    row = ["O1", "C1", "2024-05-01", "100", "1", "P1", "手机"]
    report = import_files(
        ws, "orders", [_orders(write_csv, [row, row, row, ["O2", "C1", "2024-05-02", "5", "1", "P1", "手机"]])]
    )
    assert report.tables["orders"]["duplicates_removed"] == 2
    assert query("SELECT count(*) FROM orders") == [(2,)]


def test_same_order_line_with_different_values_is_quarantined_not_dropped(ws, write_csv, query):
    rows = [
        ["O1", "C1", "2024-05-01", "100", "1", "P1", "手机"],
        ["O1", "C1", "2024-05-01", "120", "1", "P1", "手机"],  # same order line, other amount
        ["O1", "C1", "2024-05-01", "30", "1", "P2", "手机"],  # another line of the same order
    ]
    report = import_files(ws, "orders", [_orders(write_csv, rows)])
    assert query("SELECT order_id, product_id, amount FROM orders ORDER BY product_id") == [
        ("O1", "P1", Decimal("100.00")),
        ("O1", "P2", Decimal("30.00")),
    ]
    assert report.tables["orders"]["quarantined_by_reason"] == {"order_id:duplicate_key": 1}


def test_reimport_changed_order_updates_it(ws, write_csv, query):
    import_files(ws, "orders", [_orders(write_csv, [["O1", "C1", "2024-05-01", "100", "1", "P1", "手机"]])])
    path = write_csv(
        "o2.csv", [ORDER_HEADER + ["订单状态"], ["O1", "C1", "2024-05-01", "100", "1", "P1", "手机", "已退款"]]
    )
    report = import_files(ws, "orders", [path])
    assert report.tables["orders"]["updated"] == 1 and report.tables["orders"]["accepted"] == 0
    assert query("SELECT status FROM orders") == [("refunded",)]


def test_reimport_compares_order_values_not_a_stored_hash(ws, write_csv, query):
    line = ["O1", "C1", "2024-05-01", "100", "1", "P1", "手机"]
    import_files(ws, "orders", [_orders(write_csv, [line, ["O2", "C1", "2024-05-02", "5", "1", "P2", "壳"]])])
    # the same line again is unchanged; a line with another quantity is updated
    again = import_files(
        ws, "orders", [_orders(write_csv, [line, ["O2", "C1", "2024-05-02", "5", "2", "P2", "壳"]], "b.csv")]
    )
    assert (again.tables["orders"]["unchanged"], again.tables["orders"]["updated"]) == (1, 1)
    assert query("SELECT order_id, quantity FROM orders ORDER BY 1") == [("O1", 1), ("O2", 2)]
    assert "_content_hash" not in {
        r[0] for r in query("SELECT column_name FROM duckdb_columns() WHERE table_name = 'orders'")
    }


def test_a_warehouse_with_a_content_hash_on_every_table_imports_and_loses_that_column(ws, write_csv, query):
    # the layout of earlier versions: every raw table carried _content_hash right after _key
    from portrait.schema import ORDERS
    from portrait.warehouse import table_columns

    cols = []
    for name, sql in table_columns(ORDERS):
        cols.append(f'"{name}" {sql}')
        if name == "_key":
            cols.append("_content_hash UBIGINT")
    con = duckdb.connect(str(ws.warehouse_path))
    con.execute("DROP TABLE orders")
    con.execute(f"CREATE TABLE orders ({', '.join(cols)})")
    con.close()
    report = import_files(ws, "orders", [_orders(write_csv, [["O1", "C1", "2024-05-01", "100", "1", "P1", "手机"]])])
    assert report.tables["orders"]["accepted"] == 1
    assert query("SELECT order_id, amount, _row FROM orders") == [("O1", Decimal("100.00"), 2)]
    names = [
        r[0]
        for r in query("SELECT column_name FROM duckdb_columns() WHERE table_name = 'orders' ORDER BY column_index")
    ]
    assert names == [name for name, _ in table_columns(ORDERS)]
    customers = {r[0] for r in query("SELECT column_name FROM duckdb_columns() WHERE table_name = 'customers'")}
    assert "_content_hash" in customers


# a row's file, named through import_log: the import's files in order, the last part of each path
ROW_FILE = (
    "SELECT o.order_id, regexp_extract(json_extract_string(l.files, '$[' || o._file || '].path'), '[^/]*$'), "
    "o._row, o._import_id FROM orders o JOIN import_log l ON l.import_id = o._import_id ORDER BY 1"
)


def test_each_row_names_its_file_by_number_and_its_line(ws, write_csv, query):
    a = _orders(write_csv, [["O1", "C1", "2024-05-01", "10", "1", "P1", "手机"]], "a.csv")
    b = _orders(
        write_csv,
        [["O2", "C1", "2024-05-02", "10", "1", "P1", "手机"], ["O3", "C2", "2024-05-03", "10", "1", "P1", "手机"]],
        "b.csv",
    )
    import_files(ws, "orders", [a, b])
    import_files(ws, "orders", [_orders(write_csv, [["O4", "C3", "2024-05-04", "10", "1", "P1", "手机"]], "c.csv")])
    assert query(ROW_FILE) == [
        ("O1", "a.csv", 2, 1),
        ("O2", "b.csv", 2, 1),
        ("O3", "b.csv", 3, 1),
        ("O4", "c.csv", 2, 2),
    ]
    assert query("SELECT DISTINCT typeof(_file) FROM orders") == [("USMALLINT",)]


def test_a_customer_folded_from_two_files_names_the_file_and_line_of_its_latest_row(ws, write_csv, query):
    a = write_csv("a.csv", [["客户ID", "性别"], ["C1", "男"], ["C2", "女"]])
    b = write_csv("b.csv", [["客户ID", "性别"], ["C3", "女"], ["C1", "女"]])
    import_files(ws, "customers", [a, b])
    rows = query(
        "SELECT c.user_id, c.gender, regexp_extract(json_extract_string(l.files, '$[' || c._file || '].path'), "
        "'[^/]*$'), c._row FROM customers c JOIN import_log l ON l.import_id = c._import_id ORDER BY 1"
    )
    assert rows == [("C1", "女", "b.csv", 3), ("C2", "女", "a.csv", 3), ("C3", "女", "b.csv", 2)]


def test_a_warehouse_naming_each_rows_file_in_text_gets_file_numbers(ws, write_csv, query):
    # the layout of earlier versions: _source (the file's name) between _import_id and _row, no _file
    from portrait.schema import CUSTOMERS, ORDERS
    from portrait.warehouse import table_columns

    a = _orders(write_csv, [["O1", "C1", "2024-05-01", "10", "1", "P1", "手机"]], "a.csv")
    b = _orders(write_csv, [["O2", "C1", "2024-05-02", "10", "1", "P1", "手机"]], "b.csv")
    import_files(ws, "orders", [a, b])
    con = duckdb.connect(str(ws.warehouse_path))
    con.execute(
        "CREATE TABLE old AS SELECT * EXCLUDE (_row, _file), "
        "CASE _file WHEN 0 THEN 'a.csv' WHEN 1 THEN 'b.csv' END AS _source, _row FROM orders"
    )
    con.execute("DROP TABLE orders")
    con.execute("ALTER TABLE old RENAME TO orders")
    # the records kept for undoing identity merges had the customers' old layout too
    con.execute("DROP TABLE merge_before")
    con.execute(
        "CREATE TABLE merge_before AS SELECT CAST(NULL AS BIGINT) AS merge_id, * EXCLUDE (_row, _file), "
        "CAST(NULL AS VARCHAR) AS _source, _row FROM customers LIMIT 0"
    )
    con.close()
    import_files(ws, "orders", [_orders(write_csv, [["O3", "C2", "2024-05-03", "10", "1", "P1", "手机"]], "c.csv")])
    assert query(ROW_FILE) == [("O1", "a.csv", 2, 1), ("O2", "b.csv", 2, 1), ("O3", "c.csv", 2, 2)]

    def columns(table: str) -> list[str]:
        sql = f"SELECT column_name FROM duckdb_columns() WHERE table_name = '{table}' ORDER BY column_index"
        return [r[0] for r in query(sql)]

    assert columns("orders") == [name for name, _ in table_columns(ORDERS)]
    assert columns("merge_before") == ["merge_id", *(name for name, _ in table_columns(CUSTOMERS))]


def test_missing_values_fill_below_threshold_and_mark_unknown_above(ws, write_csv, query):
    # 40 customers: gender missing once (2.5 % < 5 %) → mode; occupation missing 4 times (10 %) → 未知;
    # age missing once → median of the others
    rows = [["客户ID", "性别", "年龄", "客户职业"]]
    for i in range(40):
        gender = "" if i == 0 else ("女" if i % 3 else "男")
        age = "" if i == 1 else str(20 + i)
        job = "" if i in (2, 3, 4, 5) else "白领"
        rows.append([f"C{i:02d}", gender, age, job])
    report = import_files(ws, "customers", [write_csv("c.csv", rows)])
    stats = report.tables["customers"]
    assert stats["filled"] == {"gender": 1, "age": 1}
    assert stats["unknown"] == {"occupation": 4}
    median = statistics.median(20 + i for i in range(40) if i != 1)  # 39 known ages → the 20th: 40
    assert median == 40
    assert query("SELECT gender, age, _filled FROM customers WHERE user_id IN ('C00', 'C01') ORDER BY user_id") == [
        ("女", 20, ["gender"]),  # 26 of the 39 known genders are 女
        ("女", 40, ["age"]),
    ]
    assert query("SELECT occupation, _filled FROM customers WHERE user_id = 'C02'") == [
        ("未知", ["occupation:unknown"])
    ]
    assert "filled with the mode 女" in stats["missing_decisions"]["gender"]
    assert "marked '未知'" in stats["missing_decisions"]["occupation"]


def test_outliers_are_flagged_as_columns_not_deleted(ws, write_csv, query):
    rows = [[f"O{i:02d}", "C1", "2024-05-01", str(100 + i % 5), "1", "P1", "手机"] for i in range(30)]
    rows.append(["O99", "C1", "2024-05-01", "100000", "1", "P1", "手机"])
    report = import_files(ws, "orders", [_orders(write_csv, rows)])
    assert query("SELECT count(*) FROM orders") == [(31,)]
    assert query("SELECT order_id FROM orders WHERE outlier_iqr_amount") == [("O99",)]
    assert query("SELECT order_id FROM orders WHERE outlier_3sigma_amount") == [("O99",)]
    assert report.tables["orders"]["flagged"]["outlier_iqr_amount"] == 1


def test_category_synonyms_map_to_one_name(ws, write_csv, query, reopen):
    rows = [["O1", "C1", "2024-05-01", "1", "1", "P1", "移动电话"], ["O2", "C1", "2024-05-01", "1", "1", "P2", "手机"]]
    report = import_files(ws, "orders", [_orders(write_csv, rows)])
    assert query("SELECT DISTINCT category FROM orders") == [("手机",)]
    assert report.tables["orders"]["fixed"]["category"] == 1
    ws2 = reopen(ws, '[cleaning.category_synonyms]\n"手机" = "智能终端"\n')
    import_files(ws2, "orders", [_orders(write_csv, [["O3", "C1", "2024-05-01", "1", "1", "P3", "手机"]], "o3.csv")])
    assert query("SELECT category FROM orders WHERE order_id = 'O3'") == [("智能终端",)]


def test_regions_land_on_standard_province_city_and_tier(ws, write_csv, query):
    rows = [
        ["客户ID", "常住地区"],
        ["C1", "上海"],
        ["C2", "上海市"],
        ["C3", "广东深圳"],
        ["C4", "广东省深圳市"],
        ["C5", "粤"],
        ["C6", "浙江省绍兴市越城区"],
        ["C7", "火星"],
    ]
    report = import_files(ws, "customers", [write_csv("c.csv", rows)])
    assert query("SELECT user_id, province, city, city_tier FROM customers ORDER BY user_id") == [
        ("C1", "上海市", "上海市", "一线"),
        ("C2", "上海市", "上海市", "一线"),
        ("C3", "广东省", "深圳市", "一线"),
        ("C4", "广东省", "深圳市", "一线"),
        ("C5", "广东省", None, "未知"),
        ("C6", "浙江省", "绍兴市", "二线"),
        ("C7", None, None, "未知"),
    ]
    assert report.tables["customers"]["unknown"]["province"] == 1


def test_region_is_inferred_from_the_address_when_missing(ws, write_csv, query):
    rows = [["客户ID", "地址"], ["C1", "四川省成都市武侯区某某路 8 号"]]
    report = import_files(ws, "customers", [write_csv("c.csv", rows)])
    assert query("SELECT province, city, city_tier FROM customers") == [("四川省", "成都市", "新一线")]
    assert report.tables["customers"]["filled"]["province"] == 1


def test_files_without_any_region_text_leave_the_place_empty_and_the_tier_unknown(ws, write_csv, query):
    import_files(ws, "customers", [write_csv("c.csv", [["客户ID", "性别"], ["C1", "男"]])])
    assert query("SELECT province, city, city_tier FROM customers") == [(None, None, "未知")]
    import_files(ws, "orders", [_orders(write_csv, [["O1", "C1", "2024-05-01", "10", "1", "P1", "手机"]])])
    assert query("SELECT ship_region, ship_province, ship_city FROM orders") == [(None, None, None)]


def test_events_behaviour_types_standardise_and_bad_rows_quarantine(ws, write_csv, query):
    rows = [
        ["客户ID", "行为类型", "行为时间", "停留时长"],
        ["C1", "浏览", "2024-05-01 10:00:00", "30"],
        ["C1", "加入购物车", "2024-05-01 10:01:00", "5"],
        ["C1", "pay", "2024-05-01 10:02:00", "3"],
        ["C1", "teleport", "2024-05-01 10:03:00", "3"],
        ["C1", "收藏", "2024-05-01 10:04:00", "-2"],
    ]
    report = import_files(ws, "events", [write_csv("e.csv", rows)])
    assert query("SELECT behavior_type FROM events ORDER BY behavior_time") == [("pv",), ("cart",), ("pay",)]
    assert report.tables["events"]["quarantined_by_reason"] == {
        "behavior_type:unknown_value": 1,
        "duration_s:negative": 1,
    }


def test_interactions_satisfaction_range_and_channel_names(ws, write_csv, query):
    rows = [
        ["客户ID", "服务时间", "服务渠道", "类型", "满意度"],
        ["C1", "2024-05-01 10:00", "电话", "投诉", "2"],
        ["C1", "2024-05-02 10:00", "在线客服", "咨询", "6"],
    ]
    report = import_files(ws, "interactions", [write_csv("i.csv", rows)])
    assert query("SELECT channel, type, satisfaction FROM interactions") == [("phone", "complaint", 2)]
    assert report.tables["interactions"]["quarantined_by_reason"] == {"satisfaction:out_of_range": 1}


def test_gender_variants_standardise(ws, write_csv, query):
    rows = [["客户ID", "性别"]] + [[f"C{i}", g] for i, g in enumerate(["男", "M", "female", "女士", "1", "2"])]
    import_files(ws, "customers", [write_csv("c.csv", rows)])
    assert [r[0] for r in query("SELECT gender FROM customers ORDER BY user_id")] == [
        "男",
        "男",
        "女",
        "女",
        "男",
        "女",
    ]


def test_fully_empty_rows_are_skipped_and_counted_not_quarantined(ws, write_csv, query):
    path = _orders(write_csv, [["O1", "C1", "2024-05-01", "10", "1", "P1", "手机"], ["", "", "", "", "", "", ""]])
    report = import_files(ws, "orders", [path])
    assert report.tables["orders"]["blank_rows"] == 1
    assert report.tables["orders"]["quarantined"] == 0
    assert query("SELECT count(*) FROM orders") == [(1,)]


def test_old_mac_line_endings_import(ws, tmp_path, query):
    path = tmp_path / "mac.csv"
    path.write_bytes("客户ID,性别\rC1,男\rC2,女\r".encode())
    import_files(ws, "customers", [path])
    assert query("SELECT user_id, gender FROM customers ORDER BY 1") == [("C1", "男"), ("C2", "女")]


def test_two_files_with_bad_rows_on_the_same_line_both_reach_quarantine(ws, write_csv, query):
    a = _orders(write_csv, [["O1", "C1", "2024-05-01", "-1", "1", "P1", "手机"]], "a.csv")
    b = _orders(write_csv, [["O2", "C1", "not a date", "5", "1", "P1", "手机"]], "b.csv")
    report = import_files(ws, "orders", [a, b])
    assert report.tables["orders"]["quarantined"] == 2
    assert query("SELECT source, source_row, reasons FROM quarantine ORDER BY source") == [
        ("a.csv", 2, ["amount:negative"]),
        ("b.csv", 2, ["order_time:unparseable_date"]),
    ]


def test_large_batches_estimate_quartiles_and_still_flag_outliers(ws, write_csv, query, monkeypatch):
    import portrait.clean.pipeline as pipeline

    monkeypatch.setattr(pipeline, "EXACT_QUANTILE_ROWS", 10)  # take the estimating path on a small file
    rows = [[f"O{i:02d}", "C1", "2024-05-01", str(100 + i % 5), "1", "P1", "手机"] for i in range(30)]
    rows.append(["O99", "C1", "2024-05-01", "100000", "1", "P1", "手机"])
    import_files(ws, "orders", [_orders(write_csv, rows)])
    assert query("SELECT order_id FROM orders WHERE outlier_iqr_amount") == [("O99",)]


def test_a_large_file_read_on_every_core_keeps_its_line_numbers(ws, tmp_path, query):
    """The one file of an import is parsed straight from the CSV reader, which splits a file this large
    between the threads; the quarantine still names the line a spreadsheet user sees, far into the
    file, and the kept rows carry theirs (this fails when the rows are not kept in file order)."""
    n = 1_000_000  # about 50 MB
    bad = {7, 123_457, 500_001, 999_998}  # 0-based record indexes holding a negative amount
    path = tmp_path / "big.csv"
    lines = (
        f"O{i:07d},C{i % 9973},2024-05-01 10:00:00,{-5 if i in bad else 10 + i % 89},1,P1,手机\n" for i in range(n)
    )
    with path.open("w", encoding="utf-8") as fh:
        fh.write(",".join(ORDER_HEADER) + "\n")
        fh.writelines(lines)
    report = import_files(ws, "orders", [path])
    assert report.tables["orders"]["quarantined"] == len(bad)
    # record i is on line i + 2 (the header is line 1)
    assert query("SELECT source_row FROM quarantine ORDER BY 1") == [(i + 2,) for i in sorted(bad)]
    misplaced = query("SELECT count(*) FROM orders WHERE _row <> CAST(substr(order_id, 2) AS BIGINT) + 2")
    assert misplaced == [(0,)]


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.sampled_from(["O1", "O2", "O3"]), st.sampled_from(["P1", "P2"]), st.sampled_from(["10", "20"])),
        min_size=1,
        max_size=12,
    )
)
def test_duplicates_and_key_conflicts_follow_the_rule_for_any_rows(tmp_path_factory, lines):
    """Per order line (order id, product id), in file order: the first row is kept; later copies of any row
    already seen are duplicates removed; the first row of each other content is quarantined."""
    ws = init_workspace(tmp_path_factory.mktemp("dedupe") / "ws")
    path = tmp_path_factory.mktemp("files") / "o.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write(",".join(ORDER_HEADER) + "\n")
        fh.writelines(f"{o},C1,2024-05-01,{amount},1,{p},手机\n" for o, p, amount in lines)
    report = import_files(ws, "orders", [path])
    first: dict[tuple[str, str], str] = {}
    seen: set[tuple[str, str, str]] = set()
    removed = conflicts = 0
    for o, p, amount in lines:
        if (o, p, amount) in seen:
            removed += 1
            continue
        seen.add((o, p, amount))
        if (o, p) in first:
            conflicts += 1
        else:
            first[(o, p)] = amount
    stats = report.tables["orders"]
    assert stats["duplicates_removed"] == removed
    assert stats["quarantined_by_reason"].get("order_id:duplicate_key", 0) == conflicts
    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    try:
        kept = con.execute("SELECT order_id, product_id, CAST(amount AS INTEGER) FROM orders").fetchall()
    finally:
        con.close()
    assert sorted(kept) == sorted((o, p, int(a)) for (o, p), a in first.items())


def test_sealed_columns_are_stored_without_compression(ws, write_csv, query):
    """Sealed values (quarantined raw text, customers' personal fields) are random to a compressor: they
    are stored as they are, so a checkpoint does not spend its time trying to compress them."""
    rows = [[f"O{i}", f"C{i}", "2024-05-01", "-5" if i % 2 else "10", "1", "P1", "手机"] for i in range(400)]
    import_files(ws, "orders", [_orders(write_csv, rows)])
    customers = write_csv(
        "c.csv",
        [["客户ID", "客户名称", "性别", "手机号"], *[[f"C{i}", "张三", "女", f"1391234{i:04d}"] for i in range(400)]],
    )
    import_files(ws, "customers", [customers])
    stored = query(
        "SELECT DISTINCT column_name, compression FROM pragma_storage_info('quarantine') "
        "WHERE column_name = 'raw' AND segment_type = 'VARCHAR' "
        "UNION ALL SELECT DISTINCT column_name, compression FROM pragma_storage_info('customers') "
        "WHERE column_name IN ('user_name', 'phone', 'gender') AND segment_type = 'VARCHAR'"
    )
    assert query("SELECT count(*) FROM quarantine") == [(200,)]
    # gender (not personal) is compressed as usual
    assert sorted(stored) == [
        ("gender", "DICT_FSST"),
        ("phone", "Uncompressed"),
        ("raw", "Uncompressed"),
        ("user_name", "Uncompressed"),
    ]


def test_order_numbers_are_stored_with_zstd_and_other_text_with_dictionaries(ws, write_csv, query):
    """An order number is unique per order: ZSTD, not the dictionary that serves repeated texts."""
    rows = [[f"ORD{i:012d}", f"C{i % 7}", "2024-05-01", "10", "1", f"P{i % 3}", "手机"] for i in range(400)]
    import_files(ws, "orders", [_orders(write_csv, rows)])
    stored = query(
        "SELECT DISTINCT column_name, compression FROM pragma_storage_info('orders') "
        "WHERE column_name IN ('order_id', 'user_id', 'product_id') AND segment_type = 'VARCHAR' ORDER BY 1"
    )
    assert stored == [("order_id", "ZSTD"), ("product_id", "DICT_FSST"), ("user_id", "DICT_FSST")]
    assert query("SELECT count(*), min(order_id), max(order_id) FROM orders") == [
        (400, "ORD000000000000", "ORD000000000399")
    ]


def test_yes_no_words_parse_and_an_unknown_word_quarantines_its_row(ws, write_csv, query):
    header = [*ORDER_HEADER, "是否用券"]
    words = {"O1": "是", "O2": "否", "O3": "TRUE", "O4": " no ", "O5": "用券", "O6": "", "O7": "也许"}
    rows = [[oid, "C1", "2024-05-01", "10", "1", "P1", "手机", w] for oid, w in words.items()]
    report = import_files(ws, "orders", [write_csv("o.csv", [header, *rows])])
    assert report.tables["orders"]["quarantined_by_reason"] == {"coupon_used:unparseable_bool": 1}
    assert query("SELECT order_id, coupon_used FROM orders ORDER BY order_id") == [
        ("O1", True),
        ("O2", False),
        ("O3", True),
        ("O4", False),
        ("O5", True),
        ("O6", None),
    ]
    assert query("SELECT source_row, reasons FROM quarantine") == [(8, ["coupon_used:unparseable_bool"])]
