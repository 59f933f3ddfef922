"""Training's per-site (internal-external) results pooled like site reports."""

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from scipy.stats import norm

from spinerisk import tracking
from spinerisk.evaluation.pooling import random_effects
from spinerisk.training.sites import pool_sites


def _site(oe: float, se_log: float, auc: float) -> dict[str, float]:
    z = norm.ppf(0.975)
    return {"oe_ratio": oe, "oe_ratio_ci_lower": oe * np.exp(-z * se_log),
            "oe_ratio_ci_upper": oe * np.exp(z * se_log), "auc": auc,
            "auc_ci_lower": auc - 0.03, "auc_ci_upper": auc + 0.03}


def test_a_miscalibrated_site_shows_in_the_spread_and_interval():
    sites = {"S1": _site(1.02, 0.05, 0.70), "S2": _site(0.77, 0.06, 0.72),
             "S3": _site(1.05, 0.05, 0.69), "S4": _site(0.98, 0.04, 0.71),
             "S5": {"n": 40, "events": 3, "skipped": 1.0}}
    pooled = pool_sites(sites)
    oe = pooled["oe_ratio"]
    assert oe["site_min"] == pytest.approx(0.77) and oe["k"] == 4
    direct = random_effects(np.log([1.02, 0.77, 1.05, 0.98]), [0.05, 0.06, 0.05, 0.04],
                            scale="log")
    assert (oe["estimate"], oe["pi_lower"], oe["pi_upper"]) == pytest.approx(
        (direct.estimate, direct.pi_lower, direct.pi_upper), rel=1e-6)
    assert oe["pi_lower"] < 0.77 and oe["pi_lower"] < oe["ci_lower"] < oe["ci_upper"] < oe["pi_upper"]
    assert ("S5", "skipped: fewer than 5 events or non-events") in map(tuple, oe["excluded"])
    assert set(pooled) == {"auc", "oe_ratio"}


def test_training_run_logs_and_prints_the_pooled_sites(tracked, store):
    assert set(tracked.site_pooled) >= {"auc", "oe_ratio", "cal_slope", "citl_intercept"}
    oe = tracked.site_pooled["oe_ratio"]
    assert oe["k"] == 2 and oe["pi_lower"] is None  # two sites: no prediction interval
    assert tracked.summary_row()["O/E by site"] == f"{oe['site_min']:.2f}-{oe['site_max']:.2f}"
    tracking.configure(store)
    metrics = MlflowClient().get_run(tracked.run_id).data.metrics
    assert metrics["iecv_pooled_oe_ratio_estimate"] == pytest.approx(oe["estimate"])
