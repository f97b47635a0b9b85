"""Analyses over the current snapshot: portrait dimensions, cohort retention, the channel table.

Each returns plain tables (lists of rows) and, where a person would rather look than read, a
chart specification (``{"type": "pie" | "bar" | "bar+line" | "heatmap", …}``) that the web page
and the PDF/Excel exports draw the same way.
"""

from __future__ import annotations

from typing import Any

from portrait import snapshots
from portrait.errors import InputError
from portrait.expr import RuleError, compile_rule
from portrait.workspace import Workspace

DIMENSIONS = {
    "gender": ("性别", "pie"),
    "province": ("省份", "bar"),
    "city": ("城市", "bar"),
    "city_tier": ("城市等级", "pie"),
    "age_band": ("年龄段", "bar"),
    "occupation": ("职业", "bar"),
    "preferred_terminal": ("终端", "pie"),
    "order_hour": ("下单时段", "bar"),
}
ORDER_COUNT_BANDS = [
    (0, 0, "0次"),
    (1, 1, "1次"),
    (2, 2, "2次"),
    (3, 5, "3-5次"),
    (6, 10, "6-10次"),
    (11, None, "11次以上"),
]


def segment_where(con, rule: str | None) -> str:  # noqa: ANN001 - a DuckDB connection
    """SQL condition on ``segment_base`` rows for a segment rule ("true" without one); a bad rule is one line."""
    if not rule:
        return "true"
    fields = [r[0] for r in con.execute("DESCRIBE segment_base").fetchall()]
    try:
        return f"COALESCE({compile_rule(rule, fields)}, false)"
    except RuleError as exc:
        raise InputError(f"segment rule, column {exc.column}: {exc.problem}  ⟶  {rule}") from None


