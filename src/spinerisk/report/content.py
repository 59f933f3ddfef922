"""The report's content as sections of text, tables and figure names (format-neutral).

HTML and PDF render the same :class:`Section` list, so both say exactly the same thing.
Built from ``report.json`` alone (aggregates only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spinerisk.vocabulary import level_name


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)


NAMES = {
    "c_statistic": "C-statistic (AUC)", "harrell_c": "Harrell's C", "uno_c": "Uno's C",
    "td_auc": "time-dependent AUC at the horizon", "oe_ratio": "O/E ratio",
    "calibration_in_the_large": "calibration-in-the-large", "calibration_intercept":
    "calibration intercept", "calibration_slope": "calibration slope", "brier": "Brier score",
    "ipa": "IPA (scaled Brier)",
}


def num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:.{digits}f}"


def est(e: dict[str, Any], digits: int = 3) -> str:
    """``estimate (lower to upper)``; the estimate alone when there is no interval; NA with
    its reason (spinerisk.evaluation.NA_REASONS) when the data cannot support a value."""
    from spinerisk.evaluation.results import na_reason_text

    if e.get("estimate") is None and e.get("na_reason"):
        return f"NA ({na_reason_text(e['na_reason'])})"
    if e.get("ci_lower") is None:
        why = f" (no interval: {na_reason_text(e['na_reason'])})" if e.get("na_reason") else ""
        return num(e["estimate"], digits) + why
    return f"{num(e['estimate'], digits)} ({num(e['ci_lower'], digits)} to {num(e['ci_upper'], digits)})"


def build_sections(r: dict[str, Any]) -> list[Section]:
    """Sections 1-7 of the issue's report, in order, plus a data/methods section."""
    return [_verdict(r), _sample_size(r), _case_mix(r), _performance(r), _subgroups(r),
            _updating(r), _tripod(r), _methods(r)]


def title(r: dict[str, Any]) -> str:
    return f"External validation of {r['model']} at site {r['site']}"


def subtitle(r: dict[str, Any]) -> str:
    t = r["task"]
    outcome = (f"{t['outcome']} by {t['horizon']:g} ({t['time']})" if t["time"]
               else t["outcome"])
    return f"Task {t['name']}: {t['description'] or 'outcome ' + outcome}. Predicted: risk of {outcome}."


def _verdict(r):
    v = r["verdict"]
    decision = v["decision"].upper() + (" (provisional)" if v["provisional"] else "")
    section = Section("1. Verdict", paragraphs=[f"Verdict: {decision}."], bullets=list(v["reasons"]))
    if r.get("model_identity"):
        section.tables.append(_identity_table(r["model_identity"]))
    return section


def _identity_table(m: dict[str, Any]) -> Table:
    """The validated model: registry name and version, training run, data, versions."""
    missing = m.get("missing", {})

    def shown(key: str) -> str:
        return "-" if m.get(key) is None else str(m[key])

    training = m.get("training_versions") or {}
    rows = [["model", f"{m['name']}" + (f" (alias {m['alias']})" if m.get("alias") else "")],
            ["registered version", shown("version")], ["training run id", shown("run_id")],
            ["training data fingerprint (SHA-256)", shown("data_fingerprint")],
            ["trained (UTC)", shown("trained_at")],
            ["trained with", ", ".join(f"{k} {v}" for k, v in training.items()) or "-"],
            ["missing predictor values", shown("missing_data")],
            ["validated with", ", ".join(f"{k} {v}" for k, v in m["validated_with"].items())]]
    notes = sorted(set(missing.values()))
    return Table(["model identity", "value"], rows,
                 "The model this report validated" + (f" (- : {'; '.join(notes)})" if notes else ""))


