"""Updating a model at a new site, chosen by a closed testing procedure.

Four nested models, all on the scale of the original linear predictor ``x``
(binary: ``x = logit(risk)``; time-to-event: ``x = log(-log(1 - risk_h))``, the log
cumulative hazard at the horizon ``h``):

* ``original``: ``eta = x`` (nothing estimated);
* ``intercept``: ``eta = a + x`` (recalibration-in-the-large; for time-to-event a
  re-estimated baseline hazard);
* ``recalibration``: ``eta = a + b x`` (logistic recalibration; for time-to-event the
  baseline hazard and the slope on the linear predictor);
* ``revision``: ``eta = a + b x + g'z`` with ``z`` the site's predictors
  (:class:`~spinerisk.validation.task.PredictorEncoder`): every predictor's effect may
  differ at the site.

Binary outcomes use logistic regression. Time-to-event outcomes use a Poisson model of
the event by ``h`` with ``log mu_i = eta_i + log s_i``, where ``s_i = H0(min(T_i, h)) /
H0(h)`` is the share of the horizon's baseline hazard patient ``i`` was at risk for
(Breslow estimate on the site's data; Crowson et al. 2016); at the horizon ``s = 1`` and
the updated risk is ``1 - exp(-exp(eta))``.

Closed testing, exactly as published (Vergouwe et al., Stat Med 2017; the ``ClosedTest``
function of the paper's appendix): the revised model, the largest, is tested by a
likelihood ratio against

1. the original model (the overall test, ``k`` df): not rejected -> keep the original;
2. the intercept-updated model (``k - 1`` df): not rejected -> update the intercept;
3. the recalibrated model (``k - 2`` df): not rejected -> recalibrate;

and the revision is chosen only when all three are rejected. Each test is at ``alpha``;
a test is only reached when every test before it rejected, which is what keeps the
family-wise error at ``alpha``. The choice is the procedure's: no other criterion
overrides it (the cross-validated comparison is reported beside it, for information).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import chi2
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from spinerisk.evaluation import fit_cox, fit_glm
from spinerisk.features.profile import risk_to_lp
from spinerisk.validation.task import PredictorEncoder, TaskSpec

METHODS = ("original", "intercept", "recalibration", "revision")
#: what each update re-estimates, per model family (never "logistic" for a Cox model)
_LABELS = {
    False: {"original": "original model (no update)",
            "intercept": "intercept update (recalibration-in-the-large: baseline risk re-estimated)",
            "recalibration": "logistic recalibration (intercept and calibration slope re-estimated)",
            "revision": "model revision (every predictor's effect re-estimated)"},
    True: {"original": "original model (no update)",
           "intercept": "baseline hazard update (recalibration-in-the-large: baseline hazard "
                        "re-estimated, hazard ratios kept)",
           "recalibration": "baseline hazard and hazard-ratio update (baseline hazard and one "
                            "slope on the linear predictor re-estimated)",
           "revision": "model revision (every predictor's hazard ratio re-estimated)"},
}


def method_label(method: str, survival: bool) -> str:
    """The name of an updating method in a report, in the words of the model family.

    Raises
    ------
    ValueError
        For an unknown method.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}; allowed {METHODS}")
    return _LABELS[bool(survival)][method]


# ----------------------------------------------------------------------------- scales
def lp_to_risk(eta: np.ndarray, survival: bool) -> np.ndarray:
    """Inverse of :func:`risk_to_lp`.

    ``eta`` is limited to [-30, 30] (binary) or [-30, 3.5] (time-to-event) so a risk is
    never exactly 0 or 1 in floating point (an overfitted revision can push it there,
    and a logit of 1 is infinite); the limits change risks by less than 1e-13.
    """
    if survival:
        return -np.expm1(-np.exp(np.clip(eta, -30.0, 3.5)))
    return expit(np.clip(eta, -30.0, 30.0))


# ----------------------------------------------------------------------------- data
@dataclass(frozen=True)
class UpdateData:
    """What every update fit needs, already on the model's scale.

    ``y`` is the outcome (binary) or the event by the horizon (time-to-event);
    ``log_share`` the Poisson offset ``log s_i`` (zeros for binary); ``z`` the revision
    design. Rows with no time at risk before the first event (``s_i = 0``) carry no
    information for the Poisson model and are left out of the fits.
    """

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    log_share: np.ndarray
    survival: bool
    rows: np.ndarray  # positions of these rows in the arrays given to update_data

    def subset(self, rows: np.ndarray) -> UpdateData:
        return UpdateData(self.x[rows], self.y[rows], self.z[rows], self.log_share[rows],
                          self.survival, self.rows[rows])


