"""Vectorised, seeded, parallel-safe bootstrap.

The resampling is drawn once as an integer matrix of row indices (one row per replicate)
and turned into a ``(B, n)`` matrix of counts; every binary metric is then computed for
all replicates at once by its ``*_batch`` kernel (a resampled data set is the original
data with count weights), so there is no Python loop over patients or replicates.

Reproducibility and parallel safety: replicates are generated in fixed-size batches, and
batch ``k`` draws from ``numpy.random.default_rng(SeedSequence(seed).spawn(K)[k])``.
The result therefore depends only on ``seed``, ``n_boot`` and ``batch_size``, never on
``n_jobs`` or on which thread computed which batch.

Intervals are percentile intervals (R ``quantile`` type 7).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from spinerisk.evaluation._validate import check_binary, check_open_unit
from spinerisk.evaluation.binary import (
    auc_batch,
    brier_batch,
    calibration_batch,
    calibration_starts,
    discrimination_slope_batch,
    oe_batch,
    scaled_brier_batch,
)
from spinerisk.evaluation.results import BootstrapResult, Estimate

__all__ = [
    "BINARY_METRICS",
    "bootstrap_apply",
    "bootstrap_binary",
    "counts_from_indices",
    "percentile_interval",
    "resample_indices",
]

BINARY_METRICS = (
    "auc", "brier", "scaled_brier", "oe_ratio", "citl_intercept", "cal_intercept", "cal_slope",
    "discrimination_slope",
)
_CALIBRATION = ("citl_intercept", "cal_intercept", "cal_slope")
_SIMPLE = {
    "auc": auc_batch,
    "brier": brier_batch,
    "scaled_brier": scaled_brier_batch,
    "oe_ratio": oe_batch,
    "discrimination_slope": discrimination_slope_batch,
}


def _batches(n_boot: int, batch_size: int, seed: int | None):
    sizes = [min(batch_size, n_boot - s) for s in range(0, n_boot, batch_size)]
    children = np.random.SeedSequence(seed).spawn(len(sizes))
    return list(zip(sizes, children))


def resample_indices(n: int, n_boot: int, *, seed: int | None = None, strata=None,
                     batch_size: int = 100) -> np.ndarray:
    """Bootstrap row indices, shape (n_boot, n), reproducible from ``seed``.

    Parameters
    ----------
    n : number of rows.
    n_boot : number of replicates.
    seed : seed of the SeedSequence (None = fresh entropy).
    strata : optional (n,) labels; rows are resampled within each stratum (e.g. the
        outcome, to keep the number of events fixed).
    batch_size : replicates per independent RNG stream (see module docstring).
    """
    out = np.empty((n_boot, n), dtype=np.int64)
    start = 0
    for size, child in _batches(n_boot, batch_size, seed):
        out[start:start + size] = _draw(n, size, np.random.default_rng(child), strata)
        start += size
    return out


def _draw(n: int, size: int, rng: np.random.Generator, strata) -> np.ndarray:
    if strata is None:
        return rng.integers(0, n, size=(size, n))
    strata = np.asarray(strata)
    idx = np.empty((size, n), dtype=np.int64)
    col = 0
    for level in np.unique(strata):
        members = np.flatnonzero(strata == level)
        idx[:, col:col + members.size] = members[rng.integers(0, members.size, size=(size, members.size))]
        col += members.size
    return idx


def counts_from_indices(idx: np.ndarray, n: int) -> np.ndarray:
    """(B, n) matrix of how often each row was drawn in each replicate (one bincount)."""
    B = idx.shape[0]
    flat = (idx + (np.arange(B, dtype=np.int64) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=B * n).reshape(B, n).astype(float)


def percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval ignoring failed (NaN) replicates."""
    ok = values[np.isfinite(values)]
    if ok.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(ok, [0.5 - level / 2, 0.5 + level / 2])
    return float(lo), float(hi)


def _binary_batch_metrics(y, risk, W, metrics, starts=None) -> dict[str, np.ndarray]:
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name in metrics:
            if name in _SIMPLE:
                out[name] = _SIMPLE[name](y, risk, W)
        if any(m in _CALIBRATION for m in metrics):
            cal = calibration_batch(y, risk, W, starts)
            for j, name in enumerate(_CALIBRATION):
                if name in metrics:
                    out[name] = cal[:, j]
    # a replicate with a single outcome class has no defined metric
    n1 = W @ y
    one_class = (n1 == 0) | (n1 == W.sum(axis=1))
    for v in out.values():
        v[one_class] = np.nan
    return out


