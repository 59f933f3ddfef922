"""Optuna studies that resume: sqlite beside the tracking store by default (``optuna.db``
in the folder :mod:`spinerisk.tracking.location` resolves), any SQLAlchemy URL given.

The caller supplies ``score(params, report)`` (lower is better: a proper score such as
log loss) and calls ``report(step, value)`` as the trial progresses (after each fold, or
every few boosting rounds with early stopping); the study prunes hopeless trials from
those intermediate values (median rule). A score may also return
``(value, chosen)``: parameters the score itself settled (the boosting rounds early
stopping found on the inner folds), kept as the trial's user attribute ``chosen_params``;
they replace the drawn values in the trial log and in the best parameters, so the final
fits use what was scored. ``n_trials`` is the number of
*finished* (complete or pruned) trials the study should hold: a study killed after k
trials and started again keeps the k it had and runs the rest. A trial cut off by the kill
keeps its number and is marked FAIL once its heartbeat is stale (3 heartbeats after the
kill); a resumed study first runs each FAIL trial's parameters again as a new trial (user
attribute ``retry_of``: the failed trial's number; at most ``MAX_RETRY`` attempts), so a
kill loses no parameter set. Several processes may share one storage safely
(:mod:`spinerisk.tuning.parallel` runs trials on Dask workers).
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import optuna
from optuna.storages._rdb.models import TrialHeartbeatModel
from tqdm.auto import tqdm

MEMORY = ":memory:"
HEARTBEAT_S = 30
#: waits before opening a storage again when another process was creating its schema
_SCHEMA_RETRY_DELAYS_S = (0.1, 0.2, 0.4, 0.8)
#: how often the parameters of a failed trial (e.g. cut off by a dead process) are tried again
MAX_RETRY = 3
#: user attribute of a retry: the number of the failed trial whose parameters it runs
RETRY_OF = "retry_of"
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
Report = Callable[[int, float], None]
Score = Callable[[dict[str, Any], Report], "float | tuple[float, dict[str, Any]]"]
CHOSEN = "chosen_params"
TrialHook = Callable[[str, int, dict[str, Any], "float | None", str], None]


@dataclass(frozen=True)
class TuneResult:
    """What a study found: best parameters and score, and how many trials it holds."""

    study_name: str
    best_params: dict[str, Any]
    best_value: float
    n_complete: int
    n_pruned: int
    n_run_now: int
    trials: tuple[dict[str, Any], ...] = ()


def storage_url(storage: str | None) -> str | None:
    """The study storage; a sqlite file's folder is created; ``":memory:"`` keeps the
    study in memory (nothing to resume: dry runs and tests)."""
    if storage == MEMORY:
        return None
    if storage is None:
        from spinerisk.tracking.location import default_study_storage

        storage = default_study_storage()  # beside the tracking store, never in the cwd
    url = storage
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return url


class _BeatingStorage(optuna.storages.RDBStorage):
    """RDB storage whose trials carry a heartbeat from the moment they exist.

    optuna records a trial's first heartbeat only after ``ask`` has created the trial and
    sampled; a process killed in between left a RUNNING trial with no heartbeat, which
    ``fail_stale_trials`` never marks FAIL (it stayed RUNNING for good; seen in CI). Here
    the heartbeat row is written in the transaction that creates the trial.
    """

    def _get_prepared_new_trial(self, study_id, template_trial, session):
        trial = super()._get_prepared_new_trial(study_id, template_trial, session)
        if trial.state == optuna.trial.TrialState.RUNNING:
            session.add(TrialHeartbeatModel(trial_id=trial.trial_id))
        return trial


def _storage(storage: str | None, heartbeat_s: float = HEARTBEAT_S):
    """RDB storage with a heartbeat: a trial whose process died (killed study, lost
    worker) is marked FAIL by the next process after the grace period, never a live one."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    url = storage_url(storage)
    if url is None:
        return None
    for delay in _SCHEMA_RETRY_DELAYS_S:
        try:
            return _beating_storage(url, heartbeat_s)
        except (IntegrityError, ProgrammingError):
            # processes opening a fresh database at once each create the missing schema;
            # PostgreSQL lets one CREATE TABLE (or version row) of a name win and fails
            # the others although the tables then exist: opening again finds them
            time.sleep(delay)
    return _beating_storage(url, heartbeat_s)


