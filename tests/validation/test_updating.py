"""Updating fits and the closed test against an independent implementation (statsmodels)."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.stats import chi2

from spinerisk.validation import METHODS, closed_test, fit_update, update_data
from spinerisk.validation.updating import risk_to_lp


@pytest.fixture(scope="module")
def binary_data(seed):
    rng = np.random.default_rng(seed)
    n = 3000
    z = rng.normal(size=(n, 3))
    lp = -0.5 + z @ np.array([0.8, -0.5, 0.3]) + 0.6 * rng.normal(size=n)  # plus a term not in z
    risk = 1 / (1 + np.exp(-lp))
    true = -0.3 + 0.75 * lp + 0.4 * z[:, 2]  # shift, slope and one changed effect
    y = (rng.random(n) < 1 / (1 + np.exp(-true))).astype(float)
    return update_data(risk, y, z)


@pytest.mark.parametrize("method", METHODS)
def test_binary_fits_match_statsmodels(binary_data, method):
    d = binary_data
    fit = fit_update(d, method)
    ones = np.ones((d.x.size, 1))
    design = {"original": None, "intercept": ones, "recalibration": np.column_stack([ones, d.x]),
              "revision": np.column_stack([ones, d.x, d.z])}[method]
    if design is None:
        expected = np.sum(d.y * d.x - np.logaddexp(0, d.x))
        assert fit.loglik == pytest.approx(expected, rel=1e-12)
        return
    offset = d.x if method == "intercept" else None
    ref = sm.GLM(d.y, design, family=sm.families.Binomial(), offset=offset).fit(tol=1e-12)
    np.testing.assert_allclose(fit.coef, ref.params, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(fit.se, ref.bse, rtol=1e-5)
    assert fit.loglik == pytest.approx(ref.llf, rel=1e-10)


def test_closed_test_matches_lr_statistics(binary_data):
    fits = {m: fit_update(binary_data, m) for m in METHODS}
    choice, tests = closed_test(fits, alpha=0.05)
    for t in tests:
        stat = 2 * (fits["revision"].loglik - fits[t.simpler].loglik)
        assert t.statistic == pytest.approx(stat)
        assert t.p_value == pytest.approx(chi2.sf(stat, t.df))
    assert [t.df for t in tests][:1] == [5]
    # the simulated site changed one predictor's effect: revision is needed
    assert choice == "revision"


def test_closed_test_stops_at_first_adequate_model(binary_data):
    fits = {m: fit_update(binary_data, m) for m in METHODS}
    choice, tests = closed_test(fits, alpha=1e-300)  # nothing can be rejected
    assert choice == "original" and len(tests) == 1 and not tests[0].rejected


def test_survival_update_matches_poisson_glm(seed):
    """Time-to-event updates are Poisson GLMs with the Breslow share as offset."""
    rng = np.random.default_rng(seed)
    n, horizon = 2000, 24.0
    lp = rng.normal(-4.5, 0.8, n)
    t_event = (-np.log(rng.random(n)) / np.exp(0.3 + 0.7 * lp)) ** (1 / 1.3)
    censor = rng.uniform(10, 60, n)
    time, event = np.minimum(t_event, censor), (t_event <= censor).astype(float)
    risk = -np.expm1(-np.exp(lp) * horizon ** 1.3)
    d = update_data(risk, event, np.empty((n, 0)), time=time, horizon=horizon)
    assert np.all(d.log_share <= 1e-12)  # a share of the horizon's hazard
    fit = fit_update(d, "recalibration")
    ref = sm.GLM(d.y, np.column_stack([np.ones(d.x.size), d.x]), family=sm.families.Poisson(),
                 offset=d.log_share).fit(tol=1e-12)
    np.testing.assert_allclose(fit.coef, ref.params, rtol=1e-6)
    assert fit.loglik == pytest.approx(ref.llf, rel=1e-10)  # log(y!) = 0 for 0/1 events
    assert abs(fit.coef[1] - 0.7) < 4 * fit.se[1]  # recovers the true slope


def test_scales_round_trip():
    risk = np.array([1e-6, 0.1, 0.5, 0.9, 1 - 1e-9])
    for survival in (False, True):
        from spinerisk.validation.updating import lp_to_risk

        np.testing.assert_allclose(lp_to_risk(risk_to_lp(risk, survival), survival), risk, rtol=1e-6)


def test_rank_deficient_revision_is_estimable(binary_data):
    """Aliased or separating columns are left out rather than breaking the fit."""
    d = binary_data
    z = np.column_stack([d.z, d.z[:, 0] * 2.0, np.zeros(d.x.size)])
    fit = fit_update(type(d)(d.x, d.y, z, d.log_share, False, d.rows), "revision")
    assert fit.converged and fit.n_params == 5
    assert fit.coef[-1] == 0 and (fit.coef[2] == 0) != (fit.coef[-2] == 0)  # one of the pair
    full = fit_update(d, "revision")
    np.testing.assert_allclose(fit.linear_predictor(d.x, z), full.linear_predictor(d.x, d.z),
                               atol=1e-6)
