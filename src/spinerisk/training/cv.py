"""The cross-validation design: folds grouped by patient, stratified by outcome, seeded.

The fold of every row is fixed by the seed and logged as aggregates (rows and events per
fold, and a hash of the assignment) so that a rerun can be checked to use the same folds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold


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


def grouped_folds(event: np.ndarray, groups: np.ndarray, n_folds: int, seed: int) -> Folds:
    """K folds that never split a patient, with similar event rates (seeded)."""
    n_groups = len(np.unique(groups))
    if n_groups < n_folds:
        raise ValueError(f"{n_groups} patients cannot fill {n_folds} folds; lower cv.folds")
    splitter = StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed)
    splits = tuple(splitter.split(np.zeros(len(event)), event, groups))
    return Folds(splits, "grouped by patient, stratified by outcome",
                 tuple(f"fold{k + 1}" for k in range(n_folds)))


def site_folds(sites: np.ndarray) -> Folds:
    """Internal-external CV: each site is held out once (train on the others)."""
    names = np.unique(sites)
    splits = tuple((np.flatnonzero(sites != s), np.flatnonzero(sites == s)) for s in names)
    return Folds(splits, "internal-external by site", tuple(map(str, names)))
