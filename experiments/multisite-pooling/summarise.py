"""Write summary.md, pooled.json and the forest plots of the pooled sites into this folder,
next to each site's true C and O/E (from simulate_sites.py's truth.json).

    python experiments/multisite-pooling/summarise.py --out DIR
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _e(e: dict, digits: int = 2) -> str:
    return f"{e['estimate']:.{digits}f} ({e['ci_lower']:.{digits}f} to {e['ci_upper']:.{digits}f})"


def _range(lo, hi, digits: int = 2) -> str:
    return "NA" if lo is None else f"{lo:.{digits}f} to {hi:.{digits}f}"


def summary(pooled: dict, truth: dict, reports: dict[str, dict]) -> str:
    """The markdown summary: sites against their truth, pooled measures, leave-one-out."""
    lines = ["# Multi-site validation pooled from site reports", "",
             ("Four simulated sites, each validated separately with `spinerisk validate` "
             "(report.json only leaves the site), then pooled with `spinerisk pool` "
             f"({pooled['settings']['method']}, HKSJ CI, t(k-2) prediction interval)."), "",
             "## Sites: report estimates and the truth", "",
             "| site | baseline shift | slope put in | n | C (95% CI) | true C | O/E (95% CI) | true O/E | calibration slope (95% CI) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for site, t in truth.items():
        m = reports[site]["performance"]["metrics"]
        lines.append(f"| {site} | {t['baseline_shift']:+.1f} | {t['slope']:.2f} | "
                     f"{reports[site]['sample_size']['n']} | {_e(m['c_statistic'])} | {t['c']:.2f} | "
                     f"{_e(m['oe_ratio'])} | {t['oe']:.2f} | {_e(m['calibration_slope'])} |")
    lines += ["", "## Pooled", "",
              "| measure | k | pooled (95% CI) | 95% prediction interval | tau^2 | I^2 |",
              "|---|---|---|---|---|---|"]
    for m in pooled["measures"].values():
        lines.append(f"| {m['measure']} | {m['k']} | {m['estimate']:.2f} ({m['ci_lower']:.2f} to "
                     f"{m['ci_upper']:.2f}) | {_range(m['pi_lower'], m['pi_upper'])} | "
                     f"{m['tau2']:.4f} | {m['i2']:.0%} |")
    true_c = [t["c"] for t in truth.values()]
    true_oe = [t["oe"] for t in truth.values()]
    c, oe = pooled["measures"]["c"], pooled["measures"]["oe"]
    lines += ["", (f"True C of the four sites {min(true_c):.2f} to {max(true_c):.2f}; inside the "
              f"C prediction interval: {sum(c['pi_lower'] <= v <= c['pi_upper'] for v in true_c)} "
              f"of 4. True O/E {min(true_oe):.2f} to {max(true_oe):.2f}; inside the O/E prediction "
              f"interval: {sum(oe['pi_lower'] <= v <= oe['pi_upper'] for v in true_oe)} of 4."), "",
              "## O/E with each site left out", "",
              "| left out | pooled O/E (95% CI) | 95% prediction interval |", "|---|---|---|"]
    for r in oe["leave_one_out"]:
        lines.append(f"| {r['left_out']} | {r['estimate']:.2f} ({r['ci_lower']:.2f} to "
                     f"{r['ci_upper']:.2f}) | {_range(r['pi_lower'], r['pi_upper'])} |")
    excluded = ("; ".join(f"{e['site']} ({e['measure']}: {e['reason']})"
                          for e in pooled["exclusions"]) or "none; every site was pooled for every measure")
    lines += ["", f"Excluded: {excluded}.", "",
              "Notes: " + " ".join(pooled["notes"]), "",
              "Figures: " + ", ".join(f"[{p.stem}](figures/{p.name})"
                                      for p in sorted((HERE / "figures").glob("*.png"))) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    out = Path(parser.parse_args().out)
    pooled = json.loads((out / "pooled" / "pooled.json").read_text())
    truth = json.loads((out / "truth.json").read_text())
    reports = {s: json.loads((out / s / "report.json").read_text()) for s in truth}
    (HERE / "figures").mkdir(exist_ok=True)
    for png in sorted((out / "pooled").glob("*.png")):
        shutil.copyfile(png, HERE / "figures" / png.name)
    shutil.copyfile(out / "pooled" / "pooled.json", HERE / "pooled.json")
    (HERE / "summary.md").write_text(summary(pooled, truth, reports))
    print(f"wrote {HERE / 'summary.md'}")


if __name__ == "__main__":
    main()
