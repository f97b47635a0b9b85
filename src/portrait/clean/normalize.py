"""Value normalisation: one name for each gender, behaviour type, channel, status and category."""

from __future__ import annotations

from portrait.clean.parse import q, sql_str

# field → {lower-case variant: standard value}; variants not listed are kept as written
VALUE_MAPS: dict[str, dict[str, str]] = {
    "gender": {
        "男": "男",
        "男性": "男",
        "m": "男",
        "male": "男",
        "先生": "男",
        "1": "男",
        "女": "女",
        "女性": "女",
        "f": "女",
        "female": "女",
        "女士": "女",
        "2": "女",
    },
    "behavior_type": {
        "pv": "pv",
        "浏览": "pv",
        "view": "pv",
        "browse": "pv",
        "访问": "pv",
        "click": "click",
        "点击": "click",
        "search": "search",
        "搜索": "search",
        "fav": "fav",
        "收藏": "fav",
        "favorite": "fav",
        "favourite": "fav",
        "collect": "fav",
        "cart": "cart",
        "加购": "cart",
        "加入购物车": "cart",
        "add_to_cart": "cart",
        "addcart": "cart",
        "order": "order",
        "下单": "order",
        "buy": "order",
        "pay": "pay",
        "支付": "pay",
        "付款": "pay",
        "payment": "pay",
        "comment": "comment",
        "评论": "comment",
        "评价": "comment",
        "like": "like",
        "点赞": "like",
    },
    "interaction_channel": {
        "phone": "phone",
        "电话": "phone",
        "热线": "phone",
        "call": "phone",
        "online": "online",
        "在线": "online",
        "在线客服": "online",
        "chat": "online",
        "微信": "online",
        "im": "online",
        "email": "email",
        "邮件": "email",
        "邮箱": "email",
        "e-mail": "email",
        "mail": "email",
    },
    "interaction_type": {
        "consult": "consult",
        "咨询": "consult",
        "inquiry": "consult",
        "complaint": "complaint",
        "投诉": "complaint",
        "suggestion": "suggestion",
        "建议": "suggestion",
    },
    "status": {
        "paid": "paid",
        "已支付": "paid",
        "已付款": "paid",
        "完成": "paid",
        "已完成": "paid",
        "交易成功": "paid",
        "refunded": "refunded",
        "退款": "refunded",
        "已退款": "refunded",
        "returned": "returned",
        "退货": "returned",
        "已退货": "returned",
    },
    "campaign_arm": {
        "treatment": "treatment",
        "test": "treatment",
        "实验组": "treatment",
        "处理组": "treatment",
        "干预组": "treatment",
        "目标组": "treatment",
        "control": "control",
        "holdout": "control",
        "对照组": "control",
        "控制组": "control",
        "空白组": "control",
    },
}
# value maps whose unknown values are not allowed (the row is quarantined)
CLOSED_MAPS = {"behavior_type", "campaign_arm"}


def value_map_for(table: str, field: str) -> str | None:
    """Name of the value map that standardises ``table.field``, if any."""
    if field == "gender" or field == "behavior_type" or field == "status":
        return field
    if table == "interactions" and field in ("channel", "type"):
        return f"interaction_{field}"
    if table == "campaigns" and field == "arm":
        return "campaign_arm"
    return None


def map_expr(map_name: str, v: str) -> str:
    """SQL mapping a value through a value map (unlisted values kept, or NULL for gender)."""
    mapping = VALUE_MAPS[map_name]
    whens = " ".join(f"WHEN {sql_str(k)} THEN {sql_str(val)}" for k, val in mapping.items())
    otherwise = "NULL" if map_name in CLOSED_MAPS or map_name == "gender" else v
    return f"(CASE lower({v}) {whens} ELSE {otherwise} END)"


def synonym_expr(synonyms: dict[str, str], v: str) -> str:
    """SQL giving each category its one standard name."""
    if not synonyms:
        return v
    whens = " ".join(f"WHEN {sql_str(k)} THEN {sql_str(val)}" for k, val in synonyms.items())
    return f"(CASE {v} {whens} ELSE {v} END)"


__all__ = ["VALUE_MAPS", "CLOSED_MAPS", "value_map_for", "map_expr", "synonym_expr", "q"]
