"""Out-of-distribution check for one patient against the model's training profile.

The training profile holds aggregates only (quantiles, level shares, missing shares), so
the check is per variable and names the variables responsible:

* a number beyond the training tail, extrapolated one tail-width past the 1st/99th
  percentile (``q99 + (q99 - q95)``; about 3 SD for a normal variable, so roughly 0.1%
  of training patients per side would trip it);
* a category level (or flag value) never seen in training, or seen fewer than 10 times
  (the profile suppresses small cells, and a learner has little to go on there);
* (listed apart, as ``never_missing``) a missing value where every training patient had
  one recorded: the learner has never seen it missing, so its handling is untested there.
  These do not raise the warning -- a clinician often leaves fields empty -- but they are
  shown.

A model still returns a number in these cases; the warning says the number rests on
extrapolation. Joint (multivariate) outliers are not detected by this per-variable check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spinerisk.explain.jsonable import plain
from spinerisk.explain.wording import describe


@dataclass(frozen=True)
class Flag:
    """One variable outside the training support."""

    variable: str
    value: Any
    reason: str


@dataclass(frozen=True)
class SupportCheck:
    """Result of the out-of-distribution check.

    Parameters
    ----------
    warning : bool
        True when any value lies outside the training support.
    variables : tuple of Flag
        The values responsible.
    never_missing : tuple of str
        Variables missing here that were recorded for every training patient.
    """

    warning: bool
    variables: tuple[Flag, ...]
    never_missing: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return plain(self)


def check_support(record: Mapping[str, Any], profile: Mapping[str, Any]) -> SupportCheck:
    """Compare one patient's values with the training profile.

    Parameters
    ----------
    record : mapping
        The patient's model variables (contract fields plus pathway features).
    profile : mapping
        ``RiskModel.training_profile_``.
    """
    flags, never_missing = [], []
    for name, entry in profile["variables"].items():
        value = record.get(name)
        if value is None:
            if entry["missing_share"] == 0:
                never_missing.append(name)
            continue
        reason = _reason(name, value, entry)
        if reason:
            flags.append(Flag(name, value, reason))
    return SupportCheck(bool(flags), tuple(flags), tuple(never_missing))


def _reason(name: str, value: Any, entry: Mapping[str, Any]) -> str | None:
    if "level_shares" in entry:
        share = entry["level_shares"].get(str(value), 0.0)
        if share == 0.0:
            return f"{describe(name, value)}: never seen in the training data"
        if share is None:
            return f"{describe(name, value)}: seen in fewer than 10 training patients"
        return None
    q = entry["quantiles"]
    low, high = q["0.01"] - (q["0.05"] - q["0.01"]), q["0.99"] + (q["0.99"] - q["0.95"])
    if float(value) > high:
        return (f"{describe(name, value)} is above the training range (99th percentile "
                f"{q['0.99']:g})")
    if float(value) < low:
        return (f"{describe(name, value)} is below the training range (1st percentile "
                f"{q['0.01']:g})")
    return None
