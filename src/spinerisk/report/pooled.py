"""The pooled (multi-site) validation report: sections, forest plots, HTML/PDF/JSON files.

Built from ``pooled.json`` alone (aggregates only), in the site report's style: the same
section objects and the same HTML template and PDF layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from spinerisk.evaluation.plots import to_png_bytes
from spinerisk.report.content import Section, Table, num
from spinerisk.report.plots import _figure

#: measure key -> reference line of its forest plot (perfect calibration / no discrimination)
REFERENCE = {"c": 0.5, "oe": 1.0, "citl": 0.0, "slope": 1.0}


def _interval(lo: Any, hi: Any, digits: int = 3) -> str:
    if lo is None or hi is None:
        return "NA"
    return f"{num(lo, digits)} to {num(hi, digits)}"


def _pooled_row(m: dict[str, Any]) -> list[str]:
    return [m["measure"], str(m["k"]), num(m["estimate"]), _interval(m["ci_lower"], m["ci_upper"]),
            _interval(m["pi_lower"], m["pi_upper"]), num(m["tau2"], 4),
            "NA" if m["i2"] is None else f"{m['i2']:.0%}"]


def _site_ci(m: dict[str, Any], i: int) -> tuple[float, float, float]:
    """Site ``i``'s estimate and CI on the reported scale, from the analysis-scale SE."""
    from scipy.stats import norm

    from spinerisk.evaluation.pooling import SCALES

    back = SCALES[m["scale"]][1]
    z = norm.ppf(0.5 + m["level"] / 2)
    y, s = m["yi"][i], m["sei"][i]
    return float(back(y)), float(back(y - z * s)), float(back(y + z * s))


def middle_threshold(pooled: dict[str, Any]) -> dict[str, Any] | None:
    """The net-benefit entry nearest the middle of the task's threshold range (None when
    there is none or the model's net benefit could not be pooled there)."""
    rows = [r for r in pooled["net_benefit"] if r["net_benefit"] and r["gain_over_treat_all"]]
    if not rows:
        return None
    lo, hi = (pooled["task"].get("thresholds") or [rows[0]["threshold"], rows[-1]["threshold"]])
    return min(rows, key=lambda r: abs(r["threshold"] - (lo + hi) / 2))


def build_pooled_sections(p: dict[str, Any]) -> list[Section]:
    """Summary, sites, each measure's leave-one-out, net benefit, methods."""
    return [_summary(p), _sites(p), _leave_one_out(p), _net_benefit(p), _methods(p)]


def pooled_title(p: dict[str, Any]) -> str:
    model = p["model"].get("model") or p["model"].get("name") or "the model"
    return f"Pooled validation of {model} across {len(p['sites'])} sites"


def pooled_subtitle(p: dict[str, Any]) -> str:
    t = p["task"]
    what = (t.get("description") or t.get("outcome") or "").rstrip(".")
    return (f"Task {t.get('name')}: {what}. Random-effects "
            f"meta-analysis of the sites' reports ({p['settings']['method']}, "
            f"{'Hartung-Knapp-Sidik-Jonkman' if p['settings']['ci'] == 'hksj' else 'Wald'} CI).")


def _summary(p):
    rows = [_pooled_row(m) for m in p["measures"].values()]
    mid = middle_threshold(p)
    if mid is not None:
        rows += [_pooled_row(mid["net_benefit"]), _pooled_row(mid["gain_over_treat_all"])]
    paras = [("The pooled estimate is the average performance across sites; the 95% prediction "
              "interval is the range expected for the true performance at a new site like these.")]
    k = max((m["k"] for m in p["measures"].values()), default=0)
    if 3 <= k <= 5:
        paras.append(f"With {k} sites the prediction interval uses t on {k - 2} degrees of "
                     "freedom and is wide; each further site narrows it.")
    notes = [n for m in p["measures"].values() for n in m["notes"]]
    return Section("1. Summary", paragraphs=paras, figures=[f"forest_{k}" for k in p["measures"]],
                   bullets=list(p["notes"]) + sorted(set(notes)), tables=[Table(
                       ["measure", "sites", "pooled", "95% CI", "95% prediction interval",
                        "tau^2", "I^2"], rows, "Random-effects summary")])


