"""The shipped ``response_xgboost`` config at registry scale: wall, peak RSS, per phase.

One ``run_experiment`` (tracking to a throw-away sqlite store) on ``--n`` simulated rows,
with each phase timed and its peak resident memory sampled (a thread reads
``/proc/self/statm`` every 20 ms; the process peak is ``ru_maxrss``):

=================  ==============================================================
phase              what it covers
=================  ==============================================================
data               simulate, care-pathway features, task rows, fingerprint
folds              outer fold assignment and its log
outer.tuning       the Optuna study inside each outer fold (inner folds)
outer.fit          base learner on each outer fold's training part
outer.calibration  the out-of-fold margins behind each outer model's Platt fit (none
                   where a fit calibrates on its rounds fold, ``calibration.margins``)
metrics            the bootstrap CIs of the pooled held-out risks (``cv.bootstrap``)
final.tuning       the study on all rows
*.rounds           the boosting rounds re-chosen on all a study's rows after its trials
                   ran on a sample (``search.sample_rows``; within the tuning above)
final.fit          final model (and ``final.calibration``)
ensemble           bootstrap ensemble members (``uncertainty.bootstrap_members``)
coverage           interval coverage on fresh simulated patients
iecv.*             internal-external CV by site (tuning, fit, calibration, metrics)
mlflow             params, metrics, plots, SHAP importance, model logging/registration
=================  ==============================================================

A phase's time is its own (nested phases are subtracted); its peak RSS includes what its
nested phases held. The same script runs against the code before this work with
``PYTHONPATH`` pointing at an exported ``src`` (``git archive main src | tar -x -C /tmp/base``)
so both paths are measured identically.

Run (one size, full config):
    uv run python benchmarks/bench_scale_1m.py --n 1000000 --json /tmp/scale_1m.json
Reduced (shared machine), e.g. a quarter of the trials and ensemble members:
    uv run python benchmarks/bench_scale_1m.py --n 50000 --n-trials 8 --members 5
Today's path (the code before this work):
    PYTHONPATH=/tmp/base/src uv run python benchmarks/bench_scale_1m.py --n 50000 ...
Metrics against today's path on a 20k subsample: run both with ``--n 20000 --json F``
and compare the ``metrics`` of the two files (``--compare A.json B.json``).

``--kept-matrices N``: CPU seconds of one 4-trial study at N rows with the inner folds'
matrices kept across trials (``training.rounds.FoldMatrices``) and rebuilt for each trial.

Projection to the full config at another size (``--project F.json --to 1000000``): the
boosting work (rows x rounds) measured per tuning trial, per model fit and per ensemble
member is scaled to the config's trials and members and to ``--to`` rows (linearly: it
assumes a trial grows as many rounds on more rows, which is optimistic), and turned into
seconds with ``--seconds-per-m`` (seconds per million row-rounds, from ``--throughput N``:
one boosting fit on N simulated rows with the config's predictors on this machine's
threads). Other phases are scaled linearly in rows from their measured CPU seconds (the
wall seconds of a loaded machine would inflate them). A study's trials are projected on
at most the config's ``search.sample_rows`` rows (``--sample-rows`` overrides it, 0 for
every row; the run's per-study ``tuning_rows`` give the measured ones); the rounds
re-chosen on all a study's rows count with the fits (linear in rows).

``--sample-rows N``, ``--member-calibration`` and ``--calibration-margins`` set
``search.sample_rows``, ``uncertainty.member_calibration`` and ``calibration.margins``
for a measured run (default: the config's).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from functools import wraps
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


class Phases:
    """Exclusive wall time and inclusive peak RSS per named phase (a stack of phases)."""

    def __init__(self, interval_s: float = 0.02):
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.peak: dict[str, int] = defaultdict(int)
        self.calls: dict[str, int] = defaultdict(int)
        #: boosting work: rows x rounds grown (a measure of the work that load does not blur)
        self.row_rounds: dict[str, int] = defaultdict(int)
        self.stack: list[list] = []  # [name, started, cpu started, child s, child cpu s]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(interval_s,), daemon=True)
        self._thread.start()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def _sample(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.note()

    def note(self) -> None:
        now = self.rss()
        for name, *_ in list(self.stack):
            self.peak[name] = max(self.peak[name], now)

    @contextmanager
    def phase(self, name: str):
        if self.stack:  # a phase named inside a top-level one is qualified by it
            top = self.stack[0][0].split(".")[0]
            name = name if name.startswith(top) else f"{top}.{name}"
        self.stack.append([name, time.perf_counter(), time.process_time(), 0.0, 0.0])
        self.note()
        try:
            yield
        finally:
            self.note()
            name, started, cpu_started, children, children_cpu = self.stack.pop()
            total = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            self.seconds[name] += total - children
            self.cpu[name] += cpu - children_cpu
            self.calls[name] += 1
            if self.stack:
                self.stack[-1][3] += total
                self.stack[-1][4] += cpu

    def grew(self, rows: int) -> None:
        """One boosting round on ``rows`` rows, in the innermost phase."""
        self.row_rounds[self.stack[-1][0] if self.stack else "other"] += rows

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def instrument(phases: Phases) -> None:
    """Wrap the runner's steps (by name, so any version of the code is measured alike)."""
    import xgboost as xgb

    from spinerisk.explain import uncertainty
    from spinerisk.models import RiskModel
    from spinerisk.training import runner

    def wrap(owner, attr: str, name: str) -> None:
        inner = getattr(owner, attr)

        @wraps(inner)
        def timed(*args, **kwargs):
            # tuning and fitting outside the outer folds and sites are the final model's
            label = f"final.{name}" if not phases.stack and name in ("tuning", "fit") else name
            with phases.phase(label):
                return inner(*args, **kwargs)

        setattr(owner, attr, timed)

    wrap(runner, "prepare", "data")
    wrap(runner, "grouped_folds", "folds")
    wrap(runner, "nested_cv", "outer")
    wrap(runner, "internal_external", "iecv")
    wrap(runner, "performance", "metrics")
    wrap(runner, "simulated_coverage", "coverage")
    wrap(runner, "_log", "mlflow")
    wrap(runner.Fitter, "tune", "tuning")
    if hasattr(runner.Fitter, "rounds_on_all_rows"):  # rounds re-chosen on all rows
        wrap(runner.Fitter, "rounds_on_all_rows", "rounds")
    wrap(runner.Fitter, "fit", "fit")
    wrap(RiskModel, "_out_of_fold_margin", "calibration")
    wrap(uncertainty, "fit_bootstrap_ensemble", "ensemble")
    update = xgb.Booster.update  # every round of every fit (xgb.train calls it)

    def counted(booster, dtrain, *args, **kwargs):
        phases.grew(dtrain.num_row())
        return update(booster, dtrain, *args, **kwargs)

    xgb.Booster.update = counted


