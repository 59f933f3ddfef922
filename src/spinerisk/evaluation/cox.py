"""A small, exact Cox proportional-hazards fit (Efron or Breslow ties) and baseline hazard.

Used for survival calibration (slope on the linear predictor, the secondary model of the
flexible calibration curve) and for golden tests against R ``survival::coxph``. It is a
function returning a result object, not a modelling estimator (those live in
``spinerisk.models``).

Baseline cumulative hazard at covariates 0 (R ``basehaz(fit, centered = FALSE)``):

* ``"efron"`` (R's default for ``coxph(ties = "efron")``; ``survfit.coxph`` ``ctype = 2``):
  at a time with d tied events, ``dH = sum_{l=0}^{d-1} 1 / (S0 - l/d * D0)``;
* ``"breslow"``: ``dH = d / S0``;

where S0 sums ``exp(x'beta)`` over the risk set and D0 over the tied events.

Uncertainty of a predicted cumulative hazard ``H(t | x) = H0(t) exp(x'beta)``
(:meth:`CoxFit.log_cumhaz_se`) is Tsiatis' (1981) variance, as R ``survfit.coxph``:
``var log H(t|x) = A(t) / H0(t)^2 + (x - xbar(t))' V (x - xbar(t))`` with
``A(t) = sum dH_k^2`` and ``xbar(t) = sum dH_k xbar_k / H0(t)`` (the hazard-weighted mean
covariate of the risk sets). It is centred by construction: the baseline hazard and beta
are correlated, and the variance of ``x'beta`` alone (uncentred) overstates it many-fold
for covariates far from 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spinerisk.evaluation._km import step_value
from spinerisk.evaluation._validate import as_1d, check_times
from spinerisk.evaluation.convergence import FitDiagnostics, cox_monotone, information_condition

__all__ = ["CoxFit", "fit_cox"]


@dataclass(frozen=True)
class CoxFit:
    """Fitted Cox model: coefficients, covariance, log partial likelihoods, baseline hazards."""

    coef: np.ndarray
    cov: np.ndarray
    loglik: float
    loglik_null: float
    ties: str
    event_times: np.ndarray
    cumhaz_efron: np.ndarray
    cumhaz_breslow: np.ndarray
    n_iter: int
    diagnostics: FitDiagnostics
    variance_terms: dict[str, tuple[np.ndarray, np.ndarray]]

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    @property
    def lr_chi2(self) -> float:
        """Likelihood-ratio chi-square against the null model."""
        return 2.0 * (self.loglik - self.loglik_null)

    def cumulative_hazard(self, t, *, baseline: str = "efron") -> np.ndarray:
        """Baseline cumulative hazard H0(t) (covariates at 0)."""
        H = {"efron": self.cumhaz_efron, "breslow": self.cumhaz_breslow}.get(baseline)
        if H is None:
            raise ValueError(f"baseline={baseline!r}; use 'efron' or 'breslow'")
        return step_value(self.event_times, H, t, start=0.0)

    def baseline_survival(self, t, *, baseline: str = "efron") -> np.ndarray:
        """S0(t) = exp(-H0(t)) at covariates 0."""
        return np.exp(-self.cumulative_hazard(t, baseline=baseline))

    def log_cumhaz_se(self, X, t, *, baseline: str = "efron") -> np.ndarray:
        """Standard error of log H(t | x) for each row of X (Tsiatis; see module docstring)."""
        X = np.atleast_2d(np.asarray(X, float))
        H0 = self.cumulative_hazard(t, baseline=baseline)
        A_k, Q_k = self.variance_terms[baseline]
        k = np.searchsorted(self.event_times, t, side="right")
        if k == 0:
            return np.full(X.shape[0], np.nan)  # no hazard accrued yet: log H undefined
        A, Q = A_k[k - 1], Q_k[k - 1]
        d = X - Q / H0
        return np.sqrt(A / H0**2 + np.einsum("ij,jk,ik->i", d, self.cov, d))

    def linear_predictor(self, X) -> np.ndarray:
        """x'beta (uncentred)."""
        return np.asarray(X, float) @ self.coef

    def predict_risk(self, X, t, *, baseline: str = "efron") -> np.ndarray:
        """Risk of the event by time t: 1 - S0(t)^exp(x'beta)."""
        s0 = self.baseline_survival(t, baseline=baseline)
        return 1.0 - s0 ** np.exp(self.linear_predictor(X))


