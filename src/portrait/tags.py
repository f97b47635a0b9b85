"""Tags: definitions in YAML (validated up front, errors at file:line:column), computed in the engine.

Kinds:
- ``attribute`` — a field's value;  ``computed`` — an expression's value (``expr``);
- ``bands`` / ``model`` — a numeric field (a model score for ``model``) cut at ``edges`` into ``labels``;
- ``rule`` — ordered ``values`` with ``when`` rules, the first match wins, ``else`` otherwise;
- ``manual`` — values staff added (`portrait tags add`), with who, when and why;
- ``file`` — the customers listed in a file of user ids get ``value``.

Every refresh writes the wide table ``tag_values`` (one column per tag) and appends the changes
since the previous snapshot to ``tag_history``, so a customer's moves between values are kept.
"""

from __future__ import annotations

import csv
import os
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from portrait import snapshots
from portrait.engine import run, scalar
from portrait.errors import ConfigError, InputError
from portrait.expr import RuleError, compile_rule
from portrait.workspace import Workspace

CATEGORIES = {"basic": "基础属性", "behavior": "行为特征", "preference": "需求偏好", "value_risk": "价值评估"}
WORKSPACE_TAGS = "tags.yaml"
BASE_VIEW = "tag_base"


class RuleValue(BaseModel):
    """One value of a rule tag and the rule that earns it."""

    model_config = ConfigDict(extra="forbid")
    value: str
    when: str


