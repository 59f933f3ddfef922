"""A ridge-penalised Cox proportional-hazards model (Breslow ties and baseline hazard).

The fitted model keeps no individual event time: its baseline hazard is stored on steps
that each pool at least :data:`MIN_EVENTS_PER_STEP` events (the small-cell rule of every
other aggregate the project stores), placed at the mean event time of the pool.

Newton-Raphson on the penalised partial log-likelihood. The Hessian is assembled in
O(n p^2) without per-row outer products: for Breslow ties
``sum_i d_i S2(t_i)/S0(t_i) = X' diag(w_j A_j) X`` with ``A_j`` the cumulative sum of
``d_i / S0(t_i)`` over event times up to ``t_j``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_array, check_is_fitted


def survival_arrays(y) -> tuple[np.ndarray, np.ndarray]:
    """Split a survival outcome into (time, event) float arrays.

    Accepts a DataFrame or structured array with fields ``time`` and ``event``, or an
    array of shape (n, 2) whose columns are time and event.
    """
    if hasattr(y, "columns") or (isinstance(y, np.ndarray) and y.dtype.names):
        names = list(y.columns) if hasattr(y, "columns") else list(y.dtype.names)
        if not {"time", "event"} <= set(names):
            raise ValueError(f"survival outcome needs fields 'time' and 'event'; got {names}")
        time, event = np.asarray(y["time"], float), np.asarray(y["event"], float)
    else:
        array = np.asarray(y, dtype=float)
        if array.ndim != 2 or array.shape[1] != 2:
            raise ValueError("survival outcome must have columns time and event (got shape "
                             f"{array.shape}); pass a DataFrame with columns time, event")
        time, event = array[:, 0], array[:, 1]
    if np.isnan(time).any() or np.isnan(event).any():
        raise ValueError(f"survival outcome has {int(np.isnan(time).sum())} missing times and "
                         f"{int(np.isnan(event).sum())} missing events; exclude those rows "
                         "first (the training runner does so and logs the count)")
    if (time <= 0).any():
        raise ValueError(f"survival times must be > 0; {int((time <= 0).sum())} are not")
    if not np.isin(event, (0, 1)).all():
        raise ValueError("survival event indicator must be 0 (censored) or 1 (event)")
    return time, event


def breslow(time: np.ndarray, event: np.ndarray, lp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Breslow cumulative baseline hazard for a fixed linear predictor.

    Returns
    -------
    times, cumhaz : ndarray
        Distinct event times and the cumulative baseline hazard (at ``lp = 0``) there.
    """
    rs = _RiskSets(time, event)
    shift = float(lp.max())
    s0 = rs.risk_sums(np.exp(lp[rs.order] - shift))
    is_event = rs.event == 1
    times, inverse = np.unique(rs.time[is_event], return_inverse=True)
    increments = np.zeros(len(times))
    np.add.at(increments, inverse, np.exp(-shift) / s0[is_event])
    return times, np.cumsum(increments)


#: Fewest events pooled in one stored step of a fitted baseline hazard (small cells < 10).
MIN_EVENTS_PER_STEP = 10


