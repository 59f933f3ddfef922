"""Benchmark: 1,000 bootstrap replicates of AUC + calibration intercept/slope + Brier on 20,000 rows.

Compares spinerisk's vectorised engine (one index matrix, count-weighted kernels) with a
plain Python loop over replicates calling scikit-learn / statsmodels-free numpy code
(sklearn roc_auc_score, brier_score_loss and LogisticRegression(penalty=None) for the
calibration fits). Prints wall times, the ratio, and the largest difference between the
two sets of replicate values (same resampled rows in both).

Memory (``--memory-rows N``): tracemalloc's peak of a 100-replicate bootstrap of N rows
computed a chunk at a time (the default ``max_cells``) and as one batch (the engine before
chunking held a whole batch), with the replicates checked equal.

Run: uv run python benchmarks/bench_bootstrap.py [--loop-reps 100]
     uv run python benchmarks/bench_bootstrap.py --memory-rows 1000000
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc

import numpy as np
from scipy.special import expit, logit

from spinerisk.evaluation.bootstrap import MAX_CELLS, bootstrap_binary, resample_indices

METRICS = ("auc", "brier", "citl_intercept", "cal_intercept", "cal_slope")


def sklearn_loop(y, p, idx):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import brier_score_loss, roc_auc_score

    x = logit(p)
    out = np.empty((idx.shape[0], 5))
    for b, rows in enumerate(idx):
        yb, pb, xb = y[rows], p[rows], x[rows]
        lr = LogisticRegression(penalty=None, tol=1e-10, max_iter=1000).fit(xb[:, None], yb)
        # calibration-in-the-large: intercept with offset logit(p); one Newton solve
        a = 0.0
        for _ in range(50):
            mu = expit(a + xb)
            step = np.sum(yb - mu) / np.sum(mu * (1 - mu))
            a += step
            if abs(step) < 1e-12:
                break
        out[b] = [roc_auc_score(yb, pb), brier_score_loss(yb, pb), a, lr.intercept_[0], lr.coef_[0, 0]]
    return out


def peak_memory(n: int, max_cells: int):
    """tracemalloc peak (GB) and replicates of a 100-replicate bootstrap of ``n`` rows."""
    rng = np.random.default_rng(7)
    p = expit(rng.normal(-0.5, 1.0, n))
    y = (rng.uniform(size=n) < p).astype(float)
    tracemalloc.start()
    t0 = time.perf_counter()
    res = bootstrap_binary(y, p, metrics=METRICS, n_boot=100, seed=1, max_cells=max_cells)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**30
    tracemalloc.stop()
    return peak, seconds, res


def memory(n: int) -> None:
    chunked = peak_memory(n, MAX_CELLS)
    whole = peak_memory(n, 100 * n)
    same = all(np.array_equal(chunked[2].replicates[m], whole[2].replicates[m], equal_nan=True)
               for m in METRICS)
    print(f"n={n:,}, 100 replicates: chunked (max_cells={MAX_CELLS:,}) peak {chunked[0]:.2f} GB "
          f"in {chunked[1]:.1f} s; one batch peak {whole[0]:.2f} GB in {whole[1]:.1f} s; "
          f"replicates identical: {same}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--loop-reps", type=int, default=100, help="replicates timed for the loop (scaled up)")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--memory-rows", type=int, help="measure peak memory at this many rows")
    args = ap.parse_args()
    if args.memory_rows:
        memory(args.memory_rows)
        return
    load0 = os.getloadavg()[0]
    rng = np.random.default_rng(2024)
    lp = rng.normal(-1.0, 1.2, args.n)
    p = expit(lp)
    y = (rng.uniform(size=args.n) < expit(0.1 + 0.9 * lp)).astype(float)

    bootstrap_binary(y, p, metrics=METRICS, n_boot=50, seed=1, n_jobs=args.n_jobs)  # warm-up
    times, cpu = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        res = bootstrap_binary(y, p, metrics=METRICS, n_boot=args.n_boot, seed=1, n_jobs=args.n_jobs)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    t_vec = float(np.median(times))

    idx = resample_indices(args.n, args.n_boot, seed=1)[: args.loop_reps]
    t0 = time.perf_counter()
    loop = sklearn_loop(y, p, idx)
    t_loop = (time.perf_counter() - t0) * args.n_boot / args.loop_reps
    vec = np.column_stack([res.replicates[m][: args.loop_reps] for m in METRICS])
    print(f"n={args.n} n_boot={args.n_boot} n_jobs={args.n_jobs}; "
          f"load average before/after: {load0:.1f}/{os.getloadavg()[0]:.1f} (other jobs inflate wall time)")
    print(f"vectorised engine: {t_vec:.2f} s wall, {float(np.median(cpu)):.2f} s CPU (medians of 3)")
    print(f"python loop (sklearn), extrapolated from {args.loop_reps} reps: {t_loop:.1f} s")
    print(f"ratio loop / vectorised: {t_loop / t_vec:.1f}x")
    diffs = np.abs(vec - loop).max(axis=0)
    print("max |difference| per metric:", ", ".join(f"{m} {d:.1e}" for m, d in zip(METRICS, diffs)))


if __name__ == "__main__":
    main()
