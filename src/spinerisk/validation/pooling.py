"""Pool site validation reports (``report.json``) by random-effects meta-analysis.

Sites cannot share patient rows, but they can share their report. This module reads what
each report already holds (estimates with CIs, and the decision curve's rates), checks the
reports validate one model on one task, and pools each measure with
:func:`spinerisk.evaluation.pooling.random_effects`: C on the logit scale, O/E on the log
scale, calibration-in-the-large, calibration slope and net benefit as they are.

Net benefit at threshold ``t`` is ``TP/n - FP/n * t / (1 - t)``; for a binary outcome its
SE follows from the multinomial counts of the report's rates (Marsh et al. 2020, Wynants
et al. 2018). The gain over treat-all, ``(TN * w - FN) / n`` with ``w = t / (1 - t)``, is
pooled the same way. Time-to-event reports estimate those rates by Kaplan-Meier and carry
no SE for them, so their net benefit is not pooled (NA, with the reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spinerisk.evaluation.pooling import (
    MetaAnalysis,
    SiteEstimate,
    leave_one_out,
    pool_site_estimates,
    random_effects,
)
from spinerisk.evaluation.results import json_ready

#: pooled measure -> (report metric keys tried in order, analysis scale, label)
MEASURES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "c": (("c_statistic", "harrell_c"), "logit", "C-statistic"),
    "oe": (("oe_ratio",), "log", "O/E ratio"),
    "citl": (("calibration_in_the_large",), "identity", "calibration-in-the-large"),
    "slope": (("calibration_slope",), "identity", "calibration slope"),
}

#: identity fields that name one fitted model exactly (a moving alias does not)
EXACT_IDENTITY = ("fingerprint", "data_fingerprint", "model_fingerprint", "run_id", "version",
                  "model_version", "registered_version")
_IDENTITY_BLOCKS = ("model_identity", "identity", "model_info")


class ReportMismatchError(ValueError):
    """The reports do not validate the same model on the same task."""


@dataclass(frozen=True)
class Exclusion:
    """A site left out of one measure (or of all), and why."""

    site: str
    measure: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PooledMeasure:
    """One measure pooled across sites, with its leave-one-site-out analyses."""

    key: str
    result: MetaAnalysis
    leave_one_out: list[tuple[str, MetaAnalysis]]
    se_method: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, **self.result.to_dict(), "se_method": self.se_method,
                "leave_one_out": [{"left_out": s, "estimate": r.estimate,
                                   "ci_lower": r.ci_lower, "ci_upper": r.ci_upper,
                                   "pi_lower": r.pi_lower, "pi_upper": r.pi_upper,
                                   "tau2": r.tau2, "i2": r.i2}
                                  for s, r in self.leave_one_out]}


@dataclass(frozen=True)
class PooledValidation:
    """Everything the pooled report shows (aggregates only)."""

    task: dict[str, Any]
    model: dict[str, Any]
    sites: list[dict[str, Any]]
    measures: dict[str, PooledMeasure]
    net_benefit: list[dict[str, Any]]
    net_benefit_note: str
    exclusions: list[Exclusion]
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (the content of ``pooled.json``)."""
        return json_ready({
            "kind": "pooled-validation", "task": self.task, "model": self.model,
            "sites": self.sites,
            "measures": {k: m.to_dict() for k, m in self.measures.items()},
            "net_benefit": self.net_benefit, "net_benefit_note": self.net_benefit_note,
            "exclusions": [e.to_dict() for e in self.exclusions],
            "settings": self.settings, "notes": self.notes,
            "disclaimer": ("Decision support for research use. Pooled from site reports: "
                           "aggregates only, no patient-level data.")})


def model_identity(report: dict[str, Any]) -> dict[str, str]:
    """What a report says about the model it validated: ``model`` and any identity block.

    Reads ``report["model"]`` (the URI or name given to ``spinerisk validate``) and the
    fields of a ``model_identity`` / ``identity`` / ``model_info`` block or of ``model``
    itself when that is a dictionary (name, version, run id, fingerprint, ...).
    """
    out: dict[str, str] = {}
    model = report.get("model")
    blocks = [report.get(b) for b in _IDENTITY_BLOCKS]
    if isinstance(model, dict):
        blocks.insert(0, model)
    elif model is not None:
        out["model"] = str(model)
    for block in blocks:
        if isinstance(block, dict):
            for key, value in block.items():
                if value is not None and not isinstance(value, (dict, list)):
                    out.setdefault(key, str(value))
    return out


