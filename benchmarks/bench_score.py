"""Partition-parallel batch scoring: rows per minute in one process and on a LocalCluster.

A response XGBoost model (300 trees, depth 3, with a 5-member bootstrap ensemble, so the
interval is included) is fitted on ``--train-rows`` simulated episodes; a partitioned
cohort of ``--n`` rows is written with ``simulate_partitioned`` and scored by
:func:`spinerisk.batch.score_dataset` (read, contract check, risk, interval and grouped
contributions for every row, write) in this process and with ``--cluster local:W`` for
each W in ``--workers``. Cluster start-up is included. Each run reports wall seconds and
CPU seconds of this process plus its finished child processes (the Dask nannies and
workers, reaped when the cluster closes), so a figure from a busy machine can be compared
per core.

Baseline (``--baseline``): the same in-process run with the precomputed TreeSHAP tables
refused, i.e. grouped contributions through xgboost's ``pred_contribs`` as before.

Run: uv run python benchmarks/bench_score.py [--n 1000000] [--partition-rows 100000]
     [--workers 1 2] [--baseline]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from spinerisk.batch import score_dataset
from spinerisk.cohort import simulate
from spinerisk.cohort.partitioned import simulate_partitioned
from spinerisk.explain import fit_bootstrap_ensemble
from spinerisk.features import spine_task
from spinerisk.models import RiskModel


def fitted_model(train_rows: int = 20_000):
    frame = simulate(train_rows, seed=11, tasks=("response",)).frame
    frame = frame[frame["response_50"].notna()]
    y = frame["response_50"].astype(int)
    model = RiskModel(spine_task("response"), "xgboost", calibration_folds=3,
                      random_state=11).fit(frame, y)
    model.bootstrap_ = fit_bootstrap_ensemble(model, frame, y, n_members=5, seed=11)
    return model


def cpu_seconds() -> float:
    """User + system CPU of this process and of its reaped children."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                         resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(label: str, model, data: Path, out: Path, cluster: str | None) -> None:
    cpu, started = cpu_seconds(), time.perf_counter()
    written = score_dataset(model, data, out, cluster)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    rows = sum(w["rows"] for w in written)
    print(f"{label:28s} {rows:,} rows in {len(written)} partitions: wall {seconds:6.1f} s, "
          f"cpu {cpu:6.1f} s, {rows / seconds * 60:>10,.0f} rows/min "
          f"({rows / cpu * 60:>10,.0f} per CPU-minute)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--partition-rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--baseline", action="store_true",
                        help="also score in process through pred_contribs (tables refused)")
    args = parser.parse_args()
    model = fitted_model(args.train_rows)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "cohort"
        simulate_partitioned(args.n, data, partition_rows=args.partition_rows, seed=12,
                             tasks=("response",))
        for cluster in [None, *(f"local:{w}" for w in args.workers)]:
            run(cluster or "one process", model, data, Path(tmp) / f"scores-{cluster}",
                cluster)
        if args.baseline:
            from spinerisk.explain import leaf_tables

            leaf_tables.MAX_TABLE_ENTRIES = 0  # every booster refused: pred_contribs
            leaf_tables._CACHE.clear()
            run("one process, pred_contribs", model, data, Path(tmp) / "scores-baseline", None)


if __name__ == "__main__":
    main()
