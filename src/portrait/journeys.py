"""Behaviour trajectories: sessions, entry and exit pages, source → entry → exit flows, browse volume.

A session is one customer's run of events with no pause longer than the session gap (default 30
minutes) between two consecutive events. Its entry page is the page of its first event, its exit
page the page of its last, its source the referrer of its first event. Events are read from the raw
warehouse up to the day before the snapshot's as-of date, with identity merges followed (events of
a merged-away record belong to the surviving customer). Missing pages and referrers count as 未知.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import duckdb

from portrait import snapshots
from portrait.analysis import segment_where
from portrait.engine import run
from portrait.errors import InputError
from portrait.snapshots import Snapshot
from portrait.workspace import Workspace

OTHER = "其他"
UNKNOWN = "未知"
DEFAULT_DAYS = 30
GRAINS = ("day", "week")
LAYERS = (("source", "来源"), ("entry", "入口"), ("exit", "退出"))


@contextmanager
def _raw(con: duckdb.DuckDBPyConnection, ws: Workspace) -> Iterator[None]:
    """Attach the raw warehouse (read-only) beside the snapshot for the length of a block."""
    run(con, f"ATTACH '{ws.warehouse_path}' AS raw (READ_ONLY)")
    try:
        yield
    finally:
        run(con, "DETACH raw")


def date_range(snap: Snapshot, start: str | None, end: str | None, days: int = DEFAULT_DAYS) -> tuple[date, date]:
    """The inclusive day range asked for: by default the ``days`` days before the snapshot's as-of date."""
    last_day = snap.as_of_date - timedelta(days=1)
    try:
        hi = date.fromisoformat(end) if end else last_day
        lo = date.fromisoformat(start) if start else hi - timedelta(days=days - 1)
    except ValueError as exc:
        raise InputError(f"date range: {exc}; write dates as YYYY-MM-DD") from None
    if lo > hi:
        raise InputError(f"date range: the start {lo} is after the end {hi}")
    if hi > last_day:
        hi = last_day  # nothing after the snapshot is seen
    return lo, hi


def _events_sql(lo: date, hi: date, where: str) -> str:
    """Events of the range (customer ids merged), for members of the segment ``where``."""
    members = (
        ""
        if where == "true"
        else f"AND COALESCE(i.customer_id, e.user_id) IN (SELECT user_id FROM segment_base WHERE {where})"
    )
    return f"""SELECT COALESCE(i.customer_id, e.user_id) AS user_id, e.behavior_time AS t, e.behavior_type AS kind,
                      COALESCE(e.page, '{UNKNOWN}') AS page, COALESCE(e.referrer, '{UNKNOWN}') AS source
               FROM raw.events e LEFT JOIN identity i USING (user_id)
               WHERE CAST(e.behavior_time AS DATE) BETWEEN DATE '{lo}' AND DATE '{hi}' {members}"""


def build_sessions(con: duckdb.DuckDBPyConnection, events_sql: str, gap_minutes: int) -> None:
    """Create the temporary table ``sessions``: one row per session with its entry, exit and source.

    One sort per customer numbers the events and marks the first (a longer pause before it) and last
    (a longer pause after it) event of each session; only those edge rows are carried on to number the
    sessions, and a session's size is the distance between its edges.
    """
    gap = f"INTERVAL {int(gap_minutes)} MINUTE"
    run(
        con,
        f"""CREATE OR REPLACE TEMP TABLE sessions AS
            WITH marked AS (
                SELECT user_id, t, page, source, row_number() OVER w AS rn,
                       CASE WHEN t - lag(t) OVER w <= {gap} THEN 0 ELSE 1 END AS opens,
                       CASE WHEN lead(t) OVER w - t <= {gap} THEN 0 ELSE 1 END AS closes
                FROM ({events_sql})
                -- events of the same second in a fixed order, so first and last are always the same ones
                WINDOW w AS (PARTITION BY user_id ORDER BY t, kind, page, source)),
            edges AS (
                SELECT *, sum(opens) OVER (PARTITION BY user_id ORDER BY rn ROWS UNBOUNDED PRECEDING) AS session
                FROM marked WHERE opens = 1 OR closes = 1)
            SELECT user_id, session, min(t) AS started, max(t) AS ended, max(rn) - min(rn) + 1 AS events,
                   arg_min(page, rn) AS entry_page, arg_max(page, rn) AS exit_page, arg_min(source, rn) AS source
            FROM edges GROUP BY user_id, session""",
    )


