"""The care-pathway engine: phenotypes, red flags, next step, candidates, concordance.

:func:`evaluate_rules` runs every rule of the rule book over a table of observations
(one row or a cohort). :func:`assess_patient` reads the one-row result as a
:class:`PathwayResult` for a clinician; :func:`pathway_features` reads the cohort result
as model features. Both go through the same evaluation and the same concordance
function, so they cannot disagree.

Missing findings are never guessed. A rule that cannot be assessed does not fire: a
phenotype whose key findings are missing counts as *not supported* (0) in the features,
and the per-patient result lists it under ``not_assessed`` with the missing fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from spinerisk.phenotype.logic import Observations, Truth
from spinerisk.schema import validate_record
from spinerisk.phenotype.rules import URGENT_TRIAGE, Rule, RuleBook, default_rules
from spinerisk.schema import PROCEDURES

NOTICE = "Decision support for research use; not a substitute for clinical judgement."
#: Levels of the ``concordance`` feature, in code order.
CONCORDANCE_LEVELS: tuple[str, ...] = ("concordant", "discordant", "contraindicated")
_PROCEDURE_LEVELS: tuple[str, ...] = tuple(PROCEDURES)


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class Finding:
    """A finding (or red flag) cited for or against a phenotype."""

    rule_id: str
    label: str


@dataclass(frozen=True)
class PhenotypeCall:
    """One phenotype: ``supported``, ``not supported`` or ``not assessed``."""

    name: str
    rule_id: str
    status: str
    supporting: tuple[Finding, ...]
    against: tuple[Finding, ...]
    sections: tuple[str, ...]


@dataclass(frozen=True)
class DiagnosticStep:
    """The next diagnostic step the review recommends."""

    rule_id: str
    step: str
    sections: tuple[str, ...]


@dataclass(frozen=True)
class Candidate:
    """A candidate intervention for a supported phenotype."""

    procedure: str
    phenotype: str
    positioning: str
    note: str
    rule_id: str
    sections: tuple[str, ...]
    contraindicated_by: tuple[str, ...]


@dataclass(frozen=True)
class Contraindication:
    """A contraindication that holds for the planned procedure or a candidate."""

    rule_id: str
    label: str
    procedures: tuple[str, ...]
    sections: tuple[str, ...]


@dataclass(frozen=True)
class Note:
    """A timing or safety note."""

    rule_id: str
    note: str
    sections: tuple[str, ...]


@dataclass(frozen=True)
class Concordance:
    """How the planned procedure relates to the phenotype.

    ``label`` is ``concordant`` (a candidate of a supported phenotype, no
    contraindication), ``contraindicated`` (a contraindication holds), ``discordant``
    (otherwise), or ``None`` when no procedure is planned. ``rule_ids`` cite the
    candidate rules that fired, the contraindications that hold, or (discordant) the
    candidate rules the procedure would need.
    """

    procedure: str | None
    label: str | None
    rule_ids: tuple[str, ...]
    explanation: str


@dataclass(frozen=True)
class NotAssessed:
    """A rule the engine could not assess, and the missing fields that prevented it."""

    rule_id: str
    label: str
    missing_fields: tuple[str, ...]


@dataclass(frozen=True)
class PathwayResult:
    """Everything the care pathway says about one patient (see :func:`assess_patient`)."""

    phenotypes: tuple[PhenotypeCall, ...]
    red_flags: tuple[Finding, ...]
    urgent_triage: bool
    diagnostic_steps: tuple[DiagnosticStep, ...]
    candidate_interventions: tuple[Candidate, ...]
    contraindications: tuple[Contraindication, ...]
    timing_notes: tuple[Note, ...]
    safety_notes: tuple[Note, ...]
    concordance: Concordance
    not_assessed: tuple[NotAssessed, ...]
    notice: str = NOTICE

    @property
    def supported_phenotypes(self) -> tuple[str, ...]:
        """Names of the supported phenotypes."""
        return tuple(p.name for p in self.phenotypes if p.status == "supported")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with stable key order (tuples become lists)."""
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


# --------------------------------------------------------------------------- evaluation


def evaluate_rules(obs: Observations, book: RuleBook) -> dict[str, Truth]:
    """Truth of every rule for every row, in evaluation order."""
    results: dict[str, Truth] = {}
    for rule in book.rules:
        results[rule.id] = rule.condition.evaluate(obs, results)
    return results


