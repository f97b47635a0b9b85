"""A realistic synthetic shop, written as CSV files, for demos, tests and benchmarks.

``write_demo_shop`` streams the customers, orders, behaviour events, service interactions, daily
channel statistics, product catalogue and one campaign's membership (treatment and control groups) of an
imaginary Chinese online shop into a folder.

Customers are made in fixed blocks of ``BLOCK`` customers. Every block draws from its own random
streams, derived from ``(seed, block)``, so the files depend only on the seed and the sizes: never on
how the work is chunked. Only one block's rows are alive at a time, so memory stays flat however many
customers are asked for. All rows of a block are made with vectorised numpy and turned into CSV text
with pyarrow compute kernels; there is no per-row Python work except for the few dirty rows.

Behaviour follows personas (loyal repeat buyers, one-time buyers, churners, coupon lovers,
complainers, regular buyers and registered non-buyers), weekly and yearly seasonality with the
Double-11 (11.11) peak and the 618 bump. Every file also carries a small, deterministic share of
dirty rows of the kinds cleaning must catch; ``DIRTY_KINDS`` names them.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "BLOCK",
    "CAMPAIGN_ID",
    "DEMO_AS_OF",
    "DEMO_END",
    "DEMO_START",
    "DIRTY_KINDS",
    "HEADERS",
    "SHARED_PHONE",
    "write_demo_shop",
]

DEMO_START = date(2023, 1, 1)
DEMO_END = date(2024, 12, 31)
DEMO_AS_OF = date(2025, 1, 1)

BLOCK = 10_000  # customers per random-stream block; chunks are whole blocks
MAX_CUSTOMERS = 10_000_000
MAX_ORDERS_PER_CUSTOMER = 100.0
MAX_EVENTS_PER_CUSTOMER = 1_000.0
SHARED_PHONE = "13800000000"  # the shop's placeholder number, typed in for unrelated customers
DIRTY_RATE = 0.003  # share of rows per dirty kind (at least a few rows per block)

_NDAYS = (DEMO_END - DEMO_START).days + 1
_SPAN_S = _NDAYS * 86_400
_EVENTS_PER_GROUP = 100_000  # events are made for groups of customers of about this many rows
_WORKERS = max(1, min(2, os.cpu_count() or 1))  # threads making events
_EXCEL_EPOCH_OFFSET = (DEMO_START - date(1899, 12, 30)).days

HEADERS: dict[str, tuple[str, ...]] = {
    "customers": (
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
    ),
    "orders": (
        "order_id",
        "user_id",
        "order_time",
        "amount",
        "quantity",
        "product_id",
        "product_name",
        "category",
        "brand",
        "unit_price",
        "coupon_used",
        "discount",
        "status",
        "terminal",
        "source",
    ),
    "events": (
        "user_id",
        "behavior_type",
        "behavior_time",
        "product_id",
        "page",
        "referrer",
        "duration_s",
        "channel",
    ),
    "interactions": (
        "user_id",
        "interaction_time",
        "channel",
        "type",
        "topic",
        "satisfaction",
        "handle_minutes",
    ),
    "channels": ("channel", "date", "campaign_id", "uv", "clicks", "orders", "revenue", "cost"),
    "products": ("product_id", "product_name", "category", "brand", "price"),
    "campaigns": ("campaign_id", "campaign_name", "user_id", "arm", "start_date", "end_date", "cost"),
}

# the dirty kinds each file carries, by table
DIRTY_KINDS: dict[str, tuple[str, ...]] = {
    "customers": (
        "duplicate_person",  # a second user_id for the same person: same phone and/or email, other channel
        "shared_phone",  # 13800000000 on unrelated customers
        "missing_gender",
        "missing_age",
        "missing_occupation",
        "missing_region",
        "age_out_of_range",  # 150, -3 ...
        "age_outlier",  # 96, 103, 12 ...
        "age_unparseable",  # abc, 十二 ...
        "date_invalid",  # 2024-13-45, 2024-02-30, not a date ...
        "date_slash",
        "date_compact",
        "date_chinese",
        "date_excel",  # 2024/5/1 9:05, 20240501, ...
        "region_variant",  # 粤, 沪, 广东省 深圳市 ...
    ),
    "orders": (
        "duplicate_row",
        "amount_negative",
        "amount_unparseable",
        "quantity_unparseable",
        "date_invalid",
        "date_slash",
        "date_compact",
        "date_chinese",
        "date_excel",
        "category_synonym",  # 移动电话 for 手机, 笔记本 for 电脑 ...
    ),
    "events": ("duplicate_row", "duration_negative"),
    "interactions": ("satisfaction_out_of_range",),
}

# ---------------------------------------------------------------------------------------------------
# vocabularies

_PERSONAS = ("non_buyer", "one_time", "churner", "regular", "loyal", "coupon_lover", "complainer")
NON_BUYER, ONE_TIME, CHURNER, REGULAR, LOYAL, COUPON, COMPLAINER = range(7)
_PERSONA_SHARE = np.array([0.15, 0.20, 0.15, 0.25, 0.10, 0.10, 0.05])
_PERSONA_ORDERS = np.array([0.0, 1.0, 4.0, 7.0, 28.0, 10.0, 6.0])  # relative order rates
_PERSONA_MIN_ORDERS = np.array([0, 1, 2, 1, 3, 1, 1])

# surname, pinyin (for e-mail addresses), relative frequency
_SURNAMES = (
    ("王", "wang", 7.1),
    ("李", "li", 7.0),
    ("张", "zhang", 6.7),
    ("刘", "liu", 5.4),
    ("陈", "chen", 4.5),
    ("杨", "yang", 3.1),
    ("黄", "huang", 2.2),
    ("赵", "zhao", 2.0),
    ("吴", "wu", 1.9),
    ("周", "zhou", 1.8),
    ("徐", "xu", 1.4),
    ("孙", "sun", 1.3),
    ("马", "ma", 1.2),
    ("朱", "zhu", 1.1),
    ("胡", "hu", 1.0),
    ("郭", "guo", 1.0),
    ("何", "he", 0.9),
    ("林", "lin", 0.9),
    ("高", "gao", 0.9),
    ("罗", "luo", 0.8),
    ("郑", "zheng", 0.8),
    ("梁", "liang", 0.7),
    ("谢", "xie", 0.6),
    ("宋", "song", 0.5),
    ("唐", "tang", 0.5),
    ("许", "xu", 0.5),
    ("韩", "han", 0.5),
    ("冯", "feng", 0.5),
    ("邓", "deng", 0.5),
    ("曹", "cao", 0.5),
    ("彭", "peng", 0.4),
    ("曾", "zeng", 0.4),
    ("肖", "xiao", 0.4),
    ("田", "tian", 0.4),
    ("董", "dong", 0.4),
    ("袁", "yuan", 0.4),
    ("潘", "pan", 0.4),
    ("于", "yu", 0.4),
    ("蒋", "jiang", 0.4),
    ("蔡", "cai", 0.4),
    ("余", "yu", 0.3),
    ("杜", "du", 0.3),
    ("叶", "ye", 0.3),
    ("程", "cheng", 0.3),
    ("苏", "su", 0.3),
    ("魏", "wei", 0.3),
    ("吕", "lv", 0.3),
    ("丁", "ding", 0.3),
    ("任", "ren", 0.3),
    ("沈", "shen", 0.3),
    ("姚", "yao", 0.25),
    ("卢", "lu", 0.25),
    ("姜", "jiang", 0.25),
    ("崔", "cui", 0.2),
    ("钟", "zhong", 0.2),
    ("谭", "tan", 0.2),
    ("陆", "lu", 0.2),
    ("汪", "wang", 0.2),
    ("范", "fan", 0.2),
    ("金", "jin", 0.2),
    ("欧阳", "ouyang", 0.04),
    ("司马", "sima", 0.01),
    ("诸葛", "zhuge", 0.01),
    ("上官", "shangguan", 0.01),
)
_GIVEN_MALE = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林洋文博志建国峰晨阳毅豪然轩睿泽"
_GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀燕玲桂丹萍红玉兰英梅琳雪婷倩颖琪欣怡佳悦晨璐思雨萱涵婧瑶妍慧洁"

# city, province short, province full ("" for municipalities), abbreviation, tier, weight
_CITIES = (
    ("北京", "北京", "", "京", "一线", 8.0),
    ("上海", "上海", "", "沪", "一线", 9.0),
    ("广州", "广东", "广东省", "粤", "一线", 6.0),
    ("深圳", "广东", "广东省", "粤", "一线", 6.5),
    ("成都", "四川", "四川省", "川", "新一线", 4.5),
    ("杭州", "浙江", "浙江省", "浙", "新一线", 4.5),
    ("重庆", "重庆", "", "渝", "新一线", 4.0),
    ("武汉", "湖北", "湖北省", "鄂", "新一线", 3.5),
    ("西安", "陕西", "陕西省", "陕", "新一线", 3.0),
    ("苏州", "江苏", "江苏省", "苏", "新一线", 3.0),
    ("天津", "天津", "", "津", "新一线", 3.0),
    ("南京", "江苏", "江苏省", "苏", "新一线", 3.0),
    ("长沙", "湖南", "湖南省", "湘", "新一线", 2.5),
    ("郑州", "河南", "河南省", "豫", "新一线", 2.5),
    ("东莞", "广东", "广东省", "粤", "新一线", 2.2),
    ("青岛", "山东", "山东省", "鲁", "新一线", 2.0),
    ("沈阳", "辽宁", "辽宁省", "辽", "新一线", 1.8),
    ("宁波", "浙江", "浙江省", "浙", "新一线", 1.8),
    ("昆明", "云南", "云南省", "云", "新一线", 1.6),
    ("合肥", "安徽", "安徽省", "皖", "新一线", 1.8),
    ("佛山", "广东", "广东省", "粤", "新一线", 1.8),
    ("福州", "福建", "福建省", "闽", "二线", 1.5),
    ("厦门", "福建", "福建省", "闽", "二线", 1.3),
    ("无锡", "江苏", "江苏省", "苏", "二线", 1.4),
    ("济南", "山东", "山东省", "鲁", "二线", 1.5),
    ("大连", "辽宁", "辽宁省", "辽", "二线", 1.2),
    ("哈尔滨", "黑龙江", "黑龙江省", "黑", "二线", 1.3),
    ("长春", "吉林", "吉林省", "吉", "二线", 1.0),
    ("石家庄", "河北", "河北省", "冀", "二线", 1.2),
    ("南宁", "广西", "广西壮族自治区", "桂", "二线", 1.1),
    ("贵阳", "贵州", "贵州省", "黔", "二线", 1.0),
    ("南昌", "江西", "江西省", "赣", "二线", 1.0),
    ("温州", "浙江", "浙江省", "浙", "二线", 1.1),
    ("泉州", "福建", "福建省", "闽", "二线", 1.0),
    ("太原", "山西", "山西省", "晋", "二线", 0.9),
    ("兰州", "甘肃", "甘肃省", "甘", "三线", 0.7),
    ("乌鲁木齐", "新疆", "新疆维吾尔自治区", "新", "三线", 0.6),
    ("呼和浩特", "内蒙古", "内蒙古自治区", "蒙", "三线", 0.5),
    ("海口", "海南", "海南省", "琼", "三线", 0.5),
    ("洛阳", "河南", "河南省", "豫", "三线", 0.6),
    ("绵阳", "四川", "四川省", "川", "三线", 0.4),
    ("桂林", "广西", "广西壮族自治区", "桂", "三线", 0.4),
    ("扬州", "江苏", "江苏省", "苏", "三线", 0.5),
    ("襄阳", "湖北", "湖北省", "鄂", "三线", 0.4),
    ("赣州", "江西", "江西省", "赣", "四线", 0.4),
)

_OCCUPATIONS = (
    "白领",
    "工程师",
    "程序员",
    "自由职业",
    "个体户",
    "公务员",
    "教师",
    "医生",
    "销售",
    "工人",
    "设计师",
    "全职主妇",
    "学生",
    "退休人员",
)
# rows: age < 23, 23..57, >= 58
_OCCUPATION_WEIGHTS = np.array(
    [
        [8, 3, 3, 6, 3, 1, 1, 0, 4, 5, 2, 0, 64, 0],
        [26, 12, 6, 9, 9, 5, 6, 4, 8, 7, 3, 3, 1, 0],
        [4, 2, 0, 4, 6, 2, 2, 2, 2, 3, 0, 5, 0, 68],
    ],
    dtype=float,
)

_REGISTER_CHANNELS = ("官网", "门店", "推荐", "小程序", "电商平台")
_REGISTER_CHANNEL_W = np.array([0.15, 0.18, 0.10, 0.32, 0.25])
_MEMBER_LEVELS = ("普通", "白银", "黄金", "铂金")
_TERMINALS = ("APP", "小程序", "PC", "H5")
_TERMINAL_W = np.array([0.48, 0.27, 0.15, 0.10])
_SOURCES = ("直接访问", "搜索引擎", "社交媒体", "广告投放", "站内推荐")
_SOURCE_W = np.array([0.30, 0.22, 0.18, 0.15, 0.15])
_SOURCE_CPC = np.array([0.0, 1.2, 0.8, 2.2, 0.0])  # cost per click, yuan
_STATUSES = ("paid", "refunded", "returned")
_EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "sina.com", "foxmail.com")
_EMAIL_DOMAIN_W = np.array([0.42, 0.22, 0.10, 0.07, 0.07, 0.06, 0.06])
_PHONE_PREFIXES = tuple(
    [f"13{d}" for d in range(10)]
    + ["145", "147"]
    + [f"15{d}" for d in (0, 1, 2, 3, 5, 6, 7, 8, 9)]
    + ["166", "170", "171", "173", "175", "176", "177", "178"]
    + [f"18{d}" for d in range(10)]
    + ["191", "198", "199"]
)

_BEHAVIORS = ("pv", "click", "search", "fav", "cart", "order", "pay")
PV, CLICK, SEARCH, FAV, CART, ORDER, PAY = range(7)
_BROWSE_W = np.array([0.56, 0.25, 0.06, 0.045, 0.035, 0.0, 0.0])  # after a session's first event
_PAGES = ("首页", "搜索页", "商品详情页", "活动页", "购物车", "个人中心", "订单确认页", "支付页")
HOME, SEARCH_PAGE, DETAIL, CAMPAIGN_PAGE, CART_PAGE, ME, CONFIRM, PAY_PAGE = range(8)
# page distribution by row: 0 landing pv, 1 inner pv, 2 click, 3 search, 4 fav, 5 cart
_PAGE_W = np.array(
    [
        [0.45, 0.10, 0.25, 0.20, 0.0, 0.0, 0.0, 0.0],
        [0.12, 0.08, 0.55, 0.10, 0.08, 0.07, 0.0, 0.0],
        [0.35, 0.25, 0.20, 0.20, 0.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.8, 0.0, 0.2, 0.0, 0.0, 0.0],
    ]
)

_SERVICE_CHANNELS = ("phone", "online", "email")
_SERVICE_CHANNEL_W = np.array([0.35, 0.55, 0.10])
_SERVICE_CHANNEL_MINUTES = np.array([1.3, 1.0, 2.0])
_INTERACTION_TYPES = ("consult", "complaint", "suggestion")
_TYPE_MINUTES = np.array([6.0, 18.0, 4.0])
_TOPICS = (
    "物流",
    "退换货",
    "产品质量",
    "售后",
    "价格",
    "会员权益",
    "发票",
    "产品使用",
    "支付问题",
    "活动规则",
    "APP体验",
    "包装",
)
_TOPIC_W = np.array(
    [
        [0.18, 0.08, 0.06, 0.06, 0.12, 0.14, 0.08, 0.16, 0.05, 0.07, 0.0, 0.0],  # consult
        [0.24, 0.18, 0.20, 0.16, 0.08, 0.03, 0.0, 0.0, 0.04, 0.03, 0.0, 0.04],  # complaint
        [0.10, 0.05, 0.10, 0.08, 0.05, 0.12, 0.0, 0.05, 0.0, 0.10, 0.25, 0.10],  # suggestion
    ]
)
# satisfaction 1..5 by row: type * 2 + is_complainer
_SATISFACTION_W = np.array(
    [
        [0.02, 0.04, 0.14, 0.38, 0.42],
        [0.15, 0.25, 0.30, 0.20, 0.10],
        [0.15, 0.20, 0.30, 0.20, 0.15],
        [0.40, 0.30, 0.18, 0.08, 0.04],
        [0.02, 0.05, 0.20, 0.40, 0.33],
        [0.10, 0.20, 0.35, 0.25, 0.10],
    ]
)

_CATEGORIES = ("手机", "电脑", "数码", "家电", "美妆", "服饰", "食品", "家居", "母婴", "运动")
_CATEGORY_SYNONYMS = {
    "手机": ("移动电话", "智能手机"),
    "电脑": ("笔记本", "笔记本电脑", "计算机"),
    "数码": ("数码配件", "3C数码"),
    "家电": ("家用电器", "电器"),
    "美妆": ("化妆品", "美妆护肤"),
    "服饰": ("服装", "女装/男装"),
    "食品": ("零食", "食品饮料"),
    "家居": ("家居用品", "家纺"),
    "母婴": ("母婴用品", "婴童"),
    "运动": ("运动户外", "体育用品"),
}
# category popularity by gender (0 male, 1 female)
_CATEGORY_W = np.array(
    [
        [0.14, 0.12, 0.14, 0.08, 0.03, 0.10, 0.15, 0.06, 0.05, 0.13],
        [0.08, 0.05, 0.07, 0.09, 0.20, 0.16, 0.15, 0.08, 0.08, 0.04],
    ]
)
_CATEGORY_QTY_P = np.array([0.9, 0.95, 0.75, 0.9, 0.7, 0.7, 0.5, 0.7, 0.55, 0.8])  # geometric p of quantity

# category|brand|name|price; 20 products per category
_CATALOG_TEXT = """
手机|华为|Mate 60 Pro 12+512GB|6999
手机|华为|Mate 60 12+256GB|5499
手机|华为|nova 12 256GB|2999
手机|华为|Pura 70 12+256GB|5499
手机|小米|小米14 16+512GB|4599
手机|小米|Redmi K70 12+256GB|2499
手机|小米|Redmi Note 13 8+256GB|1299
手机|苹果|iPhone 15 128GB|5999
手机|苹果|iPhone 15 Pro 256GB|8999
手机|苹果|iPhone 15 Pro Max 256GB|9999
手机|OPPO|Find X7 16+512GB|4499
手机|OPPO|Reno11 12+256GB|2499
手机|OPPO|A2 8+256GB|1199
手机|vivo|X100 12+256GB|3999
手机|vivo|S18 12+256GB|2499
手机|vivo|Y36 8+256GB|1299
手机|荣耀|Magic6 12+256GB|4399
手机|荣耀|荣耀90 12+256GB|2299
手机|荣耀|X50 8+256GB|1399
手机|一加|一加12 16+512GB|4799
电脑|联想|小新Pro14 笔记本 i5 16G 1T|5299
电脑|联想|ThinkPad X1 Carbon 2024|12999
电脑|联想|拯救者Y9000P 游戏本|9999
电脑|联想|ThinkBook 14 锐龙版|4599
电脑|华为|MateBook 14 2024|5999
电脑|华为|MateBook X Pro|9999
电脑|华为|MateBook D16|4999
电脑|苹果|MacBook Air 13 M2 8+256GB|7999
电脑|苹果|MacBook Pro 14 M3 16+512GB|12999
电脑|苹果|iMac 24英寸 M3|10999
电脑|戴尔|XPS 13|8999
电脑|戴尔|灵越14 Plus|4499
电脑|戴尔|游匣G15|6999
电脑|华硕|无畏Pro15|5499
电脑|华硕|天选5 游戏本|7499
电脑|惠普|星Book Pro14|5199
电脑|惠普|暗影精灵10|7999
电脑|小米|Redmi Book Pro 15|4999
电脑|机械革命|极光Pro|5999
电脑|宏碁|非凡Go 14|3999
数码|Anker|充电宝 10000mAh|149
数码|Anker|氮化镓充电器 65W|199
数码|绿联|Type-C 数据线 1米|29.9
数码|绿联|扩展坞 六合一|199
数码|小米|充电宝 20000mAh|129
数码|小米|Redmi Buds 5 蓝牙耳机|199
数码|华为|FreeBuds Pro 3|1299
数码|苹果|AirPods Pro 2|1899
数码|苹果|Apple Watch S9|2999
数码|索尼|WH-1000XM5 降噪耳机|2499
数码|罗技|M330 无线鼠标|99
数码|罗技|K845 机械键盘|399
数码|闪迪|U盘 128GB|79
数码|闪迪|存储卡 256GB|199
数码|漫步者|W820NB 头戴耳机|299
数码|漫步者|M230 蓝牙音箱|259
数码|倍思|车载充电器|69
数码|大疆|Osmo Pocket 3|3499
数码|大疆|Mini 4 Pro 无人机|4788
数码|佳能|EOS R50 微单相机|5499
家电|美的|变频空调 1.5匹|2799
家电|美的|电饭煲 4L|399
家电|美的|微波炉|499
家电|美的|落地电风扇|199
家电|格力|云佳空调 1.5匹|3199
家电|格力|空气净化器|1299
家电|海尔|对开门冰箱 500L|3999
家电|海尔|滚筒洗衣机 10kg|2599
家电|海尔|电热水器 60L|1299
家电|九阳|豆浆机|299
家电|九阳|破壁机|599
家电|苏泊尔|电压力锅 5L|399
家电|小米|扫地机器人|1999
家电|小米|空气净化器 4|899
家电|戴森|V12 吸尘器|3990
家电|戴森|HD15 吹风机|2999
家电|科沃斯|扫地机器人 X2|3999
家电|飞利浦|电动牙刷|499
家电|松下|负离子电吹风|599
家电|TCL|75英寸 电视|4999
美妆|欧莱雅|复颜玻尿酸精华|329
美妆|欧莱雅|紫熨斗眼霜|299
美妆|兰蔻|小黑瓶精华 50ml|1080
美妆|兰蔻|菁纯面霜|1750
美妆|雅诗兰黛|小棕瓶精华 50ml|1020
美妆|雅诗兰黛|DW粉底液|500
美妆|完美日记|小细跟口红|89
美妆|完美日记|十二色眼影盘|129
美妆|花西子|蜜粉散粉|169
美妆|花西子|雕花口红|149
美妆|珀莱雅|双抗精华|269
美妆|珀莱雅|红宝石面霜|299
美妆|薇诺娜|舒敏保湿特护霜|268
美妆|自然堂|补水面膜 10片|99
美妆|百雀羚|水乳套装|239
美妆|资生堂|红腰子精华|890
美妆|SK-II|神仙水 230ml|1540
美妆|迪奥|烈艳蓝金口红|350
美妆|毛戈平|光感粉膏|420
美妆|玉泽|皮肤屏障修护霜|198
服饰|优衣库|圆领T恤|79
服饰|优衣库|摇粒绒外套|199
服饰|优衣库|弹力牛仔裤|229
服饰|海澜之家|商务衬衫|199
服饰|海澜之家|休闲西裤|259
服饰|太平鸟|碎花连衣裙|499
服饰|太平鸟|中长款风衣|899
服饰|森马|连帽卫衣|159
服饰|森马|休闲裤|139
服饰|波司登|长款羽绒服|1299
服饰|波司登|轻薄羽绒服|699
服饰|以纯|针织开衫|169
服饰|真维斯|牛仔外套|199
服饰|ONLY|半身裙|399
服饰|雅戈尔|羊毛西装|1999
服饰|江南布衣|羊毛毛衣|899
服饰|拉夏贝尔|印花T恤|99
服饰|罗蒙|商务夹克|599
服饰|恒源祥|羊毛衫|399
服饰|李宁|休闲卫衣|299
食品|三只松鼠|每日坚果 30包|129
食品|三只松鼠|夏威夷果 500g|39
食品|良品铺子|坚果礼盒 "年货"装, 1.5kg|199
食品|良品铺子|猪肉脯 200g|29.9
食品|百草味|零食大礼包|89
食品|伊利|纯牛奶 24盒|69.9
食品|伊利|安慕希酸奶 12瓶|59.9
食品|蒙牛|特仑苏 12盒|59.9
食品|农夫山泉|矿泉水 24瓶|39.9
食品|五芳斋|粽子礼盒|128
食品|稻香村|月饼礼盒|168
食品|洽洽|香瓜子 500g|19.9
食品|卫龙|辣条大礼包|39.9
食品|金龙鱼|食用油 5L|69.9
食品|十月稻田|五常大米 10kg|89
食品|茅台|飞天53度 500ml|2999
食品|雀巢|速溶咖啡 100条|129
食品|奥利奥|饼干组合装|49.9
食品|元气森林|气泡水 12瓶|59
食品|东方树叶|茉莉花茶 15瓶|59
家居|宜家|简约书桌|599
家居|宜家|收纳箱 3件套|79
家居|水星家纺|纯棉四件套|399
家居|水星家纺|蚕丝被|899
家居|罗莱|羽绒被|1299
家居|罗莱|乳胶枕|299
家居|全友|布艺沙发|2999
家居|全友|实木床 1.8m|3999
家居|顾家家居|真皮沙发|6999
家居|网易严选|记忆棉枕|199
家居|网易严选|香薰礼盒|99
家居|无印良品|懒人沙发|599
家居|无印良品|超声波加湿器|299
家居|欧普照明|LED吸顶灯|399
家居|名创优品|收纳盒|29.9
家居|苏泊尔|不粘炒锅|199
家居|双立人|刀具套装|899
家居|乐扣乐扣|保鲜盒套装|129
家居|富安娜|夏凉被|259
家居|小米|台灯 1S|169
母婴|帮宝适|纸尿裤 L码|159
母婴|帮宝适|拉拉裤 XL码|169
母婴|花王|纸尿裤 M码|139
母婴|飞鹤|星飞帆奶粉 3段|248
母婴|伊利|金领冠奶粉 2段|218
母婴|美赞臣|蓝臻奶粉 1段|358
母婴|贝亲|宽口径奶瓶|129
母婴|贝亲|婴儿湿巾 10包|49.9
母婴|好孩子|婴儿推车|1299
母婴|好孩子|安全座椅|1599
母婴|babycare|婴儿湿巾 12包|79
母婴|babycare|隔尿垫|69
母婴|巴拉巴拉|儿童羽绒服|399
母婴|巴拉巴拉|童装T恤|79
母婴|可优比|电动吸奶器|399
母婴|十月结晶|待产包|299
母婴|英氏|婴儿米粉|59
母婴|小皮|有机果泥|39
母婴|嘉宝|营养米粉|69
母婴|全棉时代|棉柔巾|59.9
运动|安踏|C202 跑鞋|499
运动|安踏|速干运动T恤|99
运动|李宁|超轻跑鞋|599
运动|李宁|羽毛球拍|399
运动|耐克|Air Max 90|899
运动|耐克|Pegasus 41 跑鞋|929
运动|阿迪达斯|Ultraboost 跑鞋|1299
运动|阿迪达斯|三叶草卫衣|599
运动|迪卡侬|瑜伽垫|79
运动|迪卡侬|登山包 30L|199
运动|迪卡侬|公路自行车|1299
运动|特步|160X 竞速跑鞋|899
运动|361度|篮球鞋|459
运动|Keep|智能跳绳|129
运动|Keep|可调哑铃 20kg|199
运动|华为|运动手环 9|269
运动|小米|手环 8|239
运动|骆驼|冲锋衣|599
运动|北面|户外羽绒服|1999
运动|斯伯丁|篮球|199
"""


# ---------------------------------------------------------------------------------------------------
# static tables built once

_LUT_SIZE = 1 << 14


def _cumulative(weights: np.ndarray) -> np.ndarray:
    """Row-wise cumulative distribution of ``weights`` ending exactly at 1."""
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    return cum


class _Dist:
    """Categorical distributions, one per row of ``weights``, drawn through a lookup table."""

    def __init__(self, weights: np.ndarray | Sequence[float]) -> None:
        cum = _cumulative(np.asarray(weights, dtype=float))
        mids = (np.arange(_LUT_SIZE) + 0.5) / _LUT_SIZE
        table = np.stack([np.searchsorted(row, mids, side="right") for row in cum])
        self.table = np.minimum(table, cum.shape[1] - 1).astype(np.int16)

    def draw(self, rng: np.random.Generator, n: int, rows: np.ndarray | None = None) -> np.ndarray:
        """``n`` categories (int16), from row ``rows[i]`` for element i (row 0 if None)."""
        u = rng.integers(0, _LUT_SIZE, n, dtype=np.int32)
        return self.table[0, u] if rows is None else self.table[rows, u]


@dataclass(frozen=True)
class _Catalog:
    ids: tuple[str, ...]
    names: tuple[str, ...]
    categories: tuple[str, ...]
    brands: tuple[str, ...]
    price_cents: np.ndarray
    category: np.ndarray  # category index per product
    first: np.ndarray  # first product index per category
    popularity: _Dist  # product within category, by category row


def _build_catalog() -> _Catalog:
    rows = [line.split("|") for line in _CATALOG_TEXT.strip().splitlines()]
    rows.sort(key=lambda r: _CATEGORIES.index(r[0]))
    cat = np.array([_CATEGORIES.index(r[0]) for r in rows])
    price = np.array([round(float(r[3]) * 100) for r in rows], dtype=np.int64)
    count = np.bincount(cat, minlength=len(_CATEGORIES))
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    pop = np.zeros((len(_CATEGORIES), int(count.max())))
    for c in range(len(_CATEGORIES)):
        p = price[first[c] : first[c] + count[c]] / 100.0
        # products listed first, and cheaper ones, sell more
        pop[c, : count[c]] = (np.arange(count[c]) + 1.0) ** -0.5 * p**-0.35
    return _Catalog(
        ids=tuple(f"P{i + 1:05d}" for i in range(len(rows))),
        names=tuple(f"{r[1]} {r[2]}" for r in rows),
        categories=tuple(r[0] for r in rows),
        brands=tuple(r[1] for r in rows),
        price_cents=price,
        category=cat,
        first=first,
        popularity=_Dist(pop),
    )


def _day_weights() -> tuple[np.ndarray, np.ndarray]:
    """Relative activity per day of the span and a promotion flag: trend, weekday, month and festivals."""
    days = np.arange(_NDAYS)
    dates = np.datetime64(DEMO_START.isoformat()) + days
    month = dates.astype("datetime64[M]").astype(int) % 12 + 1
    dom = (dates - dates.astype("datetime64[M]")).astype(int) + 1
    weekday = (days + DEMO_START.weekday()) % 7  # 0 Monday
    w = 1.0 + 0.35 * days / _NDAYS
    w = w * np.array([0.92, 0.90, 0.93, 0.95, 1.02, 1.18, 1.12])[weekday]
    w = w * np.array([1.0, 0.85, 0.95, 0.95, 1.0, 1.1, 0.95, 0.95, 1.0, 1.05, 1.25, 1.15])[month - 1]
    nov, jun, dec = month == 11, month == 6, month == 12
    w = np.where(nov & (dom <= 10), w * 1.6, w)
    w = np.where(nov & (dom == 1), w * 1.5, w)
    w = np.where(nov & (dom == 11), w * 6.0, w)
    w = np.where(nov & (dom == 12), w * 1.4, w)
    w = np.where(jun & (dom < 18), w * 1.3, w)
    w = np.where(jun & (dom == 18), w * 3.0, w)
    w = np.where(dec & (dom == 12), w * 1.8, w)
    w = np.where((month == 3) & (dom == 8), w * 1.4, w)
    for lo, hi in (("2023-01-20", "2023-01-28"), ("2024-02-09", "2024-02-18")):  # Spring Festival lull
        span = (dates >= np.datetime64(lo)) & (dates < np.datetime64(hi))
        w = np.where(span, w * 0.6, w)
    promo = (nov & (dom <= 11)) | (jun & (dom <= 18)) | (dec & (dom == 12))
    return w, promo


def _region_forms() -> tuple[list[str], np.ndarray, _Dist]:
    """All written forms of every city, each city's first form and the form weights by city."""
    forms: list[str] = []
    first = []
    weights = np.zeros((len(_CITIES), 4))
    for i, (city, prov, prov_full, _abbr, _tier, _w) in enumerate(_CITIES):
        first.append(len(forms))
        if not prov_full:  # municipality
            forms.extend([f"{city}市", city, f"{city}市", city])
            weights[i] = [0.55, 0.45, 0.0, 0.0]
        else:
            forms.extend([f"{prov_full}{city}市", f"{prov}{city}", f"{city}市", city])
            weights[i] = [0.25, 0.2, 0.3, 0.25]
    return forms, np.array(first), _Dist(weights)


