"""Feature helpers for models: selection by correlation, mutual information and chi-square; PCA.

Each helper takes a table of numeric features (a pandas DataFrame, one row per customer) and, for the
supervised ones, a 0/1 target; it returns a :class:`Selection`: a table of scores (one row per feature,
or per component for PCA) and the features chosen. Missing values are refused by the helpers that cannot
take them (chi-square, mutual information, PCA): fill them first. The churn model uses
:func:`correlation_filter` to drop redundant features and reports the mutual-information and chi-square
tables; all four are in the Python API (``portrait.api``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from portrait.errors import InputError


@dataclass
class Selection:
    """The result of a feature helper: a score table, the chosen features, and a note when nothing fit."""

    method: str
    scores: list[dict[str, Any]]
    chosen: list[str]
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form (for JSON)."""
        return asdict(self)


def _numeric(frame: pd.DataFrame, what: str, allow_missing: bool = True) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame) or frame.shape[1] == 0:
        raise InputError(f"{what}: give a table with at least one feature column")
    bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise InputError(f"{what}: feature {bad[0]!r} is not numeric; encode it as numbers first")
    out = frame.astype("float64")
    if not allow_missing and out.isna().to_numpy().any():
        col = next(c for c in out.columns if out[c].isna().any())
        raise InputError(f"{what}: feature {col!r} has missing values; fill them first")
    return out


def _target(target: Any, rows: int, what: str) -> np.ndarray:
    y = np.asarray(target)
    if y.ndim != 1 or len(y) != rows:
        raise InputError(f"{what}: the target needs one value per row ({rows}), got {y.shape}")
    if pd.isna(y).any():
        raise InputError(f"{what}: the target has missing values")
    classes = np.unique(y)
    if len(classes) < 2:
        raise InputError(f"{what}: the target has a single class ({classes[0] if len(classes) else 'none'}); need two")
    return y


def correlation_filter(
    frame: pd.DataFrame, target: Any | None = None, threshold: float = 0.9, min_rows: int = 3
) -> Selection:
    """Pearson correlations; of every pair of features with |r| above ``threshold`` keep one.

    Features are visited from the strongest to the weakest absolute correlation with the target (in
    column order without a target); a feature is dropped when it correlates above the threshold with
    one already kept. Constant features (no spread) are dropped. Missing values are left out pairwise.
    """
    what = "correlation filter"
    if not 0 < threshold <= 1:
        raise InputError(f"{what}: threshold {threshold} must be in (0, 1]")
    x = _numeric(frame, what)
    if len(x) < min_rows:
        raise InputError(f"{what}: {len(x)} rows; need at least {min_rows}")
    with_target: dict[str, float | None] = {}
    if target is not None:
        y = _target(target, len(x), what).astype("float64")
        for col in x.columns:
            r = x[col].corr(pd.Series(y, index=x.index))
            with_target[col] = None if pd.isna(r) else float(r)
    corr = x.corr()
    constant = [c for c in x.columns if not (x[c].std(skipna=True) > 0)]
    order = [c for c in x.columns if c not in constant]
    if target is not None:
        order.sort(key=lambda c: -abs(with_target[c] or 0.0))
    kept: list[str] = []
    reasons: dict[str, str] = {c: "constant" for c in constant}
    partner: dict[str, tuple[str, float]] = {}
    for col in order:
        clash = [(k, float(corr.at[col, k])) for k in kept if abs(corr.at[col, k]) > threshold]
        if clash:
            k, r = max(clash, key=lambda kr: abs(kr[1]))
            reasons[col] = f"|r| = {abs(r):.3f} with {k}"
            partner[col] = (k, r)
        else:
            kept.append(col)
    scores = []
    for col in x.columns:
        others = corr[col].drop(index=col).abs().dropna()
        scores.append(
            {
                "feature": col,
                "corr_with_target": with_target.get(col),
                "max_abs_corr": None if others.empty else float(others.max()),
                "most_correlated_with": None if others.empty else str(others.idxmax()),
                "kept": col in kept,
                "dropped_because": reasons.get(col),
            }
        )
    message = "" if kept else "every feature is constant; nothing to keep"
    matrix = {c: {k: (None if pd.isna(v) else float(v)) for k, v in corr[c].items()} for c in corr.columns}
    return Selection("correlation", scores, kept, message, {"threshold": threshold, "matrix": matrix})


