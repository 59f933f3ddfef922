"""The tracking store and the experiment run: the only module family importing mlflow.

Default store: ``sqlite:///mlruns/mlflow.db`` with artifacts under ``mlruns/artifacts``
(env ``SPINERISK_TRACKING_URI`` or an explicit URI overrides). One parent run per
experiment; the tuning trials are child runs created here with an explicit parent id
(the hierarchy is ours, not a callback's). Only aggregates are logged: no patient rows.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

from spinerisk.models import RiskModel
from spinerisk.tracking.pyfunc import RiskModelPyfunc, signature

DEFAULT_URI = "sqlite:///mlruns/mlflow.db"
CANDIDATE = "candidate"
#: Versions pinned in every logged model's requirements (inference costs ~6 s a model).
PINNED = ("numpy", "pandas", "scipy", "scikit-learn", "xgboost", "mlflow", "pyyaml")


def tracking_uri(uri: str | None = None) -> str:
    """The store to use: ``uri``, else env ``SPINERISK_TRACKING_URI``, else the default."""
    return uri or os.environ.get("SPINERISK_TRACKING_URI") or DEFAULT_URI


def registered_name(task: str) -> str:
    """Registry name of a task's model, e.g. ``spinerisk-response``."""
    return f"spinerisk-{task}"


def site_alias(site: str) -> str:
    """Registry alias of a site's recalibrated version, e.g. ``site-S05``."""
    return f"site-{site}"


def configure(uri: str | None = None) -> str:
    """Point mlflow at the store (tracking and registry); create a sqlite file's folder."""
    uri = tracking_uri(uri)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def _artifact_root(uri: str) -> str:
    """Artifacts beside a sqlite store (``<store folder>/artifacts``)."""
    if uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).resolve().parent / "artifacts"
        return folder.as_uri()
    return ""


def experiment_id(name: str, uri: str | None = None) -> str:
    """Id of the named experiment, created (with artifacts beside the store) if new."""
    uri = configure(uri)
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
                  alias: str | None = CANDIDATE,
                  tags: Mapping[str, Any] | None = None) -> dict[str, str]:
        """Log the pyfunc (risk out), register it under the task's name, set the alias."""
        with _active(self.run_id), warnings.catch_warnings():
            # an input example would be a patient row: never logged, so silence the nudge
            warnings.filterwarnings("ignore", message=".*input example was not provided")
            info = mlflow.pyfunc.log_model(
                name="model", python_model=RiskModelPyfunc(model), signature=signature(model),
                pip_requirements=[f"{p}=={v}" for p, v in package_versions().items()
                                  if v != "not installed" and p not in ("spinerisk", "optuna")],
            )
        out = {"model_uri": info.model_uri, "run_uri": f"runs:/{self.run_id}/model"}
        if register:
            out.update(register_model(info.model_uri, task, alias, tags))
        return out


def register_model(model_uri: str, task: str, alias: str | None,
                   tags: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Register a logged model under ``spinerisk-<task>`` and point ``alias`` at it."""
    name = registered_name(task)
    version = mlflow.register_model(model_uri, name, tags={k: str(v) for k, v in
                                                           (tags or {}).items()})
    if alias:
        MlflowClient().set_registered_model_alias(name, alias, version.version)
    return {"registered_name": name, "version": str(version.version),
            "alias_uri": f"models:/{name}@{alias}" if alias else ""}


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
    ``models:/spinerisk-response@candidate``)."""
    configure(tracking)
    return mlflow.pyfunc.load_model(uri).unwrap_python_model().risk_model


def load_pyfunc(uri: str, tracking: str | None = None):
    """The MLflow pyfunc behind a model URI (``predict`` returns calibrated risk)."""
    configure(tracking)
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
        return run.log_model(model, task, alias=site_alias(site),
                             tags={"site": site, "kind": "site-version"})
