"""Plain-text rendering of one patient's result (``spinerisk predict`` without ``--json``)."""

from __future__ import annotations

from typing import Any

from spinerisk.explain.wording import label, percent
from spinerisk.vocabulary import procedure_name


def render_text(result: dict[str, Any]) -> str:
    """The result as lines a clinician reads top to bottom: pathway, risk, drivers."""
    pathway = result["pathway"]
    lines = [result["notice"], ""]
    if pathway["red_flags"]:
        lines.append("RED FLAGS: " + "; ".join(f["label"] for f in pathway["red_flags"])
                     + (" -- URGENT TRIAGE" if pathway["urgent_triage"] else ""))
    supported = [p["name"] for p in pathway["phenotypes"] if p["status"] == "supported"]
    lines.append("Phenotypes: " + (", ".join(supported) or "none supported"))
    steps = [s["step"] for s in pathway["diagnostic_steps"]]
    lines.append("Next diagnostic step: " + ("; ".join(steps) or "none"))
    concordance = pathway["concordance"]
    if concordance["procedure"]:
        lines.append(f"Planned procedure {procedure_name(concordance['procedure'])}: "
                     f"{concordance['status']} ({concordance['explanation']})")
    lines.append("Candidate interventions: " + (", ".join(
        procedure_name(c["procedure"]) for c in pathway["candidate_interventions"]) or "none"))
    lines.append("")
    model = result["model"]
    lines.append(f"Predicted {result['outcome']}: {percent(result['risk'])}"
                 f"  [{model['name']} v{model['version']}, {model['learner']}]")
    interval = result["interval"]
    lines.append(f"  {percent(interval['low'])} to {percent(interval['high'])}: "
                 f"{interval['label']}; {interval['method']}" if interval else
                 "  no interval: this model was registered without a bootstrap ensemble")
    if result.get("imputed"):  # a model developed by multiple imputation
        lines.append("  not recorded, so imputed (risk and range averaged over the "
                     "imputations): " + ", ".join(map(label, result["imputed"])))
    ood = result["out_of_distribution"]
    if ood["warning"]:
        lines.append("  OUTSIDE THE TRAINING DATA: " + "; ".join(
            v["reason"] for v in ood["variables"]))
    lines += ["", "Top drivers:"]
    lines += [f"  - {s['sentence']}" for s in result["explanation"]["steps"]]
    lines += ["", result["explanation"]["note"]]
    if pathway["not_assessed"]:
        lines.append("Not assessed (missing findings): " + "; ".join(
            n["label"] for n in pathway["not_assessed"]))
    return "\n".join(lines)
