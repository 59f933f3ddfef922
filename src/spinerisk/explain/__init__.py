"""Explanations a clinician can read: SHAP values per clinical variable, on the
probability scale, in plain sentences; an interval for the predicted risk; an
out-of-distribution check; and :class:`PatientService`, the one in-process path that the
CLI, the API and the benchmark share. Decision support for research use.

Every path is exact (or, for the model-agnostic fallback, converges to the exact value)
and needs no shap import at run time (importing shap takes ~10-20 s here and its
permutation explainer another ~20 s of JIT on first use); shap's TreeExplainer and
LinearExplainer are the independent references in the tests.
"""

from spinerisk.explain.contributions import (
    Contributions,
    LinearContributions,
    PermutationContributions,
    TreeContributions,
)
from spinerisk.explain.grouping import GroupedContributions, VariableGroups
from spinerisk.explain.local import PatientExplanation, Step, explain_patient
from spinerisk.explain.model_explainer import ModelExplainer, typical_record
from spinerisk.explain.service import LoadedModel, PatientService, pathway_feature_values
from spinerisk.explain.support import SupportCheck, check_support
from spinerisk.explain.uncertainty import (
    BootstrapEnsemble,
    Interval,
    fit_bootstrap_ensemble,
)

__all__ = [
    "BootstrapEnsemble", "Contributions", "GroupedContributions", "Interval",
    "LinearContributions", "LoadedModel", "ModelExplainer", "PatientExplanation",
    "PatientService", "PermutationContributions", "Step", "SupportCheck", "TreeContributions",
    "VariableGroups", "check_support", "explain_patient",
    "fit_bootstrap_ensemble", "pathway_feature_values", "typical_record",
]
