"""The rule book: every rule cites the review, states one rationale, and loads checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from spinerisk.phenotype import PHENOTYPE_NAMES, default_rules, load_rules
from spinerisk.phenotype.rules import (
    FRAMEWORK_DOC,
    REVIEW_SECTIONS,
    rule_index_markdown,
    section_anchor,
)
from spinerisk.schema import PROCEDURES

REVIEW = Path(__file__).resolve().parents[3] / "shared" / "seed" / \
    "mri-phenotype-to-intervention-review.txt"
ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ROOT / "src" / "spinerisk" / "phenotype" / "rules.yaml"


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


def test_framework_doc_names_the_review_and_explains_every_cited_section() -> None:
    doc = (ROOT / FRAMEWORK_DOC).read_text()
    for words in ("Subacute and Chronic Low-Back Pain: From MRI", "Pacella G", "Zappia M",
                  "2026", "doi:10.3390/diagnostics16020240"):
        assert words in doc, words
    for section in REVIEW_SECTIONS:
        anchor = f'<a id="{section_anchor(section)}"></a>'
        assert anchor in doc, section
        # the anchor heads a section that says something, not an empty heading
        body = doc.split(anchor, 1)[1].split("<a id=", 1)[0]
        assert len(body.split()) > 25, section
    assert "../shared" not in doc


def test_framework_doc_lists_every_rule_linked_to_its_sections() -> None:
    """The table that closes the doc is the rule book's, so every rule id links to the
    sections it cites (regenerate with rule_index_markdown after editing rules.yaml)."""
    doc = (ROOT / FRAMEWORK_DOC).read_text()
    table = rule_index_markdown(default_rules())
    assert doc.endswith(table)
    for rule in default_rules().rules:
        line = next(row for row in table.splitlines() if row.startswith(f"| `{rule.id}` |"))
        for section in rule.sections:
            assert f"(#{section_anchor(section)})" in line, rule.id


def test_every_project_threshold_is_listed_in_the_framework_doc() -> None:
    doc = (ROOT / FRAMEWORK_DOC).read_text().split("## Thresholds chosen by the project")[1]
    marked = [r for r in default_rules().rules if "threshold:" in r.rationale]
    assert len(marked) >= 12
    for words in ("grade >= 2", "Weishaupt", "SIJ provocation", ">= 4 mm", "100 mm2",
                  "Meyerding", "13 weeks", "26", "-2.5", "age >= 70", "10 mg/L"):
        assert words in doc, words
