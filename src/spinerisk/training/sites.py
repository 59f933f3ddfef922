"""Per-site results of internal-external CV in training, pooled the way site reports are.

Each held-out site's metrics (with their CIs) are pooled by
:func:`spinerisk.evaluation.pooling.pool_site_estimates` (REML, HKSJ CI, t(k-2) prediction
interval; C on the logit scale, O/E on the log scale), so a site that over- or
under-predicts shows as the spread of the sites and the prediction interval rather than
vanishing into the pooled held-out figure.
"""

from __future__ import annotations

from typing import Any

from spinerisk.evaluation.pooling import METRIC_SCALES, SiteEstimate, pool_site_estimates


def pool_sites(site_performance: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    """Pool each metric the sites report (``metric``, ``metric_ci_lower``, ``metric_ci_upper``).

    Returns
    -------
    dict of metric -> pooled result (``MetaAnalysis.to_dict()``) plus ``site_min`` and
    ``site_max`` (the sites' own estimates) and ``excluded`` (site, reason) pairs.
    """
    out: dict[str, dict[str, Any]] = {}
    skipped = [(s, "skipped: fewer than 5 events or non-events")
               for s, m in site_performance.items() if m.get("skipped")]
    for metric, scale in METRIC_SCALES.items():
        sites = []
        for site, m in site_performance.items():
            if metric in m:
                sites.append(SiteEstimate(site, m[metric], m.get(f"{metric}_ci_lower"),
                                          m.get(f"{metric}_ci_upper")))
        if not sites:
            continue
        result, _how, excluded = pool_site_estimates(sites, scale=scale, measure=metric)
        if result is None:
            continue
        estimates = [s.estimate for s in sites]
        out[metric] = {**result.to_dict(), "site_min": min(estimates),
                       "site_max": max(estimates), "excluded": skipped + excluded}
    return out