def pooled_steps(times: np.ndarray, cumhaz: np.ndarray, events: np.ndarray,
                 min_events: int = MIN_EVENTS_PER_STEP,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coarsen a cumulative-hazard step function so that every step pools ``min_events``.

    Consecutive distinct event times are grouped until a group holds ``min_events``
    events (a short last group joins the one before; with fewer events in all there is
    one group). Each group becomes one step, placed at its mean event time (weighted by
    the events at each time), whose value is the cumulative hazard at the group's last
    event time: the function is exact at the end of every group and no stored time or
    increment belongs to fewer than ``min_events`` patients.

    Parameters
    ----------
    times, cumhaz : ndarray
        Distinct event times (increasing) and the cumulative hazard there (:func:`breslow`).
    events : ndarray
        Number of events at each of those times.
    min_events : int

    Returns
    -------
    times, cumhaz, events : ndarray
        One entry per pooled step.
    """
    ends, pooled = [], 0
    for i, count in enumerate(events):
        pooled += count
        if pooled >= min_events:
            ends.append(i)
            pooled = 0
    if not ends:
        ends = [len(times) - 1]
    elif ends[-1] != len(times) - 1:
        ends[-1] = len(times) - 1  # the short tail joins the last full group
    starts = np.r_[0, np.asarray(ends[:-1], dtype=int) + 1]
    ends = np.asarray(ends)
    weighted = np.add.reduceat(times * events, starts)
    counts = np.add.reduceat(events, starts)
    return weighted / counts, cumhaz[ends], counts


def cumhaz_at(times: np.ndarray, cumhaz: np.ndarray, horizon: float) -> float:
    """A right-continuous step function's value at ``horizon`` (0 before the first time)."""
    i = np.searchsorted(times, horizon, side="right")
    return float(cumhaz[i - 1]) if i > 0 else 0.0


def partial_log_likelihood(time: np.ndarray, event: np.ndarray, lp: np.ndarray) -> float:
    """Breslow log partial likelihood of a fixed linear predictor, per event.

    On held-out rows (risk sets within those rows) it is a proper score for a Cox-type
    margin: higher is better.
    """
    if event.sum() == 0:
        raise ValueError("no events: the partial likelihood is undefined")
    rs = _RiskSets(time, event)
    eta = lp[rs.order]
    shift = float(eta.max())
    s0 = rs.risk_sums(np.exp(eta - shift))
    return float(np.sum(rs.event * (eta - shift - np.log(s0))) / rs.event.sum())


class _RiskSets:
    """Sorted times and tie groups, shared across Newton iterations."""

    def __init__(self, time: np.ndarray, event: np.ndarray):
        self.order = np.argsort(-time, kind="stable")  # descending: cumsum = risk-set sums
        t = time[self.order]
        # last index (in descending order) of each tie group: the whole tied risk set
        boundary = np.r_[t[1:] != t[:-1], True]
        self.group_end = np.minimum.accumulate(
            np.where(boundary, np.arange(len(t)), len(t))[::-1])[::-1]
        self.event = event[self.order]
        self.time = t

    def risk_sums(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` (sorted order) over each row's risk set (ties included)."""
        return np.cumsum(values, axis=0)[self.group_end]


def _partial_likelihood(X: np.ndarray, rs: _RiskSets, beta: np.ndarray, alpha: float):
    """Penalised log partial likelihood, gradient and negative Hessian (sorted X)."""
    eta = X @ beta
    shift = eta.max()
    w = np.exp(eta - shift)
    s0 = rs.risk_sums(w)
    s1 = rs.risk_sums(w[:, None] * X)
    d = rs.event
    m = s1 / s0[:, None]
    loglik = float(np.sum(d * (eta - shift - np.log(s0)))) - 0.5 * alpha * beta @ beta
    grad = (d[:, None] * (X - m)).sum(axis=0) - alpha * beta
    # A_j = sum over events i with t_i <= t_j of d_i / S0(t_i): reverse cumulative in
    # descending order, taken at the end of j's tie group
    inv = d / s0
    a = np.cumsum(inv[::-1])[::-1]
    start = np.r_[0, np.flatnonzero(rs.time[1:] != rs.time[:-1]) + 1]
    group_start = np.maximum.accumulate(np.isin(np.arange(len(d)), start) * np.arange(len(d)))
    a = a[group_start]
    hess = (X * (w * a)[:, None]).T @ X - (m * d[:, None]).T @ m + alpha * np.eye(len(beta))
    return loglik, grad, hess


class CoxPH(BaseEstimator):
    """Cox proportional-hazards regression with a ridge penalty.

    Parameters
    ----------
    alpha : float
        Ridge penalty on the coefficients (0: the ordinary partial-likelihood fit).
    max_iter : int
        Newton iterations.
    tol : float
        Convergence tolerance on the change in penalised log-likelihood.

    Attributes
    ----------
    coef_ : ndarray of shape (p,)
        Log-hazard ratios per unit of each input column.
    covariance_ : ndarray of shape (p, p)
        Inverse penalised information matrix.
    standard_errors_ : ndarray of shape (p,)
        Square roots of its diagonal.
    means_ : ndarray of shape (p,)
        Column means; the linear predictor is centred on them.
    baseline_times_, baseline_cumhaz_ : ndarray
        Breslow cumulative baseline hazard (at the centred linear predictor) on pooled
        steps (:func:`pooled_steps`): each step at the mean time of at least
        :data:`MIN_EVENTS_PER_STEP` events, valued at the end of its pool.
    baseline_events_ : ndarray
        Events pooled in each step.
    log_likelihood_ : float
    n_iter_ : int
    """

    def __init__(self, alpha: float = 1.0, max_iter: int = 100, tol: float = 1e-9):
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y) -> CoxPH:
        """Fit on ``X`` and a survival outcome ``y`` (time, event)."""
        X = check_array(X, dtype=float)
        time, event = survival_arrays(y)
        if len(time) != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but y has {len(time)}")
        if event.sum() == 0:
            raise ValueError("no events in the training rows: a Cox model cannot be fitted")
        if self.alpha < 0:
            raise ValueError(f"alpha={self.alpha} must be >= 0")
        self.n_features_in_ = X.shape[1]
        self.means_ = X.mean(axis=0)
        rs = _RiskSets(time, event)
        Xs = (X - self.means_)[rs.order]
        beta = np.zeros(X.shape[1])
        loglik, grad, hess = _partial_likelihood(Xs, rs, beta, self.alpha)
        for iteration in range(1, self.max_iter + 1):
            step = np.linalg.solve(hess, grad)
            for _ in range(30):  # step halving keeps every iteration an ascent
                new = _partial_likelihood(Xs, rs, beta + step, self.alpha)
                if new[0] >= loglik - 1e-12:
                    break
                step /= 2
            beta = beta + step
            change, (loglik, grad, hess) = new[0] - loglik, new
            if abs(change) < self.tol * (1 + abs(loglik)):
                break
        self.n_iter_ = iteration
        self.coef_ = beta
        self.log_likelihood_ = loglik
        self.covariance_ = np.linalg.inv(hess)
        self.standard_errors_ = np.sqrt(np.diag(self.covariance_))
        times, cumhaz = breslow(time, event, (X - self.means_) @ beta)
        counts = np.unique(time[event == 1], return_counts=True)[1]
        self.baseline_times_, self.baseline_cumhaz_, self.baseline_events_ = pooled_steps(
            times, cumhaz, counts.astype(float))
        return self

    def predict(self, X) -> np.ndarray:
        """Linear predictor (log relative hazard, centred on the training means)."""
        check_is_fitted(self, "coef_")
        X = check_array(X, dtype=float)
        return (X - self.means_) @ self.coef_

    def cumulative_hazard_at(self, horizon: float) -> float:
        """Breslow cumulative baseline hazard at ``horizon`` (from the pooled steps)."""
        check_is_fitted(self, "coef_")
        return cumhaz_at(self.baseline_times_, self.baseline_cumhaz_, horizon)

    def predict_risk(self, X, horizon: float) -> np.ndarray:
        """Probability of the event by ``horizon``."""
        return 1.0 - np.exp(-self.cumulative_hazard_at(horizon) * np.exp(self.predict(X)))
