"""The data-quality report: per table and column, what was read, accepted, fixed, filled, flagged, quarantined."""

from __future__ import annotations

import json
from typing import Any

from portrait.engine import scalar
from portrait.schema import TABLES
from portrait.warehouse import OUTLIER_FIELDS, OUTLIER_RULES, outlier_column
from portrait.workspace import Workspace

IMPORT_KEYS = ("rows_read", "accepted", "updated", "unchanged", "duplicates_removed", "merged_same_id", "quarantined")


def quality_report(ws: Workspace) -> dict[str, Any]:
    """Return the data-quality report of the workspace's warehouse."""
    with ws.warehouse(read_only=True) as con:
        reports = [json.loads(r[0]) for r in con.execute("SELECT report FROM import_log ORDER BY import_id").fetchall()]
        merges = scalar(con, "SELECT count(*) FROM merge_log WHERE undone_at IS NULL")
        merged_records = scalar(con, "SELECT COALESCE(sum(len(members) - 1), 0) FROM merge_log WHERE undone_at IS NULL")
        quarantine = con.execute(
            "SELECT table_name, r, count(*) FROM (SELECT table_name, unnest(reasons) AS r FROM quarantine) "
            "GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        tables: dict[str, Any] = {}
        for name, table in TABLES.items():
            imports = {k: 0 for k in IMPORT_KEYS}
            fixed: dict[str, int] = {}
            filled: dict[str, int] = {}
            unknown: dict[str, int] = {}
            decisions: dict[str, str] = {}
            for rep in reports:
                stats = rep["tables"].get(name)
                if not stats:
                    continue
                for k in IMPORT_KEYS:
                    imports[k] += int(stats.get(k, 0))
                for bucket, into in (("fixed", fixed), ("filled", filled), ("unknown", unknown)):
                    for col, n in stats.get(bucket, {}).items():
                        into[col] = into.get(col, 0) + int(n)
                decisions.update(stats.get("missing_decisions", {}))
            rows = scalar(con, f"SELECT count(*) FROM {name}")
            column_stats: dict[str, Any] = {}
            select = ", ".join(f'count("{f.name}")' for f in table.fields)
            counts = con.execute(f"SELECT {select} FROM {name}").fetchall()[0] if table.fields else ()
            flag_counts: dict[str, int] = {}
            for field in OUTLIER_FIELDS.get(name, ()):
                for rule in OUTLIER_RULES:
                    col = outlier_column(field, rule)
                    flag_counts[col] = int(scalar(con, f'SELECT count(*) FROM {name} WHERE "{col}"') or 0)
            by_field: dict[str, dict[str, int]] = {}
            for tname, reason, n in quarantine:
                if tname == name:
                    field_name, _, rule = reason.partition(":")
                    by_field.setdefault(field_name, {})[rule] = n
            for field, non_null in zip(table.fields, counts, strict=False):
                col: dict[str, Any] = {
                    "non_empty": int(non_null),
                    "empty": int(rows - non_null),
                    "fixed": fixed.get(field.name, 0),
                    "filled": filled.get(field.name, 0),
                    "unknown": unknown.get(field.name, 0),
                    "quarantined": by_field.get(field.name, {}),
                }
                for rule in OUTLIER_RULES:
                    key = outlier_column(field.name, rule)
                    if key in flag_counts:
                        col[f"flagged_{rule}"] = flag_counts[key]
                if field.name in decisions:
                    col["missing_decision"] = decisions[field.name]
                column_stats[field.name] = col
            tables[name] = {
                "rows": int(rows),
                "imports": imports,
                "quarantined_by_reason": {reason: n for tname, reason, n in quarantine if tname == name},
                "flagged": flag_counts,
                "columns": column_stats,
            }
            if name == "customers":
                tables[name]["identity_merges"] = int(merges)
                tables[name]["records_merged"] = int(merged_records)
                tables[name]["active_customers"] = int(
                    scalar(con, "SELECT count(*) FROM customers WHERE merged_into IS NULL")
                )
    return {"workspace": str(ws.path), "imports": len(reports), "tables": tables}
