"""Early stopping of the xgboost learners on inner folds (``spinerisk.training.rounds``).

The chosen rounds are checked against held-out curves computed by hand: separate
``RiskModel`` fits per inner fold, truncated to 1, 2, ... rounds and scored with
spinerisk's own proper score, so xgboost's evaluation metric and the round-by-round
growth of the folds are both checked against an independent path.
"""

import pickle

import numpy as np
import pytest

from spinerisk.models import RiskModel
from spinerisk.training import rounds
from spinerisk.training.cv import grouped_folds
from spinerisk.training.runner import Fitter, nested_cv, prepare
from spinerisk.training.scoring import cv_loss, held_out_loss
from spinerisk.tuning import tune

# a fast learning rate on a few hundred rows: the held-out curve turns within ~100 rounds
FAST = {"learning_rate": 0.3, "max_depth": 3, "subsample": 0.8, "colsample_bytree": 0.8}


@pytest.fixture(scope="module", params=["xgboost", "xgboost_cox"])
def prepared(request, make_config, seed):
    learner = request.param
    task = "response" if learner == "xgboost" else "reoperation"
    config = make_config(seed, task=task, model={"learner": learner})
    task_spec, data, _ = prepare(config)
    return learner, task_spec, data, grouped_folds(data.event, data.groups, 3, seed)


def curve_by_hand(learner, task, data, folds, params, seed):
    """Mean held-out loss after 1..n_estimators rounds, from separate RiskModel fits."""
    # the folds' boosters reseed xgboost's random engine every round; so do these fits
    params = {**params, "seed_per_iteration": True}
    curves = []
    for train, test in folds.splits:
        fit, held = data.subset(train), data.subset(test)
        model = RiskModel(task, learner, params=params, calibration="none",
                          random_state=seed).fit(fit.X, fit.y)
        Z = model.preprocessor_.transform(held.X)
        booster = model.estimator_.get_booster()
        curves.append([held_out_loss(task, learner, booster.inplace_predict(
            Z, iteration_range=(0, r), predict_type="margin").astype(float), held)
            for r in range(1, params["n_estimators"] + 1)])
    return np.mean(curves, axis=0)


def stop_by_hand(curve, patience):
    """xgb.cv's rule: the first minimum so far; stop ``patience`` rounds after it."""
    best = 0
    for r in range(len(curve)):
        if curve[r] < curve[best]:
            best = r
        elif r - best >= patience:
            return best + 1, r + 1
    return best + 1, len(curve)


def test_chosen_rounds_minimise_the_mean_held_out_curve(prepared, seed):
    learner, task, data, folds = prepared
    params = {**FAST, "n_estimators": 120}
    by_hand = curve_by_hand(learner, task, data, folds, params, seed)
    full = rounds.choose_rounds(task, learner, params, data, folds, seed, patience=10_000)
    # xgboost's metric (float32 margins) against spinerisk's score of the same trees
    np.testing.assert_allclose(full.curve, by_hand, rtol=0, atol=1e-6)
    assert full.n_estimators == int(np.argmin(full.curve)) + 1
    assert by_hand[full.n_estimators - 1] <= by_hand.min() + 1e-6
    assert full.loss == pytest.approx(by_hand[full.n_estimators - 1], abs=1e-12)
    assert full.n_estimators < 120  # the curve turns: the minimum is not the last round

    stopped = rounds.choose_rounds(task, learner, params, data, folds, seed, patience=5)
    chosen, grown = stop_by_hand(by_hand, 5)
    assert (stopped.n_estimators, len(stopped.curve)) == (chosen, grown)
    assert grown < 120


