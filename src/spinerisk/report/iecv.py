"""Summary of an internal-external cross-validation: one row per site, the pooled
random-effects estimates with prediction intervals, and a forest plot."""

from __future__ import annotations

from typing import Any

from spinerisk.evaluation.plots import to_png_bytes
from spinerisk.report.plots import _figure


def site_rows(reports: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-site headline numbers from each site's report dictionary."""
    rows = []
    for site, r in reports.items():
        m = r["performance"]["metrics"]
        c = m.get("harrell_c", m.get("c_statistic"))
        rows.append({"site": site, "n": r["sample_size"]["n"], "events": r["sample_size"]["events"],
                     "c": c, "oe": m["oe_ratio"], "citl": m["calibration_in_the_large"],
                     "slope": m["calibration_slope"],
                     "membership_c": (r["case_mix"] or {}).get("membership_c"),
                     "verdict": r["verdict"]["decision"]
                     + (" (provisional)" if r["verdict"]["provisional"] else ""),
                     "update": r["verdict"]["recommended_update"]})
    return rows


def _e(d: dict[str, Any] | None, digits: int = 2) -> str:
    if d is None:
        return "-"
    if d.get("estimate") is None:  # NA: the reason code, never a number
        return f"NA ({d.get('na_reason') or 'not estimable'})"
    if d.get("ci_lower") is None:
        return f"{d['estimate']:.{digits}f}"
    return f"{d['estimate']:.{digits}f} ({d['ci_lower']:.{digits}f} to {d['ci_upper']:.{digits}f})"


def summary_markdown(title: str, reports: dict[str, dict[str, Any]],
                     pooled: list[dict[str, Any]]) -> str:
    """A markdown summary: per-site table and heterogeneity table."""
    lines = [f"# {title}", "", "## Sites (each validated by a model developed on the others)", "",
             "| site | n | events | C | O/E | calibration-in-the-large | slope | membership C | verdict | recommended update |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in site_rows(reports):
        lines.append(f"| {r['site']} | {r['n']} | {r['events']} | {_e(r['c'])} | {_e(r['oe'])} | "
                     f"{_e(r['citl'])} | {_e(r['slope'])} | {_e(r['membership_c'])} | "
                     f"{r['verdict']} | {r['update']} |")
    lines += ["", "## Heterogeneity across sites (random effects: REML, HKSJ CI, t(k-2) prediction interval)", "",
              "| measure | pooled (95% CI) | 95% prediction interval | tau^2 | I^2 |",
              "|---|---|---|---|---|"]
    for p in pooled:
        lines.append(f"| {p['measure']} | {p['estimate']:.2f} ({p['lower']:.2f} to {p['upper']:.2f}) | "
                     f"{p['pi_lower']:.2f} to {p['pi_upper']:.2f} | {p['tau2']:.3f} | {p['i2']:.0%} |")
    return "\n".join(lines) + "\n"


def forest_plot(reports: dict[str, dict[str, Any]], pooled: list[dict[str, Any]]) -> bytes:
    """C-statistic and calibration slope by site with the pooled estimate and its PI (PNG)."""
    return to_png_bytes(forest_figure(reports, pooled))


def forest_figure(reports: dict[str, dict[str, Any]], pooled: list[dict[str, Any]]):
    """The matplotlib figure of :func:`forest_plot`."""
    rows = site_rows(reports)
    by = {p["measure"]: p for p in pooled}
    fig, _axes = _figure(8.0, 0.45 * len(rows) + 1.8)
    fig.clf()
    # one shared site axis, labelled once on the left, so no label runs into a panel
    axes = fig.subplots(1, 2, sharey=True)
    panels = (("c", "C-statistic", 0.5), ("slope", "calibration slope", 1.0))
    for i, (ax, (key, measure, ref)) in enumerate(zip(axes, panels)):
        for j, r in enumerate(rows):
            e = r[key]
            if e["estimate"] is None or e["ci_lower"] is None:  # NA at this site: no marker, its row says why
                continue
            ax.errorbar(e["estimate"], j, xerr=[[e["estimate"] - e["ci_lower"]],
                                                [e["ci_upper"] - e["estimate"]]],
                        fmt="s", color="black", capsize=2)
        p = by[measure]
        y = len(rows) + 0.5
        ax.plot([p["pi_lower"], p["pi_upper"]], [y, y], color="tab:red", lw=1, label="95% PI")
        ax.errorbar(p["estimate"], y, xerr=[[p["estimate"] - p["lower"]], [p["upper"] - p["estimate"]]],
                    fmt="D", color="tab:red", capsize=3, label="pooled (95% CI)")
        ax.axvline(ref, color="grey", ls="--", lw=0.8)
        ax.set_title(measure)
        if i == 0:
            ax.set_yticks(list(range(len(rows))) + [y], [r["site"] for r in rows] + ["pooled"])
            ax.legend(fontsize=7, loc="lower left")
        else:
            ax.tick_params(labelleft=False)
    fig.tight_layout()
    return fig
