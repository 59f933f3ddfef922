"""The care-pathway engine: phenotypes, red flags, next step, candidates, concordance.

:func:`evaluate_rules` runs every rule of the rule book over a table of observations
(one row or a cohort). :func:`assess_patient` reads the one-row result as a
:class:`PathwayResult` for a clinician; :func:`pathway_features` reads the cohort result
as model features. Both go through the same evaluation and the same concordance
function, so they cannot disagree.

Missing findings are never guessed. A rule that cannot be assessed does not fire: a
phenotype whose key findings are missing counts as *not supported* (0) in the features,
and the per-patient result lists it under ``not_assessed`` with the missing fields, as it
does every rule left unassessed directly or through the rules it reads. The concordance
``status`` of a planned procedure says so when its candidacy or a contraindication could
not be judged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from spinerisk.phenotype.logic import Condition, Observations, Truth
from spinerisk.phenotype.rules import URGENT_TRIAGE, Rule, RuleBook, default_rules
from spinerisk.schema import PROCEDURES, validate_record
from spinerisk.vocabulary import phenotype_name, procedure_name

NOTICE = "Decision support for research use; not a substitute for clinical judgement."
#: Levels of the ``concordance`` feature, in code order.
CONCORDANCE_LEVELS: tuple[str, ...] = ("concordant", "discordant", "contraindicated")
_PROCEDURE_LEVELS: tuple[str, ...] = tuple(PROCEDURES)
_PROCEDURE_INDEX = {p: i for i, p in enumerate(_PROCEDURE_LEVELS)}


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

    ``label`` is the model feature (one of :data:`CONCORDANCE_LEVELS`, as
    :func:`pathway_features` computes it, where what cannot be assessed does not fire):
    ``concordant`` (a candidate of a supported phenotype, no contraindication holds),
    ``contraindicated`` (a contraindication holds), ``discordant`` (otherwise), or
    ``None`` when no procedure is planned.

    ``status`` is what a clinician reads. It equals ``label`` when everything could be
    judged; otherwise it is ``not assessable: <fields>`` (whether the procedure is a
    candidate could not be judged) or carries ``, contraindication not assessable:
    <fields>`` (a contraindication could be neither confirmed nor excluded), e.g.
    ``concordant, contraindication not assessable: dynamic_instability``.
    ``missing_fields`` are the fields that would settle it. ``rule_ids`` cite the
    contraindications that hold, else the candidate rules that fired, could not be
    assessed, or (discordant) the procedure would need.
    """

    procedure: str | None
    label: str | None
    status: str | None
    rule_ids: tuple[str, ...]
    missing_fields: tuple[str, ...]
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
                matrix[:, _PROCEDURE_INDEX[procedure]] |= results[rule.id].true
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
        phenotype or red flag whose findings are missing is 0 (not supported) and a rule
        that cannot be assessed does not fire: findings are never guessed. Which of these
        answers rest on missing findings is per patient: ``assess_patient`` gives the
        concordance ``status`` and ``not_assessed``.
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
    return assess_validated(validate_record(record), book)


def assess_validated(clean: dict[str, Any], book: RuleBook | None = None) -> PathwayResult:
    """:func:`assess_patient` for a record that ``validate_record`` already returned
    (the per-patient service validates once and reuses the clean record)."""
    return assess_many([clean], book)[0]


def assess_many(cleans: Sequence[dict[str, Any]],
                book: RuleBook | None = None) -> list[PathwayResult]:
    """:func:`assess_validated` for several validated records at once.

    The rules are evaluated once over all records as one table (the cost of a rule barely
    depends on the number of rows); each record's result is then read from its own row,
    so it equals the record's own :func:`assess_validated` exactly.
    """
    book = book or default_rules()
    obs = Observations.from_records(cleans, book.fields)
    results = evaluate_rules(obs, book)
    codes = concordance_codes(obs, results, book).tolist()
    ids = list(results)
    true = np.array([results[r].true for r in ids]).T.tolist()  # rows x rules
    known = np.array([results[r].known for r in ids]).T.tolist()
    out = []
    for i, clean in enumerate(cleans):
        fired = dict(zip(ids, true[i]))
        unknown = {r for r, k in zip(ids, known[i]) if not k}
        out.append(_assess_row(clean, obs.row(i), _RowResults(results, i), fired, unknown,
                               codes[i], book))
    return out


