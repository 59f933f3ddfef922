"""Random-effects meta-analysis of per-site performance: pure functions on estimates and SEs.

The model is the usual normal-normal one, ``y_i ~ N(mu, s_i^2 + tau^2)``, fitted on the
scale where a site's estimate is close to normal: C on the logit scale, O/E on the log
scale, calibration-in-the-large, slope and net benefit as they are (Debray et al. 2017,
2019; Snell et al. 2018). Defaults follow R's metamisc ``valmeta``:

* ``tau^2`` by restricted maximum likelihood (as metafor's ``rma``, which metamisc calls);
  DerSimonian-Laird is available.
* The CI of ``mu`` by Hartung-Knapp-Sidik-Jonkman: ``SE_HK^2 = sum w (y - mu)^2 /
  ((k - 1) sum w)`` with t on k - 1 df (not truncated, as metafor's ``test="knha"``);
  ``ci="z"`` gives the Wald interval.
* The 95% prediction interval for the true value at a new site:
  ``mu +- t_{k-2} sqrt(tau^2 + SE^2)`` with the SE of the chosen CI (Riley, Higgins &
  Deeks 2011; metamisc's ``calcPredInt``); it needs k >= 3 sites.
* ``I^2 = tau^2 / (tau^2 + s^2)`` with the typical within-site variance
  ``s^2 = (k - 1) sum w / ((sum w)^2 - sum w^2)`` and ``H^2 = (tau^2 + s^2) / s^2`` (metafor);
  Cochran's Q with the fixed-effect weights.

Nothing here reads files or knows what a report is; :mod:`spinerisk.validation.pooling`
turns site reports into the inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.special import expit, logit
from scipy.stats import chi2, norm
from scipy.stats import t as student_t

from spinerisk.evaluation.results import json_ready

__all__ = ["METRIC_SCALES", "SCALES", "MetaAnalysis", "SiteEstimate", "analysis_scale_se",
           "leave_one_out", "pool_site_estimates", "random_effects", "tau2_dl", "tau2_reml"]

Method = Literal["REML", "DL"]
CIMethod = Literal["hksj", "z"]

#: analysis scale -> (forward transform, back transform, derivative of the forward one)
SCALES: dict[str, tuple[Callable, Callable, Callable]] = {
    "identity": (lambda x: x, lambda x: x, lambda x: np.ones_like(x)),
    "logit": (logit, expit, lambda x: 1.0 / (x * (1.0 - x))),
    "log": (np.log, np.exp, lambda x: 1.0 / x),
}


#: metric names used across spinerisk -> the scale they are pooled on
METRIC_SCALES: dict[str, str] = {
    "c_statistic": "logit", "auc": "logit", "harrell_c": "logit", "uno_c": "logit",
    "td_auc": "logit", "oe_ratio": "log", "calibration_in_the_large": "identity",
    "citl_intercept": "identity", "calibration_slope": "identity", "cal_slope": "identity",
}


@dataclass(frozen=True)
class SiteEstimate:
    """One site's estimate of a measure with its CI (None where the site has none)."""

    site: str
    estimate: float | None
    lower: float | None = None
    upper: float | None = None
    level: float = 0.95


@dataclass(frozen=True)
class MetaAnalysis:
    """One measure pooled across sites.

    Reported-scale fields (``estimate``, ``ci_lower`` ... ``pi_upper``) are the analysis-scale
    ones back-transformed; ``mu``, ``se``, ``tau2``, ``tau2_se`` are on the analysis scale.
    A field the data cannot support (PI with k < 3, everything with k < 2) is NaN and
    ``notes`` says why.
    """

    measure: str
    scale: str
    method: str
    ci_method: str
    level: float
    k: int
    labels: tuple[str, ...]
    yi: tuple[float, ...]
    sei: tuple[float, ...]
    mu: float
    se: float
    tau2: float
    tau2_se: float
    q: float
    q_pvalue: float
    i2: float
    h2: float
    ci_df: float
    pi_df: float
    estimate: float
    ci_lower: float
    ci_upper: float
    pi_lower: float
    pi_upper: float
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (NaN becomes null)."""
        d = dict(self.__dict__)
        d["labels"], d["yi"], d["sei"] = list(self.labels), list(self.yi), list(self.sei)
        d["notes"] = list(self.notes)
        return json_ready(d)


def _check(yi, sei) -> tuple[np.ndarray, np.ndarray]:
    y, s = np.asarray(yi, float).ravel(), np.asarray(sei, float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"estimates ({y.size}) and standard errors ({s.size}) differ in length; "
                         "pass one SE per site.")
    if y.size == 0:
        raise ValueError("no sites to pool; pass at least one estimate with its SE.")
    bad = ~np.isfinite(y) | ~np.isfinite(s) | (s <= 0)
    if bad.any():
        raise ValueError(f"sites at positions {np.flatnonzero(bad).tolist()} have a non-finite "
                         "estimate or a standard error that is not positive; drop those sites "
                         "(and say why) before pooling.")
    return y, s


def tau2_dl(yi, vi) -> float:
    """DerSimonian-Laird moment estimator of the between-site variance (truncated at 0)."""
    y, v = np.asarray(yi, float), np.asarray(vi, float)
    w = 1.0 / v
    mu = np.sum(w * y) / w.sum()
    q = float(np.sum(w * (y - mu) ** 2))
    return max(0.0, (q - (y.size - 1)) / (w.sum() - np.sum(w ** 2) / w.sum()))


def _trace_pp(w: np.ndarray) -> float:
    """tr(P P) for P = W - w w' / sum(w), the REML projection of an intercept-only model."""
    sw = w.sum()
    return float(np.sum(w ** 2) - 2 * np.sum(w ** 3) / sw + np.sum(w ** 2) ** 2 / sw ** 2)


