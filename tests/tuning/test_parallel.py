"""Optuna trials on Dask workers: a study killed mid-run and resumed loses no trial, on
sqlite (a LocalCluster) and on PostgreSQL (what a remote scheduler's workers share); a
study gives back the database connections it opened."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import optuna
import pytest
import sqlalchemy
from distributed import Client

from spinerisk.tuning.parallel import tune_on_workers
from spinerisk.tuning.study import open_storage, tune

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
        tune_on_workers(client, slow, space, study_name=sys.argv[4], n_trials=int(sys.argv[2]),
                        seed=11, storage=sys.argv[1], pruning=False, progress=False,
                        heartbeat_s=float(sys.argv[3]))
"""


def slow(params, report):
    time.sleep(0.2)
    return (params["x"] - 1.0) ** 2 + params["k"]


def _trials(storage, study):
    # polled every 50 ms: each look closes its connection (an engine per look left to the
    # garbage collector exhausted the test server's connections)
    with open_storage(storage) as rdb:
        try:
            return optuna.load_study(study_name=study, storage=rdb).trials
        except KeyError:
            return []


def _killable_moment(storage, study) -> bool:
    """Two trials finished and one started within the last half second (so the kill cuts
    it off mid-way, not as it ends)."""
    trials = _trials(storage, study)
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    fresh = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING
             and datetime.now() - t.datetime_start < timedelta(seconds=0.5)]
    return len(done) >= 2 and bool(fresh)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_killed_dask_study_resumes_and_loses_no_trial(tmp_path, request, backend):
    storage = (f"sqlite:///{tmp_path}/resume.db" if backend == "sqlite"
               else request.getfixturevalue("postgres_url"))
    study = f"resume-{tmp_path.name}"  # the PostgreSQL server is shared by the session
    script = tmp_path / "run.py"
    script.write_text(RUN)
    with (tmp_path / "run.err").open("w") as errors:  # the child keeps its own copy
        run = subprocess.Popen([sys.executable, str(script), storage, str(TRIALS),
                                str(HEARTBEAT_S), study], stdout=subprocess.DEVNULL,
                               stderr=errors)
    deadline = time.monotonic() + 120
    while (not _killable_moment(storage, study) and time.monotonic() < deadline
           and run.poll() is None):
        time.sleep(0.05)
    assert run.poll() is None, f"the run ended by itself: {(tmp_path / 'run.err').read_text()[-2000:]}"
    os.kill(run.pid, signal.SIGKILL)  # the whole run: client, scheduler and workers
    run.wait()
    killed_at = time.monotonic()
    trials = _trials(storage, study)
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
        result = tune_on_workers(client, slow, SPACE, study_name=study, n_trials=TRIALS,
                                 seed=11, storage=storage, pruning=False, progress=False,
                                 heartbeat_s=HEARTBEAT_S,
                                 on_trial=lambda *row: logged.append(row[1]))
    trials = _trials(storage, study)
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


def test_studies_give_back_their_database_connections(postgres_url, tmp_path):
    """After a study on workers (threads of this process, as a long-lived worker runs study
    after study) and one in this process, the server holds none of their connections."""
    tag = f"conn-{tmp_path.name}"[:60]
    url = f"{postgres_url}?application_name={tag}"
    admin = sqlalchemy.create_engine(postgres_url, poolclass=sqlalchemy.pool.NullPool)

    def connections() -> int:
        with admin.connect() as connection:
            return connection.execute(sqlalchemy.text(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = :tag"),
                {"tag": tag}).scalar_one()

    seen = []

    def score(params, report):
        seen.append(connections())  # the study's own connections, while it runs
        return slow(params, report)

    def settled() -> int:  # a closed connection's backend leaves pg_stat_activity soon after
        deadline = time.monotonic() + 10
        while (n := connections()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return n

    before = connections()
    gc.disable()  # the leak was pools in reference cycles, freed only when gc happened to run
    try:
        with Client(processes=False, n_workers=2, threads_per_worker=1,
                    **IN_PROCESS_CLUSTER) as client:
            for name in ("a", "b"):
                tune_on_workers(client, score, SPACE, study_name=f"{tag}-{name}", n_trials=4,
                                seed=0, storage=url, pruning=False, progress=False,
                                heartbeat_s=HEARTBEAT_S)
            after_workers = settled()
        tune(score, SPACE, study_name=f"{tag}-c", n_trials=2, seed=0, storage=url,
             progress=False)
        after_tune = settled()
    finally:
        gc.enable()
        admin.dispose()
    assert before == 0 and min(seen) > 0
    assert after_workers == after_tune == before
