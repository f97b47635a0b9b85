"""The customer table: one row per customer, every feature computed in the engine as of a date.

Each statement reads the raw warehouse (attached as ``raw``) and writes into the snapshot being
built. Dates are compared as dates (day boundaries), windows end the day before ``as_of``, and
identity merges are followed: orders of a merged-away record count for the surviving customer.
"""

from __future__ import annotations

from datetime import date

import duckdb

from portrait.clean.parse import q
from portrait.config import PortraitConfig
from portrait.engine import run
from portrait.schema import CHANNELS
from portrait.warehouse import data_columns

REFUND_STATUSES = ("refunded", "returned")
WINDOWS = (7, 30, 90, 180, 365)


def _d(as_of: date) -> str:
    return f"DATE '{as_of.isoformat()}'"


def midnight(as_of: date) -> str:
    """A timestamp literal for midnight of ``as_of``: ``t < it`` is ``CAST(t AS DATE) < as_of`` without a cast per row."""
    return f"TIMESTAMP '{as_of.isoformat()} 00:00:00'"


def _follow_merges(agg: str, keys: list[str], counts: list[str]) -> str:
    """Rows of ``agg`` (``user_id``, ``keys``, ``counts``, one row per raw user id and keys) per surviving customer.

    Aggregating the raw rows first and following identity merges afterwards keeps the join off the
    hundred million event rows: only the rows of merged records and of their survivors are grouped again.
    """
    touched = "(SELECT user_id FROM identity UNION ALL SELECT customer_id FROM identity)"
    key_list = ", ".join(f"a.{k}" for k in keys)
    sums = ", ".join(f"CAST(sum(a.{c}) AS BIGINT) AS {c}" for c in counts)
    positions = ", ".join(str(i + 1) for i in range(len(keys) + 1))
    return (
        f"SELECT user_id, {', '.join(keys)}, {', '.join(counts)} FROM {agg} "
        f"WHERE user_id IS NULL OR user_id NOT IN {touched} "
        f"UNION ALL SELECT COALESCE(i.customer_id, a.user_id) AS user_id, {key_list}, {sums} "
        f"FROM {agg} a LEFT JOIN identity i USING (user_id) WHERE a.user_id IN {touched} GROUP BY {positions}"
    )


