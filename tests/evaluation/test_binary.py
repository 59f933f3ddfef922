"""Binary metrics against independent implementations (scikit-learn, statsmodels, brute force)."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.special import expit, logit
from sklearn.metrics import brier_score_loss, roc_auc_score

from spinerisk.evaluation import (
    auc,
    brier_score,
    calibration_curve,
    calibration_summary,
    discrimination_slope,
    positives,
    scaled_brier,
    threshold_metrics,
)


def _data(seed, n=400, slope=1.0, shift=0.0):
    rng = np.random.default_rng(seed)
    lp = rng.normal(-0.5, 1.0, n)
    y = (rng.uniform(size=n) < expit(shift + slope * lp)).astype(float)
    return y, expit(lp)


def _delong_bruteforce(y, s):
    cases, controls = s[y == 1], s[y == 0]
    psi = (cases[:, None] > controls[None, :]) + 0.5 * (cases[:, None] == controls[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    a = psi.mean()
    return a, np.sqrt(v10.var(ddof=1) / cases.size + v01.var(ddof=1) / controls.size)


def test_auc_matches_sklearn_and_bruteforce_delong(seed):
    y, p = _data(seed)
    p = np.round(p, 2)  # force ties
    est = auc(y, p)
    a, se = _delong_bruteforce(y, p)
    assert est.estimate == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert est.estimate == pytest.approx(a, abs=1e-12)
    assert (est.upper - est.lower) / (2 * 1.959963984540054) == pytest.approx(se, rel=1e-10)


def test_frequency_weights_equal_duplicated_rows(seed):
    y, p = _data(seed, n=200)
    w = np.random.default_rng(seed + 1).integers(0, 4, y.size)
    w[:2] = [1, 1]
    yy, pp = np.repeat(y, w), np.repeat(p, w)
    assert auc(y, p, weights=w).to_dict() == pytest.approx(auc(yy, pp).to_dict())
    assert brier_score(y, p, weights=w).estimate == pytest.approx(brier_score(yy, pp).estimate)
    assert scaled_brier(y, p, weights=w).estimate == pytest.approx(scaled_brier(yy, pp).estimate)
    assert discrimination_slope(y, p, weights=w).estimate == pytest.approx(discrimination_slope(yy, pp).estimate)
    a, b = calibration_summary(y, p, weights=w).to_dict(), calibration_summary(yy, pp).to_dict()
    for key in ("citl_intercept", "cal_intercept", "cal_slope"):
        assert a[key]["estimate"] == pytest.approx(b[key]["estimate"], abs=1e-9)
    ta = threshold_metrics(y, p, [0.2, 0.5], weights=w).to_dict()
    tb = threshold_metrics(yy, pp, [0.2, 0.5]).to_dict()
    for key in ta:
        assert ta[key] == pytest.approx(tb[key])


def test_brier_and_ipa(seed):
    y, p = _data(seed)
    assert brier_score(y, p).estimate == pytest.approx(brier_score_loss(y, p), abs=1e-14)
    null = y.mean() * (1 - y.mean())
    assert scaled_brier(y, p).estimate == pytest.approx(1 - brier_score_loss(y, p) / null, abs=1e-12)


def test_calibration_matches_statsmodels(seed):
    y, p = _data(seed, n=600, slope=0.7, shift=0.3)
    res = calibration_summary(y, p)
    x = logit(p)
    weak = sm.GLM(y, sm.add_constant(x), family=sm.families.Binomial()).fit(tol=1e-12)
    citl = sm.GLM(y, np.ones((y.size, 1)), family=sm.families.Binomial(), offset=x).fit(tol=1e-12)
    assert res.cal_slope.estimate == pytest.approx(weak.params[1], abs=1e-8)
    assert res.cal_intercept.estimate == pytest.approx(weak.params[0], abs=1e-8)
    assert res.citl_intercept.estimate == pytest.approx(citl.params[0], abs=1e-8)
    lo, hi = weak.conf_int()[1]
    assert (res.cal_slope.lower, res.cal_slope.upper) == pytest.approx((lo, hi), abs=1e-6)
    assert res.oe_ratio.estimate == pytest.approx(y.sum() / p.sum())


def test_threshold_metrics_dcurves_rule_at_the_threshold():
    y = np.array([0, 0, 1, 1, 1, 0.0])
    p = np.array([0.1, 0.2, 0.2, 0.8, 0.9, 0.5])
    m = threshold_metrics(y, p, [0.2])
    # R dcurves: risk >= threshold, so both risks of exactly 0.2 are positive at 0.2
    assert m.sensitivity[0] == pytest.approx(3 / 3)
    assert m.specificity[0] == pytest.approx(1 / 3)
    assert m.ppv[0] == pytest.approx(3 / 5)
    assert m.npv[0] == pytest.approx(1 / 1)
    assert np.isnan(threshold_metrics(y, p, [0.95]).ppv[0])


def test_test_positive_rule_at_thresholds_0_and_1():
    # dcurves replaces risk 0 by -eps and 1 by 1 + eps before risk >= threshold
    risk = np.array([0.0, 1e-12, 0.5, 1.0])
    pos = positives(risk, np.array([0.0, 0.5, 1.0]))
    assert pos.tolist() == [[False, True, True, True], [False, False, True, True], [False, False, False, True]]


@pytest.mark.parametrize(
    "fn",
    [auc, brier_score, scaled_brier, calibration_summary, discrimination_slope,
     lambda y, p: calibration_curve(y, p, method="rcs"), lambda y, p: threshold_metrics(y, p, [0.5])],
)
@pytest.mark.parametrize("cls", [0.0, 1.0])
def test_one_class_raises_clear_error(fn, cls):
    y = np.full(20, cls)
    p = np.linspace(0.1, 0.9, 20)
    with pytest.raises(ValueError, match="only one class"):
        fn(y, p)


def test_bad_inputs_explain_fix():
    with pytest.raises(ValueError, match="coded 0/1"):
        auc([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="probability in"):
        brier_score([0, 1], [0.1, 1.2])
    with pytest.raises(ValueError, match="missing or non-finite"):
        auc([0, 1, 1], [0.1, np.nan, 0.3])
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        calibration_summary([0, 1, 1], [0.0, 0.5, 0.6])
    with pytest.raises(ValueError, match="weights must be >= 0"):
        auc([0, 1], [0.1, 0.2], weights=[1, -1])


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(1, 99)), min_size=4, max_size=40),
    st.sampled_from(["exp", "logit", "cube", "rank"]),
)
def test_auc_invariant_to_monotone_transforms(rows, transform):
    y = np.array([r[0] for r in rows], float)
    p = np.array([r[1] for r in rows]) / 100.0  # a grid, so ties are real ties
    if y.min() == y.max():
        y[0] = 1 - y[0]
    f = {"exp": np.exp, "logit": logit, "cube": lambda v: v**3 - 2, "rank": lambda v: np.argsort(np.argsort(v))}
    if transform == "rank":
        q = np.unique(p, return_inverse=True)[1].astype(float)  # ties stay ties
    else:
        q = f[transform](p)
    assume(np.unique(q).size == np.unique(p).size)  # float rounding must not merge values
    assert auc(y, q, ci="none").estimate == pytest.approx(auc(y, p, ci="none").estimate, abs=1e-12)


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_perfect_calibration_large_sample(s):
    rng = np.random.default_rng(s)
    n = 20000
    p = expit(rng.normal(-0.5, 1.2, n))
    y = (rng.uniform(size=n) < p).astype(float)
    res = calibration_summary(y, p)
    assert abs(res.cal_slope.estimate - 1) < 0.08
    assert abs(res.cal_intercept.estimate) < 0.08
    assert abs(res.citl_intercept.estimate) < 0.06
    assert abs(res.oe_ratio.estimate - 1) < 0.05
    assert calibration_curve(y, p, method="rcs").ici < 0.015


def test_miscalibration_is_detected(seed):
    y, p = _data(seed, n=5000, slope=0.5, shift=0.5)
    res = calibration_summary(y, p)
    assert res.cal_slope.upper < 0.7  # truth 0.5: predictions far too extreme
    assert calibration_curve(y, p, method="rcs").ici > 0.04