def check_same_model(reports: Sequence[dict[str, Any]], names: Sequence[str], *,
                     allow_different_models: bool = False) -> tuple[dict[str, Any], list[str]]:
    """Refuse reports of different tasks, and of different models unless allowed.

    Models are compared on the exact identity fields all reports carry (version, run id,
    fingerprint); when none is shared, on the ``model`` name they were validated under.

    Returns
    -------
    (identity, notes) : the shared identity and cautions for the report.
    """
    tasks = {n: (r.get("task") or {}).get("name") for n, r in zip(names, reports)}
    if len(set(tasks.values())) > 1:
        raise ReportMismatchError(
            "the reports validate different tasks: "
            + ", ".join(f"{n}: {t}" for n, t in tasks.items())
            + "; pool reports of one task (different outcomes cannot be pooled).")
    ids = [model_identity(r) for r in reports]
    shared = [k for k in EXACT_IDENTITY if all(k in i for i in ids)]
    keys = shared or ["model"]
    notes: list[str] = []
    differing = {k: sorted({i.get(k, "(absent)") for i in ids}) for k in keys}
    differing = {k: v for k, v in differing.items() if len(v) > 1}
    if differing:
        detail = "; ".join(f"{k}: " + ", ".join(f"{n} = {i.get(k, '(absent)')}"
                                                for n, i in zip(names, ids)) for k in differing)
        if not allow_different_models:
            raise ReportMismatchError(
                f"the reports validate different models ({detail}). Pool reports of one model, "
                "or pass --allow-different-models to pool them anyway (the report then says so).")
        notes.append(f"Reports of different models pooled on request ({detail}): the pooled "
                     "figures describe a mixture of models, not one model.")
    if not shared:
        notes.append("Model identity checked by the name given at validation only ("
                     + ", ".join(sorted({i.get('model', '(absent)') for i in ids}))
                     + "): an alias or a file path can point to another model over time. "
                     "Reports that name the model version, run id or fingerprint are compared "
                     "on those.")
    identity = {k: v for k, v in ids[0].items() if all(i.get(k) == v for i in ids)}
    return identity, notes


def _site_estimates(reports, names, key: str) -> list[SiteEstimate]:
    """Each report's estimate of a measure (None where the report has none)."""
    metric_keys = MEASURES[key][0]
    out = []
    for name, report in zip(names, reports):
        metrics = report.get("performance", {}).get("metrics", {})
        est = next((metrics[k] for k in metric_keys if metrics.get(k)), {})
        out.append(SiteEstimate(name, est.get("estimate"), est.get("ci_lower"),
                                est.get("ci_upper"), est.get("ci_level", 0.95)))
    return out


def _nb_rows(report: dict[str, Any]) -> dict[float, dict[str, Any]]:
    """The model's decision-curve rows by threshold (``variable`` neither all nor none)."""
    rows = (report.get("performance", {}).get("decision_curve") or {}).get("rows", [])
    return {round(r["threshold"], 6): r for r in rows if r["variable"] not in ("all", "none")}


