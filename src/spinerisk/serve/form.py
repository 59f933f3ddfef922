"""What the clinician page needs to build its form: ``GET /v1/schema``.

Fields by dictionary group (predictors and procedure only) with their clinical label,
unit, allowed range and the clinical name of each level (from
:mod:`spinerisk.vocabulary`); the loaded tasks; for every task its outcome in words and
whether a higher predicted value is better for the patient (the waterfall's colours); the
clinical names of the care-pathway phenotypes; and example patients.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from spinerisk import schema
from spinerisk.explain.wording import outcome_noun
from spinerisk.vocabulary import PHENOTYPE_LABELS, level_name

#: Tasks whose predicted probability is of a good outcome (higher is better).
GOOD_OUTCOME_TASKS = frozenset({"response"})

_TYPICAL_NEGATIVES = {"diabetes": 0, "depression_anxiety": 0, "baseline_opioid": 0,
                      "anticoagulation": 0, "prior_surgery_index_level": 0,
                      "red_flag_fever": 0, "red_flag_weight_loss": 0,
                      "red_flag_cancer_history": 0, "red_flag_trauma": 0,
                      "red_flag_cauda_equina": 0, "progressive_deficit": 0}

_TYPICAL_DISCECTOMY = {
    **_TYPICAL_NEGATIVES, "age": 45, "sex": "male", "bmi": 29.2, "smoking": "never",
    "employment": "employed", "manual_labour": 0, "regular_exercise": 0,
    "symptom_duration_weeks": 10, "pain_pattern": "radicular", "back_pain_nrs": 7,
    "leg_pain_nrs": 7, "odi": 43, "motor_deficit": 0, "sensory_deficit": 0,
    "dermatomal_concordance": 1, "n_plausible_levels": 1, "index_level": "L4-L5",
    "side": "right", "modic_type": "none", "modic_extent_gt50": 0, "pfirrmann_grade": 3,
    "herniation_type": "protrusion", "herniation_contained": 1,
    "herniation_location": "subarticular", "root_compression_grade": 2,
    "segmental_rom_deg": 7.7, "procedure": "peld_transforaminal", "guidance": "fluoroscopy",
    "operator_experienced": 1}

#: Example patients for the form, invented. The typical ones take the median (numbers) or
#: most common value (categories) of the procedure's patients in the simulated cohort
#: (``spinerisk simulate``, seed 3); the extreme one is labelled as such.
EXAMPLES: dict[str, dict[str, Any]] = {
    "Typical: endoscopic discectomy (reoperation risk)": _TYPICAL_DISCECTOMY,
    "Typical: facet radiofrequency ablation (chance of pain relief)": {
        **_TYPICAL_NEGATIVES, "age": 60, "sex": "female", "bmi": 28.2, "smoking": "never",
        "employment": "employed", "symptom_duration_weeks": 30,
        "pain_days_fraction_6m": 0.71, "pain_pattern": "axial", "back_pain_nrs": 7,
        "leg_pain_nrs": 3, "odi": 42, "pain_on_extension_rotation": 1,
        "paraspinal_tenderness": 1, "facet_arthropathy_grade": 2, "facet_effusion": 0,
        "index_level": "L4-L5", "procedure": "facet_rfa", "diagnostic_blocks_positive": 1,
        "guidance": "fluoroscopy", "operator_experienced": 1},
    "Typical: kyphoplasty (residual pain risk)": {
        **_TYPICAL_NEGATIVES, "age": 72, "sex": "female", "bmi": 28.7, "smoking": "never",
        "employment": "retired", "bmd_t_score": -2.8, "sarcopenia": 0,
        "symptom_duration_weeks": 4, "pain_pattern": "axial", "back_pain_nrs": 7, "odi": 41,
        "vertebral_marrow_oedema": 1, "fracture_genant_grade": 2, "n_fractures": 1,
        "intravertebral_cleft": 0, "tlf_injury": 0, "goutallier_grade": 2,
        "procedure": "kyphoplasty", "cement_volume_ml": 4.4, "cement_maldistribution": 0},
    "Extreme (not typical): endoscopic discectomy with every reoperation risk factor": {
        **_TYPICAL_DISCECTOMY, "age": 58, "bmi": 29.5, "smoking": "current",
        "manual_labour": 1, "diabetes": 1, "symptom_duration_weeks": 14, "back_pain_nrs": 5,
        "leg_pain_nrs": 8, "odi": 46, "sensory_deficit": 1, "side": "left",
        "modic_type": "type2", "pfirrmann_grade": 4, "herniation_type": "extrusion",
        "herniation_contained": 0, "segmental_rom_deg": 11},
}


def form_schema(tasks: Iterable[str], notice: str) -> dict[str, Any]:
    """The page's form description (see the module docstring)."""
    groups = []
    for group, fields in schema.field_groups().items():
        shown = [_field_entry(f) for f in fields if f.role in ("predictor", "procedure")]
        if shown:
            groups.append({"name": group, "fields": shown})
    outcomes = {t: {"outcome": outcome_noun(t), "higher_is_better": t in GOOD_OUTCOME_TASKS}
                for t in schema.TASKS}
    return {"groups": groups, "tasks": sorted(tasks), "outcomes": outcomes,
            "phenotype_labels": PHENOTYPE_LABELS, "examples": EXAMPLES, "notice": notice}


def _field_entry(f: schema.Field) -> dict[str, Any]:
    levels = list(f.levels) if f.levels else None
    return {"name": f.name, "kind": f.kind, "label": f.description.rstrip("."),
            "unit": f.unit, "low": f.low, "high": f.high, "levels": levels,
            "level_labels": {code: level_name(f.name, code) for code in levels or ()},
            "allowed": f.allowed(), "required": not f.nullable, "tasks": sorted(f.tasks)}
