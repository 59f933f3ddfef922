"""No individual-level data in anything a training run leaves behind.

A small Cox reoperation experiment (bootstrap members, internal-external CV, plots) is
trained on a table whose event times carry a random jitter, so each is a distinctive
float64. Every file in the tracking store (the sqlite database, artifacts, the pickled
model) is then scanned byte by byte for any patient id and for any event time (as a
little- or big-endian double), and the unpickled model is walked for arrays with one entry
per training row.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spinerisk.cohort import simulate
from spinerisk.training import parse_config, run_experiment

PREDICTORS = ["age", "bmi", "smoking", "diabetes", "modic_type", "manual_labour",
              "herniation_contained", "procedure"]


def _train(tmp_path_factory, seed, **changes):
    folder = tmp_path_factory.mktemp("privacy")
    frame = simulate(1200, sites=2, tasks=("reoperation",), seed=seed % 10_000).frame
    rng = np.random.default_rng(seed)
    times = frame["reoperation_time_months"].to_numpy(float)
    frame["reoperation_time_months"] = times + rng.uniform(1e-6, 1e-3, len(times))
    path = folder / "cohort.parquet"
    frame.to_parquet(path)
    config = parse_config({
        "name": "privacy-cox", "seed": seed, "data": {"path": str(path)},
        "task": "reoperation", "predictors": PREDICTORS,
        "model": {"learner": "cox", "params": {"alpha": 1.0}},
        "cv": {"folds": 2, "bootstrap": 20}, "calibration": {"method": "platt", "folds": 2},
        "uncertainty": {"bootstrap_members": 3},
        "allow_small_sample": True, "small_sample_reason": "a tiny test run", **changes})
    store = folder / "store"
    result = run_experiment(config, tracking_uri=f"sqlite:///{store}/mlflow.db",
                            progress=False)
    events = frame["reoperation_event"].to_numpy() == 1
    return result, store, frame, frame.loc[events, "reoperation_time_months"].to_numpy(float)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, seed):
    return _train(tmp_path_factory, seed)


@pytest.fixture(scope="module")
def trained_mice(tmp_path_factory, seed):
    """The same experiment developed by multiple imputation (the outcome, with its event
    times as a Nelson-Aalen hazard, enters the development imputation models)."""
    return _train(tmp_path_factory, seed, imputation={"method": "mice", "m": 2,
                                                      "iterations": 2},
                  uncertainty={"bootstrap_members": 2, "coverage_patients": 0})


def _files(store: Path) -> list[Path]:
    return [p for p in store.rglob("*") if p.is_file()]


def test_the_scan_covers_the_database_the_artifacts_and_the_pickled_model(trained):
    result, store, _, event_times = trained
    names = {p.name for p in _files(store)}
    assert {"mlflow.db", "risk_model.pkl", "calibration.png", "model_card.json"} <= names
    assert len(event_times) >= 30 and result.model.learner == "cox"


@pytest.mark.parametrize("run", ["trained", "trained_mice"])
def test_no_patient_id_or_event_time_in_any_stored_byte(run, request):
    _, store, frame, event_times = request.getfixturevalue(run)
    ids = {str(v).encode() for column in ("patient_id", "episode_id") if column in frame
           for v in frame[column].unique() if len(str(v)) >= 4}
    doubles = {struct.pack(order, t) for t in event_times for order in ("<d", ">d")}
    for path in _files(store):
        blob = path.read_bytes()
        leaked_ids = [i.decode() for i in ids if i in blob]
        assert not leaked_ids, f"{path.name} holds patient ids {leaked_ids[:3]}"
        leaked = sum(d in blob for d in doubles)
        assert leaked == 0, f"{path.name} holds {leaked} individual event times"


def test_the_scan_would_see_an_unpooled_baseline(trained):
    """Power check: the exact Breslow step function (one step per event time) is found."""
    from spinerisk.models.cox import breslow

    _, _, frame, event_times = trained
    time = frame["reoperation_time_months"].to_numpy(float)
    event = frame["reoperation_event"].to_numpy(float)
    times, _ = breslow(time, event, np.zeros(len(time)))
    blob = times.tobytes()
    assert all(struct.pack("<d", t) in blob for t in event_times)


@pytest.mark.parametrize("run", ["trained", "trained_mice"])
def test_no_array_with_one_entry_per_training_row_in_the_model(run, request):
    result = request.getfixturevalue(run)[0]
    n = result.data_summary["rows"]
    found = _row_sized(result.model, n)
    assert not found, f"model attributes with {n} rows: {found[:5]}"
    assert _row_sized({"x": np.zeros(n)}, n) == [".x"]  # the walk sees a planted array


def _row_sized(root, n: int) -> list[str]:
    """Paths of arrays/frames/lists of length ``n`` anywhere in ``root``'s object graph."""
    seen, found, stack = set(), [], [("", root)]
    while stack:
        where, obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, type(None))):
            continue
        seen.add(id(obj))
        if isinstance(obj, (np.ndarray, pd.Series, pd.DataFrame, pd.Index, list, tuple)):
            if len(obj) == n:
                found.append(where)
            if isinstance(obj, (list, tuple)):
                stack += [(f"{where}[{i}]", v) for i, v in enumerate(obj)]
            continue
        if isinstance(obj, dict):
            stack += [(f"{where}.{k}", v) for k, v in obj.items()]
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            stack += [(f"{where}.{k}", v) for k, v in vars(obj).items()]
    return found


def test_the_training_calibration_plot_draws_the_suppressed_histogram(trained, tmp_path,
                                                                       monkeypatch):
    """The logged calibration plot's histogram goes through the small-cell rule."""
    from spinerisk.evaluation import plots
    from spinerisk.training.performance import save_plots

    drawn, original = [], plots.prediction_histogram
    monkeypatch.setattr(plots, "prediction_histogram",
                        lambda risk, bins=40: drawn.append(original(risk, bins)) or drawn[-1])
    result = trained[0]
    save_plots(result.performance, result.oof_risk, tmp_path, "cox")
    raw = np.histogram(result.oof_risk, bins=40, range=(0.0, 1.0))[0]
    assert len(drawn) == 1
    np.testing.assert_array_equal(drawn[0][0], np.where(raw < 10, 0, raw))
