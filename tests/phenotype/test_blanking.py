"""Property: forgetting a finding never makes the pathway more certain.

Blanking any single recorded field never turns a "not assessable" answer (a phenotype, a
red flag, the concordance status) into a definite one, never turns a contraindicated
procedure into "concordant", and never turns a concordant one into "discordant" or
"contraindicated" (review 3: selection needs clinic-imaging concordance; nothing unknown
is assumed).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from spinerisk.phenotype import assess_patient, default_rules
from spinerisk.schema import FIELD_BY_NAME

from .test_pathway_cases import CASES
from .test_vignettes import VIGNETTES

FIELDS = tuple(sorted(set(default_rules().fields) | {"procedure"}))
#: Clinically built records, so that phenotypes, gates and contraindications are exercised.
STORIES = [c.record() for c in CASES] + [v.record() for v in VIGNETTES]


def _value(name: str) -> st.SearchStrategy[Any]:
    spec = FIELD_BY_NAME[name]
    if spec.kind == "category":
        return st.sampled_from(spec.levels)
    if spec.kind == "binary":
        return st.sampled_from((0, 1))
    if spec.kind == "integer":
        return st.integers(int(spec.low), int(spec.high))
    return st.floats(spec.low, spec.high, allow_nan=False).map(lambda v: round(v, 1))


#: A story with some findings changed and some blanked, or a random record.
RECORDS = st.one_of(
    st.tuples(st.sampled_from(STORIES),
              st.dictionaries(st.sampled_from(FIELDS), st.none(), max_size=4),
              st.fixed_dictionaries({}, optional={f: _value(f) for f in FIELDS}))
    .map(lambda parts: {**parts[0], **parts[2], **parts[1]}),
    st.fixed_dictionaries({}, optional={f: _value(f) for f in FIELDS}),
)


def _open(status: str | None) -> bool:
    return status is not None and "not assessable" in status


def _check_blanking(record: dict[str, Any], field: str) -> None:
    before = assess_patient(record)
    after = assess_patient({k: v for k, v in record.items() if k != field})
    was, now = before.concordance.status, after.concordance.status
    if field == "procedure":     # nothing planned any more: nothing to judge
        assert now is None
        was = None
    if _open(was):
        assert _open(now), (field, was, now)
    if was == "contraindicated":
        assert now != "concordant", (field, now)
    if was == "concordant":
        assert now.startswith(("concordant", "not assessable")), (field, now)
    for b, a in zip(before.phenotypes, after.phenotypes, strict=True):
        if b.status == "not assessed":
            assert a.status == "not assessed", (field, b.name)
    unassessed_after = {n.rule_id for n in after.not_assessed}
    for n in before.not_assessed:
        if n.rule_id.startswith(("RF-", "PH-")):
            assert n.rule_id in unassessed_after, (field, n.rule_id)


@settings(max_examples=25, deadline=None)
@given(RECORDS.filter(lambda r: any(r.get(f) is not None for f in FIELDS)))
def test_blanking_one_field_never_makes_the_answer_more_certain(record) -> None:
    record = {k: v for k, v in record.items() if v is not None}
    for field in sorted(set(record) & set(FIELDS)):
        _check_blanking(record, field)


def test_blanking_the_instability_of_a_contraindicated_bvna() -> None:
    """The issue's example: BVNA with dynamic instability is contraindicated; with the
    finding blanked it is concordant only with the open contraindication named."""
    story = next(v for v in VIGNETTES if v.name == "bvna_dynamic_instability_unrecorded")
    record = story.record() | {"dynamic_instability": 1}
    assert assess_patient(record).concordance.status == "contraindicated"
    record.pop("dynamic_instability")
    assert assess_patient(record).concordance.status == (
        "concordant, contraindication not assessable: dynamic_instability")