def _sample_size(r):
    s = r["sample_size"]
    paras = [f"{s['n']} patients analysed: {s['events']} events and {s['non_events']} non-events"
             + (f" ({s['censored_before_horizon']} censored before the horizon)"
                if "censored_before_horizon" in s else "") + ".",
             f"Requirement ({s['method']}): "
             + ("met." if s["meets_requirement"] else "NOT met.")
             + (f" Required n = {s['required_n']}." if "required_n" in s else "")]
    rows = [[NAMES.get(k, k), num(s["target_ci_widths"][k], 2), num(w, 3),
             "yes" if s["targets_met"][k] else "no"] for k, w in s["achieved_ci_widths"].items()]
    data = r["data"]
    excl = [[reason, str(n)] for reason, n in data["excluded"].items()] or [["(none)", "0"]]
    return Section("2. Sample size", paragraphs=paras, tables=[
        Table(["measure", "target 95% CI width", "achieved width", "met"], rows,
              "Precision reached at this site"),
        Table(["excluded because", "rows"], excl,
              f"{data['n_input']} rows in the table, {data['n_analysed']} analysed")])


def _case_mix(r):
    cm = r["case_mix"]
    if cm is None:
        return Section("3. Case-mix", paragraphs=[
            "No development reference was given, so the case-mix comparison is not shown."],
            figures=["linear_predictor"])
    lp = cm["linear_predictor"]
    membership = (f"Membership model C-statistic: {est(cm['membership_c'])} "
                  f"({cm['membership_note']})." if cm["membership_c"] else cm["membership_note"])
    if lp["development"] is None:
        spread = (f"Linear predictor: site mean {num(lp['site_mean'], 2)}, SD "
                  f"{num(lp['site_sd'], 2)}. The model carries no development reference for its "
                  "linear predictor (trained before spinerisk recorded one); retrain it to "
                  "compare the spread of predictions.")
    else:
        spread = (f"Linear predictor ({lp['development']['scale']}): site mean "
                  f"{num(lp['site_mean'], 2)}, SD {num(lp['site_sd'], 2)}; development mean "
                  f"{num(lp['development_mean'], 2)}, SD {num(lp['development_sd'], 2)} (SD ratio "
                  f"{num(lp['sd_ratio'], 2)}). A narrower spread lowers the C-statistic a model "
                  "can reach at this site even when it is correct.")
    paras = [membership, spread]
    if cm.get("model_based_c") is not None:
        paras.append(f"Model-based C (expected here if the model were correct): "
                     f"{num(cm['model_based_c'])}.")
    rows = []
    for v in cm["variables"]:
        label = v["variable"] + (f" = {v['level']}" if v["level"] else "")
        if v["site"] is None:
            dev, site = "-", v.get("note", "-")
        elif v["kind"] == "category":
            dev, site = num(v["development"]), num(v["site"])
        else:
            dev = "-" if v["development"] is None else f"{num(v['development']['mean'], 2)} ({num(v['development']['sd'], 2)})"
            site = "-" if v["site"] is None else f"{num(v['site']['mean'], 2)} ({num(v['site']['sd'], 2)})"
        rows.append([label, dev, site, num(v["smd"], 2), num(v["missing_development"], 2),
                     num(v["missing_site"], 2)])
    tables = [Table(["predictor", "development: mean (SD) or share", "site", "SMD",
                     "missing (dev)", "missing (site)"], rows,
                    "Site vs development; |SMD| > 0.1 is a notable difference")]
    if lp["development"] is not None:
        dev_q, site_q = lp["development"]["quantiles"], lp["site"]["quantiles"]
        tables.append(Table(["quantile", "development", "site"],
                            [[q, num(dev_q.get(q), 2), num(site_q.get(q), 2)]
                             for q in sorted(set(dev_q) | set(site_q), key=float)],
                            "Linear-predictor quantiles (- where fewer than 10 patients lie "
                            "beyond the quantile)"))
    return Section("3. Case-mix", paragraphs=paras, figures=["smd", "linear_predictor"],
                   tables=tables)


