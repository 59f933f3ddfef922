"""Case-mix, eligibility, subgroups with suppression, and the task config."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spinerisk.validation import (
    compare_case_mix,
    development_reference,
    eligible_rows,
    load_task_spec,
    membership_c_statistic,
    spine_task_spec,
)
from spinerisk.validation.performance import Outcomes
from spinerisk.validation.subgroups import subgroup_performance
from spinerisk.validation.task import Subgroup, TaskSpec


@pytest.fixture(scope="module")
def spec():
    return TaskSpec("toy", "y", {"age": "numeric", "smoker": "binary", "grade": "category"},
                    subgroups=(Subgroup("grade", "grade"), Subgroup("age", "age band", (50.0,))))


def _frame(rng, n, age_mean, p_smoker, grade_p):
    return pd.DataFrame({"age": rng.normal(age_mean, 10, n), "smoker": rng.random(n) < p_smoker,
                         "grade": rng.choice(["a", "b", "c"], n, p=grade_p),
                         "y": (rng.random(n) < 0.3).astype(float)})


def test_smd_and_shares_match_hand_computation(spec, seed):
    rng = np.random.default_rng(seed)
    dev, site = _frame(rng, 800, 50, 0.2, [0.5, 0.3, 0.2]), _frame(rng, 600, 56, 0.4, [0.2, 0.3, 0.5])
    dev.loc[:9, "age"] = np.nan
    ref = development_reference(dev, spec, np.zeros(len(dev)), keep_rows=False)
    cm = compare_case_mix(site, spec, np.zeros(len(site)) + 0.1, ref)
    rows = {(r["variable"], r["level"]): r for r in cm.rows}
    a_site, a_dev = site["age"], dev["age"].dropna()
    expected = (a_site.mean() - a_dev.mean()) / np.sqrt((a_site.var() + a_dev.var()) / 2)
    assert rows[("age", None)]["smd"] == pytest.approx(expected)
    assert rows[("age", None)]["missing_development"] == pytest.approx(10 / 800)
    assert rows[("grade", "c")]["site"] == pytest.approx((site["grade"] == "c").mean())
    p_s, p_d = site["smoker"].mean(), dev["smoker"].mean()
    assert rows[("smoker", None)]["smd"] == pytest.approx(
        (p_s - p_d) / np.sqrt((p_s * (1 - p_s) * 600 / 599 + p_d * (1 - p_d) * 800 / 799) / 2))
    assert cm.membership_c is None and "needs the development rows" in cm.membership_note


def test_membership_c_separates_shifted_sites(spec, seed):
    rng = np.random.default_rng(seed)
    dev = _frame(rng, 1000, 50, 0.2, [0.5, 0.3, 0.2])
    same = _frame(rng, 1000, 50, 0.2, [0.5, 0.3, 0.2])
    shifted = _frame(rng, 1000, 65, 0.6, [0.1, 0.2, 0.7])
    c_same = membership_c_statistic(dev, same, spec, seed=seed)
    c_shift = membership_c_statistic(dev, shifted, spec, seed=seed)
    assert c_same.lower < 0.55 and c_same.estimate < 0.56
    assert c_shift.lower > 0.8


def test_eligibility_counts_every_excluded_row():
    spec = spine_task_spec("reoperation")
    frame = pd.DataFrame({"procedure": ["peld_interlaminar", "tf_esi", "peld_transforaminal",
                                        "peld_interlaminar", "peld_interlaminar"],
                          "reoperation_event": [1, 0, np.nan, 0, 0],
                          "reoperation_time_months": [3.0, 5.0, 4.0, np.nan, 30.0]})
    el = eligible_rows(frame, spec)
    assert el.keep.tolist() == [True, False, False, False, True]
    assert el.excluded == {"procedure outside the reoperation population": 1,
                           "reoperation_event missing (lost to follow-up)": 1,
                           "reoperation_time_months missing or not positive": 1}
    assert el.n_input == el.keep.sum() + sum(el.excluded.values())


def test_missing_outcome_column_is_a_clear_error():
    with pytest.raises(ValueError, match="reoperation_event"):
        eligible_rows(pd.DataFrame({"procedure": ["tf_esi"]}), spine_task_spec("reoperation"))


def test_small_subgroups_are_suppressed_without_numbers(spec, seed):
    rng = np.random.default_rng(seed)
    site = _frame(rng, 600, 55, 0.3, [0.49, 0.49, 0.02])  # grade c: about 12 rows
    risk = np.clip(rng.uniform(0.1, 0.5, len(site)), 0.01, 0.99)
    rows = subgroup_performance(site, Outcomes(site["y"].to_numpy(float)), risk, spec.subgroups)
    by = {(r["subgroup"], r["level"]): r for r in rows}
    small = by[("grade", "c")]
    assert small["status"] == "suppressed"
    assert set(small) == {"subgroup", "level", "status", "note"}  # no count, no metric
    big = by[("grade", "a")]
    assert big["status"] == "reported" and big["events"] >= 10 and "c_statistic" in big["metrics"]
    assert [r["level"] for r in rows if r["subgroup"] == "age band"] == ["<50", ">=50"]


def test_task_config_is_read(tmp_path):
    spec = load_task_spec("configs/tasks/heart_disease.yaml")
    assert spec.outcome == "disease" and spec.predictors["cp"] == "category"
    assert spec.predictors["age"] == "numeric" and not spec.survival
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\noutcome: y\npredictors: {a: text}\n")
    with pytest.raises(ValueError, match="not allowed"):
        load_task_spec(bad)
    bad.write_text("name: x\noutcome: y\npredictors: {a: numeric}\ntime: t\n")
    with pytest.raises(ValueError, match="time-to-event task needs both"):
        load_task_spec(bad)


def test_case_mix_lists_only_levels_of_the_task_population(spec, seed):
    """A level nobody has in development or at the site (e.g. another task population's
    procedure, profiled at share 0) gets no row; a level absent only at the site does."""
    from spinerisk.validation.run import development_from_profile

    rng = np.random.default_rng(seed)
    site = _frame(rng, 400, 50, 0.3, [0.5, 0.5, 0.0])
    profile = {"n": 800, "variables": {
        "grade": {"kind": "category", "missing_share": 0.0,
                  "level_shares": {"a": 0.4, "b": 0.3, "c": 0.3, "other_population": 0.0}}},
        "linear_predictor": {"mean": -0.2, "sd": 1.1, "histogram": {}, "quantiles": {}}}
    dev = development_from_profile(profile)
    rows = compare_case_mix(site, spec, rng.normal(size=400), dev).rows
    levels = {r["level"] for r in rows if r["variable"] == "grade"}
    assert levels == {"a", "b", "c"}
