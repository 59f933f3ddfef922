"""Micro-batching: concurrent requests are scored together and each gets its own answer;
a lone request is scored at once; a failing batch fails each of its requests; the queue
is bounded (503 in the problem format)."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from spinerisk import schema
from spinerisk.explain.service import Query
from spinerisk.serve import create_app
from spinerisk.serve.batching import Busy, MicroBatcher, batch_scorer


class Recorder:
    """score_many that answers each query with its record's id and records batch sizes."""

    def __init__(self, gate: threading.Event | None = None):
        self.sizes: list[int] = []
        self.gate = gate

    def __call__(self, queries):
        if self.gate is not None:
            assert self.gate.wait(10)
        self.sizes.append(len(queries))
        return [{"id": q.record["id"]} for q in queries]


def test_concurrent_requests_are_batched_and_answered_in_order():
    score = Recorder()
    batcher = MicroBatcher(score, max_batch=8)

    async def run():
        return await asyncio.gather(*(batcher.submit(Query({"id": i})) for i in range(30)))

    answers = asyncio.run(run())
    assert answers == [{"id": i} for i in range(30)]
    assert sum(score.sizes) == 30 and max(score.sizes) == 8  # batched, never past max_batch
    assert score.sizes == batcher.batch_sizes


def test_a_lone_request_is_scored_alone_without_waiting():
    score = Recorder()
    batcher = MicroBatcher(score)

    async def run():
        started = asyncio.get_running_loop().time()
        answer = await batcher.submit(Query({"id": 7}))
        return answer, asyncio.get_running_loop().time() - started

    answer, took = asyncio.run(run())
    assert answer == {"id": 7} and score.sizes == [1]
    assert took < 0.5  # no waiting window (a thread hop and a few loop turns)


def test_a_failing_batch_fails_each_of_its_requests():
    def broken(queries):
        raise RuntimeError("boom")

    batcher = MicroBatcher(broken)

    async def run():
        return await asyncio.gather(*(batcher.submit(Query({"id": i})) for i in range(3)),
                                    return_exceptions=True)

    outcomes = asyncio.run(run())
    assert [type(o) for o in outcomes] == [RuntimeError] * 3


def test_the_queue_is_bounded():
    gate = threading.Event()
    batcher = MicroBatcher(Recorder(gate), max_batch=1, max_waiting=2)

    async def run():
        first = asyncio.ensure_future(batcher.submit(Query({"id": 0})))
        while not batcher.batch_sizes and not first.done():  # the first batch is running
            await asyncio.sleep(0.01)
        waiting = [asyncio.ensure_future(batcher.submit(Query({"id": i}))) for i in (1, 2)]
        await asyncio.sleep(0)
        with pytest.raises(Busy):
            await batcher.submit(Query({"id": 3}))
        gate.set()
        return await asyncio.gather(first, *waiting)

    assert asyncio.run(run()) == [{"id": 0}, {"id": 1}, {"id": 2}]


def test_a_service_without_predict_many_is_answered_one_by_one():
    class Single:
        def predict(self, record, task=None, alias=None):
            if record.get("bad"):
                raise schema.SchemaValidationError([schema.Problem("bad", "refused")])
            return {"id": record["id"], "task": task}

    answers = batch_scorer(Single())([Query({"id": 1}, "t"), Query({"id": 2, "bad": 1})])
    assert answers[0] == {"id": 1, "task": "t"}
    assert isinstance(answers[1], schema.SchemaValidationError)


def test_a_full_queue_is_a_503_in_the_problem_format():
    class Never:
        def tasks(self):
            return {"reoperation"}

        def predict(self, record, task=None, alias=None):
            raise AssertionError("not reached: the queue is full")

    app = create_app(Never(), api_key="k" * 16)
    app.state.batcher.max_waiting = 0

    async def call():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                     base_url="http://test") as client:
            return await client.post("/v1/predict", json={"patient": {"age": 50}},
                                     headers={"X-API-Key": "k" * 16})

    response = asyncio.run(call())
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    body = response.json()
    assert body["detail"].startswith("the server is busy") and body["request_id"]
    assert response.headers["x-content-type-options"] == "nosniff"
