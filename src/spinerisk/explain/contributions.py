"""SHAP contributions on the margin scale, for every model family.

A model's *margin* is the raw output of its base learner before calibration: log-odds for
binary tasks, log relative hazard for the Cox model. SHAP values are additive on that
scale: ``base + values.sum(axis=1) == margin`` for every row, which is what the tests
check for each family.

Three paths (chosen by :class:`spinerisk.explain.ModelExplainer` from the base learner):

* trees (xgboost): the booster's own exact TreeSHAP (``pred_contribs=True``), measured
  here ~9x faster than ``shap.TreeExplainer`` on one row and identical in value;
* linear models (logistic regression, the Cox model): exact interventional SHAP in
  closed form, ``phi_j = beta_j (x_j - mean_j)``, against the training mean (the same
  values as ``shap.LinearExplainer`` with an independent masker, checked in the tests);
* anything else: permutation-sampled Shapley values of the margin function against a
  background (exact additivity by construction; slower, so not the per-patient fast
  path).

shap's TreeExplainer is deliberately not used for HistGradientBoosting with native
categoricals: it returns wrong values there while its additivity check passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


class Additive:
    """Shared by feature-level and variable-level contributions: ``values`` (rows x
    columns) and ``base`` (rows) add up to the base learner's margin."""

    values: np.ndarray
    base: np.ndarray

    @property
    def margin(self) -> np.ndarray:
        """Margin each row's explanation adds up to."""
        return self.base + self.values.sum(axis=1)


@dataclass(frozen=True)
class Contributions(Additive):
    """Per-feature SHAP values of some rows, on the margin scale.

    Parameters
    ----------
    values : ndarray of shape (n_rows, n_features)
        Signed contribution of each transformed feature.
    base : ndarray of shape (n_rows,)
        Expected margin (the starting point of every explanation).
    feature_names : tuple of str
        Transformed feature names, in column order.
    """

    values: np.ndarray
    base: np.ndarray
    feature_names: tuple[str, ...]


class TreeContributions:
    """Exact TreeSHAP from an xgboost booster (``pred_contribs``), the fast path.

    Parameters
    ----------
    booster : xgboost.Booster or xgboost.XGBModel
        Fitted trees.
    feature_names : sequence of str
        Names of the booster's input columns.
    """

    family = "trees"

    def __init__(self, booster, feature_names):
        self.booster = booster.get_booster() if hasattr(booster, "get_booster") else booster
        self.feature_names = tuple(feature_names)

    def __call__(self, X) -> Contributions:
        """Contributions of encoded rows (an array, or a matrix from :func:`tree_matrix`
        that several boosters share)."""
        import xgboost as xgb

        matrix = X if isinstance(X, xgb.DMatrix) else tree_matrix(X)
        out = self.booster.predict(matrix, pred_contribs=True, validate_features=False)
        return Contributions(np.asarray(out[:, :-1], dtype=float), np.asarray(out[:, -1], float),
                             self.feature_names)


def tree_matrix(X: np.ndarray):
    """Encoded rows as an xgboost matrix (missing = NaN), built once for several boosters."""
    import xgboost as xgb

    X = np.asarray(X, dtype=np.float32 if X.dtype == np.float32 else np.float64)
    # one thread for a handful of rows: a thread pool costs more than the work
    return xgb.DMatrix(X, missing=np.nan, nthread=1 if X.shape[0] < 1000 else -1)


class LinearContributions:
    """Exact interventional SHAP of a linear margin ``intercept + X @ coef``.

    Parameters
    ----------
    coef : array of shape (n_features,)
        Linear coefficients on the transformed features.
    intercept : float
        Intercept of the margin (0 for a Cox model's log relative hazard).
    mean : array of shape (n_features,)
        Background (training) mean of each transformed feature.
    feature_names : sequence of str
        Names of the transformed features.
    """

    family = "linear"

    def __init__(self, coef, intercept, mean, feature_names):
        self.coef = np.asarray(coef, dtype=float).ravel()
        self.intercept = float(intercept)
        self.mean = np.asarray(mean, dtype=float).ravel()
        self.feature_names = tuple(feature_names)
        if not (self.coef.shape == self.mean.shape == (len(self.feature_names),)):
            raise ValueError(f"linear explainer: coef {self.coef.shape}, mean {self.mean.shape} "
                             f"and {len(self.feature_names)} feature names must agree")
        self._base = self.intercept + float(self.coef @ self.mean)

    def __call__(self, X: np.ndarray) -> Contributions:
        X = np.atleast_2d(np.asarray(X, dtype=float))
        values = (X - self.mean) * self.coef
        return Contributions(values, np.full(X.shape[0], self._base), self.feature_names)


class PermutationContributions:
    """Model-agnostic SHAP by permutation sampling on a margin function.

    Each sampled feature order walks from the background to the patient one feature at
    a time; the margin increments are that order's contributions, so every order is
    exactly additive, and the average over orders converges to the (interventional)
    Shapley values. Orders are drawn in antithetic pairs (an order and its reverse),
    which cancels much of the sampling error. With every order of a small problem the
    result is the exact Shapley value (checked against the subset formula in the tests).
    Implemented here in numpy rather than through shap's permutation explainer, whose
    first call pays a ~20 s JIT compilation.

    Parameters
    ----------
    margin : callable
        ``margin(X) -> ndarray (n_rows,)`` on transformed features.
    background : ndarray of shape (n_background, n_features)
        Reference rows that define the base value (mean margin over them).
    feature_names : sequence of str
        Names of the transformed features.
    n_permutations : int
        Feature orders per row (rounded up to an even number), or ``None`` for all
        ``p!`` orders (only sensible for a handful of features).
    seed : int
        Seed of the order sampling.
    """

    family = "permutation"

    def __init__(self, margin: Callable[[np.ndarray], np.ndarray], background, feature_names,
                 n_permutations: int | None = 20, seed: int = 0):
        self.margin = margin
        self.background = np.atleast_2d(np.asarray(background, dtype=float))
        self.feature_names = tuple(feature_names)
        self.n_permutations = n_permutations
        self.seed = seed

    def __call__(self, X: np.ndarray) -> Contributions:
        X = np.atleast_2d(np.asarray(X, dtype=float))
        orders = self._orders(X.shape[1])
        values = np.vstack([self._row(x, orders) for x in X])
        base = float(np.mean(self.margin(self.background)))
        return Contributions(values, np.full(X.shape[0], base), self.feature_names)

    def _orders(self, p: int) -> np.ndarray:
        if self.n_permutations is None:
            from itertools import permutations

            return np.array(list(permutations(range(p))))
        rng = np.random.default_rng(self.seed)
        half = [rng.permutation(p) for _ in range((self.n_permutations + 1) // 2)]
        return np.array(half + [h[::-1] for h in half])

    def _row(self, x: np.ndarray, orders: np.ndarray) -> np.ndarray:
        n_bg, p = self.background.shape
        values = np.zeros(p)
        for order in orders:
            # stage k: the first k features of the order come from x, the rest from background
            stages = np.repeat(self.background[None], p + 1, axis=0)
            for k, j in enumerate(order, start=1):
                stages[k:, :, j] = x[j]
            means = self.margin(stages.reshape(-1, p)).reshape(p + 1, n_bg).mean(axis=1)
            values[order] += np.diff(means)
        return values / len(orders)


def _is_xgboost(estimator) -> bool:
    return type(estimator).__module__.startswith("xgboost")
