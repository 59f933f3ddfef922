"""The rule book: every rule cites the review, states one rationale, and loads checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from spinerisk.phenotype import PHENOTYPE_NAMES, default_rules, load_rules
from spinerisk.phenotype.rules import REVIEW_SECTIONS
from spinerisk.schema import PROCEDURES

REVIEW = Path(__file__).resolve().parents[3] / "shared" / "seed" / \
    "mri-phenotype-to-intervention-review.txt"
PACKAGED = Path(__file__).resolve().parents[2] / "src" / "spinerisk" / "phenotype" / "rules.yaml"


def test_every_rule_cites_sections_and_one_sentence_rationale() -> None:
    for rule in default_rules().rules:
        assert rule.sections, rule.id
        assert set(rule.sections) <= set(REVIEW_SECTIONS), rule.id
        sentences = re.findall(r"[.!?](?:\s|$)", rule.rationale)
        assert len(sentences) == 1 and rule.rationale.endswith("."), rule.id


def test_rule_ids_are_unique_and_prefixed_by_kind() -> None:
    prefixes = {"findings": "F-", "red_flags": "RF-", "phenotypes": "PH-",
                "diagnostic_steps": "DX-", "interventions": "IV-", "contraindications": "CI-",
                "notes": ("TM-", "SF-")}
    rules = default_rules().rules
    assert len({r.id for r in rules}) == len(rules)
    for rule in rules:
        assert rule.id.startswith(prefixes[rule.kind]), rule.id


def test_phenotypes_and_procedures_are_covered() -> None:
    book = default_rules()
    assert tuple(r.text for r in book.of_kind("phenotypes")) == PHENOTYPE_NAMES
    candidates = {p for r in book.of_kind("interventions") for p in r.procedures}
    assert candidates == set(PROCEDURES)
    assert {book[r.phenotype].text for r in book.of_kind("interventions")} == set(PHENOTYPE_NAMES)


@pytest.mark.skipif(not REVIEW.exists(), reason="the review text lives in ../shared/seed")
def test_cited_sections_exist_in_the_review() -> None:
    headings = REVIEW.read_text()
    for number, title in REVIEW_SECTIONS.items():
        heading = title if number == "Abstract" else f"{number}. {title}"
        assert f"\n{heading}\n" in headings, heading


def test_rule_table_lists_every_rule_with_its_fields() -> None:
    table = default_rules().table()
    assert len(table) == len(default_rules().rules)
    row = table.set_index("id").loc["PH-RADICULAR"]
    assert row["fields"] == "dermatomal_concordance, motor_deficit, pain_pattern, sensory_deficit"


def _write_variant(tmp_path: Path, old: str, new: str) -> Path:
    text = PACKAGED.read_text()
    assert old in text
    path = tmp_path / "rules.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(("old", "new", "message"), [
    ("{field: pain_pattern, eq: radicular}", "{field: pain_patern, eq: radicular}",
     "F-RAD-PATTERN: unknown field 'pain_patern'"),
    ("{field: pain_pattern, eq: radicular}", "{field: pain_pattern, eq: sciatica}",
     "F-RAD-PATTERN: value 'sciatica' is not allowed for 'pain_pattern'"),
    ("{field: pfirrmann_grade, ge: 3}", "{field: pfirrmann_grade, ge: 7}",
     "F-DISC-DEGENERATION: value 7 is not allowed"),
    ("{field: dermatomal_concordance, eq: 1}", "{field: dermatomal_concordance, like: 1}",
     "F-DERM-CONCORDANT: field 'dermatomal_concordance' needs exactly one operator"),
    ('sections: ["2.1"]', 'sections: ["2.8"]', "unknown review sections ['2.8']"),
    ("when: {rule: RF-FRACTURE}", "when: {rule: RF-FRACTUR}",
     "refers to rules not defined before it: ['RF-FRACTUR']"),
    ("procedures: [pldd]", "procedures: [laser]", "unknown procedures ['laser']"),
    ("positioning: investigational", "positioning: maybe", "positioning 'maybe'"),
])
def test_loader_refuses_broken_rules(tmp_path, old, new, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        load_rules(_write_variant(tmp_path, old, new))


def test_loader_accepts_the_packaged_file_read_from_disk() -> None:
    assert load_rules(PACKAGED).rules == default_rules().rules
    assert set(yaml.safe_load(PACKAGED.read_text())) == {
        "findings", "red_flags", "phenotypes", "diagnostic_steps", "interventions",
        "contraindications", "notes"}
