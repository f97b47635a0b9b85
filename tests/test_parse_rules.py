"""Property tests of the parse pass's SQL pieces against plain-Python statements of the rules."""

from __future__ import annotations

import re
from datetime import datetime

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from portrait.clean.parse import NULL_TOKENS, field_rule, nulled
from portrait.config import CleaningConfig
from portrait.schema import TABLES

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
