"""Table-driven clinical cases: one per phenotype row, red flag, contraindication,
diagnostic-step and timing rule, plus mixed cases. Each asserts the exact labels and the
cited rule ids, for the single-patient result and for the vectorised features."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pytest

from spinerisk.phenotype import NOTICE, assess_patient, default_rules, pathway_features

#: A fully recorded patient with axial pain and no phenotype, red flag or contraindication.
BASE: dict[str, Any] = {
    "age": 52,
    "sex": "female",
    "symptom_duration_weeks": 30,
    "pain_days_fraction_6m": 0.8,
    "pain_pattern": "axial",
    "back_pain_nrs": 6,
    "leg_pain_nrs": 1,
    "motor_deficit": 0,
    "sensory_deficit": 0,
    "dermatomal_concordance": 0,
    "pain_on_extension_rotation": 0,
    "paraspinal_tenderness": 0,
    "sij_provocation_positive": 0,
    "n_plausible_levels": 1,
    "red_flag_fever": 0,
    "red_flag_weight_loss": 0,
    "red_flag_cancer_history": 0,
    "red_flag_trauma": 0,
    "red_flag_cauda_equina": 0,
    "progressive_deficit": 0,
    "anticoagulation": 0,
    "prior_surgery_index_level": 0,
    "index_level": "L4-L5",
    "side": "central",
    "modic_type": "none",
    "modic_extent_gt50": 0,
    "pfirrmann_grade": 2,
    "hiz": 0,
    "herniation_type": "none",
    "herniation_contained": 1,
    "root_compression_grade": 0,
    "central_stenosis_schizas": "A",
    "dural_sac_csa_mm2": 160,
    "foraminal_stenosis_grade": 0,
    "lf_thickness_mm": 3.0,
    "facet_arthropathy_grade": 0,
    "facet_effusion": 0,
    "spondylolisthesis_grade": 0,
    "dynamic_instability": 0,
    "sij_oedema": 0,
    "sij_sclerosis": 0,
    "vertebral_marrow_oedema": 0,
    "fracture_genant_grade": 0,
    "steroid": "none",
    "diagnostic_blocks_positive": 0,
    # findings added for the review's rules (issue 12)
    "prior_surgery_type": "none",
    "coagulopathy": 0,
    "pregnancy": 0,
    "failed_conservative_care": 1,
    "conservative_care_weeks": 20,
    "conservative_care_type": "multimodal",
    "fortin_finger_test": 0,
    "night_pain": 0,
    "low_energy_trauma": 0,
    "n_affected_levels": 1,
    "vertebral_fracture": 0,
    "bone_scan_uptake": "not_performed",
    "endplate_destruction": 0,
    "disc_endplate_enhancement": "not_performed",
    "marrow_replacement": 0,
    "mbb_positive": 0,
    "sij_block_positive": 0,
    "snrb_positive": 0,
}

RADICULAR = {
    "pain_pattern": "radicular",
    "dermatomal_concordance": 1,
    "root_compression_grade": 2,
    "herniation_type": "protrusion",
    "side": "left",
    "leg_pain_nrs": 7,
    "symptom_duration_weeks": 10,
}
FACET = {"pain_on_extension_rotation": 1, "paraspinal_tenderness": 1, "facet_arthropathy_grade": 2}
VERTEBROGENIC = {"modic_type": "type1", "modic_extent_gt50": 1}
LF_STENOSIS = {
    "pain_pattern": "claudication",
    "lf_thickness_mm": 5.5,
    "central_stenosis_schizas": "C",
    "dural_sac_csa_mm2": 70,
}
ACTIVE_VCF = {"age": 78, "vertebral_fracture": 1, "fracture_genant_grade": 2,
              "vertebral_marrow_oedema": 1}
RADICULAR_CANDIDATES = (
    "IV-TF-ESI",
    "IV-IL-ESI",
    "IV-CAUDAL-ESI",
    "IV-DRG-PRF",
    "IV-PLDD",
    "IV-OZONE-RADICULAR",
    "IV-PELD-TRANSFORAMINAL",
    "IV-PELD-INTERLAMINAR",
)


@dataclass
class Case:
    """A patient (BASE plus overrides) and what the pathway must say about it."""

    name: str
    overrides: dict[str, Any]
    phenotypes: tuple[str, ...]
    concordance: tuple[str, tuple[str, ...]]
    red_flags: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    contraindications: tuple[str, ...] = ()
    timing: tuple[str, ...] = ("TM-BACPAC-CHRONIC",)
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return BASE | self.overrides


CASES = [
    # ---- one case per phenotype row
    Case(
        "radicular",
        RADICULAR | {"procedure": "tf_esi", "steroid": "non_particulate"},
        ("radicular",),
        ("concordant", ("IV-TF-ESI",)),
        timing=(),
        extra={
            "candidates": RADICULAR_CANDIDATES,
            "supporting": ("F-RAD-PATTERN", "F-DERM-CONCORDANT", "F-ROOT-CONFLICT", "F-HERNIATION"),
            "against": (),
        },
    ),
    Case(
        "facetogenic",
        FACET | {"procedure": "facet_rfa", "diagnostic_blocks_positive": 2, "mbb_positive": 2},
        ("facetogenic",),
        ("concordant", ("IV-FACET-RFA",)),
        steps=("DX-DUAL-MBB",),
        extra={
            "candidates": ("IV-MBB", "IV-FACET-RFA", "IV-FACET-IA-STEROID"),
            "supporting": (
                "F-EXT-ROT-PAIN",
                "F-PARASPINAL-TENDERNESS",
                "F-FACET-ARTHROPATHY",
                "F-AXIAL-PATTERN",
            ),
            "against": (),
        },
    ),
    Case(
        "discogenic",
        {"pfirrmann_grade": 4, "hiz": 1, "procedure": "cooled_rf_disc"},
        ("discogenic",),
        ("concordant", ("IV-COOLED-RF-DISC",)),
        extra={
            "candidates": ("IV-COOLED-RF-DISC", "IV-OZONE-DISCOGENIC"),
            "supporting": ("F-AXIAL-PATTERN", "F-DISC-DEGENERATION", "F-HIZ", "F-NO-ROOT-CONFLICT"),
            "against": (),
        },
    ),
    Case(
        "vertebrogenic",
        VERTEBROGENIC | {"procedure": "bvna"},
        ("vertebrogenic",),
        ("concordant", ("IV-BVNA",)),
        steps=("DX-EXCLUDE-COMPETING",),
        extra={
            "candidates": ("IV-BVNA",),
            "supporting": ("F-AXIAL-PATTERN", "F-MODIC-1-2", "F-MODIC-EXTENSIVE"),
            "against": (),
        },
    ),
    Case(
        "sacroiliac",
        {
            "pain_pattern": "buttock",
            "sij_provocation_positive": 4,
            "sij_oedema": 1,
            "procedure": "sij_block",
        },
        ("sacroiliac",),
        ("concordant", ("IV-SIJ-BLOCK",)),
        steps=("DX-SIJ-BLOCK",),
        extra={
            "candidates": ("IV-SIJ-BLOCK", "IV-SIJ-RFA"),
            "supporting": ("F-BUTTOCK-PATTERN", "F-SIJ-PROVOCATION", "F-SIJ-OEDEMA"),
            "against": (),
        },
    ),
    Case(
        "lf_stenosis",
        LF_STENOSIS | {"procedure": "mild"},
        ("lf_stenosis",),
        ("concordant", ("IV-MILD",)),
        extra={
            "candidates": ("IV-MILD", "IV-IL-ESI-STENOSIS"),
            "supporting": ("F-CLAUDICATION", "F-LF-HYPERTROPHY", "F-CANAL-NARROWING"),
            "against": (),
        },
    ),
    Case(
        "osseous_active_vcf",
        ACTIVE_VCF | {"procedure": "vertebroplasty"},
        ("osseous_red_flag",),
        ("concordant", ("IV-VERTEBROPLASTY",)),
        red_flags=("RF-FRACTURE",),
        steps=("DX-URGENT-TRIAGE", "DX-FRACTURE-PATHWAY"),
        extra={
            "candidates": ("IV-VERTEBROPLASTY", "IV-KYPHOPLASTY"),
            "supporting": ("F-VERTEBRAL-FRACTURE", "F-ACTIVE-LESION"),
            "against": (),
        },
    ),
    # ---- one case per red flag (a degenerative procedure is then contraindicated)
    Case(
        "red_flag_infection",
        {"red_flag_fever": 1, "procedure": "sij_block"},
        ("osseous_red_flag",),
        ("contraindicated", ("CI-RED-FLAG",)),
        red_flags=("RF-INFECTION",),
        steps=("DX-URGENT-TRIAGE", "DX-INFECTION-WORKUP"),
        contraindications=("CI-RED-FLAG",),
        extra={"candidates": ()},
    ),
    Case(
        "red_flag_cancer_history",
        {"red_flag_cancer_history": 1, "procedure": "tf_esi"},
        ("osseous_red_flag",),
        ("contraindicated", ("CI-RED-FLAG",)),
        red_flags=("RF-MALIGNANCY",),
        steps=("DX-URGENT-TRIAGE", "DX-MALIGNANCY-WORKUP"),
        contraindications=("CI-RED-FLAG",),
    ),
    Case(
        "red_flag_weight_loss",
        {"red_flag_weight_loss": 1, "procedure": "cooled_rf_disc"},
        ("osseous_red_flag",),
        ("contraindicated", ("CI-RED-FLAG",)),
        red_flags=("RF-MALIGNANCY",),
        steps=("DX-URGENT-TRIAGE", "DX-MALIGNANCY-WORKUP"),
        contraindications=("CI-RED-FLAG",),
    ),
    Case(
        "red_flag_trauma",
        {"red_flag_trauma": 1, "procedure": "mbb"},
        ("osseous_red_flag",),
        ("contraindicated", ("CI-RED-FLAG",)),
        red_flags=("RF-TRAUMA",),
        steps=("DX-URGENT-TRIAGE", "DX-FRACTURE-PATHWAY"),
        contraindications=("CI-RED-FLAG",),
    ),
    # review 2.4 vs 2.7: marrow oedema is read at a fracture or lesion; without one it is
    # no osseous red flag (endplate oedema of Modic 1 is recorded as modic_type)
    Case(
        "marrow_oedema_without_fracture_is_no_red_flag",
        {"vertebral_marrow_oedema": 1, "procedure": "il_esi"},
        (),
        ("discordant", ("IV-IL-ESI", "IV-IL-ESI-STENOSIS")),
    ),
    Case(
        "red_flag_cauda_equina",
        RADICULAR | {"red_flag_cauda_equina": 1, "procedure": "il_esi"},
        ("radicular",),
        ("contraindicated", ("CI-RED-FLAG",)),
        red_flags=("RF-CAUDA-EQUINA",),
        steps=("DX-URGENT-TRIAGE", "DX-NEURO-URGENT"),
        contraindications=("CI-RED-FLAG",),
        timing=(),
        extra={"candidates": ("IV-PELD-TRANSFORAMINAL", "IV-PELD-INTERLAMINAR")},
    ),
    Case(
        "red_flag_progressive_deficit",
        RADICULAR
        | {
            "progressive_deficit": 1,
            "motor_deficit": 1,
            "herniation_type": "extrusion",
            "procedure": "peld_transforaminal",
        },
        ("radicular",),
        ("concordant", ("IV-PELD-TRANSFORAMINAL",)),
        red_flags=("RF-PROGRESSIVE-DEFICIT",),
        steps=("DX-URGENT-TRIAGE", "DX-NEURO-URGENT"),
        timing=(),
    ),
    # ---- one case per contraindication
    Case(
        "bvna_severe_stenosis",
        VERTEBROGENIC | {"central_stenosis_schizas": "D", "procedure": "bvna"},
        ("vertebrogenic",),
        ("contraindicated", ("CI-BVNA-STENOSIS",)),
        steps=("DX-EXCLUDE-COMPETING",),
        contraindications=("CI-BVNA-STENOSIS",),
        extra={"blocked": {"IV-BVNA": ("CI-BVNA-STENOSIS",)}},
    ),
    Case(
        "bvna_instability",
        VERTEBROGENIC | {"dynamic_instability": 1, "procedure": "bvna"},
        ("vertebrogenic",),
        ("contraindicated", ("CI-BVNA-INSTABILITY",)),
        steps=("DX-EXCLUDE-COMPETING",),
        contraindications=("CI-BVNA-INSTABILITY",),
    ),
    Case(
        "bvna_listhesis",
        VERTEBROGENIC | {"spondylolisthesis_grade": 2, "procedure": "bvna"},
        ("vertebrogenic",),
        ("contraindicated", ("CI-BVNA-INSTABILITY",)),
        steps=("DX-EXCLUDE-COMPETING",),
        contraindications=("CI-BVNA-INSTABILITY",),
    ),
    Case(
        "bvna_malignancy",
        VERTEBROGENIC | {"red_flag_cancer_history": 1, "procedure": "bvna"},
        ("vertebrogenic", "osseous_red_flag"),
        ("contraindicated", ("CI-RED-FLAG", "CI-BVNA-INFECTION-MALIGNANCY")),
        red_flags=("RF-MALIGNANCY",),
        steps=("DX-URGENT-TRIAGE", "DX-MALIGNANCY-WORKUP"),
        contraindications=("CI-RED-FLAG", "CI-BVNA-INFECTION-MALIGNANCY"),
        extra={"candidates": ()},
    ),
    Case(
        "bvna_fracture",
        VERTEBROGENIC
        | {"vertebral_fracture": 1, "fracture_genant_grade": 1, "vertebral_marrow_oedema": 1,
           "procedure": "bvna"},
        ("vertebrogenic", "osseous_red_flag"),
        ("contraindicated", ("CI-RED-FLAG", "CI-BVNA-FRACTURE")),
        red_flags=("RF-FRACTURE",),
        steps=("DX-URGENT-TRIAGE", "DX-FRACTURE-PATHWAY"),
        contraindications=("CI-RED-FLAG", "CI-BVNA-FRACTURE"),
        extra={"candidates": ("IV-VERTEBROPLASTY", "IV-KYPHOPLASTY")},
    ),
    Case(
        "bvna_prior_surgery",
        VERTEBROGENIC | {"prior_surgery_index_level": 1, "procedure": "bvna"},
        ("vertebrogenic",),
        ("contraindicated", ("CI-BVNA-PRIOR-SURGERY",)),
        steps=("DX-EXCLUDE-COMPETING",),
        contraindications=("CI-BVNA-PRIOR-SURGERY",),
    ),
    Case(
        "bvna_predominant_radicular",
        VERTEBROGENIC | RADICULAR | {"procedure": "bvna"},
        ("radicular",),
        ("contraindicated", ("CI-BVNA-RADICULAR",)),
        contraindications=("CI-BVNA-RADICULAR",),
        timing=("TM-BVNA-COMPETING",),
    ),
    # review 5.5: with a competing driver the stenosis is not LF-driven (phenotype not
    # supported) and MILD stays contraindicated
    Case(
        "mild_high_grade_listhesis",
        LF_STENOSIS | {"spondylolisthesis_grade": 2, "procedure": "mild"},
        (),
        ("contraindicated", ("CI-MILD-INSTABILITY",)),
        contraindications=("CI-MILD-INSTABILITY",),
    ),
    Case(
        "mild_not_lf_predominant",
        LF_STENOSIS | {"lf_thickness_mm": 3.0, "procedure": "mild"},
        (),
        ("contraindicated", ("CI-MILD-NON-LF",)),
        contraindications=("CI-MILD-NON-LF",),
    ),
    Case(
        "augmentation_without_fracture",
        {"procedure": "kyphoplasty"},
        (),
        ("contraindicated", ("CI-VA-NO-FRACTURE", "CI-VA-INACTIVE")),
        contraindications=("CI-VA-NO-FRACTURE", "CI-VA-INACTIVE"),
    ),
    Case(
        "augmentation_inactive_fracture",
        {"vertebral_fracture": 1, "fracture_genant_grade": 2, "procedure": "vertebroplasty"},
        ("osseous_red_flag",),
        ("contraindicated", ("CI-VA-INACTIVE",)),
        red_flags=("RF-FRACTURE",),
        steps=("DX-URGENT-TRIAGE", "DX-FRACTURE-PATHWAY"),
        contraindications=("CI-VA-INACTIVE",),
    ),
    Case(
        "augmentation_infection",
        ACTIVE_VCF | {"red_flag_fever": 1, "procedure": "vertebroplasty"},
        ("osseous_red_flag",),
        ("contraindicated", ("CI-VA-INFECTION",)),
        red_flags=("RF-FRACTURE", "RF-INFECTION"),
        steps=("DX-URGENT-TRIAGE", "DX-INFECTION-WORKUP", "DX-FRACTURE-PATHWAY"),
        contraindications=("CI-VA-INFECTION",),
        extra={
            "blocked": {
                "IV-VERTEBROPLASTY": ("CI-VA-INFECTION",),
                "IV-KYPHOPLASTY": ("CI-VA-INFECTION",),
            }
        },
    ),
    Case(
        "pldd_non_contained",
        RADICULAR
        | {"herniation_type": "extrusion", "herniation_contained": 0, "procedure": "pldd"},
        ("radicular",),
        ("contraindicated", ("CI-PLDD-NON-CONTAINED",)),
        contraindications=("CI-PLDD-NON-CONTAINED",),
        timing=(),
    ),
    Case(
        "peld_osseous_red_flag",
        RADICULAR | {"red_flag_cancer_history": 1, "procedure": "peld_interlaminar"},
        ("radicular", "osseous_red_flag"),
        ("contraindicated", ("CI-PELD-OSSEOUS",)),
        red_flags=("RF-MALIGNANCY",),
        steps=("DX-URGENT-TRIAGE", "DX-MALIGNANCY-WORKUP"),
        contraindications=("CI-PELD-OSSEOUS",),
        timing=(),
        extra={"candidates": ()},
    ),
    # ---- diagnostic steps
    Case(
        "snrb_several_levels",
        RADICULAR | {"n_plausible_levels": 2, "procedure": "snrb"},
        ("radicular",),
        ("concordant", ("IV-SNRB",)),
        steps=("DX-SNRB",),
        timing=(),
    ),
    Case(
        "facet_rfa_without_blocks",
        FACET | {"procedure": "facet_rfa"},
        ("facetogenic",),
        ("concordant", ("IV-FACET-RFA",)),
        steps=("DX-DUAL-MBB",),
        timing=("TM-BACPAC-CHRONIC", "TM-FACET-RFA-BLOCKS"),
    ),
    # ---- discordant procedures
    Case("bvna_without_modic", {"procedure": "bvna"}, (), ("discordant", ("IV-BVNA",))),
    Case(
        "sij_rfa_for_radicular",
        RADICULAR | {"procedure": "sij_rfa"},
        ("radicular",),
        ("discordant", ("IV-SIJ-RFA",)),
        timing=("TM-SIJ-RFA-BLOCK",),
    ),
    # ---- mixed cases
    Case(
        "radicular_and_facetogenic",
        RADICULAR | FACET | {"procedure": "tf_esi"},
        ("radicular", "facetogenic"),
        ("concordant", ("IV-TF-ESI",)),
        steps=("DX-DUAL-MBB",),
        timing=(),
    ),
    Case(
        "radicular_and_facetogenic_mbb",
        RADICULAR | FACET | {"procedure": "mbb"},
        ("radicular", "facetogenic"),
        ("concordant", ("IV-MBB",)),
        steps=("DX-DUAL-MBB",),
        timing=(),
    ),
    Case(
        "vertebrogenic_with_competing_facet",
        VERTEBROGENIC | {"pain_on_extension_rotation": 1, "facet_effusion": 1, "procedure": "bvna"},
        ("facetogenic", "vertebrogenic"),
        ("concordant", ("IV-BVNA",)),
        steps=("DX-DUAL-MBB", "DX-EXCLUDE-COMPETING"),
        timing=("TM-BACPAC-CHRONIC", "TM-BVNA-COMPETING"),
        extra={"against": ("F-FACET-EFFUSION",)},
    ),
    Case(
        "osseous_with_degenerative_findings",
        ACTIVE_VCF | FACET | VERTEBROGENIC | {"pfirrmann_grade": 4, "procedure": "facet_rfa"},
        ("facetogenic", "discogenic", "vertebrogenic", "osseous_red_flag"),
        ("contraindicated", ("CI-RED-FLAG",)),
        red_flags=("RF-FRACTURE",),
        steps=("DX-URGENT-TRIAGE", "DX-FRACTURE-PATHWAY"),
        contraindications=("CI-RED-FLAG",),
        timing=("TM-BACPAC-CHRONIC", "TM-FACET-RFA-BLOCKS"),
        extra={"candidates": ("IV-VERTEBROPLASTY", "IV-KYPHOPLASTY")},
    ),
    # ---- timing rules
    Case(
        "early_mri",
        {"symptom_duration_weeks": 2, "procedure": "mbb"},
        (),
        ("discordant", ("IV-MBB",)),
        timing=("TM-MRI-EARLY",),
    ),
    Case(
        "early_radicular",
        RADICULAR | {"symptom_duration_weeks": 4, "procedure": "tf_esi"},
        ("radicular",),
        ("concordant", ("IV-TF-ESI",)),
        timing=("TM-RADICULAR-6-WEEKS",),
    ),
    Case(
        "early_decompression",
        RADICULAR | {"symptom_duration_weeks": 3, "procedure": "pldd"},
        ("radicular",),
        ("concordant", ("IV-PLDD",)),
        timing=("TM-MRI-EARLY", "TM-RADICULAR-6-WEEKS", "TM-DECOMPRESSION-4-6-WEEKS"),
    ),
    Case(
        "not_chronic_by_bacpac",
        {"pain_days_fraction_6m": 0.4, "procedure": "mbb"},
        (),
        ("discordant", ("IV-MBB",)),
        timing=(),
    ),
    Case(
        "bvna_before_6_months",
        VERTEBROGENIC | {"symptom_duration_weeks": 20, "procedure": "bvna"},
        ("vertebrogenic",),
        ("concordant", ("IV-BVNA",)),
        steps=("DX-EXCLUDE-COMPETING",),
        timing=("TM-BACPAC-CHRONIC", "TM-BVNA-6-MONTHS"),
    ),
    # ---- safety notes
    Case(
        "anticoagulated_particulate_tf_esi",
        RADICULAR | {"anticoagulation": 1, "steroid": "particulate", "procedure": "tf_esi"},
        ("radicular",),
        ("concordant", ("IV-TF-ESI",)),
        timing=(),
        extra={"safety": ("SF-ANTICOAGULATION", "SF-TF-ESI-PARTICULATE")},
    ),
]


def _ids(items) -> tuple[str, ...]:
    return tuple(item.rule_id for item in items)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case(case: Case) -> None:
    result = assess_patient(case.record())
    assert result.supported_phenotypes == case.phenotypes
    assert (result.concordance.label, result.concordance.rule_ids) == case.concordance
    # fully recorded: the status a clinician reads is the label itself
    assert result.concordance.status == case.concordance[0]
    assert result.concordance.missing_fields == ()
    assert _ids(result.red_flags) == case.red_flags
    assert result.urgent_triage == bool(case.red_flags)
    assert _ids(result.diagnostic_steps) == case.steps
    assert _ids(result.contraindications) == case.contraindications
    assert _ids(result.timing_notes) == case.timing
    assert _ids(result.safety_notes) == case.extra.get("safety", ())
    assert result.not_assessed == ()
    assert result.notice == NOTICE
    if "candidates" in case.extra:
        assert _ids(result.candidate_interventions) == case.extra["candidates"]
    for rule_id, blocked in case.extra.get("blocked", {}).items():
        candidate = next(c for c in result.candidate_interventions if c.rule_id == rule_id)
        assert candidate.contraindicated_by == blocked
    main = next((p for p in result.phenotypes if p.name == (case.phenotypes or ("",))[-1]), None)
    if "supporting" in case.extra:
        assert _ids(main.supporting) == case.extra["supporting"]
    if "against" in case.extra:
        assert _ids(main.against) == case.extra["against"]


def test_cases_agree_with_vectorised_features() -> None:
    """The table of cases through pathway_features gives the same labels."""
    frame = pd.DataFrame([case.record() for case in CASES])
    features = pathway_features(frame)
    for i, case in enumerate(CASES):
        row = features.iloc[i]
        supported = tuple(
            n for n in default_rules().of_kind("phenotypes") if row[f"phenotype_{n.text}"] == 1
        )
        assert tuple(r.text for r in supported) == case.phenotypes, case.name
        assert row["red_flag_any"] == int(bool(case.red_flags)), case.name
        assert row["concordance"] == case.concordance[0], case.name


def test_every_clinical_rule_has_a_case() -> None:
    """Each phenotype, red flag, diagnostic step, contraindication and note is exercised."""
    from .test_vignettes import VIGNETTES

    cited = set()
    for case in CASES:
        cited |= set(case.red_flags) | set(case.steps) | set(case.contraindications)
        cited |= set(case.timing) | set(case.extra.get("safety", ()))
        cited |= set(case.concordance[1])
    for v in VIGNETTES:
        cited |= set(v.red_flags) | set(v.steps) | set(v.contraindications) | set(v.timing)
        cited |= set(v.safety) | set(v.cited)
    book = default_rules()
    phenotypes = {p for case in CASES for p in case.phenotypes}
    cited |= {r.id for r in book.of_kind("phenotypes") if r.text in phenotypes}
    wanted = {
        r.id
        for kind in ("red_flags", "phenotypes", "diagnostic_steps", "contraindications", "notes")
        for r in book.of_kind(kind)
    }
    assert wanted - cited == set()
