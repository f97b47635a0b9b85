"""Generate the reference pages that must not drift from the code (`python -m portrait.docs`)."""

from __future__ import annotations

import sys
from pathlib import Path

from portrait.schema import TABLES

HEADER = """# Data: the canonical tables

Every import maps a file's headers onto these fields by name or alias (case, spaces, `_`, `-`
and full-width forms are ignored when matching); a mapping file covers the rest:

```yaml
# mapping.yaml — `portrait import orders export.csv --mapping mapping.yaml`
columns:
  会员卡号: user_id
  实付: amount
  备注: ignore     # not imported
```

A flat order export that also carries customer columns (name, gender, age, region, occupation …
beside each order) fills both `orders` and `customers` in one import.

Kinds: text; int (whole number); money (DECIMAL(18,2)); number; timestamp; date; bool
(是/否, yes/no, 1/0). *Personal* fields are encrypted at rest and masked on output. The natural
key makes re-imports idempotent: a row whose key is stored already is updated when its values
changed and left alone when not.

This page is generated from `src/portrait/schema.py` by `python -m portrait.docs`; a test keeps
the two equal.
"""


def data_reference() -> str:
    """Return docs/data.md as generated from the schema."""
    parts = [HEADER]
    for table in TABLES.values():
        parts.append(f"\n## {table.name} ({table.label_zh})\n")
        parts.append(f"Natural key: {', '.join(table.natural_key)}.\n")
        parts.append("| field | 中文 | kind | required | personal | other headers accepted |")
        parts.append("|---|---|---|---|---|---|")
        for f in table.fields:
            limits = []
            if f.minimum is not None:
                limits.append(f"≥ {f.minimum:g}")
            if f.maximum is not None:
                limits.append(f"≤ {f.maximum:g}")
            kind = f.kind + (f" ({', '.join(limits)})" if limits else "")
            parts.append(
                f"| {f.name} | {f.label_zh} | {kind} | {'yes' if f.required else ''} | "
                f"{'yes' if f.personal else ''} | {', '.join(f.aliases)} |"
            )
        if table.derived:
            parts.append(f"\nDerived on import: {', '.join(name for name, _ in table.derived)}.")
    return "\n".join(parts) + "\n"


def main() -> None:
    """Rewrite the generated pages under docs/ (or the folder given)."""
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs")
    (folder / "data.md").write_text(data_reference(), encoding="utf-8")


if __name__ == "__main__":
    main()
