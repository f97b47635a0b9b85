"""Churn warning model: who is likely to stop buying, with a 0–100 risk and the main reasons, per customer.

The label comes from the data: a customer who bought before a cut-off date T *churned* when they made no
paid purchase in the N days from T (``[models] churn_days``, default 90). Training never looks past the
as-of date: features are built at T1 = as_of − 2N with labels from [T1, T2), the hold-out at
T2 = as_of − N with labels from [T2, as_of). Each cut-off gets its own customer table, built by the
refresh's own feature code (``features.build_customer_table``, as a view in a scratch DuckDB file beside
the snapshots, deleted afterwards), over the snapshot's facts cut back to the date (``features.facts_before``:
views too, so the order and event facts are not computed and written again). Only the model's features
and the label are computed from it, once per cut-off.

A standardised logistic regression and a gradient-boosted tree model (scikit-learn's
HistGradientBoosting) are fitted on (a seeded sample of at most ``churn_train_rows``) customers at T1,
80 % to fit and 20 % to choose the decision threshold (the one with the best F1). Both are scored on the
hold-out at T2: AUC, precision, recall and F1 at the threshold, and a calibration table by deciles.
The model with the better hold-out AUC scores every customer who has bought before the as-of date, on
the snapshot's own customer table: ``churn_risk = round(100 · p)``. Reasons are per-customer
contributions in log-odds against the median retained customer of the training data (logistic:
coefficient × (standardised value − standardised reference); trees: the feature alone given to the
reference customer, see :func:`contributions`) — the three largest that push the risk up, in plain words
beside the reference value: "距上次购买 120 天（留存客户中位数 9 天）".

Writes ``churn_scores(user_id, churn_risk, churn_reasons)`` (one row per customer; NULL for customers who
never bought, and for everyone when the model is skipped) and a row in ``model_reports``.
"""

from __future__ import annotations

import json
import os
import time
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

from portrait import features, snapshots
from portrait.engine import run, scalar
from portrait.errors import InputError, NotFound
from portrait.models import record_report
from portrait.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

MODEL = "churn"
TABLE = "churn_scores"
CORRELATION_LIMIT = 0.95  # of two features correlated above this, the weaker one is dropped
SELECTION_ROWS = 20_000  # mutual information and chi-square are reported on a sample this large
REASONS = 3
SMALL_FIT_ROWS = 20_000  # below this many rows models are fitted on one thread

# feature → (words, unit, how the value is written: int | one decimal | percent)
FEATURES: dict[str, tuple[str, str, str]] = {
    "recency_days": ("距上次购买", "天", "int"),
    "tenure_days": ("首次购买至今", "天", "int"),
    "frequency": ("累计购买", "次", "int"),
    "monetary": ("累计消费", "元", "int"),
    "orders_30d": ("近30天下单", "次", "int"),
    "orders_90d": ("近90天下单", "次", "int"),
    "orders_180d": ("近180天下单", "次", "int"),
    "orders_365d": ("近365天下单", "次", "int"),
    "monetary_90d": ("近90天消费", "元", "int"),
    "monetary_365d": ("近365天消费", "元", "int"),
    "avg_order_value": ("客单价", "元", "int"),
    "repurchase_cycle_days": ("平均复购间隔", "天", "int"),
    "overdue_ratio": ("距上次购买为平均复购间隔的", "倍", "dec"),
    "refunds": ("退款订单", "笔", "int"),
    "coupon_share": ("用券订单占比", "", "pct"),
    "visits_30d": ("近30天访问", "天", "int"),
    "visits_90d": ("近90天访问", "天", "int"),
    "pv_30d": ("近30天浏览", "次", "int"),
    "days_since_visit": ("距上次访问", "天", "int"),
    "favs_30d": ("近30天收藏", "次", "int"),
    "carts_30d": ("近30天加购", "次", "int"),
    "consultations_90d": ("近90天咨询", "次", "int"),
    "consultations_prev_90d": ("此前90天咨询", "次", "int"),
    "complaints_90d": ("近90天投诉", "次", "int"),
    "avg_satisfaction": ("平均满意度", "分", "dec"),
    "age": ("年龄", "岁", "int"),
}
DERIVED = {
    "tenure_days": "date_diff('day', CAST(first_order_at AS DATE), {d})",
    "overdue_ratio": "recency_days / NULLIF(repurchase_cycle_days, 0)",
}


