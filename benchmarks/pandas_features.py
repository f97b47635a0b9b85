"""Baseline for the refresh benchmark: Portrait's customer features and RFM, written as a pandas analyst would.

    .venv/bin/python benchmarks/pandas_features.py WORKSPACE AS_OF [--out DIR] [--json]

Reads the warehouse's raw tables (``customers``, ``orders``, ``events``, ``interactions``) of a Portrait
workspace into pandas DataFrames through DuckDB (only the columns needed; no filtering or aggregation in
SQL) and computes what the refresh stages ``facts``, ``customer_table`` and ``rfm`` compute
(docs/analysis.md): the identity map (``merged_into``), order-level facts (an order fully refunded or
returned is no purchase), recency / frequency / monetary, orders and spend over 7/30/90/180/365 days,
first and last order, the repurchase cycle, favourite category and brand, preferred terminal, order hour,
visit days over 7/30/90 days, page views, favourites and carts, service counts, then the RFM quintile
scores and the eight groups. With ``--out DIR`` the results go to ``DIR/customer_table.parquet`` and
``DIR/rfm.parquet`` (so that the benchmark can check them against Portrait's snapshot).

It is written to be fast the ordinary pandas way: user ids are factorised once per table (only the distinct
ids are looked up in the identity map) and every group-by runs on integer customer codes; modes over hours
use an unstacked count matrix; the repurchase cycle uses that the mean gap between consecutive purchase
days is (last day - first day) / (purchases - 1). Settings that change the results (age bands, the
average-order-value window, RFM "mean" or "median") are read from the workspace's portrait.toml.

Prints the timings (``read``, ``compute``, ``write`` seconds) and row counts; ``--json`` prints one JSON
document instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from common import GROUPS, WINDOWS, settings

REFUND_STATUSES = ("refunded", "returned")
VISIT_WINDOWS = (7, 30, 90)


# -- reading ---------------------------------------------------------------------------------------
def read_tables(warehouse: Path, threads: int) -> dict[str, pd.DataFrame]:
    """The raw tables' needed columns as DataFrames, through Arrow (DuckDB's fast path to pandas)."""
    con = duckdb.connect(str(warehouse), read_only=True, config={"threads": threads})

    def df(sql: str) -> pd.DataFrame:
        return con.sql(sql).to_arrow_table().to_pandas(date_as_object=False)

    try:
        return {
            "customers": df(
                "SELECT user_id, merged_into, gender, age, birth_date, province, city, city_tier, occupation, "
                "member_level, source_channel, marital_status, register_date FROM customers"
            ),
            "orders": df(
                "SELECT user_id, order_id, order_time, CAST(amount AS DOUBLE) AS amount, status, coupon_used, "
                "terminal, category, brand FROM orders"
            ),
            "events": df("SELECT user_id, behavior_type, behavior_time FROM events"),
            "interactions": df("SELECT user_id, interaction_time, type, channel, satisfaction FROM interactions"),
        }
    finally:
        con.close()


# -- helpers ---------------------------------------------------------------------------------------
class Ids:
    """A table's user ids, factorised once: per-row codes and the surviving id of each distinct id."""

    def __init__(self, user_id: pd.Series, merged: pd.Series) -> None:
        codes, uniques = pd.factorize(user_id)
        self.codes = codes
        uniq = pd.Series(uniques)
        self.survivor = uniq.map(merged).fillna(uniq).to_numpy()  # the identity map, on the distinct ids only

    def people(self) -> np.ndarray:
        """The surviving ids of the table (every distinct id occurs at least once)."""
        return self.survivor

    def pid(self, people: pd.Index) -> np.ndarray:
        """Per row: the position of the row's surviving customer in ``people``."""
        return people.get_indexer(self.survivor)[self.codes]


def mode_of(pid: np.ndarray, values: pd.Series) -> pd.Series:
    """The most frequent non-null value per customer; ties go to the smallest value."""
    df = pd.DataFrame({"pid": pid, "v": values.array}).dropna(subset=["v"])
    n = df.groupby(["pid", "v"], sort=False, observed=True).size().reset_index(name="n")
    n = n.sort_values(["pid", "n", "v"], ascending=[True, False, True])
    return n.drop_duplicates("pid").set_index("pid")["v"]


