"""Import benchmark: `portrait import orders` beside plain pandas doing the same cleaning, in the same run.

    .venv/bin/python benchmarks/bench_import.py [--sizes 100000,1000000,10000000] [--runs 3] [--big] [--profile]
        [--write-docs]

For each size, an orders CSV is generated once with ``write_demo_shop`` (customers = rows / 10, no behaviour
events, fixed seed) into ``benchmarks/data/`` (git-ignored) and reused afterwards. Then, ``runs`` times and in
alternating order, each in its own child process:

* portrait: ``portrait import orders FILE --workspace WS --json`` into a fresh workspace (``portrait init``
  runs before, outside the timing);
* pandas: ``benchmarks/pandas_import.py FILE OUT.parquet --json`` (read_csv + the same cleaning + Parquet).

Measured per run: wall time of the child (interpreter start to exit, so imports and the load/write count)
and the child's peak resident memory (``os.wait4`` → ``ru_maxrss``). Figures are medians; rows/s is CSV data
rows / seconds; the ratio is pandas seconds / portrait seconds. Both sides must accept the same number of rows.

``--big`` also builds an orders CSV of about 2 GiB and imports it once with portrait, to show that peak
memory stays flat as the file grows. ``--profile`` times every engine statement of one more portrait import of
the largest size (``benchmarks/profile_import.py``). ``--write-docs`` rewrites the "## Import" section of
docs/benchmarks.md (created with a machine header when missing; other sections are kept); ``--docs-only``
rewrites it from the last run's benchmarks/data/import-results.json without measuring anything.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import gib, machine, machine_line, para, parse_list, portrait_cli, replace_section, warm
from common import run_child as run_timed

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
DOCS = ROOT / "docs" / "benchmarks.md"
PANDAS_SCRIPT = ROOT / "benchmarks" / "pandas_import.py"
SEED = 7
ORDERS_PER_CUSTOMER = 10.0
BIG_BYTES = 2 * 1024**3  # the "2 GB" file: 2 GiB of CSV
TOOLS = ("portrait", "pandas")
PROFILE_SCRIPT = ROOT / "benchmarks" / "profile_import.py"
PROFILE_TOP = 6
RESULTS = DATA / "import-results.json"


# -- data ------------------------------------------------------------------------------------------
def count_rows(path: Path) -> int:
    """Data rows of a CSV without embedded newlines (lines minus the header)."""
    lines = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 24):
            lines += block.count(b"\n")
    return lines - 1


def orders_file(name: str, customers: int) -> Path:
    """The demo orders CSV of ``customers`` customers in benchmarks/data/NAME/, generated when missing."""
    folder = DATA / name
    path, meta_path = folder / "orders.csv", folder / "meta.json"
    wanted = {
        "customers": customers,
        "seed": SEED,
        "orders_per_customer": ORDERS_PER_CUSTOMER,
        "events_per_customer": 0,
    }
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if {k: meta.get(k) for k in wanted} == wanted:
            return path
    from portrait.demo import write_demo_shop

    print(f"generating {name}: {customers:,} customers …", flush=True)
    started = time.perf_counter()
    if folder.exists():
        shutil.rmtree(folder)
    paths = write_demo_shop(
        folder, customers=customers, seed=SEED, orders_per_customer=ORDERS_PER_CUSTOMER, events_per_customer=0.0
    )
    for table, other in paths.items():  # only the orders are needed
        if table != "orders":
            other.unlink()
    meta = {**wanted, "rows": count_rows(path), "bytes": path.stat().st_size}
    meta_path.write_text(json.dumps(meta, indent=1))
    print(
        f"  {meta['rows']:,} rows, {meta['bytes'] / 1e6:,.0f} MB in {time.perf_counter() - started:.0f} s", flush=True
    )
    return path


def file_meta(path: Path) -> dict[str, Any]:
    return json.loads((path.parent / "meta.json").read_text())


# -- runs ------------------------------------------------------------------------------------------
def run_child(cmd: list[str]) -> dict[str, Any]:
    """Run ``cmd`` (no RSS watchdog); return wall seconds, peak RSS (bytes), stdout and the load average before."""
    load = os.getloadavg()[0]  # other work on the machine, just before the run
    return {**run_timed(cmd, watch=False), "load_before": load}


def run_portrait(csv: Path, work: Path) -> dict[str, Any]:
    ws = Path(tempfile.mkdtemp(prefix="ws-", dir=work))
    try:
        subprocess.run([*portrait_cli(), "init", str(ws)], check=True, capture_output=True)  # not timed
        result = run_child([*portrait_cli(), "import", "orders", str(csv), "--workspace", str(ws), "--json"])
        report = json.loads(result.pop("stdout"))
        totals, orders = report["totals"], report["tables"]["orders"]
        result.update({k: totals[k] for k in ("rows_read", "accepted", "quarantined", "duplicates_removed")})
        result["inner_seconds"] = report["seconds"]
        filled = {**orders["filled"], **{f"{k}:unknown": v for k, v in orders["unknown"].items()}}
        result["counts"] = {
            "quarantined_by_reason": orders["quarantined_by_reason"],
            "fixed": orders["fixed"],
            "filled": filled,
            "flagged": orders["flagged"],
        }
        return result
    finally:
        shutil.rmtree(ws, ignore_errors=True)


def run_pandas(csv: Path, work: Path) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix="pandas-", dir=work))
    try:
        result = run_child([sys.executable, str(PANDAS_SCRIPT), str(csv), str(out / "orders.parquet"), "--json"])
        report = json.loads(result.pop("stdout"))
        result.update({k: report[k] for k in ("rows_read", "accepted", "quarantined", "duplicates_removed")})
        result["inner_seconds"] = report["seconds"]
        result["counts"] = {k: report[k] for k in ("quarantined_by_reason", "fixed", "filled", "flagged")}
        return result
    finally:
        shutil.rmtree(out, ignore_errors=True)


RUNNERS = {"portrait": run_portrait, "pandas": run_pandas}


def summarise(runs: list[dict[str, Any]], rows: int) -> dict[str, Any]:
    seconds = statistics.median(r["seconds"] for r in runs)
    return {
        "runs": len(runs),
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "peak_rss": statistics.median(r["peak_rss"] for r in runs),
        "peak_rss_max": max(r["peak_rss"] for r in runs),
        "accepted": runs[0]["accepted"],
        "all_seconds": [round(r["seconds"], 2) for r in runs],
        "load_before": [round(r["load_before"], 2) for r in runs],
    }


def bench_size(size: int, runs: int, work: Path) -> dict[str, Any]:
    csv = orders_file(f"orders-{size}", max(1, size // int(ORDERS_PER_CUSTOMER)))
    meta = file_meta(csv)
    warm(csv)
    results: dict[str, list[dict[str, Any]]] = {t: [] for t in TOOLS}
    for i in range(runs):
        for tool in TOOLS if i % 2 == 0 else TOOLS[::-1]:
            r = RUNNERS[tool](csv, work)
            results[tool].append(r)
            print(
                f"  {size:>11,} run {i + 1}/{runs} {tool:<8} {r['seconds']:8.2f} s  peak RSS {r['peak_rss'] / 2**30:5.2f} GiB"
                f"  accepted {r['accepted']:,}",
                flush=True,
            )
    for tool in TOOLS:
        read = {r["rows_read"] for r in results[tool]}
        if read != {meta["rows"]}:
            raise SystemExit(f"{tool} read {read} rows of {csv}, the file has {meta['rows']:,}")
    accepted = {t: {r["accepted"] for r in results[t]} for t in TOOLS}
    same = len(accepted["portrait"] | accepted["pandas"]) == 1
    print(
        f"  accepted rows: portrait {sorted(accepted['portrait'])}, pandas {sorted(accepted['pandas'])}"
        f" → {'the same' if same else 'DIFFERENT'}",
        flush=True,
    )
    counts = {t: results[t][0]["counts"] for t in TOOLS}
    differ = {
        key: {t: counts[t][key] for t in TOOLS}
        for key in counts["portrait"]
        if {k: v for k, v in counts["portrait"][key].items() if v}
        != {k: v for k, v in counts["pandas"][key].items() if v}
    }
    print(
        "  quarantine reasons, fixed, filled, flagged counts: "
        + ("the same" if not differ else f"DIFFERENT {json.dumps(differ, ensure_ascii=False)}"),
        flush=True,
    )
    out = {
        "size": size,
        "rows": meta["rows"],
        "bytes": meta["bytes"],
        "customers": meta["customers"],
        "same_accepted": same,
        "same_counts": not differ,
        "count_differences": differ,
        **{t: summarise(results[t], meta["rows"]) for t in TOOLS},
    }
    out["ratio"] = out["pandas"]["seconds"] / out["portrait"]["seconds"]
    return out


def bench_big(work: Path, bytes_per_row: float) -> dict[str, Any]:
    customers = math.ceil(BIG_BYTES / bytes_per_row / ORDERS_PER_CUSTOMER)
    csv = orders_file("orders-2gb", customers)
    meta = file_meta(csv)
    warm(csv)
    r = run_portrait(csv, work)
    print(
        f"  2 GiB file ({meta['rows']:,} rows): {r['seconds']:.2f} s, peak RSS {r['peak_rss'] / 2**30:.2f} GiB",
        flush=True,
    )
    if r["rows_read"] != meta["rows"]:
        raise SystemExit(f"portrait read {r['rows_read']:,} rows of {csv}, the file has {meta['rows']:,}")
    return {
        "rows": meta["rows"],
        "bytes": meta["bytes"],
        "customers": meta["customers"],
        "portrait": {**summarise([r], meta["rows"]), "quarantined": r["quarantined"]},
    }


def profile_import(largest: dict[str, Any], work: Path) -> dict[str, Any]:
    """One extra portrait import of the largest file, with every engine statement timed."""
    csv = DATA / f"orders-{largest['size']}" / "orders.csv"
    out = work / "profile.json"
    print(f"profiling one import of {largest['rows']:,} rows …", flush=True)
    subprocess.run(
        [sys.executable, str(PROFILE_SCRIPT), "orders", str(csv), "--top", "10", "--json", str(out)], check=True
    )
    data = json.loads(out.read_text())
    return {
        "rows": data["rows"],
        "seconds": data["seconds"],
        "in_sql": sum(s["seconds"] for s in data["statements"]),
        "statements_count": len(data["statements"]),
        "steps": data["steps"],
        "statements": sorted(data["statements"], key=lambda s: -s["seconds"])[:20],
    }


def source_version() -> dict[str, Any]:
    """The commit and a digest of src/ as it is now (read-only git), to tell whether src/ changed during a run."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((ROOT / "src").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "?", False
    return {"commit": commit, "src_modified": dirty, "src_digest": digest.hexdigest()[:16]}


