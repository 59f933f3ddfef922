"""Registry look-ups: a model URI to its name, version and alias, or an error that says
which store was searched and what it holds; and the identity a validation report names
(:func:`model_identity`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from spinerisk.tracking.local import parse_model_uri
from spinerisk.tracking.location import (
    ModelLookupError,
    format_registry,
    not_found,
    resolve_store,
)
from spinerisk.tracking.store import open_store


def resolve_model_uri(uri: str, tracking: str | None = None) -> tuple[str, str, str | None]:
    """``models:/<name>@<alias>`` or ``models:/<name>/<version>`` -> (name, version, alias).

    Raises
    ------
    ModelLookupError
        When the store does not exist or has no such model, alias or version; the message
        names the store and lists the registered models and their aliases.
    ValueError
        When ``uri`` is not a registry URI.
    """
    name, alias, version = parse_model_uri(uri)
    open_store(tracking)
    client = MlflowClient()
    try:
        if alias is not None:
            return name, str(client.get_model_version_by_alias(name, alias).version), alias
        return name, str(client.get_model_version(name, version).version), None
    except (MlflowException, ValueError) as err:
        raise not_registered([uri], tracking) from err


def registry_contents(tracking: str | None = None) -> dict[str, dict[str, object]]:
    """Registered models in the store: name -> {"versions": [...], "aliases": {alias: v}}."""
    open_store(tracking)
    client = MlflowClient()
    out: dict[str, dict[str, object]] = {}
    for model in client.search_registered_models():
        versions = sorted(int(v.version) for v in
                          client.search_model_versions(f"name = '{model.name}'"))
        out[model.name] = {"versions": versions,
                           "aliases": {a: str(v) for a, v in sorted(model.aliases.items())}}
    return out


def describe_registry(tracking: str | None = None) -> str:
    """The store's models, versions and aliases in one line (for messages)."""
    return format_registry(registry_contents(tracking))


def not_registered(uris: Iterable[str], tracking: str | None = None) -> ModelLookupError:
    """The error for model URIs that the store does not resolve."""
    return not_found(uris, resolve_store(tracking), registry_contents(tracking))


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
