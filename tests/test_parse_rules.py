"""Property tests of the parse pass's SQL pieces against plain-Python statements of the rules."""

from __future__ import annotations

import re
from datetime import datetime

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portrait.clean import pipeline
from portrait.clean.parse import FALSE_WORDS, NULL_TOKENS, NUMBER_NOISE, TRUE_WORDS, field_rule, nulled, q
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


def test_the_null_token_test_stays_a_row_by_row_expression():
    # an IN list the optimiser turns into a join would cost a join per column and lose the file order
    # the parse keeps (rows are numbered by it)
    plan = CON.execute(f"EXPLAIN SELECT {nulled('x')} FROM (SELECT 'a' AS x)").fetchall()[0][1]
    assert "JOIN" not in plan.upper()


def _early_layers(table: str, name: str, text: str) -> tuple[object, ...]:
    """(text is null-like, plain cast, parsed value) of one text as the parse computes them: the early parse
    of the text as written, the null-token test only where it fails, then the plain cast and the parse."""
    field = next(f for f in TABLES[table].fields if f.name == name)
    rule = field_rule(field, "r_" + name, CleaningConfig())
    assert rule.early and rule.pre
    first = rule.first or "NULL"
    sql = (
        f"SELECT r_{name} IS NULL, d_{name}, CAST({rule.pre} AS VARCHAR) FROM (SELECT *, {first} AS d_{name} FROM ("
        f"SELECT CASE WHEN {rule.early_ok} THEN {q(name)} ELSE {nulled(name)} END AS r_{name}, z_{name} FROM ("
        f"SELECT *, {rule.early} AS z_{name} FROM (SELECT ? AS {q(name)}))))"
    )
    return tuple(CON.execute(sql, [text]).fetchall()[0])


def _same(a: object, b: object) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)  # NaN is NaN


NUMBER_TEXT = st.one_of(
    st.sampled_from(
        list(NULL_TOKENS) + [t.upper() for t in NULL_TOKENS] + [" nan", "NaN ", "-nan", "inf", "-Infinity"]
    ),
    st.text(st.sampled_from(list("0123456789.,-+ e\tnaNIfi¥元x")), max_size=10),
    st.decimals(allow_nan=False, allow_infinity=False, places=2).map(lambda d: f" {d}" if d > 1 else str(d)),
)


@settings(max_examples=300, deadline=None)
@given(NUMBER_TEXT)
def test_a_number_read_as_written_parses_as_its_null_tested_text_does(text):
    # reference: every text null-tested first, then cast, then the noise-stripping fallback
    ref = f"SELECT r IS NULL, d, CAST(COALESCE(d, TRY_CAST(regexp_replace(r, '{NUMBER_NOISE}', '', 'g') AS DOUBLE)) AS VARCHAR) FROM (SELECT r, TRY_CAST(r AS DOUBLE) AS d FROM (SELECT {nulled('x')} AS r FROM (SELECT ? AS x)))"
    want = CON.execute(ref, [text]).fetchall()[0]
    got = _early_layers("orders", "amount", text)
    assert all(_same(g, w) for g, w in zip(got, want, strict=True)), (text, got, want)


WORDS = [*TRUE_WORDS, *FALSE_WORDS, *NULL_TOKENS]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(WORDS), st.sampled_from(["", " ", "  "]), st.sampled_from(["", " "]), st.booleans())
def test_a_yes_no_word_read_as_written_parses_as_its_null_tested_text_does(word, before, after, upper):
    text = before + (word.upper() if upper else word) + after
    whens = (
        " ".join(f"WHEN '{w}' THEN true" for w in TRUE_WORDS)
        + " "
        + " ".join(f"WHEN '{w}' THEN false" for w in FALSE_WORDS)
    )
    ref = f"SELECT r IS NULL, NULL, CAST(CASE lower(r) {whens} END AS VARCHAR) FROM (SELECT {nulled('x')} AS r FROM (SELECT ? AS x))"
    assert _early_layers("orders", "coupon_used", text) == CON.execute(ref, [text]).fetchall()[0]


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
