"""Every format and encoding users bring: the same customers must land as the same warehouse rows.

Each test writes real files (CSV in several encodings and separators, .xlsx, .xls, Parquet, JSON
lines, a SQLite database) into a temporary folder, imports them into a fresh workspace and reads the
warehouse back through DuckDB.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from portrait.ingest.job import import_files
from portrait.workspace import Workspace, init_workspace

CUSTOMER_HEADER = ["客户ID", "客户名称", "性别", "年龄", "常住地区", "客户职业", "手机号", "注册时间"]

# user_id, name, gender, age, region, occupation, phone, registered.
# C001's occupation holds a comma, C002's a line break, C003's a double quote; C002's name holds
# 㐀 (U+3400, CJK extension A), which GB18030 encodes and GBK cannot.
CUSTOMERS: list[tuple[str, str, str, int, str, str, str, datetime]] = [
    ("C001", "张三", "男", 28, "北京市朝阳区", "软件工程师, 全栈", "13912345678", datetime(2023, 1, 5, 10, 0)),
    ("C002", "李㐀", "女", 35, "上海市浦东新区", "教师\n兼职辅导", "13987654321", datetime(2023, 2, 10, 9, 30)),
    ("C003", "王五", "男", 42, "广东省广州市", '医生 "主任"', "13711112222", datetime(2023, 3, 15, 0, 0)),
    ("C004", "赵六", "女", 23, "浙江杭州", "学生", "13633334444", datetime(2023, 4, 1, 8, 0)),
    ("C005", "钱七", "女", 51, "四川省成都市武侯区", "会计", "13555556666", datetime(2023, 5, 20, 14, 45)),
    ("C006", "孙八", "男", 31, "湖北武汉", "销售", "13477778888", datetime(2023, 6, 30, 23, 59, 59)),
]
RARE_NAME, GBK_NAME = "李㐀", "李四"

# what `SELECT user_id, gender, age, province, city FROM customers ORDER BY user_id` must give
EXPECTED = [
    ("C001", "男", 28, "北京市", "北京市"),
    ("C002", "女", 35, "上海市", "上海市"),
    ("C003", "男", 42, "广东省", "广州市"),
    ("C004", "女", 23, "浙江省", "杭州市"),
    ("C005", "女", 51, "四川省", "成都市"),
    ("C006", "男", 31, "湖北省", "武汉市"),
]
CORE_SQL = "SELECT user_id, gender, age, province, city FROM customers ORDER BY user_id"


# -- helpers ---------------------------------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """A fresh workspace for each test."""
    return init_workspace(tmp_path / "workspace")


def customers(gbk_safe: bool = False) -> list[tuple[str, str, str, int, str, str, str, datetime]]:
    """The fixture customers; with ``gbk_safe`` the one name outside GBK is replaced."""
    if not gbk_safe:
        return list(CUSTOMERS)
    return [(r[0], GBK_NAME if r[1] == RARE_NAME else r[1], *r[2:]) for r in CUSTOMERS]  # type: ignore[misc]


def text_rows(rows: Sequence[tuple[Any, ...]]) -> list[list[str]]:
    """Header plus the rows as the text a CSV export holds."""
    out = [list(CUSTOMER_HEADER)]
    for uid, name, gender, age, region, job, phone, reg in rows:
        out.append([uid, name, gender, str(age), region, job, phone, reg.strftime("%Y-%m-%d %H:%M:%S")])
    return out


def csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    """Rows as CSV text (CRLF line ends, as Excel writes them; quoting only where needed)."""
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


def encode(text: str, encoding: str) -> bytes:
    """Encode CSV text; ``utf-16-be-bom`` writes a big-endian BOM before big-endian text."""
    if encoding == "utf-16-be-bom":
        return codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    return text.encode(encoding)


def fetch(ws: Workspace, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Run a query on the warehouse read-only and close the connection."""
    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def core(ws: Workspace) -> list[tuple[Any, ...]]:
    """The comparison every format must pass."""
    return fetch(ws, CORE_SQL)


