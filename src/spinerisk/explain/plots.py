"""Figures of the explanations (display only; the numbers come from the compute modules).

* :func:`plot_beeswarm` -- every patient's SHAP value per clinical variable, coloured by
  the variable's value (low to high; category levels in contract order);
* :func:`plot_importance` -- mean |SHAP| per clinical variable;
* :func:`plot_waterfall` -- one patient's drivers as risk steps (probability scale).

matplotlib is imported inside each function so that importing spinerisk.explain stays
light.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spinerisk.explain.grouping import GroupedContributions
from spinerisk.explain.local import PatientExplanation
from spinerisk.explain.wording import label, outcome_noun


def _colour_values(frame: pd.DataFrame, variable: str) -> np.ndarray:
    """A variable's values as numbers for colouring (NaN where missing)."""
    if variable not in frame.columns:
        return np.full(len(frame), np.nan)
    column = frame[variable]
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy(float)
        codes[codes < 0] = np.nan  # code -1 is missing
        return codes
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def plot_beeswarm(grouped: GroupedContributions, frame: pd.DataFrame, top: int = 15,
                  margin_scale: str = "log-odds", seed: int = 0):
    """Beeswarm of grouped SHAP values, most important variables on top.

    Parameters
    ----------
    grouped : GroupedContributions
        For the rows of ``frame`` (same order).
    frame : DataFrame
        The model frame (contract fields and pathway features) for the colours.
    top : int
        Variables shown.
    margin_scale : str
        Axis label of the SHAP scale.
    seed : int
        Seed of the vertical jitter.
    """
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    order = list(grouped.mean_abs())[:top]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(order) + 1.5))
    for row, variable in enumerate(reversed(order)):
        k = grouped.variables.index(variable)
        shap_values = grouped.values[:, k]
        colour = _colour_values(frame, variable)
        finite = np.isfinite(colour)
        scaled = np.full(len(colour), np.nan)
        if finite.any():
            lo, hi = np.nanpercentile(colour, [5, 95])
            scaled[finite] = np.clip((colour[finite] - lo) / ((hi - lo) or 1.0), 0, 1)
        jitter = rng.normal(0, 0.08, len(shap_values))
        ax.scatter(shap_values[~finite], row + jitter[~finite], s=6, c="#aaaaaa", lw=0)
        ax.scatter(shap_values[finite], row + jitter[finite], s=6, c=scaled[finite],
                   cmap="coolwarm", vmin=0, vmax=1, lw=0)
    ax.set_yticks(range(len(order)), [label(v) for v in reversed(order)])
    ax.axvline(0, color="#555555", lw=0.8)
    ax.set_xlabel(f"SHAP value ({margin_scale}); colour: low (blue) to high (red), grey missing")
    ax.set_title("Drivers across patients (base model, by clinical variable)")
    fig.tight_layout()
    return fig


def plot_importance(grouped: GroupedContributions, top: int = 15,
                    margin_scale: str = "log-odds"):
    """Bar chart of mean |SHAP| per clinical variable."""
    import matplotlib.pyplot as plt

    importance = list(grouped.mean_abs().items())[:top][::-1]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(importance) + 1.2))
    ax.barh([label(v) for v, _ in importance], [x for _, x in importance], color="#17324d")
    ax.set_xlabel(f"mean |SHAP| ({margin_scale})")
    ax.set_title("Global importance by clinical variable (base model)")
    fig.tight_layout()
    return fig


def plot_waterfall(explanation: PatientExplanation):
    """One patient's drivers as steps on the probability scale."""
    import matplotlib.pyplot as plt

    steps = explanation.steps
    fig, ax = plt.subplots(figsize=(8, 0.45 * (len(steps) + 2) + 1.2))
    rows = len(steps) + 2
    ax.barh(rows - 1, explanation.base_risk, color="#17324d")
    for i, step in enumerate(steps):
        start, delta = step.risk_before, step.risk_after - step.risk_before
        ax.barh(rows - 2 - i, delta, left=start, color="#c0392b" if delta > 0 else "#1f7a4d")
    ax.barh(0, explanation.model_risk, color="#17324d")
    names = ["Average prediction"] + [s.phrase for s in steps] + ["This patient"]
    ax.set_yticks(range(rows), names[::-1])
    ax.xaxis.set_major_formatter(lambda x, _: f"{100 * x:.0f}%")
    ax.set_xlabel(f"predicted {outcome_noun(explanation.task)}")
    ax.set_title("Why this prediction (base model drivers, largest first)")
    fig.tight_layout()
    return fig
