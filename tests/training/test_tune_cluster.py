"""``spinerisk tune --cluster``: the final study's trials on the workers of a LocalCluster,
scored on the cluster's sample (said), resumed by a second call; what it cannot do is
refused with the fix (exit code 2)."""

from __future__ import annotations

import re

import optuna
import pytest
import yaml
from typer.testing import CliRunner

import spinerisk.cluster
from spinerisk.cli import app
from spinerisk.cohort.partitioned import simulate_partitioned
from spinerisk.tuning.study import open_storage

SEARCH = {"n_trials": 2, "inner_folds": 2, "early_stopping_rounds": None, "pruning": False,
          "space": {"learning_rate": {"low": 0.05, "high": 0.3}}}


@pytest.fixture(scope="module")
def registry(tmp_path_factory, seed):
    """A small partitioned cohort and a tunable xgboost config for it."""
    root = tmp_path_factory.mktemp("tune-cluster")
    simulate_partitioned(1200, root / "registry", partition_rows=400, sites=2, seed=seed,
                         tasks=("response",))
    config = {"name": "tune-cluster", "seed": seed, "task": "response",
              "data": {"simulate": {"n": 100}},  # replaced by --data
              "predictors": ["age", "bmi", "odi", "procedure", "smoking"],
              "model": {"learner": "xgboost", "params": {"n_estimators": 20, "max_depth": 2}},
              "search": {**SEARCH, "storage": f"sqlite:///{root}/optuna.db"},
              "cluster": {"sample_rows": 600}}
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return {"root": root, "config": path, "storage": config["search"]["storage"]}


def _tune(registry, *extra):
    return CliRunner().invoke(app, ["tune", "--config", str(registry["config"]), "--data",
                                    str(registry["root"] / "registry"), "--cluster", "local:2",
                                    *extra])


def _finished(storage, name):
    with open_storage(storage) as rdb:
        trials = optuna.load_study(study_name=name, storage=rdb).trials
    return {t.number: (t.params, t.value) for t in trials if t.state.is_finished()}


def test_tune_on_a_cluster_runs_the_trials_asked_and_resumes(registry):
    first = _tune(registry)
    assert first.exit_code == 0, first.output
    name = re.search(r"study (\S+): 2 complete, 0 pruned \(2 run now\)", first.output)[1]
    assert name.endswith("/final")
    # the trials' rows are said: the sample, not all the task's rows
    rows = re.search(r"trials scored on a sample of ([\d,]+) of the ([\d,]+) rows of task "
                     r"response, whole patients drawn at random \(cluster.sample_rows; 2 "
                     r"workers of local:2\)",
                     first.output)
    sample, total = (int(g.replace(",", "")) for g in rows.groups())
    assert 0.3 * total < sample < 0.7 * total
    done = _finished(registry["storage"], name)
    assert len(done) == 2
    again = _tune(registry, "--n-trials", "3")
    assert again.exit_code == 0, again.output
    assert f"study {name}: 3 complete, 0 pruned (1 run now)" in again.output
    resumed = _finished(registry["storage"], name)
    assert len(resumed) == 3 and {n: resumed[n] for n in done} == done


@pytest.mark.parametrize(("changes", "cluster", "message"), [
    ({"search": None}, "local:2", "nothing to tune; fix: add search:"),
    ({}, "local:x", "--cluster 'local:x' is not allowed"),
    ({"model": {"learner": "xgboost_cox"}}, "local:2",
     "does not train on a cluster; allowed: xgboost"),
    ({"search": {**SEARCH, "storage": ":memory:"}}, "local:2",
     "':memory:' cannot be shared by Dask workers"),
    ({"search": {**SEARCH, "storage": "postgresql://nobody@127.0.0.1:1/none"}},
     "tcp://127.0.0.1:1", "--cluster tcp://127.0.0.1:1: no dask scheduler answered"),
])
def test_what_tune_cannot_run_on_a_cluster_is_refused_with_the_fix(registry, tmp_path,
                                                                     monkeypatch, changes,
                                                                     cluster, message):
    config = {**yaml.safe_load(registry["config"].read_text()), **changes}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setattr(spinerisk.cluster, "CONNECT_TIMEOUT_S", 1)  # nothing listens there
    result = CliRunner().invoke(app, ["tune", "--config", str(path), "--data",
                                      str(registry["root"] / "registry"), "--cluster", cluster])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
