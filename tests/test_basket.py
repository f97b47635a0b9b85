"""Association rules: a hand-counted grocery shop, parity with mlxtend, empty results, the CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import date
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portrait import basket
from portrait.errors import InputError
from portrait.ingest.job import import_files
from portrait.refresh import refresh
from portrait.workspace import Workspace, init_workspace
from tests.shops import write

PORTRAIT = str(Path(sys.executable).with_name("portrait"))

# A grocery shop. Paid baskets by order (O6's beer was refunded; P5 has no name on the orders, the
# catalogue calls it 尿布):
#   O1 {牛奶, 面包}  O2 {鸡蛋}  O3 {牛奶, 面包, 鸡蛋}  O4 {啤酒, 尿布}  O5 {牛奶, 鸡蛋}  O6 {面包}
#   O7 {啤酒, 尿布, 牛奶}  O8 {面包, 酸奶}                                                     n = 8
# counts: 牛奶 4, 面包 4, 鸡蛋 3, 啤酒 2, 尿布 2, 酸奶 1; 牛奶+面包 2 (O1 O3), 牛奶+鸡蛋 2 (O3 O5),
# 啤酒+尿布 2 (O4 O7), 面包+鸡蛋 1, 牛奶+啤酒 1, 牛奶+尿布 1, 面包+酸奶 1.
# By customer and day, u1's O1 and O2 (same day) are one basket {牛奶, 面包, 鸡蛋}: n = 7.
SHOP_ORDERS = [
    ["订单号", "客户ID", "下单时间", "订单金额", "订单数量", "产品ID", "产品名称", "品类", "订单状态"],
    ["O1", "u1", "2024-03-01 10:00:00", "10", "1", "P1", "牛奶", "乳品", "paid"],
    ["O1", "u1", "2024-03-01 10:00:00", "8", "1", "P2", "面包", "烘焙", "paid"],
    ["O2", "u1", "2024-03-01 18:00:00", "12", "1", "P3", "鸡蛋", "生鲜", "paid"],
    ["O3", "u2", "2024-03-02 09:00:00", "10", "1", "P1", "牛奶", "乳品", "paid"],
    ["O3", "u2", "2024-03-02 09:00:00", "8", "1", "P2", "面包", "烘焙", "paid"],
    ["O3", "u2", "2024-03-02 09:00:00", "12", "1", "P3", "鸡蛋", "生鲜", "paid"],
    ["O4", "u2", "2024-03-05 20:00:00", "6", "1", "P4", "啤酒", "酒水", "paid"],
    ["O4", "u2", "2024-03-05 20:00:00", "50", "1", "P5", "", "母婴", "paid"],
    ["O5", "u3", "2024-03-03 11:00:00", "10", "1", "P1", "牛奶", "乳品", "paid"],
    ["O5", "u3", "2024-03-03 11:00:00", "12", "1", "P3", "鸡蛋", "生鲜", "paid"],
    ["O6", "u3", "2024-03-04 11:00:00", "8", "1", "P2", "面包", "烘焙", "paid"],
    ["O6", "u3", "2024-03-04 11:00:00", "6", "1", "P4", "啤酒", "酒水", "refunded"],
    ["O7", "u4", "2024-03-06 21:00:00", "6", "1", "P4", "啤酒", "酒水", "paid"],
    ["O7", "u4", "2024-03-06 21:00:00", "50", "1", "P5", "", "母婴", "paid"],
    ["O7", "u4", "2024-03-06 21:00:00", "10", "1", "P1", "牛奶", "乳品", "paid"],
    ["O8", "u5", "2024-03-07 08:00:00", "8", "1", "P2", "面包", "烘焙", "paid"],
    ["O8", "u5", "2024-03-07 08:00:00", "9", "1", "P6", "酸奶", "乳品", "paid"],
]
SHOP_CUSTOMERS = [
    ["客户ID", "客户名称", "性别"],
    ["u1", "张三", "女"],
    ["u2", "李四", "女"],
    ["u3", "王五", "男"],
    ["u4", "赵六", "男"],
    ["u5", "钱七", "男"],
]
SHOP_PRODUCTS = [["产品ID", "产品名称", "品类"], ["P5", "尿布", "母婴"]]


@pytest.fixture(scope="module")
def grocery(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The grocery shop, imported and refreshed once for the module (the tests only read it)."""
    tmp_path = tmp_path_factory.mktemp("grocery")
    ws = init_workspace(tmp_path / "ws")
    import_files(ws, "customers", [write(tmp_path / "c.csv", SHOP_CUSTOMERS)])
    import_files(ws, "orders", [write(tmp_path / "o.csv", SHOP_ORDERS)])
    import_files(ws, "products", [write(tmp_path / "p.csv", SHOP_PRODUCTS)])
    refresh(ws, date(2024, 4, 1))
    return ws


