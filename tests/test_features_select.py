"""Feature helpers on tiny tables by hand: correlation filter, chi-square, PCA, mutual information; bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from portrait import api
from portrait.errors import InputError
from portrait.models.features_select import chi_square, correlation_filter, mutual_information, pca

Y = [0, 0, 1, 1]
TABLE = pd.DataFrame(
    {
        "x1": [1, 2, 3, 4],  # r with y = 2 / √5 = 0.894
        "x2": [1, 2, 3, 5],  # r with y = 2.5 / √8.75 = 0.845; r with x1 = 6.5 / √43.75 = 0.983
        "x3": [1, 1, 1, 1],  # constant
        "x4": [4, 1, 3, 2],  # r with y = 0; r with x1 = −2 / 5 = −0.4
    }
)


def test_correlation_filter_by_hand():
    result = correlation_filter(TABLE, Y, threshold=0.9)
    rows = {r["feature"]: r for r in result.scores}
    assert rows["x1"]["corr_with_target"] == pytest.approx(2 / math.sqrt(5))
    assert rows["x2"]["corr_with_target"] == pytest.approx(2.5 / math.sqrt(8.75))
    assert rows["x4"]["corr_with_target"] == pytest.approx(0)
    assert result.extra["matrix"]["x1"]["x2"] == pytest.approx(6.5 / math.sqrt(43.75))
    assert result.extra["matrix"]["x1"]["x4"] == pytest.approx(-0.4)
    # x1 is the stronger of the pair x1/x2, so it stays; x3 has no spread
    assert result.chosen == ["x1", "x4"]
    assert rows["x2"]["dropped_because"] == "|r| = 0.983 with x1"
    assert rows["x3"]["dropped_because"] == "constant"
    # without a target: column order decides, x1 first
    assert correlation_filter(TABLE, threshold=0.99).chosen == ["x1", "x2", "x4"]


def test_chi_square_by_hand():
    # x: class 1 sums 1, class 0 sums 2; expected 1.5 each → χ² = 2 · 0.5² / 1.5 = 1/3
    # z: class 1 sums 6, class 0 sums 0; expected 3 each → χ² = 2 · 3² / 3 = 6
    frame = pd.DataFrame({"x": [1, 0, 2, 0], "z": [3, 3, 0, 0]})
    result = chi_square(frame, [1, 1, 0, 0])
    rows = {r["feature"]: r for r in result.scores}
    assert rows["x"]["chi2"] == pytest.approx(1 / 3)
    assert rows["z"]["chi2"] == pytest.approx(6)
    assert rows["x"]["p_value"] == pytest.approx(math.erfc(math.sqrt(1 / 6)))  # χ²(1) survival = erfc(√(χ²/2))
    assert rows["z"]["p_value"] == pytest.approx(math.erfc(math.sqrt(3)))
    assert result.chosen == ["z"]  # p = 0.014 < 0.05; x's p = 0.56
    assert chi_square(frame, [1, 1, 0, 0], k=2).chosen == ["z", "x"]
    with pytest.raises(InputError, match="feature 'x' has negative values"):
        chi_square(frame.assign(x=[-1, 0, 2, 0]), [1, 1, 0, 0])


def test_pca_by_hand():
    # x2 = 2·x1: after standardising they are the same column, so one component explains everything
    frame = pd.DataFrame({"x1": [1.0, 2.0, 3.0, 4.0], "x2": [2.0, 4.0, 6.0, 8.0]})
    result = pca(frame, variance=0.9)
    assert result.chosen == ["pc1"]
    assert result.scores[0]["explained_variance_ratio"] == pytest.approx(1.0)
    assert result.scores[1]["explained_variance_ratio"] == pytest.approx(0.0, abs=1e-12)
    assert [abs(v) for v in result.scores[0]["loadings"].values()] == pytest.approx([1 / math.sqrt(2)] * 2)
    assert pca(frame, n_components=2).chosen == ["pc1", "pc2"]
    with pytest.raises(InputError, match="n_components 3 must be between 1 and 2"):
        pca(frame, n_components=3)


def test_mutual_information_prefers_the_informative_feature():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    frame = pd.DataFrame({"noise": rng.normal(size=200), "signal": y * 3 + rng.normal(scale=0.3, size=200)})
    result = mutual_information(frame, y, k=1, seed=1)
    assert result.chosen == ["signal"]
    rows = {r["feature"]: r["mutual_information"] for r in result.scores}
    assert rows["signal"] > 0.5 > rows["noise"]  # ln 2 = 0.69 nats is all there is to know about a fair 0/1 label
    assert mutual_information(frame, y, k=1, seed=1).scores == result.scores  # the seed makes it repeatable


def test_bad_input_is_one_clear_line():
    with pytest.raises(InputError, match="single class"):
        mutual_information(TABLE, [1, 1, 1, 1])
    with pytest.raises(InputError, match="feature 'city' is not numeric"):
        correlation_filter(TABLE.assign(city=["a", "b", "c", "d"]), Y)
    with pytest.raises(InputError, match="feature 'x1' has missing values"):
        chi_square(TABLE.assign(x1=[1, None, 3, 4]), Y)
    with pytest.raises(InputError, match="one value per row"):
        correlation_filter(TABLE, [0, 1])
    assert correlation_filter(pd.DataFrame({"a": [1, 1, 1]})).message == "every feature is constant; nothing to keep"


def test_helpers_are_in_the_python_api():
    assert api.correlation_filter is correlation_filter and api.pca is pca
    assert api.chi_square(pd.DataFrame({"z": [3, 3, 0, 0]}), [1, 1, 0, 0]).as_dict()["chosen"] == ["z"]


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(4, 12), st.integers(1, 5)), elements=st.floats(-100, 100, width=32)),
    st.floats(0.3, 0.99),
)
def test_kept_features_are_never_too_correlated(values, threshold):
    frame = pd.DataFrame(values, columns=[f"f{i}" for i in range(values.shape[1])])
    result = correlation_filter(frame, threshold=threshold)
    corr = frame.corr()
    for i, a in enumerate(result.chosen):
        for b in result.chosen[i + 1 :]:
            assert not abs(corr.at[a, b]) > threshold
    for row in result.scores:  # every dropped feature that varies has a kept partner above the threshold
        if not row["kept"] and row["dropped_because"] != "constant":
            partner = row["dropped_because"].split(" with ")[1]
            assert partner in result.chosen and abs(corr.at[row["feature"], partner]) > threshold
