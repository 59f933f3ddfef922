"""Displays for evaluation results: ROC, calibration curve (with CI band and a histogram of
predictions), decision curve. Each is drawn from a result object, never from raw data,
and saved as a static PNG (matplotlib) or an interactive HTML page (plotly, with
plotly.js embedded inline so the file works offline). A writable binary buffer (e.g.
``io.BytesIO``) as target receives the PNG bytes instead of a file; figures drawn
elsewhere become PNG bytes with :func:`to_png_bytes`.

Privacy: the prediction histogram hides bins holding 1-9 patients (small-cell rule).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import numpy as np

from spinerisk.evaluation.results import CalibrationCurve, DecisionCurve, RocCurve

__all__ = ["MIN_CELL", "plot_calibration", "plot_decision_curve", "plot_roc", "prediction_histogram",
           "to_png_bytes"]

MIN_CELL = 10


def prediction_histogram(risk, bins: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Counts of predicted risks in equal bins on [0, 1]; bins with 1-9 patients are set to 0."""
    counts, edges = np.histogram(np.asarray(risk, float), bins=bins, range=(0.0, 1.0))
    counts[(counts > 0) & (counts < MIN_CELL)] = 0
    return counts, edges


def _kind(path) -> str:
    if hasattr(path, "write"):  # a binary buffer receives a PNG
        return "png"
    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".html"):
        raise ValueError(f"path must end in .png (static) or .html (interactive); got {str(path)!r}")
    return suffix[1:]


def _save_matplotlib(fig, path):
    import matplotlib.pyplot as plt

    fig.savefig(path, format="png", dpi=150, bbox_inches="tight")
    plt.close(fig)
    return path if hasattr(path, "write") else Path(path)