def test_over_long_range_is_cut_and_the_chosen_rounds_reach_the_final_fit(
        make_config, seed, monkeypatch):
    config = make_config(seed, search={
        "n_trials": 2, "inner_folds": 2, "storage": ":memory:", "early_stopping_rounds": 5,
        "space": {"n_estimators": {"low": 400, "high": 600, "type": "int"},
                  "learning_rate": {"low": 0.3, "high": 0.5}}})
    task, data, _ = prepare(config)
    fitter = Fitter(config, task, "cut", progress=False)
    result = fitter.study(data, "final")
    chosen = [t["params"]["n_estimators"] for t in result.trials]
    assert all(n < 400 for n in chosen), chosen
    tuned = fitter.tune(data, "again")
    assert tuned["n_estimators"] == result.best_params["n_estimators"] < 400

    fitted = []
    monkeypatch.setattr(Fitter, "fit", lambda self, part, params, **_: fitted.append(params)
                        or RiskModel(task, "xgboost", params=params,
                                     calibration="none").fit(part.X, part.y))
    nested_cv(fitter, data, grouped_folds(data.event, data.groups, 2, seed), progress=False)
    assert len(fitted) == 2 and all(p["n_estimators"] < 400 for p in fitted)


def test_disabled_reproduces_the_full_length_score(make_config, seed):
    search = {"n_trials": 2, "inner_folds": 2, "storage": ":memory:",
              "early_stopping_rounds": None,
              "space": {"max_depth": {"low": 2, "high": 3, "type": "int"}}}
    config = make_config(seed, search=search)
    task, data, _ = prepare(config)
    result = Fitter(config, task, "off", progress=False).study(data, "final")
    inner = grouped_folds(data.event, data.groups, 2, seed)
    fixed = config.model.params
    for trial in result.trials:
        assert set(trial["params"]) == {"max_depth"}  # nothing chosen beyond the draw
        assert trial["value"] == cv_loss(task, "xgboost", {**fixed, **trial["params"]}, data,
                                         inner, seed)


def test_rounds_are_chosen_on_inner_folds_of_the_outer_training_part(
        make_config, seed, monkeypatch):
    config = make_config(seed, search={
        "n_trials": 1, "inner_folds": 2, "storage": ":memory:", "early_stopping_rounds": 5,
        "space": {"max_depth": {"low": 2, "high": 3, "type": "int"}}})
    task, data, _ = prepare(config)
    seen = []
    choose = rounds.choose_rounds

    def recording(task, learner, params, part, folds, *args, **kwargs):
        seen.append(set(part.groups))
        for train, test in folds.splits:
            assert set(part.groups[train]).isdisjoint(part.groups[test])
        return choose(task, learner, params, part, folds, *args, **kwargs)

    monkeypatch.setattr(rounds, "choose_rounds", recording)
    outer = grouped_folds(data.event, data.groups, 2, seed)
    nested_cv(Fitter(config, task, "inner", progress=False), data, outer, progress=False)
    assert len(seen) == 2
    for patients, (train, test) in zip(seen, outer.splits):
        assert patients == set(data.groups[train])
        assert patients.isdisjoint(data.groups[test])


def test_clearly_bad_trial_is_pruned_before_its_full_rounds(make_config, seed):
    """Pruning per boosting round: three sound trials, then one that overfits from its
    first rounds; the study's median rule stops it at its first report (round 10), where
    early stopping alone would have grown it 51 rounds, while the sound trials complete."""
    config = make_config(seed)
    task, data, _ = prepare(config)
    inner = grouped_folds(data.event, data.groups, 2, seed)
    sound = {"n_estimators": 80, "learning_rate": 0.05, "max_depth": 2, "n_jobs": 1}
    bad = {**sound, "learning_rate": 1.0, "max_depth": 8, "min_child_weight": 0.01,
           "subsample": 1.0, "reg_lambda": 0.0}
    reported: list[list[int]] = []

    def score(params, report):
        steps: list[int] = []
        reported.append(steps)
        return rounds.early_stopped_loss(
            task, "xgboost", bad if len(reported) == 4 else sound, data, inner, seed,
            patience=50, report=lambda step, value: steps.append(step) or report(step, value))

    result = tune(score, {}, study_name="bad-trial", n_trials=4, seed=seed,
                  storage=":memory:", pruning=True, progress=False)
    assert [t["state"] for t in result.trials] == ["COMPLETE"] * 3 + ["PRUNED"]
    assert reported[3] == [rounds.REPORT_EVERY]
    assert all(len(steps) >= 5 for steps in reported[:3])  # each grew past 50 rounds
    unpruned = rounds.choose_rounds(task, "xgboost", bad, data, inner, seed, patience=50)
    assert len(unpruned.curve) == unpruned.n_estimators + 50 > rounds.REPORT_EVERY


