"""Result objects returned by :mod:`spinerisk.evaluation`.

Every result is a frozen dataclass with a ``to_dict()`` method whose keys are the
stable JSON field names documented in ``docs/metrics.md``. Field names never change
meaning; new fields may be added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def json_ready(value: Any) -> Any:
    """Convert numpy scalars/arrays and non-finite floats into JSON-safe values."""
    if isinstance(value, np.ndarray):
        return [json_ready(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (np.floating, float)):
        v = float(value)
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


class _JSONResult:
    """``to_dict()`` for dataclasses whose JSON keys are their field names."""

    def to_dict(self) -> dict[str, Any]:
        return json_ready({name: getattr(self, name) for name in self.__dataclass_fields__})


#: Machine-readable reasons why a value is not available (NA), with the words reports show.
NA_REASONS: dict[str, str] = {
    "horizon_beyond_follow_up": "the horizon lies beyond the last follow-up time of this group",
    "no_events_by_horizon": "no events were observed by the horizon",
    "no_event_free_at_horizon": "nobody was followed event-free through the horizon",
    "separation": "the outcome is perfectly separated by the prediction (no finite estimate)",
    "monotone_likelihood": "monotone partial likelihood: every event has the highest score in its "
                           "risk set (no finite estimate)",
    "infinite_estimate": "the Poisson likelihood has no finite maximum (e.g. no events)",
    "not_converged": "the model fit did not converge",
    "ill_conditioned": "the information matrix is (nearly) singular",
    "constant_prediction": "all predictions are equal, so this measure is not defined",
    "degenerate_variance": "the variance estimate is zero (constant or perfectly ranked scores), "
                           "so no interval can be given",
    "zero_expected": "the expected number of events is zero",
    "too_few_distinct_predictions": "too few distinct predicted risks to fit the smooth curve",
    "no_ci_in_an_imputation": "an imputation's estimate has no confidence interval, so Rubin's "
                              "rules cannot pool it",
}


def na_reason_text(code: str | None) -> str:
    """Plain words for an NA reason code (the code itself if it is unknown)."""
    if code is None:
        return ""
    return NA_REASONS.get(code, code)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with an optional confidence interval.

    JSON fields: ``estimate``, ``ci_lower``, ``ci_upper``, ``ci_level``, ``ci_method``,
    ``na_reason`` (a code from :data:`NA_REASONS` when the estimate or its interval is not
    available, else null) and, only when there is something to state, ``details`` (settings the
    value depends on, e.g. Uno's ``tau``, or the fit's convergence report).
    """

    estimate: float
    lower: float = float("nan")
    upper: float = float("nan")
    level: float = 0.95
    method: str = "none"
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def na(cls, reason: str, *, level: float = 0.95, **details: Any) -> Estimate:
        """An undefined value: NaN estimate and interval with its machine-readable reason."""
        if reason not in NA_REASONS:
            raise ValueError(f"unknown NA reason {reason!r}; use one of {sorted(NA_REASONS)}")
        return cls(float("nan"), level=level, reason=reason, details=details)

    @property
    def is_na(self) -> bool:
        return self.reason is not None and not math.isfinite(self.estimate)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "estimate": self.estimate,
            "ci_lower": self.lower,
            "ci_upper": self.upper,
            "ci_level": self.level,
            "ci_method": self.method,
            "na_reason": self.reason,
        }
        if self.details:  # only where a value depends on a setting or a fit report
            out["details"] = self.details
        return json_ready(out)


@dataclass(frozen=True)
class CalibrationSummary(_JSONResult):
    """Mean and weak calibration of binary risks (Van Calster 2016 hierarchy, levels 1-2).

    JSON fields: ``observed``, ``expected``, ``oe_ratio``, ``citl_intercept``,
    ``cal_intercept``, ``cal_slope`` (the last four are :class:`Estimate` objects).
    ``citl_intercept`` is the intercept with the slope fixed at 1 (offset logit(risk));
    ``cal_intercept``/``cal_slope`` come from the logistic recalibration model
    ``logit P(y=1) = a + b * logit(risk)``.
    """

    observed: float
    expected: float
    oe_ratio: Estimate
    citl_intercept: Estimate
    cal_intercept: Estimate
    cal_slope: Estimate


