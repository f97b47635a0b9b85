"""The AIPL lifecycle: awareness → interest → purchase → loyalty, per customer and period, and the flows between.

Each customer is placed, for each of two consecutive periods of ``period_days`` days, in the highest
stage whose rule holds in that period (rules in ``[aipl]`` of portrait.toml):

* L 忠诚 (loyalty): at least ``loyal_min_orders`` paid orders, or a paid order while at a member level
  named in ``loyal_member_levels``;
* P 购买 (purchase): a paid order;
* I 兴趣 (interest): an event of a kind in ``interest_behaviors`` (fav, cart), visits on at least
  ``interest_min_visit_days`` days, or (``interest_consultations``) a consultation with customer service;
* A 认知 (awareness): any event (the customer saw the brand);
* 无 (none): nothing of the above in the period.

Orders are the snapshot's paid orders (refunded ones do not count); events and consultations are read
from the raw warehouse with identity merges followed. Member levels are today's (the warehouse keeps
no history of them).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from portrait import snapshots
from portrait.analysis import segment_where
from portrait.errors import InputError
from portrait.journeys import _raw
from portrait.workspace import Workspace

STAGES = ("A", "I", "P", "L")
NONE = "无"
LABELS = {"A": "认知 Awareness", "I": "兴趣 Interest", "P": "购买 Purchase", "L": "忠诚 Loyalty", NONE: "无 None"}


def _quote_list(values: list[str]) -> str:
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def stage_sql(orders: str, visit_days: str, interest: str, consults: str, member_level: str, cfg: Any) -> str:
    """SQL CASE naming the stage from a period's counts (the highest rule that holds wins)."""
    loyal = [f"{orders} >= {int(cfg.loyal_min_orders)}"]
    if cfg.loyal_member_levels:
        loyal.append(f"({orders} >= 1 AND {member_level} IN {_quote_list(cfg.loyal_member_levels)})")
    interested = [f"{interest} > 0", f"{visit_days} >= {int(cfg.interest_min_visit_days)}"]
    if cfg.interest_consultations:
        interested.append(f"{consults} > 0")
    return (
        f"CASE WHEN {' OR '.join(loyal)} THEN 'L' WHEN {orders} >= 1 THEN 'P' "
        f"WHEN {' OR '.join(interested)} THEN 'I' WHEN {visit_days} >= 1 THEN 'A' ELSE '{NONE}' END"
    )