def details(ws: Workspace) -> list[tuple[Any, ...]]:
    """Occupation, registration time and the decrypted name and phone of every customer."""
    rows = fetch(ws, "SELECT user_id, occupation, register_date, user_name, phone FROM customers ORDER BY user_id")
    return [(uid, job, reg, ws.vault.decrypt(name), ws.vault.decrypt(phone)) for uid, job, reg, name, phone in rows]


def expected_details(gbk_safe: bool = False) -> list[tuple[Any, ...]]:
    return [(r[0], r[5], r[7], r[1], r[6]) for r in customers(gbk_safe)]


def assert_same_content(ws: Workspace, gbk_safe: bool = False) -> None:
    assert core(ws) == EXPECTED
    assert details(ws) == expected_details(gbk_safe)


# -- CSV: encodings, separators, quoting -----------------------------------------------------------

ENCODINGS = [
    # (how the file is written, the encoding the report must name)
    ("utf-8", "utf-8"),
    ("utf-8-sig", "utf-8"),
    ("gbk", "gb18030"),
    ("gb18030", "gb18030"),
    ("utf-16", "utf-16"),
    ("utf-16-be-bom", "utf-16"),
]
DELIMITERS = [(",", "comma"), ("\t", "tab"), (";", "semicolon")]


@pytest.mark.parametrize("delimiter,delimiter_name", DELIMITERS, ids=[d[1] for d in DELIMITERS])
@pytest.mark.parametrize("encoding,detected", ENCODINGS, ids=[e[0] for e in ENCODINGS])
def test_csv_in_every_encoding_and_separator(
    workspace: Workspace, tmp_path: Path, encoding: str, detected: str, delimiter: str, delimiter_name: str
) -> None:
    gbk_safe = encoding == "gbk"
    data = encode(csv_text(text_rows(customers(gbk_safe)), delimiter), encoding)
    if encoding == "gb18030":
        assert RARE_NAME.encode("gb18030") in data  # the file really holds a character GBK lacks
    path = tmp_path / f"客户_{encoding}_{delimiter_name}.csv"
    path.write_bytes(data)

    report = import_files(workspace, "customers", [path]).as_dict()

    source = report["sources"][0]
    assert source["format"] == "csv"
    assert source["encoding"] == detected
    assert source["delimiter"] == delimiter_name
    assert source["rows"] == len(CUSTOMERS)
    assert report["tables"]["customers"]["accepted"] == len(CUSTOMERS)
    assert report["tables"]["customers"]["quarantined"] == 0
    assert_same_content(workspace, gbk_safe)