def _beating_storage(url: str, heartbeat_s: float) -> _BeatingStorage:
    with warnings.catch_warnings():
        # optuna flags the heartbeat as experimental on every study: one design choice,
        # documented here, not a message for each run
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        return _BeatingStorage(url, heartbeat_interval=heartbeat_s,
                               grace_period=3 * heartbeat_s)


@contextmanager
def open_storage(storage: str | None,
                 heartbeat_s: float = HEARTBEAT_S) -> Iterator[optuna.storages.RDBStorage | None]:
    """:func:`_storage` for the length of a ``with`` block, its database connections
    closed on leaving (``None`` for ``":memory:"``).

    Each RDB storage owns a SQLAlchemy engine whose pool keeps its connections open; the
    engine sits in reference cycles, so without this the connections stay open until the
    garbage collector happens to run. A Dask worker running study after study (threads of
    one process for a ``LocalCluster(processes=False)``) would pile them up until
    PostgreSQL refuses new clients ("too many clients already").
    """
    rdb = _storage(storage, heartbeat_s)
    try:
        yield rdb
    finally:
        if rdb is not None:
            rdb.remove_session()
            rdb.engine.dispose()


def to_retry(study: optuna.Study) -> list[tuple[int, dict[str, Any]]]:
    """``(number, params)`` of the FAIL trials to run again: marks the trials a dead
    process left RUNNING as FAIL (once stale), then lists every FAIL trial that no retry
    has finished and that has had fewer than ``MAX_RETRY`` retries."""
    with warnings.catch_warnings():  # experimental, as the heartbeat is
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    attempts: Counter[int] = Counter()
    done = set()
    for trial in study.trials:
        origin = trial.user_attrs.get(RETRY_OF)
        if origin is not None:
            attempts[origin] += 1
            if trial.state in FINISHED:
                done.add(origin)
    return [(t.number, t.params) for t in study.trials
            if t.state == optuna.trial.TrialState.FAIL and RETRY_OF not in t.user_attrs
            and t.number not in done and attempts[t.number] < MAX_RETRY]


def run_retries(study: optuna.Study, objective: Callable[[optuna.Trial], float],
                retries: list[tuple[int, dict[str, Any]]], callbacks=()) -> None:
    """One trial for each ``(number, params)``: those parameters (any of the space's the
    failed trial had not drawn yet are drawn afresh), tagged ``retry_of``."""
    base = study.sampler
    try:
        for number, params in retries:
            with warnings.catch_warnings():  # PartialFixedSampler is experimental
                warnings.filterwarnings("ignore",
                                        category=optuna.exceptions.ExperimentalWarning)
                study.sampler = optuna.samplers.PartialFixedSampler(params, base)
            study.optimize(partial(_tagged, objective, number), n_trials=1,
                           callbacks=list(callbacks), gc_after_trial=False)
    finally:
        study.sampler = base


def _tagged(objective: Callable[[optuna.Trial], float], number: int,
            trial: optuna.Trial) -> float:
    trial.set_user_attr(RETRY_OF, number)
    return objective(trial)


def suggest(trial: optuna.Trial, space: Mapping[str, Any]) -> dict[str, Any]:
    """Draw one parameter set from a search space (``low/high/log/type`` or ``choices``)."""
    params = {}
    for name, spec in space.items():
        spec = spec if isinstance(spec, Mapping) else spec.model_dump()
        if spec.get("choices") is not None:
            params[name] = trial.suggest_categorical(name, list(spec["choices"]))
        elif spec.get("type") == "int":
            params[name] = trial.suggest_int(name, int(spec["low"]), int(spec["high"]),
                                             log=bool(spec.get("log")))
        else:
            params[name] = trial.suggest_float(name, float(spec["low"]), float(spec["high"]),
                                               log=bool(spec.get("log")))
    return params