def config_for(args):
    from spinerisk.training import load_config

    config = load_config(args.config)
    sim = config.data.simulate.model_copy(update={"n": args.n})
    data = config.data.model_copy(update={"simulate": sim})
    update: dict = {"data": data}
    search = {"storage": ":memory:"}
    if args.n_trials is not None:
        search["n_trials"] = args.n_trials
    if args.sample_rows is not None:  # 0: every row
        search["sample_rows"] = args.sample_rows or None
    update["search"] = config.search.model_copy(update=search)
    if args.member_calibration is not None:
        update["uncertainty"] = config.uncertainty.model_copy(
            update={"member_calibration": args.member_calibration})
    if args.calibration_margins is not None:
        update["calibration"] = config.calibration.model_copy(
            update={"margins": args.calibration_margins})
    if args.members is not None:
        update["uncertainty"] = update.get("uncertainty", config.uncertainty).model_copy(
            update={"bootstrap_members": args.members})
    if args.bootstrap is not None:
        update["cv"] = config.cv.model_copy(update={"bootstrap": args.bootstrap})
    return config.model_copy(update=update)


def measure(args) -> dict:
    phases = Phases()
    instrument(phases)
    from spinerisk.training import runner

    config = config_for(args)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = runner.run_experiment(config, tracking_uri=f"sqlite:///{tmp}/mlflow.db",
                                       progress=False)
        wall = time.perf_counter() - started
        cpu = time.process_time()
    phases.stop()
    metrics = {k: {"estimate": v.estimate, "lower": v.lower, "upper": v.upper}
               for k, v in result.performance.metrics.items()}
    return {"n_rows_simulated": args.n, "rows": result.data_summary["rows"],
            "events": result.data_summary["events"],
            "config": {"n_trials": config.search.n_trials,
                       "sample_rows": getattr(config.search, "sample_rows", None),
                       "member_calibration": getattr(config.uncertainty,
                                                     "member_calibration", "cross_fit"),
                       "inner_folds": config.search.inner_folds,
                       "outer_folds": config.cv.folds, "bootstrap": config.cv.bootstrap,
                       "members": config.uncertainty.bootstrap_members,
                       "calibration_folds": config.calibration.folds,
                       "calibration_margins": getattr(config.calibration, "margins",
                                                      "cross_fit")},
            "code": str(Path(runner.__file__).resolve().parents[2]),
            "wall_s": wall, "cpu_s": cpu, "load_average": os.getloadavg(),
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "row_rounds_m": sum(phases.row_rounds.values()) / 1e6,
            "phases": {name: {"seconds": phases.seconds[name], "cpu_s": phases.cpu[name],
                              "calls": phases.calls[name],
                              "row_rounds_m": phases.row_rounds[name] / 1e6,
                              "peak_rss_gb": phases.peak[name] / 2**30}
                       for name in sorted(phases.seconds, key=phases.seconds.get,
                                          reverse=True)},
            "tuning_rows": getattr(result, "tuning_rows", {}),
            "best_params": result.best_params, "metrics": metrics}


