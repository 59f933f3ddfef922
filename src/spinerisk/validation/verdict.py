"""The verdict in plain words, written from the same numbers the report's tables show.

Rules (in order; every rule adds its sentence, so the verdict lists all its evidence):

1. Discrimination: a C-statistic (Harrell's C for time-to-event) below ``c_min`` means
   the model ranks this site's patients too poorly for recalibration to help:
   **not transportable**.
2. Calibration and the update chosen by the closed test
   (:mod:`spinerisk.validation.updating`; its choice is never overridden):
   ``original`` -> **fit for use** (but when a calibration CI excludes its ideal value
   and the estimate is beyond the clinical tolerance, the closed test lacked the power to
   choose an update: **miscalibrated: more data needed to choose an update**);
   ``intercept`` or ``recalibration`` -> **use after
   recalibration**; ``revision`` -> **not transportable** when a calibration CI
   excludes its ideal value (predictor effects differ too; a revised model is a new
   model that needs its own validation), else **fit for use** with that said. An intercept or
   recalibration update whose miscalibration is clinically small (calibration-in-the-
   large within ``citl_tolerance`` of 0 and slope within ``slope_tolerance`` of 1) is
   reported as optional: **fit for use**. "Miscalibrated" is written only when a
   calibration CI excludes its ideal value.
3. Net benefit over the task's threshold range, against treat-all and treat-none: the
   thresholds where the model is better than both are named, and so are those where it
   is not; a model **fit for use** that is better than both at no threshold of the range
   becomes **no net benefit at the stated thresholds**.
4. Sample size: the verdict is **provisional** when the site does not reach Riley's
   required size, or has fewer than ``min_events`` events or non-events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spinerisk.evaluation import DecisionCurve, Estimate
from spinerisk.validation.updating import UpdatingResult

FIT = "fit for use"
RECALIBRATE = "use after recalibration"
NOT_TRANSPORTABLE = "not transportable"
NO_BENEFIT = "no net benefit at the stated thresholds"
MORE_DATA = "miscalibrated: more data needed to choose an update"


@dataclass(frozen=True)
class VerdictRules:
    """Thresholds of the verdict (stated in every report)."""

    c_min: float = 0.60
    citl_tolerance: float = 0.15
    slope_tolerance: float = 0.15
    min_events: int = 100

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Verdict:
    decision: str
    reasons: list[str]
    recommended_update: str
    recommended_update_label: str
    provisional: bool
    net_benefit: dict[str, Any] | None = None
    rules: VerdictRules = field(default_factory=VerdictRules)

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "reasons": self.reasons,
                "recommended_update": self.recommended_update,
                "recommended_update_label": self.recommended_update_label,
                "provisional": self.provisional, "net_benefit": self.net_benefit,
                "rules": self.rules.to_dict()}


# ----------------------------------------------------------------------------- net benefit
def net_benefit_summary(curve: DecisionCurve, label: str = "model") -> dict[str, Any]:
    """Where the model's net benefit beats both treat-all and treat-none.

    Returns
    -------
    dict with ``thresholds`` (first, last), ``better`` and ``not_better`` (lists of
    ``[from, to]`` runs of consecutive thresholds of the curve's grid), ``negative``
    (runs where the model's net benefit is below zero) and ``best_margin`` (largest
    model minus best-default net benefit).
    """
    model, every = curve.strategy(label), curve.strategy("all")
    t = model.threshold
    best_default = np.maximum(every.net_benefit, 0.0)  # treat-none has net benefit 0
    margin = model.net_benefit - best_default
    return {"thresholds": [float(t[0]), float(t[-1])],
            "better": _runs(t, margin > 0), "not_better": _runs(t, margin <= 0),
            "negative": _runs(t, model.net_benefit < 0),
            "best_margin": float(margin.max())}


def _runs(t: np.ndarray, mask: np.ndarray) -> list[list[float]]:
    """Consecutive runs of ``t`` where ``mask`` holds, as ``[first, last]`` pairs."""
    runs, start = [], None
    for i, on in enumerate(mask):
        if on and start is None:
            start = i
        if start is not None and (not on or i == mask.size - 1):
            end = i if on else i - 1
            runs.append([float(t[start]), float(t[end])])
            start = None
    return runs


def _span(runs: list[list[float]]) -> str:
    return ", ".join(f"{a:.2f}" if a == b else f"{a:.2f} to {b:.2f}" for a, b in runs)


def _net_benefit_sentence(nb: dict[str, Any], updated: bool) -> str:
    lo, hi = nb["thresholds"]
    whose = " (of the model before updating)" if updated else ""
    if not nb["not_better"]:
        text = (f"Net benefit{whose}: above both treat-all and treat-none at every threshold "
                f"from {lo:.2f} to {hi:.2f}.")
    elif not nb["better"]:
        text = (f"Net benefit{whose}: not above treat-all or treat-none at any threshold from "
                f"{lo:.2f} to {hi:.2f}; using the model would do no better than treating "
                "everyone or no one.")
    else:
        text = (f"Net benefit{whose}: above both treat-all and treat-none at thresholds "
                f"{_span(nb['better'])}; not above them at {_span(nb['not_better'])}.")
    if nb["negative"]:
        text += f" The model's net benefit is below zero at thresholds {_span(nb['negative'])}."
    return text


# ----------------------------------------------------------------------------- calibration
def _ci(e: Estimate, digits: int = 2) -> str:
    return f"{e.estimate:.{digits}f} (95% CI {e.lower:.{digits}f} to {e.upper:.{digits}f})"


def _excludes(e: Estimate, ideal: float) -> bool:
    return not (e.lower <= ideal <= e.upper)


def _what_differs(rec: str, slope: Estimate, survival: bool) -> str:
    base = "the baseline hazard differs" if survival else "the baseline risk differs"
    if rec == "intercept":
        return base
    spread = ("hazard ratios" if survival else "predicted risks")
    direction = "too extreme" if slope.estimate < 1 else "too moderate"
    return f"{base} and the {spread} are {direction} (slope {slope.estimate:.2f})"


def _within_tolerance(citl: Estimate, slope: Estimate, rules: VerdictRules) -> bool:
    return (abs(citl.estimate) <= rules.citl_tolerance
            and abs(slope.estimate - 1) <= rules.slope_tolerance)


def _calibration_sentence(rec: str, citl: Estimate, slope: Estimate, updating: UpdatingResult,
                          rules: VerdictRules) -> tuple[str, str]:
    """(decision from calibration and the closed test, sentence).

    The sentence states what the CIs show first (so "miscalibrated" is only written
    when a CI excludes its ideal value), then the closed test's choice.
    """
    survival = updating.survival
    scale = "log baseline-hazard ratio" if survival else "log-odds"
    calib = (f"calibration-in-the-large {_ci(citl)} ({scale}; ideal 0), "
             f"calibration slope {_ci(slope)} (ideal 1)")
    off = [name for name, e, ideal in (("calibration-in-the-large", citl, 0.0),
                                       ("calibration slope", slope, 1.0)) if _excludes(e, ideal)]
    if off:
        state = (f"Miscalibrated at this site: {calib}; the 95% CI of the {off[0]} excludes "
                 "its ideal value." if len(off) == 1 else
                 f"Miscalibrated at this site: {calib}; the 95% CIs of both exclude their "
                 "ideal values.")
    else:
        state = f"Calibration holds: {calib}; both 95% CIs include their ideal values."
    label = updating.label(rec)
    last = updating.tests[-1]
    test = (f"revision vs {last.simpler}: LR {last.statistic:.1f} on {last.df} df, "
            f"p={last.p_value:.3g}")
    if rec == "original":
        if off and not _within_tolerance(citl, slope, rules):
            return MORE_DATA, (f"{state} Closed testing nevertheless chooses the {label} "
                               f"({test}): at this sample size it cannot choose an update, so "
                               "the model should not be used here until more data allow one.")
        return FIT, f"{state} Closed testing chooses the {label} ({test})."
    if rec == "revision":
        if off:
            return NOT_TRANSPORTABLE, (
                f"{state} Closed testing chooses {label} ({test}): predictor effects differ "
                "too, and a revised model is a new model that needs its own validation.")
        return FIT, (f"{state} Closed testing chooses {label} ({test}): some predictor effects "
                     "differ at this site, but a revised model would be a new model that needs "
                     "its own validation, so the original model is kept.")
    what = _what_differs(rec, slope, survival)
    if _within_tolerance(citl, slope, rules):
        return FIT, (f"{state} Closed testing chooses {label} ({what}; {test}), but the "
                     f"miscalibration is within the clinical tolerance (|calibration-in-the-"
                     f"large| <= {rules.citl_tolerance}, |slope - 1| <= "
                     f"{rules.slope_tolerance}): the update is optional.")
    return RECALIBRATE, f"{state} Closed testing chooses {label} ({what}; {test})."


def _sample_size_sentence(sample_size: dict[str, Any] | None, counts: dict[str, int],
                          rules: VerdictRules) -> tuple[bool, list[str]]:
    out, provisional = [], False
    if sample_size is not None and sample_size.get("required_n") is not None:
        n, need = sample_size["n"], sample_size["required_n"]
        if sample_size["meets_requirement"]:
            out.append(f"Sample size met: n = {n}, required n = {need} (Riley et al.).")
        else:
            provisional = True
            out.append(f"Sample size NOT met: n = {n}, required n = {need} (Riley et al.): "
                       "the verdict is provisional.")
    if min(counts["events"], counts["non_events"]) < rules.min_events:
        provisional = True
        out.append(f"Only {counts['events']} events and {counts['non_events']} non-events "
                   f"(fewer than {rules.min_events}): the verdict is provisional.")
    return provisional, out


def decide(c: Estimate, citl: Estimate, slope: Estimate, updating: UpdatingResult,
           counts: dict[str, int], rules: VerdictRules | None = None, *,
           sample_size: dict[str, Any] | None = None,
           decision_curve: DecisionCurve | None = None) -> Verdict:
    """Apply the rules to the site's discrimination, calibration, closed test, net benefit
    and sample size.

    Parameters
    ----------
    c, citl, slope : the site's C-statistic (Harrell's C for time-to-event),
        calibration-in-the-large and calibration slope, as in the report's table.
    updating : the closed test's result; its choice is the recommended update.
    counts : ``events`` and ``non_events``.
    rules : thresholds (default :class:`VerdictRules`).
    sample_size : the report's sample-size section (``n``, ``required_n``,
        ``meets_requirement``); without it the verdict does not speak of Riley's size.
    decision_curve : the report's decision curve (model label ``model``).
    """
    rules = rules or VerdictRules()
    rec = updating.recommended
    reasons: list[str] = []
    poor = c.estimate < rules.c_min
    if poor:
        reasons.append(f"Discrimination is poor: C = {_ci(c)}, below {rules.c_min}; "
                       "recalibration cannot repair how the model ranks patients.")
    else:
        reasons.append(f"Discrimination: C = {_ci(c)}.")
    decision, sentence = _calibration_sentence(rec, citl, slope, updating, rules)
    reasons.append(sentence)
    if poor:
        decision = NOT_TRANSPORTABLE
    nb = None
    if decision_curve is not None:
        nb = net_benefit_summary(decision_curve)
        reasons.append(_net_benefit_sentence(nb, updated=rec != "original"))
        if decision == FIT and not nb["better"]:
            decision = NO_BENEFIT
    provisional, size_reasons = _sample_size_sentence(sample_size, counts, rules)
    reasons.extend(size_reasons)
    return Verdict(decision, reasons, rec, updating.label(rec), provisional, nb, rules)