class Skipped(Exception):
    """The data cannot support a fit: the message says why (written to ``model_reports``)."""


def _d(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def feature_sql(table: str, cutoff: date) -> str:
    """SELECT of the model features (as DOUBLE) of every customer in ``table`` who bought before ``cutoff``."""
    cols = ", ".join(f"CAST({DERIVED.get(f, f).format(d=_d(cutoff))} AS DOUBLE) AS {f}" for f in FEATURES)
    return f"SELECT user_id, {cols} FROM {table} WHERE frequency > 0"


def buyers_sql(start: date, days: int) -> str:
    """SELECT of the customers (after identity merges) with a paid order in the ``days`` days from ``start``."""
    end = start + timedelta(days=days)
    return f"""SELECT DISTINCT COALESCE(c.merged_into, o.user_id) AS user_id
               FROM raw.orders o LEFT JOIN raw.customers c USING (user_id)
               WHERE CAST(o.order_time AS DATE) >= {_d(start)} AND CAST(o.order_time AS DATE) < {_d(end)}
                 AND COALESCE(o.status, 'paid') NOT IN {features.REFUND_STATUSES}"""


def _labelled(con: duckdb.DuckDBPyConnection, table: str, cutoff: date, days: int, cap: int, seed: int) -> dict:
    """Features at ``cutoff`` with the churn label, a seeded sample of at most ``cap`` rows."""
    labelled = f"""SELECT f.*, CAST(b.user_id IS NULL AS INTEGER) AS churned
                   FROM ({feature_sql(table, cutoff)}) f
                   LEFT JOIN ({buyers_sql(cutoff, days)}) b ON b.user_id = f.user_id"""
    run(con, f"CREATE OR REPLACE TEMP TABLE _churn_labelled AS {labelled}")  # computed once, read twice
    try:
        total, churners = con.execute("SELECT count(*), COALESCE(sum(churned), 0) FROM _churn_labelled").fetchall()[0]
        frame = con.execute(
            f"SELECT * FROM _churn_labelled ORDER BY hash(user_id, {int(seed)}), user_id LIMIT {int(cap)}"
        ).fetch_df()
    finally:
        run(con, "DROP TABLE IF EXISTS _churn_labelled")
    return {"cutoff": cutoff, "customers": int(total), "churners": int(churners), "frame": frame}


def _cutoff_tables(con: duckdb.DuckDBPyConnection, ws: Workspace, cutoffs: list[date], days: int) -> list[dict]:
    """Build a customer table at each cut-off in a scratch file and read it labelled.

    The connection's default database holds the facts as of a later date (the snapshot being built, after
    its ``facts`` stage); each cut-off reads them through ``features.facts_before``.
    """
    cfg = ws.config.models
    main = scalar(con, "SELECT current_database()")
    scratch = snapshots.folder(ws) / f"churn-{os.getpid()}.partial.duckdb"
    for leftover in (scratch, Path(str(scratch) + ".wal")):
        leftover.unlink(missing_ok=True)
    quoted = str(scratch).replace("'", "''")
    out = []
    try:
        run(con, f"ATTACH '{quoted}' AS churn_work")
        for cutoff in cutoffs:
            run(con, "USE churn_work")
            try:
                features.facts_before(con, main, cutoff)
                features.build_customer_table(con, cutoff, ws.config, as_view=True)
            finally:
                run(con, f'USE "{main}"')
            out.append(
                _labelled(con, "churn_work.customer_table", cutoff, days, cfg.churn_train_rows, cfg.seed + len(out))
            )
    finally:
        # the scratch file goes whatever happened (a full disk can make even the detach fail)
        for statement in (f'USE "{main}"', "DETACH DATABASE IF EXISTS churn_work"):
            try:
                run(con, statement)
            except duckdb.Error:
                pass
        scratch.unlink(missing_ok=True)
        Path(str(scratch) + ".wal").unlink(missing_ok=True)
    return out


def _check(part: dict, name: str, ws: Workspace) -> None:
    cfg = ws.config.models
    n, churners = part["customers"], part["churners"]
    when = part["cutoff"].isoformat()
    if n < cfg.churn_min_customers:
        raise Skipped(
            f"only {n} customer{'' if n == 1 else 's'} had bought before the {name} cut-off {when}; the churn model needs at least "
            f"{cfg.churn_min_customers} ([models] churn_min_customers)"
        )
    if churners == 0 or churners == n:
        kind = "churned" if churners == n else "bought again"
        raise Skipped(f"every customer at the {name} cut-off {when} {kind} (a single class); nothing to learn from")
    if min(churners, n - churners) < cfg.churn_min_class:
        raise Skipped(
            f"{churners} churners and {n - churners} repeat buyers at the {name} cut-off {when}; each class needs "
            f"at least {cfg.churn_min_class} ([models] churn_min_class)"
        )


def _models(seed: int) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "logistic": make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(C=1.0, max_iter=5000),
        ),
        "gradient_boosting": HistGradientBoostingClassifier(
            learning_rate=0.08,
            max_iter=150,
            max_leaf_nodes=31,
            min_samples_leaf=20,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=seed,
        ),
    }


