"""The `portrait` command: parses options, calls the Python API, prints tables or JSON.

User mistakes print one line on stderr (``error: …``) and exit 2; nothing else is printed to
stdout under ``--json`` but the JSON document.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from portrait import __version__, api
from portrait.errors import PortraitError
from portrait.schema import TABLES

app = typer.Typer(
    help="Portrait — customer data analysis and customer portraits (客户画像).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
merge_app = typer.Typer(help="Identity merges: list them, undo one.", no_args_is_help=True)
analyze_app = typer.Typer(
    help="Analyses: portrait dimensions, funnel, cohort retention, channels, paths, AIPL, campaigns, basket rules.",
    no_args_is_help=True,
)
model_app = typer.Typer(help="Models: churn, lifetime value, clusters, recommendations.", no_args_is_help=True)
tags_app = typer.Typer(help="The tag system: definitions, statistics, history, manual tags.", no_args_is_help=True)
segment_app = typer.Typer(help="Segments: define, preview, list, show, export, compare.", no_args_is_help=True)
user_app = typer.Typer(help="Users and roles.", no_args_is_help=True)
app.add_typer(merge_app, name="merge")
app.add_typer(tags_app, name="tags")
app.add_typer(analyze_app, name="analyze")
app.add_typer(model_app, name="model")
app.add_typer(segment_app, name="segment")
app.add_typer(user_app, name="user")

out = Console(highlight=False, width=None if sys.stdout.isatty() else 150)  # no terminal: wide enough for tables
err = Console(stderr=True, highlight=False)

WorkspaceOpt = typer.Option(Path("."), "--workspace", "-w", help="Workspace folder.")
JsonOpt = typer.Option(False, "--json", help="Print one JSON document on stdout, nothing else.")
UserOpt = typer.Option(None, "--user", help="Act as this user (default: $PORTRAIT_USER, else the local analyst).")

T = TypeVar("T")


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


@contextmanager
def _user_errors() -> Iterator[None]:
    try:
        yield
    except PortraitError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    """A Rich progress bar fed by (stage, done, total) callbacks; silent under --json."""
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def tick(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield tick


def _show(title: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]], right: tuple[str, ...] = ()) -> None:
    """Print rows as a Rich table (columns named in ``right`` are right-aligned)."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="right" if col in right else "left")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    out.print(table)


def _open(workspace: Path, user: str | None) -> api.Workspace:
    return api.open_workspace(workspace, actor=user)


def _fetch(call: Callable[[api.Workspace], T], workspace: Path, user: str | None, as_json: bool) -> T | None:
    """Open the workspace and run ``call`` on it; a user mistake prints one line and exits 2.

    Under ``--json`` the result is printed as the JSON document and None is returned: nothing is left to
    render. Otherwise the result is returned for the caller to render (``call`` must not return None).
    """
    with _user_errors():
        result = call(_open(workspace, user))
    if as_json:
        _emit_json(result)
        return None
    return result


def _report_table(report: api.ImportReport) -> Table:
    table = Table(title=f"import #{report.import_id} → {report.table}", show_lines=False)
    for col in (
        "table",
        "read",
        "accepted",
        "updated",
        "unchanged",
        "fixed",
        "filled",
        "flagged",
        "quarantined",
        "duplicates removed",
        "merged",
    ):
        table.add_column(col, justify="right" if col != "table" else "left")
    for name, s in report.tables.items():
        merged = s["merged_same_id"] + (report.identity.get("records_merged", 0) if name == "customers" else 0)
        table.add_row(
            name,
            str(s["rows_read"]),
            str(s["accepted"]),
            str(s["updated"]),
            str(s["unchanged"]),
            str(sum(s["fixed"].values())),
            str(sum(s["filled"].values())),
            str(sum(s["flagged"].values())),
            str(s["quarantined"]),
            str(s["duplicates_removed"]),
            str(merged),
        )
    return table


def _print_report(report: api.ImportReport) -> None:
    out.print(_report_table(report))
    for name, s in report.tables.items():
        for reason, n in sorted(s["quarantined_by_reason"].items()):
            out.print(f"  quarantined {name}: {reason} × {n}", markup=False)
        for field, decision in s["missing_decisions"].items():
            out.print(f"  missing {name}.{field}: {decision}", markup=False)
    for source, cols in report.ignored_columns.items():
        out.print(f"  {source}: columns not imported: {', '.join(cols)}", markup=False)


@app.command()
def version() -> None:
    """Print Portrait's version."""
    out.print(__version__)


@app.command()
def init(directory: Path = typer.Argument(..., help="Folder for the new workspace.")) -> None:
    """Create a workspace: portrait.toml, the DuckDB warehouse, the store and the key."""
    with _user_errors():
        ws = api.init_workspace(directory)
    out.print(f"workspace ready at {ws.path}")


