"""Analyses on the May shop, by hand: dimensions (all and a segment), cohorts, channels."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from portrait import analysis
from portrait.errors import InputError
from portrait.ingest.job import import_files
from portrait.refresh import refresh
from tests.shops import load_may_shop, write

PORTRAIT = str(Path(sys.executable).with_name("portrait"))


@pytest.fixture
def may(ws, tmp_path):
    load_may_shop(ws, tmp_path)
    channels = [
        ["渠道", "日期", "访客数", "点击量", "订单量", "销售额", "成本"],
        ["搜索", "2024-05-01", "100", "40", "10", "1000", "200"],
        ["搜索", "2024-05-02", "100", "60", "10", "1000", "200"],
        ["直播", "2024-05-01", "50", "20", "0", "0", "100"],
    ]
    import_files(ws, "channels", [write(tmp_path / "ch.csv", channels)])
    refresh(ws, date(2024, 9, 1))
    return ws


def _rows(result, dim):
    return [(r["value"], r["customers"]) for r in result["dimensions"][dim]["rows"]]


def test_dimensions_by_hand(may):
    result = analysis.dimensions(may)
    assert result["customers"] == 6
    assert _rows(result, "gender") == [("女", 3), ("男", 3)]
    assert _rows(result, "city_tier") == [("一线", 4), ("新一线", 2)]
    assert _rows(result, "orders_per_customer") == [("0次", 2), ("1次", 1), ("2次", 2), ("3-5次", 1)]
    products = result["dimensions"]["product_preference"]
    assert products["chart"]["type"] == "bar+line"
    assert products["rows"][0] == {"product": "P4", "orders": 2, "avg_price": None}  # B's two orders of P4


def test_dimensions_of_a_segment(may):
    result = analysis.dimensions(may, "gender = '女'")
    assert result["customers"] == 3
    assert _rows(result, "city_tier") == [("一线", 2), ("新一线", 1)]  # B 北京, E 深圳; C 杭州
    fine = analysis.dimensions(may, None, "fine")
    assert "年龄段(细分)" in fine["dimensions"] and "age_band" not in fine["dimensions"]
    with pytest.raises(InputError, match="unknown field 'sex'"):
        analysis.dimensions(may, "sex = '女'")


def test_cohort_retention_by_hand(may):
    result = analysis.cohorts(may, 3)
    got = {c["cohort"]: (c["customers"], c["retention"]) for c in result["cohorts"]}
    # A first bought in Feb and again in May (k=3); B and F first in May, B again in July (k=2); C first in June
    assert got == {
        "2024-02": (1, [1.0, 0.0, 0.0, 1.0]),
        "2024-05": (2, [1.0, 0.0, 0.5, 0.0]),
        "2024-06": (1, [1.0, 0.0, 0.0, 0.0]),
    }


def test_channel_table_by_hand(may):
    result = analysis.channels(may)
    assert result["channels"] == [
        {
            "channel": "搜索",
            "uv": 200,
            "clicks": 100,
            "orders": 20,
            "conversion_rate": 0.1,
            "cost": 400.0,
            "revenue": 2000.0,
            "roi": 4.0,
        },
        {
            "channel": "直播",
            "uv": 50,
            "clicks": 20,
            "orders": 0,
            "conversion_rate": 0.0,
            "cost": 100.0,
            "revenue": 0.0,
            "roi": -1.0,
        },
    ]
    assert analysis.channels(may, "2024-05-02", "2024-05-31")["channels"][0]["uv"] == 100


def test_analyze_cli(may):
    out = subprocess.run(
        [PORTRAIT, "analyze", "dimensions", "--rule", "age < 30", "--workspace", str(may.path), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["customers"] == 2


def test_funnel_by_hand(may):
    result = analysis.funnel(may)
    # first pv: A 04-30, B 05-05, C 04-25, F 05-02; only A carts (05-03 09:05), then buys at 10:00 (O2) and
    # again on 05-20 (O3), both within 30 days of the first pv
    assert [(t["step"], t["customers"]) for t in result["steps"]] == [
        ("pv", 4),
        ("cart", 1),
        ("purchase", 1),
        ("repurchase", 1),
    ]
    assert result["biggest_drop"] == {"from": "pv", "to": "cart", "lost_share": 0.75}
    short = analysis.funnel(may, ["pv", "cart", "purchase", "repurchase"], window_days=5)
    assert [t["customers"] for t in short["steps"]] == [4, 1, 1, 0]  # O3 is 20 days after the first pv
    women = analysis.funnel(may, ["pv", "fav"], rule="gender = '女'")
    assert [t["customers"] for t in women["steps"]] == [2, 0]  # B and C view; C's fav (05-28) is 33 days on
    women = analysis.funnel(may, ["pv", "fav"], window_days=60, rule="gender = '女'")
    assert [t["customers"] for t in women["steps"]] == [2, 1]


def test_funnel_bad_steps(may):
    with pytest.raises(InputError, match="unknown funnel step 'teleport'"):
        analysis.funnel(may, ["pv", "teleport"])
    with pytest.raises(InputError, match="at least two steps"):
        analysis.funnel(may, ["pv"])
    never = analysis.funnel(may, ["pv", "pay"])
    assert never["steps"][1]["customers"] == 0 and never["biggest_drop"]["lost_share"] == 1.0
