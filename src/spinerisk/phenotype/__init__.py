"""Care-pathway rules from the review: MRI phenotype -> target -> diagnostic block ->
image-guided intervention, with red flags, contraindications, timing and concordance.

The rules live as data in ``rules.yaml`` (each with its review section and rationale);
one small three-valued evaluator applies them to a single patient
(:func:`assess_patient`) or vectorised over a cohort (:func:`pathway_features`).
Decision support for research use.
"""

from spinerisk.phenotype.engine import (
    CONCORDANCE_LEVELS,
    NOTICE,
    PathwayResult,
    assess_many,
    assess_patient,
    assess_validated,
    pathway_features,
)
from spinerisk.phenotype.rules import PHENOTYPE_NAMES, RuleBook, default_rules, load_rules
from spinerisk.schema import validate_record

__all__ = [
    "CONCORDANCE_LEVELS",
    "NOTICE",
    "PHENOTYPE_NAMES",
    "PathwayResult",
    "RuleBook",
    "assess_many",
    "assess_patient",
    "assess_validated",
    "default_rules",
    "load_rules",
    "pathway_features",
    "validate_record",
]
