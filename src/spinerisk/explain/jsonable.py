"""Dataclass results as JSON-ready dicts and lists."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

_ATOMS = frozenset({str, int, float, bool, type(None)})
#: field names of each dataclass met so far (looked up once per class, not per value)
_FIELDS: dict[type, tuple[str, ...]] = {}


def plain(value: Any) -> Any:
    """A (nested) dataclass as JSON-ready dicts and lists.

    Same result as ``dataclasses.asdict`` with tuples as lists, without asdict's deep
    copies (which cost several milliseconds per patient on the pathway result).
    """
    kind = type(value)
    if kind in _ATOMS:  # most leaves: skip the dataclass and container checks
        return value
    names = _FIELDS.get(kind)
    if names is None and is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[kind] = tuple(f.name for f in fields(value))
    # leaves are answered inline (no call): most of a result's values are atoms
    if names is not None:
        out = {}
        for name in names:
            v = getattr(value, name)
            out[name] = v if type(v) in _ATOMS else plain(v)
        return out
    if kind is list or kind is tuple or isinstance(value, (list, tuple)):
        return [v if type(v) in _ATOMS else plain(v) for v in value]
    if isinstance(value, dict):
        return {k: v if type(v) in _ATOMS else plain(v) for k, v in value.items()}
    return value
