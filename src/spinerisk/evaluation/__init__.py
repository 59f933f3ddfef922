"""spinerisk.evaluation: performance of clinical prediction models, small and exact.

Pure functions returning result objects (``results.py``); plotting lives in
:mod:`spinerisk.evaluation.plots` (matplotlib/plotly imported lazily).

Binary outcomes
    auc, brier_score, scaled_brier, calibration_summary, discrimination_slope,
    threshold_metrics, positives, roc_curve, calibration_curve, calibration_errors, decision_curve,
    fit_glm (logistic / Poisson GLM used for recalibration; FitDiagnostics is the
    convergence contract of every likelihood fit), NA_REASONS (codes of undefined values)
Time-to-event at a horizon
    harrell_c, uno_c, time_dependent_auc, brier_survival, oe_survival,
    calibration_slope_survival, calibration_poisson, calibration_curve_survival,
    decision_curve_survival, fit_cox
Internal validation and uncertainty
    bootstrap_binary, bootstrap_apply, resample_indices, optimism_corrected
Sample size (Riley)
    sample_size_binary, sample_size_survival, sample_size_continuous,
    sample_size_external_binary, sample_size_external_survival
One call for a prediction file
    evaluate_predictions
"""

from spinerisk.evaluation._glm import GLMFit, fit_glm
from spinerisk.evaluation.binary import (
    auc,
    brier_score,
    calibration_summary,
    discrimination_slope,
    positives,
    roc_curve,
    scaled_brier,
    threshold_metrics,
)
from spinerisk.evaluation.bootstrap import (
    BINARY_METRICS,
    bootstrap_apply,
    bootstrap_binary,
    resample_indices,
)
from spinerisk.evaluation.calibration import calibration_curve, calibration_errors
from spinerisk.evaluation.convergence import FitDiagnostics
from spinerisk.evaluation.cox import CoxFit, fit_cox
from spinerisk.evaluation.decision import decision_curve, decision_curve_survival
from spinerisk.evaluation.results import (
    NA_REASONS,
    BootstrapResult,
    CalibrationCurve,
    CalibrationSummary,
    Criterion,
    DecisionCurve,
    Estimate,
    MetricReport,
    MetricSet,
    OptimismResult,
    RocCurve,
    SampleSizeResult,
    ThresholdMetrics,
)
from spinerisk.evaluation.sample_size import (
    cs_r2_from_c,
    sample_size_binary,
    sample_size_continuous,
    sample_size_external_binary,
    sample_size_external_survival,
    sample_size_survival,
)
from spinerisk.evaluation.survival import (
    brier_survival,
    calibration_curve_survival,
    calibration_poisson,
    calibration_slope_survival,
    harrell_c,
    oe_survival,
    time_dependent_auc,
    uno_c,
)

__all__ = [
    "BINARY_METRICS",
    "NA_REASONS",
    "BootstrapResult",
    "CalibrationCurve",
    "CalibrationSummary",
    "CoxFit",
    "Criterion",
    "DecisionCurve",
    "Estimate",
    "FitDiagnostics",
    "GLMFit",
    "MetricReport",
    "MetricSet",
    "OptimismResult",
    "RocCurve",
    "SampleSizeResult",
    "ThresholdMetrics",
    "auc",
    "bootstrap_apply",
    "bootstrap_binary",
    "brier_score",
    "brier_survival",
    "calibration_curve",
    "calibration_curve_survival",
    "calibration_errors",
    "calibration_poisson",
    "calibration_slope_survival",
    "calibration_summary",
    "cs_r2_from_c",
    "decision_curve",
    "decision_curve_survival",
    "discrimination_slope",
    "evaluate_predictions",
    "fit_cox",
    "fit_glm",
    "harrell_c",
    "oe_survival",
    "optimism_corrected",
    "positives",
    "resample_indices",
    "roc_curve",
    "sample_size_binary",
    "sample_size_continuous",
    "sample_size_external_binary",
    "sample_size_external_survival",
    "sample_size_survival",
    "scaled_brier",
    "threshold_metrics",
    "time_dependent_auc",
    "uno_c",
]


def __getattr__(name: str):
    # scikit-learn and pandas load only when these are first used (fast core import)
    if name == "optimism_corrected":
        from spinerisk.evaluation.optimism import optimism_corrected

        return optimism_corrected
    if name == "evaluate_predictions":
        from spinerisk.evaluation.report_metrics import evaluate_predictions

        return evaluate_predictions
    raise AttributeError(f"module 'spinerisk.evaluation' has no attribute {name!r}")
