"""RiskModel: one task's full prediction model, from a cohort frame to calibrated risk.

``fit`` does, in order:

1. build the model frame: the task's predictors, plus care-pathway features
   (:func:`spinerisk.phenotype.pathway_features`) when the task uses them;
2. out-of-fold margins: ``calibration_folds`` folds grouped by patient (when the frame
   has ``patient_id``) and stratified by the outcome (event indicator), each fold's
   preprocessing + base learner fitted on the other folds only;
3. the calibrator fitted on those out-of-fold margins (never on rows a learner saw);
4. preprocessing + base learner refitted on all rows (the deployed learner).

Binary tasks: ``y`` is 0/1. Time-to-event tasks: ``y`` has columns ``time`` and
``event`` and the risk is the probability of the event by the task's horizon.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
from threadpoolctl import threadpool_limits

from spinerisk.features import Preprocessor, TaskSpec, build_preprocessor, numeric_task
from spinerisk.features.profile import linear_predictor_profile, risk_to_lp, training_profile
from spinerisk.models import learners
from spinerisk.models.calibration import make_calibrator
from spinerisk.models.cox import survival_arrays


class RiskModel(ClassifierMixin, BaseEstimator):
    """Calibrated risk model for one task.

    Parameters
    ----------
    task : TaskSpec, optional
        What to predict from what (:func:`spinerisk.features.spine_task`,
        :func:`~spinerisk.features.generic_task`); default: a binary task over every
        column of an array input.
    learner : {"logistic", "xgboost", "cox", "xgboost_cox"}
        Base learner (see :mod:`spinerisk.models.learners`).
    params : dict, optional
        Base-learner hyperparameters overriding the defaults.
    calibration : {"platt", "isotonic", "none"}
        Recalibration fitted on out-of-fold margins.
    calibration_folds : int
        Folds for the out-of-fold margins.
    n_knots : int
        Spline knots for continuous predictors (logistic and Cox).
    random_state : int
        Seed for folds and the learner.

    Attributes
    ----------
    task_ : TaskSpec
    predictors_ : tuple of str
    preprocessor_ : Preprocessor
    estimator_ : fitted base learner (LogisticRegression, XGBClassifier, CoxPH, XGBRegressor)
    calibrator_ : callable margin -> risk
    feature_names_ : list of str
    feature_to_variable_ : dict
    horizon_ : float or None
    training_profile_ : dict
    classes_ : ndarray
    n_features_in_ : int
    """

    def __init__(self, task: TaskSpec | None = None, learner: str = "logistic",
                 params: dict[str, Any] | None = None, calibration: str = "platt",
                 calibration_folds: int = 5, n_knots: int = 4, random_state: int = 0):
        self.task = task
        self.learner = learner
        self.params = params
        self.calibration = calibration
        self.calibration_folds = calibration_folds
        self.n_knots = n_knots
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def fit(self, X, y) -> RiskModel:
        """Fit preprocessing, base learner and calibrator (see module docstring)."""
        # the design matrices are small: threaded BLAS only adds contention (30x slower
        # measured on a loaded 2-core machine)
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(X, y)

    def fit_held_out_calibration(self, X, y, X_held, y_held,
                                 repeats: np.ndarray | None = None) -> RiskModel:
        """Fit preprocessing and base learner on ``X``, ``y`` once, and the calibrator on
        the base margins of *other* rows ``X_held``, ``y_held`` (rows the learner did not
        see, e.g. a bootstrap member's out-of-bag patients) instead of on out-of-fold
        margins. With ``calibration="none"`` the held rows are not used (as :meth:`fit`).

        ``repeats``: how many times each row of ``X`` counts (positive integers, e.g. a
        bootstrap resample's draws of the distinct rows): the learner is fitted with them
        as frequency weights (``learner="xgboost"`` only; an error otherwise) and the
        training profile counts each row that often, so the model is the one fitted on
        the rows repeated, up to xgboost's row subsampling (``subsample`` < 1 keeps or
        drops a repeated row's copies together) and in a fraction of the work.
        """
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(X, y, held=(X_held, y_held), repeats=repeats)

    def fit_calibrated_on(self, X, y, margin, y_margin) -> RiskModel:
        """Fit preprocessing and base learner on ``X``, ``y`` once, and the calibrator on
        given base margins ``margin`` of rows whose outcome is ``y_margin``, instead of on
        out-of-fold margins.

        The margins must come from a base learner with this model's hyperparameters that
        did not see those rows (as the out-of-fold boosters of :meth:`fit` did not), e.g.
        the held-out fold of the boosting rounds' early stopping
        (``Fitter.rounds_on_all_rows``). With ``calibration="none"`` they are not used.
        """
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(X, y, margins=(np.asarray(margin, dtype=float), y_margin))

    def _fit(self, X, y, held: tuple | None = None, margins: tuple | None = None,
             repeats: np.ndarray | None = None) -> RiskModel:
        if self.task is None:  # array input: every column a numeric predictor
            X, y = validate_data(self, X, y, dtype=float, ensure_all_finite="allow-nan")
            task = numeric_task(X.shape[1])
            X = pd.DataFrame(X, columns=list(task.predictors))
        else:
            task = self.task
            self.n_features_in_ = np.shape(X)[1]
        learners.check_learner(self.learner, task.is_survival)
        frame = X if self.task is None else self._model_frame(X, task)
        target = self._target(y, task, len(frame))
        repeats = self._check_repeats(repeats, len(frame))
        groups = (np.asarray(X["patient_id"]) if isinstance(X, pd.DataFrame)
                  and "patient_id" in X.columns else None)
        calibrator = make_calibrator(self.calibration, task.horizon)
        self.task_ = task
        self.horizon_ = task.horizon
        self.predictors_ = task.predictors
        if self.calibration != "none" and margins is not None:
            margin_target = self._target(margins[1], task, len(margins[0]))
            calibrator.fit(margins[0], margin_target["outcome"])
        elif self.calibration != "none" and held is None:
            oof, fold = self._out_of_fold_margin(frame, target, groups)
            calibrator.fit(oof, target["outcome"], fold)
        self.preprocessor_, self.estimator_ = self._fit_pipeline(frame, target, repeats)
        if self.calibration != "none" and held is not None:
            held_frame = self._model_frame(held[0], task)
            held_target = self._target(held[1], task, len(held_frame))
            calibrator.fit(self.base_margin(held_frame, model_frame=True),
                           held_target["outcome"])
        if self.calibration == "none":
            calibrator.fit(self.base_margin(frame, model_frame=True), target["outcome"])
        self.calibrator_ = calibrator
        self.feature_names_ = list(self.preprocessor_.feature_names_)
        self.feature_to_variable_ = dict(self.preprocessor_.feature_to_variable_)
        risk = self.calibrator_(self.base_margin(frame, model_frame=True))
        if repeats is not None:  # the profile of the rows as repeated
            frame, risk = frame.iloc[np.repeat(np.arange(len(frame)), repeats)], \
                np.repeat(risk, repeats)
            target = {**target, "events": int(np.sum(repeats * target["y"]))}
        self.training_profile_ = training_profile(frame, task.variables, target["events"])
        # the development reference of the linear predictor, on the scale validation uses
        self.training_profile_["linear_predictor"] = linear_predictor_profile(
            risk_to_lp(risk, task.is_survival), task.is_survival)
        return self

    def _check_repeats(self, repeats, n: int) -> np.ndarray | None:
        if repeats is None:
            return None
        if self.learner not in learners.FREQUENCY_WEIGHTED:
            raise ValueError(f"repeats: learner {self.learner!r} cannot fit rows as frequency "
                             f"weights (only {', '.join(learners.FREQUENCY_WEIGHTED)}); "
                             "repeat the rows instead")
        repeats = np.asarray(repeats)
        if repeats.shape != (n,) or not np.issubdtype(repeats.dtype, np.integer) \
                or (repeats < 1).any():
            raise ValueError(f"repeats must hold one positive integer per row ({n} rows); "
                             f"got shape {repeats.shape}, dtype {repeats.dtype}")
        return repeats

    def _target(self, y, task: TaskSpec, n: int) -> dict[str, Any]:
        """The outcome as the learners and calibrators need it."""
        if task.is_survival:
            time, event = survival_arrays(y)
            outcome = pd.DataFrame({"time": time, "event": event})
            strata, events = event, int(event.sum())
            self.classes_ = np.array([0, 1])
            return {"outcome": outcome, "y": None, "time_event": (time, event),
                    "strata": strata, "events": events, "n": len(time)}
        labels = column_or_1d(y, warn=True)
        if len(labels) != n:
            raise ValueError(f"y has {len(labels)} values for {n} rows")
        if pd.isna(labels).any():
            raise ValueError(f"y has {int(pd.isna(labels).sum())} missing outcomes; exclude "
                             "those rows first (the training runner does so and logs the count)")
        check_classification_targets(labels)
        self.classes_ = np.unique(labels)
        if len(self.classes_) < 2:
            raise ValueError(f"y holds 1 class ({self.classes_[0]!r}); a risk model needs "
                             "events and non-events")
        if len(self.classes_) > 2:
            raise ValueError(f"Only binary classification is supported; y holds "
                             f"{len(self.classes_)} classes")
        binary = (labels == self.classes_[1]).astype(int)
        return {"outcome": binary, "y": binary, "time_event": None, "strata": binary,
                "events": int(binary.sum()), "n": len(binary)}

    def _folds(self, strata: np.ndarray, groups: np.ndarray | None):
        if groups is None:
            splitter = StratifiedKFold(self.calibration_folds, shuffle=True,
                                       random_state=self.random_state)
            return splitter.split(strata, strata)
        # imported here: spinerisk.training imports this module
        from spinerisk.training.cv import group_fold_assignment, splits_of

        fold = group_fold_assignment(strata, groups, self.calibration_folds, self.random_state)
        return splits_of(fold, self.calibration_folds)

    def _out_of_fold_margin(self, frame: pd.DataFrame, target: dict,
                            groups) -> tuple[np.ndarray, np.ndarray]:
        """Each row's margin from the fold model that did not see it, and its fold."""
        oof = np.full(len(frame), np.nan)
        fold = np.full(len(frame), -1)
        for k, (train, test) in enumerate(self._folds(target["strata"], groups)):
            pre, est = self._fit_pipeline(frame.iloc[train], _subset(target, train))
            oof[test] = learners.margin(est, self.learner, pre.transform(frame.iloc[test]))
            fold[test] = k
        return oof, fold

    def _fit_pipeline(self, frame: pd.DataFrame, target: dict,
                      repeats: np.ndarray | None = None) -> tuple[Preprocessor, Any]:
        pre = build_preprocessor(self.task_, self.learner, self.n_knots)
        Z = pre.fit_transform(frame)
        est = learners.make_learner(self.learner, self.params, self.random_state)
        learners.fit_learner(est, self.learner, Z, target["y"], target["time_event"],
                             sample_weight=repeats)
        return pre, est

    # ------------------------------------------------------------------ predict
    def _model_frame(self, X, task: TaskSpec | None = None) -> pd.DataFrame:
        """The task's predictors (and pathway features) as a frame, one row per input row."""
        task = task or self.task_
        if self.task is None:
            X = pd.DataFrame(validate_data(self, X, reset=False, dtype=float,
                                           ensure_all_finite="allow-nan"),
                             columns=list(task.predictors))
        elif not isinstance(X, pd.DataFrame):
            raise TypeError(f"RiskModel for task {task.name!r} needs a DataFrame; got "
                            f"{type(X).__name__}")
        if not task.pathway:
            return X
        from spinerisk.phenotype import pathway_features

        return X.join(pathway_features(X)) if not set(X.columns) & {"concordance"} else X

    def base_margin(self, X, model_frame: bool = False) -> np.ndarray:
        """Raw margin of the base learner (log-odds or log relative hazard), before
        calibration: what SHAP explains."""
        check_is_fitted(self, "estimator_")
        frame = X if model_frame else self._model_frame(X)
        return learners.margin(self.estimator_, self.learner, self.preprocessor_.transform(frame))

    def predict_risk(self, X) -> np.ndarray:
        """Calibrated risk (at the horizon for time-to-event tasks), one per row."""
        check_is_fitted(self, "calibrator_")
        return self.calibrator_(self.base_margin(X))

    def predict_proba(self, X) -> np.ndarray:
        """``[1 - risk, risk]`` per row (scikit-learn classifier interface)."""
        risk = self.predict_risk(X)
        return np.column_stack([1.0 - risk, risk])

    def predict(self, X) -> np.ndarray:
        """Class label at risk 0.5 (for the scikit-learn contract; use :meth:`predict_risk`)."""
        risk = self.predict_risk(X)
        return self.classes_[(risk >= 0.5).astype(int)]

    # ------------------------------------------------------------------ one record
    def encode_record(self, record: Mapping[str, Any],
                      pathway: Mapping[str, Any] | None = None) -> np.ndarray:
        """Encode one patient (dict; absent or None = missing) as a 1-row float matrix.

        Parameters
        ----------
        record : mapping
            Contract fields of one episode.
        pathway : mapping, optional
            The record's care-pathway features if already computed (e.g. by the serving
            layer); computed here when the task needs them and they are not given.
        """
        check_is_fitted(self, "estimator_")
        if self.task_.pathway:
            if pathway is None:
                from spinerisk.phenotype import pathway_features

                pathway = pathway_features(pd.DataFrame([dict(record)])).iloc[0].to_dict()
            record = {**record, **{k: (None if pd.isna(v) else v) for k, v in pathway.items()}}
        return self.preprocessor_.transform_record(record)

    def margin_of_encoded(self, Z: np.ndarray) -> np.ndarray:
        """Base margin of already-encoded rows (the numpy fast path)."""
        return learners.margin(self.estimator_, self.learner, Z)

    def risk_of_encoded(self, Z: np.ndarray) -> np.ndarray:
        """Calibrated risk of already-encoded rows."""
        return self.calibrator_(self.margin_of_encoded(Z))

    def predict_risk_record(self, record: Mapping[str, Any],
                            pathway: Mapping[str, Any] | None = None) -> float:
        """Calibrated risk of one patient through the numpy fast path."""
        return float(self.risk_of_encoded(self.encode_record(record, pathway))[0])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = True
        return tags


def _subset(target: dict, rows: np.ndarray) -> dict:
    """The target restricted to ``rows``."""
    outcome = target["outcome"]
    sub = dict(target)
    sub["outcome"] = outcome.iloc[rows] if isinstance(outcome, pd.DataFrame) else outcome[rows]
    sub["y"] = None if target["y"] is None else target["y"][rows]
    sub["time_event"] = (None if target["time_event"] is None
                         else tuple(a[rows] for a in target["time_event"]))
    sub["strata"] = target["strata"][rows]
    return sub
