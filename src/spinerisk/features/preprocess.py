"""Preprocessing built from the task's variables, with a map back to clinical variables.

Two encodings, chosen per learner:

* ``numeric="spline"`` (the clinicians' logistic baseline): continuous variables become a
  restricted cubic spline basis (Harrell knots, linear in the tails); integer grades and
  binary flags enter linearly; categories are one-hot. Missing predictor values are
  handled explicitly with ``missing="indicator"``: the training median (or, for a
  category, no level) is filled in *and* a ``<variable>__missing`` indicator column is
  added for every variable that had missing values in the training rows.
* ``numeric="identity"`` with ``missing="native"`` (gradient boosting): values pass
  through unchanged and missing stays NaN (for a category every level column is NaN),
  which XGBoost routes along a learned default direction.

Every output column maps back to exactly one clinical variable
(:attr:`Preprocessor.feature_to_variable_`). The same column encoders serve a whole
frame and a single record (:meth:`Preprocessor.transform_record`), so the one-patient
path is plain numpy with no DataFrame round trip and cannot disagree with the batch path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from spinerisk.features.variables import TaskSpec, Variable, numeric_task

#: Harrell's default knot quantiles by number of knots (Regression Modeling Strategies 2.4.6).
HARRELL_QUANTILES: dict[int, tuple[float, ...]] = {
    3: (0.10, 0.50, 0.90),
    4: (0.05, 0.35, 0.65, 0.95),
    5: (0.05, 0.275, 0.50, 0.725, 0.95),
}
NUMERIC_ENCODINGS = ("spline", "identity")
MISSING_STRATEGIES = ("indicator", "native")


def rcs_columns(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Restricted cubic spline basis (linear term first), Harrell's normalisation.

    Parameters
    ----------
    x : ndarray of shape (n,)
        Values (no missing).
    knots : ndarray of shape (k,)
        Increasing knots.

    Returns
    -------
    ndarray of shape (n, k - 1)
        ``x`` itself, then ``k - 2`` non-linear terms that are linear beyond the outer knots.
    """
    t = knots
    k = len(t)
    scale = (t[-1] - t[0]) ** 2

    def cube(u: np.ndarray) -> np.ndarray:
        return np.maximum(u, 0.0) ** 3

    terms = [x]
    for j in range(k - 2):
        terms.append((cube(x - t[j])
                      - cube(x - t[-2]) * (t[-1] - t[j]) / (t[-1] - t[-2])
                      + cube(x - t[-1]) * (t[-2] - t[j]) / (t[-1] - t[-2])) / scale)
    return np.column_stack(terms)


def _knots(x: np.ndarray, n_knots: int) -> np.ndarray | None:
    """Knots at Harrell's quantiles, or None when too few distinct values for a spline."""
    distinct = np.unique(x)
    if len(distinct) < 2 * n_knots:
        return None
    knots = np.unique(np.quantile(x, HARRELL_QUANTILES[n_knots]))
    return knots if len(knots) == n_knots else None


