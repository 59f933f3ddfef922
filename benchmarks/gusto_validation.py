"""External validation at scale: GUSTO-I (40,830 patients, 16 regions).

1. Internal-external cross-validation by region (a logistic RiskModel developed on 15
   regions, validated on the 16th, each in turn) with the heterogeneity summary.
2. One validation of all 40,830 rows at once (the model developed on a 50% split),
   the size a large site's table could have.

    uv run python benchmarks/gusto_validation.py [--out reports/gusto-benchmark]

Prints wall times; writes summary.md, forest.png and the all-rows report.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from spinerisk.report import write_report
from spinerisk.report.iecv import forest_plot, summary_markdown
from spinerisk.validation import load_task_spec, validate_predictions
from spinerisk.validation.casemix import development_reference
from spinerisk.validation.iecv import internal_external, risk_model_fit_predict
from spinerisk.validation.task import read_generic_table
from spinerisk.validation.updating import risk_to_lp

CONFIG = "configs/tasks/gusto.yaml"
DATA = "/work/shared/data/gusto/gusto.parquet"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports/gusto-benchmark")
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--n-boot", type=int, default=200)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spec = load_task_spec(CONFIG)
    frame = read_generic_table(args.data, spec)
    fit_predict = risk_model_fit_predict(CONFIG)
    timings = {}

    started = time.perf_counter()
    results, pooled = internal_external(frame, spec, fit_predict, n_boot=args.n_boot)
    timings["iecv_16_regions_s"] = time.perf_counter() - started
    reports = {site: r.to_dict() for site, r in results.items()}
    pooled_dicts = [p.to_dict() for p in pooled]
    (out / "summary.md").write_text(summary_markdown(
        "GUSTO-I: internal-external cross-validation by region", reports, pooled_dicts))
    (out / "forest.png").write_bytes(forest_plot(reports, pooled_dicts))

    rng = np.random.default_rng(0)
    dev_rows = rng.random(len(frame)) < 0.5
    started = time.perf_counter()
    risk, risk_dev = fit_predict(frame[dev_rows], frame)
    timings["fit_and_predict_s"] = time.perf_counter() - started
    started = time.perf_counter()
    reference = development_reference(frame[dev_rows], spec, risk_to_lp(risk_dev, False))
    result = validate_predictions(frame, risk, spec, site="all-40k", model="gusto logistic",
                                  development=reference, n_boot=args.n_boot)
    timings["validate_40k_s"] = time.perf_counter() - started
    started = time.perf_counter()
    write_report(result.to_dict(), out / "all-40k")
    timings["report_40k_s"] = time.perf_counter() - started
    (out / "timings.json").write_text(json.dumps(timings, indent=1))
    print(json.dumps(timings, indent=1))


if __name__ == "__main__":
    main()
