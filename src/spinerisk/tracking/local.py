"""Registered models read straight from a local sqlite store, without importing mlflow.

Importing mlflow and loading through ``mlflow.pyfunc`` costs seconds (about half of a
one-patient ``spinerisk predict``). For the common case, a sqlite store whose artifacts are
local files and a model logged with spinerisk's flavour (:mod:`spinerisk.tracking.flavor`),
the alias or version is looked up in the store's registry tables (read-only) and the
pickled model read from its folder. Anything else (a server, remote artifacts, a model
logged before the flavour, a registry schema this reader does not know) returns None,
and the caller goes through mlflow.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml

from spinerisk.models import RiskModel
from spinerisk.tracking import flavor
from spinerisk.tracking.location import StoreLocation, not_found, resolve_store


@dataclass(frozen=True)
class Registered:
    """A registered model version and its fitted model."""

    model: RiskModel
    name: str
    version: str
    alias: str | None


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``models:/<name>@<alias>`` or ``models:/<name>/<version>`` -> (name, alias, version).

    Raises
    ------
    ValueError
        When ``uri`` is not a registry URI.
    """
    if not uri.startswith("models:/"):
        raise ValueError(f"model URI {uri!r}: expected models:/<name>@<alias> or "
                         "models:/<name>/<version>")
    path = uri.removeprefix("models:/")
    if "@" in path:
        name, alias = path.split("@", 1)
        return name, alias, None
    name, _, version = path.rpartition("/")
    return name, None, version


def load_local(uri: str, location: StoreLocation) -> Registered | None:
    """The model behind ``uri`` read without mlflow, or None when that is not possible
    (see the module docstring).

    Raises
    ------
    ModelLookupError
        When the store's registry tables were read and hold no such alias or version
        (the message lists what they hold).
    """
    db = location.sqlite_path
    if db is None or not db.is_file():
        return None
    name, alias, version = parse_model_uri(uri)
    try:
        # read-only: a look-up never creates or migrates a store
        with closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro",
                                     uri=True)) as connection:
            if alias is not None:
                row = connection.execute(
                    "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                    (name, alias)).fetchone()
                version = None if row is None else str(row[0])
            row = connection.execute(
                "SELECT storage_location FROM model_versions WHERE name = ? AND version = ? "
                "AND status = 'READY'", (name, version)).fetchone()
            if row is None:
                raise not_found([uri], location, _contents(connection))
    except (sqlite3.Error, ValueError):
        return None
    folder = _local_folder(row[0])
    data = _flavour_data(folder) if folder is not None else None
    if data is None:
        return None
    return Registered(flavor.load_data(data), name, str(version), alias)


def _contents(connection: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """Registered models, versions and aliases from the registry tables."""
    out: dict[str, dict[str, Any]] = {}
    for (name,) in connection.execute("SELECT name FROM registered_models"):
        out[name] = {"versions": [], "aliases": {}}
    for name, version in connection.execute(
            "SELECT name, version FROM model_versions ORDER BY name, version"):
        out.setdefault(name, {"versions": [], "aliases": {}})["versions"].append(int(version))
    for name, alias, version in connection.execute(
            "SELECT name, alias, version FROM registered_model_aliases ORDER BY alias"):
        out.setdefault(name, {"versions": [], "aliases": {}})["aliases"][alias] = str(version)
    return out


def load_registered(uri: str, tracking: str | None = None) -> Registered:
    """The model behind a registry URI: read directly where possible, else via mlflow.

    Raises
    ------
    ModelLookupError
        When the store is not there or does not resolve ``uri`` (the message names the
        store and lists its registered models and aliases).
    """
    location = resolve_store(tracking)
    location.require()
    found = load_local(uri, location)
    if found is not None:
        return found
    from spinerisk.tracking.resolve import resolve_model_uri
    from spinerisk.tracking.store import load_risk_model

    name, version, alias = resolve_model_uri(uri, tracking)
    return Registered(load_risk_model(uri, tracking), name, version, alias)


def _local_folder(storage: str | None) -> Path | None:
    """A ``file://`` (or plain path) artifact location as a local folder, else None."""
    if not storage:
        return None
    parsed = urlparse(storage)
    if parsed.scheme not in ("", "file"):
        return None
    folder = Path(unquote(parsed.path))
    return folder if folder.is_dir() else None


def _flavour_data(folder: Path) -> Path | None:
    """The pickled model of a folder logged with spinerisk's ``loader_module`` flavour."""
    try:
        meta = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    pyfunc = (meta or {}).get("flavors", {}).get("python_function", {})
    if pyfunc.get("loader_module") != flavor.__name__ or not pyfunc.get("data"):
        return None
    data = folder / pyfunc["data"]
    return data if data.is_file() else None
