"""Resolve a registry model URI to its name, version and alias (for serving logs), and
to the identity a validation report names (:func:`model_identity`).

Kept apart from :mod:`spinerisk.tracking.store` (written by the serving work; candidate
to fold into ``store``): the API logs and reports which registry version it serves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from spinerisk.tracking.store import configure


def resolve_model_uri(uri: str, tracking: str | None = None) -> tuple[str, str, str | None]:
    """``models:/<name>@<alias>`` or ``models:/<name>/<version>`` -> (name, version, alias).

    Raises
    ------
    LookupError
        When the registry has no such model, alias or version (the message says which).
    ValueError
        When ``uri`` is not a registry URI.
    """
    if not uri.startswith("models:/"):
        raise ValueError(f"model URI {uri!r}: expected models:/<name>@<alias> or "
                         "models:/<name>/<version>")
    configure(tracking)
    path = uri.removeprefix("models:/")
    client = MlflowClient()
    try:
        if "@" in path:
            name, alias = path.split("@", 1)
            return name, str(client.get_model_version_by_alias(name, alias).version), alias
        name, version = path.rsplit("/", 1)
        return name, str(client.get_model_version(name, version).version), None
    except MlflowException as err:
        raise LookupError(f"model {uri!r} is not in the registry at the tracking store: "
                          f"{err.message}") from err


def model_identity(uri: str, tracking: str | None = None) -> dict[str, Any]:
    """Which model a registry URI names: what a validation report must identify.

    Returns
    -------
    dict
        ``uri``, ``name``, ``version``, ``alias``, ``run_id`` (the training run),
        ``data_fingerprint`` (SHA-256 of the training data, from the version's tag or the
        run's ``data.fingerprint_sha256`` param), ``trained_at`` (the training run's
        start, UTC), ``training_versions`` (package versions logged with that run) and
        ``missing`` (why any of them is None).

    Raises
    ------
    LookupError, ValueError
        As :func:`resolve_model_uri`.
    """
    name, version, alias = resolve_model_uri(uri, tracking)
    client = MlflowClient()
    model_version = client.get_model_version(name, version)
    run = client.get_run(model_version.run_id) if model_version.run_id else None
    params = run.data.params if run is not None else {}
    out: dict[str, Any] = {
        "uri": uri, "name": name, "version": version, "alias": alias,
        "run_id": model_version.run_id or None,
        "data_fingerprint": (params.get("data.fingerprint_sha256")
                             or model_version.tags.get("data_fingerprint")),
        "trained_at": None if run is None else datetime.fromtimestamp(
            run.info.start_time / 1000, tz=UTC).isoformat(timespec="seconds"),
        "training_versions": {k.removeprefix("versions."): v for k, v in params.items()
                              if k.startswith("versions.")} or None}
    out["missing"] = {k: "not recorded with the registered version or its training run"
                      for k, v in out.items() if v is None and k != "alias"}
    return out
