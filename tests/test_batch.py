"""Partition-parallel scoring (Dask LocalCluster) equals scoring the whole table at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from spinerisk.batch import score_dataset, score_frame
from spinerisk.cli import app
from spinerisk.cohort import simulate
from spinerisk.cohort.partitioned import simulate_partitioned
from spinerisk.errors import SpineriskError
from spinerisk.explain import ModelExplainer, fit_bootstrap_ensemble
from spinerisk.features import spine_task
from spinerisk.models import RiskModel

PREDICTORS = ["age", "odi", "procedure", "modic_type", "smoking"]


@pytest.fixture(scope="module")
def model(seed):
    frame = simulate(900, seed=seed, tasks=("response",)).frame
    frame = frame[frame["response_50"].notna()]
    y = frame["response_50"].astype(int)
    fitted = RiskModel(spine_task("response", PREDICTORS), "xgboost",
                       params={"n_estimators": 30, "max_depth": 2}, calibration_folds=2,
                       random_state=seed).fit(frame, y)
    fitted.bootstrap_ = fit_bootstrap_ensemble(fitted, frame, y, n_members=3, seed=seed)
    return fitted


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, seed):
    folder = tmp_path_factory.mktemp("batch") / "cohort"
    simulate_partitioned(1000, folder, partition_rows=400, seed=seed + 1, tasks=("response",))
    return folder


def _read(folder):
    return {f.name: pd.read_parquet(f) for f in sorted(folder.glob("*.parquet"))}


def test_cluster_scores_equal_in_memory_scores_exactly(model, dataset, tmp_path):
    out = tmp_path / "scores"
    written = score_dataset(model, dataset, out, cluster="local:2")
    inputs, scores = _read(dataset), _read(out)
    assert list(scores) == list(inputs) and [w["rows"] for w in written] == [334, 333, 333]
    for name, part in inputs.items():  # same partitioning, ids row for row
        assert scores[name][["patient_id", "episode_id"]].equals(
            part[["patient_id", "episode_id"]].reset_index(drop=True))
    got = pd.concat(scores.values(), ignore_index=True)
    whole = pd.concat(inputs.values(), ignore_index=True)
    # the in-memory reference: the model's own methods on the whole table
    assert np.array_equal(got["risk"], model.predict_risk(whole))
    low, high = model.bootstrap_.predict_interval(model, whole)
    assert np.array_equal(got["risk_low"], low) and np.array_equal(got["risk_high"], high)
    grouped = ModelExplainer(model).explain_frame(whole)
    columns = [f"contribution_{v}" for v in grouped.variables]
    assert np.array_equal(got[columns].to_numpy(), grouped.values)
    assert np.array_equal(got["contribution_base"], grouped.base)
    # contributions add up to the model's margin (TreeSHAP's float32 sums)
    total = got[columns].sum(axis=1) + got["contribution_base"]
    np.testing.assert_allclose(total, model.base_margin(whole), atol=1e-5)
    in_process = tmp_path / "in-process"
    score_dataset(model, dataset, in_process)
    for name, frame in _read(in_process).items():
        pd.testing.assert_frame_equal(frame, scores[name], check_exact=True)


def test_bad_partition_names_itself_and_the_field(model, tmp_path):
    data = tmp_path / "bad"
    data.mkdir()
    frame = simulate(60, seed=1, tasks=("response",)).frame
    frame.assign(age=-5.0).to_parquet(data / "part-00000.parquet", index=False)
    with pytest.raises(ValueError, match=r"(?s)partition part-00000.parquet: .*age: out of range"):
        score_dataset(model, data, tmp_path / "out")


@pytest.mark.parametrize(("data", "out", "message"), [
    ("missing", "out", "not a folder"),
    ("empty", "out", r"no \*.parquet files"),
    ("cohort", "cohort/scores", "inside --data"),
])
def test_score_dataset_refuses_bad_folders(model, tmp_path, data, out, message):
    (tmp_path / "empty").mkdir()
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    simulate(60, seed=1, tasks=("response",)).frame.to_parquet(cohort / "p.parquet")
    with pytest.raises(SpineriskError, match=message):  # the CLI prints it, exit code 2
        score_dataset(model, tmp_path / data, tmp_path / out)


# third-party notices while registering: mlflow on the pyfunc's untyped predict, sqlalchemy
# on a loader option mlflow's store uses
@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
def test_cli_scores_a_registered_model(model, dataset, tmp_path):
    from spinerisk.tracking import configure, experiment_run

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "scores"
    try:
        with experiment_run("spinerisk-batch-test", "fixture", store) as run:
            uri = run.log_model(model, "response")["alias_uri"]
        result, missing = (CliRunner().invoke(app, ["score", "--model", name, "--data",
                                                    str(dataset), "--out", str(out),
                                                    "--tracking-uri", store])
                           for name in (uri, "models:/nope@candidate"))
    finally:
        configure(None)  # leave mlflow pointing where the rest of the session expects
    assert result.exit_code == 0, result.output
    assert "scored 1,000 rows in 3 partitions" in result.output
    for name, part in _read(dataset).items():
        expected = score_frame(model, part)
        pd.testing.assert_frame_equal(pd.read_parquet(out / name), expected, check_exact=True)
    assert missing.exit_code == 2 and "models:/nope@candidate: not found" in missing.output
    bad = CliRunner().invoke(app, ["score", "--model", uri, "--data", str(dataset), "--out",
                                   str(out), "--cluster", "spark://x"])
    assert bad.exit_code == 2 and "tcp://HOST:PORT" in bad.output


def test_an_unreachable_scheduler_is_a_short_error_with_the_fix(model, dataset, tmp_path,
                                                                 monkeypatch):
    import socket

    from spinerisk import cluster
    from spinerisk.errors import ClusterError

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1)
    with pytest.raises(ClusterError, match=rf"(?s)tcp://127.0.0.1:{port}: no dask scheduler "
                                           r"answered within 1 s.*fix: start one"):
        score_dataset(model, dataset, tmp_path / "out", cluster=f"tcp://127.0.0.1:{port}")
