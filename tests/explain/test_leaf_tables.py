"""Precomputed TreeSHAP tables (the batch path) equal xgboost's pred_contribs to 1e-6."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from spinerisk.explain import ModelExplainer
from spinerisk.explain import leaf_tables as lt

TOLERANCE = 1e-6  # xgboost sums in float32; the tables in float64


def _data(rng: np.random.Generator, n: int) -> np.ndarray:
    """Few features (so paths repeat them), coarse values (ties at thresholds), 20% missing."""
    jitter = rng.normal(0, 0.3, (n, 5)) * (rng.random(5) < 0.5)  # some features continuous
    X = rng.integers(0, 6, (n, 5)).astype(float) + jitter
    X[rng.random(X.shape) < 0.2] = np.nan
    return X


def _booster(objective: str, depth: int, seed: int) -> tuple[xgb.Booster, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = _data(rng, 300)
    signal = np.nan_to_num(X[:, 0] - 0.5 * X[:, 1] * np.nan_to_num(X[:, 2], nan=1.0))
    if objective == "survival:cox":  # xgboost's Cox label: time, negative when censored
        y = rng.exponential(np.exp(-0.3 * signal)) * np.where(rng.random(300) < 0.7, 1, -1)
    else:
        y = (rng.random(300) < 1 / (1 + np.exp(-signal + 1))).astype(float)
    params = {"objective": objective, "max_depth": depth, "eta": 0.3, "subsample": 0.8,
              "tree_method": "hist", "seed": seed, "nthread": 1}
    booster = xgb.train(params, xgb.DMatrix(X, y, missing=np.nan), num_boost_round=25)
    return booster, _data(rng, 200)


@pytest.mark.parametrize("objective", ["binary:logistic", "survival:cox"])
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_tables_equal_pred_contribs(seed, objective, depth):
    booster, X = _booster(objective, depth, seed + depth)
    tables = lt.LeafTables(booster)
    assert tables.refused is None
    X = np.vstack([X, lt.probe_rows(tables._leaves, 5)])  # every branch and default taken
    expected = booster.predict(xgb.DMatrix(X, missing=np.nan), pred_contribs=True)
    got = tables.contributions(X, np.arange(5), 5)
    np.testing.assert_allclose(got, expected[:, :-1], atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(tables.base, expected[:, -1], atol=TOLERANCE, rtol=0)
    margin = booster.predict(xgb.DMatrix(X, missing=np.nan), output_margin=True)
    np.testing.assert_allclose(got.sum(axis=1) + tables.base, margin, atol=1e-5, rtol=0)
    if depth >= 4:  # the case the tables handle by distinct features: a path repeats one
        assert _repeats_a_feature(tables._leaves)


def _repeats_a_feature(leaves) -> bool:
    """Some split's feature is already split on above it."""
    stack = [(int(root), ()) for root in leaves.tree_node_start[:-1]]
    while stack:
        node, above = stack.pop()
        feature = int(leaves.feature[node])
        if feature >= 0:
            if feature in above:
                return True
            stack += [(int(leaves.left[node]), (*above, feature)),
                      (int(leaves.right[node]), (*above, feature))]
    return False


def test_rows_do_not_depend_on_the_batch(seed, monkeypatch):
    """Row blocks on threads, chunks, partitions: each row's values are the same bits."""
    booster, X = _booster("binary:logistic", 4, seed)
    tables = lt.LeafTables(booster)
    monkeypatch.setattr(lt, "_ROWS_PER_THREAD", 10)
    monkeypatch.setattr(lt, "_threads", lambda: 3)  # three threads of ~67 rows
    whole = tables.contributions(X, np.arange(5), 5)
    one_by_one = np.vstack([tables.contributions(X[i:i + 1], np.arange(5), 5)
                            for i in range(len(X))])
    assert np.array_equal(whole, one_by_one)



