"""From a cohort table to one task's training rows: population, outcome, exclusions.

Rows outside the task's population are left out; rows of the population whose outcome
is missing are excluded *and counted* (the count is logged with the run); nothing else
is dropped. Missing predictor values stay in and are handled by the preprocessing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spinerisk.features import TaskSpec


@dataclass
class TaskData:
    """One task's training rows.

    Attributes
    ----------
    X : DataFrame
        The population's rows with a known outcome (all columns of the input table).
    y : ndarray or DataFrame
        0/1 outcome, or columns ``time`` and ``event``.
    groups : ndarray
        Patient identifier of each row (folds never split a patient).
    sites : ndarray or None
        Site of each row, when the table has ``site_id``.
    n_population : int
        Rows in the task's population before exclusions.
    n_missing_outcome : int
        Rows excluded because the outcome (or time) is missing.
    """

    X: pd.DataFrame
    y: np.ndarray | pd.DataFrame
    groups: np.ndarray
    sites: np.ndarray | None
    n_population: int
    n_missing_outcome: int

    @property
    def event(self) -> np.ndarray:
        """The event indicator (binary outcome) per row."""
        return np.asarray(self.y["event"] if isinstance(self.y, pd.DataFrame) else self.y, int)

    @property
    def n(self) -> int:
        return len(self.X)

    @property
    def events(self) -> int:
        return int(self.event.sum())

    def subset(self, rows: np.ndarray) -> TaskData:
        """The rows at positions ``rows``."""
        y = self.y.iloc[rows].reset_index(drop=True) if isinstance(self.y, pd.DataFrame) \
            else self.y[rows]
        return TaskData(self.X.iloc[rows].reset_index(drop=True), y, self.groups[rows],
                        None if self.sites is None else self.sites[rows], len(rows), 0)


def task_data(frame: pd.DataFrame, task: TaskSpec) -> TaskData:
    """Select the task's population and outcome from a validated cohort table."""
    needed = [task.outcome] + ([task.time] if task.time else [])
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise ValueError(f"task {task.name!r}: outcome column(s) {absent} not in the table; "
                         f"columns present: {', '.join(map(str, frame.columns[:15]))}...")
    rows = frame
    if task.procedures and "procedure" in frame.columns:
        rows = frame[frame["procedure"].astype(object).isin(task.procedures)]
    if len(rows) == 0:
        raise ValueError(f"task {task.name!r}: no rows of its population "
                         f"(procedures {', '.join(task.procedures)}) in the table")
    known = rows[needed].notna().all(axis=1).to_numpy()
    kept = rows[known].reset_index(drop=True)
    event = kept[task.outcome].astype(float).to_numpy()
    y = (pd.DataFrame({"time": kept[task.time].astype(float).to_numpy(), "event": event})
         if task.is_survival else event.astype(int))
    groups = (kept["patient_id"].astype(str).to_numpy() if "patient_id" in kept.columns
              else np.arange(len(kept)).astype(str))
    sites = (kept[task.site_column].astype(str).to_numpy() if task.site_column in kept.columns
             else None)
    return TaskData(kept, y, groups, sites, n_population=len(rows),
                    n_missing_outcome=int((~known).sum()))


def fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of a table's content (values and column names; row order matters)."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    digest = hashlib.sha256(hashed.tobytes())
    digest.update("|".join(map(str, frame.columns)).encode())
    return digest.hexdigest()
