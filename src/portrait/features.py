"""The customer table: one row per customer, every feature computed in the engine as of a date.

Each statement reads the raw warehouse (attached as ``raw``) and writes into the snapshot being
built. Dates are compared as dates (day boundaries), windows end the day before ``as_of``, and
identity merges are followed: orders of a merged-away record count for the surviving customer.
"""

from __future__ import annotations

from datetime import date

import duckdb

from portrait.config import PortraitConfig
from portrait.engine import run
from portrait.schema import CHANNELS
from portrait.warehouse import data_columns

REFUND_STATUSES = ("refunded", "returned")
WINDOWS = (7, 30, 90, 180, 365)


def _d(as_of: date) -> str:
    return f"DATE '{as_of.isoformat()}'"


def build_facts(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    """Identity map, order-level facts and daily visits: the small tables metrics and features read."""
    d = _d(as_of)
    run(
        con,
        "CREATE OR REPLACE TABLE identity AS "
        "SELECT user_id, COALESCE(merged_into, user_id) AS customer_id FROM raw.customers",
    )
    # one row per order (an order may have several lines); refunded when any line was refunded or returned
    run(
        con,
        f"""CREATE OR REPLACE TABLE order_facts AS
            SELECT COALESCE(i.customer_id, o.user_id) AS user_id, o.order_id,
                   min(o.order_time) AS order_time, CAST(min(o.order_time) AS DATE) AS order_date,
                   CAST(sum(o.amount) FILTER (WHERE COALESCE(o.status, 'paid') NOT IN {REFUND_STATUSES}) AS DOUBLE) AS amount,
                   CAST(sum(o.amount) AS DOUBLE) AS gross_amount,
                   bool_and(COALESCE(o.status, 'paid') IN {REFUND_STATUSES}) AS refunded,
                   bool_or(COALESCE(o.status, 'paid') IN {REFUND_STATUSES}) AS any_refund,
                   bool_or(COALESCE(o.coupon_used, false)) AS coupon_used,
                   min(o.terminal) AS terminal
            FROM raw.orders o LEFT JOIN identity i USING (user_id)
            WHERE CAST(o.order_time AS DATE) < {d}
            GROUP BY ALL""",
    )
    # order lines (for product, category and basket analyses) and the channel statistics, as of the date
    run(
        con,
        f"""CREATE OR REPLACE TABLE order_lines AS
            SELECT COALESCE(i.customer_id, o.user_id) AS user_id, o.order_id, o.order_time, o.product_id,
                   o.product_name, o.category, o.brand, CAST(o.unit_price AS DOUBLE) AS unit_price, o.quantity,
                   CAST(o.amount AS DOUBLE) AS amount, COALESCE(o.status, 'paid') AS status, o.terminal, o.source
            FROM raw.orders o LEFT JOIN identity i USING (user_id)
            WHERE CAST(o.order_time AS DATE) < {d}""",
    )
    run(
        con,
        f"CREATE OR REPLACE TABLE channel_days AS SELECT {', '.join(data_columns(CHANNELS))} FROM raw.channels WHERE date < {d}",
    )
    run(
        con,
        f"""CREATE OR REPLACE TABLE visit_days AS
            SELECT COALESCE(i.customer_id, e.user_id) AS user_id, CAST(e.behavior_time AS DATE) AS day,
                   count(*) AS events, count(*) FILTER (WHERE e.behavior_type = 'pv') AS pv
            FROM raw.events e LEFT JOIN identity i USING (user_id)
            WHERE CAST(e.behavior_time AS DATE) < {d}
            GROUP BY ALL""",
    )


def age_band_sql(age: str, edges: list[int], labels: list[str]) -> str:
    """SQL naming the band of ``age``: below the first edge, between edges, or the last open band."""
    parts = [f"WHEN {age} IS NULL THEN NULL", f"WHEN {age} < {edges[0]} THEN '{labels[0]}'"]
    for i in range(1, len(edges)):
        parts.append(f"WHEN {age} < {edges[i]} THEN '{labels[i]}'")
    parts.append(f"ELSE '{labels[len(edges)]}'")
    return "CASE " + " ".join(parts) + " END"


def _most_frequent(source: str, column: str, alias: str, skip_null: bool = True) -> str:
    """Per user, the most frequent value of ``column`` in ``source``; ties go to the smallest value.

    Written with ``row_number()`` rather than DuckDB's ``first(x ORDER BY …)`` so the same statement
    runs on Spark.
    """
    where = f"WHERE {column} IS NOT NULL " if skip_null else ""
    return (
        f"SELECT user_id, {column} AS {alias} FROM ("
        f"SELECT user_id, {column}, row_number() OVER (PARTITION BY user_id ORDER BY n DESC, {column} NULLS LAST) AS rk "
        f"FROM (SELECT user_id, {column}, count(*) AS n FROM {source} {where}GROUP BY user_id, {column})) WHERE rk = 1"
    )


def build_customer_table(con: duckdb.DuckDBPyConnection, as_of: date, config: PortraitConfig) -> None:
    """Build ``customer_table`` (one row per active customer, and per id seen only in activity)."""
    d = _d(as_of)
    w = config.windows
    paid = "NOT refunded"
    order_windows = ",\n".join(
        f"count(*) FILTER (WHERE {paid} AND order_date >= {d} - INTERVAL {n} DAY) AS orders_{n}d, "
        f"COALESCE(sum(amount) FILTER (WHERE {paid} AND order_date >= {d} - INTERVAL {n} DAY), 0) AS monetary_{n}d"
        for n in WINDOWS
    )
    visit_windows = ",\n".join(
        f"count(*) FILTER (WHERE day >= {d} - INTERVAL {n} DAY) AS visit_days_{n}d, "
        f"CAST(COALESCE(sum(pv) FILTER (WHERE day >= {d} - INTERVAL {n} DAY), 0) AS BIGINT) AS pv_{n}d"
        for n in (7, 30, 90)
    )
    bands = config.bands
    # age from the birth date counts year boundaries (as DuckDB's date_diff('year') did); written with year()
    # because Spark's year difference counts whole elapsed years
    age = f"(year({d}) - year(c.birth_date))"
    run(
        con,
        f"""CREATE OR REPLACE TABLE customer_table AS
        WITH people AS (
            SELECT user_id FROM raw.customers WHERE merged_into IS NULL
            UNION SELECT user_id FROM order_facts UNION SELECT user_id FROM visit_days
            UNION SELECT COALESCE(i.customer_id, x.user_id) FROM raw.interactions x LEFT JOIN identity i USING (user_id)
        ),
        o AS (
            SELECT user_id,
                   min(order_time) FILTER (WHERE {paid}) AS first_order_at,
                   max(order_time) FILTER (WHERE {paid}) AS last_order_at,
                   count(*) FILTER (WHERE {paid}) AS frequency,
                   COALESCE(sum(amount) FILTER (WHERE {paid}), 0) AS monetary,
                   count(*) FILTER (WHERE any_refund) AS refunds,
                   count(*) FILTER (WHERE {paid} AND coupon_used) AS coupon_orders,
                   {order_windows}
            FROM order_facts GROUP BY user_id
        ),
        gaps AS (
            SELECT user_id, avg(gap) AS repurchase_cycle_days FROM (
                SELECT user_id, date_diff('day', lag(order_date) OVER (PARTITION BY user_id ORDER BY order_date, order_id),
                                          order_date) AS gap
                FROM order_facts WHERE {paid}) WHERE gap IS NOT NULL GROUP BY user_id
        ),
        lines AS (
            SELECT COALESCE(i.customer_id, l.user_id) AS user_id, l.category, l.brand, l.terminal,
                   CAST(hour(l.order_time) AS BIGINT) AS hour, l.unit_price, l.amount
            FROM raw.orders l LEFT JOIN identity i USING (user_id)
            WHERE CAST(l.order_time AS DATE) < {d} AND COALESCE(l.status, 'paid') NOT IN {REFUND_STATUSES}
        ),
        prefs AS ({_most_frequent("lines", "category", "favourite_category")}),
        brands AS ({_most_frequent("lines", "brand", "favourite_brand")}),
        terminals AS ({_most_frequent("lines", "terminal", "preferred_terminal")}),
        hours AS ({_most_frequent("lines", "hour", "order_hour", skip_null=False)}),
        v AS (
            SELECT user_id, min(day) AS first_visit, max(day) AS last_visit, count(*) AS visit_days,
                   {visit_windows}
            FROM visit_days GROUP BY user_id
        ),
        ev AS (
            SELECT COALESCE(i.customer_id, e.user_id) AS user_id,
                   count(*) FILTER (WHERE e.behavior_type = 'fav' AND CAST(e.behavior_time AS DATE) >= {d} - INTERVAL 30 DAY) AS favs_30d,
                   count(*) FILTER (WHERE e.behavior_type = 'cart' AND CAST(e.behavior_time AS DATE) >= {d} - INTERVAL 30 DAY) AS carts_30d,
                   count(*) FILTER (WHERE e.behavior_type = 'fav') AS favs,
                   count(*) FILTER (WHERE e.behavior_type = 'cart') AS carts
            FROM raw.events e LEFT JOIN identity i USING (user_id)
            WHERE CAST(e.behavior_time AS DATE) < {d}
            GROUP BY 1
        ),
        visit_hours AS ({_most_frequent(f"(SELECT COALESCE(i.customer_id, e.user_id) AS user_id, CAST(hour(e.behavior_time) AS BIGINT) AS h FROM raw.events e LEFT JOIN identity i USING (user_id) WHERE CAST(e.behavior_time AS DATE) < {d})", "h", "visit_hour", skip_null=False)}),
        s AS (
            SELECT COALESCE(i.customer_id, x.user_id) AS user_id,
                   count(*) FILTER (WHERE x.type = 'consult' AND CAST(x.interaction_time AS DATE) >= {d} - INTERVAL 90 DAY) AS consultations_90d,
                   count(*) FILTER (WHERE x.type = 'consult' AND CAST(x.interaction_time AS DATE) >= {d} - INTERVAL 180 DAY
                                    AND CAST(x.interaction_time AS DATE) < {d} - INTERVAL 90 DAY) AS consultations_prev_90d,
                   count(*) FILTER (WHERE x.type = 'complaint' AND CAST(x.interaction_time AS DATE) >= {d} - INTERVAL 90 DAY) AS complaints_90d,
                   count(*) FILTER (WHERE x.type = 'complaint') AS complaints,
                   count(*) AS interactions,
                   avg(x.satisfaction) AS avg_satisfaction
            FROM raw.interactions x LEFT JOIN identity i USING (user_id)
            WHERE CAST(x.interaction_time AS DATE) < {d}
            GROUP BY 1
        ),
        contact AS ({_most_frequent(f"(SELECT COALESCE(i.customer_id, x.user_id) AS user_id, x.channel FROM raw.interactions x LEFT JOIN identity i USING (user_id) WHERE CAST(x.interaction_time AS DATE) < {d})", "channel", "preferred_contact")}),
        c AS (SELECT * FROM raw.customers WHERE merged_into IS NULL)
        SELECT p.user_id,
               c.gender,
               COALESCE(c.age, {age}) AS age,
               {age_band_sql(f"COALESCE(c.age, {age})", bands.age_edges, bands.age_labels)} AS age_band,
               c.province, c.city, COALESCE(c.city_tier, '未知') AS city_tier,
               c.occupation, c.member_level, c.source_channel, c.marital_status,
               CAST(c.register_date AS DATE) AS register_date,
               c.user_id IS NOT NULL AS registered,
               o.first_order_at, o.last_order_at,
               date_diff('day', CAST(o.last_order_at AS DATE), {d}) AS recency_days,
               COALESCE(o.frequency, 0) AS frequency,
               COALESCE(o.monetary, 0) AS monetary,
               {", ".join(f"COALESCE(o.orders_{n}d, 0) AS orders_{n}d, COALESCE(o.monetary_{n}d, 0) AS monetary_{n}d" for n in WINDOWS)},
               o.monetary / NULLIF(o.frequency, 0) AS avg_order_value,
               o.monetary_{w.value_days}d / NULLIF(o.orders_{w.value_days}d, 0) AS avg_order_value_{w.value_days}d,
               g.repurchase_cycle_days,
               COALESCE(o.refunds, 0) AS refunds,
               CAST(o.coupon_orders AS DOUBLE) / NULLIF(o.frequency, 0) AS coupon_share,
               pr.favourite_category, br.favourite_brand, t.preferred_terminal, h.order_hour,
               v.first_visit, v.last_visit,
               COALESCE(v.visit_days_7d, 0) AS visits_7d, COALESCE(v.visit_days_30d, 0) AS visits_30d,
               COALESCE(v.visit_days_90d, 0) AS visits_90d, COALESCE(v.pv_30d, 0) AS pv_30d,
               date_diff('day', v.last_visit, {d}) AS days_since_visit,
               COALESCE(ev.favs_30d, 0) AS favs_30d, COALESCE(ev.carts_30d, 0) AS carts_30d,
               COALESCE(ev.favs, 0) AS favs, COALESCE(ev.carts, 0) AS carts,
               vh.visit_hour,
               COALESCE(s.consultations_90d, 0) AS consultations_90d,
               COALESCE(s.consultations_prev_90d, 0) AS consultations_prev_90d,
               COALESCE(s.complaints_90d, 0) AS complaints_90d, COALESCE(s.complaints, 0) AS complaints,
               COALESCE(s.interactions, 0) AS interactions,
               s.avg_satisfaction, ct.preferred_contact
        FROM people p
        LEFT JOIN c ON c.user_id = p.user_id
        LEFT JOIN o ON o.user_id = p.user_id
        LEFT JOIN gaps g ON g.user_id = p.user_id
        LEFT JOIN prefs pr ON pr.user_id = p.user_id
        LEFT JOIN brands br ON br.user_id = p.user_id
        LEFT JOIN terminals t ON t.user_id = p.user_id
        LEFT JOIN hours h ON h.user_id = p.user_id
        LEFT JOIN v ON v.user_id = p.user_id
        LEFT JOIN ev ON ev.user_id = p.user_id
        LEFT JOIN visit_hours vh ON vh.user_id = p.user_id
        LEFT JOIN s ON s.user_id = p.user_id
        LEFT JOIN contact ct ON ct.user_id = p.user_id
        ORDER BY p.user_id""",
    )
