"""The synthetic demo shop: layout, determinism, realism, and the dirty rows cleaning must catch."""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pytest

from portrait.demo import DEMO_END, DEMO_START, HEADERS, SHARED_PHONE, write_demo_shop

TABLES = ("customers", "orders", "events", "interactions", "channels", "products", "campaigns")
ISO = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a demo CSV file."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def moment(text: str) -> datetime | None:
    """An ISO timestamp, or None when the text is not one (or an impossible date)."""
    try:
        return datetime.fromisoformat(text) if ISO.fullmatch(text) else None
    except ValueError:
        return None


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_demo_shop(tmp_path_factory.mktemp("shop") / "new" / "folder", 1000, seed=7)


@pytest.fixture(scope="module")
def tables(shop: dict[str, Path]) -> dict[str, list[dict[str, str]]]:
    return {name: read(path)[1] for name, path in shop.items()}


def test_writes_seven_tables_with_the_specified_headers(shop: dict[str, Path]) -> None:
    assert set(shop) == set(TABLES)
    for name, path in shop.items():
        assert path.name == f"{name}.csv" and path.is_file()
        raw = path.read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf")  # UTF-8 without BOM
        assert b"\r\n" not in raw and raw.endswith(b"\n")
        assert read(path)[0] == list(HEADERS[name])
    assert HEADERS["customers"] == (
        "客户ID",
        "客户名称",
        "性别",
        "年龄",
        "常住地区",
        "客户职业",
        "手机号",
        "邮箱",
        "注册时间",
        "注册渠道",
        "会员等级",
    )
    assert HEADERS["orders"][:5] == ("order_id", "user_id", "order_time", "amount", "quantity")
    assert not list(shop["orders"].parent.glob("*.part"))


def test_same_seed_same_bytes_other_seed_other_bytes(shop: dict[str, Path], tmp_path: Path) -> None:
    again = write_demo_shop(tmp_path / "again", 1000, seed=7)
    for name in TABLES:
        assert again[name].read_bytes() == shop[name].read_bytes(), name
    other = write_demo_shop(tmp_path / "other", 1000, seed=8, events_per_customer=5)
    for name in ("customers", "orders", "events", "interactions", "channels"):
        assert other[name].read_bytes() != shop[name].read_bytes(), name


def test_output_does_not_depend_on_chunk_size(tmp_path: Path) -> None:
    small = dict(orders_per_customer=1.5, events_per_customer=2.0)
    a = write_demo_shop(tmp_path / "a", 20_500, seed=3, chunk_customers=10_000, **small)
    b = write_demo_shop(tmp_path / "b", 20_500, seed=3, chunk_customers=20_000, **small)
    c = write_demo_shop(tmp_path / "c", 20_500, seed=3, chunk_customers=1, **small)
    for name in TABLES:
        assert a[name].read_bytes() == b[name].read_bytes() == c[name].read_bytes(), name
    ids = [row["客户ID"] for row in read(a["customers"])[1]]
    assert len(ids) == len(set(ids)) == 20_500
    assert ids[0] == "CUS000000001" and ids[-1] == "CUS000020500"
    order_ids = {row["order_id"] for row in read(a["orders"])[1]}
    assert len(order_ids) == pytest.approx(1.5 * 20_500, rel=0.1)


def test_row_counts_follow_the_ratios(tables: dict[str, list[dict[str, str]]], tmp_path: Path) -> None:
    assert len(tables["customers"]) == 1000
    assert len(tables["orders"]) == pytest.approx(10_000, rel=0.1)
    assert len(tables["events"]) == pytest.approx(100_000, rel=0.1)
    assert len(tables["products"]) == 200
    assert len(tables["channels"]) == 5 * ((DEMO_END - DEMO_START).days + 1)
    paths = write_demo_shop(tmp_path, 2000, seed=1, orders_per_customer=3, events_per_customer=20)
    assert len(read(paths["orders"])[1]) == pytest.approx(6_000, rel=0.1)
    assert len(read(paths["events"])[1]) == pytest.approx(40_000, rel=0.1)


