"""CLV fitting benchmark: Portrait's BG/NBD and Gamma-Gamma fits beside the `lifetimes` library, on the same data.

    .venv/bin/python benchmarks/bench_clv.py [--synthetic 1000000] [--runs 5] [--runs-big 3] [--write-docs]

Data sets (built once into ``benchmarks/data/clv/`` as ``.npz``, git-ignored):

* ``cdnow``: the full CDNOW cohort — all 23 570 customers of ``CDNOW_master.txt`` (shipped inside the
  ``lifetimes`` package), summarised by Portrait's own refresh SQL (``customer_histories``: purchase days,
  39-week calibration to 1997-09-30) and expressed in weeks, as in Fader, Hardie and Lee (2005);
* ``synthetic``: ``--synthetic`` customers drawn from the BG/NBD process at the published CDNOW parameters
  (r 0.243, α 4.414, a 0.793, b 2.426; first purchases spread over 12 weeks, calibration to week 39) and
  their repeat spends from the Gamma-Gamma model (p 6.25, q 3.74, γ 15.44), seed 2005.

Each contender fits each model in its own child process (``--one``), ``--runs`` times (``--runs-big`` on the
synthetic set), alternating which goes first. The time is the fit call alone (data already in memory, modules
imported and one-time set-up done for both);
the peak memory is the child's ``ru_maxrss`` (interpreter, imports and data included, the same for both).
``lifetimes`` 0.11.3 (the last release) runs unchanged on this venv's NumPy 2 / SciPy / pandas 3; it only warns
at import about a pandas option pandas 3 deprecated. Both get the same NumPy arrays. Medians, ratios
lifetimes ÷ portrait.
``--write-docs`` replaces the "## CLV fitting" section of docs/benchmarks.md; raw figures go to
``benchmarks/data/clv/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from common import splice_section

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "clv"
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## CLV fitting"
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def _cdnow_folder() -> Path:
    import importlib.metadata

    return Path(str(importlib.metadata.distribution("lifetimes").locate_file("lifetimes/datasets")))


def build_cdnow(path: Path) -> None:
    """Summarise CDNOW_master.txt with the refresh's SQL (days), in weeks."""
    import duckdb
    import pandas as pd

    from portrait.models.clv import customer_histories

    tx = pd.read_csv(
        _cdnow_folder() / "CDNOW_master.txt",
        sep=r"\s+",
        skiprows=1,
        header=None,
        names=["user_id", "day", "cds", "amount"],
        dtype={"user_id": str, "day": str},
    )
    tx["order_date"] = pd.to_datetime(tx["day"], format="%Y%m%d").dt.date
    tx["refunded"] = False
    con = duckdb.connect()
    con.register("tx", tx[["user_id", "order_date", "amount", "refunded"]])
    con.execute("CREATE TABLE order_facts AS SELECT * FROM tx WHERE order_date < DATE '1997-10-01'")
    hist = customer_histories(con, date(1997, 10, 1))
    con.close()
    x, t_x, T, m = (hist.column(c).to_numpy() for c in ("frequency", "recency", "T", "monetary"))
    np.savez(path, x=x, t_x=t_x / 7, T=T / 7, m=m)


