"""Key customer metrics (DOMAIN.md §4) for a period, with month-on-month and year-on-year comparison.

Every metric comes back with its value, numerator, denominator, the definition in words and the
windows used, so a person can check it by hand. They read the current snapshot: order-level
facts (an order fully refunded is no purchase), daily visits, and each customer's first visit,
registration and first purchase ever (before the snapshot's as-of date).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import duckdb

from portrait import snapshots
from portrait.errors import InputError
from portrait.workspace import Workspace


@dataclass(frozen=True)
class Period:
    """A half-open range of days [start, end) with the name the user gave it."""

    name: str
    start: date
    end: date  # exclusive
    kind: str  # day / week / month / quarter / year / custom

    @property
    def days(self) -> int:
        """Length in days."""
        return (self.end - self.start).days

    def label(self) -> str:
        """``2024-05 (2024-05-01 … 2024-05-31)``."""
        return f"{self.name} ({self.start} … {self.end - timedelta(days=1)})"


def _add_months(d: date, months: int) -> date:
    month = d.month - 1 + months
    year = d.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def parse_period(text: str) -> Period:
    """Parse 2024-05, 2024-05-03, 2024-W18, 2024-Q2, 2024 or 2024-05-01..2024-05-31 (inclusive)."""
    t = text.strip()
    try:
        if ".." in t:
            a, b = (date.fromisoformat(x.strip()) for x in t.split("..", 1))
            if b < a:
                raise InputError(f"period '{text}': the end {b} is before the start {a}")
            return Period(t, a, b + timedelta(days=1), "custom")
        if m := re.fullmatch(r"(\d{4})-[Ww](\d{1,2})", t):
            start = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
            return Period(t, start, start + timedelta(days=7), "week")
        if m := re.fullmatch(r"(\d{4})-[Qq]([1-4])", t):
            start = date(int(m.group(1)), 3 * int(m.group(2)) - 2, 1)
            return Period(t, start, _add_months(start, 3), "quarter")
        if m := re.fullmatch(r"(\d{4})-(\d{1,2})", t):
            start = date(int(m.group(1)), int(m.group(2)), 1)
            return Period(t, start, _add_months(start, 1), "month")
        if re.fullmatch(r"\d{4}", t):
            start = date(int(t), 1, 1)
            return Period(t, start, date(start.year + 1, 1, 1), "year")
        day = date.fromisoformat(t)
        return Period(t, day, day + timedelta(days=1), "day")
    except ValueError:
        raise InputError(
            f"period '{text}' is not understood; write 2024-05, 2024-05-03, 2024-W18, 2024-Q2, 2024 "
            "or 2024-05-01..2024-05-31"
        ) from None


def previous_period(p: Period, how: str) -> Period:
    """The comparison period: ``mom`` the one just before, ``yoy`` the same one a year earlier."""
    if how == "yoy":
        start, end = _add_months(p.start, -12), _add_months(p.end, -12)
        return Period(f"{p.name} −1y", start, end, p.kind)
    if how == "mom":
        if p.kind == "month":
            return Period(f"{p.name} −1m", _add_months(p.start, -1), p.start, p.kind)
        if p.kind == "quarter":
            return Period(f"{p.name} −1q", _add_months(p.start, -3), p.start, p.kind)
        if p.kind == "year":
            return Period(f"{p.name} −1y", _add_months(p.start, -12), p.start, p.kind)
        return Period(f"{p.name} −prev", p.start - timedelta(days=p.days), p.start, p.kind)
    raise InputError(f"unknown comparison '{how}': use mom, yoy or both (mom,yoy)")


DEFINITIONS = {
    "visitors": ("访客数", "distinct customers with any behaviour event in the period"),
    "new_visitors": ("新访客数", "visitors whose first visit ever falls in the period"),
    "returning_visitors": ("回访客数", "visitors who came back within {returning} days of an earlier visit"),
    "period_customers": ("期内客户数", "customers who visited, ordered or registered in the period"),
    "new_customers": ("新客户数", "customers whose first contact (first visit or registration) falls in the period"),
    "new_customer_ratio": ("新客户比例", "new customers / customers of the period"),
    "active_customers": ("活跃客户数", "customers who bought in the period{active_visits}"),
    "active_rate": ("活跃客户率", "active customers / customers of the period"),
    "buyers": ("购买客户数", "customers with at least one purchase (an order not fully refunded) in the period"),
    "orders": ("订单数", "purchases (orders not fully refunded) in the period"),
    "repurchase_customers": ("复购客户数", "customers with more than one purchase in the period"),
    "repurchase_rate": ("复购率(按客户)", "repurchase customers / buyers"),
    "repurchase_rate_orders": (
        "复购率(按订单)",
        "repeat orders (each buyer's orders after the first in the period) / orders",
    ),
    "new_buyers": ("新购买客户数", "customers whose first purchase ever falls in the period"),
    "retained_customers": ("留存客户数", "new buyers of the period who buy again within {follow} days after it"),
    "retention_rate": ("客户留存率", "retained customers / new buyers"),
    "churned_customers": ("流失客户数", "buyers of the period with no purchase within {follow} days after it"),
    "churn_rate": ("客户流失率", "churned customers / buyers of the period"),
    "avg_purchases": ("平均购买次数", "orders / buyers"),
}


def _d(x: date) -> str:
    return f"DATE '{x.isoformat()}'"


def compute(con: duckdb.DuckDBPyConnection, p: Period, as_of: date, ws: Workspace) -> dict[str, Any]:
    """Every metric of one period against a snapshot connection."""
    w = ws.config.windows
    s, e = _d(p.start), _d(p.end)
    follow_end = p.end + timedelta(days=w.follow_up_days)
    follow_known = follow_end <= as_of
    also_visitors = (
        f" UNION SELECT user_id FROM visit_days WHERE day >= {s} AND day < {e} GROUP BY user_id "
        f"HAVING count(*) >= {w.active_min_visits}"
        if w.active_min_visits
        else ""
    )
    row = con.execute(
        f"""
        WITH v AS (SELECT DISTINCT user_id FROM visit_days WHERE day >= {s} AND day < {e}),
             o AS (SELECT user_id, count(*) AS n FROM order_facts
                   WHERE NOT refunded AND order_date >= {s} AND order_date < {e} GROUP BY user_id),
             r AS (SELECT user_id FROM customer_table WHERE register_date >= {s} AND register_date < {e}),
             pc AS (SELECT user_id FROM v UNION SELECT user_id FROM o UNION SELECT user_id FROM r),
             act AS (SELECT user_id FROM o{also_visitors}),
             first AS (SELECT user_id, first_visit, register_date, CAST(first_order_at AS DATE) AS first_order
                       FROM customer_table),
             nb AS (SELECT user_id FROM first WHERE first_order >= {s} AND first_order < {e}),
             later AS (SELECT DISTINCT user_id FROM order_facts
                       WHERE NOT refunded AND order_date >= {e} AND order_date < {_d(follow_end)}),
             ret AS (SELECT day, user_id, lag(day) OVER (PARTITION BY user_id ORDER BY day) AS prev_day
                     FROM visit_days WHERE day >= {_d(p.start - timedelta(days=w.returning_visit_days))} AND day < {e})
        SELECT
          (SELECT count(*) FROM v),
          (SELECT count(*) FROM v JOIN first USING (user_id) WHERE first.first_visit >= {s}),
          (SELECT count(DISTINCT user_id) FROM ret WHERE day >= {s} AND prev_day IS NOT NULL
                  AND date_diff('day', prev_day, day) <= {w.returning_visit_days}),
          (SELECT count(*) FROM pc),
          (SELECT count(*) FROM pc JOIN first USING (user_id)
                  WHERE least(first.first_visit, first.register_date) >= {s} AND least(first.first_visit, first.register_date) < {e}),
          (SELECT count(*) FROM act),
          (SELECT count(*) FROM o),
          (SELECT COALESCE(sum(n), 0) FROM o),
          (SELECT count(*) FROM o WHERE n > 1),
          (SELECT COALESCE(sum(n - 1), 0) FROM o),
          (SELECT count(*) FROM nb),
          (SELECT count(*) FROM nb JOIN later USING (user_id)),
          (SELECT count(*) FROM o ANTI JOIN later USING (user_id))
        """
    ).fetchall()[0]
    (
        visitors,
        new_visitors,
        returning,
        period_customers,
        new_customers,
        active,
        buyers,
        orders,
        repeaters,
        repeat_orders,
        new_buyers,
        retained,
        churned,
    ) = (int(x or 0) for x in row)
    values: dict[str, tuple[float | None, int | None, int | None]] = {
        "visitors": (visitors, None, None),
        "new_visitors": (new_visitors, None, None),
        "returning_visitors": (returning, None, None),
        "period_customers": (period_customers, None, None),
        "new_customers": (new_customers, None, None),
        "new_customer_ratio": _ratio(new_customers, period_customers),
        "active_customers": (active, None, None),
        "active_rate": _ratio(active, period_customers),
        "buyers": (buyers, None, None),
        "orders": (orders, None, None),
        "repurchase_customers": (repeaters, None, None),
        "repurchase_rate": _ratio(repeaters, buyers),
        "repurchase_rate_orders": _ratio(repeat_orders, orders),
        "new_buyers": (new_buyers, None, None),
        "retained_customers": (retained if follow_known else None, None, None),
        "retention_rate": _ratio(retained, new_buyers) if follow_known else (None, None, new_buyers),
        "churned_customers": (churned if follow_known else None, None, None),
        "churn_rate": _ratio(churned, buyers) if follow_known else (None, None, buyers),
        "avg_purchases": _ratio(orders, buyers),
    }
    out = {}
    for key, (value, num, den) in values.items():
        zh, words = DEFINITIONS[key]
        words = words.format(
            returning=w.returning_visit_days,
            follow=w.follow_up_days,
            active_visits=f" or visited on at least {w.active_min_visits} days" if w.active_min_visits else "",
        )
        item: dict[str, Any] = {"name_zh": zh, "value": value, "definition": words}
        if num is not None or den is not None:
            item["numerator"], item["denominator"] = num, den
        if key in ("retained_customers", "retention_rate", "churned_customers", "churn_rate"):
            item["window"] = f"{p.end} … {follow_end - timedelta(days=1)}"
            if not follow_known:
                item["note"] = f"the follow-up window ends after the snapshot's as-of date {as_of}: not measurable yet"
        out[key] = item
    return out


def last_measurable_month(as_of: date, follow_up_days: int) -> str:
    """The latest calendar month whose follow-up window (for retention and churn) ends by ``as_of``."""
    limit = as_of - timedelta(days=follow_up_days)
    start = date(limit.year, limit.month, 1)
    if _add_months(start, 1) > limit:
        start = _add_months(start, -1)
    return start.strftime("%Y-%m")


def _ratio(num: int, den: int) -> tuple[float | None, int, int]:
    return (num / den if den else None, num, den)


def metrics(ws: Workspace, period: str, compare: list[str] | None = None) -> dict[str, Any]:
    """Key metrics of ``period`` with optional mom/yoy comparison, from the current snapshot."""
    ws.require("read")
    p = parse_period(period)
    with snapshots.reader(ws) as (con, snap):
        as_of = snap.as_of_date
        if p.end > as_of:
            raise InputError(
                f"period {p.label()} ends after the snapshot's as-of date {as_of}; "
                f"choose an earlier period or refresh with a later --as-of"
            )
        result: dict[str, Any] = {
            "period": {"name": p.name, "start": p.start.isoformat(), "end": (p.end - timedelta(days=1)).isoformat()},
            "snapshot": snap.id,
            "as_of": snap.as_of,
            "windows": {
                "follow_up_days": ws.config.windows.follow_up_days,
                "returning_visit_days": ws.config.windows.returning_visit_days,
                "active_min_visits": ws.config.windows.active_min_visits,
            },
            "metrics": compute(con, p, as_of, ws),
        }
        for how in compare or []:
            q = previous_period(p, how)
            prev = compute(con, q, as_of, ws)
            result.setdefault("compare", {})[how] = {
                "period": {
                    "name": q.name,
                    "start": q.start.isoformat(),
                    "end": (q.end - timedelta(days=1)).isoformat(),
                },
                "metrics": {
                    k: {
                        "value": v["value"],
                        "change": _change(result["metrics"][k]["value"], v["value"]),
                    }
                    for k, v in prev.items()
                },
            }
    return result


def _change(now: float | None, before: float | None) -> dict[str, float | None]:
    if now is None or before is None:
        return {"absolute": None, "relative": None}
    return {"absolute": now - before, "relative": (now - before) / before if before else None}
