"""Figures of a validation report, drawn from its JSON (aggregates only) as PNG bytes.

Calibration and decision curves are :mod:`spinerisk.evaluation.plots`'s, drawn into a
buffer; the report's own figures are saved with its :func:`to_png_bytes`. matplotlib is
imported inside each function (Agg backend) so the package imports fast.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from spinerisk.evaluation.plots import to_png_bytes


def _figure(width: float = 5.2, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), dpi=110)


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for embedding in HTML (no external files)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _drawn(draw, result) -> bytes:
    """PNG bytes of a :mod:`spinerisk.evaluation.plots` function drawing into a buffer."""
    buffer = io.BytesIO()
    draw(result, buffer)
    return buffer.getvalue()


def _array(values) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in values], float)


def calibration_plot(report: dict[str, Any]) -> bytes:
    """The site's flexible calibration curve, drawn by :func:`spinerisk.evaluation.plots.plot_calibration`
    from the report's (central) curve; no patient-level histogram."""
    from spinerisk.evaluation import CalibrationCurve
    from spinerisk.evaluation.plots import plot_calibration

    data = report["performance"]["calibration_curve"]
    curve = CalibrationCurve(data["method"], *(_array(data["curve"][k]) for k in
                                               ("predicted", "observed", "lower", "upper")),
                             ici=data["ici"], e50=data["e50"], e90=data["e90"],
                             emax=data["emax"], settings=data["settings"])
    return _drawn(plot_calibration, curve)


def decision_plot(report: dict[str, Any]) -> bytes:
    """The decision curve, drawn by :func:`spinerisk.evaluation.plots.plot_decision_curve`."""
    import pandas as pd

    from spinerisk.evaluation import DecisionCurve
    from spinerisk.evaluation.plots import plot_decision_curve

    data = report["performance"]["decision_curve"]
    frame = pd.DataFrame(data["rows"])
    curve = DecisionCurve(**{c: frame[c].to_numpy() for c in DecisionCurve._COLUMNS},
                          horizon=data["horizon"])
    return _drawn(plot_decision_curve, curve)


def _density(hist: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left edges, widths, densities) of a histogram whose suppressed bins are drawn as 0."""
    edges = np.asarray(hist["edges"], float)
    counts = np.asarray([0 if c is None else c for c in hist["counts"]], float)
    width = np.diff(edges)
    return edges[:-1], width, counts / max(counts.sum() * width.mean(), 1e-12)


def lp_plot(report: dict[str, Any]) -> bytes:
    """Site's and development's linear-predictor histograms (small bins suppressed)."""
    fig, ax = _figure()
    left, width, density = _density(report["linear_predictor_histogram"])
    ax.bar(left, density, width=width, align="edge", color="tab:orange", alpha=0.6,
           label="site (bins < min count hidden)")
    cm = report.get("case_mix")
    dev = None if cm is None else cm["linear_predictor"].get("development")
    if dev is not None:
        left, width, density = _density(dev["histogram"])
        ax.step(np.r_[left, left[-1] + width[-1]], np.r_[density, density[-1]], where="post",
                color="tab:blue", label="development (bins < 10 hidden)")
    ax.set(xlabel="linear predictor", ylabel="density", title="Linear-predictor spread")
    ax.legend(fontsize=8)
    return to_png_bytes(fig)


def smd_plot(report: dict[str, Any], top: int = 25) -> bytes:
    """Largest absolute standardised mean differences, site vs development."""
    rows = [r for r in report["case_mix"]["variables"] if r["smd"] is not None]
    rows = sorted(rows, key=lambda r: abs(r["smd"]), reverse=True)[:top][::-1]
    labels = [r["variable"] + (f" = {r['level']}" if r["level"] else "") for r in rows]
    fig, ax = _figure(5.2, 0.22 * len(rows) + 1.2)
    ax.scatter([r["smd"] for r in rows], range(len(rows)), color="tab:purple", s=14)
    for x in (-0.1, 0.1):
        ax.axvline(x, color="grey", lw=0.8, ls="--")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.set(xlabel="standardised mean difference (site - development)", title="Case-mix")
    return to_png_bytes(fig)


def report_figures(report: dict[str, Any]) -> dict[str, bytes]:
    """All figures a report shows, keyed by name (PNG bytes)."""
    figures = {"calibration": calibration_plot(report), "decision": decision_plot(report),
               "linear_predictor": lp_plot(report)}
    if report.get("case_mix") is not None:
        figures["smd"] = smd_plot(report)
    return figures
