"""Rotterdam -> GBSG golden test (McLernon et al., Ann Intern Med 2023; R survival/timeROC/
riskRegression/rms outputs in tests/golden/rotterdam_gbsg/reference_numbers_basic_model.csv).

Tolerances: numbers printed to k decimals are checked to half a unit in the k-th decimal
(they are rounded R output); "exact" R outputs to 1e-6 unless a gap is documented:

* Poisson calibration-in-the-large lower CI: reference 0.904, our Wald interval gives
  0.9048 (profile likelihood gives 0.903); checked to 1e-3.
* ICI/E50/E90/Emax exact R values (rms::cph + survest): our secondary Cox model with the
  Efron baseline differs by up to 1.6e-4 (the repo's Python/lifelines variant differs
  from R similarly); checked to 2e-4, the 2-decimal values exactly.
* Uno's C apparent upper CI: reference 0.697 = Harrell's; ours 0.696 (not asserted).
* Bootstrap CIs of ICI/E50/E90 (0.02-0.06, 0.02-0.07, 0.04-0.11): our percentile intervals
  from refitting the secondary Cox model in each replicate are wider (about 0.017-0.072,
  0.011-0.067, 0.034-0.132); the published bootstrap procedure is not shown in the repo,
  so these are not asserted. Brier/IPA/td-AUC CIs are checked by bootstrap (last test).
* The repo's Python-variant rows (sksurv/lifelines, marked in the note column) use other
  conventions (censoring distribution from the development data, C-index definitions)
  and are not targets here.

The baseline hazard is the Efron-type estimator (R basehaz/survfit.coxph with Efron ties).
"""

from __future__ import annotations

import numpy as np
import pytest

from spinerisk.evaluation import (
    brier_survival,
    calibration_curve_survival,
    calibration_poisson,
    calibration_slope_survival,
    decision_curve_survival,
    harrell_c,
    oe_survival,
    time_dependent_auc,
    uno_c,
)

from .conftest import COVARIATES, HORIZON


def _ref(table, metric, setting, model="basic", file=None):
    rows = table[(table.metric == metric) & (table.setting == setting) & (table.model == model)]
    if file is not None:
        rows = rows[rows.file == file]
    assert len(rows) == 1, (metric, setting, len(rows))
    return rows.iloc[0]


def _decimals(value) -> int:
    text = f"{value}"
    return len(text.split(".")[1]) if "." in text else 0


def _check(ours, ref_value, raw_text=None):
    """Agree with a printed number to half a unit in its last printed decimal."""
    d = _decimals(raw_text if raw_text is not None else ref_value)
    assert ours == pytest.approx(ref_value, abs=0.5 * 10.0**-d + 1e-12), (ours, ref_value)


@pytest.fixture(scope="module")
def data(rotterdam_gbsg):
    dev, val, fit, ref = rotterdam_gbsg
    out = {}
    for name, d in (("apparent", dev), ("external_gbsg5", val)):
        X = d[COVARIATES].to_numpy()
        out[name] = {
            "t": d.time.to_numpy(), "e": d.event.to_numpy(), "lp": fit.linear_predictor(X),
            "risk5": fit.predict_risk(X, HORIZON), "risk499": fit.predict_risk(X, 4.99),
            "expected": fit.cumulative_hazard(d.time.to_numpy()) * np.exp(fit.linear_predictor(X)),
        }
    return fit, ref, out


def test_cox_refit_reproduces_coefficients_and_baseline(data):
    fit, ref, _ = data
    names = ["coef_csize20-50", "coef_csize>50", "coef_nodes2", "coef_nodes3", "coef_grade3"]
    expected = [_ref(ref, n, "model").estimate for n in names]
    np.testing.assert_allclose(fit.coef, expected, atol=5e-6)
    _check(fit.lr_chi2, _ref(ref, "LR_chi2", "model").estimate, "531.0")
    _check(float(fit.baseline_survival(5.0)), _ref(ref, "S0_5y_uncentred", "model").estimate)


def test_cox_fit_agrees_with_lifelines(rotterdam_gbsg):
    from lifelines import CoxPHFitter

    dev, _, fit, _ = rotterdam_gbsg
    cph = CoxPHFitter().fit(dev[COVARIATES + ["time", "event"]], "time", "event")
    np.testing.assert_allclose(fit.coef, cph.params_[COVARIATES].to_numpy(), atol=1e-6)
    np.testing.assert_allclose(fit.se, cph.standard_errors_[COVARIATES].to_numpy(), rtol=1e-5)


@pytest.mark.parametrize("setting", ["apparent", "external_gbsg5"])
def test_concordance(data, setting):
    _, ref, out = data
    d = out[setting]
    for metric, fn in (("Harrell_C", harrell_c), ("Uno_C", uno_c)):
        r = _ref(ref, metric, setting, file="03_predsurv_extended.md")
        est = fn(d["t"], d["e"], d["lp"])
        _check(est.estimate, r.estimate)
        if not (metric == "Uno_C" and setting == "apparent"):  # documented gap
            _check(est.lower, r.lower95)
            _check(est.upper, r.upper95)


@pytest.mark.parametrize("setting", ["apparent", "external_gbsg5"])
def test_td_auc_brier_ipa(data, setting):
    _, ref, out = data
    d = out[setting]
    _check(time_dependent_auc(d["t"], d["e"], d["lp"], 4.99).estimate,
           _ref(ref, "Uno_tdAUC_t5", setting, file="03_predsurv_extended.md").estimate)
    b = brier_survival(d["t"], d["e"], d["risk499"], 4.99)
    _check(b["brier"].estimate, _ref(ref, "Brier_t5", setting, file="03_predsurv_extended.md").estimate)
    _check(b["ipa"].estimate, _ref(ref, "IPA_scaledBrier_t5", setting).estimate)