class Preprocessor(TransformerMixin, BaseEstimator):
    """Schema-derived preprocessing for one task.

    Parameters
    ----------
    task : TaskSpec, optional
        The task's variables; default (array input): every column is numeric.
    numeric : {"spline", "identity"}
        Encoding of continuous variables (see module docstring).
    missing : {"indicator", "native"}
        Missing-value strategy: median/no-level fill plus indicator columns fitted on the
        training rows, or NaN kept for learners that handle it.
    n_knots : int
        Spline knots (3, 4 or 5).

    Attributes
    ----------
    variables_ : tuple of Variable
    encoders_ : dict
        Per variable: what :meth:`transform` needs (centre, scale, knots, fill value,
        levels, whether an indicator column exists).
    feature_names_ : list of str
    feature_to_variable_ : dict
        Output column -> clinical variable.
    n_features_in_ : int
    """

    def __init__(self, task: TaskSpec | None = None, numeric: str = "spline",
                 missing: str = "indicator", n_knots: int = 4):
        self.task = task
        self.numeric = numeric
        self.missing = missing
        self.n_knots = n_knots

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None) -> Preprocessor:
        """Learn fill values, spline knots and scales from the training rows."""
        self._check_params()
        columns, variables = self._columns(X, fitting=True)
        self.variables_ = variables
        self.encoders_ = {v.name: self._fit_variable(v, columns[v.name]) for v in variables}
        names, owners = [], []
        for v in variables:
            for suffix in self.encoders_[v.name]["outputs"]:
                names.append(v.name + suffix)
                owners.append(v.name)
        self.feature_names_ = names
        self.feature_to_variable_ = dict(zip(names, owners))
        self.record_plan_ = self._record_plan()
        return self

    def _check_params(self) -> None:
        if self.numeric not in NUMERIC_ENCODINGS:
            raise ValueError(f"numeric={self.numeric!r} not allowed; use one of "
                             f"{NUMERIC_ENCODINGS}")
        if self.missing not in MISSING_STRATEGIES:
            raise ValueError(f"missing={self.missing!r} not allowed; use one of "
                             f"{MISSING_STRATEGIES}")
        if self.n_knots not in HARRELL_QUANTILES:
            raise ValueError(f"n_knots={self.n_knots!r} not allowed; use 3, 4 or 5")

    def _fit_variable(self, v: Variable, values: np.ndarray) -> dict[str, Any]:
        missing = _is_missing(values)
        if missing.all():
            raise ValueError(f"predictor {v.name!r}: every training value is missing; drop it "
                             "from the config's predictors or export its values")
        indicator = self.missing == "indicator" and bool(missing.any())
        enc: dict[str, Any] = {"kind": v.kind, "indicator": indicator}
        if v.kind == "category":
            enc["levels"] = list(v.levels or ())
            enc["index"] = {level: i for i, level in enumerate(enc["levels"])}
            outputs = [f"={level}" for level in enc["levels"]]
        else:
            observed = values[~missing].astype(float)
            enc["fill"] = float(np.median(observed))
            knots = (_knots(observed, self.n_knots)
                     if self.numeric == "spline" and v.kind == "numeric" else None)
            enc["knots"] = knots
            # centre and scale so that penalised coefficients are comparable across units
            enc["centre"] = enc["fill"]
            spread = float(np.subtract(*np.quantile(observed, [0.75, 0.25])))
            enc["scale"] = spread if spread > 0 else float(np.std(observed)) or 1.0
            if self.numeric == "identity":
                enc["centre"], enc["scale"] = 0.0, 1.0
            outputs = [""] if knots is None else [""] + [f"__spline{j}"
                                                         for j in range(1, len(knots) - 1)]
        if indicator:
            outputs.append("__missing")
        enc["outputs"] = outputs
        return enc

    # ------------------------------------------------------------------ transform
    def transform(self, X) -> np.ndarray:
        """Encode a frame (or array) into a float matrix in :attr:`feature_names_` order."""
        check_is_fitted(self, "encoders_")
        columns, _ = self._columns(X, fitting=False)
        return self._encode(columns, len(next(iter(columns.values()))) if columns else 0)

    def transform_record(self, record: Mapping[str, Any]) -> np.ndarray:
        """Encode one patient record (dict; absent or None = missing) into a 1-row matrix.

        Uses the column plan fixed at fit time (:class:`RecordPlan`): the numbers of a
        record are encoded in a few vectorised operations, the categories in one loop of
        dictionary look-ups, with the same arithmetic as :meth:`transform`, so the row is
        bit-identical to that of a one-row frame.
        """
        check_is_fitted(self, "encoders_")
        plan = getattr(self, "record_plan_", None)
        if plan is None:  # fitted before the plan existed (an older pickled model)
            plan = self.record_plan_ = self._record_plan()
        return plan.encode(record)

    def _record_plan(self) -> RecordPlan:
        numbers, splines, categories = [], [], []
        start = 0
        for v in self.variables_:
            enc = self.encoders_[v.name]
            width = len(enc["outputs"])
            indicator = start + width - 1 if enc["indicator"] else -1
            if enc["kind"] == "category":
                categories.append((v.name, v.source == "config", enc["index"], start,
                                   len(enc["levels"]), indicator))
            else:
                if enc["knots"] is not None:
                    splines.append((len(numbers), start,
                                    (enc["knots"] - enc["centre"]) / enc["scale"]))
                numbers.append((v.name, start, enc["fill"], enc["centre"], enc["scale"],
                                indicator))
            start += width
        return RecordPlan(start, self.missing == "native", numbers, splines, categories)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the output columns (``variable``, ``variable=level``, ``__spline``,
        ``__missing`` suffixes)."""
        check_is_fitted(self, "encoders_")
        return np.asarray(self.feature_names_, dtype=object)

    def _encode(self, columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        blocks = [self._encode_variable(v, self.encoders_[v.name], columns[v.name], n)
                  for v in self.variables_]
        return np.hstack(blocks) if blocks else np.empty((n, 0))

    def _encode_variable(self, v: Variable, enc: dict, values: np.ndarray, n: int) -> np.ndarray:
        missing = _is_missing(values)
        if enc["kind"] == "category":
            block = self._one_hot(v, enc, values, missing, n)
        else:
            x = values.astype(float)
            if self.missing == "indicator":
                x = np.where(missing, enc["fill"], x)
            x = (x - enc["centre"]) / enc["scale"]
            if enc["knots"] is not None:
                knots = (enc["knots"] - enc["centre"]) / enc["scale"]
                block = rcs_columns(x, knots)
                block[missing & (self.missing == "native")] = np.nan
            else:
                block = x[:, None]
        if enc["indicator"]:
            block = np.column_stack([block, missing.astype(float)])
        return block

    def _one_hot(self, v: Variable, enc: dict, values: np.ndarray, missing: np.ndarray,
                 n: int) -> np.ndarray:
        index = enc["index"]
        codes = np.full(n, -1, dtype=np.int64)
        # look up each distinct value once (first-appearance order, so an unknown level is
        # reported as the first one in the rows), not every row
        present = np.flatnonzero(~missing)
        inverse, distinct = pd.factorize(values[present])
        lookup = np.empty(len(distinct), dtype=np.int64)
        for k, value in enumerate(distinct):
            code = index.get(value)
            if code is None:
                raise ValueError(f"predictor {v.name!r}: unknown level {value!r}; allowed: "
                                 f"{', '.join(enc['levels'])}")
            lookup[k] = code
        codes[present] = lookup[inverse]
        block = np.zeros((n, len(enc["levels"])))
        present = codes >= 0
        block[np.flatnonzero(present), codes[present]] = 1.0
        if self.missing == "native":
            block[missing] = np.nan
        return block

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # ------------------------------------------------------------------ input
    def _columns(self, X, fitting: bool) -> tuple[dict[str, np.ndarray], tuple[Variable, ...]]:
        """Pull each variable's values out of the input as a numpy array."""
        if isinstance(X, pd.DataFrame):
            task = self.task or numeric_task(X.shape[1])
            variables = task.variables if self.task else tuple(
                Variable(str(c), "numeric", source="config") for c in X.columns)
            absent = [v.name for v in variables if v.name not in X.columns]
            if absent:
                raise ValueError("input is missing predictor columns: " + ", ".join(absent)
                                 + "; present columns: " + ", ".join(map(str, X.columns[:20])))
            columns = {v.name: _column_values(v, X[v.name]) for v in variables}
        else:
            if self.task is not None:
                raise TypeError(f"{type(self).__name__} with a task needs a DataFrame with "
                                f"columns {list(self.task.predictors)[:5]}...; got "
                                f"{type(X).__name__}")
            array = _as_float_matrix(X)
            variables = numeric_task(array.shape[1]).variables
            columns = {v.name: array[:, i] for i, v in enumerate(variables)}
        infinite = [v.name for v in variables
                    if columns[v.name].dtype != object and np.isinf(columns[v.name]).any()]
        if infinite:
            raise ValueError("infinite values in predictor(s) " + ", ".join(infinite)
                             + "; leave unknown values empty (missing) instead")
        if fitting:
            self.n_features_in_ = len(variables)
        elif len(variables) != self.n_features_in_:
            raise ValueError(f"X has {len(variables)} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input")
        return columns, variables if fitting else self.variables_


