"""Segments: any boolean combination of tags and customer fields, previewed, saved, exported, portrayed.

A segment is a rule in the rule language (docs/tags.md) over the customer table, the radar
scores, the RFM group and every tag (by its name). Its preview gives the exact size, what each
condition alone would select and a few masked members; its group portrait sets every dimension
of the members beside all customers, with lift and a two-proportion z-test, and ranks the traits
that set the group apart.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from portrait import snapshots
from portrait.errors import InputError, NotFound
from portrait.expr import Node, RuleError, compile_rule, parse, to_sql
from portrait.privacy import mask_value
from portrait.workspace import Workspace


def _two_sided_p(z: float) -> float:
    """Two-sided p-value of a standard normal statistic: 2·(1 − Φ(|z|)) = erfc(|z| / √2)."""
    return math.erfc(abs(z) / math.sqrt(2))


VIEW = "segment_base"
EXCEL_MAX_ROWS = 1_048_576  # rows per sheet, header included
DIMENSIONS = (
    "gender",
    "age_band",
    "province",
    "city_tier",
    "occupation",
    "member_level",
    "source_channel",
    "preferred_terminal",
    "favourite_category",
    "preferred_contact",
    "rfm_group",
)
MEASURES = (
    "frequency",
    "monetary",
    "monetary_180d",
    "recency_days",
    "avg_order_value",
    "visits_30d",
    "consumption_score",
    "loyalty_score",
    "activity_score",
    "demand_score",
)
EXPORT_FIELDS = (
    "user_id",
    "user_name",
    "phone",
    "gender",
    "age",
    "age_band",
    "province",
    "city",
    "city_tier",
    "occupation",
    "member_level",
    "frequency",
    "monetary",
    "recency_days",
    "rfm_group",
)


@contextmanager
def segment_reader(ws: Workspace) -> Iterator[tuple[duckdb.DuckDBPyConnection, snapshots.Snapshot, list[str]]]:
    """A snapshot connection and the fields of ``segment_base`` (customer table, scores, RFM, every tag)."""
    with snapshots.reader(ws) as (con, snap):
        fields = [r[0] for r in con.execute(f"DESCRIBE {VIEW}").fetchall()]
        yield con, snap, fields


def _compile(rule: str, fields: list[str]) -> str:
    try:
        return compile_rule(rule, fields)
    except RuleError as exc:
        raise InputError(f"segment rule, column {exc.column}: {exc.problem}  ⟶  {rule}") from None


def _conditions(node: Node) -> list[Node]:
    """The atomic conditions of a rule (the leaves under and/or/not)."""
    if node.op in ("and", "or"):
        return _conditions(node.args[0]) + _conditions(node.args[1])
    if node.op == "not":
        return _conditions(node.args[0])
    return [node]


def _slice(rule: str, node: Node) -> str:
    """The source text of a condition (from its first token to the end of its last)."""
    positions = _positions(node)
    start, end = min(positions), max(positions)
    tail = rule[end:]
    m = _token_end(tail)
    return rule[start : end + m].strip()


def _positions(node: Node) -> list[int]:
    out = [node.pos]
    for arg in node.args:
        if isinstance(arg, Node):
            out.extend(_positions(arg))
        elif isinstance(arg, tuple):
            for item in arg:
                if isinstance(item, Node):
                    out.extend(_positions(item))
    return out


def _token_end(text: str) -> int:
    import re

    m = re.match(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[^\s()]+\)*|\)+", text)
    return m.end() if m else 0


def size(ws: Workspace, rule: str) -> int:
    """How many customers a rule selects in the current snapshot (one filtered count)."""
    ws.require("read")
    with segment_reader(ws) as (con, _, fields):
        where = _compile(rule, fields)
        return int(con.execute(f"SELECT count(*) FROM {VIEW} WHERE COALESCE({where}, false)").fetchall()[0][0])


def preview(ws: Workspace, rule: str, sample: int = 10) -> dict[str, Any]:
    """Exact size, each condition's size alone, and a sample of masked members."""
    ws.require("read")
    tree = _parse(rule)
    with segment_reader(ws) as (con, snap, fields):
        where = _compile(rule, fields)
        total = con.execute(f"SELECT count(*) FROM {VIEW}").fetchall()[0][0]
        size = con.execute(f"SELECT count(*) FROM {VIEW} WHERE COALESCE({where}, false)").fetchall()[0][0]
        conditions = []
        for node in _conditions(tree):
            sql = to_sql(node, fields)
            n = con.execute(f"SELECT count(*) FROM {VIEW} WHERE COALESCE({sql}, false)").fetchall()[0][0]
            conditions.append({"condition": _slice(rule, node), "customers": n})
        ids = [
            r[0]
            for r in con.execute(
                f"SELECT user_id FROM {VIEW} WHERE COALESCE({where}, false) ORDER BY user_id LIMIT {int(sample)}"
            ).fetchall()
        ]
        rows = con.execute(
            f"SELECT user_id, gender, age, city_tier, rfm_group FROM {VIEW} WHERE list_contains(?, user_id) ORDER BY user_id",
            [ids],
        ).fetchall()
    names = _masked_people(ws, ids)
    members = [
        {
            "user_id": r[0],
            "user_name": names.get(r[0], {}).get("user_name"),
            "gender": r[1],
            "age": r[2],
            "city_tier": r[3],
            "rfm_group": r[4],
        }
        for r in rows
    ]
    return {
        "rule": rule,
        "snapshot": snap.id,
        "as_of": snap.as_of,
        "customers": size,
        "of": total,
        "share": size / total if total else 0.0,
        "conditions": conditions,
        "sample": members,
    }


