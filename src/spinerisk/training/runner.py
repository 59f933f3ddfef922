"""The experiment runner: config -> data -> nested CV -> final model -> MLflow.

In the order of a methods section:

1. Data: simulate or load (schema-validated); fingerprint (SHA-256, rows, events); the
   task's population; rows with a missing outcome excluded and counted; Riley's sample
   size for the encoded parameters and the outcome rate, announced and logged; an
   under-sized model is not trained for registration unless ``allow_small_sample``.
2. Care-pathway features computed once for every row (when the task uses them).
3. Outer folds grouped by patient and stratified by outcome (seeded, logged). In each
   outer fold the hyperparameters are tuned on the training part only (inner folds,
   Optuna, proper score; with ``search.sample_rows``, on a patient-grouped,
   outcome-stratified sample of it, the boosting rounds then re-chosen on all of it),
   the model is fitted there (calibration on its own out-of-fold margins, or, where the
   rounds were re-chosen on all of it, on that inner fold's held-out margins) and scored
   on the held-out part: nested cross-validation.
4. Performance of the pooled held-out risks with CIs; internal-external CV by site
   when there are several (each site held out once; tuning and calibration refitted on
   the other sites only, so nothing is learned from the held-out site), its per-site
   metrics pooled by random-effects meta-analysis (``training.sites``).
5. Final model: tuned and fitted on all rows, logged as a pyfunc returning calibrated
   risk and registered as a new version of ``spinerisk-<task>``; the serving alias
   ``candidate`` is created on a first version and moved only with ``promote``.

With ``imputation.method: mice`` every fit above (outer folds, sites, final model) is an
:class:`~spinerisk.models.ImputedRiskModel`: chained equations fitted on that fit's
training rows with the outcome, one model per completed dataset; held-out rows are
imputed by the training part's models without their outcome, and the held-out
performance of each imputation is pooled by Rubin's rules
(:func:`spinerisk.training.performance.rubin_performance`).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from tqdm.auto import tqdm

from spinerisk.features import TaskSpec
from spinerisk.models import ImputedRiskModel, RiskModel
from spinerisk.models.imputed import pooled_risk
from spinerisk.training.config import ConfigError, ExperimentConfig
from spinerisk.training.coverage import simulated_coverage
from spinerisk.training.cv import Folds, grouped_folds, grouped_sample, site_folds
from spinerisk.training.data import TaskData, fingerprint, task_data
from spinerisk.training.performance import (
    Performance,
    performance,
    rubin_performance,
    save_plots,
)
from spinerisk.training.rounds import (
    XGB_LEARNERS,
    FoldMatrices,
    choose_rounds,
    early_stopped_loss,
)
from spinerisk.training.samplesize import (
    SampleSizeCheck,
    check_sample_size,
    encoded_parameters,
    learning_curve,
    save_learning_curve,
)
from spinerisk.training.scoring import cv_loss
from spinerisk.training.sites import pool_sites

MISSING_STRATEGY = {
    "logistic": "median imputation plus a missing-indicator column per predictor with "
                "missing training values (fitted on training rows only)",
    "cox": "median imputation plus a missing-indicator column per predictor with missing "
           "training values (fitted on training rows only)",
    "xgboost": "native: missing values stay NaN and follow each split's learned default",
    "xgboost_cox": "native: missing values stay NaN and follow each split's learned default",
}


def missing_strategy(config: ExperimentConfig) -> str:
    """The missing-data method of a run, in words (logged, and in the summary)."""
    imputation = config.imputation
    if imputation.method != "mice":
        return MISSING_STRATEGY[config.model.learner]
    return (f"multiple imputation by chained equations (m={imputation.m}, "
            f"{imputation.iterations} sweeps, up to {imputation.max_predictors} predictors "
            "per imputation model; bootstrap-drawn parameters), fitted on each fit's "
            "training rows with the outcome in the imputation models; held-out and new "
            "rows imputed by the training rows' models without the outcome; one model per "
            "imputation, performance pooled by Rubin's rules")


@dataclass
class ExperimentResult:
    """Everything a run produced (aggregates; the model object; no patient rows logged)."""

    config: ExperimentConfig
    task: TaskSpec
    data_summary: dict[str, Any]
    folds: dict[str, Any]
    performance: Performance
    best_params: dict[str, Any]
    model: RiskModel
    oof_risk: np.ndarray
    site_performance: dict[str, dict[str, float]] = field(default_factory=dict)
    site_pooled: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: hyperparameters tuned without each held-out site (internal-external CV)
    site_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    model_info: dict[str, str] = field(default_factory=dict)
    run_id: str = ""
    training_rows: pd.DataFrame | None = field(default=None, repr=False)
    seconds: float = 0.0
    #: per study: its rows and the rows its trials used (``search.sample_rows``)
    tuning_rows: dict[str, dict[str, int]] = field(default_factory=dict)

    def summary_row(self) -> dict[str, Any]:
        """One line for the summary table."""
        headline = "td_auc" if self.task.is_survival else "auc"
        m = self.performance.metrics
        row = {"experiment": self.config.name,
               "n (events)": f"{self.data_summary['rows']} ({self.data_summary['events']})",
               "excluded": self.data_summary["excluded_missing_outcome"]}
        labels = {headline: "AUC (td-AUC at horizon)",
                  "brier": "Brier", "cal_slope": "cal. slope", "oe_ratio": "O/E"}
        for name, label in labels.items():
            if name in m:
                row[label] = _fmt(m[name])
        oe = self.site_pooled.get("oe_ratio")
        if oe is not None:  # the sites' spread, which the pooled held-out O/E averages away
            pi = ("" if oe["pi_lower"] is None
                  else f"; PI {oe['pi_lower']:.2f}-{oe['pi_upper']:.2f}")
            row["O/E by site"] = f"{oe['site_min']:.2f}-{oe['site_max']:.2f}{pi}"
        row["missing data"] = ("MICE m=" + str(self.config.imputation.m)
                               if self.config.imputation.method == "mice"
                               else "median + indicators"
                               if self.config.model.learner in ("logistic", "cox")
                               else "native (xgboost)")
        row["model"] = self.model_info.get("version_uri", "") or "not registered"
        return row


def _fmt(est) -> str:
    if np.isfinite(est.lower):
        return f"{est.estimate:.3f} [{est.lower:.3f}, {est.upper:.3f}]"
    return f"{est.estimate:.3f}"


# ---------------------------------------------------------------------- data

def load_frame(config: ExperimentConfig) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The cohort table named by the config, validated against the contract."""
    if config.data.simulate is not None:
        from spinerisk.cohort import simulate

        sim = config.data.simulate
        tasks = (config.task,) if isinstance(config.task, str) else None
        cohort = simulate(sim.n, sites=sim.sites, seed=sim.seed, dgp=sim.dgp, tasks=tasks)
        return cohort.frame, {"source": "simulated", **sim.model_dump()}
    from spinerisk.cohort import load
    from spinerisk.cohort.load import read_table

    if Path(config.data.path).is_dir():
        raise ConfigError(f"{config.name}: data.path {config.data.path} is a folder, not a "
                          "table; a folder of parquet partitions trains on a Dask cluster",
                          fix="add --cluster local:2 (or local, tcp://HOST:PORT) to "
                              "spinerisk train, or give one table")
    if isinstance(config.task, str):
        frame = load(config.data.path, mapping=config.data.mapping)
    else:  # a generic table: no spine contract to validate against
        frame = read_table(config.data.path)
    return frame, {"source": "file", "path": config.data.path,
                   "mapping": config.data.mapping or ""}