def test_gb18030_keeps_characters_outside_gbk(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(UnicodeEncodeError):
        RARE_NAME.encode("gbk")
    path = tmp_path / "客户_gb18030.csv"
    path.write_bytes(csv_text(text_rows(CUSTOMERS)).encode("gb18030"))

    report = import_files(workspace, "customers", [path])

    assert report.sources[0]["encoding"] == "gb18030"
    names = {uid: name for uid, _, _, name, _ in details(workspace)}
    assert names["C002"] == RARE_NAME


def test_utf8_bom_is_not_part_of_the_first_header(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "客户_bom.csv"
    path.write_bytes(csv_text(text_rows(CUSTOMERS)).encode("utf-8-sig"))
    assert path.read_bytes().startswith(codecs.BOM_UTF8)

    report = import_files(workspace, "customers", [path]).as_dict()

    assert report["sources"][0]["encoding"] == "utf-8"
    assert report["sources"][0]["headers"][0] == "客户ID"
    assert report["ignored_columns"] == {}
    assert core(workspace) == EXPECTED


def test_quoted_fields_with_commas_newlines_and_quotes(workspace: Workspace, tmp_path: Path) -> None:
    text = csv_text(text_rows(CUSTOMERS))
    # the file really carries quoted values spanning a comma, a line break and a doubled quote
    assert '"软件工程师, 全栈"' in text
    assert '"教师\n兼职辅导"' in text
    assert '"医生 ""主任"""' in text
    path = tmp_path / "客户_quoted.csv"
    path.write_text(text, encoding="utf-8", newline="")

    report = import_files(workspace, "customers", [path])

    assert report.sources[0]["rows"] == len(CUSTOMERS)  # the line break did not split a record
    jobs = dict(fetch(workspace, "SELECT user_id, occupation FROM customers"))
    assert jobs["C001"] == "软件工程师, 全栈"
    assert jobs["C002"] == "教师\n兼职辅导"
    assert jobs["C003"] == '医生 "主任"'
    assert_same_content(workspace)


# -- Excel -------------------------------------------------------------------------------------------


def write_xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """Write an .xlsx workbook with openpyxl: {sheet name: rows}, datetimes as Excel date cells."""
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)  # openpyxl stores a datetime as a date serial with a date number format
    book.save(path)
    return path


def typed_rows() -> list[list[Any]]:
    """Header plus rows with an int age, a numeric phone and a datetime registration."""
    rows: list[list[Any]] = [list(CUSTOMER_HEADER)]
    for uid, name, gender, age, region, job, phone, reg in CUSTOMERS:
        rows.append([uid, name, gender, age, region, job, int(phone), reg])
    return rows


def check_typed_cells(path: Path, sheet: str) -> None:
    """The workbook really stores dates as date cells and phones as numbers."""
    import openpyxl

    book = openpyxl.load_workbook(path)
    ws = book[sheet]
    assert ws["H2"].is_date
    assert ws["G2"].data_type == "n" and ws["G2"].value == 13912345678
    book.close()


def test_xlsx_first_sheet(workspace: Workspace, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "客户.xlsx", {"Sheet1": typed_rows(), "备注": [["导出说明"], ["2024年版"]]})
    check_typed_cells(path, "Sheet1")

    report = import_files(workspace, "customers", [path]).as_dict()

    assert report["sources"][0]["format"] == "excel"
    assert report["sources"][0]["sheet"] == "Sheet1"
    assert report["tables"]["customers"]["accepted"] == len(CUSTOMERS)
    assert_same_content(workspace)


def test_xlsx_named_sheet(workspace: Workspace, tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "客户导出.xlsx",
        {"说明": [["本文件由CRM导出"], ["请勿修改表头"]], "客户名单": typed_rows()},
    )
    check_typed_cells(path, "客户名单")

    report = import_files(workspace, "customers", [path], sheet="客户名单").as_dict()

    assert report["sources"][0]["sheet"] == "客户名单"
    assert report["sources"][0]["rows"] == len(CUSTOMERS)
    assert_same_content(workspace)


def test_xls_written_by_xlwt(workspace: Workspace, tmp_path: Path) -> None:
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("客户")
    date_style = xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm:ss")
    for col, header in enumerate(CUSTOMER_HEADER):
        sheet.write(0, col, header)
    for i, (uid, name, gender, age, region, job, phone, reg) in enumerate(CUSTOMERS, start=1):
        for col, value in enumerate([uid, name, gender, age, region, job, int(phone)]):
            sheet.write(i, col, value)
        sheet.write(i, 7, reg, date_style)
    path = tmp_path / "客户.xls"
    book.save(str(path))
    assert path.read_bytes()[:4] == b"\xd0\xcf\x11\xe0"

    report = import_files(workspace, "customers", [path]).as_dict()

    assert report["sources"][0]["format"] == "excel"
    assert report["sources"][0]["sheet"] == "客户"
    assert_same_content(workspace)


# -- Parquet, JSON lines, SQL -----------------------------------------------------------------------


def test_parquet_with_typed_columns(workspace: Workspace, tmp_path: Path) -> None:
    cols = list(zip(*CUSTOMERS, strict=True))
    table = pa.table(
        {
            "客户ID": pa.array(cols[0], pa.string()),
            "客户名称": pa.array(cols[1], pa.string()),
            "性别": pa.array(cols[2], pa.string()),
            "年龄": pa.array(cols[3], pa.int32()),
            "常住地区": pa.array(cols[4], pa.string()),
            "客户职业": pa.array(cols[5], pa.string()),
            "手机号": pa.array(cols[6], pa.string()),
            "注册时间": pa.array(cols[7], pa.timestamp("us")),
        }
    )
    path = tmp_path / "客户.parquet"
    pq.write_table(table, path)
    schema = pq.read_schema(path)
    assert pa.types.is_integer(schema.field("年龄").type)
    assert pa.types.is_timestamp(schema.field("注册时间").type)

    report = import_files(workspace, "customers", [path]).as_dict()

    assert report["sources"][0]["format"] == "parquet"
    assert report["tables"]["customers"]["accepted"] == len(CUSTOMERS)
    assert_same_content(workspace)


def test_json_lines(workspace: Workspace, tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {
                "客户ID": uid,
                "客户名称": name,
                "性别": gender,
                "年龄": age,
                "常住地区": region,
                "客户职业": job,
                "手机号": phone,
                "注册时间": reg.strftime("%Y-%m-%d %H:%M:%S"),
            },
            ensure_ascii=False,
        )
        for uid, name, gender, age, region, job, phone, reg in CUSTOMERS
    ]
    path = tmp_path / "客户.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    report = import_files(workspace, "customers", [path]).as_dict()

    assert report["sources"][0]["format"] == "jsonl"
    assert report["sources"][0]["rows"] == len(CUSTOMERS)
    assert_same_content(workspace)


