"""Association rules (购物篮分析): frequent itemsets and rules with support, confidence and lift.

Baskets come from the snapshot's paid order lines, grouped by order or by customer and day; items
are products, categories or brands. The miner is level-wise over a vertical "occurrence" list
held in NumPy arrays: every occurrence of a frequent k-itemset is a pair (itemset, position of its
last item in the basket), and the itemset's extensions are the items after that position in the
same basket (items in a basket are kept in one global order). One level is a handful of array
operations — gather the following items, count (itemset, item) pairs, keep the frequent ones —
with no Python loop over baskets or itemsets. Supports are exact counts; rules are every split of
a frequent itemset into antecedent and consequent, as in Agrawal & Srikant's definition.

Definitions (n = number of baskets, count(X) = baskets holding every item of X):

- support(X) = count(X) / n; an itemset is frequent when support(X) >= min_support
- confidence(A→C) = count(A∪C) / count(A)
- lift(A→C) = confidence(A→C) / support(C)
- leverage(A→C) = support(A∪C) − support(A)·support(C)
- conviction(A→C) = (1 − support(C)) / (1 − confidence(A→C)), infinite (None) when confidence is 1
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from portrait import snapshots
from portrait.analysis import segment_where
from portrait.errors import InputError
from portrait.workspace import Workspace

GROUPINGS = ("order", "customer-day")
LEVELS = ("product", "category", "brand")
REFUND_STATUSES = ("refunded", "returned")
MAX_ITEMSETS = 2_000_000  # beyond this, min_support is too low for a readable (or storable) answer
CHUNK = 1 << 20  # candidate (itemset, item) pairs counted per pass, to bound memory on large data
MAX_RULE_ITEMS = 16  # an itemset of k items splits into 2^k − 2 rules, found with one array pass per split
BINCOUNT_LIMIT = 1 << 22  # count (itemset, item) pairs in a dense array (32 MB) below this many cells, else by sorting


@dataclass
class BasketSet:
    """Baskets in compressed-row form: basket ``b`` holds the item codes ``items[indptr[b]:indptr[b + 1]]``."""

    indptr: np.ndarray
    items: np.ndarray
    labels: list[str]

    @property
    def count(self) -> int:
        """Number of baskets (empty ones included: they count in the support denominator)."""
        return len(self.indptr) - 1


def baskets_from_pairs(basket: np.ndarray, item: np.ndarray, n_baskets: int, labels: list[str]) -> BasketSet:
    """Baskets from (basket code, item code) pairs; codes are 0-based, repeated pairs count once."""
    basket = np.asarray(basket, dtype=np.int64)
    item = np.asarray(item, dtype=np.int64)
    if len(basket) != len(item):
        raise InputError("basket and item codes differ in length")
    if len(basket) and (basket.min() < 0 or basket.max() >= n_baskets or item.min() < 0 or item.max() >= len(labels)):
        raise InputError("basket or item code out of range")
    m = max(len(labels), 1)
    key = _distinct(basket * m + item)  # sorted by basket, then item; repeats gone
    indptr = np.zeros(n_baskets + 1, dtype=np.int64)
    np.cumsum(np.bincount(key // m, minlength=n_baskets), out=indptr[1:])
    return BasketSet(indptr, (key % m).astype(np.int32), list(labels))


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted (by sorting: NumPy 2.4's ``np.unique`` hashes integers, 10× slower here)."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def baskets_from_onehot(matrix: np.ndarray, labels: list[str]) -> BasketSet:
    """Baskets from a one-hot matrix (rows = baskets, columns = items, true/non-zero = the basket holds the item)."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[1] != len(labels):
        raise InputError("the one-hot matrix needs one column per item label")
    n, m = matrix.shape
    held = matrix if matrix.dtype == np.bool_ else matrix != 0
    if held.flags.c_contiguous:
        rows, cols = np.divmod(_true_cells(held), m)
    else:  # column-major (as pandas keeps a boolean frame): scan the transpose, then regroup by row
        cols, rows = np.divmod(_true_cells(np.ascontiguousarray(held.T)), n)
        order = np.argsort(rows, kind="stable")
        rows, cols = rows[order], cols[order]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return BasketSet(indptr, cols.astype(np.int32), list(labels))


