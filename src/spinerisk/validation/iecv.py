"""Internal-external cross-validation across sites, and heterogeneity between them.

Each site in turn is held out: the model is developed on the other sites and validated
on it with :func:`~spinerisk.validation.core.validate_predictions` (Royston, Parmar &
Sylvester 2004; Steyerberg & Harrell 2016). Site-level C, O/E, calibration-in-the-large
and slope are then pooled by a DerSimonian-Laird random-effects meta-analysis with tau^2,
I^2 and a 95% prediction interval for a new site (Riley, Higgins & Deeks 2011).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from scipy.stats import norm
from scipy.stats import t as student_t

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


def random_effects(values: np.ndarray, ses: np.ndarray, measure: str,
                   back: Callable[[np.ndarray], np.ndarray] = lambda v: v) -> Pooled:
    """DerSimonian-Laird pooling; ``back`` maps the analysis scale to the reported one.

    The prediction interval uses a t distribution with k - 2 degrees of freedom (k >= 3).
    """
    y, v = np.asarray(values, float), np.asarray(ses, float) ** 2
    w = 1 / v
    mean_fixed = np.sum(w * y) / w.sum()
    q = float(np.sum(w * (y - mean_fixed) ** 2))
    k = y.size
    tau2 = max(0.0, (q - (k - 1)) / (w.sum() - np.sum(w ** 2) / w.sum()))
    ws = 1 / (v + tau2)
    mu = float(np.sum(ws * y) / ws.sum())
    se = float(np.sqrt(1 / ws.sum()))
    z = norm.ppf(0.975)
    half_pi = (student_t.ppf(0.975, k - 2) * np.sqrt(tau2 + se ** 2)) if k >= 3 else np.nan
    i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
    b = lambda x: float(back(np.asarray(x)))
    return Pooled(measure, b(mu), b(mu - z * se), b(mu + z * se), b(mu - half_pi),
                  b(mu + half_pi), tau2, i2, k)


def _se(e) -> float:
    return (e.upper - e.lower) / (2 * norm.ppf(0.5 + e.level / 2))


def heterogeneity(results: dict[str, ValidationResult]) -> list[Pooled]:
    """Pool C (logit scale), O/E (log scale), calibration-in-the-large and slope."""
    out = []
    m = {s: r.performance.metrics for s, r in results.items()}
    c_key = "harrell_c" if next(iter(results.values())).task.survival else "c_statistic"
    cs = [x[c_key] for x in m.values()]
    out.append(random_effects(logit([c.estimate for c in cs]),
                              [_se(c) / (c.estimate * (1 - c.estimate)) for c in cs],
                              "C-statistic", expit))
    oe = [x["oe_ratio"] for x in m.values()]
    out.append(random_effects(np.log([e.estimate for e in oe]),
                              [(np.log(e.upper) - np.log(e.lower)) / (2 * norm.ppf(0.975)) for e in oe],
                              "O/E ratio", np.exp))
    for key, label in (("calibration_in_the_large", "calibration-in-the-large"),
                       ("calibration_slope", "calibration slope")):
        est = [x[key] for x in m.values()]
        out.append(random_effects([e.estimate for e in est], [_se(e) for e in est], label))
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
