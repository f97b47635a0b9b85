"""Bad input: each gets a one-line error naming the file and the problem, and changes nothing.

Every case starts from a workspace holding a good import (customers, orders, a quarantined row and an
identity merge), snapshots every warehouse table and the bytes of the workspace's files, runs the bad
import, and checks the snapshot again. Most cases go through the Python API; some through the real
`portrait` command in a subprocess.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest

from portrait.errors import PortraitError, WorkspaceError
from portrait.ingest.job import import_files
from portrait.workspace import STORE_NAME, Workspace, init_workspace, open_workspace

PORTRAIT = Path(sys.executable).parent / "portrait"
TABLES = ("customers", "orders", "quarantine", "import_log", "merge_log", "merge_before", "identity_exclusions")

CUSTOMER_HEADER = ["客户ID", "客户名称", "性别", "年龄", "常住地区", "客户职业", "手机号", "注册时间"]
CUSTOMER_ROWS = [
    ["C101", "张三", "男", "28", "北京市朝阳区", "工程师", "13912345678", "2023-01-05 10:00:00"],
    ["C102", "李四", "女", "35", "上海市浦东新区", "教师", "13987654321", "2023-02-10 09:30:00"],
    ["C103", "王五", "男", "42", "广东省广州市", "医生, 主任", "13711112222", "2023-03-15"],
    ["C104", "赵六", "女", "23", "浙江杭州", "学生", "13633334444", "2023-04-01 08:00"],
    ["C105", "钱七", "女", "51", "四川省成都市", "会计", "13555556666", "2023-05-20"],
    ["C106", "孙八", "男", "31", "湖北武汉", "销售", "13477778888", "2023-06-30"],
]
ORDER_HEADER = ["订单号", "客户ID", "下单时间", "订单金额", "订单数量", "产品名称", "产品价格"]
ORDER_ROWS = [
    ["O001", "C101", "2024-01-02 10:00:00", "199.00", "1", "保温杯", "199.00"],
    ["O002", "C102", "2024-01-05 11:00:00", "59.80", "2", "绿茶", "29.90"],
    ["O003", "C103", "2024-02-01 09:00:00", "3299", "1", "手机", "3299"],
]


def csv_bytes(rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode(encoding)


def write_xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


# -- the workspace and its snapshot ----------------------------------------------------------------


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder imports work in (it holds clear personal values while an import runs)."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture(scope="module")
def loaded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding one good import: customers and orders from a flat export, a quarantined row
    and an identity merge (C101 and C107 share a phone number). Built once; each test gets a copy."""
    tmp_path = tmp_path_factory.mktemp("template")
    ws = init_workspace(tmp_path / "workspace")
    header = ORDER_HEADER + ["客户名称", "性别", "年龄", "常住地区", "手机号"]
    rows = [
        header,
        ORDER_ROWS[0] + ["张三", "男", "28", "北京市朝阳区", "13912345678"],
        ORDER_ROWS[1] + ["李四", "女", "35", "上海市浦东新区", "13987654321"],
        ORDER_ROWS[2] + ["王五", "男", "42", "广东省广州市", "13711112222"],
        ["O004", "C107", "2024-02-03 20:15:00", "45.50", "1", "数据线", "45.50"]
        + ["张三", "男", "28", "北京", "13912345678"],  # same phone as C101: merged
        ["O005", "C104", "2024-03-08", "-20", "1", "面膜", "20"]  # negative amount: quarantined
        + ["赵六", "女", "23", "浙江杭州", "13633334444"],
    ]
    good = tmp_path / "good_orders.csv"
    good.write_bytes(csv_bytes(rows))
    report = import_files(ws, "orders", [good])
    assert report.tables["orders"]["quarantined"] == 1
    assert report.identity["records_merged"] >= 1
    return ws.path


