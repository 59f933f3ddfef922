"""Which clinical variables a model sees, and of what kind, derived from the data contract.

A :class:`TaskSpec` names a task's outcome (and time and horizon for time-to-event) and
its predictors as :class:`Variable` objects. Spine tasks come from
:data:`spinerisk.schema.TASKS`; a config may declare its own (generic) task so that any
table can be trained with the same code.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from spinerisk import schema

VariableKind = Literal["numeric", "integer", "binary", "category"]
VARIABLE_KINDS: tuple[str, ...] = ("numeric", "integer", "binary", "category")

#: Care-pathway features added by :func:`spinerisk.phenotype.pathway_features`.
PATHWAY_BINARY: tuple[str, ...] = (
    "phenotype_radicular", "phenotype_facetogenic", "phenotype_discogenic",
    "phenotype_vertebrogenic", "phenotype_sacroiliac", "phenotype_lf_stenosis",
    "phenotype_osseous_red_flag", "red_flag_any")


@dataclass(frozen=True)
class Variable:
    """One predictor as the model sees it.

    Parameters
    ----------
    name : str
        Column name in the model frame (and the clinical variable it stands for).
    kind : {"numeric", "integer", "binary", "category"}
        Numeric variables get splines in the logistic baseline; integer grades and
        binary flags enter linearly; categories are one-hot encoded.
    levels : tuple of str, optional
        Allowed levels of a category, in clinical order.
    source : {"contract", "pathway", "config"}
        Where the variable comes from.
    """

    name: str
    kind: VariableKind
    levels: tuple[str, ...] | None = None
    source: str = "contract"


@dataclass(frozen=True)
class TaskSpec:
    """A prediction task: outcome, optional time and horizon, predictors.

    Parameters
    ----------
    name : str
        Task name (``response``, ``residual_pain``, ``reoperation`` or a generic name).
    outcome : str
        Binary outcome column (the event indicator for time-to-event tasks).
    variables : tuple of Variable
        Predictors in model order.
    time : str, optional
        Follow-up time column (time-to-event tasks only).
    horizon : float, optional
        Prediction horizon in the time column's unit.
    procedures : tuple of str
        Procedures whose episodes form the population (empty: every row).
    pathway : bool
        Whether care-pathway features (phenotypes, red flags, concordance) are added.
    site_column : str
        Column naming each row's site (internal-external cross-validation).
    """

    name: str
    outcome: str
    variables: tuple[Variable, ...]
    time: str | None = None
    horizon: float | None = None
    procedures: tuple[str, ...] = ()
    pathway: bool = False
    site_column: str = "site_id"

    @property
    def is_survival(self) -> bool:
        """True for a time-to-event task."""
        return self.time is not None

    @property
    def predictors(self) -> tuple[str, ...]:
        """Names of the predictors, in model order."""
        return tuple(v.name for v in self.variables)


def contract_variable(name: str) -> Variable:
    """The model view of a contract field (identifiers and outcomes are refused)."""
    spec = schema.FIELD_BY_NAME.get(name)
    if spec is None:
        hint = difflib.get_close_matches(name, schema.FIELD_BY_NAME, n=1)
        raise ValueError(f"predictor {name!r} is not a contract field"
                         + (f"; did you mean {hint[0]!r}?" if hint else "; see `spinerisk schema`"))
    if spec.role not in ("predictor", "procedure"):
        raise ValueError(f"predictor {name!r} is a {spec.role} field; only predictor and "
                         "procedure fields may be used as predictors")
    return Variable(name, spec.kind, spec.levels)  # type: ignore[arg-type]


def pathway_variables() -> tuple[Variable, ...]:
    """The care-pathway features as model variables."""
    from spinerisk.phenotype import CONCORDANCE_LEVELS

    return (*(Variable(n, "binary", source="pathway") for n in PATHWAY_BINARY),
            Variable("concordance", "category", tuple(CONCORDANCE_LEVELS), source="pathway"))


def spine_task(name: str, predictors: Iterable[str] | str = "all",
               pathway: bool = True) -> TaskSpec:
    """A spine task from the contract.

    Parameters
    ----------
    name : str
        One of :data:`spinerisk.schema.TASK_NAMES`.
    predictors : "all" or iterable of str
        Contract fields to use; ``"all"`` uses every predictor and procedure field the
        task's population records (identifiers and outcomes never).
    pathway : bool
        Add the care-pathway features.
    """
    if name not in schema.TASKS:
        hint = difflib.get_close_matches(name, schema.TASKS, n=1)
        raise ValueError(f"task {name!r} unknown; allowed: {', '.join(schema.TASK_NAMES)}"
                         + (f" (did you mean {hint[0]!r}?)" if hint else "")
                         + "; declare a generic task with outcome and predictors instead")
    task = schema.TASKS[name]
    names = task.predictors() if predictors == "all" else tuple(predictors)
    # a procedure column that is constant within a population carries no information
    names = tuple(n for n in names if not (n == "procedure" and len(task.procedures) < 2))
    variables = tuple(contract_variable(n) for n in names)
    if pathway:
        variables += pathway_variables()
    return TaskSpec(name=name, outcome=task.outcome, variables=variables, time=task.time,
                    horizon=task.horizon, procedures=task.procedures, pathway=pathway)


def generic_task(name: str, outcome: str, predictors: Mapping[str, Any],
                 time: str | None = None, horizon: float | None = None,
                 site_column: str = "site_id") -> TaskSpec:
    """A task declared in a config for a non-spine table.

    Parameters
    ----------
    predictors : mapping
        Column name -> kind (``numeric``, ``integer``, ``binary``, ``category``) or
        ``{"kind": "category", "levels": [...]}``.
    """
    if (time is None) != (horizon is None):
        raise ValueError(f"task {name!r}: give both time and horizon for a time-to-event "
                         f"task, or neither (got time={time!r}, horizon={horizon!r})")
    variables = []
    for column, declared in predictors.items():
        kind = declared if isinstance(declared, str) else declared.get("kind")
        levels = None if isinstance(declared, str) else declared.get("levels")
        if kind not in VARIABLE_KINDS:
            raise ValueError(f"task {name!r}, predictor {column!r}: kind {kind!r} not allowed; "
                             f"use one of {', '.join(VARIABLE_KINDS)}")
        if kind == "category" and not levels:
            raise ValueError(f"task {name!r}, predictor {column!r}: a category needs its "
                             "levels, e.g. {kind: category, levels: [a, b]}")
        variables.append(Variable(column, kind, tuple(map(str, levels)) if levels else None,
                                  source="config"))
    return TaskSpec(name=name, outcome=outcome, variables=tuple(variables), time=time,
                    horizon=horizon, site_column=site_column)


def numeric_task(n_features: int, name: str = "generic") -> TaskSpec:
    """A binary task over ``n_features`` unnamed numeric columns (array input)."""
    return TaskSpec(name=name, outcome="y", variables=tuple(
        Variable(f"x{i}", "numeric", source="config") for i in range(n_features)))
