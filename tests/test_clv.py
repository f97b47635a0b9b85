"""CLV models: BG/NBD and Gamma-Gamma against the published CDNOW fits, gradients, refusals, the refresh stage, CLI."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from portrait import snapshots
from portrait.cli import app
from portrait.errors import InputError
from portrait.ingest.job import import_files
from portrait.models import clv
from portrait.refresh import refresh
from tests.shops import load_may_shop, write

PORTRAIT = str(Path(sys.executable).with_name("portrait"))
# The CDNOW data (Fader, Hardie and Lee 2005) ship inside the `lifetimes` package (a dev dependency); read as files.
CDNOW = Path(str(importlib.metadata.distribution("lifetimes").locate_file("lifetimes/datasets")))

# Published: BG/NBD on the 2357-customer CDNOW sample, 39-week calibration, in weeks (Fader, Hardie and Lee 2005);
# Gamma-Gamma on its 946 repeat buyers (Fader and Hardie, "The Gamma-Gamma model of monetary value").
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_LL = -9582.4
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def _close(fitted: dict[str, float], published: dict[str, float], rel: float = 0.01) -> None:
    for name, value in published.items():
        assert fitted[name] == pytest.approx(value, rel=rel), name


@pytest.fixture(scope="module")
def cdnow_summary() -> pd.DataFrame:
    return pd.read_csv(CDNOW / "cdnow_customers_summary.csv")


@pytest.fixture(scope="module")
def cdnow_spend() -> pd.DataFrame:
    return pd.read_csv(CDNOW / "cdnow_customers_summary_with_transactions.csv")


def test_bgnbd_on_cdnow_matches_the_published_fit(cdnow_summary):
    d = cdnow_summary
    fit = clv.fit_bgnbd(d.frequency, d.recency, d["T"])
    _close(fit.params, PUBLISHED_BGNBD)
    assert fit.loglik == pytest.approx(PUBLISHED_LL, abs=0.1)
    assert fit.converged and fit.iterations > 0 and fit.n == 2357 and fit.extra["repeat_buyers"] == 946
    # standard errors: positive, and small against the estimates on 2357 customers
    assert all(0 < fit.se[k] < fit.params[k] for k in clv.BGNBD_PARAMS)


def test_gamma_gamma_on_cdnow_matches_the_published_fit(cdnow_spend):
    d = cdnow_spend
    fit = clv.fit_gamma_gamma(d.x, d.zbar)  # one-time buyers (x = 0) are left out by the fit
    _close(fit.params, PUBLISHED_GAMMA_GAMMA)
    assert fit.n == 946 and fit.converged
    assert all(0 < fit.se[k] < fit.params[k] for k in clv.GAMMA_GAMMA_PARAMS)
    # the population mean spend p·γ/(q − 1) and the shrinkage of one customer's mean towards it
    p, q, g = (fit.params[k] for k in clv.GAMMA_GAMMA_PARAMS)
    assert clv.expected_avg_value(fit, [0], [0])[0] == pytest.approx(p * g / (q - 1))
    assert clv.expected_avg_value(fit, [2], [100.0])[0] == pytest.approx((g + 200) * p / (2 * p + q - 1))


def test_cdnow_transactions_through_the_refresh_histories_give_the_published_fit(cdnow_summary, cdnow_spend):
    """The refresh's own SQL summarises the raw CDNOW transactions (days) into the published summary (weeks)."""
    tx = pd.read_csv(
        CDNOW / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "user_id", "day", "cds", "amount"],
        dtype={"master_id": str, "user_id": str, "day": str},
    )
    tx["order_date"] = pd.to_datetime(tx["day"], format="%Y%m%d").dt.date
    tx["refunded"] = False
    con = duckdb.connect()
    con.register("tx", tx[["user_id", "order_date", "amount", "refunded"]])
    con.execute("CREATE TABLE order_facts AS SELECT * FROM tx WHERE order_date < DATE '1997-10-01'")
    hist = clv.customer_histories(con, date(1997, 10, 1)).to_pandas()
    con.close()
    assert list(hist.user_id.astype(int)) == list(cdnow_summary.ID)
    assert np.array_equal(hist.frequency, cdnow_summary.frequency)
    assert np.allclose(hist.recency / 7, cdnow_summary.recency, atol=0.005)  # the summary rounds to 2 decimals
    assert np.allclose(hist["T"] / 7, cdnow_summary["T"], atol=0.005)
    assert np.allclose(hist.monetary, cdnow_spend.zbar, atol=0.0051)
    fit = clv.fit_bgnbd(hist.frequency, hist.recency, hist["T"])
    in_weeks = {**fit.params, "alpha": fit.params["alpha"] / 7}  # a rate per day is a seventh of one per week
    _close(in_weeks, PUBLISHED_BGNBD)
    assert fit.loglik + hist.frequency.sum() * np.log(7) == pytest.approx(PUBLISHED_LL, abs=0.1)


