"""The chained-equations imputer: valid draws, seeded, complete rows untouched, and (in a
cross-validation fold) fitted on the training rows only, held-out rows imputed without
their outcome."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spinerisk.cohort import simulate
from spinerisk.features import spine_task
from spinerisk.features.imputation import ChainedImputer, nelson_aalen, outcome_columns

PREDICTORS = ["age", "sex", "bmi", "smoking", "employment", "depression_anxiety", "odi",
              "goutallier_grade", "pain_days_fraction_6m", "procedure", "n_affected_levels"]


@pytest.fixture(scope="module")
def cohort(seed):
    task = spine_task("response", PREDICTORS, pathway=False)
    frame = simulate(600, sites=2, seed=seed, tasks=("response",)).frame
    frame = frame[frame["response_50"].notna()].reset_index(drop=True)
    return task, frame


def _imputer(task, seed, **kw):
    return ChainedImputer(task, n_imputations=kw.pop("m", 3), n_iterations=3,
                          random_state=seed, **kw)


def test_draws_are_valid_values_and_observed_values_are_kept(cohort, seed):
    task, frame = cohort
    X = frame[list(task.predictors)]
    assert X.isna().any().sum() >= 5  # the simulator leaves several fields incomplete
    completed = _imputer(task, seed).fit_transform(X, frame["response_50"].to_numpy())
    for c in completed:
        assert not c.isna().any().any()
        for v in task.variables:
            observed = X[v.name].notna()
            assert (c.loc[observed, v.name].astype(object)
                    == X.loc[observed, v.name].astype(object)).all(), v.name
            if v.kind == "category":
                assert set(c[v.name]) <= set(v.levels), v.name
            elif v.kind in ("binary", "integer"):  # codes: only values seen in the data
                assert set(c[v.name]) <= set(X[v.name].dropna()), v.name
            else:
                lo, hi = X[v.name].min(), X[v.name].max()
                assert c[v.name].between(lo, hi).all(), v.name
    # the imputations differ (proper draws), not m copies of one fill
    assert not completed[0].equals(completed[1])


def test_same_seed_same_imputations_other_seed_other(cohort, seed):
    task, frame = cohort
    X, y = frame[list(task.predictors)], frame["response_50"].to_numpy()
    a, b, c = (_imputer(task, s) for s in (seed, seed, seed + 1))
    for left, right in zip(a.fit_transform(X, y), b.fit_transform(X, y)):
        pd.testing.assert_frame_equal(left, right)
    for left, right in zip(a.transform(X.iloc[:50]), b.transform(X.iloc[:50])):
        pd.testing.assert_frame_equal(left, right)
    assert not a.fit_transform(X, y)[0].equals(c.fit_transform(X, y)[0])


def test_complete_rows_are_returned_unchanged(cohort, seed):
    task, frame = cohort
    X = frame[list(task.predictors)]
    imputer = _imputer(task, seed).fit(X, frame["response_50"].to_numpy())
    complete = X[X.notna().all(axis=1)].iloc[:20]
    assert len(complete) >= 5
    for c in imputer.transform(complete):
        pd.testing.assert_frame_equal(c.astype(object), complete.astype(object),
                                      check_dtype=False)


def test_deployment_models_do_not_use_the_outcome(cohort, seed):
    """The development chains use the outcome; the deployment models kept for new rows
    are functions of the predictors only (their design has no outcome column)."""
    task, frame = cohort
    X, y = frame[list(task.predictors)], frame["response_50"].to_numpy()
    with_y = _imputer(task, seed).fit_transform(X, y)
    shuffled = _imputer(task, seed).fit_transform(X, np.random.default_rng(seed).permutation(y))
    assert not with_y[0].equals(shuffled[0])  # the outcome enters the development models
    imputer = _imputer(task, seed).fit(X, y)
    assert all(m["odi"].coef.shape == imputer.models_[0]["odi"].coef.shape
               for m in imputer.models_)
    # deployment design: intercept + the selected predictors' columns, no outcome column
    widths = sum(imputer.columns_[j].width() for j in imputer.inputs_[PREDICTORS.index("odi")])
    assert imputer.models_[0]["odi"].coef.shape == (1 + widths,)


def test_nelson_aalen_matches_lifelines():
    from lifelines import NelsonAalenFitter

    rng = np.random.default_rng(3)
    time = np.round(rng.exponential(10, 200), 1) + 0.1  # ties, all positive
    event = (rng.random(200) < 0.7).astype(float)
    fitter = NelsonAalenFitter(nelson_aalen_smoothing=False).fit(time, event)
    expected = fitter.cumulative_hazard_at_times(time).to_numpy()
    np.testing.assert_allclose(nelson_aalen(time, event), expected, rtol=1e-10)
    task = spine_task("reoperation", ["age"], pathway=False)
    cols = outcome_columns(task, pd.DataFrame({"time": time, "event": event}))
    np.testing.assert_allclose(cols[:, 1], expected, rtol=1e-10)


def test_bad_parameters_and_inputs_are_refused(cohort, seed):
    task, frame = cohort
    X = frame[list(task.predictors)]
    with pytest.raises(ValueError, match="n_imputations=0"):
        ChainedImputer(task, n_imputations=0).fit(X)
    blank = X.assign(odi=np.nan)
    with pytest.raises(ValueError, match="'odi': every development value is missing"):
        _imputer(task, seed).fit(blank)
    with pytest.raises(ValueError, match="outcome columns .* missing"):
        _imputer(task, seed).fit(X, np.full(len(X), np.nan))


def test_a_row_gets_the_same_imputations_alone_or_in_any_batch(cohort, seed):
    """New rows' draws depend on their own values only (keyed by a hash of them), so the
    per-patient path and batch scoring agree exactly."""
    task, frame = cohort
    X = frame[list(task.predictors)]
    imputer = _imputer(task, seed).fit(X, frame["response_50"].to_numpy())
    batch = X.iloc[:40]
    incomplete = np.flatnonzero(batch.isna().any(axis=1).to_numpy())
    assert len(incomplete) >= 3
    together = imputer.transform(batch)
    shuffled = imputer.transform(batch.iloc[::-1])
    for i in incomplete[:3]:
        alone = imputer.transform(batch.iloc[[i]])
        for k in range(imputer.n_imputations):
            pd.testing.assert_frame_equal(alone[k], together[k].iloc[[i]])
            pd.testing.assert_frame_equal(alone[k], shuffled[k].loc[[batch.index[i]]])
