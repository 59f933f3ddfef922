"""The base learners by name, with their default hyperparameters.

=============  ==============================================  ==========================
learner        estimator                                       margin
=============  ==============================================  ==========================
logistic       L2-penalised ``LogisticRegression`` (splines)   log-odds
xgboost        ``XGBClassifier`` (binary:logistic)             log-odds
cox            ridge :class:`~spinerisk.models.cox.CoxPH`      log relative hazard
xgboost_cox    ``XGBRegressor`` (survival:cox)                 log relative hazard
=============  ==============================================  ==========================

The xgboost learners use the ``hist`` tree method. Unless ``params`` (a config's
``model.params``) set ``n_jobs``, xgboost uses every thread the OpenMP runtime allows in
the process that fits or predicts: all CPUs of its affinity mask, fewer under
``OMP_NUM_THREADS`` or a threadpoolctl ``threadpool_limits(user_api="openmp")`` block (Dask
workers get one each). No thread count is stored in the model, so a model fitted on a
32-core server does not oversubscribe a 2-core scoring worker.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BINARY_LEARNERS = ("logistic", "xgboost")
SURVIVAL_LEARNERS = ("cox", "xgboost_cox")
LEARNERS = BINARY_LEARNERS + SURVIVAL_LEARNERS

_XGB_DEFAULTS = {"n_estimators": 300, "learning_rate": 0.05, "max_depth": 3,
                 "min_child_weight": 1.0, "subsample": 0.8, "colsample_bytree": 0.8,
                 "reg_lambda": 1.0, "reg_alpha": 0.0, "tree_method": "hist"}
DEFAULTS: dict[str, dict[str, Any]] = {
    "logistic": {"C": 1.0, "max_iter": 5000},
    "xgboost": _XGB_DEFAULTS,
    "cox": {"alpha": 1.0},
    "xgboost_cox": _XGB_DEFAULTS,
}


def check_learner(learner: str, survival: bool) -> None:
    """Refuse an unknown learner or one that does not fit the task's outcome."""
    allowed = SURVIVAL_LEARNERS if survival else BINARY_LEARNERS
    if learner not in allowed:
        kind = "time-to-event" if survival else "binary"
        raise ValueError(f"learner={learner!r} not allowed for a {kind} task; use one of "
                         f"{', '.join(allowed)}")


def make_learner(learner: str, params: dict[str, Any] | None, random_state: int):
    """A fresh, unfitted base learner with defaults overridden by ``params``."""
    merged = {**DEFAULTS[learner], **(params or {})}
    unknown = _unknown_params(learner, merged)
    if unknown:
        raise ValueError(f"learner {learner!r}: unknown hyperparameters {unknown}")
    if learner in ("xgboost", "xgboost_cox"):
        _check_n_jobs(merged.get("n_jobs"))
    if learner == "logistic":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(**merged)
    if learner == "cox":
        from spinerisk.models.cox import CoxPH

        return CoxPH(**merged)
    import xgboost as xgb

    if learner == "xgboost":
        return xgb.XGBClassifier(objective="binary:logistic", random_state=random_state,
                                 **merged)
    return xgb.XGBRegressor(objective="survival:cox", random_state=random_state, **merged)


def _check_n_jobs(requested) -> None:
    """``n_jobs`` is unset (every thread the runtime allows) or a positive integer."""
    if requested is None:
        return
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
        raise ValueError(f"model.params.n_jobs={requested!r} is not allowed; give a positive "
                         "number of threads, or leave it out to use every available core")


def _unknown_params(learner: str, params: dict[str, Any]) -> list[str]:
    if learner in ("xgboost", "xgboost_cox"):
        return []  # xgboost validates its own keyword arguments
    allowed = {"logistic": {"C", "max_iter", "tol", "l1_ratio", "penalty", "solver"},
               "cox": {"alpha", "max_iter", "tol"}}[learner]
    return sorted(set(params) - allowed)


#: learners that fit a row of integer weight ``k`` as they fit ``k`` copies of it: the
#: binary booster sums gradients and hessians by weight, and its encoding learns nothing
#: from the rows' frequencies (not so the spline learners, whose knots are quantiles of
#: the rows, nor ``survival:cox``, which does not weight its risk sets)
FREQUENCY_WEIGHTED = ("xgboost",)


def fit_learner(estimator, learner: str, Z: np.ndarray, y, time_event=None,
                sample_weight: np.ndarray | None = None):
    """Fit a base learner on encoded features (survival learners take (time, event));
    ``sample_weight`` only for the :data:`FREQUENCY_WEIGHTED` learners."""
    if learner == "cox":
        return estimator.fit(Z, np.column_stack(time_event))
    if learner == "xgboost_cox":
        return estimator.fit(Z, cox_label(*time_event))
    if sample_weight is not None:
        return estimator.fit(Z, y, sample_weight=sample_weight)
    return estimator.fit(Z, y)


def cox_label(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """xgboost's ``survival:cox`` label: the time, negative for censored rows."""
    return np.where(event == 1, time, -time)


def margin(estimator, learner: str, Z: np.ndarray) -> np.ndarray:
    """The base learner's raw margin (log-odds or log relative hazard)."""
    if learner == "logistic":
        return estimator.decision_function(Z)
    if learner == "cox":
        return estimator.predict(Z)
    return estimator.get_booster().inplace_predict(Z, predict_type="margin").astype(float)