def test_predictions_on_cdnow(cdnow_summary):
    d = cdnow_summary
    fit = clv.fit_bgnbd(d.frequency, d.recency, d["T"])
    r, alpha, a, b = (fit.params[k] for k in clv.BGNBD_PARAMS)
    x, t_x, T = d.frequency.to_numpy(), d.recency.to_numpy(), d["T"].to_numpy()
    alive = clv.p_alive(fit, x, t_x, T)
    assert np.all(alive[x == 0] == 1.0) and np.all((alive > 0) & (alive <= 1))
    # customer 1: x = 2, t_x = 30.43, T = 38.86, by the closed form
    by_hand = 1 / (1 + a / (b + 2 - 1) * ((alpha + 38.86) / (alpha + 30.43)) ** (r + 2))
    assert alive[0] == pytest.approx(by_hand, rel=1e-12)
    # expected purchases: zero over no time, growing with the period, the direct form of the paper's eq. (10)
    assert np.all(clv.expected_purchases(fit, 0, x, t_x, T) == 0)
    e39 = clv.expected_purchases(fit, 39, x, t_x, T)
    assert np.all(clv.expected_purchases(fit, 78, x, t_x, T) > e39)
    from scipy.special import hyp2f1

    z = 39 / (alpha + 38.86 + 39)
    direct = (
        (a + b + 2 - 1)
        / (a - 1)
        * (1 - ((alpha + 38.86) / (alpha + 38.86 + 39)) ** (r + 2) * hyp2f1(r + 2, b + 2, a + b + 2 - 1, z))
        * by_hand
    )
    assert e39[0] == pytest.approx(direct, rel=1e-10)


def test_population_curve_is_a_new_customers_expectation(cdnow_summary):
    d = cdnow_summary
    fit = clv.fit_bgnbd(d.frequency, d.recency, d["T"])
    r, alpha, a, b = (fit.params[k] for k in clv.BGNBD_PARAMS)
    weeks = np.array([13.0, 39.0, 78.0])
    curve = clv.unconditional_expected_purchases(fit, weeks)
    # eq. (9) of the paper, directly: (a+b−1)/(a−1) · [1 − (α/(α+t))^r ₂F₁(r, b; a+b−1; t/(α+t))]
    from scipy.special import hyp2f1

    direct = (
        (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + weeks)) ** r * hyp2f1(r, b, a + b - 1, weeks / (alpha + weeks)))
    )
    assert np.allclose(curve, direct, rtol=1e-10)
    # a customer seen at her first purchase (x = 0, T = 0) expects exactly the population curve
    fresh = [clv.expected_purchases(fit, w, [0], [0.0], [0.0])[0] for w in weeks]
    assert np.allclose(curve, fresh, rtol=1e-12) and np.all(np.diff(curve) > 0)


