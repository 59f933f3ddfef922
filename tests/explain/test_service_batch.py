"""Batched answers (the server's micro-batches) equal the one-patient answers exactly,
refused records included; the ensemble's driver noise from the tree tables equals the
noise from xgboost's own TreeSHAP."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from spinerisk import schema
from spinerisk.explain import LoadedModel, PatientService, fit_bootstrap_ensemble, uncertainty
from spinerisk.explain.service import Query


@pytest.fixture(scope="module")
def service(models, reoperation_frame):
    """The reoperation model with a small bootstrap ensemble (a copy: the shared fixture
    model stays without one)."""
    model = copy.deepcopy(models["xgboost_cox"])
    rows = reoperation_frame.iloc[:400]
    target = pd.DataFrame({"time": rows["reoperation_time_months"].to_numpy(float),
                           "event": rows["reoperation_event"].to_numpy(float)})
    model.bootstrap_ = fit_bootstrap_ensemble(model, rows, target, n_members=4, seed=5)
    return PatientService([LoadedModel(model, "spinerisk-reoperation", "2", "candidate",
                                       "models:/spinerisk-reoperation@candidate")])


def _queries(frame, record_of) -> list[Query]:
    queries = [Query(record_of(frame, i)) for i in range(12)]
    bad = record_of(frame, 12)
    bad["age"] = 300  # outside the contract's range
    queries.insert(3, Query(bad))
    queries.insert(7, Query(record_of(frame, 13, drop=("procedure",))))  # no task implied
    queries.append(Query(record_of(frame, 14), task="residual_pain"))   # no such model
    return queries


def _alone(service, query):
    try:
        return service.predict(query.record, task=query.task, alias=query.alias)
    except schema.SchemaValidationError as err:
        return err


def test_batched_answers_equal_single_answers(service, reoperation_frame, record_of):
    queries = _queries(reoperation_frame, record_of)
    together = service.predict_many(queries)
    alone = [_alone(service, q) for q in queries]
    assert len(together) == len(queries)
    for i, (a, b) in enumerate(zip(together, alone)):
        if isinstance(b, schema.SchemaValidationError):
            assert isinstance(a, schema.SchemaValidationError), i
            assert a.problems == b.problems, i
        else:
            assert a == b, i  # exactly: every float, every sentence
    refused = [i for i, a in enumerate(together) if isinstance(a, schema.SchemaValidationError)]
    assert refused == [3, 7, len(queries) - 1]
    assert together[0]["interval"] is not None  # the ensemble's parts were exercised


def test_order_within_a_batch_does_not_change_an_answer(service, reoperation_frame,
                                                        record_of):
    queries = [q for q in _queries(reoperation_frame, record_of)
               if not isinstance(_alone(service, q), schema.SchemaValidationError)]
    forward = service.predict_many(queries)
    backward = service.predict_many(queries[::-1])[::-1]
    assert forward == backward


def test_tree_table_noise_equals_xgboost_member_noise(service, reoperation_frame,
                                                      record_of):
    loaded = service.loaded[0]
    model, ensemble = loaded.model, loaded.model.bootstrap_
    _, tables = ensemble.prepare()
    assert tables is not None  # depth-3 trees on one encoding: tabulated
    records = [record_of(reoperation_frame, i) for i in range(10)]
    encoded = np.vstack([model.encode_record(r) for r in records])
    fast = ensemble.contribution_sds(records, encoded)
    plain_members = copy.copy(ensemble)
    plain_members._tables = None  # xgboost's TreeSHAP, member by member
    slow = plain_members.contribution_sds(records, encoded)
    for f, s in zip(fast, slow):
        assert f.keys() == s.keys()
        np.testing.assert_allclose(list(f.values()), list(s.values()), atol=1e-5)


def test_members_over_the_table_budget_keep_xgboost_member_noise(service, monkeypatch):
    """Deep members (here: a budget below their tables' size) are explained one by one by
    xgboost's TreeSHAP instead."""
    ensemble = service.loaded[0].model.bootstrap_
    explainers, tables = ensemble.prepare()
    assert tables is not None
    monkeypatch.setattr(uncertainty, "MEMBER_TABLE_ENTRIES", len(ensemble.members) * 100)
    assert uncertainty._leaf_tables(ensemble, explainers) is None
