"""Internal-external cross-validation on the real heart-disease sites, and the
random-effects heterogeneity summary against statsmodels."""

from __future__ import annotations

import re

import numpy as np
import pytest
from statsmodels.stats.meta_analysis import combine_effects

from spinerisk.evaluation.pooling import random_effects
from spinerisk.validation import FIT, load_task_spec
from spinerisk.validation.iecv import internal_external
from spinerisk.validation.task import read_generic_table


@pytest.fixture(scope="module")
def iecv(seed):
    spec = load_task_spec("configs/tasks/heart_disease.yaml")
    frame = read_generic_table("tests/golden/heart_disease/heart_disease_4sites.csv", spec)
    return internal_external(frame, spec, progress=False, n_boot=50, seed=seed)


def test_four_sites_each_held_out(iecv):
    results, _pooled = iecv
    assert sorted(results) == ["cleveland", "hungarian", "switzerland", "va"]
    n = {s: r.sample_size["n"] for s, r in results.items()}
    assert n == {"cleveland": 303, "hungarian": 294, "switzerland": 123, "va": 200}
    events = {s: r.sample_size["events"] for s, r in results.items()}
    assert events == {"cleveland": 139, "hungarian": 106, "switzerland": 115, "va": 149}
    for r in results.values():
        assert r.case_mix is not None and r.case_mix.membership_c is not None
    # no site reaches Riley's size for external validation (about 1,600 or more at these
    # prevalences and C-statistics): every verdict is provisional and says why
    for r in results.values():
        assert r.verdict.provisional
        assert not r.sample_size["meets_requirement"]
        assert any(f"n = {r.sample_size['n']}, required n = {r.sample_size['required_n']}" in s
                   for s in r.verdict.reasons)
    # fewer than 100 non-events (Switzerland 8, VA 51) is said as well
    few = {s for s, r in results.items() if any(x.startswith("Only ") for x in r.verdict.reasons)}
    assert few == {"switzerland", "va"}


def _numbers(obj) -> set[str]:
    """Every number of a report JSON, written as a verdict may write it."""
    if isinstance(obj, dict):
        return set().union(*(_numbers(v) for v in obj.values())) if obj else set()
    if isinstance(obj, list):
        return set().union(*(_numbers(v) for v in obj)) if obj else set()
    if isinstance(obj, bool) or not isinstance(obj, int | float):
        return set()
    out = {f"{obj:.2f}", f"{obj:.1f}", f"{obj:.3g}"}
    return out | ({str(obj)} if float(obj).is_integer() else set())


def test_cleveland_and_hungarian_verdicts_agree_with_their_cis(iecv):
    """The verdict calls a site miscalibrated exactly when a calibration CI excludes its
    ideal value, and writes no number its report does not hold."""
    results, _ = iecv
    for site in ("cleveland", "hungarian"):
        r = results[site]
        m = r.performance.metrics
        citl, slope = m["calibration_in_the_large"], m["calibration_slope"]
        off = not (citl.lower <= 0 <= citl.upper) or not (slope.lower <= 1 <= slope.upper)
        text = " ".join(r.verdict.reasons)
        assert ("Miscalibrated" in text) == off, text
        assert (r.verdict.decision == FIT) == (not off), text  # both discriminate well (C > 0.8)
        report = r.to_dict()
        written = set(re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text))
        assert written <= _numbers(report) | {"0", "1", "95"}, written - _numbers(report)
        assert report["verdict"]["recommended_update"] == report["updating"]["recommended"]


def test_heterogeneity_is_reported(iecv):
    results, pooled = iecv
    by = {p.measure: p for p in pooled}
    assert set(by) == {"C-statistic", "O/E ratio", "calibration-in-the-large", "calibration slope"}
    c = by["C-statistic"]
    site_c = [r.performance.metrics["c_statistic"].estimate for r in results.values()]
    assert min(site_c) <= c.estimate <= max(site_c)
    assert c.pi_lower <= c.lower <= c.estimate <= c.upper <= c.pi_upper
    assert 0 <= c.i2 <= 1 and c.k == 4


def test_random_effects_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    y, se = rng.normal(0.5, 0.3, 6), rng.uniform(0.05, 0.2, 6)
    ours = random_effects(y, se, method="DL", ci="z")
    ref = combine_effects(y, se ** 2, method_re="dl")
    assert ours.estimate == pytest.approx(ref.mean_effect_re, rel=1e-10)
    assert ours.tau2 == pytest.approx(ref.tau2, rel=1e-8, abs=1e-14)
    lo, hi = ref.conf_int()[1]  # (fixed, random, fixed wls, random wls): the random effect
    assert (ours.ci_lower, ours.ci_upper) == pytest.approx((lo, hi), rel=1e-8)
    assert ours.i2 == pytest.approx(ref.i2, rel=1e-8, abs=1e-12)
