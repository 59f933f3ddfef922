"""Training on a Dask cluster (``spinerisk train --cluster``): the same experiment, the
same :class:`~spinerisk.models.RiskModel`, on data that do not fit one process.

The data are a folder of parquet partitions (``data: {path: DIR/}`` or ``--data DIR/``,
e.g. written by ``spinerisk simulate --out DIR/``). Each partition is read, checked
against the data contract (a spine task; with the config's column mapping) and reduced
to the task's rows on a worker; the rows, in the order of the sorted partition files,
are the experiment's rows, as if the partitions were one table.

How each phase runs at this scale:

==========================  ==========================================================
phase                       on the cluster
==========================  ==========================================================
data, exclusions, summary   per partition on the workers (contract, population, rows
                            with a missing outcome excluded and counted); the outcome,
                            a 64-bit hash of each patient id and the site of every row
                            come back to this process (a few bytes a row)
fingerprint                 SHA-256 over the partitions' content hashes, in file order
folds (outer, calibration,  assigned here by :func:`~spinerisk.training.cv.group_fold_
internal-external)          assignment` on those outcomes and patients: the folds an
                            in-memory run of the same rows gets; used on the workers as
                            row masks of each partition
encoding                    preprocessing fitted on the *sample* (below), applied to
                            every partition on its worker; for the xgboost encoding
                            (values as they are, missing as NaN, categories one-hot
                            over the contract's levels) nothing is learned from rows,
                            so it equals the encoding fitted on all rows
boosters                    ``xgboost.dask`` on the rows of a fold (hist; each worker
                            sketches its own rows' quantiles and the sketches are
                            merged, so split candidates can differ slightly from one
                            process's)
calibration                 as ``RiskModel.fit``: one booster per calibration fold on
                            the cluster, their held-out margins collected here (8 bytes
                            a row), the calibrator fitted on them; then the booster on
                            all the fit's rows
nested CV, IECV,            the runner's loops, with every fit and every held-out
learning curve              prediction on the cluster; metrics and their bootstrap CIs
                            here from the collected risks and outcomes
tuning (Optuna)             trials in parallel on the workers
                            (:mod:`spinerisk.tuning.parallel`), each on the part of a
                            *sample* of about ``cluster.sample_rows`` rows (patients
                            drawn by a seeded hash of their id, each with all its rows:
                            :func:`patients_in_sample`) that lies
                            in the fit's rows (the inner folds within it), and of
                            that part, when ``search.sample_rows`` is smaller, the
                            runner's sample by patient stratified by outcome
                            (:func:`~spinerisk.training.cv.grouped_sample`, as in one
                            process); the chosen hyperparameters (early-stopped
                            rounds included) are then used on all the fit's rows:
                            rounds chosen on fewer rows are a conservative choice for
                            more (one process re-chooses them on all the fit's rows,
                            ``Fitter.rounds_on_all_rows``; a cluster does not)
training profile            per-variable shares and quantiles from the sample (the row
                            and event counts are the full ones); the linear-predictor
                            profile from every row's margin
SHAP importance plot        on rows of the sample
bootstrap ensemble          **not run**: each member refits the whole pipeline on a
(intervals)                 resample of all rows; the CLI says so and the run logs it
                            (``data.phases_not_run``); the model carries no interval
==========================  ==========================================================

Learners: ``xgboost`` only. ``xgboost_cox`` is refused: xgboost's ``survival:cox``
gradient takes each worker's rows as the risk sets, a partial likelihood stratified by
worker rather than the cohort's; the spline learners are not boosted and run in one
process.

Each partition is read twice: a scan (counts, outcomes, sample), then the encoding, once
the preprocessing is fitted. Memory: a worker holds its partitions' encoded rows (float32,
4 bytes per encoded feature and row), and while a booster trains, a copy of the fit's rows
and their quantised matrix; this process holds the sample and a few bytes per row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spinerisk.errors import ConfigError, ContractError, SpineriskError
from spinerisk.features import TaskSpec, build_preprocessor
from spinerisk.features.profile import linear_predictor_profile, risk_to_lp, training_profile
from spinerisk.models import RiskModel, learners
from spinerisk.models.calibration import make_calibrator
from spinerisk.training.config import ExperimentConfig
from spinerisk.training.cv import group_fold_assignment
from spinerisk.training.data import TaskData, fingerprint, task_data
from spinerisk.training.runner import Fitter, with_pathway_features

#: the outcomes' stand-in for the predictors: each row's position among all rows
ROW = "row"
CLUSTER_LEARNERS = ("xgboost",)
BOOTSTRAP_NOT_RUN = (
    "each member refits the whole pipeline on a resample of every row; not run on a "
    "cluster, so the model carries no per-patient interval")


# ---------------------------------------------------------------------- the rows

@dataclass(frozen=True)
class Layout:
    """Where the rows lie: partition ``k`` holds rows ``offsets[k]`` to ``offsets[k+1]``."""

    offsets: np.ndarray

    def split(self, rows: np.ndarray) -> list[np.ndarray]:
        """Positions within each partition of the (increasing) global ``rows``."""
        cuts = np.searchsorted(rows, self.offsets)
        return [rows[a:b] - start for a, b, start in zip(cuts[:-1], cuts[1:], self.offsets)]


@dataclass(frozen=True)
class Source:
    """How partitions are read: their folder, the column mapping, and whether the task
    is a spine task (checked against the contract) or a generic table's."""

    root: Path
    mapping: str | None
    spine: bool


