"""Simulate a development cohort and four validation sites with known shifts, develop a
logistic response RiskModel on the development cohort and save it as ``model.joblib``;
write each site's table and its truth (C and O/E of the model there, from 40,000 fresh
patients of the same site and the simulator's true risks).

    python experiments/multisite-pooling/simulate_sites.py --out DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import joblib
import numpy as np

from spinerisk.cohort import SiteProfile, simulate, write_cohort
from spinerisk.evaluation import auc
from spinerisk.features import spine_task
from spinerisk.models import RiskModel

PREDICTORS = ["age", "bmi", "smoking", "depression_anxiety", "baseline_opioid",
              "symptom_duration_weeks", "odi", "leg_pain_nrs", "root_compression_grade",
              "modic_type", "facet_effusion", "procedure"]

#: site -> (baseline shift on the log-odds scale, calibration slope, episodes, seed)
SITES = {"A": (0.0, 1.0, 2500, 201), "B": (0.3, 0.9, 2500, 202),
         "C": (-0.4, 1.0, 2500, 203), "D": (0.0, 0.75, 2500, 204)}


def site_truth(model: RiskModel, profile: SiteProfile, seed: int, n: int = 40_000) -> dict:
    """The model's C and O/E in the site's population (true risks as outcome weights)."""
    fresh = simulate(n, site_profiles=[profile], seed=seed + 1000, tasks=("response",))
    rows = fresh.frame["response_50"].notna().to_numpy()
    true = 1 / (1 + np.exp(-fresh.truth["true_lp"].to_numpy()[rows]))
    risk = model.predict_risk(fresh.frame.loc[rows])
    y = np.r_[np.ones(true.size), np.zeros(true.size)]
    c = auc(y, np.r_[risk, risk], weights=np.r_[true, 1 - true], ci="none").estimate
    return {"c": float(c), "oe": float(true.mean() / risk.mean()), "n": int(rows.sum())}


def develop(n: int) -> RiskModel:
    """The logistic response model, developed on a simulated reference-site cohort."""
    dev = simulate(n, site_profiles=[SiteProfile("DEV")], seed=1, tasks=("response",))
    rows = dev.frame[dev.frame["response_50"].notna()]
    model = RiskModel(task=spine_task("response", predictors=PREDICTORS), learner="logistic")
    return model.fit(rows, rows["response_50"].astype(int).to_numpy())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--dev-n", type=int, default=8000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    model = develop(args.dev_n)
    joblib.dump(model, args.out / "model.joblib")
    truth = {}
    for site, (intercept, slope, n, seed) in SITES.items():
        profile = SiteProfile(site, outcome_intercept=intercept, outcome_slope=slope)
        cohort = simulate(n, site_profiles=[profile], seed=seed, tasks=("response",))
        write_cohort(cohort, args.out / f"{site}.parquet")
        truth[site] = {"baseline_shift": intercept, "slope": slope,
                       **site_truth(model, profile, seed)}
    (args.out / "truth.json").write_text(json.dumps(truth, indent=1))
    print(f"model and sites {', '.join(SITES)} in {args.out}")


if __name__ == "__main__":
    main()