def net_benefit_se(row: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Net benefit of the model, of treat-all, and the gain over treat-all at one
    threshold, each with its SE (multinomial variance of the cells TP, FP, FN, TN of
    ``n`` patients).
    """
    n, t = row["n"], row["threshold"]
    w = t / (1 - t)
    tp, fp = row["tp_rate"], row["fp_rate"]
    fn, tn = row["pos_rate"] - tp, 1 - row["pos_rate"] - fp
    harm = row.get("harm", 0.0)
    nb = tp - w * fp - harm
    var_nb = (tp * (1 - tp) + w ** 2 * fp * (1 - fp) + 2 * w * tp * fp) / n
    gain = w * tn - fn - harm
    # one patient adds w (true negative), -1 (false negative) or 0 to n * (gain + harm)
    var_gain = (w ** 2 * tn + fn - (gain + harm) ** 2) / n
    prevalence = row["pos_rate"]
    treat_all = prevalence - w * (1 - prevalence)
    se_all = (1 + w) * np.sqrt(prevalence * (1 - prevalence) / n)
    return {"net_benefit": (nb, float(np.sqrt(var_nb))), "treat_all": (treat_all, float(se_all)),
            "gain_over_treat_all": (gain, float(np.sqrt(max(var_gain, 0.0))))}


def _pool_net_benefit(reports, names, survival: bool, **options) -> tuple[list[dict], str]:
    if survival:
        return [], ("Net benefit not pooled: time-to-event reports estimate it by Kaplan-Meier "
                    "and carry no standard error for it.")
    per_site = [_nb_rows(r) for r in reports]
    common = sorted(set.intersection(*(set(p) for p in per_site))) if per_site else []
    labels = {"net_benefit": "net benefit", "treat_all": "treat-all net benefit",
              "gain_over_treat_all": "net benefit gain over treat-all"}
    out = []
    for t in common:
        cells = [net_benefit_se(p[t]) for p in per_site]
        entry: dict[str, Any] = {"threshold": t, "not_pooled": {}}
        for key, label in labels.items():
            usable = [i for i, c in enumerate(cells) if c[key][1] > 0]
            without = [names[i] for i in range(len(cells)) if i not in usable]
            if without:  # SE 0: nobody or everybody test-positive at that site
                entry["not_pooled"][key] = (f"no SE at {', '.join(without)} (all patients on "
                                            "one side of the threshold)")
            entry[key] = None if len(usable) < 2 else random_effects(
                [cells[i][key][0] for i in usable], [cells[i][key][1] for i in usable],
                measure=f"{label} at {t:g}", labels=[names[i] for i in usable],
                **options).to_dict()
        out.append(entry)
    note = ("Net benefit pooled at every threshold the reports share; SEs from the multinomial "
            "counts of each site's true/false positives. A site whose patients all fall on one "
            "side of a threshold has no SE there and is left out at that threshold (listed "
            "under not_pooled); fewer than 2 sites left: NA.")
    if not common:
        note = "Net benefit not pooled: the reports share no decision-curve threshold."
    return out, note


def pool_reports(reports: Sequence[dict[str, Any]], *, names: Sequence[str] | None = None,
                 method: str = "REML", ci: str = "hksj", level: float = 0.95,
                 allow_different_models: bool = False) -> PooledValidation:
    """Pool site validation reports.

    Parameters
    ----------
    reports : the ``report.json`` dictionaries of ``spinerisk validate``, one per site.
    names : site labels (default: each report's ``site``); they must be unique.
    method : ``REML`` (default) or ``DL`` for the between-site variance.
    ci : ``hksj`` (default, Hartung-Knapp-Sidik-Jonkman) or ``z``.
    level : confidence and prediction level.
    allow_different_models : pool reports whose model identity differs (said in the notes).

    Returns
    -------
    PooledValidation

    Raises
    ------
    ReportMismatchError
        Different tasks, different models (unless allowed), or one site twice.
    """
    if not reports:
        raise ValueError("no reports to pool; pass at least two report.json files.")
    names = list(names) if names is not None else [str(r.get("site", f"report {i + 1}"))
                                                   for i, r in enumerate(reports)]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ReportMismatchError(f"site(s) {', '.join(twice)} appear in more than one report; "
                                  "pool each site once (one report per site).")
    identity, notes = check_same_model(reports, names,
                                       allow_different_models=allow_different_models)
    options = {"method": method, "ci": ci, "level": level}
    measures, exclusions = {}, []
    for key, (_keys, scale, label) in MEASURES.items():
        result, how, excluded = pool_site_estimates(_site_estimates(reports, names, key),
                                                    scale=scale, measure=label, **options)
        exclusions += [Exclusion(site, label, reason) for site, reason in excluded]
        if result is None:
            continue
        loo = leave_one_out(result) if result.k >= 3 else []
        measures[key] = PooledMeasure(key, result, loo, how)
    task = reports[0].get("task") or {}
    nb, nb_note = _pool_net_benefit(reports, names, bool(task.get("time")), **options)
    sites = [{"site": n, "n": r.get("sample_size", {}).get("n"),
              "events": r.get("sample_size", {}).get("events"),
              "verdict": (r.get("verdict") or {}).get("decision")}
             for n, r in zip(names, reports)]
    return PooledValidation(task=task, model=identity, sites=sites, measures=measures,
                            net_benefit=nb, net_benefit_note=nb_note, exclusions=exclusions,
                            settings={**options, "prediction_interval": "t with k - 2 df, "
                                      "SE of the pooled mean as in the CI (metamisc)"},
                            notes=notes)
