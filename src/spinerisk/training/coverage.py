"""Coverage of the per-patient interval, measured where the truth is known.

For a simulated training cohort the generator is known, so fresh patients can be drawn
from the same sites (another seed) with their true risk. The share whose interval holds
the true risk is the interval's measured coverage; it travels with the model's ensemble
and decides what the range may be called (:func:`spinerisk.explain.uncertainty.interval_label`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from spinerisk.features import TaskSpec

#: seed offset of the fresh patients (never the training cohort's seed)
FRESH_SEED_OFFSET = 1000


def fresh_patients(simulate_config, task: TaskSpec, n: int,
                   seed_offset: int = FRESH_SEED_OFFSET) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` new patients of the task's population from the training cohort's sites, and
    their true risks.

    Parameters
    ----------
    simulate_config : SimulatedData
        The config's ``data.simulate`` (sites, seed, generator).
    task : TaskSpec
    n : int
    seed_offset : added to the training seed for the new patients (not 0).
    """
    if seed_offset == 0:
        raise ValueError("seed_offset=0 would redraw the training cohort; use another offset")
    from spinerisk.cohort import simulate
    from spinerisk.cohort.simulator import random_site_profiles

    # the training cohort's sites are the first draw of its seed (whatever its size)
    profiles = random_site_profiles(simulate_config.sites,
                                    np.random.default_rng(simulate_config.seed))
    cohort = simulate(2 * n, seed=simulate_config.seed + seed_offset,
                      dgp=simulate_config.dgp, tasks=(task.name,), site_profiles=profiles)
    keep = (cohort.frame["procedure"].isin(task.procedures).to_numpy() if task.procedures
            else np.ones(len(cohort.frame), bool))
    frame = cohort.frame.loc[keep].iloc[:n].reset_index(drop=True)
    return frame, cohort.truth["true_risk"].to_numpy()[keep][:n]


def simulated_coverage(simulate_config, task: TaskSpec, model, n: int) -> dict[str, Any]:
    """Measured coverage of ``model``'s ensemble on ``n`` fresh simulated patients."""
    from spinerisk.explain.uncertainty import measure_coverage

    frame, truth = fresh_patients(simulate_config, task, n)
    imputed = hasattr(model, "within_")  # multiple imputation: the pooled interval
    out = measure_coverage(model, _PooledInterval() if imputed else model.bootstrap_, frame,
                           truth)
    out["source"] = (f"{out['n']} fresh simulated patients (seed "
                     f"{simulate_config.seed + FRESH_SEED_OFFSET}) from the training sites")
    return out


class _PooledInterval:
    """The interval of an :class:`~spinerisk.models.ImputedRiskModel` behind the
    ensemble interface :func:`~spinerisk.explain.uncertainty.measure_coverage` calls."""

    @staticmethod
    def predict_interval(model, X, level: float = 0.95):
        return model.predict_interval(X, level)
