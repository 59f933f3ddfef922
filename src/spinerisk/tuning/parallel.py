"""Optuna trials in parallel on Dask workers, all against one RDB storage.

:func:`tune_on_workers` is :func:`~spinerisk.tuning.study.tune` with the trials run by the
worker processes of a ``distributed.Client``: every worker runs its share of the trials
still missing from the study, reading and writing the same storage, so each worker's
sampler sees the others' finished trials. The score (with the rows it scores, e.g. a
tuning sample) is sent to every worker once.

Storage must be one that every worker reaches: a sqlite file for a ``LocalCluster`` (the
default ``optuna.db`` beside the tracking store), PostgreSQL (``postgresql://...``, see
``scripts/start-postgres.sh``) for workers on other machines. ``":memory:"`` cannot be
shared and is refused.

A killed run loses no trial: trials that finished are in the storage; a trial cut off by
the kill (its worker or the whole run gone) stops sending its heartbeat and is marked FAIL
once the grace period (3 heartbeats) has passed; the resumed run hands each such trial's
parameters to one worker, which runs them again first (user attribute ``retry_of``), then
the workers draw the trials still owed. Retries are dealt out here rather than queued in
the storage for the workers to take: on sqlite two workers could take the same queued
trial at once. Resume with the same study name and ``n_trials``, after the grace period.

Each worker samples with its own TPE seed, from ``seed``, its index and the number of
trials the study already holds: two workers with one seed and the same history would draw
the same parameters at the same moment, and a resumed run with the first run's seeds
would draw the first run's (random start-up) parameters again. Which trial runs where and
in what order depends on timing, so a parallel study is reproducible as a design (space,
data, seeds), not trial for trial.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import optuna
from tqdm.auto import tqdm

from spinerisk.tuning.study import (
    FINISHED,
    HEARTBEAT_S,
    MEMORY,
    Score,
    TrialHook,
    TuneResult,
    finished_count,
    make_objective,
    make_pruner,
    open_storage,
    run_retries,
    storage_url,
    to_retry,
    tune_result,
    used_params,
)

#: seconds between looks at the storage for the progress bar
POLL_S = 1.0


def tune_on_workers(client, score: Score, space: Mapping[str, Any], *, study_name: str,
                    n_trials: int, seed: int, storage: str | None = None,
                    pruning: bool = True, timeout_s: float | None = None,
                    on_trial: TrialHook | None = None, progress: bool = True,
                    heartbeat_s: float = HEARTBEAT_S) -> TuneResult:
    """Run (or resume) a study on the client's workers until it holds ``n_trials``
    finished trials (parameters as :func:`~spinerisk.tuning.study.tune`).

    Parameters
    ----------
    client : distributed.Client
        The cluster whose workers run the trials.
    heartbeat_s : float
        Seconds between a running trial's heartbeats; a trial silent for three of them
        counts as cut off (its parameters are tried again).
    on_trial : callable, optional
        Called here, after the workers finish, for every trial finished now, in order.

    Raises
    ------
    ValueError
        ``storage`` is ``":memory:"`` (the workers cannot share it).
    """
    check_shared(storage)
    url = storage_url(storage)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with open_storage(url, heartbeat_s) as rdb:
        study = optuna.create_study(study_name=study_name, storage=rdb, direction="minimize",
                                    load_if_exists=True)
        before = {t.number for t in study.trials if t.state in FINISHED}
        remaining = _dispatch(client, url, study, score, space, n_trials, seed, pruning,
                              timeout_s, heartbeat_s, progress)
        study = optuna.load_study(study_name=study_name, storage=rdb)  # no stale cache
        if on_trial is not None:
            for trial in study.trials:
                if trial.state in FINISHED and trial.number not in before:
                    on_trial(study_name, trial.number, used_params(trial), trial.value,
                             trial.state.name)
        return tune_result(study, remaining)


def check_shared(storage: str | None) -> None:
    """Refuse a study storage the workers cannot share.

    Raises
    ------
    ValueError
        ``storage`` is ``":memory:"``.
    """
    if storage == MEMORY:
        raise ValueError("search.storage ':memory:' cannot be shared by Dask workers; leave "
                         "it out (sqlite beside the tracking store) or give a database URL "
                         "every worker reaches (postgresql://...)")


def _dispatch(client, url: str, study: optuna.Study, score: Score, space: Mapping[str, Any],
              n_trials: int, seed: int, pruning: bool, timeout_s: float | None,
              heartbeat_s: float, progress: bool) -> int:
    """Deal the retries and the trials still owed to the workers and wait for them;
    returns how many trials ran."""
    retries = to_retry(study)
    finished_before = finished_count(study)
    remaining = max(0, n_trials - finished_before)
    if not remaining:
        return 0
    workers = sorted(client.scheduler_info()["workers"])
    retries = retries[:remaining]
    fresh = remaining - len(retries)
    scattered = client.scatter(score, broadcast=True, hash=False)
    futures = []
    for i, worker in enumerate(workers):
        mine = retries[i::len(workers)]
        share = fresh // len(workers) + (i < fresh % len(workers))
        if mine or share:
            worker_seed = int(np.random.SeedSequence([seed, i, len(study.trials)])
                              .generate_state(1)[0])
            futures.append(client.submit(
                _run_trials, url, study.study_name, mine, share, worker_seed, pruning, space,
                scattered, timeout_s, heartbeat_s, workers=[worker],
                allow_other_workers=False, pure=False))
    _wait(client, futures, study, finished_before, remaining, progress)
    return remaining


def _wait(client, futures, study: optuna.Study, finished_before: int, remaining: int,
          progress: bool) -> None:
    """Gather the workers' runs (raising the first failure), showing finished trials."""
    with tqdm(total=remaining, desc=f"trials {study.study_name} (workers)",
              disable=not progress, leave=False) as bar:
        while progress and not all(future.done() for future in futures):
            time.sleep(POLL_S)
            bar.update(min(remaining, finished_count(study) - finished_before) - bar.n)
        client.gather(futures)


def _run_trials(url: str, study_name: str, retries: list[tuple[int, dict[str, Any]]],
                n_trials: int, seed: int, pruning: bool, space: Mapping[str, Any], score: Score,
                timeout_s: float | None, heartbeat_s: float) -> int:
    """On a worker: the given retries, then ``n_trials`` new trials of the stored study;
    returns how many ran."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with open_storage(url, heartbeat_s) as rdb:  # a worker runs study after study
        study = optuna.load_study(study_name=study_name, storage=rdb,
                                  sampler=optuna.samplers.TPESampler(seed=seed),
                                  pruner=make_pruner(pruning))
        objective = make_objective(score, space)
        run_retries(study, objective, retries)
        if n_trials:
            study.optimize(objective, n_trials=n_trials, timeout=timeout_s,
                           gc_after_trial=False)
    return len(retries) + n_trials
