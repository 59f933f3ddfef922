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


def _loess_block(x, y, w, span, points):
    """Local quadratic tricube fits at ``points``; returns fitted values and smoother rows L.

    ``fitted = L @ y``. Each fit uses the ``floor(span * n)`` nearest points (R loess with
    ``surface = "direct"``); the 3x3 normal equations are solved for all points at once.
    """
    n = x.size
    q = min(max(int(np.floor(span * n)), 3), n)
    U = x[None, :] - points[:, None]
    D = np.abs(U)
    h = np.partition(D, q - 1, axis=1)[:, q - 1]
    if span > 1:
        h = h * span  # R's rule for spans above 1
    h = np.maximum(h, 1e-12)
    K = np.clip(1.0 - (D / h[:, None]) ** 3, 0.0, None) ** 3 * w[None, :]
    moments = [K.sum(axis=1)]
    KU = K
    for _ in range(4):
        KU = KU * U
        moments.append(KU.sum(axis=1))  # sum of K * U^m, m = 0..4
    A = np.empty((points.size, 3, 3))
    for i in range(3):
        for j in range(3):
            A[:, i, j] = moments[i + j]
    if np.any(np.linalg.cond(A) > 1e12):
        return None, None  # fewer than 3 distinct risks carry weight in some local fit
    c = np.linalg.inv(A)[:, 0, :]  # first row of (X'KX)^-1: fitted value = c @ X'K y
    L = K * (c[:, [0]] + c[:, [1]] * U + c[:, [2]] * U * U)
    return L @ y, L


def _loess_curve(x, y, w, span, points, block=64):
    """Loess at ``points`` in blocks; (None, None) when some local fit is underdetermined."""
    fits, rows = [], []
    for start in range(0, points.size, block):
        f, L = _loess_block(x, y, w, span, points[start:start + block])
        if f is None:
            return None, None
        fits.append(f)
        rows.append(L)
    return np.concatenate(fits), np.vstack(rows)


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
        fit_grid, L = _loess_curve(risk, y, w, span, grid) if fit_eval is not None else (None, None)
        if fit_grid is None:
            return CalibrationCurve.na(method, "too_few_distinct_predictions", settings)
        obs_patient = np.interp(risk, evals, fit_eval)
        sigma2 = np.sum(w * (y - obs_patient) ** 2) / w.sum()
        se = np.sqrt(sigma2 * np.sum(L * L * w[None, :], axis=1))
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
