"""The rim of ``spinerisk validate``: load the model and the site's table, validate, write
the report, log aggregates to MLflow, optionally register the site update.

Only this module touches files and the tracking server; :mod:`spinerisk.validation.core`
stays a pure function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spinerisk.validation.casemix import DevelopmentReference, VariableSummary
from spinerisk.validation.core import ValidationResult, validate_model
from spinerisk.validation.task import (
    TaskSpec,
    eligible_rows,
    load_task_spec,
    read_generic_table,
    spine_task_spec,
)


def load_model(reference: str):
    """A fitted model from the registry (``models:/...``) or a local joblib/pickle file."""
    if reference.startswith("models:/"):
        from spinerisk.tracking import load_risk_model

        return load_risk_model(reference)
    path = Path(reference)
    if not path.exists():
        raise FileNotFoundError(f"--model {reference!r}: not a models:/ URI and no such file.")
    import joblib

    return joblib.load(path)


def identify(reference: str) -> dict[str, Any]:
    """The identity of the validated model (report and MLflow tags) and the versions of
    the packages that validate it.

    A registry URI resolves to its name, version, training run, data fingerprint,
    training date and training package versions; a local file has none of these, and the
    ``missing`` entry says so.
    """
    from spinerisk.tracking import package_versions

    if reference.startswith("models:/"):
        from spinerisk.tracking.resolve import model_identity

        identity = model_identity(reference)
    else:
        fields = ("version", "run_id", "data_fingerprint", "trained_at", "training_versions")
        identity = {"uri": reference, "name": Path(reference).name, "alias": None,
                    **dict.fromkeys(fields),
                    "missing": dict.fromkeys(fields, "a local model file has no registry "
                                             "record; register the model to identify it")}
    identity["validated_with"] = package_versions()
    return identity


def identity_tags(identity: dict[str, Any]) -> dict[str, str]:
    """MLflow tags of a validation run naming the validated model (``NA`` when unknown)."""
    training = identity.get("training_versions") or {}
    values = {"model.name": identity["name"], "model.version": identity["version"],
              "model.run_id": identity["run_id"],
              "model.data_fingerprint": identity["data_fingerprint"],
              "model.trained_at": identity["trained_at"],
              "model.spinerisk_version": training.get("spinerisk"),
              "validated_with.spinerisk": identity["validated_with"].get("spinerisk")}
    return {k: "NA" if v is None else str(v) for k, v in values.items()}


def task_spec_for(model, task_config: Path | None) -> TaskSpec:
    """The task to validate: a task config if given, else the model's own (spine) task."""
    if task_config is not None:
        return load_task_spec(task_config)
    task = getattr(model, "task_", None)
    if task is None or task.name not in ("response", "residual_pain", "reoperation"):
        raise ValueError("the model does not carry a spine task; pass --task-config "
                         "configs/tasks/<task>.yaml naming outcome, predictors and horizon.")
    site_columns = [v.name for v in task.variables if getattr(v, "source", "contract") != "pathway"]
    return spine_task_spec(task.name, site_columns)


def read_site_table(data: Path, spec: TaskSpec, mapping: Path | None) -> pd.DataFrame:
    """Read the site's table; spine tables are checked against the data contract."""
    if spec.site_column == "site_id" and spec.name in ("response", "residual_pain", "reoperation"):
        from spinerisk.cohort import load

        return load(data, mapping=mapping, tasks=(spec.name,))
    if mapping is not None:
        raise ValueError("--mapping applies to spine tables only; rename the columns in the "
                         "task config instead.")
    return read_generic_table(data, spec)