def _rule(result, antecedents, consequents):
    found = [r for r in result["rules"] if r["antecedents"] == antecedents and r["consequents"] == consequents]
    assert len(found) == 1, (antecedents, consequents, [(r["antecedents"], r["consequents"]) for r in result["rules"]])
    return found[0]


def test_rules_by_order_counted_by_hand(grocery):
    result = basket.basket_rules(grocery, min_support=0.25, min_confidence=0.5, min_lift=1.0)
    assert result["message"] is None
    assert result["baskets"]["count"] == 8
    assert result["baskets"]["lines"] == {"paid": 16, "without_item": 0, "refunded_or_returned": 1}
    assert result["thresholds"]["min_count"] == 2
    itemsets = {tuple(i["items"]): (i["count"], i["support"]) for i in result["itemsets"]}
    assert itemsets == {
        ("牛奶",): (4, 0.5),
        ("面包",): (4, 0.5),
        ("鸡蛋",): (3, 0.375),
        ("啤酒",): (2, 0.25),
        ("尿布",): (2, 0.25),  # the name comes from the product catalogue
        ("牛奶", "面包"): (2, 0.25),
        ("牛奶", "鸡蛋"): (2, 0.25),
        ("啤酒", "尿布"): (2, 0.25),
    }
    assert [i["items"] for i in result["itemsets"][:2]] == [["牛奶"], ["面包"]]  # by support, then name
    # 啤酒→尿布: confidence 2/2, lift 1 / (2/8) = 4, leverage 2/8 − (2/8)², conviction infinite
    beer = _rule(result, ["啤酒"], ["尿布"])
    assert (beer["count"], beer["confidence"], beer["lift"]) == (2, 1.0, 4.0)
    assert beer["leverage"] == pytest.approx(0.25 - 0.0625)
    assert beer["conviction"] is None
    assert beer["antecedent_ids"] == ["P4"] and beer["consequent_ids"] == ["P5"]
    # 鸡蛋→牛奶: confidence 2/3, lift (2/3) / (4/8) = 4/3, conviction (1 − 1/2) / (1 − 2/3) = 1.5
    eggs = _rule(result, ["鸡蛋"], ["牛奶"])
    assert eggs["confidence"] == pytest.approx(2 / 3)
    assert eggs["lift"] == pytest.approx(4 / 3)
    assert eggs["conviction"] == pytest.approx(1.5)
    assert eggs["sentence"] == "买了鸡蛋的订单有67%也买了牛奶，是平均的1.3倍"
    # 牛奶→面包: confidence exactly 2/4 and lift exactly 1.0 sit on the floors and are kept
    milk = _rule(result, ["牛奶"], ["面包"])
    assert (milk["confidence"], milk["lift"]) == (0.5, 1.0)
    assert result["rule_count"] == 6  # both directions of the three pairs
    # sorted by lift, then confidence: the beer/diaper pair first (ties by name), the milk/bread pair last
    assert [(r["antecedents"], r["consequents"]) for r in result["rules"]][:2] == [
        (["啤酒"], ["尿布"]),
        (["尿布"], ["啤酒"]),
    ]
    assert {r["lift"] for r in result["rules"][-2:]} == {1.0}

    lifted = basket.basket_rules(grocery, min_support=0.25, min_confidence=0.5, min_lift=1.2)
    assert lifted["rule_count"] == 4  # milk/bread (lift 1) dropped
    by_conf = basket.basket_rules(grocery, min_support=0.25, min_confidence=0.6, min_lift=0, sort="support")
    assert [(r["antecedents"], r["consequents"]) for r in by_conf["rules"]] == [
        (["啤酒"], ["尿布"]),
        (["尿布"], ["啤酒"]),
        (["鸡蛋"], ["牛奶"]),
    ]