def _true_cells(held: np.ndarray) -> np.ndarray:
    """Flat positions of the true cells of a C-ordered boolean array, skipping all-false 8-byte words at once."""
    flat = held.reshape(-1).view(np.uint8)
    if len(flat) % 8:
        flat = np.concatenate([flat, np.zeros(8 - len(flat) % 8, dtype=np.uint8)])
    words = np.flatnonzero(flat.view(np.uint64))
    word, byte = np.nonzero(flat.reshape(-1, 8)[words])
    return words[word] * 8 + byte


@dataclass
class Itemsets:
    """Frequent itemsets, one array set per size k: members (k columns of item codes), counts, lookup keys."""

    n_baskets: int
    min_count: int
    labels: list[str]
    rank_items: np.ndarray  # item code of each rank (ranks order items by ascending support)
    max_len: int | None = None
    min_support: float = 0.0
    members: list[np.ndarray] = field(default_factory=list)  # level k-1: (N_k, k) ranks, ascending in a row
    counts: list[np.ndarray] = field(default_factory=list)  # level k-1: basket counts
    keys: list[np.ndarray] = field(default_factory=list)  # level k-1 (k >= 2): parent node * m + last rank, sorted

    @property
    def total(self) -> int:
        """Number of frequent itemsets of every size."""
        return sum(len(c) for c in self.counts)

    def lookup(self, ranks: np.ndarray) -> np.ndarray:
        """Counts of itemsets given as rows of ascending ranks (every such itemset must be frequent)."""
        m = len(self.rank_items)
        node = ranks[:, 0].astype(np.int64)
        for t in range(1, ranks.shape[1]):
            node = np.searchsorted(self.keys[t], node * m + ranks[:, t])
        return self.counts[ranks.shape[1] - 1][node]

    def itemsets(self) -> list[tuple[tuple[str, ...], int]]:
        """Every frequent itemset as (item labels sorted by name, basket count)."""
        out = []
        for members, counts in zip(self.members, self.counts, strict=True):
            codes = self.rank_items[members]
            for row, c in zip(codes.tolist(), counts.tolist(), strict=True):
                out.append((tuple(sorted(self.labels[i] for i in row)), c))
        return out


def min_count_for(min_support: float, n: int) -> int:
    """The smallest basket count c with c / n >= min_support (at least 1; 1 when there are no baskets)."""
    if n <= 0:
        return 1
    c = max(1, math.ceil(min_support * n))
    while c > 1 and (c - 1) / n >= min_support:
        c -= 1
    while c / n < min_support:
        c += 1
    return c


def check_thresholds(min_support: float, min_confidence: float, min_lift: float, max_len: int | None) -> None:
    """Raise InputError naming the first threshold out of range."""
    if not 0 < min_support <= 1:
        raise InputError(f"min_support {min_support}: give a share of baskets in (0, 1], e.g. 0.01")
    if not 0 <= min_confidence <= 1:
        raise InputError(f"min_confidence {min_confidence}: give a share in [0, 1], e.g. 0.3")
    if not min_lift >= 0:
        raise InputError(f"min_lift {min_lift}: give a number >= 0, e.g. 1.2")
    if max_len is not None and max_len < 1:
        raise InputError(f"max_len {max_len}: give at least 1 (2 or more for rules)")


