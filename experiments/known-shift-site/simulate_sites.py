"""Simulate the development cohort and the validation sites of configs/sites/*.yaml, then
develop a logistic response RiskModel on the development cohort and register it as
``models:/spinerisk-response@candidate`` (the store in $SPINERISK_TRACKING_URI).

    uv run python experiments/known-shift-site/simulate_sites.py --out DIR
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from spinerisk import tracking
from spinerisk.cohort import SiteProfile, simulate, write_cohort
from spinerisk.features import spine_task
from spinerisk.models import RiskModel

PREDICTORS = ["age", "bmi", "smoking", "employment", "depression_anxiety", "baseline_opioid",
              "symptom_duration_weeks", "odi", "leg_pain_nrs", "root_compression_grade",
              "herniation_location", "modic_type", "modic_extent_gt50", "facet_effusion",
              "procedure", "diagnostic_blocks_positive"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--dev-n", type=int, default=8000)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dev = simulate(args.dev_n, site_profiles=[SiteProfile("DEV")], seed=1, tasks=("response",))
    write_cohort(dev, out / "dev.parquet")
    for path in sorted(Path("configs/sites").glob("*.yaml")):
        site = yaml.safe_load(path.read_text())
        profile = SiteProfile(site["site_id"], **site["profile"])
        cohort = simulate(site["n"], site_profiles=[profile], seed=site["seed"], tasks=("response",))
        write_cohort(cohort, out / f"{site['site_id']}.parquet")
        if site.get("fresh_n"):
            fresh = simulate(site["fresh_n"], site_profiles=[profile], seed=site["seed"] + 1,
                             tasks=("response",))
            write_cohort(fresh, out / f"{site['site_id']}-fresh.parquet")
    rows = dev.frame[dev.frame["response_50"].notna()]
    model = RiskModel(task=spine_task("response", predictors=PREDICTORS), learner="logistic")
    model.fit(rows, rows["response_50"].astype(int).to_numpy())
    with tracking.experiment_run("spinerisk-response", "known-shift-development") as run:
        # the experiment validates this model through the alias: move it explicitly
        info = run.log_model(model, "response", promote=True)
    print(f"{info['promotion']}; sites in {out}")


if __name__ == "__main__":
    main()
