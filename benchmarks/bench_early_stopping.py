"""Tuning with and without early stopping on the inner folds (``search.early_stopping_rounds``).

One experiment config's study (default the demo's ``configs/demo/response.yaml``) is run
on all its rows twice with the same seed and an in-memory storage: once with
``early_stopping_rounds: null`` (every trial grows its full ``n_estimators``, the path
before early stopping) and once with the given patience. Printed per setting: tuning
seconds, best score (held-out inner-fold loss), the best trial's rounds, and each trial's
rounds (drawn / chosen) and state.

Run: uv run python benchmarks/bench_early_stopping.py [--config configs/demo/response.yaml]
     [--n-trials 5] [--patience 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

from spinerisk.training import load_config
from spinerisk.training.runner import Fitter, prepare


def tuned(config, patience: int | None, n_trials: int, repeats: int):
    """The fastest of ``repeats`` identical studies (seconds) and its result."""
    search = config.search.model_copy(update={"early_stopping_rounds": patience,
                                              "n_trials": n_trials, "storage": ":memory:"})
    config = config.model_copy(update={"search": search})
    task, data, _ = prepare(config)
    fitter = Fitter(config, task, "bench", progress=False)
    best = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fitter.study(data, "final")
        seconds = time.perf_counter() - started
        best = seconds if best is None else min(best, seconds)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/demo/response.yaml")
    parser.add_argument("--n-trials", type=int, default=5)
    parser.add_argument("--patience", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = load_config(args.config)
    for patience in (None, args.patience):
        seconds, result = tuned(config, patience, args.n_trials, args.repeats)
        rounds = [f"{t['params'].get('n_estimators')}:{t['state'][:4].lower()}"
                  for t in result.trials]
        print(f"early_stopping_rounds={patience}: tuning {seconds:.2f} s (best of "
              f"{args.repeats}), best score {result.best_value:.5f}, best trial's "
              f"n_estimators {result.best_params.get('n_estimators')}; trials' rounds "
              f"{' '.join(rounds)}")


if __name__ == "__main__":
    main()
