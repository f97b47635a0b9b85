"""A realistic synthetic shop, written as CSV files, for demos, tests and benchmarks.

``write_demo_shop`` streams the customers, orders, behaviour events, service interactions, daily
channel statistics and product catalogue of an imaginary Chinese online shop into a folder.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "BLOCK",
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
_EVENTS_PER_GROUP = 1_000_000  # events are made for groups of customers of about this many rows
_EXCEL_EPOCH_OFFSET = (DEMO_START - date(1899, 12, 30)).days

HEADERS: dict[str, tuple[str, ...]] = {
    "customers": ("客户ID", "客户名称", "性别", "年龄", "常住地区", "客户职业", "手机号", "邮箱", "注册时间", "注册渠道", "会员等级"),
    "orders": (
        "order_id", "user_id", "order_time", "amount", "quantity", "product_id", "product_name", "category",
        "brand", "unit_price", "coupon_used", "discount", "status", "terminal", "source",
    ),
    "events": ("user_id", "behavior_type", "behavior_time", "product_id", "page", "referrer", "duration_s", "channel"),
    "interactions": ("user_id", "interaction_time", "channel", "type", "topic", "satisfaction", "handle_minutes"),
    "channels": ("channel", "date", "campaign_id", "uv", "clicks", "orders", "revenue", "cost"),
    "products": ("product_id", "product_name", "category", "brand", "price"),
}

# the dirty kinds each file carries, by table
DIRTY_KINDS: dict[str, tuple[str, ...]] = {
    "customers": (
        "duplicate_person",  # a second user_id for the same person: same phone and/or email, other channel
        "shared_phone",  # 13800000000 on unrelated customers
        "missing_gender", "missing_age", "missing_occupation", "missing_region",
        "age_out_of_range",  # 150, -3 ...
        "age_outlier",  # 96, 103, 12 ...
        "age_unparseable",  # abc, 十二 ...
        "date_invalid",  # 2024-13-45, 2024-02-30, not a date ...
        "date_slash", "date_compact", "date_chinese", "date_excel",  # 2024/5/1 9:05, 20240501, ...
        "region_variant",  # 粤, 沪, 广东省 深圳市 ...
    ),
    "orders": (
        "duplicate_row", "amount_negative", "amount_unparseable", "quantity_unparseable",
        "date_invalid", "date_slash", "date_compact", "date_chinese", "date_excel",
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
    ("王", "wang", 7.1), ("李", "li", 7.0), ("张", "zhang", 6.7), ("刘", "liu", 5.4), ("陈", "chen", 4.5),
    ("杨", "yang", 3.1), ("黄", "huang", 2.2), ("赵", "zhao", 2.0), ("吴", "wu", 1.9), ("周", "zhou", 1.8),
    ("徐", "xu", 1.4), ("孙", "sun", 1.3), ("马", "ma", 1.2), ("朱", "zhu", 1.1), ("胡", "hu", 1.0),
    ("郭", "guo", 1.0), ("何", "he", 0.9), ("林", "lin", 0.9), ("高", "gao", 0.9), ("罗", "luo", 0.8),
    ("郑", "zheng", 0.8), ("梁", "liang", 0.7), ("谢", "xie", 0.6), ("宋", "song", 0.5), ("唐", "tang", 0.5),
    ("许", "xu", 0.5), ("韩", "han", 0.5), ("冯", "feng", 0.5), ("邓", "deng", 0.5), ("曹", "cao", 0.5),
    ("彭", "peng", 0.4), ("曾", "zeng", 0.4), ("肖", "xiao", 0.4), ("田", "tian", 0.4), ("董", "dong", 0.4),
    ("袁", "yuan", 0.4), ("潘", "pan", 0.4), ("于", "yu", 0.4), ("蒋", "jiang", 0.4), ("蔡", "cai", 0.4),
    ("余", "yu", 0.3), ("杜", "du", 0.3), ("叶", "ye", 0.3), ("程", "cheng", 0.3), ("苏", "su", 0.3),
    ("魏", "wei", 0.3), ("吕", "lv", 0.3), ("丁", "ding", 0.3), ("任", "ren", 0.3), ("沈", "shen", 0.3),
    ("姚", "yao", 0.25), ("卢", "lu", 0.25), ("姜", "jiang", 0.25), ("崔", "cui", 0.2), ("钟", "zhong", 0.2),
    ("谭", "tan", 0.2), ("陆", "lu", 0.2), ("汪", "wang", 0.2), ("范", "fan", 0.2), ("金", "jin", 0.2),
    ("欧阳", "ouyang", 0.04), ("司马", "sima", 0.01), ("诸葛", "zhuge", 0.01), ("上官", "shangguan", 0.01),
)
_GIVEN_MALE = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林洋文博志建国峰晨阳毅豪然轩睿泽"
_GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀燕玲桂丹萍红玉兰英梅琳雪婷倩颖琪欣怡佳悦晨璐思雨萱涵婧瑶妍慧洁"

# city, province short, province full ("" for municipalities), abbreviation, tier, weight
_CITIES = (
    ("北京", "北京", "", "京", "一线", 8.0), ("上海", "上海", "", "沪", "一线", 9.0),
    ("广州", "广东", "广东省", "粤", "一线", 6.0), ("深圳", "广东", "广东省", "粤", "一线", 6.5),
    ("成都", "四川", "四川省", "川", "新一线", 4.5), ("杭州", "浙江", "浙江省", "浙", "新一线", 4.5),
    ("重庆", "重庆", "", "渝", "新一线", 4.0), ("武汉", "湖北", "湖北省", "鄂", "新一线", 3.5),
    ("西安", "陕西", "陕西省", "陕", "新一线", 3.0), ("苏州", "江苏", "江苏省", "苏", "新一线", 3.0),
    ("天津", "天津", "", "津", "新一线", 3.0), ("南京", "江苏", "江苏省", "苏", "新一线", 3.0),
    ("长沙", "湖南", "湖南省", "湘", "新一线", 2.5), ("郑州", "河南", "河南省", "豫", "新一线", 2.5),
    ("东莞", "广东", "广东省", "粤", "新一线", 2.2), ("青岛", "山东", "山东省", "鲁", "新一线", 2.0),
    ("沈阳", "辽宁", "辽宁省", "辽", "新一线", 1.8), ("宁波", "浙江", "浙江省", "浙", "新一线", 1.8),
    ("昆明", "云南", "云南省", "云", "新一线", 1.6), ("合肥", "安徽", "安徽省", "皖", "新一线", 1.8),
    ("佛山", "广东", "广东省", "粤", "新一线", 1.8), ("福州", "福建", "福建省", "闽", "二线", 1.5),
    ("厦门", "福建", "福建省", "闽", "二线", 1.3), ("无锡", "江苏", "江苏省", "苏", "二线", 1.4),
    ("济南", "山东", "山东省", "鲁", "二线", 1.5), ("大连", "辽宁", "辽宁省", "辽", "二线", 1.2),
    ("哈尔滨", "黑龙江", "黑龙江省", "黑", "二线", 1.3), ("长春", "吉林", "吉林省", "吉", "二线", 1.0),
    ("石家庄", "河北", "河北省", "冀", "二线", 1.2), ("南宁", "广西", "广西壮族自治区", "桂", "二线", 1.1),
    ("贵阳", "贵州", "贵州省", "黔", "二线", 1.0), ("南昌", "江西", "江西省", "赣", "二线", 1.0),
    ("温州", "浙江", "浙江省", "浙", "二线", 1.1), ("泉州", "福建", "福建省", "闽", "二线", 1.0),
    ("太原", "山西", "山西省", "晋", "二线", 0.9), ("兰州", "甘肃", "甘肃省", "甘", "三线", 0.7),
    ("乌鲁木齐", "新疆", "新疆维吾尔自治区", "新", "三线", 0.6),
    ("呼和浩特", "内蒙古", "内蒙古自治区", "蒙", "三线", 0.5),
    ("海口", "海南", "海南省", "琼", "三线", 0.5), ("洛阳", "河南", "河南省", "豫", "三线", 0.6),
    ("绵阳", "四川", "四川省", "川", "三线", 0.4), ("桂林", "广西", "广西壮族自治区", "桂", "三线", 0.4),
    ("扬州", "江苏", "江苏省", "苏", "三线", 0.5), ("襄阳", "湖北", "湖北省", "鄂", "三线", 0.4),
    ("赣州", "江西", "江西省", "赣", "四线", 0.4),
)

_OCCUPATIONS = (
    "白领", "工程师", "程序员", "自由职业", "个体户", "公务员", "教师", "医生", "销售", "工人", "设计师",
    "全职主妇", "学生", "退休人员",
)
# rows: age < 23, 23..57, >= 58
_OCCUPATION_WEIGHTS = np.array([
    [8, 3, 3, 6, 3, 1, 1, 0, 4, 5, 2, 0, 64, 0],
    [26, 12, 6, 9, 9, 5, 6, 4, 8, 7, 3, 3, 1, 0],
    [4, 2, 0, 4, 6, 2, 2, 2, 2, 3, 0, 5, 0, 68],
], dtype=float)

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
    [f"13{d}" for d in range(10)] + ["145", "147"] + [f"15{d}" for d in (0, 1, 2, 3, 5, 6, 7, 8, 9)]
    + ["166", "170", "171", "173", "175", "176", "177", "178"] + [f"18{d}" for d in range(10)]
    + ["191", "198", "199"]
)

_BEHAVIORS = ("pv", "click", "search", "fav", "cart", "order", "pay")
PV, CLICK, SEARCH, FAV, CART, ORDER, PAY = range(7)
_BROWSE_W = np.array([0.56, 0.25, 0.06, 0.045, 0.035, 0.0, 0.0])  # after a session's first event
_PAGES = ("首页", "搜索页", "商品详情页", "活动页", "购物车", "个人中心", "订单确认页", "支付页")
HOME, SEARCH_PAGE, DETAIL, CAMPAIGN_PAGE, CART_PAGE, ME, CONFIRM, PAY_PAGE = range(8)
# page distribution by row: 0 landing pv, 1 inner pv, 2 click, 3 search, 4 fav, 5 cart
_PAGE_W = np.array([
    [0.45, 0.10, 0.25, 0.20, 0.0, 0.0, 0.0, 0.0],
    [0.12, 0.08, 0.55, 0.10, 0.08, 0.07, 0.0, 0.0],
    [0.35, 0.25, 0.20, 0.20, 0.0, 0.0, 0.0, 0.0],
    [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [0.0, 0.0, 0.8, 0.0, 0.2, 0.0, 0.0, 0.0],
])

_SERVICE_CHANNELS = ("phone", "online", "email")
_SERVICE_CHANNEL_W = np.array([0.35, 0.55, 0.10])
_SERVICE_CHANNEL_MINUTES = np.array([1.3, 1.0, 2.0])
_INTERACTION_TYPES = ("consult", "complaint", "suggestion")
_TYPE_MINUTES = np.array([6.0, 18.0, 4.0])
_TOPICS = ("物流", "退换货", "产品质量", "售后", "价格", "会员权益", "发票", "产品使用", "支付问题", "活动规则", "APP体验", "包装")
_TOPIC_W = np.array([
    [0.18, 0.08, 0.06, 0.06, 0.12, 0.14, 0.08, 0.16, 0.05, 0.07, 0.0, 0.0],  # consult
    [0.24, 0.18, 0.20, 0.16, 0.08, 0.03, 0.0, 0.0, 0.04, 0.03, 0.0, 0.04],  # complaint
    [0.10, 0.05, 0.10, 0.08, 0.05, 0.12, 0.0, 0.05, 0.0, 0.10, 0.25, 0.10],  # suggestion
])
# satisfaction 1..5 by row: type * 2 + is_complainer
_SATISFACTION_W = np.array([
    [0.02, 0.04, 0.14, 0.38, 0.42], [0.15, 0.25, 0.30, 0.20, 0.10],
    [0.15, 0.20, 0.30, 0.20, 0.15], [0.40, 0.30, 0.18, 0.08, 0.04],
    [0.02, 0.05, 0.20, 0.40, 0.33], [0.10, 0.20, 0.35, 0.25, 0.10],
])

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
_CATEGORY_W = np.array([
    [0.14, 0.12, 0.14, 0.08, 0.03, 0.10, 0.15, 0.06, 0.05, 0.13],
    [0.08, 0.05, 0.07, 0.09, 0.20, 0.16, 0.15, 0.08, 0.08, 0.04],
])
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


@dataclass(frozen=True)
class _Catalog:
    ids: tuple[str, ...]
    names: tuple[str, ...]
    categories: tuple[str, ...]
    brands: tuple[str, ...]
    price_cents: np.ndarray
    category: np.ndarray  # category index per product
    first: np.ndarray  # first product index per category
    count: np.ndarray  # products per category
    popularity: np.ndarray  # (categories, max products) cumulative popularity within category


def _cumulative(weights: np.ndarray) -> np.ndarray:
    """Row-wise cumulative distribution of ``weights`` ending exactly at 1."""
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    return cum


def _build_catalog() -> _Catalog:
    rows = [line.split("|") for line in _CATALOG_TEXT.strip().splitlines()]
    rows.sort(key=lambda r: _CATEGORIES.index(r[0]))
    cat = np.array([_CATEGORIES.index(r[0]) for r in rows])
    price = np.array([round(float(r[3]) * 100) for r in rows], dtype=np.int64)
    count = np.bincount(cat, minlength=len(_CATEGORIES))
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    width = int(count.max())
    pop = np.zeros((len(_CATEGORIES), width))
    for c in range(len(_CATEGORIES)):
        p = price[first[c]:first[c] + count[c]] / 100.0
        rank = np.arange(count[c])
        pop[c, :count[c]] = (rank + 1.0) ** -0.5 * p ** -0.35  # listed first and cheaper sell more
    return _Catalog(
        ids=tuple(f"P{i + 1:05d}" for i in range(len(rows))),
        names=tuple(f"{r[1]} {r[2]}" for r in rows),
        categories=tuple(r[0] for r in rows),
        brands=tuple(r[1] for r in rows),
        price_cents=price,
        category=cat,
        first=first,
        count=count,
        popularity=_cumulative(pop),
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


_HOUR_W = np.array([
    2.0, 1.2, 0.6, 0.3, 0.2, 0.2, 0.4, 0.9, 1.6, 2.4, 3.0, 3.2,
    3.6, 3.2, 2.8, 2.8, 2.9, 3.0, 3.3, 4.2, 5.2, 5.8, 5.2, 3.4,
])

_CATALOG = _build_catalog()
_DAY_W, _PROMO = _day_weights()
_DAY_CUM = np.concatenate([[0.0], np.cumsum(_DAY_W)])
_REG_W = np.sqrt(_DAY_W) * (1.0 + np.arange(_NDAYS) / _NDAYS)
_REG_CUM = np.concatenate([[0.0], np.cumsum(_REG_W)])
_HOUR_CUM = _cumulative(_HOUR_W)[0]
_D11 = np.array([(date(y, 11, 11) - DEMO_START).days for y in (2023, 2024)])
_SURNAME_CUM = _cumulative(np.array([s[2] for s in _SURNAMES]))[0]
_CITY_CUM = _cumulative(np.array([c[5] for c in _CITIES]))[0]
_OCCUPATION_CUM = _cumulative(_OCCUPATION_WEIGHTS)
_PERSONA_CUM = _cumulative(_PERSONA_SHARE)[0]
_CATEGORY_CUM = _cumulative(_CATEGORY_W)
_PAGE_CUM = _cumulative(_PAGE_W)
_TOPIC_CUM = _cumulative(_TOPIC_W)
_SATISFACTION_CUM = _cumulative(_SATISFACTION_W)


def _region_forms() -> tuple[list[str], np.ndarray, np.ndarray]:
    """All written forms of every city, each city's first form and the cumulative form weights."""
    forms: list[str] = []
    first = []
    cum = np.zeros((len(_CITIES), 4))
    for i, (city, prov, prov_full, _abbr, _tier, _w) in enumerate(_CITIES):
        first.append(len(forms))
        if not prov_full:  # municipality
            names, w = [f"{city}市", city, f"{city}市", city], [0.55, 0.45, 0.0, 0.0]
        else:
            names = [f"{prov_full}{city}市", f"{prov}{city}", f"{city}市", city]
            w = [0.25, 0.2, 0.3, 0.25]
        forms.extend(names)
        cum[i] = _cumulative(np.array(w))[0]
    return forms, np.array(first), cum


