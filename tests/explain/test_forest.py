"""The compiled numpy forest equals xgboost's own margins, missing values included."""

from __future__ import annotations

import numpy as np
import xgboost as xgb

from spinerisk.explain.forest import CompiledForest


def test_compiled_forest_equals_each_booster(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, 8))
    X[rng.random(X.shape) < 0.15] = np.nan
    y = (np.nan_to_num(X[:, 0]) - np.nan_to_num(X[:, 1]) + rng.normal(size=600) > 0).astype(int)
    boosters = [xgb.XGBClassifier(n_estimators=25, max_depth=depth, n_jobs=1,
                                  random_state=depth).fit(X, y).get_booster()
                for depth in (1, 3, 5)]
    forest = CompiledForest(boosters, X[:100])
    new = rng.normal(size=(200, 8))
    new[rng.random(new.shape) < 0.3] = np.nan
    expected = np.column_stack([b.inplace_predict(new, predict_type="margin")
                                for b in boosters])
    np.testing.assert_allclose(forest.margins(new), expected, atol=1e-5)