def build_facts(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    """Identity map, order-level facts and daily visits: the small tables metrics and features read.

    ``identity`` lists the merged-away records only (record → surviving customer): every reader joins it
    with ``LEFT JOIN identity i USING (user_id)`` and takes ``COALESCE(i.customer_id, user_id)``, and a
    table of a few merged records is a cheap probe for the hundred million event rows.
    ``visit_days`` also counts the day's favourites and cart adds, so the customer table reads the
    events once here, not again.
    """
    d = _d(as_of)
    before = midnight(as_of)
    run(
        con,
        "CREATE OR REPLACE TABLE identity AS "
        "SELECT user_id, merged_into AS customer_id FROM raw.customers WHERE merged_into IS NOT NULL",
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
                   bool_or(COALESCE(o.coupon_used, false)) AS coupon_used
            FROM raw.orders o LEFT JOIN identity i USING (user_id)
            WHERE o.order_time < {before}
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
            WHERE o.order_time < {before}""",
    )
    run(
        con,
        f"CREATE OR REPLACE TABLE channel_days AS SELECT {', '.join(data_columns(CHANNELS))} FROM raw.channels WHERE date < {d}",
    )
    run(
        con,
        f"""CREATE OR REPLACE TABLE visit_days AS
            WITH days AS (
                SELECT user_id, CAST(behavior_time AS DATE) AS day,
                       count(*) AS events, count(*) FILTER (WHERE behavior_type = 'pv') AS pv,
                       count(*) FILTER (WHERE behavior_type = 'fav') AS favs,
                       count(*) FILTER (WHERE behavior_type = 'cart') AS carts
                FROM raw.events WHERE behavior_time < {before}
                GROUP BY user_id, day
            )
            {_follow_merges("days", ["day"], ["events", "pv", "favs", "carts"])}""",
    )


def facts_before(con: duckdb.DuckDBPyConnection, source: str, cutoff: date) -> None:
    """Views of the facts as of ``cutoff``, over the facts ``source`` (a database name) holds as of a later date.

    The views go into the connection's default database, under the names :func:`build_facts` writes, so
    :func:`build_customer_table` reads them as it reads the facts themselves. Each is the later table
    restricted to what happened before ``cutoff``: no pass over the raw warehouse, nothing written. One
    difference from :func:`build_facts` at ``cutoff``: an order whose first line falls before the cut-off
    counts there with every line it had by the later date (``build_facts`` would leave out its later lines).
    """
    src = q(source)
    d, before = _d(cutoff), midnight(cutoff)
    where = {  # every table build_facts writes, and what of it happened before the cut-off
        "identity": "true",
        "order_facts": f"order_time < {before}",
        "order_lines": f"order_time < {before}",
        "channel_days": f"date < {d}",
        "visit_days": f"day < {d}",
    }
    for table, kept in where.items():
        run(con, f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM {src}.{table} WHERE {kept}")


def age_band_sql(age: str, edges: list[int], labels: list[str]) -> str:
    """SQL naming the band of ``age``: below the first edge, between edges, or the last open band."""
    parts = [f"WHEN {age} IS NULL THEN NULL", f"WHEN {age} < {edges[0]} THEN '{labels[0]}'"]
    for i in range(1, len(edges)):
        parts.append(f"WHEN {age} < {edges[i]} THEN '{labels[i]}'")
    parts.append(f"ELSE '{labels[len(edges)]}'")
    return "CASE " + " ".join(parts) + " END"


def _most_frequent(source: str, column: str, alias: str, counted: bool = False) -> str:
    """Per user, the most frequent non-null value of ``column`` in ``source``; ties go to the smallest value.

    One aggregate, no window: the smallest ``(-count, value)`` pair is the most frequent value, the
    smallest among equals. The struct ``min`` is written so SQLGlot carries it to Spark unchanged.
    ``counted``: ``source`` already holds one row per user and value with its count ``n``.
    """
    if counted:
        return f"SELECT user_id, min({{'n': -n, 'v': {column}}}).v AS {alias} FROM {source} WHERE {column} IS NOT NULL GROUP BY user_id"
    return (
        f"SELECT user_id, min({{'n': -n, 'v': {column}}}).v AS {alias} "
        f"FROM (SELECT user_id, {column}, count(*) AS n FROM {source} WHERE {column} IS NOT NULL "
        f"GROUP BY user_id, {column}) GROUP BY user_id"
    )


def build_customer_table(
    con: duckdb.DuckDBPyConnection, as_of: date, config: PortraitConfig, as_view: bool = False
) -> None:
    """Build ``customer_table`` (one row per active customer, and per id seen only in activity).

    ``as_view``: define it as a view instead, for a caller that reads some of its columns once (the churn
    model's cut-offs): nothing is written, and what the caller does not read is not kept.
    """
    d = _d(as_of)
    w = config.windows
    paid = "NOT refunded"
    order_windows = ",\n".join(
        f"count(*) FILTER (WHERE {paid} AND order_date >= {d} - INTERVAL {n} DAY) AS orders_{n}d, "
        f"COALESCE(round(sum(amount) FILTER (WHERE {paid} AND order_date >= {d} - INTERVAL {n} DAY), 2), 0) AS monetary_{n}d"
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
    # repurchase_cycle_days, the mean gap between consecutive paid orders, needs no window: the gaps
    # add up to last − first, over frequency − 1 gaps
    run(
        con,
        f"""CREATE OR REPLACE {"VIEW" if as_view else "TABLE"} customer_table AS
        WITH
        o AS (
            SELECT user_id,
                   min(order_time) FILTER (WHERE {paid}) AS first_order_at,
                   max(order_time) FILTER (WHERE {paid}) AS last_order_at,
                   count(*) FILTER (WHERE {paid}) AS frequency,
                   COALESCE(round(sum(amount) FILTER (WHERE {paid}), 2), 0) AS monetary,
                   count(*) FILTER (WHERE any_refund) AS refunds,
                   count(*) FILTER (WHERE {paid} AND coupon_used) AS coupon_orders,
                   {order_windows}
            FROM order_facts GROUP BY user_id
        ),
        lines AS (
            SELECT user_id, category, brand, terminal, CAST(hour(order_time) AS BIGINT) AS hour
            FROM order_lines WHERE status NOT IN {REFUND_STATUSES}
        ),
        prefs AS ({_most_frequent("lines", "category", "favourite_category")}),
        brands AS ({_most_frequent("lines", "brand", "favourite_brand")}),
        terminals AS ({_most_frequent("lines", "terminal", "preferred_terminal")}),
        hours AS ({_most_frequent("lines", "hour", "order_hour")}),
        v AS (
            SELECT user_id, min(day) AS first_visit, max(day) AS last_visit, count(*) AS visit_days,
                   {visit_windows},
                   CAST(COALESCE(sum(favs) FILTER (WHERE day >= {d} - INTERVAL 30 DAY), 0) AS BIGINT) AS favs_30d,
                   CAST(COALESCE(sum(carts) FILTER (WHERE day >= {d} - INTERVAL 30 DAY), 0) AS BIGINT) AS carts_30d,
                   CAST(sum(favs) AS BIGINT) AS favs, CAST(sum(carts) AS BIGINT) AS carts
            FROM visit_days GROUP BY user_id
        ),
        hour_counts AS (
            SELECT user_id, CAST(hour(behavior_time) AS BIGINT) AS h, count(*) AS n FROM raw.events
            WHERE behavior_time < {midnight(as_of)} GROUP BY user_id, h
        ),
        visit_hours AS ({_most_frequent(f"({_follow_merges('hour_counts', ['h'], ['n'])})", "h", "visit_hour", counted=True)}),
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
        c AS (SELECT * FROM raw.customers WHERE merged_into IS NULL),
        people AS (
            SELECT user_id FROM c UNION SELECT user_id FROM o UNION SELECT user_id FROM v
            UNION SELECT COALESCE(i.customer_id, x.user_id) FROM raw.interactions x LEFT JOIN identity i USING (user_id)
        )
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
               CAST(date_diff('day', CAST(o.first_order_at AS DATE), CAST(o.last_order_at AS DATE)) AS DOUBLE)
                   / NULLIF(o.frequency - 1, 0) AS repurchase_cycle_days,
               COALESCE(o.refunds, 0) AS refunds,
               CAST(o.coupon_orders AS DOUBLE) / NULLIF(o.frequency, 0) AS coupon_share,
               pr.favourite_category, br.favourite_brand, t.preferred_terminal, h.order_hour,
               v.first_visit, v.last_visit,
               COALESCE(v.visit_days_7d, 0) AS visits_7d, COALESCE(v.visit_days_30d, 0) AS visits_30d,
               COALESCE(v.visit_days_90d, 0) AS visits_90d, COALESCE(v.pv_30d, 0) AS pv_30d,
               date_diff('day', v.last_visit, {d}) AS days_since_visit,
               COALESCE(v.favs_30d, 0) AS favs_30d, COALESCE(v.carts_30d, 0) AS carts_30d,
               COALESCE(v.favs, 0) AS favs, COALESCE(v.carts, 0) AS carts,
               vh.visit_hour,
               COALESCE(s.consultations_90d, 0) AS consultations_90d,
               COALESCE(s.consultations_prev_90d, 0) AS consultations_prev_90d,
               COALESCE(s.complaints_90d, 0) AS complaints_90d, COALESCE(s.complaints, 0) AS complaints,
               COALESCE(s.interactions, 0) AS interactions,
               s.avg_satisfaction, ct.preferred_contact
        FROM people p
        LEFT JOIN c ON c.user_id = p.user_id
        LEFT JOIN o ON o.user_id = p.user_id
        LEFT JOIN prefs pr ON pr.user_id = p.user_id
        LEFT JOIN brands br ON br.user_id = p.user_id
        LEFT JOIN terminals t ON t.user_id = p.user_id
        LEFT JOIN hours h ON h.user_id = p.user_id
        LEFT JOIN v ON v.user_id = p.user_id
        LEFT JOIN visit_hours vh ON vh.user_id = p.user_id
        LEFT JOIN s ON s.user_id = p.user_id
        LEFT JOIN contact ct ON ct.user_id = p.user_id
        ORDER BY p.user_id""",
    )
