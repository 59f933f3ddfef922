"""Small simulated cohorts shared by the model tests (simulated once per session)."""

import pytest

from spinerisk.cohort import simulate
from spinerisk.features import spine_task
from spinerisk.training.data import task_data

SMALL_PREDICTORS = {
    "response": ["age", "bmi", "smoking", "employment", "depression_anxiety", "odi",
                 "symptom_duration_weeks", "herniation_location", "modic_extent_gt50",
                 "procedure"],
    "residual_pain": ["age", "bmd_t_score", "tlf_injury", "intravertebral_cleft",
                      "goutallier_grade", "depression_anxiety", "procedure"],
    "reoperation": ["age", "bmi", "diabetes", "smoking", "modic_type", "manual_labour",
                    "herniation_contained", "procedure"],
}


@pytest.fixture(scope="session")
def small_cohort(seed):
    return simulate(3000, seed=seed)


@pytest.fixture(scope="session")
def small_data(small_cohort):
    """task -> (TaskSpec, TaskData) with a few predictors and the pathway features."""
    out = {}
    for task, predictors in SMALL_PREDICTORS.items():
        spec = spine_task(task, predictors)
        out[task] = (spec, task_data(small_cohort.frame, spec))
    return out