def frequent_itemsets(
    baskets: BasketSet, min_support: float, max_len: int | None = None, max_itemsets: int = MAX_ITEMSETS
) -> Itemsets:
    """Every itemset held by at least ``min_support`` of the baskets (up to ``max_len`` items), with its count."""
    check_thresholds(min_support, 0.0, 0.0, max_len)
    n = baskets.count
    min_count = min_count_for(min_support, n)
    n_items = len(baskets.labels)
    item_counts = np.bincount(baskets.items, minlength=n_items)
    frequent = np.flatnonzero(item_counts >= min_count)
    rank_items = frequent[np.lexsort((frequent, item_counts[frequent]))]  # ascending support, then code
    result = Itemsets(n, min_count, baskets.labels, rank_items, max_len, min_support)
    m = len(rank_items)
    if m == 0:
        return result
    result.members.append(np.arange(m, dtype=np.int32)[:, None])
    result.counts.append(item_counts[rank_items].astype(np.int64))
    result.keys.append(np.arange(m, dtype=np.int64))
    _guard(result.total, max_itemsets, min_support)
    if max_len == 1:
        return result

    # keep frequent items only, as ranks, ascending within each basket; drop baskets left with one item.
    # Positions are 32-bit while the data allows (half the memory of the working arrays).
    pos = np.int32 if max(n, len(baskets.items)) < 2**31 - 1 else np.int64
    rank_of = np.full(n_items, -1, dtype=np.int32)
    rank_of[rank_items] = np.arange(m, dtype=np.int32)
    entry_rank = rank_of[baskets.items]
    keep = entry_rank >= 0
    entry_row = np.repeat(np.arange(n, dtype=pos), np.diff(baskets.indptr))[keep]
    entry_rank = entry_rank[keep]
    keep = np.bincount(entry_row, minlength=n)[entry_row] >= 2
    entry_rank, entry_row = entry_rank[keep], entry_row[keep]
    order = np.argsort(entry_row.astype(np.int64) * m + entry_rank, kind="stable")
    rank, row = entry_rank[order], entry_row[order]
    del keep, entry_rank, entry_row, order
    if len(rank) == 0:
        return result
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]]).astype(pos)
    ends = np.r_[starts[1:], len(row)].astype(pos)
    row_end = np.repeat(ends, ends - starts)  # one past the last entry of the entry's basket
    del row, starts, ends

    occ_pos = np.flatnonzero(row_end - np.arange(len(rank), dtype=pos) > 1).astype(pos)  # has a following item
    occ_node = rank[occ_pos].astype(np.int64)
    level = 1
    while len(occ_pos) and (max_len is None or level < max_len):
        n_prev = len(result.counts[-1])
        keys, counts, occ_node, occ_pos = _extend(
            rank, row_end, occ_node, occ_pos, n_prev, m, min_count, (result.total, max_itemsets, min_support)
        )
        if len(keys) == 0:
            break
        parent = keys // m
        last = (keys % m).astype(np.int32)
        result.members.append(np.hstack([result.members[-1][parent], last[:, None]]))
        result.counts.append(counts)
        result.keys.append(keys)
        level += 1
        _guard(result.total, max_itemsets, min_support)
        if max_len is not None and level >= max_len:
            break
    return result


def _guard(found: int, max_itemsets: int, min_support: float) -> None:
    if found > max_itemsets:
        raise InputError(
            f"min_support {min_support} yields more than {max_itemsets:,} frequent itemsets; raise --min-support "
            "or set --max-len"
        )