_REGION_FORMS, _REGION_FIRST, _REGION_CUM = _region_forms()


def _campaign(day: int) -> str:
    """The campaign running on day ``day`` of the span, or ''."""
    d = DEMO_START + timedelta(days=day)
    if date(d.year, 10, 24) <= d <= date(d.year, 11, 11):
        return f"D11-{d.year}"
    if date(d.year, 6, 1) <= d <= date(d.year, 6, 18):
        return f"618-{d.year}"
    return ""


# ---------------------------------------------------------------------------------------------------
# random helpers


def _rng(seed: int, *key: int) -> np.random.Generator:
    """An independent random stream for ``key`` under ``seed``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def _choice_rows(cum: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per element, the category drawn by ``u`` from distribution ``cum[rows]`` (cumulative, by row)."""
    k = cum.shape[1]
    flat = (cum + np.arange(cum.shape[0])[:, None]).ravel()
    hit = np.searchsorted(flat, rows + u, side="right")
    return np.minimum(hit - rows * k, k - 1)


def _choice(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The category drawn by ``u`` from one cumulative distribution."""
    return np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)


def _days_in(u: np.ndarray, lo: np.ndarray, hi: np.ndarray, cum: np.ndarray) -> np.ndarray:
    """Days drawn by ``u`` from the day weights behind ``cum``, restricted to ``[lo, hi)``."""
    a, b = cum[lo], cum[hi]
    day = np.searchsorted(cum, a + u * (b - a), side="right") - 1
    return np.clip(day, lo, hi - 1)


def _time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight, with the evening peak and the night lull."""
    hour = _choice(_HOUR_CUM, rng.random(n))
    return hour * 3600 + rng.integers(0, 3600, n)


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
    return np.split(chosen, np.cumsum(sizes)[:-1])


# ---------------------------------------------------------------------------------------------------
# text helpers: every column is a pyarrow string array holding CSV-ready text


def _quote(text: str) -> str:
    """``text`` as a CSV field, quoted only if it must be."""
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _vocab(values: Sequence[str]) -> pa.Array:
    return pa.array([_quote(v) for v in values], pa.string())


def _take(vocab: pa.Array, idx: np.ndarray) -> pa.Array:
    return vocab.take(pa.array(np.asarray(idx, dtype=np.int64)))


def _from_matrix(buf: np.ndarray) -> pa.Array:
    """A string array from a (rows, width) matrix of ASCII bytes."""
    n, width = buf.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32) if n else np.zeros(1, np.int32)
    data = np.ascontiguousarray(buf, dtype=np.uint8)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative ``values`` as a (rows, width) byte matrix."""
    v = np.asarray(values, dtype=np.int64)
    out = np.empty((len(v), width), np.uint8)
    for j in range(width - 1, -1, -1):
        out[:, j] = 48 + v % 10
        v = v // 10
    return out


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` followed by ``numbers`` zero-padded to ``width`` digits."""
    p = np.frombuffer(prefix.encode(), np.uint8)
    digits = _digits(numbers, width)
    buf = np.empty((len(digits), len(p) + width), np.uint8)
    buf[:, :len(p)] = p
    buf[:, len(p):] = digits
    return _from_matrix(buf)