def hour_mode(pid: np.ndarray, hours: np.ndarray) -> pd.Series:
    """The most frequent hour per customer (ties to the earliest), from a customers × 24 count matrix."""
    matrix = pd.DataFrame({"pid": pid, "hour": hours}).groupby(["pid", "hour"]).size().unstack(fill_value=0)
    return pd.Series(matrix.columns.to_numpy()[matrix.to_numpy().argmax(axis=1)], index=matrix.index)


# -- the computation -------------------------------------------------------------------------------
def compute(t: dict[str, pd.DataFrame], as_of: date, cfg: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    d = pd.Timestamp(as_of)
    customers, orders, inter = t["customers"], t["orders"], t["interactions"]
    events = t.pop("events")  # the biggest table: dropped as soon as its columns are turned into arrays

    # identity map: merged-away records count for the record they were merged into
    merged = customers.loc[customers["merged_into"].notna()].set_index("user_id")["merged_into"]
    active = customers.loc[customers["merged_into"].isna()].set_index("user_id")

    orders = orders.loc[orders["order_time"] < d]
    if not (events["behavior_time"] < d).all():
        events = events.loc[events["behavior_time"] < d]
    o_ids = Ids(orders["user_id"], merged)
    e_ids = Ids(events["user_id"], merged)
    x_ids = Ids(inter["user_id"], merged)
    people = pd.Index(
        np.unique(
            np.concatenate(
                [
                    active.index.to_numpy(dtype=object),
                    o_ids.people(),
                    e_ids.people(),
                    x_ids.people(),
                ]
            ).astype(str)
        ),
        name="user_id",
    )
    n_people = len(people)

    # order-level facts: one row per order; refunded when every line was refunded or returned
    refund = orders["status"].fillna("paid").isin(REFUND_STATUSES).to_numpy()
    lines = pd.DataFrame(
        {
            "pid": o_ids.pid(people),
            "order_id": orders["order_id"].to_numpy(),
            "order_time": orders["order_time"].to_numpy(),
            "amount": orders["amount"].where(~refund).to_numpy(),
            "refund": refund,
            "coupon": orders["coupon_used"].fillna(False).astype(bool).to_numpy(),
        }
    )
    facts = lines.groupby(["pid", "order_id"], sort=False, dropna=False).agg(
        order_time=("order_time", "min"),
        amount=("amount", "sum"),
        refunded=("refund", "all"),
        any_refund=("refund", "any"),
        coupon=("coupon", "any"),
    )
    facts = facts.reset_index()
    refunds = facts.groupby("pid")["any_refund"].sum()
    paid = facts.loc[~facts["refunded"]].copy()
    paid["day"] = paid["order_time"].dt.normalize()
    sums = {"frequency": np.ones(len(paid), dtype=np.int64), "monetary": paid["amount"].to_numpy()}
    sums["coupon_orders"] = paid["coupon"].to_numpy().astype(np.int64)
    for n in WINDOWS:
        inside = (paid["day"] >= d - pd.Timedelta(days=n)).to_numpy()
        sums[f"orders_{n}d"] = inside.astype(np.int64)
        sums[f"monetary_{n}d"] = np.where(inside, paid["amount"].to_numpy(), 0.0)
    g = pd.DataFrame(sums, index=paid["pid"].to_numpy()).groupby(level=0)
    o = g.sum()
    ranges = paid.groupby("pid").agg(
        first_order_at=("order_time", "min"),
        last_order_at=("order_time", "max"),
        first_day=("day", "min"),
        last_day=("day", "max"),
    )
    o = o.join(ranges)

    # order lines that were not refunded: favourite category and brand, preferred terminal, order hour
    kept = ~refund
    line_pid = lines["pid"].to_numpy()[kept]
    kept_orders = orders.loc[kept]
    favourite_category = mode_of(line_pid, kept_orders["category"])
    favourite_brand = mode_of(line_pid, kept_orders["brand"])
    preferred_terminal = mode_of(line_pid, kept_orders["terminal"])
    order_hour = hour_mode(line_pid, kept_orders["order_time"].dt.hour.to_numpy())

    # behaviour: daily visits (events, page views, favourites, carts per customer and day), then windows
    e_pid = e_ids.pid(people)
    kind = events["behavior_type"]
    daily = pd.DataFrame(
        {
            "pid": e_pid,
            "day": events["behavior_time"].dt.normalize().to_numpy(),
            "pv": (kind == "pv").to_numpy(),
            "fav": (kind == "fav").to_numpy(),
            "cart": (kind == "cart").to_numpy(),
        }
    )
    e_hour = events["behavior_time"].dt.hour.to_numpy()
    del events, kind, e_ids
    daily = daily.groupby(["pid", "day"], sort=False).agg(pv=("pv", "sum"), fav=("fav", "sum"), cart=("cart", "sum"))
    daily = daily.reset_index()
    vd = {"favs": daily["fav"].to_numpy(), "carts": daily["cart"].to_numpy()}
    in30 = (daily["day"] >= d - pd.Timedelta(days=30)).to_numpy()
    for n in VISIT_WINDOWS:
        vd[f"visits_{n}d"] = (daily["day"] >= d - pd.Timedelta(days=n)).to_numpy().astype(np.int64)
    vd["pv_30d"] = np.where(in30, daily["pv"].to_numpy(), 0)
    vd["favs_30d"] = np.where(in30, daily["fav"].to_numpy(), 0)
    vd["carts_30d"] = np.where(in30, daily["cart"].to_numpy(), 0)
    v = pd.DataFrame(vd, index=daily["pid"].to_numpy()).groupby(level=0).sum()
    v = v.join(daily.groupby("pid").agg(first_visit=("day", "min"), last_visit=("day", "max")))
    del daily
    visit_hour = hour_mode(e_pid, e_hour)
    del e_pid, e_hour

    # service records
    x_pid = x_ids.pid(people)
    before = (inter["interaction_time"] < d).to_numpy()
    xday = inter["interaction_time"].dt.normalize()
    consult = (inter["type"] == "consult").to_numpy()
    complaint = (inter["type"] == "complaint").to_numpy()
    last90 = (xday >= d - pd.Timedelta(days=90)).to_numpy()
    prev90 = ((xday >= d - pd.Timedelta(days=180)) & (xday < d - pd.Timedelta(days=90))).to_numpy()
    sx = pd.DataFrame(
        {
            "consultations_90d": consult & last90,
            "consultations_prev_90d": consult & prev90,
            "complaints_90d": complaint & last90,
            "complaints": complaint,
            "interactions": np.ones(len(inter), dtype=bool),
            "satisfaction": inter["satisfaction"].astype("Float64").to_numpy(dtype=float, na_value=np.nan),
        },
        index=x_pid,
    ).loc[before]
    s = sx.drop(columns="satisfaction").groupby(level=0).sum()
    s["avg_satisfaction"] = sx.groupby(level=0)["satisfaction"].mean()
    preferred_contact = mode_of(x_pid[before], inter.loc[before, "channel"])

    # assemble one row per customer
    out = pd.DataFrame(index=pd.RangeIndex(n_people))
    out["user_id"] = people.to_numpy()
    c = active.reindex(people)
    age = c["age"].astype("Float64")
    age = age.fillna(as_of.year - c["birth_date"].dt.year).to_numpy(dtype=float, na_value=np.nan)
    out["gender"] = c["gender"].to_numpy()
    out["age"] = age
    edges, labels = cfg["age_edges"], cfg["age_labels"]
    band = pd.cut(age, bins=[-np.inf, *edges, np.inf], right=False, labels=labels)
    out["age_band"] = np.asarray(band.astype(object))
    for col in ("province", "city"):
        out[col] = c[col].to_numpy()
    out["city_tier"] = c["city_tier"].fillna("未知").to_numpy()
    for col in ("occupation", "member_level", "source_channel", "marital_status"):
        out[col] = c[col].to_numpy()
    out["register_date"] = c["register_date"].dt.normalize().to_numpy()
    out["registered"] = people.isin(active.index)
    o = o.reindex(out.index)
    out["first_order_at"] = o["first_order_at"].to_numpy()
    out["last_order_at"] = o["last_order_at"].to_numpy()
    out["recency_days"] = (d - o["last_day"]).dt.days.to_numpy()
    out["frequency"] = o["frequency"].fillna(0).astype(np.int64).to_numpy()
    out["monetary"] = o["monetary"].fillna(0.0).to_numpy()
    for n in WINDOWS:
        out[f"orders_{n}d"] = o[f"orders_{n}d"].fillna(0).astype(np.int64).to_numpy()
        out[f"monetary_{n}d"] = o[f"monetary_{n}d"].fillna(0.0).to_numpy()
    freq = o["frequency"].where(o["frequency"] > 0)
    out["avg_order_value"] = (o["monetary"] / freq).to_numpy()
    vdays = cfg["value_days"]
    if vdays not in WINDOWS:
        raise SystemExit(f"value_days = {vdays} is not one of the windows {WINDOWS}")
    out[f"avg_order_value_{vdays}d"] = (
        o[f"monetary_{vdays}d"] / o[f"orders_{vdays}d"].where(o[f"orders_{vdays}d"] > 0)
    ).to_numpy()
    cycle = (o["last_day"] - o["first_day"]).dt.days / (o["frequency"] - 1)
    out["repurchase_cycle_days"] = cycle.where(o["frequency"] >= 2).to_numpy()
    out["refunds"] = refunds.reindex(out.index, fill_value=0).astype(np.int64).to_numpy()
    out["coupon_share"] = (o["coupon_orders"] / freq).to_numpy()
    out["favourite_category"] = favourite_category.reindex(out.index).to_numpy()
    out["favourite_brand"] = favourite_brand.reindex(out.index).to_numpy()
    out["preferred_terminal"] = preferred_terminal.reindex(out.index).to_numpy()
    out["order_hour"] = order_hour.reindex(out.index).to_numpy()
    v = v.reindex(out.index)
    out["first_visit"] = v["first_visit"].to_numpy()
    out["last_visit"] = v["last_visit"].to_numpy()
    for col in ("visits_7d", "visits_30d", "visits_90d", "pv_30d"):
        out[col] = v[col].fillna(0).astype(np.int64).to_numpy()
    out["days_since_visit"] = (d - v["last_visit"]).dt.days.to_numpy()
    for col in ("favs_30d", "carts_30d", "favs", "carts"):
        out[col] = v[col].fillna(0).astype(np.int64).to_numpy()
    out["visit_hour"] = visit_hour.reindex(out.index).to_numpy()
    s = s.reindex(out.index)
    for col in ("consultations_90d", "consultations_prev_90d", "complaints_90d", "complaints", "interactions"):
        out[col] = s[col].fillna(0).astype(np.int64).to_numpy()
    out["avg_satisfaction"] = s["avg_satisfaction"].to_numpy()
    out["preferred_contact"] = preferred_contact.reindex(out.index).to_numpy()

    return out, rfm(out, cfg["compare"])


def rfm(table: pd.DataFrame, compare: str) -> pd.DataFrame:
    """Quintile scores by the 20/40/60/80 % cuts over buyers, high/low against the buyers' mean (or median)."""
    buyers = table.loc[table["frequency"] > 0, ["user_id", "recency_days", "frequency", "monetary"]].copy()
    q = [0.2, 0.4, 0.6, 0.8]
    for col, score, low_is_good in (
        ("recency_days", "r_score", True),
        ("frequency", "f_score", False),
        ("monetary", "m_score", False),
    ):
        values = buyers[col].to_numpy(dtype=float)
        cuts = np.quantile(values, q) if len(values) else np.zeros(4)
        above = (values[:, None] > cuts[None, :]).sum(axis=1)
        buyers[score] = (5 - above) if low_is_good else (1 + above)
    stat = "mean" if compare == "mean" else "median"
    for score, high in (("r_score", "r_high"), ("f_score", "f_high"), ("m_score", "m_high")):
        buyers[high] = buyers[score] > getattr(buyers[score], stat)()
    keys = zip(buyers["r_high"], buyers["f_high"], buyers["m_high"], strict=True)
    buyers["rfm_group"] = [GROUPS[k] for k in keys]
    return buyers.sort_values("user_id").reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("as_of", type=date.fromisoformat)
    parser.add_argument("--out", type=Path, help="write customer_table.parquet and rfm.parquet here")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    cfg = settings(args.workspace)

    started = time.perf_counter()
    tables = read_tables(args.workspace / "warehouse.duckdb", cfg["threads"])
    read_s = time.perf_counter() - started
    t0 = time.perf_counter()
    table, groups = compute(tables, args.as_of, cfg)
    compute_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_parquet(args.out / "customer_table.parquet", index=False)
        groups.to_parquet(args.out / "rfm.parquet", index=False)
    write_s = time.perf_counter() - t0
    result = {
        "read_seconds": round(read_s, 3),
        "compute_seconds": round(compute_s, 3),
        "write_seconds": round(write_s, 3),
        "seconds": round(read_s + compute_s, 3),
        "rows": {name: len(df) for name, df in tables.items()},
        "customers": len(table),
        "buyers": len(groups),
        "rfm_groups": {k: int(v) for k, v in groups["rfm_group"].value_counts().sort_index().items()},
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
