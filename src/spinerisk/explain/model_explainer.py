"""SHAP for a fitted :class:`spinerisk.models.RiskModel`, grouped by clinical variable.

The explainer explains the model's *base learner* on its margin (``RiskModel.base_margin``),
the quantity the calibrated risk is a monotone map of. It is built once per loaded model:

* trees (``xgboost``, ``xgboost_cox``): exact TreeSHAP, base value the training-average
  margin: xgboost's ``pred_contribs`` for patients (:meth:`ModelExplainer.raw_encoded`,
  :meth:`ModelExplainer.explain_encoded`), precomputed per-leaf tables
  (:mod:`spinerisk.explain.leaf_tables`, ~4x less CPU, numba) for grouped contributions of
  batches (:meth:`ModelExplainer.explain_batch`, :meth:`ModelExplainer.explain_frame`,
  batch scoring); the two agree to 1e-6;
* linear learners (``logistic``, ``cox``): exact SHAP against a reference patient. A
  registered model carries aggregates only, not training rows, so the reference is the
  *typical training patient* built from the training profile (median of each number,
  commonest level of each category): ``phi_j = beta_j (x_j - x_ref_j)`` are then the
  baseline Shapley values, additive to ``margin(x) - margin(x_ref)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from spinerisk.explain.contributions import (
    Contributions,
    LinearContributions,
    PermutationContributions,
    TreeContributions,
    _is_xgboost,
)
from spinerisk.explain.grouping import GroupedContributions, VariableGroups


class ModelExplainer:
    """Grouped SHAP values of a fitted RiskModel.

    Parameters
    ----------
    model : RiskModel
        A fitted model.

    Attributes
    ----------
    contributions : callable
        Encoded rows -> :class:`Contributions` on the margin scale.
    groups : VariableGroups
    family : {"trees", "linear", "permutation"}
    base_label : str
        What the base value is, in words.
    margin_scale : str
        ``"log-odds"`` or ``"log relative hazard"``.
    """

    def __init__(self, model):
        self.model = model
        names = list(model.feature_names_)
        self.groups = VariableGroups.from_mapping(names, model.feature_to_variable_)
        self.margin_scale = ("log relative hazard" if model.task_.is_survival else "log-odds")
        estimator = model.estimator_
        if _is_xgboost(estimator):
            self.contributions = TreeContributions(estimator, names)
            self.base_label = "average prediction"
        else:
            reference = model.preprocessor_.transform_record(typical_record(
                model.training_profile_))
            self.contributions = _linear_or_permutation(model, reference, names)
            self.base_label = "typical training patient"
        self.family = self.contributions.family

    def explain_encoded(self, Z: np.ndarray) -> GroupedContributions:
        """Grouped contributions of already-encoded rows (a few patients: the same path
        as :meth:`raw_encoded`, no compiled kernels to load)."""
        return self.groups.group(self.contributions(Z))

    def explain_batch(self, Z: np.ndarray) -> GroupedContributions:
        """Grouped contributions of many encoded rows: trees through the precomputed
        TreeSHAP tables (:attr:`batch_tables`; equal to :meth:`explain_encoded` to 1e-6),
        anything else as :meth:`explain_encoded`."""
        tables = self.batch_tables
        if tables is None:
            return self.explain_encoded(Z)
        values = tables.contributions(Z, self.groups.column_of_feature,
                                      len(self.groups.variables))
        return GroupedContributions(values, np.full(len(values), tables.base),
                                    self.groups.variables)

    @property
    def batch_tables(self):
        """The booster's :class:`~spinerisk.explain.leaf_tables.LeafTables` (built on first
        use, cached per booster), or None: not trees, or tables refused for this booster
        (their ``refused`` says why; ``pred_contribs`` is used then)."""
        if self.family != "trees":
            return None
        from spinerisk.explain.leaf_tables import leaf_tables

        tables = leaf_tables(self.contributions.booster)
        return None if tables.refused else tables

    def raw_encoded(self, Z: np.ndarray) -> Contributions:
        """Per-column contributions of already-encoded rows."""
        return self.contributions(Z)

    def encode_frame(self, X: pd.DataFrame) -> np.ndarray:
        """Encode a cohort frame as the model does (pathway features added when needed)."""
        return self.model.preprocessor_.transform(self.model._model_frame(X))

    def explain_frame(self, X: pd.DataFrame, chunk: int = 50_000) -> GroupedContributions:
        """Grouped contributions for every row of a frame, in chunks (batch scoring)."""
        parts = [self.explain_batch(self.encode_frame(X.iloc[i:i + chunk]))
                 for i in range(0, len(X), chunk)]
        return GroupedContributions(np.vstack([p.values for p in parts]),
                                    np.concatenate([p.base for p in parts]), self.groups.variables)


def _linear_or_permutation(model, reference: np.ndarray, names: list[str]):
    """Exact linear SHAP when the margin is linear in the encoded columns, else permutation."""
    coef = getattr(model.estimator_, "coef_", None)
    if coef is not None and np.size(coef) == len(names):
        intercept = float(model.margin_of_encoded(np.zeros((1, len(names))))[0])
        return LinearContributions(np.ravel(coef), intercept, reference[0], names)
    return PermutationContributions(model.margin_of_encoded, reference, names)


def typical_record(profile: Mapping[str, Any]) -> dict[str, Any]:
    """The typical training patient: median of each number, commonest level otherwise.

    Parameters
    ----------
    profile : mapping
        ``RiskModel.training_profile_`` (aggregates only).
    """
    record: dict[str, Any] = {}
    for name, entry in profile["variables"].items():
        if "quantiles" in entry:
            record[name] = float(entry["quantiles"]["0.5"])
            continue
        shares = {k: (v or 0.0) for k, v in entry["level_shares"].items()}
        level = max(shares, key=shares.get)
        record[name] = int(level) if entry["kind"] == "binary" else level
    return record
