"""Aggregate summaries of a cohort (no patient-level values): rows, event rates, missingness."""

from __future__ import annotations

import pandas as pd

from spinerisk import schema

#: Cells with fewer episodes than this are suppressed in any summary shown or logged.
MIN_CELL = 10


def cohort_summary(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Rows per site and task, event rate per task, and missingness per field.

    Counts below :data:`MIN_CELL` are suppressed (shown as missing).
    """
    task = schema.task_of(frame["procedure"].astype(object))
    counts = pd.crosstab(frame["site_id"], task).reindex(columns=list(schema.TASK_NAMES),
                                                        fill_value=0)
    counts["total"] = counts.sum(axis=1)
    events = []
    for name, spec in schema.TASKS.items():
        outcome = pd.to_numeric(frame.loc[task == name, spec.outcome], errors="coerce")
        known = int(outcome.notna().sum())
        if known < MIN_CELL:
            continue
        events.append({"task": name, "outcome": spec.outcome, "episodes": int((task == name).sum()),
                       "known_outcome": known, "events": int(outcome.sum()),
                       "event_rate": float(outcome.mean())})
    missing = missingness(frame, task)
    return {"sites": counts.mask(counts < MIN_CELL), "events": pd.DataFrame(events),
            "missing": missing}


def missingness(frame: pd.DataFrame, task: pd.Series) -> pd.DataFrame:
    """Share of missing values per field among the episodes whose population records it
    (structural gaps, such as cement volume outside augmentation, are not counted)."""
    rows = []
    for name in frame.columns.intersection(list(schema.FIELD_BY_NAME)):
        recorded = task.isin(schema.FIELD_BY_NAME[name].tasks)
        if recorded.sum() >= MIN_CELL:
            rows.append({"field": name, "recorded": int(recorded.sum()),
                         "missing_share": float(frame.loc[recorded, name].isna().mean())})
    table = pd.DataFrame(rows, columns=["field", "recorded", "missing_share"])
    table = table[table.missing_share > 0].sort_values("missing_share", ascending=False)
    return table.set_index("field")


def summarise(frame: pd.DataFrame, title: str = "Cohort") -> None:
    """Print the cohort summary as rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    parts = cohort_summary(frame)
    sites = Table(title=f"{title}: episodes per site and task (cells < {MIN_CELL} suppressed)")
    for col in ["site", *parts["sites"].columns]:
        sites.add_column(str(col), justify="right")
    for site, row in parts["sites"].iterrows():
        sites.add_row(str(site), *["<10" if pd.isna(v) else f"{int(v)}" for v in row])
    console.print(sites)
    events = Table(title="Outcome per task")
    for col in ("task", "outcome", "episodes", "known outcome", "events", "event rate"):
        events.add_column(col, justify="right")
    for r in parts["events"].itertuples():
        events.add_row(r.task, r.outcome, str(r.episodes), str(r.known_outcome), str(r.events),
                       f"{r.event_rate:.1%}")
    console.print(events)
    missing = Table(title="Missing values (share of the episodes whose population records the "
                    "field)")
    missing.add_column("field")
    missing.add_column("missing", justify="right")
    for name, row in parts["missing"].head(15).iterrows():
        missing.add_row(str(name), f"{row.missing_share:.1%}")
    console.print(missing)
