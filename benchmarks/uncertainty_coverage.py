"""Coverage of the per-patient interval: does the "95%" range hold the true risk 95% of the time?

For each config: simulate its training cohort (the config's generator, sites and seed),
fit the config's model and its bootstrap ensemble (the config's members), then simulate
fresh patients from the same sites with another seed and count how often each one's
interval holds its true risk (the simulator's truth). Reported per config: coverage with
its Monte Carlo SE, the median interval width, and the member-fitting cost (wall seconds
for all members, and per member).

Interval variants measured side by side (members' risks on the logit scale, centre = the
main model's risk):
  shipped  centre +- t(members-1) sqrt(SD^2 + bias^2), bias = members' mean - centre
           (spinerisk.explain.uncertainty: bias-aware, and wider for few members);
  se_z     centre +- 1.96 SD of the members (the construction shipped before).

Member calibration (``--member-calibration cross_fit oob``): each variant's ensemble is
fitted on the same resamples of the same training cohort and measured on the same fresh
patients. ``--replicates R`` repeats everything on R training cohorts (seeds ``seed``,
``seed + 1``, ...): coverage is then the mean over cohorts with the SE of that mean (the
fresh patients of one cohort share its model, so the SE across cohorts, not the binomial
SE within one, is the Monte Carlo error of the coverage).

Run (full size: the config's n, members and >= 2,000 fresh patients; hours on 2 cores):
    uv run python benchmarks/uncertainty_coverage.py --config configs/*.yaml configs/demo/*.yaml
Reduced (what fits a shared machine): --n-train 1500 --members 10 --fresh 2000 --no-tuning
Hyperparameters: the config's fixed params; with tuning (default) its search is run on the
training cohort first (--trials caps the number of trials).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy.special import expit, logit
from scipy.stats import norm


def _variants(model, ensemble, frame, level: float = 0.95) -> dict:
    from spinerisk.explain.uncertainty import _logit_interval

    centre, members = model.predict_risk(frame), ensemble.risks(frame)
    z = norm.ppf(0.5 + level / 2)
    lm, lc = logit(np.clip(members, 1e-9, 1 - 1e-9)), logit(np.clip(centre, 1e-9, 1 - 1e-9))
    sd = lm.std(axis=0, ddof=1)
    return {"shipped": _logit_interval(centre, members, level),
            "se_z": (expit(lc - z * sd), expit(lc + z * sd))}


def run_config(path: str, n_train: int | None, members: int | None, fresh: int, tuning: bool,
               trials: int, n_jobs: int = 1, member_calibration: str = "cross_fit",
               replicate: int = 0) -> dict:
    from spinerisk.cohort import simulate
    from spinerisk.explain import fit_bootstrap_ensemble
    from spinerisk.models import RiskModel
    from spinerisk.training import load_config
    from spinerisk.training.coverage import fresh_patients
    from spinerisk.training.data import task_data
    from spinerisk.training.runner import Fitter, with_pathway_features

    config = load_config(path, {"search.storage": ":memory:"})
    sim = config.data.simulate
    task = config.task_spec()
    n = n_train or sim.n
    sim = sim.model_copy(update={"seed": sim.seed + replicate})
    cohort = simulate(n, sites=sim.sites, seed=sim.seed, dgp=sim.dgp, tasks=(task.name,))
    data = task_data(with_pathway_features(cohort.frame, task), task)
    params = dict(config.model.params)
    if tuning and config.search is not None and config.search.space:
        config.search.n_trials = min(config.search.n_trials, trials)
        params = Fitter(config, task, "coverage", progress=False).tune(data, "final")
    model = RiskModel(task, config.model.learner, params=params,
                      calibration=config.calibration.method,
                      calibration_folds=config.calibration.folds, n_knots=config.model.n_knots,
                      random_state=config.seed).fit(data.X, data.y)
    k = members or config.uncertainty.bootstrap_members
    started = time.perf_counter()
    frame, truth = fresh_patients(sim, task, fresh)
    out = {"config": path, "learner": config.model.learner, "n_train": int(data.n),
           "members": k, "n_jobs": n_jobs, "fresh": len(frame), "replicate": replicate,
           "training_seed": sim.seed, "tuned": bool(tuning and config.search)}
    for calibration in member_calibration.split(","):
        started, cpu = time.perf_counter(), time.process_time()
        ensemble = fit_bootstrap_ensemble(model, data.X, data.y, n_members=k,
                                          seed=config.seed, n_jobs=n_jobs,
                                          calibration=calibration)
        cost, cpu = time.perf_counter() - started, time.process_time() - cpu
        for name, (low, high) in _variants(model, ensemble, frame).items():
            covered = (low <= truth) & (truth <= high)
            c = float(covered.mean())
            out[f"{calibration}/{name}"] = {
                "coverage": round(c, 4),
                "mc_se": round(float(np.sqrt(c * (1 - c) / covered.size)), 4),
                "median_width": round(float(np.median(high - low)), 4),
                "member_fit_s": round(cost, 1), "member_fit_cpu_s": round(cpu, 1)}
    return out


def summarise(results: list[dict]) -> dict:
    """Per config and variant: mean coverage over the training cohorts, its SE across
    them, the mean median width and member-fitting CPU."""
    table: dict = {}
    for r in results:
        for key, v in r.items():
            if isinstance(v, dict):
                table.setdefault((r["config"], key), []).append(v)
    out = {}
    for (config, key), rows in table.items():
        cover = np.array([v["coverage"] for v in rows])
        out[f"{config} {key}"] = {
            "cohorts": len(rows), "coverage": round(float(cover.mean()), 4),
            "se_across_cohorts": (round(float(cover.std(ddof=1) / np.sqrt(len(cover))), 4)
                                  if len(cover) > 1 else None),
            "median_width": round(float(np.mean([v["median_width"] for v in rows])), 4),
            "member_fit_cpu_s": round(float(np.mean([v["member_fit_cpu_s"] for v in rows])), 1)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", nargs="+", required=True)
    parser.add_argument("--n-train", type=int, default=None, help="override the config's n")
    parser.add_argument("--members", type=int, default=None, help="override the config's members")
    parser.add_argument("--fresh", type=int, default=2000)
    parser.add_argument("--no-tuning", action="store_true")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--n-jobs", type=int, default=1, help="members fitted in parallel")
    parser.add_argument("--member-calibration", nargs="+", default=["cross_fit"],
                        choices=["cross_fit", "oob"], help="member calibrations to measure")
    parser.add_argument("--replicates", type=int, default=1, help="training cohorts")
    parser.add_argument("--out", default="benchmarks/results/uncertainty_coverage.json")
    args = parser.parse_args()
    results = []
    for path in args.config:
        for replicate in range(args.replicates):
            results.append(run_config(path, args.n_train, args.members, args.fresh,
                                      not args.no_tuning, args.trials, args.n_jobs,
                                      ",".join(args.member_calibration), replicate))
            r = results[-1]
            print(f"{path} cohort {replicate}: n={r['n_train']} members={r['members']} | "
                  + " | ".join(f"{k} cover {v['coverage']:.3f} (SE {v['mc_se']:.3f}) width "
                               f"{v['median_width']:.3f} CPU {v['member_fit_cpu_s']} s"
                               for k, v in r.items() if isinstance(v, dict)), flush=True)
    summary = summarise(results)
    for key, v in summary.items():
        print(key, v)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "summary": summary,
                                          "results": results}, indent=1))


if __name__ == "__main__":
    main()