def _neg_restricted_loglik(tau2: float, y: np.ndarray, v: np.ndarray) -> float:
    w = 1.0 / (v + tau2)
    mu = np.sum(w * y) / w.sum()
    return 0.5 * float(np.sum(np.log(v + tau2)) + np.log(w.sum()) + np.sum(w * (y - mu) ** 2))


def tau2_reml(yi, vi, *, tol: float = 1e-12) -> tuple[float, float]:
    """REML estimate of tau^2 and its SE.

    The restricted log-likelihood is maximised over ``[0, upper]`` by bounded Brent search
    (Fisher scoring, metafor's default, can oscillate for many iterations when the
    maximum is near 0); the SE is ``sqrt(2 / tr(P P))`` at the estimate (expected
    information, as metafor reports it).

    Returns
    -------
    (tau2, se)
    """
    from scipy.optimize import minimize_scalar

    y, v = np.asarray(yi, float), np.asarray(vi, float)
    upper = 10.0 * (float(np.var(y)) + float(v.max()))  # the REML maximum lies far below
    fit = minimize_scalar(_neg_restricted_loglik, bounds=(0.0, upper), args=(y, v),
                          method="bounded", options={"xatol": tol})
    tau2 = float(fit.x)
    if _neg_restricted_loglik(0.0, y, v) <= fit.fun:
        tau2 = 0.0
    return tau2, float(np.sqrt(2.0 / _trace_pp(1.0 / (v + tau2))))


def random_effects(yi: Sequence[float], sei: Sequence[float], *, measure: str = "",
                   labels: Sequence[str] | None = None, scale: str = "identity",
                   method: Method = "REML", ci: CIMethod = "hksj",
                   level: float = 0.95) -> MetaAnalysis:
    """Pool site estimates ``yi`` (already on the analysis ``scale``) with SEs ``sei``.

    Parameters
    ----------
    yi, sei : per-site estimates and standard errors on the analysis scale.
    measure : name written to the result.
    labels : site names (default ``site 1`` ...).
    scale : ``identity``, ``logit`` or ``log``; the reported fields are back-transformed.
    method : ``REML`` (default) or ``DL`` for tau^2.
    ci : ``hksj`` (default) or ``z`` for the CI of the mean.
    level : confidence and prediction level.

    Returns
    -------
    MetaAnalysis
    """
    if scale not in SCALES:
        raise ValueError(f"scale={scale!r}; allowed: {sorted(SCALES)}.")
    if method not in ("REML", "DL"):
        raise ValueError(f"method={method!r}; allowed: 'REML', 'DL'.")
    if ci not in ("hksj", "z"):
        raise ValueError(f"ci={ci!r}; allowed: 'hksj', 'z'.")
    y, s = _check(yi, sei)
    k = y.size
    names = tuple(labels) if labels is not None else tuple(f"site {i + 1}" for i in range(k))
    if len(names) != k:
        raise ValueError(f"{len(names)} labels for {k} sites; pass one label per site.")
    back = SCALES[scale][1]
    nan = float("nan")
    base = {"measure": measure, "scale": scale, "method": method, "ci_method": ci,
            "level": level, "k": k, "labels": names, "yi": tuple(map(float, y)),
            "sei": tuple(map(float, s))}
    if k == 1:
        return MetaAnalysis(**base, mu=float(y[0]), se=nan, tau2=nan, tau2_se=nan, q=nan,
                            q_pvalue=nan, i2=nan, h2=nan, ci_df=nan, pi_df=nan,
                            estimate=float(back(y[0])), ci_lower=nan, ci_upper=nan,
                            pi_lower=nan, pi_upper=nan,
                            notes=("1 site: pooling needs at least 2.",))
    v = s ** 2
    if method == "REML":
        tau2, tau2_se = tau2_reml(y, v)
    else:
        tau2, tau2_se = tau2_dl(y, v), nan
    w = 1.0 / (v + tau2)
    mu = float(np.sum(w * y) / w.sum())
    if ci == "hksj":
        se = float(np.sqrt(np.sum(w * (y - mu) ** 2) / ((k - 1) * w.sum())))
        ci_df, crit = k - 1.0, float(student_t.ppf(0.5 + level / 2, k - 1))
    else:
        se = float(np.sqrt(1.0 / w.sum()))
        ci_df, crit = float("inf"), float(norm.ppf(0.5 + level / 2))
    w_fixed = 1.0 / v
    q = float(np.sum(w_fixed * (y - np.sum(w_fixed * y) / w_fixed.sum()) ** 2))
    s2 = (k - 1) * w_fixed.sum() / (w_fixed.sum() ** 2 - np.sum(w_fixed ** 2))
    notes = []
    i2 = float(tau2 / (tau2 + s2))
    if i2 < 0.5:
        notes.append(f"I^2 {i2:.0%}: with between-site variation small against the sites' own "
                     "uncertainty, tau^2 is often underestimated and the prediction interval "
                     "can cover less than its nominal level (Partlett & Riley 2017).")
    if k >= 3:
        half = float(student_t.ppf(0.5 + level / 2, k - 2)) * np.sqrt(tau2 + se ** 2)
        pi = (float(back(mu - half)), float(back(mu + half)))
    else:
        pi = (nan, nan)
        notes.append("prediction interval needs at least 3 sites (t with k - 2 df).")
    return MetaAnalysis(**base, mu=mu, se=se, tau2=float(tau2), tau2_se=tau2_se, q=q,
                        q_pvalue=float(chi2.sf(q, k - 1)), i2=i2,
                        h2=float((tau2 + s2) / s2), ci_df=ci_df, pi_df=float(k - 2),
                        estimate=float(back(mu)), ci_lower=float(back(mu - crit * se)),
                        ci_upper=float(back(mu + crit * se)), pi_lower=pi[0], pi_upper=pi[1],
                        notes=tuple(notes))