def test_sql_query_on_sqlite(workspace: Workspace, tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    con = sqlite3.connect(db)
    try:
        con.execute(
            "CREATE TABLE member (id TEXT, name TEXT, sex TEXT, age INTEGER, area TEXT, job TEXT, mobile TEXT, "
            "reg TEXT, deleted INTEGER)"
        )
        con.executemany(
            "INSERT INTO member VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
            [(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7].strftime("%Y-%m-%d %H:%M:%S")) for r in CUSTOMERS],
        )
        con.execute(
            "INSERT INTO member VALUES ('X999', '删除', '男', 60, '北京', '无', '13000000001', '2020-01-01', 1)"
        )
        con.commit()
    finally:
        con.close()
    query = (
        "SELECT id AS 客户ID, name AS 客户名称, sex AS 性别, age AS 年龄, area AS 常住地区, job AS 客户职业, "
        "mobile AS 手机号, reg AS 注册时间 FROM member WHERE deleted = 0"
    )

    report = import_files(workspace, "customers", sql_url=f"sqlite:///{db}", query=query).as_dict()

    assert report["sources"][0]["format"] == "sql"
    assert report["sources"][0]["rows"] == len(CUSTOMERS)
    assert_same_content(workspace)


# -- flat order exports, mapping files, re-imports, several files -----------------------------------

ORDER_HEADER = [
    "订单号",
    "客户ID",
    "下单时间",
    "订单金额",
    "订单数量",
    "产品名称",
    "产品价格",  # the order
    "客户名称",
    "性别",
    "年龄",
    "常住地区",  # the customer, repeated on each order line
]
FLAT_ORDERS = [
    ["O1001", "C001", "2024-01-02 10:00:00", "199.00", "1", "保温杯", "199.00", "张三", "男", "28", "北京市朝阳区"],
    ["O1002", "C001", "2024-01-05 11:20:00", "59.80", "2", "绿茶", "29.90", "张三", "男", "28", "北京市朝阳区"],
    ["O1003", "C002", "2024-02-01 09:00:00", "3299.00", "1", "手机", "3299.00", "李四", "女", "35", "上海市浦东新区"],
    ["O1004", "C003", "2024-02-03 20:15:00", "45.50", "1", "数据线", "45.50", "王五", "男", "42", "广东省广州市"],
    ["O1005", "C004", "2024-03-08 08:08:08", "128.00", "4", "面膜", "32.00", "赵六", "女", "23", "浙江杭州"],
    ["O1006", "C002", "2024-03-09 12:00:00", "88.00", "1", "耳机", "88.00", "李四", "女", "35", "上海市浦东新区"],
]


def write_text(path: Path, rows: list[list[str]], encoding: str = "utf-8", delimiter: str = ",") -> Path:
    path.write_bytes(csv_text(rows, delimiter).encode(encoding))
    return path


