"""Partition-parallel batch scoring: rows per minute in one process and on a LocalCluster.

A response XGBoost model (with a 5-member bootstrap ensemble, so the interval is included)
is fitted on 20,000 simulated episodes; a partitioned cohort of ``--n`` rows is written
with ``simulate_partitioned`` and scored by :func:`spinerisk.batch.score_dataset` (risk,
interval and grouped contributions for every row) in this process and with
``--cluster local:W`` for each W in ``--workers``. Cluster start-up is included.

Run: uv run python benchmarks/bench_score.py [--n 1000000] [--partition-rows 100000]
     [--workers 1 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from spinerisk.batch import score_dataset
from spinerisk.cohort import simulate
from spinerisk.cohort.partitioned import simulate_partitioned
from spinerisk.explain import fit_bootstrap_ensemble
from spinerisk.features import spine_task
from spinerisk.models import RiskModel


def fitted_model():
    frame = simulate(20_000, seed=11, tasks=("response",)).frame
    frame = frame[frame["response_50"].notna()]
    y = frame["response_50"].astype(int)
    model = RiskModel(spine_task("response"), "xgboost", calibration_folds=3,
                      random_state=11).fit(frame, y)
    model.bootstrap_ = fit_bootstrap_ensemble(model, frame, y, n_members=5, seed=11)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--partition-rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    args = parser.parse_args()
    model = fitted_model()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "cohort"
        simulate_partitioned(args.n, data, partition_rows=args.partition_rows, seed=12,
                             tasks=("response",))
        for cluster in [None, *(f"local:{w}" for w in args.workers)]:
            started = time.perf_counter()
            written = score_dataset(model, data, Path(tmp) / f"scores-{cluster}", cluster)
            seconds = time.perf_counter() - started
            rows = sum(w["rows"] for w in written)
            print(f"{cluster or 'one process':12s} {rows:,} rows in {len(written)} partitions: "
                  f"{seconds:.1f} s, {rows / seconds * 60:,.0f} rows/min")


if __name__ == "__main__":
    main()
