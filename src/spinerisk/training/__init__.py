"""Training experiments: the config model, the task's rows, the CV design, the tuning
score and the runner that ties them to tracking."""

from spinerisk.training.config import ConfigError, ExperimentConfig, load_config, parse_config
from spinerisk.training.cv import Folds, grouped_folds, site_folds
from spinerisk.training.data import TaskData, fingerprint, task_data
from spinerisk.training.runner import (
    ExperimentResult,
    print_summary,
    run_experiment,
    summary_table,
)

__all__ = ["ConfigError", "ExperimentConfig", "ExperimentResult", "Folds", "TaskData",
           "fingerprint", "grouped_folds", "load_config", "parse_config", "print_summary",
           "run_experiment", "site_folds", "summary_table", "task_data"]