def with_pathway_features(frame: pd.DataFrame, task: TaskSpec) -> pd.DataFrame:
    """Add the care-pathway features once (models then reuse them)."""
    if not task.pathway:
        return frame
    from spinerisk.phenotype import pathway_features

    return frame.join(pathway_features(frame))


# ---------------------------------------------------------------------- fitting

class Fitter:
    """Tuning and fitting with the config's settings, logging trials to the run (in this
    process; :class:`spinerisk.training.distributed.ClusterFitter` on a Dask cluster)."""

    def __init__(self, config: ExperimentConfig, task: TaskSpec, study_prefix: str,
                 on_trial=None, progress: bool = True, tuner=None):
        self.config = config
        self.task = task
        self.study_prefix = study_prefix
        self.on_trial = on_trial
        self.progress = progress
        #: ``tune``'s signature (spinerisk.tuning); None: trials in this process
        self.tuner = tuner
        #: per study: the fit's rows and the rows its trials used (``search.sample_rows``)
        self.tuning_rows: dict[str, dict[str, int]] = {}
        #: per study whose rounds were re-chosen on all rows: that fold's held-out rows
        #: and their margins, for the fit's calibrator (``calibration.margins: auto``)
        self.calibration_margins: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def tune(self, data: TaskData, label: str) -> dict[str, Any]:
        """Hyperparameters for ``data``: fixed ones, overridden by the search's best."""
        fixed = dict(self.config.model.params)
        search = self.config.search
        if search is None or not search.space:
            return fixed
        return self.rounds_on_all_rows(data, {**fixed, **self.study(data, label).best_params},
                                       label)

    def rounds_on_all_rows(self, data: TaskData, params: dict[str, Any],
                           label: str) -> dict[str, Any]:
        """``params`` with the boosting rounds re-chosen on all of ``data`` when its study
        tuned on a sample (``search.sample_rows``) and the rounds are early-stopped.

        Rounds early-stopped on a sample are too few for all the fit's rows (more rows
        support more rounds: measured, README). So the best trial's other
        hyperparameters are grown on the training part of the first of the study's
        inner folds of *all* the fit's rows, to at most the trials' ``n_estimators``
        ceiling, and early stopping on its held-out part chooses the rounds as in a trial
        (:func:`~spinerisk.training.rounds.choose_rounds`): a third of one trial's work
        on all rows, once per study. Both round counts are recorded in
        :attr:`tuning_rows`.

        With ``calibration.margins: auto`` that fold's booster, at the chosen rounds, also
        gives the margins of its held-out rows (a third of the fit's, rows it never saw)
        on which :meth:`fit` calibrates the model fitted on ``data`` with these
        hyperparameters (:attr:`calibration_margins`), instead of growing
        ``calibration.folds`` more boosters for out-of-fold margins: the same kind of
        margins (a booster with the model's hyperparameters on most of the rows, scoring
        rows it did not see), on one fold instead of all.
        """
        search, learner = self.config.search, self.config.model.learner
        sampled = self.tuning_rows.get(label, {})
        # the trials' ceiling: the space's, else the fixed one (params hold the rounds chosen)
        ceiling = (search.space["n_estimators"].high if "n_estimators" in search.space
                   else self.config.model.params.get("n_estimators"))
        if (sampled.get("tuning_rows", data.n) == data.n or learner not in XGB_LEARNERS
                or search.early_stopping_rounds is None or ceiling is None):
            return params
        inner = grouped_folds(data.event, data.groups, search.inner_folds, self.config.seed)
        # one inner fold held out, not all: a third of the work, and on all the fit's rows
        # the held-out curve of one fold is already smooth (measured, README)
        held_one = Folds(inner.splits[:1], inner.kind, inner.labels[:1])
        choice = choose_rounds(self.task, learner, {**params, "n_estimators": int(ceiling)},
                               data, held_one, self.config.seed,
                               search.early_stopping_rounds,
                               n_knots=self.config.model.n_knots)
        sampled.update(rounds_on_sample=params.get("n_estimators"),
                       rounds_on_all_rows=choice.n_estimators)
        if calibrates_on_rounds_fold(self.config):
            held = held_one.splits[0][1]
            self.calibration_margins[label] = (held, choice.held_margins[0])
            sampled.update(calibration_rows=len(held))
        return {**params, "n_estimators": choice.n_estimators}

    def study(self, data: TaskData, label: str):
        """Run or resume the study for ``data`` (inner folds of ``data`` only)."""
        from spinerisk.tuning import tune

        fixed = dict(self.config.model.params)
        search = self.config.search
        rows = data.n
        data = self.tuning_sample(data, label)
        # a study on a sample is another study than one on every row (and resumes as one)
        name = (f"{self.study_prefix}/{label}" if data.n == rows
                else f"{self.study_prefix}/{label}/sample{search.sample_rows}")

        inner = grouped_folds(data.event, data.groups, search.inner_folds, self.config.seed)
        learner, patience = self.config.model.learner, search.early_stopping_rounds
        loss = (cv_loss if patience is None or learner not in XGB_LEARNERS
                else partial(early_stopped_loss, patience=patience, matrices=FoldMatrices()))

        # the score captures values only, not the fitter: it may be sent to Dask workers
        task, seed, n_knots = self.task, self.config.seed, self.config.model.n_knots

        def score(params, report):
            return loss(task, learner, {**fixed, **params}, data, inner, seed,
                        n_knots=n_knots, report=report)

        run = self.tuner or tune
        return run(score, search.space, study_name=name,
                   n_trials=search.n_trials, seed=self.config.seed, storage=search.storage,
                   pruning=search.pruning, timeout_s=search.timeout_s,
                   on_trial=self.on_trial, progress=self.progress)

    def tuning_sample(self, data: TaskData, label: str) -> TaskData:
        """The rows a study's trials use: ``data``, or a sample of ``search.sample_rows``
        of them by patient, stratified by outcome, when it has more (recorded in
        :attr:`tuning_rows`)."""
        limit = self.config.search.sample_rows
        rows = (np.arange(data.n) if limit is None
                else grouped_sample(data.event, data.groups, limit, self.config.seed))
        sample = data if len(rows) == data.n else data.subset(rows)
        self.tuning_rows[label] = {"rows": data.n, "tuning_rows": sample.n}
        return sample

    def fit(self, data: TaskData, params: dict[str, Any], bootstrap_members: int = 0,
            label: str | None = None) -> RiskModel | ImputedRiskModel:
        """The config's model on ``data``; with multiple imputation, ``bootstrap_members``
        refits give the per-patient interval's within variance. ``label``: the study that
        tuned ``params`` on ``data``, whose rounds fold's margins then calibrate the model
        when it kept them (:meth:`rounds_on_all_rows`)."""
        c = self.config
        common = {"params": params, "calibration": c.calibration.method,
                  "calibration_folds": c.calibration.folds, "n_knots": c.model.n_knots,
                  "random_state": c.seed}
        if c.imputation.method == "mice":
            return ImputedRiskModel(self.task, c.model.learner, **common,
                                    n_imputations=c.imputation.m,
                                    n_iterations=c.imputation.iterations,
                                    max_predictors=c.imputation.max_predictors,
                                    bootstrap_members=bootstrap_members,
                                    n_jobs=c.uncertainty.n_jobs).fit(data.X, data.y)
        model = RiskModel(self.task, c.model.learner, **common)
        if label in self.calibration_margins:
            held, margin = self.calibration_margins.pop(label)
            return model.fit_calibrated_on(data.X, data.y, margin, data.subset(held).y)
        return model.fit(data.X, data.y)

    def predict(self, model: RiskModel, data: TaskData) -> np.ndarray:
        """Calibrated risk of ``data``'s rows."""
        return model.predict_risk(data.X)

    def explained_rows(self, data: TaskData) -> pd.DataFrame:
        """Rows for the run's SHAP importance plot: ``data``'s own."""
        return data.X


