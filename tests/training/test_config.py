"""Experiment configs: every shipped config parses; mistakes are named precisely."""

from pathlib import Path

import pytest

from spinerisk.training import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "configs").glob("*.yaml")) + sorted((ROOT / "configs/demo").glob("*.yaml"))
MINIMAL = {"name": "x", "data": {"simulate": {"n": 100}}, "task": "response",
           "model": {"learner": "logistic"}}


def test_the_issue_configs_are_shipped():
    names = {p.name for p in SHIPPED}
    assert {"response_logistic.yaml", "response_xgboost.yaml", "residual_pain_xgboost.yaml",
            "reoperation_cox.yaml", "reoperation_xgboost.yaml"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_parse(path):
    config = load_config(path)
    assert config.task_spec().variables


def test_unknown_key_names_the_key_and_the_nearest_valid_one():
    with pytest.raises(ConfigError, match=r"unknown key 'calibraton'; did you mean 'calibration'"):
        parse_config({**MINIMAL, "calibraton": {"method": "platt"}})
    with pytest.raises(ConfigError, match=r"model: .*unknown key 'lerner'; did you mean 'learner'"):
        parse_config({**MINIMAL, "model": {"lerner": "logistic"}})


def test_wrong_values_are_reported():
    with pytest.raises(ConfigError, match="exactly one of 'simulate'"):
        parse_config({**MINIMAL, "data": {}})
    with pytest.raises(ConfigError, match="did you mean 'smoking'"):
        parse_config({**MINIMAL, "predictors": ["smokin"]})
    with pytest.raises(ConfigError, match="learner"):
        parse_config({**MINIMAL, "model": {"learner": "forest"}})


def test_early_stopping_defaults_to_20_rounds_and_null_turns_it_off():
    xgb = {**MINIMAL, "model": {"learner": "xgboost"}}
    assert parse_config({**xgb, "search": {}}).search.early_stopping_rounds == 20
    assert parse_config({**xgb, "search": {"early_stopping_rounds": None}}
                        ).search.early_stopping_rounds is None
    with pytest.raises(ConfigError, match=r"search\.early_stopping_rounds: .*greater than or "
                                          r"equal to 1"):
        parse_config({**xgb, "search": {"early_stopping_rounds": 0}})


def test_generic_task_declares_its_own_predictors():
    config = parse_config({**MINIMAL, "data": {"path": "heart.csv"},
                           "task": {"name": "heart", "outcome": "disease",
                                    "predictors": {"age": "numeric",
                                                   "cp": {"kind": "category",
                                                          "levels": ["a", "b"]}}}})
    spec = config.task_spec()
    assert spec.predictors == ("age", "cp") and not spec.is_survival
