"""Case-mix at the site against development: who the site's patients are.

Aggregates only. Development is described by a :class:`DevelopmentReference` (per-variable
means, SDs, level shares, missing shares and the linear predictor's spread); the
membership model (Debray et al. 2015) additionally needs development rows, which exist
in internal-external cross-validation but not when only a registered model travels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from spinerisk import evaluation as ev
from spinerisk.evaluation import Estimate
from spinerisk.features.profile import linear_predictor_profile
from spinerisk.validation.task import PredictorEncoder, TaskSpec, _as_level


@dataclass(frozen=True)
class VariableSummary:
    """One predictor in one population: mean/SD (numeric, binary) or level shares."""

    kind: str
    n: int
    missing_share: float
    mean: float = float("nan")
    sd: float = float("nan")
    shares: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "n": self.n, "missing_share": self.missing_share}
        if self.kind == "category":
            out["shares"] = dict(self.shares)
        else:
            out.update(mean=self.mean, sd=self.sd)
        return out


def summarise_variable(values: pd.Series, kind: str) -> VariableSummary:
    """Aggregate one column (missing values excluded from mean, SD and shares)."""
    n = int(values.size)
    missing = float(values.isna().mean()) if n else float("nan")
    present = values.dropna()
    if kind == "category":
        shares = present.astype(str).value_counts(normalize=True).to_dict()
        return VariableSummary(kind, n, missing, shares={str(k): float(v) for k, v in shares.items()})
    x = pd.to_numeric(present, errors="coerce").to_numpy(float)
    mean = float(x.mean()) if x.size else float("nan")
    sd = float(x.std(ddof=1)) if x.size > 1 else float("nan")
    return VariableSummary(kind, n, missing, mean=mean, sd=sd)


@dataclass(frozen=True)
class DevelopmentReference:
    """What the site is compared with: aggregates, plus development rows when available."""

    variables: dict[str, VariableSummary]
    lp_mean: float
    lp_sd: float
    n: int
    rows: pd.DataFrame | None = None  # never serialised
    lp_profile: dict[str, Any] | None = None  # linear_predictor_profile of development

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "lp_mean": self.lp_mean, "lp_sd": self.lp_sd,
                "lp_profile": self.lp_profile,
                "variables": {k: v.to_dict() for k, v in self.variables.items()}}


def development_reference(frame: pd.DataFrame, spec: TaskSpec, lp: np.ndarray, *,
                          keep_rows: bool = True) -> DevelopmentReference:
    """Describe the development data (``lp``: the model's linear predictor there)."""
    variables = {name: summarise_variable(frame[name], kind)
                 for name, kind in spec.predictors.items() if name in frame.columns}
    lp = np.asarray(lp, float)
    return DevelopmentReference(variables, float(lp.mean()), float(lp.std(ddof=1)), len(frame),
                                frame if keep_rows else None,
                                linear_predictor_profile(lp, spec.survival))


def smd(site: VariableSummary, dev: VariableSummary) -> float:
    """Standardised mean difference (site - development) / pooled SD (Austin 2009)."""
    pooled = np.sqrt((site.sd ** 2 + dev.sd ** 2) / 2)
    return float((site.mean - dev.mean) / pooled) if pooled > 0 else float("nan")


def _share_smd(p_site: float, p_dev: float) -> float:
    pooled = np.sqrt((p_site * (1 - p_site) + p_dev * (1 - p_dev)) / 2)
    return float((p_site - p_dev) / pooled) if pooled > 0 else float("nan")


@dataclass(frozen=True)
class CaseMix:
    """Per-predictor comparison, membership C-statistic and linear-predictor spread."""

    rows: list[dict[str, Any]]
    membership_c: Estimate | None
    membership_note: str
    lp_site_mean: float
    lp_site_sd: float
    lp_dev_mean: float
    lp_dev_sd: float
    model_based_c: float | None = None
    lp_site_profile: dict[str, Any] | None = None
    lp_dev_profile: dict[str, Any] | None = None

    def max_abs_smd(self) -> float:
        values = [abs(r["smd"]) for r in self.rows if r["smd"] is not None and np.isfinite(r["smd"])]
        return max(values) if values else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "variables": self.rows,
            "membership_c": None if self.membership_c is None else self.membership_c.to_dict(),
            "membership_note": self.membership_note,
            "linear_predictor": {"site_mean": self.lp_site_mean, "site_sd": self.lp_site_sd,
                                 "development_mean": self.lp_dev_mean,
                                 "development_sd": self.lp_dev_sd,
                                 "sd_ratio": self.lp_site_sd / self.lp_dev_sd
                                 if self.lp_dev_sd > 0 else None,
                                 "site": self.lp_site_profile,
                                 "development": self.lp_dev_profile},
            "model_based_c": self.model_based_c,
            "max_abs_smd": self.max_abs_smd()}