def test_clv_sums_discounted_increments(cdnow_summary, cdnow_spend):
    d = cdnow_summary
    bg = clv.fit_bgnbd(d.frequency, d.recency, d["T"])
    gg = clv.fit_gamma_gamma(cdnow_spend.x, cdnow_spend.zbar)
    args = (d.frequency, d.recency, d["T"], cdnow_spend.zbar)
    value = clv.expected_avg_value(gg, d.frequency, cdnow_spend.zbar)
    # no discount: the increments telescope to value × expected purchases over the horizon
    plain = clv.clv(bg, gg, *args, horizon=52, discount=0.0, steps=4)
    assert np.allclose(plain, value * clv.expected_purchases(bg, 52, d.frequency, d.recency, d["T"]))
    # two steps of 26 weeks at 5 % per step, by hand
    e26, e52 = (clv.expected_purchases(bg, t, d.frequency, d.recency, d["T"]) for t in (26, 52))
    assert np.allclose(
        clv.clv(bg, gg, *args, horizon=52, discount=0.05, steps=2), value * (e26 / 1.05 + (e52 - e26) / 1.05**2)
    )
    with pytest.raises(InputError, match="discount rate must be ≥ 0"):
        clv.clv(bg, gg, *args, horizon=52, discount=-0.1)


def _finite_difference(f, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    out = np.empty_like(theta)
    for i in range(len(theta)):
        step = np.zeros_like(theta)
        step[i] = h * theta[i]
        out[i] = (f(theta + step) - f(theta - step)) / (2 * step[i])
    return out


histories = st.lists(st.tuples(st.integers(0, 30), st.floats(0, 1), st.floats(0.5, 100)), min_size=1, max_size=25).map(
    lambda rows: ([x for x, _, _ in rows], [u * T if x else 0.0 for x, u, T in rows], [T for _, _, T in rows])
)
positive = st.floats(0.05, 20)


@settings(max_examples=60, deadline=None)
@given(histories, positive, positive, positive, positive)
def test_bgnbd_gradient_matches_finite_differences(data, r, alpha, a, b):
    x, t_x, T = data
    theta = np.array([r, alpha, a, b])
    _, grad = clv.bgnbd_loglik(theta, x, t_x, T, gradient=True)
    numeric = _finite_difference(lambda th: clv.bgnbd_loglik(th, x, t_x, T), theta)
    assert np.allclose(grad, numeric, rtol=1e-4, atol=1e-4 * (1 + np.abs(numeric).max()))


@settings(max_examples=30, deadline=None)
@given(histories, positive, positive, positive, positive)
def test_repeated_histories_count_as_many_customers(data, r, alpha, a, b):
    """Identical histories are evaluated once with their count: three copies give three times the log-likelihood."""
    x, t_x, T = data
    theta = np.array([r, alpha, a, b])
    value, grad = clv.bgnbd_loglik(theta, x, t_x, T, gradient=True)
    value3, grad3 = clv.bgnbd_loglik(theta, x * 3, t_x * 3, T * 3, gradient=True)
    assert value3 == pytest.approx(3 * value, rel=1e-9, abs=1e-9)
    assert np.allclose(grad3, 3 * grad, rtol=1e-9, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 40), st.floats(0.5, 500)), min_size=1, max_size=25),
    positive,
    positive,
    st.floats(0.5, 200),
)
def test_gamma_gamma_gradient_matches_finite_differences(rows, p, q, gamma):
    x, m = [r[0] for r in rows], [r[1] for r in rows]
    theta = np.array([p, q, gamma])
    _, grad = clv.gamma_gamma_loglik(theta, x, m, gradient=True)
    numeric = _finite_difference(lambda th: clv.gamma_gamma_loglik(th, x, m), theta)
    assert np.allclose(grad, numeric, rtol=1e-4, atol=1e-4 * (1 + np.abs(numeric).max()))


