"""Golden tests against published R outputs: dcurves (1e-6), kyphosis glm, pmsampsize (exact)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from spinerisk.evaluation import decision_curve, sample_size_binary, sample_size_continuous
from spinerisk.evaluation._glm import fit_glm

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
COLUMNS = ["pos_rate", "test_pos_rate", "tp_rate", "fp_rate", "harm", "net_benefit", "net_intervention_avoided"]


def _compare_dca(ref: pd.DataFrame, ours: pd.DataFrame):
    merged = ref.merge(ours, on=["variable", "threshold"], suffixes=("_r", ""), validate="one_to_one")
    assert len(merged) == len(ref)
    assert (merged["n_r"] == merged["n"]).all()
    for col in COLUMNS:
        if col + "_r" not in merged:
            continue
        r = merged[col + "_r"].astype(float).to_numpy()  # R's NA -> NaN, "-Inf" -> -inf
        o = merged[col].astype(float).to_numpy()
        assert np.array_equal(np.isnan(r), np.isnan(o)), col
        assert np.array_equal(np.isinf(r), np.isinf(o)) and np.array_equal(r[np.isinf(r)], o[np.isinf(o)]), col
        finite = np.isfinite(r)
        np.testing.assert_allclose(o[finite], r[finite], atol=1e-6, rtol=0, err_msg=col)


def test_dcurves_case1_famhistory():
    df = pd.read_csv(GOLDEN / "dcurves" / "df_binary.csv")
    ref = pd.read_csv(GOLDEN / "dcurves" / "r_case1_results.csv")
    dc = decision_curve(df.cancer.astype(float), df.famhistory, ref.threshold.unique(), label="famhistory")
    _compare_dca(ref.drop(columns="label"), dc.to_frame())


def test_dcurves_age_as_probability():
    """cancer ~ age with dcurves' as_probability: a logistic regression of the outcome on age."""
    df = pd.read_csv(GOLDEN / "dcurves" / "df_binary.csv")
    ref = pd.read_csv(GOLDEN / "dcurves" / "r_simple_binary_dca_result_df.csv")
    y = df.cancer.astype(float).to_numpy()
    fit = fit_glm(np.column_stack([np.ones(len(df)), df.age]), y)
    risk = expit(fit.coef[0] + fit.coef[1] * df.age.to_numpy())
    dc = decision_curve(y, risk, ref.threshold.unique(), label="age")
    _compare_dca(ref.drop(columns="label"), dc.to_frame())


def test_kyphosis_glm_matches_r():
    df = pd.read_csv(GOLDEN / "kyphosis" / "kyphosis.csv")
    y = (df.Kyphosis == "present").astype(float).to_numpy()
    X = np.column_stack([np.ones(len(df)), df.Age, df.Number, df.Start])
    fit = fit_glm(X, y)
    np.testing.assert_allclose(fit.coef, [-2.03693, 0.01093, 0.41060, -0.20651], atol=5e-6)
    null = fit_glm(X[:, :1], y)
    assert -2 * null.loglik == pytest.approx(83.23, abs=5e-3)  # null deviance on 80 df
    assert -2 * fit.loglik == pytest.approx(61.38, abs=5e-3)  # residual deviance on 77 df
    assert -2 * fit.loglik + 2 * 4 == pytest.approx(69.38, abs=5e-3)  # AIC


def _pmsampsize_cases(kind):
    ref = pd.read_csv(GOLDEN / "pmsampsize" / "reference_values_binary_continuous.csv")
    rows = []
    for _, r in ref[ref.type == kind].iterrows():
        inputs = {k: float(v) for k, v in (x.strip().split("=") for x in r.inputs.split(";"))}
        sizes = [int(x.replace("final", "")) for x in r.expected_sample_sizes_by_criterion.split(";")]
        epp = [float(x) for x in r.expected_EPP_or_SPP_by_criterion.split(";")]
        rows.append(pytest.param(inputs, sizes, epp, id=f"{r.package}-{r.test_id}"))
    return rows


@pytest.mark.parametrize("inputs,sizes,epp", _pmsampsize_cases("b"))
def test_pmsampsize_binary(inputs, sizes, epp):
    # the C-statistic case uses the deterministic large-sample R2 (pmsampsize simulates it)
    performance = ({"cs_r2": inputs["csrsquared"]} if "csrsquared" in inputs
                   else {"c_statistic": inputs["cstatistic"]})
    res = sample_size_binary(parameters=int(inputs["parameters"]), prevalence=inputs["prevalence"], **performance)
    assert [c.sample_size for c in res.criteria] + [res.sample_size] == sizes
    got_epp = [round(c.events / inputs["parameters"], 2) for c in res.criteria]
    assert got_epp + [round(res.events / inputs["parameters"], 2)] == epp
    assert res.driving_criterion in res.explanation


@pytest.mark.parametrize("inputs,sizes,spp", _pmsampsize_cases("c"))
def test_pmsampsize_continuous(inputs, sizes, spp):
    res = sample_size_continuous(r2=inputs["rsquared"], parameters=int(inputs["parameters"]),
                                 intercept=inputs["intercept"], sd=inputs["sd"],
                                 shrinkage=inputs.get("shrinkage", 0.9))
    assert [c.sample_size for c in res.criteria] + [res.sample_size] == sizes
    assert [round(c.sample_size / inputs["parameters"], 2) for c in res.criteria] == spp[:-1]
