"""RFM: quintile scores (1–5) by value thresholds, and the eight classic groups (DOMAIN.md §6).

Scores come from the 20/40/60/80 % quantiles of recency, frequency and monetary over the
customers who bought; equal values always get equal scores. Each score is high (↑) when it is
above the average score of all buyers (or the median, ``[rfm] compare``); R↑ means recent.
"""

from __future__ import annotations

from typing import Any

import duckdb

from portrait.config import PortraitConfig
from portrait.engine import run

GROUPS = {
    (True, True, True): "重要价值客户",
    (True, False, True): "重要发展客户",
    (False, True, True): "重要保持客户",
    (False, False, True): "重要挽留客户",
    (True, True, False): "一般价值客户",
    (True, False, False): "一般发展客户",
    (False, True, False): "一般保持客户",
    (False, False, False): "一般挽留客户",
}
GROUP_ORDER = list(GROUPS.values())


def _score(column: str, cuts: str, recent_is_low: bool) -> str:
    """1–5 by the four cut points of ``cuts`` (a list column); recency scores the other way round."""
    inner = " + ".join(f"CASE WHEN {column} > {cuts}[{i}] THEN 1 ELSE 0 END" for i in range(1, 5))
    return f"(5 - ({inner}))" if recent_is_low else f"(1 + {inner})"


def build_rfm(con: duckdb.DuckDBPyConnection, config: PortraitConfig) -> None:
    """Build ``rfm`` (per buyer: values, scores, high/low, group) and ``rfm_thresholds``."""
    compare = config.rfm.compare
    run(
        con,
        """CREATE OR REPLACE TABLE rfm_thresholds AS
           SELECT quantile_cont(recency_days, [0.2, 0.4, 0.6, 0.8]) AS r_cuts,
                  quantile_cont(frequency, [0.2, 0.4, 0.6, 0.8]) AS f_cuts,
                  quantile_cont(monetary, [0.2, 0.4, 0.6, 0.8]) AS m_cuts,
                  count(*) AS buyers
           FROM customer_table WHERE frequency > 0""",
    )
    run(
        con,
        f"""CREATE OR REPLACE TABLE rfm AS
            SELECT c.user_id, c.recency_days, c.frequency, c.monetary,
                   {_score("c.recency_days", "t.r_cuts", True)} AS r_score,
                   {_score("c.frequency", "t.f_cuts", False)} AS f_score,
                   {_score("c.monetary", "t.m_cuts", False)} AS m_score
            FROM customer_table c, rfm_thresholds t
            WHERE c.frequency > 0""",
    )
    stat = "avg" if compare == "mean" else "median"
    # the averages join the thresholds in a new table (one statement per table, so it runs on Spark too)
    run(
        con,
        f"""CREATE OR REPLACE TABLE rfm_thresholds AS
            SELECT t.r_cuts, t.f_cuts, t.m_cuts, t.buyers,
                   CAST(a.r AS DOUBLE) AS r_average, CAST(a.f AS DOUBLE) AS f_average, CAST(a.m AS DOUBLE) AS m_average,
                   CAST('{compare}' AS VARCHAR) AS compare
            FROM rfm_thresholds t, (SELECT {stat}(r_score) AS r, {stat}(f_score) AS f, {stat}(m_score) AS m FROM rfm) a""",
    )
    cases = " ".join(
        f"WHEN r_high = {str(r).lower()} AND f_high = {str(f).lower()} AND m_high = {str(m).lower()} THEN '{name}'"
        for (r, f, m), name in GROUPS.items()
    )
    run(
        con,
        f"""CREATE OR REPLACE TABLE rfm AS
            SELECT *, CASE {cases} END AS rfm_group FROM (
              SELECT r.*, r.r_score > t.r_average AS r_high, r.f_score > t.f_average AS f_high,
                     r.m_score > t.m_average AS m_high
              FROM rfm r, rfm_thresholds t)
            ORDER BY user_id""",
    )


def rfm_summary(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Thresholds used, group sizes and each group's average R, F, M (values and scores)."""
    t = con.execute(
        "SELECT r_cuts, f_cuts, m_cuts, buyers, r_average, f_average, m_average, compare FROM rfm_thresholds"
    ).fetchall()[0]
    groups = {
        row[0]: {
            "customers": row[1],
            "share": row[2],
            "avg_recency_days": row[3],
            "avg_frequency": row[4],
            "avg_monetary": row[5],
            "avg_r_score": row[6],
            "avg_f_score": row[7],
            "avg_m_score": row[8],
        }
        for row in con.execute(
            """SELECT rfm_group, count(*), count(*) / sum(count(*)) OVER (), avg(recency_days), avg(frequency),
                      avg(monetary), avg(r_score), avg(f_score), avg(m_score)
               FROM rfm GROUP BY rfm_group"""
        ).fetchall()
    }
    ordered = {name: groups.get(name, {"customers": 0, "share": 0.0}) for name in GROUP_ORDER}
    return {
        "buyers": t[3],
        "thresholds": {
            "recency_days": {"cuts": t[0], "rule": "score 5 when recency ≤ 1st cut … 1 when above the 4th"},
            "frequency": {"cuts": t[1], "rule": "score 1 when ≤ 1st cut … 5 when above the 4th"},
            "monetary": {"cuts": t[2], "rule": "score 1 when ≤ 1st cut … 5 when above the 4th"},
        },
        "high_when_score_above": {"r": t[4], "f": t[5], "m": t[6], "compare": t[7]},
        "groups": ordered,
    }
