"""Calibration of the site-updated model (alias site-NEW) on fresh patients from the
shifted site, against the original model; writes summary.md.

    uv run python experiments/known-shift-site/check_fresh.py --out DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from spinerisk import tracking
from spinerisk.evaluation import auc, calibration_summary


def _line(name: str, y, risk) -> str:
    cal = calibration_summary(y, risk)
    s, c = cal.cal_slope, cal.citl_intercept
    return (f"| {name} | {auc(y, risk).estimate:.3f} | {cal.oe_ratio.estimate:.3f} | "
            f"{c.estimate:.3f} ({c.lower:.3f} to {c.upper:.3f}) | "
            f"{s.estimate:.3f} ({s.lower:.3f} to {s.upper:.3f}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--summary", default="experiments/known-shift-site/summary.md")
    args = parser.parse_args()
    out = Path(args.out)
    fresh = pd.read_parquet(out / "NEW-fresh.parquet")
    fresh = fresh[fresh["response_50"].notna()]
    y = fresh["response_50"].astype(float).to_numpy()
    original = tracking.load_risk_model("models:/spinerisk-response@candidate")
    updated = tracking.load_risk_model("models:/spinerisk-response@site-NEW")
    lines = ["# Known-shift site: verdicts and the updated model on fresh patients", ""]
    for site in ("NEW", "SAME"):
        report = json.loads((out / site / "report.json").read_text())
        m = report["performance"]["metrics"]
        lines.append(f"- **{site}**: {report['verdict']['decision']}; calibration-in-the-large "
                     f"{m['calibration_in_the_large']['estimate']:.2f} "
                     f"({m['calibration_in_the_large']['ci_lower']:.2f} to "
                     f"{m['calibration_in_the_large']['ci_upper']:.2f}), slope "
                     f"{m['calibration_slope']['estimate']:.2f} ({m['calibration_slope']['ci_lower']:.2f}"
                     f" to {m['calibration_slope']['ci_upper']:.2f}); recommended update: "
                     f"{report['verdict']['recommended_update']}")
    lines += ["", f"Fresh patients from site NEW (n = {len(y)}):", "",
              "| model | C | O/E | calibration-in-the-large (95% CI) | calibration slope (95% CI) |",
              "|---|---|---|---|---|",
              _line("original (candidate)", y, original.predict_risk(fresh)),
              _line("updated (site-NEW)", y, updated.predict_risk(fresh))]
    Path(args.summary).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