def _threads(rows: int, threads: int) -> Any:
    """Native thread pools (OpenMP, BLAS) of the fit: ``[engine] threads``, one for small tables.

    On a small table several threads only wait on each other (a 70-row gradient-boosting fit measured
    7 s with two busy threads, 0.3 s with one).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads if rows >= SMALL_FIT_ROWS else 1)


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability cut (among the predicted values) with the best F1 on (y, p); 0.5 without both classes."""
    if len(np.unique(y)) < 2:
        return 0.5
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order], p[order]
    tp = np.cumsum(ys)
    k = np.arange(1, len(ys) + 1)
    f1 = 2 * tp / (k + ys.sum())
    last = np.r_[ps[1:] != ps[:-1], True]  # only cut between distinct values
    best = int(np.argmax(np.where(last, f1, -1)))
    return float(ps[best])


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Customers sorted by predicted p and cut into ``bins`` near-equal groups: mean predicted vs observed rate."""
    order = np.argsort(p, kind="stable")
    rows = []
    for i, idx in enumerate(np.array_split(order, min(bins, len(order)))):
        if len(idx) == 0:
            continue
        rows.append(
            {
                "decile": i + 1,
                "customers": int(len(idx)),
                "p_min": round(float(p[idx].min()), 4),
                "p_max": round(float(p[idx].max()), 4),
                "predicted": round(float(p[idx].mean()), 4),
                "observed": round(float(y[idx].mean()), 4),
            }
        )
    return rows


def evaluate(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    """AUC, precision, recall, F1 at ``threshold``, Brier score and the calibration table of one model."""
    from sklearn.metrics import brier_score_loss, f1_score, precision_score, recall_score, roc_auc_score

    hit = (p >= threshold).astype(int)
    return {
        "auc": round(float(roc_auc_score(y, p)), 4),
        "threshold": round(threshold, 4),
        "precision": round(float(precision_score(y, hit, zero_division=0)), 4),
        "recall": round(float(recall_score(y, hit, zero_division=0)), 4),
        "f1": round(float(f1_score(y, hit, zero_division=0)), 4),
        "flagged": int(hit.sum()),
        "brier": round(float(brier_score_loss(y, p)), 4),
        "calibration": calibration_table(y, p),
    }


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _significant(values: np.ndarray, digits: int = 4) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits (NaN kept): few distinct values to predict on."""
    out = values.astype("float64").copy()
    finite = np.isfinite(out) & (out != 0)
    scale = 10.0 ** (digits - 1 - np.floor(np.log10(np.abs(out[finite]))))
    out[finite] = np.round(out[finite] * scale) / scale
    return out


