"""Readable summary of a :class:`~spinerisk.phenotype.PathwayResult` for a clinician.

Display only: every label comes from the result object; rich is imported lazily so the
engine stays free of display dependencies.
"""

from __future__ import annotations

from typing import Any

from spinerisk.phenotype.engine import PathwayResult
from spinerisk.phenotype.rules import FRAMEWORK_DOC, REVIEW_CITATION
from spinerisk.vocabulary import phenotype_name, procedure_name

_STATUS_MARK = {"supported": "[bold green]+ supported[/]",
                "not supported": "[dim]- not supported[/]",
                "not assessed": "[yellow]? not assessed[/]"}
_CONCORDANCE_STYLE = {"concordant": "bold green", "discordant": "bold yellow",
                      "contraindicated": "bold red"}
_OPEN_STYLE = "bold yellow"


def render_pathway(result: PathwayResult, console: Any = None) -> None:
    """Print the care-pathway summary with rich (to ``console``, default stdout)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.panel import Panel

    console = console or Console()
    console.print(Panel(escape(result.notice), title="spinerisk care pathway"))
    if result.urgent_triage:
        flags = "; ".join(f"{f.label} [{f.rule_id}]" for f in result.red_flags)
        console.print(Panel(escape(f"URGENT TRIAGE - red flags: {flags}"), style="bold red"))

    console.print("[bold]Phenotypes[/]")
    for call in result.phenotypes:
        cite = escape(f"[{call.rule_id}; review {', '.join(call.sections)}]")
        console.print(f"  {_STATUS_MARK[call.status]} [bold]{phenotype_name(call.name)}[/] "
                      f"{cite}")
        for sign, findings in (("for", call.supporting), ("against", call.against)):
            for f in findings:
                console.print(f"      {sign}: {escape(f'{f.label} [{f.rule_id}]')}",
                              highlight=False)

    _section(console, "Next diagnostic step",
             [f"{s.step} [{s.rule_id}]" for s in result.diagnostic_steps])
    _section(console, "Candidate interventions", [
        f"{procedure_name(c.procedure)} ({c.positioning}, for {phenotype_name(c.phenotype)}): "
        f"{c.note} "
        f"[{c.rule_id}]"
        + (f" CONTRAINDICATED by {', '.join(c.contraindicated_by)}" if c.contraindicated_by
           else "")
        for c in result.candidate_interventions] or ["none"])
    _section(console, "Contraindications", [
        f"{c.label}: {', '.join(procedure_name(p) for p in c.procedures)} [{c.rule_id}]"
        for c in result.contraindications])
    _section(console, "Timing", [f"{n.note} [{n.rule_id}]" for n in result.timing_notes])
    _section(console, "Safety", [f"{n.note} [{n.rule_id}]" for n in result.safety_notes])

    conc = result.concordance
    console.print("[bold]Planned procedure[/]")
    if conc.label is None:
        console.print(f"  {escape(conc.explanation)}")
    else:
        rules = escape(f"[{', '.join(conc.rule_ids)}]") if conc.rule_ids else ""
        style = _CONCORDANCE_STYLE.get(conc.status, _OPEN_STYLE)
        console.print(f"  {escape(procedure_name(conc.procedure))} ({conc.procedure}): "
                      f"[{style}]{escape(conc.status)}[/] {rules} {escape(conc.explanation)}",
                      highlight=False)
    _section(console, "Not assessed (missing findings)", [
        f"{n.label} [{n.rule_id}]: missing {', '.join(n.missing_fields)}"
        for n in result.not_assessed])
    console.print(escape(f"Review sections cited: {REVIEW_CITATION}; see {FRAMEWORK_DOC}."),
                  highlight=False)
    console.print(f"[italic]{escape(result.notice)}[/]")


def _section(console: Any, title: str, lines: list[str]) -> None:
    from rich.markup import escape

    if not lines:
        return
    console.print(f"[bold]{title}[/]")
    for line in lines:
        console.print(f"  - {escape(line)}", highlight=False)
