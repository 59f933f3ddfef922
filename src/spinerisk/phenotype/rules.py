"""The care-pathway rules as data: loading, checking and listing ``rules.yaml``.

Each rule carries its id, the review sections it encodes, a one-sentence rationale, a
condition over contract fields and its output. Loading refuses rules that name unknown
fields, levels, procedures or review sections, or that read a rule defined later.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from spinerisk.phenotype.logic import All, Condition, Fires, Not, Ref, parse_condition
from spinerisk.schema import PROCEDURES

#: The review the rules encode (docs/clinical-framework.md summarises it section by section).
REVIEW_CITATION = ("Pacella G, Natella R, Bruno F, et al. Subacute and Chronic Low-Back Pain: "
                   "From MRI Phenotype to Imaging-Guided Interventions. Diagnostics. "
                   "2026;16(2):240. doi:10.3390/diagnostics16020240")
#: Where the project explains the review's sections and lists the rules under each.
FRAMEWORK_DOC = "docs/clinical-framework.md"

#: Numbered sections of the review (Pacella et al.) that rules may cite, with titles.
REVIEW_SECTIONS: dict[str, str] = {
    "Abstract": "Abstract",
    "1": "Introduction",
    "2.1": "Radicular Pain",
    "2.2": "Facetogenic Pain",
    "2.3": "Discogenic Pain",
    "2.4": "Vertebrogenic Pain",
    "2.5": "Sacroiliac Joint (SIJ) Pain",
    "2.6": "LF-Driven Lumbar Stenosis",
    "2.7": "Osseous Pain",
    "3": "From MRI Phenotype to Targeted Intervention",
    "4": "Interventional Options for Radicular Pain",
    "4.1": "Epidural Steroid Injections",
    "4.2": "Selective Nerve Root Blocks",
    "4.3": "Pulsed Radiofrequency of the Dorsal Root Ganglion",
    "5.1": "Facetogenic Pain",
    "5.2": "Sacroiliac Joint Pain",
    "5.3": "Discogenic Pain",
    "5.4": "Vertebrogenic Pain (Endplate Nociception)",
    "5.5": "Lumbar Stenosis with Hypertrophic LF",
    "6": "Osseous Red-Flag Pain",
    "7": "Conclusions and Future Directions",
}

#: Rule kinds in evaluation order (a rule may only read rules of earlier kinds or
#: earlier rules of its own kind).
KINDS: tuple[str, ...] = ("findings", "red_flags", "phenotypes", "diagnostic_steps",
                          "interventions", "contraindications", "notes")

#: The seven phenotypes of the review, in the order of CLINICAL_SPEC section 2.
PHENOTYPE_NAMES: tuple[str, ...] = ("radicular", "facetogenic", "discogenic", "vertebrogenic",
                                    "sacroiliac", "lf_stenosis", "osseous_red_flag")
POSITIONINGS: tuple[str, ...] = ("diagnostic", "first-line", "second-line", "short-term",
                                 "investigational")
NOTE_CATEGORIES: tuple[str, ...] = ("timing", "safety")
#: The diagnostic step that red flags trigger; it suppresses degenerative candidates.
URGENT_TRIAGE = "DX-URGENT-TRIAGE"

_TEXT_KEY = {"findings": "label", "red_flags": "label", "phenotypes": "name",
             "diagnostic_steps": "step", "interventions": "note",
             "contraindications": "label", "notes": "note"}
_COMMON = {"id", "sections", "rationale", "when"}
_EXTRA_KEYS = {"phenotypes": {"support", "against"},
               "interventions": {"procedure", "phenotype", "positioning",
                                 "suppressed_by_red_flags"},
               "contraindications": {"procedures"}, "notes": {"category", "if_unknown"}}
_OPTIONAL = {"interventions": {"when", "suppressed_by_red_flags"}, "notes": {"if_unknown"}}


@dataclass(frozen=True)
class Rule:
    """One care-pathway rule.

    Attributes
    ----------
    id : str
        Stable identifier cited in every output (e.g. ``PH-RADICULAR``).
    kind : str
        One of :data:`KINDS`.
    text : str
        What the rule outputs: a finding label, phenotype name, diagnostic step,
        candidate note, contraindication label or timing/safety note.
    sections : tuple of str
        Review sections the rule encodes.
    rationale : str
        Why the rule exists, in one sentence.
    condition : Condition
        When the rule fires; interventions include their phenotype and (unless they opt
        out) the absence of red flags.
    procedures : tuple of str
        Procedures the rule is about (interventions: one; contraindications: several).
    phenotype : str
        For interventions: the phenotype rule id the candidate belongs to.
    positioning : str
        For interventions: the review's positioning (see :data:`POSITIONINGS`).
    category : str
        For notes: ``timing`` or ``safety``.
    support, against : tuple of str
        For phenotypes: finding rule ids that support or speak against it.
    if_unknown : str
        For notes: the wording when the note's findings are not recorded (a conditional,
        never a statement of fact); empty to reuse ``text``.
    """

    id: str
    kind: str
    text: str
    sections: tuple[str, ...]
    rationale: str
    condition: Condition
    procedures: tuple[str, ...] = ()
    phenotype: str = ""
    positioning: str = ""
    category: str = ""
    support: tuple[str, ...] = ()
    against: tuple[str, ...] = ()
    if_unknown: str = ""


@dataclass(frozen=True)
class RuleBook:
    """All rules in evaluation order, with the contract fields each one reads.

    Attributes
    ----------
    rules : tuple of Rule
        In evaluation order.
    fields : tuple of str
        Every contract field any rule reads, sorted.
    """

    rules: tuple[Rule, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {r.id: r for r in self.rules})
        object.__setattr__(self, "_by_kind", {k: tuple(r for r in self.rules if r.kind == k)
                                              for k in KINDS})
        object.__setattr__(self, "fields", tuple(sorted(
            set().union(*(r.condition.fields() for r in self.rules)))))

    def __getitem__(self, rule_id: str) -> Rule:
        return self._by_id[rule_id]

    def of_kind(self, kind: str) -> tuple[Rule, ...]:
        """Rules of one kind, in file order."""
        return self._by_kind[kind]

    def fields_of(self, rule_id: str) -> set[str]:
        """Contract fields whose absence can leave a rule unassessed, directly or through
        the rules it refers to."""
        condition = self[rule_id].condition
        return condition.fields().union(*(self.fields_of(r) for r in condition.needs()))

    def table(self) -> pd.DataFrame:
        """One row per rule, for clinicians to read and check."""
        return pd.DataFrame([{
            "id": r.id, "kind": r.kind, "output": r.text, "sections": ", ".join(r.sections),
            "rationale": r.rationale, "procedures": ", ".join(r.procedures),
            "positioning": r.positioning, "fields": ", ".join(sorted(self.fields_of(r.id))),
        } for r in self.rules])


def section_anchor(section: str) -> str:
    """The anchor of a review section in :data:`FRAMEWORK_DOC` (``2.1`` -> ``review-2-1``)."""
    return "review-" + section.lower().replace(".", "-")


def rule_index_markdown(book: RuleBook) -> str:
    """Every rule with its kind, output and links to the review sections it encodes, as the
    Markdown table that closes :data:`FRAMEWORK_DOC` (a test keeps the two identical)."""
    lines = ["| rule | kind | output | review sections |", "|---|---|---|---|"]
    for r in book.rules:
        links = ", ".join(f"[{s}](#{section_anchor(s)})" for s in r.sections)
        text = r.text.replace("|", "/")
        lines.append(f"| `{r.id}` | {r.kind.replace('_', ' ')} | {text} | {links} |")
    return "\n".join(lines) + "\n"


def load_rules(path: str | Path | None = None) -> RuleBook:
    """Read and check a rule file (default: the packaged ``rules.yaml``).

    Raises
    ------
    ValueError
        Naming the rule and what is wrong with it.
    """
    import yaml

    text = (Path(path).read_text() if path is not None
            else resources.files("spinerisk.phenotype").joinpath("rules.yaml").read_text())
    raw = yaml.safe_load(text) or {}
    unknown = set(raw) - set(KINDS)
    if unknown:
        raise ValueError(f"rule file: unknown sections {sorted(unknown)}; allowed: {KINDS}")
    rules: list[Rule] = []
    for kind in KINDS:
        for entry in raw.get(kind) or ():
            rules.append(_build_rule(kind, entry, {r.id for r in rules}))
    book = RuleBook(tuple(rules))
    _check_book(book)
    return book


@cache
def default_rules() -> RuleBook:
    """The packaged rules, loaded once."""
    return load_rules()


def _build_rule(kind: str, entry: dict[str, Any], defined: set[str]) -> Rule:
    rule_id = entry.get("id", "<missing id>")
    expected = _COMMON | {_TEXT_KEY[kind]} | _EXTRA_KEYS.get(kind, set())
    optional = _OPTIONAL.get(kind, set())
    missing = expected - set(entry) - optional
    extra = set(entry) - expected
    if missing or extra:
        raise ValueError(f"rule {rule_id} ({kind}): missing keys {sorted(missing)}, "
                         f"unexpected keys {sorted(extra)}")
    if rule_id in defined:
        raise ValueError(f"rule {rule_id}: duplicate id")
    sections = tuple(str(s) for s in entry["sections"])
    bad = [s for s in sections if s not in REVIEW_SECTIONS]
    if bad:
        raise ValueError(f"rule {rule_id}: unknown review sections {bad}; allowed: "
                         f"{', '.join(REVIEW_SECTIONS)}")
    condition = parse_condition(entry["when"], rule_id) if "when" in entry else None
    fields = {"id": rule_id, "kind": kind, "text": str(entry[_TEXT_KEY[kind]]),
              "sections": sections, "rationale": str(entry["rationale"]).strip()}
    if kind == "phenotypes":
        fields |= {"support": tuple(entry["support"]), "against": tuple(entry["against"])}
    elif kind == "interventions":
        condition = _candidate_condition(entry, condition)
        fields |= {"procedures": (entry["procedure"],), "phenotype": entry["phenotype"],
                   "positioning": entry["positioning"]}
    elif kind == "contraindications":
        fields |= {"procedures": tuple(entry["procedures"])}
    elif kind == "notes":
        fields |= {"category": entry["category"], "if_unknown": entry.get("if_unknown", "")}
    rule = Rule(condition=condition, **fields)
    undefined = (rule.condition.refs() | set(rule.support) | set(rule.against)) - defined
    if undefined:
        raise ValueError(f"rule {rule_id}: refers to rules not defined before it: "
                         f"{sorted(undefined)}")
    return rule


def _candidate_condition(entry: dict[str, Any], when: Condition | None) -> Condition:
    """A candidate needs its phenotype, its own condition and, unless the rule opts out,
    no red flag present: red flags override every degenerative pathway (review 2.7)."""
    parts: list[Condition] = [Ref(entry["phenotype"])]
    if when is not None:
        parts.append(when)
    if entry.get("suppressed_by_red_flags", True):
        parts.append(Not(Fires(Ref(URGENT_TRIAGE))))
    return All(tuple(parts))


def _check_book(book: RuleBook) -> None:
    names = tuple(r.text for r in book.of_kind("phenotypes"))
    if names != PHENOTYPE_NAMES:
        raise ValueError(f"phenotype rules name {names}; expected {PHENOTYPE_NAMES}")
    for rule in book.rules:
        unknown = set(rule.procedures) - set(PROCEDURES)
        if unknown:
            raise ValueError(f"rule {rule.id}: unknown procedures {sorted(unknown)}; allowed: "
                             f"{', '.join(PROCEDURES)}")
        if rule.kind == "interventions" and rule.positioning not in POSITIONINGS:
            raise ValueError(f"rule {rule.id}: positioning {rule.positioning!r}; allowed: "
                             f"{', '.join(POSITIONINGS)}")
        if rule.kind == "interventions" and book[rule.phenotype].kind != "phenotypes":
            raise ValueError(f"rule {rule.id}: phenotype {rule.phenotype} is not a phenotype rule")
        if rule.kind == "notes" and rule.category not in NOTE_CATEGORIES:
            raise ValueError(f"rule {rule.id}: category {rule.category!r}; allowed: "
                             f"{', '.join(NOTE_CATEGORIES)}")