def _ranked(rows: list[tuple[str, int]], top: int) -> list[tuple[str, int]]:
    """The ``top`` largest (name, count) rows, the rest summed into 其他."""
    rows = sorted(rows, key=lambda r: (-r[1], r[0]))
    if len(rows) <= top:
        return rows
    rest = sum(n for _, n in rows[top:])
    return [*rows[:top], (OTHER, rest)]


def _share_table(rows: list[tuple[str, int]], total: int, key: str) -> list[dict[str, Any]]:
    return [{key: name, "sessions": n, "share": n / total if total else 0.0} for name, n in rows]


def sankey(flows: list[tuple[str, str, str, int]], top: int) -> dict[str, Any]:
    """Sankey data from (source, entry page, exit page, sessions): nodes by layer and weighted links.

    Each layer keeps its ``top`` names by sessions and folds the rest into 其他; a node's ``name`` is
    unique (``入口:首页``), its ``label`` the plain value. Nodes come layer by layer (sources, entry
    pages, exit pages), largest first and 其他 last; links run source → entry and entry → exit.
    """
    folded = []
    for k in range(len(LAYERS)):
        totals: dict[str, int] = {}
        for row in flows:
            totals[row[k]] = totals.get(row[k], 0) + row[3]
        keep = {name for name, _ in _ranked(list(totals.items()), top) if name != OTHER}
        folded.append([name if name in keep else OTHER for name in (row[k] for row in flows)])
    nodes: list[dict[str, Any]] = []
    index: dict[tuple[str, str], int] = {}
    for k, (layer, zh) in enumerate(LAYERS):
        totals = {}
        for name, row in zip(folded[k], flows, strict=True):
            totals[name] = totals.get(name, 0) + row[3]
        for name, n in sorted(totals.items(), key=lambda kv: (kv[0] == OTHER, -kv[1], kv[0])):
            index[(layer, name)] = len(nodes)
            nodes.append({"id": len(nodes), "name": f"{zh}:{name}", "layer": layer, "label": name, "sessions": n})
    values: dict[tuple[int, int], int] = {}
    for source, entry, exit_page, row in zip(*folded, flows, strict=True):
        ids = [index[(layer, name)] for (layer, _), name in zip(LAYERS, (source, entry, exit_page), strict=True)]
        for pair in ((ids[0], ids[1]), (ids[1], ids[2])):
            values[pair] = values.get(pair, 0) + row[3]
    links = [
        {"source": a, "target": b, "value": v}
        for (a, b), v in sorted(values.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))
    ]
    return {"nodes": nodes, "links": links}


