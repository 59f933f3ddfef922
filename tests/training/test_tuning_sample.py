"""Tuning on a patient-grouped, outcome-stratified sample (``search.sample_rows``): a
no-op when the data are smaller, visible in the CLI's messages, the run and the model
card when it samples."""

import json
from pathlib import Path

from mlflow.tracking import MlflowClient

from spinerisk import tracking
from spinerisk.training import run_experiment
from spinerisk.training.runner import Fitter, prepare, study_prefix


def _trial_log(config):
    """Every trial the final study reports, in order, as JSON text."""
    task, data, summary = prepare(config)
    trials = []
    fitter = Fitter(config, task, study_prefix(config, summary["fingerprint_sha256"]),
                    on_trial=lambda *args: trials.append(args), progress=False)
    fitter.study(data, "final")
    return json.dumps(trials, default=str), fitter.tuning_rows["final"], data.n


def test_a_sample_larger_than_the_data_changes_nothing(seed, make_config):
    base = make_config(seed)
    search = {**base.search.model_dump(), "sample_rows": 10**6}
    before, _, n = _trial_log(base)
    after, rows, _ = _trial_log(make_config(seed, search=search))
    assert after == before  # same study name, trials, parameters and scores
    assert rows == {"rows": n, "tuning_rows": n}


def test_sample_rows_reaches_the_cli_the_run_and_the_model_card(seed, make_config, store):
    base = make_config(seed)
    config = make_config(seed, search={**base.search.model_dump(), "sample_rows": 300},
                         cv={"folds": 2, "bootstrap": 20, "internal_external": "no"},
                         uncertainty={"bootstrap_members": 0})
    said = []
    result = run_experiment(config, tracking_uri=store, progress=False, announce=said.append)
    assert any("search.sample_rows" in line and "300 rows" in line for line in said)
    n = result.data_summary["rows"]
    assert set(result.tuning_rows) == {"outer1", "outer2", "final"}
    for rows in result.tuning_rows.values():
        # a patient's rows are taken together, so a few rows more or fewer than asked
        assert rows["rows"] > 300 and abs(rows["tuning_rows"] - 300) <= 10
    assert result.tuning_rows["final"]["rows"] == n
    # the rounds re-chosen on all the fit's rows (at most the fixed 60) are the ones used
    final = result.tuning_rows["final"]
    assert final["rounds_on_sample"] <= 60 and 1 <= final["rounds_on_all_rows"] <= 60
    assert result.best_params["n_estimators"] == final["rounds_on_all_rows"]
    tracking.configure(store)
    client = MlflowClient()
    params = client.get_run(result.run_id).data.params
    assert params["tuning_sample.sample_rows"] == "300"
    trials = client.search_runs([client.get_run(result.run_id).info.experiment_id],
                                f"tags.mlflow.parentRunId = '{result.run_id}'")
    assert {t.data.tags["study"].rsplit("/", 1)[1] for t in trials} == {"sample300"}
    assert params["config.search.sample_rows"] == "300"
    assert params["tuning_sample.final.tuning_rows"] == str(result.tuning_rows["final"]
                                                            ["tuning_rows"])
    card = json.loads(Path(client.download_artifacts(result.run_id, "model_card.json"))
                      .read_text())
    assert "search.sample_rows" in card["tuning"]
    # each sampled fit's calibrator: its rounds fold's held-out margins, said on the card
    assert "calibration.margins: auto" in card["tuning"]
    assert all(0 < rows["calibration_rows"] < rows["rows"]
               for rows in result.tuning_rows.values())
    assert card["tuning_rows"]["outer1"] == result.tuning_rows["outer1"]


def test_the_statement_says_what_a_cluster_run_does_instead(seed, make_config):
    """A run on a Dask cluster keeps the rounds chosen on the sample and cross-fits its
    calibrator: its statement says so, not what one process does."""
    from spinerisk.training.runner import tuning_sample_statement

    base = make_config(seed)
    config = make_config(seed, search={**base.search.model_dump(), "sample_rows": 300})
    here, there = tuning_sample_statement(config), tuning_sample_statement(config, True)
    assert "re-chosen there" in here and "calibration.margins: auto" in here
    assert "re-chosen there" not in there and "calibration.margins" not in there
    assert "as chosen on the sample" in there and "calibrator cross-fitted" in there