def _task_rows(path: Path, source: Source, task: TaskSpec) -> TaskData | None:
    """One partition's task rows (None when it holds none of the task's population)."""
    from spinerisk.cohort import load
    from spinerisk.cohort.load import read_table

    try:
        frame = load(path, mapping=source.mapping) if source.spine else read_table(path)
    except SpineriskError as err:
        raise ContractError(f"partition {path.relative_to(source.root)}: {err}") from None
    if task.procedures and "procedure" in frame.columns and not frame["procedure"].astype(
            object).isin(task.procedures).any():
        return None
    return task_data(frame, task)


def scan_partition(path: Path, source: Source, task: TaskSpec, share: float,
                   seed: int) -> dict[str, Any]:
    """On a worker: a partition's counts, outcomes, patient hashes, sites, content hash
    and its share of the sample (with care-pathway features)."""
    data = _task_rows(path, source, task)
    if data is None:
        return {"n": 0, "population": 0, "missing": 0, "hash": "", "event": np.empty(0, int),
                "groups": np.empty(0, np.uint64), "sites": None, "sample": None,
                "sample_rows": np.empty(0, int)}
    take = np.flatnonzero(patients_in_sample(data.groups, share, seed))
    return {"n": data.n, "population": data.n_population, "missing": data.n_missing_outcome,
            "hash": fingerprint(data.X), "event": data.event,
            # patients only need telling apart: 8 bytes a row, not the id strings
            "groups": pd.util.hash_array(data.groups.astype(object)),
            "sites": data.sites, "sample": with_pathway_features(
                data.X.iloc[take].reset_index(drop=True), task), "sample_rows": take}


