"""`spinerisk validate` end to end on real data (heart disease, VA held out), through the
registry: validate, log aggregates to MLflow, register the site update."""

from __future__ import annotations

import json

import joblib
import pytest
import yaml
from typer.testing import CliRunner

from spinerisk.cli import app
from spinerisk.features import generic_task
from spinerisk.models import RiskModel
from spinerisk.validation import load_task_spec
from spinerisk.validation.task import read_generic_table

CONFIG = "configs/tasks/heart_disease.yaml"
DATA = "tests/golden/heart_disease/heart_disease_4sites.csv"


@pytest.fixture(scope="module")
def heart(tmp_path_factory):
    """A logistic RiskModel developed on Cleveland, Hungarian and Switzerland; VA's table."""
    with open(CONFIG) as f:
        raw = yaml.safe_load(f)
    spec = load_task_spec(CONFIG)
    frame = read_generic_table(DATA, spec)
    dev = frame[frame["site"] != "va"]
    model = RiskModel(task=generic_task(raw["name"], raw["outcome"], raw["predictors"]),
                      learner="logistic").fit(dev, dev["disease"].to_numpy())
    folder = tmp_path_factory.mktemp("heart")
    frame[frame["site"] == "va"].to_csv(folder / "va.csv", index=False)
    joblib.dump(model, folder / "model.joblib")
    return folder, model


def test_validate_local_model(heart, tmp_path):
    folder, _ = heart
    result = CliRunner().invoke(app, [
        "validate", "--model", str(folder / "model.joblib"), "--data", str(folder / "va.csv"),
        "--task-config", CONFIG, "--site", "VA", "--out", str(tmp_path / "VA"), "--no-log",
        "--n-boot", "50"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "VA" / "report.json").read_text())
    assert report["data"]["n_analysed"] == 200 and report["sample_size"]["events"] == 149
    assert report["verdict"]["decision"] in ("fit for use", "use after recalibration",
                                             "not transportable")
    assert report["case_mix"]["variables"]  # development aggregates came with the model
    assert (tmp_path / "VA" / "report.pdf").stat().st_size > 10_000


# mlflow warns about the pyfunc's untyped ``params`` argument (spinerisk.tracking's wrapper)
@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")
# mlflow's sqlite store uses a loader strategy sqlalchemy 2.1 deprecates
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")
def test_validate_registered_model_logs_and_registers(heart, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from spinerisk import tracking

    folder, model = heart
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("SPINERISK_TRACKING_URI", uri)
    tracking.configure(uri)
    with tracking.experiment_run("spinerisk-heart_disease", "develop-without-va") as run:
        run.log_model(model, "heart_disease")
    result = CliRunner().invoke(app, [
        "validate", "--model", "models:/spinerisk-heart_disease@candidate",
        "--data", str(folder / "va.csv"), "--task-config", CONFIG, "--site", "VA",
        "--out", str(tmp_path / "VA"), "--n-boot", "50", "--register-update"])
    assert result.exit_code == 0, result.output
    client = MlflowClient(uri)
    runs = client.search_runs(
        [client.get_experiment_by_name("spinerisk-heart_disease").experiment_id],
        "tags.site = 'VA'")
    assert len(runs) == 1 and runs[0].data.metrics["n"] == 200
    assert "c_statistic" in runs[0].data.metrics
    report = json.loads((tmp_path / "VA" / "report.json").read_text())
    if report["verdict"]["recommended_update"] != "original":
        site_model = tracking.load_risk_model("models:/spinerisk-heart_disease@site-VA")
        va = read_generic_table(folder / "va.csv", load_task_spec(CONFIG))
        assert site_model.predict_risk(va).shape == (200,)
        assert "registered" in result.output