def _performance(r):
    m = r["performance"]["metrics"]
    rows = [[NAMES.get(k, k), est(v)] for k, v in m.items()]
    curve = r["performance"].get("calibration_curve")
    paras = []
    if curve:
        paras.append(f"Flexible calibration ({curve['method']}): ICI {num(curve['ici'])}, "
                     f"E50 {num(curve['e50'])}, E90 {num(curve['e90'])}, Emax {num(curve['emax'])}.")
    th = r["task"]["thresholds"]
    paras.append(f"Decision curve over thresholds {th[0]:g} to {th[1]:g} (the clinically "
                 "reasonable range for this task).")
    return Section("4. Performance", paragraphs=paras, figures=["calibration", "decision"],
                   tables=[Table(["measure", "estimate (95% CI)"], rows)])


def _subgroups(r):
    rows, suppressed = [], 0
    for s in r["subgroups"]:
        if s["status"] != "reported":
            suppressed += s["status"] == "suppressed"
            level = level_name(s["subgroup"], s["level"]) if s["level"] else "-"
            rows.append([s["subgroup"], level, s["note"], "", "", ""])
            continue
        m = s.get("metrics", {})
        c = m.get("harrell_c", m.get("c_statistic"))
        rows.append([s["subgroup"], level_name(s["subgroup"], s["level"]),
                     f"{s['events']} / {s['non_events']}",
                     est(c, 2) if c else "-", est(m["oe_ratio"], 2) if m else "-",
                     est(m["calibration_slope"], 2) if m else "-"])
    return Section("5. Subgroups", paragraphs=[
        (f"Cells with fewer than {r['settings']['min_count']} events or non-events are suppressed "
        f"({suppressed} suppressed).")], tables=[
        Table(["subgroup", "level", "events / non-events", "C", "O/E", "slope"], rows)])


def _updating(r):
    u = r["updating"]
    labels = u["labels"]
    tests = [["revision vs " + t["simpler"], num(t["statistic"], 1), str(t["df"]),
              num(t["p_value"], 4), "yes" if t["rejected"] else "no"] for t in u["tests"]]
    cv = [[labels[m], num(v["loglik_per_patient"], 4), num(v.get("c_statistic")),
           num(v.get("calibration_slope")), num(v.get("oe_ratio")), num(v.get("brier"))]
          for m, v in u["cross_validated"].items()]
    paras = [(f"Model family: {u['model_family']}. Chosen by the closed test: "
              f"{u['recommended_label']}."), u["reason"],
             ("If adopted, the updated model can be registered as a site-specific version "
             f"with alias site-{r['site']} (spinerisk validate --register-update).")]
    coefs = u["fits"].get(u["recommended"], {}).get("coefficients", {})
    if coefs and u["recommended"] != "revision":
        paras.append("Update: " + ", ".join(f"{k} {num(v['estimate'])} (SE {num(v['se'])})"
                                           for k, v in coefs.items()) + ".")
    return Section("6. Updating", paragraphs=paras, tables=[
        Table(["closed test (in order)", "LR", "df", "p", "rejected"], tests,
              f"Likelihood-ratio tests at alpha = {u['alpha']}; the first not rejected "
              "chooses the model"),
        Table(["method", "CV log-lik / patient", "C", "slope", "O/E", "Brier"], cv,
              "Each method fitted and evaluated by cross-validation within the site "
              "(information; it does not change the closed test's choice)")])


def _tripod(r):
    t = r["tripod_ai"]
    return Section("7. TRIPOD+AI", tables=[
        Table(["item filled by this report", "where"], [[i["item"], i["where"]] for i in t["filled"]])],
        paragraphs=["Items a person must still write:"], bullets=list(t["for_a_person"]))


def _methods(r):
    s = r["settings"]
    return Section("Methods notes", paragraphs=[
        f"Bootstrap replicates: {s['n_boot']} (seed {s['seed']}); cross-validation: {s['cv']}; "
        f"closed testing at alpha {s['alpha']} (Vergouwe et al. 2017). Verdict rules: "
        + ", ".join(f"{k} = {v}" for k, v in r["verdict"]["rules"].items()) + ".",
        r["disclaimer"]])
