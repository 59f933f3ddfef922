"""Riley sample-size calculators: external-validation criteria checked by their defining formulas."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from spinerisk.evaluation import (
    sample_size_external_binary,
    sample_size_external_survival,
    sample_size_survival,
)
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


# ------------------------------------------------ external validation, time-to-event
Z95 = 1.959963984540054


def _simulate_survival(n, reps, *, sigma, base, cens, horizon, rng):
    """Independent simulator: LP ~ N(0, sigma^2), exponential PH times, exponential censoring."""
    lp = rng.normal(0.0, sigma, (reps, n))
    t = rng.exponential(1.0 / (base * np.exp(lp)))
    c = rng.exponential(1.0 / cens, (reps, n)) if cens > 0 else np.full((reps, n), np.inf)
    end = np.minimum(np.minimum(t, c), horizon)
    return end, (t <= np.minimum(c, horizon)).astype(float), lp


def test_survival_without_censoring_reduces_to_binary_oe():
    """No censoring: 1 - KM is a proportion, so the O/E size equals the binary one."""
    surv = sample_size_external_survival(risk_at_horizon=0.2, c_statistic=0.75, horizon=12.0)
    binary = sample_size_external_binary(prevalence=0.2, c_statistic=0.75)
    size = {r.kind: {c.name: c.sample_size for c in r.criteria} for r in (surv, binary)}
    assert size["external_survival"]["oe"] == size["external_binary"]["oe"]
    assert surv.sample_size == max(c.sample_size for c in surv.criteria)
    assert surv.driving_criterion in surv.explanation and surv.events == pytest.approx(0.2 * surv.sample_size)


def test_survival_population_matches_its_inputs(seed):
    """The assumed population reproduces the risk by the horizon, the censored share and C."""
    from spinerisk.evaluation import harrell_c
    from spinerisk.evaluation._km import km_at

    res = sample_size_external_survival(risk_at_horizon=0.3, c_statistic=0.72, horizon=5.0,
                                        censored_before_horizon=0.25)
    d = {c.name: c.details for c in res.criteria}
    time, event, lp = _simulate_survival(60_000, 1, sigma=d["calibration_slope"]["lp_sd"],
                                         base=d["oe"]["baseline_hazard"], cens=d["oe"]["censoring_hazard"],
                                         horizon=5.0, rng=np.random.default_rng(seed))
    time, event, lp = time[0], event[0], lp[0]
    assert 1 - km_at(time, event, 5.0) == pytest.approx(0.3, abs=0.01)
    assert np.mean((event == 0) & (time < 5.0)) == pytest.approx(0.25, abs=0.01)
    assert harrell_c(time, event, lp, ci=False).estimate == pytest.approx(0.72, abs=0.01)


def test_survival_criteria_by_simulation(seed):
    """At each returned n the empirical SD of ln(O), the Cox slope and Harrell's C hits its target SE."""
    from spinerisk.evaluation import calibration_slope_survival, harrell_c
    from spinerisk.evaluation._km import km_at

    widths = {"oe": 0.5, "calibration_slope": 0.4, "c_statistic": 0.16}
    res = sample_size_external_survival(risk_at_horizon=0.35, c_statistic=0.75, horizon=2.0,
                                        censored_before_horizon=0.2, oe_width=widths["oe"],
                                        slope_width=widths["calibration_slope"], c_width=widths["c_statistic"])
    by = {c.name: c for c in res.criteria}
    d = by["oe"].details
    rng = np.random.default_rng(seed)

    def studies(name, reps=250):
        return zip(*_simulate_survival(by[name].sample_size, reps, sigma=by["calibration_slope"].details["lp_sd"],
                                       base=d["baseline_hazard"], cens=d["censoring_hazard"], horizon=2.0, rng=rng))

    log_o = [math.log(1 - km_at(t, e, 2.0)) for t, e, _ in studies("oe")]
    se_oe = math.log((0.5 + math.sqrt(0.5**2 + 4)) / 2) / Z95  # O/E CI exp(+-z se) of width 0.5
    assert np.std(log_o) == pytest.approx(se_oe, rel=0.15)
    slopes = [calibration_slope_survival(t, e, lp).estimate for t, e, lp in studies("calibration_slope")]
    assert np.std(slopes) == pytest.approx(0.4 / (2 * Z95), rel=0.15)
    cs = [harrell_c(t, e, lp, ci=False).estimate for t, e, lp in studies("c_statistic")]
    assert np.std(cs) == pytest.approx(0.16 / (2 * Z95), rel=0.15)


def test_survival_net_benefit_and_errors():
    res = sample_size_external_survival(risk_at_horizon=0.06, c_statistic=0.7, horizon=24.0,
                                        censored_before_horizon=0.1, threshold=0.1)
    nb = next(c for c in res.criteria if c.name == "net_benefit")
    assert nb.details["censoring_inflation"] > 1 and 0 < nb.details["sensitivity"] < 1
    with pytest.raises(ValueError, match="censored_before_horizon must be"):
        sample_size_external_survival(risk_at_horizon=0.5, c_statistic=0.7, horizon=1.0,
                                      censored_before_horizon=1.0)
    with pytest.raises(ValueError, match="c_statistic must be"):
        sample_size_external_survival(risk_at_horizon=0.1, c_statistic=0.45, horizon=1.0)


def test_survival_criterion2_is_unrounded_as_pmsampsize_1_1_3():
    # issue 10 item 1: pmsampsize 1.0.2 rounded max R2 / shrinkage and gave 875; 1.1.3 gives 866
    res = sample_size_survival(cs_r2=0.051, parameters=25, rate=0.065, horizon=2, mean_followup=2.07)
    assert [c.sample_size for c in res.criteria][1] == 866