def _date_bytes() -> np.ndarray:
    text = "".join((DEMO_START + timedelta(days=int(d))).isoformat() for d in range(_NDAYS))
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
_CLOCK_BYTES = _clock_bytes()
_TWO_DIGITS = pa.array([f"{i:02d}" for i in range(100)])
_ONE_DIGIT = pa.array([str(i) for i in range(10)])


def _timestamps(t: np.ndarray) -> pa.Array:
    """ISO ``YYYY-MM-DD HH:MM:SS`` text for seconds since DEMO_START."""
    t = np.asarray(t, dtype=np.int64)
    buf = np.empty((len(t), 19), np.uint8)
    buf[:, :10] = _DATE_BYTES[t // 86_400]
    buf[:, 10] = 32
    buf[:, 11:] = _CLOCK_BYTES[t % 86_400]
    return _from_matrix(buf)


def _ints(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def _fixed_point(values: np.ndarray, decimals: int) -> pa.Array:
    """Non-negative integers in units of 10**-decimals as text with ``decimals`` decimals."""
    v = np.asarray(values, dtype=np.int64)
    scale = 10**decimals
    frac_vocab = _TWO_DIGITS if decimals == 2 else _ONE_DIGIT
    return pc.binary_join_element_wise(_ints(v // scale), _take(frac_vocab, v % scale), ".")


def _csv_rows(columns: Sequence[pa.Array]) -> pa.Buffer | bytes:
    """The CSV lines (comma-separated, newline-terminated) of CSV-ready text columns."""
    if len(columns[0]) == 0:
        return b""
    line = pc.binary_join_element_wise(*columns, ",", null_handling="replace")
    line = pc.binary_join_element_wise(line, "\n", "")
    offsets = np.frombuffer(line.buffers()[1], np.int32, len(line) + 1, line.offset * 4)
    return line.buffers()[2][int(offsets[0]):int(offsets[-1])]


class _Patches:
    """Replacement text for single cells, gathered per column and applied in one pass."""

    def __init__(self) -> None:
        self._cells: dict[int, dict[int, str | None]] = {}

    def add(self, column: int, rows: np.ndarray, values: Sequence[str | None]) -> None:
        cells = self._cells.setdefault(column, {})
        for r, v in zip(rows.tolist(), values, strict=True):
            cells[int(r)] = None if v is None else _quote(v)

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


def _moment(t: int) -> datetime:
    return datetime(DEMO_START.year, DEMO_START.month, DEMO_START.day) + timedelta(seconds=int(t))


def _date_form(kind: str, t: int) -> str:
    """Seconds since DEMO_START written in one of the non-ISO forms real exports carry."""
    m = _moment(t)
    if kind == "date_slash":
        return f"{m.year}/{m.month}/{m.day} {m.hour}:{m.minute:02d}"
    if kind == "date_compact":
        return f"{m.year}{m.month:02d}{m.day:02d}"
    if kind == "date_chinese":
        return f"{m.year}年{m.month}月{m.day}日 {m.hour}:{m.minute:02d}"
    serial = _EXCEL_EPOCH_OFFSET + int(t) / 86_400
    return f"{serial:.5f}".rstrip("0").rstrip(".")


_DATE_FORMS = ("date_slash", "date_compact", "date_chinese", "date_excel")
_BAD_DATES = ("2024-13-45", "2024-02-30", "not a date", "2023-02-29 10:00:00", "2024-00-10", "31/31/2024", "0000-00-00")
_BAD_AGES_RANGE = ("150", "-3", "200", "0", "999")
_BAD_AGES_OUTLIER = ("96", "103", "12", "99", "15")
_BAD_NUMBERS = ("abc", "十二", "#VALUE!", "一百二十", "N/A?")
_BAD_QUANTITIES = ("两件", "abc", "十二", "1件")
_BAD_SATISFACTION = ("0", "6", "10", "-1", "99")


def _add_date_dirt(patches: _Patches, col: int, picks: dict[str, np.ndarray], t: np.ndarray) -> None:
    """Impossible dates and non-ISO date forms on the rows picked for them."""
    bad = picks["date_invalid"]
    patches.add(col, bad, _cycle(_BAD_DATES, len(bad)))
    for kind in _DATE_FORMS:
        rows = picks[kind]
        patches.add(col, rows, [_date_form(kind, v) for v in t[rows].tolist()])


# ---------------------------------------------------------------------------------------------------
# customers


@dataclass
class _Customers:
    """One block of customers: what drives their behaviour and what their rows say."""

    n: int
    first_number: int  # user number of the first customer (1-based)
    persona: np.ndarray
    gender: np.ndarray  # 0 male, 1 female
    age: np.ndarray
    city: np.ndarray
    reg_t: np.ndarray  # seconds since DEMO_START
    order_lo: np.ndarray  # active window for orders, days [lo, hi)
    order_hi: np.ndarray
    event_lo: np.ndarray
    event_hi: np.ndarray
    activity: np.ndarray
    pref_category: np.ndarray
    pref_terminal: np.ndarray
    pref_source: np.ndarray
    user_ids: pa.Array
    n_orders: np.ndarray | None = None


def _make_customers(seed: int, block: int, n: int, orders_per_customer: float) -> tuple[_Customers, pa.Buffer | bytes]:
    """Generate block ``block`` of ``n`` customers; return them and their CSV lines."""
    rng = _rng(seed, block, 0)
    picks_rng = _rng(seed, block, 1)
    k = _dirty_count(n)
    kinds = DIRTY_KINDS["customers"]
    sizes = [2 * k if kind == "duplicate_person" else k for kind in kinds]
    picks = dict(zip(kinds, _pick(picks_rng, n, sizes), strict=True))
    dup_pairs = picks["duplicate_person"]
    half = len(dup_pairs) // 2
    src, dup = dup_pairs[:half], dup_pairs[half:2 * half]

    persona = _choice(_PERSONA_CUM, rng.random(n))
    persona[dup] = ONE_TIME  # a second account, opened for the new-customer coupon
    gender = (rng.random(n) < 0.52).astype(np.int64)
    young = rng.random(n) < 0.7
    age = np.where(young, rng.normal(32.0, 6.5, n), rng.uniform(18.0, 70.99, n))
    age = np.clip(np.floor(age), 18, 70).astype(np.int64)
    city = _choice(_CITY_CUM, rng.random(n))
    region_form = _REGION_FIRST[city] + _choice_rows(_REGION_CUM, city, rng.random(n))
    age_group = np.where(age < 23, 0, np.where(age >= 58, 2, 1))
    occupation = _choice_rows(_OCCUPATION_CUM, age_group, rng.random(n))
    reg_channel = _choice(_cumulative(_REGISTER_CHANNEL_W)[0], rng.random(n))

    early = (persona == LOYAL) | (persona == CHURNER)
    reg_hi = np.where(early, int(_NDAYS * 0.55), _NDAYS - 1)
    reg_day = _days_in(rng.random(n), np.zeros(n, np.int64), reg_hi, _REG_CUM)
    # the duplicate account is the same person, registered again later through another channel
    gender[dup], age[dup], city[dup], occupation[dup] = gender[src], age[src], city[src], occupation[src]
    region_form[dup] = _REGION_FIRST[city[dup]] + rng.integers(0, 2, len(dup))
    reg_day[dup] = np.minimum(reg_day[src] + rng.integers(20, 200, len(dup)), _NDAYS - 1)
    reg_channel[dup] = (reg_channel[src] + rng.integers(1, len(_REGISTER_CHANNELS), len(dup))) % len(
        _REGISTER_CHANNELS
    )
    reg_t = reg_day * 86_400 + _time_of_day(rng, n)

    order_hi = np.full(n, _NDAYS)
    churn_end = reg_day + rng.integers(90, 300, n)
    order_hi = np.where(persona == CHURNER, np.minimum(churn_end, _NDAYS), order_hi)
    order_hi = np.where(persona == ONE_TIME, np.minimum(reg_day + 60, _NDAYS), order_hi)
    order_hi = np.maximum(order_hi, reg_day + 1)
    event_hi = np.where(persona == CHURNER, np.minimum(order_hi + 30, _NDAYS), _NDAYS)
    event_hi = np.where(persona == NON_BUYER, np.minimum(reg_day + rng.integers(30, 400, n), _NDAYS), event_hi)
    event_hi = np.maximum(event_hi, reg_day + 1)

    pref_category = _choice_rows(_CATEGORY_CUM, gender, rng.random(n))
    pref_terminal = _choice(_cumulative(_TERMINAL_W)[0], rng.random(n))
    pref_source = _choice(_cumulative(_SOURCE_W)[0], rng.random(n))
    activity = rng.lognormal(-0.125, 0.5, n)

    numbers = block * BLOCK + np.arange(n) + 1
    cust = _Customers(
        n=n, first_number=int(numbers[0]), persona=persona, gender=gender, age=age, city=city, reg_t=reg_t,
        order_lo=reg_day, order_hi=order_hi, event_lo=reg_day, event_hi=event_hi, activity=activity,
        pref_category=pref_category, pref_terminal=pref_terminal, pref_source=pref_source,
        user_ids=_ids("CUS", numbers, 9),
    )
    cust.n_orders = _order_counts(rng, cust, orders_per_customer)

    # names: common surnames by frequency, one- or two-character given names
    surname = _choice(_SURNAME_CUM, rng.random(n))
    male, female = np.array(list(_GIVEN_MALE)), np.array(list(_GIVEN_FEMALE))
    g1 = np.where(gender == 0, male[rng.integers(0, len(male), n)], female[rng.integers(0, len(female), n)])
    g2 = np.where(gender == 0, male[rng.integers(0, len(male), n)], female[rng.integers(0, len(female), n)])
    g2 = np.where(rng.random(n) < 0.3, "", g2)
    surnames = np.array([s[0] for s in _SURNAMES])
    names = np.char.add(np.char.add(surnames[surname], g1), g2)
    names[dup] = names[src]

    # phones: a fixed prefix per customer, the last eight digits a bijection of the customer number,
    # so no two customers share a number by chance
    prefix = rng.integers(0, len(_PHONE_PREFIXES), n)
    scramble = (numbers * 73_939_133 + (seed * 7_919 + 12_345_679)) % 100_000_000
    clash = (np.array(_PHONE_PREFIXES)[prefix] == "138") & (scramble == 0)
    prefix = np.where(clash, prefix + 1, prefix)
    phone_prefix = np.frombuffer("".join(_PHONE_PREFIXES).encode(), np.uint8).reshape(-1, 3)
    phone_buf = np.empty((n, 11), np.uint8)
    phone_buf[:, :3] = phone_prefix[prefix]
    phone_buf[:, 3:] = _digits(scramble, 8)
    phones = np.array(_from_matrix(phone_buf).to_pylist(), dtype=object)

    domain = _choice(_cumulative(_EMAIL_DOMAIN_W)[0], rng.random(n))
    qq = (numbers * 48_271 + seed * 131 + 100_003) % 900_000_000 + 10_000_000
    pinyin = np.array([s[1] for s in _SURNAMES])[surname]
    local = np.where(domain == 0, qq.astype(str), np.char.add(pinyin, (scramble % 10_000_000).astype(str)))
    emails = np.char.add(np.char.add(local, "@"), np.array(_EMAIL_DOMAINS)[domain]).astype(object)
    no_email = rng.random(n) < 0.25
    no_email[src] = False
    emails[no_email] = None

    # identity duplicates: same phone, same e-mail, or both; the name sometimes written differently
    for i, (s, d) in enumerate(zip(src.tolist(), dup.tolist(), strict=True)):
        mode = i % 3
        if mode in (0, 2):
            phones[d] = phones[s]
        if mode in (1, 2):
            emails[d] = emails[s]
        if i % 4 == 1:
            names[d] = names[s][0] + " " + names[s][1:]
        elif i % 4 == 3:
            names[d] = names[s][0] + ("先生" if gender[s] == 0 else "女士")
    phones[picks["shared_phone"]] = SHARED_PHONE

    level_score = cust.n_orders * rng.lognormal(0.0, 0.35, n) / max(orders_per_customer / 10.0, 0.05)
    level = np.searchsorted(np.array([2.0, 6.0, 18.0]), level_score, side="right")

    columns = [
        cust.user_ids,
        pa.array(names.tolist(), pa.string()),
        _take(_vocab(("男", "女")), gender),
        _ints(age),
        _take(_vocab(_REGION_FORMS), region_form),
        _take(_vocab(_OCCUPATIONS), occupation),
        pa.array(phones.tolist(), pa.string()),
        pa.array(emails.tolist(), pa.string()),
        _timestamps(reg_t),
        _take(_vocab(_REGISTER_CHANNELS), reg_channel),
        _take(_vocab(_MEMBER_LEVELS), level),
    ]
    patches = _Patches()
    for kind, col in (("missing_gender", 2), ("missing_age", 3), ("missing_occupation", 5), ("missing_region", 4)):
        patches.add(col, picks[kind], [None] * len(picks[kind]))
    patches.add(3, picks["age_out_of_range"], _cycle(_BAD_AGES_RANGE, len(picks["age_out_of_range"])))
    patches.add(3, picks["age_outlier"], _cycle(_BAD_AGES_OUTLIER, len(picks["age_outlier"])))
    patches.add(3, picks["age_unparseable"], _cycle(_BAD_NUMBERS, len(picks["age_unparseable"])))
    _add_date_dirt(patches, 8, picks, reg_t)
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
    rep = ~one & (raw > 0)
    minimum = np.where(rep, _PERSONA_MIN_ORDERS[persona], 0)
    budget = target * n
    counts = np.zeros(n, np.int64)
    if budget <= one.sum():
        counts[one] = rng.random(int(one.sum())) < budget / max(one.sum(), 1)
        return counts
    counts[one] = 1
    rest = budget - one.sum()
    if rest <= minimum.sum():
        counts[rep] = rng.poisson(minimum[rep] * rest / max(minimum.sum(), 1))
        return counts
    lo, hi = 0.0, 1.0
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
    """One block's orders, in time order, with what events and interactions need of them."""

    cust: np.ndarray
    t: np.ndarray
    product: np.ndarray
    source: np.ndarray
    terminal: np.ndarray
    status: np.ndarray
    amount: np.ndarray  # cents
    by_customer: np.ndarray  # row indices grouped by customer (customer order), for look-ups
    first: np.ndarray  # per customer: first position in by_customer


def _products_for(rng: np.random.Generator, cust: _Customers, c: np.ndarray, cheap: np.ndarray) -> np.ndarray:
    """Products bought or viewed by customers ``c``: their favourite category often, cheaper if ``cheap``."""
    n = len(c)
    general = _choice_rows(_CATEGORY_CUM, cust.gender[c], rng.random(n))
    cat = np.where(rng.random(n) < 0.55, cust.pref_category[c], general)
    product = _CATALOG.first[cat] + _choice_rows(_CATALOG.popularity, cat, rng.random(n))
    other = _CATALOG.first[cat] + _choice_rows(_CATALOG.popularity, cat, rng.random(n))
    cheaper = _CATALOG.price_cents[other] < _CATALOG.price_cents[product]
    return np.where(cheap & cheaper, other, product)


def _make_orders(seed: int, block: int, cust: _Customers, first_order: int) -> tuple[_Orders, pa.Buffer | bytes]:
    """Generate the orders of one block of customers and their CSV lines."""
    rng = _rng(seed, block, 2)
    counts = cust.n_orders
    assert counts is not None
    n = int(counts.sum())
    c = np.repeat(np.arange(cust.n), counts)
    starts = np.cumsum(counts) - counts
    rank = np.arange(n) - starts[c]
    persona = cust.persona[c]
    # loyal buyers keep a regular cycle: one order per equal share of their (seasonal) window
    u = rng.random(n)
    loyal = persona == LOYAL
    u = np.where(loyal, (rank + 0.5 + 0.6 * (u - 0.5)) / np.maximum(counts[c], 1), u)
    day = _days_in(u, cust.order_lo[c], cust.order_hi[c], _DAY_CUM)
    tod = _time_of_day(rng, n)
    midnight_rush = np.isin(day, _D11) & (rng.random(n) < 0.3)
    tod = np.where(midnight_rush, rng.integers(0, 3600, n), tod)
    t = day * 86_400 + tod
    t = np.minimum(np.maximum(t, cust.reg_t[c] + rng.integers(120, 3600, n)), _SPAN_S - 1)

    coupon_lover = persona == COUPON
    product = _products_for(rng, cust, c, coupon_lover)
    cat = _CATALOG.category[product]
    quantity = rng.geometric(_CATEGORY_QTY_P[cat]).astype(np.int64)
    quantity = np.minimum(quantity, 9)
    unit = _CATALOG.price_cents[product]
    gross = unit * quantity
    promo = _PROMO[np.minimum(t // 86_400, _NDAYS - 1)]
    p_coupon = np.where(coupon_lover, 0.85, 0.16) + np.where(promo, 0.15, 0.0)
    coupon = rng.random(n) < p_coupon
    # "满减" coupons: the larger the basket, the larger the reduction
    tiers = np.array([0, 9_900, 19_900, 29_900, 59_900, 99_900, 299_900, 599_900])
    off = np.array([300, 1_000, 2_000, 3_000, 6_000, 10_000, 30_000, 50_000])
    discount = off[np.searchsorted(tiers, gross, side="right") - 1]
    discount = np.where(coupon & (gross > 2 * discount), discount, 0)
    discount = np.where(coupon & coupon_lover & (rng.random(n) < 0.3), discount + gross // 20, discount)
    amount = gross - discount

    status_p = np.where(persona == COMPLAINER, 0.78, np.where(coupon_lover, 0.90, 0.94))
    r = rng.random(n)
    status = np.where(r < status_p, 0, np.where(r < (1.0 + status_p) / 2.0, 1, 2))
    terminal = np.where(rng.random(n) < 0.75, cust.pref_terminal[c],
                        _choice(_cumulative(_TERMINAL_W)[0], rng.random(n)))
    source = np.where(rng.random(n) < 0.5, cust.pref_source[c], _choice(_cumulative(_SOURCE_W)[0], rng.random(n)))

    # the file lists a block's orders in time order; ids follow that order
    order = np.argsort(t, kind="stable")
    by_customer = np.empty(n, np.int64)
    by_customer[order] = np.arange(n)
    c, t, product, quantity, unit, coupon, discount, amount, status, terminal, source = (
        a[order] for a in (c, t, product, quantity, unit, coupon, discount, amount, status, terminal, source)
    )
    orders = _Orders(
        cust=c, t=t, product=product, source=source, terminal=terminal, status=status, amount=amount,
        by_customer=by_customer, first=starts,
    )

    picks_rng = _rng(seed, block, 3)
    kinds = DIRTY_KINDS["orders"]
    picks = dict(zip(kinds, _pick(picks_rng, n, [_dirty_count(n)] * len(kinds)), strict=True))
    rows = np.sort(np.concatenate([np.arange(n), picks["duplicate_row"]]))  # exact duplicates, adjacent
    dup_sorted = np.sort(picks["duplicate_row"])

    def at(base_rows: np.ndarray) -> np.ndarray:  # position of a base row in the written rows
        return base_rows + np.searchsorted(dup_sorted, base_rows, side="left")

    columns = [
        _ids("ORD", first_order + rows, 12),
        _take(cust.user_ids, c[rows]),
        _timestamps(t[rows]),
        _fixed_point(amount[rows], 2),
        _ints(quantity[rows]),
        _take(_vocab(_CATALOG.ids), product[rows]),
        _take(_vocab(_CATALOG.names), product[rows]),
        _take(_vocab(_CATALOG.categories), product[rows]),
        _take(_vocab(_CATALOG.brands), product[rows]),
        _fixed_point(unit[rows], 2),
        _take(_vocab(("false", "true")), coupon[rows].astype(np.int64)),
        _fixed_point(discount[rows], 2),
        _take(_vocab(_STATUSES), status[rows]),
        _take(_vocab(_TERMINALS), terminal[rows]),
        _take(_vocab(_SOURCES), source[rows]),
    ]
    patches = _Patches()
    neg = picks["amount_negative"]
    patches.add(3, at(neg), [f"-{a // 100}.{a % 100:02d}" for a in np.maximum(amount[neg], 100).tolist()])
    patches.add(3, at(picks["amount_unparseable"]), _cycle(_BAD_NUMBERS, len(picks["amount_unparseable"])))
    patches.add(4, at(picks["quantity_unparseable"]), _cycle(_BAD_QUANTITIES, len(picks["quantity_unparseable"])))
    shifted = {kind: at(picks[kind]) for kind in ("date_invalid", *_DATE_FORMS)}
    patches.add(2, shifted["date_invalid"], _cycle(_BAD_DATES, len(shifted["date_invalid"])))
    for kind in _DATE_FORMS:
        patches.add(2, shifted[kind], [_date_form(kind, v) for v in t[picks[kind]].tolist()])
    syn = picks["category_synonym"]
    synonyms = [
        _CATEGORY_SYNONYMS[_CATALOG.categories[p]][i % len(_CATEGORY_SYNONYMS[_CATALOG.categories[p]])]
        for i, p in enumerate(product[syn].tolist())
    ]
    # the first synonyms always are the classic pairs: 手机 -> 移动电话, 电脑 -> 笔记本
    classic = [(0, "移动电话"), (1, "笔记本"), (1, "笔记本电脑")]
    for i, (cat_index, text) in enumerate(classic[: len(syn)]):
        product[syn[i]] = _CATALOG.first[cat_index]
        synonyms[i] = text
    if len(syn):
        for col, vocab in ((5, _CATALOG.ids), (6, _CATALOG.names), (8, _CATALOG.brands)):
            patches.add(col, at(syn), [vocab[p] for p in product[syn].tolist()])
        prices = _CATALOG.price_cents[product[syn]]
        patches.add(9, at(syn), [f"{p // 100}.{p % 100:02d}" for p in prices.tolist()])
        patches.add(3, at(syn), [f"{p * q // 100}.{p * q % 100:02d}" for p, q in
                                 zip(prices.tolist(), quantity[syn].tolist(), strict=True)])
        patches.add(11, at(syn), ["0.00"] * len(syn))
        patches.add(10, at(syn), ["false"] * len(syn))
        orders.amount[syn] = prices * quantity[syn]
        orders.product[syn] = product[syn]
    patches.add(7, at(syn), synonyms)
    return orders, _csv_rows(patches.apply(columns))


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
        shape = (len(_SOURCES), _NDAYS)
        return cls(*(np.zeros(shape, np.int64) for _ in range(4)))

    def add_orders(self, orders: _Orders) -> None:
        day = orders.t // 86_400
        key = orders.source * _NDAYS + day
        size = len(_SOURCES) * _NDAYS
        self.orders += np.bincount(key, minlength=size).reshape(self.orders.shape)
        paid = orders.status == 0
        rev = np.bincount(key[paid], weights=orders.amount[paid], minlength=size)
        self.revenue += np.rint(rev).astype(np.int64).reshape(self.revenue.shape)

    def add_events(self, c: np.ndarray, t: np.ndarray, kind: np.ndarray, ref: np.ndarray, n_cust: int) -> None:
        size = len(_SOURCES) * _NDAYS
        key = ref * _NDAYS + t // 86_400
        visits = np.unique(key * n_cust + c) // n_cust
        self.uv += np.bincount(visits, minlength=size).reshape(self.uv.shape)
        self.clicks += np.bincount(key[kind == CLICK], minlength=size).reshape(self.clicks.shape)


def _make_events(
    seed: int, block: int, cust: _Customers, orders: _Orders, per_customer: float, order_share: float,
    stats: _ChannelStats,
) -> list[pa.Buffer | bytes]:
    """Generate the behaviour events of one block of customers, in groups; return the CSV lines."""
    out: list[pa.Buffer | bytes] = []
    if per_customer <= 0:
        return out
    group = max(1, min(cust.n, int(_EVENTS_PER_GROUP // per_customer)))
    select = _rng(seed, block, 4).random(len(orders.t)) < order_share
    for g, lo in enumerate(range(0, cust.n, group)):
        hi = min(cust.n, lo + group)
        out.append(_events_group(_rng(seed, block, 5, g), _rng(seed, block, 6, g), cust, orders, lo, hi,
                                 per_customer, select, stats))
    return out


def _events_group(
    rng: np.random.Generator, picks_rng: np.random.Generator, cust: _Customers, orders: _Orders, lo: int,
    hi: int, per_customer: float, select: np.ndarray, stats: _ChannelStats,
) -> pa.Buffer | bytes:
    nc = hi - lo
    n_orders = cust.n_orders
    assert n_orders is not None
    raw = np.power(1.5 + n_orders[lo:hi], 0.85) * rng.lognormal(0.0, 0.5, nc)
    wanted = rng.poisson(raw * (per_customer * nc / raw.sum()))

    # events around the orders the log caught: product view, add to cart, order, payment
    mine = np.flatnonzero(select & (orders.cust >= lo) & (orders.cust < hi))
    oc, ot = orders.cust[mine] - lo, orders.t[mine]
    m = len(mine)
    has_cart, has_pay = rng.random(m) < 0.7, rng.random(m) < 0.97
    parts = [
        (np.ones(m, bool), PV, DETAIL, -rng.integers(60, 1500, m)),
        (has_cart, CART, DETAIL, -rng.integers(15, 60, m)),
        (np.ones(m, bool), ORDER, CONFIRM, np.zeros(m, np.int64)),
        (has_pay, PAY, PAY_PAGE, rng.integers(10, 400, m)),
    ]
    l_c = np.concatenate([oc[keep] for keep, *_ in parts])
    l_t = np.concatenate([(ot + shift)[keep] for keep, _, _, shift in parts])
    l_kind = np.concatenate([np.full(int(keep.sum()), kind) for keep, kind, _, _ in parts])
    l_page = np.concatenate([np.full(int(keep.sum()), page) for keep, _, page, _ in parts])
    l_prod = np.concatenate([orders.product[mine][keep] for keep, *_ in parts])
    l_ref = np.concatenate([orders.source[mine][keep] for keep, *_ in parts])
    l_chan = np.concatenate([orders.terminal[mine][keep] for keep, *_ in parts])

    # browsing sessions for the rest of each customer's events
    browse = np.maximum(wanted - np.bincount(l_c, minlength=nc), 0)
    sessions = np.where(browse > 0, np.maximum(1, np.rint(browse / 7.5)), 0).astype(np.int64)
    s_c = np.repeat(np.arange(nc), sessions)
    ns = len(s_c)
    gc = s_c + lo
    s_day = _days_in(rng.random(ns), cust.event_lo[gc], cust.event_hi[gc], _DAY_CUM)
    s_t = s_day * 86_400 + _time_of_day(rng, ns)
    s_ref = np.where(rng.random(ns) < 0.5, cust.pref_source[gc], _choice(_cumulative(_SOURCE_W)[0], rng.random(ns)))
    s_chan = np.where(rng.random(ns) < 0.75, cust.pref_terminal[gc],
                      _choice(_cumulative(_TERMINAL_W)[0], rng.random(ns)))

    nb = int(browse.sum())
    b_c = np.repeat(np.arange(nc), browse)
    s_first = np.cumsum(sessions) - sessions
    b_s = s_first[b_c] + (rng.random(nb) * sessions[b_c]).astype(np.int64)
    b_s.sort()
    per_session = np.bincount(b_s, minlength=ns)
    step = np.arange(nb) - (np.cumsum(per_session) - per_session)[b_s]
    b_c = s_c[b_s]
    b_t = s_t[b_s] + step * 35 + rng.integers(0, 40, nb)
    first = step == 0
    b_kind = np.where(first, np.where(rng.random(nb) < 0.85, PV, SEARCH),
                      _choice(_cumulative(_BROWSE_W)[0], rng.random(nb)))
    page_row = np.select([b_kind == PV, b_kind == CLICK, b_kind == SEARCH, b_kind == FAV],
                         [np.where(first, 0, 1), 2, 3, 4], 5)
    b_page = _choice_rows(_PAGE_CUM, page_row, rng.random(nb))
    needs_product = (b_page == DETAIL) | np.isin(b_kind, (CLICK, FAV, CART))
    b_prod = np.full(nb, -1, np.int64)
    wanted_rows = np.flatnonzero(needs_product)
    b_prod[wanted_rows] = _products_for(rng, cust, b_c[wanted_rows] + lo, np.zeros(len(wanted_rows), bool))

    c = np.concatenate([l_c, b_c])
    t = np.concatenate([l_t, b_t])
    kind = np.concatenate([l_kind, b_kind])
    page = np.concatenate([l_page, b_page])
    prod = np.concatenate([l_prod, b_prod])
    ref = np.concatenate([l_ref, s_ref[b_s]])
    chan = np.concatenate([l_chan, s_chan[b_s]])
    t = np.minimum(np.maximum(t, cust.reg_t[c + lo]), _SPAN_S - 1)
    n = len(t)
    long_read = rng.lognormal(3.4, 0.9, n)
    short_read = rng.lognormal(2.5, 0.8, n)
    duration = np.where(kind == PV, np.where(page == DETAIL, long_read, short_read), rng.integers(1, 15, n))
    duration = np.minimum(np.rint(duration), 1_800).astype(np.int64)

    order = np.argsort(t, kind="stable")
    c, t, kind, page, prod, ref, chan, duration = (a[order] for a in (c, t, kind, page, prod, ref, chan, duration))
    stats.add_events(c, t, kind, ref, nc)

    kinds = DIRTY_KINDS["events"]
    picks = dict(zip(kinds, _pick(picks_rng, n, [_dirty_count(n)] * len(kinds)), strict=True))
    rows = np.sort(np.concatenate([np.arange(n), picks["duplicate_row"]]))
    dup_sorted = np.sort(picks["duplicate_row"])
    product_ids = _take(_vocab(_CATALOG.ids), np.maximum(prod[rows], 0))
    product_ids = pc.if_else(pa.array(prod[rows] < 0), pa.scalar(None, pa.string()), product_ids)
    columns = [
        _take(cust.user_ids, c[rows] + lo),
        _take(_vocab(_BEHAVIORS), kind[rows]),
        _timestamps(t[rows]),
        product_ids,
        _take(_vocab(_PAGES), page[rows]),
        _take(_vocab(_SOURCES), ref[rows]),
        _ints(duration[rows]),
        _take(_vocab(_TERMINALS), chan[rows]),
    ]
    neg = picks["duration_negative"]
    patches = _Patches()
    patches.add(6, neg + np.searchsorted(dup_sorted, neg, side="left"),
                [f"-{v}" for v in np.maximum(duration[neg], 1).tolist()])
    return _csv_rows(patches.apply(columns))


# ---------------------------------------------------------------------------------------------------
# interactions


def _make_interactions(seed: int, block: int, cust: _Customers, orders: _Orders) -> pa.Buffer | bytes:
    """Generate the customer-service records of one block and their CSV lines."""
    rng = _rng(seed, block, 7)
    n_orders = cust.n_orders
    assert n_orders is not None
    persona = cust.persona
    complainer = persona == COMPLAINER
    lam = np.where(complainer, 3.0 + 0.4 * n_orders, np.where(n_orders > 0, 0.12 + 0.02 * n_orders, 0.06))
    counts = rng.poisson(lam)
    c = np.repeat(np.arange(cust.n), counts)
    n = len(c)
    # after one of the customer's orders, or (no orders) while they browse
    pick = orders.first[c] + (rng.random(n) * n_orders[c]).astype(np.int64)
    after_order = n_orders[c] > 0
    base = np.zeros(n, np.int64)
    base[after_order] = orders.t[orders.by_customer[pick[after_order]]]
    delay = rng.integers(2 * 3600, 12 * 86_400, n)
    browse_day = _days_in(rng.random(n), cust.event_lo[c], cust.event_hi[c], _DAY_CUM)
    t = np.where(after_order, base + delay, browse_day * 86_400 + _time_of_day(rng, n))
    t = np.minimum(np.maximum(t, cust.reg_t[c]), _SPAN_S - 1)

    is_complainer = complainer[c].astype(np.int64)
    type_cum = _cumulative(np.array([[0.70, 0.15, 0.15], [0.25, 0.65, 0.10]]))
    kind = _choice_rows(type_cum, is_complainer, rng.random(n))
    topic = _choice_rows(_TOPIC_CUM, kind, rng.random(n))
    satisfaction = 1 + _choice_rows(_SATISFACTION_CUM, kind * 2 + is_complainer, rng.random(n))
    channel = _choice(_cumulative(_SERVICE_CHANNEL_W)[0], rng.random(n))
    minutes = _TYPE_MINUTES[kind] * _SERVICE_CHANNEL_MINUTES[channel] * rng.lognormal(0.0, 0.6, n)
    tenths = np.maximum(np.rint(minutes * 10), 5).astype(np.int64)

    order = np.argsort(t, kind="stable")
    c, t, kind, topic, satisfaction, channel, tenths = (
        a[order] for a in (c, t, kind, topic, satisfaction, channel, tenths)
    )
    columns = [
        _take(cust.user_ids, c),
        _timestamps(t),
        _take(_vocab(_SERVICE_CHANNELS), channel),
        _take(_vocab(_INTERACTION_TYPES), kind),
        _take(_vocab(_TOPICS), topic),
        _ints(satisfaction),
        _fixed_point(tenths, 1),
    ]
    (bad,) = _pick(_rng(seed, block, 8), n, [_dirty_count(n)])
    patches = _Patches()
    patches.add(5, bad, _cycle(_BAD_SATISFACTION, len(bad)))
    return _csv_rows(patches.apply(columns))


# ---------------------------------------------------------------------------------------------------
# channels and products


def _channels_csv(seed: int, stats: _ChannelStats) -> bytes:
    """One row per channel per day: visitors and clicks from the events, orders and revenue from orders."""
    rng = _rng(seed, 1_000_000, 0)
    campaigns = [_campaign(d) for d in range(_NDAYS)]
    in_campaign = np.array([bool(x) for x in campaigns])
    noise = rng.uniform(0.85, 1.15, stats.clicks.shape)
    cpc = _SOURCE_CPC[:, None] * np.where(in_campaign, 1.3, 1.0)[None, :]
    cost = np.rint(stats.clicks * cpc * noise * 100).astype(np.int64)
    ch = np.repeat(np.arange(len(_SOURCES))[None, :], _NDAYS, axis=0).ravel()  # date-major order
    day = np.repeat(np.arange(_NDAYS), len(_SOURCES))
    columns = [
        _take(_vocab(_SOURCES), ch),
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
    columns = [
        _vocab(_CATALOG.ids),
        _vocab(_CATALOG.names),
        _vocab(_CATALOG.categories),
        _vocab(_CATALOG.brands),
        _fixed_point(_CATALOG.price_cents, 2),
    ]
    return bytes(_csv_rows(columns))


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
    """Write a synthetic shop's six CSV tables into ``out_dir`` and return ``{table: path}``."""
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
    # a pay or order event for about 2.5 % of the events, drawn from the orders
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
        next_order = 1
        for b in range(blocks):
            n = min(BLOCK, customers - b * BLOCK)
            cust, text = _make_customers(seed, b, n, orders_per_customer)
            files["customers"].write(text)
            orders, text = _make_orders(seed, b, cust, next_order)
            files["orders"].write(text)
            next_order += len(orders.t)
            stats.add_orders(orders)
            for text in _make_events(seed, b, cust, orders, events_per_customer, order_share, stats):
                files["events"].write(text)
            files["interactions"].write(_make_interactions(seed, b, cust, orders))
            if progress and ((b + 1) % blocks_per_chunk == 0 or b + 1 == blocks):
                progress("customers", min((b + 1) * BLOCK, customers), customers)
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
