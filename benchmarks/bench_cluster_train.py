"""Training through a LocalCluster: wall, CPU, peak memory per worker, and test AUC
against the in-memory model trained on a subsample of at most 1M rows.

A partitioned response cohort of ``--n`` episodes is simulated (``simulate_partitioned``)
and trained with ``run_experiment(..., cluster=...)`` on a ``LocalCluster`` of
``--workers`` single-threaded workers started here (so their peak RSS and CPU time can be
read: ``resource.getrusage`` in each worker). The reference is the same config trained in
one process (a spawned child, its own peak RSS) on the first partitions holding at most
``--reference-rows`` rows. Both models are scored on ``--test-rows`` fresh patients of the
same population (same site profiles, another seed): AUC with its DeLong 95% CI.

The config is ``configs/response_xgboost.yaml``'s task, predictors and fixed xgboost
defaults, with ``--folds`` outer folds (nested CV: every fit, calibration included, on the
cluster), ``--calibration-folds``, no internal-external CV, no tuning unless ``--trials``
(then the shipped search space, trials on the workers on a ``cluster.sample_rows`` sample)
and no bootstrap ensemble (not run on a cluster; the run says so).

Run (reduced, as measured in the README; benchmarks/results/cluster_train_200k.json):
    uv run python benchmarks/bench_cluster_train.py --n 200000 --partition-rows 50000
With tuning on the workers (cluster_train_200k_tuned.json):
    uv run python benchmarks/bench_cluster_train.py --n 200000 --partition-rows 50000 \
        --trials 6 --cluster-sample-rows 60000 \
        --storage "$(bash scripts/start-postgres.sh /tmp/pg 55432)"
The issue's figure (10M rows, 2 workers; measured: 2,102 CPU s for the run after 811 s of
simulation, at most 5.8 GiB per worker; benchmarks/results/cluster_train_10m.json):
    uv run python benchmarks/bench_cluster_train.py --n 10000000 --partition-rows 250000 \
        --out benchmarks/results/cluster_train_10m.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from spinerisk.cohort import simulate
from spinerisk.cohort.partitioned import simulate_partitioned
from spinerisk.cohort.simulator import random_site_profiles
from spinerisk.evaluation import auc
from spinerisk.training import parse_config, run_experiment, task_data

ROOT = Path(__file__).resolve().parents[1]
SITES, SEED = 4, 23


def config(data: Path, args: argparse.Namespace) -> dict:
    shipped = yaml.safe_load((ROOT / "configs" / "response_xgboost.yaml").read_text())
    raw = {"name": "bench-cluster-train", "seed": SEED, "data": {"path": str(data)},
           "task": "response", "predictors": shipped["predictors"],
           "model": {"learner": "xgboost"},
           "cv": {"folds": args.folds, "internal_external": "no", "bootstrap": 50},
           "calibration": {"method": "platt", "folds": args.calibration_folds},
           "uncertainty": {"bootstrap_members": 0}, "tracking": {"register_model": False}}
    if args.trials:
        raw["search"] = {**shipped["search"], "n_trials": args.trials,
                         "storage": args.storage}
    if args.cluster_sample_rows:
        raw["cluster"] = {"sample_rows": args.cluster_sample_rows}
    return raw


def peak_rss_gib() -> float:
    """This process's own peak resident memory: ``VmHWM`` of its address space.

    Not ``ru_maxrss``: Linux carries a parent's peak into a child across fork and exec,
    so a spawned child (the in-memory reference, a Dask worker) would report at least its
    parent's peak (the reference once reported the client's 7.49 GiB as its own).
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def test_auc(model, test: pd.DataFrame) -> dict:
    rows = task_data(test, model.task_)
    est = auc(rows.event, model.predict_risk(rows.X))
    return {"auc": round(est.estimate, 4), "ci": [round(est.lower, 4), round(est.upper, 4)]}


