"""Helpers the benchmark scripts share: the machine description, docs sections, child processes, baselines' settings.

The scripts are run as ``python benchmarks/<name>.py``, so this folder is on ``sys.path`` and they import
``from common import …`` (scripts that import other benchmark scripts put the folder on the path first).
Importing it costs next to nothing (a few standard modules; the child-process runner imports what it needs
when called), since it is imported by processes whose time and memory are measured: the pandas and SQL
baselines and the benchmarks' own child processes.
"""

from __future__ import annotations

import os
import platform
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

GiB = 2**30

# -- the feature baselines (pandas_features.py, sql_features.py) ------------------------------------
WINDOWS = (7, 30, 90, 180, 365)
GROUPS = {
    (True, True, True): "重要价值客户",
    (True, False, True): "重要发展客户",
    (False, True, True): "重要保持客户",
    (False, False, True): "重要挽留客户",
    (True, True, False): "一般价值客户",
    (True, False, False): "一般发展客户",
    (False, True, False): "一般保持客户",
    (False, False, False): "一般挽留客户",
}


def settings(workspace: Path) -> dict[str, Any]:
    """The settings of the workspace's portrait.toml that change the features (defaults for missing keys)."""
    from portrait.config import load_config

    cfg = load_config(workspace / "portrait.toml")
    return {
        "age_edges": list(cfg.bands.age_edges),
        "age_labels": list(cfg.bands.age_labels),
        "value_days": cfg.windows.value_days,
        "compare": cfg.rfm.compare,
        "memory_limit": cfg.engine.memory_limit,
        "threads": cfg.engine.threads,
    }


# -- small things ----------------------------------------------------------------------------------
def log(msg: str) -> None:
    """Print ``msg`` with the time of day, flushed."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def parse_list(text: str) -> list[int]:
    """Comma-separated integers (underscores allowed) as a list."""
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def gib(n: float) -> str:
    """Bytes as GiB with two decimals and the unit."""
    return f"{n / GiB:.2f} GiB"


def warm(path: Path) -> None:
    """Read a file once so that every timed run finds it in the page cache."""
    with path.open("rb") as fh:
        while fh.read(1 << 24):
            pass


def portrait_cli() -> list[str]:
    """The command that runs ``portrait``: the venv's script, or ``python -m portrait.cli`` without one."""
    script = Path(sys.executable).parent / "portrait"
    return [str(script)] if script.exists() else [sys.executable, "-m", "portrait.cli"]


# -- the machine -----------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    """CPU model, cores, memory, OS, Python, DuckDB and pandas versions, and today's date."""
    import duckdb
    import pandas as pd

    cpu = platform.processor() or platform.machine()
    memory = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.0f} GiB"
    except (OSError, ValueError):
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pandas": pd.__version__,
        "date": date.today().isoformat(),
    }


def machine_line(m: dict[str, str]) -> str:
    """A machine description from ``machine()`` as one line of the docs."""
    return (
        f"{m['cpu']}, {m['cores']} cores, {m['memory']} RAM, {m['os']}; Python {m['python']}, "
        f"DuckDB {m['duckdb']}, pandas {m['pandas']}; {m['date']}"
    )


# -- docs/benchmarks.md ----------------------------------------------------------------------------
def para(text: str) -> str:
    """A paragraph wrapped at 100 characters, words and hyphenated words kept whole."""
    return textwrap.fill(text, width=100, break_long_words=False, break_on_hyphens=False)


def replace_section(path: Path, heading: str, section: str, new_file: Callable[[], str] | None = None) -> None:
    """Put ``section`` in place of the lines from ``heading`` to the next "## " heading, or append it.

    One blank line goes before the section and before the heading after it. When the file is missing it
    starts as ``new_file()``; without ``new_file`` a missing file raises ``FileNotFoundError``.
    """
    text = path.read_text(encoding="utf-8") if new_file is None or path.exists() else new_file()
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
        after = "\n".join(lines[end:])
        new = "\n".join(lines[:start]).rstrip("\n") + "\n\n" + section.rstrip("\n") + ("\n\n" + after if after else "")
    path.write_text(new.rstrip("\n") + "\n", encoding="utf-8")


def splice_section(path: Path, heading: str, section: str) -> None:
    """Put ``section`` from the first ``heading`` up to the next "## " heading, the text around it as it is.

    Unlike ``replace_section`` no blank line is added: the next heading follows the section's last line.
    Appended after one blank line when ``heading`` is not in the file.
    """
    text = path.read_text(encoding="utf-8")
    if heading in text:
        start = text.index(heading)
        nxt = text.find("\n## ", start + len(heading))
        text = text[:start] + section + (text[nxt + 1 :] if nxt != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


# -- child processes -------------------------------------------------------------------------------
def run_child(cmd: list[str], cap: float | None = None, echo: bool = False, watch: bool = True) -> dict[str, Any]:
    """Run ``cmd``: wall seconds, peak RSS (``ru_maxrss``, bytes) and stdout; raises when it fails.

    With ``watch`` a thread samples the child's RSS every 0.25 s and kills it past ``cap`` bytes; the result
    is then ``{"failed": …, "seconds": …, "peak_rss": …}``. ``echo`` lets the child print to this stdout.
    """
    import shlex
    import subprocess
    import tempfile
    import threading

    if watch:
        import psutil

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=None if echo else out, stderr=err)
        state = {"killed": False, "sampled": 0}
        if watch:
            done = threading.Event()

            def sample() -> None:
                try:
                    p = psutil.Process(proc.pid)
                    while not done.wait(0.25):
                        rss = p.memory_info().rss
                        state["sampled"] = max(state["sampled"], rss)
                        if cap is not None and rss > cap:
                            state["killed"] = True
                            p.kill()
                            return
                except psutil.Error:
                    return

            watcher = threading.Thread(target=sample, daemon=True)
            watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        if watch:
            done.set()
            watcher.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    peak = usage.ru_maxrss * 1024
    if state["killed"]:
        return {"failed": f"killed at {state['sampled'] / GiB:.1f} GiB RSS (cap)", "seconds": seconds, "peak_rss": peak}
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return {"seconds": seconds, "peak_rss": peak, "stdout": stdout}
