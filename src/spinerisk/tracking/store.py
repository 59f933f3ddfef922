"""The tracking store and the experiment run: the only module family importing mlflow.

The store is resolved by :mod:`spinerisk.tracking.location` (an explicit URI, else
``$SPINERISK_TRACKING_URI``, else ``mlruns/mlflow.db`` in the project checkout, with
artifacts under ``mlruns/artifacts``); reading never creates a store. One parent run per
experiment; the tuning trials are child runs created here with an explicit parent id
(the hierarchy is ours, not a callback's). Only aggregates are logged: no patient rows.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from spinerisk.models import RiskModel
from spinerisk.tracking import flavor
from spinerisk.tracking.location import resolve_store
from spinerisk.tracking.pyfunc import signature

CANDIDATE = "candidate"
#: Versions pinned in every logged model's requirements (inference costs ~6 s a model):
#: everything the model's own code (logged with it) imports to load and predict.
PINNED = ("numpy", "pandas", "scipy", "scikit-learn", "xgboost", "mlflow", "pyyaml", "tqdm")


def tracking_uri(uri: str | None = None) -> str:
    """The store to use (:func:`spinerisk.tracking.location.resolve_store`)."""
    return resolve_store(uri).uri


def registered_name(task: str) -> str:
    """Registry name of a task's model, e.g. ``spinerisk-response``."""
    return f"spinerisk-{task}"


def site_alias(site: str) -> str:
    """Registry alias of a site's recalibrated version, e.g. ``site-S05``."""
    return f"site-{site}"


def configure(uri: str | None = None, create: bool = False) -> str:
    """Point mlflow at the store (tracking and registry); ``create`` makes a sqlite
    store's folder (writers). Readers use :func:`open_store`."""
    location = resolve_store(uri)
    if location.sqlite_path is not None and create:
        location.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(location.uri)
    mlflow.set_registry_uri(location.uri)
    return location.uri


def open_store(uri: str | None = None) -> str:
    """Point mlflow at an existing store to read from it (never creates one).

    Raises
    ------
    ModelLookupError
        For a sqlite store whose file does not exist (the message names it and the fix).
    """
    resolve_store(uri).require()
    return configure(uri)


def _artifact_root(uri: str) -> str:
    """Artifacts beside a sqlite store (``<store folder>/artifacts``)."""
    if uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).resolve().parent / "artifacts"
        return folder.as_uri()
    return ""


def experiment_id(name: str, uri: str | None = None) -> str:
    """Id of the named experiment, created (with artifacts beside the store) if new."""
    uri = configure(uri, create=True)
    with quiet_mlflow():  # "Creating initial MLflow database tables..."
        found = mlflow.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        root = _artifact_root(uri)
        location = f"{root}/{name}" if root else None
        return mlflow.create_experiment(name, artifact_location=location)


