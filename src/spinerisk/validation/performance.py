"""Performance at the site: discrimination, the calibration hierarchy, overall accuracy, utility.

Every number comes from :mod:`spinerisk.evaluation`; this module only chooses which
metric answers which question for a binary or a time-to-event task and assembles them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from spinerisk import evaluation as ev
from spinerisk.evaluation import CalibrationCurve, DecisionCurve, Estimate
from spinerisk.validation.updating import risk_to_lp


@dataclass(frozen=True)
class Outcomes:
    """The site's outcomes: ``y`` (binary or event) and, for time-to-event, ``time``/``horizon``."""

    y: np.ndarray
    time: np.ndarray | None = None
    horizon: float | None = None

    @property
    def survival(self) -> bool:
        return self.time is not None

    def subset(self, rows: np.ndarray) -> Outcomes:
        return Outcomes(self.y[rows], None if self.time is None else self.time[rows], self.horizon)

    def counts(self) -> dict[str, int]:
        """Events and non-events (time-to-event: by the horizon; censored before it apart)."""
        if not self.survival:
            events = int(self.y.sum())
            return {"n": int(self.y.size), "events": events, "non_events": int(self.y.size - events)}
        event_h = (self.y == 1) & (self.time <= self.horizon)
        beyond = self.time > self.horizon
        return {"n": int(self.y.size), "events": int(event_h.sum()),
                "non_events": int(beyond.sum()),
                "censored_before_horizon": int(self.y.size - event_h.sum() - beyond.sum())}


@dataclass(frozen=True)
class Performance:
    """Metrics with CIs, the flexible calibration curve and the decision curve."""

    metrics: dict[str, Estimate]
    curve: CalibrationCurve | None
    decision: DecisionCurve | None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"metrics": {k: v.to_dict() for k, v in self.metrics.items()}}
        if self.curve is not None:
            out["calibration_curve"] = central_curve(self.curve)
        if self.decision is not None:
            out["decision_curve"] = self.decision.to_dict()
        return out


def central_curve(curve: CalibrationCurve, tail: float = 0.025) -> dict[str, Any]:
    """The curve without its outer grid points (the exact extreme risks of single patients).

    The grid is the quantiles of the site's predicted risks; only the central
    ``1 - 2 * tail`` share is kept, which is also where the curve is estimated stably.
    """
    data = curve.to_dict()
    k = curve.predicted.size
    lo, hi = int(np.ceil(tail * (k - 1))), int(np.floor((1 - tail) * (k - 1)))
    data["curve"] = {key: values[lo:hi + 1] for key, values in data["curve"].items()}
    return data


def binary_metrics(y: np.ndarray, risk: np.ndarray) -> dict[str, Estimate]:
    """C-statistic and the calibration hierarchy's mean and weak levels for a binary outcome."""
    cal = ev.calibration_summary(y, risk)
    return {"c_statistic": ev.auc(y, risk), "oe_ratio": cal.oe_ratio,
            "calibration_in_the_large": cal.citl_intercept,
            "calibration_intercept": cal.cal_intercept, "calibration_slope": cal.cal_slope,
            "brier": ev.brier_score(y, risk)}


def survival_metrics(out: Outcomes, risk: np.ndarray) -> dict[str, Estimate]:
    """Harrell/Uno C, td-AUC, O/E and slope at the horizon, Brier/IPA for time-to-event."""
    lp = risk_to_lp(risk, True)
    brier = ev.brier_survival(out.time, out.y, risk, out.horizon)
    return {"harrell_c": ev.harrell_c(out.time, out.y, lp),
            "uno_c": ev.uno_c(out.time, out.y, lp, tau=out.horizon),
            "td_auc": ev.time_dependent_auc(out.time, out.y, lp, out.horizon),
            "oe_ratio": ev.oe_survival(out.time, out.y, risk, out.horizon),
            "calibration_slope": ev.calibration_slope_survival(out.time, out.y, lp),
            "brier": brier["brier"], "ipa": brier["ipa"]}


def subgroup_metrics(out: Outcomes, risk: np.ndarray) -> dict[str, Estimate]:
    """The metrics reported per subgroup (same definitions as for the whole site)."""
    return survival_metrics(out, risk) if out.survival else binary_metrics(out.y, risk)


def site_performance(out: Outcomes, risk: np.ndarray, thresholds: tuple[float, float], *,
                     n_boot: int = 200, seed: int = 0) -> Performance:
    """Full performance at the site.

    Binary: C (DeLong CI), O/E, calibration-in-the-large, intercept and slope (Wald),
    Brier and IPA (scaled Brier) with percentile-bootstrap CIs, loess calibration curve
    with ICI/E50/E90, and the decision curve over ``thresholds`` in steps of 0.01.
    Time-to-event at the horizon: Harrell and Uno C, td-AUC (bootstrap CI), O/E, slope,
    Brier/IPA, Cox-spline calibration curve and the Kaplan-Meier decision curve.
    """
    grid = np.round(np.arange(thresholds[0], thresholds[1] + 1e-9, 0.01), 4)
    if out.survival:
        metrics = survival_metrics(out, risk)
        metrics.update(_survival_bootstrap(out, risk, n_boot, seed))
        curve = ev.calibration_curve_survival(out.time, out.y, risk, out.horizon)
        dca = ev.decision_curve_survival(out.time, out.y, risk, out.horizon, grid)
        return Performance(metrics, curve, dca)
    metrics = binary_metrics(out.y, risk)
    boot = ev.bootstrap_binary(out.y, risk, metrics=("brier", "scaled_brier"), n_boot=n_boot,
                               seed=seed)
    metrics["brier"] = boot["brier"]
    metrics["ipa"] = boot["scaled_brier"]
    curve = ev.calibration_curve(out.y, risk, method="loess")
    dca = ev.decision_curve(out.y, risk, grid)
    return Performance(metrics, curve, dca)


def _survival_bootstrap(out: Outcomes, risk: np.ndarray, n_boot: int, seed: int) -> dict[str, Estimate]:
    """Bootstrap CIs for td-AUC, Brier and IPA (no closed-form interval is used for them)."""
    horizon = out.horizon

    def statistic(time, event, r):
        brier = ev.brier_survival(time, event, r, horizon)
        return {"td_auc": ev.time_dependent_auc(time, event, r, horizon),
                "brier": brier["brier"], "ipa": brier["ipa"]}

    boot = ev.bootstrap_apply(statistic, out.time, out.y, risk, n_boot=n_boot, seed=seed)
    return {k: boot[k] for k in ("td_auc", "brier", "ipa")}


def model_based_c(risk: np.ndarray) -> float:
    """C-statistic expected at the site if the model were correct there (Vergouwe 2010).

    Each patient counts as an event with weight ``risk`` and as a non-event with weight
    ``1 - risk``; the C of that weighted data depends on the site's case-mix only, so
    comparing it with the observed C separates case-mix from model failure.
    """
    r = np.asarray(risk, float)
    y = np.r_[np.ones(r.size), np.zeros(r.size)]
    return ev.auc(y, np.r_[r, r], weights=np.r_[r, 1.0 - r], ci="none").estimate