def build_synthetic(path: Path, n: int, seed: int = 2005) -> None:
    """Customers drawn from the BG/NBD process (and Gamma-Gamma spends) at the published CDNOW parameters."""
    rng = np.random.default_rng(seed)
    r, alpha, a, b = PUBLISHED_BGNBD.values()
    T = 39.0 - rng.uniform(0, 12, n)  # weeks from the first purchase to the end of the calibration
    rate = rng.gamma(r, 1 / alpha, n)
    dropout = rng.beta(a, b, n)
    arrivals = rng.poisson(rate * T)  # purchases the Poisson process offers in (0, T]
    lifetime = rng.geometric(dropout)  # repeat purchases until (and including) the one after which she drops out
    x = np.minimum(arrivals, lifetime)
    # the x-th of `arrivals` uniform times on (0, T) is T·Beta(x, arrivals − x + 1)
    t_x = np.zeros(n)
    rep = x > 0
    t_x[rep] = T[rep] * rng.beta(x[rep], arrivals[rep] - x[rep] + 1)
    p, q, gamma = PUBLISHED_GAMMA_GAMMA.values()
    nu = rng.gamma(q, 1 / gamma, n)
    m = np.zeros(n)
    m[rep] = rng.gamma(p * x[rep], 1 / nu[rep]) / x[rep]  # the mean of x spends, each Gamma(p, ν)
    np.savez(path, x=x.astype(float), t_x=t_x, T=T, m=m)


def run_one(library: str, model: str, data_path: Path) -> dict[str, Any]:
    """In a child: fit one model with one library; return the time of the fit call and the parameters."""
    import resource

    d = np.load(data_path)
    x, t_x, T, m = d["x"], d["t_x"], d["T"], d["m"]
    if library == "portrait":
        import scipy.optimize  # noqa: F401 - imported before the clock starts, as lifetimes imports it with itself

        from portrait.models import clv

        clv._blas()  # the one-time look-up of the BLAS thread pools, like lifetimes' import-time set-up
        started = time.perf_counter()
        if model == "bgnbd":
            fit = clv.fit_bgnbd(x, t_x, T)
        else:
            fit = clv.fit_gamma_gamma(x, m)
        seconds = time.perf_counter() - started
        params, extra = fit.params, {"loglik": fit.loglik, "iterations": fit.iterations}
    else:
        warnings.simplefilter("ignore")  # lifetimes on pandas 3 warns about a removed option at import
        from lifetimes import BetaGeoFitter, GammaGammaFitter

        started = time.perf_counter()
        if model == "bgnbd":
            fitter = BetaGeoFitter().fit(x, t_x, T)
            params = {k: float(v) for k, v in fitter.params_.items()}
        else:
            rep = (x > 0) & (m > 0)  # the customers Portrait's fit uses (lifetimes refuses zero spends)
            fitter = GammaGammaFitter().fit(x[rep], m[rep])
            raw = {k: float(v) for k, v in fitter.params_.items()}
            params = {"p": raw["p"], "q": raw["q"], "gamma": raw["v"]}
        seconds = time.perf_counter() - started
        extra = {}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"seconds": seconds, "peak_rss": peak, "params": params, **extra}


