"""Behaviour trajectories by hand: sessions, entry and exit pages, Sankey flows, browse and favourite volume."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portrait import journeys
from portrait.errors import InputError
from portrait.ingest.job import import_files
from portrait.refresh import refresh
from portrait.workspace import init_workspace
from tests.shops import write

PORTRAIT = str(Path(sys.executable).with_name("portrait"))

# Sessions (gap 30 minutes), counted by hand:
#   u1 s1 05-01 10:00 首页 (搜索) → 10:10 商品详情页 → 10:20 购物车            entry 首页, exit 购物车, 3 events
#   u1 s2 05-01 11:00 首页 (直播) → 11:05 商品详情页 [40 min after 10:20]      entry 首页, exit 商品详情页
#   u1 s3 05-10 09:00 首页 (搜索)                                              single event
#   u2 s1 05-01 09:00 活动页 (直播)                                            single event
#   u2 s2 05-03 20:00 首页 (no referrer: 未知) → 20:30 (exactly 30 min) 商品详情页 → 20:31 fav 商品详情页
#   u4 s1 05-02 08:00 搜索页 (搜索); u4 s2 08:45 搜索页 (搜索) [45 min later]  two single events
JOURNEY_CUSTOMERS = [
    ["客户ID", "性别", "注册时间"],
    ["u1", "男", "2024-01-01"],
    ["u2", "女", "2024-01-01"],
    ["u4", "女", "2024-01-01"],
]
JOURNEY_EVENTS = [
    ["客户ID", "行为类型", "行为时间", "页面", "来源"],
    ["u1", "pv", "2024-05-01 10:00:00", "首页", "搜索"],
    ["u1", "pv", "2024-05-01 10:10:00", "商品详情页", "搜索"],
    ["u1", "cart", "2024-05-01 10:20:00", "购物车", "搜索"],
    ["u1", "pv", "2024-05-01 11:00:00", "首页", "直播"],
    ["u1", "fav", "2024-05-01 11:05:00", "商品详情页", "直播"],
    ["u1", "pv", "2024-05-10 09:00:00", "首页", "搜索"],
    ["u2", "pv", "2024-05-01 09:00:00", "活动页", "直播"],
    ["u2", "pv", "2024-05-03 20:00:00", "首页", ""],
    ["u2", "pv", "2024-05-03 20:30:00", "商品详情页", ""],
    ["u2", "fav", "2024-05-03 20:31:00", "商品详情页", ""],
    ["u4", "pv", "2024-05-02 08:00:00", "搜索页", "搜索"],
    ["u4", "pv", "2024-05-02 08:45:00", "搜索页", "搜索"],
    ["u1", "pv", "2024-05-20 09:00:00", "首页", "搜索"],  # outside the range of most tests
]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("journeys")
    ws = init_workspace(folder / "ws")
    import_files(ws, "customers", [write(folder / "c.csv", JOURNEY_CUSTOMERS)])
    import_files(ws, "events", [write(folder / "e.csv", JOURNEY_EVENTS)])
    refresh(ws, date(2024, 6, 1))
    return ws


def _pairs(rows, key):
    return [(r[key], r["sessions"]) for r in rows]


def test_sessions_entry_and_exit_pages_by_hand(shop):
    result = journeys.paths(shop, "2024-05-01", "2024-05-10")
    assert result["sessions"] == 7 and result["customers"] == 3
    assert result["events_per_session"] == pytest.approx(12 / 7)
    assert result["bounce_rate"] == pytest.approx(4 / 7)  # u1 s3, u2 s1, u4 s1, u4 s2
    assert _pairs(result["entry_pages"], "page") == [("首页", 4), ("搜索页", 2), ("活动页", 1)]
    assert _pairs(result["exit_pages"], "page") == [
        ("商品详情页", 2),
        ("搜索页", 2),
        ("活动页", 1),  # ties in code-point order
        ("购物车", 1),
        ("首页", 1),
    ]
    assert _pairs(result["sources"], "source") == [("搜索", 4), ("直播", 2), ("未知", 1)]
    assert result["entry_pages"][0]["share"] == pytest.approx(4 / 7)


def test_flows_fold_the_rest_into_other(shop):
    flows = journeys.paths(shop, "2024-05-01", "2024-05-10", top=2)["flows"]
    names = [n["name"] for n in flows["nodes"]]
    links = {(names[link["source"]], names[link["target"]]): link["value"] for link in flows["links"]}
    # top 2 per layer: sources 搜索 直播 (未知 → 其他); entries 首页 搜索页 (活动页 → 其他);
    # exits 商品详情页 搜索页 (2 each; 购物车, 首页, 活动页 → 其他)
    assert links == {
        ("来源:搜索", "入口:首页"): 2,
        ("来源:搜索", "入口:搜索页"): 2,
        ("来源:直播", "入口:首页"): 1,
        ("来源:直播", "入口:其他"): 1,
        ("来源:其他", "入口:首页"): 1,
        ("入口:首页", "退出:其他"): 2,
        ("入口:首页", "退出:商品详情页"): 2,
        ("入口:搜索页", "退出:搜索页"): 2,
        ("入口:其他", "退出:其他"): 1,
    }
    by_name = {n["name"]: n["sessions"] for n in flows["nodes"]}
    assert by_name["入口:首页"] == 4 and by_name["退出:其他"] == 3


def test_session_gap_range_and_segment(shop):
    longer = journeys.paths(shop, "2024-05-01", "2024-05-10", gap_minutes=60)
    assert longer["sessions"] == 5  # u1 s1+s2 join (40 min), u4's two join (45 min)
    assert journeys.paths(shop, "2024-05-01", "2024-05-02")["sessions"] == 5  # u1 s1 s2, u2 s1, u4 ×2
    women = journeys.paths(shop, "2024-05-01", "2024-05-10", rule="gender = '女'")
    assert (women["sessions"], women["customers"]) == (4, 2)
    default = journeys.paths(shop)  # the 30 days before the as-of date 2024-06-01
    assert (default["start"], default["end"], default["sessions"]) == ("2024-05-02", "2024-05-31", 5)
    empty = journeys.paths(shop, "2024-04-01", "2024-04-30")
    assert empty["sessions"] == 0 and empty["flows"] == {"nodes": [], "links": []} and "no events" in empty["message"]


def test_volume_per_day_and_week(shop):
    days = journeys.volume(shop, "2024-05-01", "2024-05-04")
    assert [(r["period"], r["pv"], r["fav"], r["visitors"]) for r in days["rows"]] == [
        ("2024-05-01", 4, 1, 2),
        ("2024-05-02", 2, 0, 1),
        ("2024-05-03", 2, 1, 1),
        ("2024-05-04", 0, 0, 0),
    ]
    weeks = journeys.volume(shop, "2024-05-01", "2024-05-12", grain="week")  # 05-01 is a Wednesday
    assert [(r["period"], r["pv"], r["fav"], r["visitors"]) for r in weeks["rows"]] == [
        ("2024-04-29", 8, 2, 3),
        ("2024-05-06", 1, 0, 1),
    ]
    assert journeys.volume(shop, "2024-05-01", "2024-05-31", rule="gender = '男'")["totals"] == {"pv": 5, "fav": 1}


def test_bad_input_is_one_line(shop):
    with pytest.raises(InputError, match="grain 'month'"):
        journeys.volume(shop, grain="month")
    with pytest.raises(InputError, match="after the end"):
        journeys.paths(shop, "2024-05-10", "2024-05-01")
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        journeys.paths(shop, "May 1st")
    with pytest.raises(InputError, match="unknown field"):
        journeys.paths(shop, rule="colour = 'red'")
    with pytest.raises(InputError, match="session gap"):
        journeys.paths(shop, gap_minutes=0)


def test_paths_cli_json(shop):
    out = subprocess.run(
        [PORTRAIT, "analyze", "paths", "--from", "2024-05-01", "--to", "2024-05-10", "--top", "2"]
        + ["--workspace", str(shop.path), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    assert result["sessions"] == 7 and len(result["entry_pages"]) == 3  # 首页, 搜索页, 其他
    assert result["volume"]["totals"] == {"pv": 9, "fav": 2}


flow_rows = st.lists(
    st.tuples(st.sampled_from("abcde"), st.sampled_from("fghij"), st.sampled_from("klmno"), st.integers(1, 50)),
    max_size=30,
    unique_by=lambda r: r[:3],
)


@settings(max_examples=60, deadline=None)
@given(flow_rows, st.integers(1, 6))
def test_sankey_conserves_sessions(flows, top):
    data = journeys.sankey(flows, top)
    total = sum(r[3] for r in flows)
    layer_of = {n["id"]: n["layer"] for n in data["nodes"]}
    into_entry = sum(link["value"] for link in data["links"] if layer_of[link["target"]] == "entry")
    into_exit = sum(link["value"] for link in data["links"] if layer_of[link["target"]] == "exit")
    assert into_entry == into_exit == total
    for layer in ("source", "entry", "exit"):
        nodes = [n for n in data["nodes"] if n["layer"] == layer]
        assert sum(n["sessions"] for n in nodes) == total
        assert len([n for n in nodes if n["label"] != journeys.OTHER]) <= top
    for node in data["nodes"]:  # what flows into an entry node flows out of it
        if node["layer"] == "entry":
            inflow = sum(link["value"] for link in data["links"] if link["target"] == node["id"])
            outflow = sum(link["value"] for link in data["links"] if link["source"] == node["id"])
            assert inflow == outflow == node["sessions"]


def test_events_of_a_merged_record_belong_to_the_survivor(ws, tmp_path):
    people = [
        ["客户ID", "手机号", "注册时间"],
        ["u5", "13912345678", "2023-01-01"],
        ["u6", "139 1234 5678", "2024-03-01"],
    ]
    import_files(ws, "customers", [write(tmp_path / "c.csv", people)])  # u6 merges into u5, the older record
    events = [
        ["客户ID", "行为类型", "行为时间", "页面", "来源"],
        ["u6", "pv", "2024-05-05 10:00:00", "首页", "搜索"],
        ["u5", "pv", "2024-05-05 10:10:00", "商品详情页", "直播"],
    ]
    import_files(ws, "events", [write(tmp_path / "e.csv", events)])
    refresh(ws, date(2024, 6, 1))
    result = journeys.paths(ws, "2024-05-05", "2024-05-05")
    assert (result["sessions"], result["customers"]) == (1, 1)  # one person, one session of two events
    assert result["entry_pages"][0]["page"] == "首页" and result["exit_pages"][0]["page"] == "商品详情页"
    assert result["sources"] == [{"source": "搜索", "sessions": 1, "share": 1.0}]


SESSION_ENGINE = duckdb.connect()  # one in-memory engine for every example


def _reference_sessions(events, gap_minutes):
    out, current = [], None
    for user, t, kind, page, source in sorted(events):
        if current and current[0] == user and t - current[-1][1] <= timedelta(minutes=gap_minutes):
            current.append((user, t, kind, page, source))
            continue
        if current:
            out.append(current[1:])
        current = [user, (user, t, kind, page, source)]
    if current:
        out.append(current[1:])
    return sorted((s[0][0], s[0][1], len(s), s[0][3], s[-1][3], s[0][4]) for s in out)


event_rows = st.lists(
    st.tuples(
        st.sampled_from(["u1", "u2", "u3"]),
        st.integers(0, 240).map(lambda m: datetime(2024, 5, 1) + timedelta(minutes=m)),
        st.sampled_from(["pv", "fav"]),
        st.sampled_from(["首页", "搜索页", "商品详情页"]),
        st.sampled_from(["搜索", "直播"]),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(event_rows, st.integers(1, 60))
def test_sessions_match_a_plain_python_sessioniser(events, gap):
    con = SESSION_ENGINE
    con.execute("CREATE OR REPLACE TABLE ev (user_id VARCHAR, t TIMESTAMP, kind VARCHAR, page VARCHAR, source VARCHAR)")
    if events:
        con.executemany("INSERT INTO ev VALUES (?, ?, ?, ?, ?)", events)
    journeys.build_sessions(con, "SELECT * FROM ev", gap)
    got = con.execute(
        "SELECT user_id, started, events, entry_page, exit_page, source FROM sessions ORDER BY ALL"
    ).fetchall()
    assert got == _reference_sessions(events, gap)
