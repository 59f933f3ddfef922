"""Batch grouped explanations, rows per minute: the precomputed TreeSHAP tables against
xgboost's ``pred_contribs`` and ``shap.TreeExplainer`` on the same model and rows.

A response XGBoost model (the learner's defaults: 300 trees, depth 3; ``--depth 5`` for
the search space's deepest) is fitted on ``--train-rows`` simulated episodes; ``--rows``
fresh episodes are scored end to end from the frame (encoding, risk, grouped contributions:
the issue's "batch risk + grouped contributions", no interval), then encoded once and
explained by clinical variable three ways:

* ours: ``ModelExplainer.explain_batch`` (the tables of :mod:`spinerisk.explain.leaf_tables`,
  on every core the process may use);
* ``pred_contribs``: xgboost's TreeSHAP per encoded column (every core), then the same
  grouping (``explain_encoded``, the per-patient path, and batches before the tables);
* ``shap.TreeExplainer`` as users call it, then the same grouping, on the first
  ``--shap-rows`` rows (for an xgboost model it hands the rows to ``pred_contribs`` itself,
  so its values are identical to it; the time differs by its own matrix and checks).

Each is timed in wall and CPU seconds (CPU of every thread of this process) and CPU
microseconds a row, so a figure from a busy machine can still be compared per core; the
load average is printed before and after (on a shared machine, wall rows/min are not the
machine's). The tables' one-time build (tables, check against pred_contribs, numba import
and compiled-kernel load on the first batch) is reported apart. The largest difference
from ``pred_contribs`` is printed with each.

``--members N`` adds the serve side: an N-member bootstrap ensemble of the same trees is
fitted on ``--member-rows`` rows, and its model-load work (``BootstrapEnsemble.prepare``:
the members' explainers and TreeSHAP tables, checked against pred_contribs) and one
patient's driver noise (``contribution_sds``) are timed.

Run: uv run python benchmarks/bench_explain.py [--rows 1000000] [--shap-rows 50000]
     [--depth 3] [--members 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np


def fitted_model(train_rows: int, depth: int):
    from spinerisk.cohort import simulate
    from spinerisk.features import spine_task
    from spinerisk.models import RiskModel

    frame = simulate(train_rows, seed=11, tasks=("response",)).frame
    frame = frame[frame["response_50"].notna()]
    y = frame["response_50"].astype(int)
    # calibration does not enter the explanation (margin scale): none, to fit once
    return RiskModel(spine_task("response"), "xgboost", params={"max_depth": depth},
                     calibration="none", random_state=11).fit(frame, y)


def timed(label: str, rows: int, fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    """Run ``fn`` once; print wall and CPU seconds and rows/min; return its values."""
    cpu, wall = time.process_time(), time.perf_counter()
    values = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:<34} {rows:>9,} rows  wall {wall:7.2f} s  cpu {cpu:7.2f} s  "
          f"{rows / wall * 60:>12,.0f} rows/min  ({rows / cpu * 60:>12,.0f} per CPU-minute, "
          f"{cpu / rows * 1e6:6.1f} CPU-us a row)")
    return values, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows explained")
    parser.add_argument("--shap-rows", type=int, default=50_000,
                        help="rows explained by shap.TreeExplainer (slowest)")
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--depth", type=int, default=3, help="trees' max_depth")
    parser.add_argument("--members", type=int, default=0,
                        help="also time an ensemble of this many members at model load")
    parser.add_argument("--member-rows", type=int, default=3000,
                        help="training rows of the ensemble's members")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")

    from spinerisk.cohort import simulate
    from spinerisk.explain import ModelExplainer

    model = fitted_model(args.train_rows, args.depth)
    explainer = ModelExplainer(model)
    frame = simulate(args.rows, seed=12, tasks=("response",)).frame
    Z = explainer.encode_frame(frame)
    groups = explainer.groups
    print(f"xgboost, {model.estimator_.get_booster().num_boosted_rounds()} trees of depth "
          f"<= {args.depth}, {Z.shape[1]} encoded columns -> {len(groups.variables)} "
          "clinical variables")

    cpu, wall = time.process_time(), time.perf_counter()
    assert explainer.batch_tables is not None  # built here, outside the timed runs
    explainer.explain_batch(Z[:1000])  # numba import and compiled-kernel load
    print(f"tables, one-time build (tables, check, numba import, kernel load): wall "
          f"{time.perf_counter() - wall:.2f} s, cpu {time.process_time() - cpu:.2f} s")
    timed("batch risk + grouped contributions", len(frame),
          lambda: [(model.risk_of_encoded(z), explainer.explain_batch(z))
                   for z in (explainer.encode_frame(frame.iloc[i:i + 100_000])
                             for i in range(0, len(frame), 100_000))])
    ours, wall_ours = timed("ours: precomputed TreeSHAP tables", len(Z),
                            lambda: explainer.explain_batch(Z).values)
    reference, wall_xgb = timed("xgboost pred_contribs + grouping", len(Z),
                                lambda: explainer.explain_encoded(Z).values)
    import shap

    tree_explainer = shap.TreeExplainer(model.estimator_)
    k = min(args.shap_rows, len(Z))
    by_shap, wall_shap = timed("shap.TreeExplainer + grouping", k,
                               lambda: tree_explainer.shap_values(Z[:k]) @ groups.matrix)
    print(f"largest difference from pred_contribs: ours {np.abs(ours - reference).max():.1e}, "
          f"shap {np.abs(by_shap - reference[:k]).max():.1e}")
    print(f"speed-up (wall): {wall_xgb / wall_ours:.1f}x pred_contribs, "
          f"{wall_shap / k * len(Z) / wall_ours:.1f}x shap.TreeExplainer")
    if args.members:
        member_load(args.members, args.member_rows, args.depth)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def member_load(members: int, train_rows: int, depth: int) -> None:
    """Model-load time of an ensemble's driver-noise tables and one patient's noise."""
    from spinerisk.cohort import simulate
    from spinerisk.explain import fit_bootstrap_ensemble

    model = fitted_model(train_rows, depth)
    frame = simulate(train_rows, seed=11, tasks=("response",)).frame
    frame = frame[frame["response_50"].notna()]
    ensemble = fit_bootstrap_ensemble(model, frame, frame["response_50"].astype(int),
                                      n_members=members, seed=3)
    cpu, wall = time.process_time(), time.perf_counter()
    explainers, tables = ensemble.prepare()
    print(f"ensemble of {members} at model load (explainers, driver-noise tables): wall "
          f"{time.perf_counter() - wall:.2f} s, cpu {time.process_time() - cpu:.2f} s; "
          f"{'tables' if tables is not None else 'no tables (pred_contribs per member)'}")
    encoded = explainers[0].encode_frame(frame.iloc[:20])
    runs = []
    for i in range(len(encoded)):
        cpu = time.process_time()
        ensemble.contribution_sds([None], encoded[i:i + 1])
        runs.append(time.process_time() - cpu)
    print(f"one patient's driver noise: {statistics.median(runs) * 1e3:.1f} CPU-ms (median "
          f"of {len(runs)})")


if __name__ == "__main__":
    main()