def show(out: dict) -> None:
    print(f"{out['n_rows_simulated']:,} simulated rows -> {out['rows']:,} task rows "
          f"({out['events']:,} events); config {out['config']}; code {out['code']}")
    print(f"wall {out['wall_s']:.1f} s, process CPU {out['cpu_s']:.1f} s, peak RSS "
          f"{out['peak_rss_gb']:.2f} GB, load average at the end {out['load_average']}")
    print(f"boosting work {out['row_rounds_m']:,.1f} M row-rounds (rows x rounds grown)")
    print(f"{'phase':<22}{'seconds':>10}{'share':>8}{'CPU s':>9}{'M row-rounds':>14}"
          f"{'calls':>7}{'peak GB':>9}")
    for name, p in out["phases"].items():
        print(f"{name:<22}{p['seconds']:>10.1f}{p['seconds'] / out['wall_s']:>8.0%}"
              f"{p['cpu_s']:>9.1f}{p['row_rounds_m']:>14.1f}{p['calls']:>7}"
              f"{p['peak_rss_gb']:>9.2f}")
    rest = out["wall_s"] - sum(p["seconds"] for p in out["phases"].values())
    print(f"{'(outside the phases)':<22}{rest:>10.1f}{rest / out['wall_s']:>8.0%}  "
          "sample-size check, tracking run set-up, imports")


def compare(a: dict, b: dict) -> None:
    """Metric estimates of two runs, with the larger CI half-width as the yardstick."""
    print(f"{'metric':<16}{'A':>10}{'B':>10}{'diff':>10}{'CI half-width':>15}")
    for name in a["metrics"]:
        ma, mb = a["metrics"][name], b["metrics"].get(name)
        if mb is None:
            continue
        half = max((ma["upper"] - ma["lower"]) / 2, (mb["upper"] - mb["lower"]) / 2)
        print(f"{name:<16}{ma['estimate']:>10.4f}{mb['estimate']:>10.4f}"
              f"{mb['estimate'] - ma['estimate']:>10.4f}{half:>15.4f}")


