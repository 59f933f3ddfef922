"""Simulated cohorts through the engine: every row passes, the per-patient and the
vectorised paths agree, and concordance tracks the simulator's latent truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spinerisk.cohort import simulate
from spinerisk.phenotype import (
    CONCORDANCE_LEVELS,
    PHENOTYPE_NAMES,
    assess_patient,
    default_rules,
    pathway_features,
)
from spinerisk.phenotype.summary import concordance_summary
from spinerisk.schema import TASK_NAMES

SEEDS = (7, 20261129)


@pytest.fixture(scope="module", params=SEEDS)
def cohort(request):
    return simulate(n=3000, sites=4, seed=request.param)


@pytest.fixture(scope="module")
def features(cohort) -> pd.DataFrame:
    return pathway_features(cohort.frame)


def test_every_simulated_row_passes_with_contract_dtypes(cohort, features) -> None:
    assert features.index.equals(cohort.frame.index)
    assert list(features.columns) == ([f"phenotype_{n}" for n in PHENOTYPE_NAMES]
                                      + ["red_flag_any", "concordance"])
    for name in features.columns[:-1]:
        assert features[name].dtype == "Int8"
        assert set(features[name].unique()) <= {0, 1}
    assert list(features["concordance"].cat.categories) == list(CONCORDANCE_LEVELS)
    assert features["concordance"].notna().all()


def test_single_patient_and_vectorised_paths_agree(cohort, features) -> None:
    rng = np.random.default_rng(0)
    rows = rng.choice(len(cohort.frame), size=150, replace=False)
    for i in rows:
        record = {k: (None if pd.isna(v) else v) for k, v in cohort.frame.iloc[i].items()}
        result = assess_patient(record)
        expected = tuple(n for n in PHENOTYPE_NAMES if features.iloc[i][f"phenotype_{n}"] == 1)
        assert result.supported_phenotypes == expected
        assert int(result.urgent_triage) == features.iloc[i]["red_flag_any"]
        assert result.concordance.label == features.iloc[i]["concordance"]


def test_paths_agree_when_findings_are_randomly_missing(cohort) -> None:
    """Blank a random third of the fields the rules read, then compare both paths."""
    rng = np.random.default_rng(2)
    frame = cohort.frame.sample(120, random_state=3).reset_index(drop=True).astype(object)
    fields = [f for f in default_rules().fields if f != "procedure"]
    mask = rng.random((len(frame), len(fields))) < 1 / 3
    for j, name in enumerate(fields):
        frame.loc[mask[:, j], name] = None
    features = pathway_features(frame)
    for i in range(len(frame)):
        record = {k: (None if pd.isna(v) else v) for k, v in frame.iloc[i].items()}
        result = assess_patient(record)
        expected = tuple(n for n in PHENOTYPE_NAMES if features.iloc[i][f"phenotype_{n}"] == 1)
        assert result.supported_phenotypes == expected
        assert result.concordance.label == features.iloc[i]["concordance"]
        unassessed = {n.rule_id for n in result.not_assessed}
        for call in result.phenotypes:
            assert (call.status == "not assessed") == (call.rule_id in unassessed)


def test_concordance_tracks_the_latent_truth(cohort, features) -> None:
    """The simulator picks a procedure concordant with a latent phenotype for most
    episodes: the engine must call those concordant far more often than the others,
    and more often than when procedures are shuffled within each task."""
    concordant = (features["concordance"] == "concordant").to_numpy()
    latent = cohort.truth["concordant"].to_numpy(dtype=bool)
    assert concordant[latent].mean() > concordant[~latent].mean() + 0.3
    shuffled = cohort.frame.copy()
    rng = np.random.default_rng(1)
    for task in TASK_NAMES:
        rows = np.flatnonzero(cohort.truth["task"].to_numpy() == task)
        donors = rng.permutation(rows)
        shuffled.loc[rows, "procedure"] = shuffled.loc[donors, "procedure"].to_numpy()
    chance = (pathway_features(shuffled)["concordance"] == "concordant").mean()
    assert concordant.mean() > chance + 0.1


def test_summary_reports_shares_by_task_and_suppresses_small_cells(cohort, features) -> None:
    summary = concordance_summary(cohort.frame, features)
    overall = summary.query("task == 'all'").iloc[0]
    assert overall["n"] == len(cohort.frame)
    assert overall["share_concordant"] == pytest.approx(
        (features["concordance"] == "concordant").mean())
    shares = summary.filter(like="share_").dropna()
    assert np.allclose(shares.sum(axis=1), 1.0)
    assert (summary["n"].dropna() >= 10).all()
    per_task = summary.query("procedure == 'all' and task != 'all'").set_index("task")
    assert per_task["n"].sum() == len(cohort.frame)
