"""External validation at one site: a pure function from predictions and the site's table
to a :class:`ValidationResult` (aggregates only).

:func:`validate_predictions` takes plain predicted risks, so the same validation runs on
a model trained anywhere; :func:`validate_model` adds the registered model's predictions
(features are never refit at the site). Files, MLflow and the CLI are the rim.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from spinerisk.evaluation import Estimate
from spinerisk.evaluation.results import json_ready
from spinerisk.validation.casemix import CaseMix, DevelopmentReference, compare_case_mix
from spinerisk.validation.performance import (
    Outcomes,
    Performance,
    model_based_c,
    site_performance,
    subgroup_metrics,
)
from spinerisk.validation.precision import precision_report
from spinerisk.validation.subgroups import subgroup_performance
from spinerisk.validation.task import (
    Eligibility,
    PredictorEncoder,
    Subgroup,
    TaskSpec,
    eligible_rows,
)
from spinerisk.validation.tripod import tripod_items
from spinerisk.validation.updating import UpdatingResult, risk_to_lp, update_data, update_model
from spinerisk.validation.verdict import Verdict, VerdictRules, decide

DISCLAIMER = ("Decision support for research use. This report contains aggregates only; "
              "cells with fewer than {k} events or non-events are suppressed.")


@dataclass(frozen=True)
class ValidationResult:
    """Everything the report shows, in the report's order."""

    site: str
    model: str
    task: TaskSpec
    eligibility: Eligibility
    verdict: Verdict
    sample_size: dict[str, Any]
    case_mix: CaseMix | None
    lp_histogram: dict[str, Any]
    performance: Performance
    subgroups: list[dict[str, Any]]
    updating: UpdatingResult
    min_count: int
    settings: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (the content of ``report.json``)."""
        return json_ready({
            "site": self.site, "model": self.model, "task": self.task.to_dict(),
            "disclaimer": DISCLAIMER.format(k=self.min_count),
            "data": self.eligibility.to_dict(),
            "verdict": self.verdict.to_dict(),
            "sample_size": self.sample_size,
            "case_mix": None if self.case_mix is None else self.case_mix.to_dict(),
            "linear_predictor_histogram": self.lp_histogram,
            "performance": self.performance.to_dict(),
            "subgroups": self.subgroups,
            "updating": self.updating.to_dict(),
            "tripod_ai": tripod_items(),
            "settings": self.settings})

    def headline(self) -> dict[str, float]:
        """Flat numeric summary (for MLflow metrics and cross-site summaries)."""
        out = {}
        for name, est in self.performance.metrics.items():
            out[name] = est.estimate
            if np.isfinite(est.lower):
                out[f"{name}_lower"] = est.lower
                out[f"{name}_upper"] = est.upper
        out.update({"n": self.sample_size["n"], "events": self.sample_size["events"]})
        if self.performance.curve is not None:
            out.update(ici=self.performance.curve.ici, e50=self.performance.curve.e50,
                       e90=self.performance.curve.e90)
        return {k: float(v) for k, v in out.items()}


def _outcomes(frame: pd.DataFrame, spec: TaskSpec) -> Outcomes:
    y = pd.to_numeric(frame[spec.outcome]).to_numpy(float)
    if not spec.survival:
        return Outcomes(y)
    return Outcomes(y, pd.to_numeric(frame[spec.time]).to_numpy(float), float(spec.horizon))


def _check_risk(risk: np.ndarray, keep: np.ndarray) -> np.ndarray:
    r = np.asarray(risk, float)
    bad = keep & ~((r > 0) & (r < 1))
    if bad.any():
        raise ValueError(f"{int(bad.sum())} eligible rows have no predicted risk strictly "
                         "between 0 and 1 (NaN, 0 or 1); the model must predict every eligible "
                         "row. Check the predictors of those rows against the data contract.")
    return r[keep]


def _lp_histogram(lp: np.ndarray, min_count: int, bins: int = 20) -> dict[str, Any]:
    """Histogram of the site's linear predictor with small bins suppressed (count None)."""
    counts, edges = np.histogram(lp, bins=bins)
    shown = [int(c) if c >= min_count else None for c in counts]
    return {"edges": edges.tolist(), "counts": shown,
            "suppressed_bins": int(sum(c is None for c in shown))}


def _cv_metrics(out: Outcomes):
    """Performance of out-of-fold risks on the rows they belong to."""
    def metrics(rows: np.ndarray, risk: np.ndarray) -> dict[str, float]:
        m = subgroup_metrics(out.subset(rows), risk)
        c = m["harrell_c"] if out.survival else m["c_statistic"]
        return {"c_statistic": c.estimate, "calibration_slope": m["calibration_slope"].estimate,
                "oe_ratio": m["oe_ratio"].estimate, "brier": m["brier"].estimate}
    return metrics


def _survival_citl(updating: UpdatingResult, level: float = 0.95) -> Estimate:
    fit = updating.fits["intercept"]
    a, se = float(fit.coef[0]), float(fit.se[0])
    z = float(norm.ppf(0.5 + level / 2))
    return Estimate(a, a - z * se, a + z * se, level, "wald (log baseline-hazard ratio)")