def mutual_information(frame: pd.DataFrame, target: Any, k: int | None = None, seed: int = 0) -> Selection:
    """Mutual information (nats) between each feature and a class target; choose the top ``k`` (default: > 0).

    Estimated with scikit-learn's nearest-neighbour estimator (``mutual_info_classif``, 3 neighbours), which
    is random in its tie-breaking noise: ``seed`` makes it repeatable.
    """
    from sklearn.feature_selection import mutual_info_classif

    what = "mutual information"
    x = _numeric(frame, what, allow_missing=False)
    y = _target(target, len(x), what)
    if len(x) < 4:
        raise InputError(f"{what}: {len(x)} rows; need at least 4")
    mi = mutual_info_classif(x.to_numpy(), y, n_neighbors=min(3, len(x) - 1), random_state=seed)
    ranked = sorted(zip(x.columns, mi, strict=True), key=lambda t: (-t[1], str(t[0])))
    chosen = [c for c, v in ranked if v > 0] if k is None else [c for c, _ in ranked[: max(k, 0)]]
    scores = [{"feature": c, "mutual_information": float(v), "rank": i + 1} for i, (c, v) in enumerate(ranked)]
    message = "" if chosen else "no feature carries information about the target"
    return Selection("mutual_information", scores, chosen, message)


def chi_square(frame: pd.DataFrame, target: Any, k: int | None = None, alpha: float = 0.05) -> Selection:
    """Chi-square statistic of each non-negative feature against a class target (scikit-learn ``chi2``).

    The observed table is the sum of a feature's values per class; the expected table spreads the
    feature's total by the class shares: chi² = Σ (observed − expected)² / expected, with (classes − 1)
    degrees of freedom. Chooses the top ``k``, or (default) every feature with p < ``alpha``. Counts and
    0/1 flags suit it best; features with negative values are refused.
    """
    from sklearn.feature_selection import chi2

    what = "chi-square"
    x = _numeric(frame, what, allow_missing=False)
    y = _target(target, len(x), what)
    negative = [c for c in x.columns if (x[c] < 0).any()]
    if negative:
        raise InputError(f"{what}: feature {negative[0]!r} has negative values; chi-square needs counts or flags")
    usable = [c for c in x.columns if x[c].sum() > 0]
    stats = dict.fromkeys(x.columns, (None, None))
    if usable:
        values, pvalues = chi2(x[usable].to_numpy(), y)
        for c, s, p in zip(usable, values, pvalues, strict=True):
            stats[c] = (float(s), float(p))
    ranked = sorted(x.columns, key=lambda c: (-(stats[c][0] if stats[c][0] is not None else -1), str(c)))
    if k is None:
        chosen = [c for c in ranked if stats[c][1] is not None and stats[c][1] < alpha]
    else:
        chosen = [c for c in ranked if stats[c][0] is not None][: max(k, 0)]
    scores = [{"feature": c, "chi2": stats[c][0], "p_value": stats[c][1], "rank": i + 1} for i, c in enumerate(ranked)]
    message = "" if chosen else f"no feature differs between the classes at p < {alpha}"
    return Selection("chi_square", scores, chosen, message, {"alpha": alpha})


def pca(frame: pd.DataFrame, variance: float = 0.9, n_components: int | None = None) -> Selection:
    """Principal components of the standardised features: keep enough to explain ``variance`` (or ``n_components``).

    The score table has one row per component (explained variance ratio, cumulative ratio, and the
    loadings of each feature); ``chosen`` names the components kept (``pc1`` …).
    """
    from sklearn.decomposition import PCA

    what = "PCA"
    x = _numeric(frame, what, allow_missing=False)
    if not 0 < variance <= 1:
        raise InputError(f"{what}: variance {variance} must be in (0, 1]")
    spread = x.std(ddof=0)
    x = x.loc[:, spread > 0]
    if x.shape[1] == 0 or len(x) < 2:
        raise InputError(f"{what}: need at least 2 rows and one feature that varies")
    z = (x - x.mean()) / x.std(ddof=0)
    most = min(z.shape)
    if n_components is not None and not 1 <= n_components <= most:
        raise InputError(f"{what}: n_components {n_components} must be between 1 and {most}")
    fitted = PCA(n_components=most, svd_solver="full").fit(z.to_numpy())
    ratios = fitted.explained_variance_ratio_
    cumulative = np.cumsum(ratios)
    keep = n_components if n_components is not None else int(np.searchsorted(cumulative, variance - 1e-12) + 1)
    keep = min(keep, most)
    scores = [
        {
            "component": f"pc{i + 1}",
            "explained_variance_ratio": float(ratios[i]),
            "cumulative": float(cumulative[i]),
            "loadings": {c: float(v) for c, v in zip(x.columns, fitted.components_[i], strict=True)},
        }
        for i in range(most)
    ]
    return Selection(
        "pca", scores, [f"pc{i + 1}" for i in range(keep)], "", {"variance": variance, "features": list(x.columns)}
    )
