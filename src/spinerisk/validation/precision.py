"""Sample size: does the site meet Riley's external-validation precision targets?

Binary tasks use :func:`spinerisk.evaluation.sample_size_external_binary` (Riley et al.
2021), time-to-event tasks :func:`spinerisk.evaluation.sample_size_external_survival`
(Riley et al. 2022), each at the site's own event risk, C-statistic and (time-to-event)
share censored before the horizon. Either way the precision the site actually reaches is
reported as the width of each 95% CI.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spinerisk import evaluation as ev
from spinerisk.evaluation import Estimate

TARGET_WIDTHS = {"oe_ratio": 0.2, "calibration_slope": 0.2, "c_statistic": 0.1}


def _width(e: Estimate) -> float:
    return float(e.upper - e.lower)


def _riley(counts: dict[str, int], c: float, observed_risk: float | None, horizon: float | None):
    widths = {"oe_width": TARGET_WIDTHS["oe_ratio"], "slope_width": TARGET_WIDTHS["calibration_slope"],
              "c_width": TARGET_WIDTHS["c_statistic"]}
    n = counts["n"]
    if horizon is None:
        return ev.sample_size_external_binary(prevalence=counts["events"] / n, c_statistic=c, **widths)
    if observed_risk is None:
        raise ValueError("observed_risk (1 - Kaplan-Meier at the horizon) is needed for a time-to-event "
                         "task's sample size; pass it with horizon.")
    return ev.sample_size_external_survival(
        risk_at_horizon=observed_risk, c_statistic=c, horizon=horizon,
        censored_before_horizon=counts["censored_before_horizon"] / n, **widths)


def precision_report(counts: dict[str, int], metrics: dict[str, Estimate], *, survival: bool,
                     observed_risk: float | None = None, horizon: float | None = None) -> dict[str, Any]:
    """Events, non-events, Riley's required size and the achieved CI widths.

    Parameters
    ----------
    counts : ``n``, ``events``, ``non_events`` (and ``censored_before_horizon`` for
        time-to-event tasks), from :meth:`Outcomes.counts`.
    metrics : the site's estimates (``c_statistic`` or ``harrell_c``, ``oe_ratio``,
        ``calibration_slope``).
    survival : time-to-event task.
    observed_risk, horizon : time-to-event only: 1 - Kaplan-Meier at the horizon, and the horizon.
    """
    c_key = "harrell_c" if survival else "c_statistic"
    achieved = {"oe_ratio": _width(metrics["oe_ratio"]),
                "calibration_slope": _width(metrics["calibration_slope"]),
                "c_statistic": _width(metrics[c_key])}
    out: dict[str, Any] = {**counts, "target_ci_widths": dict(TARGET_WIDTHS),
                           "achieved_ci_widths": achieved,
                           "targets_met": {k: bool(achieved[k] <= TARGET_WIDTHS[k]) for k in achieved}}
    c = float(np.clip(metrics[c_key].estimate, 0.55, 0.95))
    riley = _riley(counts, c, observed_risk, horizon if survival else None)
    where = ("at the site's risk by the horizon, Harrell's C and share censored before the horizon"
             if survival else "at the site's prevalence and C")
    out["method"] = (f"Riley et al. {'2022' if survival else '2021'} (O/E, calibration slope and C-statistic "
                     f"CI widths {TARGET_WIDTHS['oe_ratio']}, {TARGET_WIDTHS['calibration_slope']}, "
                     f"{TARGET_WIDTHS['c_statistic']}), {where}")
    out["riley"] = riley.to_dict()
    out["required_n"] = riley.sample_size
    out["meets_requirement"] = bool(counts["n"] >= riley.sample_size)
    return out
