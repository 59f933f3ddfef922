"""The training profile: aggregates of the predictors a model was trained on.

Used downstream for out-of-distribution warnings and case-mix comparison at a new site.
Aggregates only; a category level seen fewer than :data:`SMALL_CELL` times is reported
as suppressed (``None``), never as a count that could identify a patient.

The profile also holds the development reference of the model's linear predictor
(:func:`linear_predictor_profile`): what external validation compares a site's spread
of predictions with.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logit

from spinerisk.features.variables import Variable

SMALL_CELL = 10
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
LP_BINS = 20
_EPS = 1e-12


def risk_to_lp(risk, survival: bool) -> np.ndarray:
    """Linear predictor from risks: logit (binary) or log cumulative hazard (time-to-event,
    ``log(-log(1 - risk))`` at the horizon)."""
    r = np.clip(np.asarray(risk, float), _EPS, 1 - _EPS)
    return np.log(-np.log1p(-r)) if survival else logit(r)


def linear_predictor_profile(lp, survival: bool, bins: int = LP_BINS) -> dict[str, Any]:
    """Aggregates of a linear predictor: mean, SD, quantiles and a histogram.

    Quantiles are given only where at least :data:`SMALL_CELL` patients lie beyond them
    (so no quantile describes one patient's value), and histogram bins holding 1 to
    ``SMALL_CELL - 1`` patients are suppressed (count ``None``).

    Parameters
    ----------
    lp : array
        The linear predictor (see :func:`risk_to_lp`) of the training rows.
    survival : bool
        Time-to-event task (names the scale).
    bins : number of equal-width histogram bins.
    """
    x = np.asarray(lp, float)
    n = x.size
    shown = [q for q in QUANTILES if min(q, 1 - q) * n >= SMALL_CELL]
    counts, edges = np.histogram(x, bins=bins)
    hist = [None if 0 < c < SMALL_CELL else int(c) for c in counts]
    return {"scale": "log cumulative hazard at the horizon" if survival else "log-odds",
            "n": int(n), "mean": float(x.mean()), "sd": float(x.std(ddof=1)) if n > 1 else 0.0,
            "quantiles": {str(q): float(v) for q, v in zip(shown, np.quantile(x, shown))},
            "histogram": {"edges": edges.tolist(), "counts": hist,
                          "suppressed_bins": int(sum(c is None for c in hist))}}


def training_profile(frame: pd.DataFrame, variables: tuple[Variable, ...], events: int,
                     ) -> dict[str, Any]:
    """Per-variable quantiles (numeric), level shares (categories and flags), missing shares.

    Parameters
    ----------
    frame : DataFrame
        Model frame of the training rows.
    variables : tuple of Variable
    events : int
        Number of outcome events in the training rows.
    """
    n = len(frame)
    profile: dict[str, Any] = {"n": n, "events": int(events), "variables": {}}
    for v in variables:
        values = frame[v.name]
        entry: dict[str, Any] = {"kind": v.kind, "missing_share": float(values.isna().mean())}
        if v.kind in ("category", "binary"):
            counts = values.astype(object).value_counts(dropna=True)
            levels = v.levels or (0, 1)
            entry["level_shares"] = {
                str(level): (None if 0 < counts.get(level, 0) < SMALL_CELL
                             else float(counts.get(level, 0) / n)) for level in levels}
        else:
            observed = pd.to_numeric(values, errors="coerce").dropna().to_numpy(float)
            entry["quantiles"] = dict(zip(map(str, QUANTILES),
                                          np.quantile(observed, QUANTILES).round(6).tolist()))
            entry["mean"] = float(observed.mean())
            entry["sd"] = float(observed.std(ddof=1)) if len(observed) > 1 else 0.0
        profile["variables"][v.name] = entry
    return profile
