"""Customer clusters: k-means on standardised behaviour features, k chosen by silhouette, named in words.

Features come from the snapshot's ``customer_table`` (one value per customer): recency, frequency,
monetary, average order value, visit days in 90 days, favourites + carts, consultations in 90 days,
coupon share and refunds. Skewed counts and amounts are log-transformed (``log1p``); every feature is
then standardised (mean 0, standard deviation 1 over all customers). A customer who never bought
gets the longest recency seen plus one day, an average order value and a coupon share of 0.

k is chosen from ``[cluster] k_min … k_max``: for each k a k-means (2 starts) is fitted on a seeded
sample of customers (``selection_sample``) and its silhouette measured on a seeded sub-sample
(``silhouette_sample``); the k with the highest silhouette wins. The final model is fitted on all
customers (k-means with 4 starts up to 50 000 customers, mini-batch k-means above). Clusters are numbered by size
(1 = largest). Each is described by its most distinctive features: the mean z-score of its members
on each feature; up to three features with |z| ≥ 0.5, strongest first, each as a plain Chinese word
("高频购买", "久未购买" …); a cluster with none is "各项居中"; one where fewer than 10 % ever bought starts with "从未购买".
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from portrait import snapshots
from portrait.config import ClusterConfig
from portrait.engine import run, scalar
from portrait.errors import InputError
from portrait.workspace import Workspace

MODEL = "cluster"
TABLE = "cluster_scores"
DISTINCT_Z = 0.5  # |z| from which a feature describes a cluster
WORDS_PER_CLUSTER = 3
NEVER_BOUGHT_SHARE = 0.1  # below this share of buyers a cluster is named "从未购买"
PURCHASE_FEATURES = {"recency_days", "frequency", "monetary", "avg_order_value", "coupon_share", "refunds"}
FULL_KMEANS_UP_TO = 50_000
CANDIDATE_STARTS = 2  # k-means starts per candidate k (the final fit has 4)


@dataclass(frozen=True)
class Feature:
    """One clustering feature: its SQL over ``customer_table``, label, transform and the words for high/low."""

    name: str
    sql: str
    label: str
    log: bool
    high: str
    low: str


FEATURES: tuple[Feature, ...] = (
    Feature("recency_days", "recency_days", "距上次购买天数", True, "久未购买", "近期购买"),
    Feature("frequency", "frequency", "购买次数", True, "高频购买", "低频购买"),
    Feature("monetary", "monetary", "消费金额", True, "高消费", "低消费"),
    Feature("avg_order_value", "COALESCE(avg_order_value, 0)", "客单价", True, "高客单价", "低客单价"),
    Feature("visits_90d", "visits_90d", "90天访问天数", True, "常来访", "少来访"),
    Feature("favs_carts", "favs + carts", "收藏加购次数", True, "爱收藏加购", "少收藏加购"),
    Feature("consultations_90d", "consultations_90d", "90天咨询次数", True, "咨询多", "少咨询"),
    Feature("coupon_share", "COALESCE(coupon_share, 0)", "用券订单占比", False, "爱用券", "少用券"),
    Feature("refunds", "refunds", "退款订单数", True, "退款多", "少退款"),
)
FREQUENCY = [f.name for f in FEATURES].index("frequency")


@dataclass
class ClusterResult:
    """A fitted clustering: labels per customer (1 = largest cluster), names, and the report."""

    labels: np.ndarray
    names: dict[int, str]
    report: dict[str, Any]


def feature_matrix(con: duckdb.DuckDBPyConnection) -> tuple[pa.Array, np.ndarray]:
    """User ids and the raw (untransformed) feature matrix of every customer in ``customer_table``."""
    cols = ", ".join(f"CAST({f.sql} AS DOUBLE) AS {f.name}" for f in FEATURES)
    table = con.sql(f"SELECT user_id, {cols} FROM customer_table ORDER BY user_id").to_arrow_table()
    raw = np.column_stack([table.column(f.name).to_numpy(zero_copy_only=False) for f in FEATURES]).astype(float)
    return table.column("user_id"), raw.reshape(len(table), len(FEATURES))


def standardise(raw: np.ndarray) -> np.ndarray:
    """Fill missing values, log-transform the skewed features and scale each column to mean 0, sd 1."""
    x = raw.copy()
    rec = [f.name for f in FEATURES].index("recency_days")
    seen = x[:, rec][~np.isnan(x[:, rec])]
    x[np.isnan(x[:, rec]), rec] = (seen.max() + 1) if seen.size else 0.0
    x = np.nan_to_num(x, nan=0.0)
    x = np.maximum(x, 0.0)
    for j, f in enumerate(FEATURES):
        if f.log:
            x[:, j] = np.log1p(x[:, j])
    mean, sd = x.mean(axis=0), x.std(axis=0)
    constant = sd <= 1e-9 * np.maximum(1.0, np.abs(mean))  # equal values (up to rounding) carry no information
    sd[constant] = 1.0
    z = (x - mean) / sd
    z[:, constant] = 0.0
    return z


def _kmeans(k: int, n: int, seed: int, starts: int = 4) -> Any:
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if n <= FULL_KMEANS_UP_TO:
        return KMeans(n_clusters=k, n_init=starts, random_state=seed)
    return MiniBatchKMeans(n_clusters=k, n_init=3, batch_size=4096, random_state=seed)


def describe(z: np.ndarray, buyers_share: float = 1.0) -> tuple[str, list[dict[str, Any]]]:
    """The plain-words name of a cluster from its mean z-scores, and the distinctive features behind it.

    A cluster in which fewer than 10 % ever bought is "从未购买", followed by its distinctive
    non-purchase features.
    """
    never = buyers_share < NEVER_BOUGHT_SHARE
    order = sorted(range(len(FEATURES)), key=lambda j: (-abs(z[j]), j))
    usable = [j for j in order if abs(z[j]) >= DISTINCT_Z and not (never and FEATURES[j].name in PURCHASE_FEATURES)]
    picked = usable[: WORDS_PER_CLUSTER - 1 if never else WORDS_PER_CLUSTER]
    distinctive = [
        {
            "feature": FEATURES[j].name,
            "label": FEATURES[j].label,
            "z": round(float(z[j]), 3),
            "word": FEATURES[j].high if z[j] > 0 else FEATURES[j].low,
        }
        for j in picked
    ]
    words = (["从未购买"] if never else []) + [d["word"] for d in distinctive]
    return ("、".join(words) if words else "各项居中"), distinctive


def fit_clusters(raw: np.ndarray, config: ClusterConfig) -> ClusterResult:
    """Cluster customers given their raw feature matrix (rows: customers; columns: ``FEATURES``).

    Raises InputError when the data cannot be clustered (too few customers, no variation, bad k range).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import silhouette_score

    n = raw.shape[0]
    if config.k_min > config.k_max:
        raise InputError(f"[cluster] k_min ({config.k_min}) is above k_max ({config.k_max}); make k_min ≤ k_max")
    if n < max(config.min_customers, config.k_min + 1):
        raise InputError(f"only {n} customers; clustering needs at least {max(config.min_customers, config.k_min + 1)}")
    x = standardise(raw)
    rng = np.random.default_rng(config.seed)
    chosen = (
        np.sort(rng.choice(n, size=config.selection_sample, replace=False)) if n > config.selection_sample else None
    )
    xs = x if chosen is None else x[chosen]
    distinct = len(np.unique(np.round(xs, 9), axis=0))
    if distinct < 2 or not np.any(x.std(axis=0) > 0):
        raise InputError("the customers do not differ in behaviour (all features equal); nothing to cluster")
    k_hi = min(config.k_max, distinct - 1, len(xs) - 1)
    if k_hi < config.k_min:
        raise InputError(
            f"only {distinct} distinct behaviour profiles; too few for k ≥ {config.k_min} clusters "
            "(lower [cluster] k_min)"
        )
    sample = min(config.silhouette_sample, len(xs))
    silhouettes: dict[int, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for k in range(config.k_min, k_hi + 1):
            labels = _kmeans(k, len(xs), config.seed, starts=CANDIDATE_STARTS).fit_predict(xs)
            if len(np.unique(labels)) < 2:
                continue
            silhouettes[k] = float(
                silhouette_score(xs, labels, sample_size=sample if sample < len(xs) else None, random_state=config.seed)
            )
        if not silhouettes:
            raise InputError("k-means found no two separate groups in these customers; nothing to cluster")
        best_k = max(silhouettes, key=lambda k: (round(silhouettes[k], 6), -k))
        model = _kmeans(best_k, n, config.seed)
        fitted = model.fit_predict(x)
    # number clusters by size, largest first (ties: the smaller fitted label first)
    ids, sizes = np.unique(fitted, return_counts=True)
    order = [int(ids[i]) for i in sorted(range(len(ids)), key=lambda i: (-sizes[i], ids[i]))]
    relabel = np.zeros(int(fitted.max()) + 1, dtype=np.int32)
    for number, fitted_id in enumerate(order, start=1):
        relabel[fitted_id] = number
    labels = relabel[fitted]
    names: dict[int, str] = {}
    clusters = []
    used: dict[str, int] = {}
    for number in range(1, len(order) + 1):
        members = labels == number
        z = x[members].mean(axis=0)
        buyers_share = float(np.mean(np.nan_to_num(raw[members, FREQUENCY]) > 0))
        name, distinctive = describe(z, buyers_share)
        used[name] = used.get(name, 0) + 1
        if used[name] > 1:
            name = f"{name}（{used[name]}）"
        names[number] = name
        means = {
            f.name: (None if np.all(np.isnan(raw[members, j])) else round(float(np.nanmean(raw[members, j])), 2))
            for j, f in enumerate(FEATURES)
        }
        clusters.append(
            {
                "cluster": number,
                "name": name,
                "size": int(members.sum()),
                "share": round(float(members.mean()), 4),
                "buyers_share": round(buyers_share, 4),
                "means": means,
                "z": {f.name: round(float(z[j]), 3) for j, f in enumerate(FEATURES)},
                "distinctive": distinctive,
            }
        )
    overall = {
        f.name: (None if np.all(np.isnan(raw[:, j])) else round(float(np.nanmean(raw[:, j])), 2))
        for j, f in enumerate(FEATURES)
    }
    report = {
        "customers": n,
        "k": best_k,
        "k_range": [config.k_min, config.k_max],
        "silhouette": {str(k): round(v, 4) for k, v in silhouettes.items()},
        "method": "k-means" if n <= FULL_KMEANS_UP_TO else "mini-batch k-means",
        "selection_sample": len(xs),
        "silhouette_sample": sample,
        "seed": config.seed,
        "features": [{"feature": f.name, "label": f.label, "log": f.log} for f in FEATURES],
        "overall_means": overall,
        "clusters": clusters,
    }
    return ClusterResult(labels=labels, names=names, report=report)


def build(con: duckdb.DuckDBPyConnection, as_of: date, ws: Workspace) -> None:
    """Refresh stage: write ``cluster_scores`` (user_id, cluster, cluster_name) and the model report."""
    from threadpoolctl import threadpool_limits

    from portrait.models import record_report

    n = scalar(con, "SELECT count(*) FROM customer_table")
    try:
        if n < ws.config.cluster.min_customers:  # skip before reading anything
            raise InputError(f"only {n} customers; clustering needs at least {ws.config.cluster.min_customers}")
        user_ids, raw = feature_matrix(con)
        with threadpool_limits(limits=ws.config.engine.threads):
            result = fit_clusters(raw, ws.config.cluster)
    except InputError as exc:
        run(
            con,
            f"CREATE OR REPLACE TABLE {TABLE} AS SELECT user_id, CAST(NULL AS INTEGER) AS cluster, "
            "CAST(NULL AS VARCHAR) AS cluster_name FROM customer_table",
        )
        record_report(con, MODEL, "skipped", str(exc), {"customers": n})
        return
    assigned = pa.table({"user_id": user_ids, "cluster": pa.array(result.labels, pa.int32())})
    names = pa.table(
        {"cluster": pa.array(list(result.names), pa.int32()), "cluster_name": pa.array(list(result.names.values()))}
    )
    con.register("cluster_assigned", assigned)
    con.register("cluster_names", names)
    try:
        run(
            con,
            f"""CREATE OR REPLACE TABLE {TABLE} AS
                SELECT a.user_id, CAST(a.cluster AS INTEGER) AS cluster, n.cluster_name
                FROM cluster_assigned a JOIN cluster_names n USING (cluster) ORDER BY a.user_id""",
        )
    finally:
        con.unregister("cluster_assigned")
        con.unregister("cluster_names")
    k = result.report["k"]
    record_report(
        con,
        MODEL,
        "ok",
        f"{k} clusters of {n} customers (silhouette {result.report['silhouette'][str(k)]:.2f})",
        result.report,
    )


def cluster_report(ws: Workspace) -> dict[str, Any]:
    """The clusters of the current snapshot: k, silhouettes tried, and per cluster its name, size and means."""
    ws.require("read")
    with snapshots.reader(ws) as (con, snap):
        present = scalar(
            con,
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND table_name = 'model_reports'",
        )
        row = (
            con.execute("SELECT status, message, report FROM model_reports WHERE model = ?", [MODEL]).fetchall()
            if present
            else []
        )
    base = {"snapshot": snap.id, "as_of": snap.as_of}
    if not row:
        return {**base, "status": "missing", "message": "this snapshot has no clusters; run `portrait refresh`"}
    status, message, report = row[0]
    return {**base, "status": status, "message": message, **json.loads(report)}
