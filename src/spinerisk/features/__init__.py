"""Features for one task: the variables a model sees (from the data contract, the
care-pathway engine or a config) and the preprocessing that encodes them, with every
transformed column mapped back to its clinical variable."""

from spinerisk.features.preprocess import Preprocessor, build_preprocessor, rcs_columns
from spinerisk.features.variables import (
    TaskSpec,
    Variable,
    contract_variable,
    generic_task,
    numeric_task,
    pathway_variables,
    spine_task,
)

__all__ = ["Preprocessor", "TaskSpec", "Variable", "build_preprocessor", "contract_variable",
           "generic_task", "numeric_task", "pathway_variables", "rcs_columns", "spine_task"]