def dimensions(ws: Workspace, rule: str | None = None, age_scheme: str = "default") -> dict[str, Any]:
    """Counts and shares of customers by each portrait dimension, for all customers or a segment."""
    ws.require("read")
    if age_scheme not in ("default", "fine"):
        raise InputError(f"age scheme '{age_scheme}': use default or fine")
    with snapshots.reader(ws) as (con, snap):
        where = segment_where(con, rule)
        members = f"(SELECT * FROM segment_base WHERE {where})"
        total = con.execute(f"SELECT count(*) FROM {members}").fetchall()[0][0]
        out: dict[str, Any] = {}
        dims = dict(DIMENSIONS)
        if age_scheme == "fine":
            dims["年龄段(细分)"] = ("年龄段(细分)", "bar")
            dims.pop("age_band")
        for dim, (label, chart) in dims.items():
            col = '"' + dim + '"'
            rows = con.execute(
                f"SELECT COALESCE(CAST({col} AS VARCHAR), '未知') AS v, count(*) FROM {members} GROUP BY 1 "
                f"ORDER BY {'TRY_CAST(v AS INTEGER), ' if dim == 'order_hour' else ''}2 DESC, 1"
            ).fetchall()
            out[dim] = _table(label, chart, rows, total)
        bands = " ".join(
            f"WHEN frequency BETWEEN {lo} AND {hi} THEN '{name}'"
            if hi is not None
            else f"WHEN frequency >= {lo} THEN '{name}'"
            for lo, hi, name in ORDER_COUNT_BANDS
        )
        order = {name: i for i, (_, _, name) in enumerate(ORDER_COUNT_BANDS)}
        rows = con.execute(f"SELECT CASE {bands} END AS v, count(*) FROM {members} GROUP BY 1").fetchall()
        out["orders_per_customer"] = _table("订单数量", "bar", sorted(rows, key=lambda r: order[r[0]]), total)
        source = con.execute(
            f"SELECT COALESCE(source, '未知'), count(DISTINCT user_id) FROM order_lines "
            f"WHERE user_id IN (SELECT user_id FROM {members}) GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        out["visitor_source"] = _table("访客来源(购买客户)", "pie", source, sum(n for _, n in source))
        products = con.execute(
            f"""SELECT COALESCE(product_name, product_id, '未知') AS product, count(DISTINCT order_id) AS orders,
                       round(avg(unit_price), 2) AS avg_price
                FROM order_lines WHERE status NOT IN ('refunded', 'returned')
                  AND user_id IN (SELECT user_id FROM {members})
                GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20"""
        ).fetchall()
        out["product_preference"] = {
            "label": "产品偏好",
            "rows": [{"product": p, "orders": n, "avg_price": price} for p, n, price in products],
            "chart": {
                "type": "bar+line",
                "x": "product",
                "bar": "orders",
                "line": "avg_price",
                "line_axis": "secondary",
            },
        }
    return {"snapshot": snap.id, "as_of": snap.as_of, "rule": rule, "customers": total, "dimensions": out}


def _table(label: str, chart: str, rows: list[tuple[Any, int]], total: int) -> dict[str, Any]:
    return {
        "label": label,
        "rows": [{"value": v, "customers": n, "share": n / total if total else 0.0} for v, n in rows],
        "chart": {"type": chart, "x": "value", "y": "customers"},
    }


def cohorts(ws: Workspace, months: int = 12) -> dict[str, Any]:
    """Retention by first-purchase month: the share of each cohort that buys again k months later."""
    ws.require("read")
    if months < 1:
        raise InputError("months must be at least 1")
    with snapshots.reader(ws) as (con, snap):
        rows = con.execute(
            f"""WITH buys AS (SELECT user_id, date_trunc('month', order_date) AS m FROM order_facts WHERE NOT refunded),
                    firsts AS (SELECT user_id, min(m) AS cohort FROM buys GROUP BY user_id),
                    active AS (SELECT DISTINCT f.cohort, b.user_id, date_diff('month', f.cohort, b.m) AS k
                               FROM buys b JOIN firsts f USING (user_id))
               SELECT strftime(cohort, '%Y-%m'), k, count(*) FROM active WHERE k <= {int(months)}
               GROUP BY ALL ORDER BY 1, 2"""
        ).fetchall()
    matrix: dict[str, dict[int, int]] = {}
    for cohort, k, n in rows:
        matrix.setdefault(cohort, {})[int(k)] = n
    table = []
    for cohort, cells in matrix.items():
        size = cells.get(0, 0)
        table.append(
            {
                "cohort": cohort,
                "customers": size,
                "retention": [cells.get(k, 0) / size if size else None for k in range(months + 1)],
            }
        )
    return {
        "snapshot": snap.id,
        "as_of": snap.as_of,
        "months": months,
        "cohorts": table,
        "definition": "share of customers first buying in the cohort month who buy in month k after it (k = 0 is 100 %)",
        "chart": {"type": "heatmap", "x": "month k", "y": "cohort", "value": "retention"},
    }


def channels(ws: Workspace, start: str | None = None, end: str | None = None) -> dict[str, Any]:
    """The channel table: channel, uv, clicks, orders, conversion rate, cost, revenue, ROI."""
    ws.require("read")
    with snapshots.reader(ws) as (con, snap):
        cond = []
        params: list[Any] = []
        if start:
            cond.append("date >= CAST(? AS DATE)")
            params.append(start)
        if end:
            cond.append("date <= CAST(? AS DATE)")
            params.append(end)
        where = " AND ".join(cond) or "true"
        rows = con.execute(
            f"""SELECT channel, sum(uv), sum(clicks), sum(orders), CAST(sum(cost) AS DOUBLE), CAST(sum(revenue) AS DOUBLE)
                FROM channel_days WHERE {where} GROUP BY channel ORDER BY 6 DESC, 1""",
            params,
        ).fetchall()
    table = [
        {
            "channel": c,
            "uv": uv,
            "clicks": clicks,
            "orders": orders,
            "conversion_rate": orders / uv if uv else None,
            "cost": cost,
            "revenue": revenue,
            "roi": (revenue - cost) / cost if cost else None,
        }
        for c, uv, clicks, orders, cost, revenue in rows
    ]
    return {
        "snapshot": snap.id,
        "as_of": snap.as_of,
        "channels": table,
        "definitions": {"conversion_rate": "orders / uv", "roi": "(revenue − cost) / cost"},
        "chart": {"type": "bar", "x": "channel", "y": "roi"},
    }


FUNNEL_DEFAULT = ("pv", "cart", "purchase", "repurchase")
EVENT_STEPS = ("pv", "click", "search", "fav", "cart", "order", "pay", "comment", "like")


def funnel(
    ws: Workspace,
    steps: tuple[str, ...] | list[str] = FUNNEL_DEFAULT,
    window_days: int = 30,
    rule: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> dict[str, Any]:
    """An ordered funnel per customer: each step must follow the previous one within ``window_days`` of the first.

    Steps are behaviour types (pv, cart, fav, order, pay …), ``purchase`` (a paid order) and
    ``repurchase`` (another paid order after the one matched by the step before). The first step
    must happen in [start, end] when given. Conversion per step and the biggest drop are named.
    """
    ws.require("read")
    steps = [s.strip() for s in steps if s.strip()]
    if len(steps) < 2:
        raise InputError("a funnel needs at least two steps, e.g. pv,cart,purchase")
    for s in steps:
        if s not in EVENT_STEPS and s not in ("purchase", "repurchase"):
            raise InputError(f"unknown funnel step '{s}': use {', '.join(EVENT_STEPS)}, purchase or repurchase")
    if steps[0] in ("purchase", "repurchase"):
        raise InputError("the first funnel step must be a behaviour (e.g. pv)")
    if window_days < 1:
        raise InputError("the funnel window must be at least 1 day")
    with snapshots.reader(ws) as (con, snap):
        where = segment_where(con, rule)
        con.execute(f"ATTACH '{ws.warehouse_path}' AS raw (READ_ONLY)").fetchall()
        try:
            as_of = f"DATE '{snap.as_of}'"
            first_cond = [f"CAST(e.behavior_time AS DATE) < {as_of}"]
            params: list[Any] = []
            if start:
                first_cond.append("CAST(e.behavior_time AS DATE) >= CAST(? AS DATE)")
                params.append(start)
            if end:
                first_cond.append("CAST(e.behavior_time AS DATE) <= CAST(? AS DATE)")
                params.append(end)
            ctes = [
                "ev AS (SELECT COALESCE(i.customer_id, e.user_id) AS user_id, e.behavior_type, e.behavior_time AS t "
                f"FROM raw.events e LEFT JOIN identity i USING (user_id) WHERE CAST(e.behavior_time AS DATE) < {as_of})",
                "buy AS (SELECT user_id, order_time AS t FROM order_facts WHERE NOT refunded)",
                f"members AS (SELECT user_id FROM segment_base WHERE {where})",
                f"s0 AS (SELECT COALESCE(i.customer_id, e.user_id) AS user_id, min(e.behavior_time) AS t, "
                f"min(e.behavior_time) AS t0 FROM raw.events e LEFT JOIN identity i USING (user_id) "
                f"WHERE e.behavior_type = '{steps[0]}' AND {' AND '.join(first_cond)} "
                f"AND COALESCE(i.customer_id, e.user_id) IN (SELECT user_id FROM members) GROUP BY 1)",
            ]
            for k, step in enumerate(steps[1:], start=1):
                prev = f"s{k - 1}"
                source = "buy x" if step in ("purchase", "repurchase") else "ev x"
                kind = "" if step in ("purchase", "repurchase") else f"AND x.behavior_type = '{step}'"
                after = ">" if step == "repurchase" else ">="  # a repurchase is a later order than the one before
                ctes.append(
                    f"s{k} AS (SELECT p.user_id, min(x.t) AS t, any_value(p.t0) AS t0 FROM {prev} p JOIN {source} "
                    f"ON x.user_id = p.user_id {kind} AND x.t {after} p.t "
                    f"AND x.t <= p.t0 + INTERVAL {int(window_days)} DAY GROUP BY p.user_id)"
                )
            counts = ", ".join(f"(SELECT count(*) FROM s{k})" for k in range(len(steps)))
            row = con.execute(f"WITH {', '.join(ctes)} SELECT {counts}", params).fetchall()[0]
        finally:
            con.execute("DETACH raw").fetchall()
    table = []
    for k, (step, n) in enumerate(zip(steps, row, strict=True)):
        prev = row[k - 1] if k else None
        table.append(
            {
                "step": step,
                "customers": n,
                "conversion_from_previous": (n / prev if prev else None) if k else None,
                "conversion_from_first": n / row[0] if row[0] else None,
            }
        )
    drops = [
        (1 - t["conversion_from_previous"], t["step"], table[k - 1]["step"])
        for k, t in enumerate(table)
        if k and t["conversion_from_previous"] is not None
    ]
    biggest = max(drops) if drops else None
    return {
        "snapshot": snap.id,
        "as_of": snap.as_of,
        "steps": table,
        "window_days": window_days,
        "rule": rule,
        "biggest_drop": {"from": biggest[2], "to": biggest[1], "lost_share": biggest[0]} if biggest else None,
        "chart": {"type": "funnel", "x": "step", "y": "customers"},
    }
