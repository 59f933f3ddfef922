"""Folds: grouped by patient, stratified by outcome, fixed by the seed; exclusions counted."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spinerisk.cohort import simulate
from spinerisk.features import spine_task
from spinerisk.models import RiskModel
from spinerisk.training import grouped_folds, site_folds, task_data
from spinerisk.training.cv import group_fold_assignment, grouped_sample


def test_task_rows_exclude_and_count_missing_outcomes(seed):
    frame = simulate(1500, seed=seed, tasks=("response",)).frame
    data = task_data(frame, spine_task("response", ["age"], pathway=False))
    missing = int(frame["response_50"].isna().sum())
    assert missing > 0
    assert data.n_missing_outcome == missing and data.n == len(frame) - missing


def test_folds_never_split_a_patient_and_balance_events(seed):
    frame = simulate(3000, seed=seed, tasks=("response",)).frame
    data = task_data(frame, spine_task("response", ["age"], pathway=False))
    assert len(np.unique(data.groups)) < data.n  # the simulator repeats some patients
    folds = grouped_folds(data.event, data.groups, 5, seed)
    seen = {}
    for k, (train, test) in enumerate(folds.splits):
        assert not set(data.groups[train]) & set(data.groups[test])
        for g in data.groups[test]:
            assert seen.setdefault(g, k) == k
        assert abs(data.event[test].mean() - data.event.mean()) < 0.05
    again = grouped_folds(data.event, data.groups, 5, seed)
    assert folds.describe(data.event) == again.describe(data.event)
    other = grouped_folds(data.event, data.groups, 5, seed + 1)
    assert other.describe(data.event)["assignment_sha256"] != \
        folds.describe(data.event)["assignment_sha256"]


def test_site_folds_hold_each_site_out_once():
    sites = np.array(["A", "B", "A", "C", "B"])
    folds = site_folds(sites)
    assert folds.labels == ("A", "B", "C")
    for label, (train, test) in zip(folds.labels, folds.splits):
        assert set(sites[test]) == {label} and label not in set(sites[train])


def _patients(draw_sizes: np.ndarray, rate: float, rng: np.random.Generator):
    """Rows of patients with the given row counts, each row an event with ``rate``."""
    groups = np.repeat(np.array([f"P{i}" for i in range(len(draw_sizes))], dtype=object),
                       draw_sizes)
    rng.shuffle(groups)
    return (rng.random(len(groups)) < rate).astype(int), groups


#: cohorts of up to 400 patients with 1-6 rows each (hypothesis draws)
COHORTS = {"n_patients": st.integers(5, 400), "max_rows": st.integers(1, 6),
           "rate": st.floats(0.02, 0.6), "seed": st.integers(0, 2**31)}


def _cohort(n_patients: int, max_rows: int, rate: float, seed: int):
    rng = np.random.default_rng(seed)
    return _patients(rng.integers(1, max_rows + 1, n_patients), rate, rng)


@settings(max_examples=40, deadline=None)
@given(n_folds=st.integers(2, 5), **COHORTS)
def test_fold_assignment_keeps_patients_whole_within_the_stated_bounds(
        n_patients, max_rows, rate, n_folds, seed):
    event, groups = _cohort(n_patients, max_rows, rate, seed)
    fold = group_fold_assignment(event, groups, n_folds, seed)
    assert fold.min() >= 0 and fold.max() < n_folds
    per_patient = pd.DataFrame({"g": groups, "f": fold, "e": event}).groupby("g")
    assert (per_patient["f"].nunique() == 1).all()  # no patient split across folds
    # the docstring's bounds: events within 2 x (most events of one patient) of E/k,
    # rows within 2 x (most rows of one patient) x (distinct per-patient event counts)
    patient_events = per_patient["e"].sum()
    rows = np.bincount(fold, minlength=n_folds)
    events = np.bincount(fold, weights=event, minlength=n_folds)
    assert np.all(np.abs(events - event.sum() / n_folds) < 2 * max(patient_events.max(), 1))
    row_bound = 2 * per_patient.size().max() * patient_events.nunique()
    assert np.all(np.abs(rows - len(fold) / n_folds) < row_bound)
    assert np.array_equal(fold, group_fold_assignment(event, groups, n_folds, seed))


def test_fold_event_rates_and_sizes_at_registry_scale(seed):
    """200k rows, up to 4 episodes a patient: rates within 0.002 and sizes within 0.5 %
    of the overall (the bounds above give 8 events and 16 rows per fold here)."""
    rng = np.random.default_rng(seed)
    event, groups = _patients(rng.integers(1, 5, 80_000), 0.12, rng)
    fold = group_fold_assignment(event, groups, 5, seed)
    rows = np.bincount(fold)
    rates = np.bincount(fold, weights=event) / rows
    assert np.all(np.abs(rates - event.mean()) < 0.002)
    assert np.all(np.abs(rows / (len(fold) / 5) - 1) < 0.005)


def test_one_row_per_patient_balances_like_stratified_kfold(seed):
    rng = np.random.default_rng(seed)
    event = (rng.random(1003) < 0.1).astype(int)
    fold = group_fold_assignment(event, np.arange(1003), 4, seed)
    for counts in (np.bincount(fold), np.bincount(fold[event == 1], minlength=4)):
        assert counts.max() - counts.min() <= 1


def test_fold_assignment_depends_on_the_seed_only(seed):
    rng = np.random.default_rng(seed)
    event, groups = _patients(rng.integers(1, 3, 500), 0.3, rng)
    first = group_fold_assignment(event, groups, 5, seed)
    assert np.array_equal(first, group_fold_assignment(event.copy(), groups.copy(), 5, seed))
    assert not np.array_equal(first, group_fold_assignment(event, groups, 5, seed + 1))


@pytest.mark.parametrize(("event", "groups", "n_folds", "message"), [
    ([0, 1, 0], ["a", "b", "a"], 3, "2 patients cannot fill 3 folds"),
    ([0, 1, 0], ["a", "b", "c"], 1, "between 2 and 3 folds"),
    ([0, np.nan, 0], ["a", "b", "c"], 2, "strata has missing values"),
    ([0, 1, 0], ["a", None, "c"], 2, "groups has missing values"),
    ([0, 1], ["a", "b", "c"], 2, "strata has 2 rows but groups has 3"),
])
def test_fold_assignment_refuses_bad_input(event, groups, n_folds, message):
    with pytest.raises(ValueError, match=message):
        group_fold_assignment(np.array(event), np.array(groups, dtype=object), n_folds, 0)


def test_risk_model_calibration_folds_are_the_grouped_folds(seed):
    frame = simulate(800, seed=seed, tasks=("response",)).frame
    data = task_data(frame, spine_task("response", ["age"], pathway=False))
    model = RiskModel(calibration_folds=4, random_state=seed)
    ours = model._folds(data.event, data.groups)
    expected = grouped_folds(data.event, data.groups, 4, seed).splits
    for (train, test), (train_e, test_e) in zip(ours, expected, strict=True):
        assert np.array_equal(train, train_e) and np.array_equal(test, test_e)


@settings(max_examples=40, deadline=None)
@given(share=st.floats(0.05, 0.95), **COHORTS)
def test_grouped_sample_keeps_patients_whole_within_the_stated_bounds(
        n_patients, max_rows, rate, share, seed):
    event, groups = _cohort(n_patients, max_rows, rate, seed)
    n_rows = max(1, round(share * len(event)))
    rows = grouped_sample(event, groups, n_rows, seed)
    assert np.all(np.diff(rows) > 0)
    taken = np.zeros(len(event), bool)
    taken[rows] = True
    per_patient = pd.DataFrame({"g": groups, "t": taken, "e": event}).groupby("g")
    assert (per_patient["t"].nunique() == 1).all()  # a patient's rows all in or all out
    # the docstring's bounds: events within 2 x (most events of one patient) of the share
    # of all events, rows within 2 x (most rows of one patient) x (distinct event counts)
    patient_events = per_patient["e"].sum()
    fraction = n_rows / len(event)
    assert abs(event[rows].sum() - fraction * event.sum()) < 2 * max(patient_events.max(), 1)
    assert abs(len(rows) - n_rows) < 2 * per_patient.size().max() * patient_events.nunique()
    assert np.array_equal(rows, grouped_sample(event, groups, n_rows, seed))


def test_grouped_sample_event_rate_at_registry_scale(seed):
    """200k rows, up to 4 episodes a patient, a 10% sample: event rate within 0.002 of the
    whole (the bound above: 8 events in 20k rows, i.e. 0.0004) and size within 0.1%."""
    rng = np.random.default_rng(seed)
    event, groups = _patients(rng.integers(1, 5, 80_000), 0.12, rng)
    rows = grouped_sample(event, groups, len(event) // 10, seed)
    assert abs(event[rows].mean() - event.mean()) < 0.002
    assert abs(len(rows) / (len(event) // 10) - 1) < 0.001
    assert len(set(groups[rows]) & set(np.delete(groups, rows))) == 0
    assert not np.array_equal(rows, grouped_sample(event, groups, len(event) // 10, seed + 1))


def test_grouped_sample_of_more_rows_than_the_data_is_every_row():
    event, groups = np.array([0, 1, 0, 1]), np.array(["a", "a", "b", "c"], dtype=object)
    assert np.array_equal(grouped_sample(event, groups, 4, 0), np.arange(4))
    assert np.array_equal(grouped_sample(event, groups, 10**6, 0), np.arange(4))
    with pytest.raises(ValueError, match="at least 1 row"):
        grouped_sample(event, groups, 0, 0)
