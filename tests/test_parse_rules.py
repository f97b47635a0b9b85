"""Property tests of the parse pass's SQL pieces against plain-Python statements of the rules."""

from __future__ import annotations

import re
from datetime import datetime

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portrait.clean import pipeline
from portrait.clean.parse import NULL_TOKENS, field_rule, nulled
from portrait.clean.pipeline import moments_by_counts, quartiles_by_counts
from portrait.config import CleaningConfig
from portrait.ingest.job import import_files
from portrait.schema import TABLES
from portrait.workspace import init_workspace

CON = duckdb.connect()
TOKEN = re.compile(r"\s*(" + "|".join(re.escape(t) for t in NULL_TOKENS if t) + r")?\s*", re.ASCII)
ALPHABET = st.sampled_from(list("nNuUlLoaA/#-—无空未填写\\ \t\r\n0123456789.xyZ年月日:") + ["一", "é"])


def _null_like(text: str) -> bool:
    return len(text.encode()) <= 12 and TOKEN.fullmatch(text.lower()) is not None


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.sampled_from([t.upper() for t in NULL_TOKENS] + list(NULL_TOKENS)), st.text(ALPHABET, max_size=14)))
def test_null_tokens_are_exactly_the_blank_and_null_like_values(text):
    got = CON.execute(f"SELECT {nulled('x')} FROM (SELECT ? AS x)", [text]).fetchall()[0][0]
    if _null_like(text):
        assert got is None
    else:
        assert got == text.strip(" ")


def _fixed(kind_table: str, field_name: str, text: str) -> bool:
    field = next(f for f in TABLES[kind_table].fields if f.name == field_name)
    rule = field_rule(field, "v", CleaningConfig())
    sql = f"SELECT {rule.fixed} FROM (SELECT *, {rule.pre} AS {'t_' + field_name} FROM (SELECT ? AS v))"
    return bool(CON.execute(sql.replace(f'"t_{field_name}"', f"t_{field_name}"), [text]).fetchall()[0][0])


@settings(max_examples=40, deadline=None)
@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2030, 12, 31)))
def test_a_timestamp_is_rewritten_only_when_not_written_canonically(moment):
    moment = moment.replace(microsecond=0)
    assert not _fixed("orders", "order_time", moment.strftime("%Y-%m-%d %H:%M:%S"))
    assert not _fixed("orders", "order_time", moment.strftime("%Y-%m-%d"))
    assert _fixed("orders", "order_time", f"{moment.year}/{moment.month}/{moment.day} {moment:%H:%M}")
    assert _fixed("orders", "order_time", f"{moment.year}年{moment.month}月{moment.day}日")


@settings(max_examples=60)
@given(
    st.lists(
        st.one_of(st.none(), st.integers(-50, 50), st.sampled_from([9.9, 19.9, 199.0, 0.01])), min_size=1, max_size=60
    )
)
def test_quartiles_from_value_counts_equal_quantile_cont(values):
    con = duckdb.connect()
    con.execute("CREATE TABLE t (x DECIMAL(18, 2))")
    con.executemany("INSERT INTO t VALUES (?)", [[v] for v in values])
    want = con.execute("SELECT quantile_cont(x, [0.25, 0.75]) FROM t").fetchall()[0][0]
    got = quartiles_by_counts(con, "t", "x")
    if want is None:
        assert got is None
    else:
        assert got == pytest.approx([float(w) for w in want], rel=1e-12, abs=1e-9)


@settings(max_examples=60)
@given(
    st.lists(
        st.one_of(st.none(), st.integers(-50, 50), st.sampled_from([9.9, 19.9, 199.0, 0.01, 1e6])),
        min_size=1,
        max_size=60,
    )
)
def test_mean_and_sigma_from_value_counts_equal_avg_and_stddev_pop(values):
    con = duckdb.connect()
    con.execute("CREATE TABLE t (x DECIMAL(18, 2))")
    con.executemany("INSERT INTO t VALUES (?)", [[v] for v in values])
    con.execute("CREATE TABLE c AS SELECT x, count(*) AS n FROM t GROUP BY x")
    want_mean, want_std = con.execute("SELECT avg(x), stddev_pop(x) FROM t").fetchall()[0]
    mean, std = moments_by_counts(con, "c", "x", "n")
    if want_mean is None:
        assert mean is None and std is None
    else:
        assert mean == pytest.approx(want_mean, rel=1e-12, abs=1e-9)
        assert std == pytest.approx(want_std, rel=1e-9, abs=1e-7)


def test_large_batches_flag_the_same_outliers(ws, tmp_path, monkeypatch):
    rows = [["订单号", "客户ID", "下单时间", "订单金额", "订单数量"]]
    rows += [[f"O{i}", f"C{i % 7}", "2024-05-01", str([10, 12, 12, 15, 300][i % 5] + i % 3), "1"] for i in range(200)]
    csv_path = tmp_path / "o.csv"
    csv_path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    small = import_files(ws, "orders", [csv_path]).tables["orders"]["flagged"]
    monkeypatch.setattr(pipeline, "EXACT_QUANTILE_ROWS", 0)  # the path batches past 5 M rows take
    other = init_workspace(tmp_path / "other")
    large = import_files(other, "orders", [csv_path]).tables["orders"]["flagged"]
    assert large == small and small["outlier_iqr_amount"] == 40  # the 300s are flagged, nothing else
