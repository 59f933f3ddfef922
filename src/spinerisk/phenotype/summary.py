"""Aggregate view of the care-pathway features over a cohort (no patient-level rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spinerisk.phenotype.engine import CONCORDANCE_LEVELS, pathway_features
from spinerisk.schema import PROCEDURES


def concordance_summary(frame: pd.DataFrame, features: pd.DataFrame | None = None,
                        min_cell: int = 10) -> pd.DataFrame:
    """Share of concordant, discordant and contraindicated procedures by task and procedure.

    Parameters
    ----------
    frame : DataFrame
        Cohort table with a ``procedure`` column.
    features : DataFrame, optional
        Output of :func:`pathway_features` for ``frame`` (computed when omitted).
    min_cell : int
        Groups with fewer episodes are suppressed (counts and shares set to missing).

    Returns
    -------
    DataFrame
        One row per (task, procedure) present, plus one ``all`` row per task and an
        overall ``all``/``all`` row: ``n`` and ``share_<level>`` for each concordance
        level (shares of episodes whose concordance could be computed).
    """
    features = pathway_features(frame) if features is None else features
    table = pd.DataFrame({"task": frame["procedure"].astype(object).map(PROCEDURES),
                          "procedure": frame["procedure"].astype(object),
                          "concordance": features["concordance"]})
    parts = [_shares(table, ["task", "procedure"]),
             _shares(table.assign(procedure="all"), ["task", "procedure"]),
             _shares(table.assign(task="all", procedure="all"), ["task", "procedure"])]
    out = pd.concat(parts, ignore_index=True)
    out = out[out["n"] > 0].reset_index(drop=True)
    small = out["n"] < min_cell
    out.loc[small, ["n", *[f"share_{level}" for level in CONCORDANCE_LEVELS]]] = np.nan
    return out


def _shares(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    counts = pd.crosstab([table[k] for k in keys], table["concordance"], dropna=False)
    counts = counts.reindex(columns=list(CONCORDANCE_LEVELS), fill_value=0)
    n = counts.sum(axis=1)
    shares = counts.div(n, axis=0).add_prefix("share_")
    return pd.concat([n.rename("n").astype(float), shares], axis=1).reset_index()
