"""Folds: grouped by patient, stratified by outcome, fixed by the seed; exclusions counted."""

import numpy as np

from spinerisk.cohort import simulate
from spinerisk.features import spine_task
from spinerisk.training import grouped_folds, site_folds, task_data


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
