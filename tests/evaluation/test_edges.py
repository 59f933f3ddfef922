"""Edge rules of the evaluation engine (issue 10): every input the issue gives, as a test.

Undefined values are NA with a machine-readable reason (``Estimate.reason``), never a
finite number the data cannot support; impossible inputs raise errors that say what to fix.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spinerisk.evaluation import (
    NA_REASONS,
    auc,
    brier_score,
    brier_survival,
    calibration_curve,
    calibration_curve_survival,
    calibration_poisson,
    calibration_slope_survival,
    calibration_summary,
    decision_curve,
    decision_curve_survival,
    fit_cox,
    fit_glm,
    harrell_c,
    oe_survival,
    threshold_metrics,
    time_dependent_auc,
    uno_c,
)

from .conftest import COVARIATES, GOLDEN, HORIZON


# ------------------------------------------------------------ item 2: horizon
def test_oe_beyond_follow_up_is_na_not_extrapolated():
    est = oe_survival(time=[1, 2, 3, 4], event=[1, 0, 0, 0], risk=[.3, .2, .5, .1], horizon=100)
    assert np.isnan(est.estimate) and est.reason == "horizon_beyond_follow_up"
    assert est.to_dict()["estimate"] is None and est.to_dict()["na_reason"] == "horizon_beyond_follow_up"


def test_gbsg_truncated_at_5_years_has_no_8_year_metrics(rotterdam_gbsg):
    _, val, fit, _ = rotterdam_gbsg
    X = val[COVARIATES].to_numpy()
    t, e = val.time.to_numpy(), val.event.to_numpy()
    risk8, lp = fit.predict_risk(X, 8.0), fit.linear_predictor(X)
    assert oe_survival(t, e, risk8, 8.0).reason == "horizon_beyond_follow_up"
    assert time_dependent_auc(t, e, lp, 8.0).reason == "horizon_beyond_follow_up"
    assert all(v.reason == "horizon_beyond_follow_up" for v in brier_survival(t, e, risk8, 8.0).values())
    assert calibration_curve_survival(t, e, risk8, 8.0).reason == "horizon_beyond_follow_up"
    assert uno_c(t, e, lp, tau=8.0).reason == "horizon_beyond_follow_up"
    with pytest.raises(ValueError, match="beyond the last follow-up"):
        decision_curve_survival(t, e, risk8, 8.0, [0.2])
    # at the horizon itself (administrative censoring at 5) the metrics exist
    assert np.isfinite(oe_survival(t, e, fit.predict_risk(X, HORIZON), HORIZON).estimate)


@pytest.mark.parametrize("call", [
    lambda t: oe_survival(t, [1, 0, 1], [.2, .3, .4], 1.0),
    lambda t: harrell_c(t, [1, 0, 1], [.2, .3, .4]),
    lambda t: decision_curve_survival(t, [1, 0, 1], [.2, .3, .4], 1.0, [0.1]),
    lambda t: fit_cox(np.array([.2, .3, .4]), t, [1, 0, 1]),
])
def test_negative_times_are_rejected_with_the_fix(call):
    with pytest.raises(ValueError, match=r"time must be >= 0; found 1 negative"):
        call(np.array([1.0, -2.0, 3.0]))


def test_horizon_must_be_positive():
    with pytest.raises(ValueError, match="horizon must be a finite number > 0"):
        oe_survival([1, 2, 3], [1, 0, 1], [.2, .3, .4], 0.0)


# ------------------------------------------------ item 3: the convergence contract
def test_separation_is_na_not_slope_43():
    cal = calibration_summary(y=[0, 1, 0], risk=[.2, .7, .4])
    assert cal.cal_slope.reason == "separation" and np.isnan(cal.cal_slope.estimate)
    assert cal.cal_intercept.reason == "separation"
    assert cal.cal_slope.details["fit"]["separation"] is True
    assert np.isfinite(cal.citl_intercept.estimate)  # the intercept-only model is fine


def test_monotone_likelihood_is_na_not_slope_60():
    est = calibration_slope_survival(time=[1, 2, 3], event=[1, 1, 1], lp=np.log([.9, .5, .1]))
    assert est.reason == "monotone_likelihood" and np.isnan(est.estimate)


def test_fits_report_the_contract():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = (rng.uniform(size=200) < 1 / (1 + np.exp(-x))).astype(float)
    ok = fit_glm(np.column_stack([np.ones(200), x]), y).diagnostics
    assert ok.converged and not ok.separation and ok.condition < 1e3 and ok.reason is None
    sep = fit_glm(np.column_stack([np.ones(200), x]), (x > 0).astype(float)).diagnostics
    assert sep.separation and sep.reason == "separation"
    t = rng.exponential(size=200)
    cox = fit_cox(x, t, np.ones(200)).diagnostics
    assert cox.converged and not cox.separation and cox.reason is None
    flat = fit_cox(np.ones(200), t, np.ones(200)).diagnostics  # constant covariate: singular
    assert flat.reason == "ill_conditioned"
    # Poisson: no events at all -> intercept -inf
    pois = fit_glm(np.ones((5, 1)), np.zeros(5), family="poisson").diagnostics
    assert pois.reason == "infinite_estimate"


def test_separated_bootstrap_replicates_are_nan():
    from spinerisk.evaluation import bootstrap_binary

    y = np.array([0, 0, 0, 1, 1, 1, 0, 1.0])
    p = np.array([.1, .2, .3, .6, .7, .8, .65, .25])
    res = bootstrap_binary(y, p, metrics=["cal_slope"], n_boot=200, seed=0)
    reps = res.replicates["cal_slope"]
    assert np.isnan(reps).any() and np.nanmax(np.abs(reps)) < 50


# ---------------------------------------------------------- item 7: degenerate inputs
def test_constant_risk_gives_reasons_not_linalg_errors():
    y = np.array([0, 1, 0, 1, 1, 0.0])
    risk = np.full(6, 0.3)
    cal = calibration_summary(y, risk)
    assert cal.cal_slope.reason == "constant_prediction"
    assert calibration_curve(y, risk).reason == "too_few_distinct_predictions"
    assert calibration_curve(y, risk, method="rcs").reason == "too_few_distinct_predictions"
    t = np.arange(1.0, 7.0)
    assert calibration_slope_survival(t, y, np.zeros(6)).reason == "constant_prediction"
    assert calibration_curve_survival(t, y, risk, 3.0).reason == "too_few_distinct_predictions"


def test_loess_with_five_patients_is_na():
    assert calibration_curve([0, 1, 0, 1, 1], [.1, .2, .3, .4, .5]).reason == "too_few_distinct_predictions"


def test_constant_score_has_no_zero_width_interval():
    a = auc([0, 1, 0, 1], [.3, .3, .3, .3])
    assert a.estimate == 0.5 and np.isnan(a.lower) and a.reason == "degenerate_variance"
    c = harrell_c([1, 2, 3, 4], [1, 1, 0, 1], [.3, .3, .3, .3])
    assert c.estimate == 0.5 and np.isnan(c.upper) and c.reason == "degenerate_variance"


def test_all_zero_risk_oe_is_na():
    est = oe_survival([1, 2, 3, 4], [1, 0, 1, 0], [0, 0, 0, 0], 3)
    assert est.reason == "zero_expected" and np.isnan(est.estimate)


# ------------------------------------------------------------ item 6: Uno's tau
def test_uno_c_truncated_at_5_years_on_full_gbsg_follow_up(rotterdam_gbsg):
    _, val, fit, ref = rotterdam_gbsg
    gbsg = pd.read_csv(GOLDEN / "gbsg.csv")
    t_full, e_full = gbsg.rfstime.to_numpy() / 365.25, gbsg.status.to_numpy().astype(float)
    lp = fit.linear_predictor(val[COVARIATES].to_numpy())
    truncated = uno_c(t_full, e_full, lp, tau=HORIZON)
    r = ref[(ref.metric == "Uno_C") & (ref.setting == "external_gbsg5") & (ref.file == "03_predsurv_extended.md")]
    # R survival::concordance(timewt = "n/G2") on the data censored at 5 years (printed to 2-3 decimals)
    assert truncated.estimate == pytest.approx(float(r.estimate.iloc[0]), abs=5e-4)
    assert truncated.details == {"tau": HORIZON, "truncated": True}
    # exact identity: truncating at tau = censoring everyone still at risk at tau
    same = uno_c(val.time.to_numpy(), val.event.to_numpy(), lp)
    assert truncated.estimate == pytest.approx(same.estimate, abs=1e-12)
    untruncated = uno_c(t_full, e_full, lp)
    assert abs(untruncated.estimate - truncated.estimate) > 0.005  # late events with tiny G dominate


# ---------------------------------------------------------- item 8: Poisson zeros
def test_poisson_calibration_leaves_out_zero_expected_and_says_so():
    res = calibration_poisson([1, 0, 1, 0, 1, 0], [0.0, 0.2, 0.5, 0.3, 0.9, 0.4], [.1, .2, .3, .4, .5, .45])
    assert np.isfinite(res["citl_ratio"].estimate)
    assert res["citl_ratio"].details["n_zero_expected"] == 1
    assert res["slope"].details["n_zero_expected_events"] == 1
    with pytest.raises(ValueError, match="expected must be >= 0"):
        calibration_poisson([1, 0], [-0.1, 0.2], [0.1, 0.2])


# --------------------------------------------------------------- item 9: E50/E90
def test_unit_weights_leave_e50_e90_unchanged():
    rng = np.random.default_rng(5)
    p = rng.uniform(0.02, 0.9, 400)
    y = (rng.uniform(size=400) < p).astype(float)
    for method in ("loess", "rcs"):
        a, b = calibration_curve(y, p, method=method), calibration_curve(y, p, method=method, weights=np.ones(400))
        assert (a.e50, a.e90, a.ici, a.emax) == (b.e50, b.e90, b.ici, b.emax)


# ------------------------------------------- item 10: the survival calibration band
def _calibrated_cohort(rng, n, rate, horizon, sd=0.8):
    """Exponential PH data whose predicted risk at the horizon is the true risk."""
    lp = rng.normal(0.0, sd, n)
    t_event = rng.exponential(1.0 / (rate * np.exp(lp)))
    t_cens = np.minimum(rng.uniform(0, 3 * horizon, n), 1.5 * horizon)
    time = np.minimum(t_event, t_cens)
    event = (t_event <= t_cens).astype(float)
    risk = 1.0 - np.exp(-rate * horizon * np.exp(lp))
    return time, event, risk


def test_band_is_narrow_at_a_large_site(seed):
    # about 3,000 patients with ~190 events by the horizon: the old uncentred band ran from
    # 0.001 to 0.197 at a predicted risk of 0.010
    rng = np.random.default_rng(seed)
    time, event, risk = _calibrated_cohort(rng, 3000, rate=0.05, horizon=1.0, sd=1.0)
    assert 140 < event[time <= 1.0].sum() < 250
    curve = calibration_curve_survival(time, event, risk, 1.0)
    lo, hi = np.interp(0.010, curve.predicted, curve.lower), np.interp(0.010, curve.predicted, curve.upper)
    assert 0 < hi - lo < 0.03
    assert curve.settings["band"] == "tsiatis"


def test_band_covers_the_true_curve(seed):
    """Coverage of the pointwise 95% band at risks 0.05, 0.15, 0.30 (true curve: identity).

    120 replicates of 600 patients; the Monte Carlo SE of a coverage near 0.95 is
    sqrt(0.95 * 0.05 / 120) = 0.020, so >= 0.90 fails by chance with probability < 1%
    at each level when the true coverage is 0.95.
    """
    rng = np.random.default_rng(seed)
    levels = np.array([0.05, 0.15, 0.30])
    hits = np.zeros(3)
    reps = 120
    for _ in range(reps):
        time, event, risk = _calibrated_cohort(rng, 600, rate=0.15, horizon=1.0)
        c = calibration_curve_survival(time, event, risk, 1.0)
        lo, hi = np.interp(levels, c.predicted, c.lower), np.interp(levels, c.predicted, c.upper)
        hits += (lo <= levels) & (levels <= hi)
    assert np.all(hits / reps >= 0.90), hits / reps


# --------------------------------------------------------------- property tests
unit_data = st.integers(min_value=0, max_value=10_000)


@settings(max_examples=25, deadline=None)
@given(unit_data, st.integers(min_value=0, max_value=39))
def test_duplicating_a_patient_equals_weight_two(data_seed, k):
    rng = np.random.default_rng(data_seed)
    p = rng.uniform(0.05, 0.95, 40)
    y = (rng.uniform(size=40) < p).astype(float)
    y[:2] = [0, 1]
    w = np.ones(40)
    w[k] = 2
    yd, pd_ = np.r_[y, y[k]], np.r_[p, p[k]]
    assert auc(y, p, weights=w).to_dict() == pytest.approx(auc(yd, pd_).to_dict())
    assert brier_score(y, p, weights=w).estimate == pytest.approx(brier_score(yd, pd_).estimate)
    a, b = calibration_summary(y, p, weights=w), calibration_summary(yd, pd_)
    for name in ("oe_ratio", "citl_intercept", "cal_intercept", "cal_slope"):
        ea, eb = getattr(a, name), getattr(b, name)
        assert ea.reason == eb.reason
        np.testing.assert_allclose([ea.estimate, ea.lower, ea.upper], [eb.estimate, eb.lower, eb.upper],
                                   rtol=1e-6, atol=1e-9)
    ca, cb = calibration_curve(y, p, method="rcs", weights=w), calibration_curve(yd, pd_, method="rcs")
    if ca.reason is None:
        np.testing.assert_allclose([ca.ici, ca.e50, ca.e90], [cb.ici, cb.e50, cb.e90], rtol=1e-6, atol=1e-9)
    ta, tb = threshold_metrics(y, p, [0.2, 0.5], weights=w), threshold_metrics(yd, pd_, [0.2, 0.5])
    np.testing.assert_allclose(ta.sensitivity, tb.sensitivity)
    da, db = decision_curve(y, p, [0.1, 0.3], weights=w), decision_curve(yd, pd_, [0.1, 0.3])
    np.testing.assert_allclose(da.net_benefit, db.net_benefit, rtol=1e-12, atol=1e-12)
    t = rng.exponential(size=40)
    sa = decision_curve_survival(t, y, p, float(np.median(t)), [0.1, 0.3], weights=w)
    sb = decision_curve_survival(np.r_[t, t[k]], yd, pd_, float(np.median(t)), [0.1, 0.3])
    np.testing.assert_allclose(sa.net_benefit, sb.net_benefit, rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(unit_data, st.floats(min_value=1.0001, max_value=50.0))
def test_horizon_beyond_the_groups_last_follow_up_is_na(data_seed, factor):
    rng = np.random.default_rng(data_seed)
    n = 30
    time = rng.exponential(size=n) + 0.01
    event = (rng.uniform(size=n) < 0.7).astype(float)
    event[0] = 1.0
    risk = rng.uniform(0.05, 0.95, n)
    horizon = float(time.max() * factor)
    for est in (oe_survival(time, event, risk, horizon), time_dependent_auc(time, event, risk, horizon),
                uno_c(time, event, risk, tau=horizon), *brier_survival(time, event, risk, horizon).values()):
        assert np.isnan(est.estimate) and est.reason == "horizon_beyond_follow_up"
    assert calibration_curve_survival(time, event, risk, horizon).reason == "horizon_beyond_follow_up"
    # a test-positive group followed less long than the horizon: NA rows, reason given
    inside = float(np.quantile(time, 0.9))
    cuts = np.array([0.2, 0.5, 0.8])
    dc = decision_curve_survival(time, event, risk, inside, cuts).strategy("model")
    for k, cut in enumerate(cuts):
        group = risk >= cut
        short = group.any() and time[group].max() < inside
        assert np.isnan(dc.net_benefit[k]) == short
        assert (dc.na_reason[k] == "horizon_beyond_follow_up") == short


def test_every_reason_has_words():
    assert all(isinstance(v, str) and len(v) > 10 for v in NA_REASONS.values())


# ------------------------------------------ callers: metrics CLI and plots show NA
def test_metrics_cli_reports_na_with_reason(tmp_path):
    import io
    import json

    from typer.testing import CliRunner

    from spinerisk.cli import app
    from spinerisk.evaluation import evaluate_predictions
    from spinerisk.evaluation.plots import plot_calibration

    frame = pd.DataFrame({"y": [0, 1, 0, 1, 0, 1], "p": [.1, .6, .2, .7, .3, .8]})  # separated
    rep = evaluate_predictions(frame, risk="p", outcome="y").to_dict()
    assert rep["metrics"]["cal_slope"]["estimate"] is None
    assert rep["metrics"]["cal_slope"]["na_reason"] == "separation"
    path = tmp_path / "preds.csv"
    frame.to_csv(path, index=False)
    out = CliRunner().invoke(app, ["metrics", "--data", str(path), "--outcome", "y", "--risk", "p"])
    assert out.exit_code == 0, out.output
    assert "cal_slope" in out.output and "NA (separation)" in out.output
    js = CliRunner().invoke(app, ["metrics", "--data", str(path), "--outcome", "y", "--risk", "p", "--json"])
    assert json.loads(js.output)["metrics"]["cal_intercept"]["na_reason"] == "separation"
    buf = io.BytesIO()
    plot_calibration(calibration_curve([0, 1, 0, 1, 1], [.1, .2, .3, .4, .5]), buf)
    assert buf.getvalue()[:4] == b"\x89PNG"


def test_bootstrap_keeps_na_without_an_interval():
    from spinerisk.evaluation import bootstrap_apply

    t = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    e = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    r = np.array([.1, .2, .3, .4, .5, .6])
    res = bootstrap_apply(lambda tt, ee, rr: {"oe": oe_survival(tt, ee, rr, 100.0)}, t, e, r, n_boot=5)
    assert res["oe"].reason == "horizon_beyond_follow_up" and np.isnan(res["oe"].lower)