def validate_predictions(frame: pd.DataFrame, risk, spec: TaskSpec, *, site: str,
                         model: str = "model", development: DevelopmentReference | None = None,
                         n_boot: int = 200, seed: int = 0, alpha: float = 0.05,
                         min_count: int = 10, rules: VerdictRules | None = None
                         ) -> ValidationResult:
    """Validate predicted risks against the site's outcomes.

    Parameters
    ----------
    frame : DataFrame
        The site's table (contract-valid for spine tasks); one row per episode.
    risk : array
        Predicted risk for every row of ``frame`` (by the horizon for time-to-event);
        rows the task's eligibility excludes may hold anything (NaN).
    spec : TaskSpec
    site, model : names written to the report.
    development : DevelopmentReference, optional
        Development aggregates (and rows, if available) for the case-mix comparison.
    n_boot : bootstrap replicates for the CIs without a closed form.
    seed : seeds the bootstrap and the cross-validation folds.
    alpha : level of the closed test.
    min_count : subgroup cells with fewer events or non-events are suppressed.
    rules : thresholds of the verdict (default :class:`VerdictRules`).

    Returns
    -------
    ValidationResult
    """
    from threadpoolctl import threadpool_limits

    eligibility = eligible_rows(frame, spec)
    r = _check_risk(risk, eligibility.keep)
    site_rows = frame.loc[eligibility.keep].reset_index(drop=True)
    out = _outcomes(site_rows, spec)
    counts = out.counts()
    if min(counts["events"], counts["non_events"]) < 2:
        raise ValueError(f"site {site!r} has {counts['events']} events and "
                         f"{counts['non_events']} non-events after exclusions "
                         f"{eligibility.excluded}; validation needs both.")
    # the fits here are small dense problems: BLAS threads only add contention
    with threadpool_limits(limits=1, user_api="blas"):
        performance = site_performance(out, r, spec.thresholds, n_boot=n_boot, seed=seed)
        encoder = PredictorEncoder(spec).fit(site_rows)
        data = update_data(r, out.y, encoder.transform(site_rows), time=out.time,
                           horizon=out.horizon)
        updating = update_model(data, alpha=alpha, cv_metrics=_cv_metrics(out), seed=seed,
                                design_names=encoder.columns_)
        lp = risk_to_lp(r, spec.survival)
        case_mix = (None if development is None else
                    compare_case_mix(site_rows, spec, lp, development, seed=seed))
        subgroups = subgroup_performance(site_rows, out, r, spec.subgroups, min_count=min_count)
    metrics = performance.metrics
    if spec.survival:
        metrics["calibration_in_the_large"] = _survival_citl(updating)
    elif case_mix is not None:
        case_mix = replace(case_mix, model_based_c=model_based_c(r))
    c = metrics["harrell_c"] if spec.survival else metrics["c_statistic"]
    sample_size = precision_report(
        counts, metrics, survival=spec.survival, horizon=out.horizon,
        # O/E = (1 - KM(horizon)) / mean risk, so this is the site's observed risk
        observed_risk=float(metrics["oe_ratio"].estimate * r.mean()) if spec.survival else None)
    verdict = decide(c, metrics["calibration_in_the_large"], metrics["calibration_slope"],
                     updating, counts, rules or VerdictRules(), sample_size=sample_size,
                     decision_curve=performance.decision)
    return ValidationResult(
        site=site, model=model, task=spec, eligibility=eligibility, verdict=verdict,
        sample_size=sample_size,
        case_mix=case_mix, lp_histogram=_lp_histogram(lp, min_count),
        performance=performance, subgroups=subgroups, updating=updating,
        min_count=min_count,
        settings={"n_boot": n_boot, "seed": seed, "alpha": alpha, "min_count": min_count,
                  "cv": "5-fold stratified, 2 repeats"})


def validate_model(model, frame: pd.DataFrame, spec: TaskSpec, *, site: str,
                   model_name: str = "model", development: DevelopmentReference | None = None,
                   **kwargs) -> ValidationResult:
    """Apply a fitted model (``predict_risk``) to the eligible rows and validate it.

    For spine tasks the care-pathway phenotype is added as a subgroup (from
    :func:`spinerisk.phenotype.pathway_features`, the same rules as at development).
    """
    eligibility = eligible_rows(frame, spec)
    risk = np.full(len(frame), np.nan)
    risk[eligibility.keep] = model.predict_risk(frame.loc[eligibility.keep])
    if spec.site_column == "site_id" and "phenotype" not in frame.columns:
        frame = frame.assign(phenotype=phenotype_label(frame))
        spec = replace(spec, subgroups=(*spec.subgroups, Subgroup("phenotype", "phenotype")))
    return validate_predictions(frame, risk, spec, site=site, model=model_name,
                                development=development, **kwargs)


def phenotype_label(frame: pd.DataFrame) -> pd.Series:
    """One care-pathway phenotype per episode: its name, ``multiple`` or ``none``."""
    from spinerisk.phenotype import pathway_features

    flags = pathway_features(frame)
    flags = flags[[c for c in flags.columns if c.startswith("phenotype_")]].fillna(0).astype(int)
    names = np.asarray([c.removeprefix("phenotype_") for c in flags.columns], dtype=object)
    count = flags.sum(axis=1).to_numpy()
    first = names[flags.to_numpy().argmax(axis=1)]
    return pd.Series(np.where(count == 0, "none", np.where(count > 1, "multiple", first)),
                     index=frame.index)