def test_customers_look_real(tables: dict[str, list[dict[str, str]]]) -> None:
    rows = tables["customers"]
    assert all(re.fullmatch(r"CUS\d{9}", r["客户ID"]) for r in rows)
    assert all(re.fullmatch(r"1[3-9]\d{9}", r["手机号"]) for r in rows)
    assert {r["性别"] for r in rows} == {"男", "女", ""}
    surnames = Counter(r["客户名称"][0] for r in rows)
    assert {s for s, _ in surnames.most_common(5)} & {"王", "李", "张", "刘", "陈"}
    ages = [int(r["年龄"]) for r in rows if re.fullmatch(r"\d+", r["年龄"]) and 18 <= int(r["年龄"]) <= 70]
    assert sum(25 <= a <= 40 for a in ages) > 0.5 * len(ages)
    regions = Counter(r["常住地区"] for r in rows)
    assert {"上海", "上海市", "北京", "北京市"} <= set(regions)
    assert any(r.startswith("广东省") for r in regions) and any(re.fullmatch(r"广东\w+", r) for r in regions)
    assert len({r.rstrip("市") for r in regions}) >= 40
    assert {"白领", "学生", "退休人员", "工程师"} <= {r["客户职业"] for r in rows}
    assert {r["注册渠道"] for r in rows} == {"官网", "门店", "推荐", "小程序", "电商平台"}
    assert {r["会员等级"] for r in rows} == {"普通", "白银", "黄金", "铂金"}
    assert sum("@" in r["邮箱"] for r in rows) > 0.6 * len(rows)


def test_customer_dirt(tables: dict[str, list[dict[str, str]]]) -> None:
    rows = tables["customers"]
    shared = [r["客户ID"] for r in rows if r["手机号"] == SHARED_PHONE]
    assert 2 <= len(shared) <= 10
    by_phone = Counter(r["手机号"] for r in rows if r["手机号"] != SHARED_PHONE)
    by_email = Counter(r["邮箱"] for r in rows if r["邮箱"])
    assert 1 <= sum(n == 2 for n in by_phone.values()) <= 10  # the same person registered twice
    assert 1 <= sum(n == 2 for n in by_email.values()) <= 10
    twins = [r for r in rows if by_phone[r["手机号"]] == 2]
    assert len({r["注册渠道"] for r in twins}) > 1
    for column in ("性别", "年龄", "客户职业", "常住地区"):
        assert 1 <= sum(r[column] == "" for r in rows) <= 10, column
    ages = Counter(r["年龄"] for r in rows)
    assert ages["150"] and ages["-3"] and ages["abc"] and ages["十二"]
    assert any(v is not None and v > 90 for v in map(number, ages))
    registered = [r["注册时间"] for r in rows]
    check_date_dirt(registered)
    assert {"粤", "沪", "京", "川", "浙"} & {r["常住地区"] for r in rows} or any(" " in r["常住地区"] for r in rows)


def check_date_dirt(values: list[str]) -> None:
    """ISO for the most, plus impossible dates and each of the other forms real exports carry."""
    assert sum(bool(ISO.fullmatch(v)) for v in values) > 0.95 * len(values)
    assert {"2024-13-45", "2024-02-30", "not a date"} <= set(values)
    forms = {
        "slash": r"\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d\d",
        "compact": r"\d{8}",
        "chinese": r"\d{4}年\d{1,2}月\d{1,2}日 \d{1,2}:\d\d",
        "excel": r"4\d{4}(\.\d+)?",
    }
    for form, pattern in forms.items():
        assert 1 <= sum(bool(re.fullmatch(pattern, v)) for v in values) <= 0.01 * len(values) + 3, form


def test_order_dirt(shop: dict[str, Path], tables: dict[str, list[dict[str, str]]]) -> None:
    rows = tables["orders"]
    lines = shop["orders"].read_text(encoding="utf-8").splitlines()[1:]
    repeated = [n for n in Counter(lines).values() if n > 1]
    assert 1 <= len(repeated) <= 0.005 * len(lines)
    amounts = [r["amount"] for r in rows]
    assert 1 <= sum((number(a) or 0) < 0 for a in amounts) <= 0.005 * len(rows)
    assert {"abc", "十二"} <= set(amounts)
    assert any(number(r["quantity"]) is None for r in rows)
    check_date_dirt([r["order_time"] for r in rows])
    categories = Counter(r["category"] for r in rows)
    assert categories["移动电话"] and (categories["笔记本"] or categories["笔记本电脑"])
    assert sum(categories[c] for c in ("手机", "电脑", "美妆", "食品")) > 0.3 * len(rows)


