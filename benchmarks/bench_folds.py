"""Patient-grouped stratified fold assignment: the vectorised path against scikit-learn.

scikit-learn's ``StratifiedGroupKFold`` loops over patients in Python (144 s per call
at 1M rows, measured for issue 15); :func:`spinerisk.training.cv.group_fold_assignment`
is vectorised (target: <= 2 s at 1M rows). Both are timed on the same simulated patient
ids and outcomes at ``--n-old`` rows, the new one also at ``--n`` rows, and each fold
assignment's worst event-rate gap to the overall rate is printed alongside.

Run: uv run python benchmarks/bench_folds.py [--n 1000000] [--n-old 100000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from spinerisk.cohort import simulate
from spinerisk.training.cv import group_fold_assignment

FOLDS = 5


def cohort(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Event indicator and patient ids of a simulated registry (repeat patients included)."""
    frame = simulate(n, sites=4, seed=seed, tasks=("response",)).frame
    frame = frame[frame["response_50"].notna()]
    return frame["response_50"].to_numpy(int), frame["patient_id"].to_numpy()


def old_path(event: np.ndarray, groups: np.ndarray, seed: int) -> np.ndarray:
    fold = np.empty(len(event), dtype=int)
    splitter = StratifiedGroupKFold(FOLDS, shuffle=True, random_state=seed)
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(event)), event, groups)):
        fold[test] = k
    return fold


def new_path(event: np.ndarray, groups: np.ndarray, seed: int) -> np.ndarray:
    return group_fold_assignment(event, groups, FOLDS, seed)


def timed(assign, event: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """Seconds for one call and the largest |fold event rate - overall rate|."""
    started = time.perf_counter()
    fold = assign(event, groups, 0)
    seconds = time.perf_counter() - started
    rates = np.bincount(fold, weights=event) / np.bincount(fold)
    return seconds, float(np.abs(rates - event.mean()).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--n-old", type=int, default=100_000)
    args = parser.parse_args()
    event, groups = cohort(args.n_old, seed=3)
    old, old_gap = timed(old_path, event, groups)
    new, new_gap = timed(new_path, event, groups)
    print(f"{len(event):,} rows, {len(np.unique(groups)):,} patients, {FOLDS} folds: "
          f"StratifiedGroupKFold {old:.2f} s (max rate gap {old_gap:.4f}); vectorised "
          f"{new:.3f} s (max rate gap {new_gap:.4f}); ratio {old / new:,.0f}x")
    event, groups = cohort(args.n, seed=4)
    big, big_gap = timed(new_path, event, groups)
    print(f"{len(event):,} rows, {len(np.unique(groups)):,} patients: vectorised "
          f"{big:.2f} s (max rate gap {big_gap:.4f}); target <= 2 s: "
          f"{'met' if big <= 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
