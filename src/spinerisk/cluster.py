"""Dask for work that outgrows one process: with :mod:`spinerisk.training.distributed`
(``xgboost.dask``), the only module importing dask/distributed.

A *cluster spec* names where partition work runs:

==================  ==========================================================
``None``            this process, one partition after another (no Dask)
``local``           a ``LocalCluster`` with one single-threaded worker per CPU
``local:N``         a ``LocalCluster`` with ``N`` single-threaded workers
``tcp://HOST:PORT`` a running scheduler (``dask scheduler`` + ``dask worker``
                    on machines that have spinerisk installed and see the data)
==================  ==========================================================

Only the CLI and the partitioned-data helpers reach for it
(:func:`spinerisk.cohort.partitioned.simulate_partitioned`,
:func:`spinerisk.batch.score_dataset`, :func:`spinerisk.training.distributed.open_cluster`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from spinerisk.errors import ClusterError, UsageError

#: seconds to wait for a remote scheduler before saying it cannot be reached
CONNECT_TIMEOUT_S = 10


def check_cluster(spec: str | None) -> str | None:
    """Validate a cluster spec (see module docstring) and return it unchanged."""
    if spec is None or spec == "local" or spec.startswith("tcp://"):
        return spec
    count = spec.removeprefix("local:")
    if spec.startswith("local:") and count.isdigit() and int(count) >= 1:
        return spec
    raise UsageError(f"--cluster {spec!r} is not allowed",
                     allowed="local, local:N (N workers, N >= 1) or tcp://HOST:PORT (a "
                             "running dask scheduler)",
                     fix="give one of those, or leave --cluster out to run in this process")


@contextmanager
def dask_client(spec: str) -> Iterator[Any]:
    """A ``distributed.Client`` for the spec; a local cluster is closed afterwards."""
    from distributed import Client, LocalCluster

    check_cluster(spec)
    if spec.startswith("tcp://"):
        with _remote_client(spec, Client) as client:
            yield client
        return
    workers = int(spec.removeprefix("local:")) if spec != "local" else (os.cpu_count() or 1)
    # one thread per worker: the partition work is numpy/xgboost holding the GIL in
    # places; processes, not threads, give the parallelism. No dashboard: nothing listens
    # beyond the workers' own loopback ports. The scheduler's HTTP routes (health, metrics)
    # take a free loopback port, not 8787, which another cluster on the machine may hold
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster, \
            Client(cluster) as client:
        yield client


@contextmanager
def _remote_client(spec: str, client_class) -> Iterator[Any]:
    try:
        client = client_class(spec, timeout=CONNECT_TIMEOUT_S)
    except OSError as err:  # distributed raises OSError (TimeoutError) when none answers
        raise ClusterError(f"--cluster {spec}: no dask scheduler answered within "
                           f"{CONNECT_TIMEOUT_S} s ({err})",
                           fix=f"start one (`dask scheduler`, then `dask worker {spec}` on "
                               "each machine) or check the host and port; --cluster local "
                               "runs a cluster on this machine") from None
    with client:
        yield client


def map_partitions(func: Callable[..., Any], items: Sequence[Any], cluster: str | None = None,
                   **shared: Any) -> list[Any]:
    """``[func(item, **shared) for item in items]``, on the cluster when one is named.

    ``shared`` values (e.g. a fitted model) are sent to every worker once, not per item.
    Results come back in the order of ``items``; the first failure is raised here.
    """
    check_cluster(cluster)
    if cluster is None:
        return [func(item, **shared) for item in items]
    with dask_client(cluster) as client:
        # hash=False: a fresh key per call; a content-hashed key that an earlier call is
        # releasing can be lost under the new call ("lost dependencies")
        scattered = {key: client.scatter(value, broadcast=True, hash=False)
                     for key, value in shared.items()}
        futures = client.map(func, list(items), pure=False, **scattered)
        return client.gather(futures)
