"""Minimum sample size for developing or externally validating a prediction model (Riley et al.).

Development (Riley et al., Stat Med 2019 Parts I-II; BMJ 2020;368:m441), reproducing the
sample sizes asserted in R ``pmsampsize``'s test suites (tests/golden/pmsampsize): for the
criterion 2 the maximum R2 and the shrinkage are used unrounded, for binary and time-to-event
outcomes alike, as pmsampsize 1.1.3 does (version 1.0.2 rounded them for survival data, which
over-sized some studies and under-sized others):

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

External validation, time-to-event outcome (Riley et al., Stat Med 2022;41:1280): the same
criteria at a horizon, with large-sample variances of the estimators this package uses
(Greenwood for O/E, Cox information for the slope, infinitesimal jackknife for Harrell's C)
under a normal linear predictor, proportional hazards and exponential censoring.

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
    "sample_size_external_survival",
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
    max_r2 = 1 - math.exp(2 * ln_null / n_ref)
    if max_r2 < cs_r2:
        raise ValueError(f"cs_r2={cs_r2} exceeds the maximum possible Cox-Snell R2 ({max_r2}).")
    s2 = cs_r2 / (cs_r2 + 0.05 * max_r2)
    n2 = _n_for_shrinkage(parameters, cs_r2, s2)
    n3 = max(n1, n2)
    person_time = round(mean_followup * n3, 1)
    upper = 1 - math.exp(-(rate + 1.96 * math.sqrt(rate / person_time)) * horizon)
    cuminc = 1 - math.exp(-rate * horizon)
    per = rate * mean_followup
    crit = [
        Criterion("shrinkage", f"expected shrinkage is at least {shrinkage}.", n1, n1 * per, {"shrinkage": shrinkage}),
        Criterion("optimism_r2", f"apparent and adjusted Nagelkerke R2 differ by at most 0.05 (shrinkage {s2:.3f}).",
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


def _nb_unit_variance(p: np.ndarray, prevalence: float, threshold: float) -> tuple[float, float, float]:
    """n * var(standardised net benefit) for calibrated risks ``p`` on the quadrature nodes.

    Riley et al. (2021) eq. for sNB = sens - odds * (1 - spec) * (1 - phi) / phi; also
    returns the anticipated sensitivity and specificity at the threshold.
    """
    odds = threshold / (1 - threshold)
    sens = float(np.sum(_GH_W * p * (p > threshold)) / prevalence)
    spec = float(np.sum(_GH_W * (1 - p) * (p <= threshold)) / (1 - prevalence))
    unit_var = (sens * (1 - sens) / prevalence + odds**2 * spec * (1 - spec) * (1 - prevalence) / prevalence**2
                + odds**2 * (1 - spec) ** 2 * (1 - prevalence) / prevalence**3)
    return unit_var, sens, spec


def _se_log_oe(oe_width: float, level: float) -> float:
    """SE of ln(O/E) giving a CI exp(+-z se) around O/E = 1 of width ``oe_width``."""
    return math.log((oe_width + math.sqrt(oe_width**2 + 4)) / 2) / ndtri(0.5 + level / 2)


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
    # O/E: CI exp(+-z se) around 1 with width oe_width; var(ln O/E) = (1 - phi) / (n phi)
    se_oe = _se_log_oe(oe_width, level)
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
        unit_var, sens, spec = _nb_unit_variance(p, prevalence, threshold)
        n_nb = math.ceil(unit_var / _se_target(nb_width, level) ** 2)
        crit.append(Criterion("net_benefit", f"the standardised net benefit at threshold {threshold} has a "
                              f"{level:.0%} CI no wider than {nb_width} (clinical utility).", n_nb,
                              n_nb * prevalence, {"sensitivity": sens, "specificity": spec}))
    return _result("external_binary", crit, prevalence, {"prevalence": prevalence, "c_statistic": c_statistic,
                   "oe_width": oe_width, "slope_width": slope_width, "c_width": c_width,
                   "threshold": threshold, "nb_width": nb_width, "level": level}, "events")


# ------------------------------------------------ external validation, time-to-event
_GL_X, _GL_W = np.polynomial.legendre.leggauss(400)  # integrals over [0, horizon]
_C_REFERENCE_N = 20_000  # reference cohort for the variance of Harrell's C
_C_REFERENCE_SEED = 20211216  # fixed: the calculator is deterministic


class _SurvivalPopulation:
    """The anticipated validation population of :func:`sample_size_external_survival`.

    Linear predictor ~ N(0, sigma^2); exponential event times with hazard
    ``base * exp(lp)`` (the model is calibrated: slope 1); exponential censoring with
    hazard ``cens``; follow-up ends at the horizon. Expectations over the linear predictor
    use the Gauss-Hermite nodes, integrals over time Gauss-Legendre nodes on [0, horizon].
    """

    def __init__(self, sigma: float, risk: float, horizon: float, censored: float):
        from scipy.optimize import brentq

        self.sigma, self.horizon, self.lp = sigma, horizon, sigma * _GH_X
        rel = np.exp(self.lp)
        log_base = brentq(lambda a: float(np.sum(_GH_W * -np.expm1(-math.exp(a) * rel))) - risk, -40, 20)
        self.base = math.exp(log_base) / horizon
        self.hazard = self.base * rel
        self.cens = 0.0 if censored == 0 else math.exp(brentq(
            lambda a: self.censored_share(math.exp(a)) - censored, -40, 40)) / horizon
        self.u = horizon * (_GL_X + 1.0) / 2.0
        self.du = horizon * _GL_W / 2.0

    def censored_share(self, cens_times_horizon: float) -> float:
        """Share censored before the horizon (censoring hazard times horizon given)."""
        total = self.hazard * self.horizon + cens_times_horizon
        return float(np.sum(_GH_W * cens_times_horizon / total * -np.expm1(-total)))

    def probabilities(self) -> np.ndarray:
        """Each node's true (= predicted: the model is calibrated) risk by the horizon."""
        return -np.expm1(-self.hazard * self.horizon)

    def unit_var_log_observed(self, cens: float | None = None) -> float:
        """n * var(ln(1 - KM(horizon))), the delta method on Greenwood's variance.

        n var(cumulative hazard) = int_0^t dF(u) / (S(u)^2 G(u)); without censoring this
        gives (1 - F) / F, the binary formula.
        """
        cens = self.cens if cens is None else cens
        surv_u = np.exp(-np.outer(self.u, self.hazard))  # (time node, lp node)
        s, f = surv_u @ _GH_W, (surv_u * self.hazard) @ _GH_W
        unit_var_cumhaz = float(np.sum(self.du * f / (s * s * np.exp(-cens * self.u))))
        risk = float(np.sum(_GH_W * self.probabilities()))
        return (1.0 - risk) ** 2 * unit_var_cumhaz / risk**2

    def unit_info_cox_slope(self) -> float:
        """Expected Cox partial-likelihood information for the LP coefficient, per patient.

        ``int_0^t (s2 - s1^2 / s0) base du`` with ``s_k(u) = E[lp^k exp(lp) at risk at u]``.
        """
        at_risk = np.exp(-np.outer(self.u, self.hazard + self.cens)) * (_GH_W * np.exp(self.lp))
        s0, s1, s2 = (at_risk @ self.lp**k for k in (0, 1, 2))
        return self.base * float(np.sum(self.du * (s2 - s1 * s1 / s0)))

    def expected_harrell_c(self) -> float:
        """Large-sample limit of Harrell's C over follow-up to the horizon.

        A pair is comparable when the earlier observed time is an event: patient i fails
        first, while both are still followed, with probability ``h_i / H (1 - exp(-H t))``,
        ``H = h_i + h_j + 2 cens``. Harrell's C is concordant over comparable pairs. The LP
        is on a fine grid (the Gauss-Hermite nodes are too coarse for pairs), ties count 1/2.
        """
        z = np.linspace(-8.0, 8.0, 801)
        w = np.exp(-0.5 * z * z)
        w /= w.sum()
        hazard = self.base * np.exp(self.sigma * z)
        total = hazard[:, None] + hazard[None, :] + 2.0 * self.cens
        first = hazard[:, None] / total * -np.expm1(-total * self.horizon)  # [i, j]: i fails first, observed
        pair_w = w[:, None] * w[None, :]
        score = np.sign(np.subtract.outer(z, z)) * 0.5 + 0.5  # 1 if LP_i > LP_j, 1/2 on ties
        return float(np.sum(pair_w * score * first) / np.sum(pair_w * first))

    @classmethod
    def for_harrell_c(cls, c_statistic: float, risk: float, horizon: float, censored: float):
        """The population whose LP spread gives this expected Harrell's C."""
        from scipy.optimize import brentq

        sigma = brentq(lambda sd: cls(sd, risk, horizon, censored).expected_harrell_c() - c_statistic, 1e-3, 10)
        return cls(sigma, risk, horizon, censored)

    def simulate(self, n: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` patients ``(time, event, lp)`` of this population, followed to the horizon."""
        lp = rng.normal(0.0, self.sigma, n)
        t = rng.exponential(1.0 / (self.base * np.exp(lp)))
        c = rng.exponential(1.0 / self.cens, n) if self.cens > 0 else np.full(n, np.inf)
        end = np.minimum(np.minimum(t, c), self.horizon)
        return end, (t <= np.minimum(c, self.horizon)).astype(float), lp

    def unit_var_harrell_c(self) -> float:
        """n * var(Harrell's C): infinitesimal-jackknife variance in a large reference cohort."""
        from spinerisk.evaluation.survival import harrell_c

        time, event, lp = self.simulate(_C_REFERENCE_N, np.random.default_rng(_C_REFERENCE_SEED))
        est = harrell_c(time, event, lp)
        se = (est.upper - est.lower) / (2 * ndtri(0.5 + est.level / 2))
        return _C_REFERENCE_N * se**2


def sample_size_external_survival(
    *, risk_at_horizon: float, c_statistic: float, horizon: float, censored_before_horizon: float = 0.0,
    oe_width: float = 0.2, slope_width: float = 0.2, c_width: float = 0.1, threshold: float | None = None,
    nb_width: float = 0.2, level: float = 0.95,
) -> SampleSizeResult:
    """Minimum sample size to externally validate a time-to-event model at a horizon.

    Follows the criteria of Riley et al. (Stat Med 2022;41:1280): precise O/E at the
    horizon, calibration slope, C-statistic and (optionally) net benefit. Riley et al.
    find each size by simulation (their slope is fitted to pseudo-observations on the log
    cumulative-hazard scale); here the variances are the large-sample ones of the
    estimators :mod:`spinerisk.evaluation.survival` uses, so the answer is deterministic:

    * O/E = (1 - KM(horizon)) / mean risk: Greenwood's variance by the delta method
      (reduces to the binary ``(1 - phi) / (n phi)`` without censoring);
    * calibration slope = coefficient of the LP in a Cox model: inverse expected
      partial-likelihood information;
    * Harrell's C: infinitesimal-jackknife variance (as ``survival::concordance``) in a
      reference cohort of 20,000 simulated with a fixed seed, scaled by ``1 / n``;
    * standardised net benefit: the binary formula at the horizon risks, inflated by the
      censoring's loss of information on the overall risk (an approximation).

    Parameters
    ----------
    risk_at_horizon : anticipated overall risk of the event by the horizon (``1 - S(t)``).
    c_statistic : anticipated Harrell's C over follow-up to the horizon (it sets the spread
        of the linear predictor, given the risk and censoring).
    horizon : the time point (any unit; only ratios matter).
    censored_before_horizon : anticipated share of patients lost to follow-up before the
        horizon (exponential censoring; 0 = everyone followed to the horizon).
    oe_width, slope_width, c_width, threshold, nb_width, level : as in
        :func:`sample_size_external_binary`.

    Returns
    -------
    SampleSizeResult
        Assumes a calibrated model with a normal linear predictor, proportional hazards
        with exponential event times, and analysis of follow-up up to the horizon (longer
        follow-up only adds precision to the slope and C). ``events`` = n times the risk
        by the horizon (fewer are observed when patients are lost before it).
    """
    _positive("risk_at_horizon", risk_at_horizon, 1)
    _positive("horizon", horizon)
    if not 0.5 < c_statistic < 1:
        raise ValueError(f"c_statistic must be in (0.5, 1); got {c_statistic!r}.")
    if not 0 <= censored_before_horizon < 0.99:
        raise ValueError(f"censored_before_horizon must be in [0, 0.99); got {censored_before_horizon!r}.")
    pop = _SurvivalPopulation.for_harrell_c(c_statistic, risk_at_horizon, horizon, censored_before_horizon)
    n_oe = math.ceil(pop.unit_var_log_observed() / _se_log_oe(oe_width, level) ** 2)
    n_slope = math.ceil(1.0 / (pop.unit_info_cox_slope() * _se_target(slope_width, level) ** 2))
    n_c = math.ceil(pop.unit_var_harrell_c() / _se_target(c_width, level) ** 2)
    f = risk_at_horizon
    crit = [
        Criterion("oe", f"O/E at the horizon is estimated with a {level:.0%} CI no wider than {oe_width} "
                  "(mean calibration).", n_oe, n_oe * f, {"censoring_hazard": pop.cens, "baseline_hazard": pop.base}),
        Criterion("calibration_slope", f"the calibration slope (Cox) has a {level:.0%} CI no wider than "
                  f"{slope_width} (weak calibration).", n_slope, n_slope * f, {"lp_sd": pop.sigma}),
        Criterion("c_statistic", f"Harrell's C has a {level:.0%} CI no wider than {c_width} (discrimination).",
                  n_c, n_c * f, {"reference_n": _C_REFERENCE_N}),
    ]
    if threshold is not None:
        _positive("threshold", threshold, 1)
        unit_var, sens, spec = _nb_unit_variance(pop.probabilities(), f, threshold)
        inflation = pop.unit_var_log_observed() / pop.unit_var_log_observed(cens=0.0)
        n_nb = math.ceil(inflation * unit_var / _se_target(nb_width, level) ** 2)
        crit.append(Criterion("net_benefit", f"the standardised net benefit at threshold {threshold} has a "
                              f"{level:.0%} CI no wider than {nb_width} (clinical utility).", n_nb, n_nb * f,
                              {"sensitivity": sens, "specificity": spec, "censoring_inflation": inflation}))
    return _result("external_survival", crit, f, {
        "risk_at_horizon": f, "c_statistic": c_statistic, "horizon": horizon,
        "censored_before_horizon": censored_before_horizon, "oe_width": oe_width, "slope_width": slope_width,
        "c_width": c_width, "threshold": threshold, "nb_width": nb_width, "level": level}, "events by the horizon")