class _RiskSets:
    """Sorted data and group indices so each Newton step is a few vector operations."""

    def __init__(self, X, time, event):
        order = np.argsort(time, kind="mergesort")
        self.X = X[order]
        self.time = time[order]
        self.event = event[order]
        self.utimes, first = np.unique(self.time, return_index=True)
        self.first = first  # risk set of utimes[k] = rows first[k]:
        dead = self.event == 1
        # group id (index into utimes) of each event row
        self.dead_idx = np.flatnonzero(dead)
        self.dead_group = np.searchsorted(self.utimes, self.time[dead])
        self.d = np.bincount(self.dead_group, minlength=self.utimes.size)
        # Efron fraction l/d for the l-th of the d tied events
        rank_in_group = np.arange(self.dead_idx.size) - np.searchsorted(self.dead_group, self.dead_group)
        self.frac = rank_in_group / self.d[self.dead_group]

    def sums(self, beta):
        """Risk-set and tied-event sums of r, r*x, r*xx' (r = exp(x'beta)) per event."""
        X = self.X
        eta = X @ beta
        r = np.exp(eta - eta.max())  # common scale factor cancels in every ratio
        rx = r[:, None] * X
        rxx = rx[:, :, None] * X[:, None, :]

        def rev_cumsum(a):
            return np.cumsum(a[::-1], axis=0)[::-1]

        S0 = rev_cumsum(r)[self.first]
        S1 = rev_cumsum(rx)[self.first]
        S2 = rev_cumsum(rxx)[self.first]
        g = self.dead_group
        D0 = np.bincount(g, weights=r[self.dead_idx], minlength=self.utimes.size)
        D1 = np.stack([np.bincount(g, weights=rx[self.dead_idx, j], minlength=self.utimes.size) for j in range(X.shape[1])], axis=1) if X.shape[1] else np.zeros((self.utimes.size, 0))
        D2 = np.zeros_like(S2)
        np.add.at(D2, g, rxx[self.dead_idx])
        return eta, eta.max(), S0, S1, S2, D0, D1, D2


def _efron_terms(rs: _RiskSets, beta, ties):
    eta, shift, S0, S1, S2, D0, D1, D2 = rs.sums(beta)
    g, f = rs.dead_group, rs.frac
    if ties == "breslow":
        f = np.zeros_like(f)
    den = S0[g] - f * D0[g]
    num1 = S1[g] - f[:, None] * D1[g]
    num2 = S2[g] - f[:, None, None] * D2[g]
    a = num1 / den[:, None]
    loglik = float(np.sum(eta[rs.dead_idx]) - np.sum(np.log(den) + shift))
    grad = rs.X[rs.dead_idx].sum(axis=0) - a.sum(axis=0)
    hess = -(num2 / den[:, None, None] - a[:, :, None] * a[:, None, :]).sum(axis=0)
    return loglik, grad, hess, (S0, D0, shift)


