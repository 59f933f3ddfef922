"""Fitted models shared by the explain tests (session scope: each is fitted once)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spinerisk.cohort import simulate
from spinerisk.features import spine_task
from spinerisk.models import RiskModel

FEW_TREES = {"n_estimators": 60, "max_depth": 3, "learning_rate": 0.1}


def survival_target(frame: pd.DataFrame) -> pd.DataFrame:
    """(time, event) of the reoperation task."""
    return pd.DataFrame({"time": frame["reoperation_time_months"].to_numpy(float),
                         "event": frame["reoperation_event"].to_numpy(float)})


def binary_rows(frame: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Rows with an observed binary outcome (the simulator loses ~3% to follow-up),
    without patient ids: plain stratified calibration folds are much cheaper to build than
    grouped ones, and grouping is not what these tests are about."""
    return frame[frame[outcome].notna()].drop(columns=["patient_id"]).reset_index(drop=True)


@pytest.fixture(scope="session")
def residual_cohort(seed):
    """Augmentation cohort with the linear DGP (known, additive true effects)."""
    return simulate(3000, tasks=("residual_pain",), seed=seed % 10_000, dgp="linear")


@pytest.fixture(scope="session")
def residual_frame(residual_cohort):
    return binary_rows(residual_cohort.frame, "residual_pain")


@pytest.fixture(scope="session")
def reoperation_frame(seed):
    frame = simulate(900, tasks=("reoperation",), seed=seed % 10_000 + 1).frame
    return frame.drop(columns=["patient_id"])


@pytest.fixture(scope="session")
def models(residual_frame, reoperation_frame):
    """One fitted RiskModel per learner family (calibration 'none' keeps fits cheap
    where calibration is not what is tested)."""
    task = spine_task("residual_pain")
    y = residual_frame["residual_pain"].to_numpy(int)
    small = residual_frame.iloc[:1200]
    out = {
        "xgboost": RiskModel(task, learner="xgboost", params=FEW_TREES, calibration="platt",
                             random_state=1).fit(residual_frame, y),
        "logistic": RiskModel(task, learner="logistic", calibration="none").fit(
            small, y[:1200]),
    }
    surv = spine_task("reoperation")
    target = survival_target(reoperation_frame)
    out["xgboost_cox"] = RiskModel(surv, learner="xgboost_cox", params=FEW_TREES,
                                   calibration="none").fit(reoperation_frame, target)
    out["cox"] = RiskModel(surv, learner="cox", calibration="none").fit(
        reoperation_frame, target)
    return out


@pytest.fixture(scope="session")
def frames(residual_frame, reoperation_frame):
    """The frame each model family was fitted on."""
    return {"xgboost": residual_frame, "logistic": residual_frame.iloc[:1200],
            "xgboost_cox": reoperation_frame, "cox": reoperation_frame}


@pytest.fixture(scope="session")
def record_of():
    """Turn a frame row into a patient record (see :func:`_record_of`)."""
    return _record_of


def _record_of(frame: pd.DataFrame, i: int, drop: tuple[str, ...] = ()) -> dict:
    """Row ``i`` as a patient record (missing -> absent), without outcomes/identifiers."""
    from spinerisk import schema

    row = frame.iloc[i]
    out = {}
    for name, value in row.items():
        spec = schema.FIELD_BY_NAME.get(name)
        if spec is None or spec.role in ("outcome", "identifier") or name in drop:
            continue
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            continue
        out[name] = value.item() if hasattr(value, "item") else value
    return out
