"""Product recommendations: item-based collaborative filtering with category/brand/popularity fallbacks.

The model is three tables, built by the refresh into the snapshot (and, for an evaluation, from the
data before a split date into a scratch database):

- ``customer_items(user_id, product_id, strength, bought)``: how strongly each customer is tied to
  each product. strength = the largest weight among what the customer did with it: a paid purchase
  (``[recommend] purchase_weight``, 1.0), a cart (0.6), a favourite (0.5), a click (0.2), a product page
  view (0.1). ``bought`` marks any purchase (also refunded ones): those are never recommended.
- ``item_catalogue``: every product known (the products table, order lines, behaviour) with its
  category, brand, name, ``popularity`` (distinct paying buyers in the last ``popular_days`` days),
  ``buyers`` (all time) and ranks by popularity overall, within its category and within its brand.
- ``item_neighbours(product_id, neighbour_id, similarity, rank)``: for each product its
  ``neighbours`` most similar products, by cosine similarity of their strength columns over
  customers (each customer counts with their ``history_cap`` strongest products), kept when at least
  ``min_common`` customers share the two products.

A customer's recommendations, best first: products similar to their history (score
Σ strength(i) × similarity(i, j) over their products i), then best sellers of their preferred category
(the category with the largest total strength in their history), then of their preferred brand, then
overall best sellers — never a product they bought. A new customer, an unknown id, or a history without
neighbours therefore still gets a full list. The popularity baseline is the last tier alone.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from portrait import snapshots
from portrait.config import RecommendConfig
from portrait.engine import run, scalar
from portrait.errors import InputError
from portrait.features import REFUND_STATUSES, midnight
from portrait.workspace import Workspace

MODEL = "recommend"
MAX_N = 100
TIERS = {3: "similar_items", 2: "preferred_category", 1: "preferred_brand", 0: "popular"}
TIER_ZH = {3: "与您买过/看过的商品相似", 2: "偏好品类热销", 1: "偏好品牌热销", 0: "全站热销"}


def _d(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def _behaviour_weights(cfg: RecommendConfig) -> dict[str, float]:
    weights = {"cart": cfg.cart_weight, "fav": cfg.fav_weight, "click": cfg.click_weight, "pv": cfg.view_weight}
    return {k: float(v) for k, v in weights.items() if v > 0}


def build_model(con: duckdb.DuckDBPyConnection, cutoff: date, cfg: RecommendConfig, src: str = "") -> dict[str, Any]:
    """Build ``customer_items``, ``item_catalogue`` and ``item_neighbours`` from the activity before ``cutoff``.

    ``src`` prefixes the snapshot tables read (``order_lines``, ``identity``); the raw warehouse is
    attached as ``raw``; the tables are written into the connection's default database.
    """
    d = _d(cutoff)
    weights = _behaviour_weights(cfg)
    case = " ".join(f"WHEN '{k}' THEN {v!r}" for k, v in weights.items())
    kinds = ", ".join(f"'{k}'" for k in weights) or "NULL"
    run(
        con,
        f"""CREATE OR REPLACE TABLE customer_items AS
            WITH bought AS (
                SELECT user_id, product_id, bool_or(status NOT IN {REFUND_STATUSES}) AS paid
                FROM {src}order_lines
                WHERE product_id IS NOT NULL AND CAST(order_time AS DATE) < {d}
                GROUP BY ALL),
            acts AS (
                SELECT COALESCE(i.customer_id, e.user_id) AS user_id, e.product_id,
                       max(CASE e.behavior_type {case or "WHEN NULL THEN 0.0"} END) AS w
                FROM raw.events e LEFT JOIN {src}identity i USING (user_id)
                WHERE e.product_id IS NOT NULL AND e.behavior_type IN ({kinds}) AND e.behavior_time < {midnight(cutoff)}
                GROUP BY ALL)
            SELECT user_id, product_id,
                   CAST(greatest(CASE WHEN b.paid THEN {float(cfg.purchase_weight)!r} ELSE 0.0 END,
                                 COALESCE(a.w, 0.0)) AS DOUBLE) AS strength,
                   b.paid IS NOT NULL AS bought
            FROM bought b FULL JOIN acts a USING (user_id, product_id)
            ORDER BY user_id""",  # grouped by customer: one customer's rows are found without a full scan
    )
    run(
        con,
        f"""CREATE OR REPLACE TABLE item_catalogue AS
            WITH lines AS (
                SELECT user_id, product_id, product_name, category, brand, order_time,
                       status NOT IN {REFUND_STATUSES} AS paid
                FROM {src}order_lines WHERE product_id IS NOT NULL AND CAST(order_time AS DATE) < {d}),
            items AS (SELECT product_id FROM raw.products UNION SELECT product_id FROM lines
                      UNION SELECT product_id FROM customer_items),
            seen AS (
                SELECT product_id,
                       first(category ORDER BY category IS NULL, category) AS category,
                       first(brand ORDER BY brand IS NULL, brand) AS brand,
                       first(product_name ORDER BY product_name IS NULL, product_name) AS product_name,
                       count(DISTINCT user_id) FILTER (WHERE paid AND CAST(order_time AS DATE) >= {d} - INTERVAL {int(cfg.popular_days)} DAY) AS popularity,
                       count(DISTINCT user_id) FILTER (WHERE paid) AS buyers
                FROM lines GROUP BY product_id),
            joined AS (
                SELECT i.product_id, COALESCE(p.category, s.category) AS category, COALESCE(p.brand, s.brand) AS brand,
                       COALESCE(p.product_name, s.product_name) AS product_name,
                       COALESCE(s.popularity, 0) AS popularity, COALESCE(s.buyers, 0) AS buyers
                FROM items i LEFT JOIN raw.products p USING (product_id) LEFT JOIN seen s USING (product_id))
            SELECT *,
                   row_number() OVER (ORDER BY popularity DESC, buyers DESC, product_id) AS popularity_rank,
                   CASE WHEN category IS NOT NULL THEN row_number() OVER (
                       PARTITION BY category ORDER BY popularity DESC, buyers DESC, product_id) END AS category_rank,
                   CASE WHEN brand IS NOT NULL THEN row_number() OVER (
                       PARTITION BY brand ORDER BY popularity DESC, buyers DESC, product_id) END AS brand_rank
            FROM joined ORDER BY popularity_rank""",
    )
    stats = item_neighbours(con, cfg)
    stats["customers_with_history"] = scalar(con, "SELECT count(DISTINCT user_id) FROM customer_items")
    stats["customer_items"] = scalar(con, "SELECT count(*) FROM customer_items")
    return stats


def item_neighbours(con: duckdb.DuckDBPyConnection, cfg: RecommendConfig) -> dict[str, Any]:
    """Write ``item_neighbours``: per product its most similar products (cosine over customers' strengths)."""
    from scipy import sparse

    products = con.sql("SELECT product_id FROM item_catalogue ORDER BY product_id").to_arrow_table()["product_id"]
    cap = int(cfg.history_cap)
    # customers numbered in id order; only those with more than history_cap products are ranked
    pairs = con.execute(
        f"""WITH items AS (SELECT product_id, CAST(row_number() OVER (ORDER BY product_id) - 1 AS INTEGER) AS i
                          FROM item_catalogue),
                 held AS (SELECT user_id, count(*) AS n FROM customer_items WHERE strength > 0 GROUP BY user_id),
                 ids AS (SELECT user_id, n, CAST(row_number() OVER (ORDER BY user_id) - 1 AS INTEGER) AS u FROM held),
                 h AS (SELECT ids.u, c.product_id, c.strength FROM customer_items c JOIN ids USING (user_id)
                       WHERE c.strength > 0 AND ids.n <= {cap}
                       UNION ALL
                       SELECT ids.u, c.product_id, c.strength FROM customer_items c JOIN ids USING (user_id)
                       WHERE c.strength > 0 AND ids.n > {cap}
                       QUALIFY row_number() OVER (PARTITION BY c.user_id ORDER BY c.strength DESC, c.product_id) <= {cap})
            SELECT h.u, items.i, h.strength FROM h JOIN items USING (product_id)"""
    ).fetchnumpy()
    n_items = len(products)
    u, i, s = (np.asarray(pairs[c]) for c in ("u", "i", "strength"))
    n_users = int(u.max()) + 1 if len(u) else 0
    strengths = sparse.csr_matrix((s.astype(np.float64), (u, i)), shape=(n_users, n_items))
    gram, common = cooccurrence(strengths)
    norms = np.sqrt(np.maximum(gram.diagonal(), 0.0))
    row = np.repeat(np.arange(n_items), np.diff(gram.indptr))
    col, dot = gram.indices, gram.data
    same_pattern = np.array_equal(gram.indptr, common.indptr) and np.array_equal(gram.indices, common.indices)
    shared = common.data if same_pattern else np.asarray(common[row, col]).ravel()
    keep = (row != col) & (shared >= cfg.min_common) & (dot > 0)
    row, col, dot = row[keep], col[keep], dot[keep]
    sim = dot / (norms[row] * norms[col])
    order = np.lexsort((col, -sim, row))  # per product: most similar first, ties by product order
    row, col, sim = row[order], col[order], sim[order]
    starts = np.searchsorted(row, np.arange(n_items))
    rank = np.arange(len(row)) - starts[row] + 1
    top = rank <= cfg.neighbours
    row, col, sim, rank = row[top], col[top], sim[top], rank[top]
    table = pa.table(
        {
            "product_id": products.take(pa.array(row, pa.int64())),
            "neighbour_id": products.take(pa.array(col, pa.int64())),
            "similarity": pa.array(np.round(sim, 6), pa.float64()),
            "rank": pa.array(rank, pa.int32()),
        }
    )
    con.register("item_neighbours_found", table)
    try:
        run(con, "CREATE OR REPLACE TABLE item_neighbours AS SELECT * FROM item_neighbours_found")
    finally:
        con.unregister("item_neighbours_found")
    with_neighbours = len(np.unique(row))
    return {
        "items": n_items,
        "items_with_neighbours": int(with_neighbours),
        "neighbour_pairs": len(row),
        "customers_in_similarity": n_users,
    }


DENSE_ITEMS = 4000  # above this many products the co-occurrence is always computed sparse (memory)
DENSE_RATIO = 100  # dense when users × items² is under this many times the sparse product's work


def cooccurrence(strengths: Any, dense: bool | None = None) -> tuple[Any, Any]:
    """Item × item sums over customers of ``strengths`` (customers × items, CSR, values > 0).

    Returns ``(gram, common)`` as CSR matrices with sorted indices: ``gram[i, j]`` = Σ s(u, i)·s(u, j),
    ``common[i, j]`` = how many customers hold both. With few products, dense blocks of customers
    multiplied by BLAS beat the sparse product (measured at 1 M customers × 200 products: 1.7 s
    against 16 s); ``dense`` forces a way, None chooses by the work each would do.
    """
    from scipy import sparse

    n_users, n_items = strengths.shape
    if dense is None:
        per_user = np.diff(strengths.indptr).astype(np.float64)
        dense = n_items <= DENSE_ITEMS and n_users * float(n_items) ** 2 <= DENSE_RATIO * float(per_user @ per_user)
    if not dense:
        together = strengths.copy()
        together.data = np.ones_like(together.data, dtype=np.float64)
        gram, common = (strengths.T @ strengths).tocsr(), (together.T @ together).tocsr()
    else:
        g = np.zeros((n_items, n_items))
        c = np.zeros((n_items, n_items))
        step = max(1, 8_000_000 // max(n_items, 1))  # about 64 MB of customers at a time
        for start in range(0, n_users, step):
            block = strengths[start : start + step].toarray()
            g += block.T @ block
            held = (block > 0).astype(np.float64)
            c += held.T @ held
        gram, common = sparse.csr_matrix(g), sparse.csr_matrix(c)
    gram.sort_indices()
    common.sort_indices()
    return gram, common


def ranked_sql(targets: str, n: int, similar: bool = True, content: bool = True) -> str:
    """SQL ranking up to ``n`` products for each ``user_id`` of the ``targets`` query (the model tables).

    Columns: user_id, rank, product_id, tier (3 similar, 2 category, 1 brand, 0 popular), score,
    because (the history product that contributed most to a similar-items score).
    """
    parts = [
        f"""t AS (SELECT DISTINCT user_id FROM ({targets})),
        h AS (SELECT h.* FROM customer_items h JOIN t USING (user_id)),
        depth AS (SELECT t.user_id, {int(n)} + count(h.product_id) FILTER (WHERE h.bought) AS depth
                  FROM t LEFT JOIN h USING (user_id) GROUP BY t.user_id)"""
    ]
    candidates = [
        "SELECT d.user_id, c.product_id, 0 AS tier, CAST(c.popularity AS DOUBLE) AS score, NULL AS because "
        "FROM depth d JOIN item_catalogue c ON c.popularity_rank <= d.depth"
    ]
    if similar:
        parts.append(
            """cf AS (SELECT h.user_id, n.neighbour_id AS product_id, sum(h.strength * n.similarity) AS score,
                       first(h.product_id ORDER BY h.strength * n.similarity DESC, h.product_id) AS because
                FROM h JOIN item_neighbours n ON n.product_id = h.product_id
                WHERE h.strength > 0 GROUP BY h.user_id, n.neighbour_id)"""
        )
        # only the best n new products per customer can make the list: prune before the union
        parts.append(
            f"""cf_top AS (
                SELECT cf.* FROM cf JOIN item_catalogue k USING (product_id)
                LEFT JOIN (SELECT user_id, product_id FROM h WHERE bought) b
                  ON b.user_id = cf.user_id AND b.product_id = cf.product_id
                WHERE b.product_id IS NULL
                QUALIFY row_number() OVER (
                    PARTITION BY cf.user_id ORDER BY cf.score DESC, k.popularity_rank, cf.product_id) <= {int(n)})"""
        )
        candidates.append("SELECT user_id, product_id, 3, score, because FROM cf_top")
    if content:
        for kind, tier in (("category", 2), ("brand", 1)):
            parts.append(
                f"""pref_{kind} AS (
                    SELECT user_id, first({kind} ORDER BY w DESC, {kind}) AS {kind} FROM (
                        SELECT h.user_id, c.{kind}, sum(h.strength) AS w
                        FROM h JOIN item_catalogue c USING (product_id)
                        WHERE h.strength > 0 AND c.{kind} IS NOT NULL GROUP BY ALL) GROUP BY user_id)"""
            )
            candidates.append(
                f"SELECT p.user_id, c.product_id, {tier}, CAST(c.popularity AS DOUBLE), NULL "
                f"FROM pref_{kind} p JOIN depth d USING (user_id) "
                f"JOIN item_catalogue c ON c.{kind} = p.{kind} AND c.{kind}_rank <= d.depth"
            )
    union = "\n                UNION ALL ".join(candidates)
    parts.append(
        f"""cand AS ({union}),
        fresh AS (
            SELECT c.* FROM cand c LEFT JOIN (SELECT user_id, product_id FROM h WHERE bought) b
              ON b.user_id = c.user_id AND b.product_id = c.product_id
            WHERE b.product_id IS NULL
            QUALIFY row_number() OVER (PARTITION BY c.user_id, c.product_id ORDER BY c.tier DESC) = 1)"""
    )
    return f"""WITH {", ".join(parts)}
        SELECT f.user_id, CAST(row_number() OVER (
                   PARTITION BY f.user_id ORDER BY f.tier DESC, f.score DESC, k.popularity_rank, f.product_id) AS INTEGER
               ) AS rank, f.product_id, f.tier, f.score, f.because
        FROM fresh f JOIN item_catalogue k USING (product_id)
        QUALIFY rank <= {int(n)}"""


def build(con: duckdb.DuckDBPyConnection, as_of: date, ws: Workspace) -> None:
    """Refresh stage: the model tables of all activity before ``as_of``, and the model report."""
    from portrait.models import record_report

    started = time.perf_counter()
    stats = build_model(con, as_of, ws.config.recommend)
    stats["seconds"] = round(time.perf_counter() - started, 3)
    if not stats["items"]:
        record_report(con, MODEL, "skipped", "no products in orders, behaviour or the products table", stats)
    elif not stats["neighbour_pairs"]:
        record_report(
            con,
            MODEL,
            "ok",
            f"{stats['items']} products but no two shared by {ws.config.recommend.min_common} customers: "
            "recommendations are best sellers only",
            stats,
        )
    else:
        record_report(
            con,
            MODEL,
            "ok",
            f"{stats['items_with_neighbours']} of {stats['items']} products have similar products",
            stats,
        )


def _check_n(n: int) -> None:
    if not 1 <= n <= MAX_N:
        raise InputError(f"n = {n}: ask for 1 to {MAX_N} recommendations")


def _require_model(con: duckdb.DuckDBPyConnection) -> None:
    present = scalar(
        con,
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND table_name = 'item_neighbours'",
    )
    if not present:
        raise InputError("this snapshot has no recommendation model; run `portrait refresh`")


def recommend(ws: Workspace, user_id: str, n: int = 10) -> dict[str, Any]:
    """Up to ``n`` products for one customer, best first, each with why (similar item, category, brand, popular)."""
    ws.require("read")
    _check_n(n)
    user_id = str(user_id).strip()
    if not user_id:
        raise InputError("give a customer id")
    with snapshots.reader(ws) as (con, snap):
        _require_model(con)
        customer = scalar(con, "SELECT customer_id FROM identity WHERE user_id = ?", [user_id]) or user_id
        known = bool(scalar(con, "SELECT count(*) FROM customer_table WHERE user_id = ?", [customer]))
        history = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE bought) FROM customer_items WHERE user_id = ?", [customer]
        ).fetchall()[0]
        rows = con.execute(
            f"""SELECT r.rank, r.product_id, c.product_name, c.category, c.brand, r.tier, r.score, r.because,
                       b.product_name AS because_name
                FROM ({ranked_sql("SELECT CAST(? AS VARCHAR) AS user_id", n)}) r
                JOIN item_catalogue c USING (product_id)
                LEFT JOIN item_catalogue b ON b.product_id = r.because
                ORDER BY r.rank""",
            [customer],
        ).fetchall()
        prefs = con.execute(
            """SELECT (SELECT first(category ORDER BY w DESC, category) FROM (
                         SELECT c.category, sum(h.strength) AS w FROM customer_items h JOIN item_catalogue c USING (product_id)
                         WHERE h.user_id = $1 AND h.strength > 0 AND c.category IS NOT NULL GROUP BY 1)),
                      (SELECT first(brand ORDER BY w DESC, brand) FROM (
                         SELECT c.brand, sum(h.strength) AS w FROM customer_items h JOIN item_catalogue c USING (product_id)
                         WHERE h.user_id = $1 AND h.strength > 0 AND c.brand IS NOT NULL GROUP BY 1))""",
            [customer],
        ).fetchall()[0]
    result: dict[str, Any] = {
        "snapshot": snap.id,
        "as_of": snap.as_of,
        "user_id": user_id,
        "known_customer": known,
        "history_products": history[0],
        "bought_products": history[1],
        "preferred_category": prefs[0],
        "preferred_brand": prefs[1],
        "n": n,
        "recommendations": [
            {
                "rank": rank,
                "product_id": pid,
                "product_name": name,
                "category": category,
                "brand": brand,
                "reason": TIERS[tier],
                "reason_zh": TIER_ZH[tier],
                "score": round(float(score), 4),
                "because_product_id": because,
                "because_product_name": because_name,
            }
            for rank, pid, name, category, brand, tier, score, because, because_name in rows
        ],
    }
    if customer != user_id:
        result["merged_into"] = customer
    if not known and not history[0]:
        result["message"] = f"customer '{user_id}' is not in the current snapshot: these are the best sellers"
    elif not history[0]:
        result["message"] = "no purchases or product views yet: these are the best sellers"
    elif not rows:
        result["message"] = "the customer has bought every known product: nothing left to recommend"
    return result