def _parse(rule: str) -> Node:
    try:
        return parse(rule)
    except RuleError as exc:
        raise InputError(f"segment rule, column {exc.column}: {exc.problem}  ⟶  {rule}") from None


def _masked_people(ws: Workspace, ids: list[str]) -> dict[str, dict[str, str | None]]:
    """Masked name and phone of the given customers, read from the warehouse and decrypted only to mask."""
    if not ids:
        return {}
    with ws.warehouse(read_only=True) as con:
        rows = con.execute(
            "SELECT user_id, user_name, phone FROM customers WHERE list_contains(?, user_id)", [ids]
        ).fetchall()
    vault = ws.vault
    return {
        uid: {
            "user_name": mask_value("user_name", vault.decrypt(name)),
            "phone": mask_value("phone", vault.decrypt(phone)),
        }
        for uid, name, phone in rows
    }


def define(ws: Workspace, name: str, rule: str, description: str = "") -> dict[str, Any]:
    """Check a rule against the current snapshot, save it by name, and return its preview."""
    result = preview(ws, rule)
    ws.store.save_segment(name, rule, description, ws.actor)
    ws.audit("segment_define", name, rule=rule, customers=result["customers"])
    return {"name": name, **result}


def get(ws: Workspace, name: str) -> dict[str, Any]:
    """A saved segment's definition."""
    seg = ws.store.segment(name)
    if seg is None:
        known = ", ".join(s["name"] for s in ws.store.segments()) or "none yet"
        raise NotFound(f"no segment '{name}' (saved segments: {known}); define it with `portrait segment define`")
    return seg


def list_segments(ws: Workspace) -> list[dict[str, Any]]:
    """Every saved segment with its current size (None when its rule no longer fits the snapshot)."""
    ws.require("read")
    saved = ws.store.segments()
    if not saved or snapshots.current(ws) is None:
        return [{**s, "customers": None} for s in saved]
    out = []
    with segment_reader(ws) as (con, _, fields):
        for s in saved:
            try:
                where = compile_rule(s["rule"], fields)
                n = con.execute(f"SELECT count(*) FROM {VIEW} WHERE COALESCE({where}, false)").fetchall()[0][0]
            except RuleError:
                n = None
            out.append({**s, "customers": n})
    return out


def _z_test(k1: int, n1: int, k2: int, n2: int) -> float | None:
    """Two-sided p-value of a two-proportion z-test (None when undefined)."""
    if n1 == 0 or n2 == 0:
        return None
    p = (k1 + k2) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    if se == 0:
        return None
    z = (k1 / n1 - k2 / n2) / se
    return _two_sided_p(z)


