"""Sample size: does the site meet Riley's external-validation precision targets?

Binary tasks use :func:`spinerisk.evaluation.sample_size_external_binary` (Riley et al.
2021) with the site's own prevalence and C-statistic; time-to-event tasks are held to the
rule of thumb (at least 100, ideally 200, events) because a survival version of the
calculator is not available in :mod:`spinerisk.evaluation`. Either way the precision the
site actually reaches is reported as the width of each 95% CI.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spinerisk import evaluation as ev
from spinerisk.evaluation import Estimate

TARGET_WIDTHS = {"oe_ratio": 0.2, "calibration_slope": 0.2, "c_statistic": 0.1}


def _width(e: Estimate) -> float:
    return float(e.upper - e.lower)


def precision_report(counts: dict[str, int], metrics: dict[str, Estimate], *,
                     survival: bool) -> dict[str, Any]:
    """Events, non-events, required sizes and the achieved CI widths."""
    c_key = "harrell_c" if survival else "c_statistic"
    achieved = {"oe_ratio": _width(metrics["oe_ratio"]),
                "calibration_slope": _width(metrics["calibration_slope"]),
                "c_statistic": _width(metrics[c_key])}
    out: dict[str, Any] = {**counts, "target_ci_widths": dict(TARGET_WIDTHS),
                           "achieved_ci_widths": achieved,
                           "targets_met": {k: bool(achieved[k] <= TARGET_WIDTHS[k]) for k in achieved}}
    if survival:
        out["method"] = ("rule of thumb: >= 100 events (ideally >= 200); Riley's survival "
                         "external-validation calculator is not available")
        out["required_events"] = 100
        out["meets_requirement"] = bool(counts["events"] >= 100)
        return out
    n, events = counts["n"], counts["events"]
    c = float(np.clip(metrics[c_key].estimate, 0.55, 0.95))
    riley = ev.sample_size_external_binary(prevalence=events / n, c_statistic=c)
    out["method"] = ("Riley et al. 2021 (O/E, calibration slope and C-statistic CI widths "
                     f"{TARGET_WIDTHS['oe_ratio']}, {TARGET_WIDTHS['calibration_slope']}, "
                     f"{TARGET_WIDTHS['c_statistic']}), at the site's prevalence and C")
    out["riley"] = riley.to_dict()
    out["required_n"] = riley.sample_size
    out["meets_requirement"] = bool(n >= riley.sample_size)
    return out