def contributions(name: str, model: Any, x: pd.DataFrame, reference: pd.Series) -> np.ndarray:
    """Per-customer, per-feature push towards churn in log-odds, against a reference customer (> 0 raises risk).

    The reference is the median retained customer of the training data. Logistic: coefficient ×
    (standardised value − standardised reference), the exact share of the log-odds. Trees: the feature
    alone given to the reference customer, f(reference with x_j) − f(reference) with f the log-odds
    (the individual effect at the reference; interactions between features are not split). It is
    computed once per distinct value (values rounded to 4 significant digits), so its cost does not
    grow with the number of customers beyond a lookup. A value at the reference pushes 0.
    """
    if name == "logistic":
        imputer, scaler, lr = model.steps[0][1], model.steps[1][1], model.steps[2][1]
        z = scaler.transform(imputer.transform(x))
        z_reference = scaler.transform(imputer.transform(reference.to_frame().T[x.columns]))
        return (z - z_reference) * lr.coef_[0]
    import pandas as pd

    ref = reference[x.columns].to_numpy(dtype="float64")
    ref_f = _log_odds(model.predict_proba(pd.DataFrame([ref], columns=x.columns))[:, 1])[0]
    out = np.empty(x.shape, dtype="float64")
    for j, col in enumerate(x.columns):
        values = _significant(x[col].to_numpy())
        distinct, back = np.unique(values, return_inverse=True)  # NaN sorts last, as one value
        grid = pd.DataFrame(np.tile(ref, (len(distinct), 1)), columns=x.columns)
        grid[col] = distinct
        out[:, j] = (_log_odds(model.predict_proba(grid)[:, 1]) - ref_f)[back.reshape(-1)]
    return out


def top_reasons(push: np.ndarray, names: list[str], k: int = REASONS) -> list[np.ndarray]:
    """The ``k`` features with the largest positive push per row (None where fewer push the risk up)."""
    order = np.argsort(-push, axis=1, kind="stable")[:, :k]
    picked = []
    labels = np.array(names, dtype=object)
    for i in range(order.shape[1]):
        col = order[:, i]
        positive = push[np.arange(len(push)), col] > 1e-9
        picked.append(np.where(positive, labels[col], None))
    return picked


def _reason_sql(slot: str, used: list[str]) -> str:
    """SQL writing the reason named in column ``slot`` in words, beside the median retained customer's value."""

    def shown(kind: str, v: str) -> str:
        return {
            "int": f"CAST(CAST(round({v}) AS BIGINT) AS VARCHAR)",
            "dec": f"printf('%.1f', {v})",
            "pct": f"CAST(CAST(round(100 * {v}) AS BIGINT) AS VARCHAR) || '%'",
        }[kind]

    whens = []
    for f in used:
        words, unit, kind = FEATURES[f]
        v, m = f"n.{f}", f"ref.{f}"
        u = f" {unit}" if unit else ""
        whens.append(
            f"WHEN '{f}' THEN CASE WHEN {v} IS NULL THEN '{words}：无记录' "
            f"WHEN {m} IS NULL THEN '{words} ' || {shown(kind, v)} || '{u}' "
            f"ELSE '{words} ' || {shown(kind, v)} || '{u}（留存客户中位数 ' || {shown(kind, m)} || '{u}）' END"
        )
    return f"CASE s.{slot} {' '.join(whens)} END"


def _write_skipped(con: duckdb.DuckDBPyConnection) -> None:
    run(
        con,
        f"""CREATE OR REPLACE TABLE {TABLE} AS
            SELECT user_id, CAST(NULL AS INTEGER) AS churn_risk, CAST(NULL AS VARCHAR) AS churn_reasons
            FROM customer_table ORDER BY user_id""",
    )