def git_commit() -> str:
    """The working tree's commit (``unknown`` outside git or before the first commit)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def package_versions() -> dict[str, str]:
    """Installed versions of spinerisk and the packages a model depends on."""
    versions = {}
    for name in ("spinerisk", *PINNED, "optuna"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


class ExperimentRun:
    """One experiment's parent run (use :func:`experiment_run`)."""

    def __init__(self, run_id: str, experiment: str):
        self.run_id = run_id
        self.experiment_id = experiment
        self.client = MlflowClient()

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Flat parameters (values longer than MLflow's limit are truncated with '...')."""
        flat = {k: (str(v) if len(str(v)) <= 6000 else str(v)[:5997] + "...")
                for k, v in _flatten(params).items()}
        items = list(flat.items())
        for start in range(0, len(items), 100):
            mlflow.log_params(dict(items[start:start + 100]), run_id=self.run_id)

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        """Finite numeric metrics in one batch."""
        clean = {k: float(v) for k, v in metrics.items()
                 if v is not None and math.isfinite(float(v))}
        mlflow.log_metrics(clean, run_id=self.run_id)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, str(value))

    def log_dict(self, data: Any, name: str) -> None:
        """A JSON or YAML artifact (aggregates only)."""
        mlflow.log_dict(data, name, run_id=self.run_id)

    def log_artifact(self, path: str | Path, folder: str | None = None) -> None:
        """A file (a plot, a table of aggregates) as an artifact."""
        mlflow.log_artifact(str(path), folder, run_id=self.run_id)

    def log_trial(self, study: str, number: int, params: Mapping[str, Any],
                  value: float | None, state: str) -> None:
        """A finished tuning trial as a child run of this experiment run."""
        run = self.client.create_run(
            self.experiment_id, run_name=f"{study}/trial-{number:03d}",
            tags={"mlflow.parentRunId": self.run_id, "spinerisk.kind": "trial",
                  "study": study, "state": state})
        child = run.info.run_id
        for key, val in params.items():
            self.client.log_param(child, key, val)
        if value is not None:
            self.client.log_metric(child, "score", float(value))
        self.client.set_terminated(child, "FINISHED" if state == "COMPLETE" else "KILLED")

    def log_model(self, model: RiskModel, task: str, register: bool = True,
                  alias: str | None = CANDIDATE, promote: bool = False,
                  tags: Mapping[str, Any] | None = None) -> dict[str, str]:
        """Log the pyfunc (risk out) and register it as a new version of the task's model.

        ``alias`` is set on the new version when it does not exist yet or when
        ``promote`` is true; an existing alias never moves silently (see
        :func:`register_model`).
        """
        with (_active(self.run_id), warnings.catch_warnings(), quiet_mlflow(),
              tempfile.TemporaryDirectory() as tmp):
            # an input example would be a patient row: never logged, so silence the nudge
            warnings.filterwarnings("ignore", message=".*input example was not provided")
            info = mlflow.pyfunc.log_model(
                name="model", loader_module=flavor.__name__,
                data_path=str(flavor.save_data(model, Path(tmp))),
                code_paths=[str(_package_code(Path(tmp)))], signature=signature(model),
                metadata={"spinerisk_input": flavor.input_contract(model)},
                pip_requirements=[f"{p}=={v}" for p, v in package_versions().items()
                                  if v != "not installed" and p not in ("spinerisk", "optuna")],
            )
        out = {"model_uri": info.model_uri, "run_uri": f"runs:/{self.run_id}/model"}
        if register:
            with quiet_mlflow():  # spinerisk prints the version and the alias move itself
                out.update(register_model(info.model_uri, task, alias, tags, promote=promote))
        return out