def group_portrait(ws: Workspace, rule: str, min_share: float = 0.05) -> dict[str, Any]:
    """Every dimension's distribution in the group beside all customers, with lift and p-values; traits ranked."""
    ws.require("read")
    with segment_reader(ws) as (con, snap, fields):
        where = _compile(rule, fields)
        tag_dims = [
            r[0]
            for r in con.execute(
                "SELECT tag FROM tag_definitions WHERE kind <> 'attribute'"  # attribute tags repeat a dimension
            ).fetchall()
            if r[0] in fields
        ]
        size, total = con.execute(
            f"SELECT count(*) FILTER (WHERE COALESCE({where}, false)), count(*) FROM {VIEW}"
        ).fetchall()[0]
        dims: dict[str, list[dict[str, Any]]] = {}
        traits = []
        for dim in [d for d in DIMENSIONS if d in fields] + tag_dims:
            col = '"' + dim.replace('"', '""') + '"'
            rows = con.execute(
                f"SELECT COALESCE(CAST({col} AS VARCHAR), '(空)') AS v, count(*) FILTER (WHERE COALESCE({where}, false)), "
                f"count(*) FROM {VIEW} GROUP BY 1 ORDER BY 3 DESC, 1"
            ).fetchall()
            entries = []
            for value, k_seg, k_all in rows:
                share_seg = k_seg / size if size else 0.0
                share_all = k_all / total if total else 0.0
                rest_k, rest_n = k_all - k_seg, total - size
                p = _z_test(k_seg, size, rest_k, rest_n)
                lift = share_seg / share_all if share_all else None
                entry = {
                    "value": value,
                    "members": k_seg,
                    "share": share_seg,
                    "share_all": share_all,
                    "lift": lift,
                    "p_value": p,
                }
                entries.append(entry)
                if value != "(空)" and share_seg >= min_share and lift and p is not None and p < 0.05:
                    traits.append({"dimension": dim, **entry})
            dims[dim] = entries
        measures = {}
        for m in [x for x in MEASURES if x in fields]:
            row = con.execute(
                f"SELECT avg({m}) FILTER (WHERE COALESCE({where}, false)), avg({m}), "
                f"stddev_samp({m}) FILTER (WHERE COALESCE({where}, false)), count({m}) FILTER (WHERE COALESCE({where}, false)), "
                f"avg({m}) FILTER (WHERE NOT COALESCE({where}, false)), stddev_samp({m}) FILTER (WHERE NOT COALESCE({where}, false)), "
                f"count({m}) FILTER (WHERE NOT COALESCE({where}, false)) FROM {VIEW}"
            ).fetchall()[0]
            mean_seg, mean_all, sd1, n1, mean_rest, sd2, n2 = row
            p = None
            if n1 and n2 and n1 > 1 and n2 > 1 and sd1 is not None and sd2 is not None:
                se = math.sqrt(sd1**2 / n1 + sd2**2 / n2)
                if se > 0:
                    p = _two_sided_p((mean_seg - mean_rest) / se)
            measures[m] = {
                "mean": mean_seg,
                "mean_all": mean_all,
                "ratio": (mean_seg / mean_all) if mean_seg is not None and mean_all else None,
                "p_value": p,
            }
    traits.sort(key=lambda t: (-(t["lift"] or 0), t["p_value"]))
    return {
        "rule": rule,
        "snapshot": snap.id,
        "as_of": snap.as_of,
        "customers": size,
        "of": total,
        "traits": traits[:15],
        "dimensions": dims,
        "measures": measures,
    }


def compare(ws: Workspace, first: str, second: str) -> dict[str, Any]:
    """Two saved segments side by side: overlap, and the traits whose shares differ most."""
    a, b = get(ws, first), get(ws, second)
    with segment_reader(ws) as (con, snap, fields):
        wa, wb = _compile(a["rule"], fields), _compile(b["rule"], fields)
        sa, sb = f"COALESCE({wa}, false)", f"COALESCE({wb}, false)"
        n_a, n_b, both = con.execute(
            f"SELECT count(*) FILTER (WHERE {sa}), count(*) FILTER (WHERE {sb}), count(*) FILTER (WHERE {sa} AND {sb}) "
            f"FROM {VIEW}"
        ).fetchall()[0]
        diffs = []
        for dim in [d for d in DIMENSIONS if d in fields]:
            col = '"' + dim + '"'
            for value, k_a, k_b in con.execute(
                f"SELECT COALESCE(CAST({col} AS VARCHAR), '(空)'), count(*) FILTER (WHERE {sa}), count(*) FILTER (WHERE {sb}) "
                f"FROM {VIEW} GROUP BY 1"
            ).fetchall():
                share_a = k_a / n_a if n_a else 0.0
                share_b = k_b / n_b if n_b else 0.0
                diffs.append(
                    {
                        "dimension": dim,
                        "value": value,
                        "share_a": share_a,
                        "share_b": share_b,
                        "difference": share_a - share_b,
                        "p_value": _z_test(k_a, n_a, k_b, n_b),
                    }
                )
    diffs.sort(key=lambda d: -abs(d["difference"]))
    union = n_a + n_b - both
    return {
        "a": {"name": first, "rule": a["rule"], "customers": n_a},
        "b": {"name": second, "rule": b["rule"], "customers": n_b},
        "overlap": {
            "both": both,
            "only_a": n_a - both,
            "only_b": n_b - both,
            "jaccard": both / union if union else 0.0,
        },
        "differences": diffs[:15],
        "snapshot": snap.id,
    }


