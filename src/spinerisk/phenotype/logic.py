"""Three-valued evaluation of rule conditions over contract fields.

One evaluator serves both paths: a single patient is a table of one row, so the
per-patient result and the vectorised cohort features come from the same numpy
operations and cannot disagree.

A condition is *true*, *false* or *not assessable* (Kleene logic): a comparison on a
missing finding is not assessable, ``all`` is false as soon as one part is false,
``any`` is true as soon as one part is true. Only a true condition fires; a missing
finding is never guessed.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

import numpy as np
import pandas as pd

from spinerisk.schema import FIELD_BY_NAME, Field

#: Comparison operators allowed in rule conditions, per field kind.
NUMERIC_OPS = ("eq", "in", "ge", "gt", "le", "lt")
CATEGORY_OPS = ("eq", "in")


@dataclass(frozen=True)
class Truth:
    """Three-valued truth of a condition for each row.

    Attributes
    ----------
    true : ndarray of bool
        The condition holds (implies ``known``).
    known : ndarray of bool
        The condition could be assessed from the recorded findings.
    """

    true: np.ndarray
    known: np.ndarray

    @property
    def false(self) -> np.ndarray:
        """Rows where the condition was assessed and does not hold."""
        return self.known & ~self.true

    @property
    def unknown(self) -> np.ndarray:
        """Rows where a missing finding prevented the assessment."""
        return ~self.known

    def row(self, i: int) -> Truth:
        """Row ``i`` alone."""
        return Truth(self.true[i:i + 1], self.known[i:i + 1])


class Observations:
    """Contract fields of one or many patients as numpy columns.

    Category fields are integer codes into the contract's levels (-1 when missing);
    all other fields are float arrays (NaN when missing). Fields absent from the input
    are entirely missing: the engine reports them as not assessed and never guesses.
    """

    def __init__(self, columns: Mapping[str, np.ndarray], n: int):
        self._columns = dict(columns)
        self.n = n
        # per field, computed once: missing and known masks, numbers with missing as 0
        self._missing: dict[str, np.ndarray] = {}
        self._known: dict[str, np.ndarray] = {}
        self._filled: dict[str, np.ndarray] = {}

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, fields: Iterable[str]) -> Observations:
        """Read ``fields`` from a cohort table (canonical dtypes or plain values)."""
        return cls({name: _frame_column(FIELD_BY_NAME[name], frame)
                    for name in fields}, len(frame))

    @classmethod
    def from_record(cls, record: Mapping[str, Any], fields: Iterable[str]) -> Observations:
        """Read ``fields`` from one validated record (absent keys are missing)."""
        return cls.from_records([record], fields)

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any]],
                     fields: Iterable[str]) -> Observations:
        """Read ``fields`` from validated records, one row each (absent keys are missing)."""
        return cls({name: _record_column(FIELD_BY_NAME[name], [r.get(name) for r in records])
                    for name in fields}, len(records))

    def row(self, i: int) -> Observations:
        """Row ``i`` alone, as a one-row table."""
        return Observations({k: v[i:i + 1] for k, v in self._columns.items()}, 1)

    def values(self, name: str) -> np.ndarray:
        """Codes (category) or floats (other kinds) of one field."""
        return self._columns[name]

    def missing(self, name: str) -> np.ndarray:
        """Rows where the field is missing."""
        found = self._missing.get(name)
        if found is None:
            column = self._columns[name]
            found = self._missing[name] = (column < 0 if column.dtype.kind == "i"
                                           else np.isnan(column))
        return found

    def known(self, name: str) -> np.ndarray:
        """Rows where the field is recorded."""
        found = self._known.get(name)
        if found is None:
            found = self._known[name] = ~self.missing(name)
        return found

    def filled(self, name: str) -> np.ndarray:
        """A number field with its missing values as 0 (compared without NaN, so no
        floating-point warning state is switched; the rows are discarded as unknown)."""
        found = self._filled.get(name)
        if found is None:
            found = self._filled[name] = np.where(self.missing(name), 0.0,
                                                  self._columns[name])
        return found


def _frame_column(spec: Field, frame: pd.DataFrame) -> np.ndarray:
    if spec.name not in frame.columns:
        return _empty_column(spec, len(frame))
    series = frame[spec.name]
    if spec.kind != "category":
        try:
            return pd.to_numeric(series).to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{spec.name}: values are not numbers ({error}); allowed: "
                             f"{spec.allowed()}; fix: validate the table with "
                             "spinerisk.schema.validate first") from None
    codes = pd.Categorical(series, categories=list(spec.levels)).codes.astype(np.int64)
    unknown = (codes < 0) & series.notna().to_numpy()
    if unknown.any():
        shown = ", ".join(repr(v) for v in pd.unique(series[unknown])[:5])
        raise ValueError(f"{spec.name}: unknown levels {shown} in {int(unknown.sum())} rows; "
                         f"allowed: {spec.allowed()}; fix: recode the levels or validate the "
                         "table with spinerisk.schema.validate first")
    return codes


def _record_column(spec: Field, values: Sequence[Any]) -> np.ndarray:
    if spec.kind == "category":
        return np.array([-1 if v is None else spec.levels.index(v) for v in values],
                        dtype=np.int64)
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def _empty_column(spec: Field, n: int) -> np.ndarray:
    if spec.kind == "category":
        return np.full(n, -1, dtype=np.int64)
    return np.full(n, np.nan)


# --------------------------------------------------------------------------- conditions

class Condition:
    """A node of a rule condition."""

    def evaluate(self, obs: Observations, results: Mapping[str, Truth]) -> Truth:
        """Truth of the condition for every row, given earlier rule results."""
        raise NotImplementedError

    def fields(self) -> set[str]:
        """Contract fields read directly by this condition."""
        return set()

    def refs(self) -> set[str]:
        """Rule ids this condition reads."""
        return set()

    def needs(self) -> set[str]:
        """Rule ids whose missing findings can leave this condition unassessed."""
        return self.refs()

    def blocking_fields(self, obs: Observations, results: Mapping[str, Truth],
                        rules: Mapping[str, Condition]) -> set[str]:
        """Missing fields on the paths that leave the (first) row unassessed.

        A part that is decided (true or false) contributes nothing, so a missing finding
        that did not matter is not reported.
        """
        if self.evaluate(obs, results).known[0]:
            return set()
        return self._blocking(obs, results, rules)

    def _blocking(self, obs: Observations, results: Mapping[str, Truth],
                  rules: Mapping[str, Condition]) -> set[str]:
        return set()


@dataclass(frozen=True)
class Compare(Condition):
    """``{field: NAME, OP: VALUE}``: a comparison on one contract field."""

    field: str
    op: str
    value: Any

    def __post_init__(self) -> None:
        # Category comparisons become a lookup table indexed by level code; the extra
        # last entry (code -1, missing) is False.
        levels = FIELD_BY_NAME[self.field].levels
        object.__setattr__(self, "_category", FIELD_BY_NAME[self.field].kind == "category")
        if levels is not None:
            table = np.zeros(len(levels) + 1, dtype=bool)
            table[[levels.index(v) for v in _as_list(self.value)]] = True
            object.__setattr__(self, "_level_table", table)

    def evaluate(self, obs: Observations, results: Mapping[str, Truth]) -> Truth:
        known = obs.known(self.field)
        if self._category:  # the missing code (-1) reads the table's last entry: False
            return Truth(self._level_table[obs.values(self.field)], known)
        if self.op == "in":
            hit = np.isin(obs.values(self.field), _as_list(self.value))
        else:
            hit = _COMPARE[self.op](obs.filled(self.field), self.value)
        return Truth(hit & known, known)

    def fields(self) -> set[str]:
        return {self.field}

    def _blocking(self, obs, results, rules) -> set[str]:
        return {self.field}


_COMPARE = {"eq": np.equal, "ge": np.greater_equal, "gt": np.greater,
            "le": np.less_equal, "lt": np.less}


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


@dataclass(frozen=True)
class _Junction(Condition):
    parts: tuple[Condition, ...]

    def fields(self) -> set[str]:
        return set().union(*(p.fields() for p in self.parts))

    def refs(self) -> set[str]:
        return set().union(*(p.refs() for p in self.parts))

    def needs(self) -> set[str]:
        return set().union(*(p.needs() for p in self.parts))

    def _blocking(self, obs, results, rules) -> set[str]:
        return set().union(*(p.blocking_fields(obs, results, rules) for p in self.parts))


@dataclass(frozen=True)
class All(_Junction):
    """``{all: [...]}``: false if any part is false, true if all are true."""

    def evaluate(self, obs: Observations, results: Mapping[str, Truth]) -> Truth:
        truths = [p.evaluate(obs, results) for p in self.parts]
        true = reduce(operator.and_, [t.true for t in truths])
        any_false = reduce(operator.or_, [t.false for t in truths])
        return Truth(true, true | any_false)


@dataclass(frozen=True)
class AnyOf(_Junction):
    """``{any: [...]}``: true if any part is true, false if all are false."""

    def evaluate(self, obs: Observations, results: Mapping[str, Truth]) -> Truth:
        truths = [p.evaluate(obs, results) for p in self.parts]
        true = reduce(operator.or_, [t.true for t in truths])
        all_false = reduce(operator.and_, [t.false for t in truths])
        return Truth(true, true | all_false)


@dataclass(frozen=True)
class Not(Condition):
    """``{not: {...}}``: negation; a condition that cannot be assessed stays unassessed."""

    part: Condition

    def evaluate(self, obs: Observations, results: Mapping[str, Truth]) -> Truth:
        truth = self.part.evaluate(obs, results)
        return Truth(truth.false, truth.known)

    def fields(self) -> set[str]:
        return self.part.fields()

    def refs(self) -> set[str]:
        return self.part.refs()

    def needs(self) -> set[str]:
        return self.part.needs()

    def _blocking(self, obs, results, rules) -> set[str]:
        return self.part.blocking_fields(obs, results, rules)


@dataclass(frozen=True)
class Fires(Condition):
    """``{fires: {...}}``: true where the part holds, false elsewhere, including where it
    cannot be assessed. Used for red flags: they override degenerative care only when
    present, while red flags that could not be assessed are reported, not assumed."""

    part: Condition

    def evaluate(self, obs: Observations, results: Mapping[str, Truth]) -> Truth:
        truth = self.part.evaluate(obs, results)
        return Truth(truth.true, np.ones_like(truth.known))

    def fields(self) -> set[str]:
        return set()

    def refs(self) -> set[str]:
        return self.part.refs()

    def needs(self) -> set[str]:
        return set()


@dataclass(frozen=True)
class Ref(Condition):
    """``{rule: ID}``: the result of a rule evaluated earlier."""

    rule_id: str

    def evaluate(self, obs: Observations, results: Mapping[str, Truth]) -> Truth:
        return results[self.rule_id]

    def refs(self) -> set[str]:
        return {self.rule_id}

    def _blocking(self, obs, results, rules) -> set[str]:
        return rules[self.rule_id].blocking_fields(obs, results, rules)


def parse_condition(raw: Any, where: str) -> Condition:
    """Build a condition tree from its YAML form, checking fields, operators and levels.

    Parameters
    ----------
    raw : dict
        The YAML mapping (see the header of ``rules.yaml`` for the grammar).
    where : str
        The rule id, named in error messages.
    """
    if not isinstance(raw, dict) or len(raw) == 0:
        raise ValueError(f"rule {where}: a condition must be a non-empty mapping, got {raw!r}")
    if "field" in raw:
        return _parse_compare(raw, where)
    if len(raw) != 1:
        raise ValueError(f"rule {where}: combine conditions with all/any, got keys {sorted(raw)}")
    (key, value), = raw.items()
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            raise ValueError(f"rule {where}: '{key}' needs a non-empty list of conditions")
        parts = tuple(parse_condition(v, where) for v in value)
        return All(parts) if key == "all" else AnyOf(parts)
    if key == "not":
        return Not(parse_condition(value, where))
    if key == "fires":
        return Fires(parse_condition(value, where))
    if key == "rule":
        return Ref(str(value))
    raise ValueError(f"rule {where}: unknown condition key '{key}'; allowed: field, all, any, "
                     "not, fires, rule")


def _parse_compare(raw: dict, where: str) -> Compare:
    name = raw["field"]
    spec = FIELD_BY_NAME.get(name)
    if spec is None:
        raise ValueError(f"rule {where}: unknown field '{name}'; use a field of "
                         "spinerisk.schema.FIELDS")
    ops = [k for k in raw if k != "field"]
    allowed = CATEGORY_OPS if spec.kind == "category" else NUMERIC_OPS
    if len(ops) != 1 or ops[0] not in allowed:
        raise ValueError(f"rule {where}: field '{name}' needs exactly one operator of "
                         f"{', '.join(allowed)}; got {ops}")
    op, value = ops[0], raw[ops[0]]
    if op == "in" and not isinstance(value, list):
        raise ValueError(f"rule {where}: '{name} in' needs a list of values, got {value!r}")
    for v in _as_list(value):
        _check_value(spec, v, where)
    return Compare(name, op, tuple(value) if op == "in" else value)


def _check_value(spec: Field, value: Any, where: str) -> None:
    if spec.kind == "category":
        ok = value in spec.levels
    else:
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and spec.low <= value <= spec.high) if spec.low is not None else value in (0, 1)
    if not ok:
        raise ValueError(f"rule {where}: value {value!r} is not allowed for '{spec.name}'; "
                         f"allowed: {spec.allowed()}")