@dataclass(frozen=True)
class CalibrationCurve:
    """A flexible calibration curve (moderate calibration) with its summary numbers.

    ``predicted``/``observed``/``lower``/``upper`` describe the curve on an evaluation
    grid (sorted predicted risks); ``ici``, ``e50``, ``e90``, ``emax`` summarise
    ``|observed_i - predicted_i|`` over the patients (Austin & Steyerberg 2019).
    JSON fields: ``method``, ``na_reason``, ``settings``, ``ici``, ``e50``, ``e90``, ``emax``,
    ``curve`` (``predicted``, ``observed``, ``lower``, ``upper`` lists). A curve that cannot
    be estimated has empty lists, null summaries and ``na_reason`` set.
    """

    method: str
    predicted: np.ndarray
    observed: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    ici: float
    e50: float
    e90: float
    emax: float
    settings: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None

    @classmethod
    def na(cls, method: str, reason: str, settings: dict[str, Any] | None = None) -> CalibrationCurve:
        """A curve that cannot be estimated: empty arrays, NaN summaries and the reason code."""
        if reason not in NA_REASONS:
            raise ValueError(f"unknown NA reason {reason!r}; use one of {sorted(NA_REASONS)}")
        empty = np.empty(0)
        nan = float("nan")
        return cls(method, empty, empty, empty, empty, nan, nan, nan, nan, dict(settings or {}), reason)

    def to_dict(self) -> dict[str, Any]:
        return json_ready(
            {
                "method": self.method,
                "na_reason": self.reason,
                "settings": self.settings,
                "ici": self.ici,
                "e50": self.e50,
                "e90": self.e90,
                "emax": self.emax,
                "curve": {
                    "predicted": self.predicted,
                    "observed": self.observed,
                    "lower": self.lower,
                    "upper": self.upper,
                },
            }
        )


@dataclass(frozen=True)
class ThresholdMetrics(_JSONResult):
    """Classification metrics at risk thresholds (test-positive: R dcurves' rule, risk >= threshold
    with a risk of exactly 0 never positive; see :func:`spinerisk.evaluation.binary.positives`).

    JSON fields (lists, one entry per threshold): ``threshold``, ``sensitivity``,
    ``specificity``, ``ppv``, ``npv``, ``test_pos_rate``. A value is null when its
    denominator is empty (e.g. PPV when nobody tests positive).
    """

    threshold: np.ndarray
    sensitivity: np.ndarray
    specificity: np.ndarray
    ppv: np.ndarray
    npv: np.ndarray
    test_pos_rate: np.ndarray


@dataclass(frozen=True)
class DecisionCurve:
    """Decision-curve table in the long layout of R ``dcurves::dca()$dca``.

    One row per (strategy, threshold): ``variable`` ("all", "none" or the model
    label), ``n``, ``threshold``, ``pos_rate``, ``test_pos_rate``, ``tp_rate``,
    ``fp_rate``, ``harm``, ``net_benefit``, ``net_intervention_avoided``
    (per patient; multiply by 100 for "per 100 patients"), ``na_reason`` (null, or the
    code from :data:`NA_REASONS` when the row's rates are undefined, e.g. the test
    positives are not followed to the horizon). For time-to-event
    data ``pos_rate`` is the Kaplan-Meier risk at the horizon. ``to_dict()``
    returns ``{"horizon": ..., "rows": [...]}``.
    """

    variable: np.ndarray
    n: np.ndarray
    threshold: np.ndarray
    pos_rate: np.ndarray
    test_pos_rate: np.ndarray
    tp_rate: np.ndarray
    fp_rate: np.ndarray
    harm: np.ndarray
    net_benefit: np.ndarray
    net_intervention_avoided: np.ndarray
    na_reason: np.ndarray
    horizon: float | None = None

    _COLUMNS = (
        "variable", "n", "threshold", "pos_rate", "test_pos_rate", "tp_rate",
        "fp_rate", "harm", "net_benefit", "net_intervention_avoided", "na_reason",
    )

    def to_frame(self):
        """Return the table as a pandas DataFrame (columns as in R dcurves)."""
        import pandas as pd

        return pd.DataFrame({c: getattr(self, c) for c in self._COLUMNS})

    def strategy(self, variable: str) -> DecisionCurve:
        """Rows of one strategy ("all", "none" or a model label)."""
        keep = self.variable == variable
        if not keep.any():
            raise KeyError(
                f"variable={variable!r} is not in this decision curve; "
                f"available: {sorted(set(self.variable.tolist()))}"
            )
        return DecisionCurve(
            **{c: getattr(self, c)[keep] for c in self._COLUMNS}, horizon=self.horizon
        )

    def to_dict(self) -> dict[str, Any]:
        frame = self.to_frame()
        return {"horizon": json_ready(self.horizon), "rows": json_ready(frame.to_dict("records"))}


