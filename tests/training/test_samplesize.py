"""Riley's sample size before training: computed, announced, logged, and enforced."""

from __future__ import annotations

import pytest

from spinerisk import evaluation as ev
from spinerisk.training.config import ConfigError
from spinerisk.training.runner import prepare, run_experiment, sample_size_gate
from spinerisk.training.samplesize import _max_cs_r2, encoded_parameters


def test_maximum_cox_snell_r2_matches_pmsampsize():
    """pmsampsize reports Max_Rsq 0.603 at prevalence 0.174 (tests/golden/pmsampsize)."""
    assert _max_cs_r2(0.174, survival=False) == pytest.approx(0.603, abs=5e-4)


def test_check_uses_the_encoded_parameters_and_outcome_rate(make_config, seed):
    config = make_config(seed)
    task, data, _ = prepare(config)
    check = sample_size_gate(config, task, data, registers=True)  # allowed by the config
    p = encoded_parameters(task, config.model.learner, config.model.n_knots, data.X)
    prevalence = data.events / data.n
    expected = ev.sample_size_binary(parameters=p, prevalence=prevalence,
                                     cs_r2=round(0.15 * _max_cs_r2(prevalence, False), 4))
    assert (check.parameters, check.required) == (p, expected.sample_size)
    assert not check.met and f"required n = {expected.sample_size}" in check.message()


def test_under_sized_model_is_not_trained_for_registration(make_config, seed, tmp_path):
    config = make_config(seed, allow_small_sample=False, small_sample_reason=None)
    with pytest.raises(ConfigError, match="allow_small_sample: true") as err:
        run_experiment(config, tracking_uri=f"sqlite:///{tmp_path}/m.db", progress=False)
    assert "required n" in str(err.value) and "Fix:" in str(err.value)
    task, data, _ = prepare(config)  # an exploratory run (nothing registered) may go on
    assert not sample_size_gate(config, task, data, registers=False).met


def test_allowing_a_small_sample_needs_a_reason(make_config, seed):
    with pytest.raises(ConfigError, match="small_sample_reason"):
        make_config(seed, allow_small_sample=True, small_sample_reason=" ")


def test_the_run_logs_the_check(tracked, store):
    from mlflow.tracking import MlflowClient

    from spinerisk import tracking

    tracking.configure(store)
    run = MlflowClient().get_run(tracked.run_id)
    size = tracked.data_summary["sample_size"]
    assert run.data.params["data.sample_size.required_n"] == str(size["required_n"])
    assert run.data.tags["sample_size_met"] == "False"
    assert run.data.tags["small_sample_reason"] == "a tiny test run"


def test_survival_summary_has_a_calibration_slope(seed):
    """The training summary's slope for a time-to-event task is the Cox slope of the log
    cumulative hazard: close to 1 for the true risks of a simulated cohort."""
    import numpy as np

    from spinerisk.cohort import simulate
    from spinerisk.features import spine_task
    from spinerisk.training.data import task_data
    from spinerisk.training.performance import performance

    cohort = simulate(3000, seed=seed, tasks=("reoperation",))
    task = spine_task("reoperation", ["age", "smoking"])
    data = task_data(cohort.frame, task)
    frame = cohort.frame
    rows = (frame["procedure"].isin(task.procedures)
            & frame[[task.outcome, task.time]].notna().all(axis=1)).to_numpy()
    risk = cohort.truth["true_risk"].to_numpy()[rows]  # the rows task_data keeps, in order
    assert risk.size == data.n
    slope = performance(task, data, risk, n_boot=2, seed=seed, curves=False).metrics["cal_slope"]
    assert np.isfinite(slope.estimate) and slope.lower <= 1 <= slope.upper


def test_cli_refuses_an_under_sized_registration_with_exit_2(make_config, seed, tmp_path):
    import yaml
    from typer.testing import CliRunner

    from spinerisk.cli import app

    config = make_config(seed, allow_small_sample=False, small_sample_reason=None)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    result = CliRunner().invoke(app, ["train", "--config", str(path), "--tracking-uri",
                                      f"sqlite:///{tmp_path}/m.db"])
    assert result.exit_code == 2
    assert "required n" in result.output and "allow_small_sample: true" in result.output
    assert "Traceback" not in result.output


def test_optional_learning_curve_is_logged(make_config, seed, tmp_path):
    """Performance against training size: more rows, better held-out Brier score on
    average; the plot is logged with the run."""
    from mlflow.tracking import MlflowClient

    from spinerisk import tracking

    config = make_config(seed, sample_size={"learning_curve": [0.3, 1.0]}, search=None,
                         uncertainty={"bootstrap_members": 0},
                         cv={"folds": 2, "bootstrap": 10, "internal_external": "no"},
                         tracking={"register_model": False})
    store = f"sqlite:///{tmp_path}/m.db"
    result = run_experiment(config, tracking_uri=store, progress=False)
    curve = result.data_summary["learning_curve"]
    assert curve["fractions"] == [0.3, 1.0] and curve["n"][0] < curve["n"][1]
    assert all(0.5 < c < 1 for c in curve["c"]) and all(0 < b < 0.3 for b in curve["brier"])
    tracking.configure(store)
    plots = {a.path for a in MlflowClient().list_artifacts(result.run_id, "plots")}
    assert "plots/learning_curve.png" in plots


def test_learning_curve_fractions_are_shares(make_config, seed):
    with pytest.raises(ConfigError, match="learning_curve"):
        make_config(seed, sample_size={"learning_curve": [0.5, 1.5]})