def test_pruning_off_reproduces_the_unreported_result(make_config, seed, monkeypatch):
    """With pruning off the per-round reports change nothing: every trial's score and
    rounds equal early stopping computed without any report."""
    search = {"n_trials": 2, "inner_folds": 2, "storage": ":memory:", "pruning": False,
              "early_stopping_rounds": 20,
              "space": {"max_depth": {"low": 2, "high": 4, "type": "int"},
                        "learning_rate": {"low": 0.05, "high": 0.1}}}
    # one thread: xgboost's OpenMP threads crawl on a loaded CI machine
    config = make_config(seed, search=search,
                         model={"learner": "xgboost", "params": {"n_estimators": 60, "n_jobs": 1}})
    task, data, _ = prepare(config)
    choose, reports = rounds.choose_rounds, []

    def recording(*args, report=None, **kwargs):
        kept = []
        reports.append(kept)
        return choose(*args, report=lambda step, value: kept.append(step) or report(step, value),
                      **kwargs)

    monkeypatch.setattr(rounds, "choose_rounds", recording)
    result = Fitter(config, task, "off", progress=False).study(data, "final")
    monkeypatch.undo()
    assert len(reports) == 2 and all(reports)  # every trial reported, none was pruned
    inner = grouped_folds(data.event, data.groups, 2, seed)
    for trial in result.trials:
        drawn = {k: v for k, v in trial["params"].items() if k != "n_estimators"}
        alone = rounds.choose_rounds(task, "xgboost", {**config.model.params, **drawn}, data,
                                     inner, seed, patience=20)
        assert trial["state"] == "COMPLETE"
        assert trial["value"] == alone.loss
        assert trial["params"]["n_estimators"] == alone.n_estimators


def test_matrices_kept_across_trials_give_the_same_trials(prepared, seed, monkeypatch):
    """A study's trials share the inner folds' matrices (built once per fold) and still
    grow exactly the trees, curves and scores of matrices built afresh."""
    learner, task, data, folds = prepared
    trials = [{**FAST, "n_estimators": 40, "n_jobs": 1},
              {**FAST, "n_estimators": 30, "max_depth": 2, "learning_rate": 0.1, "n_jobs": 1}]
    fresh = [rounds.choose_rounds(task, learner, p, data, folds, seed, patience=10)
             for p in trials]
    built, build = [], rounds._matrices
    monkeypatch.setattr(rounds, "_matrices", lambda *a: built.append(1) or build(*a))
    kept = rounds.FoldMatrices()
    shared = [rounds.choose_rounds(task, learner, p, data, folds, seed, patience=10,
                                   matrices=kept) for p in trials]
    assert len(built) == len(folds.splits)  # the second trial built nothing
    for a, b in zip(fresh, shared):
        np.testing.assert_array_equal(a.curve, b.curve)
        assert (a.n_estimators, a.fold_losses) == (b.n_estimators, b.fold_losses)
    # a copy for another process (xgboost's matrices do not pickle) builds its own
    copy = pickle.loads(pickle.dumps(kept))
    again = rounds.choose_rounds(task, learner, trials[0], data, folds, seed, patience=10,
                                 matrices=copy)
    assert len(built) == 2 * len(folds.splits)
    np.testing.assert_array_equal(again.curve, fresh[0].curve)
