"""Vectorised, seeded, parallel-safe bootstrap.

The resampling is drawn once as an integer matrix of row indices (one row per replicate)
and turned into a ``(B, n)`` matrix of counts; every binary metric is then computed for
all replicates at once by its ``*_batch`` kernel (a resampled data set is the original
data with count weights), so there is no Python loop over patients or replicates.

Reproducibility and parallel safety: replicates are generated in fixed-size batches, and
batch ``k`` draws from ``numpy.random.default_rng(SeedSequence(seed).spawn(K)[k])``.
The result therefore depends only on ``seed``, ``n_boot`` and ``batch_size``, never on
``n_jobs`` or on which thread computed which batch.

Memory is bounded by chunking: within a batch, replicates are drawn and computed a chunk at
a time, at most ``max_cells`` (replicates x rows) per chunk, so a 1M-row bootstrap holds a
few replicates' counts at once instead of a whole batch's. A chunk draws the next
replicates of the batch's stream (numpy's generators give the same values drawn in one
call or in consecutive calls), so the numbers do not depend on ``max_cells``. The one
exception is a stratified draw (``strata``), which draws each stratum for all of a
batch's replicates in turn: it is drawn whole and only computed in chunks.

Resampling unit (clusters) and frequency weights: the bootstrap must resample what was
sampled independently. With ``groups`` (e.g. a patient id) whole groups are drawn, so the
episodes of one patient always travel together. Frequency weights are whole numbers of
identical units (a row, or a whole group when ``groups`` is given): a unit of weight m is m
units in the draw, so each replicate draws ``sum(m)`` units with probabilities proportional
to m (a multinomial), exactly the bootstrap of the data with every unit repeated m times.
Multiplying row draws by the weights instead would resample only the distinct rows and give
intervals about sqrt(m) times too wide. Without groups and weights, rows are drawn uniformly.

Intervals are percentile intervals (R ``quantile`` type 7).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from spinerisk.evaluation._glm import row_products
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
    "replicate_rows",
    "resample_indices",
]

#: replicates x rows held at once by default (64 MB per float array)
MAX_CELLS = 2**23

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


class _Units:
    """The resampling units (rows or groups) and their frequency weights."""

    def __init__(self, n: int, weights=None, groups=None, strata=None):
        if groups is None:
            self.code = np.arange(n)
        else:
            groups = np.asarray(groups)
            if groups.shape != (n,):
                raise ValueError(f"groups must have one label per row ({n}); got shape {groups.shape}.")
            if strata is not None:
                raise ValueError("stratify/strata cannot be combined with groups: one patient's episodes may "
                                 "differ in outcome. Resample patients (groups) without strata.")
            _, self.code = np.unique(groups, return_inverse=True)
        self.size = int(self.code.max()) + 1
        self.copies = np.ones(self.size)
        if weights is not None:
            w = np.asarray(weights, float)
            if np.any(w != np.round(w)):
                raise ValueError(
                    "the bootstrap treats weights as frequency weights (whole numbers of identical patients); "
                    f"found non-integer weights (e.g. {w[w != np.round(w)][0]!r}). Round them, or expand the data."
                )
            if groups is not None:
                first = np.zeros(self.size)
                first[self.code] = w
                if np.any(first[self.code] != w):
                    raise ValueError("weights must be equal within each group: a frequency weight counts copies "
                                     "of the whole patient. Give every row of a patient the same weight.")
            self.copies = np.bincount(self.code, weights=w, minlength=self.size) / np.bincount(self.code)
        self.strata = strata
        self.plain = groups is None and weights is None

    def count_chunks(self, n_rows: int, size: int, rng: np.random.Generator,
                     max_cells: int):
        """The ``size`` replicates' row counts, a chunk of at most ``max_cells`` cells (and
        at least one replicate) at a time, equal to one draw of all (module docstring)."""
        step = max(1, min(size, max_cells // max(n_rows, 1)))
        if self.strata is not None:  # strata are drawn in turn for the whole batch
            counts = self._counts(n_rows, size, rng)
            for start in range(0, size, step):
                yield counts[start:start + step]
            return
        for start in range(0, size, step):
            yield self._counts(n_rows, min(step, size - start), rng)

    def _counts(self, n_rows: int, size: int, rng: np.random.Generator) -> np.ndarray:
        if self.plain:  # the original uniform row draw (keeps earlier seeds' results)
            return counts_from_indices(_draw(n_rows, size, rng, self.strata), n_rows)
        levels = [None] if self.strata is None else np.unique(self.strata)
        counts = np.zeros((size, self.size))
        for level in levels:
            units = np.arange(self.size) if level is None else np.unique(self.code[np.asarray(self.strata) == level])
            m = self.copies[units]
            total = int(m.sum())
            if total > 0:
                counts[:, units] = rng.multinomial(total, m / total, size=size)
        return counts[:, self.code]


def replicate_rows(n: int, n_boot: int, *, seed: int | None = 0, strata=None, groups=None,
                   batch_size: int = 100, max_cells: int = MAX_CELLS):
    """Row indices of each bootstrap replicate (a drawn group contributes all its rows).

    Without ``groups`` this is ``resample_indices(...)[b]``; with ``groups`` the replicates
    resample groups and have a varying number of rows. Replicates are drawn a chunk of at
    most ``max_cells`` indices at a time (the same replicates for any value).
    """
    if groups is None:
        for size, child in _batches(n_boot, batch_size, seed):
            rng = np.random.default_rng(child)
            if strata is not None:  # strata are drawn in turn for the whole batch
                yield from _draw(n, size, rng, strata)
                continue
            step = max(1, min(size, max_cells // max(n, 1)))
            for start in range(0, size, step):
                yield from _draw(n, min(step, size - start), rng, None)
        return
    units = _Units(n, groups=groups, strata=strata)
    for size, child in _batches(n_boot, batch_size, seed):
        for counts in units.count_chunks(n, size, np.random.default_rng(child), max_cells):
            for row in counts.astype(np.int64):
                yield np.repeat(np.arange(n), row)


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
    n1 = row_products(W, y)
    one_class = (n1 == 0) | (n1 == W.sum(axis=1))
    for v in out.values():
        v[one_class] = np.nan
    return out


def bootstrap_binary(
    y, risk, *, metrics: Sequence[str] = BINARY_METRICS, n_boot: int = 1000, seed: int | None = 0,
    level: float = 0.95, weights=None, groups=None, stratify: bool = False, n_jobs: int = 1,
    batch_size: int = 100, max_cells: int = MAX_CELLS,
) -> BootstrapResult:
    """Percentile bootstrap CIs for binary metrics, all replicates computed at once.

    Parameters
    ----------
    y, risk : 0/1 outcomes and predicted probabilities.
    metrics : names from :data:`BINARY_METRICS`.
    n_boot : number of replicates.
    seed : seed (results depend only on seed, n_boot and batch_size).
    level : confidence level.
    weights : optional frequency weights (whole numbers): a row of weight m is m identical
        patients and is drawn as m units (see the module docstring).
    groups : optional cluster labels (patient id): whole clusters are resampled.
    stratify : resample events and non-events separately (not with ``groups``).
    n_jobs : threads used over batches (numpy releases the GIL in the kernels).
    batch_size : replicates per batch / RNG stream (the numbers depend on it).
    max_cells : replicates x rows computed at once (at least one replicate); bounds the
        memory at a few arrays of ``max_cells`` floats per thread without changing the
        numbers (module docstring).

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
    units = _Units(n, weights=None if np.all(w == 1.0) else w, groups=groups, strata=y if stratify else None)
    # Work in risk order so the AUC kernel never reorders columns.
    order = np.argsort(risk, kind="mergesort")
    ys, rs, ws = y[order], risk[order], w[order]
    starts = calibration_starts(ys, rs, ws) if any(m in _CALIBRATION for m in metrics) else None

    def run(batch):
        size, child = batch
        # take (not W[:, order], which is F-ordered): each replicate a contiguous row
        parts = [_binary_batch_metrics(ys, rs, W.take(order, axis=1), metrics, starts)
                 for W in units.count_chunks(n, size, np.random.default_rng(child), max_cells)]
        return {m: np.concatenate([p[m] for p in parts]) for m in metrics}

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
    if starts is not None and starts[2] is not None:  # the full-sample fit has no finite estimate
        for m in ("cal_intercept", "cal_slope"):
            if m in est:
                est[m] = Estimate.na(starts[2], level=level)
    return BootstrapResult(est, reps, n_boot, seed)