def reference(raw: dict, test_path: str, queue) -> None:
    """In a child process: the in-memory run, its test AUC, wall, CPU and peak RSS."""
    started = time.perf_counter()
    result = run_experiment(parse_config(raw), log=False, progress=False)
    queue.put({"wall_s": round(time.perf_counter() - started, 1), "cpu_s": round(cpu_s(), 1),
               "peak_rss_gib": round(peak_rss_gib(), 2), "rows": result.data_summary["rows"],
               "cv_auc": round(result.performance.metrics["auc"].estimate, 4),
               **test_auc(result.model, pd.read_parquet(test_path))})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--partition-rows", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reference-rows", type=int, default=1_000_000)
    parser.add_argument("--test-rows", type=int, default=50_000)
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--calibration-folds", type=int, default=2)
    parser.add_argument("--trials", type=int, default=0)
    parser.add_argument("--cluster-sample-rows", type=int,
                        help="cluster.sample_rows (default: the config's 200,000)")
    parser.add_argument("--storage", help="search.storage for --trials: a database every "
                        "worker reaches (the cluster is given as tcp://), e.g. the URL that "
                        "scripts/start-postgres.sh DIR PORT prints")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    if args.trials and not (args.storage or "").startswith("postgresql"):
        parser.error("--trials needs --storage postgresql://... (the run reaches its "
                     "LocalCluster by tcp://, so a sqlite file is refused); start one with "
                     "scripts/start-postgres.sh DIR PORT")
    from distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "registry"
        started = time.perf_counter()
        simulate_partitioned(args.n, data, partition_rows=args.partition_rows, sites=SITES,
                             seed=SEED, tasks=("response",))
        simulate_s = time.perf_counter() - started
        profiles = random_site_profiles(SITES, np.random.default_rng(SEED))
        test = simulate(args.test_rows, seed=SEED + 1, tasks=("response",),
                        site_profiles=profiles).frame
        test_path = str(Path(tmp) / "test.parquet")
        test.to_parquet(test_path, index=False)
        raw = config(data, args)

        with LocalCluster(n_workers=args.workers, threads_per_worker=1,
                          dashboard_address=None,
                          scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster, \
                Client(cluster) as client:
            cpu_before = sum(client.run(cpu_s).values())
            started, own_cpu = time.perf_counter(), cpu_s()
            result = run_experiment(parse_config(raw), log=False, progress=False,
                                    cluster=cluster.scheduler_address, announce=print)
            wall = time.perf_counter() - started
            workers_cpu = sum(client.run(cpu_s).values()) - cpu_before
            worker_rss = sorted(round(v, 2) for v in client.run(peak_rss_gib).values())
        on_cluster = {"wall_s": round(wall, 1),
                      "cpu_s": round(workers_cpu + cpu_s() - own_cpu, 1),
                      "peak_rss_gib_per_worker": worker_rss,
                      "client_peak_rss_gib": round(peak_rss_gib(), 2),
                      "rows": result.data_summary["rows"],
                      "cv_auc": round(result.performance.metrics["auc"].estimate, 4),
                      **test_auc(result.model, test)}

        files, rows = [], 0
        for path in sorted(data.glob("*.parquet")):
            if rows >= args.reference_rows:
                break
            files.append(pd.read_parquet(path))
            rows += len(files[-1])
        subsample = Path(tmp) / "subsample.parquet"
        pd.concat(files, ignore_index=True).to_parquet(subsample, index=False)
        del files
        queue = multiprocessing.get_context("spawn").Queue()
        child = multiprocessing.get_context("spawn").Process(
            target=reference, args=({**raw, "data": {"path": str(subsample)}}, test_path, queue))
        child.start()
        in_memory = queue.get()
        child.join()

    figures = {"n": args.n, "partition_rows": args.partition_rows, "workers": args.workers,
               "folds": args.folds, "calibration_folds": args.calibration_folds,
               "trials": args.trials, "cluster_sample_rows": args.cluster_sample_rows,
               "test_rows": args.test_rows,
               "simulate_s": round(simulate_s, 1), "cluster": on_cluster,
               "in_memory_subsample": in_memory}
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
