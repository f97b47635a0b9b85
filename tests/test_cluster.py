"""Customer clusters: planted groups are recovered and named by the features that set them apart."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import adjusted_rand_score

from portrait import snapshots
from portrait.config import ClusterConfig
from portrait.errors import InputError
from portrait.ingest.job import import_files
from portrait.models.cluster import FEATURES, cluster_report, fit_clusters, standardise
from portrait.refresh import refresh
from portrait.workspace import init_workspace
from tests.shops import load_rfm_shop, write

PORTRAIT = str(Path(sys.executable).with_name("portrait"))
COLUMNS = [f.name for f in FEATURES]


def planted(seed: int, per_group: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Three groups: loyal (recent, frequent, big), lapsed (long ago, few, small), never bought (visits only)."""
    rng = np.random.default_rng(seed)
    rows, truth = [], []
    for group in range(3):
        for _ in range(per_group):
            if group == 0:
                f = rng.integers(15, 26)
                m = f * rng.uniform(800, 1200)
                row = dict(recency_days=rng.uniform(1, 20), frequency=f, monetary=m, avg_order_value=m / f)
                row |= dict(visits_90d=rng.uniform(8, 15), favs_carts=rng.integers(10, 26), coupon_share=0.2)
                row |= dict(consultations_90d=0, refunds=0)
            elif group == 1:
                f = rng.integers(1, 4)
                m = f * rng.uniform(100, 300)
                row = dict(recency_days=rng.uniform(250, 400), frequency=f, monetary=m, avg_order_value=m / f)
                row |= dict(visits_90d=rng.uniform(0, 1), favs_carts=rng.uniform(0, 2), coupon_share=0.2)
                row |= dict(consultations_90d=0, refunds=0)
            else:
                row = dict(recency_days=np.nan, frequency=0, monetary=0, avg_order_value=np.nan, coupon_share=np.nan)
                row |= dict(visits_90d=rng.uniform(1, 4), favs_carts=rng.uniform(0, 3), consultations_90d=0, refunds=0)
            rows.append([float(row[c]) for c in COLUMNS])
            truth.append(group)
    return np.array(rows), np.array(truth)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_groups_are_recovered_and_named(seed):
    raw, truth = planted(seed)
    result = fit_clusters(raw, ClusterConfig())
    assert result.report["k"] == 3
    assert adjusted_rand_score(truth, result.labels) == 1.0
    assert sorted(np.unique(result.labels)) == [1, 2, 3]
    name_of = {g: result.names[int(result.labels[truth == g][0])] for g in range(3)}
    active = {"近期购买", "高频购买", "高消费", "常来访", "爱收藏加购"}
    lapsed = {"久未购买", "低频购买", "低消费", "低客单价", "少来访", "少收藏加购", "爱用券"}
    assert len(name_of[0].split("、")) == 3 and set(name_of[0].split("、")) <= active
    assert len(name_of[1].split("、")) == 3 and set(name_of[1].split("、")) <= lapsed
    assert name_of[2].startswith("从未购买、")
    clusters = {c["cluster"]: c for c in result.report["clusters"]}
    loyal = clusters[int(result.labels[truth == 0][0])]
    assert loyal["size"] == 40 and loyal["share"] == pytest.approx(1 / 3, abs=1e-4)
    assert loyal["means"]["frequency"] == pytest.approx(raw[truth == 0, 1].mean(), abs=0.01)
    assert {d["feature"] for d in loyal["distinctive"]} <= set(COLUMNS)
    assert all(abs(d["z"]) >= 0.5 for d in loyal["distinctive"])
    never = clusters[int(result.labels[truth == 2][0])]
    assert never["buyers_share"] == 0.0 and never["means"]["recency_days"] is None


def test_clusters_are_numbered_by_size():
    raw, truth = planted(3)
    raw = np.vstack([raw, raw[truth == 0][:20]])  # the loyal group is now the largest (60)
    result = fit_clusters(raw, ClusterConfig())
    sizes = [c["size"] for c in result.report["clusters"]]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == 60
    assert [c["cluster"] for c in result.report["clusters"]] == [1, 2, 3]


def test_k_stays_in_the_configured_range():
    raw, _ = planted(4)
    result = fit_clusters(raw, ClusterConfig(k_min=4, k_max=5))
    assert result.report["k"] in (4, 5)
    assert set(result.report["silhouette"]) == {"4", "5"}