def bootstrap_apply(
    statistic: Callable[..., dict[str, float]], *arrays, n_boot: int = 200, seed: int | None = 0,
    level: float = 0.95, batch_size: int = 100, progress: bool = False, groups=None,
) -> BootstrapResult:
    """Bootstrap any statistic of row-aligned arrays (one call per replicate).

    For metrics without a vectorised kernel (survival concordance, calibration curves,
    refitted models). Replicates come from :func:`replicate_rows` (rows, or whole
    ``groups`` such as patients); ``statistic(*resampled_arrays)`` must return a dict of
    floats or :class:`Estimate` objects. A replicate where the statistic raises ValueError
    (e.g. no events drawn) or returns NaN (an NA value) is recorded as NaN and counted in
    ``n_failed``. When the full-sample value itself is NA, so is the result (with the
    statistic's reason when it returned an Estimate): no interval is given around an
    undefined value.
    """
    arrays = [np.asarray(a) for a in arrays]
    n = arrays[0].shape[0]
    full = statistic(*arrays)
    reps = {k: np.full(n_boot, np.nan) for k in full}
    rows = enumerate(replicate_rows(n, n_boot, seed=seed, groups=groups, batch_size=batch_size))
    if progress:
        from tqdm import tqdm

        rows = tqdm(rows, total=n_boot, desc="bootstrap", unit="rep")
    for b, idx in rows:
        try:
            out = statistic(*(a[idx] for a in arrays))
        except ValueError:
            continue
        for k, v in out.items():
            reps[k][b] = _value(v)
    est = {k: _with_interval(full[k], reps[k], level) for k in full}
    return BootstrapResult(est, reps, n_boot, seed)


def _value(v) -> float:
    return float(v.estimate) if isinstance(v, Estimate) else float(v)


def _with_interval(full, replicates: np.ndarray, level: float) -> Estimate:
    """The full-sample value with its percentile interval; NA stays NA (no interval)."""
    value = _value(full)
    if not np.isfinite(value):
        reason = full.reason if isinstance(full, Estimate) else None
        return Estimate(value, level=level, reason=reason)
    return Estimate(value, *percentile_interval(replicates, level), level, "bootstrap percentile")