def development_from_profile(profile: dict[str, Any] | None) -> DevelopmentReference | None:
    """Development aggregates from a RiskModel's ``training_profile_`` (no rows travel)."""
    if not profile:
        return None
    variables = {}
    for name, entry in profile["variables"].items():
        kind, missing, n = entry["kind"], entry["missing_share"], profile["n"]
        if kind == "category":
            shares = {k: v for k, v in entry["level_shares"].items() if v is not None}
            variables[name] = VariableSummary("category", n, missing, shares=shares)
        elif kind == "binary":
            p = entry["level_shares"].get("1")
            if p is None:
                continue
            p = p / max(1e-12, 1 - missing)  # shares are of all rows; means of observed ones
            variables[name] = VariableSummary("binary", n, missing, mean=p, sd=float(np.sqrt(p * (1 - p))))
        else:
            variables[name] = VariableSummary(kind, n, missing, mean=entry["mean"], sd=entry["sd"])
    lp = profile.get("linear_predictor")
    if lp is None:  # a model trained before the profile held the linear predictor
        return DevelopmentReference(variables, np.nan, np.nan, int(profile["n"]))
    return DevelopmentReference(variables, lp["mean"], lp["sd"], int(profile["n"]), None, lp)


def run_validation(*, model: str, data: Path, site: str, out: Path, mapping: Path | None = None,
                   task_config: Path | None = None, n_boot: int = 200, seed: int = 0,
                   log: bool = True, register_update: bool = False) -> str:
    """Everything ``spinerisk validate`` does; returns a one-paragraph summary."""
    from rich.console import Console

    from spinerisk.models.imputed import describe_missing_data
    from spinerisk.report import write_report

    console = Console(stderr=True)
    with console.status("loading model and site table"):
        fitted = load_model(model)
        spec = task_spec_for(fitted, task_config)
        frame = read_site_table(Path(data), spec, mapping)
    with console.status(f"validating {model} at {site} ({len(frame)} rows)"):
        result = validate_model(fitted, frame, spec, site=site, model_name=model,
                                development=development_from_profile(
                                    getattr(fitted, "training_profile_", None)),
                                n_boot=n_boot, seed=seed)
    with console.status("writing report"):
        report = result.to_dict()
        report["model_identity"] = identify(model)
        report["model_identity"]["missing_data"] = describe_missing_data(fitted)
        paths = write_report(report, out)
    lines = [f"{site}: {report['verdict']['decision']}"] + [f"  - {r}" for r in report["verdict"]["reasons"]]
    lines.append("wrote " + ", ".join(str(p) for p in paths.values()))
    if log:
        lines.append(_log(model, site, spec, result, paths, report["model_identity"]))
    if register_update:
        lines.append(_register(model, fitted, frame, spec, site, result))
    return "\n".join(lines)


def experiment_of(model: str, spec: TaskSpec) -> str:
    """The model's MLflow experiment: its registered name (``spinerisk-<task>``)."""
    if model.startswith("models:/"):
        return model.removeprefix("models:/").split("@")[0].split("/")[0]
    return f"spinerisk-{spec.name}"


def _log(model: str, site: str, spec: TaskSpec, result: ValidationResult,
         paths: dict[str, Path], identity: dict[str, Any]) -> str:
    from spinerisk import tracking

    with tracking.experiment_run(experiment_of(model, spec), f"validate-{site}") as run:
        run.set_tags({"site": site, "model_uri": model, "spinerisk.kind": "external-validation",
                      "verdict": result.verdict.decision,
                      "verdict_provisional": result.verdict.provisional,
                      "recommended_update": result.verdict.recommended_update,
                      **identity_tags(identity)})
        run.log_metrics(result.headline())
        for path in paths.values():
            run.log_artifact(path, f"validation/{site}")
        return f"logged to MLflow run {run.run_id} (aggregates and report only)"


def _register(model: str, fitted, frame: pd.DataFrame, spec: TaskSpec, site: str,
              result: ValidationResult) -> str:
    from spinerisk import tracking
    from spinerisk.validation.updating import SiteUpdatedModel

    method = result.verdict.recommended_update
    if method == "original":
        return "no update registered: the original model is recommended"
    rows = frame.loc[eligible_rows(frame, spec).keep]
    y = (rows[spec.outcome].astype(float).to_numpy() if not spec.survival else
         pd.DataFrame({"time": rows[spec.time].astype(float),
                       "event": rows[spec.outcome].astype(float)}))
    updated = SiteUpdatedModel(fitted, spec, method, site).fit(rows, y)
    info = tracking.register_site_version(
        updated, spec.name, site, metrics=result.headline(),
        params={"update_method": method, "base_model": model})
    return f"registered the {method} update as {info['alias_uri']} (version {info['version']})"
