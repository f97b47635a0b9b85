"""The churn warning model: labels counted by hand, a separable shop, no peeking past the as-of date,
skipped cases, the 流失风险 tag on churn_risk, and the CLI."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from portrait import features, snapshots
from portrait.cli import app
from portrait.errors import InputError, NotFound
from portrait.ingest.job import import_files
from portrait.models import churn
from portrait.models.churn import best_threshold, calibration_table, churn_report
from portrait.refresh import refresh
from portrait.workspace import Workspace, init_workspace
from tests.conftest import set_config
from tests.shops import load_may_shop, write

PORTRAIT = str(Path(sys.executable).with_name("portrait"))
AS_OF = date(2024, 7, 1)  # with churn_days = 30: training cut-off T1 = 2024-05-02, hold-out cut-off T2 = 2024-06-01
SMALL = "[models]\nchurn_days = 30\nchurn_min_customers = 20\nchurn_min_class = 5\n"
HEADER = ["订单号", "客户ID", "下单时间", "订单金额", "订单数量", "产品ID"]


def _orders(user: str, start: date, stop: date, rng: random.Random) -> list[list[str]]:
    """Orders every 7–12 days from ``start`` while before ``stop``."""
    rows, day, i = [], start, 0
    while day < stop:
        rows.append([f"{user}-{i}", user, f"{day} 10:00:00", str(rng.randint(50, 300)), "1", "P1"])
        day += timedelta(days=rng.randint(7, 12))
        i += 1
    return rows


def separable_orders(active: int = 40, lapsed: int = 40, late: int = 8) -> list[list[str]]:
    """Active buyers (never a 30-day gap up to the as-of date), lapsed buyers (stopped between 15 Feb and
    25 Apr: churned at both cut-offs) and late lapsers (stopped 10–25 May: stayed at T1, churned at T2)."""
    rng = random.Random(1)
    rows = [HEADER]
    for i in range(active):
        rows += _orders(f"a{i:02d}", date(2024, 1, 2) + timedelta(days=i % 7), AS_OF, rng)
    for i in range(lapsed):
        rows += _orders(
            f"l{i:02d}", date(2024, 1, 2) + timedelta(days=i % 7), date(2024, 2, 15) + timedelta(days=2 * i), rng
        )
    for i in range(late):
        rows += _orders(f"z{i:02d}", date(2024, 1, 3), date(2024, 5, 10) + timedelta(days=2 * i), rng)
    return rows


def _separable_shop(folder: Path) -> Workspace:
    ws = set_config(init_workspace(folder / "ws"), SMALL)
    import_files(ws, "orders", [write(folder / "orders.csv", separable_orders())])
    refresh(ws, AS_OF)
    return ws


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """The separable shop refreshed as of 2024-07-01 (shared: tests only read it)."""
    return _separable_shop(tmp_path_factory.mktemp("churn-shop"))


def _scores(ws) -> dict[str, tuple]:
    with snapshots.reader(ws) as (con, _):
        return {
            r[0]: r[1:]
            for r in con.execute(
                'SELECT s.user_id, churn_risk, churn_reasons, t."流失风险" FROM churn_scores s '
                "JOIN tag_values t USING (user_id) ORDER BY s.user_id"
            ).fetchall()
        }


def test_separable_shop_is_learned_on_a_time_based_hold_out(shop):
    result = churn_report(shop, top=5)
    assert result["status"] == "ok", result["message"]
    report = result["report"]
    # 40 active + 40 lapsed + 8 late lapsers bought before each cut-off; churned at T1: the 40 lapsed,
    # at T2 also the 8 late lapsers (their last orders fall between T1 and T2)
    assert report["train"] | {"note": None} == {
        "cutoff": "2024-05-02",
        "customers": 88,
        "churners": 40,
        "churn_rate": round(40 / 88, 4),
        "rows_used": 88,
        "sampled": False,
        "note": None,
    }
    assert (report["holdout"]["cutoff"], report["holdout"]["customers"], report["holdout"]["churners"]) == (
        "2024-06-01",
        88,
        48,
    )
    assert set(report["models"]) == {"logistic", "gradient_boosting"}
    best = report["models"][report["chosen_model"]]
    assert best["auc"] == max(m["auc"] for m in report["models"].values())
    assert best["auc"] > 0.8
    for m in report["models"].values():
        assert sum(c["customers"] for c in m["calibration"]) == 88 and len(m["calibration"]) == 10
        assert 0 <= m["precision"] <= 1 and 0 <= m["recall"] <= 1
    assert "recency_days" in report["features"]
    assert report["scored_customers"] == 88

    scores = _scores(shop)
    assert len(scores) == 88 and all(isinstance(r[0], int) and 0 <= r[0] <= 100 for r in scores.values())
    lapsed = [r[0] for u, r in scores.items() if u.startswith("l")]
    active = [r[0] for u, r in scores.items() if u.startswith("a")]
    assert min(lapsed) > max(active)
    assert all(
        r[1].startswith("距上次购买") and "（留存客户中位数 7 天）" in r[1] for u, r in scores.items() if u[0] == "l"
    )
    # the top-risk list is ordered by risk, then user_id, and names customers by id only
    top = result["top_customers"]
    assert [c["churn_risk"] for c in top] == sorted((c["churn_risk"] for c in top), reverse=True)
    assert set(top[0]) == {"user_id", "churn_risk", "churn_reasons"}
    with pytest.raises(InputError, match="top -1: give 0 or more customers"):
        churn_report(shop, top=-1)


def test_churn_risk_drives_the_churn_risk_tag(shop):
    for user, (risk, _, tag) in _scores(shop).items():
        expected = "高" if risk >= 70 else "中" if risk >= 40 else "低"
        assert tag == expected, user


def test_training_does_not_peek_past_the_as_of_date(shop, tmp_path):
    """The same shop plus what happens on or after the as-of date (lapsed customers come back, a new
    customer appears) gives the same model, scores and reasons."""
    later = separable_orders()
    later += [[f"late-{i}", f"l{i:02d}", "2024-07-05 10:00:00", "80", "1", "P1"] for i in range(40)]
    later += [["new-1", "n1", "2024-07-01 00:00:00", "99", "1", "P1"]]
    other = set_config(init_workspace(tmp_path / "other"), SMALL)
    import_files(other, "orders", [write(tmp_path / "later.csv", later)])
    refresh(other, AS_OF)
    assert _scores(other) == _scores(shop)
    report, again = churn_report(shop)["report"], churn_report(other)["report"]
    assert again["models"] == report["models"] and again["train"] == report["train"]
    assert again["holdout"] == report["holdout"]


def test_labels_counted_by_hand_on_the_may_shop(ws, tmp_path):
    """May shop paid orders: A 02-01, 05-03, 05-20; B 05-06, 07-01; C 06-10; F 05-02, 05-25 (D's was refunded)."""
    load_may_shop(ws, tmp_path)
    con = duckdb.connect(str(tmp_path / "snap.duckdb"))
    con.execute(f"ATTACH '{ws.warehouse_path}' AS raw (READ_ONLY)")
    features.build_facts(con, date(2024, 9, 1))  # the snapshot's facts, which each cut-off cuts back
    try:

        def labels(cutoff: date, days: int) -> dict[str, int]:
            (part,) = churn._cutoff_tables(con, ws, [cutoff], days)
            return dict(zip(part["frame"]["user_id"], part["frame"]["churned"], strict=True))

        # bought before 10 May: A, B, F; in the 30 days from 10 May A (05-20) and F (05-25) buy again
        assert labels(date(2024, 5, 10), 30) == {"A": 0, "B": 1, "F": 0}
        # from 1 June: nobody of A, B, F buys within 30 days (B's 1 July is day 31) …
        assert labels(date(2024, 6, 1), 30) == {"A": 1, "B": 1, "F": 1}
        # … but within 31 days B does
        assert labels(date(2024, 6, 1), 31) == {"A": 1, "B": 0, "F": 1}
    finally:
        con.close()
    assert not list(snapshots.folder(ws).glob("churn-*")), "the scratch file is deleted afterwards"


def test_a_cut_off_reads_the_snapshot_facts_cut_back_and_gets_the_customer_table_built_at_that_date(ws, tmp_path):
    """The customer table at a cut-off, a view over the later facts cut back by ``facts_before``, equals the
    one built from the raw warehouse at the cut-off, row for row (the May shop has one line per order)."""
    load_may_shop(ws, tmp_path)
    con = duckdb.connect(str(tmp_path / "snap.duckdb"))
    con.execute(f"ATTACH '{ws.warehouse_path}' AS raw (READ_ONLY)")
    features.build_facts(con, date(2024, 9, 1))
    for name in ("direct", "cut"):
        con.execute(f"ATTACH '{tmp_path / name}.duckdb' AS {name}")
    try:
        for cutoff in (date(2024, 5, 3), date(2024, 5, 21), date(2024, 6, 1)):
            con.execute("USE direct")
            features.build_facts(con, cutoff)
            features.build_customer_table(con, cutoff, ws.config)
            con.execute("USE cut")
            features.facts_before(con, "snap", cutoff)
            features.build_customer_table(con, cutoff, ws.config, as_view=True)
            con.execute("USE snap")
            direct = con.execute("SELECT * FROM direct.customer_table ORDER BY user_id").fetchall()
            assert con.execute("SELECT * FROM cut.customer_table ORDER BY user_id").fetchall() == direct
            # the cut-off is honoured: on 2024-05-03 A has one paid order (05-03 itself is after the cut)
            a = dict(zip([d[0] for d in con.description], direct[0], strict=True))
            if cutoff == date(2024, 5, 3):
                assert (a["user_id"], a["frequency"], a["monetary"], a["last_visit"]) == (
                    "A",
                    1,
                    100,
                    date(2024, 4, 30),
                )
    finally:
        con.close()


def test_too_few_customers_is_skipped_and_the_refresh_succeeds(ws, tmp_path):
    load_may_shop(ws, tmp_path)
    refresh(ws, date(2024, 9, 1))
    result = churn_report(ws)
    assert result["status"] == "skipped"
    assert "only 1 customer had bought before the training cut-off 2024-03-05" in result["message"]
    assert result["top_customers"] == []
    with snapshots.reader(ws) as (con, _):
        assert con.execute("SELECT count(*), count(churn_risk), count(churn_reasons) FROM churn_scores").fetchall() == [
            (6, 0, 0)
        ]
        # the 流失风险 tag falls back on its rule (A and F: no purchase for 90 days and no visit in 30)
        tags = dict(con.execute('SELECT user_id, "流失风险" FROM tag_values').fetchall())
    assert tags == {"A": "高", "B": "中", "C": "中", "D": "未购买", "E": "未购买", "F": "高"}


def test_too_little_history_is_skipped(ws, tmp_path):
    load_may_shop(ws, tmp_path)
    refresh(ws, date(2024, 6, 1))  # T1 = as-of − 180 days = 2023-12-04, before the first order (2024-02-01)
    result = churn_report(ws)
    assert result["status"] == "skipped"
    assert result["message"].startswith(
        "orders start on 2024-02-01; with churn_days = 90 the model needs orders before 2023-12-04"
    )


def test_a_single_class_is_skipped(ws, tmp_path):
    ws = set_config(ws, SMALL)
    import_files(ws, "orders", [write(tmp_path / "o.csv", separable_orders(active=30, lapsed=0, late=0))])
    refresh(ws, AS_OF)
    result = churn_report(ws)
    assert result["status"] == "skipped"
    assert result["message"] == (
        "every customer at the training cut-off 2024-05-02 bought again (a single class); nothing to learn from"
    )


def test_report_before_any_refresh_is_a_clear_error(ws):
    with pytest.raises(NotFound, match="no refresh yet"):
        churn_report(ws)
    out = CliRunner().invoke(app, ["model", "churn", "--workspace", str(ws.path), "--json"])
    assert out.exit_code == 2 and "run `portrait refresh`" in out.output and "Traceback" not in out.output


def test_model_churn_cli(shop):
    out = subprocess.run(
        [PORTRAIT, "model", "churn", "--top", "3", "--workspace", str(shop.path), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    assert result == json.loads(json.dumps(churn_report(shop, top=3), default=str))
    assert len(result["top_customers"]) == 3 and result["report"]["models"]["logistic"]["calibration"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 1)), min_size=2, max_size=40))