def bootstrap_binary(
    y, risk, *, metrics: Sequence[str] = BINARY_METRICS, n_boot: int = 1000, seed: int | None = 0,
    level: float = 0.95, weights=None, stratify: bool = False, n_jobs: int = 1, batch_size: int = 100,
) -> BootstrapResult:
    """Percentile bootstrap CIs for binary metrics, all replicates computed at once.

    Parameters
    ----------
    y, risk : 0/1 outcomes and predicted probabilities.
    metrics : names from :data:`BINARY_METRICS`.
    n_boot : number of replicates.
    seed : seed (results depend only on seed, n_boot and batch_size).
    level : confidence level.
    weights : optional frequency weights (multiplied into the bootstrap counts).
    stratify : resample events and non-events separately.
    n_jobs : threads used over batches (numpy releases the GIL in the kernels).
    batch_size : replicates per batch / RNG stream; bounds memory at
        ``batch_size * n`` floats per array.

    Returns
    -------
    BootstrapResult
    """
    unknown = set(metrics) - set(BINARY_METRICS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {list(BINARY_METRICS)}")
    # the AUC needs only an ordering; every other metric needs probabilities
    y, risk, w = check_binary(y, risk, weights, probability=set(metrics) != {"auc"})
    if any(m in _CALIBRATION for m in metrics):
        check_open_unit(risk, "calibration intercept/slope")
    n = y.size
    strata = y if stratify else None
    # Work in risk order so the AUC kernel never reorders columns; replicate b still uses
    # exactly the rows resample_indices(n, n_boot, seed=seed, strata=...)[b].
    order = np.argsort(risk, kind="mergesort")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    ys, rs, ws = y[order], risk[order], w[order]
    unit = bool(np.all(ws == 1.0))
    starts = calibration_starts(ys, rs, ws) if any(m in _CALIBRATION for m in metrics) else None

    def run(batch):
        size, child = batch
        idx = rank[_draw(n, size, np.random.default_rng(child), strata)]
        W = counts_from_indices(idx, n)
        return _binary_batch_metrics(ys, rs, W if unit else W * ws[None, :], metrics, starts)

    batches = _batches(n_boot, batch_size, seed)
    if n_jobs == 1:
        parts = [run(b) for b in batches]
    else:
        from threadpoolctl import threadpool_limits  # scikit-learn dependency

        # one BLAS thread per worker, so the threads do not oversubscribe the cores
        with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(max_workers=n_jobs) as pool:
            parts = list(pool.map(run, batches))
    reps = {m: np.concatenate([p[m] for p in parts]) for m in metrics}
    full = _binary_batch_metrics(ys, rs, ws[None, :], metrics, starts)
    est = {m: Estimate(float(full[m][0]), *percentile_interval(reps[m], level), level, "bootstrap percentile")
           for m in metrics}
    return BootstrapResult(est, reps, n_boot, seed)


def bootstrap_apply(
    statistic: Callable[..., dict[str, float]], *arrays, n_boot: int = 200, seed: int | None = 0,
    level: float = 0.95, batch_size: int = 100, progress: bool = False,
) -> BootstrapResult:
    """Bootstrap any statistic of row-aligned arrays (one call per replicate).

    For metrics without a vectorised kernel (survival concordance, calibration curves,
    refitted models). The index matrix is drawn once with :func:`resample_indices`;
    ``statistic(*resampled_arrays)`` must return a dict of floats. A replicate where
    the statistic raises ValueError (e.g. no events drawn) is recorded as NaN.
    """
    arrays = [np.asarray(a) for a in arrays]
    n = arrays[0].shape[0]
    full = statistic(*arrays)
    idx = resample_indices(n, n_boot, seed=seed, batch_size=batch_size)
    reps = {k: np.full(n_boot, np.nan) for k in full}
    rows = range(n_boot)
    if progress:
        from tqdm import tqdm

        rows = tqdm(rows, desc="bootstrap", unit="rep")
    for b in rows:
        try:
            out = statistic(*(a[idx[b]] for a in arrays))
        except ValueError:
            continue
        for k, v in out.items():
            reps[k][b] = v
    est = {k: Estimate(float(full[k]), *percentile_interval(reps[k], level), level, "bootstrap percentile")
           for k in full}
    return BootstrapResult(est, reps, n_boot, seed)
