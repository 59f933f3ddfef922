"""Out-of-sample performance of pooled cross-validated risks, via spinerisk.evaluation.

Binary: AUC, Brier, scaled Brier, O/E, calibration-in-the-large, calibration intercept
and slope (bootstrap percentile CIs, vectorised), ICI of the loess calibration curve.
Time-to-event at the horizon: time-dependent AUC, Uno's C, IPCW Brier and IPA, O/E
(bootstrap percentile CIs) and the calibration slope (Cox model on the log cumulative
hazard, Wald CI). Curves (ROC, calibration, decision) are returned for plots.

The bootstrap resamples patients, not rows: a patient's episodes are not independent,
so they are drawn together (the folds never split a patient either).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spinerisk import evaluation
from spinerisk.evaluation.binary import roc_curve
from spinerisk.features import TaskSpec
from spinerisk.features.profile import risk_to_lp
from spinerisk.training.data import TaskData

#: Decision-curve thresholds for each task (clinically sensible ranges).
THRESHOLDS = {"response": (0.2, 0.8), "residual_pain": (0.05, 0.5),
              "reoperation": (0.01, 0.3)}


@dataclass
class Performance:
    """Metrics (name -> Estimate) and the curves behind the plots."""

    metrics: dict[str, Any]
    curves: dict[str, Any] = field(default_factory=dict)

    def flat(self, prefix: str = "") -> dict[str, float]:
        """``metric``, ``metric_ci_lower``, ``metric_ci_upper`` as plain floats."""
        out = {}
        for name, est in self.metrics.items():
            out[f"{prefix}{name}"] = est.estimate
            out[f"{prefix}{name}_ci_lower"] = est.lower
            out[f"{prefix}{name}_ci_upper"] = est.upper
        return out


def performance(task: TaskSpec, data: TaskData, risk: np.ndarray, n_boot: int, seed: int,
                curves: bool = True) -> Performance:
    """Performance of ``risk`` against the rows' outcomes (see module docstring)."""
    if task.is_survival:
        return _survival(task, data, risk, n_boot, seed, curves)
    return _binary(task, data, risk, n_boot, seed, curves)


def _binary(task, data, risk, n_boot, seed, curves) -> Performance:
    y = data.event
    boot = evaluation.bootstrap_binary(
        y, risk, metrics=("auc", "brier", "scaled_brier", "oe_ratio", "citl_intercept",
                          "cal_intercept", "cal_slope"), n_boot=max(n_boot, 2), seed=seed,
        groups=data.groups)
    metrics = dict(boot.metrics)
    metrics["auc"] = evaluation.auc(y, risk)  # DeLong interval for the headline AUC
    out = Performance(metrics)
    if curves:
        curve = evaluation.calibration_curve(y, risk)
        metrics["ici"] = evaluation.Estimate(float(curve.ici))
        low, high = THRESHOLDS.get(task.name, (0.05, 0.5))
        out.curves = {"roc": roc_curve(y, risk), "calibration": curve,
                      "decision": evaluation.decision_curve(
                          y, risk, np.round(np.arange(low, high + 1e-9, 0.01), 2))}
    return out


def _survival(task, data, risk, n_boot, seed, curves) -> Performance:
    time = data.y["time"].to_numpy()
    event = data.event.astype(float)
    h = task.horizon

    def statistic(t, e, r):
        brier = evaluation.brier_survival(t, e, r, h)
        return {"td_auc": evaluation.time_dependent_auc(t, e, r, h),
                "uno_c": evaluation.uno_c(t, e, r, tau=h, ci=False),
                "brier": brier["brier"], "ipa": brier["ipa"],
                "oe_ratio": evaluation.oe_survival(t, e, r, h)}

    boot = evaluation.bootstrap_apply(statistic, time, event, risk, n_boot=max(n_boot, 2),
                                      seed=seed, groups=data.groups)
    out = Performance(dict(boot.metrics))
    # the slope on the log cumulative hazard in a Cox model (Wald CI), as external
    # validation reports it, so the summary's "cal. slope" exists for every task
    out.metrics["cal_slope"] = evaluation.calibration_slope_survival(
        time, event, risk_to_lp(risk, survival=True))
    if curves:
        curve = evaluation.calibration_curve_survival(time, event, risk, h)
        out.metrics["ici"] = evaluation.Estimate(float(curve.ici))
        low, high = THRESHOLDS.get(task.name, (0.01, 0.3))
        out.curves = {"calibration": curve, "decision": evaluation.decision_curve_survival(
            time, event, risk, h, np.round(np.arange(low, high + 1e-9, 0.01), 2))}
    return out