def test_external_calibration(data):
    _, ref, out = data
    d = out["external_gbsg5"]
    oe = oe_survival(d["t"], d["e"], d["risk5"], HORIZON)
    np.testing.assert_allclose([oe.estimate, oe.lower, oe.upper], [1.0173902, 0.9058717, 1.1426372], atol=1e-7)
    slope = calibration_slope_survival(d["t"], d["e"], d["lp"])
    np.testing.assert_allclose([slope.estimate, slope.lower, slope.upper], [1.0562040, 0.8158872, 1.2965207],
                               atol=1e-6)
    pois = calibration_poisson(d["e"], d["expected"], d["lp"])
    r = _ref(ref, "calibration_in_the_large_ratio_Poisson_timerange", "external_gbsg5")
    _check(pois["citl_ratio"].estimate, r.estimate)
    _check(pois["citl_ratio"].upper, r.upper95)
    assert pois["citl_ratio"].lower == pytest.approx(r.lower95, abs=1e-3)
    r = _ref(ref, "calibration_slope_Poisson_timerange", "external_gbsg5")
    for ours, theirs in zip((pois["slope"].estimate, pois["slope"].lower, pois["slope"].upper),
                            (r.estimate, r.lower95, r.upper95)):
        _check(ours, theirs)


def test_external_flexible_calibration(data):
    _, ref, out = data
    d = out["external_gbsg5"]
    curve = calibration_curve_survival(d["t"], d["e"], d["risk5"], HORIZON)
    exact = ref[(ref.setting == "external_gbsg5") & (ref.file == "01_predsurv_minimal_RMD.md")]
    for metric, attr in (("ICI_t5", "ici"), ("E50_t5", "e50"), ("E90_t5", "e90"), ("Emax_t5", "emax")):
        r = exact[exact.metric == metric].iloc[0]
        assert getattr(curve, attr) == pytest.approx(r.estimate, abs=2e-4), metric
        rounded = ref[(ref.metric == metric) & (ref.file == "03_predsurv_extended.md")]
        if len(rounded):
            _check(getattr(curve, attr), rounded.iloc[0].estimate)


def test_net_benefit_km(data):
    _, ref, out = data
    for setting, ref_setting in (("apparent", "development_rott5"), ("external_gbsg5", "external_gbsg5")):
        d = out[setting]
        dc = decision_curve_survival(d["t"], d["e"], d["risk5"], HORIZON, [0.23]).to_frame()
        nb = dict(zip(dc.variable, dc.net_benefit))
        _check(nb["all"], _ref(ref, "NB_t5_threshold0.23", ref_setting, model="treat_all").estimate)
        _check(nb["model"], _ref(ref, "NB_t5_threshold0.23", ref_setting).estimate)
    d = out["external_gbsg5"]
    dc = decision_curve_survival(d["t"], d["e"], d["risk5"], HORIZON, [0.23]).to_frame()
    np.testing.assert_allclose(dc.net_benefit[dc.variable != "none"], 0.3615002, atol=1e-7)


@pytest.mark.parametrize("setting", ["apparent", "external_gbsg5"])
def test_bootstrap_intervals_brier_ipa_td_auc(data, setting):
    """Bootstrap percentile CIs (B=200, resampling the evaluation data) against the published
    intervals, within Monte Carlo error.

    Published: riskRegression::Score intervals for Brier, bootstrap for IPA (external IPA from
    02_predsurv.md, B=100: 0.04-0.16; the 03_predsurv_extended upper bound 0.118 is
    inconsistent and not used), timeROC influence-function intervals for the td-AUC. Across
    seeds our bounds move by about 0.002 (Brier), 0.005 (td-AUC) and 0.01 (IPA, external), so
    the tolerances are 0.004, 0.01 and 0.025 (external IPA) / 0.008 (apparent IPA).
    """
    from spinerisk.evaluation import bootstrap_apply

    _, ref, out = data
    d = out[setting]

    def stat(t, e, r, lp):
        b = brier_survival(t, e, r, 4.99)
        return {"brier": b["brier"].estimate, "ipa": b["ipa"].estimate,
                "td_auc": time_dependent_auc(t, e, lp, 4.99).estimate}

    res = bootstrap_apply(stat, d["t"], d["e"], d["risk499"], d["lp"], n_boot=200, seed=11)
    brier = _ref(ref, "Brier_t5", setting, file="03_predsurv_extended.md")
    td = _ref(ref, "Uno_tdAUC_t5", setting, file="03_predsurv_extended.md")
    if setting == "apparent":
        ipa_ci, ipa_tol = tuple(_ref(ref, "IPA_scaledBrier_t5", setting)[["lower95", "upper95"]]), 0.008
    else:
        ipa_ci, ipa_tol = (0.04, 0.16), 0.025
    assert (res["brier"].lower, res["brier"].upper) == pytest.approx((brier.lower95, brier.upper95), abs=0.004)
    assert (res["ipa"].lower, res["ipa"].upper) == pytest.approx(ipa_ci, abs=ipa_tol)
    assert (res["td_auc"].lower, res["td_auc"].upper) == pytest.approx((td.lower95, td.upper95), abs=0.01)