def build(con: duckdb.DuckDBPyConnection, as_of: date, ws: Workspace) -> None:
    """Fit, evaluate and score the churn model on the snapshot being built (or record why it was skipped)."""
    try:
        report = fit_and_score(con, as_of, ws)
    except Skipped as why:
        _write_skipped(con)
        days = ws.config.models.churn_days
        record_report(con, MODEL, "skipped", str(why), {"as_of": as_of.isoformat(), "horizon_days": days})
        return
    record_report(con, MODEL, "ok", report["summary"], report)


def fit_and_score(con: duckdb.DuckDBPyConnection, as_of: date, ws: Workspace) -> dict[str, Any]:
    """Build the labelled cut-off tables, fit both models, evaluate on the hold-out, score and explain."""
    cfg = ws.config.models
    days = cfg.churn_days
    t1, t2 = as_of - timedelta(days=2 * days), as_of - timedelta(days=days)
    first = scalar(con, "SELECT min(CAST(order_time AS DATE)) FROM raw.orders")
    if first is None or first >= t1:
        start = "there are no orders" if first is None else f"orders start on {first}"
        raise Skipped(
            f"{start}; with churn_days = {days} the model needs orders before {t1} (as-of {as_of} − {2 * days} days)"
            " — import a longer history, choose a later as-of date or lower [models] churn_days"
        )
    early = scalar(
        con,
        f"""SELECT count(DISTINCT COALESCE(c.merged_into, o.user_id)) FROM raw.orders o
            LEFT JOIN raw.customers c USING (user_id)
            WHERE CAST(o.order_time AS DATE) < {_d(t1)} AND COALESCE(o.status, 'paid') NOT IN {features.REFUND_STATUSES}""",
    )
    if early < cfg.churn_min_customers:  # the same count _check makes, before building any table
        raise Skipped(
            f"only {early} customer{'' if early == 1 else 's'} had bought before the training cut-off {t1}; the churn "
            f"model needs at least {cfg.churn_min_customers} ([models] churn_min_customers)"
        )
    clock = time.perf_counter()
    timings: dict[str, float] = {}
    train, holdout = _cutoff_tables(con, ws, [t1, t2], days)
    timings["cutoff_tables"] = round(time.perf_counter() - clock, 3)
    _check(train, "training", ws)
    _check(holdout, "hold-out", ws)

    names = list(FEATURES)
    x_train = train["frame"][names]
    y_train = train["frame"]["churned"].to_numpy()
    from portrait.models.features_select import correlation_filter

    kept = correlation_filter(x_train, y_train, threshold=CORRELATION_LIMIT)
    used = kept.chosen
    if not used:
        raise Skipped("every feature is constant among the customers at the training cut-off")
    selection = _selection_tables(x_train, y_train, cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    fit_rows = rng.random(len(x_train)) < 0.8
    if len(np.unique(y_train[fit_rows])) < 2:
        fit_rows[:] = True
    x_fit, y_fit = x_train.loc[fit_rows, used], y_train[fit_rows]
    x_val, y_val = x_train.loc[~fit_rows, used], y_train[~fit_rows]
    x_hold = holdout["frame"][used]
    y_hold = holdout["frame"]["churned"].to_numpy()

    fitted: dict[str, Any] = {}
    evaluation: dict[str, Any] = {}
    with _threads(len(x_train), ws.config.engine.threads):
        for name, model in _models(cfg.seed).items():
            model.fit(x_fit, y_fit)
            cut = best_threshold(y_val, model.predict_proba(x_val)[:, 1]) if len(x_val) else 0.5
            fitted[name] = model
            evaluation[name] = evaluate(y_hold, model.predict_proba(x_hold)[:, 1], cut)
    chosen = max(evaluation, key=lambda m: (evaluation[m]["auc"], m == "logistic"))
    model = fitted[chosen]
    timings["select_fit_evaluate"] = round(time.perf_counter() - clock - timings["cutoff_tables"], 3)
    baseline_auc = _recency_auc(y_hold, holdout["frame"]["recency_days"].to_numpy())

    run(con, f"CREATE OR REPLACE TEMP TABLE _churn_now AS {feature_sql('customer_table', as_of)}")
    now = con.execute("SELECT * FROM _churn_now ORDER BY user_id").fetch_df()
    x_now = now[used]
    reference = x_train.loc[y_train == 0, used].median()
    with _threads(len(x_now), ws.config.engine.threads):
        p_now = model.predict_proba(x_now)[:, 1]
        push = contributions(chosen, model, x_now, reference)
    slots = top_reasons(push, used)
    scored = pa.table(
        {
            "user_id": pa.array(now["user_id"].astype(str).tolist(), pa.string()),
            "churn_risk": pa.array(np.rint(100 * p_now).astype("int32")),
            **{f"r{i + 1}": pa.array(slot.tolist(), pa.string()) for i, slot in enumerate(slots)},
        }
    )
    con.register("_churn_scored", scored)
    con.register("_churn_reference", pa.table({f: pa.array([reference[f]], pa.float64()) for f in used}))
    try:
        reasons = ", ".join(_reason_sql(f"r{i + 1}", used) for i in range(len(slots)))
        run(
            con,
            f"""CREATE OR REPLACE TABLE {TABLE} AS
                SELECT c.user_id, s.churn_risk,
                       NULLIF(concat_ws('；', {reasons}), '') AS churn_reasons
                FROM customer_table c
                LEFT JOIN _churn_scored s ON s.user_id = c.user_id
                LEFT JOIN _churn_now n ON n.user_id = c.user_id
                CROSS JOIN _churn_reference ref
                ORDER BY c.user_id""",
        )
    finally:
        con.unregister("_churn_scored")
        con.unregister("_churn_reference")
        run(con, "DROP TABLE IF EXISTS _churn_now")

    timings["score_and_reasons"] = round(
        time.perf_counter() - clock - timings["cutoff_tables"] - timings["select_fit_evaluate"], 3
    )
    bands = con.execute(
        f"""SELECT count(*) FILTER (WHERE churn_risk < 40), count(*) FILTER (WHERE churn_risk BETWEEN 40 AND 69),
                   count(*) FILTER (WHERE churn_risk >= 70) FROM {TABLE}"""
    ).fetchall()[0]
    best = evaluation[chosen]
    return {
        "summary": (
            f"{chosen} model, hold-out AUC {best['auc']:.3f}; {len(now):,} customers scored (risk ≥ 70: {bands[2]:,})"
        ),
        "as_of": as_of.isoformat(),
        "horizon_days": days,
        "label": f"churned = no paid order in the {days} days from the cut-off",
        "train": _part_summary(train, "features at T1 = as_of − 2N; labels from [T1, T2)"),
        "holdout": _part_summary(holdout, "features at T2 = as_of − N; labels from [T2, as_of)"),
        "fit_rows": int(fit_rows.sum()),
        "threshold_rows": int((~fit_rows).sum()),
        "features": used,
        "dropped_features": [
            {"feature": s["feature"], "reason": s["dropped_because"]} for s in kept.scores if not s["kept"]
        ],
        "selection": selection,
        "models": evaluation,
        "chosen_model": chosen,
        "baseline_recency_auc": baseline_auc,
        "coefficients": _coefficients(fitted["logistic"], used),
        "reference_customer": {f: (None if np.isnan(v) else round(float(v), 4)) for f, v in reference.items()},
        "drivers": _drivers(push, used),
        "scored_customers": len(now),
        "timings": timings,
        "risk_bands": {"低 (0-39)": bands[0], "中 (40-69)": bands[1], "高 (70-100)": bands[2]},
    }


def _recency_auc(y: np.ndarray, recency: np.ndarray) -> float:
    """Hold-out AUC of the plain rule "the longer since the last purchase, the likelier to churn" (a baseline)."""
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score(y, np.nan_to_num(recency, nan=np.nanmax(recency)))), 4)


