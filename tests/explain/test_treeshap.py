"""The bootstrap members' TreeSHAP tables (the driver noise of a patient) equal xgboost's
own TreeSHAP (pred_contribs), missing values and repeated split features included; a row
in a batch equals the row alone."""

from __future__ import annotations

import numpy as np
import xgboost as xgb

from spinerisk.explain.leaf_tables import LeafTables
from spinerisk.explain.uncertainty import MemberTables


def _boosters(seed: int, depths=(1, 2, 3)):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(500, 6))
    X[rng.random(X.shape) < 0.2] = np.nan
    signal = np.nan_to_num(X[:, 0]) * np.nan_to_num(X[:, 1]) - np.nan_to_num(X[:, 2])
    y = (signal + rng.normal(size=500) > 0).astype(int)
    # few features and depth 3: paths that split on one feature twice are common
    boosters = [xgb.XGBClassifier(n_estimators=30, max_depth=d, n_jobs=1, random_state=d)
                .fit(X, y).get_booster() for d in depths]
    new = rng.normal(size=(40, 6))
    new[rng.random(new.shape) < 0.3] = np.nan
    return boosters, new.astype(np.float32)


def _xgboost(boosters, X) -> np.ndarray:
    """members x rows x features, xgboost's own values (bias column dropped)."""
    return np.stack([b.predict(xgb.DMatrix(X, missing=np.nan), pred_contribs=True)[:, :-1]
                     for b in boosters])


def _tables(boosters, columns, n_columns) -> MemberTables:
    return MemberTables([LeafTables(b) for b in boosters], columns, n_columns)


def test_tables_equal_xgboost_treeshap(seed):
    boosters, X = _boosters(seed, depths=(1, 2, 3, 5))
    identity = [np.arange(6)] * len(boosters)
    tables = _tables(boosters, identity, 6)
    # xgboost sums in float32; the tables in float64
    np.testing.assert_allclose(tables.grouped(X), _xgboost(boosters, X), atol=2e-6)


def test_grouped_columns_sum_their_features_and_drop_unreported_ones(seed):
    boosters, X = _boosters(seed)
    targets = [np.array([0, 0, 1, 1, -1, 2])] * len(boosters)
    got = _tables(boosters, targets, 3).grouped(X)
    raw = _xgboost(boosters, X)
    expected = np.stack([raw[..., 0] + raw[..., 1], raw[..., 2] + raw[..., 3], raw[..., 5]],
                        axis=-1)
    np.testing.assert_allclose(got, expected, atol=2e-6)


def test_a_row_in_a_batch_equals_the_row_alone(seed):
    boosters, X = _boosters(seed)
    tables = _tables(boosters, [np.arange(6)] * len(boosters), 6)
    together = tables.grouped(X)
    alone = np.stack([tables.grouped(X[i:i + 1])[:, 0] for i in range(len(X))], axis=1)
    assert np.array_equal(together, alone)
