"""One-call metrics for a prediction file, and the `spinerisk metrics` command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from spinerisk.cli import app
from spinerisk.evaluation import auc, calibration_slope_survival, evaluate_predictions, harrell_c

from .conftest import COVARIATES, HORIZON

BINARY_KEYS = {"auc", "brier", "scaled_brier", "oe_ratio", "citl_intercept", "cal_intercept", "cal_slope",
               "discrimination_slope"}
SURVIVAL_KEYS = {"harrell_c", "uno_c", "td_auc", "brier", "ipa", "oe_ratio", "cal_slope"}
TOP_KEYS = {"schema_version", "kind", "n", "n_events", "horizon", "metrics", "calibration", "thresholds",
            "decision_curve", "bootstrap"}


@pytest.fixture(scope="module")
def binary_file(tmp_path_factory):
    rng = np.random.default_rng(5)
    p = 1 / (1 + np.exp(-rng.normal(-1, 1, 400)))
    df = pd.DataFrame({"y": (rng.uniform(size=400) < p).astype(int), "pred": p})
    path = tmp_path_factory.mktemp("m") / "preds.csv"
    df.to_csv(path, index=False)
    return path, df


@pytest.fixture(scope="module")
def survival_file(rotterdam_gbsg, tmp_path_factory):
    _, val, fit, _ = rotterdam_gbsg
    df = pd.DataFrame({"t": val.time, "e": val.event.astype(int),
                       "risk5": fit.predict_risk(val[COVARIATES].to_numpy(), HORIZON)})
    path = tmp_path_factory.mktemp("s") / "surv.csv"
    df.to_csv(path, index=False)
    return path, df, fit.linear_predictor(val[COVARIATES].to_numpy())


def test_binary_report_fields_and_values(binary_file):
    _, df = binary_file
    rep = evaluate_predictions(df, outcome="y", risk="pred", thresholds=[0.1, 0.3]).to_dict()
    assert set(rep) == TOP_KEYS and rep["kind"] == "binary"
    assert set(rep["metrics"]) == BINARY_KEYS
    assert rep["metrics"]["auc"]["estimate"] == pytest.approx(auc(df.y, df.pred).estimate)
    assert set(rep["calibration"]) == {"loess", "rcs"}
    assert rep["thresholds"]["threshold"] == [0.1, 0.3]
    assert {r["variable"] for r in rep["decision_curve"]["rows"]} == {"all", "none", "model"}
    json.dumps(rep)  # serialisable as is


def test_survival_report_uses_horizon(survival_file):
    _, df, lp = survival_file
    rep = evaluate_predictions(df, risk="risk5", time="t", event="e", horizon=HORIZON, thresholds=[0.23]).to_dict()
    assert set(rep["metrics"]) == SURVIVAL_KEYS and rep["horizon"] == HORIZON
    # the slope on cloglog(risk) equals the slope on the Cox linear predictor
    assert rep["metrics"]["cal_slope"]["estimate"] == pytest.approx(
        calibration_slope_survival(df.t, df.e, lp).estimate, abs=1e-8)
    assert rep["metrics"]["harrell_c"]["estimate"] == pytest.approx(harrell_c(df.t, df.e, lp).estimate)
    nb = {r["variable"]: r["net_benefit"] for r in rep["decision_curve"]["rows"]}
    assert nb["model"] == pytest.approx(0.3615002, abs=1e-7)


def test_cli_json_with_bootstrap(binary_file):
    path, _ = binary_file
    res = CliRunner().invoke(app, ["metrics", "--data", str(path), "--outcome", "y", "--risk", "pred",
                                   "--thresholds", "0.2", "--bootstrap", "50", "--seed", "3", "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["bootstrap"]["n_boot"] == 50
    assert rep["metrics"]["auc"]["ci_method"] == "bootstrap percentile"
    assert rep["metrics"]["auc"]["ci_lower"] < rep["metrics"]["auc"]["estimate"] < rep["metrics"]["auc"]["ci_upper"]


def test_cli_survival_text_and_plots(survival_file, tmp_path):
    path, _, _ = survival_file
    res = CliRunner().invoke(app, ["metrics", "--data", str(path), "--risk", "risk5", "--time", "t",
                                   "--event", "e", "--horizon", "5", "--plots", str(tmp_path / "plots")])
    assert res.exit_code == 0, res.output
    assert "harrell_c" in res.output and "cox_rcs" in res.output
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert names == ["calibration.html", "calibration.png", "decision_curve.html", "decision_curve.png"]


def test_cli_errors_name_the_column(binary_file):
    path, _ = binary_file
    res = CliRunner().invoke(app, ["metrics", "--data", str(path), "--outcome", "nope", "--risk", "pred"])
    assert res.exit_code != 0
    assert "'nope'" in res.output and "available columns" in res.output