def concordance_codes(obs: Observations, results: dict[str, Truth],
                      book: RuleBook) -> np.ndarray:
    """Concordance of each row's planned procedure: index into
    :data:`CONCORDANCE_LEVELS`, or -1 when no procedure is recorded."""
    candidate, contraindicated = _per_procedure(obs.n, results, book)
    planned = obs.values("procedure")
    rows = np.arange(obs.n)
    safe = np.where(planned >= 0, planned, 0)
    codes = np.where(contraindicated[rows, safe], 2, np.where(candidate[rows, safe], 0, 1))
    return np.where(planned >= 0, codes, -1).astype(np.int8)


def _per_procedure(n: int, results: dict[str, Truth],
                   book: RuleBook) -> tuple[np.ndarray, np.ndarray]:
    """(rows x procedures) matrices: some candidate rule fires / some contraindication holds."""
    candidate = np.zeros((n, len(_PROCEDURE_LEVELS)), dtype=bool)
    contraindicated = np.zeros_like(candidate)
    for kind, matrix in (("interventions", candidate), ("contraindications", contraindicated)):
        for rule in book.of_kind(kind):
            for procedure in rule.procedures:
                matrix[:, _PROCEDURE_LEVELS.index(procedure)] |= results[rule.id].true
    return candidate, contraindicated


def pathway_features(frame: pd.DataFrame, book: RuleBook | None = None) -> pd.DataFrame:
    """Care-pathway features for every episode of a cohort (vectorised).

    Parameters
    ----------
    frame : DataFrame
        Cohort table with contract columns (as returned by ``spinerisk.schema.validate``
        or the simulator). Contract columns absent from the frame are treated as missing.
    book : RuleBook, optional
        Rules to apply; default the packaged ``rules.yaml``.

    Returns
    -------
    DataFrame
        Same index. ``phenotype_<name>`` (Int8 0/1) for the seven phenotypes,
        ``red_flag_any`` (Int8 0/1) and ``concordance`` (categorical: concordant,
        discordant, contraindicated; missing where no procedure is recorded). A
        phenotype or red flag whose findings are missing is 0 (not supported): findings
        are never guessed.
    """
    book = book or default_rules()
    obs = Observations.from_frame(frame, book.fields)
    results = evaluate_rules(obs, book)
    columns: dict[str, Any] = {}
    for rule in book.of_kind("phenotypes"):
        columns[f"phenotype_{rule.text}"] = _int8(results[rule.id].true)
    red_flags = [results[r.id].true for r in book.of_kind("red_flags")]
    columns["red_flag_any"] = _int8(np.logical_or.reduce(red_flags))
    columns["concordance"] = pd.Categorical.from_codes(
        concordance_codes(obs, results, book), categories=list(CONCORDANCE_LEVELS))
    return pd.DataFrame(columns, index=frame.index)


def _int8(values: np.ndarray) -> pd.arrays.IntegerArray:
    return pd.array(values.astype(np.int8), dtype="Int8")


# --------------------------------------------------------------------------- one patient


def assess_patient(record: dict[str, Any], book: RuleBook | None = None) -> PathwayResult:
    """Run the care pathway for one patient.

    Parameters
    ----------
    record : dict
        Contract field name -> value; absent or null fields are missing (see
        :func:`spinerisk.phenotype.validate_record`). ``record["procedure"]``, when
        present, is the planned procedure whose concordance is assessed.
    book : RuleBook, optional
        Rules to apply; default the packaged ``rules.yaml``.

    Returns
    -------
    PathwayResult
        Phenotypes with supporting/against findings, red flags, urgent triage, the next
        diagnostic step, candidate interventions with positioning, contraindications,
        timing and safety notes, concordance of the planned procedure, and what could
        not be assessed. Every item cites its rule id.

    Raises
    ------
    spinerisk.schema.SchemaValidationError
        When a present field breaks the contract.
    """
    book = book or default_rules()
    clean = validate_record(record)
    obs = Observations.from_record(clean, book.fields)
    results = evaluate_rules(obs, book)
    fired = {rule_id: bool(t.true[0]) for rule_id, t in results.items()}
    unknown = {rule_id for rule_id, t in results.items() if t.unknown[0]}
    planned = clean.get("procedure")
    concordance = _concordance(planned, int(concordance_codes(obs, results, book)[0]),
                               fired, unknown, book)
    candidates = _candidates(fired, book)
    relevant = {c.procedure for c in candidates} | ({planned} if planned else set())
    contraindications = _contraindications(fired, relevant, book)
    return PathwayResult(
        phenotypes=tuple(_phenotype_call(r, fired, unknown, book)
                         for r in book.of_kind("phenotypes")),
        red_flags=tuple(Finding(r.id, r.text) for r in book.of_kind("red_flags") if fired[r.id]),
        urgent_triage=fired[URGENT_TRIAGE],
        diagnostic_steps=tuple(DiagnosticStep(r.id, r.text, r.sections)
                               for r in book.of_kind("diagnostic_steps") if fired[r.id]),
        candidate_interventions=candidates,
        contraindications=contraindications,
        timing_notes=_notes("timing", fired, book),
        safety_notes=_notes("safety", fired, book),
        concordance=concordance,
        not_assessed=_not_assessed(unknown, relevant, planned, obs, results, book),
    )