TUNING = ("outer.tuning", "iecv.tuning", "final.tuning")
#: boosting whose rows grow with the data's (the rounds re-chosen on all a study's rows
#: included), scaled linearly in rows
FITS = ("outer.fit", "outer.calibration", "iecv.fit", "iecv.calibration", "final.fit",
        "final.calibration", "outer.rounds", "iecv.rounds", "final.rounds")
ENSEMBLE = ("ensemble", "ensemble.calibration")


def throughput(n: int, config_path: str, rounds: int = 200) -> float:
    """Seconds per million row-rounds of one xgboost fit on ``n`` simulated rows."""
    from spinerisk.models import RiskModel
    from spinerisk.training import load_config
    from spinerisk.training.runner import prepare

    config = load_config(config_path)
    sim = config.data.simulate.model_copy(update={"n": n})
    config = config.model_copy(update={"data": config.data.model_copy(update={"simulate": sim})})
    task, data, _ = prepare(config)
    model = RiskModel(task, "xgboost", params={"n_estimators": rounds}, calibration="none")
    started, cpu = time.perf_counter(), time.process_time()
    model.fit(data.X, data.y)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    work = data.n * rounds / 1e6
    print(f"{data.n:,} rows x {rounds} rounds: {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"(load average {os.getloadavg()[0]:.1f}): {wall / work:.3f} s per M row-rounds "
          f"(wall), {cpu / work:.3f} CPU s")
    return wall / work


def kept_matrices(n: int, config_path: str, trials: int = 4, repeats: int = 2) -> None:
    """CPU seconds of one study with the inner folds' matrices kept across trials and
    rebuilt for each trial (the path before), alternating; same best trial checked."""
    from spinerisk.training import load_config, rounds, runner
    from spinerisk.training.runner import Fitter, prepare

    class Rebuilt(rounds.FoldMatrices):
        def get(self, key, build):
            return build()

    config = load_config(config_path)
    sim = config.data.simulate.model_copy(update={"n": n})
    config = config.model_copy(update={
        "data": config.data.model_copy(update={"simulate": sim}),
        "search": config.search.model_copy(update={"n_trials": trials, "storage": ":memory:"})})
    task, data, _ = prepare(config)
    kept = runner.FoldMatrices
    seen = defaultdict(list)
    for _ in range(repeats):
        for label, cls in (("rebuilt", Rebuilt), ("kept", kept)):
            runner.FoldMatrices = cls
            cpu = time.process_time()
            result = Fitter(config, task, label, progress=False).study(data, "final")
            seen[label].append((time.process_time() - cpu, result.best_value))
    runner.FoldMatrices = kept
    for label, runs in seen.items():
        print(f"{label}: CPU s {', '.join(f'{c:.1f}' for c, _ in runs)}; best value "
              f"{runs[0][1]!r}")


def tuning_scale(out: dict, scale: float, sample_rows: int | None) -> dict[str, float]:
    """Per tuning phase: the factor from the measured trials' rows to the projected ones,
    a study of ``scale`` times as many rows tuning on at most ``sample_rows`` of them
    (studies of the run's ``tuning_rows``; without them every study tunes on all its
    rows, before and after)."""
    studies = out.get("tuning_rows") or {}
    if not studies:
        return {name: scale for name in TUNING}
    groups = {"outer.tuning": "outer", "iecv.tuning": "without-", "final.tuning": "final"}
    factors = {}
    for phase, prefix in groups.items():
        mine = [r for label, r in studies.items() if label.startswith(prefix)]
        measured = sum(r["tuning_rows"] for r in mine)
        projected = sum(min(r["rows"] * scale, sample_rows or math.inf) for r in mine)
        factors[phase] = projected / measured if measured else scale
    return factors


