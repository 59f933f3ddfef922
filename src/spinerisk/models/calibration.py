"""Map a base learner's margin to calibrated risk.

Calibrators are fitted on *out-of-fold* margins (see :class:`RiskModel`), or on other
held-out margins (a bootstrap member's out-of-bag rows, the held-out fold of the boosting
rounds' early stopping), never on rows the base learner that scored them was trained on.

* :class:`PlattCalibrator` -- logistic recalibration: ``risk = expit(a + b * margin)``,
  fitted within each fold's held-out margins and averaged over folds (weighted by rows),
  so that differences between the fold models' offsets are not read as miscalibration.
* :class:`IsotonicCalibrator` -- monotone step function of the margin.
* :class:`IdentityCalibrator` -- ``expit(margin)`` (no recalibration).
* :class:`HorizonCalibrator` -- time-to-event: a one-covariate Cox model on the margin
  (slope, and Breslow baseline hazard) gives ``1 - S0(h) ** exp(b * margin)``; with
  ``fit_slope=False`` the slope is fixed at 1 and only the baseline is estimated.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from spinerisk.models.cox import CoxPH, breslow, cumhaz_at, survival_arrays

CALIBRATIONS = ("platt", "isotonic", "none")
#: Risks are kept inside (EPS, 1 - EPS) so that log loss and logit-based metrics stay finite.
EPS = 1e-6


class PlattCalibrator:
    """Logistic recalibration of a margin (unpenalised intercept and slope)."""

    def fit(self, margin: np.ndarray, y: np.ndarray,
            fold: np.ndarray | None = None) -> PlattCalibrator:
        fold = np.zeros(len(margin), int) if fold is None else np.asarray(fold)
        coefs, weights = [], []
        for k in np.unique(fold):
            rows = fold == k
            model = LogisticRegression(penalty=None, max_iter=1000).fit(margin[rows, None],
                                                                         y[rows])
            coefs.append((model.intercept_[0], model.coef_[0, 0]))
            weights.append(rows.sum())
        self.intercept_, self.slope_ = (float(v) for v in np.average(coefs, axis=0,
                                                                     weights=weights))
        return self

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        return np.clip(expit(self.intercept_ + self.slope_ * margin), EPS, 1 - EPS)


class IsotonicCalibrator:
    """Isotonic (monotone non-decreasing) regression of the outcome on the margin."""

    def fit(self, margin: np.ndarray, y: np.ndarray, fold=None) -> IsotonicCalibrator:
        self.model_ = IsotonicRegression(out_of_bounds="clip", y_min=EPS, y_max=1 - EPS)
        self.model_.fit(margin, y)
        return self

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        return self.model_.predict(margin)


class IdentityCalibrator:
    """No recalibration: the learner's own probability ``expit(margin)``."""

    def fit(self, margin: np.ndarray, y: np.ndarray, fold=None) -> IdentityCalibrator:
        return self

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        return np.clip(expit(margin), EPS, 1 - EPS)


class HorizonCalibrator:
    """Risk by a horizon from a log-relative-hazard margin (Cox on the margin + Breslow).

    Parameters
    ----------
    horizon : float
        Prediction horizon (same unit as the outcome times).
    fit_slope : bool
        Estimate the slope on the margin (recalibration) or fix it at 1.
    """

    def __init__(self, horizon: float, fit_slope: bool = True):
        self.horizon = horizon
        self.fit_slope = fit_slope

    def fit(self, margin: np.ndarray, y, fold=None) -> HorizonCalibrator:
        time, event = survival_arrays(y)
        self.slope_ = 1.0
        if self.fit_slope:
            self.slope_ = float(CoxPH(alpha=0.0).fit(margin[:, None], y).coef_[0])
        offset = self.slope_ * margin
        self.centre_ = float(offset.mean())
        times, cumhaz = breslow(time, event, offset - self.centre_)
        self.cumhaz_ = cumhaz_at(times, cumhaz, self.horizon)
        return self

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        hazard = self.cumhaz_ * np.exp(self.slope_ * margin - self.centre_)
        return np.clip(1.0 - np.exp(-hazard), EPS, 1 - EPS)


def make_calibrator(method: str, horizon: float | None):
    """The calibrator for a task: binary (Platt, isotonic, none) or at a horizon."""
    if method not in CALIBRATIONS:
        raise ValueError(f"calibration={method!r} not allowed; use one of {CALIBRATIONS}")
    if horizon is not None:
        if method == "isotonic":
            raise ValueError("calibration='isotonic' needs a binary outcome; for a time-to-event "
                             "task use 'platt' (Cox recalibration of the margin) or 'none'")
        return HorizonCalibrator(horizon, fit_slope=method == "platt")
    return {"platt": PlattCalibrator, "isotonic": IsotonicCalibrator,
            "none": IdentityCalibrator}[method]()
