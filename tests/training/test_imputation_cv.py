"""Multiple imputation inside cross-validation: each fold's imputation models are fitted
on its training rows only, held-out rows are imputed without their outcome, performance
is pooled by Rubin's rules; config errors name the field, value, what is allowed and the
fix."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from spinerisk.errors import ConfigError
from spinerisk.training import parse_config
from spinerisk.training.cv import grouped_folds
from spinerisk.training.runner import Fitter, nested_cv_imputed, prepare

PREDICTORS = ["age", "sex", "bmd_t_score", "sarcopenia", "goutallier_grade", "smoking",
              "n_fractures", "tlf_injury"]


def _config(seed: int, **changes):
    raw = {"name": "mice-cv", "seed": seed,
           "data": {"simulate": {"n": 900, "sites": 1, "seed": seed, "dgp": "linear"}},
           "task": "residual_pain", "predictors": PREDICTORS, "pathway_features": False,
           "model": {"learner": "logistic"}, "cv": {"folds": 2, "bootstrap": 20},
           "calibration": {"method": "platt", "folds": 2},
           "imputation": {"method": "mice", "m": 2, "iterations": 2},
           "uncertainty": {"bootstrap_members": 0},
           "allow_small_sample": True, "small_sample_reason": "a tiny test run"}
    raw.update(changes)
    return parse_config(raw)


class _Recording(Fitter):
    """A Fitter that keeps every model it fits."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.models = []

    def fit(self, data, params, bootstrap_members=0):
        self.models.append(super().fit(data, params, bootstrap_members))
        return self.models[-1]


def _models_equal(a, b) -> bool:
    same_imputer = all(np.array_equal(x[name].coef, y[name].coef)
                       for x, y in zip(a.imputer_.models_, b.imputer_.models_) for name in x)
    same_members = all(np.array_equal(x.estimator_.coef_, y.estimator_.coef_)
                       for x, y in zip(a.members_, b.members_))
    return same_imputer and same_members


@pytest.fixture(scope="module")
def setup(seed):
    config = _config(seed)
    task, data, _ = prepare(config)
    folds = grouped_folds(data.event, data.groups, 2, seed)
    fitter = _Recording(config, task, "mice-cv", progress=False)
    pooled, per_imputation = nested_cv_imputed(fitter, data, folds, progress=False)
    return config, task, data, folds, fitter.models, pooled, per_imputation


def _rerun(setup, data):
    config, task, _, folds, _, _, _ = setup
    fitter = _Recording(config, task, "mice-cv", progress=False)
    pooled, _ = nested_cv_imputed(fitter, data, folds, progress=False)
    return fitter.models, pooled


def test_held_out_sentinels_do_not_change_the_fold_models(setup):
    """Held-out rows of fold 1 get sentinel findings: fold 1's imputation and risk models
    are unchanged, and its held-out risks change (the sentinels are read, as predictors)."""
    _, _, data, folds, models, pooled, _ = setup
    test = folds.splits[0][1]
    X = data.X.copy()
    X.loc[X.index[test], "bmd_t_score"] = -5.5
    X.loc[X.index[test[::2]], "sarcopenia"] = np.nan
    changed, risk = _rerun(setup, dataclasses.replace(data, X=X))
    assert _models_equal(models[0], changed[0])
    assert not np.allclose(risk[test], pooled[test])


def test_held_out_rows_are_imputed_without_their_outcome(setup):
    """Flipping the outcome of fold 1's held-out rows changes neither fold 1's models nor
    its held-out risks: the held-out rows' imputations do not use their outcome."""
    _, _, data, folds, models, pooled, _ = setup
    test = folds.splits[0][1]
    y = np.asarray(data.y, float).copy()
    y[test] = 1 - y[test]
    changed, risk = _rerun(setup, dataclasses.replace(data, y=y))
    assert _models_equal(models[0], changed[0])
    np.testing.assert_array_equal(risk[test], pooled[test])
    assert data.X.iloc[test][PREDICTORS].isna().any(axis=1).sum() >= 10  # rows were imputed


def test_per_imputation_risks_pool_to_the_reported_risk(setup):
    _, _, data, _, _, pooled, per_imputation = setup
    assert per_imputation.shape == (2, data.n)
    assert np.isfinite(per_imputation).all() and np.isfinite(pooled).all()
    incomplete = data.X[PREDICTORS].isna().any(axis=1).to_numpy()
    # imputations differ only where a finding was missing... and the models differ too
    assert not np.array_equal(per_imputation[0][incomplete], per_imputation[1][incomplete])


@pytest.mark.parametrize("imputation, words", [
    ({"method": "chained"}, ["imputation.method", "'chained'", "'mice'", "fix"]),
    ({"method": "mice", "m": 1}, ["imputation.m", "1", ">= 2", "fix"]),
    ({"method": "mice", "iterations": 0}, ["imputation.iterations", "0", ">= 1", "fix"]),
    ({"method": "mice", "draws": 3}, ["unknown key 'draws'"]),
])
def test_config_errors_name_field_value_allowed_and_fix(seed, imputation, words):
    with pytest.raises(ConfigError) as err:
        _config(seed, imputation=imputation)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_mice_with_a_search_is_refused(seed):
    search = {"n_trials": 2, "space": {"C": {"low": 0.1, "high": 1.0, "log": True}}}
    with pytest.raises(ConfigError, match="imputation.method: 'mice' together with a search"):
        _config(seed, search=search)


def test_default_is_the_learners_own_missing_handling(seed):
    raw = _config(seed).model_dump()
    raw.pop("imputation")
    assert parse_config(raw).imputation.method == "default"


def test_a_run_pools_by_rubins_rules_and_states_the_method(seed):
    from spinerisk.training.runner import missing_strategy, run_experiment

    config = _config(seed, cv={"folds": 2, "bootstrap": 20, "internal_external": "no"})
    result = run_experiment(config, log=False, progress=False)
    auc = result.performance.metrics["auc"]
    assert auc.method.startswith("Rubin's rules over 2 imputations (logit scale")
    assert auc.details["total"] == pytest.approx(
        auc.details["within"] + 1.5 * auc.details["between"])
    assert auc.lower < auc.estimate < auc.upper
    assert result.summary_row()["missing data"] == "MICE m=2"
    assert "multiple imputation by chained equations (m=2" in missing_strategy(config)
    assert type(result.model).__name__ == "ImputedRiskModel"