class TagDef(BaseModel):
    """A tag definition as written in YAML."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(min_length=1)
    category: Literal["basic", "behavior", "preference", "value_risk"]
    kind: Literal["attribute", "computed", "bands", "model", "rule", "manual", "file"]
    description: str = ""
    field: str | None = None
    expr: str | None = None
    edges: list[float] | None = None
    labels: list[str] | None = None
    values: list[RuleValue] | None = None
    else_value: str | None = Field(default=None, alias="else")
    path: str | None = None
    value: str | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _complete(self) -> TagDef:
        need = {
            "attribute": ["field"],
            "computed": ["expr"],
            "bands": ["field", "edges", "labels"],
            "model": ["field", "edges", "labels"],
            "rule": ["values"],
            "file": ["path", "value"],
            "manual": [],
        }[self.kind]
        missing = [k for k in need if getattr(self, k) in (None, [])]
        if missing:
            raise ValueError(f"a {self.kind} tag needs {', '.join(missing)}")
        if self.edges is not None and self.labels is not None and len(self.labels) != len(self.edges) + 1:
            raise ValueError(f"{len(self.edges)} edges need {len(self.edges) + 1} labels, got {len(self.labels)}")
        if self.edges is not None and self.edges != sorted(self.edges):
            raise ValueError("edges must increase")
        return self


class TagFile(BaseModel):
    """A YAML file of tag definitions."""

    model_config = ConfigDict(extra="forbid")
    tags: list[TagDef]


def _locate(node: yaml.Node, path: list[Any]) -> yaml.Node:
    """Walk a composed YAML node along a pydantic error location (as far as it goes)."""
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = next(
                (v for k, v in node.value if k.value == part or (part == "else_value" and k.value == "else")), None
            )
            if match is None:
                break
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
    return node


def load_tag_file(path: Path | None = None, text: str | None = None) -> list[TagDef]:
    """Read and validate a tag file; any problem raises ConfigError naming file:line:column."""
    name = str(path) if path else "<tags>"
    if text is None:
        if path is None or not path.exists():
            raise ConfigError(f"{name}: tag file not found")
        text = path.read_text(encoding="utf-8-sig")
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    try:
        parsed = TagFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = list(err["loc"])
        node = _locate(root, loc) if root is not None else None
        where = f"{name}:{node.start_mark.line + 1}:{node.start_mark.column + 1}" if node is not None else name
        field = ".".join(str(p) for p in loc)
        raise ConfigError(f"{where}: {field}: {err['msg']}") from None
    # rules are parsed now (fields are checked when the refresh knows them): errors at the rule's place
    for i, tag in enumerate(parsed.tags):
        for j, rule in enumerate(_rules_of(tag)):
            try:
                from portrait.expr import parse

                parse(rule)
            except RuleError as exc:
                loc = ["tags", i, "values", j, "when"] if tag.kind == "rule" else ["tags", i, "expr"]
                raise _rule_error(name, root, loc, exc) from None
    names = [t.name for t in parsed.tags]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{name}: tag '{dupes[0]}' is defined twice; give each tag its own name")
    return parsed.tags


def _rules_of(tag: TagDef) -> list[str]:
    if tag.kind == "rule":
        return [v.when for v in tag.values or []]
    if tag.kind == "computed":
        return [tag.expr or ""]
    return []


def _rule_error(name: str, root: yaml.Node | None, loc: list[Any], exc: RuleError) -> ConfigError:
    node = _locate(root, loc) if root is not None else None
    if node is None:
        return ConfigError(f"{name}: {exc.problem}")
    line = node.start_mark.line + 1
    column = node.start_mark.column + 1 + (1 if node.style in ('"', "'") else 0) + exc.column - 1
    return ConfigError(f"{name}:{line}:{column}: {exc.problem}")


def default_library() -> list[TagDef]:
    """The shipped default tag library."""
    text = resources.files("portrait.data").joinpath("tags.yaml").read_text(encoding="utf-8")
    return load_tag_file(Path("portrait/data/tags.yaml"), text)


def tag_library(ws: Workspace) -> list[TagDef]:
    """The workspace's tags: the default library, with the workspace's tags.yaml added or replacing by name."""
    tags = {t.name: t for t in default_library()}
    own = ws.path / WORKSPACE_TAGS
    if own.exists():
        for t in load_tag_file(own):
            tags[t.name] = t
    return [t for t in tags.values() if t.enabled]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _s(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _bands(field: str, edges: list[float], labels: list[str]) -> str:
    parts = [f"WHEN {field} IS NULL THEN NULL"]
    parts += [f"WHEN {field} < {edge!r} THEN {_s(label)}" for edge, label in zip(edges, labels, strict=False)]
    return f"CASE {' '.join(parts)} ELSE {_s(labels[-1])} END"


def tag_sql(tag: TagDef, fields: list[str], where: str) -> str:
    """SQL computing a tag's value per customer over the tag base view; unknown fields name ``where``."""
    column_of: dict[str, str] = {}
    try:
        if tag.kind == "attribute":
            compile_rule(tag.field or "", fields)
            return f"CAST({_q(tag.field or '')} AS VARCHAR)"
        if tag.kind == "computed":
            return f"CAST({compile_rule(tag.expr or '', fields, column_of)} AS VARCHAR)"
        if tag.kind in ("bands", "model"):
            compile_rule(tag.field or "", fields)
            return _bands(_q(tag.field or ""), tag.edges or [], tag.labels or [])
        if tag.kind == "rule":
            whens = " ".join(
                f"WHEN COALESCE({compile_rule(v.when, fields, column_of)}, false) THEN {_s(v.value)}"
                for v in tag.values or []
            )
            other = _s(tag.else_value) if tag.else_value is not None else "NULL"
            return f"CASE {whens} ELSE {other} END"
    except RuleError as exc:
        raise ConfigError(f"{where}: tag {tag.name}: {exc.problem}") from None
    raise AssertionError(tag.kind)