@settings(max_examples=40, deadline=None)
@given(histories, positive, positive, positive, positive, st.floats(0.1, 200))
def test_predictions_stay_in_range(data, r, alpha, a, b, t):
    x, t_x, T = data
    fit = clv.Fit("bgnbd", {"r": r, "alpha": alpha, "a": a, "b": b}, {}, 0.0, True, 0, len(x))
    alive = clv.p_alive(fit, x, t_x, T)
    e = clv.expected_purchases(fit, t, x, t_x, T)
    assert np.all((alive >= 0) & (alive <= 1)) and np.all(alive[np.asarray(x) == 0] == 1)
    assert np.all(np.isfinite(e)) and np.all(e >= 0)
    assert np.all(clv.expected_purchases(fit, 2 * t, x, t_x, T) >= e - 1e-9)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(0, 2000),
    st.floats(0, 1),
    st.floats(0.5, 4000),
    st.floats(0.1, 800),
    positive,
    positive,
    positive,
    positive,
)
def test_expected_purchases_match_a_high_precision_reference(x, u, T, t, r, alpha, a, b):
    """Long histories included: the closed form (direct ₂F₁ in 30-digit arithmetic) against the float64 code."""
    import mpmath

    assume(abs(a - 1) > 1e-3)  # the closed form is 0/0 at a = 1 (the code steps aside, the reference cannot)
    t_x = u * T if x else 0.0
    fit = clv.Fit("bgnbd", {"r": r, "alpha": alpha, "a": a, "b": b}, {}, 0.0, True, 0, 1)
    with mpmath.workdps(30):
        r_, al, a_, b_, T_, t_ = map(mpmath.mpf, (r, alpha, a, b, T, t))
        bracket = 1 - ((al + T_) / (al + T_ + t_)) ** (r_ + x) * mpmath.hyp2f1(
            r_ + x, b_ + x, a_ + b_ + x - 1, t_ / (al + T_ + t_)
        )
        dead = 0 if x == 0 else a_ / (b_ + x - 1) * ((al + T_) / (al + mpmath.mpf(t_x))) ** (r_ + x)
        exact = float((a_ + b_ + x - 1) / (a_ - 1) * bracket / (1 + dead))
    got = clv.expected_purchases(fit, t, [x], [t_x], [T])[0]
    assert got == pytest.approx(exact, rel=1e-6, abs=1e-12)


def test_refusals_are_clear(cdnow_summary):
    d = cdnow_summary
    with pytest.raises(InputError, match=r"too few customers \(20\)"):
        clv.fit_bgnbd(d.frequency[:20], d.recency[:20], d["T"][:20])
    once = np.zeros(100)
    with pytest.raises(InputError, match=r"too few repeat buyers \(0 of 100\)"):
        clv.fit_bgnbd(once, once, np.full(100, 30.0))
    same = np.full(50, 3.0)
    with pytest.raises(InputError, match="same history; there is no variation"):
        clv.fit_bgnbd(same, np.full(50, 10.0), np.full(50, 20.0))
    with pytest.raises(InputError, match="recency > T"):
        clv.fit_bgnbd([1, 2], [5.0, 30.0], [10.0, 20.0])
    with pytest.raises(InputError, match="frequency: 1 missing or infinite"):
        clv.fit_bgnbd([1, np.nan], [1.0, 1.0], [2.0, 2.0])
    with pytest.raises(InputError, match="whole numbers"):
        clv.fit_bgnbd([1.5], [1.0], [2.0])
    with pytest.raises(InputError, match=r"too few repeat buyers with a positive spend \(2\)"):
        clv.fit_gamma_gamma([0, 1, 2, 0], [0, 10.0, 20.0, 5.0])
    with pytest.raises(InputError, match="same mean spend"):
        clv.fit_gamma_gamma(np.arange(1, 31), np.full(30, 25.0))


