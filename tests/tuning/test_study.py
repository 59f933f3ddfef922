"""Optuna studies: seeded, pruned on intermediate scores, resumable after a kill."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import optuna

from spinerisk.tuning import MEMORY, tune

SPACE = {"x": {"low": -3.0, "high": 3.0}, "k": {"low": 1, "high": 5, "type": "int"}}


def quadratic(params, report):
    for step in range(3):
        report(step, (params["x"] - 1.0) ** 2 + params["k"])
    return (params["x"] - 1.0) ** 2 + params["k"]


def test_same_seed_same_trials():
    runs = [tune(quadratic, SPACE, study_name="s", n_trials=6, seed=3, progress=False,
                 storage=MEMORY).trials for _ in range(2)]
    assert [t["params"] for t in runs[0]] == [t["params"] for t in runs[1]]


def test_pruning_stops_hopeless_trials():
    def score(params, report):
        for step in range(5):
            report(step, params["x"] ** 2)
        return params["x"] ** 2

    result = tune(score, {"x": {"low": -10.0, "high": 10.0}}, study_name="p", n_trials=20,
                  seed=0, progress=False, storage=MEMORY)
    assert result.n_pruned > 0
    assert result.n_complete + result.n_pruned == 20


#: the killed study's trials (0.2 s each): the kill lands after the third
TRIALS = 12
WORKER = """
import sys, time
from spinerisk.tuning import tune
def slow(params, report):
    time.sleep(0.2)
    return (params["x"] - 1.0) ** 2 + params["k"]
space = {"x": {"low": -3.0, "high": 3.0}, "k": {"low": 1, "high": 5, "type": "int"}}
tune(slow, space, study_name="resume", n_trials=int(sys.argv[2]), seed=11,
     storage=sys.argv[1], progress=False)
"""


def _finished(storage):
    try:
        study = optuna.load_study(study_name="resume", storage=storage)
    except KeyError:
        return []
    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


def _complete_count(path) -> int:
    """Finished trials, read with one cheap query: polled every 50 ms while the worker
    runs (opening an optuna storage per look took longer than the worker's trials on a
    loaded machine, so the kill came after the last one)."""
    try:
        with sqlite3.connect(path, timeout=5) as connection:
            return connection.execute(
                "SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.OperationalError:  # the worker has not created the tables yet
        return 0


def test_killed_study_resumes_at_the_next_trial(tmp_path):
    storage = f"sqlite:///{tmp_path}/resume.db"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    worker = subprocess.Popen([sys.executable, str(script), storage, str(TRIALS)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while (_complete_count(tmp_path / "resume.db") < 3 and time.monotonic() < deadline
           and worker.poll() is None):
        time.sleep(0.05)
    if worker.poll() is None:
        os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    before = {t.number: (t.params, t.value) for t in _finished(storage)}
    k = len(before)
    assert 3 <= k < TRIALS, "the worker was not killed part-way"
    subprocess.run([sys.executable, str(script), storage, str(TRIALS)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = _finished(storage)
    assert len(after) == TRIALS
    assert {t.number: (t.params, t.value) for t in after if t.number in before} == before
    new = sorted(t.number for t in after if t.number not in before)
    # the resumed run starts right after the last stored trial; a trial cut off by the
    # kill keeps its number (RUNNING until its heartbeat is stale, then FAIL)
    study = optuna.load_study(study_name="resume", storage=storage)
    cut_off = [t.number for t in study.trials
               if t.state in (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.FAIL)]
    assert len(cut_off) <= 1
    assert new[0] == max(before) + 1 + len(cut_off)
    assert len(new) == TRIALS - k


def test_parameters_a_score_chooses_replace_the_drawn_ones():
    """A score returning ``(value, chosen)`` (early stopping's rounds): the trial log, the
    stored trials and the best parameters carry what was scored, not what was drawn."""
    logged = []

    def score(params, report):
        rounds = 1 + int(params["x"] ** 2)  # settled by the score itself
        return (params["x"] - 1.0) ** 2, {"k": rounds}

    result = tune(score, SPACE, study_name="c", n_trials=5, seed=2, progress=False,
                  storage=MEMORY, on_trial=lambda *row: logged.append(row))
    for trial in result.trials:
        assert trial["params"]["k"] == 1 + int(trial["params"]["x"] ** 2)
    assert [row[2] for row in logged] == [t["params"] for t in result.trials]
    best = min(result.trials, key=lambda t: t["value"])
    assert result.best_params == best["params"]
