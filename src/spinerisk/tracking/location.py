"""Where the tracking store is: one documented place, never the folder a user stands in.

Resolution order (the first that applies wins, and the reason is reported with it):

1. an explicit URI (``--tracking-uri`` or a function argument);
2. the environment variable ``SPINERISK_TRACKING_URI``;
3. the project's store ``<project root>/mlruns/mlflow.db``, where the project root is the
   source checkout that the running ``spinerisk`` package was installed from (the folder
   holding its ``pyproject.toml``), whatever the current folder is;
4. for an installation without a checkout (a wheel), ``$XDG_DATA_HOME/spinerisk/mlruns``
   (default ``~/.local/share/spinerisk/mlruns``).

The Optuna study storage lives beside it (``optuna.db`` in the same folder). This module
imports no mlflow, so a command can report the store before loading anything heavy.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spinerisk.errors import ModelLookupError

ENV_VAR = "SPINERISK_TRACKING_URI"
STORE_FILE = "mlflow.db"
STUDY_FILE = "optuna.db"




@dataclass(frozen=True)
class StoreLocation:
    """A resolved tracking store.

    Parameters
    ----------
    uri : str
        The MLflow tracking and registry URI.
    source : str
        Why this store: ``--tracking-uri``, ``$SPINERISK_TRACKING_URI``, ``project checkout
        <root>`` or ``user data folder``.
    """

    uri: str
    source: str

    @property
    def sqlite_path(self) -> Path | None:
        """The sqlite file behind the URI (None for a server or another database)."""
        if self.uri.startswith("sqlite:///"):
            return Path(self.uri.removeprefix("sqlite:///"))
        return None

    def exists(self) -> bool:
        """False only for a sqlite store whose file is not there (servers are assumed up)."""
        path = self.sqlite_path
        return path is None or path.is_file()

    def require(self) -> None:
        """Raise :class:`ModelLookupError` when the store is not there (readers)."""
        if not self.exists():
            raise ModelLookupError(
                f"{self.describe()} does not exist, so no model is registered there",
                fix="train one (`make demo` or `spinerisk train --config ... --promote`), or "
                    "point --tracking-uri or $SPINERISK_TRACKING_URI at the store that holds "
                    "your models")

    def describe(self) -> str:
        """One line for a person: the URI and why it was chosen."""
        return f"tracking store: {self.uri} (from {self.source})"


def format_registry(contents: Mapping[str, Mapping[str, Any]]) -> str:
    """Registered models (name -> ``versions``, ``aliases``) in one line for a message."""
    if not contents:
        return "no registered models"
    lines = []
    for name, entry in sorted(contents.items()):
        aliases = ", ".join(f"{name}@{a} -> version {v}" for a, v in entry["aliases"].items())
        lines.append(f"{name} (versions {', '.join(map(str, entry['versions']))}"
                     + (f"; {aliases}" if aliases else "; no alias") + ")")
    return "; ".join(lines)


def not_found(uris: Iterable[str], location: StoreLocation,
              contents: Mapping[str, Mapping[str, Any]]) -> ModelLookupError:
    """The error for model URIs that ``location`` does not resolve: the store searched,
    what it holds and the fix."""
    return ModelLookupError(
        f"{', '.join(uris)}: not found in the {location.describe()}",
        allowed=f"what is registered there: {format_registry(contents)}",
        fix="pass one of these as --model (models:/<name>@<alias> or "
            "models:/<name>/<version>), train and promote one (spinerisk train --config ... "
            "--promote), or point --tracking-uri or $SPINERISK_TRACKING_URI at the store "
            "that holds it")


def project_root() -> Path | None:
    """The source checkout the running package was installed from, if any.

    ``src/spinerisk/tracking/location.py`` -> the folder three levels above ``spinerisk``
    when it holds a ``pyproject.toml`` naming the project ``spinerisk`` (an editable
    install, as ``uv sync`` makes); None for an installed wheel.
    """
    root = Path(__file__).resolve().parents[3]
    pyproject = root / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return None
    return root if 'name = "spinerisk"' in text else None


def store_folder() -> tuple[Path, str]:
    """The default store's folder and the reason (project checkout or user data folder)."""
    root = project_root()
    if root is not None:
        return root / "mlruns", f"project checkout {root}"
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "spinerisk" / "mlruns", "user data folder"


def resolve_store(uri: str | None = None) -> StoreLocation:
    """The tracking store to use (see the module docstring for the order)."""
    if uri:
        return StoreLocation(uri, "--tracking-uri")
    if os.environ.get(ENV_VAR):
        return StoreLocation(os.environ[ENV_VAR], f"${ENV_VAR}")
    folder, source = store_folder()
    return StoreLocation(f"sqlite:///{folder / STORE_FILE}", source)


def default_study_storage() -> str:
    """Optuna storage beside the tracking store: ``sqlite:///<store folder>/optuna.db``.

    With ``$SPINERISK_TRACKING_URI`` naming a sqlite file, the studies go beside that file;
    otherwise in the default store folder.
    """
    path = resolve_store().sqlite_path
    folder = path.parent if path is not None else store_folder()[0]
    return f"sqlite:///{folder / STUDY_FILE}"
