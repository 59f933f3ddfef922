"""A risk model developed on multiply imputed data, scoring new patients over imputations.

``fit`` completes the development rows ``m`` times by chained equations with the outcome
in the imputation models (:class:`spinerisk.features.imputation.ChainedImputer`) and fits
one full :class:`RiskModel` (preprocessing, learner, out-of-fold calibration) on each
completed dataset. It keeps the imputer's deployment models (no outcome) and the ``m``
risk models; no patient rows.

Scoring a patient. The patient's missing findings are imputed ``m`` times by the
deployment models; every model ``l`` scores every imputation ``k``, giving an ``m x m``
matrix ``L[l, k]`` of calibrated risks on the logit scale. The reported risk is the mean
of the ``m x m`` risks ``expit(L)``: the expected risk over the patient's unknown
findings (and over the models). Averaging on the logit scale instead makes the risk of
a patient with uncertain findings too extreme: in ``benchmarks/mice_simulation.py``
the calibration slope at a validation site with the same missingness was 0.926 when
logits were averaged against 0.955 when risks were (30 replicates, MC SE 0.01; the
median + indicator model had 0.959). A patient with nothing missing has ``m``
identical imputations.

The interval (logit scale around the logit of the reported risk, back-transformed). Three variance components, added as
Rubin's rules add within and between variances:

* ``W``, the estimation (sampling) variance of one development: the bootstrap ensemble
  of the pipeline (:mod:`spinerisk.explain.uncertainty`, mean squared deviation of the
  refits around the model, bias included), refitted on the first completed dataset and
  averaged over the patient's imputations (Rubin's within-imputation variance);
* ``B_model = mean_k var_l L[l, k]``, the between-imputation variance of the *models*:
  how much the prediction moves with the imputation of the development data;
* ``B_patient = var_k mean_l L[l, k]``, the between-imputation variance of the
  *patient's* missing findings; exactly 0 when nothing is missing.

``T = W + (1 + 1/m) (B_model + B_patient)`` and the range is ``logit(r) +- t_nu sqrt(T)``
with ``nu = min(members - 1, m - 1)``, the fewest degrees of freedom among the three
variance estimates: a conservative bound on their Welch-Satterthwaite df (which is never
below it), fixed for every patient so that more imputation variance always means a wider
range (with the Welch-Satterthwaite df itself, adding a component can raise the df and
narrow the range). With ``m >= members`` it is the bootstrap interval's ``members - 1``. It is an interval for the risk the model
would estimate had the patient's missing findings been measured, from a development
sample of this size: not a prediction interval for the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from scipy.stats import t as student_t
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from spinerisk.features import TaskSpec
from spinerisk.features.imputation import ChainedImputer, outcome_columns
from spinerisk.features.profile import linear_predictor_profile, risk_to_lp, training_profile
from spinerisk.models.risk_model import RiskModel

_EPS = 1e-9


def _logit(risk: np.ndarray) -> np.ndarray:
    return logit(np.clip(risk, _EPS, 1 - _EPS))


class ImputedRiskModel(ClassifierMixin, BaseEstimator):
    """Calibrated risk model developed on ``m`` imputations (see module docstring).

    Parameters
    ----------
    task : TaskSpec
        What to predict from what (a DataFrame input is required).
    learner, params, calibration, calibration_folds, n_knots, random_state
        As :class:`RiskModel`, for each of the ``m`` models.
    n_imputations : int
        ``m``.
    n_iterations : int
        Chained-equation sweeps per imputation.
    max_predictors : int
        Other variables in each imputation model.
    bootstrap_members : int
        Refits of the pipeline on bootstrap resamples of the first completed dataset (the
        within variance of the per-patient interval; 0: no interval).
    n_jobs : int
        Bootstrap refits in parallel (threads).

    Attributes
    ----------
    imputer_ : ChainedImputer
        Deployment imputation models (no outcome), ``m`` sets.
    members_ : list of RiskModel
        One model per completed development dataset.
    within_ : BootstrapEnsemble or None
    task_, horizon_, predictors_, classes_, training_profile_
        As :class:`RiskModel` (the profile from the observed, not imputed, values).
    """

    def __init__(self, task: TaskSpec | None = None, learner: str = "logistic",
                 params: dict[str, Any] | None = None, calibration: str = "platt",
                 calibration_folds: int = 5, n_knots: int = 4, random_state: int = 0,
                 n_imputations: int = 20, n_iterations: int = 10, max_predictors: int = 15,
                 bootstrap_members: int = 0, n_jobs: int = 1):
        self.task = task
        self.learner = learner
        self.params = params
        self.calibration = calibration
        self.calibration_folds = calibration_folds
        self.n_knots = n_knots
        self.random_state = random_state
        self.n_imputations = n_imputations
        self.n_iterations = n_iterations
        self.max_predictors = max_predictors
        self.bootstrap_members = bootstrap_members
        self.n_jobs = n_jobs

    def _member(self) -> RiskModel:
        return RiskModel(self.task, self.learner, params=self.params,
                         calibration=self.calibration,
                         calibration_folds=self.calibration_folds, n_knots=self.n_knots,
                         random_state=self.random_state)

    # ------------------------------------------------------------------ fit
    def fit(self, X: pd.DataFrame, y) -> ImputedRiskModel:
        """Impute the development rows ``m`` times (with the outcome) and fit a model on
        each completed dataset."""
        if self.task is None or not isinstance(X, pd.DataFrame):
            raise TypeError(f"{type(self).__name__} needs a task and a DataFrame input")
        template = self._member()
        frame = template._model_frame(X, self.task)[list(self.task.predictors)]
        y_checked = y if self.task.is_survival else np.asarray(y)
        if not self.task.is_survival and pd.isna(y_checked).any():
            raise ValueError(f"y has {int(pd.isna(y_checked).sum())} missing outcomes; exclude "
                             "those rows first (the training runner does so and logs the count)")
        self.imputer_ = ChainedImputer(self.task, self.n_imputations, self.n_iterations,
                                       self.max_predictors, self.random_state)
        completed = self.imputer_.fit_transform(frame, outcome_columns(self.task, y_checked))
        ids = X["patient_id"].to_numpy() if "patient_id" in X.columns else None
        if ids is not None:
            completed = [c.assign(patient_id=ids) for c in completed]
        self.members_ = [self._member().fit(c, y) for c in completed]
        first = self.members_[0]
        self.task_, self.horizon_ = first.task_, first.horizon_
        self.predictors_, self.classes_ = first.predictors_, first.classes_
        self.n_features_in_ = X.shape[1]
        self.within_ = None
        if self.bootstrap_members:
            from spinerisk.explain.uncertainty import fit_bootstrap_ensemble

            self.within_ = fit_bootstrap_ensemble(first, completed[0], y,
                                                  n_members=self.bootstrap_members,
                                                  seed=self.random_state, groups=ids,
                                                  n_jobs=self.n_jobs)
        events = first.training_profile_["events"]
        self.training_profile_ = training_profile(frame, self.task.variables, events)
        risk = self.predict_risk(frame)
        self.training_profile_["linear_predictor"] = linear_predictor_profile(
            risk_to_lp(risk, self.task.is_survival), self.task.is_survival)
        return self

    # ------------------------------------------------------------------ predict
    def _frame(self, X) -> pd.DataFrame:
        return self.members_[0]._model_frame(X)[list(self.predictors_)]

    def logit_matrix(self, X) -> np.ndarray:
        """``L[l, k, i]``: model ``l``'s calibrated risk (logit) of imputation ``k`` of row
        ``i`` (rows with nothing missing are scored once and copied)."""
        check_is_fitted(self, "members_")
        frame = self._frame(X)
        return self._logit_matrix(frame, self.imputer_.transform(frame))

    def _logit_matrix(self, frame: pd.DataFrame, completions: list[pd.DataFrame]) -> np.ndarray:
        incomplete = frame.isna().any(axis=1).to_numpy()
        m = len(completions)
        out = np.empty((len(self.members_), m, len(frame)))
        for l, member in enumerate(self.members_):
            out[l] = _member_logit(member, completions[0])[None, :]
            if incomplete.any():
                for k in range(1, m):
                    out[l, k, incomplete] = _member_logit(member, completions[k][incomplete])
        return out

    def predict_risk(self, X) -> np.ndarray:
        """Risk pooled over models and imputations: the mean of ``expit(L)``."""
        return pooled_risk(self.logit_matrix(X))

    def predict_proba(self, X) -> np.ndarray:
        """``[1 - risk, risk]`` per row."""
        risk = self.predict_risk(X)
        return np.column_stack([1.0 - risk, risk])

    def predict(self, X) -> np.ndarray:
        """Class label at risk 0.5 (scikit-learn contract; use :meth:`predict_risk`)."""
        return self.classes_[(self.predict_risk(X) >= 0.5).astype(int)]

    # ------------------------------------------------------------------ interval
    def variance_components(self, X) -> dict[str, np.ndarray]:
        """Per row: pooled logit ``centre``, ``within``, ``between_model``,
        ``between_patient`` and ``total`` variances and ``df`` (module docstring)."""
        check_is_fitted(self, "members_")
        if self.within_ is None:
            raise ValueError("no bootstrap ensemble for the within variance; fit with "
                             "bootstrap_members >= 2 (config uncertainty.bootstrap_members)")
        frame = self._frame(X)
        completions = self.imputer_.transform(frame)
        L = self._logit_matrix(frame, completions)
        m = L.shape[1]
        within = self._within(completions[0])
        incomplete = frame.isna().any(axis=1).to_numpy()
        if incomplete.any():  # averaged over the imputations, which differ only here
            rest = sum(self._within(c[incomplete]) for c in completions[1:])
            within[incomplete] = (within[incomplete] + rest) / m
        between_model = L.var(axis=0, ddof=1).mean(axis=0)
        between_patient = L.mean(axis=0).var(axis=0, ddof=1)
        total = within + (1 + 1 / m) * (between_model + between_patient)
        df = np.full(len(frame), float(min(len(self.within_.members) - 1, m - 1)))
        return {"centre": _logit(pooled_risk(L)), "within": within,
                "between_model": between_model, "between_patient": between_patient,
                "total": total, "df": df}

    def _within(self, completed: pd.DataFrame) -> np.ndarray:
        """Mean squared deviation (logit) of the bootstrap refits around the first model,
        bias included (as :mod:`spinerisk.explain.uncertainty`), per completed row."""
        centre = _member_logit(self.members_[0], completed)
        refits = _logit(self.within_.risks(completed))
        return ((refits - centre) ** 2).sum(axis=0) / (refits.shape[0] - 1)

    def predict_interval(self, X, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Per-row range around the pooled risk (module docstring): (low, high)."""
        v = self.variance_components(X)
        half = student_t.ppf(0.5 + level / 2, v["df"]) * np.sqrt(v["total"])
        return expit(v["centre"] - half), expit(v["centre"] + half)

    def assess_record(self, record: Mapping[str, Any],
                      pathway: Mapping[str, Any] | None = None,
                      level: float = 0.95) -> dict[str, Any]:
        """One patient: pooled risk, which findings were imputed, the range and its
        variance components (None when the model has no bootstrap ensemble)."""
        frame = self._record_frame(record, pathway)
        out: dict[str, Any] = {"imputed": [v.name for v in self.task_.variables
                                           if frame[v.name].isna().iloc[0]],
                               "m": len(self.members_)}
        if self.within_ is None:
            out["risk"] = float(self.predict_risk(frame)[0])
            out["interval"] = None
            return out
        v = self.variance_components(frame)
        half = float(student_t.ppf(0.5 + level / 2, v["df"][0]) * np.sqrt(v["total"][0]))
        centre = float(v["centre"][0])
        out["risk"] = float(expit(centre))
        out["interval"] = {
            "low": float(expit(centre - half)), "high": float(expit(centre + half)),
            "level": level, "df": float(v["df"][0]),
            "variance_logit": {k: float(v[k][0]) for k in
                               ("within", "between_model", "between_patient", "total")},
            "method": (f"Rubin's rules over {len(self.members_)} imputations: bootstrap "
                       f"within variance ({len(self.within_.members)} refits) plus the "
                       "between-imputation variance of the models and of the patient's "
                       "missing findings")}
        return out

    def _record_frame(self, record: Mapping[str, Any],
                      pathway: Mapping[str, Any] | None) -> pd.DataFrame:
        row = {**record, **(pathway or {})}
        frame = pd.DataFrame([{name: row.get(name) for name in self.predictors_}])
        return frame.astype({v.name: float for v in self.task_.variables
                             if v.kind != "category"})

    def complete_record(self, record: Mapping[str, Any],
                        pathway: Mapping[str, Any] | None = None,
                        imputation: int = 0) -> dict[str, Any]:
        """The patient's predictors with missing findings filled by one imputation."""
        check_is_fitted(self, "members_")
        completed = self.imputer_.transform(self._record_frame(record, pathway))[imputation]
        return {k: (v.item() if hasattr(v, "item") else v)
                for k, v in completed.iloc[0].items()}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def describe_missing_data(model) -> str:
    """How a fitted model handles missing predictor values, in words (reports)."""
    if isinstance(model, ImputedRiskModel):
        imputer = model.imputer_
        return (f"multiple imputation by chained equations (m={len(imputer.models_)}, "
                f"{imputer.n_iterations} sweeps): the development rows were imputed with "
                "the outcome in the imputation models and one model fitted per imputation; "
                "a patient's missing findings are imputed by the stored imputation models "
                "(no outcome) and the risk averaged over every model and imputation")
    learner = getattr(model, "learner", None)
    if learner in ("xgboost", "xgboost_cox"):
        return "native: missing values follow each tree split's learned default direction"
    return ("median (a category: no level) plus a missing-indicator column for each "
            "predictor with missing development values")


def pooled_risk(L: np.ndarray) -> np.ndarray:
    """The reported risk from ``L[l, k, i]``: the mean risk over models and imputations."""
    return expit(L).mean(axis=(0, 1))


def _member_logit(member: RiskModel, completed: pd.DataFrame) -> np.ndarray:
    """One member's calibrated risk (logit) of already-completed model-frame rows."""
    return _logit(member.calibrator_(member.base_margin(completed, model_frame=True)))
