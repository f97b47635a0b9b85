"""The canonical tables: fields, their types, and the header aliases users' files carry.

Every reader maps a file's headers onto these fields; every later stage reads only these
names. A field's ``kind`` decides how its raw text is parsed and validated on import.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

# kinds of field: how the raw text is parsed
TEXT = "text"
INT = "int"
MONEY = "money"  # DECIMAL(18,2), must not be negative
NUMBER = "number"  # DOUBLE
TIMESTAMP = "timestamp"
DATE = "date"
BOOL = "bool"

SQL_TYPES = {
    TEXT: "VARCHAR",
    INT: "BIGINT",
    MONEY: "DECIMAL(18,2)",
    NUMBER: "DOUBLE",
    TIMESTAMP: "TIMESTAMP",
    DATE: "DATE",
    BOOL: "BOOLEAN",
}


@dataclass(frozen=True)
class Field:
    """One canonical column: its name, kind, and the headers that mean it."""

    name: str
    kind: str = TEXT
    aliases: tuple[str, ...] = ()
    required: bool = False
    personal: bool = False  # encrypted at rest, masked on output
    label_zh: str = ""
    minimum: float | None = None  # validation: values below are quarantined
    maximum: float | None = None
    # a text that is (nearly) unique per row, such as an order number: stored with ZSTD, not DuckDB's
    # dictionary + FSST, whose dictionary cannot help such a column and whose symbol tables cost a
    # 10 M-row import 1.5 CPU-s more (47 MB then, 60 MB now; scans take the same time)
    unique_text: bool = False


@dataclass(frozen=True)
class Table:
    """One canonical table: its fields and the natural key that makes re-imports idempotent."""

    name: str
    fields: tuple[Field, ...]
    natural_key: tuple[str, ...]
    label_zh: str = ""
    # fields derived during cleaning, stored beside the imported ones
    derived: tuple[tuple[str, str], ...] = field(default=())

    def field(self, name: str) -> Field:
        """Return the field called ``name``."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def field_names(self) -> list[str]:
        """Names of the imported fields, in order."""
        return [f.name for f in self.fields]


CUSTOMERS = Table(
    "customers",
    (
        Field(
            "user_id",
            TEXT,
            ("客户id", "客户编号", "客户号", "用户id", "会员id", "会员编号", "customer_id", "uid", "user", "顾客id"),
            required=True,
            label_zh="客户ID",
        ),
        Field(
            "user_name",
            TEXT,
            ("客户名称", "客户姓名", "姓名", "名字", "用户名", "会员名", "name", "customer_name", "username"),
            personal=True,
            label_zh="客户名称",
        ),
        Field("gender", TEXT, ("性别", "sex"), label_zh="性别"),
        Field("birth_date", DATE, ("出生日期", "生日", "birthday", "dob"), label_zh="出生日期"),
        Field("age", INT, ("年龄",), label_zh="年龄"),
        Field(
            "region",
            TEXT,
            ("常住地区", "地区", "所在地区", "所在地", "城市", "地域", "area", "location", "city"),
            label_zh="常住地区",
        ),
        Field("province", TEXT, ("省份", "省", "所在省份"), label_zh="省份"),
        Field("address", TEXT, ("地址", "联系地址", "住址", "收货地址", "addr"), personal=True, label_zh="地址"),
        Field("occupation", TEXT, ("客户职业", "职业", "job", "profession"), label_zh="职业"),
        Field(
            "phone",
            TEXT,
            ("手机", "手机号", "手机号码", "电话", "联系电话", "mobile", "tel", "telephone", "phone_number"),
            personal=True,
            label_zh="手机号",
        ),
        Field("email", TEXT, ("邮箱", "电子邮箱", "电子邮件", "mail", "e_mail"), personal=True, label_zh="邮箱"),
        Field(
            "id_number",
            TEXT,
            ("身份证号", "身份证", "身份证号码", "证件号", "id_card", "idcard"),
            personal=True,
            label_zh="身份证号",
        ),
        Field(
            "register_date",
            TIMESTAMP,
            ("注册时间", "注册日期", "开户日期", "入会时间", "register_time", "signup_date", "registration_date"),
            label_zh="注册时间",
        ),
        Field("source_channel", TEXT, ("注册渠道", "来源渠道", "客户来源", "渠道来源", "channel"), label_zh="来源渠道"),
        Field("member_level", TEXT, ("会员等级", "会员级别", "等级", "level", "vip_level"), label_zh="会员等级"),
        Field(
            "marital_status",
            TEXT,
            ("婚姻状况", "婚否", "家庭状况", "marital", "family_status"),
            label_zh="婚姻/家庭状况",
        ),
    ),
    natural_key=("user_id",),
    label_zh="客户",
    derived=(("city", "VARCHAR"), ("city_tier", "VARCHAR")),
)

