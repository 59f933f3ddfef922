"""TRIPOD+AI (Collins et al., BMJ 2024) items for an external validation report.

Each item is either filled from the run (with the report section that fills it) or
left for a person to write. Items are named by topic; check numbering against the
published checklist when filing.
"""

from __future__ import annotations

FILLED = [
    ("Data: source of the validation data and the site", "Header; report.json 'site'"),
    ("Participants: eligibility and exclusions, with counts by reason", "Data"),
    ("Outcome: definition and time horizon", "Header (task)"),
    ("Predictors: which, and how they were handled at the site", "Case-mix"),
    ("Sample size: events, non-events and precision reached", "Sample size"),
    ("Missing data: share missing per predictor, site vs development", "Case-mix"),
    ("Analytical methods: performance measures and how their CIs were computed",
     "Performance; Methods notes"),
    ("Analytical methods: model updating and how it was chosen", "Updating"),
    ("Fairness: performance by sex, age band and other subgroups", "Subgroups"),
    ("Model output: predicted risk (at the horizon) and its scale", "Header (task)"),
    ("Results: differences in case-mix between development and validation", "Case-mix"),
    ("Results: model performance with CIs (discrimination, calibration, utility)", "Performance"),
    ("Results: results of model updating", "Updating"),
]

FOR_A_PERSON = [
    "Title and abstract",
    "Background, rationale and objectives (intended use and users at this site)",
    "Data collection period, setting and how patients were recruited",
    "How predictors and outcome were measured at the site; blinding of outcome assessment",
    "Ethics approval and consent",
    "Funding, conflicts of interest, protocol and registration",
    "Data and code availability statement",
    "Patient and public involvement",
    "Interpretation, limitations and implications for practice",
    "Usability of the model in this site's workflow",
]


def tripod_items() -> dict[str, list]:
    """The checklist split into items this report fills and items a person must write."""
    return {"filled": [{"item": item, "where": where} for item, where in FILLED],
            "for_a_person": list(FOR_A_PERSON)}
