"""Baseline for the refresh benchmark: Portrait's customer features and RFM as hand-written DuckDB SQL.

    .venv/bin/python benchmarks/sql_features.py WORKSPACE AS_OF --out FILE.duckdb [--json] [--print]

What a DuckDB expert writes by hand for the refresh stages ``facts``, ``customer_table`` and ``rfm``
(docs/analysis.md), as one script of plain SQL run on a fresh connection — a new database file with the
workspace's warehouse attached read-only, and the workspace's engine settings (``memory_limit``,
``threads``), just like a refresh. It writes the same tables the three stages leave for the rest of
Portrait (``order_lines``, ``channel_days``, ``order_facts``, ``visit_days``, ``customer_table``, ``rfm``,
``rfm_thresholds``).

The hand-tuning an expert would do, none of it beyond plain SQL:

* the identity map holds only the merged-away records (a few thousand rows), so every join that maps ids has
  a tiny build side; behaviour events are first counted per raw id, day and hour and only those groups are
  mapped, so the 100 M-row table is scanned once and never joined;
* date windows compare against precomputed literals (``order_time < TIMESTAMP 'as-of'`` is the same as
  ``CAST(order_time AS DATE) < as-of``);
* the raw order lines are read once, into ``order_lines`` (which the analyses need anyway), from which both
  the order facts and the favourite category / brand / terminal / hour come; modes use ``arg_min(value, (-count, value))`` (the most
  frequent value, ties to the smallest);
* the mean gap between consecutive purchase days is (last day - first day) / (purchases - 1).

``--print`` prints the script instead of running it. Otherwise prints the seconds of each statement and
in all (``--json``: one JSON document).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from common import GROUPS, WINDOWS, settings


def script(as_of: date, cfg: dict) -> list[str]:
    """The statements, in order."""
    d = f"DATE '{as_of.isoformat()}'"
    ts = f"TIMESTAMP '{as_of.isoformat()}'"

    def since(n: int) -> str:
        return f"DATE '{(as_of - timedelta(days=n)).isoformat()}'"

    order_windows = ",\n           ".join(
        f"count(*) FILTER (WHERE NOT refunded AND order_date >= {since(n)}) AS orders_{n}d, "
        f"COALESCE(sum(amount) FILTER (WHERE NOT refunded AND order_date >= {since(n)}), 0) AS monetary_{n}d"
        for n in WINDOWS
    )
    age = f"COALESCE(c.age, date_diff('year', c.birth_date, {d}))"
    edges, labels = cfg["age_edges"], cfg["age_labels"]
    band = " ".join(
        [f"WHEN {age} IS NULL THEN NULL"]
        + [f"WHEN {age} < {e} THEN '{label}'" for e, label in zip(edges, labels, strict=False)]
        + [f"ELSE '{labels[len(edges)]}'"]
    )
    vd = cfg["value_days"]

    def mode(col: str, source: str, name: str) -> str:
        return (
            f"SELECT user_id, arg_min({col}, (-n, {col})) AS {name} FROM "
            f"(SELECT user_id, {col}, count(*) AS n FROM {source} GROUP BY ALL) GROUP BY user_id"
        )

    def score(col: str, cuts: str, low_is_good: bool) -> str:
        inner = " + ".join(f"CAST({col} > {cuts}[{i}] AS INTEGER)" for i in range(1, 5))
        return f"5 - ({inner})" if low_is_good else f"1 + {inner}"

    stat = "avg" if cfg["compare"] == "mean" else "median"
    groups = " ".join(
        f"WHEN r_high = {str(r).lower()} AND f_high = {str(f).lower()} AND m_high = {str(m).lower()} THEN '{g}'"
        for (r, f, m), g in GROUPS.items()
    )
    return [
        # identity: only the merged-away records
        """CREATE TEMP TABLE merges AS
           SELECT user_id, merged_into AS survivor FROM raw.customers WHERE merged_into IS NOT NULL""",
        # order lines before the as-of date, under the surviving id: kept for the analyses (as the refresh
        # keeps them, plus coupon_used) and read again for the order facts and the favourites
        f"""CREATE TABLE order_lines AS
           SELECT COALESCE(m.survivor, o.user_id) AS user_id, o.order_id, o.order_time, o.product_id,
                  o.product_name, o.category, o.brand, CAST(o.unit_price AS DOUBLE) AS unit_price, o.quantity,
                  CAST(o.amount AS DOUBLE) AS amount, COALESCE(o.status, 'paid') AS status, o.terminal, o.source,
                  COALESCE(o.coupon_used, false) AS coupon_used
           FROM raw.orders o LEFT JOIN merges m USING (user_id)
           WHERE o.order_time < {ts}""",
        f"""CREATE TABLE channel_days AS
           SELECT * EXCLUDE (_key, _content_hash, _filled, _import_id, _source, _row) FROM raw.channels
           WHERE date < {d}""",
        """CREATE TABLE order_facts AS
           WITH l AS (SELECT *, status IN ('refunded', 'returned') AS refund FROM order_lines)
           SELECT user_id, order_id, min(order_time) AS order_time, CAST(min(order_time) AS DATE) AS order_date,
                  sum(amount) FILTER (WHERE NOT refund) AS amount, sum(amount) AS gross_amount,
                  bool_and(refund) AS refunded, bool_or(refund) AS any_refund, bool_or(coupon_used) AS coupon_used
           FROM l GROUP BY user_id, order_id""",
        # events: one scan, counted per raw id, day and hour; the merged ids are mapped on those groups
        f"""CREATE TEMP TABLE event_hours AS
           WITH g AS (
             SELECT user_id, CAST(behavior_time AS DATE) AS day, hour(behavior_time) AS hour, count(*) AS events,
                    count(*) FILTER (WHERE behavior_type = 'pv') AS pv,
                    count(*) FILTER (WHERE behavior_type = 'fav') AS favs,
                    count(*) FILTER (WHERE behavior_type = 'cart') AS carts
             FROM raw.events WHERE behavior_time < {ts} GROUP BY ALL)
           SELECT COALESCE(m.survivor, g.user_id) AS user_id, day, hour, events, pv, favs, carts
           FROM g LEFT JOIN merges m USING (user_id)""",
        """CREATE TABLE visit_days AS
           SELECT user_id, day, CAST(sum(events) AS BIGINT) AS events, CAST(sum(pv) AS BIGINT) AS pv,
                  CAST(sum(favs) AS BIGINT) AS favs, CAST(sum(carts) AS BIGINT) AS carts
           FROM event_hours GROUP BY user_id, day""",
        """CREATE TEMP TABLE service AS
           SELECT COALESCE(m.survivor, x.user_id) AS user_id, x.interaction_time, x.channel, x.type, x.satisfaction
           FROM raw.interactions x LEFT JOIN merges m USING (user_id)""",
        f"""CREATE TABLE customer_table AS
        WITH o AS (
           SELECT user_id,
                  min(order_time) FILTER (WHERE NOT refunded) AS first_order_at,
                  max(order_time) FILTER (WHERE NOT refunded) AS last_order_at,
                  count(*) FILTER (WHERE NOT refunded) AS frequency,
                  COALESCE(sum(amount) FILTER (WHERE NOT refunded), 0) AS monetary,
                  count(*) FILTER (WHERE any_refund) AS refunds,
                  count(*) FILTER (WHERE NOT refunded AND coupon_used) AS coupon_orders,
                  date_diff('day', min(order_date) FILTER (WHERE NOT refunded),
                                   max(order_date) FILTER (WHERE NOT refunded))
                    / NULLIF(count(*) FILTER (WHERE NOT refunded) - 1, 0) AS repurchase_cycle_days,
                  {order_windows}
           FROM order_facts GROUP BY user_id),
        paid_lines AS (
           SELECT user_id, category, brand, terminal, hour(order_time) AS hour FROM order_lines
           WHERE status NOT IN ('refunded', 'returned')),
        cat AS ({mode("category", "paid_lines WHERE category IS NOT NULL", "favourite_category")}),
        brand AS ({mode("brand", "paid_lines WHERE brand IS NOT NULL", "favourite_brand")}),
        term AS ({mode("terminal", "paid_lines WHERE terminal IS NOT NULL", "preferred_terminal")}),
        oh AS ({mode("hour", "paid_lines", "order_hour")}),
        v AS (
           SELECT user_id, min(day) AS first_visit, max(day) AS last_visit,
                  count(*) FILTER (WHERE day >= {since(7)}) AS visits_7d,
                  count(*) FILTER (WHERE day >= {since(30)}) AS visits_30d,
                  count(*) FILTER (WHERE day >= {since(90)}) AS visits_90d,
                  COALESCE(sum(pv) FILTER (WHERE day >= {since(30)}), 0) AS pv_30d,
                  COALESCE(sum(favs) FILTER (WHERE day >= {since(30)}), 0) AS favs_30d,
                  COALESCE(sum(carts) FILTER (WHERE day >= {since(30)}), 0) AS carts_30d,
                  sum(favs) AS favs, sum(carts) AS carts
           FROM visit_days GROUP BY user_id),
        vh AS (
           SELECT user_id, arg_min(hour, (-n, hour)) AS visit_hour
           FROM (SELECT user_id, hour, sum(events) AS n FROM event_hours GROUP BY ALL) GROUP BY user_id),
        s AS (
           SELECT user_id,
                  count(*) FILTER (WHERE type = 'consult' AND interaction_time >= {since(90)}) AS consultations_90d,
                  count(*) FILTER (WHERE type = 'consult' AND interaction_time >= {since(180)}
                                   AND interaction_time < {since(90)}) AS consultations_prev_90d,
                  count(*) FILTER (WHERE type = 'complaint' AND interaction_time >= {since(90)}) AS complaints_90d,
                  count(*) FILTER (WHERE type = 'complaint') AS complaints,
                  count(*) AS interactions, avg(satisfaction) AS avg_satisfaction
           FROM service WHERE interaction_time < {ts} GROUP BY user_id),
        contact AS ({
            mode("channel", f"service WHERE interaction_time < {ts} AND channel IS NOT NULL", "preferred_contact")
        }),
        c AS (SELECT * FROM raw.customers WHERE merged_into IS NULL),
        people AS (
           SELECT user_id FROM c UNION SELECT user_id FROM o UNION SELECT user_id FROM v
           UNION SELECT user_id FROM service)
        SELECT p.user_id, c.gender, {age} AS age, CASE {band} END AS age_band,
               c.province, c.city, COALESCE(c.city_tier, '未知') AS city_tier,
               c.occupation, c.member_level, c.source_channel, c.marital_status,
               CAST(c.register_date AS DATE) AS register_date, c.user_id IS NOT NULL AS registered,
               o.first_order_at, o.last_order_at,
               date_diff('day', CAST(o.last_order_at AS DATE), {d}) AS recency_days,
               COALESCE(o.frequency, 0) AS frequency, COALESCE(o.monetary, 0) AS monetary,
               {
            ", ".join(
                f"COALESCE(o.orders_{n}d, 0) AS orders_{n}d, COALESCE(o.monetary_{n}d, 0) AS monetary_{n}d"
                for n in WINDOWS
            )
        },
               o.monetary / NULLIF(o.frequency, 0) AS avg_order_value,
               o.monetary_{vd}d / NULLIF(o.orders_{vd}d, 0) AS avg_order_value_{vd}d,
               o.repurchase_cycle_days, COALESCE(o.refunds, 0) AS refunds,
               CAST(o.coupon_orders AS DOUBLE) / NULLIF(o.frequency, 0) AS coupon_share,
               cat.favourite_category, brand.favourite_brand, term.preferred_terminal, oh.order_hour,
               v.first_visit, v.last_visit,
               COALESCE(v.visits_7d, 0) AS visits_7d, COALESCE(v.visits_30d, 0) AS visits_30d,
               COALESCE(v.visits_90d, 0) AS visits_90d, CAST(COALESCE(v.pv_30d, 0) AS BIGINT) AS pv_30d,
               date_diff('day', v.last_visit, {d}) AS days_since_visit,
               CAST(COALESCE(v.favs_30d, 0) AS BIGINT) AS favs_30d, CAST(COALESCE(v.carts_30d, 0) AS BIGINT) AS carts_30d,
               CAST(COALESCE(v.favs, 0) AS BIGINT) AS favs, CAST(COALESCE(v.carts, 0) AS BIGINT) AS carts,
               vh.visit_hour,
               COALESCE(s.consultations_90d, 0) AS consultations_90d,
               COALESCE(s.consultations_prev_90d, 0) AS consultations_prev_90d,
               COALESCE(s.complaints_90d, 0) AS complaints_90d, COALESCE(s.complaints, 0) AS complaints,
               COALESCE(s.interactions, 0) AS interactions, s.avg_satisfaction, contact.preferred_contact
        FROM people p
        LEFT JOIN c USING (user_id) LEFT JOIN o USING (user_id) LEFT JOIN cat USING (user_id)
        LEFT JOIN brand USING (user_id) LEFT JOIN term USING (user_id) LEFT JOIN oh USING (user_id)
        LEFT JOIN v USING (user_id) LEFT JOIN vh USING (user_id) LEFT JOIN s USING (user_id)
        LEFT JOIN contact USING (user_id)
        ORDER BY p.user_id""",
        """CREATE TABLE rfm_thresholds AS
           SELECT quantile_cont(recency_days, [0.2, 0.4, 0.6, 0.8]) AS r_cuts,
                  quantile_cont(frequency, [0.2, 0.4, 0.6, 0.8]) AS f_cuts,
                  quantile_cont(monetary, [0.2, 0.4, 0.6, 0.8]) AS m_cuts,
                  count(*) AS buyers
           FROM customer_table WHERE frequency > 0""",
        f"""CREATE TABLE rfm AS
           WITH scored AS (
             SELECT c.user_id, c.recency_days, c.frequency, c.monetary,
                    {score("c.recency_days", "t.r_cuts", True)} AS r_score,
                    {score("c.frequency", "t.f_cuts", False)} AS f_score,
                    {score("c.monetary", "t.m_cuts", False)} AS m_score
             FROM customer_table c, rfm_thresholds t WHERE c.frequency > 0),
           a AS (SELECT {stat}(r_score) AS ra, {stat}(f_score) AS fa, {stat}(m_score) AS ma FROM scored)
           SELECT user_id, recency_days, frequency, monetary, r_score, f_score, m_score,
                  r_score > ra AS r_high, f_score > fa AS f_high, m_score > ma AS m_high,
                  CASE {groups} END AS rfm_group
           FROM (SELECT * FROM scored, a) ORDER BY user_id""",
        f"""CREATE OR REPLACE TABLE rfm_thresholds AS
           SELECT t.*, a.* FROM rfm_thresholds t,
                (SELECT {stat}(r_score) AS r_average, {stat}(f_score) AS f_average, {stat}(m_score) AS m_average,
                        '{cfg["compare"]}' AS compare FROM rfm) a""",
    ]


def run(workspace: Path, as_of: date, out: Path) -> dict:
    """Run the script into a new database file ``out``; seconds per statement and in all."""
    cfg = settings(workspace)
    statements = script(as_of, cfg)
    for p in (out, Path(str(out) + ".wal")):
        p.unlink(missing_ok=True)
    con = duckdb.connect(str(out), config={"memory_limit": cfg["memory_limit"], "threads": cfg["threads"]})
    timings = []
    try:
        con.execute(f"ATTACH '{workspace / 'warehouse.duckdb'}' AS raw (READ_ONLY)")
        started = time.perf_counter()
        for sql in statements:
            t0 = time.perf_counter()
            con.execute(sql).fetchall()
            timings.append({"seconds": round(time.perf_counter() - t0, 3), "sql": " ".join(sql.split())[:160]})
        seconds = time.perf_counter() - started
        customers = con.execute("SELECT count(*) FROM customer_table").fetchall()[0][0]
        groups = dict(con.execute("SELECT rfm_group, count(*) FROM rfm GROUP BY 1 ORDER BY 1").fetchall())
        con.execute("DETACH raw")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return {
        "seconds": round(seconds, 3),
        "statements": timings,
        "customers": customers,
        "buyers": sum(groups.values()),
        "rfm_groups": groups,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("as_of", type=date.fromisoformat)
    parser.add_argument("--out", type=Path, help="the database file to write (replaced)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--print", action="store_true", help="print the script and stop")
    args = parser.parse_args(argv)
    if args.print:
        print(";\n\n".join(script(args.as_of, settings(args.workspace))) + ";")
        return 0
    if args.out is None:
        parser.error("--out FILE.duckdb is needed to run the script")
    result = run(args.workspace, args.as_of, args.out)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for st in result["statements"]:
            print(f"{st['seconds']:8.3f}  {st['sql']}")
        print(f"{result['seconds']:8.3f}  in all; {result['customers']:,} customers, {result['buyers']:,} buyers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