def _campaign(day: int) -> str:
    """The campaign running on day ``day`` of the span, or ''."""
    d = DEMO_START + timedelta(days=day)
    if date(d.year, 10, 24) <= d <= date(d.year, 11, 11):
        return f"D11-{d.year}"
    if date(d.year, 6, 1) <= d <= date(d.year, 6, 18):
        return f"618-{d.year}"
    return ""


_CATALOG = _build_catalog()
_DAY_W, _PROMO = _day_weights()
_DAY_CUM = np.concatenate([[0.0], np.cumsum(_DAY_W)])
_REG_CUM = np.concatenate([[0.0], np.cumsum(np.sqrt(_DAY_W) * (1.0 + np.arange(_NDAYS) / _NDAYS))])
_IS_D11 = np.zeros(_NDAYS, bool)
_IS_D11[[(date(y, 11, 11) - DEMO_START).days for y in (2023, 2024)]] = True
_REGION_FORMS, _REGION_FIRST, _REGION_FORM = _region_forms()

_HOUR = _Dist(
    [
        2.0,
        1.2,
        0.6,
        0.3,
        0.2,
        0.2,
        0.4,
        0.9,
        1.6,
        2.4,
        3.0,
        3.2,
        3.6,
        3.2,
        2.8,
        2.8,
        2.9,
        3.0,
        3.3,
        4.2,
        5.2,
        5.8,
        5.2,
        3.4,
    ]
)
_PERSONA = _Dist(_PERSONA_SHARE)
_SURNAME = _Dist([s[2] for s in _SURNAMES])
_CITY = _Dist([c[5] for c in _CITIES])
_OCCUPATION = _Dist(_OCCUPATION_WEIGHTS)
_REGISTER_CHANNEL = _Dist(_REGISTER_CHANNEL_W)
_EMAIL_DOMAIN = _Dist(_EMAIL_DOMAIN_W)
_CATEGORY = _Dist(_CATEGORY_W)
_TERMINAL = _Dist(_TERMINAL_W)
_SOURCE = _Dist(_SOURCE_W)
_BROWSE = _Dist(_BROWSE_W)
_PAGE = _Dist(_PAGE_W)
_PAGE_ROW_OF_KIND = np.array([1, 2, 3, 4, 5, 5, 5], dtype=np.int8)  # inner pages by behaviour
_KIND_HAS_PRODUCT = np.array([False, True, False, True, True, True, True])
_DURATION_MU = np.array([3.4, 2.5, 1.6])  # log-seconds: product page view, other view, other action
_DURATION_SIGMA = np.array([0.9, 0.8, 0.6])
_INTERACTION_TYPE = _Dist([[0.70, 0.15, 0.15], [0.25, 0.65, 0.10]])  # by is-complainer
_TOPIC = _Dist(_TOPIC_W)
_SATISFACTION = _Dist(_SATISFACTION_W)
_SERVICE_CHANNEL = _Dist(_SERVICE_CHANNEL_W)


