"""Rubin's rules: one estimate from ``m`` analyses of multiply imputed data.

For estimates ``q_l`` with within-imputation variances ``u_l`` (l = 1..m), on a scale where
each is close to normal (C on the logit scale, O/E on the log scale, calibration slope
and intercepts as they are; Marshall et al. 2009, Wood et al. 2015):

* pooled estimate ``q = mean(q_l)``;
* within variance ``W = mean(u_l)``, between variance ``B = var(q_l)`` (ddof 1);
* total variance ``T = W + (1 + 1/m) B``;
* degrees of freedom (Rubin 1987) ``nu = (m - 1) (1 + W / ((1 + 1/m) B))^2``, and with a
  complete-data df ``nu_com`` the Barnard-Rubin (1999) small-sample df
  ``1 / (1/nu + 1/nu_obs)``, ``nu_obs = (nu_com + 1)/(nu_com + 3) nu_com (1 - lambda)``,
  as R ``mice``'s ``pool`` (``barnard.rubin``);
* fraction of missing information ``lambda = (1 + 1/m) B / T``;
* CI ``q +- t_nu sqrt(T)``, back-transformed to the reported scale.

References: Rubin DB. Multiple imputation for nonresponse in surveys. Wiley 1987.
Barnard J, Rubin DB. Biometrika 1999;86:948-955. Marshall A et al. BMC Med Res Methodol
2009;9:57. Wood AM et al. Stat Med 2015;34:2083-2104.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import t as student_t

from spinerisk.evaluation.pooling import SCALES


@dataclass(frozen=True)
class RubinPooled:
    """One quantity pooled over imputations (analysis scale unless named otherwise).

    ``estimate``, ``ci_lower``, ``ci_upper`` are on the reported scale; ``q`` (pooled
    estimate), ``within``, ``between`` and ``total`` variances on the analysis scale.
    """

    estimate: float
    ci_lower: float
    ci_upper: float
    q: float
    within: float
    between: float
    total: float
    df: float
    fmi: float
    m: int
    scale: str
    level: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {k: float(v) if isinstance(v, (float, np.floating)) else v
                for k, v in self.__dict__.items()}


def barnard_rubin_df(m: int, within: float, between: float,
                     df_complete: float | None = None) -> float:
    """Degrees of freedom of the pooled estimate (module docstring); inf when B = 0."""
    total = within + (1 + 1 / m) * between
    if between <= 0 or total <= 0:
        return float("inf") if df_complete is None else float(df_complete)
    lam = (1 + 1 / m) * between / total
    nu_old = (m - 1) / lam ** 2
    if df_complete is None:
        return float(nu_old)
    nu_obs = (df_complete + 1) / (df_complete + 3) * df_complete * (1 - lam)
    return float(nu_old * nu_obs / (nu_old + nu_obs))


def rubin_pool(estimates: Sequence[float], variances: Sequence[float], *,
               scale: str = "identity", level: float = 0.95,
               df_complete: float | None = None) -> RubinPooled:
    """Pool ``m`` estimates (given on the analysis scale) and their variances.

    Parameters
    ----------
    estimates : sequence of float
        Per imputation, the estimate on the analysis scale (e.g. logit C).
    variances : sequence of float
        Per imputation, its squared standard error on the same scale.
    scale : {"identity", "logit", "log"}
        The analysis scale, for the back-transform of estimate and CI.
    level : float
    df_complete : float, optional
        Complete-data degrees of freedom (Barnard-Rubin); default: large sample.
    """
    q = np.asarray(estimates, float)
    u = np.asarray(variances, float)
    if q.shape != u.shape or q.ndim != 1 or len(q) < 2:
        raise ValueError(f"need one estimate and one variance per imputation, at least 2; "
                         f"got {q.shape} and {u.shape}")
    if not (np.isfinite(q).all() and np.isfinite(u).all() and (u >= 0).all()):
        raise ValueError("estimates and variances must be finite and variances >= 0")
    m = len(q)
    within, between = float(u.mean()), float(q.var(ddof=1))
    total = within + (1 + 1 / m) * between
    df = barnard_rubin_df(m, within, between, df_complete)
    half = float(student_t.ppf(0.5 + level / 2, df)) * np.sqrt(total)
    back = SCALES[scale][1]
    centre = float(q.mean())
    return RubinPooled(float(back(centre)), float(back(centre - half)),
                       float(back(centre + half)), centre, within, between, total, df,
                       float((1 + 1 / m) * between / total) if total > 0 else 0.0, m, scale,
                       level)
