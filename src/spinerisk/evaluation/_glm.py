"""Small, exact GLM fitting (Newton-Raphson / IRLS) used by the calibration metrics.

Two entry points:

* :func:`fit_glm` -- one binomial (logit) or Poisson (log) GLM with offset and prior
  weights; returns coefficients, Wald covariance and log-likelihood. Agrees with R's
  ``glm`` to its convergence tolerance (checked on the kyphosis data).
* :func:`logistic_batch` -- the same logistic model fitted for many weight vectors at
  once (rows of a ``(B, n)`` weight matrix, e.g. bootstrap counts). Used for
  calibration intercept/slope in every bootstrap replicate without a Python loop
  over patients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from spinerisk.evaluation.convergence import FitDiagnostics, glm_infinite_mle, information_condition


@dataclass(frozen=True)
class GLMFit:
    """Coefficients, covariance (inverse observed information), log-likelihood, diagnostics.

    ``diagnostics`` is the convergence contract (:class:`FitDiagnostics`); when its
    ``reason`` is not None the coefficients and covariance must not be reported.
    """

    coef: np.ndarray
    cov: np.ndarray
    loglik: float
    n_iter: int
    converged: bool
    diagnostics: FitDiagnostics

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))


def _binomial_loglik(y, eta, w):
    # log(1 + exp(eta)) computed stably
    return float(np.sum(w * (y * eta - np.logaddexp(0.0, eta))))


def _poisson_loglik(y, eta, w):
    from scipy.special import gammaln

    return float(np.sum(w * (y * eta - np.exp(eta) - gammaln(y + 1.0))))


def fit_glm(
    X: np.ndarray,
    y: np.ndarray,
    *,
    family: str = "binomial",
    offset: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> GLMFit:
    """Fit a canonical-link GLM by Newton-Raphson.

    Parameters
    ----------
    X : (n, p) design matrix (include a column of ones for an intercept).
    y : (n,) response (0/1 for binomial, counts for Poisson).
    family : "binomial" (logit link) or "poisson" (log link).
    offset : (n,) known term added to the linear predictor.
    weights : (n,) prior (frequency) weights.
    tol : convergence tolerance on the relative change in deviance (as R's glm,
        but tighter than R's 1e-8 default).

    Returns
    -------
    GLMFit
        ``diagnostics`` follows the convergence contract
        (:class:`~spinerisk.evaluation.convergence.FitDiagnostics`): separation (binomial) or an
        unbounded likelihood (Poisson) is detected exactly, a singular information matrix gives
        a NaN covariance and ``reason == "ill_conditioned"``; nothing raises on such data.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, p = X.shape
    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    if family == "binomial":
        loglik, mean_fn = _binomial_loglik, expit
    elif family == "poisson":
        loglik, mean_fn = _poisson_loglik, np.exp
    else:
        raise ValueError(f"family={family!r} is not supported; use 'binomial' or 'poisson'")

    beta = np.zeros(p)
    if family == "poisson":
        # start from the intercept-only solution so exp() cannot overflow
        beta_start, *_ = np.linalg.lstsq(X, np.log(y + 0.5) - off, rcond=None)
        beta = beta_start
    ll_old = loglik(y, X @ beta + off, w)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        eta = X @ beta + off
        mu = mean_fn(eta)
        var = mu * (1.0 - mu) if family == "binomial" else mu
        grad = X.T @ (w * (y - mu))
        info = X.T @ (X * (w * var)[:, None])
        if information_condition(info) > 1e15:
            break  # singular (e.g. a constant covariate): report, do not divide
        step = np.linalg.solve(info, grad)
        # step halving keeps Newton monotone on awkward data
        for _ in range(30):
            ll_new = loglik(y, X @ (beta + step) + off, w)
            if ll_new >= ll_old - 1e-12 * abs(ll_old):
                break
            step = step / 2.0
        beta = beta + step
        if abs(ll_new - ll_old) <= tol * (abs(ll_new) + 0.1):
            ll_old = ll_new
            converged = True
            break
        ll_old = ll_new
    eta = X @ beta + off
    mu = mean_fn(eta)
    var = mu * (1.0 - mu) if family == "binomial" else mu
    info = X.T @ (X * (w * var)[:, None])
    condition = information_condition(info)
    cov = np.linalg.inv(info) if np.isfinite(condition) else np.full((p, p), np.nan)
    diag = FitDiagnostics(converged, _infinite_mle(X, y, w, family, converged, mu, condition),
                          condition, it, "separation" if family == "binomial" else "infinite_estimate")
    return GLMFit(beta, cov, ll_old, it, converged, diag)


def _infinite_mle(X, y, w, family, converged, mu, condition) -> bool:
    """Run the exact check only when the fit shows a symptom of an infinite estimate."""
    pos = w > 0
    if family == "binomial":
        boundary = bool(np.any((mu[pos] < 1e-6) | (mu[pos] > 1 - 1e-6)))
    else:
        boundary = bool(np.any(mu[pos] < 1e-6))
    if converged and not boundary and condition < 1e8:
        return False
    return glm_infinite_mle(X, y, w, family)


def logistic_batch(
    x: np.ndarray,
    y: np.ndarray,
    W: np.ndarray,
    *,
    fit_slope: bool,
    start: np.ndarray | None = None,
    tol: float = 1e-5,
    max_iter: int = 50,
) -> np.ndarray:
    """Fit ``logit P(y=1) = a + b*x`` (or ``a + x`` when ``fit_slope`` is False) per row of W.

    Parameters
    ----------
    x : (n,) covariate (for calibration: logit of the predicted risk).
    y : (n,) 0/1 outcome.
    W : (B, n) non-negative weights; row b defines data set b (bootstrap counts).
    fit_slope : estimate the slope b (True) or fix it at 1 with x as offset (False).
    start : (2,) starting values shared by all rows (use the pooled fit).
    tol : a row stops once its Newton step is below ``tol``; Newton converges
        quadratically, so the remaining error is of order ``tol**2`` (about 1e-10 by
        default; the tests compare with statsmodels to 1e-8).

    Returns
    -------
    (B, 2) array of (intercept, slope); the slope column is 1 when ``fit_slope`` is False.
    Rows whose Newton iteration fails (e.g. separation) are NaN.
    """
    W = np.atleast_2d(np.asarray(W, dtype=float))
    B = W.shape[0]
    a = np.full(B, 0.0 if start is None else float(start[0]))
    b = np.full(B, 1.0 if (start is None or not fit_slope) else float(start[1]))
    _newton(x, y, W, a, b, fit_slope, tol, max_iter)
    return np.column_stack([a, b])


def row_products(W: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``W @ M`` with each row of ``W`` summed on its own.

    A BLAS matrix product groups rows, so a row's last bits would depend on how many rows
    share the call; numpy's own einsum loop sums each row alone, so a bootstrap
    replicate's value depends on its own weights only and computing the replicates in
    chunks (bounded memory) gives exactly the numbers of one batch. It also avoids
    OpenBLAS's threads, which crawl on a loaded machine.
    """
    return np.einsum("ij,j...->i...", np.atleast_2d(W), M)


def _newton(x, y, W, a, b, fit_slope, tol, max_iter) -> None:
    """Newton-Raphson for all rows of W at once; updates a, b in place (NaN on failure)."""
    B = W.shape[0]
    active = np.ones(B, dtype=bool)
    wy = row_products(W, y)
    wxy = row_products(W, x * y)
    X2 = np.column_stack([np.ones_like(x), x])  # one BLAS pass gives both score sums
    X3 = np.column_stack([np.ones_like(x), x, x * x])  # and all three information sums
    ex = np.exp(x)  # offset model: mu = e^a e^x / (1 + e^a e^x), no exp inside the loop
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        Wa = W[idx] if idx.size < B else W
        if fit_slope:
            mu = np.multiply.outer(b[idx], x)
            mu += a[idx, None]
            expit(mu, out=mu)
        else:
            mu = np.multiply.outer(np.exp(a[idx]), ex)
            mu /= 1.0 + mu
        wmu = Wa * mu
        mu *= wmu
        np.subtract(wmu, mu, out=mu)  # mu now holds W * mu * (1 - mu)
        if fit_slope:
            s0, s1 = row_products(wmu, X2).T
            h00, h01, h11 = row_products(mu, X3).T
            g0, g1 = wy[idx] - s0, wxy[idx] - s1
            det = h00 * h11 - h01 * h01
            da = (h11 * g0 - h01 * g1) / det
            db = (h00 * g1 - h01 * g0) / det
        else:
            da = (wy[idx] - wmu.sum(axis=1)) / mu.sum(axis=1)
            db = np.zeros_like(da)
        a[idx] += da
        b[idx] += db
        done = (np.abs(da) < tol) & (np.abs(db) < tol)
        bad = ~np.isfinite(da) | ~np.isfinite(db) | (np.abs(a[idx]) > 50) | (np.abs(b[idx]) > 50)
        a[idx[bad]] = np.nan
        b[idx[bad]] = np.nan
        active[idx[done | bad]] = False
    a[active] = np.nan  # did not converge
    b[active] = np.nan
