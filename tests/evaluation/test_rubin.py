"""Rubin's rules against statsmodels' independent implementation (MICE.combine)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.imputation.mice import MICE

from spinerisk.evaluation.rubin import barnard_rubin_df, rubin_pool


def test_matches_statsmodels_combine(seed):
    """Pooled estimate, total variance and fraction of missing information per coefficient
    equal statsmodels' ``MICE.combine`` on the same m fitted analyses."""
    rng = np.random.default_rng(seed)
    n, m = 300, 7
    x = rng.normal(size=(n, 2))
    fits = []
    for _ in range(m):  # m "completed datasets": the same design with noise added
        xi = x + rng.normal(0, 0.3, size=x.shape)
        y = 1 + xi @ np.array([0.5, -1.0]) + rng.normal(size=n)
        fits.append(sm.OLS(y, sm.add_constant(xi)).fit())
    fake = SimpleNamespace(results_list=fits, exog_names=["c", "a", "b"], endog_names="y",
                           model_class=sm.OLS)
    reference = MICE.combine(fake)
    for j in range(3):
        ours = rubin_pool([f.params[j] for f in fits], [f.bse[j] ** 2 for f in fits])
        assert ours.q == pytest.approx(reference.params[j], rel=1e-12)
        assert ours.total == pytest.approx(reference.cov_params()[j, j], rel=1e-10)
        assert ours.fmi == pytest.approx(reference.frac_miss_info[j], rel=1e-10)


def test_scales_degrees_of_freedom_and_bad_input():
    pooled = rubin_pool([0.1, 0.3, 0.2], [0.01, 0.01, 0.01], scale="log")
    assert pooled.estimate == pytest.approx(np.exp(0.2))
    assert pooled.ci_lower < pooled.estimate < pooled.ci_upper
    assert pooled.between == pytest.approx(0.01)
    assert pooled.total == pytest.approx(0.01 + (4 / 3) * 0.01)
    # Rubin (1987): nu = (m - 1) / lambda^2 with lambda = (1 + 1/m) B / T
    lam = (4 / 3) * 0.01 / pooled.total
    assert pooled.df == pytest.approx(2 / lam ** 2)
    assert barnard_rubin_df(3, 0.01, 0.0) == float("inf")
    assert barnard_rubin_df(3, 0.01, 0.01, df_complete=20) < 20
    with pytest.raises(ValueError, match="at least 2"):
        rubin_pool([0.1], [0.01])
    with pytest.raises(ValueError, match="finite"):
        rubin_pool([0.1, np.nan], [0.01, 0.01])