def test_rules_by_customer_day_category_and_segment(grocery):
    # u1's two orders on 03-01 form one basket, so milk+eggs is in 3 of 7 baskets and {面包, 鸡蛋}→牛奶 appears
    day = basket.basket_rules(grocery, by="customer-day", min_support=0.25, min_confidence=0.9, min_lift=0)
    assert day["baskets"]["count"] == 7 and day["thresholds"]["min_count"] == 2
    itemsets = {tuple(i["items"]): i["count"] for i in day["itemsets"]}
    assert itemsets[("牛奶", "鸡蛋")] == 3 and itemsets[("牛奶", "面包", "鸡蛋")] == 2
    eggs = _rule(day, ["鸡蛋"], ["牛奶"])
    assert eggs["confidence"] == 1.0 and eggs["lift"] == pytest.approx(7 / 4)
    assert eggs["sentence"] == "买了鸡蛋的顾客有100%当天也买了牛奶，是平均的1.8倍"
    pair = _rule(day, ["面包", "鸡蛋"], ["牛奶"])
    assert pair["count"] == 2 and pair["sentence"].startswith("买了面包和鸡蛋的顾客")
    # categories: 乳品 (milk or yoghurt) is in O1 O3 O5 O7 O8, 烘焙 in O1 O3 O6 O8, together in O1 O3 O8
    cat = basket.basket_rules(grocery, level="category", min_support=0.3, min_confidence=0.5, min_lift=0)
    assert {tuple(i["items"]): i["count"] for i in cat["itemsets"]}[("乳品", "烘焙")] == 3
    assert _rule(cat, ["烘焙"], ["乳品"])["confidence"] == 0.75
    # the women (u1, u2) placed O1–O4: 4 baskets; beer+diapers once
    women = basket.basket_rules(grocery, rule="gender = '女'", min_support=0.25, min_confidence=0, min_lift=0)
    assert women["baskets"]["count"] == 4
    assert {tuple(i["items"]): i["count"] for i in women["itemsets"]}[("啤酒", "尿布")] == 1
    assert women["rule"] == "gender = '女'"


def test_empty_results_say_why(grocery):
    none = basket.basket_rules(grocery, min_support=0.9)
    assert none["itemsets"] == [] and none["rules"] == []
    assert "no item is in 90.00% of the 8 baskets" in none["message"]
    assert "lower --min-support" in none["message"]
    singles = basket.basket_rules(grocery, min_support=0.4)
    assert singles["itemset_count"] == 2 and singles["rules"] == []
    assert "no two items appear together" in singles["message"]
    strict = basket.basket_rules(grocery, min_support=0.25, min_confidence=1.0, min_lift=5)
    assert strict["rules"] == [] and "no rule reaches confidence 100% and lift 5" in strict["message"]
    brands = basket.basket_rules(grocery, level="brand")  # no order line names a brand
    assert brands["baskets"]["count"] == 0 and brands["baskets"]["lines"]["without_item"] == 16
    assert "no paid order lines with a brand" in brands["message"]
    nobody = basket.basket_rules(grocery, rule="gender = '其他'")
    assert nobody["baskets"]["count"] == 0 and "in this segment" in nobody["message"]


def test_why_nothing_came_out():
    labels = ["a", "b", "c"]
    singles = basket.baskets_from_pairs(np.array([0, 1, 2]), np.array([0, 0, 1]), 3, labels)
    found = basket.frequent_itemsets(singles, 0.3)
    assert basket.why_empty(singles, found, 0, 0.5, 1.0, "order") == (
        "every one of the 3 baskets holds a single item, so no rule can be found; "
        "try --by customer-day or a coarser --level"
    )
    pairs = basket.baskets_from_pairs(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 2]), 2, labels)
    only_singles = basket.frequent_itemsets(pairs, 0.5, max_len=1)
    assert basket.why_empty(pairs, only_singles, 0, 0.5, 1.0, "order").startswith("max_len 1 counts single items")
    found = basket.frequent_itemsets(pairs, 0.5)
    rules = basket.association_rules(found, 0.5, 1.0)  # a→b, b→a, a→c, c→a: confidence 1/2 or 1, lift 1
    assert len(rules) == 4 and basket.why_empty(pairs, found, len(rules), 0.5, 1.0, "order") is None


