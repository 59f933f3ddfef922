"""Internal-external cross-validation across sites, and heterogeneity between them.

Each site in turn is held out: the model is developed on the other sites and validated
on it with :func:`~spinerisk.validation.core.validate_predictions` (Royston, Parmar &
Sylvester 2004; Steyerberg & Harrell 2016). Site-level C, O/E, calibration-in-the-large
and slope are then pooled by :mod:`spinerisk.evaluation.pooling` (random effects, REML
with HKSJ CIs) with tau^2, I^2 and a 95% prediction interval for a new site (Riley,
Higgins & Deeks 2011).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spinerisk.evaluation.pooling import METRIC_SCALES, SiteEstimate, pool_site_estimates
from spinerisk.validation.casemix import development_reference
from spinerisk.validation.core import ValidationResult, validate_predictions
from spinerisk.validation.task import PredictorEncoder, TaskSpec, eligible_rows
from spinerisk.validation.updating import risk_to_lp

#: fit on development rows, predict risks for validation rows -> (val risk, dev risk)
FitPredict = Callable[[pd.DataFrame, pd.DataFrame], tuple[np.ndarray, np.ndarray]]


def logistic_fit_predict(spec: TaskSpec) -> FitPredict:
    """A main-effects logistic model on the task's predictors (binary tasks).

    The design is :class:`PredictorEncoder` fitted on the development rows (missing
    values as indicators); a tiny ridge (C=1e4) only guards against separation.
    """
    from sklearn.linear_model import LogisticRegression

    def fit_predict(dev: pd.DataFrame, val: pd.DataFrame):
        encoder = PredictorEncoder(spec).fit(dev)
        model = LogisticRegression(C=1e4, max_iter=5000)
        y = pd.to_numeric(dev[spec.outcome]).to_numpy(int)
        model.fit(encoder.transform(dev), y)
        return (model.predict_proba(encoder.transform(val))[:, 1],
                model.predict_proba(encoder.transform(dev))[:, 1])

    return fit_predict


@dataclass(frozen=True)
class Pooled:
    """Random-effects summary of one measure across sites."""

    measure: str
    estimate: float
    lower: float
    upper: float
    pi_lower: float
    pi_upper: float
    tau2: float
    i2: float
    k: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def heterogeneity(results: dict[str, ValidationResult], *, method: str = "REML",
                  ci: str = "hksj") -> list[Pooled]:
    """Pool C (logit scale), O/E (log scale), calibration-in-the-large and slope across
    the held-out sites with :func:`spinerisk.evaluation.pooling.pool_site_estimates` (the
    same pooling as ``spinerisk pool``; REML with HKSJ CIs by default)."""
    survival = next(iter(results.values())).task.survival
    measures = (("harrell_c" if survival else "c_statistic", "C-statistic"),
                ("oe_ratio", "O/E ratio"),
                ("calibration_in_the_large", "calibration-in-the-large"),
                ("calibration_slope", "calibration slope"))
    out = []
    for key, label in measures:
        sites = [SiteEstimate(s, e.estimate, e.lower, e.upper, e.level) for s, r in results.items()
                 for e in [r.performance.metrics[key]]]
        meta, _how, _excluded = pool_site_estimates(sites, scale=METRIC_SCALES[key],
                                                    measure=label, method=method, ci=ci)
        if meta is not None:
            out.append(Pooled(label, meta.estimate, meta.ci_lower, meta.ci_upper,
                              meta.pi_lower, meta.pi_upper, meta.tau2, meta.i2, meta.k))
    return out


def internal_external(frame: pd.DataFrame, spec: TaskSpec, fit_predict: FitPredict | None = None,
                      *, progress: bool = True, **kwargs) -> tuple[dict[str, ValidationResult], list[Pooled]]:
    """Hold out each site in turn; return per-site results and the heterogeneity summary.

    ``kwargs`` go to :func:`validate_predictions` (n_boot, seed, alpha, min_count).
    """
    if spec.site_column is None or spec.site_column not in frame.columns:
        raise ValueError(f"task {spec.name!r} needs a site column for internal-external "
                         f"cross-validation (site_column={spec.site_column!r}).")
    fit_predict = fit_predict or logistic_fit_predict(spec)
    sites = sorted(frame[spec.site_column].dropna().unique(), key=str)
    results = {}
    iterator = sites
    if progress:
        from tqdm import tqdm

        iterator = tqdm(sites, desc="internal-external CV", unit="site")
    for site in iterator:
        held_out = (frame[spec.site_column] == site).to_numpy()
        dev = frame.loc[~held_out].reset_index(drop=True)
        dev = dev.loc[eligible_rows(dev, spec).keep].reset_index(drop=True)
        val = frame.loc[held_out].reset_index(drop=True)
        risk_val, risk_dev = fit_predict(dev, val)
        reference = development_reference(dev, spec, risk_to_lp(risk_dev, spec.survival))
        results[str(site)] = validate_predictions(
            val, risk_val, spec, site=str(site), model=f"{spec.name} developed without {site}",
            development=reference, **kwargs)
    return results, heterogeneity(results)


def risk_model_fit_predict(config: str | Path, learner: str = "logistic", **params) -> FitPredict:
    """Develop a :class:`spinerisk.models.RiskModel` from a task config on each fold.

    The config is read by :func:`spinerisk.features.generic_task` (outcome, predictors
    with kinds and levels, optional time and horizon), the same file the validation reads.
    """
    import yaml

    from spinerisk.features import generic_task
    from spinerisk.models import RiskModel

    raw = yaml.safe_load(Path(config).read_text())
    task = generic_task(raw["name"], raw["outcome"], raw["predictors"], raw.get("time"),
                        raw.get("horizon"))

    def fit_predict(dev: pd.DataFrame, val: pd.DataFrame):
        if task.is_survival:
            y = pd.DataFrame({"time": dev[task.time], "event": dev[task.outcome]})
        else:
            y = pd.to_numeric(dev[task.outcome]).to_numpy(int)
        model = RiskModel(task=task, learner=learner, **params).fit(dev, y)
        return model.predict_risk(val), model.predict_risk(dev)

    return fit_predict