# -- report ----------------------------------------------------------------------------------------
def table_lines(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| rows | CSV | runs | portrait s | portrait rows/s | portrait peak RSS | pandas s | pandas rows/s "
        "| pandas peak RSS | pandas s / portrait s | accepted rows (both) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        p, b = r["portrait"], r["pandas"]
        accepted = f"{p['accepted']:,}" if r["same_accepted"] else f"{p['accepted']:,} / {b['accepted']:,}"
        lines.append(
            f"| {r['rows']:,} | {r['bytes'] / 1e6:,.0f} MB | {p['runs']} | {p['seconds']:.2f} | {p['rows_per_s']:,.0f} "
            f"| {gib(p['peak_rss'])} | {b['seconds']:.2f} | {b['rows_per_s']:,.0f} | {gib(b['peak_rss'])} "
            f"| {r['ratio']:.2f}× | {accepted} |"
        )
    return lines


def verdict(results: list[dict[str, Any]]) -> list[str]:
    largest = max(results, key=lambda r: r["rows"])
    p = largest["portrait"]
    speed_ok = largest["ratio"] >= 5
    mem_ok = p["peak_rss_max"] < 4 * 10**9
    return [
        f"Targets at {largest['rows']:,} rows: throughput ≥ 5× pandas — **{'met' if speed_ok else 'not met'}** "
        f"({largest['ratio']:.2f}×); peak memory < 4 GB — **{'met' if mem_ok else 'not met'}** "
        f"({p['peak_rss_max'] / 1e9:.2f} GB, highest of the runs)."
    ]


def print_table(results: list[dict[str, Any]], big: dict[str, Any] | None) -> None:
    print()
    for line in table_lines(results):
        print(line)
    if big:
        b = big["portrait"]
        print(
            f"2 GiB file: {big['rows']:,} rows, {big['bytes'] / 1e9:.2f} GB, {b['seconds']:.2f} s, "
            f"{b['rows_per_s']:,.0f} rows/s, peak RSS {gib(b['peak_rss'])}"
        )
    print(verdict(results)[0].replace("**", ""))


def profile_lines(profile: dict[str, Any]) -> list[str]:
    total = profile["seconds"]
    top = sorted(profile["statements"], key=lambda s: -s["seconds"])[:PROFILE_TOP]
    rest = total - sum(s["seconds"] for s in top)
    lines = [
        para(
            f"Where portrait's time goes at {profile['rows']:,} rows: one import run in-process by "
            f"`benchmarks/profile_import.py`, which times every engine statement ({total:.1f} s in all, "
            f"{profile['in_sql']:.1f} s of it in {profile['statements_count']} statements). The slowest:"
        ),
        "",
        "| seconds | share | step | statement |",
        "|---:|---:|---|---|",
    ]
    for st in top:
        text = st["sql"].replace("|", "\\|")
        text = text[:110] + ("…" if len(text) > 110 else "")
        lines.append(f"| {st['seconds']:.1f} | {st['seconds'] / total:.0%} | {st['step']} | `{text}` |")
    lines.append(f"| {rest:.1f} | {rest / total:.0%} | | everything else |")
    return lines


def load_note(results: list[dict[str, Any]]) -> str:
    loads = [x for r in results for t in TOOLS for x in r[t]["load_before"]]
    return f"{min(loads):.1f}–{max(loads):.1f}, median {statistics.median(loads):.1f}"


def busy(results: list[dict[str, Any]]) -> bool:
    return statistics.median(x for r in results for t in TOOLS for x in r[t]["load_before"]) >= 0.5


def runs_line(results: list[dict[str, Any]]) -> str:
    def runs(r: dict[str, Any], tool: str) -> str:
        seconds = ", ".join(f"{x:.1f}" for x in r[tool]["all_seconds"])
        load = ", ".join(f"{x:.1f}" for x in r[tool]["load_before"])
        return f"{tool} {seconds} (load {load})"

    parts = [f"{r['rows']:,} rows: {runs(r, 'portrait')}; {runs(r, 'pandas')}" for r in results]
    return "Single runs, seconds in run order, with the load average just before each: " + " — ".join(parts) + "."


def docs_section(record: dict[str, Any]) -> str:
    command, results, big = record["command"], record["sizes"], record["big"]
    profile, version, m = record["profile"], record["portrait"], record["machine"]
    counts = sorted({r["portrait"]["runs"] for r in results} | {r["pandas"]["runs"] for r in results})
    runs_note = (
        f"{counts[0]} per tool and size"
        if len(counts) == 1
        else ", ".join(f"{r['rows']:,} rows: {r['portrait']['runs']}" for r in results) + " per tool"
    )
    code = f"portrait at commit `{version['commit']}`" + (
        " with uncommitted changes in `src/`" if version["src_modified"] else ""
    )
    if version.get("changed_during_run"):
        code += " (**`src/` changed during the run: the figures mix versions**)"
    out = [
        "## Import",
        "",
        para(
            "`portrait import orders FILE` beside a plain pandas script doing the same cleaning on the same "
            "file, measured in the same run. Produced by:"
        ),
        "",
        "```bash",
        command,
        f"{command.split()[0]} benchmarks/bench_import.py --docs-only  # writes this section from that run's results",
        "```",
        "",
        para(
            f"Machine: {machine_line(m)}; {code}. Engine settings: the defaults of a new workspace "
            '(`[engine] memory_limit = "3GB"`, `threads = 2`).'
        ),
        "",
        para(
            "Data: orders from `write_demo_shop` (customers = rows / 10, no behaviour events, seed 7), with "
            "about 0.3 % dirty rows of every kind (bad dates and numbers, other date forms, category synonyms, "
            "exact duplicates). Each tool runs in its own child process, the two alternating; a portrait run "
            "imports into a fresh workspace (`portrait init` before, not timed). Time is the child's whole wall "
            "time (interpreter start, imports, read, clean, load); peak RSS is the child's `ru_maxrss` "
            f"(`os.wait4`). Figures are medians of the runs ({runs_note}); rows/s = CSV data rows / seconds; "
            "the ratio is pandas time / portrait time, so above 1 means portrait is faster. The 1-minute load "
            f"average just before the timed runs was {load_note(results)} (on {m['cores']} cores)"
            + (
                ": other work shared the machine, which slows the two-threaded portrait more than "
                "single-threaded pandas."
                if busy(results)
                else "."
            )
        ),
        "",
        *table_lines(results),
        "",
        para(runs_line(results)),
        "",
    ]
    if big:
        b = big["portrait"]
        rss = ", ".join(f"{r['rows']:,} rows {gib(r['portrait']['peak_rss'])}" for r in results)
        out += [
            para(
                f"Large file, imported once by portrait: {big['bytes'] / 1e9:.2f} GB "
                f"({big['bytes'] / 2**30:.2f} GiB), {big['rows']:,} rows in {b['seconds']:.1f} s "
                f"({b['rows_per_s']:,.0f} rows/s), peak RSS **{gib(b['peak_rss'])}**. Peak RSS as the input "
                f"grows: {rss}, 2 GiB file {gib(b['peak_rss'])}."
            ),
            "",
        ]
    out += [para(line) for line in verdict(results)]
    out += [""]
    if profile:
        out += [*profile_lines(profile), ""]
    out += [
        para(
            "What each side does: both read the CSV as text, trim and null the null tokens, parse `order_time` "
            "in all the documented forms (Excel serial days included), strip number noise, quarantine rows "
            "with the documented reasons, map `status` and category synonyms, drop exact duplicates, "
            "quarantine `(order_id, product_id)` conflicts, derive missing amounts, fill key fields, flag IQR "
            "and 3σ outliers and store the result. portrait also hashes every row's natural key (and the values "
            "of the rows whose key repeats), seals the quarantined raw values (encryption) and loads into the "
            "DuckDB warehouse in one transaction; pandas writes Parquet files (cleaned rows, quarantine). Both "
            "accept the same rows, checked on every run (last column); their per-reason quarantine, fixed, "
            "filled and flagged counts "
            f"{'agree as well' if all(r['same_counts'] for r in results) else 'differ (see import-results.json)'}. "
            "The baseline is `benchmarks/pandas_import.py`."
        ),
        "",
    ]
    return "\n".join(out)


def new_docs() -> str:
    """The start of docs/benchmarks.md when it does not exist yet."""
    intro = (
        "Measured speed and memory of Portrait, each section with the command that produced it "
        "(how to run them: `benchmarks/README.md`)."
    )
    return f"# Benchmarks\n\n{para(intro)}\n\n{para(f'Machine: {machine_line(machine())}.')}\n"


def write_docs(section: str) -> None:
    replace_section(DOCS, "## Import", section, new_docs)
    print(f"wrote the Import section of {DOCS.relative_to(ROOT)}")


# -- main ------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,10000000", help="order rows per file, comma-separated")
    parser.add_argument("--runs", default="3", help="runs per tool and size: one number, or one per size (e.g. 3,3,1)")
    parser.add_argument("--big", action="store_true", help="also import a ~2 GiB orders CSV once (portrait only)")
    parser.add_argument("--write-docs", action="store_true", help="rewrite the Import section of docs/benchmarks.md")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile one portrait import of the largest size (statement timings)",
    )
    parser.add_argument(
        "--docs-only",
        action="store_true",
        help=f"measure nothing: rewrite the docs section from the last run's {RESULTS.name} (its figures and command)",
    )
    args = parser.parse_args(argv)
    if args.docs_only:
        write_docs(docs_section(json.loads(RESULTS.read_text())))
        return 0
    sizes = parse_list(args.sizes)
    runs = parse_list(args.runs)
    if len(runs) == 1:
        runs = runs * len(sizes)
    if len(runs) != len(sizes) or min(runs) < 1:
        parser.error("--runs: one number ≥ 1, or one per size")
    exe = Path(sys.executable)
    # a run from a worktree of the repository uses the main checkout's environment: still `.venv/bin/python`
    python = (
        os.path.relpath(exe, ROOT)
        if exe.is_relative_to(ROOT)
        else ".venv/bin/python"
        if exe.parent.parent.name == ".venv"
        else "python"
    )
    command = shlex.join([python, "benchmarks/bench_import.py", *(sys.argv[1:] if argv is None else argv)])
    DATA.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="work-", dir=DATA))
    started = time.perf_counter()
    version = source_version()
    try:
        for size in sizes:  # generate everything first: no generation between timed runs
            orders_file(f"orders-{size}", max(1, size // int(ORDERS_PER_CUSTOMER)))
        results = []
        for size, n in zip(sizes, runs, strict=True):
            print(f"size {size:,}: {n} run(s) each", flush=True)
            results.append(bench_size(size, n, work))
        largest = max(results, key=lambda r: r["rows"])
        big = bench_big(work, largest["bytes"] / largest["rows"]) if args.big else None
        profile = profile_import(largest, work) if args.profile else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    version["changed_during_run"] = source_version()["src_digest"] != version["src_digest"]
    if version["changed_during_run"]:
        print("WARNING: src/ changed during the run; the figures mix versions of portrait. Run again.")
    print_table(results, big)
    print(f"(benchmark wall time {(time.perf_counter() - started) / 60:.1f} min)")
    record = {
        "command": command,
        "machine": machine(),
        "portrait": version,
        "sizes": results,
        "big": big,
        "profile": profile,
    }
    RESULTS.write_text(json.dumps(record, indent=1))
    if args.write_docs:
        write_docs(docs_section(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
