"""Simulated sites with a known shift, and the development model's risks there.

The "registered model" of these tests is the simulator's own development-site model (its
true linear predictor without any site shift): the miscalibration found at a shifted site
is then exactly the shift put in, which is what the tests check recovery of.
"""

from __future__ import annotations

import numpy as np
import pytest

from spinerisk.cohort import SiteProfile, simulate
from spinerisk.cohort.simulator import TERMS, WEIBULL_SHAPE


def development_risk(cohort, profile: SiteProfile, task: str) -> np.ndarray:
    """Risk under the development model (intercept shift 0, slope 1) for a site's rows."""
    b0 = TERMS[task]["published"]["intercept"]
    lp = b0 + (cohort.truth["true_lp"].to_numpy() - b0 - profile.outcome_intercept) \
        / profile.outcome_slope
    if task == "reoperation":
        return -np.expm1(-np.exp(lp) * cohort.coefficients["horizon_months"] ** WEIBULL_SHAPE)
    return 1.0 / (1.0 + np.exp(-lp))


def make_site(n: int, task: str, seed: int, *, intercept: float = 0.0, slope: float = 1.0,
              **profile):
    """(frame, development-model risk) for one simulated site named NEW."""
    site = SiteProfile("NEW", outcome_intercept=intercept, outcome_slope=slope, **profile)
    cohort = simulate(n, site_profiles=[site], seed=seed, tasks=(task,))
    return cohort.frame, development_risk(cohort, site, task)


@pytest.fixture(scope="session")
def shifted_response(seed):
    """A response-task site with baseline shift +0.6 and calibration slope 0.7."""
    return make_site(6000, "response", seed, intercept=0.6, slope=0.7)


@pytest.fixture(scope="session")
def matching_response(seed):
    """A response-task site that matches development (large enough that a chance slope
    beyond the verdict's tolerance of 0.15 is a > 3 SD event)."""
    return make_site(8000, "response", seed + 1)


@pytest.fixture(scope="session")
def site_factory():
    """:func:`make_site`, for tests that need their own simulated site."""
    return make_site