def update_data(risk, outcome, z, *, time=None, horizon: float | None = None) -> UpdateData:
    """Assemble :class:`UpdateData` from predicted risks, outcomes and the revision design.

    Parameters
    ----------
    risk : predicted risk (by ``horizon`` for time-to-event).
    outcome : 0/1 outcome, or the event indicator when ``time`` is given.
    z : (n, k) revision design (may have k = 0).
    time, horizon : follow-up time and horizon of a time-to-event task.
    """
    x = risk_to_lp(risk, time is not None)
    y = np.asarray(outcome, float)
    z = np.asarray(z, float).reshape(len(x), -1)
    if time is None:
        return UpdateData(x, y, z, np.zeros_like(x), False, np.arange(x.size))
    t = np.asarray(time, float)
    event_h = (y == 1) & (t <= horizon)
    t_h = np.minimum(t, horizon)
    cox = fit_cox(x[:, None], t_h, event_h.astype(float), ties="breslow")
    h0 = cox.cumulative_hazard(t_h, baseline="breslow")
    h0_end = float(cox.cumulative_hazard(horizon, baseline="breslow"))
    share = h0 / h0_end
    keep = share > 0
    return UpdateData(x[keep], event_h[keep].astype(float), z[keep], np.log(share[keep]), True,
                      np.flatnonzero(keep))


