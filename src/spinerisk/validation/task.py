"""What is validated: the task (outcome, predictors, horizon) and the site rows that enter.

A :class:`TaskSpec` names the outcome (binary, or time + event with a horizon), the
predictors with their kinds, the identifier columns (never reported), the subgroups and
the clinically reasonable threshold range for decision curves. Spine tasks come from the
data contract (:func:`spine_task_spec`); any other table declares its task in a YAML file
under ``configs/tasks/`` (:func:`load_task_spec`), so the same validation runs on, e.g.,
the heart-disease data.

:func:`eligible_rows` applies the task's eligibility and counts every excluded row by
reason; nothing is dropped silently.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from spinerisk.errors import ConfigError, ContractError

Kind = Literal["numeric", "category", "binary"]


@dataclass(frozen=True)
class Subgroup:
    """A subgroup variable: a category column, or a numeric column cut into bands.

    ``bands`` are the inner cut points (e.g. ``(50, 65)`` gives ``<50``, ``50-64``, ``>=65``).
    """

    column: str
    label: str = ""
    bands: tuple[float, ...] = ()

    def assign(self, frame: pd.DataFrame) -> pd.Series:
        """Subgroup level of every row, as an ordered categorical.

        Bands are ordered low to high; missing values form the last level ``"missing"``.
        """
        values = frame[self.column]
        if not self.bands:
            levels = _as_level(values)
            return pd.Series(pd.Categorical(levels, categories=sorted(set(levels))),
                             index=frame.index)
        x = pd.to_numeric(values, errors="coerce").to_numpy(float)
        edges = list(self.bands)
        names = [f"<{_fmt(edges[0])}"]
        names += [f"{_fmt(a)} to <{_fmt(b)}" for a, b in itertools.pairwise(edges)]
        names.append(f">={_fmt(edges[-1])}")
        idx = np.searchsorted(np.asarray(edges, float), x, side="right")
        out = np.asarray(names, dtype=object)[np.minimum(idx, len(names) - 1)]
        out[np.isnan(x)] = "missing"
        return pd.Series(pd.Categorical(out, categories=[*names, "missing"]), index=frame.index)


def _fmt(v: float) -> str:
    return f"{v:g}"


@dataclass(frozen=True)
class TaskSpec:
    """A prediction task as the validation needs it.

    Parameters
    ----------
    name : str
        Task name (``response``, ``reoperation``, ``heart_disease`` ...).
    outcome : str
        Binary outcome column (0/1), or the event column of a time-to-event task.
    predictors : dict
        Predictor column -> kind (``numeric``, ``category`` or ``binary``); used for the
        case-mix comparison and the revision model.
    time, horizon : str and float, optional
        Follow-up time column and prediction horizon (same unit) of a time-to-event task.
    identifiers : tuple of str
        Columns that identify a patient or episode; never written to a report.
    site_column : str, optional
        Column naming the site (used to split internal-external cross-validation).
    eligibility : dict
        Column -> allowed values; rows outside are excluded and counted.
    subgroups : tuple of Subgroup
    thresholds : (float, float)
        Clinically reasonable range of risk thresholds for the decision curve.
    """

    name: str
    outcome: str
    predictors: dict[str, Kind]
    time: str | None = None
    horizon: float | None = None
    identifiers: tuple[str, ...] = ()
    site_column: str | None = None
    eligibility: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    subgroups: tuple[Subgroup, ...] = ()
    thresholds: tuple[float, float] = (0.05, 0.5)
    description: str = ""

    @property
    def survival(self) -> bool:
        """Whether the task is time-to-event (risk by ``horizon``)."""
        return self.time is not None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "outcome": self.outcome,
                "time": self.time, "horizon": self.horizon,
                "predictors": dict(self.predictors),
                "eligibility": {k: list(v) for k, v in self.eligibility.items()},
                "subgroups": [s.label or s.column for s in self.subgroups],
                "thresholds": list(self.thresholds)}


def load_task_spec(path: str | Path) -> TaskSpec:
    """Read a task declared in YAML (see ``configs/tasks/heart_disease.yaml``).

    Raises
    ------
    ConfigError
        Naming the missing or wrong key and the allowed values (a ``ValueError``).
    """
    from spinerisk.yamlfile import read_yaml_mapping

    raw = read_yaml_mapping(path, "task config")
    for key in ("name", "outcome", "predictors"):
        if key not in raw:
            raise ConfigError(f"{path}: key {key!r} is missing; a task config needs name, "
                             "outcome and predictors (column: numeric|category|binary).")
    # same predictor syntax as spinerisk.features.generic_task: a kind, or {kind, levels}
    kinds = {k: (v if isinstance(v, str) else v.get("kind")) for k, v in raw["predictors"].items()}
    kinds = {k: ("numeric" if v == "integer" else v) for k, v in kinds.items()}
    bad = {k: v for k, v in kinds.items() if v not in ("numeric", "category", "binary")}
    if bad:
        raise ConfigError(f"{path}: predictor kinds {bad} not allowed; use numeric, integer, "
                         "category or binary.")
    if (raw.get("time") is None) != (raw.get("horizon") is None):
        raise ConfigError(f"{path}: time={raw.get('time')!r} and horizon={raw.get('horizon')!r}: "
                         "a time-to-event task needs both, a binary task neither.")
    subgroups = tuple(Subgroup(s["column"], s.get("label", s["column"]), tuple(s.get("bands", ())))
                      for s in raw.get("subgroups", ()))
    return TaskSpec(
        name=raw["name"], outcome=raw["outcome"], predictors=kinds,
        time=raw.get("time"), horizon=raw.get("horizon"),
        identifiers=tuple(raw.get("identifiers", ())), site_column=raw.get("site_column"),
        eligibility={k: tuple(v) for k, v in raw.get("eligibility", {}).items()},
        subgroups=subgroups, thresholds=tuple(raw.get("thresholds", (0.05, 0.5))),
        description=raw.get("description", ""))


_SPINE_THRESHOLDS = {"response": (0.2, 0.8), "residual_pain": (0.05, 0.5),
                     "reoperation": (0.02, 0.3)}


def spine_task_spec(task: str, predictors: list[str] | None = None) -> TaskSpec:
    """The spine task ``task`` from the data contract.

    Parameters
    ----------
    task : str
        ``response``, ``residual_pain`` or ``reoperation``.
    predictors : list of str, optional
        The model's predictor columns (``RiskModel.predictors_``); default every contract
        predictor the task population records.
    """
    from spinerisk import schema

    if task not in schema.TASKS:
        raise ValueError(f"task={task!r} unknown; allowed {sorted(schema.TASKS)}")
    t = schema.TASKS[task]
    names = predictors or [f.name for f in schema.FIELDS
                           if f.role in ("predictor", "procedure") and task in f.tasks]
    kinds = {}
    for name in names:
        f = schema.FIELD_BY_NAME.get(name)
        if f is None:  # a derived model feature (e.g. a phenotype flag): not a site column
            continue
        kinds[name] = "category" if f.kind == "category" else (
            "binary" if f.kind == "binary" else "numeric")
    procedures = tuple(p for p, owner in schema.PROCEDURES.items() if owner == task)
    return TaskSpec(
        name=task, outcome=t.outcome, predictors=kinds, time=t.time, horizon=t.horizon,
        identifiers=tuple(f.name for f in schema.FIELDS if f.role == "identifier"),
        site_column="site_id", eligibility={"procedure": procedures},
        subgroups=(Subgroup("sex", "sex"), Subgroup("age", "age band", (50.0, 65.0)),
                   Subgroup("procedure", "procedure type")),
        thresholds=_SPINE_THRESHOLDS[task], description=t.description)


@dataclass(frozen=True)
class Eligibility:
    """Rows that enter the validation and the count excluded for each reason."""

    keep: np.ndarray
    excluded: dict[str, int]
    n_input: int

    def to_dict(self) -> dict[str, Any]:
        return {"n_input": self.n_input, "n_analysed": int(self.keep.sum()),
                "excluded": dict(self.excluded)}


def eligible_rows(frame: pd.DataFrame, spec: TaskSpec) -> Eligibility:
    """Apply the task's eligibility and outcome availability; count exclusions by reason.

    Reasons, in order (a row is counted under its first reason): outside the task
    population (each eligibility column), outcome missing (lost to follow-up), follow-up
    time missing, outcome not coded 0/1.

    Raises
    ------
    ValueError
        If a column the task needs is absent (with the columns that are present).
    """
    needed = [spec.outcome, *([spec.time] if spec.time else []), *spec.eligibility]
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise ContractError(f"columns {absent} required by task {spec.name!r} are not in the "
                         f"table; present: {sorted(frame.columns)[:40]}. Map them with "
                         "--mapping or fix the task config.")
    keep = np.ones(len(frame), bool)
    excluded: dict[str, int] = {}

    def drop(mask: np.ndarray, reason: str) -> None:
        new = keep & mask
        if new.any():
            excluded[reason] = int(new.sum())
            keep[new] = False

    for column, allowed in spec.eligibility.items():
        values = frame[column].astype(object)
        drop(~values.isin(list(allowed)).to_numpy(),
             f"{column} outside the {spec.name} population")
    outcome = pd.to_numeric(frame[spec.outcome], errors="coerce")
    drop(outcome.isna().to_numpy(), f"{spec.outcome} missing (lost to follow-up)")
    if spec.time:
        time = pd.to_numeric(frame[spec.time], errors="coerce")
        drop((time.isna() | (time <= 0)).to_numpy(), f"{spec.time} missing or not positive")
    drop(~outcome.isin([0, 1]).to_numpy(), f"{spec.outcome} not coded 0/1")
    return Eligibility(keep=keep, excluded=excluded, n_input=len(frame))


class PredictorEncoder:
    """A numeric design of the predictors for the membership and revision models.

    Numeric and binary predictors are centred and scaled by the reference rows given to
    :meth:`fit`; a missing value becomes 0 (the reference mean) plus a missing-indicator
    column, so the model sees missingness rather than an invented value. Categories are
    one-hot coded against the reference's most frequent level, with missing as its own
    level. Columns constant in the reference are left out. Only aggregates (means, SDs,
    level names) are stored, so a fitted encoder can travel with a registered model.
    """

    def __init__(self, spec: TaskSpec):
        self.spec = spec

    def fit(self, reference: pd.DataFrame) -> PredictorEncoder:
        self.numeric_: dict[str, tuple[float, float]] = {}
        self.levels_: dict[str, list[str]] = {}
        self.missing_: list[str] = []
        for name, kind in self.spec.predictors.items():
            if name not in reference.columns:
                continue
            if kind == "category":
                counts = _as_level(reference[name]).value_counts()
                self.levels_[name] = [str(v) for v in counts.index[1:]]
                continue
            r = pd.to_numeric(reference[name], errors="coerce").to_numpy(float)
            if np.isfinite(r).any() and np.nanstd(r) > 0:
                self.numeric_[name] = (float(np.nanmean(r)), float(np.nanstd(r)))
            if np.isnan(r).any() and np.isfinite(r).any():
                self.missing_.append(name)
        design, names = self._build(reference)
        self.columns_ = [n for n, k in zip(names, design.std(axis=0) > 0) if k]
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """(n, k) float design with the columns of :attr:`columns_`."""
        design, names = self._build(frame)
        where = {n: i for i, n in enumerate(names)}
        return design[:, [where[c] for c in self.columns_]]

    def _build(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        columns: dict[str, np.ndarray] = {}
        for name, (mean, sd) in self.numeric_.items():
            x = pd.to_numeric(frame[name], errors="coerce").to_numpy(float)
            columns[name] = np.where(np.isnan(x), 0.0, (x - mean) / sd)
        for name in self.missing_:
            columns[f"{name} missing"] = frame[name].isna().to_numpy(float)
        for name, levels in self.levels_.items():
            values = _as_level(frame[name])
            for level in levels:
                columns[f"{name}={level}"] = (values == level).to_numpy(float)
        if not columns:
            return np.empty((len(frame), 0)), []
        return np.column_stack(list(columns.values())), list(columns)


def _as_level(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), "missing").astype(str)


def read_generic_table(path: str | Path, spec: TaskSpec) -> pd.DataFrame:
    """Read a non-spine table (any format :func:`spinerisk.cohort.readers.read_table` reads).

    Category predictors stored as whole numbers (``1.0``) are written as their level
    text (``"1"``), the form task configs declare; values are otherwise unchanged.

    Raises
    ------
    ValueError
        If a predictor or outcome column is absent (with the columns present).
    """
    from spinerisk.cohort.readers import read_table

    frame = read_table(path)
    needed = [spec.outcome, *([spec.time] if spec.time else []), *spec.predictors]
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise ContractError(f"{path}: columns {absent} named by task {spec.name!r} are absent; "
                         f"present: {list(frame.columns)}. Rename them or fix the task config.")
    for name, kind in spec.predictors.items():
        if kind != "category" or not pd.api.types.is_numeric_dtype(frame[name]):
            continue
        values = frame[name].to_numpy(float)
        present = ~np.isnan(values)
        if np.all(values[present] == np.round(values[present])):
            text = np.where(present, np.round(np.nan_to_num(values)).astype(int).astype(str), None)
            frame[name] = pd.Series(text, index=frame.index, dtype=object)
    return frame