def _part_summary(part: dict, note: str) -> dict[str, Any]:
    used = len(part["frame"])
    return {
        "cutoff": part["cutoff"].isoformat(),
        "customers": part["customers"],
        "churners": part["churners"],
        "churn_rate": round(part["churners"] / part["customers"], 4),
        "rows_used": used,
        "sampled": used < part["customers"],
        "note": note,
    }


def _selection_tables(x: pd.DataFrame, y: np.ndarray, seed: int) -> dict[str, Any]:
    """Mutual information and chi-square of every feature against the training label (median-filled sample)."""
    if len(x) > SELECTION_ROWS:
        pick = np.random.default_rng(seed).choice(len(x), SELECTION_ROWS, replace=False)
        x, y = x.iloc[np.sort(pick)], y[np.sort(pick)]
    filled = x.fillna(x.median()).fillna(0.0)
    out: dict[str, Any] = {"rows": len(filled)}
    from portrait.models.features_select import chi_square, mutual_information

    for name, helper in (("mutual_information", mutual_information), ("chi_square", chi_square)):
        try:
            result = helper(filled, y, seed=seed) if name == "mutual_information" else helper(filled, y)
            out[name] = result.scores
        except InputError as exc:  # e.g. too few rows for the estimator
            out[name] = {"message": str(exc)}
    return out


