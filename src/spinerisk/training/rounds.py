"""Boosting rounds chosen on inner folds: early stopping as ``xgb.cv`` does it.

For the xgboost learners a trial's ``n_estimators`` is an upper bound. The inner folds'
boosters are grown together, one round at a time; after each round xgboost evaluates
every booster on its own held-out inner fold (``logloss``; ``cox-nloglik`` for
``survival:cox``, both the proper scores of :mod:`spinerisk.training.scoring`) and the
curves are averaged over folds. Growth stops once the mean curve has not improved for
``patience`` rounds; the number of rounds that minimises it is the trial's chosen
``n_estimators``, and the trial's score is the usual mean held-out loss of the boosters
truncated to that many rounds. Only the rows given (an outer fold's training part, or all
rows for the final model) are used: held-out outer rows never choose the rounds.

Pruning per boosting round: every :data:`REPORT_EVERY` rounds the mean held-out curve is
reported to the study (step = rounds grown), whose pruner may stop the trial there, before
its remaining rounds are grown (a trial is otherwise only judged once all its rounds are
grown). The median rule compares trials at the same round, so a slow learner (small
``learning_rate``) is judged on its early rounds: that is the price of not growing every
hopeless trial to the end. With pruning off the reports change nothing: the trial's
rounds and score are those computed without them.

Matrices built once per study: the encoding of the xgboost learners learns nothing from
the hyperparameters, so a :class:`FoldMatrices` given to the trials of one study (the
runner does) keeps each inner fold's encoded rows and xgboost matrices for the next
trial; only a booster is new. The trees, curves and scores are those of matrices built
afresh (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from spinerisk.features import TaskSpec, build_preprocessor
from spinerisk.models import learners
from spinerisk.models.cox import survival_arrays
from spinerisk.training.cv import Folds
from spinerisk.training.data import TaskData
from spinerisk.training.scoring import Report, held_out_loss

XGB_LEARNERS = ("xgboost", "xgboost_cox")
#: rounds between two reports of the mean held-out curve to the study's pruner
REPORT_EVERY = 10
_METRIC = {"xgboost": "logloss", "xgboost_cox": "cox-nloglik"}


@dataclass(frozen=True)
class RoundsChoice:
    """What early stopping on the inner folds found.

    Attributes
    ----------
    n_estimators : int
        Rounds minimising the mean held-out curve (first minimum).
    curve : ndarray
        Mean held-out loss after 1, 2, ... rounds, for every round grown.
    fold_losses : tuple of float
        Each inner fold's held-out loss (spinerisk's score) at ``n_estimators``.
    held_margins : tuple of ndarray
        Each inner fold's held-out rows' margins at ``n_estimators`` (in the order of the
        fold's held-out rows), from its booster, which did not see them.
    """

    n_estimators: int
    curve: np.ndarray
    fold_losses: tuple[float, ...]
    held_margins: tuple[np.ndarray, ...]

    @property
    def loss(self) -> float:
        """Mean held-out loss at the chosen rounds: the trial's score."""
        return float(np.mean(self.fold_losses))


@dataclass
class _Fold:
    booster: Any
    train: Any
    held: Any
    held_Z: np.ndarray
    held_data: TaskData


class FoldMatrices:
    """Inner folds' encoded rows and xgboost matrices, kept for the trials of one study.

    Valid for one ``(data, folds)`` pair: a study's trials all score the same rows on the
    same inner folds. Keys are the fold and what the matrices depend on (the quantile
    sketch's ``max_bin`` and whether ``hist`` quantises them); the matrices hold as much
    memory as one trial's, kept between trials instead of rebuilt.
    """

    def __init__(self) -> None:
        self._built: dict[tuple, tuple] = {}

    def get(self, key: tuple, build):
        if key not in self._built:
            self._built[key] = build()
        return self._built[key]

    def __getstate__(self) -> dict:
        # xgboost's matrices do not pickle: a copy sent to another process (a Dask worker)
        # starts empty and builds its own
        return {"_built": {}}


def choose_rounds(task: TaskSpec, learner: str, params: dict[str, Any], data: TaskData,
                  folds: Folds, seed: int, patience: int, n_knots: int = 4,
                  report: Report | None = None,
                  matrices: FoldMatrices | None = None) -> RoundsChoice:
    """Grow one booster per inner fold, at most ``params['n_estimators']`` rounds, and
    choose the rounds on the mean held-out curve (see module docstring).

    ``data.X`` holds the task's predictors as the runner prepares them (care-pathway
    features joined), as :func:`spinerisk.training.scoring.cv_loss` expects.
    ``report(rounds, mean_held_out_loss)`` is called every :data:`REPORT_EVERY` rounds;
    it may raise (the study's pruner) to stop the growth there. ``matrices`` keeps the
    folds' matrices for the study's next trial (module docstring).
    """
    if learner not in XGB_LEARNERS:
        raise ValueError(f"early stopping needs an xgboost learner ({', '.join(XGB_LEARNERS)}); "
                         f"got {learner!r}")
    estimator = learners.make_learner(learner, params, seed)
    # the folds' boosters grow in turn and share xgboost's global random engine: reseeding
    # it every round (from the seed and the round) keeps each fold's subsampling its own,
    # whatever the number and order of folds
    booster_params = {**estimator.get_xgb_params(), "eval_metric": _METRIC[learner],
                      "seed_per_iteration": True}
    matrices = FoldMatrices() if matrices is None else matrices
    hist = booster_params.get("tree_method") == "hist"
    fits = [_fold(booster_params, *matrices.get(
                (k, hist, booster_params.get("max_bin")),
                partial(_matrices, task, learner, booster_params, data, train, test, n_knots)))
            for k, (train, test) in enumerate(folds.splits)]
    curve: list[float] = []
    best = 0
    for round_ in range(estimator.get_num_boosting_rounds()):
        curve.append(float(np.mean([_grow(fit, round_) for fit in fits])))
        if report is not None and (round_ + 1) % REPORT_EVERY == 0:
            report(round_ + 1, curve[round_])
        if curve[round_] < curve[best]:  # strict, as xgboost's EarlyStopping: first minimum
            best = round_
        elif round_ - best >= patience:
            break
    chosen = best + 1
    margins = tuple(_margin(fit, chosen) for fit in fits)
    losses = tuple(held_out_loss(task, learner, margin, fit.held_data)
                   for margin, fit in zip(margins, fits))
    return RoundsChoice(chosen, np.asarray(curve), losses, margins)


def early_stopped_loss(task: TaskSpec, learner: str, params: dict[str, Any], data: TaskData,
                       folds: Folds, seed: int, patience: int, n_knots: int = 4,
                       report: Report | None = None,
                       matrices: FoldMatrices | None = None) -> tuple[float, dict[str, int]]:
    """The trial's score and its chosen rounds, ``(loss, {"n_estimators": rounds})``;
    ``report`` receives the mean held-out curve every :data:`REPORT_EVERY` rounds
    (pruning per boosting round), ``matrices`` keeps the folds' matrices for the study's
    next trial (module docstring)."""
    choice = choose_rounds(task, learner, params, data, folds, seed, patience, n_knots,
                           report=report, matrices=matrices)
    return choice.loss, {"n_estimators": choice.n_estimators}


def _matrices(task: TaskSpec, learner: str, booster_params: dict[str, Any], data: TaskData,
              train: np.ndarray, test: np.ndarray, n_knots: int) -> tuple:
    """One inner fold's matrices (preprocessing fitted on its training rows), built as the
    scikit-learn wrapper builds them so the trees equal a ``RiskModel`` fit."""
    import xgboost as xgb

    fit, held = data.subset(train), data.subset(test)
    pre = build_preprocessor(task, learner, n_knots)
    Z, held_Z = pre.fit_transform(fit.X), pre.transform(held.X)
    threads = booster_params.get("n_jobs")
    if booster_params.get("tree_method") == "hist":
        dtrain = xgb.QuantileDMatrix(Z, _label(task, learner, fit), missing=np.nan,
                                     nthread=threads, max_bin=booster_params.get("max_bin"))
    else:
        dtrain = xgb.DMatrix(Z, _label(task, learner, fit), missing=np.nan, nthread=threads)
    # the held-out rows keep their raw values, as a fitted model predicts them (and a plain
    # DMatrix evaluates several times faster per round than a quantised one)
    dheld = xgb.DMatrix(held_Z, _label(task, learner, held), missing=np.nan, nthread=threads)
    return dtrain, dheld, held_Z, held


def _fold(booster_params: dict[str, Any], dtrain, dheld, held_Z: np.ndarray,
          held: TaskData) -> _Fold:
    """A fresh booster on one inner fold's matrices."""
    import xgboost as xgb

    return _Fold(xgb.Booster(booster_params, [dtrain, dheld]), dtrain, dheld, held_Z, held)


def _label(task: TaskSpec, learner: str, data: TaskData) -> np.ndarray:
    if task.is_survival:
        return learners.cox_label(*survival_arrays(data.y))
    return data.event


def _grow(fit: _Fold, round_: int) -> float:
    """Add one round to a fold's booster; its held-out loss after that round."""
    fit.booster.update(fit.train, round_)
    # xgboost answers "[round]\theld-<metric>:<value>"
    return float(fit.booster.eval_set([(fit.held, "held")], round_).rsplit(":", 1)[1])


def _margin(fit: _Fold, rounds: int) -> np.ndarray:
    return fit.booster.inplace_predict(fit.held_Z, iteration_range=(0, rounds),
                                       predict_type="margin").astype(float)
