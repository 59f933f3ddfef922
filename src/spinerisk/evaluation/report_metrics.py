"""One call for all metrics of a prediction file (the engine behind ``spinerisk metrics``).

Works for predictions made by any model, including ones made elsewhere: it needs only
the observed outcome and the predicted risk (and, for time-to-event data, follow-up time,
event indicator and the horizon the risk refers to).

Binary: AUC (DeLong), Brier, scaled Brier (IPA), O/E, calibration-in-the-large,
calibration intercept and slope, discrimination slope, ICI/E50/E90/Emax from loess and
RCS curves, threshold metrics, decision curve.

Time-to-event (risk = predicted probability of the event by ``horizon``): Harrell's and
Uno's C (truncated at tau = the horizon), IPCW time-dependent AUC, IPCW Brier and IPA, O/E at the horizon, calibration
slope, ICI/E50/E90/Emax from the secondary Cox model, Kaplan-Meier decision curve. The
calibration slope uses ``log(-log(1 - risk))`` as the linear predictor: for a
proportional-hazards model this equals the model's linear predictor plus a constant, so
the slope equals the slope on the linear predictor.

With ``n_boot > 0`` the CIs of the headline metrics are bootstrap percentile intervals.
A metric the data cannot support is NA with its reason (``na_reason``), never a number:
e.g. a horizon beyond the last follow-up, separation, a constant prediction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from spinerisk.evaluation.binary import (
    auc,
    brier_score,
    calibration_summary,
    discrimination_slope,
    scaled_brier,
    threshold_metrics,
)
from spinerisk.evaluation.bootstrap import bootstrap_apply, bootstrap_binary
from spinerisk.evaluation.calibration import calibration_curve
from spinerisk.evaluation.decision import decision_curve, decision_curve_survival
from spinerisk.evaluation.results import Estimate, MetricReport
from spinerisk.evaluation.survival import (
    brier_survival,
    calibration_curve_survival,
    calibration_slope_survival,
    check_survival,
    harrell_c,
    oe_survival,
    time_dependent_auc,
    uno_c,
)

__all__ = ["DEFAULT_REPORT_THRESHOLDS", "evaluate_predictions"]

DEFAULT_REPORT_THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)


def _column(df: pd.DataFrame, name: str, role: str) -> np.ndarray:
    if name not in df.columns:
        raise ValueError(
            f"{role} column {name!r} is not in the data; available columns: {list(df.columns)}. "
            f"Pass the right name with --{role}."
        )
    return df[name].to_numpy()


def _errors(curve) -> dict[str, float | str | None]:
    return {"ici": curve.ici, "e50": curve.e50, "e90": curve.e90, "emax": curve.emax, "na_reason": curve.reason}


def evaluate_predictions(
    df: pd.DataFrame, *, risk: str, outcome: str | None = None, time: str | None = None,
    event: str | None = None, horizon: float | None = None,
    thresholds: Sequence[float] = DEFAULT_REPORT_THRESHOLDS, n_boot: int = 0, seed: int = 0,
    level: float = 0.95,
) -> MetricReport:
    """All metrics for a table of predictions.

    Parameters
    ----------
    df : one row per patient.
    risk : column with the predicted probability (of the event by ``horizon`` if survival).
    outcome : binary outcome column (0/1). For survival data it may name the event column.
    time, event, horizon : give ``time`` and ``horizon`` (and ``event`` or ``outcome``) for
        time-to-event evaluation.
    thresholds : risk thresholds for threshold metrics and the decision curve.
    n_boot : bootstrap replicates for percentile CIs (0 = analytic CIs only).
    seed : bootstrap seed.
    level : confidence level.

    Returns
    -------
    MetricReport
    """
    p = _column(df, risk, "risk")
    thresholds = np.asarray(thresholds, float)
    if time is None and horizon is None:
        if outcome is None:
            raise ValueError("outcome is required for binary evaluation (or give --time, --event and --horizon).")
        return _binary(_column(df, outcome, "outcome"), p, thresholds, n_boot, seed, level)
    if time is None or horizon is None or (event is None and outcome is None):
        raise ValueError("time-to-event evaluation needs time, event (or outcome) and horizon together.")
    ev = _column(df, event or outcome, "event")
    return _survival(_column(df, time, "time"), ev, p, float(horizon), thresholds, n_boot, seed, level)


def _binary(y, p, thresholds, n_boot, seed, level) -> MetricReport:
    cal = calibration_summary(y, p, level=level)
    metrics: dict[str, Estimate] = {
        "auc": auc(y, p, level=level),
        "brier": brier_score(y, p),
        "scaled_brier": scaled_brier(y, p),
        "oe_ratio": cal.oe_ratio,
        "citl_intercept": cal.citl_intercept,
        "cal_intercept": cal.cal_intercept,
        "cal_slope": cal.cal_slope,
        "discrimination_slope": discrimination_slope(y, p),
    }
    boot = None
    if n_boot > 0:
        res = bootstrap_binary(y, p, metrics=list(metrics), n_boot=n_boot, seed=seed, level=level)
        metrics.update({k: v for k, v in res.metrics.items() if not metrics[k].is_na})
        boot = {"n_boot": n_boot, "seed": seed, "n_failed": res.to_dict()["n_failed"]}
    y = np.asarray(y, float)
    return MetricReport(
        kind="binary", n=int(y.size), n_events=float(y.sum()), horizon=None, metrics=metrics,
        calibration={m: _errors(calibration_curve(y, p, method=m, level=level)) for m in ("loess", "rcs")},
        thresholds=threshold_metrics(y, p, thresholds),
        decision_curve=decision_curve(y, p, thresholds), bootstrap=boot,
    )


def _survival_point(t, e, p, horizon, ci, level):
    cll = np.log(-np.log1p(-np.clip(p, 1e-15, 1 - 1e-15)))
    brier = brier_survival(t, e, p, horizon)
    return {
        "harrell_c": harrell_c(t, e, p, ci=ci, level=level),
        "uno_c": uno_c(t, e, p, tau=horizon, ci=ci, level=level),
        "td_auc": time_dependent_auc(t, e, p, horizon),
        "brier": brier["brier"],
        "ipa": brier["ipa"],
        "oe_ratio": oe_survival(t, e, p, horizon, level=level),
        "cal_slope": calibration_slope_survival(t, e, cll, level=level),
    }


def _survival(t, e, p, horizon, thresholds, n_boot, seed, level) -> MetricReport:
    t, e, p = check_survival(t, e, p, "risk", probability=True)
    metrics = _survival_point(t, e, p, horizon, True, level)
    boot = None
    if n_boot > 0:
        def stat(tt, ee, pp):
            return _survival_point(tt, ee, pp, horizon, False, level)

        res = bootstrap_apply(stat, t, e, p, n_boot=n_boot, seed=seed, level=level, progress=False)
        metrics.update({k: v for k, v in res.metrics.items() if not metrics[k].is_na})
        boot = {"n_boot": n_boot, "seed": seed, "n_failed": res.to_dict()["n_failed"]}
    return MetricReport(
        kind="survival", n=int(t.size), n_events=float(e[t <= horizon].sum()), horizon=horizon,
        metrics=metrics,
        calibration={"cox_rcs": _errors(calibration_curve_survival(t, e, p, horizon, level=level))},
        thresholds=None,
        decision_curve=decision_curve_survival(t, e, p, horizon, thresholds), bootstrap=boot,
    )