def _extend(
    rank: np.ndarray,
    row_end: np.ndarray,
    occ_node: np.ndarray,
    occ_pos: np.ndarray,
    n_prev: int,
    m: int,
    min_count: int,
    guard: tuple[int, int, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Count every (itemset, following item) pair of the occurrences; return the frequent ones and their occurrences.

    Returns the sorted keys (parent node * m + item rank) and counts of the frequent extensions, and the
    occurrences of those extensions that can be extended again (node = index among the returned keys).
    ``guard`` (itemsets found so far, the most allowed, min_support) refuses too many before their occurrences
    are built.
    """
    span = row_end[occ_pos] - occ_pos - 1
    bounds = np.cumsum(span)
    total = int(bounds[-1])
    # chunk the occurrences so that each chunk gathers about CHUNK candidates (bounded memory on large data)
    marks = np.searchsorted(bounds, np.arange(1, -(-total // CHUNK)) * CHUNK, side="left")
    cuts = np.unique(np.r_[0, marks, len(occ_pos)]).tolist()
    dense = n_prev * m <= BINCOUNT_LIMIT

    def candidates(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        s = span[lo:hi]
        offset = np.cumsum(s) - s
        q = np.arange(int(s.sum()), dtype=occ_pos.dtype) + np.repeat(
            (occ_pos[lo:hi] + 1 - offset).astype(occ_pos.dtype), s
        )
        key = np.repeat(occ_node[lo:hi], s) * m + rank[q]
        return key, q

    chunks = list(zip(cuts[:-1], cuts[1:], strict=True))
    kept: list[tuple[np.ndarray, np.ndarray]] = []
    if dense:
        tally = np.zeros(n_prev * m, dtype=np.int64)
        for lo, hi in chunks:
            key, q = candidates(lo, hi)
            tally += np.bincount(key, minlength=n_prev * m)
            if len(chunks) == 1:
                kept.append((key, q))
        keys = np.flatnonzero(tally >= min_count)
        counts = tally[keys]
        del tally
    else:
        parts_k, parts_c = [], []
        for lo, hi in chunks:
            key, q = candidates(lo, hi)
            uk, uc = np.unique(key, return_counts=True)
            parts_k.append(uk)
            parts_c.append(uc)
            if len(chunks) == 1:
                kept.append((key, q))
        allk = np.concatenate(parts_k)
        allc = np.concatenate(parts_c)
        order = np.argsort(allk, kind="stable")
        allk, allc = allk[order], allc[order]
        first = np.flatnonzero(np.r_[True, allk[1:] != allk[:-1]])
        uk, uc = allk[first], np.add.reduceat(allc, first)
        keys, counts = uk[uc >= min_count], uc[uc >= min_count].astype(np.int64)
    _guard(guard[0] + len(keys), guard[1], guard[2])
    if dense:
        node_of = np.full(n_prev * m, -1, dtype=np.int32)  # at most BINCOUNT_LIMIT itemsets
        node_of[keys] = np.arange(len(keys), dtype=np.int32)
    next_node, next_pos = [], []
    for i, (lo, hi) in enumerate(chunks):
        key, q = kept[i] if kept else candidates(lo, hi)
        if dense:
            idx = node_of[key]
            hit = idx >= 0
        else:
            idx = np.searchsorted(keys, key)
            idx[idx == len(keys)] = 0
            hit = (keys[idx] == key) if len(keys) else np.zeros(len(key), dtype=bool)
        hit &= row_end[q] - q > 1
        next_node.append(idx[hit])
        next_pos.append(q[hit])
    return keys, counts, np.concatenate(next_node), np.concatenate(next_pos)


@dataclass
class Rules:
    """Association rules as parallel arrays; antecedents and consequents are tuples of item codes."""

    antecedents: list[tuple[int, ...]]
    consequents: list[tuple[int, ...]]
    count: np.ndarray  # baskets holding antecedent and consequent
    antecedent_count: np.ndarray
    consequent_count: np.ndarray
    n_baskets: int

    def __len__(self) -> int:
        return len(self.antecedents)

    @property
    def support(self) -> np.ndarray:
        """support(A∪C) = count(A∪C) / n."""
        return self.count / self.n_baskets

    @property
    def antecedent_support(self) -> np.ndarray:
        """support(A)."""
        return self.antecedent_count / self.n_baskets

    @property
    def consequent_support(self) -> np.ndarray:
        """support(C)."""
        return self.consequent_count / self.n_baskets

    @property
    def confidence(self) -> np.ndarray:
        """count(A∪C) / count(A)."""
        return self.count / self.antecedent_count

    @property
    def lift(self) -> np.ndarray:
        """confidence / support(C) = count(A∪C)·n / (count(A)·count(C))."""
        return _lift(self.count, self.antecedent_count, self.consequent_count, self.n_baskets)

    @property
    def leverage(self) -> np.ndarray:
        """support(A∪C) − support(A)·support(C)."""
        n = self.n_baskets
        return (self.count * n - self.antecedent_count * self.consequent_count) / (n * n)

    @property
    def conviction(self) -> np.ndarray:
        """(1 − support(C)) / (1 − confidence); +inf when the confidence is 1."""
        n = self.n_baskets
        num = (n - self.consequent_count) * self.antecedent_count
        den = n * (self.antecedent_count - self.count)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1), np.inf)


def _lift(c_ac: np.ndarray, c_a: np.ndarray, c_c: np.ndarray, n: int) -> np.ndarray:
    return (c_ac * float(n)) / (c_a * c_c.astype(np.float64))


def association_rules(itemsets: Itemsets, min_confidence: float = 0.0, min_lift: float = 0.0) -> Rules:
    """Every rule A→C splitting a frequent itemset (A, C non-empty) with confidence and lift at or above the floors."""
    check_thresholds(1.0, min_confidence, min_lift, None)
    n = itemsets.n_baskets
    largest = len(itemsets.members)
    if largest > MAX_RULE_ITEMS:
        raise InputError(
            f"frequent itemsets of {largest} items split into {2**largest - 2:,} rules each; set --max-len "
            f"{MAX_RULE_ITEMS} or less, or raise --min-support"
        )
    ante: list[tuple[int, ...]] = []
    cons: list[tuple[int, ...]] = []
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for k in range(2, len(itemsets.members) + 1):
        members = itemsets.members[k - 1]
        c_ac = itemsets.counts[k - 1]
        codes = itemsets.rank_items[members]
        for size in range(1, k):
            for a_cols in combinations(range(k), size):
                c_cols = [j for j in range(k) if j not in a_cols]
                c_a = itemsets.lookup(members[:, list(a_cols)])
                c_c = itemsets.lookup(members[:, c_cols])
                ok = c_ac / c_a >= min_confidence
                if min_lift > 0:
                    ok &= _lift(c_ac, c_a, c_c, n) >= min_lift
                hits = np.flatnonzero(ok)
                if not len(hits):
                    continue
                ante.extend(map(tuple, codes[hits][:, list(a_cols)].tolist()))
                cons.extend(map(tuple, codes[hits][:, c_cols].tolist()))
                parts.append((c_ac[hits], c_a[hits], c_c[hits]))
    if parts:
        count, c_a, c_c = (np.concatenate(p) for p in zip(*parts, strict=True))
    else:
        count = c_a = c_c = np.zeros(0, dtype=np.int64)
    return Rules(ante, cons, count, c_a, c_c, n)


# ---------------------------------------------------------------------------------------------------------------
# Baskets from the snapshot, and the analysis a user runs


def _members_where(con, rule: str | None) -> str:  # noqa: ANN001 - a DuckDB connection
    if not rule:
        return "true"
    return f"user_id IN (SELECT user_id FROM segment_base WHERE {segment_where(con, rule)})"


def load_baskets(ws: Workspace, by: str = "order", level: str = "product", rule: str | None = None) -> dict[str, Any]:
    """Paid order lines of the current snapshot as baskets: the BasketSet, item ids and names, and line counts."""
    ws.require("read")
    if by not in GROUPINGS:
        raise InputError(f"basket grouping '{by}': use order or customer-day")
    if level not in LEVELS:
        raise InputError(f"item level '{level}': use product, category or brand")
    item_sql = {"product": "product_id", "category": "category", "brand": "brand"}[level]
    basket_sql = "order_id" if by == "order" else "user_id || '|' || CAST(CAST(order_time AS DATE) AS VARCHAR)"
    with snapshots.reader(ws) as (con, snap):
        members = _members_where(con, rule)
        con.execute(
            f"""CREATE TEMP TABLE basket_lines AS
                SELECT {basket_sql} AS basket, {item_sql} AS item,
                       first(product_name ORDER BY product_name) AS product_name
                FROM order_lines
                WHERE status NOT IN {REFUND_STATUSES} AND {item_sql} IS NOT NULL AND order_time IS NOT NULL
                  AND {members}
                GROUP BY ALL"""
        ).fetchall()
        lines = con.execute(
            f"""SELECT count(*) FILTER (WHERE status NOT IN {REFUND_STATUSES} AND {members}),
                       count(*) FILTER (WHERE status NOT IN {REFUND_STATUSES} AND {members}
                                        AND ({item_sql} IS NULL OR order_time IS NULL)),
                       count(*) FILTER (WHERE status IN {REFUND_STATUSES} AND {members})
                FROM order_lines"""
        ).fetchall()[0]
        items = con.execute(
            """SELECT item, first(product_name ORDER BY n DESC, product_name) AS name
               FROM (SELECT item, product_name, count(*) AS n FROM basket_lines GROUP BY ALL)
               GROUP BY item ORDER BY item"""
        ).fetchall()
        pairs = con.execute(
            """SELECT CAST(dense_rank() OVER (ORDER BY basket) - 1 AS BIGINT) AS b,
                      CAST(dense_rank() OVER (ORDER BY item) - 1 AS BIGINT) AS i
               FROM (SELECT DISTINCT basket, item FROM basket_lines)"""
        ).fetchnumpy()
        n_baskets = int(con.execute("SELECT count(DISTINCT basket) FROM basket_lines").fetchall()[0][0])
        if level == "product" and any(name is None for _, name in items):
            items = _names_from_catalogue(con, ws, items)
    ids = [str(item) for item, _ in items]
    names = _labels(ids, [name for _, name in items]) if level == "product" else ids
    baskets = baskets_from_pairs(pairs["b"], pairs["i"], n_baskets, names)
    return {
        "snapshot": snap,
        "baskets": baskets,
        "ids": ids,
        "lines": {"paid": int(lines[0]), "without_item": int(lines[1]), "refunded_or_returned": int(lines[2])},
    }


def _names_from_catalogue(con, ws: Workspace, items: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:  # noqa: ANN001
    """Fill missing product names from the warehouse's product catalogue, where it has them."""
    con.execute(f"ATTACH '{ws.warehouse_path}' AS raw (READ_ONLY)").fetchall()
    try:
        known = dict(
            con.execute(
                "SELECT product_id, first(product_name ORDER BY product_name) FROM raw.products "
                "WHERE product_name IS NOT NULL GROUP BY 1"
            ).fetchall()
        )
    finally:
        con.execute("DETACH raw").fetchall()
    return [(item, name if name is not None else known.get(item)) for item, name in items]


def _labels(ids: list[str], names: list[str | None]) -> list[str]:
    """Show products by name; a name shared by several products, or no name, falls back to (or adds) the id."""
    seen: dict[str, int] = {}
    for name in names:
        if name:
            seen[name] = seen.get(name, 0) + 1
    out = []
    for pid, name in zip(ids, names, strict=True):
        if not name:
            out.append(pid)
        elif seen[name] > 1:
            out.append(f"{name} ({pid})")
        else:
            out.append(name)
    return out


def _join(labels: list[str]) -> str:
    return "、".join(labels[:-1]) + ("和" if len(labels) > 1 else "") + labels[-1]


def sentence(antecedent: list[str], consequent: list[str], confidence: float, lift: float, by: str) -> str:
    """The rule in plain words, e.g. 买了A的顾客有60%也买了B，是平均的2.1倍."""
    who = "订单" if by == "order" else "顾客"
    when = "" if by == "order" else "当天"
    return f"买了{_join(antecedent)}的{who}有{confidence:.0%}{when}也买了{_join(consequent)}，是平均的{lift:.1f}倍"


def sentence_en(antecedent: list[str], consequent: list[str], confidence: float, lift: float, by: str) -> str:
    """The rule in plain English words."""
    who = "orders" if by == "order" else "customers"
    when = "" if by == "order" else " the same day"
    return (
        f"{confidence:.0%} of {who} with {' and '.join(antecedent)} also bought {' and '.join(consequent)}{when}, "
        f"{lift:.1f} times the average"
    )


def why_empty(
    baskets: BasketSet, found: Itemsets, n_rules: int, min_confidence: float, min_lift: float, by: str
) -> str | None:
    """None when there are rules, else one line saying why none came out and which option to change."""
    if n_rules:
        return None
    n = baskets.count
    share = f"{found.min_support:.2%}"
    if found.total == 0:
        most = int(np.bincount(baskets.items).max()) if len(baskets.items) else 0
        return f"no item is in {share} of the {n:,} baskets (the most frequent is in {most:,}); lower --min-support"
    together = int((np.diff(baskets.indptr) >= 2).sum())
    if together == 0:
        hint = "try --by customer-day or a coarser --level" if by == "order" else "try a coarser --level"
        return f"every one of the {n:,} baskets holds a single item, so no rule can be found; {hint}"
    multi = sum(len(c) for c in found.counts[1:])
    if multi == 0:
        if len(found.counts) == 1 and found.max_len == 1:
            return "max_len 1 counts single items only; rules need itemsets of 2 items or more"
        return (
            f"no two items appear together in {share} of the {n:,} baskets ({together:,} baskets hold two items "
            "or more); lower --min-support"
        )
    return (
        f"{multi:,} itemsets of two or more items are frequent, but no rule reaches confidence {min_confidence:.0%} "
        f"and lift {min_lift:g}; lower --min-confidence or --min-lift"
    )


SORTS = ("lift", "confidence", "support")


def basket_rules(
    ws: Workspace,
    by: str = "order",
    level: str = "product",
    min_support: float = 0.01,
    min_confidence: float = 0.3,
    min_lift: float = 1.0,
    max_len: int | None = 3,
    rule: str | None = None,
    sort: str = "lift",
    limit: int | None = 50,
) -> dict[str, Any]:
    """Frequent itemsets and association rules of the snapshot's paid baskets (``message`` when none qualify).

    ``by`` groups paid order lines into baskets per order or per customer and day; ``level`` picks the
    item (product, category or brand); ``rule`` restricts to a segment's customers. Rules are sorted by
    ``sort`` (lift, confidence or support, the others breaking ties); ``limit`` caps the rows returned
    (the totals are always given).
    """
    check_thresholds(min_support, min_confidence, min_lift, max_len)
    if sort not in SORTS:
        raise InputError(f"sort '{sort}': use lift, confidence or support")
    if limit is not None and limit < 0:
        raise InputError(f"limit {limit}: give 0 or more")
    loaded = load_baskets(ws, by, level, rule)
    snap, baskets, ids = loaded["snapshot"], loaded["baskets"], loaded["ids"]
    sizes = np.diff(baskets.indptr)
    summary = {
        "by": by,
        "level": level,
        "count": baskets.count,
        "items": len(ids),
        "mean_items": float(sizes.mean()) if len(sizes) else 0.0,
        "with_two_items_or_more": int((sizes >= 2).sum()),
        "lines": loaded["lines"],
    }
    result: dict[str, Any] = {
        "snapshot": snap.id,
        "as_of": snap.as_of,
        "rule": rule,
        "thresholds": {
            "min_support": min_support,
            "min_count": min_count_for(min_support, baskets.count) if baskets.count else None,
            "min_confidence": min_confidence,
            "min_lift": min_lift,
            "max_len": max_len,
        },
        "baskets": summary,
        "itemset_count": 0,
        "rule_count": 0,
        "itemsets": [],
        "rules": [],
        "message": None,
        "definitions": {
            "support": "baskets holding every item / all baskets",
            "confidence": "baskets holding antecedent and consequent / baskets holding the antecedent",
            "lift": "confidence / support of the consequent (1 = no association)",
            "leverage": "support(A∪C) − support(A)·support(C)",
            "conviction": "(1 − support(C)) / (1 − confidence); null when confidence is 1",
        },
    }
    if baskets.count == 0:
        result["message"] = (
            "no paid order lines with a " + level + (" in this segment" if rule else "") + "; nothing to mine"
        )
        return result
    found = frequent_itemsets(baskets, min_support, max_len)
    rules = association_rules(found, min_confidence, min_lift)
    result["itemset_count"] = found.total
    result["rule_count"] = len(rules)
    labels = baskets.labels

    itemset_rows = []
    for members, counts in zip(found.members, found.counts, strict=True):
        for row, c in zip(found.rank_items[members].tolist(), counts.tolist(), strict=True):
            itemset_rows.append((sorted(row, key=lambda i: labels[i]), c))
    itemset_rows.sort(key=lambda r: (-r[1], len(r[0]), [labels[i] for i in r[0]]))
    n = baskets.count
    result["itemsets"] = [
        {
            "items": [labels[i] for i in row],
            "ids": [ids[i] for i in row],
            "size": len(row),
            "support": c / n,
            "count": c,
        }
        for row, c in itemset_rows[:limit]
    ]

    if len(rules):
        lift, conf, support = rules.lift, rules.confidence, rules.support
        primary = {"lift": lift, "confidence": conf, "support": support}[sort]
        others = [v for k, v in (("lift", lift), ("confidence", conf), ("support", support)) if k != sort]
        names = np.array(
            [
                "\x1f".join(sorted(labels[i] for i in a)) + "\x1e" + "\x1f".join(sorted(labels[i] for i in c))
                for a, c in zip(rules.antecedents, rules.consequents, strict=True)
            ]
        )
        order = np.lexsort((names, -others[1], -others[0], -primary))  # ties: by item names
        shown = order[:limit] if limit is not None else order
        leverage, conviction = rules.leverage, rules.conviction
        a_sup, c_sup = rules.antecedent_support, rules.consequent_support
        rows = []
        for j in shown.tolist():
            a = sorted(rules.antecedents[j], key=lambda i: labels[i])
            c = sorted(rules.consequents[j], key=lambda i: labels[i])
            a_names, c_names = [labels[i] for i in a], [labels[i] for i in c]
            rows.append(
                {
                    "antecedents": a_names,
                    "consequents": c_names,
                    "antecedent_ids": [ids[i] for i in a],
                    "consequent_ids": [ids[i] for i in c],
                    "count": int(rules.count[j]),
                    "support": float(support[j]),
                    "antecedent_support": float(a_sup[j]),
                    "consequent_support": float(c_sup[j]),
                    "confidence": float(conf[j]),
                    "lift": float(lift[j]),
                    "leverage": float(leverage[j]),
                    "conviction": None if math.isinf(conviction[j]) else float(conviction[j]),
                    "sentence": sentence(a_names, c_names, float(conf[j]), float(lift[j]), by),
                    "sentence_en": sentence_en(a_names, c_names, float(conf[j]), float(lift[j]), by),
                }
            )
        result["rules"] = rows
    result["message"] = why_empty(baskets, found, len(rules), min_confidence, min_lift, by)
    return result
