"""One patient's explanation: a waterfall of clinical variables on the probability scale.

SHAP values are additive on the margin (log-odds, or log relative hazard). A clinician
thinks in risk, so the waterfall walks from the base value to the patient's margin one
variable at a time, largest |contribution| first, and converts every intermediate margin
to a risk with the base model's own link. The risk steps then add up exactly to
``risk(patient) - risk(base)``, but because the link is non-linear a waterfall step
depends on the order. The *size* a sentence gives each driver therefore never comes from
the waterfall: it is the variable's margin points (``contribution``) and its own effect
on the probability scale, ``risk(base + contribution) - risk(base)`` (``own_effect``),
neither of which depends on the order. When bootstrap refits of the model give the
spread of each variable's contribution (``noise_sd``), a driver whose contribution lies
within 1.96 of those SDs of zero is marked as within the noise.

The explanation is of the *base* model. The reported risk is the calibrated one, which
is a monotone map of the same margin; :attr:`PatientExplanation.note` says so in words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from spinerisk.explain.jsonable import plain
from spinerisk.explain.wording import describe, outcome_noun, percent

OTHERS = "__others__"
#: a contribution within this many bootstrap SDs of zero is marked as within the noise
NOISE_Z = 1.96


@dataclass(frozen=True)
class Step:
    """One bar of the waterfall.

    Parameters
    ----------
    variable : str
        Clinical variable (or ``"__others__"`` for the remaining variables together).
    phrase : str
        The variable and the patient's value in words.
    contribution : float
        SHAP value on the margin scale (log-odds or log relative hazard).
    risk_before, risk_after : float
        Base-model risk before and after adding this variable on the waterfall path
        (probability scale; depends on the order, drawn but not quoted as a size).
    sentence : str
        The step as a plain sentence (sizes from ``contribution`` and ``own_effect``).
    own_effect : float
        The variable's own effect on the probability scale from the base value,
        ``risk(base + contribution) - risk(base)`` (independent of the order).
    noise_sd : float or None
        Bootstrap SD of the contribution (None: no ensemble to measure it).
    within_noise : bool or None
        ``|contribution| < 1.96 * noise_sd``: not distinguishable from no effect.
    """

    variable: str
    phrase: str
    contribution: float
    risk_before: float
    risk_after: float
    sentence: str
    own_effect: float = 0.0
    noise_sd: float | None = None
    within_noise: bool | None = None


@dataclass(frozen=True)
class PatientExplanation:
    """Why the base model predicts what it predicts for one patient.

    Parameters
    ----------
    task : str
    margin_scale : str
        ``"log-odds"`` or ``"log relative hazard"``.
    base_margin, margin : float
        Starting point (average prediction) and the patient's margin.
    base_risk, model_risk : float
        The same two on the probability scale, through the base model's link.
    steps : tuple of Step
        Waterfall, largest |contribution| first, the tail merged into one step.
    contributions : dict
        Every variable's margin-scale contribution (signed).
    note : str
        What is explained (the base model) and how it relates to the calibrated risk.
    """

    task: str
    margin_scale: str
    base_margin: float
    margin: float
    base_risk: float
    model_risk: float
    steps: tuple[Step, ...]
    contributions: dict[str, float]
    note: str

    @property
    def sentences(self) -> list[str]:
        """The waterfall as plain sentences."""
        return [s.sentence for s in self.steps]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return plain(self)


def explain_patient(contributions: Mapping[str, float], base_margin: float,
                    to_risk: Callable[[np.ndarray], np.ndarray], record: Mapping[str, Any],
                    task: str, calibrated_risk: float | None = None, top: int = 6,
                    margin_scale: str = "log-odds",
                    base_label: str = "average prediction",
                    noise_sd: Mapping[str, float] | None = None) -> PatientExplanation:
    """Build the probability-scale waterfall and its sentences for one patient.

    Parameters
    ----------
    contributions : mapping
        Clinical variable -> SHAP value on the margin scale (grouped, signed).
    base_margin : float
        The explainer's base value.
    to_risk : callable
        Margin -> risk (vectorised): the model's calibration map, so that the steps end
        at the reported calibrated risk, or ``expit`` for the raw base-model probability.
    record : mapping
        The patient's values (contract fields and pathway features) for the phrases.
    task : str
        Task name, for the outcome words.
    calibrated_risk : float, optional
        The calibrated risk reported to the clinician, quoted in the note.
    top : int
        Variables shown individually; the rest become one "other variables" step.
    margin_scale : str
        Name of the margin scale, for the note.
    base_label : str
        What the base value stands for ("average prediction", "typical training patient").
    noise_sd : mapping, optional
        Clinical variable -> bootstrap SD of its contribution for this patient.
    """
    names = list(contributions)
    values = np.array([contributions[n] for n in names], dtype=float)
    order = np.argsort(-np.abs(values), kind="stable")
    shown, rest = order[:top], order[top:]
    deltas = [values[k] for k in shown] + ([values[rest].sum()] if len(rest) else [])
    margins = base_margin + np.concatenate([[0.0], np.cumsum(deltas)])
    risks = np.asarray(to_risk(margins), dtype=float)
    noun = outcome_noun(task)
    alone = np.asarray(to_risk(base_margin + np.asarray(deltas, float)), float) - risks[0]
    steps = []
    for i, delta in enumerate(deltas):
        if i < len(shown):
            variable = names[shown[i]]
            phrase = describe(variable, record.get(variable), dict(record))
        else:
            variable, phrase = OTHERS, f"The other {len(rest)} variables together"
        sd = None if noise_sd is None or variable not in noise_sd else float(noise_sd[variable])
        within = None if sd is None else bool(abs(delta) < NOISE_Z * sd)
        steps.append(Step(variable, phrase, float(delta), float(risks[i]), float(risks[i + 1]),
                          _sentence(phrase, noun, float(delta), float(alone[i]), margin_scale,
                                    sd, within),
                          float(alone[i]), sd, within))
    return PatientExplanation(
        task=task, margin_scale=margin_scale, base_margin=float(base_margin),
        margin=float(margins[-1]), base_risk=float(risks[0]), model_risk=float(risks[-1]),
        steps=tuple(steps), contributions={n: float(v) for n, v in zip(names, values)},
        note=_note(noun, risks[0], risks[-1], calibrated_risk, margin_scale, base_label))


def _sentence(phrase: str, noun: str, points: float, own: float, scale: str,
              sd: float | None, within: bool | None) -> str:
    """The driver with its order-independent size (margin points, own effect)."""
    size = f"{points:+.2f} {scale}; on its own {100 * own:+.1f} percentage points"
    if abs(100 * own) < 0.5:
        text = f"{phrase} hardly changed the predicted {noun} ({size})"
    else:
        verb = "raised" if points > 0 else "lowered"
        text = f"{phrase} {verb} the predicted {noun} ({size})"
    if within:
        text += (f", within the bootstrap noise (+-{NOISE_Z * sd:.2f} {scale}): not a reliable "
                 "driver")
    return text + "."


def _note(noun: str, base_risk: float, model_risk: float, calibrated: float | None,
          margin_scale: str, base_label: str) -> str:
    text = (f"The drivers are SHAP values of the base model (before calibration) on the "
            f"{margin_scale} scale, grouped by clinical variable, listed largest first. Each "
            f"driver's size is its {margin_scale} points and its own effect from the "
            f"{base_label} ({percent(base_risk)}), neither of which depends on the order; "
            f"the waterfall adds them in this order and ends at {percent(model_risk)}, so "
            "its bar lengths do depend on the order.")
    if calibrated is not None and abs(calibrated - model_risk) < 1e-9:
        text += (f" The risks on this path pass through the model's calibration map, so the "
                 f"last step is the reported calibrated {noun}.")
    elif calibrated is not None:
        text += (f" The reported {noun} of {percent(calibrated)} is that prediction after "
                 "calibration (a monotone map of the same score).")
    return text