def evaluate_recommendations(ws: Workspace, split_date: date | str | None = None, n: int = 10) -> dict[str, Any]:
    """Hit-rate@n and coverage of item-based recommendations on a time split, beside the popularity baseline.

    The model is built from the activity before ``split_date`` (default: ``[recommend] test_days`` before
    the snapshot's as-of); each customer who buys, from the split to the as-of, a product they had not
    bought before is a test case. A hit: at least one of those products among their top ``n``.
    """
    ws.require("read")
    _check_n(n)
    cfg = ws.config.recommend
    snap = snapshots.require_current(ws)
    as_of = snap.as_of_date
    if split_date is None:
        split = as_of - timedelta(days=cfg.test_days)
    elif isinstance(split_date, str):
        try:
            split = date.fromisoformat(split_date.strip())
        except ValueError:
            raise InputError(f"split date '{split_date}': write it as YYYY-MM-DD") from None
    else:
        split = split_date
    if split >= as_of:
        raise InputError(
            f"split date {split} is not before the snapshot's as-of date {as_of}; choose an earlier date "
            "so that purchases after it can be tested"
        )
    started = time.perf_counter()
    con = duckdb.connect(config={"memory_limit": ws.config.engine.memory_limit, "threads": ws.config.engine.threads})
    try:
        run(con, f"ATTACH '{snapshots.folder(ws) / snap.file}' AS snap (READ_ONLY)")
        run(con, f"ATTACH '{ws.warehouse_path}' AS raw (READ_ONLY)")
        first = scalar(con, "SELECT min(CAST(order_time AS DATE)) FROM snap.order_lines")
        if first is None or split <= first:
            raise InputError(
                f"split date {split} leaves no purchase history before it"
                + (f" (the first order is on {first})" if first else " (no orders)")
                + "; choose a later date"
            )
        stats = build_model(con, split, cfg, src="snap.")
        built = time.perf_counter() - started
        run(
            con,
            f"""CREATE TABLE test_items AS
                SELECT DISTINCT l.user_id, l.product_id
                FROM snap.order_lines l LEFT JOIN customer_items h
                  ON h.user_id = l.user_id AND h.product_id = l.product_id AND h.bought
                WHERE l.product_id IS NOT NULL AND l.status NOT IN {REFUND_STATUSES}
                  AND CAST(l.order_time AS DATE) >= {_d(split)} AND h.product_id IS NULL""",
        )
        cases = scalar(con, "SELECT count(DISTINCT user_id) FROM test_items")
        base: dict[str, Any] = {
            "snapshot": snap.id,
            "as_of": snap.as_of,
            "split_date": split.isoformat(),
            "test_days": (as_of - split).days,
            "n": n,
            "model": stats,
        }
        if not cases:
            return {
                **base,
                "customers_evaluated": 0,
                "models": {},
                "message": f"no customer bought a new product between {split} and {as_of}; choose an earlier split",
            }
        with_history = scalar(
            con, "SELECT count(DISTINCT user_id) FROM test_items WHERE user_id IN (SELECT user_id FROM customer_items)"
        )
        targets = "SELECT DISTINCT user_id FROM test_items"
        models = {
            "item_cf": _score_run(con, ranked_sql(targets, n), n),
            "popularity": _score_run(con, ranked_sql(targets, n, similar=False, content=False), n),
        }
    finally:
        con.close()
    cf, pop = models["item_cf"]["hit_rate"], models["popularity"]["hit_rate"]
    return {
        **base,
        "customers_evaluated": cases,
        "with_history": with_history,
        "without_history": cases - with_history,
        "models": models,
        "hit_rate_lift": round(cf / pop, 3) if pop else None,
        "seconds": {"build": round(built, 3), "total": round(time.perf_counter() - started, 3)},
    }


