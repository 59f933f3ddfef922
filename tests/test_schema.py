"""The data contract: accepts every simulated table, rejects bad tables with fixable messages."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from spinerisk import schema
from spinerisk.cli import app
from spinerisk.cohort import load, simulate
from spinerisk.errors import InputFileError


@pytest.fixture(scope="module")
def table(seed) -> pd.DataFrame:
    """A raw (object/float) export of a valid simulated table, as a site might send it."""
    frame = simulate(600, sites=2, seed=seed).frame
    return frame.astype(object).where(frame.notna(), None)


def problems_of(bad: pd.DataFrame, **kw) -> list[schema.Problem]:
    with pytest.raises(schema.SchemaValidationError) as err:
        schema.validate(bad, **kw)
    return err.value.problems


@pytest.mark.parametrize("tasks", [None, ("response",), ("residual_pain",), ("reoperation",)])
@pytest.mark.parametrize("offset", [0, 1, 2])
def test_accepts_every_simulated_table(seed, tasks, offset):
    cohort = simulate(800, sites=3, seed=seed + offset, tasks=tasks)
    again = schema.validate(cohort.frame.copy(), tasks=tasks)
    pd.testing.assert_frame_equal(again, cohort.frame)


def test_out_of_range_names_field_rows_value_allowed_and_fix(table):
    bad = table.copy()
    bad.loc[[17, 203], "bmi"] = 412.0
    [problem] = problems_of(bad)
    text = problem.message()
    assert problem.field == "bmi" and problem.rows == (17, 203) and problem.n_rows == 2
    assert "412" in text and "12-70 kg/m2" in text and "check units" in text
    assert "in data rows 18, 204 (2 rows)" in text  # counted from 1, as a person counts


def test_reports_every_problem_at_once(table):
    bad = table.copy()
    bad.loc[3, "bmi"] = "heavy"                      # wrong type
    bad.loc[4, "modic_type"] = "type4"               # unknown level
    bad.loc[5, "pfirrmann_grade"] = 2.5              # not whole
    bad.loc[6, "diabetes"] = "yes"                   # binary not 0/1
    bad.loc[7, "age"] = None                         # required field missing
    found = {(p.field, p.issue) for p in problems_of(bad)}
    assert found == {("bmi", "not a number"), ("modic_type", "unknown levels"),
                     ("pfirrmann_grade", "not a whole number"), ("diabetes", "not a 0/1 value"),
                     ("age", "missing values where the field is required")}


def test_unknown_level_message_lists_levels_and_mapping_fix(table):
    bad = table.copy()
    bad.loc[9, "modic_type"] = "Modic II"
    [problem] = problems_of(bad)
    assert "'Modic II'" in problem.message()
    assert "none, type1, type2, type3, mixed12" in problem.allowed
    assert "levels: modic_type:" in problem.fix


def test_missing_and_unexpected_columns_show_a_diff(table):
    bad = table.drop(columns=["odi"]).rename(columns={"bmi": "BMI_kg_m2"})
    missing, unexpected = problems_of(bad, tasks=["response"])
    assert missing.issue == ("expected columns are missing: bmi (closest present: BMI_kg_m2), "
                             "odi")
    assert unexpected.issue == "unexpected columns: BMI_kg_m2"
    assert "mapping file" in missing.fix and "ignore" in unexpected.fix


def test_duplicate_patient_episode_ids(table):
    bad = pd.concat([table, table.iloc[[11]]], ignore_index=True)
    [problem] = problems_of(bad)
    assert problem.field == "patient_id/episode_id" and problem.n_rows == 2
    assert problem.rows == (11, len(bad) - 1)


def test_all_missing_column(table):
    bad = table.copy()
    bad["odi"] = None
    [problem] = problems_of(bad)
    assert problem.field == "odi" and problem.issue.startswith("all ")


def test_empty_table_and_empty_file(table, tmp_path):
    [problem] = problems_of(table.iloc[0:0])
    assert "no rows" in problem.issue
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputFileError, match=r"empty\.csv: the file is empty"):
        load(empty)


def test_never_coerces_silently(table):
    """Valid values keep their exact value; out-of-range ones are reported, not clipped."""
    valid = schema.validate(table.copy())
    assert valid["bmi"].dropna().tolist() == pd.to_numeric(table["bmi"]).dropna().tolist()
    bad = table.copy()
    bad.loc[0, "back_pain_nrs"] = 11
    [problem] = problems_of(bad)
    assert problem.values == (11,)


def test_mapping_file_renames_recodes_and_ignores(table, tmp_path):
    site = table.rename(columns={"bmi": "BMI", "index_level": "level"}).copy()
    site["level"] = site["level"].replace({"L4-L5": "L4/5"})
    site["diabetes"] = site["diabetes"].map({1: "Y", 0: "N", None: None})
    site["ward"] = "orthopaedics"
    mapping = tmp_path / "site.yaml"
    mapping.write_text("columns:\n  BMI: bmi\n  level: index_level\n"
                       "levels:\n  index_level: {'L4/5': 'L4-L5'}\n  diabetes: {'Y': 1, 'N': 0}\n"
                       "ignore: [ward]\n")
    path = tmp_path / "site.csv"
    site.to_csv(path, index=False)
    loaded = load(path, mapping=mapping)
    expected = schema.validate(table.copy())
    pd.testing.assert_series_equal(loaded["index_level"], expected["index_level"])
    pd.testing.assert_series_equal(loaded["diabetes"], expected["diabetes"])


def test_mapping_must_name_contract_fields(tmp_path):
    mapping = tmp_path / "bad.yaml"
    mapping.write_text("columns:\n  BMI: bmii\n")
    with pytest.raises(ValueError, match="did you mean bmi"):
        schema.ColumnMapping.from_yaml(mapping)


def test_validate_record_checks_present_fields_only():
    clean = schema.validate_record({"age": 61, "sex": "female", "modic_type": "type2",
                                    "odi": None})
    assert clean == {"age": 61.0, "sex": "female", "modic_type": "type2"}
    with pytest.raises(schema.SchemaValidationError) as err:
        schema.validate_record({"age": 150, "bmii": 30})
    fields = {p.field for p in err.value.problems}
    assert fields == {"age", "bmii"}
    assert "did you mean 'bmi'" in str(err.value)


def test_data_dictionary_covers_every_field(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["schema", "--format", "markdown"])
    assert result.exit_code == 0
    for field in schema.FIELDS:
        assert f"`{field.name}`" in result.output
    out = tmp_path / "dictionary.csv"
    assert runner.invoke(app, ["schema", "--format", "csv", "--out", str(out)]).exit_code == 0
    dictionary = pd.read_csv(out)
    assert dictionary["field"].tolist() == [f.name for f in schema.FIELDS]
    assert dictionary.loc[dictionary.field == "bmi", "allowed"].item() == "12-70 kg/m2"


#: Findings the care pathway reads that the record gained for the review's rules (issue 12):
#: field -> (type, unit, allowed, recorded for).
REVIEW_FIELDS = {
    "prior_surgery_type": ("category", "", ("one of none, discectomy, decompression, fusion, "
                           "other"), "all"),
    "coagulopathy": ("binary", "", "0 (no) or 1 (yes)", "all"),
    "pregnancy": ("binary", "", "0 (no) or 1 (yes)", "all"),
    "failed_conservative_care": ("binary", "", "0 (no) or 1 (yes)", "all"),
    "conservative_care_weeks": ("numeric", "weeks", "0-1040 weeks", "all"),
    "conservative_care_type": ("category", "", ("one of none, medication, physiotherapy, "
                               "multimodal"), "all"),
    "fortin_finger_test": ("binary", "", "0 (no) or 1 (yes)", "all"),
    "night_pain": ("binary", "", "0 (no) or 1 (yes)", "all"),
    "low_energy_trauma": ("binary", "", "0 (no) or 1 (yes)", "all"),
    "crp_mg_l": ("numeric", "mg/L", "0-500 mg/L", "all"),
    "n_affected_levels": ("integer", "levels", "0-6 levels (whole numbers)", "all"),
    "vertebral_fracture": ("binary", "", "0 (no) or 1 (yes)", "all"),
    "lesion_vertebra": ("category", "", "one of T10, T11, T12, L1, L2, L3, L4, L5, S1",
                        "residual_pain"),
    "bone_scan_uptake": ("category", "", "one of not_performed, absent, present", "all"),
    "endplate_destruction": ("binary", "", "0 (no) or 1 (yes)", "all"),
    "disc_endplate_enhancement": ("category", "", "one of not_performed, absent, present",
                                  "all"),
    "marrow_replacement": ("binary", "", "0 (no) or 1 (yes)", "all"),
    "mbb_positive": ("integer", "blocks", "0-2 blocks (whole numbers)", "response"),
    "sij_block_positive": ("integer", "blocks", "0-2 blocks (whole numbers)", "response"),
    "snrb_positive": ("integer", "blocks", "0-2 blocks (whole numbers)", "response"),
}


def test_data_dictionary_lists_the_review_findings():
    dictionary = schema.data_dictionary().set_index("field")
    for name, (kind, unit, allowed, tasks) in REVIEW_FIELDS.items():
        row = dictionary.loc[name]
        assert (row["type"], row["unit"], row["allowed"], row["recorded_for"]) == (
            kind, unit, allowed, tasks), name
        assert row["missing"] == "allowed" and len(row["description"]) > 15, name
    assert "T12-L1" in schema.FIELD_BY_NAME["index_level"].levels
    # Modic endplate oedema and fracture oedema are told apart in the descriptions
    assert "modic_type" in schema.FIELD_BY_NAME["vertebral_marrow_oedema"].description


@pytest.mark.parametrize(("field", "value", "issue"), [
    ("crp_mg_l", 900, "out of range"), ("bone_scan_uptake", "yes", "unknown level"),
    ("mbb_positive", 3, "out of range"), ("lesion_vertebra", "L4-L5", "unknown level"),
])
def test_review_findings_are_checked_like_every_field(field, value, issue):
    with pytest.raises(schema.SchemaValidationError) as err:
        schema.validate_record({field: value})
    [problem] = err.value.problems
    assert (problem.field, problem.issue) == (field, issue)