def test_chosen_threshold_has_the_best_f1(pairs):
    y = np.array([int(a) for a, _ in pairs])
    p = np.array([b for _, b in pairs])
    cut = best_threshold(y, p)

    def f1(t: float) -> float:
        hit = p >= t
        tp = int((hit & (y == 1)).sum())
        return 2 * tp / (hit.sum() + y.sum()) if hit.sum() + y.sum() else 0.0

    if len(set(y)) == 2:
        assert all(f1(cut) >= f1(t) - 1e-12 for t in p)
    else:
        assert cut == 0.5


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=60))
def test_calibration_deciles_cover_everyone_in_order(ps):
    p = np.array(ps)
    y = (p > 0.5).astype(int)
    table = calibration_table(y, p)
    assert sum(r["customers"] for r in table) == len(p)
    assert all(a["p_max"] <= b["p_min"] for a, b in zip(table, table[1:], strict=False))


def test_dates_are_explicit():
    assert churn.feature_sql("t", date(2024, 5, 2)).count("DATE '2024-05-02'") == 1
    assert "DATE '2024-06-01'" in churn.buyers_sql(date(2024, 5, 2), 30)


@pytest.mark.parametrize("name", ["logistic", "gradient_boosting"])
def test_a_customer_at_the_reference_has_no_reasons(name):
    import pandas as pd

    rng = np.random.default_rng(3)
    x = pd.DataFrame({"recency_days": rng.integers(0, 200, 300).astype(float), "frequency": rng.integers(1, 9, 300)})
    y = (x["recency_days"] > 90).astype(int).to_numpy()
    model = churn._models(seed=1)[name].fit(x, y)
    reference = x[y == 0].median()
    customers = pd.DataFrame([reference.to_numpy(), [180.0, reference["frequency"]]], columns=x.columns)
    push = churn.contributions(name, model, customers, reference)
    assert push[0] == pytest.approx([0.0, 0.0])  # the reference itself: nothing pushes
    assert push[1, 0] > 0 and push[1, 1] == pytest.approx(0.0)  # a long absence raises the risk, alone
    names = churn.top_reasons(push, list(x.columns))
    assert names[0].tolist() == [None, "recency_days"] and names[1].tolist() == [None, None]


def test_values_are_rounded_to_four_significant_digits():
    got = churn._significant(np.array([123456.0, 0.00123456, 0.0, np.nan, -98.7654]))
    assert got[[0, 1, 2, 4]] == pytest.approx([123500.0, 0.001235, 0.0, -98.77]) and np.isnan(got[3])
