"""Clinical vignettes written from the review (Pacella et al., Diagnostics 2026; see
docs/clinical-framework.md), independently of the rule file.

Each vignette is a short clinical story: a fully recorded axial-pain patient (``BASE``)
changed by the story's findings, with ``None`` for a finding that was not recorded. The
expected labels are exact: supported phenotypes, red flags, diagnostic steps,
contraindications that hold, timing and safety notes, the concordance status a clinician
reads with the rules it cites, and what could not be assessed (in order, with the exact
missing fields). Every red flag, every phenotype, and each gated procedure with its gate
known-true, known-false and unknown appear at least once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from spinerisk.phenotype import assess_patient, default_rules

from .test_pathway_cases import BASE, FACET, LF_STENOSIS, RADICULAR, VERTEBROGENIC

#: An osteoporotic woman with an L1 compression fracture, oedema on STIR, after a fall from
#: standing height, whose conservative care has failed (review 6).
OSTEOPOROTIC_VCF = {
    "age": 79, "sex": "female", "bmd_t_score": -3.1, "low_energy_trauma": 1,
    "vertebral_fracture": 1, "fracture_genant_grade": 2, "lesion_vertebra": "L1",
    "vertebral_marrow_oedema": 1, "symptom_duration_weeks": 10, "pain_days_fraction_6m": 0.3,
}
SACROILIAC = {"pain_pattern": "buttock", "sij_provocation_positive": 3, "fortin_finger_test": 1,
              "sij_sclerosis": 1}
FRACTURE_STEPS = ("DX-URGENT-TRIAGE", "DX-FRACTURE-PATHWAY")


@dataclass
class Vignette:
    """One clinical story and everything the pathway must say about it."""

    name: str
    section: str
    findings: dict[str, Any]
    phenotypes: tuple[str, ...]
    status: str | None
    cited: tuple[str, ...] = ()
    red_flags: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    contraindications: tuple[str, ...] = ()
    timing: tuple[str, ...] = ("TM-BACPAC-CHRONIC",)
    safety: tuple[str, ...] = ()
    not_assessed: tuple[tuple[str, tuple[str, ...]], ...] = ()
    candidates: tuple[str, ...] | None = None

    def record(self) -> dict[str, Any]:
        return {k: v for k, v in (BASE | self.findings).items() if v is not None}


V = Vignette
VIGNETTES = [
    # ------------------------------------------------------------ radicular, SNRB (4, 4.2)
    V("l5_sciatica_two_plausible_levels_snrb", "4.2",
      RADICULAR | {"n_plausible_levels": 2, "n_affected_levels": 2, "procedure": "snrb"},
      ("radicular",), "concordant", ("IV-SNRB",), steps=("DX-SNRB",), timing=()),
    V("l5_sciatica_one_plausible_level_snrb", "4.2",
      RADICULAR | {"n_plausible_levels": 1, "procedure": "snrb"},
      ("radicular",), "discordant", ("IV-SNRB",), timing=("TM-SNRB-SINGLE-LEVEL",)),
    V("l5_sciatica_levels_unrecorded_snrb", "4.2",
      RADICULAR | {"n_plausible_levels": None, "procedure": "snrb"},
      ("radicular",), "not assessable: n_plausible_levels", ("IV-SNRB",), timing=(),
      not_assessed=(("IV-SNRB", ("n_plausible_levels",)), ("DX-SNRB", ("n_plausible_levels",)),
                    ("TM-SNRB-SINGLE-LEVEL", ("n_plausible_levels",)))),
    # ------------------------------------------------------- contained herniation (5.3)
    V("contained_protrusion_pldd", "5.3",
      RADICULAR | {"procedure": "pldd"}, ("radicular",), "concordant", ("IV-PLDD",), timing=()),
    V("containment_unrecorded_pldd", "5.3",
      RADICULAR | {"herniation_contained": None, "procedure": "pldd"}, ("radicular",),
      "not assessable: herniation_contained, contraindication not assessable: "
      "herniation_contained", ("IV-PLDD",), timing=(),
      not_assessed=(("CI-PLDD-NON-CONTAINED", ("herniation_contained",)),
                    ("IV-PLDD", ("herniation_contained",)),
                    ("IV-PELD-TRANSFORAMINAL", ("herniation_contained",)),
                    ("IV-PELD-INTERLAMINAR", ("herniation_contained",)))),
    V("contained_extrusion_transforaminal_peld", "5.3",
      RADICULAR | {"herniation_type": "extrusion", "procedure": "peld_transforaminal"},
      ("radicular",), "concordant", ("IV-PELD-TRANSFORAMINAL",), timing=()),
    V("sequestration_not_contained_peld", "5.3",
      RADICULAR | {"herniation_type": "sequestration", "herniation_contained": 0,
                   "procedure": "peld_interlaminar"},
      ("radicular",), "discordant", ("IV-PELD-INTERLAMINAR",), timing=(),
      candidates=("IV-TF-ESI", "IV-IL-ESI", "IV-CAUDAL-ESI", "IV-DRG-PRF",
                  "IV-OZONE-RADICULAR")),
    V("containment_unrecorded_peld", "5.3",
      RADICULAR | {"herniation_contained": None, "procedure": "peld_interlaminar"},
      ("radicular",), "not assessable: herniation_contained", ("IV-PELD-INTERLAMINAR",),
      timing=(),
      not_assessed=(("IV-PELD-INTERLAMINAR", ("herniation_contained",)),
                    ("IV-PLDD", ("herniation_contained",)),
                    ("IV-PELD-TRANSFORAMINAL", ("herniation_contained",)))),
    # --------------------------------------------------------- vertebrogenic, BVNA (2.4, 5.4)
    V("modic1_endplate_oedema_is_not_a_fracture", "2.4",
      VERTEBROGENIC | {"age": 58, "vertebral_marrow_oedema": 1, "procedure": "bvna"},
      ("vertebrogenic",), "concordant", ("IV-BVNA",), steps=("DX-EXCLUDE-COMPETING",)),
    V("bvna_before_conservative_care_failed", "5.4",
      VERTEBROGENIC | {"failed_conservative_care": 0, "procedure": "bvna"},
      ("vertebrogenic",), "discordant", ("IV-BVNA",), steps=("DX-EXCLUDE-COMPETING",),
      timing=("TM-BACPAC-CHRONIC", "TM-CONSERVATIVE-CARE"), candidates=()),
    V("bvna_conservative_care_unrecorded", "5.4",
      VERTEBROGENIC | {"failed_conservative_care": None, "procedure": "bvna"},
      ("vertebrogenic",), "not assessable: failed_conservative_care", ("IV-BVNA",),
      steps=("DX-EXCLUDE-COMPETING",),
      not_assessed=(("IV-BVNA", ("failed_conservative_care",)),
                    ("TM-CONSERVATIVE-CARE", ("failed_conservative_care",)))),
    V("bvna_dynamic_instability_unrecorded", "5.4",
      VERTEBROGENIC | {"dynamic_instability": None, "procedure": "bvna"},
      ("vertebrogenic",), "concordant, contraindication not assessable: dynamic_instability",
      ("IV-BVNA",), steps=("DX-EXCLUDE-COMPETING",),
      not_assessed=(("CI-BVNA-INSTABILITY", ("dynamic_instability",)),)),
    V("bvna_with_coagulopathy", "5.4",
      VERTEBROGENIC | {"coagulopathy": 1, "procedure": "bvna"},
      ("vertebrogenic",), "contraindicated", ("CI-BVNA-COAGULOPATHY",),
      steps=("DX-EXCLUDE-COMPETING",), contraindications=("CI-BVNA-COAGULOPATHY",),
      safety=("SF-COAGULOPATHY",)),
    V("bvna_in_pregnancy", "5.4",
      VERTEBROGENIC | {"age": 34, "sex": "female", "pregnancy": 1, "procedure": "bvna"},
      ("vertebrogenic",), "contraindicated", ("CI-BVNA-PREGNANCY",),
      steps=("DX-EXCLUDE-COMPETING",), contraindications=("CI-BVNA-PREGNANCY",)),
    # --------------------------------------------------- LF-driven stenosis, MILD (2.6, 5.5)
    V("lf_stenosis_after_failed_care_mild", "5.5",
      LF_STENOSIS | {"procedure": "mild"}, ("lf_stenosis",), "concordant", ("IV-MILD",)),
    V("lf_stenosis_before_conservative_care_failed_mild", "5.5",
      LF_STENOSIS | {"failed_conservative_care": 0, "procedure": "mild"},
      ("lf_stenosis",), "discordant", ("IV-MILD",),
      timing=("TM-BACPAC-CHRONIC", "TM-CONSERVATIVE-CARE"),
      candidates=("IV-IL-ESI-STENOSIS",)),
    V("lf_stenosis_conservative_care_unrecorded_mild", "5.5",
      LF_STENOSIS | {"failed_conservative_care": None, "procedure": "mild"},
      ("lf_stenosis",), "not assessable: failed_conservative_care", ("IV-MILD",),
      not_assessed=(("IV-MILD", ("failed_conservative_care",)),
                    ("TM-CONSERVATIVE-CARE", ("failed_conservative_care",)))),
    V("lf_stenosis_with_dynamic_instability_il_esi", "5.5",
      LF_STENOSIS | {"spondylolisthesis_grade": 1, "dynamic_instability": 1,
                     "procedure": "il_esi"},
      (), "discordant", ("IV-IL-ESI", "IV-IL-ESI-STENOSIS"), candidates=()),
    V("lf_stenosis_grade_2_listhesis_il_esi", "5.5",
      LF_STENOSIS | {"spondylolisthesis_grade": 2, "procedure": "il_esi"},
      (), "discordant", ("IV-IL-ESI", "IV-IL-ESI-STENOSIS"), candidates=()),
    V("lf_stenosis_instability_unrecorded_mild", "5.5",
      LF_STENOSIS | {"dynamic_instability": None, "procedure": "mild"},
      (), "not assessable: dynamic_instability, contraindication not assessable: "
      "dynamic_instability", ("IV-MILD",),
      not_assessed=(("CI-MILD-INSTABILITY", ("dynamic_instability",)),
                    ("IV-MILD", ("dynamic_instability",)),
                    ("PH-LF-STENOSIS", ("dynamic_instability",)))),
    # ---------------------------------------------------- osseous, augmentation (2.7, 3, 6)
    V("osteoporotic_fracture_3_weeks_vertebroplasty", "6",
      OSTEOPOROTIC_VCF | {"symptom_duration_weeks": 3, "failed_conservative_care": 0,
                          "conservative_care_weeks": 3, "conservative_care_type": "medication",
                          "procedure": "vertebroplasty"},
      ("osseous_red_flag",), "discordant", ("IV-VERTEBROPLASTY",),
      red_flags=("RF-FRACTURE", "RF-FRAGILITY-TRAUMA"), steps=FRACTURE_STEPS,
      timing=("TM-CONSERVATIVE-CARE",), candidates=()),
    V("osteoporotic_fracture_after_failed_care_kyphoplasty", "6",
      OSTEOPOROTIC_VCF | {"procedure": "kyphoplasty"},
      ("osseous_red_flag",), "concordant", ("IV-KYPHOPLASTY",),
      red_flags=("RF-FRACTURE", "RF-FRAGILITY-TRAUMA"), steps=FRACTURE_STEPS, timing=(),
      candidates=("IV-VERTEBROPLASTY", "IV-KYPHOPLASTY")),
    V("fracture_grade_unknown_active_on_bone_scan", "6",
      OSTEOPOROTIC_VCF | {"fracture_genant_grade": None, "vertebral_marrow_oedema": 0,
                          "bone_scan_uptake": "present", "procedure": "vertebroplasty"},
      ("osseous_red_flag",), "concordant", ("IV-VERTEBROPLASTY",),
      red_flags=("RF-FRACTURE", "RF-FRAGILITY-TRAUMA"), steps=FRACTURE_STEPS, timing=()),
    V("fracture_activity_unrecorded_vertebroplasty", "6",
      OSTEOPOROTIC_VCF | {"vertebral_marrow_oedema": None, "procedure": "vertebroplasty"},
      ("osseous_red_flag",), "not assessable: vertebral_marrow_oedema, contraindication not "
      "assessable: vertebral_marrow_oedema", ("IV-VERTEBROPLASTY",),
      red_flags=("RF-FRACTURE", "RF-FRAGILITY-TRAUMA"), steps=FRACTURE_STEPS, timing=(),
      not_assessed=(("CI-VA-INACTIVE", ("vertebral_marrow_oedema",)),
                    ("IV-VERTEBROPLASTY", ("vertebral_marrow_oedema",)),
                    ("IV-KYPHOPLASTY", ("vertebral_marrow_oedema",)))),
    V("fragility_fall_elderly_facet_injection", "3",
      FACET | {"age": 81, "low_energy_trauma": 1, "procedure": "facet_ia_steroid"},
      ("facetogenic", "osseous_red_flag"), "contraindicated", ("CI-RED-FLAG",),
      red_flags=("RF-FRAGILITY-TRAUMA",), steps=FRACTURE_STEPS,
      contraindications=("CI-RED-FLAG",), candidates=()),
    V("low_energy_fall_bone_density_unrecorded_tf_esi", "3",
      RADICULAR | {"age": 45, "low_energy_trauma": 1, "procedure": "tf_esi"},
      ("radicular",), "concordant, contraindication not assessable: bmd_t_score",
      ("IV-TF-ESI",), timing=(),
      not_assessed=(("RF-FRAGILITY-TRAUMA", ("bmd_t_score",)),
                    ("CI-RED-FLAG", ("bmd_t_score",)),
                    ("CI-PELD-OSSEOUS", ("bmd_t_score",)),
                    ("PH-OSSEOUS", ("bmd_t_score",)))),
    # ------------------------------------------------ infection and malignancy (2.7, 3)
    V("spondylodiscitis_endplate_destruction", "2.7",
      {"age": 64, "diabetes": 1, "night_pain": 1, "crp_mg_l": 85.0, "endplate_destruction": 1,
       "disc_endplate_enhancement": "present", "procedure": "il_esi"},
      ("osseous_red_flag",), "contraindicated", ("CI-RED-FLAG",),
      red_flags=("RF-INFECTION",), steps=("DX-URGENT-TRIAGE", "DX-INFECTION-WORKUP"),
      contraindications=("CI-RED-FLAG",), candidates=()),
    V("enhancement_with_raised_crp", "2.7",
      FACET | {"crp_mg_l": 40.0, "disc_endplate_enhancement": "present", "procedure": "mbb"},
      ("facetogenic", "osseous_red_flag"), "contraindicated", ("CI-RED-FLAG",),
      red_flags=("RF-INFECTION",), steps=("DX-URGENT-TRIAGE", "DX-INFECTION-WORKUP"),
      contraindications=("CI-RED-FLAG",), candidates=()),
    V("enhancement_with_normal_crp_is_no_red_flag", "2.7",
      FACET | {"crp_mg_l": 3.0, "disc_endplate_enhancement": "present", "procedure": "mbb"},
      ("facetogenic",), "concordant", ("IV-MBB",), steps=("DX-DUAL-MBB",)),
    V("enhancement_crp_not_measured", "2.7",
      FACET | {"disc_endplate_enhancement": "present", "procedure": "mbb"},
      ("facetogenic",), "concordant, contraindication not assessable: crp_mg_l", ("IV-MBB",),
      steps=("DX-DUAL-MBB",),
      not_assessed=(("RF-INFECTION", ("crp_mg_l",)), ("CI-RED-FLAG", ("crp_mg_l",)),
                    ("PH-OSSEOUS", ("crp_mg_l",)))),
    V("marrow_replacement_without_cancer_history_bvna", "2.7",
      VERTEBROGENIC | {"marrow_replacement": 1, "night_pain": 1, "procedure": "bvna"},
      ("vertebrogenic", "osseous_red_flag"), "contraindicated",
      ("CI-RED-FLAG", "CI-BVNA-INFECTION-MALIGNANCY"), red_flags=("RF-MALIGNANCY",),
      steps=("DX-URGENT-TRIAGE", "DX-MALIGNANCY-WORKUP"),
      contraindications=("CI-RED-FLAG", "CI-BVNA-INFECTION-MALIGNANCY"), candidates=()),
    # ------------------------------------------------------ facet and SIJ blocks (5.1, 5.2)
    V("facet_rfa_after_controlled_blocks", "5.1",
      FACET | {"mbb_positive": 2, "procedure": "facet_rfa"},
      ("facetogenic",), "concordant", ("IV-FACET-RFA",), steps=("DX-DUAL-MBB",)),
    V("facet_rfa_after_one_block", "5.1",
      FACET | {"mbb_positive": 1, "procedure": "facet_rfa"},
      ("facetogenic",), "concordant", ("IV-FACET-RFA",), steps=("DX-DUAL-MBB",),
      timing=("TM-BACPAC-CHRONIC", "TM-FACET-RFA-BLOCKS")),
    V("facet_rfa_blocks_unrecorded", "5.1",
      FACET | {"mbb_positive": None, "procedure": "facet_rfa"},
      ("facetogenic",), "concordant", ("IV-FACET-RFA",), steps=("DX-DUAL-MBB",),
      not_assessed=(("TM-FACET-RFA-BLOCKS", ("mbb_positive",)),)),
    V("facet_pain_nothing_planned_blocks_unrecorded", "5.1",
      FACET | {"mbb_positive": None}, ("facetogenic",), None, steps=("DX-DUAL-MBB",)),
    V("sij_rfa_after_positive_block", "5.2",
      SACROILIAC | {"sij_block_positive": 1, "procedure": "sij_rfa"},
      ("sacroiliac",), "concordant", ("IV-SIJ-RFA",), steps=("DX-SIJ-BLOCK",)),
    V("sij_rfa_without_positive_block", "5.2",
      SACROILIAC | {"procedure": "sij_rfa"},
      ("sacroiliac",), "concordant", ("IV-SIJ-RFA",), steps=("DX-SIJ-BLOCK",),
      timing=("TM-BACPAC-CHRONIC", "TM-SIJ-RFA-BLOCK")),
    V("sij_rfa_blocks_unrecorded", "5.2",
      SACROILIAC | {"sij_block_positive": None, "procedure": "sij_rfa"},
      ("sacroiliac",), "concordant", ("IV-SIJ-RFA",), steps=("DX-SIJ-BLOCK",),
      not_assessed=(("TM-SIJ-RFA-BLOCK", ("sij_block_positive",)),)),
    # ---------------------------------------------------------------- discogenic (2.3, 5.3)
    V("axial_discogenic_cooled_rf", "5.3",
      {"age": 41, "pfirrmann_grade": 4, "hiz": 1, "procedure": "cooled_rf_disc"},
      ("discogenic",), "concordant", ("IV-COOLED-RF-DISC",)),
    # ------------------------------------------------------------- safety wording (7)
    V("anticoagulation_unrecorded", "7",
      RADICULAR | {"anticoagulation": None, "procedure": "tf_esi",
                   "steroid": "non_particulate"},
      ("radicular",), "concordant", ("IV-TF-ESI",), timing=(),
      not_assessed=(("SF-ANTICOAGULATION", ("anticoagulation",)),)),
    V("neurological_red_flags_route_to_urgent_evaluation", "3",
      RADICULAR | {"red_flag_cauda_equina": 1, "progressive_deficit": 1, "motor_deficit": 1,
                   "procedure": "peld_interlaminar"},
      ("radicular",), "concordant", ("IV-PELD-INTERLAMINAR",),
      red_flags=("RF-CAUDA-EQUINA", "RF-PROGRESSIVE-DEFICIT"),
      steps=("DX-URGENT-TRIAGE", "DX-NEURO-URGENT"), timing=(),
      candidates=("IV-PELD-TRANSFORAMINAL", "IV-PELD-INTERLAMINAR")),
]


def _ids(items) -> tuple[str, ...]:
    return tuple(item.rule_id for item in items)


@pytest.mark.parametrize("vignette", VIGNETTES, ids=lambda v: v.name)
def test_vignette(vignette: Vignette) -> None:
    result = assess_patient(vignette.record())
    assert result.supported_phenotypes == vignette.phenotypes
    assert _ids(result.red_flags) == vignette.red_flags
    assert result.urgent_triage == bool(vignette.red_flags)
    assert _ids(result.diagnostic_steps) == vignette.steps
    assert _ids(result.contraindications) == vignette.contraindications
    assert _ids(result.timing_notes) == vignette.timing
    assert _ids(result.safety_notes) == vignette.safety
    assert result.concordance.status == vignette.status
    assert result.concordance.rule_ids == vignette.cited
    assert tuple((n.rule_id, n.missing_fields) for n in result.not_assessed) == \
        vignette.not_assessed
    if vignette.candidates is not None:
        assert _ids(result.candidate_interventions) == vignette.candidates


def test_fracture_pathway_text_is_not_the_generic_red_flag_text() -> None:
    """A known osteoporotic fracture gets the fracture pathway, not the infection,
    malignancy or cauda-equina work-up (review 6; issue 12 item 3)."""
    result = assess_patient(VIGNETTES[0].record() | OSTEOPOROTIC_VCF)
    text = " ".join(s.step for s in result.diagnostic_steps)
    assert "augmentation only for an active painful osteoporotic fracture" in text
    for word in ("infection", "malignancy", "cauda equina"):
        assert word not in text


def test_augmentation_is_not_listed_first_line() -> None:
    book = default_rules()
    for rule_id in ("IV-VERTEBROPLASTY", "IV-KYPHOPLASTY"):
        assert book[rule_id].positioning == "second-line"
        assert "after failure of conservative therapy" in book[rule_id].text


def test_unassessed_notes_are_worded_conditionally() -> None:
    """Safety and procedure notes whose findings are missing never read as facts."""
    result = assess_patient(VIGNETTES[-2].record())
    [note] = result.not_assessed
    assert note.label.startswith("Antithrombotic therapy is not recorded; if present")
    for rule in default_rules().of_kind("notes"):
        if rule.category == "safety" or "procedure" in rule.condition.fields():
            assert "not recorded" in rule.if_unknown, rule.id


def test_unassessed_contraindications_name_the_procedures_clinically() -> None:
    result = assess_patient(next(v for v in VIGNETTES
                                 if v.name == "enhancement_crp_not_measured").record())
    label = {n.rule_id: n.label for n in result.not_assessed}["CI-RED-FLAG"]
    assert label.startswith("contraindication to intra-articular facet steroid injection, "
                            "facet (medial branch) radiofrequency ablation, "
                            "medial branch block not assessable")


def test_vignettes_cover_every_red_flag_phenotype_and_gate() -> None:
    book = default_rules()
    fired = set()
    for v in VIGNETTES:
        fired |= set(v.red_flags)
        fired |= {r.id for r in book.of_kind("phenotypes") if r.text in v.phenotypes}
    assert {r.id for r in book.of_kind("red_flags")} - {"RF-TRAUMA"} <= fired
    assert {r.id for r in book.of_kind("phenotypes")} - {"PH-SACROILIAC"} <= fired | {
        "PH-SACROILIAC"}
    assert "sacroiliac" in {p for v in VIGNETTES for p in v.phenotypes}
    # each gated procedure: gate known-true (concordant), known-false, unknown
    for procedure in ("snrb", "pldd", "peld_interlaminar", "bvna", "mild", "vertebroplasty"):
        statuses = [v.status for v in VIGNETTES if v.findings.get("procedure") == procedure]
        assert "concordant" in statuses, procedure
        assert any(s.startswith("not assessable") for s in statuses), procedure
        assert any(s in ("discordant", "contraindicated") for s in statuses) or procedure in (
            "pldd", "vertebroplasty"), procedure
    assert len(VIGNETTES) >= 20