ORDERS = Table(
    "orders",
    (
        Field(
            "order_id",
            TEXT,
            ("订单号", "订单编号", "订单id", "order_no", "order_number"),
            label_zh="订单号",
            unique_text=True,
        ),
        Field("user_id", TEXT, CUSTOMERS.field("user_id").aliases, required=True, label_zh="客户ID"),
        Field(
            "order_time",
            TIMESTAMP,
            ("下单时间", "订单时间", "下单日期", "订单日期", "购买时间", "成交时间", "order_date", "time", "date"),
            required=True,
            label_zh="下单时间",
        ),
        Field(
            "amount",
            MONEY,
            ("订单金额", "金额", "实付金额", "支付金额", "消费金额", "成交金额", "total", "order_amount", "payment"),
            minimum=0,
            label_zh="订单金额",
        ),
        Field(
            "quantity", INT, ("订单数量", "数量", "购买数量", "件数", "qty", "count"), minimum=0, label_zh="订单数量"
        ),
        Field("product_id", TEXT, ("产品id", "商品id", "产品编号", "商品编号", "sku", "item_id"), label_zh="产品ID"),
        Field(
            "product_name", TEXT, ("产品名称", "商品名称", "产品", "商品", "item_name", "product"), label_zh="产品名称"
        ),
        Field("category", TEXT, ("品类", "类目", "产品类别", "商品类别", "商品品类", "category_name"), label_zh="品类"),
        Field("brand", TEXT, ("品牌",), label_zh="品牌"),
        Field("unit_price", MONEY, ("产品价格", "单价", "商品价格", "价格", "price"), minimum=0, label_zh="单价"),
        Field("coupon_used", BOOL, ("是否用券", "使用优惠券", "用券", "优惠券", "coupon"), label_zh="是否用券"),
        Field("discount", MONEY, ("优惠金额", "折扣金额", "折扣", "discount_amount"), minimum=0, label_zh="优惠金额"),
        Field("status", TEXT, ("订单状态", "状态", "order_status"), label_zh="订单状态"),
        Field("terminal", TEXT, ("终端", "下单终端", "设备", "购买终端", "platform", "device"), label_zh="终端"),
        Field("source", TEXT, ("访客来源", "流量来源", "来源", "traffic_source", "referrer"), label_zh="访客来源"),
        Field(
            "ship_region",
            TEXT,
            ("收货地区", "配送地区", "收货城市", "ship_city", "shipping_region"),
            label_zh="收货地区",
        ),
    ),
    natural_key=("order_id", "product_id"),  # one row per order line
    label_zh="订单",
    derived=(("ship_province", "VARCHAR"), ("ship_city", "VARCHAR")),
)

EVENTS = Table(
    "events",
    (
        Field("user_id", TEXT, CUSTOMERS.field("user_id").aliases, required=True, label_zh="客户ID"),
        Field(
            "behavior_type",
            TEXT,
            ("行为类型", "行为", "事件类型", "event", "event_type", "action"),
            required=True,
            label_zh="行为类型",
        ),
        Field(
            "behavior_time",
            TIMESTAMP,
            ("行为时间", "时间", "事件时间", "event_time", "timestamp", "time"),
            required=True,
            label_zh="行为时间",
        ),
        Field("product_id", TEXT, ORDERS.field("product_id").aliases, label_zh="产品ID"),
        Field("page", TEXT, ("页面", "入口页面", "落地页", "entry_page", "url"), label_zh="页面"),
        Field("referrer", TEXT, ("来源", "访客来源", "来源页面", "source"), label_zh="来源"),
        Field(
            "duration_s",
            NUMBER,
            ("停留时长", "停留时间", "时长", "duration", "stay_seconds"),
            minimum=0,
            label_zh="停留秒数",
        ),
        Field("channel", TEXT, ("渠道", "终端"), label_zh="渠道"),
    ),
    natural_key=(
        "user_id",
        "behavior_type",
        "behavior_time",
        "product_id",
        "page",
        "referrer",
        "duration_s",
        "channel",
    ),
    label_zh="行为",
)

INTERACTIONS = Table(
    "interactions",
    (
        Field("user_id", TEXT, CUSTOMERS.field("user_id").aliases, required=True, label_zh="客户ID"),
        Field(
            "interaction_time",
            TIMESTAMP,
            ("服务时间", "咨询时间", "时间", "来电时间", "time", "service_time"),
            required=True,
            label_zh="服务时间",
        ),
        Field("channel", TEXT, ("服务渠道", "渠道", "联系方式", "service_channel"), label_zh="服务渠道"),
        Field("type", TEXT, ("类型", "服务类型", "工单类型", "interaction_type"), label_zh="类型"),
        Field("topic", TEXT, ("主题", "问题", "咨询内容", "subject"), label_zh="主题"),
        Field("satisfaction", INT, ("满意度", "评分", "score", "rating"), minimum=1, maximum=5, label_zh="满意度"),
        Field(
            "handle_minutes",
            NUMBER,
            ("处理时长", "处理分钟", "handle_time", "duration"),
            minimum=0,
            label_zh="处理时长(分钟)",
        ),
    ),
    natural_key=("user_id", "interaction_time", "channel", "type", "topic", "satisfaction", "handle_minutes"),
    label_zh="服务记录",
)

