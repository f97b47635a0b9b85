"""Key metrics against hand counts on the May shop (tests/shops.py), and period handling."""

from __future__ import annotations

from datetime import date

import pytest

from portrait.errors import InputError, NotFound
from portrait.metrics import metrics, parse_period, previous_period
from portrait.refresh import refresh
from tests.shops import load_may_shop


@pytest.fixture
def may(ws, tmp_path):
    load_may_shop(ws, tmp_path)
    refresh(ws, date(2024, 9, 1))
    return ws


def _values(result):
    return {k: (m["value"], m.get("numerator"), m.get("denominator")) for k, m in result["metrics"].items()}


def test_every_metric_matches_the_hand_count(may):
    got = _values(metrics(may, "2024-05"))
    assert got == {
        "visitors": (4, None, None),
        "new_visitors": (2, None, None),
        "returning_visitors": (2, None, None),
        "period_customers": (5, None, None),
        "new_customers": (2, None, None),
        "new_customer_ratio": (2 / 5, 2, 5),
        "active_customers": (3, None, None),
        "active_rate": (3 / 5, 3, 5),
        "buyers": (3, None, None),
        "orders": (5, None, None),
        "repurchase_customers": (2, None, None),
        "repurchase_rate": (2 / 3, 2, 3),
        "repurchase_rate_orders": (2 / 5, 2, 5),
        "new_buyers": (2, None, None),
        "retained_customers": (1, None, None),
        "retention_rate": (1 / 2, 1, 2),
        "churned_customers": (2, None, None),
        "churn_rate": (2 / 3, 2, 3),
        "avg_purchases": (5 / 3, 5, 3),
    }


def test_definitions_and_windows_are_printed_with_the_figures(may):
    result = metrics(may, "2024-05")
    assert result["metrics"]["retention_rate"]["window"] == "2024-06-01 … 2024-08-29"
    assert "within 90 days" in result["metrics"]["retained_customers"]["definition"]
    assert result["windows"]["returning_visit_days"] == 6
    assert result["period"] == {"name": "2024-05", "start": "2024-05-01", "end": "2024-05-31"}


def test_first_visit_and_first_order_in_different_periods(may):
    # C first visited in April and first bought in June: new visitor in April, new buyer in June
    april = _values(metrics(may, "2024-04"))
    june = _values(metrics(may, "2024-06"))
    assert april["new_visitors"][0] == 2  # A (04-30) and C (04-25)
    assert june["new_buyers"][0] == 1  # C
    assert june["buyers"][0] == 1 and june["visitors"][0] == 0


def test_a_period_with_no_activity_is_well_formed(may):
    got = _values(metrics(may, "2024-03"))
    assert got["visitors"] == (0, None, None)
    assert got["repurchase_rate"] == (None, 0, 0)
    assert got["churn_rate"] == (None, 0, 0)


def test_follow_up_after_the_as_of_date_is_not_measured(may):
    got = metrics(may, "2024-08")["metrics"]
    assert got["retention_rate"]["value"] is None
    assert "not measurable yet" in got["retention_rate"]["note"]


def test_month_on_month_and_year_on_year(may):
    result = metrics(may, "2024-05", ["mom", "yoy"])
    mom = result["compare"]["mom"]
    assert mom["period"] == {"name": "2024-05 −1m", "start": "2024-04-01", "end": "2024-04-30"}
    assert mom["metrics"]["visitors"] == {"value": 2, "change": {"absolute": 2, "relative": 1.0}}
    yoy = result["compare"]["yoy"]
    assert yoy["period"]["start"] == "2023-05-01"
    assert yoy["metrics"]["visitors"]["change"] == {"absolute": 4, "relative": None}


def test_custom_range_week_and_day(may):
    assert _values(metrics(may, "2024-05-01..2024-05-05"))["visitors"][0] == 3  # A 05-03, B 05-05, F 05-02
    assert _values(metrics(may, "2024-05-20"))["orders"][0] == 1
    assert _values(metrics(may, "2024-W19"))["visitors"][0] == 1  # 05-06 … 05-12: B


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2024-05", date(2024, 5, 1), date(2024, 6, 1)),
        ("2024-Q2", date(2024, 4, 1), date(2024, 7, 1)),
        ("2024-W01", date(2024, 1, 1), date(2024, 1, 8)),
        ("2024", date(2024, 1, 1), date(2025, 1, 1)),
        ("2024-02-29", date(2024, 2, 29), date(2024, 3, 1)),
        ("2024-01-30..2024-02-02", date(2024, 1, 30), date(2024, 2, 3)),
    ],
)
def test_periods_parse(text, start, end):
    p = parse_period(text)
    assert (p.start, p.end) == (start, end)


def test_previous_periods():
    assert previous_period(parse_period("2024-03"), "mom").start == date(2024, 2, 1)
    assert previous_period(parse_period("2024-03-31"), "yoy").start == date(2023, 3, 31)
    assert previous_period(parse_period("2024-02-29"), "yoy").start == date(2023, 2, 28)
    custom = previous_period(parse_period("2024-05-10..2024-05-19"), "mom")
    assert (custom.start, custom.end) == (date(2024, 4, 30), date(2024, 5, 10))


def test_bad_periods_and_missing_snapshot(ws, may):
    with pytest.raises(InputError, match="period '2024-13' is not understood"):
        metrics(may, "2024-13")
    with pytest.raises(InputError, match="ends after the snapshot's as-of date 2024-09-01"):
        metrics(may, "2024-09")
    with pytest.raises(InputError, match="unknown comparison 'wow'"):
        metrics(may, "2024-05", ["wow"])


def test_metrics_before_any_refresh_say_what_to_do(ws):
    with pytest.raises(NotFound, match="no refresh yet"):
        metrics(ws, "2024-05")
