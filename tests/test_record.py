"""validate_record: present fields must fit the contract, absent ones are missing."""

from __future__ import annotations

import math

import pytest

from spinerisk.schema import SchemaValidationError, validate_record


def test_valid_record_is_returned_in_canonical_types() -> None:
    clean = validate_record({"age": 61, "sex": "male", "motor_deficit": True,
                             "pfirrmann_grade": 4.0, "bmi": None, "odi": math.nan,
                             "procedure": "bvna", "patient_id": 17})
    assert clean == {"age": 61.0, "sex": "male", "motor_deficit": 1, "pfirrmann_grade": 4,
                     "procedure": "bvna", "patient_id": "17"}
    assert isinstance(clean["pfirrmann_grade"], int) and isinstance(clean["age"], float)


def test_every_problem_is_reported_with_field_value_allowed_and_fix() -> None:
    with pytest.raises(SchemaValidationError) as info:
        validate_record({"age": 130, "sex": "M", "modic": "type1", "pfirrmann_grade": 3.5,
                         "motor_deficit": 2, "bmi": "27", "procedure": "fusion"})
    problems = {p.field: p for p in info.value.problems}
    assert set(problems) == {"age", "sex", "modic", "pfirrmann_grade", "motor_deficit", "bmi",
                             "procedure"}
    assert problems["age"].issue == "out of range"
    assert problems["age"].values == (130,) and problems["age"].allowed == "18-100 years"
    assert problems["sex"].issue == "unknown level"
    assert problems["sex"].allowed == "one of female, male"
    assert problems["modic"].fix == "did you mean 'modic_type' or 'modic_extent_gt50'?"
    assert problems["pfirrmann_grade"].issue == "not a whole number"
    assert problems["motor_deficit"].issue == "not a 0/1 value"
    assert problems["bmi"].issue == "not a number"
    assert "tf_esi" in problems["procedure"].allowed
    assert all(p.fix for p in problems.values())
    assert "age: out of range; values 130; allowed: 18-100 years" in str(info.value)


@pytest.mark.parametrize("value", [[1], "", {"a": 1}, math.inf])
def test_odd_values_are_problems_not_crashes(value) -> None:
    with pytest.raises(SchemaValidationError):
        validate_record({"back_pain_nrs": value, "pain_pattern": value})


def test_non_mapping_record_is_refused() -> None:
    with pytest.raises(SchemaValidationError, match="must be a JSON object"):
        validate_record([("age", 50)])
