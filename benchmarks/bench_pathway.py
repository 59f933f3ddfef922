"""Benchmark: the care-pathway engine over 100k simulated episodes.

Compares the vectorised engine (``pathway_features``) with the plain way of applying
the same rules one patient at a time (``assess_patient`` in a loop, timed on a sample
and extrapolated), and prints the concordance shares by task (aggregates only).

Run: ``uv run python benchmarks/bench_pathway.py [--n 100000]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import pandas as pd

from spinerisk.cohort import simulate
from spinerisk.phenotype import assess_patient, pathway_features
from spinerisk.phenotype.summary import concordance_summary


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="episodes to simulate")
    parser.add_argument("--loop-sample", type=int, default=500,
                        help="episodes timed through the per-patient loop")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    print(f"simulating {args.n:,} episodes (seed {args.seed}) ...", flush=True)
    frame = simulate(n=args.n, sites=4, seed=args.seed).frame

    vectorised = _median_seconds(lambda: pathway_features(frame), repeats=3)
    records = [{k: (None if pd.isna(v) else v) for k, v in row.items()}
               for row in frame.head(args.loop_sample).to_dict(orient="records")]
    loop = _median_seconds(lambda: [assess_patient(r) for r in records], repeats=1)
    per_patient = loop / len(records)

    print(f"vectorised pathway_features: {vectorised:.2f} s for {args.n:,} episodes "
          f"({args.n / vectorised:,.0f} episodes/s)")
    print(f"per-patient assess_patient loop: {per_patient * 1e3:.2f} ms per episode "
          f"(extrapolated {per_patient * args.n:.0f} s for {args.n:,})")
    print(f"ratio loop / vectorised: {per_patient * args.n / vectorised:,.0f}x")

    summary = concordance_summary(frame)
    by_task = summary.query("procedure == 'all'").set_index("task")
    print("\nconcordance of the planned procedure by task (shares; n):")
    print(by_task.round(3).to_string())


if __name__ == "__main__":
    main()