@pytest.fixture
def workspace(loaded_template: Path, tmp_path: Path, scratch: Path) -> Workspace:
    """A private copy of the loaded workspace for one test."""
    target = tmp_path / "workspace"
    shutil.copytree(loaded_template, target)
    return open_workspace(target)


@dataclass
class Snapshot:
    """What a workspace holds: every warehouse table, the bytes of its files, the store's contents."""

    tables: dict[str, list[tuple[Any, ...]]]
    files: dict[str, str]
    users: list[tuple[Any, ...]]
    audit: list[tuple[Any, ...]] = field(repr=False)


def snapshot(ws: Workspace) -> Snapshot:
    # bytes first: nothing (not even our read-only look) may touch the files in between
    files = {
        p.relative_to(ws.path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(ws.path.rglob("*"))
        if p.is_file() and p.name != STORE_NAME
    }
    files[STORE_NAME] = "present" if (ws.path / STORE_NAME).exists() else "missing"
    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    try:
        tables = {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}
    finally:
        con.close()
    store = sqlite3.connect(ws.path / STORE_NAME)
    try:
        users = store.execute("SELECT * FROM users ORDER BY id").fetchall()
        audit = store.execute("SELECT id, actor, action, target, outcome, detail FROM audit_log ORDER BY id").fetchall()
    finally:
        store.close()
    return Snapshot(tables, files, users, audit)


def assert_unchanged(ws: Workspace, before: Snapshot, scratch: Path) -> None:
    """The warehouse (rows and bytes) and the store are as they were; at most a failed import was audited."""
    after = snapshot(ws)
    for name in TABLES:
        assert after.tables[name] == before.tables[name], f"table {name} changed"
    assert after.files == before.files
    assert after.users == before.users
    assert after.audit[: len(before.audit)] == before.audit
    for entry in after.audit[len(before.audit) :]:
        assert (entry[2], entry[4]) == ("import", "failed"), entry
    assert list(scratch.iterdir()) == [], "the import left scratch files behind"


def assert_one_line(message: str, *names: str) -> None:
    assert message, "empty error message"
    assert "\n" not in message and "\r" not in message, message
    assert "Traceback" not in message, message
    for name in names:
        assert name in message, f"{name!r} not in {message!r}"


# -- the bad inputs --------------------------------------------------------------------------------


@dataclass
class Case:
    """A bad import: the files it writes, the call it makes, what the one-line error must say."""

    table: str
    files: dict[str, bytes | Callable[[Path], None] | None]  # None: the file is not created
    says: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, bytes] = field(default_factory=dict)  # written beside, not imported (e.g. a mapping)
    name_in_message: str | None = None  # default: the last imported file's name

    def write(self, folder: Path) -> list[Path]:
        for name, data in self.extra.items():
            (folder / name).write_bytes(data)
        paths = []
        for name, data in self.files.items():
            path = folder / name
            if callable(data):
                data(path)
            elif data is not None:
                path.write_bytes(data)
            paths.append(path)
        return paths

    def expected_name(self) -> str:
        return self.name_in_message or list(self.files)[-1]


def _good_customers() -> bytes:
    return csv_bytes([CUSTOMER_HEADER, *CUSTOMER_ROWS])


def _truncated_mid_row() -> bytes:
    data = _good_customers().decode()
    cut = data.index("C106,孙八,男") + len("C106,孙八,男")
    return data[:cut].encode()


def _truncated_in_quote() -> bytes:
    data = _good_customers().decode()
    start = data.index('"医生, 主任"')
    return data[: start + 4].encode()  # inside the quoted value: `"医生,`


def _truncated_mid_character() -> bytes:
    data = _good_customers()
    end = data.index("湖北武汉".encode()) + 4  # 湖 complete, 北 cut after its first byte
    return data[:end]


def _binary() -> bytes:
    rng = random.Random(20240501)
    body = bytearray(rng.randbytes(4096))
    body[100:4096:97] = b"\x00" * len(body[100:4096:97])
    return b"\x13\x37" + bytes(body)


