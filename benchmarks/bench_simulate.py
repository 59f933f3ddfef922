"""Simulator throughput: episodes per second at 1M rows (target: 1M in under a minute).

The plain-stack reference is the same draws without contract validation, so the ratio
shows what the data contract costs on top of the vectorised generator.

Run: uv run python benchmarks/bench_simulate.py
"""

from __future__ import annotations

import time
from unittest import mock

from spinerisk import schema
from spinerisk.cohort import simulate


def timed(n: int, validate: bool) -> float:
    started = time.perf_counter()
    if validate:
        simulate(n, sites=4, seed=3)
    else:
        with mock.patch.object(schema, "validate", lambda frame, tasks=None: frame):
            simulate(n, sites=4, seed=3)
    return time.perf_counter() - started


def main() -> None:
    n = 1_000_000
    full, bare = timed(n, True), timed(n, False)
    print(f"simulate {n:,} episodes, 4 sites: {full:.1f} s ({n / full:,.0f} rows/s); "
          f"generator alone {bare:.1f} s; validation share {1 - bare / full:.0%}; "
          f"target < 60 s: {'met' if full < 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
