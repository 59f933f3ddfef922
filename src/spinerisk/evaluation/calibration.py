"""Flexible calibration curves for binary outcomes and the ICI / E50 / E90 / Emax summaries.

Two smoothers of the outcome on the predicted risk are offered:

* ``method="loess"``: local quadratic regression with tricube weights on the nearest
  ``span * n`` points (R ``loess(y ~ risk, span = 0.75, degree = 2)`` evaluated exactly,
  i.e. ``surface = "direct"``). For more than ``max_eval`` distinct risks the smoother
  is evaluated at ``max_eval`` quantiles and linearly interpolated (R's default
  ``surface = "interpolate"`` does the same in spirit). The pointwise band uses the
  smoother's linear weights with the residual variance estimated by the mean squared
  residual.
* ``method="rcs"``: logistic regression of the outcome on a restricted cubic spline of
  ``logit(risk)`` (Harrell knots at default quantiles, 3 by default); the band is
  ``expit(eta +- z * se(eta))`` from the Wald covariance.

ICI is the (weighted) mean of ``|observed_i - risk_i|`` over patients, E50 and E90 its
median and 90th percentile (R quantile type 7), Emax its maximum (Austin & Steyerberg 2019).
With frequency weights, E50/E90 are the type-7 quantiles of the data with each row repeated
``weight`` times (interpolating on cumulative weights), so unit weights give exactly the
unweighted numbers and a weight of 2 equals a duplicated row.

A curve that the data cannot determine is returned as NA (:meth:`CalibrationCurve.na`) with
its reason: fewer distinct risks than a local quadratic (loess) or the spline knots need
(``too_few_distinct_predictions``), or a spline fit without a finite maximum (``separation``).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit

from spinerisk.evaluation._glm import fit_glm
from spinerisk.evaluation._splines import default_knots, rcs_basis, weighted_quantile
from spinerisk.evaluation._validate import check_binary, check_open_unit
from spinerisk.evaluation.binary import _z
from spinerisk.evaluation.results import CalibrationCurve

__all__ = ["calibration_curve", "calibration_errors"]


def calibration_errors(predicted, observed, weights=None) -> dict[str, float]:
    """ICI, E50, E90 and Emax of ``|observed - predicted|`` (Austin & Steyerberg 2019)."""
    diff = np.abs(np.asarray(observed, float) - np.asarray(predicted, float))
    w = np.ones_like(diff) if weights is None else np.asarray(weights, float)
    e50, e90 = weighted_quantile(diff, w, [0.5, 0.9])
    return {"ici": float(np.sum(w * diff) / w.sum()), "e50": float(e50), "e90": float(e90),
            "emax": float(diff[w > 0].max())}


class _Loess:
    """Local quadratic tricube fits (R ``loess(..., degree = 2, surface = "direct")``).

    Each fit at ``x0`` uses the ``q = floor(span * n)`` nearest points, weighted by
    ``w * (1 - (|x - x0| / h)^3)^3`` with ``h`` the q-th smallest distance (times the span
    for spans above 1, R's rule). The risks are sorted once: ``h`` is the farther end of the
    window of q consecutive sorted points whose farther end is closest (found by
    bisection), and only the points within ``h`` of ``x0`` carry weight. So a fit costs one pass over q points, not a sort
    and a matrix the size of the data per point: memory stays O(n) at any n.
    """

    def __init__(self, x, y, w, span: float):
        order = np.argsort(x, kind="stable")
        self.x, self.y, self.w = x[order], y[order], w[order]
        self.span = span
        self.q = min(max(int(np.floor(span * x.size)), 3), x.size)
        # the window [c, c + q) nearest x0 starts where x[c] + x[c + q] reaches 2 * x0
        self.ends = self.x[:-self.q] + self.x[self.q:]

    def _window(self, x0: float) -> tuple[int, int, float]:
        """The bandwidth ``h`` and the sorted points within it (start, stop, h)."""
        x, q = self.x, self.q
        guess = int(np.searchsorted(self.ends, 2 * x0))
        # the neighbours too: rounding in the sums may shift the bisection by one
        h = min(max(x0 - x[c], x[c + q - 1] - x0)
                for c in range(max(guess - 1, 0), min(guess + 1, x.size - q) + 1))
        h = max(h * self.span if self.span > 1 else h, 1e-12)
        # every point nearer than h, whichever way ties at h fall (a hair wider: the
        # weights of points at h or beyond are 0)
        reach = h * (1 + 1e-9)
        return (int(np.searchsorted(x, x0 - reach, side="left")),
                int(np.searchsorted(x, x0 + reach, side="right")), h)

    def fit(self, x0: float) -> tuple[float, float] | None:
        """Fitted value at ``x0`` and ``sum_j l_j^2 w_j`` of its smoother weights ``l``
        (``fitted = l @ y``); None when fewer than 3 distinct risks carry weight."""
        start, stop, h = self._window(x0)
        u = self.x[start:stop] - x0
        w = self.w[start:stop]
        k = np.clip(1.0 - (np.abs(u) / h) ** 3, 0.0, None) ** 3 * w
        moments = [k.sum()]
        ku = k
        for _ in range(4):
            ku = ku * u
            moments.append(ku.sum())  # sum of k * u^m, m = 0..4
        A = np.array([[moments[i + j] for j in range(3)] for i in range(3)])
        if np.linalg.cond(A) > 1e12:
            return None
        c = np.linalg.inv(A)[0]  # first row of (X'KX)^-1: fitted value = c @ X'K y
        smoother = k * (c[0] + c[1] * u + c[2] * u * u)
        return float(smoother @ self.y[start:stop]), float(np.sum(smoother ** 2 * w))


def _loess_curve(x, y, w, span, points):
    """Loess fits at ``points`` and each fit's ``sum l^2 w``; (None, None) when some local
    fit is underdetermined."""
    loess = _Loess(x, y, w, span)
    fits = np.empty(points.size)
    spread = np.empty(points.size)
    for i, x0 in enumerate(points):
        fitted = loess.fit(float(x0))
        if fitted is None:
            return None, None
        fits[i], spread[i] = fitted
    return fits, spread


def calibration_curve(
    y,
    risk,
    *,
    method: str = "loess",
    weights=None,
    span: float = 0.75,
    n_knots: int = 3,
    level: float = 0.95,
    n_points: int = 100,
    max_eval: int = 400,
) -> CalibrationCurve:
    """Flexible calibration curve with pointwise confidence band and ICI/E50/E90/Emax.

    Parameters
    ----------
    y : 0/1 outcomes.
    risk : predicted probabilities (strictly inside (0, 1) for ``method="rcs"``).
    method : "loess" or "rcs" (see module docstring for exact definitions).
    weights : optional frequency weights.
    span : loess span (fraction of points in each local fit); R's default 0.75.
    n_knots : number of spline knots for "rcs" (3-7).
    level : confidence level of the band.
    n_points : number of grid points on which the curve is returned.
    max_eval : loess only: evaluate exactly at most this many distinct risks.

    Returns
    -------
    CalibrationCurve
    """
    y, risk, w = check_binary(y, risk, weights)
    z = _z(level)
    grid = np.quantile(risk, np.linspace(0, 1, n_points))
    if method == "loess":
        settings = {"span": span, "degree": 2, "family": "gaussian", "surface": "direct", "level": level}
        uniq = np.unique(risk[w > 0])
        evals = uniq if uniq.size <= max_eval else np.unique(np.quantile(risk, np.linspace(0, 1, max_eval)))
        fit_eval, _ = _loess_curve(risk, y, w, span, evals) if uniq.size >= 3 else (None, None)
        fit_grid, spread = (_loess_curve(risk, y, w, span, grid) if fit_eval is not None
                            else (None, None))
        if fit_grid is None:
            return CalibrationCurve.na(method, "too_few_distinct_predictions", settings)
        obs_patient = np.interp(risk, evals, fit_eval)
        sigma2 = np.sum(w * (y - obs_patient) ** 2) / w.sum()
        se = np.sqrt(sigma2 * spread)
        observed, lower, upper = fit_grid, fit_grid - z * se, fit_grid + z * se
    elif method == "rcs":
        check_open_unit(risk, "the rcs calibration curve")
        lp = logit(risk)
        settings = {"n_knots": n_knots, "scale": "logit", "level": level}
        if np.unique(lp[w > 0]).size < n_knots:
            return CalibrationCurve.na(method, "too_few_distinct_predictions", settings)
        try:
            knots = default_knots(lp, n_knots, w)
        except ValueError:
            return CalibrationCurve.na(method, "too_few_distinct_predictions", settings)

        def design(v):
            return np.column_stack([np.ones_like(v), v, rcs_basis(v, knots)])

        fit = fit_glm(design(lp), y, weights=w)
        if fit.diagnostics.reason is not None:
            return CalibrationCurve.na(method, fit.diagnostics.reason, {**settings, "fit": fit.diagnostics.to_dict()})
        obs_patient = expit(design(lp) @ fit.coef)
        Xg = design(logit(np.clip(grid, 1e-12, 1 - 1e-12)))
        eta = Xg @ fit.coef
        se = np.sqrt(np.einsum("ij,jk,ik->i", Xg, fit.cov, Xg))
        observed, lower, upper = expit(eta), expit(eta - z * se), expit(eta + z * se)
        settings["knots_logit"] = knots.tolist()
    else:
        raise ValueError(f"method={method!r} is not supported; use 'loess' or 'rcs'.")
    errs = calibration_errors(risk, obs_patient, w)
    return CalibrationCurve(method, grid, observed, lower, upper, settings=settings, **errs)