def nested_cv(fitter: Fitter, data: TaskData, folds: Folds,
              progress: bool = True) -> np.ndarray:
    """Held-out risks of every row: tuned and fitted without the held-out fold."""
    risk = np.full(data.n, np.nan)
    for k, (train, test) in enumerate(tqdm(folds.splits, desc="outer folds",
                                           disable=not progress)):
        part, label = data.subset(train), f"outer{k + 1}"
        model = fitter.fit(part, fitter.tune(part, label), label=label)
        risk[test] = fitter.predict(model, data.subset(test))
    return risk


def nested_cv_imputed(fitter: Fitter, data: TaskData, folds: Folds,
                      progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Held-out risks with multiple imputation: each fold's imputation models and ``m``
    risk models fitted on its training rows only; the held-out rows imputed by them
    without their outcome.

    Returns
    -------
    (pooled risk of every row, risk per imputation of shape (m, n)): imputation ``l`` is
    model ``l`` scoring imputation ``l`` of the held-out rows, the completed-data analysis
    that Rubin's rules pool.
    """
    pooled = np.full(data.n, np.nan)
    per_imputation = None
    for k, (train, test) in enumerate(tqdm(folds.splits, desc="outer folds",
                                           disable=not progress)):
        part = data.subset(train)
        model = fitter.fit(part, fitter.tune(part, f"outer{k + 1}"))
        lp = model.logit_matrix(data.subset(test).X)
        if per_imputation is None:
            per_imputation = np.full((lp.shape[0], data.n), np.nan)
        pooled[test] = pooled_risk(lp)
        per_imputation[:, test] = expit(np.diagonal(lp, axis1=0, axis2=1).T)
    return pooled, per_imputation


def internal_external(fitter: Fitter, data: TaskData, n_boot: int, progress: bool = True
                      ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, Any]]]:
    """Each site held out once, with nothing learned from it.

    For every held-out site the hyperparameters are tuned on the other sites' rows only
    (the study's inner folds lie within them) and the model, its calibration included, is
    fitted on those rows; the held-out site only scores the result.

    Returns
    -------
    (performance by site, hyperparameters used to predict each site)
    """
    folds = site_folds(data.sites)
    out, used = {}, {}
    for site, (train, test) in tqdm(list(zip(folds.labels, folds.splits)),
                                    desc="sites (internal-external)", disable=not progress):
        held = data.subset(test)
        if held.events < 5 or held.n - held.events < 5:
            out[site] = {"n": held.n, "events": held.events, "skipped": 1.0}
            continue
        part = data.subset(train)
        label = f"without-{site}"
        used[site] = fitter.tune(part, label)
        model = fitter.fit(part, used[site], label=label)
        perf = performance(fitter.task, held, fitter.predict(model, held), n_boot,
                           fitter.config.seed, curves=False)
        out[site] = {"n": held.n, "events": held.events, **perf.flat()}
    return out, used


# ---------------------------------------------------------------------- the run

def study_prefix(config: ExperimentConfig, data_hash: str) -> str:
    """Study name: the experiment plus a hash of what the trials depend on (data, task,
    learner, space, folds, seed) so that only an identical design resumes.

    ``search.sample_rows`` is not in the hash: a study that tunes on a sample is named
    by its label and the sample's size (:meth:`Fitter.study`), one that does not keeps
    the name it had before the option existed."""
    design = config.model_dump(exclude={"tracking": True,
                                        "search": {"n_trials", "timeout_s", "sample_rows"},
                                        "cv": {"bootstrap", "internal_external"},
                                        "uncertainty": {"member_calibration"},
                                        "calibration": {"margins"}})
    digest = hashlib.sha256((json.dumps(design, sort_keys=True, default=str) + data_hash)
                            .encode()).hexdigest()[:10]
    return f"{config.name}-{digest}"


def prepare(config: ExperimentConfig) -> tuple[TaskSpec, TaskData, dict[str, Any]]:
    """The task, its rows (with pathway features) and the data summary for the log."""
    task = config.task_spec()
    frame, source = load_frame(config)
    frame = with_pathway_features(frame, task)
    data = task_data(frame, task)
    derived = [c for c in data.X.columns if c.startswith(("phenotype_", "red_flag_any"))
               or c == "concordance"]
    data_hash = fingerprint(data.X.drop(columns=derived))
    summary = {"fingerprint_sha256": data_hash, "rows": data.n, "events": data.events,
               "population_rows": data.n_population,
               "excluded_missing_outcome": data.n_missing_outcome,
               "sites": len(np.unique(data.sites)) if data.sites is not None else 1,
               **{f"data_{k}": v for k, v in source.items()}}
    return task, data, summary


def tune_only(config: ExperimentConfig, progress: bool = True, cluster: str | None = None):
    """Run or resume the config's final study (``spinerisk tune``): on all its rows, or
    with ``cluster`` (as :func:`run_experiment`'s) on the workers over the cluster's
    tuning sample, the study ``train --cluster`` then uses. Returns the study's
    :class:`~spinerisk.tuning.TuneResult` and the data summary (``rows``; on a cluster
    ``cluster_sample_rows``: the rows the trials were scored on).

    Raises
    ------
    ConfigError
        No search space; with ``cluster``, what :func:`~spinerisk.training.distributed.
        open_cluster` refuses.
    """
    if config.search is None or not config.search.space:
        raise ConfigError(f"config {config.name!r} has no search section with a space: "
                          "nothing to tune",
                          fix="add search: {space: {...}} (see configs/response_xgboost.yaml)"
                              ", or train with the fixed model.params")
    with ExitStack() as stack:
        task, data, summary, make_fitter = _rows_and_fitter(config, cluster, None, stack)
        fitter = make_fitter(config, task, study_prefix(config, summary["fingerprint_sha256"]),
                             progress=progress)
        return fitter.study(data, "final"), summary


def _rows_and_fitter(config: ExperimentConfig, cluster: str | None,
                     announce: Callable[[str], None] | None, stack: ExitStack):
    """The task, its rows, the data summary and the fitter class: in this process, or on
    the cluster (kept up until ``stack`` closes)."""
    if cluster is None:
        return (*prepare(config), Fitter)
    from spinerisk.training.distributed import open_cluster

    return stack.enter_context(open_cluster(config, cluster, announce))


def sample_size_gate(config: ExperimentConfig, task: TaskSpec, data: TaskData,
                     registers: bool, parameters: int | None = None) -> SampleSizeCheck:
    """Riley's criteria for these rows; refuse an under-sized model that would be
    registered unless the config allows it with a reason. ``parameters``: the encoded
    candidate parameters when already known (else counted on ``data.X``).

    Raises
    ------
    ConfigError
        Under-sized, to be registered, and ``allow_small_sample`` not set.
    """
    if parameters is None:
        parameters = encoded_parameters(task, config.model.learner, config.model.n_knots,
                                        data.X)
    check = check_sample_size(task, data.X, data.y, parameters,
                              config.sample_size.anticipated_cs_r2)
    if not check.met and registers and not config.allow_small_sample:
        raise ConfigError(
            f"{config.name}: {check.message()} Refusing to train a model for registration. "
            f"Fix: use at least {check.required} rows, fewer predictors (fewer encoded "
            "parameters), set tracking.register_model: false for an exploratory run, or set "
            "allow_small_sample: true with small_sample_reason: '<why>' in the config.")
    return check


def run_experiment(config: ExperimentConfig, *, tracking_uri: str | None = None,
                   progress: bool = True, log: bool = True,
                   promote: bool = False,
                   announce: Callable[[str], None] | None = None,
                   cluster: str | None = None) -> ExperimentResult:
    """Run one experiment end to end (see module docstring).

    ``tracking_uri`` (else the config's ``tracking.uri``, else the resolved default store)
    receives the run; ``promote`` moves the ``candidate`` alias to the new version;
    ``announce`` receives messages a person should see before training starts (the
    sample-size check, phases not run); the CLI prints them. ``cluster`` (``local``,
    ``local:N``, ``tcp://HOST:PORT``) trains a partitioned dataset on Dask
    (:mod:`spinerisk.training.distributed`).
    """
    started = time.perf_counter()
    with ExitStack() as stack:
        task, data, summary, make_fitter = _rows_and_fitter(config, cluster, announce, stack)
        return _develop(config, task, data, summary, make_fitter, tracking_uri=tracking_uri,
                        progress=progress, log=log, promote=promote, announce=announce,
                        started=started)


def _develop(config, task, data, summary, make_fitter, *, tracking_uri, progress, log,
             promote, announce, started) -> ExperimentResult:
    check = sample_size_gate(config, task, data, log and config.tracking.register_model,
                             summary.get("encoded_parameters"))
    summary["sample_size"] = check.to_dict()
    if announce is not None:
        announce(check.message() + ("" if check.met else
                                    f" Allowed by the config: {config.small_sample_reason}"
                                    if config.allow_small_sample else ""))
    # phases the configured fitter cannot run (spinerisk.training.distributed): said, not
    # silently skipped
    not_run = summary.setdefault("phases_not_run", {})
    for phase, reason in not_run.items() if announce is not None else ():
        announce(f"not run: {phase} ({reason})")
    if announce is not None and (statement := tuning_sample_statement(
            config, on_cluster="cluster_sample_rows" in summary)):
        announce(statement)
    folds = grouped_folds(data.event, data.groups, config.cv.folds, config.seed)
    fold_log = folds.describe(data.event)
    if not log:
        return _run(config, task, data, summary, folds, fold_log, None, progress, started,
                    make_fitter)
    from spinerisk import tracking

    with tracking.experiment_run(config.experiment_name(), config.name,
                                 tracking_uri or config.tracking.uri) as run:
        result = _run(config, task, data, summary, folds, fold_log, run, progress, started,
                      make_fitter)
        _log(run, result, promote)
        result.run_id = run.run_id
    result.seconds = time.perf_counter() - started
    return result


def _run(config, task, data, summary, folds, fold_log, run, progress, started, make_fitter):
    fitter = make_fitter(config, task, study_prefix(config, summary["fingerprint_sha256"]),
                         on_trial=run.log_trial if run is not None else None,
                         progress=progress)
    imputed = config.imputation.method == "mice"
    if imputed:
        oof, per_imputation = nested_cv_imputed(fitter, data, folds, progress)
        perf = rubin_performance(task, data, oof, per_imputation, config.cv.bootstrap,
                                 config.seed)
    else:
        oof = nested_cv(fitter, data, folds, progress)
        perf = performance(task, data, oof, config.cv.bootstrap, config.seed)
    params = fitter.tune(data, "final")
    if config.sample_size.learning_curve:
        summary["learning_curve"] = learning_curve(
            fitter, data, folds, params, tuple(config.sample_size.learning_curve), config.seed)
    members = config.uncertainty.bootstrap_members
    model = fitter.fit(data, params, bootstrap_members=members, label="final")
    if (members and not imputed
            and "uncertainty.bootstrap_members" not in summary["phases_not_run"]):
        from spinerisk.explain.uncertainty import fit_bootstrap_ensemble

        model.bootstrap_ = fit_bootstrap_ensemble(model, data.X, data.y, n_members=members,
                                                  seed=config.seed, groups=data.groups,
                                                  progress=progress,
                                                  n_jobs=config.uncertainty.n_jobs,
                                                  calibration=config.uncertainty
                                                  .member_calibration)
    if members and config.data.simulate is not None and config.uncertainty.coverage_patients:
        coverage = simulated_coverage(config.data.simulate, task, model,
                                      config.uncertainty.coverage_patients)
        (model.within_ if imputed else model.bootstrap_).coverage = coverage
    sites, site_params = {}, {}
    several = data.sites is not None and len(np.unique(data.sites)) > 1
    if config.cv.internal_external == "yes" or (config.cv.internal_external == "auto"
                                                and several):
        if not several:
            raise ValueError("cv.internal_external='yes' needs several sites in the data")
        sites, site_params = internal_external(fitter, data, min(config.cv.bootstrap, 100),
                                               progress)
    return ExperimentResult(config, task, summary, fold_log, perf, params, model, oof, sites,
                            site_pooled=pool_sites(sites) if sites else {},
                            seconds=time.perf_counter() - started,
                            training_rows=fitter.explained_rows(data),
                            site_params=site_params, tuning_rows=fitter.tuning_rows)


def tuning_sample_statement(config: ExperimentConfig, on_cluster: bool = False) -> str:
    """What ``search.sample_rows`` does to this run, in words ("" when not set); a run on
    a Dask cluster keeps the rounds chosen on the sample (``ClusterFitter``)."""
    search = config.search
    if search is None or not search.space or search.sample_rows is None:
        return ""
    sampled = (f"tuning: a study whose fit has more than {search.sample_rows:,} rows runs its "
               f"trials on a sample of {search.sample_rows:,} of them (search.sample_rows; by "
               "patient, stratified by outcome, seeded); the best trial's hyperparameters are "
               "then used on all the fit's rows")
    if on_cluster:
        return (sampled + ", its boosting rounds as chosen on the sample (on a cluster the "
                "rounds are not re-chosen on all rows, a conservative choice for more rows) "
                "and its calibrator cross-fitted")
    return (sampled + ", its boosting rounds re-chosen there by early stopping on one inner "
            "fold (rounds chosen on fewer rows are too few for more)"
            + _rounds_fold_calibration_statement(config))


def calibrates_on_rounds_fold(config: ExperimentConfig) -> bool:
    """Whether a fit whose rounds were re-chosen on all its rows is calibrated on that
    fold's held-out margins (``calibration.margins: auto``; not with multiple imputation,
    whose models calibrate on each completed dataset)."""
    c = config.calibration
    return c.margins == "auto" and c.method != "none" and config.imputation.method != "mice"


def _rounds_fold_calibration_statement(config: ExperimentConfig) -> str:
    if not calibrates_on_rounds_fold(config):
        return ""
    c = config.calibration
    return (f"; such a fit's {c.method} calibrator is fitted on that fold's held-out margins "
            "(calibration.margins: auto) instead of out-of-fold margins of "
            f"{c.folds} more boosters")


def _log(run, result: ExperimentResult, promote: bool = False) -> None:
    """Params, config, data fingerprint, versions, metrics with CIs, plots, the model."""
    from spinerisk import tracking

    config = result.config
    size = result.data_summary["sample_size"]
    run.set_tags({"task": result.task.name, "learner": config.model.learner,
                  "git_commit": tracking.git_commit(), "spinerisk.kind": "experiment",
                  "sample_size_met": size["met"],
                  **({"small_sample_reason": config.small_sample_reason}
                     if not size["met"] else {})})
    run.log_params({"config": config.model_dump(mode="json"),
                    "data": result.data_summary,
                    "missing_strategy": missing_strategy(config),
                    "folds.assignment_sha256": result.folds["assignment_sha256"],
                    "best_params": result.best_params,
                    "tuning_sample": {"sample_rows": config.search.sample_rows
                                      if config.search is not None else None,
                                      **result.tuning_rows},
                    "versions": tracking.package_versions(),
                    "n_features": len(getattr(result.model, "members_", [result.model])[0]
                                      .feature_names_)})
    run.log_metrics({**result.performance.flat("cv_"), "n_rows": result.data_summary["rows"],
                     "n_events": result.data_summary["events"],
                     "n_excluded_missing_outcome": result.data_summary["excluded_missing_outcome"]})
    ensemble = getattr(result.model, "within_", None) or getattr(result.model, "bootstrap_",
                                                                  None)
    coverage = getattr(ensemble, "coverage", None)
    if coverage:
        run.log_metrics({"interval_coverage": coverage["coverage"],
                         "interval_coverage_mc_se": coverage["mc_se"],
                         "interval_median_width": coverage["median_width"]})
    run.log_metrics({f"iecv_{site}_{k}": v for site, m in result.site_performance.items()
                     for k, v in m.items()})
    run.log_dict(config.model_dump(mode="json"), "config.yaml")
    run.log_dict(result.folds, "folds.json")
    run.log_dict({k: v.to_dict() for k, v in result.performance.metrics.items()},
                 "performance.json")
    if result.site_performance:
        run.log_dict({"performance": result.site_performance,
                      "hyperparameters_tuned_without_site": result.site_params},
                     "internal_external.json")
    if result.site_pooled:
        run.log_dict(result.site_pooled, "internal_external_pooled.json")
        run.log_metrics({f"iecv_pooled_{metric}_{k}": p[k] for metric, p in result.site_pooled.items()
                         for k in ("estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper",
                                   "tau2", "i2") if p[k] is not None})
    explained, rows = result.model, result.training_rows
    if isinstance(explained, ImputedRiskModel):  # importance of the first imputation's model
        explained = result.model.members_[0]
        rows = result.model.imputer_.transform(result.model.members_[0]._model_frame(rows))[0]
        run.log_dict({"missing_shares": result.model.imputer_.missing_shares_,
                      "predictors_of_imputation_models": {
                          v.name: [result.model.imputer_.variables_[j].name for j in inputs]
                          for v, inputs in zip(result.model.imputer_.variables_,
                                               result.model.imputer_.inputs_)}},
                     "imputation.json")
    tuning = (tuning_sample_statement(config, "cluster_sample_rows" in result.data_summary)
              or "trials on all of each fit's rows") if result.tuning_rows \
        else "no search: fixed hyperparameters"
    run.log_dict({"feature_to_variable": explained.feature_to_variable_,
                  "training_profile": result.model.training_profile_,
                  "missing_data": missing_strategy(config), "tuning": tuning,
                  "tuning_rows": result.tuning_rows}, "model_card.json")
    with tempfile.TemporaryDirectory() as tmp:
        label = f"{config.model.learner} (nested CV)"
        paths = save_plots(result.performance, result.oof_risk, Path(tmp), label)
        paths.append(shap_importance_plot(explained, rows, Path(tmp)))
        curve = result.data_summary.get("learning_curve")
        if curve:
            paths.append(Path(tmp) / "learning_curve.png")
            save_learning_curve(curve, size["required_n"], paths[-1])
        for path in paths:
            run.log_artifact(path, "plots")
    result.model_info = run.log_model(
        result.model, result.task.name, register=config.tracking.register_model,
        promote=promote, tags={"experiment": config.name, "learner": config.model.learner,
              "data_fingerprint": result.data_summary["fingerprint_sha256"][:16]})


def shap_importance_plot(model: RiskModel, X: pd.DataFrame, folder: Path,
                         max_rows: int = 500) -> Path:
    """Mean |SHAP| per clinical variable (an aggregate; spinerisk.explain) as a PNG."""
    import matplotlib.pyplot as plt

    from spinerisk.explain import ModelExplainer
    from spinerisk.explain.plots import plot_importance

    explainer = ModelExplainer(model)
    rows = X.sample(min(max_rows, len(X)), random_state=0) if len(X) > max_rows else X
    figure = plot_importance(explainer.explain_frame(rows), margin_scale=explainer.margin_scale)
    path = folder / "shap_importance.png"
    figure.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(figure)
    return path


def summary_table(results: list[ExperimentResult]) -> pd.DataFrame:
    """The end-of-run table: one row per experiment."""
    return pd.DataFrame([r.summary_row() for r in results])


def print_summary(results: list[ExperimentResult]) -> None:
    """Print the summary table with rich."""
    from rich.console import Console
    from rich.table import Table

    frame = summary_table(results)
    table = Table(title="spinerisk training summary (out-of-sample, nested CV; 95% CI)")
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*[str(v) for v in row])
    console = Console()
    console.width = max(console.width, 150)  # the CI columns need room, also when piped
    console.print(table)