def _manual_and_file_tags(con: duckdb.DuckDBPyConnection, ws: Workspace, tags: list[TagDef]) -> dict[str, str]:
    """Register the values of manual and file tags; return tag name → SQL of its value."""
    import pyarrow as pa  # loaded only where Arrow is used (0.2 s)

    sql: dict[str, str] = {}
    manual = ws.store.manual_tags()
    for tag in tags:
        if tag.kind == "manual":
            rows = [(m["user_id"], m["value"]) for m in manual if m["tag"] == tag.name]
        elif tag.kind == "file":
            path = Path(tag.path or "")
            path = path if path.is_absolute() else ws.path / path
            if not path.exists():
                raise ConfigError(f"tag {tag.name}: file {path} not found; fix `path` in tags.yaml")
            with path.open(encoding="utf-8-sig", newline="") as fh:
                ids = [row[0].strip() for row in csv.reader(fh) if row and row[0].strip()]
            if ids and ids[0].lower() in ("user_id", "客户id", "客户编号"):
                ids = ids[1:]
            rows = [(uid, tag.value or "") for uid in ids]
        else:
            continue
        table = f"_tagsrc_{len(sql)}"
        arrow = pa.table(
            {
                "user_id": pa.array([r[0] for r in rows], pa.string()),
                "value": pa.array([r[1] for r in rows], pa.string()),
            }
        )
        con.register("_tag_arrow", arrow)
        run(
            con,
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT user_id, last(value) AS value FROM _tag_arrow GROUP BY user_id",
        )
        con.unregister("_tag_arrow")
        sql[tag.name] = f"(SELECT max(value) FROM {table} t WHERE t.user_id = b.user_id)"
    # manual tags with no definition still show up, as their own tags
    defined = {t.name for t in tags}
    for name in sorted({m["tag"] for m in manual} - defined):
        tags.append(TagDef(name=name, category="preference", kind="manual", description="added by staff"))
        table = f"_tagsrc_{len(sql)}"
        rows = [(m["user_id"], m["value"]) for m in manual if m["tag"] == name]
        con.register("_tag_arrow", pa.table({"user_id": [r[0] for r in rows], "value": [r[1] for r in rows]}))
        run(
            con,
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT user_id, last(value) AS value FROM _tag_arrow GROUP BY user_id",
        )
        con.unregister("_tag_arrow")
        sql[name] = f"(SELECT max(value) FROM {table} t WHERE t.user_id = b.user_id)"
    return sql


