"""The model's pyfunc flavour without mlflow: its input contract, the checks and
conversion every prediction goes through, and the loader.

A logged model is a pickled :class:`~spinerisk.models.RiskModel` (``data/risk_model.pkl``)
with this module as its MLflow ``loader_module`` and spinerisk's code logged beside it, so
``mlflow.pyfunc.load_model`` works where spinerisk is not installed, and spinerisk itself
reads a local model without importing mlflow at all (:mod:`spinerisk.tracking.local`).

The input contract (every column the model reads, its type, whether the data contract
requires a value) is written into the MLmodel file's metadata (``spinerisk_input``) and
enforced here, with the data contract's messages: a frame that lacks one of the model's
columns, leaves a required field empty, or (with several rows) has a predictor missing
in every row is refused, never scored with the gaps silently imputed.

MLflow's own signature types cannot carry that contract: it refuses int64 for a
``double`` column, a pandas categorical for ``string`` and NaN for ``long``, and its
refusal message prints the input rows (patient data in a log). So the signature names
every input column with MLflow's ``Any`` type, and this module owns the checks and the
conversion: categories become plain strings (an unknown level is then an error naming the
field, never a silent NaN) and numbers, grades and flags become floats (missing = NaN).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from spinerisk import schema
from spinerisk.models import RiskModel

#: The pickled RiskModel inside a logged model's folder.
DATA_FILE = "risk_model.pkl"


def input_columns(model: RiskModel) -> list[str]:
    """Input columns the model reads: its own predictors, and the contract fields the
    care-pathway rules read when the task uses pathway features."""
    columns = [v.name for v in model.task_.variables if v.source != "pathway"]
    if model.task_.pathway:
        from spinerisk.phenotype import default_rules

        columns += [f for f in default_rules().fields if f in schema.FIELD_BY_NAME]
    return list(dict.fromkeys(columns))


def _kind(model: RiskModel, column: str) -> str:
    own = {v.name: v.kind for v in model.task_.variables}
    return own.get(column) or schema.FIELD_BY_NAME[column].kind


def _is_text(model: RiskModel, column: str) -> bool:
    return _kind(model, column) in ("category", "identifier")


def _required(column: str) -> bool:
    """The data contract requires a value (``nullable=False``)."""
    spec = schema.FIELD_BY_NAME.get(column)
    return spec is not None and not spec.nullable


def input_contract(model: RiskModel) -> dict[str, dict[str, object]]:
    """Every input column: ``type`` (string or double, as the wrapper converts it),
    ``required`` (a value in every row), ``predictor`` (one of the model's own variables)
    and, for contract fields, what is ``allowed``. Stored in the MLmodel metadata."""
    own = {v.name for v in model.task_.variables}
    out: dict[str, dict[str, object]] = {}
    for column in input_columns(model):
        entry: dict[str, object] = {"type": "string" if _is_text(model, column) else "double",
                                    "required": _required(column),
                                    "predictor": column in own}
        if column in schema.FIELD_BY_NAME:
            entry["allowed"] = schema.FIELD_BY_NAME[column].allowed()
        out[column] = entry
    return out


def check_input(model: RiskModel, frame: pd.DataFrame) -> None:
    """Refuse a frame the model cannot score faithfully, with the data contract's messages.

    Raises
    ------
    spinerisk.schema.SchemaValidationError
        For columns the model reads that the frame lacks (add them; empty cells are allowed
        where the field may be missing), required fields with empty cells, and, in a frame
        of several rows, a predictor that is missing in every row.
    """
    problems = []
    columns = input_columns(model)
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        problems.append(schema.Problem(
            "<columns>", "expected columns are missing: " + ", ".join(absent),
            allowed=f"the {len(columns)} columns of the model's input contract",
            fix="add the columns (empty cells are allowed where the field may be missing)"))
    own = {v.name for v in model.task_.variables}
    for column in [c for c in columns if c in frame.columns]:
        missing = frame[column].isna()
        if _required(column) and missing.any():
            problems.append(schema.Problem(
                column, "missing values where the field is required",
                rows=tuple(missing.index[missing.to_numpy()][:5]), n_rows=int(missing.sum()),
                allowed="a value in every row", fix="fill the value from the source record"))
        elif column in own and len(frame) > 1 and missing.all():
            problems.append(schema.Problem(
                column, f"all {len(frame)} values are missing",
                fix="export the column's values, or check the column mapping"))
    if problems:
        raise schema.SchemaValidationError(problems)


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


class RiskModelPredictor:
    """What ``mlflow.pyfunc.load_model`` wraps: ``predict`` checks the input against the
    contract and returns calibrated risk, never a class label."""

    def __init__(self, risk_model: RiskModel):
        self.risk_model = risk_model

    def predict(self, model_input: pd.DataFrame, params=None) -> np.ndarray:
        check_input(self.risk_model, model_input)
        return self.risk_model.predict_risk(plain_input(self.risk_model, model_input))


def save_data(model: RiskModel, folder: Path) -> Path:
    """Pickle ``model`` into ``folder`` (the ``data_path`` logged with the model)."""
    path = folder / DATA_FILE
    with path.open("wb") as handle:
        pickle.dump(model, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def load_data(path: str | Path) -> RiskModel:
    """The RiskModel pickled at ``path`` (a file, or the model's ``data`` folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / DATA_FILE
    with path.open("rb") as handle:
        return pickle.load(handle)


def _load_pyfunc(data_path: str) -> RiskModelPredictor:
    """MLflow's entry point for ``loader_module`` models."""
    return RiskModelPredictor(load_data(data_path))
