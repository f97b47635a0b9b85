"""The cleaning pipeline of one import batch, set-based in the engine (DuckDB).

raw text → parse and validate (bad rows to quarantine with reasons) → standardise values →
drop exact duplicates → one record per key → regions → fill missing values → flag outliers →
encrypt personal fields. Every step counts what it did, for the import report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from portrait.clean import regions
from portrait.clean.normalize import CLOSED_MAPS, map_expr, synonym_expr, value_map_for
from portrait.clean.parse import field_rule, nulled, q, reasons_expr, sql_str
from portrait.config import PortraitConfig
from portrait.engine import run, scalar
from portrait.errors import InputError
from portrait.privacy import Vault
from portrait.schema import BOOL, DATE, HASHED_FIELDS, INT, MONEY, NUMBER, TEXT, TIMESTAMP, Table
from portrait.warehouse import OUTLIER_FIELDS, outlier_column, table_columns

TYPED_FAILS = ("unparseable_number", "not_whole_number", "unparseable_date", "unparseable_bool")
PERSONAL_BATCH = 100_000


@dataclass
class TableStats:
    """What cleaning and loading did to one table in one import."""

    rows_read: int = 0
    accepted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates_removed: int = 0
    merged_same_id: int = 0
    quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    fixed: dict[str, int] = field(default_factory=dict)
    filled: dict[str, int] = field(default_factory=dict)
    unknown: dict[str, int] = field(default_factory=dict)
    missing_decisions: dict[str, str] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form for the report."""
        return dict(self.__dict__)


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> int:
    return int(scalar(con, sql, params) or 0)