class RecordPlan:
    """Where each variable of one record goes in the encoded row (fixed at fit time).

    Parameters
    ----------
    width : int
        Number of output columns.
    native : bool
        Missing values stay NaN (``missing="native"``) rather than filled and flagged.
    numbers : list of tuple
        Per non-category variable, in model order: name, first output column, fill,
        centre, scale, indicator column (-1 when none).
    splines : list of tuple
        Per spline-expanded variable: its position in ``numbers``, first output column,
        knots on the centred and scaled axis.
    categories : list of tuple
        Per category: name, whether its levels are declared as text (config tasks),
        level -> code, first output column, number of levels, indicator column (-1 when
        none).
    """

    def __init__(self, width: int, native: bool, numbers: list[tuple], splines: list[tuple],
                 categories: list[tuple]):
        self.width = width
        self.native = native
        self.names = tuple(n[0] for n in numbers)
        self.columns = np.array([n[1] for n in numbers], dtype=np.intp)
        self.fill = np.array([n[2] for n in numbers], dtype=float)
        self.centre = np.array([n[3] for n in numbers], dtype=float)
        self.scale = np.array([n[4] for n in numbers], dtype=float)
        flagged = [i for i, n in enumerate(numbers) if n[5] >= 0]
        self.flagged = np.array(flagged, dtype=np.intp)
        self.flag_columns = np.array([numbers[i][5] for i in flagged], dtype=np.intp)
        self.splines = splines
        self.categories = categories

    def encode(self, record: Mapping[str, Any]) -> np.ndarray:
        """One record as a 1-row float matrix (the arithmetic of ``Preprocessor._encode``)."""
        row = np.zeros(self.width)
        x = np.array([record.get(name) for name in self.names], dtype=float)  # None -> NaN
        missing = np.isnan(x)
        if not self.native:
            x = np.where(missing, self.fill, x)
        x = (x - self.centre) / self.scale
        row[self.columns] = x
        for i, start, knots in self.splines:
            basis = rcs_columns(x[i:i + 1], knots)[0]
            if self.native and missing[i]:
                basis[:] = np.nan
            row[start:start + len(basis)] = basis
        row[self.flag_columns] = missing[self.flagged]
        for name, config, index, start, n_levels, indicator in self.categories:
            value = record.get(name)
            if config:
                value = level_text(value)
            absent = value is None or (not isinstance(value, str) and bool(pd.isna(value)))
            if absent:
                if self.native:
                    row[start:start + n_levels] = np.nan
            else:
                code = index.get(value)
                if code is None:
                    raise ValueError(f"predictor {name!r}: unknown level {value!r}; allowed: "
                                     f"{', '.join(index)}")
                row[start + code] = 1.0
            if indicator >= 0:
                row[indicator] = float(absent)
        return row[None, :]


