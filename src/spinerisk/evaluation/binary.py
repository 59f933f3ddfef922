"""Binary-outcome performance: discrimination, overall accuracy, mean and weak calibration.

Every metric has a vectorised kernel ``*_batch(y, risk, W)`` that takes a ``(B, n)``
weight matrix (row b = one data set, e.g. bootstrap counts) and returns B values, and
a public function that validates inputs, calls the kernel with one row and returns an
:class:`~spinerisk.evaluation.results.Estimate`. Weights are frequency weights: a row
with weight 2 counts as two identical patients.

Conventions
-----------
* AUC counts ties in risk as 1/2 (Mann-Whitney); DeLong's variance (DeLong et al. 1988)
  with frequency weights reduces to the usual formula for unit weights.
* Calibration-in-the-large is the intercept of ``logit P(y) = a + offset(logit(risk))``;
  calibration slope and intercept come from ``logit P(y) = a + b * logit(risk)``
  (Van Calster et al. 2016). Wald confidence intervals.
* O/E = sum(y) / sum(risk); its CI uses var(log O/E) = (1 - o) / (n o), o = observed
  proportion (Debray et al. 2017, binomial variation of O, E treated as fixed).
* Test-positive means ``risk >= threshold`` with a risk of exactly 0 never positive, R
  ``dcurves``' rule (:func:`positives`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logit, ndtri

from spinerisk.evaluation._glm import fit_glm, logistic_batch, row_products
from spinerisk.evaluation._validate import check_binary, check_open_unit, check_thresholds
from spinerisk.evaluation.results import CalibrationSummary, Estimate, RocCurve, ThresholdMetrics

__all__ = [
    "auc",
    "auc_batch",
    "brier_batch",
    "brier_score",
    "calibration_batch",
    "calibration_starts",
    "calibration_summary",
    "discrimination_slope",
    "discrimination_slope_batch",
    "oe_batch",
    "positives",
    "roc_curve",
    "scaled_brier",
    "scaled_brier_batch",
    "threshold_metrics",
]


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level!r}")
    return float(ndtri(0.5 + level / 2.0))


# --------------------------------------------------------------------------- AUC
def _tie_groups(score: np.ndarray):
    """Sort order and the start index of each group of tied scores."""
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    return order, starts


def auc_batch(y: np.ndarray, score: np.ndarray, W: np.ndarray) -> np.ndarray:
    """AUC (ties count 1/2) for each row of the weight matrix W, shape (B, n).

    Cost is a few passes over W; when ``score`` is already sorted and untied (as in
    the bootstrap, which pre-sorts) no column reordering or tie grouping is done.
    """
    W = np.atleast_2d(W)
    order, starts = _tie_groups(score)
    if np.any(order != np.arange(order.size)):
        W, y = W[:, order], y[order]
    c1 = W * y
    c0 = W - c1
    if starts.size < y.size:  # ties in score: pool each tie group
        c1 = np.add.reduceat(c1, starts, axis=1)
        c0 = np.add.reduceat(c0, starts, axis=1)
    below0 = np.cumsum(c0, axis=1)
    below0 -= 0.5 * c0  # controls strictly below plus half the tied ones
    n1 = c1.sum(axis=1)
    n0 = c0.sum(axis=1)
    num = np.einsum("ij,ij->i", c1, below0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / (n1 * n0)


def _delong_se(y: np.ndarray, score: np.ndarray, w: np.ndarray, value: float) -> float:
    """DeLong standard error with frequency weights (placement values per tie group)."""
    order, starts = _tie_groups(score)
    ys, ws = y[order], w[order]
    c1 = np.add.reduceat(ws * ys, starts)
    c0 = np.add.reduceat(ws * (1.0 - ys), starts)
    n1, n0 = c1.sum(), c0.sum()
    v10 = (np.cumsum(c0) - c0 + 0.5 * c0) / n0  # for a case in the group
    v01 = (n1 - np.cumsum(c1) + 0.5 * c1) / n1  # for a control in the group
    if n1 <= 1 or n0 <= 1:
        return float("nan")  # a variance needs at least two events and two non-events
    s10 = np.sum(c1 * (v10 - value) ** 2) / (n1 - 1.0)
    s01 = np.sum(c0 * (v01 - value) ** 2) / (n0 - 1.0)
    return float(np.sqrt(s10 / n1 + s01 / n0))


def auc(y, risk, *, weights=None, ci: str = "delong", level: float = 0.95, n_boot: int = 1000,
        seed: int | None = 0) -> Estimate:
    """Area under the ROC curve (C-statistic) with a DeLong or bootstrap confidence interval.

    Parameters
    ----------
    y : array of 0/1 outcomes.
    risk : predicted risks or any score (only the ordering matters).
    weights : optional frequency weights.
    ci : "delong", "bootstrap" (percentile, vectorised engine) or "none".
    level : confidence level.
    n_boot, seed : replicates and seed when ``ci="bootstrap"``.

    Returns
    -------
    Estimate
        ``method`` is "delong", "bootstrap percentile" or "none". The DeLong interval is
        on the AUC scale; it is NaN when there are fewer than two events or two non-events.
    """
    y, risk, w = check_binary(y, risk, weights, probability=False)
    value = float(auc_batch(y, risk, w[None, :])[0])
    if ci == "none":
        return Estimate(value)
    if ci == "bootstrap":
        from spinerisk.evaluation.bootstrap import bootstrap_binary  # avoids an import cycle

        return bootstrap_binary(y, risk, metrics=["auc"], n_boot=n_boot, seed=seed, level=level,
                                weights=weights)["auc"]
    if ci != "delong":
        raise ValueError(f"ci={ci!r} is not supported; use 'delong', 'bootstrap' or 'none'")
    se = _delong_se(y, risk, w, value)
    if se == 0:
        # constant score (AUC 0.5 by ties) or perfect ranking: DeLong's variance is 0, which
        # is not a statement of certainty; no interval is given
        return Estimate(value, level=level, method="delong", reason="degenerate_variance")
    z = _z(level)
    return Estimate(value, value - z * se, value + z * se, level, "delong")


# ------------------------------------------------------------------ Brier / IPA
def brier_batch(y: np.ndarray, risk: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Mean squared error of the risk for each row of W."""
    W = np.atleast_2d(W)
    return row_products(W, (y - risk) ** 2) / W.sum(axis=1)


