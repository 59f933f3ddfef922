"""The experiment runner end to end: nested CV, tracking, registry, reproducibility."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from spinerisk import tracking
from spinerisk.training import run_experiment


def test_parent_run_holds_params_metrics_plots_and_nested_trials(tracked, store):
    tracking.configure(store)
    client = MlflowClient()
    run = client.get_run(tracked.run_id)
    assert run.data.params["data.fingerprint_sha256"] == tracked.data_summary["fingerprint_sha256"]
    assert run.data.params["data.excluded_missing_outcome"] == \
        str(tracked.data_summary["excluded_missing_outcome"])
    assert "median" not in run.data.params["missing_strategy"]  # xgboost: native NaN
    assert run.data.tags["git_commit"]
    for name in ("cv_auc", "cv_auc_ci_lower", "cv_cal_slope", "cv_brier"):
        assert name in run.data.metrics
    assert any(k.startswith("iecv_") for k in run.data.metrics)  # two sites
    plots = {Path(a.path).name for a in client.list_artifacts(tracked.run_id, "plots")}
    assert {"roc.png", "calibration.png", "decision_curve.png", "shap_importance.png"} <= plots
    children = client.search_runs([run.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{tracked.run_id}'")
    # 2 outer studies, one study without each of the 2 sites (internal-external CV
    # tunes without the held-out site) and the final one, 2 trials each
    assert len(children) == 10
    assert {c.data.tags["study"].rsplit("/", 1)[1] for c in children} == \
        {"outer1", "outer2", "final", *(f"without-{s}" for s in tracked.site_params)}
    assert len(tracked.site_params) == 2


def test_registered_with_candidate_alias(tracked, store):
    tracking.configure(store)
    version = MlflowClient().get_model_version_by_alias("spinerisk-response", "candidate")
    assert str(version.version) == tracked.model_info["version"]


def test_no_patient_rows_in_any_artifact(tracked, store):
    tracking.configure(store)
    client = MlflowClient()
    root = Path(client.download_artifacts(tracked.run_id, ""))
    texts = [p.read_text(errors="ignore") for p in root.rglob("*")
             if p.is_file() and p.suffix in (".json", ".yaml", ".txt", ".csv")]
    assert texts
    for text in texts:
        assert "P000" not in text  # simulated patient ids look like P0000123


def test_fresh_process_loads_by_alias_and_predicts_the_training_risk(tracked, store):
    record_frame = _one_patient(tracked)
    expected = float(tracked.model.predict_risk(record_frame)[0])
    record = {k: (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v))
              for k, v in record_frame.iloc[0].items() if not k.startswith(("phenotype_",
                                                                            "red_flag_any"))
              and k != "concordance"}
    code = (
        "import json, sys\n"
        "import pandas as pd\n"
        "from spinerisk import tracking\n"
        "record = json.loads(sys.argv[2])\n"
        "pyfunc = tracking.load_pyfunc('models:/spinerisk-response@candidate', sys.argv[1])\n"
        "model = tracking.load_risk_model('models:/spinerisk-response@candidate', sys.argv[1])\n"
        "print(json.dumps(model.predict_risk_record(record)))\n"
        "print(json.dumps(float(pyfunc.predict(pd.DataFrame([record]))[0])))\n")
    out = subprocess.run([sys.executable, "-c", code, store, json.dumps(record, default=str)],
                         check=False, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    by_object, by_pyfunc = (json.loads(line) for line in out.stdout.strip().splitlines()[-2:])
    assert by_object == expected
    assert abs(by_pyfunc - expected) < 1e-12


def _one_patient(result):
    from spinerisk.cohort import simulate

    frame = simulate(60, seed=1, tasks=("response",)).frame
    return frame.iloc[[5]].reset_index(drop=True)


def test_pyfunc_accepts_categorical_and_nullable_columns(tracked, store):
    from spinerisk.cohort import simulate

    frame = simulate(80, seed=2, tasks=("response",)).frame  # categoricals and Int64 with NA
    pyfunc = tracking.load_pyfunc(tracked.model_info["alias_uri"], store)
    risk = pyfunc.predict(frame)
    np.testing.assert_allclose(risk, tracked.model.predict_risk(frame), rtol=1e-12)
    assert np.all((risk > 0) & (risk < 1))  # risk, not a class label


def test_site_version_gets_its_own_alias(tracked, store):
    info = tracking.register_site_version(tracked.model, "response", "S09",
                                          metrics={"auc": 0.7}, tracking=store)
    version = MlflowClient().get_model_version_by_alias("spinerisk-response", "site-S09")
    assert str(version.version) == info["version"] != tracked.model_info["version"]


def test_same_seed_same_data_identical_metrics_and_predictions(seed, make_config):
    config = make_config(seed, cv={"folds": 2, "bootstrap": 20, "internal_external": "no"})
    first, second = (run_experiment(config, progress=False, log=False) for _ in range(2))
    assert first.performance.flat() == second.performance.flat()
    np.testing.assert_array_equal(first.oof_risk, second.oof_risk)
    frame = _one_patient(first)
    assert first.model.predict_risk(frame)[0] == second.model.predict_risk(frame)[0]


def test_final_model_carries_a_bootstrap_ensemble_for_intervals(tracked):
    ensemble = tracked.model.bootstrap_
    assert len(ensemble.members) == 3
    frame = _one_patient(tracked)
    low, high = ensemble.predict_interval(tracked.model, frame)
    risk = tracked.model.predict_risk(frame)
    assert low[0] < high[0] and 0 < low[0] and high[0] < 1
    assert low[0] <= risk[0] <= high[0]
