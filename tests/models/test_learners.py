"""XGBoost learners: hist on every available core unless the config sets n_jobs."""

import json
import os

import pytest
from threadpoolctl import threadpool_limits

from spinerisk.models import RiskModel, learners
from spinerisk.training import parse_config


@pytest.mark.parametrize("learner", ["xgboost", "xgboost_cox"])
def test_xgboost_uses_hist_on_every_available_core_by_default(learner):
    est = learners.make_learner(learner, None, 0)
    assert est.tree_method == "hist"
    assert est.n_jobs == learners.default_n_jobs() == len(os.sched_getaffinity(0))


def test_default_threads_follow_an_openmp_limit():
    with threadpool_limits(limits=1, user_api="openmp"):
        assert learners.default_n_jobs() == 1
        assert learners.make_learner("xgboost", None, 0).n_jobs == 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "all"])
def test_bad_n_jobs_is_refused_with_the_fix(bad):
    with pytest.raises(ValueError, match=r"model.params.n_jobs=.*positive number of threads"):
        learners.make_learner("xgboost", {"n_jobs": bad}, 0)


def test_config_n_jobs_reaches_the_fitted_learner(small_data, seed):
    config = parse_config({"name": "threads", "data": {"simulate": {"n": 200}},
                           "task": "response", "predictors": ["age", "odi"],
                           "pathway_features": False,
                           "model": {"learner": "xgboost",
                                     "params": {"n_jobs": 1, "n_estimators": 5}}})
    spec, data = small_data["response"]
    model = RiskModel(spec, "xgboost", params=dict(config.model.params), calibration_folds=2,
                      random_state=seed).fit(data.X, data.y)
    booster_config = json.loads(model.estimator_.get_booster().save_config())
    assert booster_config["learner"]["generic_param"]["nthread"] == "1"