def export(ws: Workspace, name: str, out: Path, fmt: str = "csv", encoding: str = "utf-8-sig") -> dict[str, Any]:
    """Write a segment's members (personal fields masked) to CSV or Excel; never cut (more sheets past Excel's limit)."""
    ws.require("read")
    seg = get(ws, name)
    if fmt not in ("csv", "xlsx"):
        raise InputError(f"unknown export format '{fmt}': use csv or xlsx")
    if encoding.lower() not in ("utf-8-sig", "utf-8", "gbk", "gb18030"):
        raise InputError(
            f"unknown encoding '{encoding}': use utf-8-sig (default, opens in Excel), utf-8, gbk or gb18030"
        )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with segment_reader(ws) as (con, snap, fields):
        where = _compile(seg["rule"], fields)
        cols = [c for c in EXPORT_FIELDS if c in fields or c in ("user_name", "phone")]
        select = ", ".join(c if c in fields else f"NULL AS {c}" for c in cols)
        reader = con.sql(
            f"SELECT {select} FROM {VIEW} WHERE COALESCE({where}, false) ORDER BY user_id"
        ).to_arrow_reader(50_000)
        written = 0
        sheets = 1
        writer = _CsvOut(out, cols, encoding) if fmt == "csv" else _XlsxOut(out, cols)
        try:
            for batch in reader:
                data = batch.to_pydict()
                people = _masked_people(ws, data["user_id"])
                for i, uid in enumerate(data["user_id"]):
                    row = [people.get(uid, {}).get(c) if c in ("user_name", "phone") else data[c][i] for c in cols]
                    writer.write(row)
                    written += 1
            sheets = writer.close()
        except UnicodeEncodeError as exc:
            writer.abort()
            raise InputError(
                f"{out.name}: a value cannot be written in {encoding} ({exc.object[exc.start : exc.end]!r}); "
                "export with --encoding utf-8-sig"
            ) from None
    ws.audit("segment_export", name, rows=written, file=str(out), format=fmt)
    return {
        "segment": name,
        "file": str(out),
        "rows": written,
        "format": fmt,
        "sheets": sheets,
        "encoding": encoding if fmt == "csv" else None,
        "snapshot": snap.id,
        "masked": True,
    }


class _CsvOut:
    def __init__(self, path: Path, cols: list[str], encoding: str) -> None:
        self.path = path
        self.fh = path.open("w", encoding=encoding, newline="")
        self.writer = csv.writer(self.fh)
        self.writer.writerow(cols)

    def write(self, row: list[Any]) -> None:
        self.writer.writerow(["" if v is None else v for v in row])

    def close(self) -> int:
        self.fh.close()
        return 1

    def abort(self) -> None:
        self.fh.close()
        self.path.unlink(missing_ok=True)


class _XlsxOut:
    def __init__(self, path: Path, cols: list[str]) -> None:
        import xlsxwriter

        self.path = path
        self.cols = cols
        self.max_rows = EXCEL_MAX_ROWS
        self.book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        self.sheet_no = 0
        self._new_sheet()

    def _new_sheet(self) -> None:
        self.sheet_no += 1
        self.sheet = self.book.add_worksheet(f"成员{self.sheet_no}")
        self.sheet.write_row(0, 0, self.cols)
        self.row = 1

    def write(self, row: list[Any]) -> None:
        if self.row >= self.max_rows:
            self._new_sheet()
        self.sheet.write_row(self.row, 0, ["" if v is None else v for v in row])
        self.row += 1

    def close(self) -> int:
        self.book.close()
        return self.sheet_no

    def abort(self) -> None:
        self.book.close()
        self.path.unlink(missing_ok=True)
