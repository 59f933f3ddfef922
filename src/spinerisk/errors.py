"""The errors a user can fix, one small hierarchy.

Library code raises these and never prints; the command line catches
:class:`SpineriskError` in one place (``spinerisk.cli``), prints the message and exits
with code 2. Anything else that escapes is a bug: the command line writes its traceback
to a file and prints one line saying where.

Every message names the file, field or value at fault, what was allowed and the fix, so
that the person reading it can act without a traceback. Each class also derives from the
built-in exception that callers caught before it existed (``ValueError``,
``LookupError``, ``OSError``), so existing ``except`` clauses keep working.
"""

from __future__ import annotations


class SpineriskError(Exception):
    """An expected failure: bad input, configuration or environment the user can fix.

    Parameters
    ----------
    message : str
        What is wrong, naming the file, field or value.
    allowed : str, optional
        What would have been accepted.
    fix : str, optional
        What the user should do.
    """

    def __init__(self, message: str, *, allowed: str = "", fix: str = ""):
        self.detail = message
        self.allowed = allowed
        self.fix = fix
        parts = [message] + [f"{label}: {text}" for label, text in
                             (("allowed", allowed), ("fix", fix)) if text]
        super().__init__("; ".join(parts))


class InputFileError(SpineriskError, OSError):
    """A file that cannot be read as asked: absent, empty, unknown format or encoding."""


class ContractError(SpineriskError, ValueError):
    """Data that break the patient data contract or a table's expected columns."""


class ConfigError(SpineriskError, ValueError):
    """A config or mapping file that cannot be used (unknown key, invalid YAML or value)."""


class ModelLookupError(SpineriskError, LookupError):
    """A model reference (URI, alias, file) that names no model in the store searched."""


class TrackingStoreError(SpineriskError, OSError):
    """A tracking store that cannot be reached, opened or written."""


class ClusterError(SpineriskError, OSError):
    """A Dask scheduler that cannot be reached (``--cluster tcp://...``)."""


class UsageError(SpineriskError, ValueError):
    """An argument value a command or function does not accept."""


__all__ = ["ClusterError", "ConfigError", "ContractError", "InputFileError", "ModelLookupError",
           "SpineriskError", "TrackingStoreError", "UsageError"]