def test_data_the_model_cannot_identify_are_refused():
    # clockwork customers: each buys on a fixed cycle and none ever stops early — the dropout part of the
    # likelihood has no interior maximum, so the fit is refused rather than reported
    as_of = date(2024, 7, 1)
    rows = []
    for i in range(60):
        first = date(2024, 1, 1) + timedelta(days=i * 3 % 90)
        gap, n = [7, 15, 30, 45, 60][i % 5], [1, 1, 2, 3, 5, 8][i % 6]
        days = [first + timedelta(days=k * gap) for k in range(n) if first + timedelta(days=k * gap) < as_of]
        rows.append((len(days) - 1, (days[-1] - days[0]).days, (as_of - days[0]).days - 1))
    x, t_x, T = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    with pytest.raises(
        InputError, match=r"BG/NBD: a \+ b = .* runs off towards infinity — the customers show no variation in dropout"
    ):
        clv.fit_bgnbd(x, t_x, T)


# --- the refresh stage ----------------------------------------------------------------------------------------------

AS_OF = date(2024, 7, 1)
START = date(2024, 1, 1)


def _bgnbd_shop(n: int = 120, seed: int = 4) -> list[list[str]]:
    """Orders drawn from the BG/NBD process (rates and dropouts vary by customer), plus three written by hand."""
    rng = np.random.default_rng(seed)
    rows = [["订单号", "客户ID", "下单时间", "订单金额", "订单数量", "产品ID", "订单状态"]]
    for i in range(n):
        first = START + timedelta(days=(i * 7) % 80)
        rate, dropout = rng.gamma(0.5, 1 / 20), rng.beta(1.0, 3.0)
        nu = rng.gamma(4.0, 1 / 60)
        days, t = [0], 0.0
        while True:
            t += rng.exponential(1 / rate)
            if np.ceil(t) >= (AS_OF - first).days:
                break
            if int(np.ceil(t)) > days[-1]:
                days.append(int(np.ceil(t)))
            if rng.random() < dropout:
                break
        for k, day in enumerate(days):
            amount = round(float(rng.gamma(6.0, 1 / nu)), 2)
            rows.append(
                [f"s{i}-{k}", f"s{i:03d}", f"{first + timedelta(days=day)} 10:00:00", str(amount), "1", "P1", "paid"]
            )
    rows += [
        ["h1", "once", "2024-06-01 09:00:00", "120", "1", "P1", "paid"],  # one purchase: x = 0, P(alive) = 1
        ["h2", "twice", "2024-03-01 09:00:00", "100", "1", "P1", "paid"],  # two orders on one day: one purchase
        ["h3", "twice", "2024-03-01 18:00:00", "50", "1", "P1", "paid"],
        ["h4", "twice", "2024-03-11 09:00:00", "80", "1", "P1", "paid"],  # the repeat purchase, 10 days on
        ["h5", "twice", "2024-04-01 09:00:00", "999", "1", "P1", "refunded"],  # refunded: not a purchase
        ["h6", "refunder", "2024-05-01 09:00:00", "300", "1", "P1", "refunded"],  # never bought: no CLV
    ]
    return rows


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    from portrait.workspace import init_workspace

    folder = tmp_path_factory.mktemp("clv")
    ws = init_workspace(folder / "ws")
    import_files(ws, "orders", [write(folder / "orders.csv", _bgnbd_shop())])
    (ws.path / "tags.yaml").write_text(
        "tags:\n  - name: 流失风险\n    category: value_risk\n    kind: rule\n    values:\n"
        '      - {value: 高, when: "p_alive < 0.5"}\n    else: 低\n',
        encoding="utf-8",
    )
    refresh(ws, AS_OF)
    return ws


def _rows(ws, sql: str) -> list[tuple]:
    with snapshots.reader(ws) as (con, _):
        return con.execute(sql).fetchall()


