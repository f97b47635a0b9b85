"""The `portrait` command: parses options, calls the Python API, prints tables or JSON.

User mistakes print one line on stderr (``error: …``) and exit 2; nothing else is printed to
stdout under ``--json`` but the JSON document.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
user_app = typer.Typer(help="Users and roles.", no_args_is_help=True)
app.add_typer(merge_app, name="merge")
app.add_typer(user_app, name="user")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

WorkspaceOpt = typer.Option(Path("."), "--workspace", "-w", help="Workspace folder.")
JsonOpt = typer.Option(False, "--json", help="Print one JSON document on stdout, nothing else.")
UserOpt = typer.Option(None, "--user", help="Act as this user (default: $PORTRAIT_USER, else the local analyst).")


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


def _open(workspace: Path, user: str | None) -> api.Workspace:
    return api.open_workspace(workspace, actor=user)


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
    with _user_errors():
        ws = _open(workspace, user)
        report = api.quality_report(ws)
    if as_json:
        _emit_json(report)
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
    with _user_errors():
        ws = _open(workspace, user)
        record = api.customer_record(ws, user_id, reveal=reveal)
    if as_json:
        _emit_json(record)
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
    with _user_errors():
        rows = api.merges(_open(workspace, user))
    if as_json:
        _emit_json(rows)
        return
    table = Table(title="identity merges")
    for col in ("id", "survivor", "members", "matched on", "undone"):
        table.add_column(col)
    for m in rows:
        matched = "; ".join(f"{e['key']}: {', '.join(e['records'])}" for e in m["evidence"])
        table.add_row(str(m["merge_id"]), m["survivor"], ", ".join(m["members"]), matched, m["undone_at"] or "")
    out.print(table)


@merge_app.command("undo")
def merge_undo(
    merge_id: int = typer.Argument(..., help="Merge id from `portrait merge list`."),
    workspace: Path = WorkspaceOpt,
    as_json: bool = JsonOpt,
    user: str | None = UserOpt,
) -> None:
    """Undo a merge: restore the records as they were; they will not be merged again."""
    with _user_errors():
        result = api.merge_undo(_open(workspace, user), merge_id)
    if as_json:
        _emit_json(result)
    else:
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
    with _user_errors():
        users = _open(workspace, None).store.users()
    if as_json:
        _emit_json(users)
        return
    for u in users:
        out.print(f"{u['name']}\t{u['role']}")


@app.command()
def audit(limit: int = typer.Option(50, "--limit"), workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """The audit log, newest first."""
    with _user_errors():
        entries = _open(workspace, None).store.audit_entries(limit)
    if as_json:
        _emit_json(entries)
        return
    table = Table(title="audit log")
    for col in ("id", "at", "actor", "action", "target", "outcome"):
        table.add_column(col)
    for e in entries:
        table.add_row(str(e["id"]), e["at"], e["actor"], e["action"], e["target"], e["outcome"])
    out.print(table)


@app.command("demo-data")
def demo_data(
    customers: int = typer.Option(1000, "--customers", help="How many customers (1 000 … 10 000 000)."),
    seed: int = typer.Option(7, "--seed", help="Random seed: the same seed writes the same files."),
    out_dir: Path = typer.Option(Path("demo-data"), "--out", help="Folder for the CSV files."),
    as_json: bool = JsonOpt,
) -> None:
    """Write a synthetic shop (customers, orders, events, interactions, channels, products) as CSV files."""
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
    """The main job end to end on the embedded default: demo data → import → quality report."""
    from portrait.demo import write_demo_shop

    with _user_errors():
        ws = api.init_workspace(workspace)
        data_dir = ws.path / "demo-data"
        with _progress(not as_json) as tick:
            files = write_demo_shop(data_dir, customers=customers, seed=seed, progress=tick)
            reports = api.import_demo_shop(ws, files, progress=tick)
        quality_data = api.quality_report(ws)
    if as_json:
        _emit_json({"imports": [r.as_dict() for r in reports], "quality": quality_data})
        return
    out.print(f"[bold]Portrait demo[/bold] — workspace {ws.path}")
    for report in reports:
        _print_report(report)
    quality(workspace=ws.path, as_json=False, user=None)
    out.print(
        "next: `portrait customer CUS000000001 -w " + str(ws.path) + "` · `portrait quality -w " + str(ws.path) + "`"
    )


def main() -> None:
    """Entry point of the `portrait` script."""
    app()


if __name__ == "__main__":
    main()
