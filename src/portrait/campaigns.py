"""Campaign evaluation: conversion before and after, treatment against control, retention of new buyers, ROI.

A campaign is its rows in the ``campaigns`` table: the customers it reached (``arm`` = treatment) and
the ones held back for comparison (``arm`` = control), with the start date and the cost of reaching
each customer. With the start date ``S`` and the window ``W`` days:

* after window = [S, S + W − 1], before window = [S − W, S − 1] (days, both ends included);
* conversion of a group in a window = members with a paid order in it / members;
* lift = conversion(treatment) − conversion(control) after the start (absolute) and that over the
  control's conversion (relative); a two-proportion z-test (pooled standard error) gives the p-value
  and a Wald interval (unpooled) the confidence interval of the difference;
* new buyers = members whose first paid order ever falls in the after window; retained = new buyers with
  another paid order within ``retention_days`` days after their first one;
* revenue = paid amount of the treatment group in the after window; cost = the campaign rows' costs;
  ROI = (revenue − cost) / cost; incremental revenue = (revenue per treated member − revenue per control
  member) × treated members, and incremental ROI = (incremental revenue − cost) / cost.

Orders are the snapshot's (as of its date); membership is read from the raw warehouse with identity
merges followed: a customer listed in both groups (e.g. two merged accounts) counts as treated.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from statistics import NormalDist
from typing import Any

from portrait import snapshots
from portrait.errors import InputError
from portrait.journeys import _raw
from portrait.workspace import Workspace

ARMS = ("treatment", "control")


def two_proportion_test(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95) -> dict[str, Any]:
    """Two-sided z-test of p1 = p2 (pooled standard error) and the Wald interval of p1 − p2."""
    if n1 < 1 or n2 < 1:
        raise InputError("a two-proportion test needs at least one member in each group")
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    z = (p1 - p2) / se_pooled if se_pooled else None
    half = NormalDist().inv_cdf(0.5 + confidence / 2) * se
    return {
        "difference": p1 - p2,
        "z": z,
        "p_value": math.erfc(abs(z) / math.sqrt(2)) if z is not None else None,
        "confidence": confidence,
        "ci_low": p1 - p2 - half,
        "ci_high": p1 - p2 + half,
    }


def campaign_ids(ws: Workspace) -> list[str]:
    """The campaign ids in the warehouse."""
    with ws.warehouse(read_only=True) as con:
        if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'campaigns'").fetchall()[0][0]:
            return []  # a workspace from before campaigns joined the schema, and no campaign imported since
        return [r[0] for r in con.execute("SELECT DISTINCT campaign_id FROM campaigns ORDER BY 1").fetchall()]


def campaign_report(
    ws: Workspace,
    campaign_id: str,
    window_days: int | None = None,
    retention_days: int | None = None,
) -> dict[str, Any]:
    """One campaign's before/after conversion, treatment-vs-control lift with its test, retention and ROI."""
    ws.require("read")
    cfg = ws.config.campaigns
    window = cfg.window_days if window_days is None else window_days
    follow = cfg.retention_days if retention_days is None else retention_days
    if window < 1 or follow < 1:
        raise InputError("the campaign window and the retention window must be at least 1 day")
    known = campaign_ids(ws)
    if campaign_id not in known:
        listed = ", ".join(known[:10]) if known else "none imported yet (portrait import campaigns FILE)"
        raise InputError(f"no campaign '{campaign_id}'; campaigns: {listed}")
    with snapshots.reader(ws) as (con, snap):
        with _raw(con, ws):
            con.execute(
                """CREATE OR REPLACE TEMP TABLE members AS
                   SELECT COALESCE(i.customer_id, c.user_id) AS user_id, max(c.arm) AS arm,
                          sum(COALESCE(c.cost, 0)) AS cost, bool_and(c.cost IS NULL) AS no_cost,
                          min(c.start_date) AS start_date, max(c.end_date) AS end_date,
                          any_value(c.campaign_name) AS campaign_name
                   FROM raw.campaigns c LEFT JOIN identity i USING (user_id)
                   WHERE c.campaign_id = ? GROUP BY 1""",
                [campaign_id],
            ).fetchall()
        name, start, end_date, no_cost = con.execute(
            "SELECT any_value(campaign_name), min(start_date), max(end_date), bool_and(no_cost) FROM members"
        ).fetchall()[0]
        if start is None:
            raise InputError(
                f"campaign '{campaign_id}' has no start_date; add it to the campaign file and import again"
            )
        last_day = snap.as_of_date - timedelta(days=1)
        before = (start - timedelta(days=window), start - timedelta(days=1))
        after = (start, start + timedelta(days=window - 1))
        messages = []
        if start > last_day:
            raise InputError(f"campaign '{campaign_id}' starts on {start}, after the snapshot's last day {last_day}")
        if after[1] > last_day:
            messages.append(f"the window after the start runs past {last_day}: orders are counted up to that day")

        def window_sql(w: tuple[date, date]) -> str:
            return f"order_date BETWEEN DATE '{w[0]}' AND DATE '{w[1]}'"

        groups = {
            arm: {"members": n, "buyers_before": b0, "buyers_after": b1, "revenue_after": rev, "cost": cost}
            for arm, n, b0, b1, rev, cost in con.execute(
                f"""WITH buys AS (
                        SELECT user_id, bool_or({window_sql(before)}) AS b0, bool_or({window_sql(after)}) AS b1,
                               COALESCE(sum(amount) FILTER (WHERE {window_sql(after)}), 0) AS rev
                        FROM order_facts WHERE NOT refunded AND user_id IN (SELECT user_id FROM members)
                        GROUP BY 1)
                    SELECT m.arm, count(*), count(*) FILTER (WHERE b.b0), count(*) FILTER (WHERE b.b1),
                           CAST(COALESCE(sum(b.rev), 0) AS DOUBLE), CAST(sum(m.cost) AS DOUBLE)
                    FROM members m LEFT JOIN buys b USING (user_id) GROUP BY 1"""
            ).fetchall()
        }
        retention = {
            arm: {"new_buyers": n, "retained": r}
            for arm, n, r in con.execute(
                f"""WITH firsts AS (
                        SELECT user_id, min(order_date) AS first_day FROM order_facts
                        WHERE NOT refunded AND user_id IN (SELECT user_id FROM members) GROUP BY 1),
                    fresh AS (SELECT * FROM firsts WHERE first_day BETWEEN DATE '{after[0]}' AND DATE '{after[1]}'),
                    again AS (
                        SELECT DISTINCT f.user_id FROM fresh f JOIN order_facts o USING (user_id)
                        WHERE NOT o.refunded AND o.order_date > f.first_day
                          AND o.order_date <= f.first_day + INTERVAL {int(follow)} DAY)
                    SELECT m.arm, count(f.user_id), count(a.user_id)
                    FROM members m LEFT JOIN fresh f USING (user_id) LEFT JOIN again a USING (user_id) GROUP BY 1"""
            ).fetchall()
        }
    unknown_arms = set(groups) - set(ARMS)
    if unknown_arms:  # only possible for rows written around the import's value map
        raise InputError(
            f"campaign '{campaign_id}': unknown group {sorted(unknown_arms)[0]!r}; use treatment or control"
        )
    for arm in ARMS:
        groups.setdefault(arm, {"members": 0, "buyers_before": 0, "buyers_after": 0, "revenue_after": 0.0, "cost": 0.0})
        retention.setdefault(arm, {"new_buyers": 0, "retained": 0})
    if after[1] + timedelta(days=follow) > last_day:
        messages.append(
            f"retention needs orders up to {after[1] + timedelta(days=follow)}; the snapshot ends on {last_day}, "
            "so later new buyers have had less time to come back"
        )

    def rate(x: int, n: int) -> float | None:
        return x / n if n else None

    table = {}
    for arm in ARMS:
        g, r = groups[arm], retention[arm]
        table[arm] = {
            **g,
            "conversion_before": rate(g["buyers_before"], g["members"]),
            "conversion_after": rate(g["buyers_after"], g["members"]),
            **r,
            "retention_rate": rate(r["retained"], r["new_buyers"]),
        }
    t, c = table["treatment"], table["control"]
    if not t["members"]:
        raise InputError(f"campaign '{campaign_id}' has no treatment group (arm = treatment); nothing to evaluate")
    lift: dict[str, Any] | None = None
    if not c["members"]:
        messages.append("no control group (arm = control): no lift or test, only before/after")
    elif min(t["members"], c["members"]) < cfg.min_group_size:
        messages.append(
            f"groups too small for a test: treatment {t['members']}, control {c['members']}; "
            f"each needs at least {cfg.min_group_size} members ([campaigns] min_group_size)"
        )
    if c["members"]:
        lift = {
            "absolute": t["conversion_after"] - c["conversion_after"],
            "relative": (t["conversion_after"] - c["conversion_after"]) / c["conversion_after"]
            if c["conversion_after"]
            else None,
            "difference_in_differences": (t["conversion_after"] - t["conversion_before"])
            - (c["conversion_after"] - c["conversion_before"]),
        }
        if min(t["members"], c["members"]) >= cfg.min_group_size:
            lift["test"] = two_proportion_test(
                t["buyers_after"], t["members"], c["buyers_after"], c["members"], cfg.confidence
            )
            if lift["test"]["z"] is None:
                messages.append("no variation in conversion (all or none converted): no test")
    cost = None if no_cost else t["cost"] + c["cost"]
    revenue = t["revenue_after"]
    incremental = (revenue / t["members"] - c["revenue_after"] / c["members"]) * t["members"] if c["members"] else None
    result: dict[str, Any] = {
        "snapshot": snap.id,
        "as_of": snap.as_of,
        "campaign_id": campaign_id,
        "campaign_name": name,
        "start_date": start.isoformat(),
        "end_date": end_date.isoformat() if end_date else None,
        "window_days": window,
        "retention_days": follow,
        "windows": {
            "before": {"start": before[0].isoformat(), "end": before[1].isoformat()},
            "after": {"start": after[0].isoformat(), "end": after[1].isoformat()},
        },
        "groups": table,
        "treatment_before_after": {
            "before": t["conversion_before"],
            "after": t["conversion_after"],
            "change": t["conversion_after"] - t["conversion_before"],
        },
        "lift": lift,
        "revenue": revenue,
        "cost": cost,
        "roi": (revenue - cost) / cost if cost else None,
        "incremental_revenue": incremental,
        "incremental_roi": (incremental - cost) / cost if cost and incremental is not None else None,
        "definitions": {
            "conversion": "members with a paid order in the window / members",
            "lift": "conversion(treatment) − conversion(control) after the start; relative: over control",
            "test": "two-sided two-proportion z-test, pooled standard error; interval: Wald, unpooled",
            "new_buyers": "members whose first paid order ever falls in the window after the start",
            "retention_rate": f"new buyers with another paid order within {follow} days of their first / new buyers",
            "roi": "(revenue of the treatment group after the start − cost) / cost",
            "incremental_revenue": "(revenue per treated member − revenue per control member) × treated members",
        },
        "chart": {"type": "bar", "x": "group", "y": ["conversion_before", "conversion_after"]},
    }
    if no_cost:
        messages.append("the campaign rows carry no cost: no ROI")
    elif not cost:
        messages.append("the campaign's cost is 0: no ROI")
    if messages:
        result["message"] = "; ".join(messages)
    return result