def test_orders_are_consistent(tables: dict[str, list[dict[str, str]]]) -> None:
    products = {r["product_id"]: r for r in tables["products"]}
    users = {r["客户ID"] for r in tables["customers"]}
    rows = tables["orders"]
    assert all(re.fullmatch(r"ORD\d{12}", r["order_id"]) for r in rows)
    assert all(r["user_id"] in users for r in rows)
    checked = 0
    for r in rows:
        product = products[r["product_id"]]
        assert (r["product_name"], r["brand"], r["unit_price"]) == (
            product["product_name"],
            product["brand"],
            product["price"],
        )
        amount, quantity = number(r["amount"]), number(r["quantity"])
        if amount is None or quantity is None or amount < 0:
            continue
        expected = quantity * float(r["unit_price"]) - float(r["discount"])
        assert amount == pytest.approx(expected, abs=0.005) and amount >= 0
        checked += 1
    assert checked > 0.98 * len(rows)
    status = Counter(r["status"] for r in rows)
    assert set(status) == {"paid", "refunded", "returned"} and status["paid"] > 0.85 * len(rows)
    assert {r["terminal"] for r in rows} == {"PC", "APP", "小程序", "H5"}
    assert {r["source"] for r in rows} == {"直接访问", "搜索引擎", "社交媒体", "广告投放", "站内推荐"}
    assert {r["coupon_used"] for r in rows} == {"true", "false"}
    assert len({r["category"] for r in tables["products"]}) >= 9


def test_orders_have_weekly_and_yearly_seasonality(tables: dict[str, list[dict[str, str]]]) -> None:
    times = [t for t in (moment(r["order_time"]) for r in tables["orders"]) if t is not None]
    days = (DEMO_END - DEMO_START).days + 1
    per_week = len(times) / (days / 7)
    double11 = sum(date(2024, 11, 5) <= t.date() <= date(2024, 11, 11) for t in times)
    assert double11 > 1.8 * per_week
    on_day = Counter(t.date() for t in times)
    assert on_day[date(2024, 11, 11)] > on_day[date(2024, 11, 20)]
    assert on_day[date(2024, 6, 18)] > on_day[date(2024, 6, 25)]
    weekday = Counter(t.weekday() for t in times)
    assert (weekday[5] + weekday[6]) / 2 > sum(weekday[d] for d in range(5)) / 5
    hours = Counter(t.hour for t in times)
    assert hours[21] > 3 * hours[4]


def test_personas_shape_behaviour(tables: dict[str, list[dict[str, str]]]) -> None:
    per_user = Counter(r["user_id"] for r in tables["orders"])
    users = [r["客户ID"] for r in tables["customers"]]
    non_buyers = sum(per_user[u] == 0 for u in users)
    assert 0.08 * len(users) < non_buyers < 0.3 * len(users)
    assert sum(per_user[u] == 1 for u in users) > 0.1 * len(users)
    assert max(per_user.values()) >= 40
    complaints = Counter(r["user_id"] for r in tables["interactions"] if r["type"] == "complaint")
    assert sum(n >= 3 for n in complaints.values()) >= 10


def test_events_funnel_and_dirt(shop: dict[str, Path], tables: dict[str, list[dict[str, str]]]) -> None:
    rows = tables["events"]
    kinds = Counter(r["behavior_type"] for r in rows)
    assert kinds["pv"] > 2 * kinds["click"] > 0
    assert kinds["click"] > max(kinds["fav"], kinds["cart"])
    assert min(kinds["fav"], kinds["cart"]) > kinds["order"] >= kinds["pay"] > 0
    assert {r["page"] for r in rows} >= {"首页", "搜索页", "商品详情页", "活动页", "购物车", "个人中心"}
    assert {r["referrer"] for r in rows} == {"直接访问", "搜索引擎", "社交媒体", "广告投放", "站内推荐"}
    assert {r["channel"] for r in rows} == {"PC", "APP", "小程序", "H5"}
    assert all(ISO.fullmatch(r["behavior_time"]) for r in rows)
    negative = sum(int(r["duration_s"]) < 0 for r in rows)
    assert 1 <= negative <= 0.005 * len(rows)
    lines = shop["events"].read_text(encoding="utf-8").splitlines()[1:]
    repeated = [n for n in Counter(lines).values() if n > 1]
    assert 1 <= len(repeated) <= 0.005 * len(lines)