def _child(library: str, model: str, data_path: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run(
        [sys.executable, __file__, "--one", library, model, str(data_path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def measure(name: str, path: Path, runs: int) -> list[dict[str, Any]]:
    """Alternate the contenders ``runs`` times on one data set; return one summary row per model."""
    rows = []
    n = int(np.load(path)["x"].shape[0])
    for model in ("bgnbd", "gamma_gamma"):
        results: dict[str, list[dict[str, Any]]] = {"portrait": [], "lifetimes": []}
        for i in range(runs):
            order = ("portrait", "lifetimes") if i % 2 == 0 else ("lifetimes", "portrait")
            for library in order:
                results[library].append(_child(library, model, path))
                print(f"{name} {model} {library} run {i + 1}: {results[library][-1]['seconds']:.3f} s", flush=True)
        med = {k: statistics.median(r["seconds"] for r in v) for k, v in results.items()}
        rss = {k: max(r["peak_rss"] for r in v) for k, v in results.items()}
        rows.append(
            {
                "data": name,
                "customers": n,
                "model": model,
                "runs": runs,
                "portrait_s": med["portrait"],
                "lifetimes_s": med["lifetimes"],
                "ratio": med["lifetimes"] / med["portrait"],
                "portrait_rss": rss["portrait"],
                "lifetimes_rss": rss["lifetimes"],
                "portrait_params": results["portrait"][0]["params"],
                "lifetimes_params": results["lifetimes"][0]["params"],
                "portrait_loglik": results["portrait"][0]["loglik"],
                "portrait_iterations": results["portrait"][0]["iterations"],
            }
        )
    return rows


def _fmt_params(p: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in p.items())


def docs_section(rows: list[dict[str, Any]], command: str) -> str:
    """The markdown section of docs/benchmarks.md."""
    import lifetimes
    import scipy

    lines = [
        SECTION,
        "",
        f"Command: `{command}` (run from the repository root). Machine: {platform.machine()}, "
        f"{os.cpu_count()} cores shared with other work, Python {platform.python_version()}, NumPy {np.__version__}, "
        f"SciPy {scipy.__version__}, lifetimes {lifetimes.__version__}; load average during the run "
        f"{os.getloadavg()[0]:.0f} (other work on the machine), so single runs scatter: compare the medians.",
        "",
        "Fitting time of `portrait.models.clv.fit_bgnbd` / `fit_gamma_gamma` beside `lifetimes`' `BetaGeoFitter` / "
        "`GammaGammaFitter` on the same arrays, each fit in its own child process, contenders alternated; "
        "time of the fit call alone, modules imported beforehand (medians), peak RSS of the child (interpreter, imports and data included).",
        "",
        "| data | customers | model | runs | portrait | lifetimes | lifetimes ÷ portrait | peak RSS portrait | "
        "peak RSS lifetimes |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['data']} | {r['customers']:,} | {r['model']} | {r['runs']} | {r['portrait_s']:.3f} s | "
            f"{r['lifetimes_s']:.3f} s | {r['ratio']:.1f}× | {_gib(r['portrait_rss'])} | {_gib(r['lifetimes_rss'])} |"
        )
    lines += ["", "Fitted parameters (BG/NBD in weeks; both libraries on the same data):", ""]
    for r in rows:
        lines.append(
            f"- {r['data']}, {r['model']}: portrait {_fmt_params(r['portrait_params'])} "
            f"(log-likelihood {r['portrait_loglik']:.1f}, {r['portrait_iterations']} iterations); "
            f"lifetimes {_fmt_params(r['lifetimes_params'])}"
        )
    lines += [
        "",
        "The CDNOW cohort is summarised from `CDNOW_master.txt` by the refresh's own SQL (purchase days, "
        "39-week calibration); the synthetic customers are drawn from the BG/NBD process at the published CDNOW "
        "parameters (seed 2005), so the fits should land near r 0.243, α 4.414, a 0.793, b 2.426 and "
        "p 6.25, q 3.74, γ 15.44.",
        "",
    ]
    return "\n".join(lines)


def write_docs(section: str) -> None:
    """Replace (or append) this benchmark's section at the end of docs/benchmarks.md."""
    splice_section(DOCS, SECTION, section)


def main() -> None:
    """Build the data sets, run the contenders, print (and optionally write) the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", nargs=3, metavar=("LIBRARY", "MODEL", "DATA"))
    parser.add_argument("--synthetic", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--runs-big", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], args.one[1], Path(args.one[2]))))
        return
    DATA.mkdir(parents=True, exist_ok=True)
    cdnow = DATA / "cdnow-master.npz"
    if not cdnow.exists():
        build_cdnow(cdnow)
    synthetic = DATA / f"synthetic-{args.synthetic}.npz"
    if not synthetic.exists():
        build_synthetic(synthetic, args.synthetic)
    rows = measure("CDNOW (full cohort)", cdnow, args.runs) + measure("synthetic BG/NBD", synthetic, args.runs_big)
    (DATA / "results.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    command = "PYTHONPATH=src .venv/bin/python benchmarks/bench_clv.py " + " ".join(sys.argv[1:])
    section = docs_section(rows, command.strip())
    print(section)
    if args.write_docs:
        write_docs(section)


if __name__ == "__main__":
    main()