def leave_one_out(result: MetaAnalysis) -> list[tuple[str, MetaAnalysis]]:
    """The same meta-analysis with each site left out in turn (site label, result)."""
    out = []
    for i, name in enumerate(result.labels):
        keep = [j for j in range(result.k) if j != i]
        out.append((name, random_effects(
            [result.yi[j] for j in keep], [result.sei[j] for j in keep],
            measure=result.measure, labels=[result.labels[j] for j in keep], scale=result.scale,
            method=result.method, ci=result.ci_method, level=result.level)))
    return out


def analysis_scale_se(estimate: float, lower: float, upper: float, level: float,
                      scale: str, *, rtol: float = 1e-6) -> tuple[float, float, str]:
    """A site's estimate and SE on the analysis scale, from its estimate and CI.

    A Wald CI is symmetric on the scale it was built on: symmetric on the analysis scale
    (O/E's log-normal CI on the log scale) gives ``SE = width / (2 z)`` there; symmetric on
    the reported scale (DeLong CI of C) gives that SE times the derivative of the transform
    (the delta method, as metamisc's ``ccalc``). A CI symmetric on neither (bootstrap
    percentile) uses the analysis-scale width, and the method says so.

    Returns
    -------
    (theta, se, how)
    """
    forward, _back, derivative = SCALES[scale]
    z = float(norm.ppf(0.5 + level / 2))
    theta = float(forward(np.float64(estimate)))
    lo, hi = float(forward(np.float64(lower))), float(forward(np.float64(upper)))
    if np.isclose(hi - theta, theta - lo, rtol=rtol, atol=1e-12):
        return theta, (hi - lo) / (2 * z), f"Wald CI on the {scale} scale"
    if np.isclose(upper - estimate, estimate - lower, rtol=rtol, atol=1e-12):
        se = (upper - lower) / (2 * z) * float(derivative(np.float64(estimate)))
        return theta, se, "Wald CI on the reported scale, delta method"
    return theta, (hi - lo) / (2 * z), f"asymmetric CI, width on the {scale} scale"


def pool_site_estimates(sites: Sequence[SiteEstimate], *, scale: str, measure: str = "",
                        **options) -> tuple[MetaAnalysis | None, dict[str, str],
                                            list[tuple[str, str]]]:
    """Pool sites' estimates with CIs: each site's SE on the analysis scale from its CI
    (:func:`analysis_scale_se`), then :func:`random_effects` (``options``: method, ci, level).

    A site without a finite estimate and CI, or whose CI reaches the edge of the scale
    (0 for log, 0 or 1 for logit), is left out with the reason.

    Returns
    -------
    (result, se_method_by_site, excluded) : ``result`` is None when no site is usable;
    ``excluded`` lists (site, reason).
    """
    labels, ys, ses, how, excluded = [], [], [], {}, []
    for s in sites:
        values = (s.estimate, s.lower, s.upper)
        if any(v is None or not np.isfinite(v) for v in values) or not s.lower < s.upper:
            excluded.append((s.site, ("no estimate with a confidence interval (estimate "
                                     f"{s.estimate}, CI {s.lower} to {s.upper})")))
            continue
        if scale != "identity" and (s.lower <= 0 or (scale == "logit" and s.upper >= 1)):
            excluded.append((s.site, (f"CI {s.lower:.3g} to {s.upper:.3g} reaches the edge of "
                                     f"the {scale} scale")))
            continue
        theta, se, method = analysis_scale_se(s.estimate, s.lower, s.upper, s.level, scale)
        labels.append(s.site)
        ys.append(theta)
        ses.append(se)
        how[s.site] = method
    if not labels:
        return None, how, excluded
    return (random_effects(ys, ses, measure=measure, labels=labels, scale=scale, **options),
            how, excluded)