def test_interactions_and_channels(tables: dict[str, list[dict[str, str]]]) -> None:
    rows = tables["interactions"]
    assert {r["channel"] for r in rows} == {"phone", "online", "email"}
    assert {r["type"] for r in rows} == {"consult", "complaint", "suggestion"}
    assert {"物流", "退换货", "产品质量", "售后", "价格", "会员权益"} <= {r["topic"] for r in rows}
    satisfaction = [int(r["satisfaction"]) for r in rows]
    assert 1 <= sum(not 1 <= s <= 5 for s in satisfaction) <= 10
    assert all(float(r["handle_minutes"]) > 0 for r in rows)

    channels = tables["channels"]
    days = (DEMO_END - DEMO_START).days + 1
    sources = ("直接访问", "搜索引擎", "社交媒体", "广告投放", "站内推荐")
    assert Counter(r["channel"] for r in channels) == dict.fromkeys(sources, days)
    campaigns = Counter(r["campaign_id"] for r in channels)
    assert campaigns[""] > 0.8 * len(channels)
    assert all(r["campaign_id"] == "D11-2024" for r in channels if r["date"] == "2024-11-11")
    assert sum(int(r["orders"]) for r in channels) == len({r["order_id"] for r in tables["orders"]})
    assert all(float(r["cost"]) == 0 for r in channels if r["channel"] == "直接访问")
    assert sum(float(r["cost"]) for r in channels if r["channel"] == "广告投放") > 0


def test_campaign_membership(tables: dict[str, list[dict[str, str]]]) -> None:
    rows = tables["campaigns"]
    customers = {r["客户ID"] for r in tables["customers"]}
    assert len({r["user_id"] for r in rows}) == len(rows) and {r["user_id"] for r in rows} <= customers
    assert 0.15 * len(customers) < len(rows) < 0.35 * len(customers)  # 30 % of those registered before the start
    assert {(r["campaign_id"], r["start_date"], r["end_date"]) for r in rows} == {
        ("CMP-2024-09", "2024-09-01", "2024-09-14")
    }
    arms = Counter(r["arm"] for r in rows)
    assert set(arms) == {"treatment", "control"} and arms["treatment"] > arms["control"]
    assert {(r["arm"], r["cost"]) for r in rows} == {("treatment", "3.00"), ("control", "0.00")}


def test_tiny_and_odd_sizes(tmp_path: Path) -> None:
    one = write_demo_shop(tmp_path / "one", 1, orders_per_customer=0, events_per_customer=0)
    assert len(read(one["customers"])[1]) == 1
    assert read(one["orders"])[1] == [] and read(one["events"])[1] == []
    some = write_demo_shop(tmp_path / "some", 150, orders_per_customer=0.3, events_per_customer=3)
    assert len(read(some["customers"])[1]) == 150


def test_progress_is_reported_per_chunk(tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    write_demo_shop(
        tmp_path,
        20_500,
        orders_per_customer=0.5,
        events_per_customer=0.5,
        chunk_customers=10_000,
        progress=lambda *args: calls.append(args),
    )
    assert [c for c in calls if c[0] == "customers"] == [
        ("customers", 10_000, 20_500),
        ("customers", 20_000, 20_500),
        ("customers", 20_500, 20_500),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customers": 0}, "customers must be between 1 and 10_000_000, got 0"),
        ({"customers": 10_000_001}, "customers must be between 1 and 10_000_000"),
        ({"customers": "10"}, "customers must be a whole number"),
        ({"customers": True}, "customers must be a whole number"),
        ({"seed": -1}, "seed must be between 0"),
        ({"orders_per_customer": -1}, "orders_per_customer must be between 0 and 100"),
        ({"orders_per_customer": float("nan")}, "orders_per_customer must be between 0 and 100"),
        ({"events_per_customer": 5000}, "events_per_customer must be between 0 and 1000"),
        ({"chunk_customers": 0}, "chunk_customers must be between 1"),
        ({"progress": 3}, "progress must be a callable"),
    ],
)
def test_arguments_are_validated(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        write_demo_shop(tmp_path / "x", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "x").exists()


def test_out_dir_must_be_a_folder(tmp_path: Path) -> None:
    target = tmp_path / "file.csv"
    target.write_text("x")
    with pytest.raises(ValueError, match="is not a folder"):
        write_demo_shop(target, 10)


def test_a_failure_leaves_no_half_written_tables(tmp_path: Path) -> None:
    def stop(stage: str, done: int, total: int) -> None:
        if stage == "customers":
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        write_demo_shop(tmp_path, 20_500, orders_per_customer=1, events_per_customer=1, progress=stop)
    assert list(tmp_path.iterdir()) == []
