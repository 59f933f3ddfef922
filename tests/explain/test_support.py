"""Out-of-distribution check against the training profile."""

from __future__ import annotations

from spinerisk.explain import check_support, typical_record


def test_typical_patient_is_inside_the_support(models):
    profile = models["xgboost"].training_profile_
    check = check_support(typical_record(profile), profile)
    assert not check.warning, check.variables


def test_extreme_values_and_unseen_levels_are_named(models):
    profile = models["xgboost"].training_profile_
    record = typical_record(profile)
    q = profile["variables"]["bmi"]["quantiles"]
    record["bmi"] = q["0.99"] + 3 * (q["0.99"] - q["0.95"]) + 1
    record["procedure"] = "tf_esi"  # never seen in an augmentation cohort
    check = check_support(record, profile)
    assert check.warning
    assert {f.variable for f in check.variables} == {"bmi", "procedure"}
    assert "above the training range" in next(f.reason for f in check.variables
                                              if f.variable == "bmi")


def test_missing_values_never_seen_missing_are_listed_without_warning(models):
    profile = models["xgboost"].training_profile_
    always = [v for v, e in profile["variables"].items() if e["missing_share"] == 0]
    record = typical_record(profile)
    record[always[0]] = None
    check = check_support(record, profile)
    assert not check.warning
    assert check.never_missing == (always[0],)
