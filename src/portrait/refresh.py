"""Refresh: rebuild every derived table as of a date, into a new snapshot, then switch over atomically.

A refresh is a pure function of the raw warehouse, the configuration and the as-of date. Its
stages run in order inside a new snapshot file; the pointer moves only after the last stage
succeeded, so readers keep the last good snapshot, and a failure (or a kill) changes nothing.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb

from portrait import snapshots, tags
from portrait.engine import run, scalar
from portrait.errors import InputError, PortraitError, WorkspaceError
from portrait.workspace import Workspace

Progress = Callable[[str, int, int], None]
PAUSE_ENV = "PORTRAIT_DEBUG_PAUSE_STAGE"  # fault tests: sleep at the start of this stage


class RefreshError(PortraitError):
    """A refresh that failed: names the stage and the reason; the previous snapshot stays in use."""

    code = "refresh_failed"


@dataclass
class Stage:
    """One step of the refresh: a name and the function that builds its tables."""

    name: str
    build: Callable[[duckdb.DuckDBPyConnection, date, Workspace], None]


def _stages() -> list[Stage]:
    from portrait import features, models, rfm, scores, tags

    return [
        Stage("facts", lambda con, as_of, ws: features.build_facts(con, as_of)),
        Stage("customer_table", lambda con, as_of, ws: features.build_customer_table(con, as_of, ws.config)),
        Stage("rfm", lambda con, as_of, ws: rfm.build_rfm(con, ws.config)),
        Stage("scores", lambda con, as_of, ws: scores.build_scores(con)),
        Stage("models", lambda con, as_of, ws: models.build_all(con, as_of, ws)),
        Stage("tags", lambda con, as_of, ws: tags.build_tags(con, ws, as_of)),
    ]


@contextmanager
def _exclusive(ws: Workspace) -> Iterator[None]:
    lock_path = ws.path / "refresh.lock"
    with lock_path.open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkspaceError(
                f"{ws.path}: a refresh is running already; wait for it to finish (see `portrait status`)"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def data_span(ws: Workspace) -> tuple[date | None, date | None]:
    """First and last day with any order, event or service record in the warehouse."""
    with ws.warehouse(read_only=True) as con:
        row = con.execute(
            """SELECT min(d0), max(d1) FROM (
                 SELECT min(order_time)::DATE AS d0, max(order_time)::DATE AS d1 FROM orders
                 UNION ALL SELECT min(behavior_time)::DATE, max(behavior_time)::DATE FROM events
                 UNION ALL SELECT min(interaction_time)::DATE, max(interaction_time)::DATE FROM interactions)"""
        ).fetchall()[0]
        customers = scalar(con, "SELECT count(*) FROM customers")
    if row[0] is None and not customers:
        return None, None
    return row[0], row[1]


def default_as_of(ws: Workspace) -> date:
    """The day after the last recorded activity: what a refresh is as of unless told otherwise."""
    first, last = data_span(ws)
    if last is None:
        raise InputError(f"{ws.path}: the warehouse has no orders, events or service records yet; import data first")
    return last + timedelta(days=1)


def refresh(ws: Workspace, as_of: date | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Build a new snapshot as of ``as_of`` (default: the day after the last activity) and publish it."""
    ws.require("import")
    tick = progress or (lambda stage, done, total: None)
    first, last = data_span(ws)
    if first is None:
        raise InputError(f"{ws.path}: the warehouse is empty; import customers, orders or events first")
    as_of = as_of or default_as_of(ws)
    if as_of <= first:
        raise InputError(
            f"as-of date {as_of} is before all data (the first activity is on {first}); choose a later date"
        )
    stages = _stages()
    with _exclusive(ws):
        snapshots.remove_partials(ws)
        tags.publish_history(ws)  # a refresh that died right after publishing left its changes unkept
        previous = snapshots.current(ws)
        job_id = ws.store.start_job("refresh", ws.actor, as_of=as_of)
        new_id, partial, final = snapshots.next_paths(ws)
        started = time.perf_counter()
        timings: dict[str, float] = {}
        stage_name = "open"
        try:
            con = duckdb.connect(
                str(partial),
                config={"memory_limit": ws.config.engine.memory_limit, "threads": ws.config.engine.threads},
            )
            try:
                run(con, f"ATTACH '{ws.warehouse_path}' AS raw (READ_ONLY)")
                run(
                    con,
                    "CREATE TABLE snapshot_info AS SELECT ? AS snapshot_id, CAST(? AS DATE) AS as_of",
                    [new_id, as_of],
                )
                with ExitStack() as spark_scope:
                    spark_engine = None
                    if ws.config.engine.kind == "spark":
                        from portrait import spark

                        stage_name = "spark"
                        t0 = time.perf_counter()
                        spark_engine = spark_scope.enter_context(spark.spark_engine(ws, con))
                        timings["spark_start"] = round(time.perf_counter() - t0, 3)
                    for i, stage in enumerate(stages):
                        stage_name = stage.name
                        ws.store.update_job(job_id, stage=stage.name)
                        if os.environ.get(PAUSE_ENV) == stage.name:
                            (ws.path / f"refresh-paused-at-{stage.name}").touch()
                            time.sleep(120)
                        t0 = time.perf_counter()
                        if spark_engine is not None and stage.name in spark.SPARK_STAGES:
                            spark.run_stage(spark_engine, stage, con, as_of, ws)
                        else:
                            stage.build(con, as_of, ws)
                        timings[stage.name] = round(time.perf_counter() - t0, 3)
                        tick("refresh", i + 1, len(stages))
                run(con, "DETACH raw")
                run(con, "CHECKPOINT")
            finally:
                con.close()
            os.replace(partial, final)
            snap = snapshots.Snapshot(
                id=new_id,
                file=final.name,
                as_of=as_of.isoformat(),
                created_at=datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds"),
                job_id=job_id,
            )
            snapshots.publish(ws, snap)
        except BaseException as exc:
            snapshots.remove_partials(ws)  # the new snapshot and any scratch file a stage left
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            ws.store.update_job(job_id, status="failed", stage=stage_name, message=reason)
            ws.audit("refresh", as_of.isoformat(), "failed", stage=stage_name, reason=reason)
            if isinstance(exc, PortraitError) or isinstance(exc, duckdb.Error):
                kept = (
                    f"snapshot #{previous.id} (as of {previous.as_of}) stays in use" if previous else "no snapshot yet"
                )
                raise RefreshError(f"refresh failed at stage {stage_name}: {reason}; {kept}") from None
            raise
        try:
            tags.publish_history(ws)
        except (OSError, duckdb.Error):
            pass  # the snapshot keeps its own changes; the next refresh files them first
        seconds = round(time.perf_counter() - started, 3)
        ws.store.update_job(job_id, status="ok", stage="done", detail={"timings": timings, "snapshot": new_id})
        ws.audit("refresh", as_of.isoformat(), "ok", snapshot=new_id, seconds=seconds)
    return {
        "snapshot": snap.as_dict(),
        "as_of": as_of.isoformat(),
        "engine": ws.config.engine.kind,
        "seconds": seconds,
        "stages": timings,
    }


def status(ws: Workspace) -> dict[str, Any]:
    """The current snapshot and the latest refresh jobs (with the stage and reason of a failure)."""
    snap = snapshots.current(ws)
    jobs = ws.store.jobs("refresh", limit=5)
    return {
        "workspace": str(ws.path),
        "snapshot": snap.as_dict() if snap else None,
        "last_refresh": jobs[0] if jobs else None,
        "recent_refreshes": jobs,
    }