def _sites(p):
    rows = [[s["site"], num(s["n"], 0) if s["n"] is not None else "-",
             num(s["events"], 0) if s["events"] is not None else "-", s["verdict"] or "-"]
            for s in p["sites"]]
    excl = [[e["site"], e["measure"], e["reason"]] for e in p["exclusions"]] or [
        ["(none)", "-", "every site was pooled for every measure"]]
    return Section("2. Sites pooled and excluded", tables=[
        Table(["site", "n", "events", "site verdict"], rows, "Reports pooled"),
        Table(["site", "measure", "why excluded"], excl, "Exclusions")])


def _leave_one_out(p):
    tables = []
    for m in p["measures"].values():
        if not m["leave_one_out"]:
            continue
        rows = [[r["left_out"], num(r["estimate"]), _interval(r["ci_lower"], r["ci_upper"]),
                 _interval(r["pi_lower"], r["pi_upper"])] for r in m["leave_one_out"]]
        tables.append(Table(["site left out", "pooled", "95% CI", "95% PI"], rows, m["measure"]))
    paras = [("Each site left out in turn: a site whose removal moves the pooled value or "
              "narrows the prediction interval much is the source of the heterogeneity.")]
    if not tables:
        paras = ["Leave-one-site-out needs at least 3 sites."]
    return Section("3. Leave one site out", paragraphs=paras, tables=tables)


def _net_benefit(p):
    mid = middle_threshold(p)
    if mid is None:
        return Section("4. Net benefit", paragraphs=[p["net_benefit_note"]])
    rows = [[num(r["threshold"], 2), _nb_cell(r, "net_benefit", "estimate"),
             _nb_cell(r, "net_benefit", "ci"), _nb_cell(r, "net_benefit", "pi"),
             _nb_cell(r, "treat_all", "estimate"), _nb_cell(r, "gain_over_treat_all", "estimate"),
             _nb_cell(r, "gain_over_treat_all", "ci")] for r in p["net_benefit"][::5]]
    by_reason: dict[str, list[str]] = {}
    for r in p["net_benefit"]:
        for key, why in r["not_pooled"].items():
            by_reason.setdefault(f"{key.replace('_', ' ')}: {why}", []).append(f"{r['threshold']:g}")
    missing = [f"{why} at threshold(s) {', '.join(ts)}" for why, ts in by_reason.items()]
    return Section("4. Net benefit", paragraphs=[
        p["net_benefit_note"],
        ("The model is useful at a threshold where its net benefit exceeds both treat-all and "
         "treat-none (0); the table shows every fifth threshold (all are in pooled.json).")],
        bullets=missing,
        figures=["decision", "forest_nb"], tables=[Table(
            ["threshold", "net benefit", "95% CI", "95% PI", "treat all", "gain over treat-all",
             "95% CI"],
            rows, "Pooled net benefit")])


def _nb_cell(r: dict[str, Any], strategy: str, what: str) -> str:
    """One cell of the net-benefit table: estimate, ``ci`` or ``pi``; NA when not pooled."""
    e = r[strategy]
    if e is None:
        return "NA"
    if what == "estimate":
        return num(e["estimate"], 4)
    return _interval(e[f"{what}_lower"], e[f"{what}_upper"], 4)


def _methods(p):
    s = p["settings"]
    return Section("Methods notes", paragraphs=[
        (f"Between-site variance by {s['method']}; CI of the pooled mean by "
        f"{'Hartung-Knapp-Sidik-Jonkman (t, k - 1 df)' if s['ci'] == 'hksj' else 'Wald (z)'}; "
        f"prediction interval: {s['prediction_interval']}. C is pooled on the logit scale, O/E "
        "on the log scale, calibration-in-the-large, slope and net benefit as they are "
        "(Debray et al. 2017). Each site's SE comes from its report's CI on the scale where that "
        "CI is symmetric."),
        "Model identity: " + (", ".join(f"{k} = {v}" for k, v in p["model"].items()) or "none shared")
        + ".", p["disclaimer"]])


