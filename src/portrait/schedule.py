"""Scheduled refresh: once (for cron) or as a long-running scheduler, with the configured as-of rule.

As-of rules (``[schedule] as_of``): ``today`` — data up to yesterday; ``month_start`` — the first
day of the current month (the last full month is complete); ``last_activity`` — the day after
the last recorded activity. The wall clock is read here, at the edge, and nowhere deeper.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from portrait.errors import InputError
from portrait.refresh import default_as_of, refresh
from portrait.workspace import Workspace


def as_of_for(ws: Workspace, today: date) -> date:
    """The as-of date the configured rule gives on ``today``."""
    rule = ws.config.schedule.as_of
    if rule == "today":
        return today
    if rule == "month_start":
        return today.replace(day=1)
    return default_as_of(ws)


def next_run(now: datetime, every: str, at: str) -> datetime:
    """The next time a daily (at HH:MM) or monthly (1st of the month at HH:MM) refresh is due."""
    try:
        hour, minute = (int(x) for x in at.split(":"))
        slot = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    except ValueError:
        raise InputError(f"--at '{at}' is not a time; write HH:MM, e.g. 02:30") from None
    if every == "daily":
        return slot if slot > now else slot + timedelta(days=1)
    if every == "monthly":
        first = slot.replace(day=1)
        if first > now:
            return first
        year, month = (first.year + 1, 1) if first.month == 12 else (first.year, first.month + 1)
        return first.replace(year=year, month=month)
    raise InputError(f"--every '{every}': use daily or monthly")


def run_once(ws: Workspace, today: date | None = None) -> dict[str, Any]:
    """One scheduled refresh now (what cron calls)."""
    day = today or date.today()
    return refresh(ws, as_of_for(ws, day))


def run_forever(
    ws: Workspace,
    every: str,
    at: str,
    clock: Callable[[], datetime] = datetime.now,
    sleep: Callable[[float], None] = time.sleep,
    max_runs: int | None = None,
    report: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """Refresh at every due time until stopped (or ``max_runs``); a failed run is reported, not fatal."""
    runs = 0
    while max_runs is None or runs < max_runs:
        due = next_run(clock(), every, at)
        while (wait := (due - clock()).total_seconds()) > 0:
            sleep(min(wait, 60))
        try:
            result = run_once(ws, due.date())
        except Exception as exc:  # noqa: BLE001 - the scheduler keeps going; the job log has the failure
            result = {"failed": str(exc)}
        runs += 1
        if report:
            report(result)
    return runs