def paths(
    ws: Workspace,
    start: str | None = None,
    end: str | None = None,
    rule: str | None = None,
    gap_minutes: int | None = None,
    top: int | None = None,
) -> dict[str, Any]:
    """Sessions in [start, end]: entry pages, exit pages, and source → entry → exit flows as Sankey data."""
    ws.require("read")
    cfg = ws.config.journeys
    gap = cfg.session_gap_minutes if gap_minutes is None else gap_minutes
    top_n = cfg.top_pages if top is None else top
    if gap < 1:
        raise InputError("the session gap must be at least 1 minute")
    if top_n < 1:
        raise InputError("top must be at least 1")
    with snapshots.reader(ws) as (con, snap):
        lo, hi = date_range(snap, start, end)
        where = segment_where(con, rule)
        with _raw(con, ws):
            build_sessions(con, _events_sql(lo, hi, where), gap)
        n_sessions, customers, events, bounces = con.execute(
            "SELECT count(*), count(DISTINCT user_id), COALESCE(sum(events), 0), count(*) FILTER (WHERE events = 1) "
            "FROM sessions"
        ).fetchall()[0]
        entry = con.execute("SELECT entry_page, count(*) FROM sessions GROUP BY 1").fetchall()
        exits = con.execute("SELECT exit_page, count(*) FROM sessions GROUP BY 1").fetchall()
        sources = con.execute("SELECT source, count(*) FROM sessions GROUP BY 1").fetchall()
        flows = con.execute("SELECT source, entry_page, exit_page, count(*) FROM sessions GROUP BY ALL").fetchall()
    result: dict[str, Any] = {
        "snapshot": snap.id,
        "as_of": snap.as_of,
        "start": lo.isoformat(),
        "end": hi.isoformat(),
        "rule": rule,
        "session_gap_minutes": gap,
        "sessions": n_sessions,
        "customers": customers,
        "events_per_session": events / n_sessions if n_sessions else None,
        "bounce_rate": bounces / n_sessions if n_sessions else None,
        "sources": _share_table(_ranked(sources, top_n), n_sessions, "source"),
        "entry_pages": _share_table(_ranked(entry, top_n), n_sessions, "page"),
        "exit_pages": _share_table(_ranked(exits, top_n), n_sessions, "page"),
        "flows": sankey(flows, top_n),
        "definitions": {
            "session": f"one customer's events with no pause longer than {gap} minutes between two of them",
            "entry_page": "page of a session's first event",
            "exit_page": "page of a session's last event",
            "source": "referrer of a session's first event",
            "bounce_rate": "sessions of a single event / sessions",
        },
        "chart": {"type": "sankey", "nodes": "flows.nodes", "links": "flows.links"},
    }
    if not n_sessions:
        result["message"] = f"no events between {lo} and {hi}{' for this segment' if rule else ''}"
    return result


def volume(
    ws: Workspace,
    start: str | None = None,
    end: str | None = None,
    grain: str = "day",
    rule: str | None = None,
) -> dict[str, Any]:
    """Browse (pv) and favourite (fav) events and visitors per day or week over [start, end]."""
    ws.require("read")
    if grain not in GRAINS:
        raise InputError(f"grain '{grain}': use day or week")
    with snapshots.reader(ws) as (con, snap):
        lo, hi = date_range(snap, start, end, 90 if grain == "week" else DEFAULT_DAYS)
        where = segment_where(con, rule)

        def bucket(day: str) -> str:
            return f"CAST(date_trunc('week', {day}) AS DATE)" if grain == "week" else day

        with _raw(con, ws):
            rows = con.execute(
                f"""WITH ev AS ({_events_sql(lo, hi, where)}),
                    counted AS (
                        SELECT {bucket("CAST(t AS DATE)")} AS p,
                               count(*) FILTER (WHERE kind = 'pv') AS pv, count(*) FILTER (WHERE kind = 'fav') AS fav,
                               count(DISTINCT user_id) AS visitors
                        FROM ev GROUP BY 1),
                    periods AS (
                        SELECT DISTINCT {bucket("CAST(d AS DATE)")} AS p
                        FROM (SELECT unnest(generate_series(DATE '{lo}', DATE '{hi}', INTERVAL 1 DAY)) AS d))
                    SELECT strftime(p.p, '%Y-%m-%d'), COALESCE(c.pv, 0), COALESCE(c.fav, 0), COALESCE(c.visitors, 0)
                    FROM periods p LEFT JOIN counted c USING (p) ORDER BY 1"""
            ).fetchall()
    return {
        "snapshot": snap.id,
        "as_of": snap.as_of,
        "start": lo.isoformat(),
        "end": hi.isoformat(),
        "grain": grain,
        "rule": rule,
        "rows": [{"period": p, "pv": pv, "fav": fav, "visitors": v} for p, pv, fav, v in rows],
        "totals": {"pv": sum(r[1] for r in rows), "fav": sum(r[2] for r in rows)},
        "definitions": {
            "period": "the day, or the week starting on Monday (a week cut by the range counts only its days inside)",
            "pv": "browse events (behavior_type pv)",
            "fav": "favourite events (behavior_type fav)",
            "visitors": "distinct customers with any event in the period",
        },
        "chart": {"type": "line", "x": "period", "y": ["pv", "fav"]},
    }