# ---------------------------------------------------------------------------------------------------
# random helpers


def _rng(seed: int, *key: int) -> np.random.Generator:
    """An independent random stream for ``key`` under ``seed``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def _days_in(u: np.ndarray, lo: np.ndarray, hi: np.ndarray, cum: np.ndarray) -> np.ndarray:
    """Days drawn by ``u`` from the day weights behind ``cum``, restricted to ``[lo, hi)``."""
    a, b = cum[lo], cum[hi]
    day = np.searchsorted(cum, a + u * (b - a), side="right") - 1
    return np.clip(day, lo, hi - 1)


def _time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight, with the evening peak and the night lull."""
    return _HOUR.draw(rng, n).astype(np.int64) * 3600 + rng.integers(0, 3600, n)


def _time_order(t: np.ndarray) -> np.ndarray:
    """The permutation sorting ``t``, ties kept in row order (the same on every machine)."""
    n = len(t)
    if n >= 1 << 24:
        return np.argsort(t, kind="stable")
    key = (np.asarray(t, dtype=np.int64) << 24) | np.arange(n, dtype=np.int64)
    key.sort()
    return key & ((1 << 24) - 1)


def _dirty_count(rows: int) -> int:
    """Rows per dirty kind in a block of ``rows`` rows."""
    if rows < 100:
        return 0
    return max(3, round(DIRTY_RATE * rows))