@pytest.mark.parametrize("depth", [1, 3, 5])
def test_numpy_lookup_and_compiled_kernel_give_the_same_bits(seed, depth, monkeypatch):
    """A few rows (a patient, the members' driver noise) go through numpy, batches through
    the kernel: the same values, grouped columns and a left-out feature included (numpy
    in chunks of 7 rows here)."""
    booster, X = _booster("binary:logistic", depth, seed)
    tables = lt.LeafTables(booster)
    monkeypatch.setattr(lt, "_LOOKUP_ENTRIES", 7 * tables.lookup.slot_base.size)
    X = np.vstack([X, lt.probe_rows(tables._leaves, 5)])
    for columns, n in ((np.arange(5), 5), (np.array([1, 0, 1, -1, 0]), 2)):
        compiled = tables.contributions(X, columns, n, compiled=True)
        assert np.array_equal(tables.contributions(X, columns, n, compiled=False), compiled)
    expected = booster.predict(xgb.DMatrix(X, missing=np.nan), pred_contribs=True)
    np.testing.assert_allclose(compiled, expected[:, [1, 0]] + expected[:, [4, 2]],
                               atol=TOLERANCE, rtol=0)

@pytest.mark.parametrize("learner", ["xgboost", "xgboost_cox"])
def test_grouped_batch_path_equals_grouped_pred_contribs(models, frames, learner):
    model, frame = models[learner], frames[learner].iloc[:300]
    explainer = ModelExplainer(model)
    assert explainer.batch_tables is not None
    Z = explainer.encode_frame(frame)
    batch = explainer.explain_batch(Z)
    reference = explainer.explain_encoded(Z)  # pred_contribs
    assert batch.variables == reference.variables
    np.testing.assert_allclose(batch.values, reference.values, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(batch.base, reference.base, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(batch.margin, model.base_margin(frame), atol=1e-5, rtol=0)


def test_tables_over_the_size_limit_fall_back_to_pred_contribs(models, frames, monkeypatch):
    monkeypatch.setattr(lt, "MAX_TABLE_ENTRIES", 10)
    monkeypatch.setattr(lt, "_CACHE", lt.weakref.WeakKeyDictionary())
    model = models["xgboost"]
    explainer = ModelExplainer(model)
    assert "limit 10" in lt.leaf_tables(explainer.contributions.booster).refused
    assert explainer.batch_tables is None
    Z = explainer.encode_frame(frames["xgboost"].iloc[:20])
    reference = explainer.groups.group(explainer.raw_encoded(Z))
    assert np.array_equal(explainer.explain_batch(Z).values, reference.values)


def test_boosters_the_tables_do_not_reproduce_are_refused(seed):
    rng = np.random.default_rng(seed)
    X, y = _data(rng, 200), rng.integers(0, 2, 200)
    dart = xgb.train({"booster": "dart", "objective": "binary:logistic", "nthread": 1},
                     xgb.DMatrix(X, y, missing=np.nan), num_boost_round=3)
    assert "dart" in lt.LeafTables(dart).refused
    frame = pd.DataFrame({"level": pd.Categorical(rng.choice(list("abcd"), 200))})
    categorical = xgb.train({"objective": "binary:logistic", "nthread": 1},
                            xgb.DMatrix(frame, y, enable_categorical=True), num_boost_round=3)
    assert "categorical" in lt.LeafTables(categorical).refused


def test_one_patient_does_not_import_numba(models, residual_frame, record_of, tmp_path):
    """The per-patient path (CLI predict, API) keeps pred_contribs: no numba on a cold start."""
    import pickle
    import subprocess
    import sys

    (tmp_path / "model.pkl").write_bytes(pickle.dumps(models["xgboost"]))
    (tmp_path / "record.pkl").write_bytes(pickle.dumps(record_of(residual_frame, 0)))
    script = (
        "import pickle, sys\n"
        "from spinerisk.explain import LoadedModel, PatientService\n"
        f"model = pickle.loads(open({str(tmp_path / 'model.pkl')!r}, 'rb').read())\n"
        f"record = pickle.loads(open({str(tmp_path / 'record.pkl')!r}, 'rb').read())\n"
        "service = PatientService([LoadedModel(model, 'm', '1', 'candidate', 'here')])\n"
        "assert service.predict(record)['risk'] is not None\n"
        "print('numba' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"
