"""A model developed on multiply imputed data scores a new patient over the imputations;
the per-patient range adds the imputation variance (zero when nothing is missing)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit

from spinerisk.cohort import simulate
from spinerisk.features import spine_task
from spinerisk.models import ImputedRiskModel

PREDICTORS = ["age", "sex", "bmd_t_score", "sarcopenia", "goutallier_grade", "smoking",
              "n_fractures", "tlf_injury", "intravertebral_cleft", "depression_anxiety"]
#: the most influential findings of the residual-pain generator that may be missing
DROPPED = ["bmd_t_score", "sarcopenia", "goutallier_grade", "depression_anxiety"]


@pytest.fixture(scope="module")
def fitted(seed):
    task = spine_task("residual_pain", PREDICTORS, pathway=False)
    frame = simulate(900, sites=1, seed=seed, dgp="linear", tasks=("residual_pain",)).frame
    frame = frame[frame["residual_pain"].notna()].reset_index(drop=True)
    model = ImputedRiskModel(task, n_imputations=5, n_iterations=3, bootstrap_members=5,
                             random_state=seed).fit(frame, frame["residual_pain"])
    return task, frame, model


def _complete_patient(task, frame) -> dict:
    row = frame[list(task.predictors)].dropna().iloc[0]
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


def test_missing_findings_widen_the_interval_and_are_named(fitted):
    """With findings missing, the logit-scale variance is that of the same patient
    completed by each of its imputations, on average, plus (1 + 1/m) times the variance
    between those imputations: never smaller, and exactly so. (Against the patient's true
    values it is usually but not always wider: the bootstrap variance itself depends on
    the values, e.g. an extreme BMD has more leverage.)"""
    task, frame, model = fitted
    complete = _complete_patient(task, frame)
    full = model.assess_record(complete)
    assert full["imputed"] == []
    assert full["interval"]["variance_logit"]["between_patient"] == 0.0
    partial_record = {**complete, **{k: None for k in DROPPED}}
    partial = model.assess_record(partial_record)
    assert partial["imputed"] == DROPPED
    v = partial["interval"]["variance_logit"]
    assert v["between_patient"] > 0
    versions = [model.assess_record(model.complete_record(partial_record, imputation=k))
                for k in range(model.n_imputations)]
    assert all(r["imputed"] == [] for r in versions)
    average = np.mean([r["interval"]["variance_logit"]["total"] for r in versions])
    m = model.n_imputations
    assert v["total"] == pytest.approx(average + (1 + 1 / m) * v["between_patient"], rel=1e-9)
    widths = [logit(r["interval"]["high"]) - logit(r["interval"]["low"]) for r in versions]
    assert logit(partial["interval"]["high"]) - logit(partial["interval"]["low"]) > max(
        np.mean(widths), 0)
    for r in (full, partial):
        assert r["interval"]["low"] < r["risk"] < r["interval"]["high"]


def test_pooled_risk_of_a_frame_equals_the_record_path(fitted):
    task, frame, model = fitted
    rows = frame.iloc[:30]
    risk = model.predict_risk(rows)
    assert ((risk > 0) & (risk < 1)).all()
    for i in (0, 7):
        record = {k: (None if pd.isna(v) else v) for k, v in
                  rows.iloc[i][list(task.predictors)].items()}
        assert model.assess_record(record)["risk"] == pytest.approx(risk[i], rel=1e-9)
    low, high = model.predict_interval(rows)
    assert (low < risk).all() and (risk < high).all()


def test_complete_rows_are_scored_the_same_by_every_imputation(fitted):
    task, frame, model = fitted
    complete = frame[frame[list(task.predictors)].notna().all(axis=1)].iloc[:10]
    L = model.logit_matrix(complete)
    assert np.array_equal(L[:, 0, :], L[:, -1, :])
    v = model.variance_components(complete)
    assert (v["between_patient"] == 0).all() and (v["within"] > 0).all()


def test_no_ensemble_no_interval_and_a_task_is_required(fitted, seed):
    task, frame, _ = fitted
    bare = ImputedRiskModel(task, n_imputations=2, n_iterations=1, random_state=seed)
    bare.fit(frame.iloc[:400], frame["residual_pain"].iloc[:400])
    assert bare.assess_record(_complete_patient(task, frame))["interval"] is None
    with pytest.raises(ValueError, match="bootstrap_members"):
        bare.predict_interval(frame.iloc[:3])
    with pytest.raises(TypeError, match="needs a task and a DataFrame"):
        ImputedRiskModel().fit(np.zeros((5, 2)), np.zeros(5))
