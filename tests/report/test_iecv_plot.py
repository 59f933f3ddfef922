"""The internal-external cross-validation forest plot comes back as PNG bytes."""

from __future__ import annotations

from spinerisk.report.iecv import forest_figure, forest_plot


def _est(value: float) -> dict:
    return {"estimate": value, "ci_lower": value - 0.05, "ci_upper": value + 0.05}


def _inputs(sites=(("A", 0.9), ("B", 1.1))):
    reports = {site: {"sample_size": {"n": 500, "events": 80}, "case_mix": None,
                      "performance": {"metrics": {"c_statistic": _est(0.7), "oe_ratio": _est(1.0),
                                                  "calibration_in_the_large": _est(0.0),
                                                  "calibration_slope": _est(slope)}},
                      "verdict": {"decision": "fit", "provisional": False, "recommended_update": "original"}}
               for site, slope in sites}
    pooled = [{"measure": m, "estimate": v, "lower": v - 0.1, "upper": v + 0.1, "pi_lower": v - 0.2,
               "pi_upper": v + 0.2} for m, v in (("C-statistic", 0.7), ("calibration slope", 1.0))]
    return reports, pooled


def test_forest_plot_is_a_png():
    png = forest_plot(*_inputs())
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_site_labels_do_not_run_into_a_panel():
    """Long site names sit left of the first panel; the second panel shows none."""
    import matplotlib.pyplot as plt

    fig = forest_figure(*_inputs((("hungarian", 0.9), ("switzerland", 1.1), ("cleveland", 1.0))))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    left, right = fig.axes
    labels = [t for t in left.get_yticklabels() if t.get_text()]
    assert [t.get_text() for t in labels][-1] == "pooled"
    assert all(t.get_window_extent(renderer).x1 <= left.get_window_extent(renderer).x0
               for t in labels)
    assert not [t for t in right.get_yticklabels() if t.get_text() and t.get_visible()]
    assert left.get_window_extent(renderer).x1 <= right.get_window_extent(renderer).x0
    plt.close(fig)
