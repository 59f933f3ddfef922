"""The cross-validation design: folds grouped by patient, stratified by outcome, seeded.

The fold of every row is fixed by the seed and logged as aggregates (rows and events per
fold, and a hash of the assignment) so that a rerun can be checked to use the same folds.

Fold assignment (:func:`group_fold_assignment`) is vectorised: patients are ordered by
their per-class row counts (ties broken at random by the seed) and dealt round-robin to
the folds, so that every fold receives the same number (+-1) of patients of every kind.
It takes about a second at 1M rows, where scikit-learn's ``StratifiedGroupKFold`` (a
Python loop over patients) took minutes (benchmarks/bench_folds.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Folds:
    """Train/test index pairs with a description for the log."""

    splits: tuple[tuple[np.ndarray, np.ndarray], ...]
    kind: str
    labels: tuple[str, ...]

    def describe(self, event: np.ndarray) -> dict:
        """Rows and events per test fold, and a hash of the assignment (no row ids)."""
        assignment = np.full(len(event), -1)
        for k, (_, test) in enumerate(self.splits):
            assignment[test] = k
        return {"kind": self.kind, "n_folds": len(self.splits),
                "assignment_sha256": hashlib.sha256(assignment.tobytes()).hexdigest()[:16],
                "folds": {label: {"n": len(test), "events": int(event[test].sum())}
                          for label, (_, test) in zip(self.labels, self.splits)}}


def group_fold_assignment(strata: np.ndarray, groups: np.ndarray, n_folds: int,
                          seed: int) -> np.ndarray:
    """The fold (0 .. ``n_folds`` - 1) of every row; a patient's rows share one fold.

    Patients are sorted by their row count in each outcome class (the second class,
    e.g. events, first), then by their total row count, ties in a seeded random order,
    and dealt round-robin to a seeded permutation of the folds. Every prefix of that order
    is then spread over the folds to within one patient, which bounds the imbalance (Abel
    summation over the order): each fold's count of the second class (events) differs
    from ``events / n_folds`` by less than twice the largest number of events of one
    patient, and each fold's rows from ``n / n_folds`` by less than twice the largest
    number of rows of one patient times the number of distinct per-patient event counts.
    With one row per patient, fold sizes and per-fold class counts differ by at most one
    between folds, as in ``StratifiedKFold``.

    Parameters
    ----------
    strata : array of shape (n,)
        Outcome class of each row (e.g. the 0/1 event indicator); no missing values.
    groups : array of shape (n,)
        Patient of each row.
    n_folds : int
        Number of folds (at least 2, at most the number of patients).
    seed : int
        Seed for the order of interchangeable patients and for the fold labels.

    Returns
    -------
    ndarray of int of shape (n,)
    """
    group_code, order, rng = _stratified_patient_order(strata, groups, seed)
    n_groups = len(order)
    if not 2 <= n_folds <= n_groups:
        raise ValueError(f"{n_groups} patients cannot fill {n_folds} folds; use between 2 "
                         f"and {n_groups} folds (lower cv.folds)")
    group_fold = np.empty(n_groups, dtype=np.int64)
    group_fold[order] = rng.permutation(n_folds)[np.arange(n_groups) % n_folds]
    return group_fold[group_code]


def grouped_sample(strata: np.ndarray, groups: np.ndarray, n_rows: int,
                   seed: int) -> np.ndarray:
    """About ``n_rows`` rows drawn by patient and stratified by outcome (seeded): the
    sorted positions of the rows of the sampled patients.

    Patients are put in :func:`group_fold_assignment`'s order (by their count of rows in
    each outcome class, ties in a seeded random order) and every ``n / n_rows``-th of
    them is taken from a seeded random start (systematic sampling, one patient in
    ``n / n_rows``). A patient's rows are all in or all out. Every prefix of the order
    holds its share of sampled patients to within one, so (Abel summation, as for the
    folds) the sample's count of the second class (events) differs from the share
    ``n_rows / n`` of all events by less than twice the largest number of events of one
    patient, and its rows from ``n_rows`` by less than twice the largest number of rows of
    one patient times the number of distinct per-patient event counts; with one row per
    patient, by at most one event and two rows. With ``n_rows >= n`` every row is
    returned.

    Parameters
    ----------
    strata : array of shape (n,)
        Outcome class of each row; no missing values.
    groups : array of shape (n,)
        Patient of each row.
    n_rows : int
        Rows wanted (at least 1).
    seed : int
        Seed of the order of interchangeable patients and of the start.

    Returns
    -------
    ndarray of int: increasing row positions.
    """
    if n_rows < 1:
        raise ValueError(f"n_rows={n_rows}: a sample needs at least 1 row")
    n = len(strata)
    if n_rows >= n:
        return np.arange(n)
    group_code, order, rng = _stratified_patient_order(strata, groups, seed)
    # patient i of the order is taken when the running count i * share passes an integer
    share = n_rows / n
    steps = np.floor(np.arange(len(order) + 1) * share + rng.random())
    taken = np.zeros(len(order), dtype=bool)
    taken[order[np.diff(steps) > 0]] = True
    return np.flatnonzero(taken[group_code])


def _stratified_patient_order(strata: np.ndarray, groups: np.ndarray, seed: int
                              ) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    """Each row's patient code, the patients in stratified order (see
    :func:`group_fold_assignment`) and the seeded generator, ready for its next draw."""
    strata, groups = np.asarray(strata), np.asarray(groups)
    if len(strata) != len(groups):
        raise ValueError(f"strata has {len(strata)} rows but groups has {len(groups)}; "
                         "pass one patient id per row")
    if pd.isna(strata).any() or pd.isna(groups).any():
        field = "strata" if pd.isna(strata).any() else "groups"
        raise ValueError(f"{field} has missing values; fold assignment needs an outcome "
                         "class and a patient id for every row (exclude those rows first)")
    group_code, uniques = pd.factorize(groups)
    n_groups = len(uniques)
    class_code, classes = pd.factorize(strata, sort=True)
    counts = np.bincount(group_code * len(classes) + class_code,
                         minlength=n_groups * len(classes)).reshape(n_groups, len(classes))
    rng = np.random.default_rng(seed)
    # np.lexsort sorts by its last key first: class 1's count (the events), then the other
    # classes', then the patient's rows, then the seeded tie-break
    order = np.lexsort((rng.random(n_groups), counts.sum(axis=1),
                        *(counts[:, c] for c in range(len(classes) - 1, 0, -1))))
    return group_code, order, rng


def grouped_folds(event: np.ndarray, groups: np.ndarray, n_folds: int, seed: int) -> Folds:
    """K folds that never split a patient, with similar event rates (seeded)."""
    fold = group_fold_assignment(event, groups, n_folds, seed)
    return Folds(splits_of(fold, n_folds), "grouped by patient, stratified by outcome",
                 tuple(f"fold{k + 1}" for k in range(n_folds)))


def splits_of(fold: np.ndarray, n_folds: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """(train, test) row indices of each fold of an assignment."""
    return tuple((np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(n_folds))


def site_folds(sites: np.ndarray) -> Folds:
    """Internal-external CV: each site is held out once (train on the others)."""
    names = np.unique(sites)
    splits = tuple((np.flatnonzero(sites != s), np.flatnonzero(sites == s)) for s in names)
    return Folds(splits, "internal-external by site", tuple(map(str, names)))
