"""Refresh as snapshots: the customer table, a failed or killed refresh changes nothing, one at a time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from portrait import snapshots
from portrait.errors import InputError, WorkspaceError
from portrait.refresh import PAUSE_ENV, RefreshError, refresh, status
from portrait.rfm import GROUPS
from tests.shops import load_may_shop, load_rfm_shop

PORTRAIT = str(Path(sys.executable).with_name("portrait"))


def _table(ws, sql):
    with snapshots.reader(ws) as (con, _):
        return con.execute(sql).fetchall()


def test_customer_table_features_by_hand(ws, tmp_path):
    load_may_shop(ws, tmp_path)
    result = refresh(ws, date(2024, 9, 1))
    assert result["snapshot"]["id"] == 1 and set(result["stages"]) == {
        "facts",
        "customer_table",
        "rfm",
        "models",
        "scores",
        "tags",
    }
    rows = _table(
        ws,
        "SELECT user_id, frequency, monetary, recency_days, orders_180d, refunds, coupon_share, favourite_category, "
        "visits_30d, age_band, city_tier, repurchase_cycle_days, order_hour FROM customer_table ORDER BY user_id",
    )
    assert rows == [
        # A: 3 paid orders 100+200+300, last 05-20 → 104 days before 09-01; gaps 92 and 17 days → 54.5
        ("A", 3, 600.0, 104, 2, 0, 1 / 3, "手机", 0, "26-35岁", "一线", 54.5, 10),
        ("B", 2, 130.0, 62, 2, 0, 1.0, "美妆", 0, "18-25岁", "一线", 56.0, 9),
        ("C", 1, 60.0, 83, 1, 0, 0.0, "食品", 0, "36-45岁", "新一线", None, 12),
        ("D", 0, 0.0, None, 0, 1, None, None, 0, "26-35岁", "新一线", None, None),
        ("E", 0, 0.0, None, 0, 0, None, None, 0, "46岁以上", "一线", None, None),
        ("F", 2, 180.0, 99, 2, 0, 0.0, "服饰", 0, "18-25岁", "一线", 23.0, 20),
    ]


def test_refresh_errors_are_clear_and_change_nothing(ws, tmp_path):
    with pytest.raises(InputError, match="the warehouse is empty"):
        refresh(ws)
    load_may_shop(ws, tmp_path)
    with pytest.raises(InputError, match="as-of date 2020-01-01 is before all data"):
        refresh(ws, date(2020, 1, 1))
    assert refresh(ws)["as_of"] == "2024-07-02"  # the day after the last activity (order O5)
    (ws.path / "tags.yaml").write_text(
        "tags:\n  - name: 坏标签\n    category: behavior\n    kind: rule\n    values:\n"
        '      - {value: x, when: "no_such_field > 1"}\n',
        encoding="utf-8",
    )
    with pytest.raises(
        RefreshError, match=r"at stage tags: .*unknown field 'no_such_field'.*snapshot #1 .* stays in use"
    ):
        refresh(ws, date(2024, 9, 1))
    info = status(ws)
    assert info["snapshot"]["id"] == 1 and info["snapshot"]["as_of"] == "2024-07-02"
    assert info["last_refresh"]["status"] == "failed" and info["last_refresh"]["stage"] == "tags"
    assert "no_such_field" in info["last_refresh"]["message"]
    assert not list(snapshots.folder(ws).glob("*.partial*"))
    (ws.path / "tags.yaml").unlink()
    assert refresh(ws, date(2024, 9, 1))["snapshot"]["id"] == 2


@pytest.mark.parametrize("stage", ["facts", "customer_table", "tags"])
def test_a_killed_refresh_leaves_the_last_snapshot_and_blocks_nothing(ws, tmp_path, stage):
    load_may_shop(ws, tmp_path)
    refresh(ws, date(2024, 8, 1))
    before = _table(ws, "SELECT * FROM customer_table ORDER BY user_id")
    env = {**os.environ, PAUSE_ENV: stage}
    proc = subprocess.Popen(
        [PORTRAIT, "refresh", "--as-of", "2024-09-01", "--workspace", str(ws.path), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    marker = ws.path / f"refresh-paused-at-{stage}"
    deadline = time.monotonic() + 120  # a busy machine may take a while to reach the stage
    while time.monotonic() < deadline and proc.poll() is None:
        if marker.exists():
            break
        time.sleep(0.05)
    if not marker.exists():
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the refresh never paused: {err.decode()}")
    # while it runs: readers answer from the last good snapshot, a second refresh is refused
    rfm = subprocess.run([PORTRAIT, "rfm", "--workspace", str(ws.path), "--json"], capture_output=True, text=True)
    assert rfm.returncode == 0 and json.loads(rfm.stdout)["as_of"] == "2024-08-01"
    with pytest.raises(WorkspaceError, match="a refresh is running already"):
        refresh(ws, date(2024, 9, 1))
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert snapshots.current(ws).as_of == "2024-08-01"
    assert _table(ws, "SELECT * FROM customer_table ORDER BY user_id") == before
    assert status(ws)["last_refresh"]["status"] == "running"  # the killed job never finished
    assert refresh(ws, date(2024, 9, 1))["snapshot"]["id"] == 2
    assert not list(snapshots.folder(ws).glob("*.partial*"))


def test_rfm_groups_and_thresholds_by_hand(ws, tmp_path):
    load_rfm_shop(ws, tmp_path)
    refresh(ws, date(2024, 7, 1))
    rows = _table(
        ws,
        "SELECT user_id, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_group FROM rfm ORDER BY user_id",
    )
    assert rows == [
        ("u1", 10, 1, 500.0, 5, 1, 5, "重要发展客户"),
        ("u2", 20, 5, 400.0, 4, 5, 4, "重要价值客户"),
        ("u3", 30, 3, 300.0, 3, 3, 3, "一般挽留客户"),  # 3 is not above the average 3
        ("u4", 40, 4, 100.0, 2, 4, 1, "一般保持客户"),
        ("u5", 50, 2, 200.0, 1, 2, 2, "一般挽留客户"),
    ]
    cuts = _table(ws, "SELECT r_cuts, f_cuts, m_cuts, r_average FROM rfm_thresholds")[0]
    assert cuts == ([18.0, 26.0, 34.0, 42.0], [1.8, 2.6, 3.4, 4.2], [180.0, 260.0, 340.0, 420.0], 3.0)
    cli = subprocess.run(
        [PORTRAIT, "rfm", "--workspace", str(ws.path), "--json"], capture_output=True, text=True, check=True
    )
    summary = json.loads(cli.stdout)
    assert list(summary["groups"]) == list(GROUPS.values())
    assert summary["groups"]["一般挽留客户"]["customers"] == 2
    assert summary["groups"]["一般挽留客户"]["avg_monetary"] == 250.0


def test_radar_scores_are_0_to_100_and_ordered(ws, tmp_path):
    load_rfm_shop(ws, tmp_path)
    refresh(ws, date(2024, 7, 1))
    rows = _table(ws, "SELECT user_id, consumption_score, loyalty_score FROM scores ORDER BY user_id")
    # consumption = 100·(0.6·pr(monetary_180d) + 0.4·pr(avg order value)); pr over 5 customers: 0, .25, .5, .75, 1
    # u1: monetary_180d 500 (pr 1), aov 500 (pr 1) → 100; u4: 100 (pr 0), aov 25 (pr 0) → 0
    # aov: u4 25 (pr 0), u2 80 (.25), u3 and u5 100 (tie: both .5), u1 500 (1)
    assert dict((u, c) for u, c, _ in rows) == {"u1": 100, "u2": 55, "u3": 50, "u4": 0, "u5": 35}
    assert all(0 <= loyal <= 100 for _, _, loyal in rows)
