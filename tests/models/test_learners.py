"""XGBoost learners: hist, on every thread the runtime allows unless the config sets n_jobs."""

import json

import pytest

from spinerisk.models import RiskModel, learners
from spinerisk.training import parse_config


def _nthread(model: RiskModel) -> str:
    """The thread count stored in the fitted booster ("0": the OpenMP runtime's default)."""
    config = json.loads(model.estimator_.get_booster().save_config())
    return config["learner"]["generic_param"]["nthread"]


def _fit(small_data, seed, params):
    spec, data = small_data["response"]
    return RiskModel(spec, "xgboost", params={"n_estimators": 5, **params},
                     calibration_folds=2, random_state=seed).fit(data.X, data.y)


@pytest.mark.parametrize("learner", ["xgboost", "xgboost_cox"])
def test_xgboost_uses_hist_and_leaves_threads_to_the_runtime(learner):
    est = learners.make_learner(learner, None, 0)
    assert est.tree_method == "hist"
    assert est.n_jobs is None  # was 1: one core whatever the machine


def test_fitted_model_stores_no_thread_count_unless_the_config_sets_one(small_data, seed):
    assert _nthread(_fit(small_data, seed, {})) == "0"
    config = parse_config({"name": "threads", "data": {"simulate": {"n": 200}},
                           "task": "response", "predictors": ["age", "odi"],
                           "pathway_features": False,
                           "model": {"learner": "xgboost", "params": {"n_jobs": 1}}})
    assert _nthread(_fit(small_data, seed, dict(config.model.params))) == "1"


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "all"])
def test_bad_n_jobs_is_refused_with_the_fix(bad):
    with pytest.raises(ValueError, match=r"model.params.n_jobs=.*positive number of threads"):
        learners.make_learner("xgboost", {"n_jobs": bad}, 0)