def test_refresh_writes_clv_scores_and_the_report(shop):
    report = clv.clv_report(shop, top=5)
    assert report["status"] == "ok" and report["as_of"] == "2024-07-01" and report["unit"] == "day"
    assert report["buyers"] == 122 and report["bgnbd"]["n"] == 122 and report["bgnbd"]["converged"]
    assert set(report["bgnbd"]["params"]) == {"r", "alpha", "a", "b"} and report["gamma_gamma"]["converged"]
    # the hand-written customers' histories, in days: T runs to 2024-06-30, the last day of data
    with snapshots.reader(shop) as (con, _):
        histories = clv.customer_histories(con, AS_OF).to_pylist()
    by_user = {h["user_id"]: h for h in histories}
    assert by_user["once"] == {"user_id": "once", "frequency": 0.0, "recency": 0.0, "T": 29.0, "monetary": 0.0}
    assert by_user["twice"] == {"user_id": "twice", "frequency": 1.0, "recency": 10.0, "T": 121.0, "monetary": 80.0}
    assert "refunder" not in by_user
    scores = {
        r[0]: r[1:]
        for r in _rows(
            shop, "SELECT user_id, expected_purchases_90d, p_alive, expected_avg_value, clv_365d FROM clv_scores"
        )
    }
    assert len(scores) == 123  # every customer of the customer table, buyers or not
    assert scores["refunder"] == (None, None, None, None)
    assert scores["once"][1] == 1.0
    # the stored numbers are the model functions at the reported parameters
    bg = clv.Fit("bgnbd", report["bgnbd"]["params"], {}, 0, True, 0, 0)
    gg = clv.Fit("gamma_gamma", report["gamma_gamma"]["params"], {}, 0, True, 0, 0)
    args = ([1.0], [10.0], [121.0])
    step = 1.10 ** (1 / 12) - 1  # the default 10 % a year, per month-long step
    expected = (
        clv.expected_purchases(bg, 90, *args)[0],
        clv.p_alive(bg, *args)[0],
        clv.expected_avg_value(gg, [1.0], [80.0])[0],
        clv.clv(bg, gg, *args, [80.0], horizon=365, discount=step, steps=12)[0],
    )
    assert scores["twice"] == pytest.approx(expected, rel=1e-9)
    assert report["top"][0]["clv_365d"] == max(v[3] for v in scores.values() if v[3] is not None)
    assert [t["clv_365d"] for t in report["top"]] == sorted((t["clv_365d"] for t in report["top"]), reverse=True)


def test_clv_fields_reach_segment_base_and_tag_rules(shop):
    rows = _rows(shop, 'SELECT user_id, p_alive, clv_365d, "流失风险" FROM segment_base ORDER BY user_id')
    assert len(rows) == 123
    for user_id, alive, _, risk in rows:
        assert risk == ("高" if alive is not None and alive < 0.5 else "低"), user_id
    assert any(r[3] == "高" for r in rows) and any(r[3] == "低" for r in rows)
    assert dict((r[0], r[3]) for r in rows)["once"] == "低"


def test_thin_data_skip_with_nulls_and_a_message(ws, tmp_path):
    load_may_shop(ws, tmp_path)
    refresh(ws, date(2024, 9, 1))
    report = clv.clv_report(ws)
    assert report["status"] == "skipped" and report["top"] == []
    assert report["message"] == "BG/NBD: too few customers (4); at least 30 are needed to fit"
    assert _rows(ws, "SELECT count(*), count(p_alive), count(clv_365d) FROM clv_scores") == [(6, 0, 0)]


def test_model_clv_cli(shop):
    out = subprocess.run(
        [PORTRAIT, "model", "clv", "--top", "3", "--workspace", str(shop.path), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout)
    assert result == json.loads(json.dumps(clv.clv_report(shop, top=3), default=str))
    assert len(result["top"]) == 3 and set(result["bgnbd"]["se"]) == {"r", "alpha", "a", "b"}
    table = CliRunner().invoke(app, ["model", "clv", "--workspace", str(shop.path)])
    assert table.exit_code == 0 and "BG/NBD" in table.stdout and "top customers by CLV" in table.stdout


def test_model_clv_cli_before_a_refresh(ws):
    result = CliRunner().invoke(app, ["model", "clv", "--workspace", str(ws.path), "--json"])
    assert result.exit_code == 2 and result.stdout == ""
    assert "no refresh yet" in result.stderr
