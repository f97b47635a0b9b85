"""The engine-neutral forms of the refresh definitions and the DuckDB → Spark SQL rewrites (no JVM needed)."""

from __future__ import annotations

from collections import Counter
from datetime import date

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from portrait.features import _most_frequent
from portrait.parquet import exported_columns
from portrait.schema import PERSONAL_FIELDS
from portrait.spark import spark_sql


def test_raw_tables_percentiles_and_parameters_are_rewritten():
    sql = spark_sql(
        "SELECT quantile_cont(x, [0.2, 0.8]) AS q, c[1] AS first_cut FROM raw.orders WHERE d < ? AND n > ? AND s = ?",
        [date(2025, 1, 1), 3, "it's"],
    )
    assert sql == [
        "SELECT PERCENTILE(x, ARRAY(0.2, 0.8)) AS q, c[0] AS first_cut FROM raw__orders "
        "WHERE d < CAST('2025-01-01' AS DATE) AND n > 3 AND s = 'it\\'s'"
    ]


def test_identifiers_are_quoted_for_spark_and_tables_other_than_raw_kept():
    assert spark_sql('SELECT "测试规则", CAST(x AS VARCHAR) FROM tag_values') == [
        "SELECT `测试规则`, CAST(x AS STRING) FROM tag_values"
    ]


def test_exported_columns_leave_out_personal_and_bookkeeping_fields():
    cols = exported_columns("customers")
    assert cols[0] == "user_id" and "merged_into" in cols and "birth_date" in cols
    assert not set(PERSONAL_FIELDS) & set(cols)
    assert not [c for c in cols if c.startswith("_")]
    assert exported_columns("orders")[:3] == ["order_id", "user_id", "order_time"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("uvw"), st.sampled_from(["a", "b", "c", None])), max_size=30))
def test_most_frequent_picks_the_commonest_value_ties_to_the_smallest(rows):
    """For every user: the value seen most often (NULLs skipped); on a tie, the smallest value."""
    con = duckdb.connect()
    con.execute("CREATE TABLE src (user_id VARCHAR, x VARCHAR)")
    if rows:
        con.executemany("INSERT INTO src VALUES (?, ?)", rows)
    got = dict(con.execute(_most_frequent("src", "x", "fav")).fetchall())
    expected = {}
    for user in {u for u, _ in rows}:
        counts = Counter(x for u, x in rows if u == user and x is not None)
        if counts:
            expected[user] = min(counts, key=lambda v: (-counts[v], v))
    assert got == expected
