"""Association-rule benchmark: Portrait's miner beside mlxtend's fpgrowth + association_rules on the same baskets.

    .venv/bin/python benchmarks/bench_basket.py [--baskets 100000] [--big 1000000] [--items 300] [--runs 3]
        [--min-support 0.001,0.0005] [--min-confidence 0.1] [--min-lift 1.0] [--write-docs]

Data: ``--baskets`` generated shop baskets (seed 7): ``--items`` products with skewed (Zipf, s = 1)
popularity, 1–8 distinct items per basket (30 % hold one item, 3 % eight), and 40 planted companion
pairs (a basket holding the first item of a pair also gets the second with probability 0.4, when it
has room), so that there are rules to find. Kept in ``benchmarks/data/basket-<n>-<items>.npz``.

Runs, each contender in its own child process (the order alternating), ``--runs`` times per
min_support; every child loads the baskets and builds its input before the clock starts:

* mlxtend: a one-hot ``pandas.DataFrame`` of booleans (baskets × items); timed: ``fpgrowth`` plus
  ``association_rules(metric="confidence")`` plus the lift filter;
* portrait: the same one-hot DataFrame; timed: ``baskets_from_onehot`` (from ``DataFrame.to_numpy()``),
  ``frequent_itemsets``, ``association_rules`` and every rule metric (support, confidence, lift,
  leverage, conviction) computed;
* portrait from pairs: the (basket, item) code pairs, as ``basket_rules`` gets them from the snapshot;
  timed: ``baskets_from_pairs`` and the rest as above. Also at ``--big`` baskets (portrait alone).

Figures: medians of the runs' seconds, the ratio mlxtend / portrait (above 1: portrait is faster), and
each child's peak resident memory (``VmHWM``) beside its memory once the input was built. Before
the runs, both libraries mine each min_support once in this process and the itemsets and rules are
compared (same sets, values within 1e-12).

``--write-docs`` rewrites the "## Association rules" section at the end of docs/benchmarks.md; the raw figures
stay in ``benchmarks/data/basket-results.json``, from which ``--docs-only`` (with the same other options)
rewrites the section without measuring.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np

import common

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Association rules"
SIZE_WEIGHTS = np.array([30, 22, 16, 11, 8, 6, 4, 3]) / 100  # baskets of 1 … 8 items


def generate(n: int, items: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """(basket, item) code pairs of ``n`` shop baskets; see the module docstring."""
    rng = np.random.default_rng(seed)
    popularity = 1 / np.arange(1, items + 1)
    popularity /= popularity.sum()
    sizes = rng.choice(np.arange(1, 9), size=n, p=SIZE_WEIGHTS)
    basket = np.repeat(np.arange(n, dtype=np.int64), sizes)
    item = rng.choice(items, size=len(basket), p=popularity)
    # repeated draws collapse; then draw again for the baskets that came out short, until none is
    for _ in range(50):
        key = np.sort(basket * items + item)  # (np.unique hashes integers in NumPy 2.4: much slower)
        key = key[np.r_[True, key[1:] != key[:-1]]]
        basket, item = key // items, key % items
        short = sizes - np.bincount(basket, minlength=n)
        if not short.any():
            break
        extra = np.repeat(np.arange(n, dtype=np.int64), short)
        basket = np.r_[basket, extra]
        item = np.r_[item, rng.choice(items, size=len(extra), p=popularity)]
    pairs = rng.permutation(items)[:80].reshape(40, 2)
    companion = np.full(items, -1)
    companion[pairs[:, 0]] = pairs[:, 1]
    held = np.bincount(basket, minlength=n)
    hit = (companion[item] >= 0) & (rng.random(len(item)) < 0.4) & (held[basket] < 8)
    add_b, add_i = basket[hit], companion[item[hit]]
    first = np.unique(add_b, return_index=True)[1]  # one companion per basket, so none passes 8 items
    key = np.sort(np.r_[basket * items + item, add_b[first] * items + add_i[first]])
    key = key[np.r_[True, key[1:] != key[:-1]]]
    return key // items, key % items


def data_file(n: int, items: int) -> Path:
    """The stored baskets of size ``n`` (generated on first use)."""
    path = DATA / f"basket-{n}-{items}.npz"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        basket, item = generate(n, items)
        np.savez(path, basket=basket, item=item, n=n, items=items)
    return path


def load(path: Path) -> tuple[np.ndarray, np.ndarray, int, int]:
    with np.load(path) as f:
        return f["basket"], f["item"], int(f["n"]), int(f["items"])


def onehot(basket: np.ndarray, item: np.ndarray, n: int, items: int):  # noqa: ANN201 - a pandas DataFrame
    import pandas as pd

    matrix = np.zeros((n, items), dtype=bool)
    matrix[basket, item] = True
    return pd.DataFrame(matrix, columns=[f"p{j:03d}" for j in range(items)])


def mine_mlxtend(frame, min_support: float, min_confidence: float, min_lift: float):  # noqa: ANN001, ANN201
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    found = fpgrowth(frame, min_support=min_support, use_colnames=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        rules = association_rules(found, len(frame), metric="confidence", min_threshold=min_confidence)
    return found, rules[rules["lift"] >= min_lift]


def mine_portrait(baskets, min_support: float, min_confidence: float, min_lift: float):  # noqa: ANN001, ANN201
    from portrait import basket

    found = basket.frequent_itemsets(baskets, min_support)
    rules = basket.association_rules(found, min_confidence, min_lift)
    metrics = [rules.support, rules.confidence, rules.lift, rules.leverage, rules.conviction]
    return found, rules, metrics


def memory(field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of this process in bytes: unlike ``ru_maxrss``, not inherited across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(args: argparse.Namespace) -> None:
    """One timed run; prints one JSON line."""
    from portrait import basket as portrait_basket

    b, i, n, items = load(Path(args.data))
    if args.child in ("mlxtend", "portrait"):
        frame = onehot(b, i, n, items)
    rss_input = memory("VmRSS")
    started = time.perf_counter()
    if args.child == "mlxtend":
        found, rules = mine_mlxtend(frame, args.min_support, args.min_confidence, args.min_lift)
        itemsets, n_rules = len(found), len(rules)
    else:
        if args.child == "portrait":
            baskets = portrait_basket.baskets_from_onehot(frame.to_numpy(), list(frame.columns))
        else:
            baskets = portrait_basket.baskets_from_pairs(b, i, n, [f"p{j:03d}" for j in range(items)])
        found, rules, _ = mine_portrait(baskets, args.min_support, args.min_confidence, args.min_lift)
        itemsets, n_rules = found.total, len(rules)
    seconds = time.perf_counter() - started
    peak = memory("VmHWM")
    print(json.dumps({"seconds": seconds, "itemsets": itemsets, "rules": n_rules, "rss_input": rss_input, "rss": peak}))


def run_child(kind: str, path: Path, min_support: float, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--data",
        str(path),
        "--min-support",
        repr(min_support),
        "--min-confidence",
        repr(args.min_confidence),
        "--min-lift",
        repr(args.min_lift),
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(path: Path, min_support: float, args: argparse.Namespace) -> dict[str, Any]:
    """Both libraries once, in this process: the same itemsets and rules (values within 1e-12)?"""
    from portrait import basket

    b, i, n, items = load(path)
    frame = onehot(b, i, n, items)
    found, rules = mine_mlxtend(frame, min_support, args.min_confidence, args.min_lift)
    theirs_sets = dict(zip(found["itemsets"], found["support"], strict=True))
    cols = ["support", "confidence", "lift", "leverage", "conviction"]
    theirs_rules = {
        (a, c): row
        for a, c, row in zip(rules["antecedents"], rules["consequents"], rules[cols].to_numpy(), strict=True)
    }
    labels = list(frame.columns)
    ours, our_rules, metrics = mine_portrait(
        basket.baskets_from_onehot(frame.to_numpy(), labels), min_support, args.min_confidence, args.min_lift
    )
    ours_sets = {frozenset(k): c / n for k, c in ours.itemsets()}
    ours_rules = {
        (frozenset(labels[x] for x in a), frozenset(labels[x] for x in c)): np.array(v)
        for a, c, *v in zip(our_rules.antecedents, our_rules.consequents, *metrics, strict=True)
    }

    # a value exactly on its floor may land on either side in one library's floating point (mlxtend computes a
    # confidence as (support·n) / (support·n)): such rules are counted apart, anything else must match
    def on_floor(v: np.ndarray) -> bool:
        s, conf, lift = v[0], v[1], v[2]
        return (
            abs(s - min_support) < 1e-12 or abs(conf - args.min_confidence) < 1e-12 or abs(lift - args.min_lift) < 1e-12
        )

    only_ours = [k for k in set(ours_rules) - set(theirs_rules)]
    only_theirs = [k for k in set(theirs_rules) - set(ours_rules)]
    floor_ties = [k for k in only_ours if on_floor(ours_rules[k])] + [
        k for k in only_theirs if on_floor(np.array(theirs_rules[k], dtype=float))
    ]
    same_sets = set(ours_sets) == set(theirs_sets)
    same_rules = len(floor_ties) == len(only_ours) + len(only_theirs)
    worst = 0.0
    for key in set(ours_sets) & set(theirs_sets):
        worst = max(worst, abs(ours_sets[key] - theirs_sets[key]))
    for key in set(ours_rules) & set(theirs_rules):
        a, t = ours_rules[key], theirs_rules[key]
        finite = np.isfinite(a) & np.isfinite(t)
        assert (np.isinf(a) == np.isinf(t)).all()
        worst = max(worst, float(np.abs(a[finite] - t[finite]).max()))
    return {
        "itemsets": len(ours_sets),
        "rules": len(ours_rules),
        "same_itemsets": same_sets,
        "same_rules": same_rules,
        "floor_ties_only_ours": sum(k in set(only_ours) for k in floor_ties),
        "floor_ties_only_mlxtend": sum(k in set(only_theirs) for k in floor_ties),
        "max_difference": worst,
        "by_size": [len(c) for c in ours.counts],
    }


def machine() -> str:
    """The machine line of this benchmark: ``common.machine()`` with NumPy and mlxtend in place of DuckDB."""
    from importlib.metadata import version

    m = common.machine()
    return (
        f"{m['cpu']}, {m['cores']} cores, {m['memory']} RAM, {m['os']}; "
        f"Python {m['python']}, NumPy {np.__version__}, pandas {m['pandas']}, "
        f"mlxtend {version('mlxtend')}; {m['date']}"
    )


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def section(results: dict[str, Any], args: argparse.Namespace, command: str) -> str:
    n, big = args.baskets, args.big
    lines = [
        SECTION,
        "",
        textwrap.fill(
            f"Portrait's frequent itemsets and rules (`portrait.basket`) beside mlxtend's `fpgrowth` + "
            f"`association_rules` on the same {n:,} generated baskets ({args.items} items, skewed popularity, "
            f"1–8 items a basket, planted companion pairs), min_confidence {args.min_confidence:g}, "
            f"min_lift {args.min_lift:g}, all itemset sizes; medians of {args.runs} runs, each in its own process "
            "(input built before the clock starts). Produced by:",
            width=100,
        ),
        "",
        "```bash",
        command,
        "```",
        "",
        f"Machine: {results['machine']}; portrait at commit `{results['commit']}`; load average before the runs "
        f"{results['load']} (a shared machine: with a load above the core count the absolute times are inflated; "
        "the ratios compare runs made side by side, the order alternating).",
        "",
        "| baskets | min_support | itemsets (by size) | rules | mlxtend s | portrait s | ratio | "
        "portrait from pairs s | peak RSS mlxtend | peak RSS portrait |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["small"]:
        lines.append(
            f"| {n:,} | {r['min_support']:g} | {r['check']['itemsets']:,} ({' + '.join(map(str, r['check']['by_size']))}) "
            f"| {r['check']['rules']:,} | {r['mlxtend']:.2f} | {r['portrait']:.3f} | **{r['mlxtend'] / r['portrait']:.1f}×** "
            f"| {r['pairs']:.3f} | {mib(r['rss_mlxtend'])} | {mib(r['rss_portrait'])} |"
        )
    lines += [
        "",
        textwrap.fill(
            "Same answers: "
            + "; ".join(
                f"at {r['min_support']:g} the itemsets are {'the same' if r['check']['same_itemsets'] else 'DIFFERENT'} "
                f"and the rules {'the same' if r['check']['same_rules'] else 'DIFFERENT'}, largest difference of a "
                f"support, confidence, lift, leverage or conviction {r['check']['max_difference']:.1e}"
                + _ties(r["check"])
                for r in results["small"]
            )
            + ". Peak RSS includes the one-hot DataFrame each child builds first "
            f"({mib(results['small'][0]['rss_input'])} once built).",
            width=100,
        ),
        "",
        f"Portrait alone at {big:,} baskets (from (basket, item) pairs, as `basket_rules` reads them from a snapshot):",
        "",
        "| baskets | min_support | itemsets | rules | seconds (median) | runs | RSS with the input | peak RSS |",
        "|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in results["big"]:
        lines.append(
            f"| {big:,} | {r['min_support']:g} | {r['itemsets']:,} | {r['rules']:,} | {r['seconds']:.2f} | "
            f"{', '.join(f'{s:.2f}' for s in r['runs'])} | {mib(r['rss_input'])} | {mib(r['rss'])} |"
        )
    return "\n".join(lines) + "\n"


def _ties(check: dict[str, Any]) -> str:
    ours, theirs = check["floor_ties_only_ours"], check["floor_ties_only_mlxtend"]
    if not ours and not theirs:
        return ""
    return (
        f" (apart from {ours} rule(s) only portrait lists and {theirs} only mlxtend lists, each with a confidence or "
        "lift exactly on the floor: portrait computes count(A∪C)/count(A) exactly rounded, mlxtend's "
        "(support·n)/(support·n) can land an ulp below)"
    )


def write_docs(text: str) -> None:
    common.replace_section(DOCS, SECTION, text)
    print(f"wrote the '{SECTION[3:]}' section of {DOCS.relative_to(ROOT)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baskets", type=int, default=100_000, help="baskets compared with mlxtend")
    parser.add_argument("--big", type=int, default=1_000_000, help="baskets mined by portrait alone (0: skip)")
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--min-support", default="0.001,0.0005", help="comma-separated")
    parser.add_argument("--min-confidence", type=float, default=0.1)
    parser.add_argument("--min-lift", type=float, default=1.0)
    parser.add_argument("--write-docs", action="store_true", help=f'rewrite the "{SECTION}" section')
    parser.add_argument(
        "--docs-only", action="store_true", help="rewrite the section from the last run's results, measure nothing"
    )
    parser.add_argument("--child", choices=("mlxtend", "portrait", "pairs"), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.min_support = float(args.min_support)
        child(args)
        return 0
    supports = [float(x) for x in args.min_support.split(",")]
    given = [a for a in (argv or sys.argv[1:]) if a != "--docs-only"]
    command = ".venv/bin/python benchmarks/bench_basket.py " + " ".join(shlex.quote(a) for a in given)
    if args.docs_only:
        write_docs(section(json.loads((DATA / "basket-results.json").read_text(encoding="utf-8")), args, command))
        return 0
    results: dict[str, Any] = {
        "machine": machine(),
        "commit": commit(),
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "small": [],
        "big": [],
    }
    path = data_file(args.baskets, args.items)
    b, _, n, _ = load(path)
    sizes = np.bincount(np.bincount(b, minlength=n))
    print(f"{n:,} baskets, {len(b):,} lines, basket sizes {dict(enumerate(sizes.tolist()))}", file=sys.stderr)
    for ms in supports:
        check = compare(path, ms, args)
        print(f"min_support {ms}: {check}", file=sys.stderr)
        times: dict[str, list[float]] = {"mlxtend": [], "portrait": [], "pairs": []}
        rss: dict[str, list[int]] = {"mlxtend": [], "portrait": []}
        rss_input = []
        for run in range(args.runs):
            kinds = ["mlxtend", "portrait", "pairs"] if run % 2 == 0 else ["pairs", "portrait", "mlxtend"]
            for kind in kinds:
                r = run_child(kind, path, ms, args)
                times[kind].append(r["seconds"])
                if kind in rss:
                    rss[kind].append(r["rss"])
                    rss_input.append(r["rss_input"])
                print(f"  {kind}: {r}", file=sys.stderr)
        results["small"].append(
            {
                "min_support": ms,
                "check": check,
                "runs": times,
                "mlxtend": statistics.median(times["mlxtend"]),
                "portrait": statistics.median(times["portrait"]),
                "pairs": statistics.median(times["pairs"]),
                "rss_mlxtend": max(rss["mlxtend"]),
                "rss_portrait": max(rss["portrait"]),
                "rss_input": statistics.median(rss_input),
            }
        )
    if args.big:
        big_path = data_file(args.big, args.items)
        for ms in supports:
            runs = [run_child("pairs", big_path, ms, args) for _ in range(args.runs)]
            print(f"big {args.big} {ms}: {runs}", file=sys.stderr)
            results["big"].append(
                {
                    "min_support": ms,
                    "runs": [r["seconds"] for r in runs],
                    "seconds": statistics.median(r["seconds"] for r in runs),
                    "itemsets": runs[0]["itemsets"],
                    "rules": runs[0]["rules"],
                    "rss_input": max(r["rss_input"] for r in runs),
                    "rss": max(r["rss"] for r in runs),
                }
            )
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "basket-results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    text = section(results, args, command)
    print(text)
    if args.write_docs:
        write_docs(text)
    return 0 if all(r["check"]["same_itemsets"] and r["check"]["same_rules"] for r in results["small"]) else 1


if __name__ == "__main__":
    sys.exit(main())
