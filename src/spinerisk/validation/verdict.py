"""The verdict in plain words: fit for use, use after recalibration, or not transportable.

Rules (in order; every rule that fires adds its reason):

1. Discrimination: a C-statistic (Harrell's C for time-to-event) below ``c_min`` means
   the model ranks this site's patients too poorly for recalibration to help:
   **not transportable**.
2. The update recommended by the closed test (:mod:`spinerisk.validation.updating`):
   ``original`` -> **fit for use**; ``intercept`` or ``recalibration`` -> **use after
   recalibration**; ``revision`` -> **not transportable** (predictor effects differ; a
   revised model is a new model that needs its own validation).
3. Clinical relevance: an update whose miscalibration is small (calibration-in-the-large
   within ``citl_tolerance`` of 0 on the log-odds / log-hazard scale and calibration
   slope within ``slope_tolerance`` of 1) is reported but does not stop use: **fit for
   use**. Conversely, when the closed test keeps the original model (its test against the
   revision has many degrees of freedom and little power) but the slope or the
   calibration-in-the-large is beyond tolerance with a CI excluding the ideal, the verdict
   is **use after recalibration** (slope off: logistic recalibration; else intercept).
4. Fewer than ``min_events`` events (or non-events): the verdict is marked provisional.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spinerisk.evaluation import Estimate
from spinerisk.validation.updating import METHOD_LABELS, UpdatingResult

FIT = "fit for use"
RECALIBRATE = "use after recalibration"
NOT_TRANSPORTABLE = "not transportable"


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
    provisional: bool
    rules: VerdictRules = field(default_factory=VerdictRules)

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "reasons": self.reasons,
                "recommended_update": self.recommended_update,
                "recommended_update_label": METHOD_LABELS[self.recommended_update],
                "provisional": self.provisional, "rules": self.rules.to_dict()}


def _ci(e: Estimate, digits: int = 2) -> str:
    return f"{e.estimate:.{digits}f} (95% CI {e.lower:.{digits}f} to {e.upper:.{digits}f})"


def _clearly_off(e: Estimate, ideal: float, tolerance: float) -> bool:
    """Beyond the clinical tolerance and with a CI that excludes the ideal value."""
    return abs(e.estimate - ideal) > tolerance and not (e.lower <= ideal <= e.upper)


def decide(c: Estimate, citl: Estimate, slope: Estimate, updating: UpdatingResult,
           counts: dict[str, int], rules: VerdictRules | None = None) -> Verdict:
    """Apply the rules to the site's discrimination, calibration and closed test."""
    rules = rules or VerdictRules()
    reasons: list[str] = []
    rec = updating.recommended
    decision = FIT
    if c.estimate < rules.c_min:
        decision = NOT_TRANSPORTABLE
        reasons.append(f"Discrimination is poor: C = {_ci(c)}, below {rules.c_min}; "
                       "recalibration cannot repair how the model ranks patients.")
    else:
        reasons.append(f"Discrimination: C = {_ci(c)}.")
    small = (abs(citl.estimate) <= rules.citl_tolerance
             and abs(slope.estimate - 1) <= rules.slope_tolerance)
    calib = (f"calibration-in-the-large {_ci(citl)} (ideal 0), "
             f"calibration slope {_ci(slope)} (ideal 1)")
    slope_off = _clearly_off(slope, 1.0, rules.slope_tolerance)
    citl_off = _clearly_off(citl, 0.0, rules.citl_tolerance)
    if rec == "original" and (slope_off or citl_off):
        # the closed test compares with the revision (many df) and can miss a clear
        # weak-calibration problem; the verdict does not
        rec = "recalibration" if slope_off else "intercept"
        decision = RECALIBRATE if decision == FIT else decision
        reasons.append(f"Miscalibrated at this site ({calib}): the closed test against the "
                       "revised model is not significant (it has many degrees of freedom), "
                       f"but the miscalibration is clear; {METHOD_LABELS[rec]} is recommended.")
    elif rec == "original":
        reasons.append(f"Calibration holds: {calib}; closed testing keeps the original model.")
    elif small:
        reasons.append(f"Closed testing detects a difference ({calib}) but the miscalibration "
                       f"is within the clinical tolerance (|intercept| <= {rules.citl_tolerance},"
                       f" |slope - 1| <= {rules.slope_tolerance}); {METHOD_LABELS[rec]} is "
                       "optional" + (" and would make a new model needing its own validation."
                                     if rec == "revision" else "."))
    elif rec in ("intercept", "recalibration"):
        decision = RECALIBRATE if decision == FIT else decision
        what = ("baseline risk differs" if rec == "intercept"
                else "baseline risk and the spread of predictions differ")
        reasons.append(f"Miscalibrated at this site ({what}): {calib}. "
                       f"Closed testing recommends {METHOD_LABELS[rec]}.")
    else:
        decision = NOT_TRANSPORTABLE
        reasons.append(f"Miscalibrated and predictor effects differ at this site ({calib}): "
                       "closed testing recommends model revision, which makes a new model "
                       "that needs its own validation before use.")
    provisional = min(counts["events"], counts["non_events"]) < rules.min_events
    if provisional:
        reasons.append(f"Only {counts['events']} events and {counts['non_events']} non-events "
                       f"(fewer than {rules.min_events}): the verdict is provisional.")
    return Verdict(decision, reasons, rec, provisional, rules)
