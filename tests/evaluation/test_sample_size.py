"""Riley sample-size calculators: external-validation criteria checked by their defining formulas."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from spinerisk.evaluation import sample_size_external_binary, sample_size_survival
from spinerisk.evaluation.sample_size import lp_distribution


@pytest.mark.parametrize("prev,c", [(0.05, 0.7), (0.2, 0.8), (0.5, 0.9)])
def test_lp_distribution_reproduces_prevalence_and_c(prev, c, seed):
    mu, sigma = lp_distribution(prev, c)
    rng = np.random.default_rng(seed)
    lp = rng.normal(mu, sigma, 400_000)
    p = expit(lp)
    y = rng.uniform(size=p.size) < p
    assert p.mean() == pytest.approx(prev, abs=0.003)
    from spinerisk.evaluation import auc

    assert auc(y, p, ci="none").estimate == pytest.approx(c, abs=0.004)


def test_external_validation_criteria_meet_their_targets():
    res = sample_size_external_binary(prevalence=0.1, c_statistic=0.75, threshold=0.1)
    by = {c.name: c for c in res.criteria}
    n = by["oe"].sample_size
    se = math.sqrt((1 - 0.1) / (n * 0.1))
    z = 1.959963984540054
    def width(se_log):
        return math.exp(z * se_log) - math.exp(-z * se_log)

    assert width(se) <= 0.2 < width(math.sqrt(0.9 / ((n - 1) * 0.1)))
    assert res.sample_size == max(c.sample_size for c in res.criteria)
    assert res.driving_criterion in by and res.driving_criterion in res.explanation
    assert set(by) == {"oe", "calibration_slope", "c_statistic", "net_benefit"}
    assert res.to_dict()["criteria"][0]["name"] == "oe"


def test_calibration_slope_criterion_by_simulation(seed):
    """At the returned n, the empirical SD of the slope across simulated studies matches the target."""
    res = sample_size_external_binary(prevalence=0.3, c_statistic=0.8, slope_width=0.4)
    n = next(c for c in res.criteria if c.name == "calibration_slope").sample_size
    mu, sigma = lp_distribution(0.3, 0.8)
    rng = np.random.default_rng(seed)
    from spinerisk.evaluation._glm import logistic_batch

    lp = rng.normal(mu, sigma, (300, n))
    y = (rng.uniform(size=lp.shape) < expit(lp)).astype(float)
    slopes = [logistic_batch(lp[k], y[k], np.ones((1, n)), fit_slope=True, start=np.array([0.0, 1.0]))[0, 1]
              for k in range(300)]
    target_se = 0.4 / (2 * 1.959963984540054)
    assert np.nanstd(slopes) == pytest.approx(target_se, rel=0.15)


SURV = pd.read_csv(Path(__file__).resolve().parents[1] / "golden" / "pmsampsize" / "reference_values_survival.csv")


@pytest.mark.parametrize("row", [r for _, r in SURV.iterrows()], ids=lambda r: f"pmsampsize-{r.test_id}")
def test_pmsampsize_survival(row):
    res = sample_size_survival(cs_r2=row.rsquared, parameters=int(row.parameters), rate=row.rate,
                               horizon=row.timepoint, mean_followup=row.meanfup)
    sizes = [c.sample_size for c in res.criteria] + [res.sample_size]
    assert sizes == [int(v) for v in row.expected_sample_sizes.split(";")]
    epp = [round(c.events / row.parameters, 2) for c in res.criteria] + [round(res.events / row.parameters, 2)]
    assert epp == [float(v) for v in row.expected_EPP.split(";")]


def test_impossible_inputs_are_explained():
    with pytest.raises(ValueError, match="c_statistic must be"):
        sample_size_external_binary(prevalence=0.1, c_statistic=0.4)
    with pytest.raises(ValueError, match="prevalence must be"):
        sample_size_external_binary(prevalence=1.2, c_statistic=0.7)
