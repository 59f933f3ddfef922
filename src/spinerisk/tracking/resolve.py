"""Resolve a registry model URI to its name, version and alias (for serving logs).

Kept apart from :mod:`spinerisk.tracking.store` (written by the serving work; candidate
to fold into ``store``): the API logs and reports which registry version it serves.
"""

from __future__ import annotations

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