def test_bad_options_are_one_line_errors(grocery):
    for kwargs, text in [
        ({"min_support": 0}, "min_support 0: give a share of baskets in (0, 1]"),
        ({"min_support": 1.5}, "min_support 1.5"),
        ({"min_confidence": 2}, "min_confidence 2"),
        ({"min_lift": -1}, "min_lift -1"),
        ({"max_len": 0}, "max_len 0"),
        ({"by": "week"}, "basket grouping 'week': use order or customer-day"),
        ({"level": "sku"}, "item level 'sku': use product, category or brand"),
        ({"sort": "fun"}, "sort 'fun'"),
        ({"rule": "sex = '女'"}, "unknown field 'sex'"),
    ]:
        with pytest.raises(InputError, match=text.replace("(", r"\(").replace(")", r"\)").replace("]", r"\]")):
            basket.basket_rules(grocery, **kwargs)


def test_too_many_itemsets_is_refused():
    # 12 items in every basket: all 4 095 itemsets are frequent
    baskets = basket.baskets_from_onehot(np.ones((3, 12), dtype=bool), [f"i{j}" for j in range(12)])
    assert basket.frequent_itemsets(baskets, 0.5).total == 2**12 - 1
    with pytest.raises(InputError, match="yields more than 1,000 frequent itemsets; raise --min-support"):
        basket.frequent_itemsets(baskets, 0.5, max_itemsets=1000)
    assert basket.frequent_itemsets(baskets, 0.5, max_len=2).total == 12 + 66
    wide = basket.baskets_from_onehot(np.ones((2, 17), dtype=bool), [f"i{j}" for j in range(17)])
    with pytest.raises(InputError, match="frequent itemsets of 17 items split into 131,070 rules each"):
        basket.association_rules(basket.frequent_itemsets(wide, 1.0))


def test_min_count_is_the_smallest_count_reaching_the_support():
    assert basket.min_count_for(0.07, 100) == 7  # 0.07 × 100 is 7.000000000000001 in floating point
    assert basket.min_count_for(0.1, 30) == 3
    assert basket.min_count_for(0.25, 7) == 2
    assert basket.min_count_for(1.0, 5) == 5
    assert basket.min_count_for(1e-9, 5) == 1
    empty = basket.baskets_from_pairs(np.zeros(0), np.zeros(0), 0, ["a"])
    assert basket.frequent_itemsets(empty, 0.5).total == 0
    assert len(basket.association_rules(basket.frequent_itemsets(empty, 0.5))) == 0


@settings(max_examples=40, deadline=None)
@given(
    cells=st.lists(st.lists(st.booleans(), min_size=5, max_size=5), max_size=13),
    order=st.sampled_from(["C", "F"]),
    dtype=st.sampled_from([bool, np.int8, np.float64]),
)
def test_onehot_matrices_in_any_layout(cells, order, dtype):
    matrix = np.asarray(np.array(cells, dtype=bool).reshape(-1, 5), dtype=dtype, order=order)
    baskets = basket.baskets_from_onehot(matrix, list("abcde"))
    rows, cols = np.nonzero(matrix)
    assert baskets.count == len(matrix)
    assert baskets.items.tolist() == cols.tolist()
    assert np.repeat(np.arange(len(matrix)), np.diff(baskets.indptr)).tolist() == rows.tolist()


# ---------------------------------------------------------------------------------------------------------------
# Parity with mlxtend's fpgrowth + association_rules


def _ours(matrix: np.ndarray, min_support: float, min_confidence: float, min_lift: float, max_len: int | None):
    labels = [f"i{j}" for j in range(matrix.shape[1])]
    found = basket.frequent_itemsets(basket.baskets_from_onehot(matrix, labels), min_support, max_len)
    itemsets = {frozenset(items): count / len(matrix) for items, count in found.itemsets()}
    rules = basket.association_rules(found, min_confidence, min_lift)
    columns = [
        rules.support,
        rules.antecedent_support,
        rules.consequent_support,
        rules.confidence,
        rules.lift,
        rules.leverage,
        rules.conviction,
    ]
    table = {}
    for j, values in enumerate(zip(*columns, strict=True)):
        key = (frozenset(labels[i] for i in rules.antecedents[j]), frozenset(labels[i] for i in rules.consequents[j]))
        table[key] = tuple(float(v) for v in values)
    return itemsets, table