def _package_code(folder: Path) -> Path:
    """A copy of the running ``spinerisk`` package (sources only) to log with a model, so
    that the model loads where spinerisk is not installed (MLflow ``code_paths``)."""
    import spinerisk

    source = Path(spinerisk.__file__).parent
    return Path(shutil.copytree(source, folder / "spinerisk",
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc")))


def register_model(model_uri: str, task: str, alias: str | None,
                   tags: Mapping[str, Any] | None = None,
                   promote: bool = False) -> dict[str, str]:
    """Register a logged model as a new version of ``spinerisk-<task>``.

    Parameters
    ----------
    model_uri : str
        The logged model (``runs:/...`` or ``models:/m-...``).
    task : str
        Task name (registered name ``spinerisk-<task>``).
    alias : str or None
        Serving alias (e.g. ``candidate``). Created on the new version when the model has
        no such alias yet; moved from its current version only when ``promote`` is true.
    tags : mapping, optional
        Version tags.
    promote : bool
        Move an existing ``alias`` to the new version.

    Returns
    -------
    dict
        ``registered_name``, ``version``, ``version_uri``; ``alias``, ``previous_version``
        (the version the alias pointed to before; "" if none), ``alias_version`` (where it
        points now), ``alias_uri`` (the alias URI when it now serves this version, else "")
        and ``promotion``: a sentence for the person who trained.
    """
    name = registered_name(task)
    version = str(mlflow.register_model(model_uri, name, tags={k: str(v) for k, v in
                                                               (tags or {}).items()}).version)
    out = {"registered_name": name, "version": version,
           "version_uri": f"models:/{name}/{version}", "alias": alias or "",
           "previous_version": "", "alias_version": "", "alias_uri": "",
           "promotion": f"registered {name} version {version} (no serving alias)"}
    if not alias:
        return out
    previous = _alias_version(name, alias)
    out["previous_version"] = previous or ""
    if previous is None or promote:
        out.update(move_alias(name, alias, version))
    else:
        out.update(alias_version=previous,
                   promotion=f"registered {name} version {version}; {name}@{alias} stays at "
                             f"version {previous} (train with --promote, or `spinerisk "
                             f"promote --name {name} --version {version}` to move it)")
    return out


def move_alias(name: str, alias: str, version: str) -> dict[str, str]:
    """Point ``name@alias`` at ``version`` (an explicit promotion) and say so.

    Returns
    -------
    dict
        ``previous_version`` ("" if the alias was not set), ``alias_version``,
        ``alias_uri`` and ``promotion`` ("<name>@<alias>: version <old> -> <new>").
    """
    previous = _alias_version(name, alias)
    MlflowClient().set_registered_model_alias(name, alias, version)
    return {"previous_version": previous or "", "alias_version": version,
            "alias_uri": f"models:/{name}@{alias}",
            "promotion": f"{name}@{alias}: version {previous or 'none'} -> {version}"}


def _alias_version(name: str, alias: str) -> str | None:
    """The version ``name@alias`` points to, or None when the alias is not set."""
    try:
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


@contextmanager
def quiet_mlflow():
    """Silence mlflow's event messages (table creation, uv detection, "Successfully
    registered", "Created version") for the block: the command reports what matters."""
    from mlflow.utils.logging_utils import MLFLOW_LOGGING_STREAM

    enabled = MLFLOW_LOGGING_STREAM.enabled
    MLFLOW_LOGGING_STREAM.enabled = False
    try:
        yield
    finally:
        MLFLOW_LOGGING_STREAM.enabled = enabled


@contextmanager
def _active(run_id: str):
    """Make ``run_id`` the active run for mlflow's fluent logging calls."""
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        yield
        return
    with mlflow.start_run(run_id=run_id):
        yield


@contextmanager
def experiment_run(experiment: str, run_name: str, uri: str | None = None):
    """Start the parent run of an experiment; yields an :class:`ExperimentRun`."""
    exp = experiment_id(experiment, uri)
    with mlflow.start_run(experiment_id=exp, run_name=run_name) as run:
        yield ExperimentRun(run.info.run_id, exp)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = json.dumps(list(value), default=str)
        else:
            flat[name] = value
    return flat


def load_risk_model(uri: str, tracking: str | None = None) -> RiskModel:
    """The fitted :class:`RiskModel` behind a model URI (e.g.
    ``models:/spinerisk-response@candidate``).

    Raises
    ------
    ModelLookupError
        When the store or the model is not there (the message lists what the store holds).
    """
    impl = load_pyfunc(uri, tracking)._model_impl  # mlflow's stable developer API
    # the flavour's predictor, or (a model logged before it) the PythonModel wrapper
    return getattr(impl, "python_model", impl).risk_model


def load_pyfunc(uri: str, tracking: str | None = None):
    """The MLflow pyfunc behind a model URI (``predict`` returns calibrated risk)."""
    open_store(tracking)
    registry = uri.removeprefix("models:/")
    if uri.startswith("models:/") and ("@" in registry or "/" in registry):
        from spinerisk.tracking.resolve import resolve_model_uri

        resolve_model_uri(uri, tracking)  # a clear error before mlflow's own
    return mlflow.pyfunc.load_model(uri)


def register_site_version(model: RiskModel, task: str, site: str, *,
                          metrics: Mapping[str, float] | None = None,
                          params: Mapping[str, Any] | None = None,
                          tracking: str | None = None) -> dict[str, str]:
    """Log a site-specific (e.g. recalibrated) model and register it with alias
    ``site-<SITE>`` under the task's registered name.

    Parameters
    ----------
    model : RiskModel
        The fitted (updated) model.
    task : str
        Task name (registered name ``spinerisk-<task>``).
    site : str
        Site identifier; the alias is ``site-<site>``.
    metrics, params : mapping, optional
        Aggregates to log with the run (validation metrics, update method).

    Returns
    -------
    dict
        ``model_uri``, ``registered_name``, ``version``, ``alias_uri``.
    """
    with experiment_run(f"spinerisk-{task}-sites", f"site-{site}", tracking) as run:
        run.log_params({"site": site, "task": task, **(params or {})})
        if metrics:
            run.log_metrics(metrics)
        # registering a site's update is an explicit request (validate --register-update)
        return run.log_model(model, task, alias=site_alias(site), promote=True,
                             tags={"site": site, "kind": "site-version"})
