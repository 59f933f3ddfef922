"""Clinical words for variables, values and outcomes (used in sentences and on the page)."""

from __future__ import annotations

import math
from typing import Any

from spinerisk import schema

#: What the predicted probability is a probability of, per task.
OUTCOME_NOUN: dict[str, str] = {
    "response": "chance of >= 50% pain relief",
    "residual_pain": "residual back-pain risk at 1 month",
    "reoperation": "reoperation risk at 24 months",
}

#: Short labels for fields whose contract description reads badly inside a sentence.
_SHORT: dict[str, str] = {
    "bmi": "BMI", "age": "Age", "odi": "Oswestry Disability Index",
    "bmd_t_score": "BMD T-score", "modic_type": "Modic change",
    "smoking": "Smoking", "employment": "Employment", "pfirrmann_grade": "Pfirrmann grade",
    "goutallier_grade": "Goutallier grade", "symptom_duration_weeks": "Symptom duration",
    "back_pain_nrs": "Back pain NRS", "leg_pain_nrs": "Leg pain NRS",
    "segmental_rom_deg": "Segmental range of motion", "n_fractures": "Number of fractures",
    "herniation_type": "Herniation", "procedure": "Procedure", "concordance":
    "Procedure-phenotype concordance", "red_flag_any": "Any red flag",
    "manual_labour": "Heavy manual labour", "regular_exercise": "Regular exercise",
    "diabetes": "Diabetes", "depression_anxiety": "Depression or anxiety",
    "baseline_opioid": "Opioid use before the procedure", "anticoagulation": "Anticoagulation",
    "prior_surgery_index_level": "Prior surgery at the index level",
    "sarcopenia": "Sarcopenia", "motor_deficit": "Motor deficit",
    "sensory_deficit": "Sensory deficit", "herniation_contained": "Contained herniation",
    "modic_extent_gt50": "Endplate change > 50%", "hiz": "High-intensity zone",
    "facet_effusion": "Facet effusion", "tlf_injury": "Thoracolumbar fascia injury",
    "intravertebral_cleft": "Intravertebral vacuum cleft",
    "cement_maldistribution": "Cement maldistribution",
    "operator_experienced": "Experienced operator", "dynamic_instability":
    "Dynamic instability", "n_plausible_levels": "Plausible symptomatic levels",
}
#: How units read after a number ("" drops the unit).
_UNIT_WORDS: dict[str, str] = {"NRS 0-10": "/10", "fraction": "", "ratio": "", "grade": ""}
_PATHWAY_LABELS: dict[str, str] = {
    "phenotype_radicular": "Radicular phenotype",
    "phenotype_facetogenic": "Facetogenic phenotype",
    "phenotype_discogenic": "Discogenic phenotype",
    "phenotype_vertebrogenic": "Vertebrogenic phenotype",
    "phenotype_sacroiliac": "Sacroiliac phenotype",
    "phenotype_lf_stenosis": "LF-driven stenosis phenotype",
    "phenotype_osseous_red_flag": "Osseous red-flag phenotype",
}


def outcome_noun(task: str) -> str:
    """The predicted quantity in words (``"predicted risk"`` for generic tasks)."""
    return OUTCOME_NOUN.get(task, f"{task.replace('_', ' ')} risk")


def label(variable: str) -> str:
    """Short clinical label of a variable."""
    if variable in _SHORT:
        return _SHORT[variable]
    if variable in _PATHWAY_LABELS:
        return _PATHWAY_LABELS[variable]
    spec = schema.FIELD_BY_NAME.get(variable)
    if spec is None:
        return variable.replace("_", " ").capitalize()
    return spec.description.rstrip(".")


def describe(variable: str, value: Any, record: dict[str, Any] | None = None) -> str:
    """The variable and the patient's value as a phrase ("Modic type 2 change at L4-L5").

    Parameters
    ----------
    variable : str
        Clinical variable (contract field or pathway feature).
    value : object
        The patient's value (``None`` when not recorded).
    record : dict, optional
        The whole record, to add the index level to MRI findings.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{label(variable)} not recorded"
    if variable == "modic_type":
        at = f" at {record['index_level']}" if record and record.get("index_level") else ""
        return ("No Modic change" if value == "none" else
                f"Modic {_level_words(str(value))} change") + at
    spec = schema.FIELD_BY_NAME.get(variable)
    kind = spec.kind if spec else ("category" if isinstance(value, str) else "binary"
                                   if variable in _PATHWAY_LABELS or variable == "red_flag_any"
                                   else "numeric")
    if kind == "binary":
        return f"{label(variable)} ({'yes' if int(value) == 1 else 'no'})"
    if kind == "category":
        return f"{label(variable)}: {_level_words(str(value))}"
    unit = _UNIT_WORDS.get(spec.unit, f" {spec.unit}") if spec and spec.unit else ""
    return f"{label(variable)} {float(value):g}{unit}"


def _level_words(level: str) -> str:
    words = {"type1": "type 1", "type2": "type 2", "type3": "type 3", "mixed12": "mixed type 1/2",
             "non_particulate": "non-particulate"}
    return words.get(level, level.replace("_", " "))


def percent(risk: float) -> str:
    """A risk as a whole percentage, with one decimal below 1%."""
    value = 100.0 * risk
    return f"{value:.1f}%" if value < 1 else f"{value:.0f}%"