def aipl(
    ws: Workspace,
    end: str | None = None,
    period_days: int | None = None,
    rule: str | None = None,
) -> dict[str, Any]:
    """AIPL stage counts for two consecutive periods ending on ``end`` and the customer flows between them."""
    ws.require("read")
    cfg = ws.config.aipl
    days = cfg.period_days if period_days is None else period_days
    if days < 1:
        raise InputError("the AIPL period must be at least 1 day")
    with snapshots.reader(ws) as (con, snap):
        last_day = snap.as_of_date - timedelta(days=1)
        try:
            hi = date.fromisoformat(end) if end else last_day
        except ValueError as exc:
            raise InputError(f"end date: {exc}; write it as YYYY-MM-DD") from None
        if hi > last_day:
            raise InputError(f"end date {hi} is after the snapshot's last day {last_day}; choose {last_day} or earlier")
        cur = (hi - timedelta(days=days - 1), hi)
        prev = (cur[0] - timedelta(days=days), cur[0] - timedelta(days=1))
        where = segment_where(con, rule)

        def between(col: str, period: tuple[date, date]) -> str:
            return f"{col} BETWEEN DATE '{period[0]}' AND DATE '{period[1]}'"

        kinds = _quote_list(list(cfg.interest_behaviors)) if cfg.interest_behaviors else "(NULL)"
        counts = []
        for k in ("p", "c"):
            counts.append(
                stage_sql(
                    f"COALESCE(o.{k}, 0)",
                    f"COALESCE(v.{k}, 0)",
                    f"COALESCE(e.{k}, 0)",
                    f"COALESCE(s.{k}, 0)",
                    "m.member_level",
                    cfg,
                )
                + f" AS stage_{k}"
            )
        with _raw(con, ws):
            rows = con.execute(
                f"""WITH m AS (SELECT user_id, member_level FROM segment_base WHERE {where}),
                    o AS (SELECT user_id, count(*) FILTER (WHERE {between("order_date", prev)}) AS p,
                                 count(*) FILTER (WHERE {between("order_date", cur)}) AS c
                          FROM order_facts WHERE NOT refunded AND order_date >= DATE '{prev[0]}' GROUP BY 1),
                    v AS (SELECT user_id, count(*) FILTER (WHERE {between("day", prev)}) AS p,
                                 count(*) FILTER (WHERE {between("day", cur)}) AS c
                          FROM visit_days WHERE day >= DATE '{prev[0]}' GROUP BY 1),
                    e AS (SELECT COALESCE(i.customer_id, x.user_id) AS user_id,
                                 count(*) FILTER (WHERE {between("CAST(x.behavior_time AS DATE)", prev)}) AS p,
                                 count(*) FILTER (WHERE {between("CAST(x.behavior_time AS DATE)", cur)}) AS c
                          FROM raw.events x LEFT JOIN identity i USING (user_id)
                          WHERE x.behavior_type IN {kinds}
                            AND CAST(x.behavior_time AS DATE) BETWEEN DATE '{prev[0]}' AND DATE '{cur[1]}' GROUP BY 1),
                    s AS (SELECT COALESCE(i.customer_id, x.user_id) AS user_id,
                                 count(*) FILTER (WHERE {between("CAST(x.interaction_time AS DATE)", prev)}) AS p,
                                 count(*) FILTER (WHERE {between("CAST(x.interaction_time AS DATE)", cur)}) AS c
                          FROM raw.interactions x LEFT JOIN identity i USING (user_id)
                          WHERE x.type = 'consult'
                            AND CAST(x.interaction_time AS DATE) BETWEEN DATE '{prev[0]}' AND DATE '{cur[1]}' GROUP BY 1),
                    staged AS (
                        SELECT {", ".join(counts)}
                        FROM m LEFT JOIN o USING (user_id) LEFT JOIN v USING (user_id)
                        LEFT JOIN e USING (user_id) LEFT JOIN s USING (user_id))
                    SELECT stage_p, stage_c, count(*) FROM staged GROUP BY ALL"""
            ).fetchall()
    order = [*STAGES, NONE]
    cells = {(a, b): n for a, b, n in rows}
    matrix = {a: {b: cells.get((a, b), 0) for b in order} for a in order}
    prev_counts = {s: sum(matrix[s].values()) for s in order}
    cur_counts = {s: sum(matrix[a][s] for a in order) for s in order}
    stages = [
        {
            "stage": s,
            "label": LABELS[s],
            "previous": prev_counts[s],
            "current": cur_counts[s],
            "change": cur_counts[s] - prev_counts[s],
        }
        for s in order
    ]
    nodes = [{"id": i, "name": f"上期:{s}", "period": "previous", "stage": s} for i, s in enumerate(order)]
    nodes += [{"id": len(order) + i, "name": f"本期:{s}", "period": "current", "stage": s} for i, s in enumerate(order)]
    links = [
        {"source": i, "target": len(order) + j, "value": matrix[a][b]}
        for i, a in enumerate(order)
        for j, b in enumerate(order)
        if matrix[a][b] and not (a == NONE and b == NONE)
    ]
    result: dict[str, Any] = {
        "snapshot": snap.id,
        "as_of": snap.as_of,
        "rule": rule,
        "period_days": days,
        "periods": {
            "previous": {"start": prev[0].isoformat(), "end": prev[1].isoformat()},
            "current": {"start": cur[0].isoformat(), "end": cur[1].isoformat()},
        },
        "customers": sum(prev_counts.values()),
        "stages": stages,
        "flows": [{"from": a, "to": b, "customers": matrix[a][b]} for a in order for b in order if matrix[a][b]],
        "matrix": matrix,
        "sankey": {"nodes": nodes, "links": links},
        "rules": rule_text(cfg),
        "chart": {"type": "sankey", "nodes": "sankey.nodes", "links": "sankey.links"},
    }
    if not result["customers"]:
        result["message"] = "no customers" + (" in this segment" if rule else "")
    return result


def rule_text(cfg: Any) -> dict[str, str]:
    """The stage rules in words, as configured."""
    loyal = f"at least {cfg.loyal_min_orders} paid orders in the period"
    if cfg.loyal_member_levels:
        loyal += f", or a paid order at member level {'/'.join(cfg.loyal_member_levels)}"
    interest = [f"visits on at least {cfg.interest_min_visit_days} days"]
    if cfg.interest_behaviors:
        interest.insert(0, f"any {'/'.join(cfg.interest_behaviors)} event")
    if cfg.interest_consultations:
        interest.append("a consultation with customer service")
    return {
        "L": loyal,
        "P": "a paid order in the period",
        "I": ", or ".join(interest) + " in the period",
        "A": "any event in the period",
        NONE: "none of the above; the highest stage that holds wins",
    }