def fit_cox(X, time, event, *, ties: str = "efron", tol: float = 1e-12, max_iter: int = 50) -> CoxFit:
    """Fit a Cox model by Newton-Raphson on the Efron (default) or Breslow partial likelihood.

    Parameters
    ----------
    X : (n, p) covariates (no intercept column).
    time : (n,) follow-up times.
    event : (n,) 0/1 event indicators.
    ties : "efron" (R coxph default) or "breslow".

    Returns
    -------
    CoxFit
        Both the Efron-type and the Breslow baseline cumulative hazards are stored
        (``cumulative_hazard(t, baseline=...)``); R ``basehaz(coxph(..., ties="efron"))``
        corresponds to ``baseline="efron"``. ``diagnostics`` is the convergence contract
        (monotone likelihood, convergence, condition of the information matrix).
    """
    X = np.asarray(X, float)
    if X.ndim == 1:
        X = X[:, None]
    time = check_times(time)
    event = as_1d(event, "event")
    if ((event != 0) & (event != 1)).any():
        raise ValueError("event must be coded 0/1 (1 = event); recode it.")
    if event.sum() == 0:
        raise ValueError("no events in the data: a Cox model needs at least one event.")
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties={ties!r}; use 'efron' or 'breslow'")
    rs = _RiskSets(X, time, event)
    beta = np.zeros(X.shape[1])
    ll0, grad, hess, _ = _efron_terms(rs, beta, ties)
    ll = ll0
    it = 0
    converged = False
    for it in range(1, max_iter + 1):
        if information_condition(-hess) > 1e15:
            break  # singular information (e.g. a constant covariate): report, do not divide
        step = np.linalg.solve(-hess, grad)
        for _ in range(30):
            ll_new, g_new, h_new, _ = _efron_terms(rs, beta + step, ties)
            if ll_new >= ll - 1e-12 * abs(ll):
                break
            step = step / 2
        beta = beta + step
        small = abs(ll_new - ll) < tol * (abs(ll_new) + 1)
        ll, grad, hess = ll_new, g_new, h_new
        if small and np.max(np.abs(step)) < 1e-9:
            converged = True
            break
    _, _, hess, _ = _efron_terms(rs, beta, ties)
    condition = information_condition(-hess)
    p = X.shape[1]
    cov = np.linalg.inv(-hess) if np.isfinite(condition) else np.full((p, p), np.nan)
    monotone = cox_monotone(X, time, event, beta) if (X.shape[1] == 1 or not converged or condition > 1e8) else False
    diag = FitDiagnostics(converged, monotone, condition, it, "monotone_likelihood")
    hazards = _baseline_increments(rs, beta, ties)
    has_event = rs.d > 0
    return CoxFit(
        coef=beta,
        cov=cov,
        loglik=ll,
        loglik_null=ll0,
        ties=ties,
        event_times=rs.utimes[has_event],
        cumhaz_efron=np.cumsum(hazards["efron"][0][has_event]),
        cumhaz_breslow=np.cumsum(hazards["breslow"][0][has_event]),
        n_iter=it,
        diagnostics=diag,
        variance_terms={k: (np.cumsum(a[has_event]), np.cumsum(q[has_event], axis=0))
                        for k, (_, a, q) in hazards.items()},
    )


def _baseline_increments(rs: _RiskSets, beta, ties):
    """Per distinct time: hazard increment dH, sum of dH^2 and sum of dH * xbar (Tsiatis).

    Efron: each of the d tied events adds ``1 / (S0 - l/d D0)`` with risk-set mean
    ``(S1 - l/d D1) / (S0 - l/d D0)``; Breslow: ``d / S0`` with mean ``S1 / S0``. The
    overflow guard's common factor exp(shift) cancels in every ratio and is undone in dH.
    """
    _, shift, S0, S1, _, D0, D1, _ = rs.sums(beta)
    scale = np.exp(shift)
    g, f = rs.dead_group, rs.frac
    K = rs.utimes.size
    out = {}
    for name, frac in (("efron", f), ("breslow", np.zeros_like(f))):
        den = (S0[g] - frac * D0[g]) * scale
        xbar = (S1[g] - frac[:, None] * D1[g]) * scale / den[:, None]
        dH = 1.0 / den
        out[name] = (np.bincount(g, weights=dH, minlength=K),
                     np.bincount(g, weights=dH**2, minlength=K),
                     np.stack([np.bincount(g, weights=dH * xbar[:, j], minlength=K) for j in range(xbar.shape[1])],
                              axis=1))
    return out
