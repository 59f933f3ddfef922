"""Optuna tuning (the only module importing optuna): resumable studies, seeded TPE,
median pruning on per-fold proper scores."""

from spinerisk.tuning.study import MEMORY, TuneResult, suggest, trials_table, tune

__all__ = ["MEMORY", "TuneResult", "suggest", "trials_table", "tune"]