class _RowResults(Mapping):
    """One row of the rules' results, each sliced when first read."""

    def __init__(self, results: Mapping[str, Truth], i: int):
        self.results, self.i, self.rows = results, i, {}

    def __getitem__(self, rule_id: str) -> Truth:
        row = self.rows.get(rule_id)
        if row is None:
            row = self.rows[rule_id] = self.results[rule_id].row(self.i)
        return row

    def __iter__(self):
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)


def _assess_row(clean: dict[str, Any], obs: Observations, results: Mapping[str, Truth],
                fired: dict[str, bool], unknown: set[str], code: int,
                book: RuleBook) -> PathwayResult:
    """One patient's result from its row of the rules' results."""
    planned = clean.get("procedure")
    judged = _Judged(fired, unknown, _blocking(obs, results, unknown, book))
    concordance = _concordance(planned, code, judged, book)
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
        not_assessed=_not_assessed(judged, {c.procedure for c in candidates}, planned,
                                   results, book),
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


@dataclass(frozen=True)
class _Judged:
    """One patient's rule outcomes: fired, not assessable, and the missing fields that
    left each unassessable rule open (through the rules it reads)."""

    fired: dict[str, bool]
    unknown: set[str]
    missing: dict[str, tuple[str, ...]]


class _OncePerPatient:
    """A rule's condition whose blocking fields are worked out once per patient: rules
    read shared rules many times over, and the answer does not change within a patient."""

    def __init__(self, condition: Condition):
        self.condition, self.fields = condition, None

    def blocking_fields(self, obs: Observations, results: Mapping[str, Truth],
                        rules: Mapping[str, Any]) -> set[str]:
        if self.fields is None:
            self.fields = self.condition.blocking_fields(obs, results, rules)
        return self.fields


class _Conditions(dict):
    """Rule id -> :class:`_OncePerPatient`, made when a rule is first read (a patient
    reads only the rules on the paths of its unassessed ones)."""

    def __init__(self, book: RuleBook):
        super().__init__()
        self.book = book

    def __missing__(self, rule_id: str) -> _OncePerPatient:
        made = self[rule_id] = _OncePerPatient(self.book[rule_id].condition)
        return made


def _blocking(obs: Observations, results: Mapping[str, Truth], unknown: set[str],
              book: RuleBook) -> dict[str, tuple[str, ...]]:
    conditions = _Conditions(book)
    return {r.id: tuple(sorted(conditions[r.id].blocking_fields(obs, results, conditions)))
            for r in book.rules if r.id in unknown}


def _fields(judged: _Judged, rules: list[Rule]) -> tuple[str, ...]:
    return tuple(sorted(set().union(*(judged.missing[r.id] for r in rules))))


def _concordance(planned: str | None, code: int, judged: _Judged,
                 book: RuleBook) -> Concordance:
    if planned is None:
        return Concordance(None, None, None, (), (), "No planned procedure recorded.")
    label, name = CONCORDANCE_LEVELS[code], procedure_name(planned)
    candidates = [r for r in book.of_kind("interventions") if planned in r.procedures]
    contras = [r for r in book.of_kind("contraindications") if planned in r.procedures]
    holding = [r for r in contras if judged.fired[r.id]]
    if holding:
        return Concordance(planned, label, "contraindicated", tuple(r.id for r in holding), (),
                           f"{name} is contraindicated: {'; '.join(r.text for r in holding)}.")
    fired = [r for r in candidates if judged.fired[r.id]]
    open_candidates = [r for r in candidates if r.id in judged.unknown]
    if fired:
        status, cited = "concordant", fired
        explanation = f"{name} is a candidate for a supported phenotype."
    elif open_candidates:
        status = f"not assessable: {', '.join(_fields(judged, open_candidates))}"
        cited = open_candidates
        explanation = (f"Whether {name} is a candidate could not be assessed: findings are "
                       "missing (see not_assessed).")
    else:
        status, cited = "discordant", candidates
        explanation = _discordance(name, candidates, judged, book)
    open_contras = [r for r in contras if r.id in judged.unknown]
    if open_contras:
        status += f", contraindication not assessable: {', '.join(_fields(judged, open_contras))}"
        explanation += (" Contraindications that could not be judged: "
                        + "; ".join(r.text for r in open_contras) + ".")
    missing = _fields(judged, [r for r in cited if r.id in judged.unknown] + open_contras)
    return Concordance(planned, label, status, tuple(r.id for r in cited), missing, explanation)


