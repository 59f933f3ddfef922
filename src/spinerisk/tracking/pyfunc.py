"""The MLflow side of the model flavour: the signature, and the wrapper class of models
logged before spinerisk logged its code with them (kept so those still load).

The checks, conversion and loader live in :mod:`spinerisk.tracking.flavor` (no mlflow).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import AnyType, ColSpec, Schema

from spinerisk.models import RiskModel
from spinerisk.tracking.flavor import RiskModelPredictor, input_columns


def signature(model: RiskModel) -> ModelSignature:
    """Every input column by name with MLflow's ``Any`` type (the flavour checks and
    converts; the typed contract is :func:`spinerisk.tracking.flavor.input_contract`, in the
    MLmodel metadata); one risk per row."""
    inputs = [ColSpec(AnyType(), c, required=False) for c in input_columns(model)]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema([ColSpec("double", "risk")]))


class RiskModelPyfunc(PythonModel):
    """The wrapper pickled into models logged before the ``loader_module`` flavour; stores
    registered then still load through it (same checks and risk as the flavour)."""

    def __init__(self, risk_model: RiskModel):
        self.risk_model = risk_model

    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:
        return RiskModelPredictor(self.risk_model).predict(model_input)
