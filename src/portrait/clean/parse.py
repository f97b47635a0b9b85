"""Parsing and validation rules as engine expressions (DuckDB SQL), one set per field kind.

Each field's raw text becomes a typed value, a list of reason codes (``field:rule``) that send the
row to quarantine, and a flag saying whether cleaning rewrote its form (counted as "fixed").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from portrait.config import CleaningConfig
from portrait.schema import BOOL, DATE, INT, MONEY, NUMBER, TEXT, TIMESTAMP, Field

NULL_TOKENS = ("", "null", "none", "nan", "na", "n/a", "#n/a", "-", "--", "—", "无", "空", "未填写", "\\n")
TRUE_WORDS = ("1", "true", "t", "yes", "y", "是", "有", "用券", "已用", "使用")
FALSE_WORDS = ("0", "false", "f", "no", "n", "否", "无券", "未用", "未使用", "不使用")
TIMESTAMP_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y.%m.%d %H:%M:%S",
    "%Y.%m.%d",
    "%Y%m%d%H%M%S",
    "%Y%m%d",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日%H:%M",
    "%Y年%m月%d日",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S.%f",
)
DATE_SHAPE = r"^\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}.*$|^\d{8}$"
NUMBER_NOISE = r"[,，\s¥￥$元件个次岁人]|RMB|CNY"

# human words for reason codes, shown in reports
RULE_TEXT = {
    "missing": "required value missing",
    "unparseable_number": "not a number",
    "not_whole_number": "not a whole number",
    "unparseable_date": "not a date",
    "impossible_date": "impossible date",
    "unparseable_bool": "not yes/no",
    "negative": "negative value",
    "out_of_range": "outside the allowed range",
    "unknown_value": "unknown value",
    "duplicate_key": "same key as another row with different values",
}


def q(name: str) -> str:
    """Quote an identifier."""
    return '"' + name.replace('"', '""') + '"'


def sql_str(text: str) -> str:
    """Quote a string literal."""
    return "'" + text.replace("'", "''") + "'"


def sql_list(values: tuple[str, ...] | list[str]) -> str:
    """A parenthesised list of string literals."""
    return "(" + ", ".join(sql_str(v) for v in values) + ")"


def _token_starts() -> str:
    """Code points a null-like token (or the whitespace around one) can start with."""
    starts = {c for t in NULL_TOKENS if t for c in (t[0], t[0].upper())} | set(" \t\n\v\f\r")
    return ", ".join(str(ord(c)) for c in sorted(starts))


def nulled(column: str) -> str:
    """Trimmed text, or NULL for blanks and null-like tokens.

    (Measured on DuckDB: only text that is empty, starts like a token or a space, or ends with a
    space can change, and ids, numbers, dates and words rarely do; testing the first code point and
    the last character sends the rest through unchanged, cheaper than testing the length and both
    ends of every value. Behind that gate, a regular expression behind a length gate costs about what
    ``trim`` does; ``IN (…)`` over the tokens and ``list_contains`` turn into a join per column and
    cost several times more. The code-point ``IN`` standing alone in a condition becomes a join too,
    and a join loses the rows' file order; inside an ``OR`` it stays a comparison. ``trim`` copies
    every string, so it runs only where a space is at either end.)
    """
    col = q(column)
    tokens = "|".join(re.escape(t) for t in NULL_TOKENS if t)
    return (
        f"CASE WHEN strlen({col}) = 0 OR ord({col}) IN ({_token_starts()}) OR ends_with({col}, ' ') THEN ("
        f"CASE WHEN strlen({col}) <= 12 AND regexp_full_match(lower({col}), '\\s*({tokens})?\\s*') THEN NULL "
        f"WHEN starts_with({col}, ' ') OR ends_with({col}, ' ') THEN trim({col}) ELSE {col} END) ELSE {col} END"
    )


@dataclass
class FieldRule:
    """The SQL pieces for one field, computed in layers (each reads the columns of the ones before).

    ``early`` (optional) reads the field's text as the file has it and is kept as column ``z_<field>``:
    where ``early_ok`` (over ``z_<field>``) holds, the text is taken as it is and the null-token test
    (:func:`nulled`) is skipped. ``first`` (optional) is a plain cast kept as ``d_<field>``; ``pre`` a
    pre-parsed value kept as ``u_<field>`` (checked into ``t_<field>``). The typed ``value``, the
    ``reasons`` to quarantine and ``fixed`` (was rewritten) read them.
    """

    value: str
    reasons: list[tuple[str, str]]  # (condition, code)
    fixed: str | None = None
    pre: str | None = None
    first: str | None = None
    early: str | None = None
    early_ok: str | None = None


def _number(v: str, plain: str) -> str:
    # the regular expression runs only on values that are not plain numbers already (``plain``: their cast)
    return f"COALESCE({plain}, TRY_CAST(regexp_replace({v}, '{NUMBER_NOISE}', '', 'g') AS DOUBLE))"


def field_rule(field: Field, raw: str, cfg: CleaningConfig) -> FieldRule:
    """Return the parse/validate SQL of ``field`` whose nulled raw text is column ``raw``.

    ``early`` reads only the file's text (column ``<field>``); ``first`` reads ``raw`` and ``z_<field>``;
    ``pre`` reads those and ``d_<field>``; ``value``, ``reasons`` and ``fixed`` read ``raw``,
    ``d_<field>`` and ``t_<field>``.
    """
    v = q(raw)
    name = field.name
    t = q("t_" + name)
    z = q("z_" + name)
    reasons: list[tuple[str, str]] = []
    if field.required:
        reasons.append((f"{v} IS NULL", f"{name}:missing"))
    if field.kind == TEXT:
        return FieldRule(v, reasons)
    if field.kind in (INT, NUMBER, MONEY):
        # the plain cast is made once: the parse falls back on it, and "rewritten" is where it failed
        plain = q("d_" + name)
        # most values are plain numbers: cast as written (the cast allows spaces around them), and only
        # the others are tested for null tokens and cast again (NaN and ±inf are text to look at: 'nan')
        early, early_ok = f"TRY_CAST({q(name)} AS DOUBLE)", f"isfinite({z})"
        first = f"CASE WHEN {early_ok} THEN {z} ELSE TRY_CAST({v} AS DOUBLE) END"
        pre = _number(v, plain)
        reasons.append((f"{v} IS NOT NULL AND {t} IS NULL", f"{name}:unparseable_number"))
        if field.kind == INT:
            reasons.append((f"{t} IS NOT NULL AND {t} <> floor({t})", f"{name}:not_whole_number"))
            value = f"CASE WHEN {t} = floor({t}) AND abs({t}) < 9e15 THEN CAST({t} AS BIGINT) END"
        elif field.kind == MONEY:
            value = f"TRY_CAST({t} AS DECIMAL(18,2))"
        else:
            value = t
        low, high = field.minimum, field.maximum
        if name == "age":
            low, high = cfg.age_min, cfg.age_max
        if low is not None:
            code = "negative" if low == 0 else "out_of_range"
            reasons.append((f"{t} < {low}", f"{name}:{code}"))
        if high is not None:
            reasons.append((f"{t} > {high}", f"{name}:out_of_range"))
        fixed = f"{t} IS NOT NULL AND {plain} IS NULL"
        return FieldRule(value, reasons, fixed, pre, first, early, early_ok)
    if field.kind in (TIMESTAMP, DATE):
        pre = timestamp_expr(v)
        shaped = f"regexp_matches({v}, '{DATE_SHAPE}')"
        # the shape test runs only where parsing failed (a CASE evaluates its branch on those rows alone;
        # inside AND it ran on every row: 1.1 s of 10 M rows)
        failed = f"{t} IS NULL AND {v} IS NOT NULL"
        reasons.append((f"CASE WHEN {failed} THEN {shaped} ELSE false END", f"{name}:impossible_date"))
        reasons.append((f"CASE WHEN {failed} THEN NOT {shaped} ELSE false END", f"{name}:unparseable_date"))
        if field.kind == DATE:
            value = f"CAST({t} AS DATE)"
            fixed = f"{t} IS NOT NULL AND {v} <> CAST(CAST({t} AS DATE) AS VARCHAR)"
        else:
            value = t
            # written as the canonical text already (a cast renders it; cheaper than strftime) = not rewritten
            fixed = f"{t} IS NOT NULL AND {v} <> CAST({t} AS VARCHAR) AND {v} <> CAST(CAST({t} AS DATE) AS VARCHAR)"
        return FieldRule(value, reasons, fixed, pre)
    if field.kind == BOOL:
        whens = (
            " ".join(f"WHEN {sql_str(w)} THEN true" for w in TRUE_WORDS)
            + " "
            + " ".join(f"WHEN {sql_str(w)} THEN false" for w in FALSE_WORDS)
        )
        # the word as written is looked up first; only text that is no yes/no word is tested for null
        # tokens and looked up again. Parsed once (as ``pre``): the value and the reason both read it
        early = f"(CASE lower({q(name)}) {whens} END)"
        pre = f"COALESCE({z}, CASE lower({v}) {whens} END)"
        reasons.append((f"{v} IS NOT NULL AND {t} IS NULL", f"{name}:unparseable_bool"))
        return FieldRule(t, reasons, pre=pre, early=early, early_ok=f"{z} IS NOT NULL")
    raise AssertionError(f"unknown field kind {field.kind}")


def timestamp_expr(v: str) -> str:
    """Parse the many date/time forms users write, Excel serial days included."""
    formats = "[" + ", ".join(sql_str(f) for f in TIMESTAMP_FORMATS) + "]"
    serial = (
        f"CASE WHEN regexp_full_match({v}, '\\d{{5}}(\\.\\d+)?') THEN TIMESTAMP '1899-12-30' + "
        f"to_microseconds(CAST(round(CAST({v} AS DOUBLE) * 86400000000) AS BIGINT)) END"
    )
    return f"COALESCE(TRY_CAST({v} AS TIMESTAMP), try_strptime({v}, {formats}), {serial})"


def plausible_timestamp(u: str) -> str:
    """Keep a parsed timestamp only when its year lies in 1900–2100."""
    return f"CASE WHEN year({u}) BETWEEN 1900 AND 2100 THEN {u} END"


def reasons_expr(pairs: list[tuple[str, str]]) -> str:
    """A VARCHAR[] of the codes whose conditions hold (empty when the row is valid)."""
    if not pairs:
        return "CAST([] AS VARCHAR[])"
    items = ", ".join(f"CASE WHEN COALESCE({cond}, false) THEN {sql_str(code)} END" for cond, code in pairs)
    any_bad = " OR ".join(f"COALESCE({cond}, false)" for cond, _ in pairs)
    # the list is built only for the (few) rows that break a rule
    return f"CASE WHEN {any_bad} THEN list_filter([{items}], lambda x: x IS NOT NULL) ELSE CAST([] AS VARCHAR[]) END"


def reason_text(code: str) -> str:
    """``amount:negative`` → ``amount: negative value``."""
    field, _, rule = code.partition(":")
    return f"{field}: {RULE_TEXT.get(rule, rule)}"
