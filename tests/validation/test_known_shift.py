"""Recovery of a known site shift (issue 7, 'What it must show')."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spinerisk.evaluation import calibration_slope_survival, calibration_summary
from spinerisk.validation import (
    FIT,
    RECALIBRATE,
    SiteUpdatedModel,
    eligible_rows,
    fit_update,
    spine_task_spec,
    update_data,
    validate_predictions,
)
from spinerisk.validation.updating import risk_to_lp


@pytest.fixture(scope="module")
def shifted_result(shifted_response, seed):
    frame, risk = shifted_response
    return validate_predictions(frame, risk, spine_task_spec("response"), site="NEW",
                                n_boot=100, seed=seed)


def test_shift_is_detected(shifted_result):
    m = shifted_result.performance.metrics
    citl, slope = m["calibration_in_the_large"], m["calibration_slope"]
    assert citl.lower > 0, citl          # baseline risk higher than development
    assert slope.upper < 1, slope        # predictions too extreme (slope 0.7)
    assert slope.lower < 0.7 < slope.upper + 0.1


def test_recalibration_is_recommended(shifted_result):
    assert shifted_result.updating.recommended == "recalibration"
    assert shifted_result.verdict.decision == RECALIBRATE
    tests = {t.simpler: t for t in shifted_result.updating.tests}
    assert tests["original"].rejected and tests["intercept"].rejected


def test_recalibrated_model_is_calibrated_on_fresh_patients(seed, site_factory):
    """Fit the recommended update on one sample of the site, check it on another."""
    spec = spine_task_spec("response")
    # large samples: the fresh slope's sampling SD is about 0.03, so 0.9-1.1 is > 3 SDs
    frame, risk = site_factory(60000, "response", seed + 7, intercept=0.6, slope=0.7)
    keep = eligible_rows(frame, spec).keep
    data = update_data(risk[keep], frame.loc[keep, spec.outcome].astype(float), np.empty((keep.sum(), 0)))
    fit = fit_update(data, "recalibration")
    fresh, fresh_risk = site_factory(60000, "response", seed + 8, intercept=0.6, slope=0.7)
    keep = eligible_rows(fresh, spec).keep
    updated = fit.predict_risk(risk_to_lp(fresh_risk[keep], False))
    slope = calibration_summary(fresh.loc[keep, spec.outcome].astype(float), updated).cal_slope
    assert 0.9 <= slope.estimate <= 1.1, slope


def test_matching_site_is_fit_for_use(matching_response, seed):
    frame, risk = matching_response
    result = validate_predictions(frame, risk, spine_task_spec("response"), site="SAME",
                                  n_boot=100, seed=seed)
    assert result.verdict.decision == FIT, result.verdict.reasons
    assert result.verdict.recommended_update in ("original", "intercept", "recalibration")


def test_time_to_event_shift_is_recovered(seed, site_factory):
    """Reoperation at 24 months: the slope 0.7 is found and recalibration recommended."""
    frame, risk = site_factory(8000, "reoperation", seed + 3, intercept=0.6, slope=0.7)
    result = validate_predictions(frame, risk, spine_task_spec("reoperation"), site="NEW",
                                  n_boot=50, seed=seed)
    slope = result.performance.metrics["calibration_slope"]
    assert slope.upper < 1 and slope.lower < 0.7 < slope.upper + 0.1, slope
    assert result.updating.recommended == "recalibration"
    assert result.verdict.decision == RECALIBRATE
    b = result.updating.fits["recalibration"]
    assert abs(b.coef[1] - 0.7) < 4 * b.se[1]
    riley = result.sample_size["riley"]  # Riley's time-to-event calculator at the site's own risk
    assert riley["kind"] == "external_survival" and result.sample_size["required_n"] == riley["sample_size"]
    assert 0.02 < riley["inputs"]["risk_at_horizon"] < 0.3


def test_site_updated_model_contract(seed, site_factory):
    """The registrable wrapper fits, predicts, and recalibrates like the bare update."""
    spec = spine_task_spec("reoperation")
    frame, risk = site_factory(3000, "reoperation", seed + 5, intercept=0.6, slope=0.7)

    class Base:  # the registered model: its risks travel in a column here
        def predict_risk(self, X):
            return X["_risk"].to_numpy(float)

    frame = frame.assign(_risk=risk)
    keep = eligible_rows(frame, spec).keep
    rows = frame.loc[keep]
    y = pd.DataFrame({"time": rows[spec.time].astype(float), "event": rows[spec.outcome].astype(float)})
    model = SiteUpdatedModel(Base(), spec, "recalibration", "NEW").fit(rows, y)
    updated = model.predict_risk(rows)
    assert updated.shape == (len(rows),) and np.all((updated > 0) & (updated < 1))
    # in-sample, on follow-up censored at the horizon, the Cox slope of the updated risk is
    # close to 1 (the update is a Poisson fit with the Breslow shape, not a Cox fit)
    event_h = (y["event"] == 1) & (y["time"] <= spec.horizon)
    slope = calibration_slope_survival(np.minimum(y["time"], spec.horizon), event_h.astype(float),
                                       risk_to_lp(updated, True))
    assert abs(slope.estimate - 1) < 0.01, slope