def _mlxtend(matrix: np.ndarray, min_support: float, min_confidence: float, min_lift: float, max_len: int | None):
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    frame = pd.DataFrame(matrix.astype(bool), columns=[f"i{j}" for j in range(matrix.shape[1])])
    found = fpgrowth(frame, min_support=min_support, use_colnames=True, max_len=max_len)
    itemsets = dict(zip(found["itemsets"], found["support"], strict=True))
    if found.empty:
        return itemsets, {}
    with np.errstate(divide="ignore", invalid="ignore"):
        rules = association_rules(found, len(frame), metric="confidence", min_threshold=min_confidence)
    rules = rules[rules["lift"] >= min_lift]
    cols = ["support", "antecedent support", "consequent support", "confidence", "lift", "leverage", "conviction"]
    table = {
        (a, c): tuple(row)
        for a, c, row in zip(rules["antecedents"], rules["consequents"], rules[cols].to_numpy(), strict=True)
    }
    return itemsets, table


def _assert_same(matrix, min_support, min_confidence, min_lift, max_len=None):
    """Itemsets and rules equal within 1e-12.

    A value that equals its floor exactly can fall on either side of it in one library's floating point
    (mlxtend computes confidence as (support·n)/(support·n) and counts support floors as ceil(s·n)), so
    entries within 1e-12 of a floor may be missing on one side; everything else must match.
    """
    ours_sets, ours_rules = _ours(matrix, min_support, min_confidence, min_lift, max_len)
    their_sets, their_rules = _mlxtend(matrix, min_support, min_confidence, min_lift, max_len)

    def on_floor(s: float) -> bool:
        return abs(s - min_support) < 1e-12

    for key in set(ours_sets) ^ set(their_sets):
        assert on_floor(ours_sets.get(key, their_sets.get(key))), key
    for key in set(ours_sets) & set(their_sets):
        assert abs(ours_sets[key] - their_sets[key]) < 1e-12
    for key in set(ours_rules) ^ set(their_rules):
        s, sa, sc, conf, lift, *_ = ours_rules.get(key, their_rules.get(key))
        subsets_on_floor = on_floor(s) or on_floor(sa) or on_floor(sc)
        assert subsets_on_floor or abs(conf - min_confidence) < 1e-12 or abs(lift - min_lift) < 1e-12, key
    for key in set(ours_rules) & set(their_rules):
        for a, b in zip(ours_rules[key], their_rules[key], strict=True):
            assert (math.isinf(a) and math.isinf(b)) or abs(a - b) < 1e-12, (key, ours_rules[key], their_rules[key])
    assert len(set(ours_sets) & set(their_sets)) >= len(their_sets) - sum(on_floor(v) for v in their_sets.values())
    return len(ours_sets), len(ours_rules)


def test_a_support_on_its_floor_counts_where_mlxtend_rounds_it_away():
    # 7 of 100 baskets hold a and b: support 0.07 reaches min_support 0.07, but mlxtend's fpgrowth asks
    # ceil(0.07 × 100) = ceil(7.000000000000001) = 8 baskets of a pair in a branching tree and drops it
    matrix = np.zeros((100, 3), dtype=bool)
    matrix[:7, [0, 1]] = matrix[7:20, [0, 2]] = matrix[20:50, 0] = matrix[50:60, 1] = matrix[60:70, 2] = True
    ours, _ = _ours(matrix, 0.07, 0.0, 0.0, None)
    theirs, _ = _mlxtend(matrix, 0.07, 0.0, 0.0, None)
    assert set(ours) - set(theirs) == {frozenset({"i0", "i1"})} and ours[frozenset({"i0", "i1"})] == 0.07
    _assert_same(matrix, 0.07, 0.0, 0.0)  # the one difference is a floor tie


def _skewed(rng: np.random.Generator, n: int, m: int, max_size: int) -> np.ndarray:
    weights = 1 / np.arange(1, m + 1) ** 0.8
    matrix = np.zeros((n, m), dtype=bool)
    for row in range(n):
        size = rng.integers(1, max_size + 1)
        matrix[row, rng.choice(m, size=min(size, m), replace=False, p=weights / weights.sum())] = True
    return matrix


