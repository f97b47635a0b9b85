"""Campaign evaluation by hand: conversion, lift and its test, retention of new buyers, revenue and ROI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency

from portrait import campaigns
from portrait.demo import CAMPAIGN_ID, DEMO_AS_OF, write_demo_shop
from portrait.erasure import forget
from portrait.errors import InputError
from portrait.ingest.job import import_files
from portrait.refresh import refresh
from portrait.workspace import init_workspace, open_workspace
from tests.shops import write

PORTRAIT = str(Path(sys.executable).with_name("portrait"))

# Campaign CMP1 starts on 2024-06-01; window 30 days: after = 06-01 … 06-30, before = 05-02 … 05-31.
# Treatment t01 … t40 (实验组, 2.00 each), control c01 … c40 (对照组, no cost).
#   before: t01–t04 and c05–c08 buy (4/40 each);  after: t01–t12 buy (12/40), c01–c04 buy (4/40)
#   new buyers (first order ever in the after window): t05–t12 (8) and c01–c04 (4)
#   retained (another order within 90 days of the first, 06-10): t05 (07-10), t06 (08-01), t07 (09-08, day 90);
#   t08 comes back on 09-09 (day 91): not retained; c01 comes back 07-01. t13's after order is refunded.
TREATED = [f"t{i:02d}" for i in range(1, 41)]
CONTROL = [f"c{i:02d}" for i in range(1, 41)]


def _orders() -> list[list[str]]:
    rows = [["订单号", "客户ID", "下单时间", "订单金额", "订单状态"]]

    def buy(user: str, day: str, status: str = "paid") -> None:
        rows.append([f"{user}-{day}", user, f"{day} 10:00:00", "100", status])

    for u in TREATED[:4] + CONTROL[4:8]:
        buy(u, "2024-05-10")
    for u in TREATED[:12] + CONTROL[:4]:
        buy(u, "2024-06-10")
    buy("t13", "2024-06-10", "refunded")
    for u, day in (("t05", "2024-07-10"), ("t06", "2024-08-01"), ("t07", "2024-09-08"), ("t08", "2024-09-09")):
        buy(u, day)
    buy("c01", "2024-07-01")
    return rows


def _members(campaign: str, treated: list[str], control: list[str], cost: str = "2.00") -> list[list[str]]:
    rows = [[campaign, "6月复购券", u, "实验组", "2024-06-01", "2024-06-07", cost] for u in treated]
    return rows + [[campaign, "6月复购券", u, "对照组", "2024-06-01", "2024-06-07", "0"] for u in control]


CAMPAIGNS = (
    [["活动ID", "活动名称", "客户ID", "分组", "开始日期", "结束日期", "触达成本"]]
    + _members("CMP1", TREATED, CONTROL)
    + _members("SMALL", TREATED[:3], CONTROL[3:5])  # c04 buys after the start, c05 only before
    + _members("NOCONTROL", TREATED[:5], [])
    + [["CMP1", "6月复购券", "x99", "maybe", "2024-06-01", "2024-06-07", "1"]]  # quarantined: unknown group
)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("campaigns")
    ws = init_workspace(folder / "ws")
    import_files(ws, "orders", [write(folder / "o.csv", _orders())])
    report = import_files(ws, "campaigns", [write(folder / "m.csv", CAMPAIGNS)])
    assert report.totals["quarantined"] == 1 and "arm:unknown_value" in json.dumps(report.tables["campaigns"])
    refresh(ws, date(2024, 10, 1))
    return ws


def test_campaign_numbers_by_hand(shop):
    r = campaigns.campaign_report(shop, "CMP1")
    assert r["windows"] == {
        "before": {"start": "2024-05-02", "end": "2024-05-31"},
        "after": {"start": "2024-06-01", "end": "2024-06-30"},
    }
    t, c = r["groups"]["treatment"], r["groups"]["control"]
    assert (t["members"], t["buyers_before"], t["buyers_after"]) == (40, 4, 12)
    assert (c["members"], c["buyers_before"], c["buyers_after"]) == (40, 4, 4)
    assert r["treatment_before_after"] == pytest.approx({"before": 0.1, "after": 0.3, "change": 0.2})
    assert (t["new_buyers"], t["retained"], t["retention_rate"]) == (8, 3, 0.375)
    assert (c["new_buyers"], c["retained"], c["retention_rate"]) == (4, 1, 0.25)
    lift = r["lift"]
    assert lift["absolute"] == pytest.approx(0.2) and lift["relative"] == pytest.approx(2.0)
    assert lift["difference_in_differences"] == pytest.approx(0.2)
    # pooled p = 16/80 = 0.2, se = sqrt(0.2·0.8·(1/40 + 1/40)) = sqrt(0.008); z = 0.2 / 0.0894427 = 2.23607
    test = lift["test"]
    assert test["z"] == pytest.approx(2.236068, abs=1e-6)
    assert test["p_value"] == pytest.approx(0.025347, abs=1e-6)
    # Wald: se = sqrt(0.3·0.7/40 + 0.1·0.9/40) = sqrt(0.0075); half width 1.959964 × 0.0866025 = 0.169738
    assert (test["ci_low"], test["ci_high"]) == pytest.approx((0.030262, 0.369738), abs=1e-6)
    assert (r["revenue"], r["cost"], r["roi"]) == (1200.0, 80.0, 14.0)
    assert r["incremental_revenue"] == pytest.approx(800.0) and r["incremental_roi"] == pytest.approx(9.0)
    assert "message" not in r


def test_windows_are_options(shop):
    r = campaigns.campaign_report(shop, "CMP1", window_days=9, retention_days=30)
    # after = 06-01 … 06-09: nobody buys; before = 05-23 … 05-31: nobody either
    assert r["groups"]["treatment"]["buyers_after"] == 0 and r["lift"]["test"]["z"] is None
    assert "no variation" in r["message"]
    r = campaigns.campaign_report(shop, "CMP1", retention_days=30)
    assert r["groups"]["treatment"]["retained"] == 1  # only t05 (07-10) is back within 30 days


def test_small_groups_and_missing_control_say_so(shop):
    small = campaigns.campaign_report(shop, "SMALL")
    assert "groups too small for a test: treatment 3, control 2" in small["message"]
    assert "test" not in small["lift"] and small["lift"]["absolute"] == pytest.approx(1.0 - 0.5)
    alone = campaigns.campaign_report(shop, "NOCONTROL")
    assert alone["lift"] is None and "no control group" in alone["message"]
    assert alone["treatment_before_after"]["after"] == 1.0  # t01–t05 all buy on 06-10
    with pytest.raises(InputError, match="no campaign 'NOPE'; campaigns: CMP1, NOCONTROL, SMALL"):
        campaigns.campaign_report(shop, "NOPE")


def test_follow_up_cut_by_the_snapshot(shop, tmp_path):
    early = open_workspace(shop.path)
    refresh(early, date(2024, 8, 1))  # t06's 08-01 order is not seen, retention needs orders up to 09-28
    try:
        r = campaigns.campaign_report(early, "CMP1")
        assert r["groups"]["treatment"]["retained"] == 1
        assert "retention needs orders up to 2024-09-28" in r["message"]
    finally:
        refresh(early, date(2024, 10, 1))


def test_campaign_cli_json(shop):
    out = subprocess.run(
        [PORTRAIT, "analyze", "campaign", "CMP1", "--workspace", str(shop.path), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    assert result["lift"]["test"]["p_value"] == pytest.approx(0.025347, abs=1e-6) and result["roi"] == 14.0


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 400), st.integers(2, 400), st.data())
def test_z_test_agrees_with_scipy(n1, n2, data):
    x1 = data.draw(st.integers(0, n1))
    x2 = data.draw(st.integers(0, n2))
    test = campaigns.two_proportion_test(x1, n1, x2, n2)
    if test["z"] is None:  # no variation: all converted or none did
        assert x1 + x2 in (0, n1 + n2)
        return
    # a 2×2 chi-square without continuity correction is the square of the pooled z
    chi2, p, _, _ = chi2_contingency([[x1, n1 - x1], [x2, n2 - x2]], correction=False)
    assert test["z"] ** 2 == pytest.approx(chi2, rel=1e-9, abs=1e-12)
    assert test["p_value"] == pytest.approx(p, rel=1e-6, abs=1e-12)
    assert test["ci_low"] <= test["difference"] <= test["ci_high"]
    assert math.isclose(test["difference"], x1 / n1 - x2 / n2)


def test_forget_erases_campaign_membership(ws, tmp_path):
    target = "CUS-CAMPAIGN-ERASE-1"
    import_files(
        ws,
        "orders",
        [write(tmp_path / "o.csv", [["订单号", "客户ID", "下单时间", "订单金额"], ["O1", "k1", "2024-05-01", "10"]])],
    )
    rows = [
        ["活动ID", "客户ID", "分组", "开始日期"],
        ["CMP9", target, "treatment", "2024-05-01"],
        ["CMP9", "k1", "control", "2024-05-01"],
    ]
    import_files(ws, "campaigns", [write(tmp_path / "m.csv", rows)])
    refresh(ws, date(2024, 6, 1))
    before = campaigns.campaign_report(ws, "CMP9")  # the file had no cost column
    assert before["cost"] is None and before["roi"] is None and "carry no cost" in before["message"]
    ws.store.add_user("admin1", "admin")
    result = forget(open_workspace(ws.path, actor="admin1"), target)
    assert result["rows"]["campaigns"] == 1
    files = b"".join(p.read_bytes() for p in sorted(ws.path.rglob("*")) if p.is_file())
    assert target.encode() not in files and b"CMP9" in files
    with pytest.raises(InputError, match="no treatment group"):  # the only treated member is gone
        campaigns.campaign_report(ws, "CMP9")


def test_demo_campaign_lifts_conversion(tmp_path):
    files = write_demo_shop(tmp_path / "demo", 2000, seed=7, events_per_customer=0)
    ws = init_workspace(tmp_path / "ws")
    for table in ("customers", "orders", "campaigns"):
        import_files(ws, table, [files[table]])
    refresh(ws, DEMO_AS_OF)
    r = campaigns.campaign_report(ws, CAMPAIGN_ID)
    t, c = r["groups"]["treatment"], r["groups"]["control"]
    assert r["start_date"] == "2024-09-01" and t["members"] > c["members"] >= 100
    assert t["conversion_after"] > c["conversion_after"] and r["lift"]["test"]["p_value"] < 0.05
    assert r["cost"] == 3.0 * t["members"] and "message" not in r
