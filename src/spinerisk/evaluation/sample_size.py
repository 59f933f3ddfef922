"""Minimum sample size for developing or externally validating a prediction model (Riley et al.).

Development (Riley et al., Stat Med 2019 Parts I-II; BMJ 2020;368:m441), reproducing the
sample sizes asserted in R ``pmsampsize``'s test suites (tests/golden/pmsampsize): for the
binary criterion 2 the maximum R2 and the shrinkage are used unrounded (pmsampsize 1.1.3);
for time-to-event data they are rounded to 2 and 3 decimals, as pmsampsize's survival code
and its test_surv.R expectations do:

* binary: (1) expected shrinkage >= 0.9, (2) optimism in Nagelkerke R2 <= 0.05,
  (3) overall risk estimated within +-0.05;
* time-to-event: (1) shrinkage, (2) optimism in R2, (3) overall risk at the horizon
  precisely estimated (reported, as in pmsampsize, at max(n1, n2));
* continuous: (1) shrinkage, (2) optimism in R2, (3) residual SD within a multiplicative
  margin of error, (4) intercept (mean outcome) within that margin.

External validation, binary outcome (Riley et al., Stat Med 2021;40:4230): precise O/E,
calibration slope, C-statistic and standardised net benefit, assuming the model's linear
predictor is normal with the mean and SD implied by the prevalence and C-statistic of a
well-calibrated model (the distribution is found by quadrature, not simulation).

Each result names the criterion that drives the answer and explains it in plain words.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit, ndtri

from spinerisk.evaluation.results import Criterion, SampleSizeResult

__all__ = [
    "lp_distribution",
    "sample_size_binary",
    "sample_size_continuous",
    "sample_size_external_binary",
    "sample_size_survival",
]


def _positive(name, value, upper=None):
    if not (value > 0) or (upper is not None and not value < upper):
        rng = f"(0, {upper})" if upper is not None else "> 0"
        raise ValueError(f"{name} must be in {rng}; got {value!r}.")


def _n_for_shrinkage(parameters: int, r2: float, shrinkage: float) -> int:
    if shrinkage <= r2:
        raise ValueError(
            f"shrinkage={shrinkage} must exceed the Cox-Snell R2={r2}; "
            "the requested shrinkage is impossible for this R2."
        )
    return math.ceil(parameters / ((shrinkage - 1.0) * math.log(1.0 - r2 / shrinkage)))


def _result(kind, criteria, per_unit, inputs, unit_word) -> SampleSizeResult:
    final = max(c.sample_size for c in criteria)
    driver = next(c for c in criteria if c.sample_size == final)
    events = None if per_unit is None else final * per_unit
    explanation = (
        f"At least {final} participants are needed"
        + ("" if events is None else f" ({events:.1f} {unit_word})")
        + f". The binding criterion is '{driver.name}': {driver.description} "
        + "Other criteria need " + ", ".join(f"{c.sample_size} ({c.name})" for c in criteria if c is not driver) + "."
    )
    return SampleSizeResult(kind, final, events, driver.name, explanation, tuple(criteria), inputs)


def cs_r2_from_c(c_statistic: float, prevalence: float) -> float:
    """Cox-Snell R2 implied by a C-statistic and prevalence (Riley et al., Diagn Progn Res 2022).

    The approximation assumes the linear predictor is N(sqrt(2) * Phi^-1(C), 1) in events
    and N(0, 1) in non-events, so that the logistic model is exactly true. pmsampsize
    simulates one million patients; here the large-sample limit
    ``1 - exp(-2 * (E loglik(model) - E loglik(null)))`` is computed by Gauss-Hermite
    quadrature (deterministic; for C 0.89, prevalence 0.174 it gives 0.2910 versus the
    simulated 0.2908, and the same sample sizes).
    """
    _positive("prevalence", prevalence, 1)
    if not 0.5 < c_statistic < 1:
        raise ValueError(f"c_statistic must be in (0.5, 1); got {c_statistic!r}.")
    mu = math.sqrt(2.0) * float(ndtri(c_statistic))
    intercept = math.log(prevalence / (1 - prevalence)) - mu * mu / 2

    def loglik(lp, y):
        eta = intercept + mu * lp
        return y * eta - np.logaddexp(0.0, eta)

    ll_model = prevalence * float(np.sum(_GH_W * loglik(mu + _GH_X, 1.0))) + (1 - prevalence) * float(
        np.sum(_GH_W * loglik(_GH_X, 0.0)))
    ll_null = prevalence * math.log(prevalence) + (1 - prevalence) * math.log(1 - prevalence)
    return 1.0 - math.exp(-2.0 * (ll_model - ll_null))


def sample_size_binary(*, parameters: int, prevalence: float, cs_r2: float | None = None,
                       c_statistic: float | None = None, shrinkage: float = 0.9) -> SampleSizeResult:
    """Riley criteria for developing a logistic model (as R ``pmsampsize(type = "b")``).

    Parameters
    ----------
    parameters : number of candidate predictor parameters (degrees of freedom).
    prevalence : anticipated outcome proportion.
    cs_r2 : anticipated Cox-Snell R2 (adjusted) of the new model; or give
    c_statistic : an anticipated C-statistic, converted with :func:`cs_r2_from_c`.
    shrinkage : target expected uniform shrinkage (0.9 by default).
    """
    if (cs_r2 is None) == (c_statistic is None):
        raise ValueError("give exactly one of cs_r2 or c_statistic (the anticipated model performance).")
    if cs_r2 is None:
        cs_r2 = cs_r2_from_c(c_statistic, prevalence)
    _positive("cs_r2", cs_r2, 1)
    _positive("prevalence", prevalence, 1)
    _positive("parameters", parameters)
    n1 = _n_for_shrinkage(parameters, cs_r2, shrinkage)
    e1 = n1 * prevalence
    ln_null = e1 * math.log(e1 / n1) + (n1 - e1) * math.log(1 - e1 / n1)
    max_r2 = 1 - math.exp(2 * ln_null / n1)
    if max_r2 < cs_r2:
        raise ValueError(f"cs_r2={cs_r2} exceeds the maximum possible Cox-Snell R2 ({max_r2:.3f}) for prevalence {prevalence}.")
    s2 = cs_r2 / (cs_r2 + 0.05 * max_r2)
    n2 = _n_for_shrinkage(parameters, cs_r2, s2)
    n3 = math.ceil((1.96 / 0.05) ** 2 * prevalence * (1 - prevalence))
    crit = [
        Criterion("shrinkage", f"expected shrinkage of predictor effects is at least {shrinkage}, "
                  "so the model is not badly overfitted.", n1, n1 * prevalence, {"shrinkage": shrinkage}),
        Criterion("optimism_r2", "the apparent and adjusted Nagelkerke R2 differ by at most 0.05 "
                  f"(needs shrinkage {s2}).", n2, n2 * prevalence, {"shrinkage": s2, "max_cs_r2": max_r2}),
        Criterion("overall_risk", "the overall outcome proportion is estimated within +-0.05 "
                  "(95% confidence).", n3, n3 * prevalence, {}),
    ]
    return _result("binary", crit, prevalence, {"cs_r2": cs_r2, "c_statistic": c_statistic,
                   "parameters": parameters, "prevalence": prevalence, "shrinkage": shrinkage}, "events")


def sample_size_survival(*, cs_r2: float, parameters: int, rate: float, horizon: float, mean_followup: float,
                         shrinkage: float = 0.9) -> SampleSizeResult:
    """Riley criteria for developing a time-to-event model (as R ``pmsampsize(type = "s")``).

    Parameters
    ----------
    cs_r2 : anticipated Cox-Snell R2.
    parameters : candidate predictor parameters.
    rate : overall event rate per unit time.
    horizon : time point of interest for the risk.
    mean_followup : anticipated mean follow-up per participant.
    """
    for name, v in [("cs_r2", cs_r2), ("rate", rate), ("horizon", horizon), ("mean_followup", mean_followup)]:
        _positive(name, v)
    n_ref = 10000  # as pmsampsize: an arbitrary n for the null log-likelihood
    events_ref = math.ceil(rate * mean_followup * n_ref)
    n1 = _n_for_shrinkage(parameters, cs_r2, shrinkage)
    ln_null = events_ref * math.log(events_ref / n_ref) - events_ref
    max_r2 = round(1 - math.exp(2 * ln_null / n_ref), 2)
    if max_r2 < cs_r2:
        raise ValueError(f"cs_r2={cs_r2} exceeds the maximum possible Cox-Snell R2 ({max_r2}).")
    s2 = round(cs_r2 / (cs_r2 + 0.05 * max_r2), 3)
    n2 = _n_for_shrinkage(parameters, cs_r2, s2)
    n3 = max(n1, n2)
    person_time = round(mean_followup * n3, 1)
    upper = 1 - math.exp(-(rate + 1.96 * math.sqrt(rate / person_time)) * horizon)
    cuminc = 1 - math.exp(-rate * horizon)
    per = rate * mean_followup
    crit = [
        Criterion("shrinkage", f"expected shrinkage is at least {shrinkage}.", n1, n1 * per, {"shrinkage": shrinkage}),
        Criterion("optimism_r2", f"apparent and adjusted Nagelkerke R2 differ by at most 0.05 (shrinkage {s2}).",
                  n2, n2 * per, {"shrinkage": s2, "max_cs_r2": max_r2}),
        Criterion("overall_risk", f"the risk by time {horizon} ({cuminc:.3f}) is estimated with margin of error "
                  f"{upper - cuminc:.3f} at this size (reported, not a separate requirement).", n3, n3 * per,
                  {"risk_at_horizon": cuminc, "margin_of_error": upper - cuminc}),
    ]
    return _result("survival", crit, per, {"cs_r2": cs_r2, "parameters": parameters, "rate": rate,
                   "horizon": horizon, "mean_followup": mean_followup, "shrinkage": shrinkage}, "events")


def _cont_shrinkage(parameters, r2, n):
    return 1 + (parameters - 2) / (n * math.log(1 - ((r2 * (n - parameters - 1)) + parameters) / (n - 1)))


def sample_size_continuous(*, r2: float, parameters: int, intercept: float, sd: float,
                           shrinkage: float = 0.9, mmoe: float = 1.1) -> SampleSizeResult:
    """Riley criteria for developing a linear-regression model (as R ``pmsampsize(type = "c")``).

    Parameters
    ----------
    r2 : anticipated adjusted R2.
    parameters : candidate predictor parameters.
    intercept : anticipated mean outcome.
    sd : anticipated outcome standard deviation.
    shrinkage : target expected shrinkage.
    mmoe : multiplicative margin of error for the residual SD and intercept (1.1 = within 10%).
    """
    _positive("r2", r2, 1)
    _positive("sd", sd)
    n1 = parameters + 2
    while True:  # smallest n with expected shrinkage >= target (pmsampsize's search)
        es = _cont_shrinkage(parameters, r2, n1)
        if not math.isnan(es) and es >= shrinkage:
            break
        n1 += 1
    n2 = math.ceil(1 + parameters * (1 - r2) / 0.05)

    from scipy.stats import chi2  # only the continuous criteria need scipy.stats
    from scipy.stats import t as student_t

    def resvar_mmoe(n):
        df = n - parameters - 1
        return math.sqrt(max(df / chi2.ppf(0.025, df), chi2.ppf(0.975, df) / df))

    n3 = 234
    while resvar_mmoe(n3) > mmoe:
        n3 += 1

    def int_mmoe(n):
        df = n - parameters - 1
        return (intercept + math.sqrt(sd * (1 - r2) / n) * -student_t.ppf(0.025, df)) / intercept

    n4 = max(n1, n2, n3)
    while int_mmoe(n4) > mmoe:
        n4 += 1
    crit = [
        Criterion("shrinkage", f"expected shrinkage is at least {shrinkage}.", n1, None,
                  {"shrinkage": round(_cont_shrinkage(parameters, r2, n1), 3)}),
        Criterion("optimism_r2", "apparent and adjusted R2 differ by at most 0.05.", n2, None,
                  {"shrinkage": round(_cont_shrinkage(parameters, r2, n2), 3)}),
        Criterion("residual_sd", f"the residual SD is estimated within a factor {mmoe}.", n3, None,
                  {"mmoe": resvar_mmoe(n3)}),
        Criterion("intercept", f"the mean outcome (intercept) is estimated within a factor {mmoe}.", n4, None,
                  {"mmoe": int_mmoe(n4)}),
    ]
    return _result("continuous", crit, None, {"r2": r2, "parameters": parameters, "intercept": intercept,
                   "sd": sd, "shrinkage": shrinkage, "mmoe": mmoe}, "")


# ------------------------------------------------------------- external validation
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(200)  # E[f(Z)], Z ~ N(0, 1)
_GH_W = _GH_W / _GH_W.sum()


def _c_of(mu: float, sigma: float) -> float:
    """C-statistic of a calibrated model whose logit risk is N(mu, sigma^2)."""
    x = mu + sigma * np.linspace(-8, 8, 4001)
    dens = np.exp(-0.5 * ((x - mu) / sigma) ** 2)
    p = expit(x)
    f1, f0 = dens * p, dens * (1 - p)
    f1, f0 = f1 / f1.sum(), f0 / f0.sum()
    cdf0 = np.cumsum(f0) - 0.5 * f0
    return float(np.sum(f1 * cdf0))


def lp_distribution(prevalence: float, c_statistic: float) -> tuple[float, float]:
    """Mean and SD of a normal linear predictor giving this prevalence and C (calibrated model)."""
    from scipy.optimize import brentq

    _positive("prevalence", prevalence, 1)
    if not 0.5 < c_statistic < 1:
        raise ValueError(f"c_statistic must be in (0.5, 1); got {c_statistic!r}.")

    def mu_for(sigma):
        return brentq(lambda m: float(np.sum(_GH_W * expit(m + sigma * _GH_X))) - prevalence, -60, 60)

    sigma = brentq(lambda s: _c_of(mu_for(s), s) - c_statistic, 1e-3, 10)
    return mu_for(sigma), sigma


def _se_target(width: float, level: float) -> float:
    return width / (2 * ndtri(0.5 + level / 2))


def sample_size_external_binary(
    *, prevalence: float, c_statistic: float, oe_width: float = 0.2, slope_width: float = 0.2,
    c_width: float = 0.1, threshold: float | None = None, nb_width: float = 0.2, level: float = 0.95,
) -> SampleSizeResult:
    """Riley et al. (2021) minimum sample size to externally validate a binary-outcome model.

    Parameters
    ----------
    prevalence : anticipated outcome proportion in the validation population.
    c_statistic : anticipated C-statistic there.
    oe_width, slope_width, c_width : target 95% CI widths for O/E (around 1), the
        calibration slope (around 1) and the C-statistic.
    threshold : risk threshold for net benefit; if given, the standardised net benefit
        (NB / prevalence) is required within ``nb_width``.
    level : confidence level of the target intervals.

    Returns
    -------
    SampleSizeResult
        Assumes the model is well calibrated with a normal linear predictor
        (:func:`lp_distribution`).
    """
    mu, sigma = lp_distribution(prevalence, c_statistic)
    lp = mu + sigma * _GH_X
    p = expit(lp)
    v = p * (1 - p)
    z = ndtri(0.5 + level / 2)
    # O/E: CI exp(+-z se) around 1 with width oe_width; var(ln O/E) = (1 - phi) / (n phi)
    se_oe = math.log((oe_width + math.sqrt(oe_width**2 + 4)) / 2) / z
    n_oe = math.ceil((1 - prevalence) / (prevalence * se_oe**2))
    # calibration slope: inverse Fisher information of (a, b) at a=0, b=1
    i_a, i_ab, i_b = (float(np.sum(_GH_W * v * lp**k)) for k in (0, 1, 2))
    se_slope = _se_target(slope_width, level)
    n_slope = math.ceil(i_a / (se_slope**2 * (i_a * i_b - i_ab**2)))
    # C-statistic: Newcombe's variance, solved for n
    c = c_statistic
    se_c = _se_target(c_width, level)

    def var_c(n):
        return c * (1 - c) * (1 + (n / 2 - 1) * (1 - c) / (2 - c) + (n / 2 - 1) * c / (1 + c)) / (
            n**2 * prevalence * (1 - prevalence))

    from scipy.optimize import brentq

    n_c = math.ceil(brentq(lambda n: var_c(n) - se_c**2, 2, 1e9))
    crit = [
        Criterion("oe", f"O/E is estimated with a {level:.0%} CI no wider than {oe_width} (mean calibration).",
                  n_oe, n_oe * prevalence, {"se_log_oe": se_oe}),
        Criterion("calibration_slope", f"the calibration slope has a {level:.0%} CI no wider than {slope_width} "
                  "(weak calibration).", n_slope, n_slope * prevalence, {"lp_mean": mu, "lp_sd": sigma}),
        Criterion("c_statistic", f"the C-statistic has a {level:.0%} CI no wider than {c_width} (discrimination).",
                  n_c, n_c * prevalence, {}),
    ]
    if threshold is not None:
        _positive("threshold", threshold, 1)
        odds = threshold / (1 - threshold)
        sens = float(np.sum(_GH_W * p * (p > threshold)) / prevalence)
        spec = float(np.sum(_GH_W * (1 - p) * (p <= threshold)) / (1 - prevalence))
        unit_var = (sens * (1 - sens) / prevalence + odds**2 * spec * (1 - spec) * (1 - prevalence) / prevalence**2
                    + odds**2 * (1 - spec) ** 2 * (1 - prevalence) / prevalence**3)
        n_nb = math.ceil(unit_var / _se_target(nb_width, level) ** 2)
        crit.append(Criterion("net_benefit", f"the standardised net benefit at threshold {threshold} has a "
                              f"{level:.0%} CI no wider than {nb_width} (clinical utility).", n_nb,
                              n_nb * prevalence, {"sensitivity": sens, "specificity": spec}))
    return _result("external_binary", crit, prevalence, {"prevalence": prevalence, "c_statistic": c_statistic,
                   "oe_width": oe_width, "slope_width": slope_width, "c_width": c_width,
                   "threshold": threshold, "nb_width": nb_width, "level": level}, "events")