def forest_plot(m: dict[str, Any], reference: float | None = None, title: str = "") -> bytes:
    """Sites' estimates with CIs, the pooled estimate (CI) and its prediction interval."""
    k = m["k"]
    fig, ax = _figure(6.0, 0.32 * k + 1.6)
    for i in range(k):
        est, lo, hi = _site_ci(m, i)
        ax.errorbar(est, k - i, xerr=[[est - lo], [hi - est]], fmt="s", color="black",
                    capsize=2, ms=4)
    if m["ci_lower"] is not None:
        e = m["estimate"]
        ax.errorbar(e, 0, xerr=[[e - m["ci_lower"]], [m["ci_upper"] - e]], fmt="D",
                    color="tab:red", capsize=3, label="pooled (95% CI)")
    if m["pi_lower"] is not None:
        ax.plot([m["pi_lower"], m["pi_upper"]], [-0.45, -0.45], color="tab:red", lw=1.2,
                label="95% prediction interval")
    if reference is not None:
        ax.axvline(reference, color="grey", ls="--", lw=0.8)
    ax.set_yticks(list(range(k, 0, -1)) + [0], list(m["labels"]) + ["pooled"])
    ax.set_ylim(-1, k + 1)
    ax.set_title(title or m["measure"], fontsize=10)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return to_png_bytes(fig)


def decision_plot(p: dict[str, Any]) -> bytes:
    """Pooled decision curve: the model's net benefit with CI and PI bands, treat-all and
    treat-none (the y-axis starts just below 0, as dcurves draws it)."""
    rows = p["net_benefit"]
    t = np.array([r["threshold"] for r in rows])

    def col(strategy, key):
        return np.array([np.nan if r[strategy] is None or r[strategy][key] is None
                         else r[strategy][key] for r in rows], float)

    fig, ax = _figure(6.0, 3.6)
    ax.fill_between(t, col("net_benefit", "pi_lower"), col("net_benefit", "pi_upper"),
                    color="tab:red", alpha=0.12, label="model: 95% prediction interval")
    ax.fill_between(t, col("net_benefit", "ci_lower"), col("net_benefit", "ci_upper"),
                    color="tab:red", alpha=0.3, label="model: 95% CI")
    ax.plot(t, col("net_benefit", "estimate"), color="tab:red", label="model (pooled)")
    ax.plot(t, col("treat_all", "estimate"), color="tab:blue", label="treat all (pooled)")
    ax.axhline(0, color="black", lw=0.8, label="treat none")
    top = np.nanmax(np.r_[col("net_benefit", "pi_upper"), col("treat_all", "estimate")])
    ax.set_ylim(-0.05, max(0.05, 1.1 * top))
    ax.set(xlabel="threshold probability", ylabel="net benefit", title="Pooled decision curve")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return to_png_bytes(fig)


def pooled_figures(p: dict[str, Any]) -> dict[str, bytes]:
    """Forest plot per measure, forest plot of net benefit at the middle threshold, and
    the pooled decision curve (PNG bytes by name)."""
    figures = {f"forest_{k}": forest_plot(m, REFERENCE.get(k)) for k, m in p["measures"].items()}
    mid = middle_threshold(p)
    if mid is not None:
        figures["forest_nb"] = forest_plot(mid["net_benefit"], 0.0)
        figures["decision"] = decision_plot(p)
    return figures


def write_pooled_report(pooled: dict[str, Any], out: str | Path) -> dict[str, Path]:
    """Write ``pooled.json``, ``pooled.html``, ``pooled.pdf`` and one ``forest_<measure>.png``
    per measure into ``out``.

    Returns
    -------
    dict of kind -> path
    """
    from spinerisk.report.render import write_document

    figures = pooled_figures(pooled)
    paths = write_document(pooled, out, "pooled", pooled_title(pooled), pooled_subtitle(pooled),
                           build_pooled_sections(pooled), figures)
    for name, png in figures.items():
        paths[name] = Path(out) / f"{name}.png"
        paths[name].write_bytes(png)
    return paths
