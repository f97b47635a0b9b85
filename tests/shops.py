"""Small readable shops for hand-counted tests of metrics, RFM, tags and refresh."""

from __future__ import annotations

import csv
from pathlib import Path

from portrait.ingest.job import import_files
from portrait.workspace import Workspace

# A May-2024 shop. Hand counts for period 2024-05 (as of 2024-09-01, follow-up 90 days):
# visitors A B C F = 4; new visitors B F = 2; returning (back within 6 days) A B = 2;
# period customers A B C E F = 5; new customers (first contact in May) B E = 2;
# buyers A B F = 3 (D's only order was refunded); orders 5; repurchasers A F = 2; repeat orders 2;
# new buyers B F = 2; retained B = 1; churned A F = 2; average purchases 5/3.
MAY_CUSTOMERS = [
    ["客户ID", "客户名称", "性别", "年龄", "常住地区", "注册时间"],
    ["A", "张三", "男", "30", "上海", "2024-01-10"],
    ["B", "李四", "女", "24", "北京", "2024-05-05"],
    ["C", "王五", "女", "41", "杭州", "2024-04-20"],
    ["D", "赵六", "男", "35", "成都", "2023-12-01"],
    ["E", "钱七", "女", "52", "深圳", "2024-05-15"],
    ["F", "孙八", "男", "19", "广州", "2023-06-01"],
]
MAY_ORDERS = [
    ["订单号", "客户ID", "下单时间", "订单金额", "订单数量", "产品ID", "品类", "订单状态", "是否用券"],
    ["O1", "A", "2024-02-01 10:00:00", "100", "1", "P1", "手机", "paid", "否"],
    ["O2", "A", "2024-05-03 10:00:00", "200", "1", "P2", "手机", "paid", "否"],
    ["O3", "A", "2024-05-20 21:00:00", "300", "1", "P3", "家电", "paid", "是"],
    ["O4", "B", "2024-05-06 09:00:00", "50", "1", "P4", "美妆", "paid", "是"],
    ["O5", "B", "2024-07-01 09:00:00", "80", "1", "P4", "美妆", "paid", "是"],
    ["O6", "C", "2024-06-10 12:00:00", "60", "1", "P5", "食品", "paid", "否"],
    ["O7", "D", "2024-05-10 12:00:00", "999", "1", "P6", "家电", "refunded", "否"],
    ["O8", "F", "2024-05-02 20:00:00", "120", "1", "P7", "服饰", "paid", "否"],
    ["O9", "F", "2024-05-25 20:00:00", "60", "1", "P7", "服饰", "paid", "否"],
]
MAY_EVENTS = [
    ["客户ID", "行为类型", "行为时间"],
    ["A", "pv", "2024-04-30 10:00:00"],
    ["A", "pv", "2024-05-03 09:00:00"],
    ["A", "cart", "2024-05-03 09:05:00"],
    ["A", "pv", "2024-05-20 20:00:00"],
    ["B", "pv", "2024-05-05 08:00:00"],
    ["B", "pv", "2024-05-06 08:30:00"],
    ["C", "pv", "2024-04-25 12:00:00"],
    ["C", "fav", "2024-05-28 12:00:00"],
    ["F", "pv", "2024-05-02 19:00:00"],
]

# An RFM shop, as of 2024-07-01: recency 10/20/30/40/50 days, frequency 1..5, monetary 100..500,
# so every quintile cut falls between customers and the scores are plain 1–5.
RFM_ORDERS = [["订单号", "客户ID", "下单时间", "订单金额", "订单数量", "产品ID"]]
_RFM = {  # user: (last order date, orders, total amount)
    "u1": ("2024-06-21", 1, 500),
    "u2": ("2024-06-11", 5, 400),
    "u3": ("2024-06-01", 3, 300),
    "u4": ("2024-05-22", 4, 100),
    "u5": ("2024-05-12", 2, 200),
}
for _user, (_last, _n, _total) in _RFM.items():
    for _i in range(_n):
        _day = _last if _i == _n - 1 else f"2024-0{1 + _i}-15"
        RFM_ORDERS.append([f"{_user}-{_i}", _user, _day, str(_total / _n), "1", "P1"])


def write(path: Path, rows: list[list[str]]) -> Path:
    """Write rows as a UTF-8 CSV."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def load_may_shop(ws: Workspace, folder: Path) -> None:
    """Import the May shop into ``ws``."""
    import_files(ws, "customers", [write(folder / "c.csv", MAY_CUSTOMERS)])
    import_files(ws, "orders", [write(folder / "o.csv", MAY_ORDERS)])
    import_files(ws, "events", [write(folder / "e.csv", MAY_EVENTS)])


def load_rfm_shop(ws: Workspace, folder: Path) -> None:
    """Import the RFM shop into ``ws``."""
    import_files(ws, "orders", [write(folder / "rfm.csv", RFM_ORDERS)])