def patients_in_sample(groups: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Whether each row's patient is in the cluster's sample: a patient is drawn when a
    seeded 64-bit hash of its id falls in the lowest ``share`` of the hash range, so each
    patient is drawn with probability ``share``, with all its rows, whichever partitions
    hold them, from the scan alone."""
    if share >= 1:
        return np.ones(len(groups), bool)
    key = hashlib.sha256(f"spinerisk-cluster-sample-{seed}".encode()).hexdigest()[:16]
    hashed = pd.util.hash_array(np.asarray(groups).astype(object), hash_key=key)
    return hashed < np.uint64(share * 2.0**64)


def encode_partition(path: Path, source: Source, task: TaskSpec,
                     preprocessor) -> tuple[np.ndarray, np.ndarray]:
    """On a worker: a partition's encoded task rows (float32, as xgboost stores them) and
    their 0/1 outcome (a partition the scan found task rows in)."""
    data = _task_rows(path, source, task)
    Z = preprocessor.transform(with_pathway_features(data.X, task))
    return Z.astype(np.float32), data.event.astype(np.float32)


def _take(block: np.ndarray, positions: np.ndarray) -> np.ndarray:
    return block[positions]


def _margin(block: np.ndarray, positions: np.ndarray, estimator, learner: str) -> np.ndarray:
    return learners.margin(estimator, learner, block[positions])


# ---------------------------------------------------------------------- the cluster's data

class ClusterData:
    """The experiment's rows on a cluster: encoded partitions on the workers, outcomes,
    patients, sites and the sample here (see module docstring)."""

    def __init__(self, client, config: ExperimentConfig, task: TaskSpec, files: list[Path]):
        self.client, self.config, self.task = client, config, task
        root = Path(config.data.path).resolve()
        source = Source(root, config.data.mapping, isinstance(config.task, str))
        share = min(1.0, config.cluster.sample_rows / max(1, _raw_rows(files)))
        scanned = client.gather(client.map(scan_partition, files, source=source, task=task,
                                           share=share, seed=config.seed, pure=False))
        # partitions without task rows play no further part (and take no row positions)
        kept = [(f, s) for f, s in zip(files, scanned) if s["n"]]
        if not kept:
            raise ContractError(f"data.path {root}: no rows of task {task.name!r} with a known "
                                f"outcome in {len(files)} partitions (population: procedures "
                                f"{', '.join(task.procedures) or 'all'})")
        scans = [s for _, s in kept]
        self.layout, self.outcomes = _outcomes(scanned)
        self.sample_rows = np.concatenate([s["sample_rows"] + start for s, start
                                           in zip(scans, self.layout.offsets)])
        self.sample = _sample(scans, self.outcomes, self.sample_rows)
        self.preprocessor = build_preprocessor(task, config.model.learner,
                                               config.model.n_knots).fit(self.sample.X)
        encoded = client.map(encode_partition, [f for f, _ in kept], source=source,
                             task=task, preprocessor=self.preprocessor, pure=False)
        self.blocks = client.map(itemgetter(0), encoded)
        self.labels = client.map(itemgetter(1), encoded)
        _raise_first_error(self.blocks)
        self.summary = {
            "fingerprint_sha256": hashlib.sha256("".join(s["hash"] for s in scanned).encode()
                                                 ).hexdigest(),
            "rows": self.outcomes.n, "events": self.outcomes.events,
            "population_rows": self.outcomes.n_population,
            "excluded_missing_outcome": self.outcomes.n_missing_outcome,
            "sites": 1 if self.outcomes.sites is None else len(np.unique(self.outcomes.sites)),
            "data_source": "partitioned", "data_path": str(root),
            "data_mapping": config.data.mapping or "", "data_partitions": len(files),
            "encoded_parameters": len(self.preprocessor.feature_names_),
            "cluster_workers": len(client.scheduler_info()["workers"]),
            "cluster_sample_rows": self.sample.n}

    # ------------------------------------------------------------------ rows
    def sample_within(self, rows: np.ndarray) -> TaskData:
        """The sample's rows that lie in ``rows`` (global positions)."""
        return self.sample.subset(np.flatnonzero(np.isin(self.sample_rows, rows)))

    def _pieces(self, rows: np.ndarray):
        """(partition index, positions in it) of every partition ``rows`` touch."""
        return [(k, local) for k, local in enumerate(self.layout.split(rows)) if len(local)]

    # ------------------------------------------------------------------ fitting
    def booster(self, params: dict[str, Any], rows: np.ndarray):
        """The learner (the in-memory estimator class) with a booster trained on ``rows``
        by ``xgboost.dask``."""
        import dask
        import dask.array as da
        import xgboost
        import xgboost.dask as dxgb

        estimator = learners.make_learner(self.config.model.learner, params, self.config.seed)
        booster_params = estimator.get_xgb_params()
        width = len(self.preprocessor.feature_names_)
        parts, labels = [], []
        for k, local in self._pieces(rows):
            block = self.client.submit(_take, self.blocks[k], local, pure=False)
            label = self.client.submit(_take, self.labels[k], local, pure=False)
            parts.append(da.from_delayed(dask.delayed(block), (len(local), width), np.float32))
            labels.append(da.from_delayed(dask.delayed(label), (len(local),), np.float32))
        train = dxgb.DaskQuantileDMatrix(self.client, da.concatenate(parts),
                                         da.concatenate(labels), missing=np.nan,
                                         max_bin=booster_params.get("max_bin"))
        # warnings only: the workers would print a line per training for their rank
        with xgboost.config_context(verbosity=1):
            booster = dxgb.train(self.client, booster_params, train,
                                 num_boost_round=estimator.get_num_boosting_rounds())["booster"]
        estimator.load_model(bytearray(booster.save_raw("ubj")))
        return estimator

    def margins(self, estimator, rows: np.ndarray) -> np.ndarray:
        """The learner's margin of every row in ``rows``, computed where the rows are."""
        # a fresh key: the same estimator scattered again while its previous (content-
        # hashed) key is being released would cancel these tasks ("lost dependencies")
        shared = self.client.scatter(estimator, broadcast=True, hash=False)
        pieces = self._pieces(rows)
        futures = [self.client.submit(_margin, self.blocks[k], local, shared,
                                      self.config.model.learner, pure=False)
                   for k, local in pieces]
        return np.concatenate(self.client.gather(futures)) if futures else np.empty(0)

    def fit(self, params: dict[str, Any], rows: np.ndarray) -> RiskModel:
        """A fitted :class:`RiskModel` on ``rows``, as ``RiskModel.fit`` builds it (see the
        module docstring for what is computed where)."""
        c, task = self.config, self.task
        outcome = self.outcomes.event[rows]
        calibrator = make_calibrator(c.calibration.method, task.horizon)
        if c.calibration.method != "none":
            fold = group_fold_assignment(outcome, self.outcomes.groups[rows],
                                         c.calibration.folds, c.seed)
            oof = np.empty(len(rows))
            for k in range(c.calibration.folds):
                held = fold == k
                oof[held] = self.margins(self.booster(params, rows[~held]), rows[held])
            calibrator.fit(oof, outcome, fold)
        estimator = self.booster(params, rows)
        margin = self.margins(estimator, rows)
        if c.calibration.method == "none":
            calibrator.fit(margin, outcome)
        model = RiskModel(task, c.model.learner, params=params,
                          calibration=c.calibration.method,
                          calibration_folds=c.calibration.folds, n_knots=c.model.n_knots,
                          random_state=c.seed)
        return _fitted(model, self.preprocessor, estimator, calibrator,
                       self._profile(rows, outcome, calibrator(margin)),
                       self.sample.X.shape[1])

    def _profile(self, rows: np.ndarray, outcome: np.ndarray, risk: np.ndarray) -> dict:
        """The training profile: variables from the sample within ``rows``, counts and the
        linear predictor from all of them."""
        within = self.sample_within(rows)
        profile = training_profile(within.X, self.task.variables, within.events)
        profile.update(n=len(rows), events=int(outcome.sum()), profile_sample_rows=within.n)
        profile["linear_predictor"] = linear_predictor_profile(
            risk_to_lp(risk, self.task.is_survival), self.task.is_survival)
        return profile


def _outcomes(scanned: list[dict[str, Any]]) -> tuple[Layout, TaskData]:
    """Where the rows of the partitions holding some lie, and every row's outcome, patient
    and site; ``X`` holds only each row's position (:data:`ROW`). The population and
    exclusion counts are those of all ``scanned`` partitions."""
    scans = [s for s in scanned if s["n"]]
    layout = Layout(np.concatenate([[0], np.cumsum([s["n"] for s in scans])]))
    event = np.concatenate([s["event"] for s in scans])
    sites = (None if any(s["sites"] is None for s in scans)
             else _shared_objects(np.concatenate([s["sites"] for s in scans])))
    outcomes = TaskData(pd.DataFrame({ROW: np.arange(len(event))}), event,
                        np.concatenate([s["groups"] for s in scans]), sites,
                        sum(s["population"] for s in scanned),
                        sum(s["missing"] for s in scanned))
    return layout, outcomes


def _sample(scans: list[dict[str, Any]], outcomes: TaskData, rows: np.ndarray) -> TaskData:
    """The collected sample (predictors with care-pathway features) at global ``rows``."""
    frame = pd.concat([s["sample"] for s in scans], ignore_index=True)
    return TaskData(frame, outcomes.event[rows], outcomes.groups[rows],
                    None if outcomes.sites is None else outcomes.sites[rows], len(frame), 0)


def _raise_first_error(futures) -> None:
    """Wait for ``futures`` (results stay on the workers); raise the first one's error."""
    from distributed import wait

    wait(futures)
    for future in futures:
        if future.status == "error":
            future.result()


def _fitted(model: RiskModel, preprocessor, estimator, calibrator, profile: dict,
            n_columns: int) -> RiskModel:
    """Set the attributes ``RiskModel.fit`` sets, from parts fitted on the cluster."""
    task = model.task
    model.task_, model.horizon_, model.predictors_ = task, task.horizon, task.predictors
    model.n_features_in_ = n_columns
    model.classes_ = np.array([0, 1])
    model.preprocessor_, model.estimator_, model.calibrator_ = preprocessor, estimator, calibrator
    model.feature_names_ = list(preprocessor.feature_names_)
    model.feature_to_variable_ = dict(preprocessor.feature_to_variable_)
    model.training_profile_ = profile
    return model


class ClusterFitter(Fitter):
    """The runner's fitter with every fit and held-out prediction on the cluster and the
    trials on its workers (the data it is given are :attr:`ClusterData.outcomes` rows)."""

    def __init__(self, config: ExperimentConfig, task: TaskSpec, study_prefix: str,
                 on_trial=None, progress: bool = True, *, cluster: ClusterData):
        from spinerisk.tuning.parallel import tune_on_workers

        super().__init__(config, task, study_prefix, on_trial, progress,
                         tuner=partial(tune_on_workers, cluster.client))
        self.cluster = cluster

    def study(self, data: TaskData, label: str):
        return super().study(self.cluster.sample_within(_rows(data)), label)

    def rounds_on_all_rows(self, data: TaskData, params: dict[str, Any],
                           label: str) -> dict[str, Any]:
        # the inner folds' boosters would grow in this process, not on the cluster: the
        # rounds chosen on the sample stay (a conservative choice for more rows)
        return params

    def fit(self, data: TaskData, params: dict[str, Any], bootstrap_members: int = 0,
            label: str | None = None) -> RiskModel:
        # bootstrap_members: not on a cluster (announced in data.phases_not_run); label:
        # no rounds fold to calibrate on (the rounds are not re-chosen here)
        return self.cluster.fit(params, _rows(data))

    def predict(self, model: RiskModel, data: TaskData) -> np.ndarray:
        return model.calibrator_(self.cluster.margins(model.estimator_, _rows(data)))

    def explained_rows(self, data: TaskData) -> pd.DataFrame:
        return self.cluster.sample_within(_rows(data)).X


def _rows(data: TaskData) -> np.ndarray:
    return data.X[ROW].to_numpy()


# ---------------------------------------------------------------------- entry

@contextmanager
def open_cluster(config: ExperimentConfig, cluster: str,
                 announce: Callable[[str], None] | None = None
                 ) -> Iterator[tuple[TaskSpec, TaskData, dict[str, Any], Callable[..., Fitter]]]:
    """The task, its rows' outcomes, the data summary and a fitter factory for the runner,
    with the cluster up while the run uses them.

    Raises
    ------
    ConfigError
        A learner the cluster does not train, data that are not a folder of partitions,
        or a remote cluster with no shared study storage.
    """
    from spinerisk.cluster import dask_client

    files = [f.resolve() for f in _check(config, cluster)]
    task = config.task_spec()
    with dask_client(cluster) as client:
        data = ClusterData(client, config, task, files)
        summary = dict(data.summary, cluster=cluster)
        summary["phases_not_run"] = (
            {"uncertainty.bootstrap_members": BOOTSTRAP_NOT_RUN}
            if config.uncertainty.bootstrap_members else {})
        if announce is not None:
            announce(f"cluster {cluster}: {summary['cluster_workers']} workers, "
                     f"{len(files)} partitions, {data.outcomes.n:,} rows of task "
                     f"{task.name}; tuning and training profile on a sample of "
                     f"{data.sample.n:,} rows")
        yield task, data.outcomes, summary, partial(ClusterFitter, cluster=data)


def _check(config: ExperimentConfig, cluster: str) -> list[Path]:
    """The partition files, after refusing what a cluster run cannot do."""
    from spinerisk.batch import partitions
    from spinerisk.cluster import check_cluster

    try:
        check_cluster(cluster)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    learner = config.model.learner
    if learner not in CLUSTER_LEARNERS:
        raise ConfigError(
            f"model.learner {learner!r} does not train on a cluster",
            allowed=", ".join(CLUSTER_LEARNERS) + " (xgboost_cox: xgboost's survival:cox "
                    "gradient would take each worker's rows as the risk sets, not the cohort's)",
            fix="train it without --cluster (one process), or use learner xgboost")
    if config.imputation.method != "default":
        raise ConfigError(
            f"imputation.method {config.imputation.method!r} does not run on a cluster",
            allowed="default (xgboost's native missing values)",
            fix="train it without --cluster (one process), or leave imputation out")
    path = config.data.path
    if path is None or not Path(path).is_dir():
        raise ConfigError(
            f"{config.name}: --cluster trains a folder of parquet partitions; data is "
            f"{'simulated' if path is None else repr(path)}",
            fix="write one with spinerisk simulate --n N --out DIR/ and give data: "
                "{path: DIR/} in the config or --data DIR/")
    search = config.search
    if search is not None and search.space:
        from spinerisk.tuning.parallel import check_shared

        try:
            check_shared(search.storage)
        except ValueError as err:
            raise ConfigError(str(err)) from None
    if (cluster.startswith("tcp://") and search is not None and search.space
            and (search.storage is None or search.storage.startswith("sqlite"))):
        raise ConfigError(
            f"search.storage {search.storage or '(default sqlite beside the tracking store)'}"
            f" is a file on this machine; workers of {cluster} may run elsewhere",
            fix="give search.storage: postgresql://... (scripts/start-postgres.sh)")
    try:
        return partitions(path)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _raw_rows(files: list[Path]) -> int:
    """Rows in all partitions, from the parquet footers (nothing read)."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def _shared_objects(values: np.ndarray) -> np.ndarray:
    """The same values as one object per distinct value (8 bytes a row, not a string)."""
    codes, uniques = pd.factorize(values)
    return np.asarray(uniques, dtype=object)[codes]