def test_flat_order_export_fills_orders_and_customers(workspace: Workspace, tmp_path: Path) -> None:
    path = write_text(tmp_path / "订单明细.csv", [ORDER_HEADER, *FLAT_ORDERS])

    report = import_files(workspace, "orders", [path]).as_dict()

    assert set(report["tables"]) == {"orders", "customers"}
    assert report["tables"]["orders"]["accepted"] == 6
    assert report["tables"]["customers"]["accepted"] == 4
    assert fetch(workspace, "SELECT count(*) FROM orders") == [(6,)]
    assert fetch(workspace, "SELECT count(*) FROM customers") == [(4,)]
    row = fetch(workspace, "SELECT gender, age, province, city, user_name FROM customers WHERE user_id = 'C002'")
    assert len(row) == 1
    gender, age, province, city, name = row[0]
    assert (gender, age, province, city) == ("女", 35, "上海市", "上海市")
    assert workspace.vault.decrypt(name) == "李四"
    order = fetch(
        workspace,
        "SELECT user_id, order_time, CAST(amount AS VARCHAR), quantity, product_name, CAST(unit_price AS VARCHAR) "
        "FROM orders WHERE order_id = 'O1002'",
    )
    assert order == [("C001", datetime(2024, 1, 5, 11, 20), "59.80", 2, "绿茶", "29.90")]


def test_mapping_file_maps_unusual_headers(workspace: Workspace, tmp_path: Path) -> None:
    mapping = tmp_path / "会员订单映射.yaml"
    mapping.write_text(
        "columns:\n  单据编号: order_id\n  会员卡号: user_id\n  成交日: order_time\n  实付: amount\n  备注: ignore\n",
        encoding="utf-8",
    )
    path = write_text(
        tmp_path / "会员订单.csv",
        [
            ["单据编号", "会员卡号", "成交日", "实付", "件数", "备注"],
            ["D001", "VIP0001", "2024/05/01", "88.80", "2", "加急"],
            ["D002", "VIP0002", "2024/05/02 13:30", "10", "1", ""],
            ["D003", "VIP0001", "2024年5月3日", "¥1,299.00", "1", "发票"],
        ],
    )

    report = import_files(workspace, "orders", [path], mapping=mapping).as_dict()

    assert report["tables"]["orders"]["accepted"] == 3
    assert report["tables"]["orders"]["quarantined"] == 0
    assert report["ignored_columns"] == {"会员订单.csv": ["备注"]}
    rows = fetch(
        workspace, "SELECT order_id, user_id, order_time, CAST(amount AS VARCHAR), quantity FROM orders ORDER BY 1"
    )
    assert rows == [
        ("D001", "VIP0001", datetime(2024, 5, 1), "88.80", 2),
        ("D002", "VIP0002", datetime(2024, 5, 2, 13, 30), "10.00", 1),
        ("D003", "VIP0001", datetime(2024, 5, 3), "1299.00", 1),
    ]


def counts(ws: Workspace) -> dict[str, int]:
    return {t: fetch(ws, f"SELECT count(*) FROM {t}")[0][0] for t in ("customers", "orders", "quarantine", "merge_log")}


def _customers_with_a_bad_row(tmp_path: Path) -> tuple[str, Path]:
    rows = text_rows(CUSTOMERS)
    rows.append(["C007", "周九", "男", "不详", "江苏南京", "司机", "13300001111", "2023-07-01"])
    return "customers", write_text(tmp_path / "客户_含坏行.csv", rows)


def _flat_orders_with_a_bad_row(tmp_path: Path) -> tuple[str, Path]:
    bad = ["O1007", "C005", "2024-04-01", "-5", "1", "袜子", "5", "钱七", "女", "51", "成都"]  # negative amount
    rows = [ORDER_HEADER, *FLAT_ORDERS, bad]
    return "orders", write_text(tmp_path / "订单_含坏行.csv", rows)


