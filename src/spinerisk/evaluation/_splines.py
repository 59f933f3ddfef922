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


def default_knots(x: np.ndarray, n_knots: int) -> np.ndarray:
    """Knots at Harrell's default quantiles of x (R quantile type 7, as Hmisc for n >= 100)."""
    if n_knots not in _KNOT_QUANTILES:
        raise ValueError(f"n_knots must be one of {sorted(_KNOT_QUANTILES)}; got {n_knots!r}")
    knots = np.quantile(x, _KNOT_QUANTILES[n_knots])
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
