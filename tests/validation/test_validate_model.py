"""The registered-model path on spine data: a RiskModel developed at one simulated site,
validated at a shifted site (features never refit; phenotype subgroups; development
aggregates from the model's training profile)."""

from __future__ import annotations

import pytest

from spinerisk.cohort import SiteProfile, simulate
from spinerisk.features import spine_task
from spinerisk.models import RiskModel
from spinerisk.validation import RECALIBRATE, spine_task_spec, validate_model
from spinerisk.validation.run import development_from_profile

PREDICTORS = ["age", "odi", "symptom_duration_weeks", "depression_anxiety", "employment",
              "smoking", "baseline_opioid", "procedure", "root_compression_grade",
              "diagnostic_blocks_positive", "bmi"]


@pytest.fixture(scope="module")
def model(seed):
    dev = simulate(3000, site_profiles=[SiteProfile("DEV")], seed=seed, tasks=("response",)).frame
    dev = dev[dev["response_50"].notna()]
    return RiskModel(task=spine_task("response", predictors=PREDICTORS), learner="logistic").fit(
        dev, dev["response_50"].astype(int).to_numpy())


def test_shifted_site_needs_recalibration(model, seed):
    new = simulate(4000, site_profiles=[SiteProfile("NEW", outcome_intercept=0.6, outcome_slope=0.7)],
                   seed=seed + 1, tasks=("response",)).frame
    spec = spine_task_spec("response", list(model.predictors_))
    result = validate_model(model, new, spec, site="NEW", n_boot=50, seed=seed,
                            development=development_from_profile(model.training_profile_))
    citl = result.performance.metrics["calibration_in_the_large"]
    assert citl.lower > 0.2, citl  # baseline risk is higher at the new site
    assert result.verdict.decision == RECALIBRATE
    assert result.verdict.recommended_update in ("intercept", "recalibration")
    levels = [s["level"] for s in result.subgroups if s["subgroup"] == "phenotype"]
    assert len(levels) >= 3  # care-pathway phenotypes from the same rules as development
    rows = {r["variable"] for r in result.case_mix.rows}
    assert {"age", "odi", "procedure"} <= rows
    assert result.eligibility.excluded  # outcomes lost to follow-up are counted, not dropped
