"""The training profile: aggregates of the predictors a model was trained on.

Used downstream for out-of-distribution warnings and case-mix comparison at a new site.
Aggregates only; a category level seen fewer than :data:`SMALL_CELL` times is reported
as suppressed (``None``), never as a count that could identify a patient.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from spinerisk.features.variables import Variable

SMALL_CELL = 10
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


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
