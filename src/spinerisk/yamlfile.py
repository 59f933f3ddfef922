"""Reading a YAML file a person wrote, with errors that name the file and the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spinerisk.errors import ConfigError


def read_yaml_mapping(path: str | Path, what: str = "config") -> dict[str, Any]:
    """The top-level mapping of a YAML file (an empty file gives ``{}``).

    Parameters
    ----------
    path : path
        The file.
    what : str
        What the file is, for messages ("config", "mapping file", "task config").

    Raises
    ------
    ConfigError
        When the file is absent, is not valid YAML (naming the line and column), or its
        top level is not a mapping of keys to values.
    """
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"{what} {path}: no such file", fix="check the path") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path}: not UTF-8 text", fix="save the file as UTF-8") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{what} {path}: invalid YAML{where} ({problem})",
                          fix="check indentation (spaces, not tabs) and brackets there") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{what} {path}: the top level is a {type(raw).__name__}, not a "
                          "mapping of keys to values", fix="start the file with 'key: value' lines")
    return raw