def tune(score: Score, space: Mapping[str, Any], *, study_name: str, n_trials: int,
         seed: int, storage: str | None = None, pruning: bool = True,
         timeout_s: float | None = None, on_trial: TrialHook | None = None,
         progress: bool = True) -> TuneResult:
    """Run (or resume) a study until it holds ``n_trials`` finished trials.

    Parameters
    ----------
    score : callable
        ``score(params, report) -> float`` (lower is better) or ``(float, chosen)``.
    space : mapping
        Parameter name -> range or choices.
    study_name : str
        Name in the storage; the same name resumes.
    n_trials : int
        Finished (complete or pruned) trials wanted in the study.
    seed : int
        Seed of the TPE sampler (with ``n_trials`` and the data, fixes the trials).
    storage : str, optional
        SQLAlchemy URL; default ``optuna.db`` beside the tracking store.
    pruning : bool
        Median pruning on the intermediate scores ``score`` reports.
    on_trial : callable, optional
        ``on_trial(study_name, number, params, value, state)`` after every trial.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with open_storage(storage) as rdb:
        study = optuna.create_study(
            study_name=study_name, storage=rdb, direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=seed), pruner=make_pruner(pruning),
            load_if_exists=True)
        return _tune(study, score, space, n_trials, timeout_s, on_trial, progress)


def _tune(study: optuna.Study, score: Score, space: Mapping[str, Any], n_trials: int,
          timeout_s: float | None, on_trial: TrialHook | None, progress: bool) -> TuneResult:
    """:func:`tune` on an open study."""
    study_name = study.study_name
    retries = to_retry(study)
    remaining = max(0, n_trials - finished_count(study))
    objective = make_objective(score, space)
    bar = tqdm(total=remaining, desc=f"trials {study_name}", disable=not progress or not remaining,
               leave=False)

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        bar.update(1)
        if on_trial is not None:
            on_trial(study_name, trial.number, used_params(trial), trial.value,
                     trial.state.name)

    with bar:
        run_retries(study, objective, retries[:remaining], [callback])
        if remaining > len(retries):
            study.optimize(objective, n_trials=remaining - len(retries), timeout=timeout_s,
                           callbacks=[callback], gc_after_trial=False)
    return tune_result(study, remaining)


def make_pruner(pruning: bool) -> optuna.pruners.BasePruner:
    """Median pruning on the per-fold intermediate scores, or none."""
    return (optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
            if pruning else optuna.pruners.NopPruner())


def make_objective(score: Score, space: Mapping[str, Any]) -> Callable[[optuna.Trial], float]:
    """The Optuna objective of a score: draw, report per fold (pruning), keep chosen params."""

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, space)

        def report(step: int, value: float) -> None:
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()

        result = score(params, report)
        if isinstance(result, tuple):
            value, chosen = result
            trial.set_user_attr(CHOSEN, dict(chosen))
            return value
        return result

    return objective


def tune_result(study: optuna.Study, n_run_now: int) -> TuneResult:
    """What a study holds now (raises when no trial completed)."""
    states = [t.state for t in study.trials]
    complete = states.count(optuna.trial.TrialState.COMPLETE)
    if complete == 0:
        raise RuntimeError(f"study {study.study_name!r}: no trial completed (all pruned or "
                           "failed); widen the search space or turn pruning off")
    return TuneResult(study.study_name, used_params(study.best_trial), float(study.best_value),
                      complete, states.count(optuna.trial.TrialState.PRUNED), n_run_now,
                      tuple(_row(t) for t in study.trials))


def used_params(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The parameters a trial was scored with: drawn, overridden by any it chose."""
    return {**trial.params, **trial.user_attrs.get(CHOSEN, {})}


def _row(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return {"number": trial.number, "state": trial.state.name, "params": used_params(trial),
            "value": trial.value}


def finished_count(study: optuna.Study) -> int:
    """Trials that count towards ``n_trials``: complete or pruned."""
    return sum(t.state in FINISHED for t in study.trials)


def trials_table(study_name: str, storage: str | None = None) -> list[dict[str, Any]]:
    """Trials of a stored study: number, state, params, value (for reports)."""
    with open_storage(storage) as rdb:
        study = optuna.load_study(study_name=study_name, storage=rdb)
        return [_row(t) for t in study.trials]
