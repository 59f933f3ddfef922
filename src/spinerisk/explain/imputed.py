"""One patient scored by a model developed on multiply imputed data.

The risk and its range come from :meth:`spinerisk.models.ImputedRiskModel.assess_record`
(every model over every imputation of the patient's missing findings; the range adds the
imputation variance). The drivers are SHAP values of one of those models, the first
imputation's, for the first imputation of the patient's missing findings: one additive
explanation, not an average of ``m`` of them. The explanation says so, names the
findings that were imputed (their phrases read "not recorded") and quotes both risks,
so nothing a person reads disagrees with the numbers behind it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from spinerisk.explain.local import explain_patient
from spinerisk.explain.uncertainty import interval_label
from spinerisk.explain.wording import label, percent
from spinerisk.models.imputed import ImputedRiskModel


def explained_model(model):
    """The model whose SHAP values are shown: the first imputation's for an imputed model."""
    return model.members_[0] if isinstance(model, ImputedRiskModel) else model


def score_imputed(model: ImputedRiskModel, explainer, clean: Mapping[str, Any],
                  pathway_features: Mapping[str, Any], task: str, top: int,
                  interval: bool = True) -> dict[str, Any]:
    """Risk, range (or None), imputed findings and explanation for one validated record.

    Parameters
    ----------
    model : ImputedRiskModel
    explainer : ModelExplainer
        Of ``explained_model(model)``.
    clean, pathway_features : the validated record and its care-pathway features.
    task : str
    top : int
        Drivers shown individually.
    interval : bool
        Compute the range (when the model carries a bootstrap ensemble).
    """
    assessed = model.assess_record(clean, pathway_features)
    member = explained_model(model)
    z = member.preprocessor_.transform_record(model.complete_record(clean, pathway_features))
    grouped = explainer.groups.group(explainer.raw_encoded(z))
    explanation = explain_patient(
        grouped.row(0), float(grouped.base[0]), member.calibrator_,
        {**clean, **pathway_features}, task, calibrated_risk=None, top=top,
        margin_scale=explainer.margin_scale, base_label=explainer.base_label)
    imputed = assessed["imputed"]
    m = assessed["m"]
    where = (f"; the missing findings ({', '.join(map(label, imputed))}) were imputed {m} times"
             if imputed else "; no finding was missing")
    note = (f"{explanation.note} The model was developed on {m} imputations of the missing "
            f"development data{where}. The drivers are those of the first imputation's "
            f"model for the first imputation of this patient, ending at "
            f"{percent(explanation.model_risk)}; the reported risk "
            f"({percent(assessed['risk'])}) averages every model over every imputation.")
    span = assessed["interval"] if interval else None
    if span is not None:
        coverage = getattr(model.within_, "coverage", None)
        span = {**span, "n_members": len(model.within_.members),
                "label": interval_label(span["level"], coverage),
                "coverage": None if coverage is None else coverage["coverage"]}
    return {"risk": assessed["risk"], "interval": span, "imputed": imputed,
            "explanation": dataclasses.replace(explanation, note=note)}
