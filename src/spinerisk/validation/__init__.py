"""External validation at a new site: case-mix, performance, updating, verdict.

Pure functions returning result objects; the report (HTML/PDF), MLflow and the CLI are
the rim.

validate_predictions(frame, risk, spec, site=...) -> ValidationResult
validate_model(model, frame, spec, site=...) -> ValidationResult
TaskSpec, Subgroup, load_task_spec(path), spine_task_spec(task), eligible_rows(frame, spec)
development_reference(frame, spec, lp) -> DevelopmentReference
update_data(...), update_model(...), closed_test(...), SiteUpdatedModel
decide(...), VerdictRules
"""

from spinerisk.validation.casemix import (
    CaseMix,
    DevelopmentReference,
    compare_case_mix,
    development_reference,
    membership_c_statistic,
)
from spinerisk.validation.core import ValidationResult, validate_model, validate_predictions
from spinerisk.validation.task import (
    PredictorEncoder,
    Subgroup,
    TaskSpec,
    eligible_rows,
    load_task_spec,
    spine_task_spec,
)
from spinerisk.validation.updating import (
    METHODS,
    SiteUpdatedModel,
    UpdatingResult,
    closed_test,
    fit_update,
    update_data,
    update_model,
)
from spinerisk.validation.verdict import (
    FIT,
    MORE_DATA,
    NO_BENEFIT,
    NOT_TRANSPORTABLE,
    RECALIBRATE,
    VerdictRules,
    decide,
)

__all__ = [
    "FIT",
    "METHODS",
    "MORE_DATA",
    "NOT_TRANSPORTABLE",
    "NO_BENEFIT",
    "RECALIBRATE",
    "CaseMix",
    "DevelopmentReference",
    "PredictorEncoder",
    "SiteUpdatedModel",
    "Subgroup",
    "TaskSpec",
    "UpdatingResult",
    "ValidationResult",
    "VerdictRules",
    "closed_test",
    "compare_case_mix",
    "decide",
    "development_reference",
    "eligible_rows",
    "fit_update",
    "load_task_spec",
    "membership_c_statistic",
    "spine_task_spec",
    "update_data",
    "update_model",
    "validate_model",
    "validate_predictions",
]
