"""Vectorised bootstrap: same numbers as a per-replicate loop, seeded, independent of n_jobs."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.special import expit, logit
from sklearn.metrics import roc_auc_score

from spinerisk.evaluation import (
    BINARY_METRICS,
    auc,
    bootstrap_apply,
    bootstrap_binary,
    resample_indices,
)
from spinerisk.evaluation.bootstrap import counts_from_indices, replicate_rows


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    lp = rng.normal(-1, 1, 300)
    y = (rng.uniform(size=300) < expit(0.2 + 0.8 * lp)).astype(float)
    return y, np.round(expit(lp), 3)  # rounded: ties in risk


def test_replicates_equal_loop_over_resampled_rows(data):
    y, p = data
    res = bootstrap_binary(y, p, n_boot=12, seed=5)
    idx = resample_indices(y.size, 12, seed=5)
    for b in range(12):
        yb, pb = y[idx[b]], p[idx[b]]
        x = logit(pb)
        weak = sm.GLM(yb, sm.add_constant(x), family=sm.families.Binomial()).fit(tol=1e-12)
        citl = sm.GLM(yb, np.ones((yb.size, 1)), family=sm.families.Binomial(), offset=x).fit(tol=1e-12)
        expected = {
            "auc": roc_auc_score(yb, pb),
            "brier": np.mean((yb - pb) ** 2),
            "scaled_brier": 1 - np.mean((yb - pb) ** 2) / (yb.mean() * (1 - yb.mean())),
            "oe_ratio": yb.sum() / pb.sum(),
            "citl_intercept": citl.params[0],
            "cal_intercept": weak.params[0],
            "cal_slope": weak.params[1],
            "discrimination_slope": pb[yb == 1].mean() - pb[yb == 0].mean(),
        }
        for name in BINARY_METRICS:
            assert res.replicates[name][b] == pytest.approx(expected[name], abs=1e-8), name


def test_seeded_and_independent_of_threads(data):
    y, p = data
    a = bootstrap_binary(y, p, n_boot=250, seed=1, n_jobs=1, batch_size=50)
    b = bootstrap_binary(y, p, n_boot=250, seed=1, n_jobs=2, batch_size=50)
    c = bootstrap_binary(y, p, n_boot=250, seed=2, n_jobs=1, batch_size=50)
    for m in BINARY_METRICS:
        np.testing.assert_array_equal(a.replicates[m], b.replicates[m])
    assert not np.array_equal(a.replicates["auc"], c.replicates["auc"])
    assert a.to_dict() == b.to_dict()


def test_percentile_interval_covers_and_matches_delong_width(data):
    y, p = data
    res = bootstrap_binary(y, p, metrics=["auc"], n_boot=400, seed=3)
    est = res["auc"]
    assert est.lower < est.estimate < est.upper
    from spinerisk.evaluation import auc

    delong = auc(y, p)
    # bootstrap and DeLong widths agree to within Monte Carlo error
    assert (est.upper - est.lower) == pytest.approx(delong.upper - delong.lower, rel=0.25)


def test_stratified_keeps_event_count(data):
    y, _ = data
    idx = resample_indices(y.size, 20, seed=4, strata=y)
    assert (y[idx].sum(axis=1) == y.sum()).all()
    counts = counts_from_indices(idx, y.size)
    assert (counts.sum(axis=1) == y.size).all()


def test_frequency_weights_draw_units_not_rows(data):
    # issue 10 item 4: weight 5 on 100 rows is 500 patients; the interval must match the
    # bootstrap of the replicated rows (and DeLong), not the bootstrap of 100 distinct rows
    y, p = data[0][:100], data[1][:100]
    w = np.full(y.size, 5.0)
    weighted = bootstrap_binary(y, p, metrics=["auc"], n_boot=400, seed=1, weights=w)["auc"]
    replicated = bootstrap_binary(np.repeat(y, 5), np.repeat(p, 5), metrics=["auc"], n_boot=400, seed=2)["auc"]
    delong = auc(np.repeat(y, 5), np.repeat(p, 5))
    width = weighted.upper - weighted.lower
    # Monte Carlo error of a 400-replicate percentile width is a few per cent; 20% is generous
    assert width == pytest.approx(replicated.upper - replicated.lower, rel=0.2)
    assert width == pytest.approx(delong.upper - delong.lower, rel=0.2)
    rows_only = bootstrap_binary(y, p, metrics=["auc"], n_boot=400, seed=1)["auc"]
    assert width < 0.6 * (rows_only.upper - rows_only.lower)  # about 1/sqrt(5) of it


def test_weighted_replicate_sizes_are_the_weighted_total(data):
    y, p = data
    w = np.random.default_rng(0).integers(1, 4, y.size).astype(float)
    res = bootstrap_binary(y, p, metrics=["brier"], n_boot=5, seed=9, weights=w)
    assert np.isfinite(res.replicates["brier"]).all()
    with pytest.raises(ValueError, match="frequency weights"):
        bootstrap_binary(y, p, metrics=["brier"], n_boot=5, weights=w + 0.5)


def test_groups_resample_whole_patients():
    # two episodes per patient, identical within patient: the cluster bootstrap of the
    # episode table equals the row bootstrap of the patient table in distribution
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, 150)
    y = (rng.uniform(size=150) < p).astype(float)
    ids = np.repeat(np.arange(150), 2)
    clustered = bootstrap_binary(np.repeat(y, 2), np.repeat(p, 2), metrics=["auc"], n_boot=400, seed=4,
                                 groups=ids).replicates["auc"]
    patients = bootstrap_binary(y, p, metrics=["auc"], n_boot=400, seed=5).replicates["auc"]
    naive = bootstrap_binary(np.repeat(y, 2), np.repeat(p, 2), metrics=["auc"], n_boot=400, seed=4).replicates["auc"]
    assert np.std(clustered) == pytest.approx(np.std(patients), rel=0.2)
    assert np.std(naive) < 0.85 * np.std(clustered)  # rows as units understate the spread
    rows = list(replicate_rows(6, 3, seed=0, groups=np.array([0, 0, 1, 1, 2, 2])))
    for r in rows:  # each drawn patient brings both episodes
        assert np.all(np.bincount(r // 2, minlength=3) % 2 == 0)
    with pytest.raises(ValueError, match="cannot be combined with groups"):
        bootstrap_binary(np.repeat(y, 2), np.repeat(p, 2), groups=ids, stratify=True, n_boot=2)


def test_single_class_replicate_is_nan_not_crash():
    y = np.array([1.0] + [0.0] * 9)
    p = np.linspace(0.05, 0.5, 10)
    res = bootstrap_binary(y, p, metrics=["auc"], n_boot=50, seed=0)
    n_nan = int(np.isnan(res.replicates["auc"]).sum())
    assert n_nan > 0 and res.to_dict()["n_failed"]["auc"] == n_nan


def test_bootstrap_apply_generic(data):
    y, p = data

    def stat(yy, pp):
        return {"mean_risk": float(pp.mean())}

    res = bootstrap_apply(stat, y, p, n_boot=30, seed=2)
    idx = resample_indices(y.size, 30, seed=2)
    np.testing.assert_allclose(res.replicates["mean_risk"], p[idx].mean(axis=1))


def test_unknown_metric_is_explained(data):
    y, p = data
    with pytest.raises(ValueError, match="unknown metrics"):
        bootstrap_binary(y, p, metrics=["accuracy"])


def test_auc_bootstrap_ci_via_auc_function(data):
    from spinerisk.evaluation import auc

    y, p = data
    est = auc(y, 10 * logit(p), ci="bootstrap", n_boot=200, seed=4)  # a score, not a probability
    assert est.method == "bootstrap percentile"
    direct = bootstrap_binary(y, p, metrics=["auc"], n_boot=200, seed=4)["auc"]
    assert (est.estimate, est.lower, est.upper) == pytest.approx((direct.estimate, direct.lower, direct.upper))


@pytest.mark.parametrize("design", ["rows", "groups", "stratify", "weights", "weights+stratify"])
def test_chunked_replicates_equal_one_batch_exactly(data, design):
    """Bounded memory changes nothing: replicates computed a chunk at a time (down to one
    replicate, and chunks that do not divide a batch) equal one whole batch, bit for bit."""
    y, p = data
    rng = np.random.default_rng(3)
    kwargs = {"rows": {}, "groups": {"groups": rng.integers(0, 120, y.size)},
              "stratify": {"stratify": True},
              "weights": {"weights": rng.integers(1, 4, y.size)},
              "weights+stratify": {"weights": rng.integers(1, 4, y.size), "stratify": True}}[design]
    whole = bootstrap_binary(y, p, n_boot=70, seed=9, batch_size=30, max_cells=10**9, **kwargs)
    for cells in (1, 7 * y.size + 5):  # one replicate per chunk; 7 (30 = 4 x 7 + 2)
        chunked = bootstrap_binary(y, p, n_boot=70, seed=9, batch_size=30, max_cells=cells,
                                   **kwargs)
        for m in BINARY_METRICS:
            np.testing.assert_array_equal(chunked.replicates[m], whole.replicates[m])
        assert chunked.to_dict() == whole.to_dict()


@pytest.mark.parametrize("grouped", [False, True])
def test_replicate_rows_chunked_equal_whole(data, grouped):
    y, _ = data
    groups = np.random.default_rng(4).integers(0, 90, y.size) if grouped else None
    whole = list(replicate_rows(y.size, 25, seed=2, groups=groups, batch_size=10,
                                max_cells=10**9))
    chunked = list(replicate_rows(y.size, 25, seed=2, groups=groups, batch_size=10,
                                  max_cells=3 * y.size))
    assert len(chunked) == 25
    for a, b in zip(whole, chunked):
        np.testing.assert_array_equal(a, b)
    if not grouped:  # the documented equality with the index matrix
        np.testing.assert_array_equal(np.vstack(whole),
                                      resample_indices(y.size, 25, seed=2, batch_size=10))
