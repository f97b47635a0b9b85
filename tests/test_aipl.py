"""AIPL lifecycle by hand: stages of seven customers in two 30-day periods, and the flows between them."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from portrait import aipl
from portrait.cli import app
from portrait.config import AiplConfig
from portrait.errors import InputError
from portrait.ingest.job import import_files
from portrait.refresh import refresh
from portrait.workspace import init_workspace
from tests.conftest import set_config
from tests.shops import write

PORTRAIT = str(Path(sys.executable).with_name("portrait"))

# As of 2024-07-01 with 30-day periods: previous = 05-02 … 05-31, current = 06-01 … 06-30.
#        previous period                         current period
#   a    1 paid order               → P          2 paid orders            → L
#   b    pv on one day              → A          a fav                    → I
#   c    pv on three days           → I          nothing                  → 无
#   d    nothing                    → 无         1 paid order (黄金)      → P (L when 黄金 is a loyal level)
#   e    2 paid orders              → L          a refunded order, a pv   → A
#   f    a consultation             → I          pv on two days           → A
#   g    nothing                    → 无         nothing                  → 无
CUSTOMERS = [["客户ID", "会员等级", "注册时间"]] + [
    [u, "黄金" if u == "d" else "普通", "2024-01-01"] for u in "abcdefg"
]
ORDERS = [
    ["订单号", "客户ID", "下单时间", "订单金额", "订单状态"],
    ["a1", "a", "2024-05-20 10:00:00", "100", "paid"],
    ["a2", "a", "2024-06-03 10:00:00", "100", "paid"],
    ["a3", "a", "2024-06-20 10:00:00", "100", "paid"],
    ["d1", "d", "2024-06-15 10:00:00", "100", "paid"],
    ["e1", "e", "2024-05-05 10:00:00", "100", "paid"],
    ["e2", "e", "2024-05-25 10:00:00", "100", "paid"],
    ["e3", "e", "2024-06-12 10:00:00", "100", "refunded"],
    ["x1", "a", "2024-04-01 10:00:00", "100", "paid"],  # before both periods
]
EVENTS = [
    ["客户ID", "行为类型", "行为时间"],
    ["b", "pv", "2024-05-10 10:00:00"],
    ["b", "fav", "2024-06-05 10:00:00"],
    ["c", "pv", "2024-05-03 10:00:00"],
    ["c", "pv", "2024-05-04 10:00:00"],
    ["c", "pv", "2024-05-05 10:00:00"],
    ["e", "pv", "2024-06-10 10:00:00"],
    ["f", "pv", "2024-06-01 10:00:00"],
    ["f", "pv", "2024-06-02 10:00:00"],
    ["g", "pv", "2024-04-01 10:00:00"],  # before both periods
]
SERVICE = [["客户ID", "服务时间", "类型"], ["f", "2024-05-15 10:00:00", "consult"]]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("aipl")
    ws = init_workspace(folder / "ws")
    import_files(ws, "customers", [write(folder / "c.csv", CUSTOMERS)])
    import_files(ws, "orders", [write(folder / "o.csv", ORDERS)])
    import_files(ws, "events", [write(folder / "e.csv", EVENTS)])
    import_files(ws, "interactions", [write(folder / "s.csv", SERVICE)])
    refresh(ws, date(2024, 7, 1))
    return ws


def _counts(result):
    return {s["stage"]: (s["previous"], s["current"]) for s in result["stages"]}


def test_stages_and_flows_by_hand(shop):
    result = aipl.aipl(shop)
    assert result["periods"] == {
        "previous": {"start": "2024-05-02", "end": "2024-05-31"},
        "current": {"start": "2024-06-01", "end": "2024-06-30"},
    }
    assert result["customers"] == 7
    assert _counts(result) == {"A": (1, 2), "I": (2, 1), "P": (1, 1), "L": (1, 1), "无": (2, 2)}
    assert {(f["from"], f["to"]): f["customers"] for f in result["flows"]} == {
        ("P", "L"): 1,  # a
        ("A", "I"): 1,  # b
        ("I", "无"): 1,  # c
        ("无", "P"): 1,  # d
        ("L", "A"): 1,  # e
        ("I", "A"): 1,  # f
        ("无", "无"): 1,  # g
    }
    assert result["matrix"]["P"]["L"] == 1 and result["matrix"]["A"]["A"] == 0
    names = {n["id"]: n["name"] for n in result["sankey"]["nodes"]}
    links = {(names[x["source"]], names[x["target"]]): x["value"] for x in result["sankey"]["links"]}
    assert links[("上期:P", "本期:L")] == 1 and ("上期:无", "本期:无") not in links and len(links) == 6


def test_rules_come_from_the_config(shop, tmp_path):
    text = (shop.path / "portrait.toml").read_text(encoding="utf-8")
    custom = set_config(
        shop,
        text.replace("loyal_member_levels = []", 'loyal_member_levels = ["黄金"]').replace(
            "interest_consultations = true", "interest_consultations = false"
        ),
    )
    try:
        result = aipl.aipl(custom)
        # d buys at level 黄金 → L; f's consultation no longer counts and f has no event before June → 无
        assert _counts(result) == {"A": (1, 2), "I": (1, 1), "P": (1, 0), "L": (1, 2), "无": (3, 2)}
        assert "黄金" in result["rules"]["L"]
    finally:
        set_config(shop, text)


def test_period_length_end_and_segment(shop):
    short = aipl.aipl(shop, end="2024-06-10", period_days=10)  # previous 05-22 … 05-31, current 06-01 … 06-10
    # previous: only e's 05-25 order (a's is on 05-20); current: a's 06-03 order, b's fav, e and f visit
    assert _counts(short) == {"A": (0, 2), "I": (0, 1), "P": (1, 1), "L": (0, 0), "无": (6, 3)}
    gold = aipl.aipl(shop, rule="member_level = '黄金'")
    assert gold["customers"] == 1 and gold["flows"] == [{"from": "无", "to": "P", "customers": 1}]
    nobody = aipl.aipl(shop, rule="member_level = '钻石'")
    assert nobody["customers"] == 0 and nobody["message"] == "no customers in this segment"


def test_bad_input(shop):
    with pytest.raises(InputError, match="after the snapshot's last day"):
        aipl.aipl(shop, end="2024-07-01")
    with pytest.raises(InputError, match="at least 1 day"):
        aipl.aipl(shop, period_days=0)
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        aipl.aipl(shop, end="June")


def test_aipl_cli_json(shop):
    out = subprocess.run(
        [PORTRAIT, "analyze", "aipl", "--workspace", str(shop.path), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert _counts(json.loads(out.stdout))["L"] == (1, 1)
    bad = CliRunner().invoke(app, ["analyze", "aipl", "--days", "0", "--workspace", str(shop.path), "--json"])
    assert bad.exit_code == 2 and "at least 1 day" in bad.output


def _reference_stage(orders, visit_days, interest, consults, level, cfg):
    if orders >= cfg.loyal_min_orders or (orders >= 1 and level in cfg.loyal_member_levels):
        return "L"
    if orders >= 1:
        return "P"
    if interest > 0 or visit_days >= cfg.interest_min_visit_days or (cfg.interest_consultations and consults > 0):
        return "I"
    return "A" if visit_days >= 1 else "无"


ENGINE = duckdb.connect()  # one in-memory engine for every example
counts = st.tuples(
    st.integers(0, 4), st.integers(0, 5), st.integers(0, 3), st.integers(0, 2), st.sampled_from(["普通", "黄金"])
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(counts, min_size=1, max_size=20),
    st.integers(2, 3),
    st.integers(1, 4),
    st.booleans(),
    st.lists(st.sampled_from(["黄金", "钻石"]), max_size=2, unique=True),
)
def test_stage_rule_is_the_highest_that_holds(rows, loyal, visits, consult, levels):
    cfg = AiplConfig(
        loyal_min_orders=loyal,
        interest_min_visit_days=visits,
        interest_consultations=consult,
        loyal_member_levels=levels,
    )
    sql = aipl.stage_sql("o", "v", "i", "s", "lvl", cfg)
    values = ", ".join(f"({o}, {v}, {i}, {c}, '{lvl}', {k})" for k, (o, v, i, c, lvl) in enumerate(rows))
    got = [
        r[0] for r in ENGINE.execute(f"SELECT {sql} FROM (VALUES {values}) t(o, v, i, s, lvl, k) ORDER BY k").fetchall()
    ]
    assert got == [_reference_stage(*r, cfg) for r in rows]


def test_unknown_interest_behaviour_is_refused_when_the_workspace_opens(tmp_path):
    from portrait.config import load_config
    from portrait.errors import ConfigError

    path = tmp_path / "portrait.toml"
    path.write_text('[aipl]\nperiod_days = 30\ninterest_behaviors = ["fav", "wish"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"portrait.toml: setting 'aipl.interest_behaviors.1': Input should be 'pv'"):
        load_config(path)
