"""Performance in subgroups, with small cells suppressed.

A subgroup level with fewer than ``min_count`` events or non-events is suppressed: its
row says so and shows no number at all (not even its size), so no small cell can be
read back from the report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from spinerisk.validation.performance import Outcomes, subgroup_metrics
from spinerisk.validation.task import Subgroup

SUPPRESSED = "suppressed (fewer than {k} events or non-events)"


def subgroup_performance(frame: pd.DataFrame, out: Outcomes, risk: np.ndarray,
                         subgroups: tuple[Subgroup, ...], *, min_count: int = 10) -> list[dict[str, Any]]:
    """One entry per subgroup level: counts and metrics, or a suppression notice.

    Subgroups whose column is absent from the site's table are listed as not available.
    A metric that cannot be computed in a level (e.g. a non-converging slope) is reported
    as null with the reason.
    """
    rows: list[dict[str, Any]] = []
    for group in subgroups:
        label = group.label or group.column
        if group.column not in frame.columns:
            rows.append({"subgroup": label, "level": None, "status": "not available",
                         "note": f"column {group.column!r} is not in the site's table"})
            continue
        assigned = group.assign(frame)
        present = set(assigned.astype(object))
        levels = assigned.to_numpy()
        for level in assigned.cat.categories:
            if level in present:
                rows.append(_level_row(label, str(level), levels == level, out, risk, min_count))
    return rows


def _level_row(label: str, level: str, rows: np.ndarray, out: Outcomes, risk: np.ndarray,
               min_count: int) -> dict[str, Any]:
    part = out.subset(rows)
    counts = part.counts()
    if min(counts["events"], counts["non_events"]) < min_count:
        return {"subgroup": label, "level": level, "status": "suppressed",
                "note": SUPPRESSED.format(k=min_count)}
    entry: dict[str, Any] = {"subgroup": label, "level": level, "status": "reported", **counts}
    try:
        entry["metrics"] = {k: v.to_dict() for k, v in subgroup_metrics(part, risk[rows]).items()}
    except (ValueError, np.linalg.LinAlgError) as err:
        entry["metrics"] = {}
        entry["note"] = f"metrics not computable in this subgroup: {err}"
    return entry