def _discordance(name: str, candidates: list[Rule], judged: _Judged, book: RuleBook) -> str:
    """Why a planned procedure is discordant: its phenotype is not supported, or it is but
    the procedure's own criteria (e.g. a contained herniation) do not hold."""
    gated = [r for r in candidates if judged.fired[r.phenotype]]
    if gated:
        phenotypes = ", ".join(sorted({phenotype_name(book[r.phenotype].text) for r in gated}))
        return (f"{name} is offered for {phenotypes} only when its own criteria hold, and "
                f"they do not here: {' '.join(sorted({r.text for r in gated}))}")
    needed = sorted({phenotype_name(book[r.phenotype].text) for r in candidates})
    return (f"{name} is not a candidate for any supported phenotype"
            + (f" (it is a candidate for: {', '.join(needed)})." if needed else "."))


def _not_assessed(judged: _Judged, candidates: set[str], planned: str | None,
                  results: Mapping[str, Truth], book: RuleBook) -> tuple[NotAssessed, ...]:
    """Rules a missing finding kept from being assessed, with the missing fields.

    In this order: red flags; the planned procedure's contraindications and candidacy;
    the candidates' contraindications; candidates of a supported phenotype whose own
    condition could not be judged; phenotypes; diagnostic steps and notes whose own
    findings are missing (those left open only by a red flag or phenotype listed above are
    not repeated, and procedure notes appear only when a procedure is planned).
    """
    def about(procedures: set[str]):
        return lambda r: bool(set(r.procedures) & procedures)

    def own(rule: Rule) -> bool:
        upstream = [r for r in rule.condition.needs()
                    if book[r].kind in ("red_flags", "phenotypes")]
        return (all(results[r].known[0] for r in upstream)
                and "procedure" not in judged.missing[rule.id])

    planned_set = {planned} if planned else set()
    relevant = planned_set | candidates | {p for r in book.of_kind("interventions")
                                           if judged.fired[r.phenotype] for p in r.procedures}
    # once one candidate rule makes the planned procedure concordant, its other
    # phenotypes' candidacy no longer matters
    settled = any(judged.fired[r.id] for r in book.of_kind("interventions")
                  if planned in r.procedures)
    groups = [
        (book.of_kind("red_flags"), lambda r: True),
        (book.of_kind("contraindications"), about(planned_set)),
        (book.of_kind("interventions"), about(set() if settled else planned_set)),
        (book.of_kind("contraindications"), about(candidates)),
        (book.of_kind("interventions"), lambda r: judged.fired[r.phenotype]),
        (book.of_kind("phenotypes"), lambda r: True),
        (book.of_kind("diagnostic_steps"), own),
        (book.of_kind("notes"), own),
    ]
    out: dict[str, NotAssessed] = {}
    for rules, wanted in groups:
        for rule in rules:
            if rule.id in judged.unknown and rule.id not in out and wanted(rule):
                out[rule.id] = NotAssessed(rule.id, _unassessed_label(rule, relevant),
                                           judged.missing[rule.id])
    return tuple(out.values())


def _unassessed_label(rule: Rule, relevant: set[str]) -> str:
    """How an unassessed rule is worded: conditional, never as a fact, with the clinical
    names of the procedures it concerns for this patient."""
    names = ", ".join(procedure_name(p) for p in rule.procedures if p in relevant)
    if rule.kind == "interventions":
        return f"whether {names} is a candidate ({rule.text})"
    if rule.kind == "contraindications":
        return f"contraindication to {names} not assessable: {rule.text}"
    if rule.kind == "phenotypes":
        return f"whether {phenotype_name(rule.text)} is supported"
    return rule.if_unknown or rule.text
