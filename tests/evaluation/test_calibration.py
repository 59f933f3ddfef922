"""Flexible calibration curves: loess and RCS against direct re-implementations with statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.special import expit, logit

from spinerisk.evaluation import calibration_curve, calibration_errors
from spinerisk.evaluation._splines import default_knots, rcs_basis


@pytest.fixture(scope="module")
def sample():
    rng = np.random.default_rng(7)
    lp = rng.normal(-0.8, 1.1, 800)
    y = (rng.uniform(size=lp.size) < expit(0.3 + 0.7 * lp)).astype(float)
    return y, expit(lp)


def test_rcs_curve_matches_statsmodels_glm(sample):
    y, p = sample
    curve = calibration_curve(y, p, method="rcs", n_knots=4)
    x = logit(p)
    knots = default_knots(x, 4)
    np.testing.assert_allclose(knots, np.quantile(x, [0.05, 0.35, 0.65, 0.95]))
    X = sm.add_constant(np.column_stack([x, rcs_basis(x, knots)]))
    fit = sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-12)
    observed = fit.predict(X)
    expected = calibration_errors(p, observed)
    assert curve.ici == pytest.approx(expected["ici"], abs=1e-8)
    assert curve.e90 == pytest.approx(expected["e90"], abs=1e-8)
    xg = logit(curve.predicted)
    Xg = sm.add_constant(np.column_stack([xg, rcs_basis(xg, knots)]), has_constant="add")
    np.testing.assert_allclose(curve.observed, fit.predict(Xg), atol=1e-8)
    assert np.all(curve.lower <= curve.observed) and np.all(curve.observed <= curve.upper)


def test_rcs_basis_is_linear_beyond_outer_knots():
    knots = np.array([0.0, 1.0, 9.0])
    x = np.array([10.0, 11.0, 12.0, 13.0])
    second_diff = np.diff(rcs_basis(x, knots)[:, 0], 2)
    np.testing.assert_allclose(second_diff, 0, atol=1e-12)
    # Hmisc::rcspline.eval(norm = 2) value at x = 5 for knots (0, 1, 9): ((5^3 - 4^3 * 9/8) / 81
    assert rcs_basis(np.array([5.0]), knots)[0, 0] == pytest.approx((125 - 64 * 9 / 8) / 81)


@pytest.mark.parametrize("tied", [False, True])
def test_loess_matches_local_quadratic_wls(sample, tied):
    """Against statsmodels' WLS with the tricube weights written out over every row; with
    risks rounded to 0.1 (long runs of ties, floating-point near-ties in distance), the
    nearest-points window the implementation takes must hold every weighted row."""
    y, p = sample
    if tied:
        p = np.clip(np.round(p, 1), 0.05, 0.95)
    curve = calibration_curve(y, p, method="loess", span=0.75, n_points=7)
    n = p.size
    q = int(np.floor(0.75 * n))
    for x0, fitted in zip(curve.predicted, curve.observed):
        d = np.abs(p - x0)
        h = np.sort(d)[q - 1]
        w = np.clip(1 - (d / h) ** 3, 0, None) ** 3
        X = np.column_stack([np.ones(n), p - x0, (p - x0) ** 2])
        wls = sm.WLS(y, X, weights=w).fit()
        assert fitted == pytest.approx(wls.params[0], abs=1e-9)


def test_perfectly_calibrated_large_sample_has_small_errors(seed):
    rng = np.random.default_rng(seed)
    p = expit(rng.normal(-0.5, 1.0, 8000))
    y = (rng.uniform(size=p.size) < p).astype(float)
    for method in ("loess", "rcs"):
        c = calibration_curve(y, p, method=method)
        assert c.ici < 0.02, method
        assert c.e50 <= c.e90 <= c.emax


def test_weighted_errors_equal_duplicated_rows():
    pred = np.array([0.1, 0.2, 0.4, 0.7])
    obs = np.array([0.12, 0.25, 0.3, 0.75])
    w = np.array([1, 3, 2, 1])
    a = calibration_errors(pred, obs, w)
    b = calibration_errors(np.repeat(pred, w), np.repeat(obs, w))
    assert a["ici"] == pytest.approx(b["ici"])
    assert a["emax"] == b["emax"]
    assert a["e50"] == pytest.approx(np.quantile(np.abs(np.repeat(obs - pred, w)), 0.5, method="inverted_cdf"))


def test_unknown_method_is_explained(sample):
    y, p = sample
    with pytest.raises(ValueError, match="'loess' or 'rcs'"):
        calibration_curve(y, p, method="isotonic")