@pytest.mark.parametrize(
    "make", [_customers_with_a_bad_row, _flat_orders_with_a_bad_row], ids=["customers", "flat-orders"]
)
def test_reimporting_the_same_file_adds_nothing(
    workspace: Workspace, tmp_path: Path, make: Callable[[Path], tuple[str, Path]]
) -> None:
    table, path = make(tmp_path)
    first = import_files(workspace, table, [path]).as_dict()
    after_first = counts(workspace)
    assert first["totals"]["quarantined"] >= 1
    assert after_first["quarantine"] >= 1

    second = import_files(workspace, table, [path]).as_dict()

    assert second["import_id"] == first["import_id"] + 1
    for name, stats in first["tables"].items():
        again = second["tables"][name]
        assert again["accepted"] == 0, name
        assert again["updated"] == 0, name
        assert again["unchanged"] == stats["accepted"], name
    assert counts(workspace) == after_first


def test_several_files_in_one_import(workspace: Workspace, tmp_path: Path) -> None:
    rows = text_rows(customers(gbk_safe=True))
    first = write_text(tmp_path / "客户_华北.csv", [rows[0], *rows[1:4]])
    second = write_text(tmp_path / "客户_华南.txt", [rows[0], *rows[4:]], encoding="gbk", delimiter="\t")

    report = import_files(workspace, "customers", [first, second]).as_dict()

    assert [s["path"] for s in report["sources"]] == [str(first), str(second)]
    assert [s["rows"] for s in report["sources"]] == [3, 3]
    assert [s["encoding"] for s in report["sources"]] == ["utf-8", "gb18030"]
    assert report["tables"]["customers"]["rows_read"] == 6
    assert report["tables"]["customers"]["accepted"] == 6
    assert_same_content(workspace, gbk_safe=True)
    # each row names its file by position among the import's files, as import_log lists them
    sources = dict(
        fetch(
            workspace,
            "SELECT c.user_id, json_extract_string(l.files, '$[' || c._file || '].path') FROM customers c "
            "JOIN import_log l ON l.import_id = c._import_id",
        )
    )
    assert sources["C001"] == str(first)
    assert sources["C006"] == str(second)


def test_fingerprinting_a_large_file_holds_one_slice_of_it_at_a_time(tmp_path: Path) -> None:
    """The mapped file's pages are let go as they are hashed: the process's peak memory grows by about
    one 16 MB slice, not by the file's 256 MB (measured in a child process, whose peak is its own)."""
    import subprocess
    import sys

    path = tmp_path / "big.csv"
    with path.open("wb") as fh:
        for _ in range(16):
            fh.write(bytes(range(256)) * (1 << 16))  # 16 MB each
    code = (
        "import resource, sys; from pathlib import Path; from portrait.ingest.readers import fingerprint; "
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
        "fingerprint(Path(sys.argv[1])) if sys.argv[2] == 'hash' else None; "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)"
    )
    grown = {
        what: int(
            subprocess.run(
                [sys.executable, "-c", code, str(path), what], capture_output=True, text=True, check=True
            ).stdout
        )
        for what in ("hash", "nothing")
    }
    assert grown["hash"] - grown["nothing"] < 64 * 1024, grown  # KiB: well under the file's 256 MiB


@pytest.mark.parametrize("size", [0, 1, (1 << 24) - 1, (1 << 24) + 7, 3 * (1 << 24)])
def test_a_file_fingerprint_is_the_xxh3_128_of_its_bytes(tmp_path: Path, size: int) -> None:
    """The fingerprint hashes a mapping of the file in slices: every slice boundary, and an empty file
    (which cannot be mapped), still give the plain 128-bit XXH3 of the bytes, and one changed byte
    changes it."""
    import xxhash

    from portrait.ingest.readers import fingerprint

    data = bytes(i % 251 for i in range(size))
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    assert fingerprint(path) == xxhash.xxh3_128_hexdigest(data)
    assert len(fingerprint(path)) == 32
    if size:
        path.write_bytes(data[:-1] + bytes([(data[-1] + 1) % 256]))
        assert fingerprint(path) != xxhash.xxh3_128_hexdigest(data)
