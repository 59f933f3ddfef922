"""Decision curves against R dcurves' own outputs and test expectations (tests/golden/dcurves).

Survival (r_case2_results.csv, every column to 1e-6), case-control with ``prevalence=``,
threshold 0, and the test-positive rule at the threshold itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spinerisk.evaluation import decision_curve, decision_curve_survival

from .test_golden_binary import _compare_dca

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "dcurves"
TESTTHAT = pd.read_csv(GOLDEN / "r_testthat_dca.csv")


def _surv():
    df = pd.read_csv(GOLDEN / "df_surv.csv")
    return df.ttcancer.to_numpy(), df.cancer.astype(float).to_numpy(), df.cancerpredmarker.to_numpy()


def test_survival_case2_all_columns():
    ref = pd.read_csv(GOLDEN / "r_case2_results.csv")
    t, e, risk = _surv()
    dc = decision_curve_survival(t, e, risk, 1.0, ref.threshold.unique(), label="cancerpredmarker")
    _compare_dca(ref.drop(columns="label"), dc.to_frame())


@pytest.mark.parametrize("case", TESTTHAT.case.unique())
def test_r_testthat_expectations(case):
    rows = TESTTHAT[TESTTHAT.case == case]
    first = rows.iloc[0]
    label = first.formula.split("~")[1].strip()
    df = pd.read_csv(GOLDEN / f"{first.data}.csv")
    if first.data == "df_surv":
        dc = decision_curve_survival(df.ttcancer, df.cancer.astype(float), df[label], float(first.time),
                                     [first.threshold], label=label)
    else:
        outcome = first.formula.split("~")[0].strip()
        prevalence = None if np.isnan(first.prevalence) else float(first.prevalence)
        dc = decision_curve(df[outcome].astype(float), df[label], [first.threshold], label=label,
                            prevalence=prevalence)
    frame = dc.to_frame().set_index("variable")
    for _, r in rows.iterrows():
        assert frame.loc[r.variable, "net_benefit"] == pytest.approx(r.net_benefit, abs=r.tolerance)


def test_survival_horizon_beyond_all_follow_up_is_an_error_as_in_r():
    t, e, risk = _surv()
    with pytest.raises(ValueError, match="beyond the last follow-up"):
        decision_curve_survival(t, e, risk, 1000.0, [0.25])


def test_test_positive_group_not_followed_to_horizon_is_na():
    # issue 10 item 2: positives (risk >= 0.5) are followed only to t = 2; at t = 4 their KM
    # risk is undefined, so the row is NA (dcurves: NA), not the t = 2 value carried forward
    time = np.array([1.0, 2.0, 1.5, 5.0, 6.0, 7.0])
    event = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    risk = np.array([0.6, 0.7, 0.2, 0.1, 0.3, 0.2])
    model = decision_curve_survival(time, event, risk, 4.0, [0.1, 0.5]).strategy("model")
    assert np.isfinite(model.net_benefit[0]) and model.na_reason[0] is None
    assert np.isnan(model.net_benefit[1]) and model.na_reason[1] == "horizon_beyond_follow_up"


def test_risk_equal_to_threshold_is_positive_and_zero_never():
    y = np.array([1.0, 0.0, 1.0, 0.0])
    risk = np.array([0.2, 0.2, 0.0, 1.0])
    dc = decision_curve(y, risk, [0.0, 0.2, 1.0]).strategy("model")
    # threshold 0: risks 0.2, 0.2, 1.0 positive (risk 0 is not); threshold 0.2: the same;
    # threshold 1: only the risk of exactly 1
    assert dc.test_pos_rate.tolist() == [0.75, 0.75, 0.25]
    assert dc.tp_rate.tolist() == [0.25, 0.25, 0.0]
    # at threshold 1 the odds are infinite: treat-all is -inf, as in R
    assert decision_curve(y, risk, [1.0]).strategy("all").net_benefit[0] == -np.inf


def test_case_control_prevalence_is_checked():
    with pytest.raises(ValueError, match="prevalence must be a proportion"):
        decision_curve([0, 1, 0, 1], [0.1, 0.4, 0.3, 0.8], [0.2], prevalence=1.5)
