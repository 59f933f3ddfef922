"""Internal validation by bootstrap: Harrell's optimism correction and Efron's .632 estimate.

For each bootstrap replicate the *whole* estimator (any scikit-learn estimator or
Pipeline, including preprocessing and tuning steps inside it) is cloned and refitted on
the bootstrap sample, then scored on that sample (apparent_b), on the original data
(test_b) and on the rows not drawn (out-of-bag). Harrell's corrected estimate is
``apparent - mean_b(apparent_b - test_b)``; the .632 estimate is
``0.368 * apparent + 0.632 * mean_b(oob_b)`` (Efron 1983).

Scorers follow scikit-learn's convention ``scorer(fitted_estimator, X, y) -> float``
(higher or lower is better does not matter here). ``y`` may be a 1-D array, a 2-D array
(e.g. columns time and event) or a pandas object; rows are taken with the same indices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from sklearn.base import clone

from spinerisk.evaluation.bootstrap import replicate_rows
from spinerisk.evaluation.results import OptimismResult

__all__ = ["optimism_corrected"]

Scorer = Callable[[object, object, object], float]


def _take(data, rows: np.ndarray):
    if hasattr(data, "iloc"):
        return data.iloc[rows]
    return np.asarray(data)[rows]


def _score_all(scorers: Mapping[str, Scorer], model, X, y) -> dict[str, float]:
    out = {}
    for name, scorer in scorers.items():
        try:
            out[name] = float(scorer(model, X, y))
        except ValueError:  # e.g. a single outcome class in an out-of-bag sample
            out[name] = float("nan")
    return out


def optimism_corrected(
    estimator, X, y, scorers: Mapping[str, Scorer], *, n_boot: int = 200, seed: int | None = 0,
    strata=None, groups=None, progress: bool = False,
) -> OptimismResult:
    """Harrell's bootstrap optimism-corrected performance (and .632) of a modelling pipeline.

    Parameters
    ----------
    estimator : unfitted scikit-learn estimator or Pipeline; cloned and refitted per replicate.
    X, y : development data (y may hold several columns, e.g. time and event).
    scorers : name -> ``scorer(fitted, X, y)``.
    n_boot : number of bootstrap replicates (Harrell suggests 200 or more).
    seed : seed for :func:`~spinerisk.evaluation.bootstrap.replicate_rows`.
    strata : optional labels to resample within (e.g. the binary outcome).
    groups : optional cluster labels (patient id): whole patients are resampled, so a
        patient's episodes are never split between the bootstrap sample and out-of-bag.
    progress : show a progress bar.

    Returns
    -------
    OptimismResult
    """
    if not scorers:
        raise ValueError("scorers is empty; pass at least one name -> scorer(fitted, X, y).")
    n = len(X)
    apparent = _score_all(scorers, clone(estimator).fit(X, y), X, y)
    idx = replicate_rows(n, n_boot, seed=seed, strata=strata, groups=groups)
    names = list(scorers)
    opt = np.full((n_boot, len(names)), np.nan)
    oob = np.full((n_boot, len(names)), np.nan)
    reps = range(n_boot)
    if progress:
        from tqdm import tqdm

        reps = tqdm(reps, desc="optimism bootstrap", unit="refit")
    for b, rows in zip(reps, idx):  # one refit per replicate: the loop is over models, not patients
        Xb, yb = _take(X, rows), _take(y, rows)
        try:
            model = clone(estimator).fit(Xb, yb)
        except ValueError:
            continue  # e.g. a replicate without events; counted in n_failed
        boot = _score_all(scorers, model, Xb, yb)
        test = _score_all(scorers, model, X, y)
        out_rows = np.setdiff1d(np.arange(n), rows, assume_unique=False)
        held = _score_all(scorers, model, _take(X, out_rows), _take(y, out_rows)) if out_rows.size else {}
        for j, k in enumerate(names):
            opt[b, j] = boot[k] - test[k]
            oob[b, j] = held.get(k, np.nan)
    mean_opt = {k: float(np.nanmean(opt[:, j])) if np.isfinite(opt[:, j]).any() else float("nan")
                for j, k in enumerate(names)}
    se_opt = {k: float(np.nanstd(opt[:, j], ddof=1) / np.sqrt(np.isfinite(opt[:, j]).sum()))
              if np.isfinite(opt[:, j]).sum() > 1 else float("nan") for j, k in enumerate(names)}
    mean_oob = {k: float(np.nanmean(oob[:, j])) if np.isfinite(oob[:, j]).any() else float("nan")
                for j, k in enumerate(names)}
    return OptimismResult(
        apparent=apparent,
        optimism=mean_opt,
        optimism_se=se_opt,
        corrected={k: apparent[k] - mean_opt[k] for k in names},
        dot632={k: 0.368 * apparent[k] + 0.632 * mean_oob[k] for k in names},
        n_boot=n_boot,
        seed=seed,
        n_failed={k: int((~np.isfinite(opt[:, j])).sum()) for j, k in enumerate(names)},
    )
