"""Where the store is, what a failed look-up says, and explicit promotion of an alias."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from spinerisk import tracking
from spinerisk.cli import app
from spinerisk.tracking import location

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def test_default_store_is_the_project_checkouts_wherever_the_user_stands(tmp_path,
                                                                        monkeypatch):
    monkeypatch.delenv(location.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    found = location.resolve_store()
    assert found.uri == f"sqlite:///{ROOT / 'mlruns' / 'mlflow.db'}"
    assert found.source == f"project checkout {ROOT}"
    assert location.default_study_storage() == f"sqlite:///{ROOT / 'mlruns' / 'optuna.db'}"
    monkeypatch.setenv(location.ENV_VAR, f"sqlite:///{tmp_path}/s/mlflow.db")
    assert location.resolve_store().source == "$SPINERISK_TRACKING_URI"
    assert location.default_study_storage() == f"sqlite:///{tmp_path}/s/optuna.db"
    assert location.resolve_store("postgresql://h/db").source == "--tracking-uri"


def test_an_installed_wheel_uses_the_user_data_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(location.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setattr(location, "project_root", lambda: None)
    found = location.resolve_store()
    assert found.uri == f"sqlite:///{tmp_path}/spinerisk/mlruns/mlflow.db"
    assert found.source == "user data folder"


def test_predict_without_a_store_names_it_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = f"sqlite:///{tmp_path}/nowhere/mlflow.db"
    result = CliRunner().invoke(app, ["predict", "--patient", str(EXAMPLES / "patient.json")],
                                env={location.ENV_VAR: missing})
    assert result.exit_code == 2, result.output
    assert f"tracking store: {missing} (from $SPINERISK_TRACKING_URI) does not exist" in \
        result.stderr
    assert "Traceback" not in result.output and list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def small_model(seed):
    from spinerisk.cohort import simulate
    from spinerisk.features import spine_task
    from spinerisk.models import RiskModel

    frame = simulate(400, tasks=("response",), seed=seed % 10_000).frame
    frame = frame[frame["response_50"].notna()]
    spec = spine_task("response", ["age", "odi", "procedure"])
    return RiskModel(spec, "logistic", calibration="none", random_state=seed).fit(
        frame, frame["response_50"].astype(float).to_numpy())


@pytest.fixture()
def store(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    yield uri
    tracking.configure(None)  # leave mlflow at the session's default


def _log(model, store: str, promote: bool) -> dict[str, str]:
    with tracking.experiment_run("spinerisk-response", "test", store) as run:
        return run.log_model(model, "response", promote=promote)


def _candidate(store: str) -> str:
    return str(MlflowClient(store, store).get_model_version_by_alias(
        "spinerisk-response", "candidate").version)


def test_the_alias_moves_only_when_promoted(small_model, store):
    first = _log(small_model, store, promote=False)
    assert first["promotion"] == "spinerisk-response@candidate: version none -> 1"
    second = _log(small_model, store, promote=False)
    assert (second["version"], second["alias_uri"], _candidate(store)) == ("2", "", "1")
    assert second["promotion"] == (
        "registered spinerisk-response version 2; spinerisk-response@candidate stays at "
        "version 1 (train with --promote, or `spinerisk promote --name spinerisk-response "
        "--version 2` to move it)")
    third = _log(small_model, store, promote=True)
    assert third["promotion"] == "spinerisk-response@candidate: version 1 -> 3"
    assert _candidate(store) == "3" and third["previous_version"] == "1"
    promote = ["promote", "--name", "spinerisk-response", "--tracking-uri", store, "--version"]
    result = CliRunner().invoke(app, [*promote, "2"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "spinerisk-response@candidate: version 3 -> 2"
    assert _candidate(store) == "2"
    result = CliRunner().invoke(app, [*promote, "9"])
    assert result.exit_code == 2 and _candidate(store) == "2"
    assert "models:/spinerisk-response/9: not found" in result.stderr


def test_an_unknown_alias_names_the_store_and_lists_what_it_holds(small_model, store):
    _log(small_model, store, promote=False)
    with pytest.raises(tracking.ModelLookupError) as err:
        tracking.resolve_model_uri("models:/spinerisk-response@prod", store)
    message = str(err.value)
    assert f"tracking store: {store} (from --tracking-uri)" in message
    assert "spinerisk-response (versions 1; spinerisk-response@candidate -> version 1)" in \
        message
    result = CliRunner().invoke(app, [
        "predict", "--patient", str(EXAMPLES / "patient.json"), "--tracking-uri", store,
        "--model", "models:/spinerisk-reoperation@candidate"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "models:/spinerisk-reoperation@candidate: not found" in result.stderr
    assert "spinerisk-response@candidate -> version 1" in result.stderr


def test_train_promotes_only_with_the_flag(tmp_path, seed, store):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "name": "tiny-promote", "seed": seed,
        "data": {"simulate": {"n": 400, "sites": 1, "seed": seed % 10_000}},
        "task": "response", "predictors": ["age", "odi", "procedure"],
        "model": {"learner": "logistic"}, "cv": {"folds": 2, "bootstrap": 0},
        "calibration": {"method": "none"}, "uncertainty": {"bootstrap_members": 0},
        "allow_small_sample": True, "small_sample_reason": "a tiny test run"}))
    outputs = []
    for flags in ([], [], ["--promote"]):
        result = CliRunner().invoke(app, ["train", "--config", str(config),
                                          "--tracking-uri", store, *flags])
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout)
    assert "spinerisk-response@candidate: version none -> 1" in outputs[0]
    assert f"tracking store: {store} (from --tracking-uri)" in outputs[0]
    assert "spinerisk-response@candidate stays at version 1" in outputs[1]
    assert "spinerisk-response@candidate: version 1 -> 3" in outputs[2]
    assert _candidate(store) == "3"


@pytest.fixture(scope="module")
def reoperation_store(tmp_path_factory, seed):
    """A small Cox reoperation model registered as spinerisk-reoperation@candidate."""
    from spinerisk.cohort import simulate
    from spinerisk.features import spine_task
    from spinerisk.models import RiskModel

    frame = simulate(800, tasks=("reoperation",), seed=seed % 10_000).frame
    y = pd.DataFrame({"time": frame["reoperation_time_months"].to_numpy(float),
                      "event": frame["reoperation_event"].to_numpy(float)})
    spec = spine_task("reoperation", ["age", "modic_type", "herniation_contained", "procedure"])
    model = RiskModel(spec, "cox", calibration="none", random_state=seed).fit(frame, y)
    uri = f"sqlite:///{tmp_path_factory.mktemp('reoperation')}/mlflow.db"
    try:
        with tracking.experiment_run("spinerisk-reoperation", "test", uri) as run:
            run.log_model(model, "reoperation")
    finally:
        tracking.configure(None)
    return uri


def test_readme_predict_example_works_with_the_reoperation_model(reoperation_store,
                                                                  monkeypatch):
    readme = (ROOT / "README.md").read_text()
    command = ("spinerisk predict --model models:/spinerisk-reoperation@candidate "
               "--patient examples/patient-reoperation.json")
    assert command in readme
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, command.split()[1:],
                                env={location.ENV_VAR: reoperation_store})
    assert result.exit_code == 0, result.output
    assert "Predicted reoperation risk at 24 months:" in result.stdout
    # the injection example with the reoperation model: a clear refusal, not a traceback
    result = CliRunner().invoke(app, ["predict", "--model",
                                      "models:/spinerisk-reoperation@candidate",
                                      "--patient", "examples/patient.json"],
                                env={location.ENV_VAR: reoperation_store})
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "the planned procedure 'tf_esi' implies the response task" in result.stderr
    assert "load models:/spinerisk-response@candidate" in result.stderr


def test_predict_reads_a_local_model_without_importing_mlflow(small_model, store):
    """The fast path: registry tables and the pickled model read directly (same risk)."""
    _log(small_model, store, promote=False)
    patient = EXAMPLES / "patient.json"
    code = ("import json, sys\n"
            "from typer.testing import CliRunner\n"
            "from spinerisk.cli import app\n"
            "result = CliRunner().invoke(app, ['predict', '--json', '--patient', sys.argv[1],"
            " '--model', 'models:/spinerisk-response@candidate', '--tracking-uri', sys.argv[2]])\n"
            "assert result.exit_code == 0, result.output\n"
            "print(json.dumps({'risk': json.loads(result.stdout)['risk'],"
            " 'mlflow': 'mlflow' in sys.modules}))\n")
    out = subprocess.run([sys.executable, "-c", code, str(patient), store],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-1500:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["mlflow"] is False
    expected = small_model.predict_risk_record(json.loads(patient.read_text()))
    assert result["risk"] == pytest.approx(expected, rel=1e-12)


def test_logging_and_registering_print_nothing(small_model, store, capfd):
    """mlflow's event messages (table creation, "Successfully registered", "Created
    version", uv detection) stay out of the command's output: it reports the move itself."""
    info = _log(small_model, store, promote=False)
    out, err = capfd.readouterr()
    assert info["version"] == "1"
    assert out + err == ""
