"""A tiny experiment, run once per session into a temporary MLflow store."""

import pytest

from spinerisk.training import parse_config, run_experiment

PREDICTORS = ["age", "bmi", "smoking", "employment", "depression_anxiety", "odi",
              "symptom_duration_weeks", "modic_extent_gt50", "procedure"]


def tiny_config(seed: int, **changes):
    raw = {"name": "tiny-response", "seed": seed,
           "data": {"simulate": {"n": 700, "sites": 2, "seed": seed}},
           "task": "response", "predictors": PREDICTORS,
           "model": {"learner": "xgboost", "params": {"n_estimators": 60}},
           "search": {"n_trials": 2, "inner_folds": 2, "storage": ":memory:",
                      "space": {"max_depth": {"low": 2, "high": 3, "type": "int"}}},
           "cv": {"folds": 2, "bootstrap": 20},
           "calibration": {"method": "platt", "folds": 2},
           "uncertainty": {"bootstrap_members": 3},
           "allow_small_sample": True, "small_sample_reason": "a tiny test run"}
    raw.update(changes)
    return parse_config(raw)


@pytest.fixture(scope="session")
def make_config():
    """Build the tiny config, with top-level keys replaced."""
    return tiny_config


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('mlruns')}/mlflow.db"


@pytest.fixture(scope="session")
def tracked(store, seed):
    """The tiny experiment, logged and registered in the temporary store."""
    return run_experiment(tiny_config(seed), tracking_uri=store, progress=False)