def _pick(rng: np.random.Generator, n: int, sizes: Sequence[int]) -> list[np.ndarray]:
    """Distinct row indices below ``n`` for each of ``sizes``, shrunk to keep most rows clean."""
    total = sum(sizes)
    if total > n // 2:
        sizes = [s * (n // 2) // max(total, 1) for s in sizes]
        total = sum(sizes)
    chosen = rng.choice(n, size=total, replace=False) if total else np.zeros(0, np.int64)
    return np.split(chosen.astype(np.int64), np.cumsum(sizes)[:-1])


def _with_duplicates(n: int, dup: np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Written rows (each of ``dup`` twice, adjacent) and the map from a row to its written position."""
    dup_sorted = np.sort(dup)
    times = np.ones(n, np.int64)
    times[dup_sorted] = 2
    rows = np.repeat(np.arange(n), times)

    def at(base: np.ndarray) -> np.ndarray:
        return base + np.searchsorted(dup_sorted, base, side="left")

    return rows, at


# ---------------------------------------------------------------------------------------------------
# text helpers: every column is a pyarrow string array holding CSV-ready text


def _quote(text: str) -> str:
    """``text`` as a CSV field, quoted only if it must be."""
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _vocab(values: Sequence[str | None], suffix: str = "") -> pa.Array:
    """CSV-ready text of ``values`` (None stays null), each followed by ``suffix``."""
    return pa.array([None if v is None else _quote(v) + suffix for v in values], pa.string())


def _take(vocab: pa.Array, idx: np.ndarray) -> pa.Array:
    return vocab.take(pa.array(np.asarray(idx, dtype=np.int32)))


def _from_matrix(buf: np.ndarray) -> pa.Array:
    """A string array from a (rows, width) matrix of ASCII bytes."""
    n, width = buf.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(buf, dtype=np.uint8)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


_FOUR_DIGITS = np.frombuffer("".join(f"{i:04d}" for i in range(10_000)).encode(), "<u4")
_POWERS_OF_TEN = 10 ** np.arange(1, 19, dtype=np.int64)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative ``values`` as a (rows, width) byte matrix."""
    v = np.asarray(values, dtype=np.int64)
    groups = -(-width // 4)
    out = np.empty((len(v), groups), "<u4")
    for j in range(groups - 1, -1, -1):
        out[:, j] = _FOUR_DIGITS[v % 10_000]
        v = v // 10_000
    return out.view(np.uint8).reshape(len(v), 4 * groups)[:, 4 * groups - width :]


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` followed by ``numbers`` zero-padded to ``width`` digits."""
    p = np.frombuffer(prefix.encode(), np.uint8)
    buf = np.empty((len(numbers), len(p) + width), np.uint8)
    buf[:, : len(p)] = p
    buf[:, len(p) :] = _digits(numbers, width)
    return _from_matrix(buf)


def _date_bytes() -> np.ndarray:
    text = "".join((DEMO_START + timedelta(days=d)).isoformat() for d in range(_NDAYS))
    return np.frombuffer(text.encode(), np.uint8).reshape(_NDAYS, 10)


def _clock_bytes() -> np.ndarray:
    s = np.arange(86_400)
    out = np.empty((86_400, 8), np.uint8)
    out[:, 0:2] = _digits(s // 3600, 2)
    out[:, 3:5] = _digits(s // 60 % 60, 2)
    out[:, 6:8] = _digits(s % 60, 2)
    out[:, 2] = out[:, 5] = ord(":")
    return out


_DATE_BYTES = _date_bytes()
_DATE_S10 = _DATE_BYTES.copy().view("S10").ravel()
_CLOCK_U8 = _clock_bytes().view("<u8").ravel()
_TIMESTAMP = np.dtype(
    {"names": ["d", "s", "c"], "formats": ["S10", "u1", "<u8"], "offsets": [0, 10, 11], "itemsize": 19}
)


def _timestamps(t: np.ndarray) -> pa.Array:
    """ISO ``YYYY-MM-DD HH:MM:SS`` text for seconds since DEMO_START."""
    t = np.asarray(t, dtype=np.int64)
    day = t // 86_400
    out = np.empty(len(t), _TIMESTAMP)
    out["d"] = _DATE_S10[day]
    out["s"] = 32
    out["c"] = _CLOCK_U8[t - day * 86_400]
    return _from_matrix(out.view(np.uint8).reshape(len(t), 19))


def _ints(values: np.ndarray) -> pa.Array:
    """Decimal text of integers."""
    v = np.asarray(values, dtype=np.int64)
    small = len(v) == 0 or (v.min() > -(2**31) and v.max() < 2**31)
    return pc.cast(pa.array(v.astype(np.int32) if small else v), pa.string())


def _fixed_point(values: np.ndarray, decimals: int) -> pa.Array:
    """Integers in units of 10**-decimals as decimal text with ``decimals`` decimals."""
    v = np.asarray(values, dtype=np.int64)
    pairs = np.empty((len(v), 2), np.int64)  # as 128-bit two's complement: the unscaled decimal
    pairs[:, 0] = v
    pairs[:, 1] = v >> 63
    unscaled = pa.Array.from_buffers(pa.decimal128(38, decimals), len(v), [None, pa.py_buffer(pairs)])
    return pc.cast(unscaled, pa.string())


def _money_text(cents: int) -> str:
    return f"{'-' if cents < 0 else ''}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _csv_rows(columns: Sequence[pa.Array], newline_in_last: bool = False) -> pa.Buffer | bytes:
    """The CSV lines of CSV-ready text columns; the last column may already end its lines."""
    if len(columns[0]) == 0:
        return b""
    line = pc.binary_join_element_wise(*columns, ",", null_handling="replace")
    if not newline_in_last:
        line = pc.binary_join_element_wise(line, "\n", "")
    offsets = np.frombuffer(line.buffers()[1], np.int32, len(line) + 1, line.offset * 4)
    return line.buffers()[2][int(offsets[0]) : int(offsets[-1])]


class _Patches:
    """Replacement text for single cells, gathered per column and applied in one pass."""

    def __init__(self) -> None:
        self._cells: dict[int, dict[int, str | None]] = {}

    def add(self, column: int, rows: np.ndarray, values: Sequence[str | None], *, ready: bool = False) -> None:
        """Replace ``column`` at ``rows`` by ``values`` (None: blank); ``ready``: already CSV text."""
        cells = self._cells.setdefault(column, {})
        for r, v in zip(np.asarray(rows).tolist(), values, strict=True):
            cells[int(r)] = None if v is None else (v if ready else _quote(v))

    def apply(self, columns: list[pa.Array]) -> list[pa.Array]:
        out = list(columns)
        for col, cells in self._cells.items():
            if not cells:
                continue
            rows = np.array(sorted(cells), dtype=np.int64)
            mask = np.zeros(len(out[col]), dtype=bool)
            mask[rows] = True
            repl = pa.array([cells[r] for r in rows.tolist()], pa.string())
            out[col] = pc.replace_with_mask(out[col], pa.array(mask), repl)
        return out


def _cycle(values: Sequence[str], n: int) -> list[str]:
    """``values`` repeated in order to length ``n``: the first few always appear."""
    return [values[i % len(values)] for i in range(n)]


def _date_form(kind: str, t: int) -> str:
    """Seconds since DEMO_START written in one of the non-ISO forms real exports carry."""
    m = datetime(DEMO_START.year, DEMO_START.month, DEMO_START.day) + timedelta(seconds=int(t))
    if kind == "date_slash":
        return f"{m.year}/{m.month}/{m.day} {m.hour}:{m.minute:02d}"
    if kind == "date_compact":
        return f"{m.year}{m.month:02d}{m.day:02d}"
    if kind == "date_chinese":
        return f"{m.year}年{m.month}月{m.day}日 {m.hour}:{m.minute:02d}"
    serial = _EXCEL_EPOCH_OFFSET + int(t) / 86_400  # an Excel date serial number
    return f"{serial:.5f}".rstrip("0").rstrip(".")


_DATE_FORMS = ("date_slash", "date_compact", "date_chinese", "date_excel")
_BAD_DATES = (
    "2024-13-45",
    "2024-02-30",
    "not a date",
    "2023-02-29 10:00:00",
    "2024-00-10",
    "31/31/2024",
    "0000-00-00",
)
_BAD_AGES_RANGE = ("150", "-3", "200", "0", "999")
_BAD_AGES_OUTLIER = ("96", "103", "12", "99", "15")
_BAD_NUMBERS = ("abc", "十二", "#VALUE!", "一百二十", "N/A?")
_BAD_QUANTITIES = ("两件", "abc", "十二", "1件")
_BAD_SATISFACTION = ("0", "6", "10", "-1", "99")

_V_GENDER = _vocab(("男", "女"))
_GIVEN = _GIVEN_MALE + _GIVEN_FEMALE
_V_SURNAME = _vocab([s[0] for s in _SURNAMES])
_V_GIVEN = _vocab([*_GIVEN, ""])
_V_PINYIN = _vocab([s[1] for s in _SURNAMES])
_V_EMAIL_DOMAIN = _vocab(_EMAIL_DOMAINS)
_PHONE_PREFIX_BYTES = np.frombuffer("".join(_PHONE_PREFIXES).encode(), np.uint8).reshape(-1, 3)
_V_REGION = _vocab(_REGION_FORMS)
_V_OCCUPATION = _vocab(_OCCUPATIONS)
_V_REGISTER_CHANNEL = _vocab(_REGISTER_CHANNELS)
_V_LEVEL = _vocab(_MEMBER_LEVELS)


def _product_text(p: int, category: str | None = None, coupon: bool | None = None) -> str:
    """Product ``p`` as CSV fields product_id..brand, then unit_price and coupon_used if ``coupon`` is set."""
    price = _money_text(int(_CATALOG.price_cents[p]))
    fields = [_CATALOG.ids[p], _CATALOG.names[p], category or _CATALOG.categories[p], _CATALOG.brands[p]]
    if coupon is not None:
        fields += [price, "true" if coupon else "false"]
    return ",".join(_quote(x) for x in fields)


# product_id, product_name, category, brand, unit_price, coupon_used: six adjacent order columns,
# by product * 2 + coupon_used
_V_ORDER_PRODUCT = pa.array([_product_text(p, coupon=bool(k)) for p in range(len(_CATALOG.ids)) for k in (0, 1)])
_V_ORDER_TAIL = pa.array(
    [  # status, terminal, source: the last three order columns
        f"{_quote(s)},{_quote(te)},{_quote(so)}\n" for s in _STATUSES for te in _TERMINALS for so in _SOURCES
    ]
)
_V_BEHAVIOR = _vocab(_BEHAVIORS)
_V_PRODUCT_OR_NONE = _vocab((None, *_CATALOG.ids))
_V_PAGE_REFERRER = pa.array([f"{_quote(p)},{_quote(r)}" for p in _PAGES for r in _SOURCES])
_V_TERMINAL_LINE = _vocab(_TERMINALS, "\n")
_V_SERVICE_CHANNEL = _vocab(_SERVICE_CHANNELS)
_V_INTERACTION_TYPE = _vocab(_INTERACTION_TYPES)
_V_TOPIC = _vocab(_TOPICS)
_V_SOURCE = _vocab(_SOURCES)


def _add_date_dirt(patches: _Patches, col: int, picks: dict[str, np.ndarray], at: np.ndarray, t: np.ndarray) -> None:
    """Impossible dates and non-ISO date forms on the rows picked for them.

    ``picks`` are base rows, written at ``at(picks)``; ``t`` holds their times in base-row order.
    """
    bad = picks["date_invalid"]
    patches.add(col, at[bad], _cycle(_BAD_DATES, len(bad)))
    for kind in _DATE_FORMS:
        rows = picks[kind]
        patches.add(col, at[rows], [_date_form(kind, v) for v in t[rows].tolist()])


# ---------------------------------------------------------------------------------------------------
# customers


@dataclass
class _Customers:
    """One block of customers: what drives their behaviour, and their ids."""

    n: int
    persona: np.ndarray
    gender: np.ndarray  # 0 male, 1 female
    reg_t: np.ndarray  # seconds since DEMO_START
    order_lo: np.ndarray  # days [lo, hi) in which the customer may order
    order_hi: np.ndarray
    event_lo: np.ndarray  # days [lo, hi) in which the customer browses
    event_hi: np.ndarray
    activity: np.ndarray
    pref_category: np.ndarray
    pref_terminal: np.ndarray
    pref_source: np.ndarray
    user_ids: pa.Array
    n_orders: np.ndarray


def _make_customers(seed: int, block: int, n: int, orders_per_customer: float) -> tuple[_Customers, pa.Buffer | bytes]:
    """Generate block ``block`` of ``n`` customers; return them and their CSV lines."""
    rng = _rng(seed, block, 0)
    k = _dirty_count(n)
    kinds = DIRTY_KINDS["customers"]
    sizes = [2 * k if kind == "duplicate_person" else k for kind in kinds]
    picks = dict(zip(kinds, _pick(_rng(seed, block, 1), n, sizes), strict=True))
    half = len(picks["duplicate_person"]) // 2
    src, dup = picks["duplicate_person"][:half], picks["duplicate_person"][half : 2 * half]

    persona = _PERSONA.draw(rng, n)
    persona[dup] = ONE_TIME  # a second account, opened for the new-customer coupon
    gender = (rng.random(n) < 0.52).astype(np.int64)
    age = np.where(rng.random(n) < 0.7, rng.normal(32.0, 6.5, n), rng.uniform(18.0, 70.99, n))
    age = np.clip(np.floor(age), 18, 70).astype(np.int64)
    city = _CITY.draw(rng, n)
    region_form = _REGION_FIRST[city] + _REGION_FORM.draw(rng, n, city)
    occupation = _OCCUPATION.draw(rng, n, np.where(age < 23, 0, np.where(age >= 58, 2, 1)))
    reg_channel = _REGISTER_CHANNEL.draw(rng, n)
    early = (persona == LOYAL) | (persona == CHURNER)
    reg_day = _days_in(rng.random(n), np.zeros(n, np.int64), np.where(early, int(_NDAYS * 0.55), _NDAYS - 1), _REG_CUM)
    # the duplicate account is the same person, registered again later through another channel
    gender[dup], age[dup], city[dup], occupation[dup] = gender[src], age[src], city[src], occupation[src]
    region_form[dup] = _REGION_FIRST[city[dup]] + rng.integers(0, 2, len(dup))
    reg_day[dup] = np.minimum(reg_day[src] + rng.integers(20, 200, len(dup)), _NDAYS - 1)
    shift = rng.integers(1, len(_REGISTER_CHANNELS), len(dup))
    reg_channel[dup] = (reg_channel[src] + shift) % len(_REGISTER_CHANNELS)
    reg_t = reg_day * 86_400 + _time_of_day(rng, n)

    order_hi = np.full(n, _NDAYS)
    order_hi = np.where(persona == CHURNER, np.minimum(reg_day + rng.integers(90, 300, n), _NDAYS), order_hi)
    order_hi = np.where(persona == ONE_TIME, np.minimum(reg_day + 60, _NDAYS), order_hi)
    order_hi = np.maximum(order_hi, reg_day + 1)
    event_hi = np.where(persona == CHURNER, np.minimum(order_hi + 30, _NDAYS), _NDAYS)
    browse_end = np.minimum(reg_day + rng.integers(30, 400, n), _NDAYS)
    event_hi = np.where(persona == NON_BUYER, browse_end, event_hi)
    event_hi = np.maximum(event_hi, reg_day + 1)

    numbers = block * BLOCK + np.arange(n) + 1
    cust = _Customers(
        n=n,
        persona=persona,
        gender=gender,
        reg_t=reg_t,
        order_lo=reg_day,
        order_hi=order_hi,
        event_lo=reg_day,
        event_hi=event_hi,
        activity=rng.lognormal(-0.125, 0.5, n),
        pref_category=_CATEGORY.draw(rng, n, gender),
        pref_terminal=_TERMINAL.draw(rng, n),
        pref_source=_SOURCE.draw(rng, n),
        user_ids=_ids("CUS", numbers, 9),
        n_orders=np.zeros(n, np.int64),
    )
    cust.n_orders = _order_counts(rng, cust, orders_per_customer)

    # names: common surnames by frequency, one- or two-character given names
    surname = _SURNAME.draw(rng, n)
    males, females = len(_GIVEN_MALE), len(_GIVEN_FEMALE)
    given = [np.where(gender == 0, rng.integers(0, males, n), males + rng.integers(0, females, n)) for _ in range(2)]
    given[1] = np.where(rng.random(n) < 0.3, len(_GIVEN), given[1])  # "": a one-character given name
    # phones: a real prefix, then eight digits that are a bijection of the customer number, so that no
    # two customers share a number by chance; e-mail addresses are built from the number the same way
    prefix = rng.integers(0, len(_PHONE_PREFIXES), n)
    domain = _EMAIL_DOMAIN.draw(rng, n)
    no_email = rng.random(n) < 0.25
    phone_key, email_key = numbers.copy(), numbers.copy()

    # identity duplicates: same phone, same e-mail, or both; the name sometimes written differently
    surname[dup], given[0][dup], given[1][dup] = surname[src], given[0][src], given[1][src]
    by_phone = np.arange(len(dup)) % 3 != 1
    by_email = np.arange(len(dup)) % 3 != 0
    phone_key[dup[by_phone]], prefix[dup[by_phone]] = numbers[src[by_phone]], prefix[src[by_phone]]
    email_key[dup[by_email]], domain[dup[by_email]] = numbers[src[by_email]], domain[src[by_email]]
    no_email[src] = False
    no_email[dup[by_email]] = False
    renamed = []  # (row, name) of the duplicates whose name is written another way
    for i, (d, a, b, c) in enumerate(
        zip(dup.tolist(), surname[dup].tolist(), given[0][dup].tolist(), given[1][dup].tolist(), strict=True)
    ):
        family, first = _SURNAMES[a][0], _GIVEN[b] + (_GIVEN[c] if c < len(_GIVEN) else "")
        if i % 4 == 1:
            renamed.append((d, f"{family} {first}"))
        elif i % 4 == 3:
            renamed.append((d, family + ("先生" if gender[d] == 0 else "女士")))

    scramble = (phone_key * 73_939_133 + (seed * 7_919 + 12_345_679)) % 100_000_000
    clash = (_PHONE_PREFIX_BYTES[prefix, 2] == ord("8")) & (_PHONE_PREFIX_BYTES[prefix, 1] == ord("3"))
    prefix = np.where(clash & (scramble == 0), prefix + 1, prefix)  # keep clear of 13800000000
    phone_buf = np.empty((n, 11), np.uint8)
    phone_buf[:, :3] = _PHONE_PREFIX_BYTES[prefix]
    phone_buf[:, 3:] = _digits(scramble, 8)
    phone_buf[picks["shared_phone"]] = np.frombuffer(SHARED_PHONE.encode(), np.uint8)

    qq = _ints((email_key * 48_271 + seed * 131 + 100_003) % 900_000_000 + 10_000_000)
    named = pc.binary_join_element_wise(
        _take(_V_PINYIN, surname), _ints((email_key * 73_939_133 + seed * 7_919) % 10_000_000), ""
    )
    local = pc.if_else(pa.array(domain == 0), qq, named)
    emails = pc.binary_join_element_wise(local, "@", _take(_V_EMAIL_DOMAIN, domain), "")
    emails = pc.if_else(pa.array(no_email), pa.scalar(None, pa.string()), emails)
    names = pc.binary_join_element_wise(
        _take(_V_SURNAME, surname), _take(_V_GIVEN, given[0]), _take(_V_GIVEN, given[1]), ""
    )

    score = cust.n_orders * rng.lognormal(0.0, 0.35, n) / max(orders_per_customer / 10.0, 0.05)
    level = np.searchsorted(np.array([2.0, 6.0, 18.0]), score, side="right")

    columns = [
        cust.user_ids,
        names,
        _take(_V_GENDER, gender),
        _ints(age),
        _take(_V_REGION, region_form),
        _take(_V_OCCUPATION, occupation),
        _from_matrix(phone_buf),
        emails,
        _timestamps(reg_t),
        _take(_V_REGISTER_CHANNEL, reg_channel),
        _take(_V_LEVEL, level),
    ]
    patches = _Patches()
    patches.add(1, np.array([d for d, _ in renamed], np.int64), [name for _, name in renamed])
    missing = (("missing_gender", 2), ("missing_age", 3), ("missing_occupation", 5), ("missing_region", 4))
    for kind, col in missing:
        patches.add(col, picks[kind], [None] * len(picks[kind]))
    for kind, values in (
        ("age_out_of_range", _BAD_AGES_RANGE),
        ("age_outlier", _BAD_AGES_OUTLIER),
        ("age_unparseable", _BAD_NUMBERS),
    ):
        patches.add(3, picks[kind], _cycle(values, len(picks[kind])))
    _add_date_dirt(patches, 8, picks, np.arange(n), reg_t)
    variants = []
    for i, c in enumerate(city[picks["region_variant"]].tolist()):
        name, prov, prov_full, abbr = _CITIES[c][:4]
        variants.append(abbr if i % 2 == 0 else f"{prov_full or prov} {name}市")
    patches.add(4, picks["region_variant"], variants)
    return cust, _csv_rows(patches.apply(columns))


def _order_counts(rng: np.random.Generator, cust: _Customers, target: float) -> np.ndarray:
    """Orders per customer from persona, activity and window, averaging ``target`` over the block."""
    n, persona = cust.n, cust.persona
    window = (cust.order_hi - cust.order_lo) / _NDAYS
    raw = _PERSONA_ORDERS[persona] * cust.activity * np.power(window, 0.7)
    one = persona == ONE_TIME
    n_one = int(one.sum())
    rep = ~one & (raw > 0)
    minimum = np.where(rep, _PERSONA_MIN_ORDERS[persona], 0)
    budget = target * n
    counts = np.zeros(n, np.int64)
    if budget <= n_one:  # too few orders even for the one-time buyers
        counts[one] = rng.random(n_one) < budget / max(n_one, 1)
        return counts
    counts[one] = 1
    rest = budget - n_one
    if rest <= minimum.sum():
        counts[rep] = rng.poisson(minimum[rep] * rest / max(minimum.sum(), 1))
        return counts
    lo, hi = 0.0, 1.0  # scale the rates so that the expected total meets the budget
    while np.maximum(minimum, raw * hi).sum() < rest:
        hi *= 2.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        if np.maximum(minimum, raw * mid).sum() < rest:
            lo = mid
        else:
            hi = mid
    mean = np.maximum(minimum, raw * hi)
    counts[rep] = minimum[rep] + rng.poisson(np.maximum(mean[rep] - minimum[rep], 0.0))
    return counts


# ---------------------------------------------------------------------------------------------------
# orders


@dataclass
class _Orders:
    """One block's orders, grouped by customer, with what events and interactions need of them."""

    cust: np.ndarray
    t: np.ndarray
    product: np.ndarray
    source: np.ndarray
    terminal: np.ndarray
    status: np.ndarray
    amount: np.ndarray  # cents
    first: np.ndarray  # per customer: index of their first order


def _products_for(
    rng: np.random.Generator, cust: _Customers, c: np.ndarray, cheap: np.ndarray | None = None
) -> np.ndarray:
    """Products bought or viewed by customers ``c``: often their favourite category; cheaper if ``cheap``."""
    n = len(c)
    cat = np.where(rng.random(n) < 0.55, cust.pref_category[c], _CATEGORY.draw(rng, n, cust.gender[c]))
    product = _CATALOG.first[cat] + _CATALOG.popularity.draw(rng, n, cat)
    if cheap is None:
        return product
    other = _CATALOG.first[cat] + _CATALOG.popularity.draw(rng, n, cat)
    cheaper = _CATALOG.price_cents[other] < _CATALOG.price_cents[product]
    return np.where(cheap & cheaper, other, product)


def _make_orders(seed: int, block: int, cust: _Customers, first_order: int) -> tuple[_Orders, pa.Buffer | bytes]:
    """Generate the orders of one block of customers and their CSV lines (in time order)."""
    rng = _rng(seed, block, 2)
    counts = cust.n_orders
    n = int(counts.sum())
    c = np.repeat(np.arange(cust.n), counts)
    starts = np.cumsum(counts) - counts
    rank = np.arange(n) - starts[c]
    persona = cust.persona[c]
    # loyal buyers keep a regular cycle: one order per equal share of their (seasonal) window
    u = rng.random(n)
    u = np.where(persona == LOYAL, (rank + 0.5 + 0.6 * (u - 0.5)) / np.maximum(counts[c], 1), u)
    day = _days_in(u, cust.order_lo[c], cust.order_hi[c], _DAY_CUM)
    tod = np.where(_IS_D11[day] & (rng.random(n) < 0.3), rng.integers(0, 3600, n), _time_of_day(rng, n))
    t = day * 86_400 + tod
    t = np.minimum(np.maximum(t, cust.reg_t[c] + rng.integers(120, 3600, n)), _SPAN_S - 1)

    coupon_lover = persona == COUPON
    product = _products_for(rng, cust, c, coupon_lover)
    cat = _CATALOG.category[product]
    quantity = np.minimum(rng.geometric(_CATEGORY_QTY_P[cat]), 9).astype(np.int64)
    unit = _CATALOG.price_cents[product]
    gross = unit * quantity
    p_coupon = np.where(coupon_lover, 0.85, 0.16) + np.where(_PROMO[t // 86_400], 0.15, 0.0)
    coupon = rng.random(n) < p_coupon
    # "满减" coupons: the larger the basket, the larger the reduction
    tiers = np.array([0, 9_900, 19_900, 29_900, 59_900, 99_900, 299_900, 599_900])
    off = np.array([300, 1_000, 2_000, 3_000, 6_000, 10_000, 30_000, 50_000])
    discount = off[np.searchsorted(tiers, gross, side="right") - 1]
    discount = np.where(coupon & (gross > 2 * discount), discount, 0)
    discount = np.where(coupon & coupon_lover & (rng.random(n) < 0.3), discount + gross // 20, discount)

    status_p = np.where(persona == COMPLAINER, 0.78, np.where(coupon_lover, 0.90, 0.94))
    r = rng.random(n)
    status = np.where(r < status_p, 0, np.where(r < (1.0 + status_p) / 2.0, 1, 2))
    terminal = np.where(rng.random(n) < 0.75, cust.pref_terminal[c], _TERMINAL.draw(rng, n))
    source = np.where(rng.random(n) < 0.5, cust.pref_source[c], _SOURCE.draw(rng, n))

    order = _time_order(t)  # written in time order; picks are positions in that order
    kinds = DIRTY_KINDS["orders"]
    picks = dict(zip(kinds, _pick(_rng(seed, block, 3), n, [_dirty_count(n)] * len(kinds)), strict=True))
    base = {kind: order[rows] for kind, rows in picks.items()}
    # the first category synonyms are the classic pairs: 移动电话 for 手机, 笔记本(电脑) for 电脑
    syn = base["category_synonym"]
    classic = [(0, "移动电话"), (1, "笔记本"), (1, "笔记本电脑")][: len(syn)]
    for i, (cat_index, _text) in enumerate(classic):
        product[syn[i]] = _CATALOG.first[cat_index]
        unit[syn[i]] = _CATALOG.price_cents[product[syn[i]]]
        coupon[syn[i]], discount[syn[i]] = False, 0
    amount = unit * quantity - discount

    rows, at = _with_duplicates(n, picks["duplicate_row"])
    final = order[rows]
    columns = [
        _ids("ORD", first_order + rows, 12),
        _take(cust.user_ids, c[final]),
        _timestamps(t[final]),
        _fixed_point(amount[final], 2),
        _ints(quantity[final]),
        _take(_V_ORDER_PRODUCT, (product * 2 + coupon)[final]),
        _fixed_point(discount[final], 2),
        _take(_V_ORDER_TAIL, (status * 20 + terminal * 5 + source)[final]),
    ]  # unit_price comes with the product: the catalogue price
    patches = _Patches()
    patches.add(
        3, at(picks["amount_negative"]), [_money_text(-max(a, 100)) for a in amount[base["amount_negative"]].tolist()]
    )
    unparseable = (("amount_unparseable", 3, _BAD_NUMBERS), ("quantity_unparseable", 4, _BAD_QUANTITIES))
    for kind, col, values in unparseable:
        patches.add(col, at(picks[kind]), _cycle(values, len(picks[kind])))
    bad = at(picks["date_invalid"])
    patches.add(2, bad, _cycle(_BAD_DATES, len(bad)))
    for kind in _DATE_FORMS:
        patches.add(2, at(picks[kind]), [_date_form(kind, v) for v in t[base[kind]].tolist()])
    synonyms = []
    for i, (p, used) in enumerate(zip(product[syn].tolist(), coupon[syn].tolist(), strict=True)):
        options = _CATEGORY_SYNONYMS[_CATALOG.categories[p]]
        text = classic[i][1] if i < len(classic) else options[i % len(options)]
        synonyms.append(_product_text(p, text, used))
    patches.add(5, at(picks["category_synonym"]), synonyms, ready=True)

    orders = _Orders(
        cust=c, t=t, product=product, source=source, terminal=terminal, status=status, amount=amount, first=starts
    )
    return orders, _csv_rows(patches.apply(columns), newline_in_last=True)


# ---------------------------------------------------------------------------------------------------
# events


@dataclass
class _ChannelStats:
    """Per source and day: distinct visitors, clicks, orders and paid revenue (cents)."""

    uv: np.ndarray
    clicks: np.ndarray
    orders: np.ndarray
    revenue: np.ndarray

    @classmethod
    def empty(cls) -> _ChannelStats:
        return cls(*(np.zeros((len(_SOURCES), _NDAYS), np.int64) for _ in range(4)))

    def _count(self, key: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        counts = np.bincount(key, weights=weights, minlength=len(_SOURCES) * _NDAYS)
        return np.rint(counts).astype(np.int64).reshape(len(_SOURCES), _NDAYS)

    def add(self, other: _ChannelStats) -> None:
        for name in ("uv", "clicks", "orders", "revenue"):
            getattr(self, name)[...] += getattr(other, name)

    def add_orders(self, orders: _Orders) -> None:
        key = orders.source * _NDAYS + orders.t // 86_400
        self.orders += self._count(key)
        paid = orders.status == 0
        self.revenue += self._count(key[paid], orders.amount[paid])

    def add_visits(self, c: np.ndarray, t: np.ndarray, ref: np.ndarray, n_cust: int) -> None:
        """Count each customer once per referrer and day."""
        key = ref.astype(np.int64) * _NDAYS + t // 86_400
        visits = np.sort(key * n_cust + c)
        first = np.ones(len(visits), bool)
        first[1:] = visits[1:] != visits[:-1]
        self.uv += self._count(visits[first] // n_cust)

    def add_clicks(self, t: np.ndarray, ref: np.ndarray) -> None:
        self.clicks += self._count(ref.astype(np.int64) * _NDAYS + t // 86_400)


_EventJob = Callable[[], tuple[pa.Buffer | bytes, _ChannelStats]]


def _event_groups(
    seed: int, block: int, cust: _Customers, orders: _Orders, per_customer: float, order_share: float
) -> list[_EventJob]:
    """The behaviour events of one block of customers, as independent jobs for groups of customers.

    Each job returns the CSV lines of its group (in time order) and the group's visitors and clicks.
    """
    if per_customer <= 0:
        return []
    group = max(1, min(cust.n, int(_EVENTS_PER_GROUP // per_customer)))
    caught = _rng(seed, block, 4).random(len(orders.t)) < order_share  # orders the event log caught

    def job(g: int, lo: int) -> _EventJob:
        hi = min(cust.n, lo + group)
        return lambda: _events_group(seed, block, g, cust, orders, lo, hi, per_customer, caught)

    return [job(g, lo) for g, lo in enumerate(range(0, cust.n, group))]


def _events_group(
    seed: int,
    block: int,
    group: int,
    cust: _Customers,
    orders: _Orders,
    lo: int,
    hi: int,
    per_customer: float,
    caught: np.ndarray,
) -> tuple[pa.Buffer | bytes, _ChannelStats]:
    """Events of customers ``[lo, hi)`` of the block: CSV lines in time order, and their statistics."""
    rng, picks_rng = _rng(seed, block, 5, group), _rng(seed, block, 6, group)
    stats = _ChannelStats.empty()
    nc = hi - lo
    raw = np.power(1.5 + cust.n_orders[lo:hi], 0.85) * rng.lognormal(0.0, 0.5, nc)
    wanted = rng.poisson(raw * (per_customer * nc / raw.sum()))

    # around each caught order: product view, add to cart, order, payment
    mine = np.flatnonzero(caught[orders.first[lo] : orders.first[hi - 1] + cust.n_orders[hi - 1]])
    mine += orders.first[lo]
    m = len(mine)
    o_c, o_t = orders.cust[mine] - lo, orders.t[mine]
    always = np.ones(m, bool)
    parts = (
        (always, PV, DETAIL, -rng.integers(60, 1500, m)),
        (rng.random(m) < 0.7, CART, DETAIL, -rng.integers(15, 60, m)),
        (always, ORDER, CONFIRM, np.zeros(m, np.int64)),
        (rng.random(m) < 0.97, PAY, PAY_PAGE, rng.integers(10, 400, m)),
    )
    l_c = np.concatenate([o_c[keep] for keep, *_ in parts])
    l_t = np.concatenate([(o_t + shift)[keep] for keep, _, _, shift in parts])
    l_kind = np.concatenate([np.full(int(keep.sum()), kind, np.int16) for keep, kind, _, _ in parts])
    l_page = np.concatenate([np.full(int(keep.sum()), page, np.int16) for keep, _, page, _ in parts])
    l_prod = np.concatenate([orders.product[mine][keep] for keep, *_ in parts])
    l_ref = np.concatenate([orders.source[mine][keep] for keep, *_ in parts])
    l_chan = np.concatenate([orders.terminal[mine][keep] for keep, *_ in parts])

    # browsing sessions of about 7.5 events make up the rest of each customer's events
    browse = np.maximum(wanted - np.bincount(l_c, minlength=nc), 0)
    sessions = np.where(browse > 0, np.maximum(1, np.rint(browse / 7.5)), 0).astype(np.int64)
    s_c = np.repeat(np.arange(nc), sessions)
    ns = len(s_c)
    gc = s_c + lo
    extra = browse / np.maximum(sessions, 1) - 1.0
    length = 1 + rng.poisson(np.maximum(extra, 0.0)[s_c])
    s_day = _days_in(rng.random(ns), cust.event_lo[gc], cust.event_hi[gc], _DAY_CUM)
    s_t = s_day * 86_400 + _time_of_day(rng, ns)
    s_ref = np.where(rng.random(ns) < 0.5, cust.pref_source[gc], _SOURCE.draw(rng, ns))
    s_chan = np.where(rng.random(ns) < 0.75, cust.pref_terminal[gc], _TERMINAL.draw(rng, ns))
    s_kind = np.where(rng.random(ns) < 0.85, PV, SEARCH)  # a session opens with a view or a search

    nb = int(length.sum())
    b_s = np.repeat(np.arange(ns), length)
    s_start = np.cumsum(length) - length
    step = np.arange(nb) - s_start[b_s]
    b_c = s_c[b_s]
    b_t = s_t[b_s] + step * 35 + rng.integers(0, 40, nb)
    b_kind = _BROWSE.draw(rng, nb)
    b_kind[s_start] = s_kind
    page_row = _PAGE_ROW_OF_KIND[b_kind]
    page_row[s_start] = np.where(s_kind == PV, 0, 3)
    b_page = _PAGE.draw(rng, nb, page_row)
    b_prod = np.full(nb, -1, np.int64)
    shown = np.flatnonzero((b_page == DETAIL) | _KIND_HAS_PRODUCT[b_kind])
    b_prod[shown] = _products_for(rng, cust, b_c[shown] + lo)

    c = np.concatenate([l_c, b_c]).astype(np.int32)
    t = np.concatenate([l_t, b_t])
    t = np.minimum(np.maximum(t, cust.reg_t[c + lo]), _SPAN_S - 1)
    kind = np.concatenate([l_kind, b_kind]).astype(np.int8)
    page = np.concatenate([l_page, b_page]).astype(np.int8)
    prod = np.concatenate([l_prod, b_prod]).astype(np.int16)
    ref = np.concatenate([l_ref, s_ref[b_s]]).astype(np.int8)
    chan = np.concatenate([l_chan, s_chan[b_s]]).astype(np.int8)
    n = len(t)
    code = np.where(kind == PV, np.where(page == DETAIL, 0, 1), 2)
    mu, sigma = _DURATION_MU.astype(np.float32), _DURATION_SIGMA.astype(np.float32)
    seconds = np.exp(mu[code] + sigma[code] * rng.standard_normal(n, dtype=np.float32))
    duration = np.clip(np.rint(seconds), 1, 1_800).astype(np.int32)

    # visitors: a session covers the days of its first and last event
    nl = len(l_t)
    ends = np.concatenate([np.arange(nl), nl + s_start, nl + s_start + length - 1])
    stats.add_visits(c[ends], t[ends], ref[ends], nc)
    clicks = kind == CLICK
    stats.add_clicks(t[clicks], ref[clicks])

    order = _time_order(t)
    kinds = DIRTY_KINDS["events"]
    picks = dict(zip(kinds, _pick(picks_rng, n, [_dirty_count(n)] * len(kinds)), strict=True))
    rows, at = _with_duplicates(n, picks["duplicate_row"])
    final = order[rows]
    columns = [
        _take(cust.user_ids, c[final] + lo),
        _take(_V_BEHAVIOR, kind[final]),
        _timestamps(t[final]),
        _take(_V_PRODUCT_OR_NONE, prod[final] + 1),
        _take(_V_PAGE_REFERRER, page[final] * len(_SOURCES) + ref[final]),
        _ints(duration[final]),
        _take(_V_TERMINAL_LINE, chan[final]),
    ]
    neg = picks["duration_negative"]
    patches = _Patches()
    patches.add(5, at(neg), [f"-{v}" for v in duration[order[neg]].tolist()])
    return _csv_rows(patches.apply(columns), newline_in_last=True), stats


# ---------------------------------------------------------------------------------------------------
# interactions


def _make_interactions(seed: int, block: int, cust: _Customers, orders: _Orders) -> pa.Buffer | bytes:
    """Generate the customer-service records of one block and their CSV lines."""
    rng = _rng(seed, block, 7)
    n_orders = cust.n_orders
    complainer = cust.persona == COMPLAINER
    lam = np.where(complainer, 3.0 + 0.4 * n_orders, np.where(n_orders > 0, 0.12 + 0.02 * n_orders, 0.06))
    c = np.repeat(np.arange(cust.n), rng.poisson(lam))
    n = len(c)
    # a while after one of the customer's orders, or (no orders) while they browse
    pick = orders.first[c] + (rng.random(n) * n_orders[c]).astype(np.int64)
    after_order = n_orders[c] > 0
    t = np.zeros(n, np.int64)
    t[after_order] = orders.t[pick[after_order]]
    t = t + rng.integers(2 * 3600, 12 * 86_400, n)
    browse_day = _days_in(rng.random(n), cust.event_lo[c], cust.event_hi[c], _DAY_CUM)
    t = np.where(after_order, t, browse_day * 86_400 + _time_of_day(rng, n))
    t = np.minimum(np.maximum(t, cust.reg_t[c]), _SPAN_S - 1)

    is_complainer = complainer[c].astype(np.int64)
    kind = _INTERACTION_TYPE.draw(rng, n, is_complainer)
    topic = _TOPIC.draw(rng, n, kind)
    satisfaction = 1 + _SATISFACTION.draw(rng, n, kind * 2 + is_complainer)
    channel = _SERVICE_CHANNEL.draw(rng, n)
    minutes = _TYPE_MINUTES[kind] * _SERVICE_CHANNEL_MINUTES[channel] * rng.lognormal(0.0, 0.6, n)
    tenths = np.maximum(np.rint(minutes * 10), 5).astype(np.int64)

    order = _time_order(t)
    columns = [
        _take(cust.user_ids, c[order]),
        _timestamps(t[order]),
        _take(_V_SERVICE_CHANNEL, channel[order]),
        _take(_V_INTERACTION_TYPE, kind[order]),
        _take(_V_TOPIC, topic[order]),
        _ints(satisfaction[order]),
        _fixed_point(tenths[order], 1),
    ]
    (bad,) = _pick(_rng(seed, block, 8), n, [_dirty_count(n)])
    patches = _Patches()
    patches.add(5, bad, _cycle(_BAD_SATISFACTION, len(bad)))
    return _csv_rows(patches.apply(columns))


# ---------------------------------------------------------------------------------------------------
# campaign membership

CAMPAIGN_ID = "CMP-2024-09"
CAMPAIGN_NAME = "9月老客复购券"
CAMPAIGN_START = date(2024, 9, 1)
CAMPAIGN_END = date(2024, 9, 14)
CAMPAIGN_AUDIENCE = 0.3  # share of the customers registered before the start who are in the campaign
CAMPAIGN_WINDOW_DAYS = 30  # customers won in this window after the start are more often in the treatment group
CAMPAIGN_TREATMENT_P = (0.6, 0.8)  # chance of the treatment group: any other customer, a customer won
CAMPAIGN_COST_CENTS = 300  # per treatment member: the message and the coupon


def _make_campaign(seed: int, block: int, cust: _Customers, orders: _Orders) -> pa.Buffer | bytes:
    """The campaign membership of one block: an audience split into treatment and control groups.

    The orders are made before (and without) the campaign, so the campaign's effect is drawn the other
    way round: customers won by the window after the start (a paid order in it, none in the same number
    of days before) land in the treatment group more often, which makes the treatment group convert
    better after the start, and not before, as a campaign that works would.
    """
    rng = _rng(seed, block, 9)
    start = (CAMPAIGN_START - DEMO_START).days * 86_400
    window = CAMPAIGN_WINDOW_DAYS * 86_400
    paid = orders.status == 0
    after = paid & (orders.t >= start) & (orders.t < start + window)
    before = paid & (orders.t >= start - window) & (orders.t < start)
    won = (np.bincount(orders.cust[after], minlength=cust.n) > 0) & (
        np.bincount(orders.cust[before], minlength=cust.n) == 0
    )
    audience = (cust.reg_t < start) & (rng.random(cust.n) < CAMPAIGN_AUDIENCE)
    treated = rng.random(cust.n) < np.where(won, CAMPAIGN_TREATMENT_P[1], CAMPAIGN_TREATMENT_P[0])
    c = np.flatnonzero(audience)
    arm = treated[c].astype(np.int64)
    zeros = np.zeros(len(c), np.int64)
    columns = [
        _take(_vocab([CAMPAIGN_ID]), zeros),
        _take(_vocab([CAMPAIGN_NAME]), zeros),
        _take(cust.user_ids, c),
        _take(_vocab(["control", "treatment"]), arm),
        _take(_vocab([CAMPAIGN_START.isoformat()]), zeros),
        _take(_vocab([CAMPAIGN_END.isoformat()]), zeros),
        _fixed_point(arm * CAMPAIGN_COST_CENTS, 2),
    ]
    return _csv_rows(columns)


# ---------------------------------------------------------------------------------------------------
# channels and products


def _channels_csv(seed: int, stats: _ChannelStats) -> bytes:
    """One row per channel per day: visitors and clicks from the events, orders and revenue from orders."""
    campaigns = [_campaign(d) for d in range(_NDAYS)]
    in_campaign = np.array([bool(x) for x in campaigns])
    noise = _rng(seed, 1_000_000, 0).uniform(0.85, 1.15, stats.clicks.shape)
    cpc = _SOURCE_CPC[:, None] * np.where(in_campaign, 1.3, 1.0)[None, :]
    cost = np.rint(stats.clicks * cpc * noise * 100).astype(np.int64)
    day = np.repeat(np.arange(_NDAYS), len(_SOURCES))  # date-major: every channel of a day together
    columns = [
        _take(_V_SOURCE, np.tile(np.arange(len(_SOURCES)), _NDAYS)),
        _from_matrix(_DATE_BYTES[day]),
        _take(_vocab(campaigns), day),
        _ints(stats.uv.T.ravel()),
        _ints(stats.clicks.T.ravel()),
        _ints(stats.orders.T.ravel()),
        _fixed_point(stats.revenue.T.ravel(), 2),
        _fixed_point(cost.T.ravel(), 2),
    ]
    return bytes(_csv_rows(columns))


def _products_csv() -> bytes:
    fields = pa.array([_product_text(p) for p in range(len(_CATALOG.ids))])
    return bytes(_csv_rows([fields, _fixed_point(_CATALOG.price_cents, 2)]))


# ---------------------------------------------------------------------------------------------------
# public API


def _check_int(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if not lo <= int(value) <= hi:
        raise ValueError(f"{name} must be between {lo:_} and {hi:_}, got {int(value):_}")
    return int(value)


def _check_ratio(name: str, value: object, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or not 0.0 <= v <= hi:
        raise ValueError(f"{name} must be between 0 and {hi:g}, got {v:g}")
    return v


def write_demo_shop(
    out_dir: Path,
    customers: int = 1000,
    seed: int = 7,
    *,
    orders_per_customer: float = 10.0,
    events_per_customer: float = 100.0,
    chunk_customers: int = 50_000,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Path]:
    """Write a synthetic shop's seven CSV tables into ``out_dir`` and return ``{table: path}``."""
    customers = _check_int("customers", customers, 1, MAX_CUSTOMERS)
    seed = _check_int("seed", seed, 0, 2**63 - 1)
    orders_per_customer = _check_ratio("orders_per_customer", orders_per_customer, MAX_ORDERS_PER_CUSTOMER)
    events_per_customer = _check_ratio("events_per_customer", events_per_customer, MAX_EVENTS_PER_CUSTOMER)
    chunk_customers = _check_int("chunk_customers", chunk_customers, 1, MAX_CUSTOMERS)
    if progress is not None and not callable(progress):
        raise ValueError("progress must be a callable taking (stage, done, total), or None")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)

    paths = {name: out / f"{name}.csv" for name in HEADERS}
    parts = {name: path.with_name(path.name + ".part") for name, path in paths.items()}
    blocks = -(-customers // BLOCK)
    blocks_per_chunk = -(-chunk_customers // BLOCK)
    # the event log catches enough orders that order events make about 2.5 % of all events
    order_share = min(1.0, 0.025 * events_per_customer / orders_per_customer) if orders_per_customer else 0.0
    stats = _ChannelStats.empty()
    files = {}
    done = False
    try:
        for name in HEADERS:
            files[name] = open(parts[name], "wb")
            files[name].write((",".join(HEADERS[name]) + "\n").encode())
        files["products"].write(_products_csv())
        if progress:
            progress("products", 1, 1)
        # the event groups of a block are made by worker threads (numpy and pyarrow release the GIL)
        # while this thread makes the next block's customers and orders; all is written in order
        with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
            queued: deque[Future[tuple[pa.Buffer | bytes, _ChannelStats]]] = deque()
            next_order = 1
            try:
                for b in range(blocks + 1):
                    if b < blocks:
                        cust, customers_text = _make_customers(
                            seed, b, min(BLOCK, customers - b * BLOCK), orders_per_customer
                        )
                        orders, orders_text = _make_orders(seed, b, cust, next_order)
                        next_order += len(orders.t)
                        interactions_text = _make_interactions(seed, b, cust, orders)
                        campaign_text = _make_campaign(seed, b, cust, orders)
                    while queued:  # the previous block's events
                        text, group_stats = queued.popleft().result()
                        files["events"].write(text)
                        stats.add(group_stats)
                    if progress and b and (b % blocks_per_chunk == 0 or b == blocks):
                        progress("customers", min(b * BLOCK, customers), customers)
                    if b < blocks:
                        files["customers"].write(customers_text)
                        files["orders"].write(orders_text)
                        files["interactions"].write(interactions_text)
                        files["campaigns"].write(campaign_text)
                        stats.add_orders(orders)
                        jobs = _event_groups(seed, b, cust, orders, events_per_customer, order_share)
                        queued.extend(pool.submit(job) for job in jobs)
            finally:
                for future in queued:
                    future.cancel()
        files["channels"].write(_channels_csv(seed, stats))
        for f in files.values():
            f.close()
        for name in HEADERS:
            os.replace(parts[name], paths[name])
        done = True
    finally:
        for f in files.values():
            f.close()
        if not done:  # leave no half-written tables behind
            for part in parts.values():
                part.unlink(missing_ok=True)
    if progress:
        progress("channels", 1, 1)
    return paths
