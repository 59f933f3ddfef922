"""RiskModel: the estimator contract, calibrated risk, the one-record fast path."""

import numpy as np
import pandas as pd
import pytest

from spinerisk.models import RiskModel

LEARNERS = {"response": ("logistic", "xgboost"), "residual_pain": ("logistic", "xgboost"),
            "reoperation": ("cox", "xgboost_cox")}
FAST_XGB = {"n_estimators": 40, "max_depth": 2}


@pytest.mark.parametrize("estimator", [RiskModel(learner="logistic", calibration_folds=3),
                  RiskModel(learner="xgboost", params=FAST_XGB, calibration_folds=3,
                            calibration="none")], ids=repr)
def test_sklearn_contract(estimator, assert_sklearn_contract):
    assert_sklearn_contract(estimator)


@pytest.fixture(scope="module")
def fitted(small_data):
    """Every task x learner, fitted once on the small cohort."""
    models = {}
    for task, (spec, data) in small_data.items():
        for learner in LEARNERS[task]:
            params = FAST_XGB if learner.startswith("xgboost") else None
            models[task, learner] = RiskModel(spec, learner, params=params,
                                              calibration_folds=3).fit(data.X, data.y)
    return models


def test_risk_is_a_probability_near_the_observed_rate(fitted, small_data):
    for (task, _), model in fitted.items():
        data = small_data[task][1]
        risk = model.predict_risk(data.X)
        assert risk.shape == (data.n,)
        assert np.all((risk > 0) & (risk < 1))
        if task != "reoperation":  # binary: in-sample mean of calibrated risk ~ event rate
            assert abs(risk.mean() - data.event.mean()) < 0.05


def test_every_feature_maps_to_a_clinical_variable(fitted):
    for model in fitted.values():
        assert list(model.feature_to_variable_) == model.feature_names_
        assert set(model.feature_to_variable_.values()) == set(model.predictors_)
        assert "concordance" in model.predictors_  # pathway features are in


def test_one_record_fast_path_equals_frame_path(fitted, small_data):
    for (task, _), model in fitted.items():
        X = small_data[task][1].X
        for i in (0, 7, 19):
            record = {k: (None if pd.isna(v) else v) for k, v in X.iloc[i].to_dict().items()}
            assert model.predict_risk_record(record) == pytest.approx(
                model.predict_risk(X.iloc[[i]])[0], rel=1e-9, abs=1e-12)


def test_base_margin_is_precalibration_and_monotone_with_risk(fitted, small_data):
    for (task, _), model in fitted.items():
        X = small_data[task][1].X.iloc[:200]
        margin, risk = model.base_margin(X), model.predict_risk(X)
        order = np.argsort(margin)
        assert np.all(np.diff(risk[order]) >= -1e-12)


def test_training_profile_holds_aggregates_only(fitted, small_data):
    model = fitted["response", "logistic"]
    profile = model.training_profile_
    data = small_data["response"][1]
    assert profile["n"] == data.n and profile["events"] == data.events
    age = profile["variables"]["age"]
    assert age["quantiles"]["0.5"] == pytest.approx(np.median(data.X["age"]))
    shares = profile["variables"]["smoking"]["level_shares"]
    assert sum(v for v in shares.values() if v is not None) <= 1.0


def test_same_seed_same_predictions(small_data):
    spec, data = small_data["response"]
    first, second = (RiskModel(spec, "xgboost", params=FAST_XGB, calibration_folds=3,
                               random_state=5).fit(data.X, data.y) for _ in range(2))
    np.testing.assert_array_equal(first.predict_risk(data.X), second.predict_risk(data.X))


def test_errors_name_the_problem(small_data):
    spec, data = small_data["response"]
    y = data.y.astype(float)
    y[3] = np.nan
    with pytest.raises(ValueError, match="1 missing outcomes"):
        RiskModel(spec).fit(data.X, y)
    with pytest.raises(ValueError, match="learner='cox' not allowed for a binary task"):
        RiskModel(spec, "cox").fit(data.X, data.y)
    surv_spec, surv = small_data["reoperation"]
    with pytest.raises(ValueError, match="isotonic"):
        RiskModel(surv_spec, "cox", calibration="isotonic").fit(surv.X, surv.y)
