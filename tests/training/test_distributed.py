"""``train --cluster``: a LocalCluster-trained model equals the in-memory one, registers
and loads by alias; what the cluster does not run is said, not skipped silently."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from spinerisk import tracking
from spinerisk.batch import score_frame
from spinerisk.cli import app
from spinerisk.cohort import simulate
from spinerisk.cohort.partitioned import simulate_partitioned
from spinerisk.models import RiskModel
from spinerisk.training import grouped_folds, load_config, task_data
from spinerisk.training.distributed import Layout

PREDICTORS = ["age", "bmi", "odi", "procedure", "modic_type", "smoking", "employment"]
#: Largest difference in risk allowed between the cluster's and the in-memory model.
#: xgboost.dask sketches each worker's rows and merges the sketches, where one process
#: sketches all rows; below max_bin * 8 distinct values a worker's summary is exact, so
#: here (about 1,000 rows a worker) the split candidates agree and what remains is the
#: order in which the workers' gradient histograms are summed (float32 rounding, ~1e-7
#: in a leaf value). 1e-5 allows that rounding through 40 trees, the calibrator and a
#: near-tie split; a different sketch would move risks by 1e-3 or more.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory, seed):
    """One partitioned cohort, trained through ``spinerisk train --cluster local:2``."""
    root = tmp_path_factory.mktemp("cluster")
    data = root / "registry"
    simulate_partitioned(2400, data, partition_rows=800, sites=2, seed=seed,
                         tasks=("response",))
    # a partition with none of the task's population (vertebral augmentation only)
    simulate(60, sites=2, seed=seed, tasks=("residual_pain",)).frame.to_parquet(
        data / "part-00001a.parquet", index=False)
    config = {"name": "cluster-response", "seed": seed, "data": {"path": str(data)},
              "task": "response", "predictors": PREDICTORS,
              "model": {"learner": "xgboost",
                        "params": {"n_estimators": 40, "max_depth": 3, "subsample": 1.0}},
              "search": {"n_trials": 2, "inner_folds": 2, "early_stopping_rounds": None,
                         "storage": f"sqlite:///{root}/optuna.db",
                         "space": {"learning_rate": {"low": 0.05, "high": 0.2}}},
              "cv": {"folds": 2, "internal_external": "no", "bootstrap": 20},
              "calibration": {"method": "platt", "folds": 2},
              "uncertainty": {"bootstrap_members": 3},
              # tuning and the profile's variable summaries on about half the rows
              "cluster": {"sample_rows": 1200},
              "allow_small_sample": True, "small_sample_reason": "a tiny test run"}
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    store = f"sqlite:///{root}/mlflow.db"
    result = CliRunner().invoke(app, ["train", "--config", str(path), "--cluster", "local:2",
                                      "--tracking-uri", store])
    assert result.exit_code == 0, result.output
    return {"data": data, "config": load_config(path), "store": store,
            "output": result.output}


def _whole(data) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(f) for f in sorted(data.glob("*.parquet"))],
                     ignore_index=True)


def test_cluster_model_registers_loads_by_alias_and_equals_the_in_memory_fit(cluster_run,
                                                                             seed):
    model = tracking.load_risk_model("models:/spinerisk-response@candidate",
                                     cluster_run["store"])
    config = cluster_run["config"]
    assert isinstance(model, RiskModel) and type(model.estimator_).__name__ == "XGBClassifier"
    assert not hasattr(model, "bootstrap_")  # the ensemble was not run, and said so
    assert ("not run: uncertainty.bootstrap_members (each member refits the whole pipeline"
            in cluster_run["output"])
    rows = task_data(_whole(cluster_run["data"]), config.task_spec())
    # the in-memory reference: RiskModel.fit on the same rows with the registered
    # hyperparameters (tuned on the workers), same calibration and seed
    reference = RiskModel(config.task_spec(), "xgboost", params=model.params,
                          calibration="platt", calibration_folds=2,
                          random_state=seed).fit(rows.X, rows.y)
    got, expected = model.predict_risk(rows.X), reference.predict_risk(rows.X)
    assert np.max(np.abs(got - expected)) <= TOLERANCE
    # counts and the linear predictor from every row; variable summaries from the sample
    profile = model.training_profile_
    assert (profile["n"], profile["events"]) == (rows.n, rows.events)
    assert profile["linear_predictor"]["n"] == rows.n
    assert 0.3 * rows.n < profile["profile_sample_rows"] < 0.7 * rows.n
    # it explains like an in-memory model: contributions add up to its margin
    scored = score_frame(model, rows.X.head(50))
    columns = [c for c in scored.columns if c.startswith("contribution_")]
    np.testing.assert_allclose(scored[columns].sum(axis=1), model.base_margin(rows.X.head(50)),
                               atol=1e-5)


def test_cluster_run_uses_the_in_memory_folds_and_logs_its_design(cluster_run):
    config = cluster_run["config"]
    rows = task_data(_whole(cluster_run["data"]), config.task_spec())
    folds = grouped_folds(rows.event, rows.groups, config.cv.folds, config.seed)
    client = MlflowClient(cluster_run["store"])
    version = client.get_model_version_by_alias("spinerisk-response", "candidate")
    run = client.get_run(version.run_id)
    assert run.data.params["folds.assignment_sha256"] == folds.describe(rows.event)[
        "assignment_sha256"]
    params = run.data.params
    assert params["data.phases_not_run.uncertainty.bootstrap_members"].startswith(
        "each member refits the whole pipeline")
    assert params["data.cluster"] == "local:2" and params["data.rows"] == str(rows.n)
    assert params["data.data_partitions"] == "4"
    assert params["data.population_rows"] == str(rows.n_population)
    assert float(run.data.metrics["cv_auc"]) > 0.5


def test_layout_splits_global_rows_by_partition():
    layout = Layout(np.array([0, 3, 3, 7]))
    parts = layout.split(np.array([0, 2, 3, 6]))
    assert [p.tolist() for p in parts] == [[0, 2], [], [0, 3]]


@pytest.mark.parametrize(("changes", "message"), [
    ({"model": {"learner": "logistic"}}, "model.learner 'logistic' does not train on a cluster"),
    ({"data": {"simulate": {"n": 100}}}, "--cluster trains a folder of parquet partitions"),
])
def test_what_a_cluster_cannot_train_is_refused_before_it_starts(tmp_path, changes, message):
    config = {"name": "x", "data": {"path": str(tmp_path)}, "task": "response",
              "model": {"learner": "xgboost"}, **changes}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["train", "--config", str(path), "--cluster", "local:2",
                                      "--tracking-uri", f"sqlite:///{tmp_path}/m.db"])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_folder_without_a_cluster_says_to_use_one(tmp_path):
    config = {"name": "x", "data": {"path": str(tmp_path)}, "task": "response",
              "model": {"learner": "xgboost"}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["train", "--config", str(path), "--tracking-uri",
                                      f"sqlite:///{tmp_path}/m.db"])
    assert result.exit_code == 2, result.output
    assert "is a folder, not a table" in result.output and "--cluster local:2" in result.output


def test_a_remote_cluster_needs_a_shared_study_storage(tmp_path):
    config = {"name": "x", "data": {"path": str(tmp_path)}, "task": "response",
              "model": {"learner": "xgboost"},
              "search": {"space": {"max_depth": {"low": 2, "high": 3, "type": "int"}}}}
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))
    result = CliRunner().invoke(app, ["train", "--config", str(path), "--cluster",
                                      "tcp://127.0.0.1:1", "--tracking-uri",
                                      f"sqlite:///{tmp_path}/m.db"])
    assert result.exit_code == 2, result.output
    assert "fix: give search.storage: postgresql://" in result.output


def test_the_cluster_sample_draws_whole_patients_at_the_asked_share():
    """The sample is drawn in the scan, partition by partition: a patient's rows are in
    or out together wherever they lie, about ``share`` of the patients are drawn, and
    another seed draws others."""
    from spinerisk.training.distributed import patients_in_sample

    patients = np.array([f"P{i // 3}" for i in range(60_000)])  # 3 episodes each
    drawn = patients_in_sample(patients, 0.25, seed=7)
    # a patient's episodes scanned in separate partitions are drawn alike
    np.testing.assert_array_equal(patients_in_sample(patients[::3], 0.25, seed=7),
                                  drawn[::3])
    assert pd.Series(drawn).groupby(patients).nunique().max() == 1
    share = drawn[::3].mean()  # 20,000 patients: binomial SE 0.003
    assert abs(share - 0.25) < 0.012, share
    assert (patients_in_sample(patients, 0.25, seed=8) != drawn).mean() > 0.2
    assert patients_in_sample(patients, 1.0, seed=7).all()
