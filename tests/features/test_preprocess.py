"""Schema-derived preprocessing: splines, missing values, the feature -> variable map."""

import pickle

import numpy as np
import pandas as pd
import pytest

from spinerisk.cohort import simulate
from spinerisk.features import (
    Preprocessor,
    build_preprocessor,
    generic_task,
    rcs_columns,
    spine_task,
)

PREDICTORS = ["age", "bmi", "smoking", "odi", "diabetes", "pfirrmann_grade", "modic_type"]


@pytest.mark.parametrize("estimator", [Preprocessor(), Preprocessor(numeric="identity", missing="native")], ids=repr)
def test_sklearn_contract(estimator, assert_sklearn_contract):
    assert_sklearn_contract(estimator)


@pytest.fixture(scope="module")
def frame(seed):
    return simulate(1500, seed=seed, tasks=("response",)).frame


@pytest.fixture(scope="module")
def task():
    return spine_task("response", PREDICTORS, pathway=False)


def test_spline_basis_is_linear_beyond_the_outer_knots():
    knots = np.array([0.0, 1.0, 2.0, 4.0])
    x = np.array([5.0, 6.0, 7.0, -3.0, -2.0, -1.0])
    basis = rcs_columns(x, knots)
    assert np.allclose(np.diff(basis[:3], n=2, axis=0), 0)
    assert np.allclose(basis[3:, 1:], 0)  # below the first knot every cubic term vanishes


def test_logistic_encoding_imputes_and_flags_missing(frame, task):
    pre = build_preprocessor(task, "logistic").fit(frame)
    Z = pre.transform(frame)
    assert not np.isnan(Z).any()
    names = list(pre.get_feature_names_out())
    bmi_missing = frame["bmi"].isna().to_numpy()
    assert bmi_missing.any()
    np.testing.assert_array_equal(Z[:, names.index("bmi__missing")], bmi_missing)
    assert "age__missing" not in names  # age is never missing: no indicator
    assert "age__spline1" in names and "pfirrmann_grade__spline1" not in names
    assert set(pre.feature_to_variable_.values()) == set(PREDICTORS)


def test_xgboost_encoding_keeps_missing_as_nan(frame, task):
    pre = build_preprocessor(task, "xgboost").fit(frame)
    Z = pre.transform(frame)
    names = list(pre.get_feature_names_out())
    smoking = [i for i, n in enumerate(names) if pre.feature_to_variable_[n] == "smoking"]
    missing = frame["smoking"].isna().to_numpy()
    assert np.isnan(Z[np.ix_(missing, smoking)]).all()
    assert np.nansum(Z[np.ix_(~missing, smoking)], axis=1).tolist() == [1.0] * (~missing).sum()
    np.testing.assert_array_equal(Z[:, names.index("age")], frame["age"].to_numpy())


@pytest.mark.parametrize("learner", ["logistic", "xgboost"])
def test_record_path_equals_frame_path(frame, task, learner):
    pre = build_preprocessor(task, learner).fit(frame)
    Z = pre.transform(frame)
    for i in range(25):
        record = {k: (None if pd.isna(v) else v) for k, v in frame.iloc[i].items()}
        np.testing.assert_array_equal(pre.transform_record(record)[0], Z[i])


@pytest.mark.parametrize("numeric,missing", [("spline", "indicator"), ("identity", "native"),
                                             ("spline", "native")])
def test_record_plan_survives_pickling_and_old_models_rebuild_it(frame, task, numeric, missing):
    pre = Preprocessor(task, numeric=numeric, missing=missing).fit(frame)
    assert pre.record_plan_.width == len(pre.feature_names_)
    Z = pre.transform(frame)
    restored = pickle.loads(pickle.dumps(pre))
    older = pickle.loads(pickle.dumps(pre))
    del older.record_plan_  # a model pickled before the plan existed
    for i in range(40):
        record = {k: (None if pd.isna(v) else v) for k, v in frame.iloc[i].items()}
        np.testing.assert_array_equal(restored.transform_record(record)[0], Z[i])
        np.testing.assert_array_equal(older.transform_record(record)[0], Z[i])
    assert isinstance(older.record_plan_, type(pre.record_plan_))


def test_record_path_equals_frame_path_for_levels_stored_as_numbers():
    task = generic_task("t", "y", {"a": "numeric", "b": "integer", "c": {
        "kind": "category", "levels": ["1", "2", "x"]}})
    data = pd.DataFrame({"a": [0.5, np.nan, 2.0, 3.5, -1.0, 4.0, 1.5, 2.5],
                         "b": [1, 2, np.nan, 4, 5, 6, 7, 8],
                         "c": [1.0, 2.0, "x", np.nan, 1.0, 2.0, "x", 1.0]}, dtype=object)
    for learner in ("logistic", "xgboost"):
        pre = build_preprocessor(task, learner, n_knots=3).fit(data)
        Z = pre.transform(data)
        for i in range(len(data)):
            record = {k: (None if pd.isna(v) else v) for k, v in data.iloc[i].items()}
            np.testing.assert_array_equal(pre.transform_record(record)[0], Z[i])


def test_unknown_level_is_named(frame, task):
    pre = build_preprocessor(task, "logistic").fit(frame)
    with pytest.raises(ValueError, match="'smoking': unknown level 'sometimes'"):
        pre.transform_record({"age": 50, "smoking": "sometimes"})
