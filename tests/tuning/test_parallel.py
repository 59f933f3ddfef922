"""Optuna trials on Dask workers: a study killed mid-run and resumed loses no trial."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import optuna
import pytest
from distributed import Client

from spinerisk.tuning.parallel import tune_on_workers

HEARTBEAT_S = 1.0
#: no dashboard; the scheduler's HTTP routes on a free loopback port (8787 may be taken)
IN_PROCESS_CLUSTER = {"dashboard_address": None,
                      "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"}}
TRIALS = 12
SPACE = {"x": {"low": -3.0, "high": 3.0}, "k": {"low": 1, "high": 5, "type": "int"}}
RUN = """
import sys, time
from distributed import Client
from spinerisk.tuning.parallel import tune_on_workers

def slow(params, report):
    time.sleep(1.0)
    return (params["x"] - 1.0) ** 2 + params["k"]

if __name__ == "__main__":
    space = {"x": {"low": -3.0, "high": 3.0}, "k": {"low": 1, "high": 5, "type": "int"}}
    with Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None,
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as client:
        tune_on_workers(client, slow, space, study_name="resume", n_trials=int(sys.argv[2]),
                        seed=11, storage=sys.argv[1], pruning=False, progress=False,
                        heartbeat_s=float(sys.argv[3]))
"""


def slow(params, report):
    time.sleep(0.2)
    return (params["x"] - 1.0) ** 2 + params["k"]


def _trials(storage):
    try:
        return optuna.load_study(study_name="resume", storage=storage).trials
    except KeyError:
        return []


def _killable_moment(storage) -> bool:
    """Two trials finished and one started within the last half second (so the kill cuts
    it off mid-way, not as it ends)."""
    trials = _trials(storage)
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    fresh = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING
             and datetime.now() - t.datetime_start < timedelta(seconds=0.5)]
    return len(done) >= 2 and bool(fresh)


def test_a_killed_dask_study_resumes_and_loses_no_trial(tmp_path):
    storage = f"sqlite:///{tmp_path}/resume.db"
    script = tmp_path / "run.py"
    script.write_text(RUN)
    run = subprocess.Popen([sys.executable, str(script), storage, str(TRIALS), str(HEARTBEAT_S)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not _killable_moment(storage) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(run.pid, signal.SIGKILL)  # the whole run: client, scheduler and workers
    run.wait()
    killed_at = time.monotonic()
    trials = _trials(storage)
    before = {t.number: (t.params, t.value) for t in trials
              if t.state == optuna.trial.TrialState.COMPLETE}
    cut_off = {t.number: t.params for t in trials if t.state == optuna.trial.TrialState.RUNNING}
    assert len(before) >= 2 and cut_off and len(before) + len(cut_off) <= TRIALS, \
        "the run was not killed part-way"
    # a cut-off trial counts as dead once 3 heartbeats have passed without one; sqlite
    # stamps heartbeats to the whole second, so the gap it sees can be a second short
    time.sleep(max(0.0, 3 * HEARTBEAT_S + 2.0 - (time.monotonic() - killed_at)))
    logged = []
    with Client(processes=False, n_workers=2, threads_per_worker=1,
                **IN_PROCESS_CLUSTER) as client:
        result = tune_on_workers(client, slow, SPACE, study_name="resume", n_trials=TRIALS,
                                 seed=11, storage=storage, pruning=False, progress=False,
                                 heartbeat_s=HEARTBEAT_S,
                                 on_trial=lambda *row: logged.append(row[1]))
    trials = _trials(storage)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert result.n_complete == len(complete) == TRIALS
    assert result.n_run_now == TRIALS - len(before) == len(logged)
    assert {t.number: (t.params, t.value) for t in complete if t.number in before} == before
    # the resumed workers draw afresh, not the killed run's draws again
    drawn = [tuple(sorted(t.params.items())) for t in complete if "retry_of" not in t.user_attrs]
    assert len(set(drawn)) == len(drawn)
    for number, params in cut_off.items():  # FAIL, and its parameters run again to the end
        assert trials[number].state == optuna.trial.TrialState.FAIL
        retries = [t for t in complete if t.user_attrs.get("retry_of") == number]
        # the values it had drawn are kept (a trial cut off while drawing has fewer than
        # the space's; the retry draws the rest)
        assert len(retries) == 1 and params.items() <= retries[0].params.items()


def test_workers_cannot_share_a_study_in_memory():
    with Client(processes=False, n_workers=1, **IN_PROCESS_CLUSTER) as client, \
            pytest.raises(ValueError, match="':memory:' cannot be shared by Dask workers"):
        tune_on_workers(client, slow, SPACE, study_name="m", n_trials=2, seed=0,
                        storage=":memory:")