def to_png_bytes(fig) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed), saved as the plots here are."""
    buffer = io.BytesIO()
    _save_matplotlib(fig, buffer)
    return buffer.getvalue()


def _save_plotly(fig, path) -> Path:
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)
    return Path(path)


def _new_axes(nrows=1, height_ratios=None):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if nrows == 1:
        fig, ax = plt.subplots(figsize=(5.5, 5))
        return fig, [ax]
    fig, axes = plt.subplots(nrows, 1, figsize=(5.5, 6.5), sharex=True,
                             gridspec_kw={"height_ratios": height_ratios})
    return fig, list(axes)


def plot_roc(roc: RocCurve, path: str | Path | BinaryIO, *, label: str = "model") -> Path | BinaryIO:
    """ROC curve with the AUC in the legend; ``path`` ending .png or .html, or a binary buffer (PNG)."""
    kind = _kind(path)
    name = f"{label} (AUC {roc.auc:.3f})"
    if kind == "png":
        fig, (ax,) = _new_axes()
        ax.plot(roc.fpr, roc.tpr, lw=2, label=name)
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="no discrimination")
        ax.set(xlabel="1 - specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1), title="ROC curve")
        ax.legend(loc="lower right")
        return _save_matplotlib(fig, path)
    import plotly.graph_objects as go

    fig = go.Figure([go.Scatter(x=roc.fpr, y=roc.tpr, mode="lines", name=name),
                     go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="no discrimination",
                                line={"dash": "dash", "color": "grey"})])
    fig.update_layout(title="ROC curve", xaxis_title="1 - specificity", yaxis_title="sensitivity",
                      xaxis_range=[0, 1], yaxis_range=[0, 1], width=600, height=550)
    return _save_plotly(fig, path)


def plot_calibration(curve: CalibrationCurve, path: str | Path | BinaryIO, *, risk=None,
                     title: str | None = None) -> Path | BinaryIO:
    """Calibration curve with its CI band, the diagonal, ICI/E90 and (if ``risk``) a histogram.

    ``path`` ends .png or .html, or is a binary buffer (PNG).
    """
    kind = _kind(path)
    level = curve.settings.get("level", 0.95)
    if curve.reason is not None:  # an NA curve: draw the axes and say why there is no curve
        from spinerisk.evaluation.results import na_reason_text

        title = title or f"Calibration ({curve.method}): not estimable, {na_reason_text(curve.reason)}"
    title = title or f"Calibration ({curve.method}); ICI {curve.ici:.3f}, E90 {curve.e90:.3f}"
    hist = prediction_histogram(risk) if risk is not None else None
    top = float(max(np.max(curve.upper, initial=0.0), np.max(curve.predicted, initial=0.0), 0.05))
    lim = min(1.0, top * 1.05)
    if kind == "png":
        fig, axes = _new_axes(2, [4, 1]) if hist is not None else _new_axes()
        ax = axes[0]
        ax.fill_between(curve.predicted, curve.lower, curve.upper, alpha=0.25, label=f"{level:.0%} CI")
        ax.plot(curve.predicted, curve.observed, lw=2, label="flexible calibration")
        ax.plot([0, lim], [0, lim], ls="--", color="grey", lw=1, label="ideal")
        ax.set(ylabel="observed proportion", xlim=(0, lim), ylim=(0, lim), title=title)
        ax.legend(loc="upper left")
        if hist is not None:
            counts, edges = hist
            axes[1].bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="grey")
            axes[1].set(xlabel="predicted risk", ylabel="patients")
        else:
            ax.set_xlabel("predicted risk")
        return _save_matplotlib(fig, path)
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = 2 if hist is not None else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, row_heights=[0.8, 0.2][:rows],
                        vertical_spacing=0.04)
    fig.add_trace(go.Scatter(x=np.r_[curve.predicted, curve.predicted[::-1]],
                             y=np.r_[curve.upper, curve.lower[::-1]], fill="toself", line={"width": 0},
                             name=f"{level:.0%} CI", opacity=0.3), row=1, col=1)
    fig.add_trace(go.Scatter(x=curve.predicted, y=curve.observed, mode="lines", name="flexible calibration"),
                  row=1, col=1)
    fig.add_trace(go.Scatter(x=[0, lim], y=[0, lim], mode="lines", name="ideal",
                             line={"dash": "dash", "color": "grey"}), row=1, col=1)
    if hist is not None:
        counts, edges = hist
        fig.add_trace(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, name="patients (cells < 10 hidden)",
                             marker_color="grey"), row=2, col=1)
    fig.update_layout(title=title, width=650, height=650)
    fig.update_xaxes(range=[0, lim], title_text="predicted risk", row=rows, col=1)
    fig.update_yaxes(range=[0, lim], title_text="observed proportion", row=1, col=1)
    return _save_plotly(fig, path)


def plot_decision_curve(dc: DecisionCurve, path: str | Path | BinaryIO, *,
                        ymin: float = -0.05) -> Path | BinaryIO:
    """Net benefit against threshold for every strategy (model, treat all, none).

    ``path`` ends .png or .html, or is a binary buffer (PNG).
    """
    kind = _kind(path)
    frame = dc.to_frame()
    top = float(np.nanmax(frame.net_benefit.to_numpy(dtype=float)))
    title = "Decision curve" + (f" at horizon {dc.horizon:g}" if dc.horizon is not None else "")
    names = {"all": "treat all", "none": "treat none"}
    if kind == "png":
        fig, (ax,) = _new_axes()
        for var, part in frame.groupby("variable", sort=False):
            ax.plot(part.threshold, part.net_benefit, lw=2, label=names.get(var, var),
                    ls="--" if var in names else "-")
        ax.set(xlabel="threshold probability", ylabel="net benefit", ylim=(ymin, top * 1.05 + 1e-3),
               title=title)
        ax.legend(loc="upper right")
        return _save_matplotlib(fig, path)
    import plotly.graph_objects as go

    fig = go.Figure()
    for var, part in frame.groupby("variable", sort=False):
        fig.add_trace(go.Scatter(x=part.threshold, y=part.net_benefit, mode="lines", name=names.get(var, var),
                                 line={"dash": "dash"} if var in names else {}))
    fig.update_layout(title=title, xaxis_title="threshold probability", yaxis_title="net benefit",
                      yaxis_range=[ymin, top * 1.05 + 1e-3], width=650, height=550)
    return _save_plotly(fig, path)


def write_report_plots(folder, *, risk, outcome=None, time=None, event=None, horizon=None) -> list[Path]:
    """ROC (binary), calibration and decision curves as PNG and HTML files in ``folder``.

    Binary when ``outcome`` is given, otherwise time-to-event (``time``, ``event``,
    ``horizon``; ``risk`` = predicted risk by the horizon).
    """
    from spinerisk.evaluation.binary import roc_curve
    from spinerisk.evaluation.calibration import calibration_curve
    from spinerisk.evaluation.decision import decision_curve, decision_curve_survival
    from spinerisk.evaluation.survival import calibration_curve_survival

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cuts = np.round(np.arange(0.0, 1.0, 0.01), 2)
    if outcome is not None:
        curve = calibration_curve(outcome, risk, method="loess")
        dc = decision_curve(outcome, risk, cuts)
        roc = roc_curve(outcome, risk)
    else:
        curve = calibration_curve_survival(time, event, risk, horizon)
        dc = decision_curve_survival(time, event, risk, horizon, cuts)
        roc = None
    written = []
    for suffix in (".png", ".html"):
        if roc is not None:
            written.append(plot_roc(roc, folder / f"roc{suffix}"))
        written.append(plot_calibration(curve, folder / f"calibration{suffix}", risk=risk))
        written.append(plot_decision_curve(dc, folder / f"decision_curve{suffix}"))
    return written
