"""Recommendations on a tiny hand-made catalogue: co-purchase, cold-start fallbacks, a hand-counted time split.

The shop (all orders in June 2024; popularity = distinct buyers):

    u1 u2 u3: P1 P2          P1 手机/华为 (5 buyers)    P4 食品/三只松鼠 (3)   P7 手机/小米 (1)
    u4:       P1 P2 P3       P2 配件/华为 (4)           P5 食品/三只松鼠 (2)
    u5 u6:    P4 P5          P3 配件/小米 (1)           P6 食品/良品铺子 (1)
    u9:       P4 P6
    u8:       P7             u10 bought nothing: a cart on P4 and a click on P7
    u7:       P1

Pairs bought together by at least two customers (``min_common`` = 2): P1–P2 (u1–u4), P4–P5 (u5, u6).
After 2024-06-20 (the split): u7 buys P2, u5 buys P6, u8 buys P3, the new customer u11 buys P1, and
u1 buys P1 again.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from portrait.cli import app
from portrait.config import RecommendConfig
from portrait.errors import InputError
from portrait.ingest.job import import_files
from portrait.models.recommend import build_model, evaluate_recommendations, ranked_sql, recommend
from portrait.refresh import refresh
from portrait.workspace import init_workspace, open_workspace
from tests.shops import write

PORTRAIT = str(Path(sys.executable).with_name("portrait"))

PRODUCTS = [
    ["产品ID", "产品名称", "品类", "品牌", "价格"],
    ["P1", "华为手机", "手机", "华为", "5000"],
    ["P2", "华为手机壳", "配件", "华为", "100"],
    ["P3", "小米耳机", "配件", "小米", "200"],
    ["P4", "三只松鼠坚果", "食品", "三只松鼠", "50"],
    ["P5", "三只松鼠果干", "食品", "三只松鼠", "40"],
    ["P6", "良品铺子肉脯", "食品", "良品铺子", "30"],
    ["P7", "小米手机", "手机", "小米", "2000"],
]
BASKETS = {
    "u1": "P1 P2",
    "u2": "P1 P2",
    "u3": "P1 P2",
    "u4": "P1 P2 P3",
    "u5": "P4 P5",
    "u6": "P4 P5",
    "u9": "P4 P6",
    "u8": "P7",
    "u7": "P1",
}
LATER = [("u7", "P2"), ("u5", "P6"), ("u8", "P3"), ("u11", "P1"), ("u1", "P1")]


def _load(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    ws = init_workspace(folder / "ws")
    orders = [["订单号", "客户ID", "下单时间", "订单金额", "订单数量", "产品ID", "订单状态"]]
    for day, (user, items) in enumerate(BASKETS.items(), start=1):
        for item in items.split():
            orders.append([f"O-{user}", user, f"2024-06-{day:02d} 10:00:00", "100", "1", item, "paid"])
    for k, (user, item) in enumerate(LATER, start=21):
        orders.append([f"L-{user}", user, f"2024-06-{k:02d} 10:00:00", "100", "1", item, "paid"])
    events = [
        ["客户ID", "行为类型", "行为时间", "产品ID"],
        ["u10", "cart", "2024-06-05 09:00:00", "P4"],
        ["u10", "click", "2024-06-05 09:01:00", "P7"],
        ["u10", "pv", "2024-06-05 09:02:00", ""],
    ]
    import_files(ws, "products", [write(folder / "p.csv", PRODUCTS)])
    import_files(ws, "orders", [write(folder / "o.csv", orders)])
    import_files(ws, "events", [write(folder / "e.csv", events)])
    return ws


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """The shop imported once; each as-of date refreshes its own copy."""
    return _load(tmp_path_factory.mktemp("shop")).path


def _refreshed(source: Path, folder: Path, as_of: date):
    shutil.copytree(source, folder / "ws")
    ws = open_workspace(folder / "ws")
    refresh(ws, as_of)
    return ws


@pytest.fixture(scope="module")
def june(imported, tmp_path_factory):
    """The shop as of 2024-06-20: only the orders before the split."""
    return _refreshed(imported, tmp_path_factory.mktemp("june"), date(2024, 6, 20))


@pytest.fixture(scope="module")
def july(imported, tmp_path_factory):
    """The shop as of 2024-07-01: the later purchases too."""
    return _refreshed(imported, tmp_path_factory.mktemp("july"), date(2024, 7, 1))


def _recs(result):
    return [(r["product_id"], r["reason"]) for r in result["recommendations"]]


def test_co_purchase_comes_first_then_category_then_best_sellers(june):
    result = recommend(june, "u7", 5)
    # P2 was bought with P1 by four customers: cosine of the columns (u1..u4, u7) and (u1..u4) = 4 / (√5·2)
    assert _recs(result) == [
        ("P2", "similar_items"),
        ("P7", "preferred_category"),  # the other 手机
        ("P4", "popular"),  # 3 buyers
        ("P5", "popular"),  # 2 buyers
        ("P3", "popular"),  # 1 buyer, ties broken by product id (P3 < P6 < P7)
    ]
    first = result["recommendations"][0]
    assert first["score"] == pytest.approx(4 / (math.sqrt(5) * 2), abs=1e-4)
    assert first["because_product_id"] == "P1" and first["because_product_name"] == "华为手机"
    assert result["preferred_category"] == "手机" and result["preferred_brand"] == "华为"
    assert result["bought_products"] == 1 and "message" not in result


def test_bought_products_are_never_recommended(june):
    for user, basket in BASKETS.items():
        got = {p for p, _ in _recs(recommend(june, user, 7))}
        assert not got & set(basket.split()), user
        assert len(got) == 7 - len(basket.split())  # every other product, once


def test_item_without_neighbours_falls_back_to_category_then_brand(june):
    # P7 was bought by u8 alone: no neighbours. 手机 → P1; then 小米 → P3; then best sellers.
    assert _recs(recommend(june, "u8", 4)) == [
        ("P1", "preferred_category"),
        ("P3", "preferred_brand"),
        ("P2", "popular"),
        ("P4", "popular"),
    ]


def test_behaviour_counts_for_a_customer_who_never_bought(june):
    # u10: cart on P4 (0.6), click on P7 (0.2). P4–P5 cosine over (u5, u6, u9, u10 at 0.6) and (u5, u6).
    result = recommend(june, "u10", 5)
    assert _recs(result) == [
        ("P5", "similar_items"),
        ("P4", "preferred_category"),  # carted, not bought: still recommended
        ("P6", "preferred_category"),
        ("P1", "popular"),
        ("P2", "popular"),
    ]
    cosine = 2 / (math.sqrt(3 + 0.6**2) * math.sqrt(2))
    assert result["recommendations"][0]["score"] == pytest.approx(0.6 * cosine, abs=1e-4)
    assert result["preferred_category"] == "食品" and result["bought_products"] == 0


def test_unknown_customer_gets_best_sellers_with_a_message(june):
    result = recommend(june, "nobody", 3)
    assert _recs(result) == [("P1", "popular"), ("P2", "popular"), ("P4", "popular")]
    assert result["known_customer"] is False
    assert "not in the current snapshot" in result["message"]


def test_bad_requests_are_one_line_errors(june):
    with pytest.raises(InputError, match="1 to 100"):
        recommend(june, "u7", 0)
    with pytest.raises(InputError, match="customer id"):
        recommend(june, "  ", 3)
    with pytest.raises(InputError, match="not before the snapshot's as-of"):
        evaluate_recommendations(june, "2024-06-20")
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        evaluate_recommendations(june, "June")
    with pytest.raises(InputError, match="no purchase history before it"):
        evaluate_recommendations(june, "2024-05-01")


def test_hit_rate_on_a_time_split_by_hand(july):
    result = evaluate_recommendations(july, "2024-06-20", n=2)
    # cases: u7 → P2, u5 → P6, u8 → P3, u11 (new) → P1; u1 bought P1 again: not a case
    assert result["customers_evaluated"] == 4
    assert (result["with_history"], result["without_history"]) == (3, 1)
    cf, pop = result["models"]["item_cf"], result["models"]["popularity"]
    # item CF top 2: u7 [P2, P7] hit; u5 [P6 (食品), P1] hit; u8 [P1 (手机), P3 (小米)] hit; u11 [P1, P2] hit
    assert cf["hit_rate"] == 1.0 and cf["hits"] == 4
    assert cf["hit_rate_with_history"] == 1.0 and cf["hit_rate_without_history"] == 1.0
    assert cf["precision"] == 0.5 and cf["recall"] == 1.0
    assert cf["coverage"] == round(5 / 7, 4)  # P1 P2 P3 P6 P7 of 7 products
    # popularity top 2 (not bought): u7 [P2, P4] hit; u5 [P1, P2] miss; u8 [P1, P2] miss; u11 [P1, P2] hit
    assert pop["hit_rate"] == 0.5 and pop["hits"] == 2
    assert pop["hit_rate_with_history"] == round(1 / 3, 4)
    assert pop["coverage"] == round(3 / 7, 4)  # P1 P2 P4
    assert result["hit_rate_lift"] == 2.0


def test_evaluation_without_new_purchases_says_so(july):
    result = evaluate_recommendations(july, "2024-06-30", n=2)  # nothing bought on 06-30
    assert result["customers_evaluated"] == 0 and result["models"] == {}
    assert "no customer bought a new product" in result["message"]


def test_refresh_records_the_model(july):
    from portrait import snapshots

    with snapshots.reader(july) as (con, _):
        status, message, report = con.execute(
            "SELECT status, message, report FROM model_reports WHERE model = 'recommend'"
        ).fetchall()[0]
        pairs = con.execute("SELECT product_id, neighbour_id FROM item_neighbours ORDER BY 1, 2").fetchall()
    # by July u5 has bought P6 too: P4–P6 is now shared by u9 and u5
    assert status == "ok" and message == "5 of 7 products have similar products"
    assert pairs == [("P1", "P2"), ("P2", "P1"), ("P4", "P5"), ("P4", "P6"), ("P5", "P4"), ("P6", "P4")]
    assert json.loads(report)["items"] == 7


def test_cli_recommend_and_evaluate_json(july):
    run = [PORTRAIT, "model", "recommend", "--workspace", str(july.path), "--json"]
    one = subprocess.run([*run[:3], "u7", *run[3:], "--n", "2"], capture_output=True, text=True, check=True)
    assert [r["product_id"] for r in json.loads(one.stdout)["recommendations"]] == ["P7", "P4"]
    ev = subprocess.run([*run, "--evaluate", "--split", "2024-06-20", "--n", "2"], capture_output=True, text=True)
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout)["models"]["item_cf"]["hit_rate"] == 1.0
    bad = CliRunner().invoke(app, run[1:])
    assert bad.exit_code == 2 and "give a customer id, or --evaluate (not both)" in bad.output


# -- a rule for all inputs: never a bought product, never twice, as many as there are --------------------
purchases = st.lists(
    st.tuples(st.sampled_from([f"c{i}" for i in range(6)]), st.sampled_from([f"p{i}" for i in range(8)])),
    min_size=1,
    max_size=30,
)
views = st.lists(
    st.tuples(
        st.sampled_from([f"c{i}" for i in range(8)]),
        st.sampled_from(["cart", "fav", "click", "pv"]),
        st.sampled_from([f"p{i}" for i in range(10)]),
    ),
    max_size=20,
)


def _scratch(bought: list[tuple[str, str]], seen: list[tuple[str, str, str]]) -> duckdb.DuckDBPyConnection:
    """A scratch snapshot: the tables the model reads, filled directly."""
    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS raw")
    con.execute("CREATE TABLE raw.products (product_id VARCHAR, product_name VARCHAR, category VARCHAR, brand VARCHAR)")
    con.execute(
        "INSERT INTO raw.products SELECT 'p' || i, 'n' || i, 'cat' || (i % 3), 'b' || (i % 2) FROM range(10) t(i)"
    )
    con.execute(
        "CREATE TABLE raw.events (user_id VARCHAR, behavior_type VARCHAR, behavior_time TIMESTAMP, product_id VARCHAR)"
    )
    if seen:
        con.executemany("INSERT INTO raw.events VALUES (?, ?, TIMESTAMP '2024-01-05', ?)", seen)
    con.execute("CREATE TABLE identity (user_id VARCHAR, customer_id VARCHAR)")
    con.execute(
        "CREATE TABLE order_lines (user_id VARCHAR, order_id VARCHAR, order_time TIMESTAMP, product_id VARCHAR, "
        "product_name VARCHAR, category VARCHAR, brand VARCHAR, status VARCHAR)"
    )
    con.executemany(
        "INSERT INTO order_lines VALUES (?, 'o', TIMESTAMP '2024-01-02', ?, NULL, NULL, NULL, 'paid')", bought
    )
    return con


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bought=purchases, seen=views, n=st.integers(1, 12))
def test_every_list_is_complete_new_and_distinct(bought, seen, n):
    con = _scratch(bought, [(u, k, p) for u, k, p in seen])
    try:
        build_model(con, date(2024, 2, 1), RecommendConfig(min_common=1))
        users = sorted({u for u, _ in bought} | {u for u, _, _ in seen} | {"stranger"})
        con.execute("CREATE TABLE targets AS SELECT unnest(?::VARCHAR[]) AS user_id", [users])
        rows = con.execute(
            f"SELECT user_id, rank, product_id FROM ({ranked_sql('SELECT * FROM targets', n)})"
        ).fetchall()
    finally:
        con.close()
    for user in users:
        mine = sorted((r, p) for u, r, p in rows if u == user)
        owned = {p for u, p in bought if u == user}
        assert [r for r, _ in mine] == list(range(1, len(mine) + 1))
        products = [p for _, p in mine]
        assert len(set(products)) == len(products)
        assert not set(products) & owned
        assert len(products) == min(n, 10 - len(owned))  # the catalogue has ten products


def test_cooccurrence_dense_and_sparse_agree_with_a_hand_count():
    """Three customers × three products: gram = Σ s(u,i)·s(u,j), common = customers holding both."""
    from scipy import sparse

    from portrait.models.recommend import cooccurrence

    s = sparse.csr_matrix([[1.0, 0.5, 0.0], [0.2, 0.0, 0.0], [1.0, 1.0, 0.6]])
    want_gram = [[1 + 0.04 + 1, 0.5 + 1, 0.6], [0.5 + 1, 0.25 + 1, 0.6], [0.6, 0.6, 0.36]]
    want_common = [[3, 2, 1], [2, 2, 1], [1, 1, 1]]
    for dense in (True, False):
        gram, common = cooccurrence(s, dense=dense)
        assert gram.toarray().ravel().tolist() == pytest.approx(sum(want_gram, []))
        assert common.toarray().tolist() == want_common


@settings(max_examples=30, deadline=None)
@given(
    cells=st.lists(
        st.tuples(st.integers(0, 39), st.integers(0, 11), st.sampled_from([0.1, 0.2, 0.5, 0.6, 1.0])),
        max_size=120,
        unique_by=lambda c: (c[0], c[1]),
    )
)
def test_cooccurrence_is_the_same_either_way_for_any_strengths(cells):
    from scipy import sparse

    from portrait.models.recommend import cooccurrence

    users, items, values = zip(*cells, strict=True) if cells else ((), (), ())
    s = sparse.csr_matrix((list(values), (list(users), list(items))), shape=(40, 12))
    dense_gram, dense_common = cooccurrence(s, dense=True)
    sparse_gram, sparse_common = cooccurrence(s, dense=False)
    assert dense_gram.toarray().ravel().tolist() == pytest.approx(sparse_gram.toarray().ravel().tolist())
    assert (dense_gram.indptr.tolist(), dense_gram.indices.tolist()) == (
        dense_common.indptr.tolist(),
        dense_common.indices.tolist(),
    )
    assert dense_common.toarray().tolist() == sparse_common.toarray().tolist()


@pytest.mark.parametrize(
    ("cap", "similarity"), [(2, round(1 / math.sqrt(2), 6)), (200, round(1.6 / (math.sqrt(2) * math.sqrt(1.36)), 6))]
)
def test_history_cap_keeps_a_customers_strongest_products(cap, similarity):
    """c1 bought p0 and p1 (strength 1) and put p2 in the cart (0.6); c2 bought p0 and p2. With a cap of 2,
    c1's cart counts for nothing: p0·p2 = 1 (c2), |p0| = √2, |p2| = 1. Without: p0·p2 = 0.6 + 1, |p2| = √1.36."""
    con = _scratch([("c1", "p0"), ("c1", "p1"), ("c2", "p0"), ("c2", "p2")], [("c1", "cart", "p2")])
    try:
        build_model(con, date(2024, 2, 1), RecommendConfig(min_common=1, history_cap=cap))
        found = con.execute(
            "SELECT similarity FROM item_neighbours WHERE product_id = 'p0' AND neighbour_id = 'p2'"
        ).fetchall()
    finally:
        con.close()
    assert found == [(similarity,)]