def rubin_performance(task: TaskSpec, data: TaskData, pooled_risk: np.ndarray,
                      per_imputation: np.ndarray, n_boot: int, seed: int) -> Performance:
    """Held-out performance under multiple imputation, pooled by Rubin's rules.

    Each imputation's held-out risks are assessed as one completed-data analysis
    (:func:`performance`); a metric's estimate and SE are taken on its analysis scale
    (C and td-AUC logit, O/E log, the rest as they are; the SE from the CI,
    :func:`spinerisk.evaluation.pooling.analysis_scale_se`) and pooled by
    :func:`spinerisk.evaluation.rubin.rubin_pool`. The estimate's ``details`` carry the
    within, between and total variances, the fraction of missing information and the
    degrees of freedom. The curves and the ICI are those of the pooled risk.
    """
    from spinerisk.evaluation.pooling import METRIC_SCALES, analysis_scale_se
    from spinerisk.evaluation.rubin import rubin_pool

    analyses = [performance(task, data, risk, n_boot, seed, curves=False)
                for risk in per_imputation]
    out = performance(task, data, pooled_risk, n_boot, seed)
    m = len(analyses)
    for name in analyses[0].metrics:
        ests = [a.metrics[name] for a in analyses]
        scale = METRIC_SCALES.get(name, "identity")
        usable = all(np.isfinite([e.estimate, e.lower, e.upper]).all() and e.lower < e.upper
                     for e in ests)
        if not usable:
            out.metrics[name] = evaluation.Estimate.na("no_ci_in_an_imputation",
                                                       imputations=m)
            continue
        thetas, ses = zip(*[analysis_scale_se(e.estimate, e.lower, e.upper, e.level,
                                              scale)[:2] for e in ests])
        pooled = rubin_pool(thetas, np.square(ses), scale=scale, level=ests[0].level)
        out.metrics[name] = evaluation.Estimate(
            pooled.estimate, pooled.ci_lower, pooled.ci_upper, pooled.level,
            f"Rubin's rules over {m} imputations ({scale} scale; within-imputation SE "
            f"from the {ests[0].method} CI)",
            details={k: getattr(pooled, k) for k in ("within", "between", "total", "fmi",
                                                      "df", "m", "scale")})
    return out


def save_plots(perf: Performance, risk: np.ndarray, folder: Path, label: str) -> list[Path]:
    """ROC, calibration and decision-curve PNGs (spinerisk.evaluation.plots)."""
    from spinerisk.evaluation import plots

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    if "roc" in perf.curves:
        paths.append(plots.plot_roc(perf.curves["roc"], folder / "roc.png", label=label))
    if "calibration" in perf.curves:
        paths.append(plots.plot_calibration(perf.curves["calibration"],
                                            folder / "calibration.png", risk=risk))
    if "decision" in perf.curves:
        paths.append(plots.plot_decision_curve(perf.curves["decision"],
                                               folder / "decision_curve.png"))
    return paths


def metrics_table(perf: Performance) -> pd.DataFrame:
    """One row per metric: estimate and CI, and why a value is NA (``na_reason``)."""
    return pd.DataFrame([{"metric": k, "estimate": v.estimate, "ci_lower": v.lower,
                          "ci_upper": v.upper, "ci_method": v.method, "na_reason": v.reason}
                         for k, v in perf.metrics.items()])
