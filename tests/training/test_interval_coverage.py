"""The per-patient range is called a 95% interval only where it covers the true risk.

Shipped configs at reduced size (the benchmark, benchmarks/uncertainty_coverage.py, has
the full figures): the regression config's range reaches >= 0.90 coverage of the true
risk and is labelled "95% interval", checked on an independent fresh sample; the boosted
trees' range does not reach it and is labelled a bootstrap range with its coverage.
With 2,000 patients the Monte Carlo SE of a coverage near 0.93 is about 0.006.
"""

from __future__ import annotations

import pytest

from spinerisk.explain import fit_bootstrap_ensemble
from spinerisk.explain.uncertainty import interval_label, measure_coverage
from spinerisk.models import RiskModel
from spinerisk.training import load_config
from spinerisk.training.coverage import fresh_patients, simulated_coverage
from spinerisk.training.runner import prepare


def _fit(path: str, n: int, members: int, seed: int):
    config = load_config(path, {"data.simulate.n": n, "data.simulate.seed": seed})
    task, data, _ = prepare(config)
    c = config
    model = RiskModel(task, c.model.learner, params=dict(c.model.params),
                      calibration=c.calibration.method, calibration_folds=c.calibration.folds,
                      n_knots=c.model.n_knots, random_state=seed).fit(data.X, data.y)
    model.bootstrap_ = fit_bootstrap_ensemble(model, data.X, data.y, n_members=members,
                                              seed=seed, groups=data.groups)
    model.bootstrap_.coverage = simulated_coverage(c.data.simulate, task, model, 2000)
    return config, task, model


def _label(model) -> str:
    return interval_label(0.95, model.bootstrap_.coverage)


def test_regression_config_labelled_95_covers_the_true_risk(seed):
    config, task, model = _fit("configs/response_logistic.yaml", 1500,
                               config_members("configs/response_logistic.yaml"), seed)
    assert _label(model).startswith("95% interval")
    frame, truth = fresh_patients(config.data.simulate, task, 2000, seed_offset=2024)
    independent = measure_coverage(model, model.bootstrap_, frame, truth)
    assert independent["coverage"] >= 0.90, independent


def test_boosted_trees_range_is_not_called_95(seed):
    _, _, model = _fit("configs/demo/response.yaml", 800, 5, seed)
    coverage = model.bootstrap_.coverage["coverage"]
    label = _label(model)
    if coverage < 0.90:
        assert label.startswith("bootstrap range (not a 95% interval")
        assert f"{coverage:.0%}" in label
    else:
        assert label.startswith("95% interval")


def test_unmeasured_range_is_not_called_95():
    label = interval_label(0.95, None)
    assert label.startswith("bootstrap range") and "not measured" in label


def config_members(path: str) -> int:
    return load_config(path).uncertainty.bootstrap_members


@pytest.mark.parametrize("coverage,called", [(0.95, True), (0.90, True), (0.899, False)])
def test_label_threshold(coverage, called):
    label = interval_label(0.95, {"coverage": coverage, "n": 2000})
    assert label.startswith("95% interval") == called