# ----------------------------------------------------------------------------- fits
@dataclass(frozen=True)
class UpdateFit:
    """One fitted update: coefficients ``(a, b, g...)`` as used by :meth:`linear_predictor`."""

    method: str
    coef: np.ndarray
    se: np.ndarray
    loglik: float
    n_params: int
    converged: bool
    survival: bool

    def linear_predictor(self, x: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
        """Updated linear predictor at the horizon (no follow-up offset)."""
        if self.method == "original":
            return np.asarray(x, float)
        if self.method == "intercept":
            return self.coef[0] + x
        eta = self.coef[0] + self.coef[1] * x
        if self.method == "revision" and self.coef.size > 2:
            eta = eta + np.asarray(z, float) @ self.coef[2:]
        return eta

    def predict_risk(self, x: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
        return lp_to_risk(self.linear_predictor(x, z), self.survival)

    def to_dict(self, names: list[str] | None = None) -> dict[str, Any]:
        labels = ["intercept", "slope", *(names or [])][: self.coef.size]
        if self.method == "intercept":
            labels = ["intercept"]
        return {"method": self.method, "n_params": self.n_params, "loglik": self.loglik,
                "converged": self.converged,
                "coefficients": {k: {"estimate": float(c), "se": float(s)}
                                 for k, c, s in zip(labels, self.coef, self.se)}}


def _loglik(data: UpdateData, eta: np.ndarray) -> float:
    if data.survival:  # Poisson log-likelihood of 0/1 counts (log y! = 0)
        mu_log = eta + data.log_share
        return float(np.sum(data.y * mu_log - np.exp(mu_log)))
    return float(np.sum(data.y * eta - np.logaddexp(0.0, eta)))


def fit_update(data: UpdateData, method: str) -> UpdateFit:
    """Fit one updating method by maximum likelihood.

    Raises
    ------
    ValueError
        For an unknown method.
    """
    family = "poisson" if data.survival else "binomial"
    ones = np.ones((data.x.size, 1))
    if method == "original":
        return UpdateFit(method, np.zeros(0), np.zeros(0), _loglik(data, data.x), 0, True,
                         data.survival)
    if method == "intercept":
        X, offset = ones, data.x + data.log_share
    elif method == "recalibration":
        X, offset = np.column_stack([ones, data.x]), data.log_share
    elif method == "revision":
        X, offset = np.column_stack([ones, data.x, data.z]), data.log_share
    else:
        raise ValueError(f"method={method!r}; allowed {METHODS}")
    columns = (_independent_columns(X, data.y) if method == "revision"
               else np.arange(X.shape[1]))
    fit = fit_glm(X[:, columns], data.y, family=family, offset=offset)
    coef, se = np.zeros(X.shape[1]), np.full(X.shape[1], np.nan)
    coef[columns], se[columns] = fit.coef, fit.se
    return UpdateFit(method, coef, se, float(fit.loglik), len(columns), bool(fit.converged),
                     data.survival)


def _independent_columns(X: np.ndarray, y: np.ndarray, min_events: int = 5,
                         tol: float = 1e-7) -> np.ndarray:
    """Columns of a revision design that can be estimated at this site.

    The intercept and ``x`` are always kept. A revision design can be rank-deficient at
    a site (a level nobody has, a predictor missing for everyone in a fold) or an
    indicator can separate the outcome (no events among its rows); such columns are
    left out, i.e. keep the original model's effect (coefficient 0, as R reports NA).
    """
    from scipy.linalg import qr

    base = X[:, :2]
    z = X[:, 2:]
    if z.shape[1] == 0:
        return np.arange(2)
    indicator = np.all((z == 0) | (z == 1), axis=0)
    on_events, on_rows = y @ z, z.sum(axis=0)
    enough = ~indicator | ((on_events >= min_events) & (on_rows - on_events >= min_events)
                           & (y.sum() - on_events >= min_events))
    candidates = np.flatnonzero(enough)
    # residualise on (1, x) so aliasing with the intercept or x is caught too
    coef, *_ = np.linalg.lstsq(base, z[:, candidates], rcond=None)
    resid = z[:, candidates] - base @ coef
    norms = np.linalg.norm(z[:, candidates], axis=0)
    resid = resid / np.where(norms > 0, norms, 1.0)
    _, r, piv = qr(resid, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    rank = int(np.sum(diag > tol * max(1.0, diag[0]))) if diag.size else 0
    return np.concatenate([[0, 1], 2 + np.sort(candidates[piv[:rank]])])


# ----------------------------------------------------------------------------- closed test
@dataclass(frozen=True)
class LRTest:
    """Likelihood-ratio test of a simpler model against the revised model."""

    simpler: str
    statistic: float
    df: int
    p_value: float
    rejected: bool

    def to_dict(self) -> dict[str, Any]:
        return {"simpler": self.simpler, "against": "revision", "statistic": self.statistic,
                "df": self.df, "p_value": self.p_value, "rejected": self.rejected}


def closed_test(fits: dict[str, UpdateFit], alpha: float = 0.05) -> tuple[str, list[LRTest]]:
    """Vergouwe's closed testing procedure: the first simpler model the revision does not beat.

    The simpler models are tested against the revision in the published order (original,
    intercept update, recalibration); the procedure stops at the first test that is not
    rejected and chooses that model, or the revision when all three are rejected.

    Returns
    -------
    (chosen method, the tests performed in order)
    """
    revised = fits["revision"]
    tests = []
    for method in METHODS[:-1]:
        simpler = fits[method]
        stat = max(0.0, 2.0 * (revised.loglik - simpler.loglik))
        df = revised.n_params - simpler.n_params
        p = float(chi2.sf(stat, df)) if df > 0 else 1.0
        tests.append(LRTest(method, stat, df, p, p < alpha))
        if p >= alpha:
            return method, tests
    return "revision", tests


# ----------------------------------------------------------------------------- honest evaluation
def cross_validated_risks(data: UpdateData, *, n_splits: int = 5, n_repeats: int = 2,
                          seed: int = 0) -> dict[str, np.ndarray]:
    """Out-of-fold risks of every method: fitted on k-1 folds, predicted on the k-th.

    Folds are stratified by outcome and repeated ``n_repeats`` times; the returned
    arrays hold ``n_repeats`` rows of out-of-fold risks per method.
    """
    from sklearn.model_selection import RepeatedStratifiedKFold

    n = data.x.size
    out = {m: np.empty((n_repeats, n)) for m in METHODS}
    folds = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    for i, (train, test) in enumerate(folds.split(np.zeros(n), data.y)):
        r = i // n_splits
        part = data.subset(train)
        for method in METHODS:
            fit = fit_update(part, method)
            out[method][r, test] = fit.predict_risk(data.x[test], data.z[test])
    return out


def cv_loglik(data: UpdateData, risks: np.ndarray) -> float:
    """Mean out-of-fold log-likelihood per patient (over repeats) of one method's risks."""
    eta = risk_to_lp(risks, data.survival)
    return float(np.mean([_loglik(data, e) for e in np.atleast_2d(eta)]) / data.x.size)


@dataclass(frozen=True)
class UpdatingResult:
    """Fits, the closed test and its choice, and a cross-validated comparison (information)."""

    fits: dict[str, UpdateFit]
    tests: list[LRTest]
    recommended: str
    reason: str
    alpha: float
    cv: dict[str, dict[str, Any]]
    survival: bool
    design_names: list[str] = field(default_factory=list)

    def label(self, method: str | None = None) -> str:
        """Report name of ``method`` (default: the chosen one) for this model family."""
        return method_label(method or self.recommended, self.survival)

    def to_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "recommended": self.recommended,
                "recommended_label": self.label(), "reason": self.reason,
                "model_family": "time-to-event (Cox)" if self.survival else "binary (logistic)",
                "labels": {m: self.label(m) for m in METHODS},
                "tests": [t.to_dict() for t in self.tests],
                "fits": {m: f.to_dict(self.design_names) for m, f in self.fits.items()},
                "cross_validated": self.cv}


def update_model(data: UpdateData, *, alpha: float = 0.05, cv_metrics=None, seed: int = 0,
                 design_names: list[str] | None = None) -> UpdatingResult:
    """Fit the four methods, run the closed test and evaluate each by cross-validation.

    Parameters
    ----------
    data : UpdateData
    alpha : level of each likelihood-ratio test (family-wise, by closed testing).
    cv_metrics : callable(rows, risks) -> dict of floats, the performance of out-of-fold
        ``risks`` of the rows ``data.rows`` (e.g. C, calibration slope), averaged over
        the repeats.
    seed : seed of the cross-validation folds.
    design_names : names of the revision design's columns (for the coefficient table).

    Notes
    -----
    The recommendation is the closed test's choice. The cross-validated comparison is
    reported beside it so a reader can see how much a revision's extra parameters
    generalise within the site, but it does not change the choice.
    """
    fits = {m: fit_update(data, m) for m in METHODS}
    choice, tests = closed_test(fits, alpha)
    oof = cross_validated_risks(data, seed=seed)
    cv = {}
    for method, risks in oof.items():
        entry = {"loglik_per_patient": cv_loglik(data, risks)}
        if cv_metrics is not None:
            per_repeat = [cv_metrics(data.rows, r) for r in risks]
            entry.update({k: float(np.mean([p[k] for p in per_repeat])) for k in per_repeat[0]})
        cv[method] = entry
    return UpdatingResult(fits, tests, choice, _reason(choice, tests, alpha, data.survival),
                          alpha, cv, data.survival, list(design_names or []))


def _reason(choice: str, tests: list[LRTest], alpha: float, survival: bool) -> str:
    parts = [f"revision vs {t.simpler}: LR {t.statistic:.1f} on {t.df} df, p={t.p_value:.3g}"
             f" ({'rejected' if t.rejected else 'not rejected'})" for t in tests]
    return (f"Closed testing at alpha={alpha} (Vergouwe et al. 2017): " + "; ".join(parts)
            + f". Chosen: {method_label(choice, survival)}.")


# ----------------------------------------------------------------------------- a registrable model
class SiteUpdatedModel(BaseEstimator):
    """A registered model updated at one site (estimator contract; wraps the original).

    Parameters
    ----------
    base_model : object with ``predict_risk(X)`` (a fitted RiskModel).
    spec : TaskSpec of the task.
    method : ``intercept``, ``recalibration`` or ``revision``.
    site : site name (for the registry alias ``site-<NAME>``).

    Only aggregates are stored: the update's coefficients and, for a revision, the
    encoder's means, SDs and level names.
    """

    def __init__(self, base_model=None, spec: TaskSpec | None = None,
                 method: str = "recalibration", site: str = ""):
        self.base_model = base_model
        self.spec = spec
        self.method = method
        self.site = site

    def fit(self, X: pd.DataFrame, y) -> SiteUpdatedModel:
        """Fit the update on the site's rows.

        ``y``: 0/1 array (binary) or a DataFrame with ``time`` and ``event`` columns.
        """
        if self.method not in METHODS[1:]:
            raise ValueError(f"method={self.method!r}; allowed {METHODS[1:]}")
        if self.spec is None or self.base_model is None:
            raise ValueError("base_model and spec are required to fit a site update.")
        self.encoder_ = PredictorEncoder(self.spec).fit(X)
        risk = self.base_model.predict_risk(X)
        if self.spec.survival:
            y = pd.DataFrame(y)
            data = update_data(risk, y["event"].to_numpy(float), self.encoder_.transform(X),
                               time=y["time"].to_numpy(float), horizon=self.spec.horizon)
        else:
            data = update_data(risk, np.asarray(y, float), self.encoder_.transform(X))
        self.update_ = fit_update(data, self.method)
        self.horizon_ = self.spec.horizon
        return self

    @property
    def task_(self):
        """The base model's task (its inputs are this model's inputs)."""
        check_is_fitted(self, "update_")
        return self.base_model.task_

    def predict_risk(self, X: pd.DataFrame) -> np.ndarray:
        """Updated risk (by the horizon for time-to-event)."""
        check_is_fitted(self, "update_")
        x = risk_to_lp(self.base_model.predict_risk(X), self.spec.survival)
        z = self.encoder_.transform(X) if self.method == "revision" else None
        return self.update_.predict_risk(x, z)
