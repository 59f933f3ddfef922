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
               trials: int, n_jobs: int = 1) -> dict:
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
    ensemble = fit_bootstrap_ensemble(model, data.X, data.y, n_members=k, seed=config.seed,
                                      n_jobs=n_jobs)
    cost = time.perf_counter() - started
    frame, truth = fresh_patients(sim, task, fresh)
    out = {"config": path, "learner": config.model.learner, "n_train": int(data.n),
           "members": k, "n_jobs": n_jobs, "fresh": len(frame), "tuned": bool(tuning and config.search),
           "member_fit_s": round(cost, 1), "per_member_s": round(cost / k, 2)}
    for name, (low, high) in _variants(model, ensemble, frame).items():
        covered = (low <= truth) & (truth <= high)
        c = float(covered.mean())
        out[name] = {"coverage": round(c, 3), "mc_se": round(float(np.sqrt(c * (1 - c) / covered.size)), 3),
                     "median_width": round(float(np.median(high - low)), 3)}
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
    parser.add_argument("--out", default="benchmarks/results/uncertainty_coverage.json")
    args = parser.parse_args()
    results = []
    for path in args.config:
        results.append(run_config(path, args.n_train, args.members, args.fresh,
                                  not args.no_tuning, args.trials, args.n_jobs))
        r = results[-1]
        print(f"{path}: n={r['n_train']} members={r['members']} fit {r['member_fit_s']} s | "
              + " | ".join(f"{v} cover {r[v]['coverage']:.3f} (SE {r[v]['mc_se']:.3f}) "
                           f"width {r[v]['median_width']:.3f}" for v in ("shipped", "se_z")),
              flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))


if __name__ == "__main__":
    main()
