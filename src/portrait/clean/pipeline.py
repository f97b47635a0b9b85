"""The cleaning pipeline of one import batch, set-based in the engine (DuckDB).

raw text → parse and validate (bad rows to quarantine with reasons) → standardise values →
drop exact duplicates → one record per key → regions → fill missing values → flag outliers →
encrypt personal fields. Every step counts what it did, for the import report.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import duckdb
from duckdb.sqltypes import VARCHAR

from portrait.clean import regions
from portrait.clean.normalize import CLOSED_MAPS, map_expr, synonym_expr, value_map_for
from portrait.clean.parse import field_rule, nulled, plausible_timestamp, q, reasons_expr, sql_str
from portrait.config import PortraitConfig
from portrait.engine import python_function, run, scalar
from portrait.errors import InputError
from portrait.privacy import Vault
from portrait.schema import BOOL, DATE, HASHED_FIELDS, INT, MONEY, NUMBER, SQL_TYPES, TEXT, TIMESTAMP, Table
from portrait.warehouse import OUTLIER_FIELDS, outlier_column, table_columns

TYPED_FAILS = ("unparseable_number", "not_whole_number", "unparseable_date", "unparseable_bool")
PERSONAL_BATCH = 100_000
EXACT_QUANTILE_ROWS = 5_000_000  # outlier quartiles are exact up to this many rows in a batch


@dataclass
class TableStats:
    """What cleaning and loading did to one table in one import."""

    rows_read: int = 0
    accepted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates_removed: int = 0
    blank_rows: int = 0  # rows with every mapped column empty (e.g. trailing ",,,,"): skipped
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


def quartiles_by_counts(
    con: duckdb.DuckDBPyConnection, source: str, field: str, weight: str | None = None
) -> tuple[float, float] | None:
    """Q1 and Q3 of ``field`` in ``source`` exactly as ``quantile_cont`` computes them (linear interpolation
    between the values at positions ⌊(n−1)p⌋ and the next), from the counts of each distinct value.

    ``weight`` names a column of ``source`` holding how many times each row counts (a table of value
    counts); without it every row counts once."""
    col = q(field)
    count = f"sum({q(weight)})" if weight else "count(*)"
    rows = con.execute(
        f"""WITH h AS (SELECT CAST({col} AS DOUBLE) AS v, {count} AS c FROM {source} WHERE {col} IS NOT NULL GROUP BY 1),
                 s AS (SELECT v, sum(c) OVER (ORDER BY v ROWS UNBOUNDED PRECEDING) AS stop, c FROM h),
                 n AS (SELECT sum(c) AS n FROM h),
                 pos AS (SELECT p, (n.n - 1) * p AS at, CAST(floor((n.n - 1) * p) AS BIGINT) AS lo,
                                least(CAST(floor((n.n - 1) * p) AS BIGINT) + 1, n.n - 1) AS hi
                         FROM n, (VALUES (0.25), (0.75)) t(p))
            SELECT pos.p, CAST(pos.at - pos.lo AS DOUBLE),
                   (SELECT v FROM s WHERE s.stop - s.c <= pos.lo AND pos.lo < s.stop),
                   (SELECT v FROM s WHERE s.stop - s.c <= pos.hi AND pos.hi < s.stop)
            FROM pos ORDER BY pos.p"""
    ).fetchall()
    if not rows or rows[0][2] is None:
        return None
    kind = str(con.execute(f"DESCRIBE SELECT {col} FROM {source}").fetchall()[0][1])  # the type, without a scan
    if kind.startswith("DECIMAL"):
        # quantile_cont interpolates a decimal on its scaled integers and truncates toward zero
        unit = 10 ** int(kind.rstrip(")").split(",")[1])
        q1, q3 = (
            math.trunc(round(lo * unit) + (round(hi * unit) - round(lo * unit)) * frac) / unit
            for _, frac, lo, hi in rows
        )
    else:
        q1, q3 = (lo + frac * (hi - lo) for _, frac, lo, hi in rows)
    return q1, q3


def moments_by_counts(
    con: duckdb.DuckDBPyConnection, source: str, field: str, weight: str
) -> tuple[float | None, float | None]:
    """Mean and population standard deviation of ``field`` from a table of value counts (``weight``: how
    many rows hold each value). Two passes over the few distinct values, in doubles: the same figures as
    ``avg`` and ``stddev_pop`` over every row, to rounding."""
    col, w = q(field), q(weight)
    mean, std = con.execute(
        f"""WITH h AS (SELECT CAST({col} AS DOUBLE) AS v, {w} AS c FROM {source} WHERE {col} IS NOT NULL),
                 m AS (SELECT sum(v * c) / sum(c) AS mean, sum(c) AS n FROM h)
            SELECT any_value(m.mean), sqrt(greatest(sum(h.c * (h.v - m.mean) ^ 2) / any_value(m.n), 0))
            FROM h, m"""
    ).fetchall()[0]
    return mean, (std if mean is not None else None)


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
        files: dict[int, tuple[str, str]] | None = None,
    ):
        self.con = con
        # the rows of ``raw`` carry ``_file``, an index into ``files`` (file name, fingerprint)
        self.files = files if files is not None else {}
        self.present = present if present is not None else set(table.field_names)
        self.table = table
        self.raw = raw
        self.config = config
        self.cfg = config.cleaning
        self.vault = vault
        self.stats = TableStats()
        self.prefix = f"{raw}_"
        self.fields = list(table.fields)
        self.region_joins: list[tuple[str, str, dict[str, str]]] = []
        self.outlier_exprs: dict[str, str] = {}
        self.source_rows: dict[str, int] = {}
        # changes to the deduplicated rows, applied as expressions (no UPDATE of a large table):
        # column → SQL replacing it, extra SQL columns, and SQL lists appended to _filled
        self.overrides: dict[str, str] = {}
        self.extra: dict[str, str] = {}
        self.filled_parts: list[str] = []
        self._numbered = True  # rows came with _seq and _row (False: numbered by the parsed table's rowid)
        self.fixed_fields: list[str] = []  # the fields whose rewrites bits of _fixed mark, in bit order
        self.valid_rows = 0  # parsed rows breaking no rule

    # -- helpers -------------------------------------------------------------------------------------
    def _t(self, step: str) -> str:
        return self.prefix + step

    def _bump(self, bucket: dict[str, int], key: str, n: int) -> None:
        if n:
            bucket[key] = bucket.get(key, 0) + n

    # -- 1. parse and validate -----------------------------------------------------------------------
    def parse(self) -> None:
        """Type every field, collect the reasons that quarantine a row, hash its natural key (one pass)."""
        con, t = self.con, self.table
        rules = {f.name: field_rule(f, "r_" + f.name, self.cfg) for f in self.fields}
        # a field read as written where its early parse succeeds (see FieldRule): no null-token test there
        earlies = [f"{r.early} AS {q('z_' + n)}" for n, r in rules.items() if r.early]
        nulls = ", ".join(
            f"CASE WHEN {r.early_ok} THEN {q(n)} ELSE {nulled(n)} END AS {q('r_' + n)}, {q('z_' + n)}"
            if r.early
            else f"{nulled(n)} AS {q('r_' + n)}"
            for n, r in rules.items()
        )
        values, fixes, pairs, pres, checks, firsts = [], [], [], [], [], []
        for f in self.fields:
            rule = rules[f.name]
            if rule.first:
                firsts.append(f"{rule.first} AS {q('d_' + f.name)}")
            if rule.pre:
                # parse once per value: the typed value, reasons and fixes read the parsed column
                pres.append(f"{rule.pre} AS {q('u_' + f.name)}")
                u = q("u_" + f.name)
                checked = plausible_timestamp(u) if f.kind in (TIMESTAMP, DATE) else u
                checks.append(f"{checked} AS {q('t_' + f.name)}")
            value = rule.value
            fixed = rule.fixed
            map_name = value_map_for(t.name, f.name)
            if map_name:
                value = map_expr(map_name, rule.value)
                if map_name in CLOSED_MAPS:
                    pairs.append((f"{rule.value} IS NOT NULL AND {value} IS NULL", f"{f.name}:unknown_value"))
                fixed = f"{value} IS DISTINCT FROM {rule.value} AND {value} IS NOT NULL"
            elif f.name == "category":
                value = synonym_expr(self.cfg.category_synonyms, rule.value)
                fixed = f"{value} <> {rule.value}"
            elif t.name == "orders" and f.name == "order_id":
                # an export without order ids gets a stable one from the line's contents
                value = (
                    "COALESCE(r_order_id, 'AUTO-' || substr(md5(concat_ws('|', r_user_id, r_order_time, "
                    "COALESCE(r_product_id, ''), COALESCE(r_product_name, ''))), 1, 16))"
                )
                fixed = "r_order_id IS NULL"
            if fixed:
                fixes.append((f.name, f"COALESCE({fixed}, false)"))
            values.append(f"{value} AS {q(f.name)}")
            pairs.extend(rule.reasons)
        if t.name == "orders":
            pairs.append(("r_amount IS NULL AND (r_quantity IS NULL OR r_unit_price IS NULL)", "amount:missing"))
        names = [f.name for f in self.fields]
        key = (
            "md5_number(concat_ws('\x1f', "
            + ", ".join(f"COALESCE(CAST({q(k)} AS VARCHAR), '\x00')" for k in t.natural_key)
            + "))"
        )
        # rows read straight from a CSV file (a lazy stage) are numbered by the parsed table's rowid: that
        # table is filled in file order (the connection preserves insertion order), so rowid + 2 is the
        # line a spreadsheet user sees (the header is row 1); _seq = _row for the import's file 0
        numbered = self._numbered = "_row" in self._columns(self.raw)
        ids = "_file, _seq, _row" if numbered else "_file"
        source = f"(SELECT *, {', '.join(earlies)} FROM {self.raw})" if earlies else self.raw
        layer = f"SELECT {ids}, {nulls} FROM {source}"
        if firsts:
            layer = f"SELECT *, {', '.join(firsts)} FROM ({layer})"
        if pres:
            layer = f"SELECT *, {', '.join(checks)} FROM (SELECT *, {', '.join(pres)} FROM ({layer}))"
        blank = " AND ".join(f"{q('r_' + n)} IS NULL" for n in names)
        raw_cols = ", ".join(q("r_" + n) for n in names)
        # which fields cleaning rewrote, as one bit per field (bit i: self.fixed_fields[i]); NULL when none
        # was, as on most rows: one narrow column instead of a flag per field
        assert len(fixes) <= 63, "one bit per fixable field"
        self.fixed_fields = [name for name, _ in fixes]
        fixed_bits = (
            f"CASE WHEN {' OR '.join(cond for _, cond in fixes)} THEN "
            + " + ".join(f"CASE WHEN {cond} THEN {1 << i} ELSE 0 END" for i, (_, cond) in enumerate(fixes))
            + " END"
            if fixes
            else "NULL"
        )
        parsed = (
            f"SELECT {ids}, {raw_cols}, {', '.join(values)}, CAST({fixed_bits} AS UBIGINT) AS _fixed, "
            f"CASE WHEN {blank} THEN ['_blank'] ELSE {reasons_expr(pairs)} END AS _reasons FROM ({layer})"
        )
        # the raw text is kept only for rows going to quarantine (as JSON), not for every row
        raw_json = "CAST(json_object(" + ", ".join(f"{sql_str(n)}, {q('r_' + n)}" for n in names) + ") AS VARCHAR)"
        target = self._parsed_table()
        run(
            con,
            f"CREATE OR REPLACE TABLE {target} AS SELECT * EXCLUDE ({raw_cols}), "
            f"CASE WHEN len(_reasons) > 0 AND _reasons <> ['_blank'] THEN {raw_json} END AS _raw, "
            f"{key} AS _key FROM ({parsed})",
        )
        if not numbered:
            run(
                con,
                f"CREATE OR REPLACE VIEW {self._t('p')} AS "
                f"SELECT *, CAST(rowid + 2 AS BIGINT) AS _seq, CAST(rowid + 2 AS BIGINT) AS _row FROM {target}",
            )
        self._check_mixed_types()

    def _check_mixed_types(self) -> None:
        """Refuse a column where most values are not of the field's type: it is mis-mapped or mixed.

        Also counts what ``split`` and ``dedupe`` report: rows read per file, valid rows, blank rows and,
        among valid rows, each field cleaning rewrote. Every row is read once, grouped on a few narrow
        values; the type failures are counted on the quarantined rows alone (a failure quarantines its row).
        """
        p, typed = self._t("p"), [f for f in self.fields if f.kind != TEXT]
        groups = self.con.execute(
            f"SELECT _file, len(_reasons) = 0, _raw IS NULL, _fixed, count(*)"
            f"{''.join(f', count({q(f.name)})' for f in typed)} FROM {p} GROUP BY ALL"
        ).fetchall()
        rows: Counter[int] = Counter()
        parsed: Counter[tuple[int, str]] = Counter()  # values of a typed field that parsed, per file
        for file, valid, clean, fixed, n, *present in groups:
            rows[file] += n
            for f, m in zip(typed, present, strict=True):
                parsed[file, f.name] += m
            if valid:
                self.valid_rows += n
                for i, name in enumerate(self.fixed_fields):
                    if fixed is not None and fixed >> i & 1:
                        self._bump(self.stats.fixed, name, n)
            elif clean:  # a blank row: invalid, and no raw text kept
                self.stats.blank_rows += n
        name_of = {i: self.files.get(i, (str(i), ""))[0] for i in rows}
        self.stats.rows_read = sum(rows.values())
        self.source_rows = {name_of[i]: n for i, n in rows.items()}
        if not typed:
            return
        fails = {
            f.name: f"list_has_any(_reasons, [{', '.join(sql_str(f'{f.name}:{c}') for c in TYPED_FAILS)}])"
            for f in typed
        }
        bad_counts = self.con.execute(
            f"SELECT _file, {', '.join(f'count(*) FILTER (WHERE {cond})' for cond in fails.values())} "
            f"FROM {p} WHERE _raw IS NOT NULL GROUP BY _file"
        ).fetchall()
        for file, *bads in bad_counts:
            for f, bad in zip(typed, bads, strict=True):
                nonempty = parsed[file, f.name] + bad  # parsed + failed to parse (raw text is kept only for bad rows)
                if bad >= 3 and bad > self.cfg.mixed_type_share * nonempty:
                    example = scalar(
                        self.con,
                        f"SELECT arg_min(json_extract_string(_raw, {sql_str('$.' + f.name)}), _seq) FROM {p} "
                        f"WHERE _raw IS NOT NULL AND _file = {int(file)} AND {fails[f.name]}",
                    )
                    kind = {
                        INT: "whole numbers",
                        NUMBER: "numbers",
                        MONEY: "amounts",
                        TIMESTAMP: "dates",
                        DATE: "dates",
                        BOOL: "yes/no values",
                    }[f.kind]
                    raise InputError(
                        f"{name_of[file]}: column for {f.name} mixes types — {bad} of {nonempty} values are not {kind} "
                        f"(e.g. '{str(example)[:30]}'); fix the column or map another column to {f.name} with --mapping"
                    )

    # -- 2. quarantine -------------------------------------------------------------------------------
    def split(self) -> None:
        """Copy invalid rows to the batch quarantine with their raw values; count them by reason."""
        con = self.con
        run(
            con,
            f"CREATE OR REPLACE TABLE {self._t('q')} AS SELECT _file, _row, _reasons, _raw AS raw "
            f"FROM {self._t('p')} WHERE _raw IS NOT NULL",
        )
        for reason, n in con.execute(
            f"SELECT r, count(*) FROM (SELECT unnest(_reasons) AS r FROM {self._t('q')}) GROUP BY r ORDER BY r"
        ).fetchall():
            self.stats.quarantined_by_reason[reason] = n
        self.stats.quarantined = _count(con, f"SELECT count(*) FROM {self._t('q')}")

    def _parsed_table(self) -> str:
        """The table the parse writes: ``p`` itself, or ``pn`` under the view ``p`` that numbers its rows."""
        return self._t("p") if self._numbered else self._t("pn")

    def _drop_parsed(self) -> None:
        """Drop the parsed rows (``p``: a table, or a view numbering the rows of table ``pn``)."""
        if not self._numbered:
            run(self.con, f"DROP VIEW {self._t('p')}")
        run(self.con, f"DROP TABLE {self._parsed_table()}")

    def _columns(self, name: str) -> set[str]:
        return {r[0] for r in self.con.execute(f"DESCRIBE {name}").fetchall()}

    # -- 3. duplicates and keys ----------------------------------------------------------------------
    def dedupe(self) -> None:
        """Drop exact duplicates; one record per natural key (customers: latest non-empty values win)."""
        con, t = self.con, self.table
        p = self._t("p")
        names = [f.name for f in self.fields]
        valid = self.valid_rows  # counted by the parse's pass over every row
        customers = t.name == "customers"
        # decide on narrow rows (sequence number, content, key) and join back: cheap even for wide tables.
        # Customers keep every distinct row (their values are folded per user below); other tables
        # decide only among the rows of keys seen more than once, which are few and are set apart once —
        # a key seen once is kept as it is (a group-by on the key instead of a window over every row).
        # A row's content (a hash of its values) tells exact duplicates from key conflicts; it is
        # computed for those candidate rows alone
        content = f"hash({', '.join(q(n) for n in names)}) AS _content"
        candidates = f"(SELECT _seq, _key, {content} FROM {p} WHERE len(_reasons) = 0)"
        if not customers:
            # the repeated keys first, grouped from the parsed table itself (through the view that numbers
            # its rows the group-by took a third longer), then their rows, joined to that small table
            run(
                con,
                f"CREATE OR REPLACE TABLE {self._t('dupkeys')} AS SELECT _key FROM {self._parsed_table()} "
                "WHERE len(_reasons) = 0 GROUP BY _key HAVING count(*) > 1",
            )
            run(
                con,
                f"CREATE OR REPLACE TABLE {self._t('dups')} AS SELECT _seq, _key, {content} FROM {p} "
                f"SEMI JOIN {self._t('dupkeys')} USING (_key) WHERE len(_reasons) = 0",
            )
            run(con, f"DROP TABLE {self._t('dupkeys')}")
            candidates = self._t("dups")
        single = 0 if customers else valid - _count(con, f"SELECT count(*) FROM {candidates}")
        run(
            con,
            f"""CREATE OR REPLACE TABLE {self._t("keep")} AS
                SELECT _seq, row_number() OVER (PARTITION BY _key ORDER BY _seq) AS _key_rank
                FROM (SELECT min(_seq) AS _seq, _key FROM {candidates} GROUP BY _content, _key)""",
        )
        distinct = single + _count(con, f"SELECT count(*) FROM {self._t('keep')}")
        self.stats.duplicates_removed = valid - distinct
        cols = ", ".join(q(n) for n in names)
        if customers:
            aggs = ", ".join(
                f"arg_max({q(n)}, _seq) FILTER (WHERE {q(n)} IS NOT NULL) AS {q(n)}" for n in names if n != "user_id"
            )
            run(
                con,
                f"CREATE OR REPLACE TABLE {self._t('k')} AS SELECT user_id, {aggs}, arg_max(_file, _seq) AS _file, "
                f"max(_seq) AS _seq, arg_max(_row, _seq) AS _row, any_value(_key) AS _key, "
                f"CAST([] AS VARCHAR[]) AS _filled FROM {p} SEMI JOIN {self._t('keep')} USING (_seq) GROUP BY user_id",
            )
            self.stats.merged_same_id = distinct - _count(con, f"SELECT count(*) FROM {self._t('k')}")
            self._drop_parsed()
        else:
            run(
                con,
                f"INSERT INTO {self._t('q')} SELECT _file, _row, [{sql_str(t.natural_key[0] + ':duplicate_key')}], "
                f"CAST(json_object({', '.join(f'{sql_str(n)}, {q(n)}' for n in names)}) AS VARCHAR) "
                f"FROM {p} JOIN {self._t('keep')} USING (_seq) WHERE _key_rank > 1",
            )
            conflicts = _count(con, f"SELECT count(*) FROM {self._t('keep')} WHERE _key_rank > 1")
            if conflicts:
                self.stats.quarantined += conflicts
                code = t.natural_key[0] + ":duplicate_key"
                self.stats.quarantined_by_reason[code] = self.stats.quarantined_by_reason.get(code, 0) + conflicts
            # the valid rows left out (exact duplicates, key conflicts) are few: the view drops them with an
            # anti join on that small table, which every later pass over the view probes cheaply
            run(
                con,
                f"CREATE OR REPLACE TABLE {self._t('drop')} AS SELECT _seq FROM {candidates} "
                f"ANTI JOIN (SELECT _seq FROM {self._t('keep')} WHERE _key_rank = 1) kept USING (_seq)",
            )
            # a view: the deduplicated rows are read once more, when they are loaded
            run(
                con,
                f"CREATE OR REPLACE VIEW {self._t('k')} AS SELECT {cols}, _file, _seq, _row, _key, "
                f"CAST([] AS VARCHAR[]) AS _filled FROM {p} "
                f"ANTI JOIN {self._t('drop')} USING (_seq) WHERE len(_reasons) = 0",
            )
        self._rebuild_view()

    def _rebuild_view(self) -> None:
        """(Re)define ``kf``: the deduplicated rows with every override, extra column and fill applied."""
        replace = dict(self.overrides)
        if self.filled_parts:
            replace["_filled"] = f"list_concat(_filled, {', '.join(self.filled_parts)})"
        parts = ", ".join(f"{expr} AS {q(col)}" for col, expr in replace.items())
        extra = "".join(f", {expr} AS {q(col)}" for col, expr in self.extra.items())
        run(
            self.con,
            f"CREATE OR REPLACE VIEW {self._t('kf')} AS SELECT *{f' REPLACE ({parts})' if parts else ''}{extra} "
            f"FROM {self._t('k')}",
        )

    def _override(self, column: str, sql: str) -> None:
        """Replace a column's value by ``sql`` (which may read the column as it was)."""
        previous = self.overrides.get(column)
        self.overrides[column] = sql if previous is None else sql.replace(q(column), f"({previous})")
        self._rebuild_view()

    # -- 4. derived values ---------------------------------------------------------------------------
    def derive(self) -> None:
        """Derive missing amounts; standardise regions into province / city / tier (joined in at the end)."""
        con, t, k = self.con, self.table, self._t("kf")
        if t.name == "orders":
            n = _count(con, f"SELECT count(*) FROM {k} WHERE amount IS NULL")
            if n:
                self._override(
                    "amount",
                    'COALESCE("amount", CAST(greatest(quantity * unit_price - COALESCE(discount, 0), 0) AS DECIMAL(18,2)))',
                )
                self._bump(self.stats.fixed, "amount", n)
            self._regions("ship_region", "ship_region", {"ship_province": "province", "ship_city": "city"})
        if t.name == "customers":
            text = (
                "CASE WHEN province IS NOT NULL AND region IS NOT NULL AND NOT starts_with(region, province) "
                "THEN province || region ELSE COALESCE(region, province, address) END"
            )
            # kept as a column: the address it may come from is sealed before the lookup joins in
            self.extra["_rt"] = text
            self._rebuild_view()
            self._regions("_rt", "region", {"province": "province", "city": "city", "city_tier": "tier"})
            lookup = self.region_joins[-1][1]
            self._bump(
                self.stats.filled,
                "province",
                _count(
                    con,
                    f"SELECT count(*) FROM {k} JOIN {lookup} ON _lk_raw = address "
                    "WHERE region IS NULL AND province IS NULL AND _lk_province IS NOT NULL",
                ),
            )

    def _regions(self, text_sql: str, source_field: str, targets: dict[str, str]) -> None:
        """Look up the distinct region texts once; the lookup joins into the final table."""
        con, k = self.con, self._t("kf")
        name = self._t(f"region{len(self.region_joins)}")

        def look_up(text: str) -> list[str | None]:
            # [province, city, tier, canonical name]; called once per distinct text (the query's DISTINCT)
            hit = regions.normalize_region(text)
            if hit is None:
                return [None, None, regions.TIER_UNKNOWN, None]
            return [
                hit.province,
                hit.city,
                hit.tier,
                hit.province + ("" if hit.city in (None, hit.province) else hit.city),
            ]

        # a Python function the engine calls on each distinct text: no list of values goes through Python
        with python_function(con, f"_portrait_{name}", look_up, [VARCHAR], duckdb.list_type(VARCHAR)) as udf:
            run(
                con,
                f"CREATE OR REPLACE TABLE {name} AS SELECT _lk_raw, r[1] AS _lk_province, r[2] AS _lk_city, "
                f"r[3] AS _lk_tier, r[4] AS _lk_canonical FROM (SELECT _lk_raw, {udf}(_lk_raw) AS r FROM "
                f"(SELECT DISTINCT {text_sql} AS _lk_raw FROM {k} WHERE {text_sql} IS NOT NULL))",
            )
        counts = con.execute(
            f"SELECT count_if(_lk_province IS NOT NULL AND _lk_raw <> _lk_canonical), count_if(_lk_province IS NULL) "
            f"FROM {k} JOIN {name} ON _lk_raw = ({text_sql})"
        ).fetchall()[0]
        self._bump(self.stats.fixed, source_field, int(counts[0] or 0))
        self._bump(self.stats.unknown, next(iter(targets)), int(counts[1] or 0))
        self.region_joins.append((text_sql, name, targets))

    # -- 5. missing values ---------------------------------------------------------------------------
    def fill_missing(self) -> None:
        """Fill key fields under the threshold (median/mean, mode); mark the rest unknown, with the reason."""
        con, k, cfg = self.con, self._t("kf"), self.cfg
        fields = [
            n
            for n in cfg.key_fields.get(self.table.name, [])
            if n in self.present and n in self.table.field_names  # a field the files lack is not "missing"
        ]
        if not fields:
            return
        counts = con.execute(
            f"SELECT count(*), {', '.join(f'count(*) - count({q(n)})' for n in fields)} FROM {k}"
        ).fetchall()[0]
        total = int(counts[0])
        for name, missing in zip(fields, counts[1:], strict=False):
            f = self.table.field(name)
            if missing == 0:
                continue
            share = missing / total
            pct = f"{share:.1%}"
            if share < cfg.missing_fill_below:
                if f.kind in (INT, NUMBER, MONEY):
                    how = cfg.numeric_fill
                    value_sql = f"{'median' if how == 'median' else 'avg'}({q(name)})"
                    if f.kind == INT:
                        value_sql = f"CAST(round({value_sql}) AS BIGINT)"
                else:
                    how = "mode"
                    value_sql = f"mode({q(name)})"
                value = scalar(con, f"SELECT {value_sql} FROM {k}")
                if value is None:
                    continue
                literal = sql_str(str(value)) if f.kind == TEXT else repr(value) if f.kind != MONEY else f"{value}"
                self.filled_parts.append(f"CASE WHEN {q(name)} IS NULL THEN [{sql_str(name)}] ELSE [] END")
                self._override(name, f"COALESCE({q(name)}, CAST({literal} AS {SQL_TYPES[f.kind]}))")
                self._bump(self.stats.filled, name, missing)
                self.stats.missing_decisions[name] = (
                    f"{missing} missing ({pct} < {cfg.missing_fill_below:.0%}): filled with the {how} {value}"
                )
            else:
                self.filled_parts.append(f"CASE WHEN {q(name)} IS NULL THEN [{sql_str(name + ':unknown')}] ELSE [] END")
                if f.kind == TEXT:
                    self._override(name, f"COALESCE({q(name)}, {sql_str(cfg.unknown_label)})")
                    what = f"marked '{cfg.unknown_label}'"
                else:
                    self._rebuild_view()
                    what = "left empty and marked unknown"
                self._bump(self.stats.unknown, name, missing)
                self.stats.missing_decisions[name] = (
                    f"{missing} missing ({pct} ≥ {cfg.missing_fill_below:.0%}): {what}, too many to fill without bias"
                )

    # -- 6. outliers ---------------------------------------------------------------------------------
    def flag_outliers(self) -> None:
        """Flag (never drop) values outside Q1−k·IQR…Q3+k·IQR and outside mean ± n·σ of the batch."""
        con, k, cfg = self.con, self._t("kf"), self.cfg
        fields = OUTLIER_FIELDS.get(self.table.name, ())
        if not fields:
            return
        # quantile_cont holds every value in memory: past EXACT_QUANTILE_ROWS the quartiles come from the
        # column's value counts instead (as exact, and small wherever values repeat: prices, quantities)
        small = self.stats.rows_read <= EXACT_QUANTILE_ROWS
        # one pass counts each distinct value of every field (a flag depends on the value alone): the
        # flagged counts, and a large batch's quartiles, mean and σ, come from these few rows
        counts = self._t("value_counts")
        sets = ", ".join(f"({q(n)})" for n in fields)
        run(
            con,
            f"CREATE OR REPLACE TABLE {counts} AS SELECT {', '.join(q(n) for n in fields)}, count(*) AS _n "
            f"FROM {k} GROUP BY GROUPING SETS ({sets})",
        )
        if small:
            stats = con.execute(
                "SELECT "
                + ", ".join(f"quantile_cont({q(n)}, [0.25, 0.75]), avg({q(n)}), stddev_pop({q(n)})" for n in fields)
                + f" FROM {k}"
            ).fetchall()[0]
        else:
            # a row of another field's set holds NULL in this field's column, and NULL values are left out
            stats = ()
            for n in fields:
                stats += (None, *moments_by_counts(con, counts, n, "_n"))
        for i, name in enumerate(fields):
            quartiles, mean, std = stats[3 * i], stats[3 * i + 1], stats[3 * i + 2]
            if not small and mean is not None:
                quartiles = quartiles_by_counts(con, counts, name, weight="_n")
            col = q(name)
            if quartiles is None or mean is None:
                self.outlier_exprs[outlier_column(name, "iqr")] = "CAST(NULL AS BOOLEAN)"
                self.outlier_exprs[outlier_column(name, "3sigma")] = "CAST(NULL AS BOOLEAN)"
                continue
            q1, q3 = float(quartiles[0]), float(quartiles[1])
            spread = q3 - q1
            low, high = q1 - cfg.outlier_iqr_k * spread, q3 + cfg.outlier_iqr_k * spread
            std = float(std or 0)
            s_low, s_high = float(mean) - cfg.outlier_sigma * std, float(mean) + cfg.outlier_sigma * std
            self.outlier_exprs[outlier_column(name, "iqr")] = (
                f"CASE WHEN {col} IS NULL THEN NULL ELSE ({col} < {low!r} OR {col} > {high!r}) END"
            )
            self.outlier_exprs[outlier_column(name, "3sigma")] = (
                f"CASE WHEN {col} IS NULL THEN NULL ELSE ({std!r} > 0 AND ({col} < {s_low!r} OR {col} > {s_high!r})) END"
            )
        flagged = con.execute(
            "SELECT "
            + ", ".join(f"sum(_n) FILTER (WHERE {expr})" for expr in self.outlier_exprs.values())
            + f" FROM {counts}"
        ).fetchall()[0]
        run(con, f"DROP TABLE {counts}")
        for col_name, n in zip(self.outlier_exprs, flagged, strict=False):
            self._bump(self.stats.flagged, col_name, int(n or 0))

    # -- 7. final shape ------------------------------------------------------------------------------
    def finish(self) -> str:
        """Build the table in warehouse shape (regions joined, flags computed, personal fields sealed)."""
        con, t, k = self.con, self.table, self._t("kf")
        if t.name == "customers":
            # customers are one row per person (not many): materialise, then seal the personal fields
            sealed = self._t("ks")
            run(con, f"CREATE OR REPLACE TABLE {sealed} AS SELECT * FROM {k}")
            self._encrypt_personal(sealed)
            k = sealed
        have = self._columns(k)
        joins, from_lookup = [], {}
        for text_sql, lookup, targets in self.region_joins:
            if not _count(con, f"SELECT count(*) FROM {lookup}"):
                # no region text in the batch (say, a file without the column): nothing to join each row to
                from_lookup.update(dict.fromkeys(targets, "CAST(NULL AS VARCHAR)"))
                continue
            joins.append(f"LEFT JOIN {lookup} ON _lk_raw = ({text_sql})")
            for col, src in targets.items():
                from_lookup[col] = f"_lk_{src}"
        select = []
        for name, sql_type in table_columns(t):
            if name in from_lookup:
                value = from_lookup[name]
                if name == "city_tier":
                    value = f"COALESCE({value}, {sql_str(regions.TIER_UNKNOWN)})"
                select.append(f"{value} AS {q(name)}")
            elif name in self.outlier_exprs:
                select.append(f"{self.outlier_exprs[name]} AS {q(name)}")
            elif name in have:
                select.append(q(name))
            else:
                select.append(f"CAST(NULL AS {sql_type}) AS {q(name)}")
        ready = self._t("ready")
        run(
            con,
            f"CREATE OR REPLACE VIEW {ready} AS SELECT {', '.join(select)} FROM {k} {' '.join(joins)}",
        )
        return ready

    def _encrypt_personal(self, k: str) -> None:
        """Replace clear personal values in table ``k`` by tokens; add keyed hashes and a keyed content hash."""
        import pyarrow as pa  # loaded only where Arrow is used (0.2 s)

        con, vault = self.con, self.vault
        personal = [f.name for f in self.table.fields if f.personal]
        clear = [f.name for f in self.table.fields]
        digest = (
            "md5(concat_ws('\x1f', " + ", ".join(f"COALESCE(CAST({q(n)} AS VARCHAR), '\x00')" for n in clear) + "))"
        )
        reader = con.sql(
            f"SELECT user_id, {', '.join(q(p) for p in personal)}, {digest} AS d FROM {k}"
        ).to_arrow_reader(PERSONAL_BATCH)
        out_batches = []
        for batch in reader:
            cols = batch.to_pydict()
            out: dict[str, list[Any]] = {"user_id": cols["user_id"]}
            for p in personal:
                out[f"enc_{p}"] = vault.encrypt_many(cols[p])
            for h in HASHED_FIELDS:
                out[f"{h}_hash"] = [vault.lookup_hash(h, v) for v in cols[h]]
            out["_content_hash"] = pa.array(vault.content_hashes(cols["d"]), pa.uint64())
            out_batches.append(pa.table(out))
        schema = pa.schema(
            [("user_id", pa.string())]
            + [(f"enc_{p}", pa.string()) for p in personal]
            + [(f"{h}_hash", pa.string()) for h in HASHED_FIELDS]
            + [("_content_hash", pa.uint64())]
        )
        sealed = pa.concat_tables([b.cast(schema) for b in out_batches]) if out_batches else schema.empty_table()
        con.register("_sealed", sealed)
        try:
            enc_select = ", ".join(f"s.enc_{p} AS {q(p)}" for p in personal)
            run(
                con,
                f"CREATE OR REPLACE TABLE {k} AS SELECT k.* EXCLUDE ({', '.join(q(p) for p in personal)}), {enc_select}, "
                f"{', '.join('s.' + h + '_hash' for h in HASHED_FIELDS)}, s._content_hash "
                f"FROM {k} k JOIN _sealed s USING (user_id)",
            )
        finally:
            con.unregister("_sealed")

    def run(self) -> str:
        """Run every step; return the ready table's name (quarantine rows are in ``<raw>_q``)."""
        self.parse()
        return self.clean()

    def clean(self) -> str:
        """Every step after parsing; return the name of the ready view."""
        self.split()
        self.dedupe()
        self.derive()
        self.fill_missing()
        self.flag_outliers()
        return self.finish()

    def seal_quarantine(self) -> None:
        """Replace the quarantined rows' raw text (it may hold personal data) by sealed tokens in place, in
        file and row order: a Python function the engine calls on each row, in one statement (one engine
        thread: see ``python_function``). For a few rows; many are sealed by :meth:`sealed_quarantine`."""
        q_table = self.quarantine_table
        with python_function(self.con, "_portrait_seal", self.vault.encrypt, [VARCHAR], VARCHAR) as seal:
            run(
                self.con,
                f"CREATE OR REPLACE TABLE {q_table} AS SELECT _file, _row, _reasons, {seal}(raw) AS raw "
                f"FROM {q_table} ORDER BY _file, _row",
            )

    def sealed_quarantine(self, con: duckdb.DuckDBPyConnection) -> Any:
        """The quarantined rows (``_file``, ``_row``, ``_reasons``, ``raw``) in file and row order, their raw
        text (it may hold personal data) replaced by sealed tokens, as an Arrow table.

        ``con`` may be a cursor of the scratch engine used on another thread: the rows are read in one
        statement and sealed in Python, outside the engine, so the import can go on meanwhile.
        """
        import pyarrow as pa  # loaded only where Arrow is used

        rows = con.sql(
            f"SELECT _file, _row, _reasons, raw FROM {self.quarantine_table} ORDER BY _file, _row"
        ).to_arrow_table()
        at = rows.schema.get_field_index("raw")
        return rows.set_column(at, "raw", pa.array(self.vault.encrypt_many(rows.column(at).to_pylist()), pa.string()))

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