def _as_float_matrix(X) -> np.ndarray:
    from sklearn.utils.validation import check_array

    return check_array(X, dtype=float, ensure_all_finite="allow-nan")


def level_text(value: Any) -> Any:
    """A category value as its level string (a table may store level "2" as 2 or 2.0)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _column_values(v: Variable, series: pd.Series) -> np.ndarray:
    if v.kind == "category":
        values = series.astype(object).where(series.notna(), None).to_numpy(dtype=object)
        if v.source == "config":  # generic tables: levels are declared as text
            values = np.array([level_text(x) for x in values], dtype=object)
        return values
    return pd.to_numeric(series, errors="raise").astype(float).to_numpy()


def _is_missing(values: np.ndarray) -> np.ndarray:
    if values.dtype == object:
        return pd.isna(values)
    return np.isnan(values)


def build_preprocessor(task: TaskSpec | None, learner: str, n_knots: int = 4) -> Preprocessor:
    """The preprocessing a learner needs: splines + indicators for the logistic baseline
    and the Cox model, pass-through with native missing values for XGBoost."""
    if learner in ("logistic", "cox"):
        return Preprocessor(task, numeric="spline", missing="indicator", n_knots=n_knots)
    return Preprocessor(task, numeric="identity", missing="native", n_knots=n_knots)
