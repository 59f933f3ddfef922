"""The experiment config: one YAML file says everything a training run depends on.

Unknown keys are an error naming the key, where it is, and the nearest valid key.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from spinerisk.errors import ConfigError
from spinerisk.features import TaskSpec, generic_task, spine_task
from spinerisk.models import CALIBRATIONS, LEARNERS
from spinerisk.yamlfile import read_yaml_mapping


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = list(cls.model_fields)
            for key in data:
                if key not in allowed:
                    hint = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.4)
                    raise ValueError(f"unknown key {key!r}"
                                     + (f"; did you mean {hint[0]!r}?" if hint else "")
                                     + f" (valid keys here: {', '.join(allowed)})")
        return data


class SimulatedData(_Strict):
    """A simulated cohort (``spinerisk.cohort.simulate``)."""

    n: int = Field(5000, ge=50)
    sites: int = Field(4, ge=1)
    seed: int = 0
    dgp: Literal["published", "linear"] = "published"


class DataConfig(_Strict):
    """Either ``simulate`` or a table ``path`` (any format ``cohort.readers`` reads; a workbook
    sheet as ``book.xlsx#sheet``) with an optional column ``mapping``."""

    simulate: SimulatedData | None = None
    path: str | None = None
    mapping: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if (self.simulate is None) == (self.path is None):
            raise ValueError("data: give exactly one of 'simulate' (a simulated cohort) or "
                             "'path' (a table: csv/txt, xlsx/xls/ods, parquet)")
        return self


class GenericTaskConfig(_Strict):
    """A task for a non-spine table: outcome, optional time + horizon, typed predictors."""

    name: str
    outcome: str
    time: str | None = None
    horizon: float | None = None
    site_column: str = "site_id"
    predictors: dict[str, str | dict[str, Any]]


class ModelConfig(_Strict):
    """The learner and its fixed hyperparameters (xgboost: ``params.n_jobs`` threads,
    default every core this process may use; ``tree_method`` ``hist``)."""

    learner: Literal[LEARNERS]  # type: ignore[valid-type]
    params: dict[str, Any] = {}
    n_knots: Literal[3, 4, 5] = 4


class SearchParam(_Strict):
    """A hyperparameter range (``low``/``high``, ``log``, ``type``) or a list of ``choices``."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    type: Literal["float", "int"] = "float"
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _range_or_choices(self) -> SearchParam:
        if self.choices is None and (self.low is None or self.high is None):
            raise ValueError("a search parameter needs low and high, or choices")
        if self.choices is None and self.low > self.high:
            raise ValueError(f"low={self.low} is above high={self.high}")
        return self


class SearchConfig(_Strict):
    """Optuna search: trials, space, storage (default sqlite under mlruns/), pruning."""

    n_trials: int = Field(20, ge=1)
    space: dict[str, SearchParam] = {}
    inner_folds: int = Field(3, ge=2)
    storage: str | None = None
    pruning: bool = True
    timeout_s: float | None = None
    #: xgboost learners: a trial's ``n_estimators`` is an upper bound; its inner-fold
    #: boosters stop once the mean held-out loss has not improved for this many rounds and
    #: the rounds minimising it are the trial's (``training.rounds``); None: every trial
    #: grows all its ``n_estimators`` rounds
    early_stopping_rounds: int | None = Field(20, ge=1)
    #: a study whose fit has more rows tunes on a sample of this many of them, drawn by
    #: patient and stratified by outcome from the config's seed (``training.cv.
    #: grouped_sample``; its inner folds lie within it); the chosen hyperparameters are
    #: then used on all the fit's rows, with the early-stopped rounds chosen again on one
    #: inner fold of all of them (``Fitter.rounds_on_all_rows``). None: every row
    sample_rows: int | None = Field(None, ge=100)


class CVConfig(_Strict):
    """Honest estimation: outer folds (nested when a search is given), site-wise CV, CIs."""

    folds: int = Field(5, ge=2)
    internal_external: Literal["auto", "yes", "no"] = "auto"
    bootstrap: int = Field(500, ge=0)


class CalibrationConfig(_Strict):
    method: Literal[CALIBRATIONS] = "platt"  # type: ignore[valid-type]
    folds: int = Field(5, ge=2)
    #: the margins the calibrator is fitted on: ``cross_fit``, out-of-fold margins of
    #: ``folds`` boosters; ``auto``, the same, except for a fit whose boosting rounds were
    #: re-chosen on one inner fold of all its rows (``search.sample_rows``): the held-out
    #: margins of that fold's booster, which the rows' own booster never saw, so the
    #: ``folds`` boosters are not grown (``Fitter.rounds_on_all_rows``)
    margins: Literal["auto", "cross_fit"] = "auto"


class UncertaintyConfig(_Strict):
    """Per-patient intervals: a bootstrap ensemble of the whole pipeline (0 = no interval)."""

    bootstrap_members: int = Field(20, ge=0)
    #: members fitted in parallel (joblib; -1 = every core); the members do not depend on it
    n_jobs: int = 1
    #: each member's calibrator: ``cross_fit`` on out-of-fold margins of its resample (as
    #: the main model; calibration.folds extra learner fits per member) or ``oob`` on its
    #: out-of-bag patients' margins (one learner fit per member;
    #: ``explain.uncertainty.fit_bootstrap_ensemble``)
    member_calibration: Literal["cross_fit", "oob"] = "oob"
    #: fresh simulated patients on which the interval's coverage of the true risk is
    #: measured (simulated training data only; 0 = not measured)
    coverage_patients: int = Field(2000, ge=0)


class SampleSizeConfig(_Strict):
    """Riley's criteria before training: the anticipated Cox-Snell R2 (default: 15% of
    its maximum, the conservative choice when nothing is known)."""

    anticipated_cs_r2: float | None = Field(None, gt=0, lt=1)
    #: training-size fractions for an optional learning curve (logged as a plot)
    learning_curve: list[float] | None = None

    @model_validator(mode="after")
    def _fractions(self) -> SampleSizeConfig:
        bad = [f for f in self.learning_curve or () if not 0 < f <= 1]
        if bad:
            raise ValueError(f"sample_size.learning_curve: fractions {bad} are not in (0, 1]; "
                             "give shares of the training rows, e.g. [0.25, 0.5, 1.0]")
        return self


IMPUTATION_METHODS = ("default", "mice")


class ImputationConfig(_Strict):
    """Missing predictor values. ``default``: median plus missing indicators (logistic,
    cox) or xgboost's native missing values; ``mice``: multiple imputation by chained
    equations with ``m`` imputations, fitted inside every cross-validation fold on its
    training rows with the outcome, performance pooled by Rubin's rules
    (:mod:`spinerisk.features.imputation`, :mod:`spinerisk.models.imputed`)."""

    method: str = "default"
    m: int = 20
    iterations: int = 10
    #: other variables in each imputation model (the most correlated ones)
    max_predictors: int = 15

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        method = data.get("method", "default")
        if method not in IMPUTATION_METHODS:
            raise ValueError(f"imputation.method: {method!r} is not allowed; allowed: "
                             f"{', '.join(map(repr, IMPUTATION_METHODS))}; fix: use "
                             "method: mice for multiple imputation, or leave imputation out "
                             "for the learner's default")
        bounds = {"m": (2, "at least 2 imputations (20 or more for stable intervals)"),
                  "iterations": (1, "at least 1 sweep of the chained equations (10 is usual)"),
                  "max_predictors": (1, "at least 1 predictor per imputation model")}
        for key, (low, what) in bounds.items():
            value = data.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"imputation.{key}: {value!r} is not allowed; allowed: an "
                                 f"integer >= {low}; fix: give {what}")
        return data


class ClusterConfig(_Strict):
    """``train --cluster`` (:mod:`spinerisk.training.distributed`): rows collected to this
    process for the tuning trials (run on the workers), the training profile and the SHAP
    importance plot; the models themselves train on every row."""

    sample_rows: int = Field(200_000, ge=100)


class TrackingConfig(_Strict):
    experiment: str | None = None
    uri: str | None = None
    register_model: bool = True


class ExperimentConfig(_Strict):
    """One experiment (see ``configs/*.yaml``)."""

    name: str
    seed: int = 0
    data: DataConfig
    task: str | GenericTaskConfig
    predictors: Literal["all"] | list[str] = "all"
    pathway_features: bool = True
    model: ModelConfig
    search: SearchConfig | None = None
    cv: CVConfig = CVConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    uncertainty: UncertaintyConfig = UncertaintyConfig()
    tracking: TrackingConfig = TrackingConfig()
    imputation: ImputationConfig = ImputationConfig()
    cluster: ClusterConfig = ClusterConfig()
    sample_size: SampleSizeConfig = SampleSizeConfig()
    #: register a model although Riley's size is not met (needs small_sample_reason)
    allow_small_sample: bool = False
    small_sample_reason: str | None = None

    @model_validator(mode="after")
    def _reason_for_small_sample(self) -> ExperimentConfig:
        if self.allow_small_sample and not (self.small_sample_reason or "").strip():
            raise ValueError("allow_small_sample: true needs small_sample_reason: say why an "
                             "under-sized model may be registered (e.g. 'demo data').")
        return self

    @model_validator(mode="after")
    def _imputation_without_search(self) -> ExperimentConfig:
        if self.imputation.method == "mice" and self.search is not None and self.search.space:
            raise ValueError("imputation.method: 'mice' together with a search space is not "
                             "supported (tuning would need m imputations in every inner "
                             "fold); allowed: mice with fixed model.params; fix: set the "
                             "hyperparameters in model.params and remove search, or use "
                             "imputation.method: default")
        return self

    def task_spec(self) -> TaskSpec:
        """The task's variables as the model sees them."""
        if isinstance(self.task, str):
            return spine_task(self.task, self.predictors, pathway=self.pathway_features)
        t = self.task
        return generic_task(t.name, t.outcome, t.predictors, t.time, t.horizon, t.site_column)

    @property
    def task_name(self) -> str:
        return self.task if isinstance(self.task, str) else self.task.name

    def experiment_name(self) -> str:
        """MLflow experiment: the config's, else ``spinerisk-<task>``."""
        return self.tracking.experiment or f"spinerisk-{self.task_name}"


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Read and validate a YAML config; ``overrides`` (dotted keys) replace values first."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config {path}: no such file",
                          fix="give a YAML config; shipped configs are in configs/*.yaml")
    raw = read_yaml_mapping(path, "config")
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return parse_config(raw, source=str(path))


def parse_config(raw: dict[str, Any], source: str = "<config>") -> ExperimentConfig:
    """Validate a config mapping, turning pydantic's errors into one readable message."""
    try:
        config = ExperimentConfig.model_validate(raw)
        config.task_spec()  # task and predictors must exist in the contract
    except ValidationError as err:
        lines = [f"{source}: {len(err.errors())} problem(s)"]
        for e in err.errors():
            where = ".".join(str(p) for p in e["loc"]) or "<top>"
            lines.append(f"  {where}: {e['msg'].removeprefix('Value error, ')}")
        raise ConfigError("\n".join(lines)) from None
    except ValueError as err:
        raise ConfigError(f"{source}: {err}") from None
    return config