def _xlsx_renamed_csv(path: Path) -> None:
    real = write_xlsx(path.with_name("real.xlsx"), {"客户": [CUSTOMER_HEADER, *CUSTOMER_ROWS]})
    real.rename(path)


def _mixed_age() -> bytes:
    words = ["二十八", "三十五", "未知", "保密", "四十二", "31"]
    return csv_bytes([CUSTOMER_HEADER, *[r[:3] + [w] + r[4:] for r, w in zip(CUSTOMER_ROWS, words, strict=True)]])


def _duplicate_headers() -> bytes:
    header = list(CUSTOMER_HEADER)
    header[5] = "年龄"  # 客户职业 exported as a second 年龄
    return csv_bytes([header, *CUSTOMER_ROWS])


def _orders_without_order_time() -> bytes:
    keep = [i for i, h in enumerate(ORDER_HEADER) if h != "下单时间"]
    return csv_bytes([[r[i] for i in keep] for r in [ORDER_HEADER, *ORDER_ROWS]])


def _excel_with_sheets(path: Path) -> None:
    write_xlsx(path, {"说明": [["导出说明"]], "客户名单": [CUSTOMER_HEADER, *CUSTOMER_ROWS]})


MAPPING_YAML = "# 会员系统导出\ncolumns:\n  会员卡号: user_id\n  实付: amout\n  成交日: order_time\n".encode()
MAPPING_TOML = '# 会员系统导出\n[columns]\n"会员卡号" = "user_id"\n"实付" = "amout"\n"成交日" = "order_time"\n'.encode()
MEMBER_ORDERS = csv_bytes([["订单号", "会员卡号", "成交日", "实付"], ["M1", "V001", "2024-05-01", "88.8"]])


def cases(tmp: Path) -> dict[str, Case]:
    return {
        "empty-file": Case("customers", {"空文件.csv": b""}, ("empty",)),
        "header-only": Case("customers", {"只有表头.csv": csv_bytes([CUSTOMER_HEADER])}, ("header",)),
        "truncated-mid-row": Case("customers", {"截断.csv": _truncated_mid_row()}, ("line 7", "truncated")),
        "truncated-in-quote": Case("customers", {"截断引号.csv": _truncated_in_quote()}, ("quoted", "truncated")),
        "truncated-mid-character": Case("customers", {"截断字符.csv": _truncated_mid_character()}, ("truncated",)),
        "binary-as-csv": Case("customers", {"乱码.csv": _binary()}, ("binary",)),
        "xlsx-renamed-csv": Case("customers", {"客户表.csv": _xlsx_renamed_csv}, (".xlsx",)),
        "pipe-delimiter": Case("customers", {"竖线.csv": csv_bytes([CUSTOMER_HEADER, *CUSTOMER_ROWS], "|")}, ("'|'",)),
        "duplicate-headers": Case("customers", {"重复表头.csv": _duplicate_headers()}, ("duplicate", "年龄")),
        "mixed-type-column": Case("customers", {"年龄乱填.csv": _mixed_age()}, ("age", "mixes types")),
        "missing-sheet": Case(
            "customers",
            {"客户导出.xlsx": _excel_with_sheets},
            ("不存在的表", "说明", "客户名单"),
            options={"sheet": "不存在的表"},
        ),
        "mapping-unknown-field-yaml": Case(
            "orders",
            {"会员订单.csv": MEMBER_ORDERS},
            ("会员映射.yaml:4", "amout", "did you mean 'amount'"),
            options={"mapping": tmp / "会员映射.yaml"},
            extra={"会员映射.yaml": MAPPING_YAML},
            name_in_message="会员映射.yaml",
        ),
        "mapping-unknown-field-toml": Case(
            "orders",
            {"会员订单.csv": MEMBER_ORDERS},
            ("会员映射.toml:4", "amout", "did you mean 'amount'"),
            options={"mapping": tmp / "会员映射.toml"},
            extra={"会员映射.toml": MAPPING_TOML},
            name_in_message="会员映射.toml",
        ),
        "required-column-missing": Case(
            "orders",
            {"订单_无时间.csv": _orders_without_order_time()},
            ("order_time", "下单时间"),
        ),
        "file-does-not-exist": Case("customers", {"没有这个文件.csv": None}, ("no such file",)),
        "second-file-bad": Case(
            "customers",
            {"好的.csv": _good_customers(), "坏的.csv": csv_bytes([CUSTOMER_HEADER])},
            ("header",),
        ),
    }


