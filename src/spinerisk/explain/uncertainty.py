"""An interval for one patient's predicted risk: a bootstrap ensemble of the whole pipeline.

Why this method. The interval a clinician needs here is for the *estimated* risk: how much
the prediction would move had the model been developed on another sample of the same
population. The non-parametric bootstrap answers exactly that for any learner (splines,
trees, Cox) without distributional assumptions: each member refits the complete
pipeline -- preprocessing, base learner, out-of-fold calibration -- on a resample of the
training rows (resampled by patient when patient ids are given). The range is
``expit(logit(r) +- t * RMSE)`` around the reported risk ``r``, where RMSE combines the
members' SD and their mean shift from ``r`` on the logit scale (a bias the refits
reveal widens it) and ``t`` is Student's quantile with ``members - 1`` degrees of freedom
(an SD from 10-20 members is itself noisy; the normal quantile under-covers). The logit
scale keeps the range inside (0, 1), and it always contains the reported risk.

What it is not: a prediction interval for the patient's outcome (a binary event has no
interval), and it cannot see the bias a learner shares across all refits: heavily
regularised trees shrink every refit towards the average the same way, so their range
covers the true risk far less often than 95%. That is why a range is only *called* a
"95% interval" when its coverage of the true risk has been measured (on simulated
patients whose truth is known, :func:`measure_coverage`; training does this for simulated
data) and reached :data:`MIN_COVERAGE_FOR_LABEL`; otherwise it is a "bootstrap range"
labelled with its measured coverage, or with the fact that none was measured
(:func:`interval_label`). Coverage per shipped config: ``benchmarks/uncertainty_coverage.py``.

Cost. ``n_members`` full refits at training time. At prediction time the members share
the main model's encoding of the record whenever their fitted encodings agree with it on
the training rows (always for the tree learners, whose encoding has nothing to learn);
tree members are then walked together as one compiled numpy forest
(:mod:`spinerisk.explain.forest`, checked equal to xgboost when built), so one patient
costs one encoding and one forest walk.

How training calls it::

    model = RiskModel(task, learner="xgboost").fit(frame, y)
    model.bootstrap_ = fit_bootstrap_ensemble(model, frame, y, n_members=20, seed=seed)
    # ...then log/register the model as usual: the ensemble travels inside the pickled model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.special import expit, logit
from scipy.stats import t as student_t
from sklearn.base import clone

from spinerisk.explain.contributions import _is_xgboost
from spinerisk.explain.forest import CompiledForest

#: Attribute of a fitted RiskModel that carries its ensemble (set by training).
ENSEMBLE_ATTRIBUTE = "bootstrap_"


#: a range is called a "95% interval" only when its measured coverage reaches this
MIN_COVERAGE_FOR_LABEL = 0.90


@dataclass(frozen=True)
class Interval:
    """A range for the predicted risk, named for what it is.

    Parameters
    ----------
    low, high : float
    level : float
        Nominal level of the construction (0.95).
    n_members : int
    method : str
        How it was computed.
    label : str
        What a person reads: "95% interval" only when the measured coverage of the true
        risk reached :data:`MIN_COVERAGE_FOR_LABEL`, else "bootstrap range" with the
        measured coverage (or the fact that it was not measured).
    coverage : float or None
        Coverage of the true risk measured on simulated patients (None: not measured).
    """

    low: float
    high: float
    level: float
    n_members: int
    method: str
    label: str = ""
    coverage: float | None = None


def interval_label(level: float, coverage: Mapping[str, Any] | None) -> str:
    """The name of the range: honest about its measured coverage of the true risk."""
    if coverage is None:
        return (f"bootstrap range (nominal {level:.0%}; its coverage of the true risk was not "
                f"measured for this model, so it is not called a {level:.0%} interval)")
    measured = (f"it covered the true risk of {coverage['coverage']:.0%} of "
                f"{coverage['n']:,} simulated patients")
    if coverage["coverage"] >= MIN_COVERAGE_FOR_LABEL:
        return f"{level:.0%} interval ({measured})"
    return f"bootstrap range (not a {level:.0%} interval: {measured})"


class BootstrapEnsemble:
    """Refits of a risk model on bootstrap resamples (see the module docstring).

    Parameters
    ----------
    members : list
        Fitted copies of the model.
    shares_encoding : list of bool
        Per member: its encoding of the training rows equals the main model's, so the
        main model's encoding of a record can be reused.
    forest : CompiledForest or None
        All members' trees as one numpy forest (tree learners sharing the encoding), so
        one record's member margins cost one walk instead of one booster call each.
    """

    def __init__(self, members: list, shares_encoding: list[bool],
                 forest: CompiledForest | None = None):
        self.members = members
        self.shares_encoding = shares_encoding
        self.forest = forest
        #: measured coverage of the true risk (:func:`measure_coverage`), when known
        self.coverage: dict[str, Any] | None = None

    def risks_of_record(self, model, record: Mapping[str, Any], encoded: np.ndarray,
                        pathway: Mapping[str, Any] | None = None) -> np.ndarray:
        """Every member's calibrated risk for one (already validated) record.

        Parameters
        ----------
        model : RiskModel
            The main model (whose encoding ``encoded`` is).
        record : mapping
            The patient record.
        encoded : ndarray of shape (1, n_features)
            ``model.encode_record(record, pathway)``.
        pathway : mapping, optional
            The record's care-pathway features.
        """
        if self.forest is not None:
            margins = self.forest.margins(encoded)[0]
            return np.array([m.calibrator_(margins[i:i + 1])[0]
                             for i, m in enumerate(self.members)])
        out = np.empty(len(self.members))
        for i, (member, shared) in enumerate(zip(self.members, self.shares_encoding)):
            z = encoded if shared else member.encode_record(record, pathway)
            out[i] = member.risk_of_encoded(z)[0]
        return out

    def contribution_sd(self, record: Mapping[str, Any], encoded: np.ndarray,
                        pathway: Mapping[str, Any] | None = None) -> dict[str, float]:
        """Per clinical variable, the SD across members of its grouped SHAP contribution
        for one record: how much that driver moves between refits (its noise).

        Each member is explained by its own :class:`~spinerisk.explain.ModelExplainer`
        (built once, on first use).
        """
        from spinerisk.explain.model_explainer import ModelExplainer

        explainers = getattr(self, "_explainers", None)
        if explainers is None:
            explainers = self._explainers = [ModelExplainer(m) for m in self.members]
        if explainers[0].family == "trees":  # one matrix for every member that shares it
            from spinerisk.explain.contributions import tree_matrix

            encoded = tree_matrix(encoded)
        rows = []
        for member, shared, explainer in zip(self.members, self.shares_encoding, explainers):
            z = encoded if shared else member.encode_record(record, pathway)
            rows.append(explainer.explain_encoded(z).row(0))
        names = list(rows[0])
        values = np.array([[r.get(n, 0.0) for n in names] for r in rows], float)
        return dict(zip(names, values.std(axis=0, ddof=1).tolist()))

    def risks(self, X, encoded: np.ndarray | None = None) -> np.ndarray:
        """Members' risks for a frame: array of shape (n_members, n_rows).

        ``encoded``, the main model's encoding of ``X`` (``ModelExplainer.encode_frame``),
        is reused by the members that share it (the tree learners), so a batch is encoded
        once instead of once per member.
        """
        return np.vstack([m.risk_of_encoded(encoded) if shared and encoded is not None
                          else m.predict_risk(X)
                          for m, shared in zip(self.members, self.shares_encoding)])

    def interval_of_record(self, model, record, encoded, pathway=None,
                           level: float = 0.95) -> Interval:
        """Interval for one record around the main model's risk."""
        centre = model.risk_of_encoded(encoded)
        members = self.risks_of_record(model, record, encoded, pathway)[:, None]
        low, high = _logit_interval(centre, members, level)
        coverage = getattr(self, "coverage", None)  # absent in ensembles pickled before
        return Interval(float(low[0]), float(high[0]), level, len(self.members),
                        f"bootstrap, {len(self.members)} refits of the pipeline",
                        interval_label(level, coverage),
                        None if coverage is None else coverage["coverage"])

    def predict_interval(self, model, X, level: float = 0.95,
                         encoded: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Interval for every row of a frame around the main model's risk: (low, high).

        ``encoded``: the main model's encoding of ``X`` when the caller already has it.
        """
        if encoded is None:
            encoded = model.preprocessor_.transform(model._model_frame(X))
        return _logit_interval(model.risk_of_encoded(encoded), self.risks(X, encoded), level)


def measure_coverage(model, ensemble: BootstrapEnsemble, X: pd.DataFrame, true_risk,
                     level: float = 0.95) -> dict[str, Any]:
    """How often the interval covers the true risk of patients whose truth is known.

    Parameters
    ----------
    model : RiskModel
        The main model (the interval's centre).
    ensemble : BootstrapEnsemble
    X : DataFrame
        Fresh patients (not the training rows), e.g. simulated from the same sites.
    true_risk : array
        Their true risk (the simulator's truth).
    level : nominal level.

    Returns
    -------
    dict with ``coverage``, its Monte Carlo SE ``mc_se``, ``n``, ``median_width`` and
    ``level``.
    """
    low, high = ensemble.predict_interval(model, X, level)
    truth = np.asarray(true_risk, float)
    covered = (low <= truth) & (truth <= high)
    c = float(covered.mean())
    return {"coverage": c, "mc_se": float(np.sqrt(c * (1 - c) / covered.size)),
            "n": int(covered.size), "median_width": float(np.median(high - low)),
            "level": level}


def _logit_interval(centre: np.ndarray, members: np.ndarray,
                    level: float) -> tuple[np.ndarray, np.ndarray]:
    """``expit(logit(centre) +- t * RMSE)`` on the logit scale, members along axis 0.

    ``RMSE = sqrt(SD^2 + bias^2)`` of the members around the centre (bias = members' mean
    minus the centre), so a systematic shift that the refits reveal widens the range;
    ``t`` is Student's quantile with ``members - 1`` degrees of freedom, so the Monte Carlo
    error of an SD from few members widens it too.
    """
    eps = 1e-9
    lm = logit(np.clip(members, eps, 1 - eps))
    middle = logit(np.clip(centre, eps, 1 - eps))
    rmse = np.sqrt(lm.var(axis=0, ddof=1) + (lm.mean(axis=0) - middle) ** 2)
    spread = student_t.ppf(0.5 + level / 2, lm.shape[0] - 1) * rmse
    return expit(middle - spread), expit(middle + spread)


def fit_bootstrap_ensemble(model, X: pd.DataFrame, y, n_members: int = 20, seed: int = 0,
                           groups: np.ndarray | None = None, progress: bool = False,
                           n_jobs: int = 1) -> BootstrapEnsemble:
    """Refit ``model``'s whole pipeline on ``n_members`` bootstrap resamples.

    Parameters
    ----------
    model : RiskModel
        A fitted model (its parameters are cloned; it is not changed).
    X : DataFrame
        The training frame the model was fitted on.
    y : array or DataFrame
        Its outcome (0/1, or time and event).
    n_members : int
        Number of refits (20 gives a stable 95% percentile interval for a screen; use
        more for a publication).
    seed : int
        Seed of the resampling.
    groups : ndarray, optional
        Resampling units (default: ``X["patient_id"]`` when present, so repeated episodes
        of a patient stay together).
    progress : bool
        Show a progress bar.
    n_jobs : int
        Members fitted in parallel (joblib threads; -1 = every core). The members are
        the same for any value.

    Returns
    -------
    BootstrapEnsemble
    """
    if n_members < 2:
        raise ValueError(f"n_members={n_members}: a bootstrap interval needs at least 2 refits")
    rng = np.random.default_rng(seed)
    if groups is None and isinstance(X, pd.DataFrame) and "patient_id" in X.columns:
        groups = X["patient_id"].to_numpy()
    units, unit_rows = _units(len(X), groups)
    # the care-pathway features depend on each row alone: derive them once, not per refit
    frame = model._model_frame(X)
    check = frame.iloc[: min(len(frame), 500)]
    reference = model.preprocessor_.transform(check)
    # resamples are drawn in order first, so any n_jobs gives the same members
    resamples = [np.concatenate([unit_rows[u] for u in rng.integers(0, units, units)])
                 for _ in range(n_members)]
    if progress:
        from tqdm import tqdm

        resamples = tqdm(resamples, desc="bootstrap refits", unit="fit")
    # threads: no process start-up or copies of the frame, and xgboost and the BLAS/LBFGS
    # solvers release the GIL while they fit
    members = Parallel(n_jobs=n_jobs, prefer="threads")(delayed(_refit)(model, frame, y, rows)
                                                        for rows in resamples)
    shared = []
    for member in members:
        encoded = member.preprocessor_.transform(check)
        shared.append(encoded.shape == reference.shape
                      and bool(np.array_equal(encoded, reference, equal_nan=True)))
    return BootstrapEnsemble(members, shared, _compile(members, shared, reference))


def _refit(model, frame: pd.DataFrame, y, rows: np.ndarray):
    return clone(model).fit(frame.iloc[rows].reset_index(drop=True), _take(y, rows))


def _compile(members: list, shared: list[bool], rows: np.ndarray) -> CompiledForest | None:
    """One numpy forest of the members' boosters, when they are trees on one encoding."""
    if not all(shared) or not all(_is_xgboost(m.estimator_) for m in members):
        return None
    return CompiledForest([m.estimator_.get_booster() for m in members], rows)


def _units(n: int, groups: np.ndarray | None) -> tuple[int, list[np.ndarray]]:
    if groups is None:
        return n, [np.array([i]) for i in range(n)]
    codes, index = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(index, kind="stable")
    bounds = np.cumsum(np.bincount(index, minlength=len(codes)))[:-1]
    return len(codes), np.split(order, bounds)


def _take(y, rows: np.ndarray):
    if isinstance(y, (pd.DataFrame, pd.Series)):
        return y.iloc[rows].reset_index(drop=True)
    return np.asarray(y)[rows]