@app.command("import")
def import_cmd(
    table: str = typer.Argument(..., help=f"Target table: {', '.join(TABLES)}."),
    files: list[Path] = typer.Argument(None, help="Files: CSV (any encoding), .xlsx/.xls, .parquet, .jsonl."),
    mapping: Path | None = typer.Option(None, "--mapping", help="YAML/TOML file mapping column names to fields."),
    sheet: str | None = typer.Option(None, "--sheet", help="Excel sheet name (default: the first)."),
    fmt: str | None = typer.Option(None, "--format", help="Force the format: csv, excel, parquet, jsonl."),
    delimiter: str | None = typer.Option(None, "--delimiter", help="CSV separator (default: detected)."),
    sql: str | None = typer.Option(None, "--sql", help="SQLAlchemy database URL to read from."),
    query: str | None = typer.Option(None, "--query", help="SQL query to run with --sql."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Import files into a table; all or nothing, bad rows to quarantine. Prints the import report."""
    with _user_errors():
        ws = _open(workspace, user)
        with _progress(not as_json) as tick:
            report = api.import_files(
                ws,
                table,
                files or [],
                mapping=mapping,
                sheet=sheet,
                fmt=fmt,
                delimiter=delimiter,
                sql_url=sql,
                query=query,
                progress=tick,
            )
    if as_json:
        _emit_json(report.as_dict())
    else:
        _print_report(report)


@app.command()
def quality(workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt, user: str | None = UserOpt) -> None:
    """The data-quality report: per table and column, read/accepted/fixed/filled/flagged/quarantined."""
    report = _fetch(api.quality_report, workspace, user, as_json)
    if report is None:
        return
    summary = Table(title="data quality")
    for col in ("table", "rows", "read", "accepted", "updated", "duplicates removed", "quarantined", "flagged"):
        summary.add_column(col, justify="left" if col == "table" else "right")
    for name, t in report["tables"].items():
        imp = t["imports"]
        summary.add_row(
            name,
            str(t["rows"]),
            str(imp["rows_read"]),
            str(imp["accepted"]),
            str(imp["updated"]),
            str(imp["duplicates_removed"]),
            str(imp["quarantined"]),
            str(sum(t["flagged"].values())),
        )
    out.print(summary)
    for name, t in report["tables"].items():
        if not t["rows"] and not t["imports"]["rows_read"]:
            continue
        cols = Table(title=f"{name}: columns", title_justify="left")
        for col in ("column", "non-empty", "empty", "fixed", "filled", "unknown", "quarantined"):
            cols.add_column(col, justify="left" if col == "column" else "right")
        for field, c in t["columns"].items():
            quarantined = ", ".join(f"{rule} {n}" for rule, n in c["quarantined"].items()) or "0"
            cols.add_row(
                field,
                str(c["non_empty"]),
                str(c["empty"]),
                str(c["fixed"]),
                str(c["filled"]),
                str(c["unknown"]),
                quarantined,
            )
        out.print(cols)
    customers = report["tables"]["customers"]
    out.print(
        f"identity merges: {customers['identity_merges']} ({customers['records_merged']} records joined); "
        f"active customers: {customers['active_customers']}"
    )


@app.command()
def customer(
    user_id: str = typer.Argument(..., help="Customer id."),
    reveal: bool = typer.Option(False, "--reveal", help="Show clear personal values (needs a role that may; logged)."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """One customer's record, personal fields masked."""
    record = _fetch(lambda ws: api.customer_record(ws, user_id, reveal=reveal), workspace, user, as_json)
    if record is None:
        return
    table = Table(title=f"customer {user_id}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key, value in record.items():
        table.add_row(key, "" if value is None else str(value))
    out.print(table)


@merge_app.command("list")
def merge_list(workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt, user: str | None = UserOpt) -> None:
    """List identity merges with their evidence."""
    rows = _fetch(api.merges, workspace, user, as_json)
    if rows is None:
        return
    _show(
        "identity merges",
        ("id", "survivor", "members", "matched on", "undone"),
        [
            (
                m["merge_id"],
                m["survivor"],
                ", ".join(m["members"]),
                "; ".join(f"{e['key']}: {', '.join(e['records'])}" for e in m["evidence"]),
                m["undone_at"],
            )
            for m in rows
        ],
    )


@merge_app.command("undo")
def merge_undo(
    merge_id: int = typer.Argument(..., help="Merge id from `portrait merge list`."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Undo a merge: restore the records as they were; they will not be merged again."""
    result = _fetch(lambda ws: api.merge_undo(ws, merge_id), workspace, user, as_json)
    if result is None:
        return
    out.print(f"merge {merge_id} undone: restored {', '.join(result['restored'])}")


@user_app.command("add")
def user_add(
    name: str = typer.Argument(...),
    role: str = typer.Option(..., "--role", help="admin, analyst, marketing, service, service_lead, sales_manager"),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Add a user with a role."""
    with _user_errors():
        ws = _open(workspace, None)
        ws.store.add_user(name, role)
        ws.audit("user_add", name, role=role)
    out.print(f"user {name} added as {role}")


@user_app.command("role")
def user_role(name: str = typer.Argument(...), role: str = typer.Argument(...), workspace: Path = WorkspaceOpt) -> None:
    """Change a user's role."""
    with _user_errors():
        ws = _open(workspace, None)
        ws.store.set_role(name, role)
        ws.audit("user_role", name, role=role)
    out.print(f"user {name} is now {role}")


@user_app.command("list")
def user_list(workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """List users and roles."""
    users = _fetch(lambda ws: ws.store.users(), workspace, None, as_json)
    if users is None:
        return
    for u in users:
        out.print(f"{u['name']}\t{u['role']}")


@app.command()
def audit(limit: int = typer.Option(50, "--limit"), workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """The audit log, newest first."""
    entries = _fetch(lambda ws: ws.store.audit_entries(limit), workspace, None, as_json)
    if entries is None:
        return
    _show(
        "audit log",
        ("id", "at", "actor", "action", "target", "outcome"),
        [(e["id"], e["at"], e["actor"], e["action"], e["target"], e["outcome"]) for e in entries],
    )


@app.command("refresh")
def refresh_cmd(
    as_of: str | None = typer.Option(None, "--as-of", help="YYYY-MM-DD (default: the day after the last activity)."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Rebuild the customer table, metrics facts, tags, RFM and scores as a new snapshot."""
    from portrait.refresh import refresh

    with _user_errors():
        ws = _open(workspace, user)
        day = _parse_date(as_of, "--as-of") if as_of else None
        with _progress(not as_json) as tick:
            result = refresh(ws, day, progress=tick)
    if as_json:
        _emit_json(result)
    else:
        snap = result["snapshot"]
        stages = ", ".join(f"{k} {v:.2f}s" for k, v in result["stages"].items())
        out.print(f"snapshot #{snap['id']} as of {result['as_of']} ready in {result['seconds']:.2f}s ({stages})")


@app.command("export-parquet")
def export_parquet_cmd(
    out_dir: Path | None = typer.Option(
        None, "--out", help="Folder for the Parquet files (default: <spark_dir>/raw of the workspace)."
    ),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Write the raw warehouse tables as Parquet files (personal fields left out), for Spark and other readers."""
    from portrait.parquet import export_parquet

    result = _fetch(lambda ws: export_parquet(ws, out_dir), workspace, user, as_json)
    if result is None:
        return
    _show(
        f"Parquet files in {result['folder']}",
        ("table", "rows", "file"),
        [(name, info["rows"], info["path"]) for name, info in result["tables"].items()],
        right=("rows",),
    )


def _parse_date(text: str, what: str):  # noqa: ANN202 - a date
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PortraitError(f"{what} '{text}' is not a date; write YYYY-MM-DD") from None


@app.command()
def status(workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt, user: str | None = UserOpt) -> None:
    """The current snapshot and the last refreshes (a failed one with its stage and reason)."""
    from portrait.refresh import status as refresh_status

    info = _fetch(refresh_status, workspace, user, as_json)
    if info is None:
        return
    snap = info["snapshot"]
    out.print(
        f"snapshot: #{snap['id']} as of {snap['as_of']} (made {snap['created_at']})" if snap else "snapshot: none yet"
    )
    for job in info["recent_refreshes"]:
        line = f"refresh {job['id']}: {job['status']} at {job['stage'] or '-'} ({job['started_at']})"
        if job["status"] == "failed":
            line += f" — {job['message']}"
        out.print(line, markup=False)


@app.command("metrics")
def metrics_cmd(
    period: str = typer.Option(..., "--period", help="2024-05, 2024-05-03, 2024-W18, 2024-Q2, 2024 or A..B."),
    compare: str = typer.Option("", "--compare", help="mom, yoy or mom,yoy."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Key customer metrics with numerator, denominator and definition (and MoM/YoY)."""
    from portrait.metrics import metrics

    hows = [c.strip() for c in compare.split(",") if c.strip()]
    result = _fetch(lambda ws: metrics(ws, period, hows), workspace, user, as_json)
    if result is None:
        return
    p = result["period"]
    table = Table(title=f"key metrics {p['name']} ({p['start']} … {p['end']}), snapshot #{result['snapshot']}")
    for col in ("metric", "value", "numerator / denominator", *[f"{h}" for h in hows], "definition"):
        table.add_column(col)
    for key, m in result["metrics"].items():
        value = m["value"]
        shown = (
            "—"
            if value is None
            else (
                f"{value:.1%}"
                if isinstance(value, float) and "rate" in key or "ratio" in key
                else f"{value:,.2f}"
                if isinstance(value, float)
                else f"{value:,}"
            )
        )
        frac = (
            f"{m['numerator']:,} / {m['denominator']:,}"
            if m.get("denominator") is not None and m.get("numerator") is not None
            else ""
        )
        changes = []
        for h in hows:
            ch = result["compare"][h]["metrics"][key]["change"]["relative"]
            changes.append("—" if ch is None else f"{ch:+.1%}")
        table.add_row(
            f"{m['name_zh']} {key}",
            shown,
            frac,
            *changes,
            m["definition"] + (f" [{m['note']}]" if m.get("note") else ""),
        )
    out.print(table)


@tags_app.command("list")
def tags_list(workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """The tag definitions in use (default library plus the workspace's tags.yaml)."""
    from portrait.tags import CATEGORIES, tag_library

    with _user_errors():
        tags = tag_library(_open(workspace, None))
    if as_json:
        _emit_json([t.model_dump(by_alias=True, exclude_none=True) for t in tags])
        return
    table = Table(title="tags")
    for col in ("tag", "category", "kind", "rule"):
        table.add_column(col)
    for t in tags:
        if t.kind == "rule":
            rule = "; ".join(f"{v.value}: {v.when}" for v in t.values or []) + (
                f"; else {t.else_value}" if t.else_value else ""
            )
        elif t.kind in ("bands", "model"):
            rule = f"{t.field} at {t.edges} → {t.labels}"
        else:
            rule = t.field or t.expr or t.path or ""
        table.add_row(t.name, CATEGORIES[t.category], t.kind, rule)
    out.print(table)


@tags_app.command("stats")
def tags_stats(workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt, user: str | None = UserOpt) -> None:
    """Coverage of each tag, its values, and how much membership moved since the last refresh."""
    from portrait.tags import tag_stats

    stats = _fetch(tag_stats, workspace, user, as_json)
    if stats is None:
        return
    table = Table(
        title=f"tags, snapshot #{stats['snapshot']} as of {stats['as_of']} ({stats['customers']:,} customers)"
    )
    for col in ("tag", "category", "coverage", "moved", "top values"):
        table.add_column(col)
    for t in stats["tags"]:
        top = ", ".join(f"{v} {n:,}" for v, n in list(t["values"].items())[:4])
        moved = "—" if t["moved_since_last_refresh"] is None else f"{t['moved_since_last_refresh']:,}"
        table.add_row(t["tag"], t["category_zh"], f"{t['coverage']:.0%}", moved, top)
    out.print(table)


@tags_app.command("history")
def tags_history(
    user_id: str = typer.Argument(...),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """When a customer's tags changed, refresh by refresh, and the manual tags on them."""
    from portrait.tags import tag_history

    history = _fetch(lambda ws: tag_history(ws, user_id), workspace, user, as_json)
    if history is None:
        return
    for c in history["changes"]:
        out.print(f"{c['as_of']}  {c['tag']}: {c['from'] or '∅'} → {c['to'] or '∅'}", markup=False)
    for m in history["manual"]:
        out.print(f"{m['at']}  {m['tag']} = {m['value']} (manual, by {m['by']}: {m['why']})", markup=False)


@tags_app.command("add")
def tags_add(
    user_id: str = typer.Argument(...),
    tag: str = typer.Argument(..., help="Tag name, e.g. 潜在需求."),
    value: str = typer.Argument("是", help="Tag value (default 是)."),
    why: str = typer.Option(..., "--why", help="Why the tag is added (kept with it)."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Put a manual tag on a customer; it joins the tags at the next refresh."""
    from portrait.tags import add_manual_tag

    result = _fetch(lambda ws: add_manual_tag(ws, user_id, tag, value, why), workspace, user, as_json)
    if result is None:
        return
    out.print(f"{user_id}: {tag} = {value} (by {result['by']}); shows after the next `portrait refresh`", markup=False)


@app.command("rfm")
def rfm_cmd(workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt, user: str | None = UserOpt) -> None:
    """RFM groups: thresholds used, group sizes, each group's average R, F, M."""
    summary = _fetch(api.rfm, workspace, user, as_json)
    if summary is None:
        return
    th = summary["thresholds"]
    out.print(f"RFM over {summary['buyers']:,} buyers, snapshot #{summary['snapshot']} as of {summary['as_of']}")
    for k in ("recency_days", "frequency", "monetary"):
        out.print(f"  {k} quintile cuts: {', '.join(f'{c:g}' for c in th[k]['cuts'])}")
    hi = summary["high_when_score_above"]
    out.print(f"  high when the score is above the {hi['compare']}: R {hi['r']:.2f}, F {hi['f']:.2f}, M {hi['m']:.2f}")
    table = Table()
    for col in ("group", "customers", "share", "avg recency (days)", "avg frequency", "avg monetary"):
        table.add_column(col)
    for name, g in summary["groups"].items():
        if not g["customers"]:
            table.add_row(name, "0", "0%", "", "", "")
            continue
        table.add_row(
            name,
            f"{g['customers']:,}",
            f"{g['share']:.1%}",
            f"{g['avg_recency_days']:.0f}",
            f"{g['avg_frequency']:.2f}",
            f"{g['avg_monetary']:,.0f}",
        )
    out.print(table)


def _print_preview(result: dict) -> None:
    out.print(
        f"{result['customers']:,} of {result['of']:,} customers ({result['share']:.1%}), snapshot #{result['snapshot']}"
    )
    for c in result["conditions"]:
        out.print(f"  alone: {c['condition']} → {c['customers']:,}", markup=False)
    for m in result["sample"]:
        out.print(
            f"  {m['user_id']} {m['user_name'] or ''} {m['gender'] or ''} {m['age'] or ''} {m['city_tier']} {m['rfm_group'] or ''}",
            markup=False,
        )


@segment_app.command("preview")
def segment_preview(
    rule: str = typer.Argument(..., help="e.g. \"age between 26 and 35 and city_tier = '一线' and 品类偏好 = '手机'\""),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Size of a rule, each condition's size alone, and a masked sample — without saving it."""
    from portrait import segments

    result = _fetch(lambda ws: segments.preview(ws, rule), workspace, user, as_json)
    if result is None:
        return
    _print_preview(result)


@segment_app.command("define")
def segment_define(
    name: str = typer.Argument(...),
    rule: str = typer.Argument(...),
    description: str = typer.Option("", "--description"),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Save a segment by name (the rule is checked and previewed first)."""
    from portrait import segments

    result = _fetch(lambda ws: segments.define(ws, name, rule, description), workspace, user, as_json)
    if result is None:
        return
    out.print(f"segment {name} saved", markup=False)
    _print_preview(result)


@segment_app.command("list")
def segment_list(workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt, user: str | None = UserOpt) -> None:
    """Saved segments with their current sizes."""
    from portrait import segments

    rows = _fetch(segments.list_segments, workspace, user, as_json)
    if rows is None:
        return
    _show(
        "segments",
        ("name", "customers", "rule", "by", "updated"),
        [
            (r["name"], "—" if r["customers"] is None else f"{r['customers']:,}", r["rule"], r["by"], r["updated_at"])
            for r in rows
        ],
        right=("customers",),
    )


@segment_app.command("show")
def segment_show(
    name: str = typer.Argument(...), workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt, user: str | None = UserOpt
) -> None:
    """The group portrait of a saved segment: what its members share compared with all customers."""
    from portrait import segments

    with _user_errors():
        ws = _open(workspace, user)
        seg = segments.get(ws, name)
        result = segments.group_portrait(ws, seg["rule"])
    if as_json:
        _emit_json({"name": name, **result})
        return
    out.print(f"{name}: {result['customers']:,} of {result['of']:,} customers — {seg['rule']}", markup=False)
    table = Table(title="traits that set the group apart (p < 0.05)")
    for col in ("dimension", "value", "share", "all customers", "lift", "p"):
        table.add_column(col)
    for t in result["traits"]:
        table.add_row(
            t["dimension"],
            t["value"],
            f"{t['share']:.1%}",
            f"{t['share_all']:.1%}",
            f"{t['lift']:.2f}",
            f"{t['p_value']:.1e}",
        )
    out.print(table)
    for m, v in result["measures"].items():
        if v["mean"] is not None:
            out.print(f"  {m}: {v['mean']:,.2f} vs {v['mean_all']:,.2f} overall", markup=False)


@segment_app.command("export")
def segment_export(
    name: str = typer.Argument(...),
    out_file: Path = typer.Option(..., "--out", help="File to write (.csv or .xlsx)."),
    fmt: str | None = typer.Option(None, "--format", help="csv or xlsx (default: from the file name)."),
    encoding: str = typer.Option("utf-8-sig", "--encoding", help="CSV encoding: utf-8-sig (Excel), utf-8, gbk."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Export a segment's members, personal fields masked; past Excel's row limit, on further sheets."""
    from portrait import segments

    kind = fmt or ("xlsx" if out_file.suffix.lower() in (".xlsx", ".xls") else "csv")
    result = _fetch(lambda ws: segments.export(ws, name, out_file, kind, encoding), workspace, user, as_json)
    if result is None:
        return
    out.print(
        f"{result['rows']:,} members written to {result['file']} ({result['sheets']} sheet(s), masked)",
        markup=False,
    )


@segment_app.command("compare")
def segment_compare(
    first: str = typer.Argument(...),
    second: str = typer.Argument(...),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Two segments side by side: overlap and the traits that differ most."""
    from portrait import segments

    result = _fetch(lambda ws: segments.compare(ws, first, second), workspace, user, as_json)
    if result is None:
        return
    o = result["overlap"]
    out.print(
        f"{first}: {result['a']['customers']:,} · {second}: {result['b']['customers']:,} · both {o['both']:,} "
        f"(Jaccard {o['jaccard']:.2f})",
        markup=False,
    )
    for d in result["differences"][:10]:
        out.print(f"  {d['dimension']}={d['value']}: {d['share_a']:.1%} vs {d['share_b']:.1%}", markup=False)


@analyze_app.command("dimensions")
def analyze_dimensions(
    segment: str | None = typer.Option(None, "--segment", help="A saved segment's name (default: all customers)."),
    rule: str | None = typer.Option(None, "--rule", help="Or a segment rule."),
    age_scheme: str = typer.Option(
        "default", "--age-scheme", help="default (18-25/26-35/36-45/46+) or fine (5-year bands)."
    ),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Counts and shares by gender, region, age band, occupation, terminal, source, order hour and count; products."""
    from portrait import analysis, segments

    with _user_errors():
        ws = _open(workspace, user)
        chosen = segments.get(ws, segment)["rule"] if segment else rule
        result = analysis.dimensions(ws, chosen, age_scheme)
    if as_json:
        _emit_json(result)
        return
    out.print(f"{result['customers']:,} customers{' — ' + chosen if chosen else ''}", markup=False)
    for dim, t in result["dimensions"].items():
        if dim == "product_preference":
            _show(
                t["label"],
                ("product", "orders", "avg price"),
                [(r["product"], r["orders"], r["avg_price"]) for r in t["rows"][:10]],
                right=("orders", "avg price"),
            )
        else:
            _show(
                t["label"],
                ("value", "customers", "share"),
                [(r["value"], f"{r['customers']:,}", f"{r['share']:.1%}") for r in t["rows"][:12]],
                right=("customers", "share"),
            )


@analyze_app.command("funnel")
def analyze_funnel(
    steps: str = typer.Option("pv,cart,purchase,repurchase", "--steps", help="Comma-separated steps."),
    window: int = typer.Option(30, "--window", help="Days from the first step within which each later step counts."),
    segment: str | None = typer.Option(None, "--segment", help="A saved segment's name."),
    start: str | None = typer.Option(None, "--from", help="First step on or after this date."),
    end: str | None = typer.Option(None, "--to", help="First step on or before this date."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """An ordered funnel per customer with conversion per step and the biggest drop named."""
    from portrait import analysis, segments

    with _user_errors():
        ws = _open(workspace, user)
        rule = segments.get(ws, segment)["rule"] if segment else None
        result = analysis.funnel(ws, steps.split(","), window, rule, start, end)
    if as_json:
        _emit_json(result)
        return
    _show(
        f"funnel (window {window} days)",
        ("step", "customers", "from previous", "from first"),
        [
            (
                t["step"],
                f"{t['customers']:,}",
                "" if t["conversion_from_previous"] is None else f"{t['conversion_from_previous']:.1%}",
                "" if t["conversion_from_first"] is None else f"{t['conversion_from_first']:.1%}",
            )
            for t in result["steps"]
        ],
    )
    if result["biggest_drop"]:
        d = result["biggest_drop"]
        out.print(f"biggest drop: {d['from']} → {d['to']} loses {d['lost_share']:.1%}", markup=False)


@analyze_app.command("cohort")
def analyze_cohort(
    months: int = typer.Option(12, "--months"),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Retention by first-purchase month (the share of each cohort buying k months later)."""
    from portrait import analysis

    result = _fetch(lambda ws: analysis.cohorts(ws, months), workspace, user, as_json)
    if result is None:
        return
    _show(
        "cohort retention",
        ("cohort", "customers", *[f"+{k}" for k in range(months + 1)]),
        [
            (c["cohort"], c["customers"], *["" if r is None else f"{r:.0%}" for r in c["retention"]])
            for c in result["cohorts"]
        ],
    )


@analyze_app.command("channels")
def analyze_channels(
    start: str | None = typer.Option(None, "--from"),
    end: str | None = typer.Option(None, "--to"),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """The channel table: uv, clicks, orders, conversion rate, cost, revenue, ROI."""
    from portrait import analysis

    result = _fetch(lambda ws: analysis.channels(ws, start, end), workspace, user, as_json)
    if result is None:
        return
    _show(
        "channels",
        ("channel", "uv", "clicks", "orders", "conversion", "cost", "revenue", "ROI"),
        [
            (
                c["channel"],
                f"{c['uv']:,}",
                f"{c['clicks']:,}",
                f"{c['orders']:,}",
                "" if c["conversion_rate"] is None else f"{c['conversion_rate']:.1%}",
                f"{c['cost']:,.0f}",
                f"{c['revenue']:,.0f}",
                "" if c["roi"] is None else f"{c['roi']:.1f}",
            )
            for c in result["channels"]
        ],
    )


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


@analyze_app.command("paths")
def analyze_paths(
    start: str | None = typer.Option(None, "--from", help="First day (default: 30 days before the as-of date)."),
    end: str | None = typer.Option(None, "--to", help="Last day (default: the day before the as-of date)."),
    gap: int | None = typer.Option(None, "--gap", help="Minutes of pause that end a session (default 30)."),
    top: int | None = typer.Option(None, "--top", help="Pages and sources named in the flows (default 8)."),
    grain: str = typer.Option("day", "--grain", help="Browse/favourite volume per day or week."),
    segment: str | None = typer.Option(None, "--segment", help="A saved segment's name."),
    rule: str | None = typer.Option(None, "--rule", help="Or a segment rule."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Behaviour trajectory: sessions, entry and exit pages, source → entry → exit flows, pv/fav volume."""
    from portrait import journeys, segments

    with _user_errors():
        ws = _open(workspace, user)
        chosen = segments.get(ws, segment)["rule"] if segment else rule
        result = journeys.paths(ws, start, end, chosen, gap, top)
        result["volume"] = journeys.volume(ws, result["start"], result["end"], grain, chosen)
    if as_json:
        _emit_json(result)
        return
    out.print(
        f"{result['start']} – {result['end']}: {result['sessions']:,} sessions of {result['customers']:,} customers, "
        f"bounce rate {_share(result['bounce_rate'])}",
        markup=False,
    )
    for key, label, col in (("sources", "sources", "source"), ("entry_pages", "entry pages", "page")):
        _show(
            label, (col, "sessions", "share"), [(r[col], f"{r['sessions']:,}", _share(r["share"])) for r in result[key]]
        )
    _show(
        "exit pages",
        ("page", "sessions", "share"),
        [(r["page"], f"{r['sessions']:,}", _share(r["share"])) for r in result["exit_pages"]],
    )
    nodes = result["flows"]["nodes"]
    _show(
        "flows (Sankey links)",
        ("from", "to", "sessions"),
        [(nodes[x["source"]]["name"], nodes[x["target"]]["name"], f"{x['value']:,}") for x in result["flows"]["links"]],
        right=("sessions",),
    )
    _show(
        f"browse and favourite volume per {grain}",
        ("period", "pv", "fav", "visitors"),
        [(r["period"], f"{r['pv']:,}", f"{r['fav']:,}", f"{r['visitors']:,}") for r in result["volume"]["rows"]],
        right=("pv", "fav", "visitors"),
    )


@analyze_app.command("aipl")
def analyze_aipl(
    end: str | None = typer.Option(
        None, "--to", help="Last day of the current period (default: the day before the as-of date)."
    ),
    days: int | None = typer.Option(None, "--days", help="Days per period (default 30, [aipl] period_days)."),
    segment: str | None = typer.Option(None, "--segment", help="A saved segment's name."),
    rule: str | None = typer.Option(None, "--rule", help="Or a segment rule."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """AIPL lifecycle: customers per stage in two consecutive periods and the flows between stages."""
    from portrait import aipl, segments

    with _user_errors():
        ws = _open(workspace, user)
        chosen = segments.get(ws, segment)["rule"] if segment else rule
        result = aipl.aipl(ws, end, days, chosen)
    if as_json:
        _emit_json(result)
        return
    p, c = result["periods"]["previous"], result["periods"]["current"]
    _show(
        f"AIPL stages: {p['start']} – {p['end']} → {c['start']} – {c['end']}",
        ("stage", "previous", "current", "change"),
        [(s["label"], f"{s['previous']:,}", f"{s['current']:,}", f"{s['change']:+,}") for s in result["stages"]],
        right=("previous", "current", "change"),
    )
    order = list(result["matrix"])
    _show(
        "flows (rows: previous stage, columns: current stage)",
        ("from \\ to", *order),
        [(a, *(f"{result['matrix'][a][b]:,}" for b in order)) for a in order],
        right=tuple(order),
    )
    for stage, text in result["rules"].items():
        out.print(f"{stage}: {text}", markup=False)


@analyze_app.command("campaign")
def analyze_campaign(
    campaign_id: str = typer.Argument(..., help="The campaign's id (campaigns table)."),
    window: int | None = typer.Option(
        None, "--window", help="Days after (and before) the start compared (default 30)."
    ),
    retention: int | None = typer.Option(
        None, "--retention", help="Days in which a new buyer must buy again (default 90)."
    ),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """A campaign: before/after conversion, treatment vs control lift with z-test and interval, retention, ROI."""
    from portrait import campaigns

    result = _fetch(lambda ws: campaigns.campaign_report(ws, campaign_id, window, retention), workspace, user, as_json)
    if result is None:
        return
    w = result["windows"]
    _show(
        f"{result['campaign_id']} {result['campaign_name'] or ''}: before {w['before']['start']} – {w['before']['end']}, "
        f"after {w['after']['start']} – {w['after']['end']}",
        ("group", "members", "conv. before", "conv. after", "new buyers", "retained", "revenue after", "cost"),
        [
            (
                arm,
                f"{g['members']:,}",
                _share(g["conversion_before"]),
                _share(g["conversion_after"]),
                f"{g['new_buyers']:,}",
                _share(g["retention_rate"]),
                f"{g['revenue_after']:,.2f}",
                f"{g['cost']:,.2f}",
            )
            for arm, g in result["groups"].items()
        ],
    )
    lift = result["lift"]
    if lift:
        relative = "" if lift["relative"] is None else f" (relative {lift['relative']:+.1%})"
        line = f"lift {lift['absolute']:+.2%}{relative}"
        test = lift.get("test")
        if test and test["z"] is not None:
            line += (
                f", z = {test['z']:.2f}, p = {test['p_value']:.4g}, {test['confidence']:.0%} interval "
                f"[{test['ci_low']:+.2%}, {test['ci_high']:+.2%}]"
            )
        out.print(line, markup=False)
    if result["roi"] is not None:
        out.print(
            f"revenue {result['revenue']:,.2f}, cost {result['cost']:,.2f}, ROI {result['roi']:.2f}; "
            f"incremental revenue {result['incremental_revenue'] or 0:,.2f}, incremental ROI "
            f"{'' if result['incremental_roi'] is None else format(result['incremental_roi'], '.2f')}",
            markup=False,
        )
    if result.get("message"):
        out.print(f"note: {result['message']}", markup=False)


@app.command("schedule")
def schedule_cmd(
    every: str = typer.Option("daily", "--every", help="daily or monthly (the 1st)."),
    at: str = typer.Option("02:00", "--at", help="HH:MM, local time."),
    once: bool = typer.Option(False, "--once", help="Refresh once now and exit (for cron)."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Scheduled refresh with the configured as-of rule: once (cron) or as a long-running scheduler."""
    from portrait import schedule

    with _user_errors():
        ws = _open(workspace, user)
        if once:
            result = schedule.run_once(ws)
            _emit_json(result) if as_json else out.print(
                f"snapshot #{result['snapshot']['id']} as of {result['as_of']}", markup=False
            )
            return
        from datetime import datetime

        out.print(
            f"refreshing {every} at {at}; next run {schedule.next_run(datetime.now(), every, at)} (Ctrl-C stops)",
            markup=False,
        )
        try:
            schedule.run_forever(
                ws, every, at, report=lambda r: out.print(json.dumps(r, ensure_ascii=False, default=str), markup=False)
            )
        except KeyboardInterrupt:
            out.print("scheduler stopped")


@app.command("backup")
def backup_cmd(
    folder: Path = typer.Argument(..., help="A new or empty folder."),
    include_key: bool = typer.Option(False, "--include-key", help="Copy the key file too (keep the backup safe)."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Write a consistent copy of the warehouse, the store, the current snapshot and the configuration."""
    from portrait.backup import backup

    result = _fetch(lambda ws: backup(ws, folder, include_key), workspace, user, as_json)
    if result is None:
        return
    rows = sum(result["row_counts"]["warehouse"].values())
    out.print(
        f"backup written to {folder} ({rows:,} warehouse rows; key {'included' if include_key else 'not included'})",
        markup=False,
    )


@app.command("restore")
def restore_cmd(
    folder: Path = typer.Argument(..., help="A folder made by `portrait backup`."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Bring a backup back into the workspace folder (replacing its warehouse, store and snapshot)."""
    from portrait.backup import restore

    with _user_errors():
        result = restore(folder, workspace)
    if as_json:
        _emit_json(result)
    else:
        out.print(
            f"restored {result['workspace']} from the backup made {result['made_at']}. {result['note']}", markup=False
        )


@app.command("forget")
def forget_cmd(
    user_id: str = typer.Argument(..., help="The customer to erase."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Erase a customer everywhere (raw tables, quarantine, merges, snapshots, manual tags); admins only."""
    from portrait.erasure import forget

    result = _fetch(lambda ws: forget(ws, user_id), workspace, user, as_json)
    if result is None:
        return
    out.print(f"erased {result['records']} record(s); audit entry {result['erased']}", markup=False)


@analyze_app.command("basket")
def analyze_basket(
    by: str = typer.Option("order", "--by", help="Baskets per order, or per customer and day (customer-day)."),
    level: str = typer.Option("product", "--level", help="Items: product, category or brand."),
    min_support: float = typer.Option(0.01, "--min-support", help="Share of baskets an itemset must be in."),
    min_confidence: float = typer.Option(0.3, "--min-confidence", help="Lowest confidence of a rule."),
    min_lift: float = typer.Option(1.0, "--min-lift", help="Lowest lift of a rule (1 = no association)."),
    max_len: int = typer.Option(3, "--max-len", help="Most items in an itemset (antecedent + consequent); 0: any."),
    sort: str = typer.Option("lift", "--sort", help="Order rules by lift, confidence or support."),
    limit: int = typer.Option(20, "--limit", help="Rules and itemsets shown (totals are always given)."),
    segment: str | None = typer.Option(None, "--segment", help="A saved segment's name (default: all customers)."),
    rule: str | None = typer.Option(None, "--rule", help="Or a segment rule."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Association rules (购物篮): frequent itemsets and rules with support, confidence, lift, in plain words."""
    from portrait import basket, segments

    with _user_errors():
        ws = _open(workspace, user)
        chosen = segments.get(ws, segment)["rule"] if segment else rule
        result = basket.basket_rules(
            ws, by, level, min_support, min_confidence, min_lift, max_len or None, chosen, sort=sort, limit=limit
        )
    if as_json:
        _emit_json(result)
        return
    b = result["baskets"]
    out.print(
        f"{b['count']:,} baskets by {by} ({b['items']:,} {level} items, {b['mean_items']:.1f} per basket); "
        f"{result['itemset_count']:,} frequent itemsets, {result['rule_count']:,} rules"
        f"{' — ' + chosen if chosen else ''}",
        markup=False,
    )
    if result["message"]:
        out.print(result["message"], markup=False)
    if result["rules"]:
        _show(
            "rules",
            ("if", "then", "support", "confidence", "lift", "baskets"),
            [
                (
                    " + ".join(r["antecedents"]),
                    " + ".join(r["consequents"]),
                    f"{r['support']:.2%}",
                    f"{r['confidence']:.1%}",
                    f"{r['lift']:.2f}",
                    f"{r['count']:,}",
                )
                for r in result["rules"]
            ],
            right=("support", "confidence", "lift", "baskets"),
        )
        for r in result["rules"][:5]:
            out.print(f"  {r['sentence']}", markup=False)
    elif result["itemsets"]:
        _show(
            "frequent itemsets",
            ("items", "support", "baskets"),
            [(" + ".join(i["items"]), f"{i['support']:.2%}", f"{i['count']:,}") for i in result["itemsets"]],
            right=("support", "baskets"),
        )


@model_app.command("clv")
def model_clv(
    top: int = typer.Option(10, "--top", help="How many customers to list, by CLV."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Lifetime value (BG/NBD + Gamma-Gamma): parameters, standard errors, log-likelihood, top customers by CLV."""
    from portrait.models.clv import clv_report

    result = _fetch(lambda ws: clv_report(ws, top), workspace, user, as_json)
    if result is None:
        return
    out.print(
        f"CLV model, snapshot #{result['snapshot']} as of {result['as_of']}: {result['status']} — {result['message']}",
        markup=False,
    )
    for key, title in (("bgnbd", "BG/NBD purchases (days)"), ("gamma_gamma", "Gamma-Gamma spend")):
        fit = result.get(key)
        if not fit or "params" not in fit:
            continue
        out.print(
            f"{title}: log-likelihood {fit['loglik']:.2f}, n {fit['n']:,}, "
            f"{'converged' if fit['converged'] else 'NOT converged'} in {fit['iterations']} iterations",
            markup=False,
        )
        _show(
            title,
            ("parameter", "estimate", "std. error"),
            [(k, f"{v:.4g}", f"{fit['se'][k]:.3g}") for k, v in fit["params"].items()],
            right=("estimate", "std. error"),
        )
    if result["top"]:
        purchases, value = f"expected_purchases_{result['purchase_days']}d", f"clv_{result['horizon_days']}d"
        _show(
            f"top customers by CLV over {result['horizon_days']} days",
            ("user_id", f"purchases {result['purchase_days']}d", "P(alive)", "value/purchase", "CLV"),
            [
                (
                    r["user_id"],
                    f"{r[purchases]:.2f}",
                    f"{r['p_alive']:.2f}",
                    f"{r['expected_avg_value']:.2f}",
                    f"{r[value]:,.2f}",
                )
                for r in result["top"]
            ],
            right=(f"purchases {result['purchase_days']}d", "P(alive)", "value/purchase", "CLV"),
        )


@model_app.command("cluster")
def model_cluster(workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt, user: str | None = UserOpt) -> None:
    """Customer clusters of the current snapshot: k chosen by silhouette, each cluster named, sized and averaged."""
    from portrait.models.cluster import cluster_report

    result = _fetch(cluster_report, workspace, user, as_json)
    if result is None:
        return
    out.print(f"snapshot #{result['snapshot']} as of {result['as_of']}: {result['message']}", markup=False)
    if result["status"] != "ok":
        return
    out.print(
        "silhouette by k: " + ", ".join(f"{k}: {v:.3f}" for k, v in result["silhouette"].items()),
        markup=False,
    )
    _show(
        f"{result['k']} clusters ({result['method']})",
        ("cluster", "name", "customers", "share", "recency", "orders", "spend", "AOV", "visits 90d"),
        [
            (
                c["cluster"],
                c["name"],
                f"{c['size']:,}",
                f"{c['share']:.1%}",
                "" if c["means"]["recency_days"] is None else f"{c['means']['recency_days']:.0f}",
                f"{c['means']['frequency']:.1f}",
                f"{c['means']['monetary']:,.0f}",
                f"{c['means']['avg_order_value']:,.0f}",
                f"{c['means']['visits_90d']:.1f}",
            )
            for c in result["clusters"]
        ],
        right=("customers", "share", "recency", "orders", "spend", "AOV", "visits 90d"),
    )


@model_app.command("recommend")
def model_recommend(
    user_id: str | None = typer.Argument(None, help="The customer to recommend for (omit with --evaluate)."),
    n: int = typer.Option(10, "--n", help="How many products."),
    evaluate: bool = typer.Option(
        False, "--evaluate", help="Hit-rate@n and coverage on a time split, beside the popularity baseline."
    ),
    split: str | None = typer.Option(
        None, "--split", help="Evaluation split date YYYY-MM-DD (default: [recommend] test_days before the as-of)."
    ),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Products for one customer (similar items, then category/brand best sellers, then popular), or --evaluate."""
    from portrait.errors import InputError
    from portrait.models.recommend import evaluate_recommendations, recommend

    with _user_errors():
        if evaluate == (user_id is not None):
            raise InputError("give a customer id, or --evaluate (not both)")
        ws = _open(workspace, user)
        result = evaluate_recommendations(ws, split, n) if evaluate else recommend(ws, user_id or "", n)
    if as_json:
        _emit_json(result)
        return
    if result.get("message"):
        out.print(result["message"], markup=False)
    if evaluate:
        out.print(
            f"split {result['split_date']} → as of {result['as_of']}: {result['customers_evaluated']:,} customers "
            "bought a product new to them",
            markup=False,
        )
        _show(
            f"hit-rate@{n}",
            ("model", "hit rate", "with history", "without history", "precision", "recall", "coverage"),
            [
                (
                    name,
                    f"{m['hit_rate']:.1%}",
                    "" if m["hit_rate_with_history"] is None else f"{m['hit_rate_with_history']:.1%}",
                    "" if m["hit_rate_without_history"] is None else f"{m['hit_rate_without_history']:.1%}",
                    f"{m['precision']:.1%}",
                    f"{m['recall']:.1%}",
                    f"{m['coverage']:.1%}",
                )
                for name, m in result["models"].items()
            ],
            right=("hit rate", "with history", "without history", "precision", "recall", "coverage"),
        )
        return
    out.print(
        f"{result['user_id']}: {result['history_products']} products in the history, preferred category "
        f"{result['preferred_category'] or '—'}, brand {result['preferred_brand'] or '—'}",
        markup=False,
    )
    _show(
        f"top {n}",
        ("rank", "product", "name", "category", "brand", "why", "because of"),
        [
            (
                r["rank"],
                r["product_id"],
                r["product_name"],
                r["category"],
                r["brand"],
                r["reason_zh"],
                r["because_product_name"] or "",
            )
            for r in result["recommendations"]
        ],
    )


@model_app.command("churn")
def model_churn(
    top: int = typer.Option(20, "--top", help="How many of the highest-risk customers to list."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """The churn warning model of the current snapshot: hold-out evaluation, calibration, top-risk customers."""
    from portrait.models.churn import churn_report

    result = _fetch(lambda ws: churn_report(ws, top), workspace, user, as_json)
    if result is None:
        return
    report = result["report"]
    out.print(f"churn model ({result['status']}) as of {result['as_of']}: {result['message']}", markup=False)
    if result["status"] != "ok":
        return
    train, hold = report["train"], report["holdout"]
    out.print(
        f"label: {report['label']}; training cut-off {train['cutoff']} ({train['customers']:,} customers, "
        f"{train['churn_rate']:.1%} churned), hold-out cut-off {hold['cutoff']} ({hold['customers']:,}, "
        f"{hold['churn_rate']:.1%})",
        markup=False,
    )
    _show(
        "hold-out evaluation",
        ("model", "AUC", "threshold", "precision", "recall", "F1", "Brier", "chosen"),
        [
            (
                name,
                f"{m['auc']:.3f}",
                f"{m['threshold']:.2f}",
                f"{m['precision']:.1%}",
                f"{m['recall']:.1%}",
                f"{m['f1']:.3f}",
                f"{m['brier']:.3f}",
                "✓" if name == report["chosen_model"] else "",
            )
            for name, m in report["models"].items()
        ],
        right=("AUC", "threshold", "precision", "recall", "F1", "Brier"),
    )
    _show(
        f"calibration of the {report['chosen_model']} model (hold-out deciles)",
        ("decile", "customers", "predicted", "observed"),
        [
            (c["decile"], f"{c['customers']:,}", f"{c['predicted']:.1%}", f"{c['observed']:.1%}")
            for c in report["models"][report["chosen_model"]]["calibration"]
        ],
        right=("customers", "predicted", "observed"),
    )
    _show(
        "highest churn risk",
        ("user_id", "risk", "reasons"),
        [(c["user_id"], c["churn_risk"], c["churn_reasons"] or "") for c in result["top_customers"]],
        right=("risk",),
    )


@app.command("demo-data")
def demo_data(
    customers: int = typer.Option(1000, "--customers", help="How many customers (1 000 … 10 000 000)."),
    seed: int = typer.Option(7, "--seed", help="Random seed: the same seed writes the same files."),
    out_dir: Path = typer.Option(Path("demo-data"), "--out", help="Folder for the CSV files."),
    as_json: bool = JsonOpt,
) -> None:
    """Write a synthetic shop (customers, orders, events, interactions, channels, products, campaigns) as CSV files."""
    from portrait.demo import write_demo_shop

    with _user_errors():
        try:
            with _progress(not as_json) as tick:
                files = write_demo_shop(out_dir, customers=customers, seed=seed, progress=tick)
        except ValueError as exc:
            if isinstance(exc, PortraitError):
                raise
            raise PortraitError(str(exc)) from None
    if as_json:
        _emit_json({name: str(path) for name, path in files.items()})
    else:
        for name, path in files.items():
            out.print(f"{name}: {path}")


@app.command()
def demo(
    workspace: Path = typer.Option(Path("demo-workspace"), "--workspace", "-w", help="Workspace to (re)use."),
    customers: int = typer.Option(2000, "--customers"),
    seed: int = typer.Option(7, "--seed"),
    as_json: bool = JsonOpt,
) -> None:
    """The main job end to end on the embedded default: demo data → import → refresh → results."""
    from datetime import date

    from portrait.demo import write_demo_shop
    from portrait.metrics import last_measurable_month
    from portrait.refresh import refresh

    with _user_errors():
        ws = api.init_workspace(workspace)
        data_dir = ws.path / "demo-data"
        with _progress(not as_json) as tick:
            files = write_demo_shop(data_dir, customers=customers, seed=seed, progress=tick)
            reports = api.import_demo_shop(ws, files, progress=tick)
            refreshed = refresh(ws, progress=tick)
        quality_data = api.quality_report(ws)
    if as_json:
        _emit_json({"imports": [r.as_dict() for r in reports], "quality": quality_data, "refresh": refreshed})
        return
    out.print(f"[bold]Portrait demo[/bold] — workspace {ws.path}, demo files in {data_dir}")
    table = Table(title="imports (all or nothing; bad rows kept in quarantine)")
    for col in ("table", "read", "accepted", "unchanged", "fixed", "filled", "flagged", "quarantined", "duplicates"):
        table.add_column(col, justify="left" if col == "table" else "right")
    for report in reports:
        for name, st in report.tables.items():
            table.add_row(
                name,
                f"{st['rows_read']:,}",
                f"{st['accepted']:,}",
                f"{st['unchanged']:,}",
                f"{sum(st['fixed'].values()):,}",
                f"{sum(st['filled'].values()):,}",
                f"{sum(st['flagged'].values()):,}",
                f"{st['quarantined']:,}",
                f"{st['duplicates_removed']:,}",
            )
    out.print(table)
    reasons: dict[str, int] = {}
    for report in reports:
        for name, st in report.tables.items():
            for reason, n in st["quarantined_by_reason"].items():
                reasons[f"{name}.{reason}"] = reasons.get(f"{name}.{reason}", 0) + n
    out.print("quarantined by reason: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())), markup=False)
    cust = quality_data["tables"]["customers"]
    out.print(
        f"identity merges: {cust['identity_merges']} ({cust['records_merged']} records joined); "
        f"active customers: {cust['active_customers']:,}"
    )
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in refreshed["stages"].items())
    out.print(
        f"snapshot #{refreshed['snapshot']['id']} as of {refreshed['as_of']} in {refreshed['seconds']:.2f}s ({stages})"
    )
    rfm_cmd(workspace=ws.path, as_json=False, user=None)
    month = last_measurable_month(date.fromisoformat(refreshed["as_of"]), ws.config.windows.follow_up_days)
    metrics_cmd(period=month, compare="mom,yoy", workspace=ws.path, as_json=False, user=None)
    out.print(
        f"next: portrait quality -w {ws.path} · portrait tags stats -w {ws.path} · "
        f"portrait customer CUS000000001 -w {ws.path} · portrait analyze paths -w {ws.path} · "
        f"portrait analyze campaign CMP-2024-09 -w {ws.path}",
        markup=False,
    )


def main() -> None:
    """Entry point of the `portrait` script."""
    app()


if __name__ == "__main__":
    main()