@dataclass(frozen=True)
class Criterion(_JSONResult):
    """One sample-size criterion: its required n and what it protects against.

    JSON fields: ``name``, ``description``, ``sample_size``, ``events``, ``details``.
    """

    name: str
    description: str
    sample_size: int
    events: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SampleSizeResult(_JSONResult):
    """Minimum sample size over several criteria, with the criterion that drives it.

    JSON fields: ``kind``, ``sample_size``, ``events``, ``driving_criterion``,
    ``explanation``, ``criteria`` (list of :class:`Criterion`), ``inputs``.
    """

    kind: str
    sample_size: int
    events: float | None
    driving_criterion: str
    explanation: str
    criteria: tuple[Criterion, ...]
    inputs: dict[str, Any]


@dataclass(frozen=True)
class MetricSet(_JSONResult):
    """A named collection of :class:`Estimate` objects plus free-form extras.

    Used for bootstrap results, optimism correction and the one-call metric report.
    JSON fields: ``metrics`` (name -> Estimate dict) and ``info``.
    """

    metrics: dict[str, Estimate]
    info: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Estimate:
        try:
            return self.metrics[name]
        except KeyError:
            raise KeyError(
                f"metric {name!r} not computed; available: {sorted(self.metrics)}"
            ) from None


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap replicates and percentile intervals for several metrics.

    ``metrics[name]`` holds the full-sample estimate with the percentile CI over the
    replicates; ``replicates[name]`` the (n_boot,) replicate values (NaN where a
    replicate could not be computed, e.g. only one outcome class was drawn).
    JSON fields: ``metrics``, ``n_boot``, ``seed``, ``n_failed`` (per metric).
    Replicates are not serialised.
    """

    metrics: dict[str, Estimate]
    replicates: dict[str, np.ndarray]
    n_boot: int
    seed: int | None

    def __getitem__(self, name: str) -> Estimate:
        return self.metrics[name]

    def to_dict(self) -> dict[str, Any]:
        return json_ready(
            {
                "metrics": self.metrics,
                "n_boot": self.n_boot,
                "seed": self.seed,
                "n_failed": {k: int(np.isnan(v).sum()) for k, v in self.replicates.items()},
            }
        )


@dataclass(frozen=True)
class OptimismResult:
    """Bootstrap internal validation of a whole modelling pipeline (Harrell; Efron .632).

    Per metric: ``apparent`` (model fitted and scored on all data), ``optimism`` (mean
    over replicates of bootstrap-sample score minus original-sample score),
    ``corrected`` = apparent - optimism, ``optimism_se`` (Monte Carlo SE of the optimism),
    and ``dot632`` = 0.368 * apparent + 0.632 * mean out-of-bag score.
    JSON fields: ``metrics`` (name -> those five numbers), ``n_boot``, ``seed``,
    ``n_failed`` (replicates that could not be scored, per metric).
    """

    apparent: dict[str, float]
    optimism: dict[str, float]
    optimism_se: dict[str, float]
    corrected: dict[str, float]
    dot632: dict[str, float]
    n_boot: int
    seed: int | None
    n_failed: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        names = list(self.apparent)
        return json_ready(
            {
                "metrics": {
                    k: {
                        "apparent": self.apparent[k],
                        "optimism": self.optimism[k],
                        "optimism_se": self.optimism_se[k],
                        "corrected": self.corrected[k],
                        "dot632": self.dot632[k],
                    }
                    for k in names
                },
                "n_boot": self.n_boot,
                "seed": self.seed,
                "n_failed": self.n_failed,
            }
        )


@dataclass(frozen=True)
class RocCurve(_JSONResult):
    """ROC curve points (test-positive: risk >= threshold, sklearn convention for the curve).

    JSON fields: ``fpr``, ``tpr``, ``threshold``, ``auc``.
    """

    fpr: np.ndarray
    tpr: np.ndarray
    threshold: np.ndarray
    auc: float


@dataclass(frozen=True)
class MetricReport(_JSONResult):
    """All metrics for one prediction file (``spinerisk metrics --json``).

    JSON fields (stable, see docs/metrics.md): ``schema_version``, ``kind`` ("binary" or
    "survival"), ``n``, ``n_events``, ``horizon``, ``metrics`` (name -> Estimate dict),
    ``calibration`` (method -> {ici, e50, e90, emax}), ``thresholds`` (ThresholdMetrics
    dict, binary only), ``decision_curve`` (DecisionCurve dict), ``bootstrap``
    ({n_boot, seed} or null).
    """

    kind: str
    n: int
    n_events: float
    horizon: float | None
    metrics: dict[str, Estimate]
    calibration: dict[str, dict[str, float]]
    thresholds: ThresholdMetrics | None
    decision_curve: DecisionCurve
    bootstrap: dict[str, Any] | None
    schema_version: int = 1


