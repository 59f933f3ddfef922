"""`spinerisk validate` end to end on real data (heart disease, VA held out), through the
registry: validate, log aggregates to MLflow, register the site update."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pytest
import yaml
from scipy.special import logit
from typer.testing import CliRunner

from spinerisk.cli import app
from spinerisk.features import generic_task
from spinerisk.models import ImputedRiskModel, RiskModel
from spinerisk.validation import (
    FIT,
    MORE_DATA,
    NO_BENEFIT,
    NOT_TRANSPORTABLE,
    RECALIBRATE,
    load_task_spec,
)
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


def _validate_locally(model, folder, tmp_path) -> dict:
    """``spinerisk validate`` of a model file at VA without logging; the report."""
    result = CliRunner().invoke(app, [
        "validate", "--model", str(model), "--data", str(folder / "va.csv"),
        "--task-config", CONFIG, "--site", "VA", "--out", str(tmp_path / "VA"), "--no-log",
        "--n-boot", "50"])
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / "VA" / "report.json").read_text())


def test_validate_local_model(heart, tmp_path):
    folder, _ = heart
    report = _validate_locally(folder / "model.joblib", folder, tmp_path)
    assert report["data"]["n_analysed"] == 200 and report["sample_size"]["events"] == 149
    assert report["verdict"]["decision"] in (FIT, RECALIBRATE, NOT_TRANSPORTABLE, MORE_DATA,
                                             NO_BENEFIT)
    assert report["case_mix"]["variables"]  # development aggregates came with the model
    # the development reference of the linear predictor travels in the model's profile
    lp = report["case_mix"]["linear_predictor"]
    dev = model_lp_reference(heart[1])
    assert lp["development_mean"] == pytest.approx(dev.mean()) and lp["sd_ratio"] > 0
    counts = lp["development"]["histogram"]["counts"]
    assert sum(c for c in counts if c is not None) <= dev.size
    assert all(c is None or c == 0 or c >= 10 for c in counts)  # small cells suppressed
    assert "needs the development rows" in report["case_mix"]["membership_note"]
    assert report["model_identity"]["missing"]["run_id"].startswith("a local model file")
    assert report["model_identity"]["missing_data"].startswith("median")
    assert (tmp_path / "VA" / "report.pdf").stat().st_size > 10_000


def test_validate_multiply_imputed_model_states_the_method(heart, tmp_path):
    """A model developed by multiple imputation validates at a site with missing values
    (imputed without the outcome) and the report states the method."""
    folder, _ = heart
    with open(CONFIG) as f:
        raw = yaml.safe_load(f)
    frame = read_generic_table(DATA, load_task_spec(CONFIG))
    dev = frame[frame["site"] != "va"]
    model = ImputedRiskModel(task=generic_task(raw["name"], raw["outcome"], raw["predictors"]),
                             n_imputations=2, n_iterations=2).fit(dev, dev["disease"].to_numpy())
    joblib.dump(model, tmp_path / "mice.joblib")
    va = frame[frame["site"] == "va"]
    assert va[list(model.predictors_)].isna().any(axis=1).sum() >= 10
    report = _validate_locally(tmp_path / "mice.joblib", folder, tmp_path)
    assert report["model_identity"]["missing_data"].startswith(
        "multiple imputation by chained equations (m=2")
    assert report["data"]["n_analysed"] == 200
    assert "multiple imputation by chained equations" in (tmp_path / "VA" / "report.html").read_text()


def model_lp_reference(model) -> np.ndarray:
    """The development linear predictor recomputed from the development rows."""
    spec = load_task_spec(CONFIG)
    frame = read_generic_table(DATA, spec)
    dev = frame[frame["site"] != "va"]
    return logit(model.predict_risk(dev))


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
    fingerprint = "ab" * 32  # what the training runner logs for its data
    with tracking.experiment_run("spinerisk-heart_disease", "develop-without-va") as run:
        run.log_params({"data": {"fingerprint_sha256": fingerprint},
                        "versions": tracking.package_versions()})
        run.log_model(model, "heart_disease", tags={"data_fingerprint": fingerprint[:16]})
        training_run = run.run_id
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
    # the report and the validation run's tags name the model: version, run, data
    identity = report["model_identity"]
    assert identity["name"] == "spinerisk-heart_disease" and identity["version"] == "1"
    assert identity["run_id"] == training_run and identity["data_fingerprint"] == fingerprint
    assert identity["trained_at"] and identity["training_versions"]["spinerisk"]
    tags = runs[0].data.tags
    assert (tags["model.version"], tags["model.run_id"], tags["model.data_fingerprint"]) == (
        "1", training_run, fingerprint)
    html = (tmp_path / "VA" / "report.html").read_text()
    assert training_run in html and fingerprint in html
    if report["verdict"]["recommended_update"] != "original":
        site_model = tracking.load_risk_model("models:/spinerisk-heart_disease@site-VA")
        va = read_generic_table(folder / "va.csv", load_task_spec(CONFIG))
        assert site_model.predict_risk(va).shape == (200,)
        assert "registered" in result.output
