"""Sample-size section: Riley's calculator for the task's outcome type, plus the precision reached."""

from __future__ import annotations

import pytest

from spinerisk.evaluation import Estimate, sample_size_external_survival
from spinerisk.validation.precision import precision_report


def _metrics(c_key: str, c: float) -> dict[str, Estimate]:
    return {"oe_ratio": Estimate(1.05, 0.9, 1.2, 0.95, "x"),
            "calibration_slope": Estimate(0.92, 0.83, 1.01, 0.95, "x"),
            c_key: Estimate(c, c - 0.03, c + 0.03, 0.95, "x")}


def test_survival_task_uses_the_time_to_event_calculator():
    counts = {"n": 900, "events": 60, "non_events": 750, "censored_before_horizon": 90}
    out = precision_report(counts, _metrics("harrell_c", 0.71), survival=True, observed_risk=0.075, horizon=24.0)
    direct = sample_size_external_survival(risk_at_horizon=0.075, c_statistic=0.71, horizon=24.0,
                                           censored_before_horizon=0.1)
    assert out["required_n"] == direct.sample_size and out["riley"]["kind"] == "external_survival"
    assert out["meets_requirement"] == (900 >= direct.sample_size)
    assert "Riley et al. 2022" in out["method"]
    # the precision actually reached is still reported against the same targets
    assert out["achieved_ci_widths"] == pytest.approx({"oe_ratio": 0.3, "calibration_slope": 0.18,
                                                       "c_statistic": 0.06})
    assert out["targets_met"] == {"oe_ratio": False, "calibration_slope": True, "c_statistic": True}


def test_survival_task_needs_the_observed_risk():
    counts = {"n": 900, "events": 60, "non_events": 750, "censored_before_horizon": 90}
    with pytest.raises(ValueError, match="observed_risk"):
        precision_report(counts, _metrics("harrell_c", 0.71), survival=True, horizon=24.0)


def test_binary_task_is_unchanged():
    out = precision_report({"n": 500, "events": 100, "non_events": 400}, _metrics("c_statistic", 0.75),
                           survival=False)
    assert out["riley"]["kind"] == "external_binary" and "Riley et al. 2021" in out["method"]
