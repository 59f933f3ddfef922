"""The internal-external cross-validation forest plot comes back as PNG bytes."""

from __future__ import annotations

from spinerisk.report.iecv import forest_plot


def _est(value: float) -> dict:
    return {"estimate": value, "ci_lower": value - 0.05, "ci_upper": value + 0.05}


def test_forest_plot_is_a_png():
    reports = {site: {"sample_size": {"n": 500, "events": 80}, "case_mix": None,
                      "performance": {"metrics": {"c_statistic": _est(0.7), "oe_ratio": _est(1.0),
                                                  "calibration_in_the_large": _est(0.0),
                                                  "calibration_slope": _est(slope)}},
                      "verdict": {"decision": "fit", "provisional": False, "recommended_update": "original"}}
               for site, slope in (("A", 0.9), ("B", 1.1))}
    pooled = [{"measure": m, "estimate": v, "lower": v - 0.1, "upper": v + 0.1, "pi_lower": v - 0.2,
               "pi_upper": v + 0.2} for m, v in (("C-statistic", 0.7), ("calibration slope", 1.0))]
    png = forest_plot(reports, pooled)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
