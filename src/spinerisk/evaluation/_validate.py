"""Input checks shared by the evaluation functions (errors say what to fix)."""

from __future__ import annotations

import numpy as np


def as_1d(values, name: str) -> np.ndarray:
    """Return a float 1-D array or raise a ValueError naming the field."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {arr.shape}. Pass a 1-D array or a column.")
    if arr.dtype == bool:
        arr = arr.astype(float)
    try:
        arr = arr.astype(float)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be numeric; got dtype {arr.dtype}. Convert it to numbers (e.g. 0/1)."
        ) from None
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad)[:10].tolist()
        raise ValueError(
            f"{name} has {int(bad.sum())} missing or non-finite values (first rows {rows}). "
            "Remove or impute those rows before evaluation; nothing is dropped silently."
        )
    return arr


def check_times(time, name: str = "time") -> np.ndarray:
    """Follow-up times as floats; they must be finite and >= 0 (time 0 = the time origin)."""
    t = as_1d(time, name)
    if (t < 0).any():
        rows = np.flatnonzero(t < 0)[:10].tolist()
        raise ValueError(
            f"{name} must be >= 0; found {int((t < 0).sum())} negative values (minimum {t.min()!r}, "
            f"first rows {rows}). Measure follow-up from the time origin (e.g. the procedure date)."
        )
    return t


def check_horizon(horizon) -> float:
    """A horizon must be a finite number > 0 (same units as the follow-up times)."""
    try:
        h = float(horizon)
    except (TypeError, ValueError):
        raise ValueError(f"horizon must be a number > 0; got {horizon!r}.") from None
    if not np.isfinite(h) or h <= 0:
        raise ValueError(f"horizon must be a finite number > 0 (same units as time); got {horizon!r}.")
    return h


def beyond_follow_up(time: np.ndarray, horizon: float, weights: np.ndarray | None = None) -> bool:
    """True when the horizon exceeds the last follow-up time (of rows with positive weight).

    The Kaplan-Meier estimate is then not defined at the horizon (R ``dcurves`` and
    ``summary(survfit(...), extend = FALSE)`` give NA); carrying the last value forward
    would extrapolate.
    """
    t = time if weights is None else time[weights > 0]
    return t.size == 0 or horizon > float(t.max())


def check_weights(weights, n: int) -> np.ndarray:
    """Return weights as floats (ones when None); they must be finite and >= 0."""
    if weights is None:
        return np.ones(n)
    w = as_1d(weights, "weights")
    if w.shape[0] != n:
        raise ValueError(f"weights has length {w.shape[0]} but the data have {n} rows; pass one weight per row.")
    if (w < 0).any():
        raise ValueError(f"weights must be >= 0; found minimum {w.min()!r}. Use non-negative (frequency or sampling) weights.")
    if w.sum() <= 0:
        raise ValueError("weights sum to 0; at least one row needs a positive weight.")
    return w


def check_binary(y, risk, weights=None, *, probability: bool = True):
    """Validate a binary outcome and a risk vector; return (y, risk, w) as float arrays.

    Raises ValueError when the outcome is not 0/1, the lengths differ, risks are
    outside [0, 1] (if ``probability``), or only one outcome class is present.
    """
    y = as_1d(y, "outcome")
    risk = as_1d(risk, "risk")
    if y.shape[0] != risk.shape[0]:
        raise ValueError(f"outcome has {y.shape[0]} rows but risk has {risk.shape[0]}; they must be paired row by row.")
    bad = (y != 0) & (y != 1)
    if bad.any():
        vals = np.unique(y[bad])[:5].tolist()
        raise ValueError(f"outcome must be coded 0/1; found values {vals}. Recode the outcome (1 = event).")
    if probability and ((risk < 0) | (risk > 1)).any():
        raise ValueError(
            f"risk must be a probability in [0, 1]; found range [{risk.min():.4g}, {risk.max():.4g}]. "
            "Pass predicted probabilities, not scores or logits."
        )
    w = check_weights(weights, y.shape[0])
    w_event = float(w[y == 1].sum())
    w_nonevent = float(w[y == 0].sum())
    if w_event == 0 or w_nonevent == 0:
        present = "events (1)" if w_event > 0 else "non-events (0)"
        raise ValueError(
            f"outcome has only one class: all rows with positive weight are {present}. "
            "Discrimination and calibration need both events and non-events; "
            "evaluate on a sample that contains both."
        )
    return y, risk, w


def check_open_unit(risk: np.ndarray, what: str) -> None:
    """Logit-scale metrics need 0 < risk < 1."""
    if ((risk <= 0) | (risk >= 1)).any():
        raise ValueError(
            f"{what} uses logit(risk), so risk must lie strictly between 0 and 1; found "
            f"{int(((risk <= 0) | (risk >= 1)).sum())} rows at exactly 0 or 1. "
            "Clip risks to [1e-8, 1 - 1e-8] deliberately if the model really outputs 0/1."
        )


def check_thresholds(thresholds) -> np.ndarray:
    """Threshold probabilities in [0, 1], as R ``dcurves`` accepts them."""
    t = as_1d(np.atleast_1d(thresholds), "thresholds")
    if ((t < 0) | (t > 1)).any():
        raise ValueError(f"thresholds must lie in [0, 1]; got range [{t.min()}, {t.max()}]. Pass probabilities.")
    return t