def _coefficients(model: Any, used: list[str]) -> list[dict[str, Any]]:
    coef = model.steps[2][1].coef_[0]
    rows = [
        {
            "feature": f,
            "words": FEATURES[f][0],
            "coef_per_sd": round(float(c), 4),
            "odds_ratio_per_sd": round(float(np.exp(c)), 4),
        }
        for f, c in zip(used, coef, strict=True)
    ]
    return sorted(rows, key=lambda r: -abs(r["coef_per_sd"]))


def _drivers(push: np.ndarray, used: list[str]) -> list[dict[str, Any]]:
    """How often each feature is a reason that raises risk, and its mean positive push, over scored customers."""
    positive = np.clip(push, 0, None)
    rows = [
        {"feature": f, "words": FEATURES[f][0], "mean_push_up": round(float(positive[:, j].mean()), 4)}
        for j, f in enumerate(used)
    ]
    return sorted(rows, key=lambda r: -r["mean_push_up"])


def churn_report(ws: Workspace, top: int = 20) -> dict[str, Any]:
    """The churn model's evaluation (hold-out AUC, precision, recall, calibration) and the top-risk customers."""
    ws.require("read")
    if top < 0:
        raise InputError(f"top {top}: give 0 or more customers to list")
    with snapshots.reader(ws) as (con, snap):
        present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "model_reports" not in present or TABLE not in present:
            raise NotFound(f"snapshot #{snap.id} has no churn model yet; run `portrait refresh`")
        row = con.execute("SELECT status, message, report FROM model_reports WHERE model = ?", [MODEL]).fetchall()
        if not row:
            raise NotFound(f"snapshot #{snap.id} has no churn model yet; run `portrait refresh`")
        status, message, report = row[0]
        customers = [
            {"user_id": u, "churn_risk": r, "churn_reasons": why}
            for u, r, why in con.execute(
                f"""SELECT user_id, churn_risk, churn_reasons FROM {TABLE} WHERE churn_risk IS NOT NULL
                    ORDER BY churn_risk DESC, user_id LIMIT ?""",
                [top],
            ).fetchall()
        ]
    return {
        "snapshot": snap.id,
        "as_of": snap.as_of,
        "status": status,
        "message": message,
        "report": json.loads(report) if isinstance(report, str) else report,
        "top_customers": customers,
    }
