"""Segments on the May shop: preview counts by hand, saved segments, masked exports, group portraits."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from portrait import segments
from portrait.errors import InputError, NotFound
from portrait.refresh import refresh
from tests.shops import MAY_CUSTOMERS, load_may_shop

PORTRAIT = str(Path(sys.executable).with_name("portrait"))
CLEAR_NAMES = [row[1] for row in MAY_CUSTOMERS[1:]]


@pytest.fixture
def may(ws, tmp_path):
    load_may_shop(ws, tmp_path)
    refresh(ws, date(2024, 9, 1))
    return ws


def test_preview_gives_size_each_condition_alone_and_a_masked_sample(may):
    # 一线: A B E F; women: B C E; bought twice in 180 days (购买频次 中频): A B F
    result = segments.preview(may, "city_tier = '一线' and (gender = '女' or 购买频次 = '中频')")
    assert (result["customers"], result["of"]) == (4, 6)  # A (中频), B, E (女), F (中频)
    assert segments.size(may, "city_tier = '一线' and (gender = '女' or 购买频次 = '中频')") == 4
    assert result["conditions"] == [
        {"condition": "city_tier = '一线'", "customers": 4},
        {"condition": "gender = '女'", "customers": 3},
        {"condition": "购买频次 = '中频'", "customers": 3},
    ]
    assert [(m["user_id"], m["user_name"]) for m in result["sample"]] == [
        ("A", "张*"),
        ("B", "李*"),
        ("E", "钱*"),
        ("F", "孙*"),
    ]


def test_rules_over_unknown_fields_are_refused_with_the_column(may):
    with pytest.raises(InputError, match=r"column 18: unknown field 'agee'; did you mean 'age'"):
        segments.preview(may, "gender = '女' and agee > 30")


def test_define_list_and_missing_segments(may):
    segments.define(may, "一线女性", "city_tier = '一线' and gender = '女'")
    segments.define(may, "复购", "frequency >= 2")
    assert [(s["name"], s["customers"]) for s in segments.list_segments(may)] == [("一线女性", 2), ("复购", 3)]
    segments.define(may, "复购", "frequency >= 3")  # redefining replaces
    assert segments.get(may, "复购")["rule"] == "frequency >= 3"
    with pytest.raises(NotFound, match="no segment '不存在'"):
        segments.get(may, "不存在")


def test_csv_export_is_masked_and_opens_in_excel(may, tmp_path):
    segments.define(may, "全部", "true")
    result = segments.export(may, "全部", tmp_path / "all.csv")
    assert result["rows"] == 6 and result["masked"] is True
    raw = (tmp_path / "all.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, so Excel shows the Chinese text
    text = raw.decode("utf-8-sig")
    assert "张*" in text and all(name not in text for name in CLEAR_NAMES)
    gbk = segments.export(may, "全部", tmp_path / "all-gbk.csv", encoding="gbk")
    assert gbk["rows"] == 6 and "钱*" in (tmp_path / "all-gbk.csv").read_bytes().decode("gbk")


def test_excel_export_continues_on_further_sheets_past_the_row_limit(may, tmp_path, monkeypatch):
    segments.define(may, "全部", "true")
    monkeypatch.setattr(segments, "EXCEL_MAX_ROWS", 3)  # header + 2 members per sheet
    result = segments.export(may, "全部", tmp_path / "all.xlsx", fmt="xlsx")
    assert (result["rows"], result["sheets"]) == (6, 3)
    book = openpyxl.load_workbook(tmp_path / "all.xlsx", read_only=True)
    ids = [row[0] for sheet in book.worksheets for row in sheet.iter_rows(min_row=2, values_only=True)]
    names = [row[1] for sheet in book.worksheets for row in sheet.iter_rows(min_row=2, values_only=True)]
    book.close()
    assert ids == ["A", "B", "C", "D", "E", "F"]
    assert names == ["张*", "李*", "王*", "赵*", "钱*", "孙*"]


def test_group_portrait_lift_and_traits_by_hand(may):
    result = segments.group_portrait(may, "city_tier = '一线'")
    gender = {e["value"]: e for e in result["dimensions"]["gender"]}
    # group A B E F: 男 2/4; all: 男 A D F 3/6 → lift 1.0
    assert (gender["男"]["share"], gender["男"]["share_all"], gender["男"]["lift"]) == (0.5, 0.5, 1.0)
    tier = {e["value"]: e for e in result["dimensions"]["city_tier"]}
    assert tier["一线"]["lift"] == pytest.approx(1.5) and tier["一线"]["p_value"] < 0.05
    assert result["traits"][0]["dimension"] == "city_tier" and result["traits"][0]["value"] == "一线"
    assert result["measures"]["monetary"]["mean"] == pytest.approx((600 + 130 + 0 + 180) / 4)


def test_compare_two_segments(may):
    segments.define(may, "一线", "city_tier = '一线'")
    segments.define(may, "女性", "gender = '女'")
    result = segments.compare(may, "一线", "女性")
    assert result["overlap"] == {"both": 2, "only_a": 2, "only_b": 1, "jaccard": 2 / 5}
    top = result["differences"][0]
    assert top["dimension"] == "gender" and abs(top["difference"]) == 0.5


def test_cli_segment_commands(may, tmp_path):
    run = lambda *args: subprocess.run(  # noqa: E731
        [PORTRAIT, "segment", *args, "--workspace", str(may.path), "--json"], capture_output=True, text=True
    )
    defined = run("define", "年轻", "age < 30")
    assert defined.returncode == 0 and json.loads(defined.stdout)["customers"] == 2  # B 24, F 19
    exported = run("export", "年轻", "--out", str(tmp_path / "y.xlsx"))
    assert json.loads(exported.stdout)["rows"] == 2 and json.loads(exported.stdout)["format"] == "xlsx"
    bad = run("preview", "age <")
    assert bad.returncode == 2 and bad.stdout == "" and bad.stderr.startswith("error: segment rule, column 6")