def _phenotype_call(rule: Rule, fired: dict[str, bool], unknown: set[str],
                    book: RuleBook) -> PhenotypeCall:
    status = ("supported" if fired[rule.id] else
              "not assessed" if rule.id in unknown else "not supported")
    return PhenotypeCall(
        name=rule.text, rule_id=rule.id, status=status, sections=rule.sections,
        supporting=tuple(Finding(f, book[f].text) for f in rule.support if fired[f]),
        against=tuple(Finding(f, book[f].text) for f in rule.against if fired[f]))


def _candidates(fired: dict[str, bool], book: RuleBook) -> tuple[Candidate, ...]:
    out = []
    for rule in book.of_kind("interventions"):
        if not fired[rule.id]:
            continue
        procedure = rule.procedures[0]
        blocked = tuple(r.id for r in book.of_kind("contraindications")
                        if fired[r.id] and procedure in r.procedures)
        out.append(Candidate(procedure, book[rule.phenotype].text, rule.positioning, rule.text,
                             rule.id, rule.sections, blocked))
    return tuple(out)


def _contraindications(fired: dict[str, bool], relevant: set[str],
                       book: RuleBook) -> tuple[Contraindication, ...]:
    out = []
    for rule in book.of_kind("contraindications"):
        applies = tuple(p for p in rule.procedures if p in relevant)
        if fired[rule.id] and applies:
            out.append(Contraindication(rule.id, rule.text, applies, rule.sections))
    return tuple(out)


def _notes(category: str, fired: dict[str, bool], book: RuleBook) -> tuple[Note, ...]:
    return tuple(Note(r.id, r.text, r.sections) for r in book.of_kind("notes")
                 if r.category == category and fired[r.id])


def _concordance(planned: str | None, code: int, fired: dict[str, bool], unknown: set[str],
                 book: RuleBook) -> Concordance:
    if planned is None:
        return Concordance(None, None, (), "No planned procedure recorded.")
    label = CONCORDANCE_LEVELS[code]
    kind = {"concordant": "interventions", "contraindicated": "contraindications",
            "discordant": "interventions"}[label]
    rules = [r for r in book.of_kind(kind) if planned in r.procedures]
    if label == "discordant":
        needed = sorted({book[r.phenotype].text for r in rules})
        explanation = (f"{planned} is not a candidate for any supported phenotype"
                       + (f" (it is a candidate for: {', '.join(needed)})." if needed else "."))
        if any(r.id in unknown for r in rules):
            explanation += " Some findings were missing; see not_assessed."
        return Concordance(planned, label, tuple(r.id for r in rules), explanation)
    cited = [r for r in rules if fired[r.id]]
    explanation = (f"{planned} is a candidate for a supported phenotype."
                   if label == "concordant" else
                   f"{planned} is contraindicated: {'; '.join(r.text for r in cited)}.")
    return Concordance(planned, label, tuple(r.id for r in cited), explanation)


def _not_assessed(unknown: set[str], relevant: set[str], planned: str | None,
                  obs: Observations, results: dict[str, Truth],
                  book: RuleBook) -> tuple[NotAssessed, ...]:
    """Rules a missing finding kept from being assessed, with the missing fields.

    Red flags and phenotypes are always listed; other rules only when a field they read
    directly is missing (otherwise the red flag or phenotype they rely on is listed).
    Contraindications are listed only for the planned procedure and the candidates.
    """
    conditions = {r.id: r.condition for r in book.rules}
    out = []
    for rule in book.rules:
        if rule.id not in unknown or rule.kind == "findings":
            continue
        if rule.kind == "contraindications" and not set(rule.procedures) & relevant:
            continue
        if rule.kind == "interventions" and rule.procedures[0] != planned:
            continue
        direct = {f for f in rule.condition.fields() if obs.missing(f)[0]}
        if rule.kind not in ("red_flags", "phenotypes") and not direct:
            continue
        missing = rule.condition.blocking_fields(obs, results, conditions)
        out.append(NotAssessed(rule.id, rule.text, tuple(sorted(missing))))
    return tuple(out)
