"""One customer's stored record, through the privacy layer (masked unless the caller may reveal)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from portrait.errors import NotFound
from portrait.privacy import mask_value
from portrait.schema import CUSTOMERS, PERSONAL_FIELDS
from portrait.workspace import Workspace

RECORD_FIELDS = [f.name for f in CUSTOMERS.fields] + ["city", "city_tier", "merged_into", "_filled", "_import_id"]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return value


def customer_record(ws: Workspace, user_id: str, reveal: bool = False) -> dict[str, Any]:
    """Return a customer's record; personal fields masked, or clear when ``reveal`` and permitted (audited)."""
    ws.require("read")
    if reveal:
        ws.require("reveal_personal")
    cols = ", ".join(f'"{c}"' for c in RECORD_FIELDS)
    with ws.warehouse(read_only=True) as con:
        rows = con.execute(f"SELECT {cols} FROM customers WHERE user_id = ?", [user_id]).fetchall()
        if not rows:
            raise NotFound(f"no customer '{user_id}'; check the id (customer ids are case-sensitive)")
        merged_from = [
            r[0]
            for r in con.execute(
                "SELECT user_id FROM customers WHERE merged_into = ? ORDER BY user_id", [user_id]
            ).fetchall()
        ]
    record = {name: _plain(value) for name, value in zip(RECORD_FIELDS, rows[0], strict=False)}
    for name in PERSONAL_FIELDS:
        clear = ws.vault.decrypt(record[name])
        record[name] = clear if reveal else mask_value(name, clear)
    record["filled_fields"] = record.pop("_filled") or []
    record["import_id"] = record.pop("_import_id")
    record["merged_from"] = merged_from
    record["masked"] = not reveal
    if reveal:
        ws.audit("reveal_personal", user_id, fields=list(PERSONAL_FIELDS))
    else:
        ws.audit("view_customer", user_id)
    return record
