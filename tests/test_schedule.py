"""Scheduled refresh: due times, as-of rules, and a scheduler loop driven by a test clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from portrait import schedule, snapshots
from portrait.errors import InputError
from tests.shops import load_may_shop


@pytest.mark.parametrize(
    ("now", "every", "at", "due"),
    [
        (datetime(2024, 5, 3, 1, 0), "daily", "02:00", datetime(2024, 5, 3, 2, 0)),
        (datetime(2024, 5, 3, 2, 0), "daily", "02:00", datetime(2024, 5, 4, 2, 0)),
        (datetime(2024, 5, 3, 9, 0), "monthly", "02:00", datetime(2024, 6, 1, 2, 0)),
        (datetime(2024, 12, 9, 9, 0), "monthly", "00:30", datetime(2025, 1, 1, 0, 30)),
        (datetime(2024, 6, 1, 1, 0), "monthly", "02:00", datetime(2024, 6, 1, 2, 0)),
    ],
)
def test_next_run(now, every, at, due):
    assert schedule.next_run(now, every, at) == due


def test_bad_schedules_are_refused():
    with pytest.raises(InputError, match="use daily or monthly"):
        schedule.next_run(datetime(2024, 1, 1), "hourly", "02:00")
    with pytest.raises(InputError, match="not a time"):
        schedule.next_run(datetime(2024, 1, 1), "daily", "2am")


def test_as_of_rules(ws, tmp_path, reopen):
    load_may_shop(ws, tmp_path)
    assert schedule.as_of_for(ws, date(2024, 9, 15)) == date(2024, 9, 15)
    ws = reopen(ws, '[schedule]\nas_of = "month_start"\n')
    assert schedule.as_of_for(ws, date(2024, 9, 15)) == date(2024, 9, 1)
    ws = reopen(ws, '[schedule]\nas_of = "last_activity"\n')
    assert schedule.as_of_for(ws, date(2024, 9, 15)) == date(2024, 7, 2)


def test_scheduler_loop_refreshes_at_each_due_time(ws, tmp_path):
    load_may_shop(ws, tmp_path)
    now = [datetime(2024, 8, 30, 23, 0)]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += timedelta(seconds=seconds)

    results = []
    runs = schedule.run_forever(
        ws, "daily", "02:00", clock=lambda: now[0], sleep=sleep, max_runs=2, report=results.append
    )
    assert runs == 2
    assert [r["as_of"] for r in results] == ["2024-08-31", "2024-09-01"]
    assert sum(slept) == pytest.approx(3 * 3600 + 24 * 3600)
    assert snapshots.current(ws).as_of == "2024-09-01"