def test_data_that_cannot_be_clustered_is_refused_in_one_line():
    raw, _ = planted(5)
    with pytest.raises(InputError, match="only 10 customers; clustering needs at least 30"):
        fit_clusters(raw[:10], ClusterConfig())
    with pytest.raises(InputError, match="do not differ in behaviour"):
        fit_clusters(np.tile(raw[:1], (40, 1)), ClusterConfig())
    with pytest.raises(InputError, match="too few for k ≥ 3"):
        fit_clusters(np.vstack([np.tile(raw[:1], (20, 1)), np.tile(raw[-1:], (20, 1))]), ClusterConfig())
    with pytest.raises(InputError, match="k_min"):
        fit_clusters(raw, ClusterConfig(k_min=6, k_max=4))


@settings(max_examples=50, deadline=None)
@given(
    arrays(
        np.float64, st.tuples(st.integers(2, 30), st.just(len(FEATURES))), elements=st.floats(0, 1e6) | st.just(np.nan)
    )
)
def test_standardised_features_are_finite_centred_and_scaled(raw):
    x = standardise(raw)
    assert np.isfinite(x).all()
    assert np.allclose(x.mean(axis=0), 0, atol=1e-6)
    sd = x.std(axis=0)
    assert np.all(np.isclose(sd, 1, atol=1e-6) | np.isclose(sd, 0, atol=1e-6))


# -- through the refresh ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def groups_shop(tmp_path_factory):
    """36 customers as of 2024-07-01: 12 loyal (4–7 recent orders of ~1 000), 12 lapsed (one small order in
    mid-2023), 12 who only browse (1–3 visit days)."""
    folder = tmp_path_factory.mktemp("groups")
    ws = init_workspace(folder / "ws")
    orders = [["订单号", "客户ID", "下单时间", "订单金额", "订单数量", "产品ID"]]
    events = [["客户ID", "行为类型", "行为时间"]]
    for i in range(12):
        for k in range(4 + i % 4):
            day = f"2024-06-{1 + k * 4 + i % 3:02d} 10:00:00"
            orders.append([f"L{i}-{k}", f"loyal{i:02d}", day, str(800 + 40 * i), "1", "P1"])
        for d in range(6 + i % 5):
            events.append([f"loyal{i:02d}", "pv", f"2024-06-{1 + d * 3:02d} 09:00:00"])
        orders.append(
            [
                f"X{i}",
                f"lapsed{i:02d}",
                f"2023-{6 + i // 3:02d}-{1 + 7 * (i % 3):02d} 10:00:00",
                str(100 + 20 * i),
                "1",
                "P2",
            ]
        )
        for d in range(1 + i % 3):
            events.append([f"browse{i:02d}", "pv", f"2024-06-{1 + i + 5 * d:02d} 12:00:00"])
    import_files(ws, "orders", [write(folder / "o.csv", orders)])
    import_files(ws, "events", [write(folder / "e.csv", events)])
    refresh(ws, date(2024, 7, 1))
    return ws


def test_refresh_writes_cluster_scores_and_a_report(groups_shop):
    with snapshots.reader(groups_shop) as (con, _):
        rows = con.execute("SELECT user_id, cluster, cluster_name FROM cluster_scores ORDER BY user_id").fetchall()
        in_segments = con.execute("SELECT count(DISTINCT cluster_name) FROM segment_base").fetchall()[0][0]
    assert len(rows) == 36
    by_group: dict[str, set] = {}
    for user, cluster, name in rows:
        by_group.setdefault(user.rstrip("0123456789"), set()).add((cluster, name))
    assert all(len(v) == 1 for v in by_group.values())  # each planted group is one cluster
    names = {g: next(iter(v))[1] for g, v in by_group.items()}
    assert len(set(names.values())) == 3 and in_segments == 3
    assert names["browse"].startswith("从未购买")
    assert names["loyal"] == "近期购买、高频购买、常来访"
    assert "久未购买" in names["lapsed"]
    report = cluster_report(groups_shop)
    assert report["status"] == "ok" and report["k"] == 3 and report["customers"] == 36
    assert [c["size"] for c in report["clusters"]] == [12, 12, 12]


def test_cli_cluster_json(groups_shop):
    done = subprocess.run(
        [PORTRAIT, "model", "cluster", "--workspace", str(groups_shop.path), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["k"] == 3 and {c["size"] for c in result["clusters"]} == {12}
    assert result["message"].startswith("3 clusters of 36 customers")


def test_too_few_customers_skip_the_model(ws, tmp_path):
    load_rfm_shop(ws, tmp_path)  # five customers
    refresh(ws, date(2024, 7, 1))
    with snapshots.reader(ws) as (con, _):
        rows = con.execute("SELECT count(*), count(cluster), count(cluster_name) FROM cluster_scores").fetchall()
    assert rows == [(5, 0, 0)]
    report = cluster_report(ws)
    assert report["status"] == "skipped"
    assert report["message"] == "only 5 customers; clustering needs at least 30"
