"""The rule language: expression → SQL pairs, evaluated on a real engine, and errors with columns."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from portrait.expr import RuleError, compile_rule, fields_of, parse

FIELDS = ["age", "orders_180d", "monetary_180d", "city_tier", "gender", "occupation", "活跃度"]
ROWS = [
    # age, orders_180d, monetary_180d, city_tier, gender, occupation, 活跃度
    (30, 8, 16000.0, "一线", "女", "白领", "高活跃"),
    (22, 1, 300.0, "二线", "男", None, "低活跃"),
    (45, 0, 0.0, "下沉市场", "女", "退休人员", "低活跃"),
    (35, 3, 9000.0, "新一线", "男", "工程师", "中活跃"),
]


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE c (id INT, age INT, orders_180d INT, monetary_180d DOUBLE, city_tier VARCHAR, gender VARCHAR, "
        'occupation VARCHAR, "活跃度" VARCHAR)'
    )
    con.executemany("INSERT INTO c VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [(i, *r) for i, r in enumerate(ROWS)])
    return con


@pytest.mark.parametrize(
    ("rule", "ids"),
    [
        ("age > 29", [0, 2, 3]),
        ("age between 26 and 35", [0, 3]),
        ("age not between 26 and 35", [1, 2]),
        ("city_tier in ('一线', '新一线')", [0, 3]),
        ("city_tier not in ('一线', '新一线')", [1, 2]),
        ("occupation is null", [1]),
        ("occupation is not null and gender = '女'", [0, 2]),
        ("not (gender = '女') or age >= 45", [1, 2, 3]),
        ("orders_180d >= 2 and monetary_180d / orders_180d >= 2000", [0, 3]),
        ("monetary_180d / orders_180d > 100", [0, 1, 3]),  # division by zero is NULL, never an error
        ("活跃度 = '高活跃' or 活跃度 == '中活跃'", [0, 3]),
        ("gender <> '男' and age - 10 > 25", [2]),
        ("coalesce(occupation, '未知') = '未知'", [1]),
        ("round(monetary_180d / 1000) = 9", [3]),
        ("age * 2 + 1 = 61", [0]),
        ("-age < -40", [2]),
        ('gender = "女" AND age < 40', [0]),
        ("true", [0, 1, 2, 3]),
        ("age % 2 = 1", [2, 3]),
    ],
)
def test_rules_select_the_hand_counted_rows(con, rule, ids):
    sql = compile_rule(rule, FIELDS)
    got = [r[0] for r in con.execute(f"SELECT id FROM c WHERE {sql} ORDER BY id").fetchall()]
    assert got == ids


@pytest.mark.parametrize(
    ("rule", "column", "problem"),
    [
        ("age >", 6, "expected a value or field but found 'the end of the rule'"),
        ("agee > 3", 1, "unknown field 'agee'; did you mean 'age'?"),
        ("age > 3 orders_180d < 2", 9, "unexpected 'orders_180d' (missing 'and'/'or'?)"),
        ("age in (1, 2", 13, "expected ')' to close the list but found 'the end of the rule'"),
        ("age between 1 or 2", 15, "expected 'and' in 'between … and …' but found 'or'"),
        ("age ; drop table c", 5, "unexpected character ';'"),
        ("system('ls') = 1", 1, "unknown function 'system'"),
        ("", 1, "the rule is empty"),
        ("city_tier = '一线", 13, "unexpected character '''"),
        ("occupation is 3", 15, "expected 'null' after 'is' but found '3'"),
    ],
)
def test_bad_rules_name_the_column_and_problem(rule, column, problem):
    with pytest.raises(RuleError) as err:
        compile_rule(rule, FIELDS)
    assert err.value.column == column
    assert str(err.value).startswith(problem)


def test_strings_cannot_break_out_of_their_quotes(con):
    sql = compile_rule("occupation = 'x'' OR 1=1 --'", FIELDS)
    assert con.execute(f"SELECT count(*) FROM c WHERE {sql}").fetchall() == [(0,)]


def test_fields_of_lists_what_a_rule_reads():
    assert fields_of(parse("age > 3 and (活跃度 = 'x' or coalesce(gender, occupation) is null)")) == {
        "age",
        "活跃度",
        "gender",
        "occupation",
    }


@given(
    st.lists(
        st.sampled_from(["age > 30", "gender = '女'", "occupation is null", "orders_180d >= 2"]), min_size=1, max_size=5
    ),
    st.lists(st.sampled_from(["and", "or"]), min_size=4, max_size=4),
)
def test_compiled_rules_agree_with_python_semantics(conds, ops):
    con = duckdb.connect()
    con.execute("CREATE TABLE c (id INT, age INT, gender VARCHAR, occupation VARCHAR, orders_180d INT)")
    rows = [(i, *r[:1], r[4], r[5], r[1]) for i, r in enumerate(ROWS)]
    con.executemany("INSERT INTO c VALUES (?, ?, ?, ?, ?)", rows)
    text = conds[0]
    for op, cond in zip(ops, conds[1:], strict=False):
        text = f"{text} {op} {cond}"
    py = {
        "age > 30": lambda r: r[1] > 30,
        "gender = '女'": lambda r: r[2] == "女",
        "occupation is null": lambda r: r[3] is None,
        "orders_180d >= 2": lambda r: r[4] >= 2,
    }
    # and binds tighter than or: evaluate as a sum of products
    groups, current = [], [conds[0]]
    for op, cond in zip(ops, conds[1:], strict=False):
        if op == "and":
            current.append(cond)
        else:
            groups.append(current)
            current = [cond]
    groups.append(current)
    expected = [r[0] for r in rows if any(all(py[c](r) for c in g) for g in groups)]
    sql = compile_rule(text, ["age", "gender", "occupation", "orders_180d"])
    assert [r[0] for r in con.execute(f"SELECT id FROM c WHERE {sql} ORDER BY id").fetchall()] == expected
