"""Benchmark: a cold ``spinerisk predict`` for one patient, start to answer.

Runs the command as a new process ``--repeats`` times (after one warm-up that fills the
byte-code cache) and reports the median wall time and the median CPU time (user + sys of
the child). On a shared machine the CPU time is the steadier figure: wall time there
includes waiting for cores that other jobs hold.

``--baseline-src`` runs the same command with another copy of spinerisk's sources first
on ``PYTHONPATH`` (e.g. ``git archive <commit> src | tar -x -C /tmp/old``, then
``--baseline-src /tmp/old/src``), for a before/after ratio; ``--baseline-tracking-uri``
names a store trained by that version (older versions cannot read models logged now,
and models they logged load through mlflow).

Needs a tracking store with the demo models (``make demo``, or ``--tracking-uri``).

Run: ``uv run python benchmarks/bench_startup.py [--repeats 7] [--baseline-src DIR]``
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPINERISK = Path(sys.executable).with_name("spinerisk")
CASES = {
    "reoperation model, PELD patient": ["--model", "models:/spinerisk-reoperation@candidate",
                                        "--patient", "examples/patient-reoperation.json"],
    "every task's candidate, ESI patient": ["--patient", "examples/patient.json"],
}


def _run_once(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + sys) seconds of one run of ``spinerisk predict``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([str(SPINERISK), "predict", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"spinerisk predict {' '.join(args)} failed:\n{done.stderr[-800:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(args: list[str], env: dict[str, str], repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds over ``repeats`` runs, after one warm-up run."""
    _run_once(args, env)
    runs = [_run_once(args, env) for _ in range(repeats)]
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--tracking-uri", default=None,
                        help="store with the demo models (default: the resolved store)")
    parser.add_argument("--baseline-src", type=Path, default=None,
                        help="another copy of spinerisk's src/ to compare against")
    parser.add_argument("--baseline-tracking-uri", default=None,
                        help="store with the demo models trained by the baseline version")
    args = parser.parse_args()

    env = dict(os.environ)
    if args.tracking_uri:
        env["SPINERISK_TRACKING_URI"] = args.tracking_uri
    versions = {"now": env}
    if args.baseline_src is not None:
        versions["baseline"] = {**env, "PYTHONPATH": str(args.baseline_src.resolve())}
        if args.baseline_tracking_uri:
            versions["baseline"]["SPINERISK_TRACKING_URI"] = args.baseline_tracking_uri
    print(f"cold `spinerisk predict`, median of {args.repeats} runs after a warm-up; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    for label, case in CASES.items():
        for version, version_env in versions.items():
            wall, cpu = measure(case, version_env, args.repeats)
            print(f"  {label:38s} {version:8s} wall {wall:5.2f} s   CPU {cpu:5.2f} s")


if __name__ == "__main__":
    main()