@pytest.mark.parametrize(
    "seed, n, m, max_size, min_support, min_confidence, min_lift, max_len",
    [
        (1, 400, 20, 6, 0.02, 0.2, 0.0, None),
        (2, 600, 40, 8, 0.01, 0.1, 1.0, None),
        (3, 300, 12, 10, 0.05, 0.5, 1.2, 3),
        (4, 200, 8, 8, 0.1, 0.0, 0.0, None),  # dense: itemsets up to 8 items
        (5, 500, 30, 4, 0.004, 0.3, 2.0, 2),
    ],
)
def test_same_as_mlxtend_on_generated_baskets(seed, n, m, max_size, min_support, min_confidence, min_lift, max_len):
    matrix = _skewed(np.random.default_rng(seed), n, m, max_size)
    found, rules = _assert_same(matrix, min_support, min_confidence, min_lift, max_len)
    assert found > m // 2 and rules > 0  # the case is not trivially empty


def test_same_as_mlxtend_when_counting_in_chunks_and_by_sorting(monkeypatch):
    matrix = _skewed(np.random.default_rng(7), 300, 25, 7)
    expected = _ours(matrix, 0.01, 0.2, 0.0, None)
    monkeypatch.setattr(basket, "CHUNK", 40)  # many small chunks, two passes per level
    monkeypatch.setattr(basket, "BINCOUNT_LIMIT", 10)  # count pairs by sorting, not in a dense array
    assert _ours(matrix, 0.01, 0.2, 0.0, None) == expected
    _assert_same(matrix, 0.01, 0.2, 0.0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    n=st.integers(1, 60),
    m=st.integers(1, 9),
    min_support=st.sampled_from([0.01, 0.05, 0.1, 0.2, 0.25, 1 / 3, 0.5, 1.0]),
    min_confidence=st.sampled_from([0.0, 0.2, 0.5, 0.75, 1.0]),
    min_lift=st.sampled_from([0.0, 0.5, 1.0, 1.5]),
    max_len=st.sampled_from([None, 1, 2, 3]),
)
def test_same_as_mlxtend_for_any_baskets(data, n, m, min_support, min_confidence, min_lift, max_len):
    matrix = np.array(data.draw(st.lists(st.lists(st.booleans(), min_size=m, max_size=m), min_size=n, max_size=n)))
    _assert_same(matrix, min_support, min_confidence, min_lift, max_len)


@settings(max_examples=40, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(0, 14), st.integers(0, 6)), max_size=60),
    min_support=st.sampled_from([0.05, 0.1, 0.2, 0.3]),
)
def test_counts_are_the_baskets_holding_every_item(pairs, min_support):
    """Brute force: an itemset is listed exactly when its basket count reaches the floor, with that count."""
    labels = [f"i{j}" for j in range(7)]
    b = np.array([p[0] for p in pairs], dtype=np.int64)
    i = np.array([p[1] for p in pairs], dtype=np.int64)
    baskets = basket.baskets_from_pairs(b, i, 15, labels)
    contents = [set(labels[j] for j in baskets.items[baskets.indptr[k] : baskets.indptr[k + 1]]) for k in range(15)]
    floor = basket.min_count_for(min_support, 15)
    expected = {}
    for size in range(1, 8):
        for combo in combinations(labels, size):
            count = sum(set(combo) <= c for c in contents)
            if count >= floor:
                expected[combo] = count
    assert dict(basket.frequent_itemsets(baskets, min_support).itemsets()) == expected


def test_analyze_basket_cli(grocery):
    from portrait import segments

    segments.define(grocery, "女客", "gender = '女'")
    # the women's orders O1 {牛奶, 面包} O2 {鸡蛋} O3 {牛奶, 面包, 鸡蛋} O4 {啤酒, 尿布}: milk and bread in 2 of 4
    # baskets each and together in both, so each → the other with confidence 1 and lift 1 / (2/4) = 2
    out = subprocess.run(
        [
            PORTRAIT,
            "analyze",
            "basket",
            "--by",
            "order",
            "--level",
            "product",
            "--min-support",
            "0.5",
            "--min-confidence",
            "0.6",
            "--min-lift",
            "1.2",
            "--max-len",
            "0",
            "--segment",
            "女客",
            "--workspace",
            str(grocery.path),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    assert result["baskets"]["count"] == 4 and result["rule"] == "gender = '女'"
    assert result["thresholds"]["max_len"] is None
    assert [(r["antecedents"], r["consequents"], r["confidence"], r["lift"]) for r in result["rules"]] == [
        (["牛奶"], ["面包"], 1.0, 2.0),
        (["面包"], ["牛奶"], 1.0, 2.0),
    ]
    assert result["rules"][0]["sentence"] == "买了牛奶的订单有100%也买了面包，是平均的2.0倍"