class BatchCleaner:
    """Cleans one staged batch of ``table`` inside the scratch engine ``con``."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        table: Table,
        raw: str,
        config: PortraitConfig,
        vault: Vault,
        present: set[str] | None = None,
    ):
        self.con = con
        self.present = present if present is not None else set(table.field_names)
        self.table = table
        self.raw = raw
        self.config = config
        self.cfg = config.cleaning
        self.vault = vault
        self.stats = TableStats()
        self.prefix = f"{raw}_"
        self.fields = [f for f in table.fields]

    # -- helpers -------------------------------------------------------------------------------------
    def _t(self, step: str) -> str:
        return self.prefix + step

    def _bump(self, bucket: dict[str, int], key: str, n: int) -> None:
        if n:
            bucket[key] = bucket.get(key, 0) + n

    # -- 1. parse and validate -----------------------------------------------------------------------
    def parse(self) -> None:
        """Type every field and collect the reasons that quarantine a row."""
        con, t = self.con, self.table
        nulls = ", ".join(f"{nulled(f.name)} AS {q('r_' + f.name)}" for f in self.fields)
        run(con, f"CREATE OR REPLACE TABLE {self._t('n')} AS SELECT _source, _fp, _seq, _row, {nulls} FROM {self.raw}")
        self.stats.rows_read = _count(con, f"SELECT count(*) FROM {self._t('n')}")
        values, fixes, pairs = [], [], []
        for f in self.fields:
            rule = field_rule(f, "r_" + f.name, self.cfg)
            value = rule.value
            map_name = value_map_for(t.name, f.name)
            if map_name:
                value = map_expr(map_name, rule.value)
                if map_name in CLOSED_MAPS:
                    pairs.append((f"{rule.value} IS NOT NULL AND {value} IS NULL", f"{f.name}:unknown_value"))
                fixes.append(f"COALESCE({value} IS DISTINCT FROM {rule.value} AND {value} IS NOT NULL, false) AS {q('fx_' + f.name)}")
            elif f.name == "category":
                value = synonym_expr(self.cfg.category_synonyms, rule.value)
                fixes.append(f"COALESCE({value} <> {rule.value}, false) AS {q('fx_' + f.name)}")
            elif rule.fixed:
                fixes.append(f"COALESCE({rule.fixed}, false) AS {q('fx_' + f.name)}")
            values.append(f"{value} AS {q(f.name)}")
            pairs.extend(rule.reasons)
        if t.name == "orders":
            pairs.append(("r_amount IS NULL AND (r_quantity IS NULL OR r_unit_price IS NULL)", "amount:missing"))
        run(con,
            f"CREATE OR REPLACE TABLE {self._t('p')} AS SELECT _source, _fp, _seq, _row, "
            f"{', '.join(q('r_' + f.name) for f in self.fields)}, {', '.join(values)}"
            f"{', ' if fixes else ''}{', '.join(fixes)}, {reasons_expr(pairs)} AS _reasons FROM {self._t('n')}"
        )
        self._check_mixed_types()

    def _check_mixed_types(self) -> None:
        """Refuse a column where most values are not of the field's type: it is mis-mapped or mixed."""
        typed = [f for f in self.fields if f.kind != TEXT]
        if not typed:
            return
        parts = []
        for f in typed:
            codes = ", ".join(sql_str(f"{f.name}:{c}") for c in TYPED_FAILS)
            parts.append(
                f"count({q('r_' + f.name)}) AS {q('n_' + f.name)}, "
                f"count(*) FILTER (WHERE list_has_any(_reasons, [{codes}])) AS {q('b_' + f.name)}, "
                f"arg_min({q('r_' + f.name)}, _seq) FILTER (WHERE list_has_any(_reasons, [{codes}])) AS {q('e_' + f.name)}"
            )
        rows = self.con.execute(f"SELECT _source, {', '.join(parts)} FROM {self._t('p')} GROUP BY _source").fetchall()
        for row in rows:
            source, rest = row[0], row[1:]
            for i, f in enumerate(typed):
                nonempty, bad, example = rest[3 * i], rest[3 * i + 1], rest[3 * i + 2]
                if bad >= 3 and bad > self.cfg.mixed_type_share * nonempty:
                    kind = {INT: "whole numbers", NUMBER: "numbers", MONEY: "amounts", TIMESTAMP: "dates",
                            DATE: "dates", BOOL: "yes/no values"}[f.kind]
                    raise InputError(
                        f"{source}: column for {f.name} mixes types — {bad} of {nonempty} values are not {kind} "
                        f"(e.g. '{str(example)[:30]}'); fix the column or map another column to {f.name} with --mapping"
                    )

    # -- 2. quarantine -------------------------------------------------------------------------------
    def split(self) -> str:
        """Move invalid rows to the batch quarantine; return the name of the valid-rows table."""
        con = self.con
        raw_cols = ", ".join(f"{sql_str(f.name)}, {q('r_' + f.name)}" for f in self.fields)
        run(con,
            f"CREATE OR REPLACE TABLE {self._t('q')} AS SELECT _source, _fp, _row, _reasons, "
            f"CAST(json_object({raw_cols}) AS VARCHAR) AS raw FROM {self._t('p')} WHERE len(_reasons) > 0"
        )
        self.stats.quarantined = _count(con, f"SELECT count(*) FROM {self._t('q')}")
        for reason, n in con.execute(
            f"SELECT r, count(*) FROM (SELECT unnest(_reasons) AS r FROM {self._t('q')}) GROUP BY r ORDER BY r"
        ).fetchall():
            self.stats.quarantined_by_reason[reason] = n
        for f in self.fields:
            if f"fx_{f.name}" in self._columns(self._t("p")):
                self._bump(
                    self.stats.fixed, f.name,
                    _count(con, f"SELECT count(*) FROM {self._t('p')} WHERE len(_reasons) = 0 AND {q('fx_' + f.name)}"),
                )
        return self._t("p")

    def _columns(self, name: str) -> set[str]:
        return {r[0] for r in self.con.execute(f"DESCRIBE {name}").fetchall()}

    # -- 3. duplicates and keys ----------------------------------------------------------------------
    def dedupe(self) -> None:
        """Drop exact duplicates; one record per natural key (customers: latest non-empty values win)."""
        con, t = self.con, self.table
        names = [f.name for f in self.fields]
        content = "md5(concat_ws('\x1f', " + ", ".join(f"COALESCE(CAST({q(n)} AS VARCHAR), '\x00')" for n in names) + "))"
        order_fix = ""
        if t.name == "orders":
            order_fix = (
                ", COALESCE(order_id, 'AUTO-' || substr(md5(concat_ws('|', user_id, CAST(order_time AS VARCHAR), "
                "COALESCE(product_id, ''), COALESCE(product_name, ''))), 1, 16)) AS order_id_filled"
            )
        run(con,
            f"CREATE OR REPLACE TABLE {self._t('v')} AS SELECT *, {content} AS _content{order_fix} "
            f"FROM {self._t('p')} WHERE len(_reasons) = 0"
        )
        if t.name == "orders":
            self._bump(self.stats.fixed, "order_id", _count(con, f"SELECT count(*) FROM {self._t('v')} WHERE order_id IS NULL"))
            run(con, f"UPDATE {self._t('v')} SET order_id = order_id_filled")
        before = _count(con, f"SELECT count(*) FROM {self._t('v')}")
        run(con,
            f"CREATE OR REPLACE TABLE {self._t('d')} AS SELECT * EXCLUDE (_rn) FROM ("
            f"SELECT *, row_number() OVER (PARTITION BY _content ORDER BY _seq) AS _rn FROM {self._t('v')}) WHERE _rn = 1"
        )
        after = _count(con, f"SELECT count(*) FROM {self._t('d')}")
        self.stats.duplicates_removed = before - after
        key = "md5(concat_ws('\x1f', " + ", ".join(
            f"COALESCE(CAST({q(k)} AS VARCHAR), '\x00')" for k in t.natural_key
        ) + "))"
        if t.name == "customers":
            aggs = ", ".join(
                f"arg_max({q(n)}, _seq) FILTER (WHERE {q(n)} IS NOT NULL) AS {q(n)}" for n in names if n != "user_id"
            )
            run(con,
                f"CREATE OR REPLACE TABLE {self._t('k')} AS SELECT user_id, {aggs}, any_value(_source) AS _source, "
                f"any_value(_fp) AS _fp, max(_seq) AS _seq, arg_max(_row, _seq) AS _row, {key} AS _key "
                f"FROM {self._t('d')} GROUP BY user_id"
            )
            self.stats.merged_same_id = after - _count(con, f"SELECT count(*) FROM {self._t('k')}")
        else:
            run(con,
                f"CREATE OR REPLACE TABLE {self._t('kk')} AS SELECT *, {key} AS _key, "
                f"row_number() OVER (PARTITION BY {key} ORDER BY _seq) AS _rn FROM {self._t('d')}"
            )
            raw_cols = ", ".join(f"{sql_str(n)}, {q('r_' + n)}" for n in names)
            run(con,
                f"INSERT INTO {self._t('q')} SELECT _source, _fp, _row, [{sql_str(t.natural_key[0] + ':duplicate_key')}], "
                f"CAST(json_object({raw_cols}) AS VARCHAR) FROM {self._t('kk')} WHERE _rn > 1"
            )
            conflicts = _count(con, f"SELECT count(*) FROM {self._t('kk')} WHERE _rn > 1")
            if conflicts:
                self.stats.quarantined += conflicts
                code = t.natural_key[0] + ":duplicate_key"
                self.stats.quarantined_by_reason[code] = self.stats.quarantined_by_reason.get(code, 0) + conflicts
            run(con,
                f"CREATE OR REPLACE TABLE {self._t('k')} AS SELECT * EXCLUDE (_rn) FROM {self._t('kk')} WHERE _rn = 1"
            )

    # -- 4. derived values ---------------------------------------------------------------------------
    def derive(self) -> None:
        """Derive amounts, regions and city tiers."""
        con, t, k = self.con, self.table, self._t("k")
        if t.name == "orders":
            n = _count(con, f"SELECT count(*) FROM {k} WHERE amount IS NULL")
            run(con,
                f"UPDATE {k} SET amount = CAST(greatest(quantity * unit_price - COALESCE(discount, 0), 0) AS DECIMAL(18,2)) "
                "WHERE amount IS NULL"
            )
            self._bump(self.stats.fixed, "amount", n)
            self._regions("ship_region", "ship_region", {"ship_province": "province", "ship_city": "city"})
        if t.name == "customers":
            text = (
                "CASE WHEN province IS NOT NULL AND region IS NOT NULL AND NOT starts_with(region, province) "
                "THEN province || region ELSE COALESCE(region, province, address) END"
            )
            inferred = _count(con, f"SELECT count(*) FROM {k} WHERE region IS NULL AND province IS NULL AND address IS NOT NULL")
            self._regions(text, "region", {"province": "province", "city": "city", "city_tier": "tier"})
            recognised = _count(
                con, f"SELECT count(*) FROM {k} WHERE region IS NULL AND address IS NOT NULL AND province IS NOT NULL"
            )
            self._bump(self.stats.filled, "province", min(inferred, recognised))

    def _regions(self, text_sql: str, source_field: str, targets: dict[str, str]) -> None:
        """Standardise a free-text region column into province / city / tier (lookup on distinct values)."""
        con, k = self.con, self._t("k")
        for col in ("_rt", *targets):
            run(con, f"ALTER TABLE {k} ADD COLUMN IF NOT EXISTS {q(col)} VARCHAR")
        run(con, f"UPDATE {k} SET _rt = {text_sql}")
        distinct = [r[0] for r in con.execute(f"SELECT DISTINCT _rt FROM {k} WHERE _rt IS NOT NULL").fetchall()]
        found = regions.normalize_regions(distinct)
        hits = [found.get(v) for v in distinct]
        lookup = pa.table(
            {
                "raw": pa.array(distinct, pa.string()),
                "province": pa.array([h.province if h else None for h in hits], pa.string()),
                "city": pa.array([h.city if h else None for h in hits], pa.string()),
                "tier": pa.array([h.tier if h else regions.TIER_UNKNOWN for h in hits], pa.string()),
            }
        )
        con.register("_region_lookup", lookup)
        try:
            rewritten = _count(
                con,
                f"SELECT count(*) FROM {k} x JOIN _region_lookup l ON l.raw = x._rt "
                f"WHERE l.province IS NOT NULL AND x._rt <> concat(l.province, "
                f"CASE WHEN l.city = l.province THEN '' ELSE COALESCE(l.city, '') END)",
            )
            sets = ", ".join(f"{q(col)} = l.{q(src)}" for col, src in targets.items())
            run(con, f"UPDATE {k} SET {sets} FROM _region_lookup l WHERE l.raw = {k}._rt")
            if "city_tier" in targets:
                run(con, f"UPDATE {k} SET city_tier = {sql_str(regions.TIER_UNKNOWN)} WHERE city_tier IS NULL")
            self._bump(self.stats.fixed, source_field, rewritten)
            first = next(iter(targets))
            self._bump(
                self.stats.unknown, first,
                _count(con, f"SELECT count(*) FROM {k} WHERE _rt IS NOT NULL AND {q(first)} IS NULL"),
            )
        finally:
            con.unregister("_region_lookup")

    # -- 5. missing values ---------------------------------------------------------------------------
    def fill_missing(self) -> None:
        """Fill key fields under the threshold (median/mean, mode); mark the rest unknown, with the reason."""
        con, k, cfg = self.con, self._t("k"), self.cfg
        run(con, f"ALTER TABLE {k} ADD COLUMN IF NOT EXISTS _filled VARCHAR[] DEFAULT []")
        run(con, f"UPDATE {k} SET _filled = []")
        total = _count(con, f"SELECT count(*) FROM {k}")
        if total == 0:
            return
        columns = self._columns(k)
        for name in cfg.key_fields.get(self.table.name, []):
            if name not in columns or name not in self.present:
                continue  # a field the files do not carry is not "missing" in them
            f = self.table.field(name)
            missing = _count(con, f"SELECT count(*) FROM {k} WHERE {q(name)} IS NULL")
            if missing == 0:
                continue
            share = missing / total
            pct = f"{share:.1%}"
            if share < cfg.missing_fill_below:
                if f.kind in (INT, NUMBER, MONEY):
                    how = cfg.numeric_fill
                    stat = "median" if how == "median" else "avg"
                    value_sql = f"(SELECT {stat}({q(name)}) FROM {k})"
                    if f.kind == INT:
                        value_sql = f"CAST(round({value_sql}) AS BIGINT)"
                else:
                    how = "mode"
                    value_sql = f"(SELECT mode({q(name)}) FROM {k})"
                value = scalar(con, f"SELECT {value_sql}")
                if value is None:
                    continue
                run(con,
                    f"UPDATE {k} SET {q(name)} = ?, _filled = list_append(_filled, {sql_str(name)}) WHERE {q(name)} IS NULL",
                    [value],
                )
                self._bump(self.stats.filled, name, missing)
                self.stats.missing_decisions[name] = (
                    f"{missing} missing ({pct} < {cfg.missing_fill_below:.0%}): filled with the {how} {value}"
                )
            else:
                if f.kind == TEXT:
                    run(con,
                        f"UPDATE {k} SET {q(name)} = ?, _filled = list_append(_filled, {sql_str(name + ':unknown')}) "
                        f"WHERE {q(name)} IS NULL",
                        [cfg.unknown_label],
                    )
                    what = f"marked '{cfg.unknown_label}'"
                else:
                    run(con,
                        f"UPDATE {k} SET _filled = list_append(_filled, {sql_str(name + ':unknown')}) WHERE {q(name)} IS NULL"
                    )
                    what = "left empty and marked unknown"
                self._bump(self.stats.unknown, name, missing)
                self.stats.missing_decisions[name] = (
                    f"{missing} missing ({pct} ≥ {cfg.missing_fill_below:.0%}): {what}, too many to fill without bias"
                )

    # -- 6. outliers ---------------------------------------------------------------------------------
    def flag_outliers(self) -> None:
        """Flag (never drop) values outside Q1−k·IQR…Q3+k·IQR and outside mean ± n·σ of the batch."""
        con, k, cfg = self.con, self._t("k"), self.cfg
        for name in OUTLIER_FIELDS.get(self.table.name, ()):
            row = con.execute(
                f"SELECT quantile_cont({q(name)}, 0.25), quantile_cont({q(name)}, 0.75), avg({q(name)}), "
                f"stddev_pop({q(name)}) FROM {k}"
            ).fetchall()[0]
            q1, q3, mean, std = row
            iqr_col, sig_col = outlier_column(name, "iqr"), outlier_column(name, "3sigma")
            run(con, f"ALTER TABLE {k} ADD COLUMN IF NOT EXISTS {q(iqr_col)} BOOLEAN")
            run(con, f"ALTER TABLE {k} ADD COLUMN IF NOT EXISTS {q(sig_col)} BOOLEAN")
            if q1 is None:
                continue
            iqr = float(q3) - float(q1)
            low, high = float(q1) - cfg.outlier_iqr_k * iqr, float(q3) + cfg.outlier_iqr_k * iqr
            sigma_low = float(mean) - cfg.outlier_sigma * float(std or 0)
            sigma_high = float(mean) + cfg.outlier_sigma * float(std or 0)
            run(con,
                f"UPDATE {k} SET {q(iqr_col)} = CASE WHEN {q(name)} IS NULL THEN NULL ELSE "
                f"({q(name)} < {low!r} OR {q(name)} > {high!r}) END, "
                f"{q(sig_col)} = CASE WHEN {q(name)} IS NULL THEN NULL ELSE "
                f"({float(std or 0)!r} > 0 AND ({q(name)} < {sigma_low!r} OR {q(name)} > {sigma_high!r})) END"
            )
            for col in (iqr_col, sig_col):
                self._bump(self.stats.flagged, col, _count(con, f"SELECT count(*) FROM {k} WHERE {q(col)}"))

    # -- 7. final shape ------------------------------------------------------------------------------
    def finish(self) -> str:
        """Build the table in warehouse shape (personal fields encrypted); return its name."""
        con, t, k = self.con, self.table, self._t("k")
        have = self._columns(k)
        if t.name == "customers":
            self._encrypt_personal()
            have = self._columns(k)
        select = []
        for name, sql_type in table_columns(t):
            if name == "_content_hash" and t.name != "customers":
                select.append("_content AS _content_hash")
            elif name in have:
                select.append(q(name))
            else:
                select.append(f"CAST(NULL AS {sql_type}) AS {q(name)}")
        ready = self._t("ready")
        run(con, f"CREATE OR REPLACE TABLE {ready} AS SELECT {', '.join(select)}, _fp FROM {k}")
        return ready

    def _encrypt_personal(self) -> None:
        """Replace clear personal values by tokens; add keyed hashes and a keyed content hash."""
        con, k, vault = self.con, self._t("k"), self.vault
        personal = [f.name for f in self.table.fields if f.personal]
        clear = [f.name for f in self.table.fields]
        digest = "md5(concat_ws('\x1f', " + ", ".join(
            f"COALESCE(CAST({q(n)} AS VARCHAR), '\x00')" for n in clear
        ) + "))"
        reader = con.sql(f"SELECT user_id, {', '.join(q(p) for p in personal)}, {digest} AS d FROM {k}").to_arrow_reader(
            PERSONAL_BATCH
        )
        out_batches = []
        for batch in reader:
            cols = batch.to_pydict()
            out: dict[str, list[Any]] = {"user_id": cols["user_id"]}
            for p in personal:
                out[f"enc_{p}"] = vault.encrypt_many(cols[p])
            for h in HASHED_FIELDS:
                out[f"{h}_hash"] = [vault.lookup_hash(h, v) for v in cols[h]]
            out["_content_hash"] = vault.content_hashes(cols["d"])
            out_batches.append(pa.table(out))
        schema = pa.schema([("user_id", pa.string())] + [(f"enc_{p}", pa.string()) for p in personal]
                           + [(f"{h}_hash", pa.string()) for h in HASHED_FIELDS] + [("_content_hash", pa.string())])
        sealed = pa.concat_tables([b.cast(schema) for b in out_batches]) if out_batches else schema.empty_table()
        con.register("_sealed", sealed)
        try:
            enc_select = ", ".join(f"s.enc_{p} AS {q(p)}" for p in personal)
            run(con,
                f"CREATE OR REPLACE TABLE {k} AS SELECT k.* EXCLUDE ({', '.join(q(p) for p in personal)}), {enc_select}, "
                f"{', '.join('s.' + h + '_hash' for h in HASHED_FIELDS)}, s._content_hash "
                f"FROM {k} k JOIN _sealed s USING (user_id)"
            )
        finally:
            con.unregister("_sealed")

    def run(self) -> str:
        """Run every step; return the ready table's name (quarantine rows are in ``<raw>_q``)."""
        self.parse()
        self.split()
        self.dedupe()
        self.derive()
        self.fill_missing()
        self.flag_outliers()
        return self.finish()

    @property
    def quarantine_table(self) -> str:
        """Name of the batch's quarantine table."""
        return self._t("q")


def summarize_reasons(stats: list[TableStats]) -> dict[str, int]:
    """Add up quarantine reasons over tables."""
    total: Counter[str] = Counter()
    for s in stats:
        total.update(s.quarantined_by_reason)
    return dict(total)