def project(out: dict, rows: int, seconds_per_m: float, trials: int, members: int,
            sample_rows: int | None) -> None:
    """The full config's boosting work and time at ``rows`` from one measured run, its
    studies tuning on at most ``sample_rows`` rows (``search.sample_rows``)."""
    phases, cfg = out["phases"], out["config"]
    scale = rows / out["rows"]

    def work(names):
        return sum(phases.get(k, {}).get("row_rounds_m", 0.0) for k in names)

    factors = tuning_scale(out, scale, sample_rows)
    tuning = sum(work([name]) * factors[name] for name in TUNING)
    parts = {"tuning": tuning * trials / cfg["n_trials"],
             "outer, site and final fits": work(FITS) * scale,
             "ensemble": work(ENSEMBLE) * members / max(cfg["members"], 1) * scale}
    other = sum(p["cpu_s"] for k, p in phases.items()
                if k not in TUNING + FITS + ENSEMBLE) * scale
    total = sum(parts.values()) * seconds_per_m + other
    print(f"projection from {out['rows']:,} rows ({out['code']}) to {rows:,} rows, "
          f"{trials} trials, {members} members, search.sample_rows {sample_rows}, "
          f"{seconds_per_m:.3f} s per M row-rounds:")
    for name, m in parts.items():
        print(f"  {name:<28}{m:>12,.0f} M row-rounds {m * seconds_per_m / 60:>8.1f} min")
    print(f"  {'other phases (CPU, linear)':<28}{'':>27}{other / 60:>8.1f} min")
    print(f"  {'total':<28}{sum(parts.values()):>12,.0f} M row-rounds {total / 60:>8.1f} min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/response_xgboost.yaml")
    parser.add_argument("--n", type=int, default=1_000_000, help="simulated rows")
    parser.add_argument("--n-trials", type=int, default=None, help="default: the config's")
    parser.add_argument("--members", type=int, default=None,
                        help="bootstrap ensemble members (default: the config's)")
    parser.add_argument("--sample-rows", type=int, default=None,
                        help="search.sample_rows (default: the config's; 0: every row)")
    parser.add_argument("--member-calibration", choices=["cross_fit", "oob"], default=None,
                        help="uncertainty.member_calibration (default: the config's)")
    parser.add_argument("--calibration-margins", choices=["auto", "cross_fit"], default=None,
                        help="calibration.margins (default: the config's)")
    parser.add_argument("--bootstrap", type=int, default=None,
                        help="metric bootstrap replicates (default: the config's)")
    parser.add_argument("--json", type=Path, help="write the measurements here")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"),
                        help="compare the metrics of two --json files and exit")
    parser.add_argument("--throughput", type=int, metavar="N",
                        help="time one boosting fit on N rows and exit")
    parser.add_argument("--kept-matrices", type=int, metavar="N",
                        help="CPU of one study at N rows, matrices kept vs rebuilt, and exit")
    parser.add_argument("--project", type=Path, help="project a --json file (see above)")
    parser.add_argument("--to", type=int, default=1_000_000, help="rows to project to")
    parser.add_argument("--seconds-per-m", type=float, help="from --throughput")
    args = parser.parse_args()
    if args.compare:
        compare(*(json.loads(p.read_text()) for p in args.compare))
        return
    if args.throughput:
        throughput(args.throughput, args.config)
        return
    if args.kept_matrices:
        kept_matrices(args.kept_matrices, args.config)
        return
    if args.project:
        from spinerisk.training import load_config

        full = load_config(args.config)
        sample_rows = (getattr(full.search, "sample_rows", None)
                       if args.sample_rows is None else args.sample_rows or None)
        project(json.loads(args.project.read_text()), args.to, args.seconds_per_m,
                full.search.n_trials, full.uncertainty.bootstrap_members, sample_rows)
        return
    out = measure(args)
    show(out)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
