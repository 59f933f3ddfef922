"""Dynamic micro-batching: the requests that wait together are scored together.

Scoring a patient has a large fixed part (a pass of the rule book over a table, one
explainer call per bootstrap member) that barely grows with the number of rows, so a
worker answers concurrent requests far faster as one batch than one by one. There is no
waiting window: the first request of a quiet server is scored at once, alone; requests
that arrive while a batch is being scored wait for the next batch, which takes all of
them (up to ``max_batch``). At concurrency 1 a request therefore costs what it did
unbatched, and under load the batch grows with the load.

The batch is scored in a worker thread, so the event loop keeps reading the next
requests meanwhile. Each answer equals the one the patient would get alone
(:meth:`spinerisk.explain.PatientService.predict_many`, tested), so batching is
invisible to clients. The queue is bounded: past ``max_waiting`` waiting requests a
request is refused with 503 at once rather than queued without limit.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool

from spinerisk import schema
from spinerisk.explain.service import Query

#: Most requests scored in one batch (bounds a batch's latency under heavy load).
DEFAULT_MAX_BATCH = 32
#: Event-loop turns a batch waits for requests already received (see ``_settle``).
SETTLE_TURNS = 4
#: Most requests waiting for a batch before new ones are refused (503).
DEFAULT_MAX_WAITING = 256


class Busy(Exception):
    """More requests are waiting than the batcher accepts."""


class MicroBatcher:
    """Queue of requests, scored in batches by one worker thread at a time.

    Parameters
    ----------
    score_many : callable
        ``score_many(list of Query) -> list`` of answers in the same order (an answer may
        be a ``SchemaValidationError`` for its query). An exception it raises is raised
        to every request of that batch.
    max_batch : int
        Most queries per call.
    max_waiting : int
        Most queries waiting; :meth:`submit` raises :class:`Busy` beyond it.
    """

    def __init__(self, score_many: Callable[[list[Query]], Sequence[Any]],
                 max_batch: int = DEFAULT_MAX_BATCH, max_waiting: int = DEFAULT_MAX_WAITING):
        if max_batch < 1 or max_waiting < 1:
            raise ValueError(f"max_batch={max_batch}, max_waiting={max_waiting}: both must "
                             "be at least 1")
        self.score_many, self.max_batch, self.max_waiting = score_many, max_batch, max_waiting
        self._waiting: deque[tuple[Query, asyncio.Future]] = deque()
        self._drain: asyncio.Task | None = None
        #: sizes of the batches scored so far (aggregate, for the benchmark and tests)
        self.batch_sizes: list[int] = []

    async def submit(self, query: Query) -> Any:
        """The answer to one query, scored with whatever else is waiting."""
        if len(self._waiting) >= self.max_waiting:
            raise Busy(f"{len(self._waiting)} requests are waiting")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting.append((query, future))
        if self._drain is None or self._drain.done():
            self._drain = loop.create_task(self._run())
        return await future

    async def _run(self) -> None:
        while self._waiting:
            await self._settle()
            batch = [self._waiting.popleft()
                     for _ in range(min(self.max_batch, len(self._waiting)))]
            batch = [(query, future) for query, future in batch if not future.done()]
            if not batch:  # every client of this batch went away
                continue
            self.batch_sizes.append(len(batch))
            try:
                answers = await run_in_threadpool(self.score_many, [q for q, _ in batch])
            except Exception as exc:  # noqa: BLE001 -- handed to each request's error boundary
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)


    async def _settle(self) -> None:
        """Let the requests this worker has already received reach the queue.

        A request takes a few turns of the event loop from its bytes to :meth:`submit`;
        yielding for those turns (and for as long as the queue still grows) lets the
        requests that arrived together join one batch. No timer: with nothing else
        received, the batch starts after a few idle turns (microseconds).
        """
        seen = -1
        turns = 0
        while turns < SETTLE_TURNS or len(self._waiting) != seen:
            if len(self._waiting) >= self.max_batch:
                return
            seen = len(self._waiting)
            await asyncio.sleep(0)
            turns += 1


def batch_scorer(service) -> Callable[[list[Query]], list[Any]]:
    """The service's batched predict, or (a service with ``predict`` only) its answers
    one by one, a refused record's ``SchemaValidationError`` taking its answer's place."""
    many = getattr(service, "predict_many", None)
    if many is not None:
        return many

    def one_by_one(queries: list[Query]) -> list[Any]:
        answers: list[Any] = []
        for query in queries:
            try:
                answers.append(service.predict(query.record, task=query.task,
                                               alias=query.alias))
            except schema.SchemaValidationError as err:
                answers.append(err)
        return answers

    return one_by_one
