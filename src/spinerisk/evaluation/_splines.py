"""Restricted cubic spline basis (Harrell's parameterisation, Hmisc::rcspline.eval, norm=2)."""

from __future__ import annotations

import numpy as np

# Harrell's default knot quantiles (Regression Modeling Strategies, table 2.3)
_KNOT_QUANTILES = {
    3: (0.10, 0.50, 0.90),
    4: (0.05, 0.35, 0.65, 0.95),
    5: (0.05, 0.275, 0.50, 0.725, 0.95),
    6: (0.05, 0.23, 0.41, 0.59, 0.77, 0.95),
    7: (0.025, 0.1833, 0.3417, 0.5, 0.6583, 0.8167, 0.975),
}


def default_knots(x: np.ndarray, n_knots: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Knots at Harrell's default quantiles of x (R quantile type 7, as Hmisc for n >= 100).

    With frequency weights the quantiles are those of the data with each row repeated
    ``weight`` times, so a weight of 2 and a duplicated row give the same knots.
    """
    if n_knots not in _KNOT_QUANTILES:
        raise ValueError(f"n_knots must be one of {sorted(_KNOT_QUANTILES)}; got {n_knots!r}")
    q = _KNOT_QUANTILES[n_knots]
    knots = np.quantile(x, q) if weights is None else weighted_quantile(x, weights, q)
    if np.unique(knots).size < n_knots:
        raise ValueError(
            f"the {n_knots} spline knots {knots.tolist()} are not distinct because the predictions "
            "take too few distinct values; use fewer knots or method='loess'."
        )
    return knots


def rcs_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Non-linear terms of a restricted cubic spline (k knots -> k-2 columns).

    The linear term ``x`` itself is not included. Columns are scaled by
    ``(t_k - t_1)^2`` as in Hmisc (``norm=2``); the scaling does not change fitted values.
    """
    x = np.asarray(x, dtype=float)
    t = np.asarray(knots, dtype=float)
    k = t.size
    tk, tk1 = t[-1], t[-2]

    def cube(u):
        return np.maximum(u, 0.0) ** 3

    cols = [
        cube(x - t[j])
        - cube(x - tk1) * (tk - t[j]) / (tk - tk1)
        + cube(x - tk) * (tk1 - t[j]) / (tk - tk1)
        for j in range(k - 2)
    ]
    return np.column_stack(cols) / (tk - t[0]) ** 2


def weighted_quantile(x, w, q) -> np.ndarray:
    """R type-7 quantiles of ``x`` repeated ``w`` times (frequency weights).

    With ``W = sum(w)`` the position is ``h = (W - 1) q`` in the repeated, sorted data;
    the value at a position k is the x whose cumulative weight first exceeds k, and the
    quantile interpolates between positions floor(h) and floor(h) + 1.
    """
    x, w, q = np.asarray(x, float), np.asarray(w, float), np.asarray(q, float)
    order = np.argsort(x, kind="mergesort")
    xs, cw = x[order], np.cumsum(w[order])
    h = (cw[-1] - 1.0) * q
    lo = np.floor(h)

    def at(k):
        return xs[np.minimum(np.searchsorted(cw, k, side="right"), xs.size - 1)]

    return at(lo) + (h - lo) * (at(lo + 1) - at(lo))
