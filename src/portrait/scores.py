"""Radar scores 0–100 (consumption ability, loyalty, activity, demand potential) from percentile ranks.

pr(x) is the percent rank of x among all customers (0 = lowest, 1 = highest; ties share the lower
rank; a missing value counts as 0). Each score is 100 × a weighted sum of ranks, rounded:

- consumption ability 消费能力 = 0.6·pr(monetary_180d) + 0.4·pr(avg_order_value)
- loyalty 忠诚度 = 0.5·pr(frequency) + 0.3·(1 − pr(recency_days)) + 0.2·pr(days since first order)
  (customers who never bought get 0)
- activity 活跃度 = 0.5·pr(visits_30d) + 0.3·pr(pv_30d) + 0.2·(1 − pr(days_since_visit))
  (customers never seen get 0 on the last part)
- demand potential 需求潜力 = 0.5·pr(favs_30d + carts_30d) + 0.3·pr(visits_30d) + 0.2·pr(consultations_90d)
"""

from __future__ import annotations

import duckdb

from portrait.engine import run

SCORES = {
    "consumption_score": "消费能力",
    "loyalty_score": "忠诚度",
    "activity_score": "活跃度",
    "demand_score": "需求潜力",
}


def _pr(expr: str) -> str:
    return f"percent_rank() OVER (ORDER BY COALESCE({expr}, 0))"


def build_scores(con: duckdb.DuckDBPyConnection) -> None:
    """Build ``scores``: one row per customer with the four radar scores."""
    run(
        con,
        f"""CREATE OR REPLACE TABLE scores AS
            SELECT user_id,
                   CAST(round(100 * (0.6 * pr_m + 0.4 * pr_aov)) AS INTEGER) AS consumption_score,
                   CAST(CASE WHEN frequency = 0 THEN 0
                        ELSE round(100 * (0.5 * pr_f + 0.3 * (1 - pr_r) + 0.2 * pr_tenure)) END AS INTEGER) AS loyalty_score,
                   CAST(round(100 * (0.5 * pr_v30 + 0.3 * pr_pv + 0.2 * CASE WHEN days_since_visit IS NULL THEN 0
                                                                             ELSE 1 - pr_dsv END)) AS INTEGER) AS activity_score,
                   CAST(round(100 * (0.5 * pr_intent + 0.3 * pr_v30 + 0.2 * pr_consult)) AS INTEGER) AS demand_score
            FROM (
              SELECT user_id, frequency, days_since_visit,
                     {_pr("monetary_180d")} AS pr_m,
                     {_pr("avg_order_value")} AS pr_aov,
                     {_pr("frequency")} AS pr_f,
                     percent_rank() OVER (ORDER BY COALESCE(recency_days, 100000)) AS pr_r,
                     {_pr("date_diff('day', CAST(first_order_at AS DATE), (SELECT as_of FROM snapshot_info))")} AS pr_tenure,
                     {_pr("visits_30d")} AS pr_v30,
                     {_pr("pv_30d")} AS pr_pv,
                     percent_rank() OVER (ORDER BY COALESCE(days_since_visit, 100000)) AS pr_dsv,
                     {_pr("favs_30d + carts_30d")} AS pr_intent,
                     {_pr("consultations_90d")} AS pr_consult
              FROM customer_table)
            ORDER BY user_id""",
    )