def scaled_brier_batch(y: np.ndarray, risk: np.ndarray, W: np.ndarray) -> np.ndarray:
    """IPA = 1 - Brier / Brier(null), the null model predicting the (weighted) prevalence."""
    W = np.atleast_2d(W)
    prev = row_products(W, y) / W.sum(axis=1)
    return 1.0 - brier_batch(y, risk, W) / (prev * (1.0 - prev))


def brier_score(y, risk, *, weights=None) -> Estimate:
    """Brier score: mean of (y - risk)^2 (lower is better)."""
    y, risk, w = check_binary(y, risk, weights)
    return Estimate(float(brier_batch(y, risk, w[None, :])[0]))


def scaled_brier(y, risk, *, weights=None) -> Estimate:
    """Scaled Brier score (index of prediction accuracy, IPA): 1 - Brier / Brier(prevalence)."""
    y, risk, w = check_binary(y, risk, weights)
    return Estimate(float(scaled_brier_batch(y, risk, w[None, :])[0]))


# --------------------------------------------------------- discrimination slope
def discrimination_slope_batch(y: np.ndarray, risk: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Mean risk among events minus mean risk among non-events (Yates slope)."""
    W = np.atleast_2d(W)
    return (row_products(W, y * risk) / row_products(W, y)
            - row_products(W, (1 - y) * risk) / row_products(W, 1 - y))


def discrimination_slope(y, risk, *, weights=None) -> Estimate:
    """Discrimination slope (coefficient of discrimination, Tjur's R2)."""
    y, risk, w = check_binary(y, risk, weights)
    return Estimate(float(discrimination_slope_batch(y, risk, w[None, :])[0]))


# ------------------------------------------------------------------ calibration
def oe_batch(y: np.ndarray, risk: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Observed / expected number of events for each row of W."""
    W = np.atleast_2d(W)
    return row_products(W, y) / row_products(W, risk)


def calibration_starts(y: np.ndarray, risk: np.ndarray, w: np.ndarray):
    """Full-sample calibration-in-the-large and (intercept, slope) fits: Newton starting values.

    Returns ``(citl_start, weak_start, weak_reason)``; ``weak_reason`` is the NA reason of the
    full-sample intercept/slope fit (convergence contract, or a constant prediction), None if fine.
    """
    x = logit(risk)
    ones = np.ones_like(x)
    citl = fit_glm(ones[:, None], y, offset=x, weights=w).coef
    if np.ptp(x[w > 0]) == 0:
        return np.r_[citl, 1.0], np.array([citl[0], 1.0]), "constant_prediction"
    weak = fit_glm(np.column_stack([ones, x]), y, weights=w)
    return np.r_[citl, 1.0], weak.coef, weak.diagnostics.reason


def calibration_batch(y: np.ndarray, risk: np.ndarray, W: np.ndarray, starts=None) -> np.ndarray:
    """Calibration-in-the-large, calibration intercept and slope for each row of W.

    ``starts`` (from :func:`calibration_starts`) are Newton starting values shared by all
    rows; replicates lie near the pooled solution, so a few iterations suffice.

    Returns
    -------
    (B, 3) array: columns ``citl_intercept``, ``cal_intercept``, ``cal_slope``.
    """
    W = np.atleast_2d(W)
    x = logit(risk)
    start_citl, start_weak, _ = starts if starts is not None else calibration_starts(y, risk, W.mean(axis=0))
    citl = logistic_batch(x, y, W, fit_slope=False, start=start_citl)[:, 0]
    ab = logistic_batch(x, y, W, fit_slope=True, start=start_weak)
    ab[_separated(x, y, W)] = np.nan  # no finite intercept/slope (see convergence.py)
    return np.column_stack([citl, ab])


def _separated(x: np.ndarray, y: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Rows of W in which logit P(y) = a + b x is (quasi-)completely separated.

    With one covariate, separation means the drawn events' x and non-events' x do not
    overlap (touching at one value counts, quasi-complete separation).
    """
    drawn = W > 0
    ev, ne = drawn & (y == 1), drawn & (y == 0)
    max1 = np.where(ev, x, -np.inf).max(axis=1)
    min1 = np.where(ev, x, np.inf).min(axis=1)
    max0 = np.where(ne, x, -np.inf).max(axis=1)
    min0 = np.where(ne, x, np.inf).min(axis=1)
    return (max0 <= min1) | (max1 <= min0)


def calibration_summary(y, risk, *, weights=None, level: float = 0.95) -> CalibrationSummary:
    """Mean and weak calibration: O/E, calibration-in-the-large, calibration intercept and slope.

    Parameters
    ----------
    y : 0/1 outcomes.
    risk : predicted probabilities strictly inside (0, 1).
    weights : optional frequency weights.
    level : confidence level for the Wald / log-normal intervals.

    Returns
    -------
    CalibrationSummary
        Perfect calibration gives O/E 1, intercepts 0 and slope 1. A slope < 1 means
        predictions are too extreme (typical of overfitting); > 1 too moderate.
    """
    y, risk, w = check_binary(y, risk, weights)
    check_open_unit(risk, "calibration intercept/slope")
    z = _z(level)
    x = logit(risk)
    ones = np.ones_like(x)
    n = w.sum()
    observed = float(np.sum(w * y) / n)
    expected = float(np.sum(w * risk) / n)
    oe = observed / expected
    se_log_oe = np.sqrt((1.0 - observed) / (n * observed))
    citl = _wald(fit_glm(ones[:, None], y, offset=x, weights=w), 0, z, level)
    if np.ptp(x[w > 0]) == 0:
        weak_a = weak_b = Estimate.na("constant_prediction", level=level)
    else:
        weak = fit_glm(np.column_stack([ones, x]), y, weights=w)
        weak_a, weak_b = _wald(weak, 0, z, level), _wald(weak, 1, z, level)
    return CalibrationSummary(
        observed=observed,
        expected=expected,
        oe_ratio=Estimate(oe, oe * np.exp(-z * se_log_oe), oe * np.exp(z * se_log_oe), level, "log-normal"),
        citl_intercept=citl,
        cal_intercept=weak_a,
        cal_slope=weak_b,
    )


def _wald(fit, j: int, z: float, level: float) -> Estimate:
    """Coefficient j with its Wald interval, or NA with the fit's reason (convergence contract)."""
    reason = fit.diagnostics.reason
    if reason is not None:
        return Estimate.na(reason, level=level, fit=fit.diagnostics.to_dict())
    est, se = float(fit.coef[j]), float(fit.se[j])
    return Estimate(est, est - z * se, est + z * se, level, "wald")


# ------------------------------------------------------------ threshold metrics

def positives(risk: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(T, n) test-positive indicator: ``risk >= threshold``, with risk 0 never positive.

    This is R ``dcurves``' rule exactly (R/dca.r and the Python port's
    ``_rectify_model_risk_boundaries``): risks of exactly 0 become ``0 - eps`` and of exactly
    1 become ``1 + eps`` before the comparison ``risk >= threshold``. So at threshold 0 only
    risks above 0 are positive, at a threshold t in (0, 1] a risk equal to t is positive,
    and at threshold 1 only risks of exactly 1 are.
    """
    return (risk[None, :] >= thresholds[:, None]) & (risk[None, :] > 0)


def threshold_metrics(y, risk, thresholds, *, weights=None) -> ThresholdMetrics:
    """Sensitivity, specificity, PPV, NPV at each threshold (positive: see :func:`positives`).

    Small cells are not suppressed here (this returns rates, not patient rows); a
    rate whose denominator is empty is NaN (``null`` in JSON).
    """
    y, risk, w = check_binary(y, risk, weights)
    t = check_thresholds(thresholds)
    pos = positives(risk, t)  # (T, n)
    tp = pos @ (w * y)
    fp = pos @ (w * (1 - y))
    fn = np.sum(w * y) - tp
    tn = np.sum(w * (1 - y)) - fp
    with np.errstate(invalid="ignore", divide="ignore"):
        return ThresholdMetrics(
            threshold=t,
            sensitivity=tp / (tp + fn),
            specificity=tn / (tn + fp),
            ppv=tp / (tp + fp),
            npv=tn / (tn + fn),
            test_pos_rate=(tp + fp) / w.sum(),
        )


def roc_curve(y, risk, *, weights=None) -> RocCurve:
    """ROC curve: one point per distinct risk (positive when risk >= that value), plus (0, 0)."""
    y, risk, w = check_binary(y, risk, weights, probability=False)
    order = np.argsort(-risk, kind="mergesort")
    r, yy, ww = risk[order], y[order], w[order]
    last = np.r_[r[1:] != r[:-1], True]  # end of each tie group
    tp = np.cumsum(ww * yy)[last]
    fp = np.cumsum(ww * (1 - yy))[last]
    tpr = np.r_[0.0, tp / tp[-1]]
    fpr = np.r_[0.0, fp / fp[-1]]
    return RocCurve(fpr, tpr, np.r_[np.inf, r[last]], float(auc_batch(y, risk, w[None, :])[0]))
