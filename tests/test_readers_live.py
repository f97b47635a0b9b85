"""Readers go on answering from the last good snapshot while a refresh runs, queried in a loop."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from portrait import snapshots
from portrait.refresh import PAUSE_ENV, refresh
from tests.shops import load_may_shop

PORTRAIT = str(Path(sys.executable).with_name("portrait"))
READER = """
import json, sys, time
from pathlib import Path
from portrait.workspace import open_workspace
from portrait import segments
ws = open_workspace(Path(sys.argv[1]))
answers = []
deadline = time.time() + float(sys.argv[2])
while time.time() < deadline:
    answers.append(segments.size(ws, "city_tier = '一线'"))
print(json.dumps(answers))
"""


def test_a_reader_loop_keeps_answering_during_a_refresh(ws, tmp_path):
    load_may_shop(ws, tmp_path)
    refresh(ws, date(2024, 8, 1))
    refresher = subprocess.Popen(
        [PORTRAIT, "refresh", "--as-of", "2024-09-01", "--workspace", str(ws.path), "--json"],
        env={**os.environ, PAUSE_ENV: "rfm"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        marker = ws.path / "refresh-paused-at-rfm"
        for _ in range(200):
            if marker.exists():
                break
            time.sleep(0.05)
        assert marker.exists()
        reader = subprocess.run([sys.executable, "-c", READER, str(ws.path), "2"], capture_output=True, text=True)
        assert reader.returncode == 0, reader.stderr
        answers = [int(x) for x in reader.stdout.strip("[]\n").split(",")]
        assert len(answers) >= 5 and set(answers) == {4}  # every answer from the last good snapshot
    finally:
        refresher.kill()
        refresher.wait()
    assert snapshots.current(ws).as_of == "2024-08-01"
