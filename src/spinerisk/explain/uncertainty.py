"""An interval for one patient's predicted risk: a bootstrap ensemble of the whole pipeline.

Why this method. The interval a clinician needs here is for the *estimated* risk: how much
the prediction would move had the model been developed on another sample of the same
population. The non-parametric bootstrap answers exactly that for any learner (splines,
trees, Cox) without distributional assumptions: each member refits the complete
pipeline -- preprocessing, base learner, calibration (below) -- on a resample of the
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

Member calibration. Each member's calibrator is fitted either as the main model's is,
on out-of-fold margins of its resample (``cross_fit``: ``calibration_folds + 1`` learner
fits per member), or on the margins of its *out-of-bag* patients, those its resample did
not draw (``oob``, about 37% of the patients: rows the member's learner never saw, so
the calibrator is fitted honestly and varies between members as a refitted calibration
does), with one learner fit per member. Training uses ``uncertainty.member_calibration``
(default ``oob``): in simulation (``benchmarks/uncertainty_coverage.py``, README) its
interval covered the true risk at least as often as ``cross_fit``'s, at a quarter of the
member-fitting CPU. With ``oob`` an xgboost member is fitted on the distinct rows of its
resample with the number of draws as frequency weights (a third fewer rows to boost):
the booster one would grow on the duplicated rows, except that row subsampling
(``subsample`` < 1) keeps or drops a row's copies together instead of one by one; the
interval's coverage was measured again with this change (README). Other learners and
``cross_fit`` members are fitted on the duplicated rows.

Cost. ``n_members`` refits at training time. At prediction time the members share
the main model's encoding of the record whenever their fitted encodings agree with it on
the training rows (always for the tree learners, whose encoding has nothing to learn);
tree members are then walked together as one compiled numpy forest
(:mod:`spinerisk.explain.forest`, checked equal to xgboost when built), so one patient
costs one encoding and one forest walk; the members' SHAP values for the drivers' noise
come from each member's TreeSHAP tables (:mod:`spinerisk.explain.leaf_tables`, the batch
path's, built in numpy at load and looked up in numpy) while all members' tables together
stay under :data:`MEMBER_TABLE_ENTRIES` floats. Every
per-record method has a many-rows form (``risks_of_rows``, ``intervals_of_rows``,
``contribution_sds``) whose answer for a row equals the one-row call's exactly.

How training calls it::

    model = RiskModel(task, learner="xgboost").fit(frame, y)
    model.bootstrap_ = fit_bootstrap_ensemble(model, frame, y, n_members=20, seed=seed)
    # ...then log/register the model as usual: the ensemble travels inside the pickled model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.special import expit, logit
from scipy.stats import t as student_t
from sklearn.base import clone

from spinerisk.explain.contributions import _is_xgboost
from spinerisk.explain.forest import CompiledForest
from spinerisk.explain.leaf_tables import LeafTables, TableLookup, dropped_to_last
from spinerisk.models import learners

#: Attribute of a fitted RiskModel that carries its ensemble (set by training).
ENSEMBLE_ATTRIBUTE = "bootstrap_"

#: most floats of all members' TreeSHAP tables together (32 MB, in every server worker):
#: 20 members of 300 trees need ~1.2M at depth 3 and ~6M at depth 4; deeper members are
#: explained one by one by xgboost's pred_contribs
MEMBER_TABLE_ENTRIES = 1 << 22


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
    member_calibration : {"cross_fit", "oob"}
        How the members' calibrators were fitted (:func:`fit_bootstrap_ensemble`).
    """

    def __init__(self, members: list, shares_encoding: list[bool],
                 forest: CompiledForest | None = None, member_calibration: str = "cross_fit"):
        self.members = members
        self.shares_encoding = shares_encoding
        self.forest = forest
        self.member_calibration = member_calibration
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
        return self.risks_of_rows(model, [record], encoded, [pathway])[:, 0]

    def risks_of_rows(self, model, records: Sequence[Mapping[str, Any]], encoded: np.ndarray,
                      pathways: Sequence[Mapping[str, Any] | None] | None = None) -> np.ndarray:
        """Every member's calibrated risk for several validated records at once: array of
        shape (n_members, n_rows); each row's values equal its own one-row call's.

        ``encoded`` holds ``model.encode_record`` of each record, stacked.
        """
        if self.forest is not None:
            margins = self.forest.margins(encoded)
            return np.vstack([m.calibrator_(margins[:, i]) for i, m in enumerate(self.members)])
        return np.vstack([member.risk_of_encoded(self._encoded(member, shared, records,
                                                               encoded, pathways))
                          for member, shared in zip(self.members, self.shares_encoding)])

    def contribution_sd(self, record: Mapping[str, Any], encoded: np.ndarray,
                        pathway: Mapping[str, Any] | None = None) -> dict[str, float]:
        """Per clinical variable, the SD across members of its grouped SHAP contribution
        for one record: how much that driver moves between refits (its noise).

        Each member is explained by its own :class:`~spinerisk.explain.ModelExplainer`
        (built once, on first use).
        """
        return self.contribution_sds([record], encoded, [pathway])[0]

    def contribution_sds(self, records: Sequence[Mapping[str, Any]], encoded: np.ndarray,
                         pathways: Sequence[Mapping[str, Any] | None] | None = None
                         ) -> list[dict[str, float]]:
        """:meth:`contribution_sd` of several records at once (one explainer call per
        member for all of them); each record's values equal its own one-row call's."""
        explainers, tables = self.prepare()
        names = explainers[0].groups.variables
        if tables is not None:  # every member from its TreeSHAP tables
            values = tables.grouped(encoded)
        else:
            shared_rows = encoded
            if explainers[0].family == "trees":  # one matrix for every member that shares it
                from spinerisk.explain.contributions import tree_matrix

                shared_rows = tree_matrix(encoded)
            # members x rows x variables (a member grouping by other variables is aligned
            # on the first member's, a variable it lacks contributing 0)
            values = np.stack([_aligned(explainer.explain_encoded(
                shared_rows if shared else self._encoded(member, False, records, encoded,
                                                         pathways)), names)
                for member, shared, explainer
                in zip(self.members, self.shares_encoding, explainers)])
        return [dict(zip(names, values[:, i, :].std(axis=0, ddof=1).tolist()))
                for i in range(len(records))]

    def prepare(self) -> tuple[list, MemberTables | None]:
        """The members' explainers and, for trees on one encoding, their TreeSHAP tables
        (:class:`MemberTables`): built on first use, or ahead of the first patient by a
        server (before it forks its workers)."""
        from spinerisk.explain.model_explainer import ModelExplainer

        explainers = getattr(self, "_explainers", None)
        if explainers is None:
            explainers = self._explainers = [ModelExplainer(m) for m in self.members]
        if not hasattr(self, "_tables"):
            self._tables = _leaf_tables(self, explainers)
        return explainers, self._tables

    @staticmethod
    def _encoded(member, shared: bool, records, encoded: np.ndarray, pathways) -> np.ndarray:
        """A member's encoding of the records: the main model's when they agree."""
        if shared:
            return encoded
        pathways = pathways if pathways is not None else [None] * len(records)
        return np.vstack([member.encode_record(r, p) for r, p in zip(records, pathways)])

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
        return self.intervals_of_rows(model, [record], encoded, [pathway], level)[0]

    def intervals_of_rows(self, model, records, encoded, pathways=None,
                          level: float = 0.95) -> list[Interval]:
        """:meth:`interval_of_record` of several records at once (``encoded`` stacked)."""
        centre = model.risk_of_encoded(encoded)
        members = self.risks_of_rows(model, records, encoded, pathways)
        low, high = _logit_interval(centre, members, level)
        coverage = getattr(self, "coverage", None)  # absent in ensembles pickled before
        method = f"bootstrap, {len(self.members)} refits of the pipeline"
        # ensembles pickled before the option were all cross-fitted
        if getattr(self, "member_calibration", "cross_fit") == "oob":
            method += ", each calibrated on its out-of-bag patients"
        label = interval_label(level, coverage)
        measured = None if coverage is None else coverage["coverage"]
        return [Interval(float(lo), float(hi), level, len(self.members), method, label,
                         measured) for lo, hi in zip(low.tolist(), high.tolist())]

    def predict_interval(self, model, X, level: float = 0.95,
                         encoded: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Interval for every row of a frame around the main model's risk: (low, high).

        ``encoded``: the main model's encoding of ``X`` when the caller already has it.
        """
        if encoded is None:
            encoded = model.preprocessor_.transform(model._model_frame(X))
        return _logit_interval(model.risk_of_encoded(encoded), self.risks(X, encoded), level)


class MemberTables:
    """The members' TreeSHAP tables as one numpy lookup, each member's features mapped to
    the first member's clinical variables.

    Parameters
    ----------
    tables : list of LeafTables
        One per member (built and checked against its pred_contribs).
    columns : list of ndarray
        Per member, the output column of each encoded feature (-1: a variable the first
        member does not report).
    n_columns : int
    """

    def __init__(self, tables: list[LeafTables], columns: list[np.ndarray], n_columns: int):
        self.n_members, self.n_columns = len(tables), n_columns
        self.lookup = TableLookup.concat([t.lookup for t in tables])
        # member m's column c is m * (n_columns + 1) + c; each member's last is dropped
        width = n_columns + 1
        member = np.repeat(np.arange(len(tables)), [len(t.lookup.leaf_k) for t in tables])
        column = np.stack([dropped_to_last(c, n_columns) for c in columns])
        self.slot_column = (member[:, None] * width
                            + column[member[:, None], self.lookup.slot_feature]).ravel()

    def grouped(self, X: np.ndarray) -> np.ndarray:
        """Grouped SHAP values of rows ``X``: array (members, rows, variables). One numpy
        pass for all members (no numba in a server); each row is summed on its own, in
        its member's slot order, so a row in a batch equals the row alone and each
        member's values equal its own tables' (``LeafTables.contributions``)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        width = self.n_columns + 1
        sums = self.lookup.sums(X, self.slot_column, self.n_members * width)
        return sums.reshape(len(X), self.n_members, width)[..., :-1].transpose(1, 0, 2)


def _leaf_tables(ensemble: BootstrapEnsemble, explainers: list) -> MemberTables | None:
    """The members' TreeSHAP tables, when they are xgboost trees on the main encoding and
    small enough together; each booster's tables are checked against its pred_contribs
    when built (:class:`~spinerisk.explain.leaf_tables.LeafTables`)."""
    if ensemble.forest is None or explainers[0].family != "trees":
        return None
    names = explainers[0].groups.variables
    column = {name: k for k, name in enumerate(names)}
    budget = MEMBER_TABLE_ENTRIES // len(explainers)
    tables, columns = [], []
    for member, explainer in zip(ensemble.members, explainers):
        member_tables = LeafTables(member.estimator_.get_booster(), max_entries=budget)
        if member_tables.refused is not None:  # xgboost's TreeSHAP, member by member
            return None
        groups = explainer.groups
        tables.append(member_tables)
        columns.append(np.array([column.get(groups.variables[c], -1)
                                 for c in groups.column_of_feature], dtype=np.int64))
    return MemberTables(tables, columns, len(names))


def _aligned(grouped, names: tuple[str, ...]) -> np.ndarray:
    """Grouped contributions as columns in the order of ``names`` (0 where absent)."""
    if grouped.variables == names:
        return grouped.values
    index = {v: k for k, v in enumerate(grouped.variables)}
    out = np.zeros((grouped.values.shape[0], len(names)))
    for k, name in enumerate(names):
        if name in index:
            out[:, k] = grouped.values[:, index[name]]
    return out


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


@lru_cache(maxsize=64)
def _student_quantile(level: float, df: int) -> float:
    """Two-sided ``level`` quantile of Student's t (the same few values every call)."""
    return float(student_t.ppf(0.5 + level / 2, df))


def _logit_interval(centre: np.ndarray, members: np.ndarray,
                    level: float) -> tuple[np.ndarray, np.ndarray]:
    """``expit(logit(centre) +- t * RMSE)`` on the logit scale, members along axis 0.

    ``RMSE = sqrt(SD^2 + bias^2)`` of the members around the centre (bias = members' mean
    minus the centre), so a systematic shift that the refits reveal widens the range;
    ``t`` is Student's quantile with ``members - 1`` degrees of freedom, so the Monte Carlo
    error of an SD from few members widens it too.
    """
    eps = 1e-9
    # rows x members, contiguous: each row's sums then run the same way however many
    # rows there are, so a batched row equals the row computed alone
    lm = np.ascontiguousarray(logit(np.clip(members, eps, 1 - eps)).T)
    middle = logit(np.clip(centre, eps, 1 - eps))
    rmse = np.sqrt(lm.var(axis=1, ddof=1) + (lm.mean(axis=1) - middle) ** 2)
    spread = _student_quantile(level, lm.shape[1] - 1) * rmse
    return expit(middle - spread), expit(middle + spread)


#: how a member's calibrator is fitted (``uncertainty.member_calibration``)
MEMBER_CALIBRATIONS = ("cross_fit", "oob")


def fit_bootstrap_ensemble(model, X: pd.DataFrame, y, n_members: int = 20, seed: int = 0,
                           groups: np.ndarray | None = None, progress: bool = False,
                           n_jobs: int = 1, calibration: str = "cross_fit"
                           ) -> BootstrapEnsemble:
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
    calibration : {"cross_fit", "oob"}
        How each member's calibrator is fitted. ``cross_fit``: as ``model.fit`` does, on
        out-of-fold margins of the resample (``calibration_folds`` extra learner fits
        per member). ``oob``: one learner fit on the resample and the calibrator on the
        margins of the member's out-of-bag patients (those the resample did not draw,
        about 37%): rows the member's learner never saw, so each member still carries
        the calibration's sampling noise, at a ``calibration_folds + 1``-th of the
        boosting work. Either way a member is a fitted ``RiskModel`` like ``model``.

    Returns
    -------
    BootstrapEnsemble
    """
    if n_members < 2:
        raise ValueError(f"n_members={n_members}: a bootstrap interval needs at least 2 refits")
    if calibration not in MEMBER_CALIBRATIONS:
        raise ValueError(f"calibration={calibration!r} is not allowed; allowed: "
                         f"{', '.join(map(repr, MEMBER_CALIBRATIONS))}")
    rng = np.random.default_rng(seed)
    if groups is None and isinstance(X, pd.DataFrame) and "patient_id" in X.columns:
        groups = X["patient_id"].to_numpy()
    units, unit_rows = _units(len(X), groups)
    # the care-pathway features depend on each row alone: derive them once, not per refit
    frame = model._model_frame(X)
    check = frame.iloc[: min(len(frame), 500)]
    reference = model.preprocessor_.transform(check)
    # resamples are drawn in order first, so any n_jobs gives the same members
    draws = [rng.integers(0, units, units) for _ in range(n_members)]
    weighted = calibration == "oob" and model.learner in learners.FREQUENCY_WEIGHTED
    resamples = [(*_resampled_rows(drawn, units, unit_rows, weighted),
                  _out_of_bag(drawn, units, unit_rows) if calibration == "oob" else None)
                 for drawn in draws]
    if progress:
        from tqdm import tqdm

        resamples = tqdm(resamples, desc="bootstrap refits", unit="fit")
    # threads: no process start-up or copies of the frame, and xgboost and the BLAS/LBFGS
    # solvers release the GIL while they fit
    members = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_refit)(model, frame, y, rows, held, repeats)
        for rows, repeats, held in resamples)
    shared = []
    for member in members:
        encoded = member.preprocessor_.transform(check)
        shared.append(encoded.shape == reference.shape
                      and bool(np.array_equal(encoded, reference, equal_nan=True)))
    return BootstrapEnsemble(members, shared, _compile(members, shared, reference),
                             calibration)


def _refit(model, frame: pd.DataFrame, y, rows: np.ndarray, held: np.ndarray | None = None,
           repeats: np.ndarray | None = None):
    """One member: the pipeline refitted on ``rows`` (each counted ``repeats`` times when
    given); calibrated on the ``held`` rows' margins when given (out-of-bag), else on the
    resample's out-of-fold margins."""
    member, part = clone(model), frame.iloc[rows].reset_index(drop=True)
    if held is None:
        return member.fit(part, _take(y, rows))
    outcome = _take(y, held)
    event = np.asarray(outcome["event"] if isinstance(outcome, pd.DataFrame) else outcome)
    if len(np.unique(event)) < 2:
        raise ValueError(f"a member's {len(held)} out-of-bag rows hold fewer than two outcome "
                         "classes, so its calibrator cannot be fitted on them; use "
                         "uncertainty.member_calibration: cross_fit (or more patients)")
    return member.fit_held_out_calibration(part, _take(y, rows),
                                           frame.iloc[held].reset_index(drop=True), outcome,
                                           repeats=repeats)


def _resampled_rows(drawn: np.ndarray, units: int, unit_rows: list[np.ndarray],
                    weighted: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows a member fits and how many times each counts: the drawn units' rows as
    drawn (repeats None), or, ``weighted``, their distinct rows in order with the number
    of draws."""
    if not weighted:
        return np.concatenate([unit_rows[u] for u in drawn]), None
    draws = np.bincount(drawn, minlength=units)
    kept = np.flatnonzero(draws)
    rows = [unit_rows[u] for u in kept]
    return np.concatenate(rows), np.repeat(draws[kept], [len(r) for r in rows])


def _out_of_bag(drawn: np.ndarray, units: int, unit_rows: list[np.ndarray]) -> np.ndarray:
    """The rows of the units a resample did not draw, in order."""
    missed = np.setdiff1d(np.arange(units), drawn)
    return np.sort(np.concatenate([unit_rows[u] for u in missed])) if len(missed) \
        else np.empty(0, int)


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