CASE_NAMES = list(cases(Path("/nonexistent")).keys())


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_is_refused_and_changes_nothing(
    workspace: Workspace, tmp_path: Path, scratch: Path, name: str
) -> None:
    case = cases(tmp_path)[name]
    paths = case.write(tmp_path)
    before = snapshot(workspace)

    with pytest.raises(PortraitError) as caught:
        import_files(workspace, case.table, paths, **case.options)

    message = str(caught.value)
    assert_one_line(message, case.expected_name())
    for words in case.says:
        assert words.lower() in message.lower(), f"{words!r} not in {message!r}"
    assert_unchanged(workspace, before, scratch)


def test_mostly_words_in_age_is_refused_with_the_count(workspace: Workspace, tmp_path: Path, scratch: Path) -> None:
    path = tmp_path / "年龄乱填.csv"
    path.write_bytes(_mixed_age())
    before = snapshot(workspace)

    with pytest.raises(PortraitError, match=r"5 of 6 values are not whole numbers") as caught:
        import_files(workspace, "customers", [path])

    assert_one_line(str(caught.value), path.name, "二十八")
    assert_unchanged(workspace, before, scratch)


def test_one_bad_value_quarantines_only_that_row(workspace: Workspace, tmp_path: Path) -> None:
    rows = [list(r) for r in CUSTOMER_ROWS]
    rows[4][3] = "五十一"  # one word among numbers: that row goes to quarantine, the import succeeds
    path = tmp_path / "一个坏年龄.csv"
    path.write_bytes(csv_bytes([CUSTOMER_HEADER, *rows]))
    quarantined_before = snapshot(workspace).tables["quarantine"]

    report = import_files(workspace, "customers", [path]).as_dict()

    stats = report["tables"]["customers"]
    assert stats["quarantined"] == 1
    assert stats["quarantined_by_reason"] == {"age:unparseable_number": 1}
    assert stats["rows_read"] == 6
    con = duckdb.connect(str(workspace.warehouse_path), read_only=True)
    try:
        new = con.execute(
            "SELECT source, source_row, reasons FROM quarantine WHERE import_id = ?", [report["import_id"]]
        ).fetchall()
        ids = {r[0] for r in con.execute("SELECT user_id FROM customers").fetchall()}
        total = con.execute("SELECT count(*) FROM quarantine").fetchall()[0][0]
    finally:
        con.close()
    # line 1 is the header, so C105 (the fifth data row) is row 6
    assert new == [(path.name, 6, ["age:unparseable_number"])]
    assert total == len(quarantined_before) + 1
    assert "C106" in ids  # new customers from the same file went in
    assert "C105" not in ids


