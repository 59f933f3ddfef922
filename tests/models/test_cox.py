"""The ridge Cox model against statsmodels (Breslow ties) and against simulator truth."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from spinerisk.cohort import SiteProfile, design_terms, simulate
from spinerisk.cohort.simulator import TERMS
from spinerisk.models import CoxPH


@pytest.fixture(scope="module")
def tied_data():
    rng = np.random.default_rng(11)
    n = 600
    X = rng.normal(size=(n, 3))
    time = np.round(rng.exponential(np.exp(-X @ [0.6, -0.4, 0.0])), 1) + 0.1  # many ties
    event = (rng.random(n) < 0.7).astype(float)
    return X, time, event


def test_unpenalised_fit_matches_statsmodels_breslow(tied_data):
    X, time, event = tied_data
    ours = CoxPH(alpha=0.0).fit(X, np.column_stack([time, event]))
    ref = sm.PHReg(time, X, status=event, ties="breslow").fit()
    np.testing.assert_allclose(ours.coef_, ref.params, atol=1e-7)
    np.testing.assert_allclose(ours.standard_errors_, ref.bse, rtol=1e-6)


def test_breslow_baseline_matches_the_textbook_sum_at_the_end_of_each_pooled_step(tied_data):
    """H0(t) = sum over events i with t_i <= t of 1 / sum_{j: t_j >= t_i} exp(lp_j), read at
    the last event time of each pool of >= 10 events; the stored step sits at the pool's
    mean event time."""
    X, time, event = tied_data
    ours = CoxPH(alpha=0.0).fit(X, np.column_stack([time, event]))
    lp = (X - ours.means_) @ ours.coef_
    distinct, counts = np.unique(time[event == 1], return_counts=True)
    ends = np.searchsorted(np.cumsum(counts), np.cumsum(ours.baseline_events_))
    assert ends[-1] == len(distinct) - 1 and ours.baseline_events_.sum() == event.sum()
    start = 0
    for k, end in enumerate(ends):
        pool = (event == 1) & (time >= distinct[start]) & (time <= distinct[end])
        assert pool.sum() == ours.baseline_events_[k] >= 10
        assert ours.baseline_times_[k] == pytest.approx(time[pool].mean(), rel=1e-12)
        expected = sum(1.0 / np.exp(lp[time >= ti]).sum()
                       for ti in time[(event == 1) & (time <= distinct[end])])
        assert ours.baseline_cumhaz_[k] == pytest.approx(expected, rel=1e-10)
        start = end + 1


def test_no_individual_event_time_is_stored():
    """Distinct continuous event times: no stored time is one of them, every step pools
    >= 10 events, and a model fitted on 7 events keeps one step."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 2))
    time, event = rng.exponential(5.0, 400) + 0.01, (rng.random(400) < 0.5).astype(float)
    fit = CoxPH(alpha=1.0).fit(X, np.column_stack([time, event]))
    assert not np.isin(fit.baseline_times_, time).any()
    assert fit.baseline_events_.min() >= 10
    few = np.zeros(400)
    few[:7] = 1
    assert len(CoxPH(alpha=1.0).fit(X, np.column_stack([time, few])).baseline_times_) == 1


def test_ridge_penalty_shrinks_towards_zero(tied_data):
    X, time, event = tied_data
    y = np.column_stack([time, event])
    free, ridge = CoxPH(alpha=0.0).fit(X, y), CoxPH(alpha=200.0).fit(X, y)
    assert np.all(np.abs(ridge.coef_) < np.abs(free.coef_))


def test_recovers_true_log_hazard_ratios(seed):
    """Linear DGP, one reference site, first episodes only (covariates as generated)."""
    cohort = simulate(24000, seed=seed, tasks=("reoperation",), dgp="linear",
                      site_profiles=[SiteProfile("S01")], missingness=False)
    first = (cohort.frame["episode_id"] == "E1").to_numpy()
    frame = cohort.frame[first]
    terms = design_terms(frame, "reoperation", "linear").drop(columns="intercept")
    y = np.column_stack([frame["reoperation_time_months"], frame["reoperation_event"]])
    fit = CoxPH(alpha=0.0).fit(terms.to_numpy(), y)
    truth = pd.Series(TERMS["reoperation"]["linear"]).drop("intercept")[terms.columns].to_numpy()
    z = (fit.coef_ - truth) / fit.standard_errors_
    assert np.all(np.abs(z) < 3.5), dict(zip(terms.columns, z.round(2)))
    # jointly: the Wald statistic of the truth is an ordinary chi-square draw
    gap = fit.coef_ - truth
    assert gap @ np.linalg.solve(fit.covariance_, gap) < stats.chi2.ppf(0.999, len(truth))


def test_refuses_bad_outcomes():
    X = np.zeros((3, 1))
    with pytest.raises(ValueError, match="time and event"):
        CoxPH().fit(X, np.zeros(3))
    with pytest.raises(ValueError, match="no events"):
        CoxPH().fit(X, np.column_stack([[1.0, 2.0, 3.0], [0, 0, 0]]))
    with pytest.raises(ValueError, match="> 0"):
        CoxPH().fit(X, np.column_stack([[0.0, 2.0, 3.0], [1, 0, 0]]))
