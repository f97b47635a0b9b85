"""Baseline for bench_import.py: the orders cleaning of `portrait import orders`, written in plain pandas.

    python benchmarks/pandas_import.py orders.csv cleaned.parquet [--json]

What a competent analyst writes: ``read_csv(dtype=str)``, vectorised string methods, ``pd.to_datetime``
with explicit formats tried in turn, ``to_numeric``, boolean masks, ``duplicated``. Not deliberately slow,
not heroically optimised. The rule constants (null tokens, date formats, number noise, value maps,
thresholds, category synonyms) are imported from portrait so both sides apply the same rules.

Steps, in portrait's order (docs/cleaning.md): null tokens + trim → parse order_time (the date forms
of portrait, Excel serial days, years 1900–2100), numbers with noise stripped, yes/no → validation
reasons → quarantine split → status map and category synonyms → exact duplicates dropped → one row
per (order_id, product_id), conflicts quarantined → missing amounts derived → key-field fill
(< 5 % missing: median / mode, else 未知) → IQR and 3σ outlier flags → the cleaned rows written to
Parquet (the "load"); quarantined rows with their reasons to ``<out>.quarantine.parquet``.

Known differences to portrait, none of which the demo data exercises: portrait's ``TRY_CAST`` also
reads ISO dates with one-digit months or a UTC offset; whitespace trimming and ``mode()`` tie-breaks
follow each engine's own rules; "fixed" dates are counted as rows not in the two ISO forms.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from portrait.clean.normalize import VALUE_MAPS
from portrait.clean.parse import DATE_SHAPE, FALSE_WORDS, NULL_TOKENS, NUMBER_NOISE, TIMESTAMP_FORMATS, TRUE_WORDS
from portrait.config import CleaningConfig

FIELDS = [
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
    "ship_region",
]
MONEY = ["amount", "unit_price", "discount"]
WHOLE = ["quantity"]
REQUIRED = ["user_id", "order_time"]
KEY = ["order_id", "product_id"]
OUTLIERS = ["amount", "quantity", "unit_price"]
CANONICAL_TIME_FORMATS = {"%Y-%m-%d %H:%M:%S", "%Y-%m-%d"}  # text in these forms is not "fixed"
TYPED_FAILS = ("unparseable_number", "not_whole_number", "unparseable_date", "unparseable_bool")


def parse_times(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Timestamps from the known forms, tried in turn on what is still unparsed; Excel serial days last."""
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
    canonical = pd.Series(False, index=s.index)
    todo = s.notna()
    for fmt in TIMESTAMP_FORMATS:
        if not todo.any():
            break
        got = pd.to_datetime(s[todo], format=fmt, errors="coerce")
        got = got[got.notna()]
        out[got.index] = got
        if fmt in CANONICAL_TIME_FORMATS:
            canonical[got.index] = True
        todo &= out.isna()
    serial = todo & s.str.fullmatch(r"\d{5}(\.\d+)?").fillna(False).astype(bool)
    if serial.any():
        days = pd.to_numeric(s[serial])
        out[serial] = pd.Timestamp("1899-12-30") + pd.to_timedelta((days * 86_400_000_000).round(), unit="us")
    out = out.where(out.dt.year.between(1900, 2100))
    return out, out.notna() & ~canonical