CHANNELS = Table(
    "channels",
    (
        Field("channel", TEXT, ("渠道", "渠道名称", "投放渠道", "channel_name"), required=True, label_zh="渠道"),
        Field("date", DATE, ("日期", "day", "stat_date"), required=True, label_zh="日期"),
        Field("campaign_id", TEXT, ("活动id", "活动编号", "活动", "campaign"), label_zh="活动ID"),
        Field("uv", INT, ("访客数", "独立访客", "访客"), minimum=0, label_zh="访客数"),
        Field("clicks", INT, ("点击量", "点击数", "点击"), minimum=0, label_zh="点击量"),
        Field("orders", INT, ("订单量", "订单数", "成交单数"), minimum=0, label_zh="订单数"),
        Field("revenue", MONEY, ("销售额", "成交额", "收入", "gmv"), minimum=0, label_zh="销售额"),
        Field("cost", MONEY, ("成本", "花费", "投放费用", "费用", "spend"), minimum=0, label_zh="成本"),
    ),
    natural_key=("channel", "date", "campaign_id"),
    label_zh="渠道",
)

PRODUCTS = Table(
    "products",
    (
        Field("product_id", TEXT, ORDERS.field("product_id").aliases, required=True, label_zh="产品ID"),
        Field("product_name", TEXT, ORDERS.field("product_name").aliases, label_zh="产品名称"),
        Field("category", TEXT, ORDERS.field("category").aliases, label_zh="品类"),
        Field("brand", TEXT, ("品牌",), label_zh="品牌"),
        Field("price", MONEY, ("产品价格", "价格", "单价", "售价", "unit_price"), minimum=0, label_zh="价格"),
    ),
    natural_key=("product_id",),
    label_zh="产品",
)

CAMPAIGNS = Table(
    "campaigns",
    (
        Field("campaign_id", TEXT, ("活动id", "活动编号", "营销活动id", "campaign"), required=True, label_zh="活动ID"),
        Field("campaign_name", TEXT, ("活动名称", "营销活动", "活动"), label_zh="活动名称"),
        Field("user_id", TEXT, CUSTOMERS.field("user_id").aliases, required=True, label_zh="客户ID"),
        Field(
            "arm",
            TEXT,
            ("分组", "组别", "实验分组", "实验组别", "group", "test_group", "treatment"),
            required=True,
            label_zh="分组(实验组/对照组)",
        ),
        Field("start_date", DATE, ("开始日期", "活动开始", "开始时间", "start", "start_time"), label_zh="开始日期"),
        Field("end_date", DATE, ("结束日期", "活动结束", "结束时间", "end", "end_time"), label_zh="结束日期"),
        Field("cost", MONEY, ("成本", "触达成本", "费用", "花费", "spend"), minimum=0, label_zh="触达成本"),
    ),
    natural_key=("campaign_id", "user_id"),
    label_zh="营销活动名单",
)

TABLES: dict[str, Table] = {t.name: t for t in (CUSTOMERS, ORDERS, EVENTS, INTERACTIONS, CHANNELS, PRODUCTS, CAMPAIGNS)}

PERSONAL_FIELDS = tuple(f.name for f in CUSTOMERS.fields if f.personal)
# personal fields that get a keyed hash for exact look-up and identity merge
HASHED_FIELDS = ("phone", "email", "id_number")


def get_table(name: str) -> Table:
    """Return the canonical table called ``name`` or raise a ValueError naming the choices."""
    try:
        return TABLES[name]
    except KeyError:
        raise ValueError(f"unknown table '{name}': choose one of {', '.join(TABLES)}") from None


def header_key(text: str) -> str:
    """Fold a header for alias matching: NFKC, lower case, no spaces, dashes or underscores."""
    folded = unicodedata.normalize("NFKC", text).strip().lower().lstrip("\ufeff")
    return re.sub(r"[\s_\-./()（）:：]+", "", folded)


def alias_index(table: Table) -> dict[str, str]:
    """Map every folded header a user may write to the canonical field name of ``table``."""
    index: dict[str, str] = {}
    for f in table.fields:
        for name in (f.name, f.label_zh, *f.aliases):
            if name:
                index.setdefault(header_key(name), f.name)
    return index
