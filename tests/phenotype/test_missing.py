"""Incomplete records: missing findings are reported as not assessed, never guessed."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from spinerisk.phenotype import assess_patient, pathway_features

from .test_pathway_cases import BASE, RADICULAR


def _not_assessed(result) -> dict[str, tuple[str, ...]]:
    return {n.rule_id: n.missing_fields for n in result.not_assessed}


def test_missing_facet_findings_are_not_assessed_and_count_as_not_supported() -> None:
    record = {k: v for k, v in BASE.items()
              if k not in ("pain_on_extension_rotation", "paraspinal_tenderness")}
    record["facet_arthropathy_grade"] = 2
    result = assess_patient(record | {"procedure": "facet_rfa"})
    facet = next(p for p in result.phenotypes if p.name == "facetogenic")
    assert facet.status == "not assessed"
    # the planned procedure's candidacy first, then the phenotype (issue 12, item 6)
    assert [(n.rule_id, n.missing_fields) for n in result.not_assessed] == [
        ("IV-FACET-RFA", ("pain_on_extension_rotation",)),
        ("PH-FACETOGENIC", ("pain_on_extension_rotation",))]
    assert result.concordance.label == "discordant"        # the model feature
    assert result.concordance.status == "not assessable: pain_on_extension_rotation"
    assert result.concordance.missing_fields == ("pain_on_extension_rotation",)
    assert "not_assessed" in result.concordance.explanation
    features = pathway_features(pd.DataFrame([record | {"procedure": "facet_rfa"}]))
    assert features.loc[0, "phenotype_facetogenic"] == 0
    assert features.loc[0, "concordance"] == "discordant"


def test_a_known_false_finding_decides_despite_other_missing_findings() -> None:
    """all(...) is false as soon as one part is false: no missing field is reported."""
    record = {k: v for k, v in BASE.items() if k != "paraspinal_tenderness"}
    result = assess_patient(record)
    assert next(p for p in result.phenotypes if p.name == "facetogenic").status == "not supported"
    assert "PH-FACETOGENIC" not in _not_assessed(result)


def test_unrecorded_red_flags_are_reported_but_do_not_block_the_pathway() -> None:
    red_flag_fields = ("red_flag_fever", "red_flag_weight_loss", "red_flag_cancer_history",
                       "red_flag_trauma", "red_flag_cauda_equina", "progressive_deficit")
    record = {k: v for k, v in (BASE | RADICULAR).items() if k not in red_flag_fields}
    result = assess_patient(record | {"procedure": "tf_esi"})
    assert result.concordance.label == "concordant"
    # ... but the red-flag contraindication cannot be excluded, and the status says so
    assert result.concordance.status == (
        "concordant, contraindication not assessable: progressive_deficit, "
        "red_flag_cancer_history, red_flag_cauda_equina, red_flag_fever, red_flag_trauma, "
        "red_flag_weight_loss")
    assert result.urgent_triage is False
    missing = _not_assessed(result)
    assert list(missing)[:6] == ["RF-INFECTION", "RF-MALIGNANCY", "RF-TRAUMA",
                                 "RF-CAUDA-EQUINA", "RF-PROGRESSIVE-DEFICIT", "CI-RED-FLAG"]
    assert missing["RF-INFECTION"] == ("red_flag_fever",)
    assert missing["RF-MALIGNANCY"] == ("red_flag_cancer_history", "red_flag_weight_loss")
    assert missing["PH-OSSEOUS"] == ("red_flag_cancer_history", "red_flag_fever",
                                     "red_flag_trauma", "red_flag_weight_loss")


def test_empty_record_runs_and_assesses_nothing() -> None:
    result = assess_patient({})
    assert result.supported_phenotypes == ()
    assert {p.status for p in result.phenotypes} == {"not assessed"}
    assert result.concordance.label is None
    assert result.candidate_interventions == ()
    assert json.loads(json.dumps(result.to_dict()))["notice"] == result.notice


def test_to_dict_is_stable_json() -> None:
    result = assess_patient(BASE | RADICULAR | {"procedure": "tf_esi"})
    first = json.dumps(result.to_dict())
    again = json.dumps(assess_patient(BASE | RADICULAR | {"procedure": "tf_esi"}).to_dict())
    assert first == again
    payload = json.loads(first)
    assert list(payload) == ["phenotypes", "red_flags", "urgent_triage", "diagnostic_steps",
                             "candidate_interventions", "contraindications", "timing_notes",
                             "safety_notes", "concordance", "not_assessed", "notice"]
    assert payload["concordance"] == {
        "procedure": "tf_esi", "label": "concordant", "status": "concordant",
        "rule_ids": ["IV-TF-ESI"], "missing_fields": [],
        "explanation": "transforaminal epidural steroid injection is a candidate for a "
                       "supported phenotype."}


def test_discordance_names_the_unmet_criterion_when_the_phenotype_is_supported() -> None:
    """Review 5.3: PELD for a contained herniation. A radicular patient with an extrusion
    is discordant because the herniation is not contained, not for want of a phenotype."""
    example = Path(__file__).resolve().parents[2] / "examples" / "patient-reoperation.json"
    record = json.loads(example.read_text())
    record.update(herniation_type="extrusion", herniation_contained=0)
    concordance = assess_patient(record).concordance
    assert concordance.status == "discordant"
    assert "offered for radicular pain only when its own criteria hold" in concordance.explanation
    assert "contained herniation" in concordance.explanation
    assert "not a candidate for any supported phenotype" not in concordance.explanation
