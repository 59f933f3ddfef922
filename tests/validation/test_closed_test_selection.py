"""The closed test picks the update a simulated site needs.

Each simulated site is built from the original model's linear predictor ``x`` and three
observed predictors ``z`` with a known truth: no change, a shifted baseline, a shifted
baseline with a slope of 0.6 on ``x``, or one predictor's effect changed. Over 25
replicates per truth the procedure must choose the truth in >= 80% (binary) or over 15
replicates >= 80% (time-to-event); at alpha = 0.05 and these sizes the expected rates are
about 0.95 or more, so a run below 0.80 has probability < 0.01 if the procedure is right.
"""

from __future__ import annotations

import numpy as np
import pytest

from spinerisk.validation import METHODS, closed_test, fit_update, update_data

BETA = np.array([0.8, -0.6, 0.5])


def _truth_lp(x: np.ndarray, z: np.ndarray, truth: str) -> np.ndarray:
    return {"original": x, "intercept": x + 0.5, "recalibration": 0.4 + 0.6 * x,
            "revision": x + 0.7 * z[:, 0]}[truth]


def _site(rng, n: int, base: float):
    z = rng.normal(size=(n, 3))
    # the model's LP has a part the site's predictors do not carry (as a learner's would)
    x = base + z @ BETA + 0.5 * rng.normal(size=n)
    return x, z


def _choose(data) -> str:
    fits = {m: fit_update(data, m) for m in METHODS}
    return closed_test(fits, alpha=0.05)[0]


@pytest.mark.parametrize("truth", METHODS)
def test_binary_site_gets_the_update_it_needs(truth, seed):
    rng = np.random.default_rng([seed, METHODS.index(truth)])
    hits = 0
    for _ in range(25):
        x, z = _site(rng, 2000, -0.5)
        y = (rng.random(x.size) < 1 / (1 + np.exp(-_truth_lp(x, z, truth)))).astype(float)
        hits += _choose(update_data(1 / (1 + np.exp(-x)), y, z)) == truth
    assert hits / 25 >= 0.80, f"{truth}: chosen in {hits}/25"


@pytest.mark.parametrize("truth", METHODS)
def test_time_to_event_site_gets_the_update_it_needs(truth, seed):
    """Weibull times whose cumulative hazard at the horizon is exp(true LP)."""
    rng = np.random.default_rng([seed, 10 + METHODS.index(truth)])
    horizon, shape, hits = 24.0, 1.3, 0
    for _ in range(15):
        x, z = _site(rng, 2000, -1.2)
        eta = _truth_lp(x, z, truth)
        t_event = horizon * (rng.exponential(size=x.size) / np.exp(eta)) ** (1 / shape)
        censor = rng.uniform(0.5 * horizon, 2.0 * horizon, x.size)
        time, event = np.minimum(t_event, censor), (t_event <= censor).astype(float)
        risk = -np.expm1(-np.exp(x))
        hits += _choose(update_data(risk, event, z, time=time, horizon=horizon)) == truth
    assert hits / 15 >= 0.80, f"{truth}: chosen in {hits}/15"
