"""Kaplan-Meier estimates (weighted) and step-function look-ups used across the survival code."""

from __future__ import annotations

import numpy as np


def km_curve(time: np.ndarray, event: np.ndarray, weights: np.ndarray | None = None):
    """Kaplan-Meier survival at each distinct event time.

    Parameters
    ----------
    time, event : follow-up time and 0/1 indicator (1 = the event being estimated).
    weights : optional frequency weights.

    Returns
    -------
    times : distinct times with at least one (positively weighted) event, sorted.
    surv : S(t) just after each of those times (right-continuous).
    """
    w = np.ones_like(time, dtype=float) if weights is None else weights
    utimes, inv = np.unique(time, return_inverse=True)
    d = np.bincount(inv, weights=w * event, minlength=utimes.size)
    total = np.bincount(inv, weights=w, minlength=utimes.size)
    at_risk = np.cumsum(total[::-1])[::-1]  # weight with time >= t
    keep = d > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        factors = 1.0 - d[keep] / at_risk[keep]
    return utimes[keep], np.cumprod(factors)


def step_value(times: np.ndarray, values: np.ndarray, at, *, left: bool = False, start: float = 1.0):
    """Evaluate a right-continuous step function (``values[k]`` from ``times[k]`` on).

    ``left=True`` gives the left limit f(t-). Before the first jump the value is ``start``;
    after the last jump the last value is carried forward (as R ``extend=TRUE``).
    """
    at = np.asarray(at, dtype=float)
    side = "left" if left else "right"
    k = np.searchsorted(times, at, side=side)
    padded = np.concatenate([[start], values])
    return padded[k]


def km_at(time, event, horizon: float, weights=None) -> float:
    """Kaplan-Meier survival S(horizon)."""
    t, s = km_curve(np.asarray(time, float), np.asarray(event, float), weights)
    return float(step_value(t, s, horizon))


def censoring_survival(time: np.ndarray, event: np.ndarray, weights=None):
    """Reverse Kaplan-Meier G(t) = P(C > t): censorings are the 'events'.

    A subject whose event and another's censoring share a time is counted as at
    risk of censoring at that time (the prodlim/riskRegression convention).
    """
    return km_curve(time, 1.0 - event, weights)