def _score_run(con: duckdb.DuckDBPyConnection, ranked: str, n: int) -> dict[str, Any]:
    """Hit-rate@n, precision, recall and coverage of one ranking of the test customers."""
    started = time.perf_counter()
    run(con, f"CREATE OR REPLACE TABLE ranked AS {ranked}")
    row = con.execute(
        """WITH hits AS (
               SELECT r.user_id, count(t.product_id) AS hit_items
               FROM ranked r LEFT JOIN test_items t ON t.user_id = r.user_id AND t.product_id = r.product_id
               GROUP BY r.user_id),
           users AS (
               SELECT u.user_id, COALESCE(h.hit_items, 0) AS hit_items, u.wanted,
                      u.user_id IN (SELECT user_id FROM customer_items) AS known
               FROM (SELECT user_id, count(*) AS wanted FROM test_items GROUP BY user_id) u
               LEFT JOIN hits h USING (user_id))
           SELECT count(*), count(*) FILTER (WHERE hit_items > 0),
                  count(*) FILTER (WHERE known), count(*) FILTER (WHERE known AND hit_items > 0),
                  sum(hit_items), sum(wanted),
                  (SELECT count(DISTINCT product_id) FROM ranked), (SELECT count(*) FROM item_catalogue)
           FROM users"""
    ).fetchall()[0]
    users, hits, known, known_hits, hit_items, wanted, shown, catalogue = row
    return {
        "hit_rate": round(hits / users, 4),
        "hits": hits,
        "hit_rate_with_history": round(known_hits / known, 4) if known else None,
        "hit_rate_without_history": round((hits - known_hits) / (users - known), 4) if users > known else None,
        "precision": round(hit_items / (users * n), 4),
        "recall": round(hit_items / wanted, 4),
        "coverage": round(shown / catalogue, 4) if catalogue else 0.0,
        "recommended_products": shown,
        "seconds": round(time.perf_counter() - started, 3),
    }