def base_fields(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Fields tag rules may use: the customer table, the scores and the RFM group."""
    return [r[0] for r in con.execute(f"DESCRIBE {BASE_VIEW}").fetchall()]


def build_tags(con: duckdb.DuckDBPyConnection, ws: Workspace, as_of: date) -> None:
    """Compute every tag (``tag_values``, ``tag_definitions``) and append changes to ``tag_history``."""
    finish_tags(con, ws, build_tag_values(con, ws), as_of)


def base_view_sql(con: duckdb.DuckDBPyConnection) -> str:
    """The statement creating the tag base view: customer table, scores, RFM and every model output."""
    from portrait.models import output_tables

    model_joins = "".join(f" LEFT JOIN {t} USING (user_id)" for t in output_tables(con))
    return f"""CREATE OR REPLACE VIEW {BASE_VIEW} AS
            SELECT *
            FROM customer_table c
            LEFT JOIN (SELECT user_id, consumption_score, loyalty_score, activity_score, demand_score FROM scores) s
              USING (user_id)
            LEFT JOIN (SELECT user_id, r_score, f_score, m_score, rfm_group FROM rfm) r USING (user_id){model_joins}"""


def build_tag_values(con: duckdb.DuckDBPyConnection, ws: Workspace, base_sql: str | None = None) -> list[TagDef]:
    """Compute ``tag_values`` (one column per tag) over the tag base view; return the tags computed.

    Every statement here is engine-neutral SQL (the Spark engine runs it too); ``base_sql`` is the
    base view's statement when the caller built it elsewhere.
    """
    run(con, base_sql or base_view_sql(con))
    tags = tag_library(ws)
    fields = base_fields(con)
    external = _manual_and_file_tags(con, ws, tags)
    where = str(ws.path / WORKSPACE_TAGS) if (ws.path / WORKSPACE_TAGS).exists() else "tag library"
    columns = [f"{external[t.name] if t.name in external else tag_sql(t, fields, where)} AS {_q(t.name)}" for t in tags]
    run(
        con,
        f"CREATE OR REPLACE TABLE tag_values AS SELECT b.user_id, {', '.join(columns)} FROM {BASE_VIEW} b ORDER BY b.user_id",
    )
    return tags


def finish_tags(con: duckdb.DuckDBPyConnection, ws: Workspace, tags: list[TagDef], as_of: date) -> None:
    """On the snapshot (DuckDB): ``tag_definitions``, the tag history and the wide ``segment_base`` table."""
    import pyarrow as pa  # loaded only where Arrow is used (0.2 s)

    views = "SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND database_name = current_database()"
    if not scalar(con, views, [BASE_VIEW]):
        run(con, base_view_sql(con))
    fields = base_fields(con)
    defs = pa.table(
        {
            "tag": [t.name for t in tags],
            "category": [t.category for t in tags],
            "kind": [t.kind for t in tags],
            "definition": [t.model_dump_json(by_alias=True, exclude_none=True) for t in tags],
        }
    )
    con.register("_tag_defs", defs)
    run(con, "CREATE OR REPLACE TABLE tag_definitions AS SELECT * FROM _tag_defs")
    con.unregister("_tag_defs")
    _changes(con, ws, [t.name for t in tags], as_of)
    # one wide table for segments: every field and every tag, so a segment's size is one filtered count
    base_cols = set(fields)
    extra = ", ".join(f"t.{_q(t.name)}" for t in tags if t.name not in base_cols)
    run(
        con,
        f"CREATE OR REPLACE TABLE segment_base AS SELECT b.*{', ' + extra if extra else ''} "
        f"FROM {BASE_VIEW} b LEFT JOIN tag_values t USING (user_id) ORDER BY b.user_id",
    )


def _long(table: str, names: list[str]) -> str:
    cols = ", ".join(_q(n) for n in names)
    return f"(UNPIVOT (SELECT user_id, {cols} FROM {table}) ON {cols} INTO NAME tag VALUE value)"


HISTORY_DIR = "tag_history"  # inside the snapshots folder: one Parquet file of changes per published refresh


def history_folder(ws: Workspace) -> Path:
    """Where each refresh's tag changes are kept after it is published (one Parquet file per snapshot)."""
    return snapshots.folder(ws) / HISTORY_DIR


def _changes(con: duckdb.DuckDBPyConnection, ws: Workspace, names: list[str], as_of: date) -> None:
    """Build ``tag_changes``: this refresh's tag changes against the previous snapshot's ``tag_values``.

    Only changes are stored, so a refresh costs the same however long the history is. Customers whose
    row of tags is unchanged are skipped before anything is unpivoted.
    """
    snapshot_id = scalar(con, "SELECT snapshot_id FROM snapshot_info")
    previous = snapshots.current(ws)
    path = snapshots.folder(ws) / previous.file if previous is not None else None
    head = "CREATE OR REPLACE TABLE tag_changes AS SELECT user_id, tag, old_value, new_value, ?::DATE AS as_of, ?::BIGINT AS snapshot_id"
    run(
        con,
        "CREATE OR REPLACE TABLE tag_changes_base AS SELECT ?::BIGINT AS previous_snapshot",
        [previous.id if path is not None and path.exists() else None],
    )
    if path is None or not path.exists():
        run(
            con,
            f"{head} FROM (SELECT user_id, tag, NULL::VARCHAR AS old_value, CAST(value AS VARCHAR) AS new_value "
            f"FROM {_long('tag_values', names)})",  # in user order already: tag_values is, and the unpivot keeps it
            [as_of, snapshot_id],
        )
        return
    run(con, f"ATTACH {_s(str(path))} AS prev (READ_ONLY)")
    try:
        old_names = [r[0] for r in con.execute("DESCRIBE prev.tag_values").fetchall() if r[0] != "user_id"]
        everything = list(dict.fromkeys([*names, *old_names]))

        def side(alias: str, have: list[str], tag: str) -> str:
            return f"CAST({alias}.{_q(tag)} AS VARCHAR)" if tag in have else "NULL::VARCHAR"

        differs = " OR ".join(f"{side('n', names, t)} IS DISTINCT FROM {side('o', old_names, t)}" for t in everything)
        pairs = ", ".join(
            f"{{'tag': {_s(t)}, 'o': {side('o', old_names, t)}, 'n': {side('n', names, t)}}}" for t in everything
        )
        run(
            con,
            f"""{head} FROM (
                  SELECT user_id, p.tag AS tag, p.o AS old_value, p.n AS new_value
                  FROM (SELECT COALESCE(n.user_id, o.user_id) AS user_id, unnest([{pairs}]) AS p
                        FROM tag_values n FULL OUTER JOIN prev.tag_values o ON n.user_id = o.user_id
                        WHERE {differs})
                  WHERE p.o IS DISTINCT FROM p.n)
                ORDER BY user_id""",  # grouped by customer for look-ups; readers order by snapshot and tag
            [as_of, snapshot_id],
        )
    finally:
        run(con, "DETACH prev")


def publish_history(ws: Workspace) -> None:
    """Keep the current snapshot's tag changes in the history folder (once; safe to call again)."""
    snap = snapshots.current(ws)
    if snap is None:
        return
    folder = history_folder(ws)
    target = folder / f"changes-{snap.id:06d}.parquet"
    source = snapshots.folder(ws) / snap.file
    if target.exists() or not source.exists():
        return
    folder.mkdir(exist_ok=True)
    tmp = target.with_suffix(".tmp")
    con = duckdb.connect(str(source), read_only=True)
    try:
        if not scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'tag_changes'"):
            return
        run(con, f"COPY tag_changes TO {_s(str(tmp))} (FORMAT parquet, COMPRESSION zstd)")
    finally:
        con.close()
    os.replace(tmp, target)


def _history_source(ws: Workspace, snap_id: int) -> str:
    """SQL for the whole tag history up to snapshot ``snap_id``: earlier files plus the snapshot's own changes."""
    files = [p for p in sorted(history_folder(ws).glob("changes-*.parquet")) if int(p.stem.split("-")[1]) < snap_id]
    own = "SELECT * FROM tag_changes"
    if not files:
        return f"({own})"
    listed = ", ".join(_s(str(p)) for p in files)
    return f"(SELECT * FROM read_parquet([{listed}]) UNION ALL {own})"


def tag_stats(ws: Workspace) -> dict[str, Any]:
    """Per tag: coverage, value counts, and how many customers' values moved in the last refresh."""
    with snapshots.reader(ws) as (con, snap):
        defs = con.execute("SELECT tag, category, kind FROM tag_definitions").fetchall()
        total = scalar(con, "SELECT count(*) FROM tag_values")
        moved = dict(
            con.execute("SELECT tag, count(*) FROM tag_changes WHERE old_value IS NOT NULL GROUP BY tag").fetchall()
        )
        first = scalar(con, "SELECT previous_snapshot FROM tag_changes_base") is None
        out = []
        for tag, category, kind in defs:
            values = con.execute(
                f"SELECT {_q(tag)}, count(*) FROM tag_values WHERE {_q(tag)} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1"
            ).fetchall()
            covered = sum(n for _, n in values)
            out.append(
                {
                    "tag": tag,
                    "category": category,
                    "category_zh": CATEGORIES[category],
                    "kind": kind,
                    "coverage": covered / total if total else 0.0,
                    "customers": covered,
                    "values": {str(v): n for v, n in values},
                    "moved_since_last_refresh": None if first else moved.get(tag, 0),
                }
            )
    return {"snapshot": snap.id, "as_of": snap.as_of, "customers": total, "tags": out}


def tag_history(ws: Workspace, user_id: str) -> dict[str, Any]:
    """A customer's tag changes, oldest first, and the manual tags staff added."""
    with snapshots.reader(ws) as (con, snap):
        rows = con.execute(
            f"SELECT as_of, snapshot_id, tag, old_value, new_value FROM {_history_source(ws, snap.id)} "
            "WHERE user_id = ? ORDER BY snapshot_id, tag",
            [user_id],
        ).fetchall()
        known = scalar(con, "SELECT count(*) FROM tag_values WHERE user_id = ?", [user_id])
    if not rows and not known:
        from portrait.errors import NotFound

        raise NotFound(f"no customer '{user_id}' in snapshot #{snap.id}; check the id or refresh")
    manual = [m for m in ws.store.manual_tags() if m["user_id"] == user_id]
    return {
        "user_id": user_id,
        "changes": [{"as_of": str(r[0]), "snapshot": r[1], "tag": r[2], "from": r[3], "to": r[4]} for r in rows],
        "manual": manual,
    }


def add_manual_tag(ws: Workspace, user_id: str, tag: str, value: str, why: str) -> dict[str, Any]:
    """Record a manual tag on a customer (who, when, why); it joins the tags at the next refresh."""
    ws.require("read")
    if not why.strip():
        raise InputError("say why the tag is added (--why): manual tags keep their reason")
    ws.store.add_manual_tag(user_id, tag, value, ws.actor, why)
    ws.audit("tag_add", user_id, tag=tag, value=value)
    return {
        "user_id": user_id,
        "tag": tag,
        "value": value,
        "by": ws.actor,
        "at": datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds"),
        "why": why,
    }
