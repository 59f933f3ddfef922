"""Survival helpers against lifelines and brute force; input errors; weights."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import concordance_index

from spinerisk.evaluation import (
    brier_survival,
    decision_curve_survival,
    fit_cox,
    harrell_c,
    oe_survival,
    time_dependent_auc,
)
from spinerisk.evaluation._km import censoring_survival, km_at, km_curve


@pytest.fixture(scope="module")
def surv():
    rng = np.random.default_rng(21)
    n = 300
    x = rng.normal(size=n)
    t_event = rng.exponential(1 / np.exp(0.7 * x))
    t_cens = rng.uniform(0, 2.5, n)
    time = np.round(np.minimum(t_event, t_cens), 2)  # rounding creates tied times
    event = (t_event <= t_cens).astype(float)
    return time, event, x


def test_km_matches_lifelines(surv):
    time, event, _ = surv
    kmf = KaplanMeierFitter().fit(time, event)
    for h in (0.1, 0.5, 1.0, 2.0):
        assert km_at(time, event, h) == pytest.approx(float(kmf.predict(h)), abs=1e-12)
    t, s = km_curve(time, event)
    assert np.all(np.diff(s) <= 0) and t.size == np.unique(time[event == 1]).size
    gt, gs = censoring_survival(time, event)
    kmc = KaplanMeierFitter().fit(time, 1 - event)
    assert gs[-1] == pytest.approx(float(kmc.predict(gt[-1])), abs=1e-12)


def test_harrell_c_matches_lifelines_and_bruteforce(surv):
    time, event, x = surv
    score = np.round(x, 1)  # ties in the score
    ours = harrell_c(time, event, score).estimate
    # lifelines: higher predicted survival time = longer survival, so pass -score
    assert ours == pytest.approx(concordance_index(time, -score, event), abs=1e-12)
    num = den = 0.0
    for i in np.flatnonzero(event == 1):
        comp = (time > time[i]) | ((time == time[i]) & (event == 0))
        den += comp.sum()
        num += np.sum(comp & (score[i] > score)) + 0.5 * np.sum(comp & (score[i] == score))
    assert ours == pytest.approx(num / den, abs=1e-12)


def test_td_auc_equals_plain_auc_without_censoring():
    rng = np.random.default_rng(4)
    x = rng.normal(size=200)
    time = rng.exponential(1 / np.exp(x))
    event = np.ones_like(time)
    from spinerisk.evaluation import auc

    h = float(np.median(time))
    expected = auc((time <= h).astype(float), x, ci="none").estimate
    assert time_dependent_auc(time, event, x, h).estimate == pytest.approx(expected, abs=1e-12)


def test_brier_without_censoring_is_plain_brier():
    rng = np.random.default_rng(5)
    time = rng.exponential(1.0, 300)
    event = np.ones_like(time)
    risk = rng.uniform(0.2, 0.8, 300)
    h = 0.7
    y = (time <= h).astype(float)
    res = brier_survival(time, event, risk, h)
    assert res["brier"].estimate == pytest.approx(np.mean((y - risk) ** 2), abs=1e-12)
    assert res["brier_null"].estimate == pytest.approx(y.mean() * (1 - y.mean()), abs=1e-12)


def test_decision_curve_survival_weights_equal_duplicates(surv):
    time, event, x = surv
    risk = 1 / (1 + np.exp(-x))
    w = np.random.default_rng(2).integers(1, 4, time.size)
    a = decision_curve_survival(time, event, risk, 1.0, [0.2, 0.5], weights=w).to_frame()
    b = decision_curve_survival(np.repeat(time, w), np.repeat(event, w), np.repeat(risk, w), 1.0,
                                [0.2, 0.5]).to_frame()
    np.testing.assert_allclose(a.net_benefit, b.net_benefit, atol=1e-12)


def test_cox_breslow_ties_matches_lifelines_free_check(surv):
    time, event, x = surv
    efron = fit_cox(x, time, event)
    breslow = fit_cox(x, time, event, ties="breslow")
    assert abs(efron.coef[0] - breslow.coef[0]) < 0.05  # few ties: close but not equal
    assert efron.coef[0] != breslow.coef[0]
    # baselines: cumulative hazards increase and Efron >= Breslow at the same beta
    assert np.all(np.diff(efron.cumhaz_efron) > 0)


def test_survival_input_errors(surv):
    time, event, x = surv
    with pytest.raises(ValueError, match="no events"):
        harrell_c(time, np.zeros_like(event), x)
    with pytest.raises(ValueError, match="coded 0/1"):
        harrell_c(time, event * 2, x)
    with pytest.raises(ValueError, match="equal length"):
        harrell_c(time[:-1], event, x)
    assert oe_survival(time + 1.0, event, np.full(time.size, 0.3), 0.5).reason == "no_events_by_horizon"
    with pytest.raises(ValueError, match="time must be >= 0"):
        oe_survival(time - 5.0, event, np.full(time.size, 0.3), 0.5)
    with pytest.raises(ValueError, match="probability"):
        brier_survival(time, event, x, 1.0)


def _concordance_bruteforce(time, event, score, w):
    """Pair enumeration: weighted C and its infinitesimal-jackknife SE."""
    n = time.size
    num_i, den_i = np.zeros(n), np.zeros(n)
    for i in np.flatnonzero(event == 1):
        comp = (time > time[i]) | ((time == time[i]) & (event == 0))
        credit = w[i] * comp * ((score[i] > score) + 0.5 * (score[i] == score))
        weight = w[i] * comp
        num_i[i] += credit.sum()
        den_i[i] += weight.sum()
        num_i += credit
        den_i += weight
    num, den = num_i.sum() / 2, den_i.sum() / 2
    c = num / den
    return c, np.sqrt(np.sum(((num_i - c * den_i) / den) ** 2))


@pytest.mark.parametrize("n", [7, 120, 900])
def test_fast_concordance_equals_pair_enumeration(n, seed):
    from spinerisk.evaluation.binary import _z
    from spinerisk.evaluation.survival import _concordance

    rng = np.random.default_rng(seed + n)
    time = np.round(rng.exponential(1, n), 1)  # tied times
    event = (rng.uniform(size=n) < 0.6).astype(float)
    event[0] = 1
    score = np.round(rng.normal(size=n), 1)  # tied scores
    w = rng.uniform(0.5, 2, n)
    est = _concordance(time, event, score, w, 0.95)
    c, se = _concordance_bruteforce(time, event, score, w)
    assert est.estimate == pytest.approx(c, abs=1e-12)
    assert (est.upper - est.lower) / (2 * _z(0.95)) == pytest.approx(se, abs=1e-12)