def test_one_bad_value_in_excel_names_the_row_the_user_sees(workspace: Workspace, tmp_path: Path) -> None:
    """The quarantine's source_row is the spreadsheet row number, even after blank rows."""
    rows: list[list[Any]] = [[], [], CUSTOMER_HEADER]  # two blank rows above the header
    for i, row in enumerate(CUSTOMER_ROWS):
        if i == 3:
            rows.append([])  # a blank row in the middle of the data
        rows.append(row[:3] + ["不详" if row[0] == "C105" else int(row[3])] + row[4:])
    path = write_xlsx(tmp_path / "客户名单.xlsx", {"客户": rows})
    # sheet rows: 1-2 blank, 3 header, 4-6 C101-C103, 7 blank, 8 C104, 9 C105, 10 C106
    import openpyxl

    sheet = openpyxl.load_workbook(path)["客户"]
    assert sheet["A9"].value == "C105"

    report = import_files(workspace, "customers", [path])

    assert report.tables["customers"]["quarantined_by_reason"] == {"age:unparseable_number": 1}
    con = duckdb.connect(str(workspace.warehouse_path), read_only=True)
    try:
        rows_seen = con.execute("SELECT source_row FROM quarantine WHERE import_id = ?", [report.import_id]).fetchall()
    finally:
        con.close()
    assert rows_seen == [(9,)]


def test_workspace_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "没有的工作区"
    with pytest.raises(WorkspaceError) as caught:
        open_workspace(missing)
    assert_one_line(str(caught.value), str(missing))
    assert not missing.exists()


# -- through the real command ----------------------------------------------------------------------


def run_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PORTRAIT), "import", *map(str, args), "--json"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_cli_error(result: subprocess.CompletedProcess[str], *names: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert_one_line(lines[0], *names)
    return lines[0]


CLI_CASES = [
    "empty-file",
    "pipe-delimiter",
    "required-column-missing",
    "file-does-not-exist",
    "mapping-unknown-field-yaml",
    "xlsx-renamed-csv",
]


@pytest.mark.parametrize("name", CLI_CASES)
def test_cli_bad_input(workspace: Workspace, tmp_path: Path, scratch: Path, name: str) -> None:
    case = cases(tmp_path)[name]
    paths = case.write(tmp_path)
    options: list[str] = []
    if "mapping" in case.options:
        options += ["--mapping", str(case.options["mapping"])]
    if "sheet" in case.options:
        options += ["--sheet", case.options["sheet"]]
    before = snapshot(workspace)

    result = run_cli(case.table, *[p.name for p in paths], *options, "--workspace", workspace.path, cwd=tmp_path)

    line = assert_cli_error(result, case.expected_name())
    for words in case.says:
        assert words.lower() in line.lower(), f"{words!r} not in {line!r}"
    assert_unchanged(workspace, before, scratch)


def test_cli_workspace_that_does_not_exist(tmp_path: Path) -> None:
    path = tmp_path / "客户.csv"
    path.write_bytes(_good_customers())
    missing = tmp_path / "nowhere"

    result = run_cli("customers", path, "--workspace", missing, cwd=tmp_path)

    line = assert_cli_error(result, str(missing))
    assert "no workspace" in line
    assert not missing.exists()


def _bracketed_empty_csv(tmp_path: Path) -> tuple[Path, list[str]]:
    path = tmp_path / "customers[final].csv"
    path.write_bytes(b"")
    return path, [path.name]


def _header_only_sheet(tmp_path: Path) -> tuple[Path, list[str]]:
    path = write_xlsx(tmp_path / "export.xlsx", {"data": [CUSTOMER_HEADER]})
    return path, [path.name, "[data]"]


@pytest.mark.parametrize("make", [_bracketed_empty_csv, _header_only_sheet], ids=["file-name", "sheet-name"])
def test_cli_error_shows_brackets_as_written(
    workspace: Workspace, tmp_path: Path, scratch: Path, make: Callable[[Path], tuple[Path, list[str]]]
) -> None:
    """File and sheet names are printed as given, never read as terminal markup."""
    path, names = make(tmp_path)
    with pytest.raises(PortraitError) as caught:
        import_files(workspace, "customers", [path])
    assert_one_line(str(caught.value), *names)  # the API message is right
    before = snapshot(workspace)

    result = run_cli("customers", path.name, "--workspace", workspace.path, cwd=tmp_path)

    assert_cli_error(result, *names)
    assert_unchanged(workspace, before, scratch)
