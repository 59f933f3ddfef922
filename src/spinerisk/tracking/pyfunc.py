"""The MLflow pyfunc wrapper: ``predict`` returns calibrated risk, never a class label.

MLflow records pandas categoricals as ``string`` in a signature and then refuses
categorical input; it also refuses int64 for a ``double`` column and NaN for a ``long``
one. So the signature names every input column the model reads, all optional, with
MLflow's ``Any`` type, and the wrapper owns the conversion: categories become plain
strings (an unknown level is then an error naming the field, never a silent NaN) and
numbers, grades and flags become floats (missing = NaN) before predicting.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import AnyType, ColSpec, Schema

from spinerisk import schema
from spinerisk.models import RiskModel


def input_columns(model: RiskModel) -> list[str]:
    """Input columns the model reads: its own predictors, and the contract fields the
    care-pathway rules read when the task uses pathway features."""
    columns = [v.name for v in model.task_.variables if v.source != "pathway"]
    if model.task_.pathway:
        from spinerisk.phenotype import default_rules

        columns += [f for f in default_rules().fields if f in schema.FIELD_BY_NAME]
    return list(dict.fromkeys(columns))


def _is_text(model: RiskModel, column: str) -> bool:
    own = {v.name: v.kind for v in model.task_.variables}
    kind = own.get(column) or schema.FIELD_BY_NAME[column].kind
    return kind in ("category", "identifier")


def signature(model: RiskModel) -> ModelSignature:
    """Every input optional (missing is allowed), typed by the wrapper; one risk per row."""
    inputs = [ColSpec(AnyType(), c, required=False) for c in input_columns(model)]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema([ColSpec("double", "risk")]))


def plain_input(model: RiskModel, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns in plain dtypes: categories as object strings (missing
    None), numbers, grades and flags as float (missing NaN); absent columns all missing."""
    out = {}
    for column in input_columns(model):
        values = (frame[column] if column in frame.columns
                  else pd.Series([None] * len(frame), index=frame.index, dtype=object))
        if _is_text(model, column):
            out[column] = values.astype(object).where(values.notna(), None)
        else:
            out[column] = pd.to_numeric(values, errors="raise").astype(float)
    return pd.DataFrame(out, index=frame.index)


class RiskModelPyfunc(PythonModel):
    """Wraps a fitted :class:`RiskModel`; ``predict`` returns calibrated risk."""

    def __init__(self, risk_model: RiskModel):
        self.risk_model = risk_model

    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:
        return self.risk_model.predict_risk(plain_input(self.risk_model, model_input))