def clean(path: Path, out_path: Path) -> dict[str, object]:
    cfg = CleaningConfig()
    started = time.perf_counter()
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    df.columns = [c.strip() for c in df.columns]
    rows_in = len(df)
    present = [f for f in FIELDS if f in df.columns]
    for f in FIELDS:
        if f not in df.columns:
            df[f] = pd.Series(pd.NA, index=df.index, dtype="str")
    df = df[FIELDS]

    # 1. trim, null tokens
    tokens = [t for t in NULL_TOKENS]
    for c in FIELDS:
        s = df[c].str.strip()
        df[c] = s.mask(s.str.lower().isin(tokens))

    # 2. parse, validate
    reasons: dict[str, pd.Series] = {}
    fixes: dict[str, pd.Series] = {}  # rewritten values, counted on the valid rows
    typed = pd.DataFrame(index=df.index)
    for c in REQUIRED:
        reasons[f"{c}:missing"] = df[c].isna()

    typed["order_time"], time_fixed = parse_times(df["order_time"])
    fixes["order_time"] = time_fixed
    no_time = df["order_time"].notna() & typed["order_time"].isna()
    shaped = df["order_time"].where(no_time).str.contains(DATE_SHAPE, regex=True).fillna(False).astype(bool)
    reasons["order_time:impossible_date"] = no_time & shaped
    reasons["order_time:unparseable_date"] = no_time & ~shaped

    for c in MONEY + WHOLE:
        stripped = df[c].str.replace(NUMBER_NOISE, "", regex=True)
        x = pd.to_numeric(stripped, errors="coerce").astype("float64")
        reasons[f"{c}:unparseable_number"] = df[c].notna() & x.isna()
        if c in WHOLE:
            whole = x == np.floor(x)
            reasons[f"{c}:not_whole_number"] = x.notna() & ~whole
            typed[c] = x.where(whole & (x.abs() < 9e15)).astype("Int64")
        else:
            typed[c] = x.round(2)
        reasons[f"{c}:negative"] = x < 0
        fixes[c] = x.notna() & (stripped != df[c])

    low = df["coupon_used"].str.lower()
    coupon = pd.Series(pd.NA, index=df.index, dtype="boolean")
    coupon[low.isin(TRUE_WORDS).astype(bool)] = True
    coupon[low.isin(FALSE_WORDS).astype(bool)] = False
    typed["coupon_used"] = coupon
    reasons["coupon_used:unparseable_bool"] = df["coupon_used"].notna() & coupon.isna()
    reasons["amount:missing"] = df["amount"].isna() & (df["quantity"].isna() | df["unit_price"].isna())

    # an export without order ids gets a stable one from the line's contents (as portrait does)
    order_id = df["order_id"].copy()
    no_id = order_id.isna()
    if no_id.any():
        parts = df.loc[no_id, ["user_id", "order_time", "product_id", "product_name"]]
        text = parts[["user_id", "order_time"]].agg(lambda r: "|".join(v for v in r if isinstance(v, str)), axis=1)
        text = text + "|" + parts["product_id"].fillna("") + "|" + parts["product_name"].fillna("")
        order_id[no_id] = "AUTO-" + text.map(lambda t: hashlib.md5(t.encode()).hexdigest()[:16])
    typed["order_id"] = order_id
    fixes["order_id"] = no_id

    # standardise: status through its value map (unlisted values kept), categories through the synonyms
    status = df["status"].str.lower().map(VALUE_MAPS["status"])
    typed["status"] = status.where(status.notna(), df["status"])
    typed["category"] = df["category"].replace(cfg.category_synonyms)
    for c in ("status", "category"):
        fixes[c] = typed[c].notna() & (typed[c] != df[c])
    for c in ("user_id", "product_id", "product_name", "brand", "terminal", "source", "ship_region"):
        typed[c] = df[c]
    typed = typed[FIELDS]

    # a column where most values fail to parse is mis-mapped: refuse it
    for c in ("order_time", *MONEY, *WHOLE, "coupon_used"):
        bad = sum(
            int(m.sum()) for code, m in reasons.items() if code.split(":")[0] == c and code.split(":")[1] in TYPED_FAILS
        )
        if bad >= 3 and bad > cfg.mixed_type_share * df[c].notna().sum():
            raise SystemExit(f"{path.name}: column {c} mixes types — {bad} values do not parse")

    # 3. quarantine split
    flags = pd.DataFrame(reasons).fillna(False).astype(bool)
    bad_row = flags.any(axis=1)
    by_reason = {code: int(n) for code, n in flags.sum().items() if n}
    quarantine = df[bad_row].copy()
    why = np.full(len(quarantine), "", dtype=object)
    for code in flags.columns:
        why = why + np.where(flags.loc[bad_row, code].to_numpy(), code + ";", "")
    quarantine["_reasons"] = why
    quarantine["_row"] = quarantine.index + 2  # the line number a spreadsheet shows
    good = typed[~bad_row]
    fixed = {c: int(m[~bad_row].fillna(False).sum()) for c, m in fixes.items()}

    # 4. exact duplicates, then one row per natural key (later conflicting rows to quarantine)
    dup = good.duplicated(keep="first")
    duplicates = int(dup.sum())
    good = good[~dup]
    conflict = good.duplicated(subset=KEY, keep="first")
    conflicts = int(conflict.sum())
    if conflicts:
        extra = good[conflict].astype(str).assign(_reasons="order_id:duplicate_key;", _row=good.index[conflict] + 2)
        quarantine = pd.concat([quarantine, extra])
        by_reason["order_id:duplicate_key"] = conflicts
    good = good[~conflict].copy()

    # 5. derived: missing amounts from quantity × unit price − discount; ship regions looked up once per text
    need = good["amount"].isna()
    if need.any():
        derived = good["quantity"].astype("float64") * good["unit_price"] - good["discount"].fillna(0)
        good.loc[need, "amount"] = derived[need].clip(lower=0).round(2)
        fixed["amount"] = fixed.get("amount", 0) + int(need.sum())
    good["ship_province"] = pd.Series(pd.NA, index=good.index, dtype="str")
    good["ship_city"] = pd.Series(pd.NA, index=good.index, dtype="str")
    if good["ship_region"].notna().any():
        from portrait.clean.regions import normalize_regions

        found = normalize_regions(list(good["ship_region"].dropna().unique()))
        good["ship_province"] = good["ship_region"].map({k: v.province for k, v in found.items() if v})
        good["ship_city"] = good["ship_region"].map({k: v.city for k, v in found.items() if v})

    # 6. key fields: < 5 % missing → median / mode, else 未知 (text) or left empty (numbers)
    filled: dict[str, int] = {}
    marks = pd.Series("", index=good.index, dtype="str")
    total = len(good)
    for c in cfg.key_fields["orders"]:
        if c not in present:
            continue
        missing = good[c].isna()
        n = int(missing.sum())
        if n == 0:
            continue
        if n / total < cfg.missing_fill_below:
            if c in MONEY + WHOLE:
                value = good[c].median() if cfg.numeric_fill == "median" else good[c].mean()
                value = round(value) if c in WHOLE else value
            else:
                value = good[c].mode().iloc[0]
            good.loc[missing, c] = value
            marks[missing] = marks[missing] + c + ","
            filled[c] = n
        else:
            if c not in MONEY + WHOLE:
                good.loc[missing, c] = cfg.unknown_label
            marks[missing] = marks[missing] + c + ":unknown,"
            filled[c + ":unknown"] = n
    good["_filled"] = marks.str.rstrip(",")

    # 7. outliers: flagged, never dropped
    flagged: dict[str, int] = {}
    for c in OUTLIERS:
        x = good[c].astype("float64")
        q1, q3 = x.quantile([0.25, 0.75])
        iqr = q3 - q1
        mean, std = x.mean(), x.std(ddof=0)
        iqr_flag = ((x < q1 - cfg.outlier_iqr_k * iqr) | (x > q3 + cfg.outlier_iqr_k * iqr)).astype("boolean")
        sigma_flag = ((std > 0) & ((x < mean - cfg.outlier_sigma * std) | (x > mean + cfg.outlier_sigma * std))).astype(
            "boolean"
        )
        good[f"outlier_iqr_{c}"] = iqr_flag.mask(x.isna())
        good[f"outlier_3sigma_{c}"] = sigma_flag.mask(x.isna())
        flagged[f"outlier_iqr_{c}"] = int(good[f"outlier_iqr_{c}"].sum())
        flagged[f"outlier_3sigma_{c}"] = int(good[f"outlier_3sigma_{c}"].sum())

    # 8. load: the cleaned rows to Parquet, the quarantine beside them
    good["_row"] = good.index + 2
    good.to_parquet(out_path, index=False)
    quarantine.to_parquet(out_path.with_suffix(".quarantine.parquet"), index=False)
    return {
        "rows_read": rows_in,
        "accepted": len(good),
        "quarantined": len(quarantine),
        "quarantined_by_reason": dict(sorted(by_reason.items())),
        "duplicates_removed": duplicates,
        "fixed": {k: v for k, v in fixed.items() if v},
        "filled": filled,
        "flagged": flagged,
        "seconds": round(time.perf_counter() - started, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="orders CSV (UTF-8, comma-separated, header row)")
    parser.add_argument("out", type=Path, help="Parquet file for the cleaned rows")
    parser.add_argument("--json", action="store_true", help="print the counts as one JSON document")
    args = parser.parse_args(argv)
    report = clean(args.file, args.out)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(
            f"rows in {report['rows_read']:,}  accepted {report['accepted']:,}  quarantined {report['quarantined']:,}  "
            f"duplicates removed {report['duplicates_removed']:,}  ({report['seconds']} s)"
        )
        for key in ("quarantined_by_reason", "fixed", "filled", "flagged"):
            print(f"  {key}: {json.dumps(report[key], ensure_ascii=False)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
