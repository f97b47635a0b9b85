"""Column mapping: a file's headers onto the canonical fields, by alias or by a mapping file."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from portrait.errors import ConfigError, InputError
from portrait.schema import CUSTOMERS, Table, alias_index, header_key

IGNORE = {"", "ignore", "skip", "-", "忽略"}


@dataclass
class ColumnMap:
    """Which staged column feeds which canonical field, for the main table and the customer side."""

    fields: dict[str, int]
    customer_fields: dict[str, int] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


def read_mapping_file(path: Path, table: Table) -> dict[str, str | None]:
    """Read a YAML/TOML mapping file ``{columns: {header: field}}``; unknown fields name file and line."""
    if not path.exists():
        raise ConfigError(f"{path}: mapping file not found")
    text = path.read_text(encoding="utf-8-sig")
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'YAML'} ({exc})".replace("\n", " ")
        ) from None
    if isinstance(data, dict) and "columns" in data:
        data = data["columns"]
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of column name → field, e.g. `columns: {{实付: amount}}`")
    allowed = set(table.field_names)
    if table.name == "orders":
        allowed |= set(CUSTOMERS.field_names)
    result: dict[str, str | None] = {}
    for header, target in data.items():
        name = None if target is None or str(target).strip().lower() in IGNORE else str(target).strip()
        if name is not None and name not in allowed:
            line = next((n for n, ln in enumerate(text.splitlines(), 1) if str(header) in ln and name in ln), None)
            where = f"{path}:{line}" if line else str(path)
            hint = difflib.get_close_matches(name, sorted(allowed), n=1)
            fix = f"did you mean '{hint[0]}'?" if hint else f"fields of {table.name}: {', '.join(table.field_names)}"
            raise ConfigError(f"{where}: unknown field '{name}' for column '{header}' of table {table.name}; {fix}")
        result[header_key(str(header))] = name
    return result


def map_columns(
    headers: list[str], table: Table, source_name: str, explicit: dict[str, str | None] | None = None
) -> ColumnMap:
    """Map headers onto ``table``'s fields (and, for orders, customer fields); check required ones."""
    index = alias_index(table)
    customer_index = alias_index(CUSTOMERS) if table.name == "orders" else {}
    explicit = explicit or {}
    mapped: dict[str, int] = {}
    customer: dict[str, int] = {}
    ignored: list[str] = []
    origin: dict[str, str] = {}
    for i, header in enumerate(headers):
        key = header_key(header)
        if key in explicit:
            target = explicit[key]
            if target is None:
                ignored.append(header)
                continue
            into = mapped if target in table.field_names else customer
        elif key in index:
            target, into = index[key], mapped
        elif key in customer_index:
            target, into = customer_index[key], customer
        else:
            ignored.append(header)
            continue
        if target in into:
            raise InputError(
                f"{source_name}: columns '{origin[target]}' and '{header}' both map to field {target}; "
                "drop one or map one elsewhere with --mapping"
            )
        into[target] = i
        origin[target] = header
    customer.pop("user_id", None)
    missing = [f.name for f in table.fields if f.required and f.name not in mapped]
    if missing:
        f = table.field(missing[0])
        names = " / ".join([f.name, f.label_zh, *f.aliases[:3]])
        raise InputError(
            f"{source_name}: no column for required field {f.name} of {table.name} (looked for {names}); "
            f"the columns are: {', '.join(headers[:12])}{' …' if len(headers) > 12 else ''} — "
            "rename the column or map it with --mapping"
        )
    return ColumnMap(mapped, customer if len(customer) > 0 else {}, ignored)