def compare_case_mix(site: pd.DataFrame, spec: TaskSpec, site_lp: np.ndarray,
                     development: DevelopmentReference, *, seed: int = 0) -> CaseMix:
    """Compare the site's predictors and linear predictor with development."""
    rows = []
    for name, dev in development.variables.items():
        if name not in spec.predictors:  # derived model features are not site columns
            continue
        if name not in site.columns:
            rows.append({"variable": name, "kind": dev.kind, "level": None, "smd": None,
                         "development": None, "site": None, "note": "absent at the site",
                         "missing_development": dev.missing_share, "missing_site": 1.0})
            continue
        here = summarise_variable(site[name], dev.kind)
        if dev.kind == "category":
            for level in sorted(set(dev.shares) | set(here.shares)):
                p_s, p_d = here.shares.get(level, 0.0), dev.shares.get(level, 0.0)
                if p_s == 0 and p_d == 0:  # a level outside the task's population
                    continue
                rows.append({"variable": name, "kind": "category", "level": level,
                             "development": p_d, "site": p_s, "smd": _share_smd(p_s, p_d),
                             "missing_development": dev.missing_share,
                             "missing_site": here.missing_share})
        else:
            rows.append({"variable": name, "kind": dev.kind, "level": None,
                         "development": _stat(dev), "site": _stat(here), "smd": smd(here, dev),
                         "missing_development": dev.missing_share,
                         "missing_site": here.missing_share})
    lp = np.asarray(site_lp, float)
    membership, note = None, ("The membership model needs the development rows, which do not "
                              "travel with a registered model (only aggregates do), so it is "
                              "not computed here.")
    if development.rows is not None:
        membership = membership_c_statistic(development.rows, site, spec, seed=seed)
        note = ("cross-validated (5-fold) logistic membership model on the predictors; "
                "0.5 = same case-mix, 1 = fully separable")
    return CaseMix(rows, membership, note, float(lp.mean()), float(lp.std(ddof=1)),
                   development.lp_mean, development.lp_sd, None,
                   linear_predictor_profile(lp, spec.survival), development.lp_profile)


def _stat(v: VariableSummary) -> dict[str, float]:
    return {"mean": v.mean, "sd": v.sd}


def membership_c_statistic(development: pd.DataFrame, site: pd.DataFrame, spec: TaskSpec, *,
                           seed: int = 0) -> Estimate:
    """C-statistic of a cross-validated logistic model predicting site membership.

    The predictors are encoded by :class:`PredictorEncoder` fitted on the stacked rows;
    out-of-fold probabilities (5 stratified folds) are scored with DeLong's CI.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    columns = [c for c in spec.predictors if c in development.columns and c in site.columns]
    both = pd.concat([development[columns], site[columns]], ignore_index=True)
    for name in columns:  # align category dtypes so levels are compared as text
        if spec.predictors[name] == "category":
            both[name] = _as_level(both[name])
    member = np.r_[np.zeros(len(development)), np.ones(len(site))]
    design = PredictorEncoder(spec).fit(both).transform(both)
    model = LogisticRegression(C=1.0, max_iter=2000)
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    p = cross_val_predict(model, design, member, cv=folds, method="predict_proba")[:, 1]
    return ev.auc(member, p)
