"""Multi-site cohort simulator with a documented data-generating process (DGP).

The DGP follows CLINICAL_SPEC section 4. In words:

1. Each episode belongs to a site and to a task population (injections/ablation ->
   ``response``; vertebral augmentation -> ``residual_pain``; endoscopic discectomy ->
   ``reoperation``). Sites differ in case-mix (age, BMI, Modic prevalence, procedure
   choice), in outcome baseline (intercept) and strength of effects (slope), and in how
   often optional fields are missing.
2. A latent dominant phenotype (radicular, facetogenic, discogenic, vertebrogenic,
   sacroiliac, LF stenosis) drives the clinical picture and the MRI findings; age drives
   degeneration (Pfirrmann, facet arthropathy, LF thickness, stenosis); Pfirrmann and BMI
   drive Modic changes; age and sex drive BMD, and BMD the number of fractures.
3. The procedure is concordant with the latent phenotype with a site-specific probability
   (about 0.75), otherwise drawn from all procedures of the population. Whether it is
   concordant, discordant or contraindicated *as the review's pathway rules judge it* from
   the complete findings (:func:`spinerisk.phenotype.pathway_features`) then shapes the
   response outcome: the review's premise that phenotype-concordant selection works better
   is built in through an observable rule, so a model given the pathway features can find it.
4. Outcomes come from a logistic model (binary tasks) or a Weibull proportional-hazards
   model (reoperation) whose terms are listed in :data:`TERMS`, with log-odds (log-hazard)
   ratios inside the published ranges and at least one non-linear effect and one
   interaction per task (``dgp="published"``); ``dgp="linear"`` keeps only linear main
   effects of observed fields, so that a flexible model has nothing extra to find.
5. Optional fields go missing at random given always-observed fields (age, site), at
   site-specific rates; outcomes of binary tasks are missing (lost to follow-up) in about
   3% of episodes; reoperation times are censored by staggered administrative follow-up
   and loss to follow-up.
6. The findings the pathway rules need beyond the prediction models (conservative care,
   red-flag imaging and laboratory findings, fracture activity, block-type-specific
   counts; :data:`REVIEW_FINDING_RATES`) are drawn from their own random stream, after the
   procedure and before the outcomes, so adding them left every other simulated finding
   as it was; they reach the outcomes only through the pathway's concordance.

The true linear predictor and risk of each episode are returned in ``truth``, never in
the feature table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from spinerisk import schema
from spinerisk.errors import UsageError

DGP = Literal["published", "linear"]
PHENOTYPES = ("radicular", "facetogenic", "discogenic", "vertebrogenic", "sacroiliac",
              "lf_stenosis")
RESPONSE_PROCEDURES = ("tf_esi", "il_esi", "caudal_esi", "drg_prf", "facet_ia_steroid",
                       "facet_rfa", "sij_block", "sij_rfa", "bvna", "mild", "pldd", "ozone",
                       "cooled_rf_disc")
ESI = ("tf_esi", "il_esi", "caudal_esi")

#: Procedures concordant with each latent phenotype, with the share the pathway gives each.
CONCORDANT: dict[str, dict[str, float]] = {
    "radicular": {"tf_esi": 0.45, "il_esi": 0.15, "caudal_esi": 0.05, "drg_prf": 0.1,
                  "pldd": 0.15, "ozone": 0.1},
    "facetogenic": {"facet_rfa": 0.75, "facet_ia_steroid": 0.25},
    "discogenic": {"cooled_rf_disc": 1.0},
    "vertebrogenic": {"bvna": 1.0},
    "sacroiliac": {"sij_rfa": 0.5, "sij_block": 0.5},
    "lf_stenosis": {"mild": 0.6, "il_esi": 0.4},
}

#: Target marginal event rates at the reference site (CLINICAL_SPEC section 4).
TARGETS = {"response": (0.40, 0.60), "residual_pain": (0.12, 0.24),
           "reoperation": (0.04, 0.08)}

#: Weibull shape of the reoperation hazard (< 1: most reoperations happen early).
WEIBULL_SHAPE = 0.5
HORIZON_MONTHS = 24.0

#: Log-odds (binary tasks) or log-hazard (reoperation) ratios of every DGP term, with the
#: published source they stand for. Intercepts put the reference site inside TARGETS.
TERMS: dict[str, dict[DGP, dict[str, float]]] = {
    "response": {
        "published": {
            "intercept": 1.51,
            "discordant_procedure": -0.9,      # review: concordant selection works better
            "contraindicated_procedure": -1.2,  # a contraindicated procedure does worst
            "depression_anxiety": -0.45,       # Cohen 2023 (depression)
            "odi_per10_above40": -0.18,        # Cohen 2023 poor baseline function
            "log_duration_over_26w": -0.35,    # longer duration predicts failure (non-linear)
            "unemployed_or_disabled": -0.4,    # unemployment predicts ESI failure
            "current_smoker": -0.35,
            "baseline_opioid": -0.3,
            "age_minus50_sq_per100": -0.06,    # inverted U in age (non-linear)
            "esi_x_root_compression": -0.3,    # lower root compression favours TF-ESI
            "esi_x_subarticular": -0.3,        # non-subarticular herniation favours TF-ESI
            "rfa_x_bmi_over30": -0.6,          # BMI > 30 worse for RFA (threshold)
            "rfa_x_one_block": 0.25,           # Cohen 2010: 33% / 39% / 64%
            "rfa_x_comparative_blocks": 1.28,
            "bvna_x_modic_extent": 1.55,       # endplate change > 50%: OR 4.7
            "bvna_x_facet_effusion": -0.53,    # facet fluid: OR 0.59
        },
        "linear": {
            "intercept": 1.02,
            "depression_anxiety": -0.45,
            "odi_per10_above40": -0.18,
            "duration_per52w": -0.3,
            "unemployed_or_disabled": -0.4,
            "current_smoker": -0.35,
            "baseline_opioid": -0.3,
            "age_per10_above50": -0.1,
            "root_compression_grade": -0.2,
            "bmi_per5_above27": -0.15,
            "diagnostic_blocks_positive": 0.4,
            "modic_extent_gt50": 0.5,
            "facet_effusion": -0.3,
        },
    },
    "residual_pain": {
        "published": {
            "intercept": -4.61,
            "bmd_per_sd_below_minus2.5": 0.35,   # low BMD OR 2.2-5.6
            "bmd_hinge_below_minus3.5": 0.6,     # non-linear: steeper when very low
            "tlf_injury": 1.5,                   # OR 3.9-5.2
            "intravertebral_cleft": 1.3,         # OR 3.5-3.8
            "kyphoplasty_x_cleft": -0.6,         # cavity creation blunts the cleft effect
            "cement_maldistribution": 0.9,       # OR 2.0-3.0
            "goutallier_grade": 0.4,             # high Goutallier OR 3-6
            "sarcopenia": 0.7,                   # about 2x
            "depression_anxiety": 1.2,           # OR 3.4
            "multiple_fractures": 1.2,           # OR 3.4
            "current_smoker": 1.0,
        },
        "linear": {
            "intercept": -4.42,
            "bmd_per_sd_below_minus2.5": 0.5,
            "tlf_injury": 1.5,
            "intravertebral_cleft": 1.1,
            "cement_maldistribution": 0.9,
            "goutallier_grade": 0.4,
            "sarcopenia": 0.7,
            "depression_anxiety": 1.2,
            "n_fractures_above1": 0.6,
            "current_smoker": 1.0,
        },
    },
    "reoperation": {
        "published": {
            "intercept": -6.05,                  # log Weibull scale (months^-shape)
            "modic_type1": 0.5,                  # OR 1.65
            "modic_type2": 1.1,                  # strongest (OR up to 5.8)
            "modic_type3": 0.3,
            "modic_mixed12": 0.8,
            "diabetes": 0.64,                    # OR 1.6-2.3
            "current_smoker": 0.4,               # OR 1.3-2.0
            "bmi_per_unit_above25": 0.06,        # obesity OR 1.66 (hinge: non-linear)
            "segmental_rom_per_deg_above8": 0.07,  # ROM OR 2.0
            "pfirrmann_4_or_5": 0.6,             # OR 1.3-2.8
            "non_contained": 0.5,                # OR 1.6-1.8
            "transforaminal_x_non_contained": 0.4,  # approach-morphology interaction
            "inexperienced_operator": 0.4,       # OR 1.5
            "manual_labour": 0.79,               # OR 2.2
            "age_57_or_more": 0.45,              # HR 1.4-1.75 (threshold)
        },
        "linear": {
            "intercept": -6.25,
            "modic_any": 0.8,
            "diabetes": 0.64,
            "current_smoker": 0.4,
            "bmi_per5_above27": 0.25,
            "segmental_rom_per_deg_above8": 0.07,
            "pfirrmann_grade": 0.3,
            "non_contained": 0.5,
            "inexperienced_operator": 0.4,
            "manual_labour": 0.79,
            "age_per10_above50": 0.15,
        },
    },
}

#: Mean covariate part of the linear predictor at the reference site: a site's
#: ``outcome_slope`` scales effects around this centre, so ``outcome_intercept`` alone moves
#: the baseline risk of an average patient.
COVARIATE_CENTRE: dict[str, dict[DGP, float]] = {
    "response": {"published": -1.498, "linear": -1.018},
    "residual_pain": {"published": 2.667, "linear": 2.515},
    "reoperation": {"published": 1.31, "linear": 1.536},
}

#: Base missingness probability of optional fields at an average site.
MISSING_RATES = {
    "bmi": 0.04, "smoking": 0.06, "employment": 0.05, "manual_labour": 0.08,
    "regular_exercise": 0.10, "depression_anxiety": 0.03, "baseline_opioid": 0.04,
    "pain_days_fraction_6m": 0.20, "leg_pain_nrs": 0.05, "odi": 0.12,
    "disc_height_index": 0.15, "dural_sac_csa_mm2": 0.20, "lf_thickness_mm": 0.10,
    "facet_orientation_deg": 0.25, "facet_tropism_deg": 0.25, "segmental_rom_deg": 0.30,
    "goutallier_grade": 0.15, "multifidus_csa_cm2": 0.35, "bmd_t_score": 0.12,
    "sarcopenia": 0.25, "cement_volume_ml": 0.05, "guidance": 0.02,
    "operator_experienced": 0.05,
}
#: Base missingness of the optional pathway findings (drawn from their own stream).
REVIEW_MISSING_RATES = {
    "conservative_care_weeks": 0.15, "conservative_care_type": 0.08,
    "fortin_finger_test": 0.30, "night_pain": 0.10, "n_affected_levels": 0.10,
}
OUTCOME_MISSING_RATE = 0.03

#: Rates of the pathway findings at an average site, per population (CLINICAL_SPEC 2; the
#: red-flag findings are rare because red-flag patients are mostly triaged away before a
#: degenerative procedure). Tests check the simulated rates against these.
REVIEW_FINDING_RATES = {
    # fracture pain is augmented after a shorter trial of conservative care
    "failed_conservative_care": {"duration_6w_or_more": 0.85, "shorter": 0.35,
                                 "residual_pain": 0.8},
    "coagulopathy": 0.01,
    "pregnancy_female_under_45": 0.01,
    "low_energy_trauma": {"residual_pain": 0.55, "other": 0.01},
    "vertebral_fracture_outside_augmentation": 0.003,
    "endplate_destruction": {"fever": 0.4, "other": 0.002},
    "marrow_replacement": {"cancer_history": 0.15, "other": 0.002},
    "crp_measured": {"fever": 0.95, "residual_pain": 0.6, "other": 0.3},
    "fortin_finger_test": {"sacroiliac": 0.7, "other": 0.1},
}


@dataclass(frozen=True)
class SiteProfile:
    """How one site differs from the reference site (all defaults: no difference).

    Parameters
    ----------
    site_id : str
        Site identifier written to ``site_id``.
    age_shift, bmi_shift : float
        Added to every patient's age (years) and BMI (kg/m2).
    modic_shift : float
        Added to the log-odds of any Modic change (imaging protocol, case-mix).
    concordance : float
        Probability that the procedure is concordant with the latent phenotype.
    outcome_intercept : float
        Added to every task's linear predictor (baseline risk differs).
    outcome_slope : float
        Multiplies the covariate part of the linear predictor (effects differ).
    missing_multiplier : float
        Multiplies each optional field's missingness odds.
    weight : float
        Relative size of the site.
    """

    site_id: str
    age_shift: float = 0.0
    bmi_shift: float = 0.0
    modic_shift: float = 0.0
    concordance: float = 0.75
    outcome_intercept: float = 0.0
    outcome_slope: float = 1.0
    missing_multiplier: float = 1.0
    weight: float = 1.0


def random_site_profiles(k: int, rng: np.random.Generator) -> list[SiteProfile]:
    """The reference site ``S01`` plus ``k - 1`` sites with random, moderate differences."""
    profiles = [SiteProfile("S01")]
    for i in range(2, k + 1):
        profiles.append(SiteProfile(
            f"S{i:02d}", age_shift=rng.normal(0, 4), bmi_shift=rng.normal(0, 1.5),
            modic_shift=rng.normal(0, 0.4), concordance=rng.uniform(0.6, 0.85),
            outcome_intercept=rng.normal(0, 0.3), outcome_slope=rng.uniform(0.75, 1.15),
            missing_multiplier=float(np.exp(rng.normal(0, 0.5))), weight=rng.uniform(0.5, 1.5)))
    return profiles


@dataclass
class SimulatedCohort:
    """A simulated cohort: the contract-valid feature table and, apart, the truth.

    Attributes
    ----------
    frame : DataFrame
        One row per episode, contract columns only (canonical dtypes).
    truth : DataFrame
        ``patient_id``, ``episode_id``, ``site_id``, ``task``, ``phenotype`` (latent),
        ``concordant`` (latent), ``true_lp`` and ``true_risk`` (binary tasks: probability of
        the outcome; reoperation: probability of reoperation by 24 months).
    coefficients : dict
        The DGP: terms used per task, site profiles, Weibull shape, seed.
    """

    frame: pd.DataFrame
    truth: pd.DataFrame
    coefficients: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- sampling helpers

def _choice(rng: np.random.Generator, probs: np.ndarray, levels: tuple | list) -> np.ndarray:
    """Draw one level per row from row-specific probabilities (rows need not be normalised)."""
    probs = np.atleast_2d(probs)
    cum = np.cumsum(probs, axis=1)
    u = rng.random(max(1, probs.shape[0])) * cum[:, -1]
    idx = (u[:, None] > cum).sum(axis=1)
    return np.asarray(levels, dtype=object)[np.minimum(idx, len(levels) - 1)]


def _choice_n(rng: np.random.Generator, n: int, weights: dict[str, float]) -> np.ndarray:
    probs = np.tile(np.fromiter(weights.values(), float), (n, 1))
    return _choice(rng, probs, list(weights))


def _bernoulli(rng: np.random.Generator, p: np.ndarray | float, n: int) -> np.ndarray:
    return (rng.random(n) < p).astype(np.int64)


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _ordinal(latent: np.ndarray, cuts: tuple[float, ...], start: int = 0) -> np.ndarray:
    """Cut a continuous latent variable into ordered grades ``start, start+1, ...``."""
    return start + np.searchsorted(np.asarray(cuts), latent)


def _bounded(rng, mean, sd, low, high, n) -> np.ndarray:
    """Normal draws redrawn (not clipped) until inside [low, high], so no point masses."""
    values = rng.normal(mean, sd, n)
    mean = np.broadcast_to(mean, (n,))
    sd = np.broadcast_to(sd, (n,))
    bad = (values < low) | (values > high)
    while bad.any():
        values[bad] = rng.normal(mean[bad], sd[bad])
        bad = (values < low) | (values > high)
    return values


# --------------------------------------------------------------------------- the generator

def simulate(n: int, sites: int = 4, seed: int = 0, tasks: tuple[str, ...] | None = None,
             dgp: DGP = "published", site_profiles: list[SiteProfile] | None = None,
             missingness: bool = True,
             task_mix: dict[str, float] | None = None) -> SimulatedCohort:
    """Simulate ``n`` procedure episodes across sites.

    Parameters
    ----------
    n : int
        Number of episodes.
    sites : int
        Number of sites (ignored when ``site_profiles`` is given).
    seed : int
        Seed of the numpy Generator; the same seed gives the same cohort.
    tasks : tuple of str, optional
        Task populations to simulate; default all three.
    dgp : {"published", "linear"}
        Outcome model (see module docstring and :data:`TERMS`).
    site_profiles : list of SiteProfile, optional
        Explicit site differences (e.g. a validation site with a known shift).
    missingness : bool
        Whether optional fields and binary outcomes go missing.
    task_mix : dict, optional
        Share of each task when several are simulated (default 0.7 / 0.15 / 0.15).

    Returns
    -------
    SimulatedCohort
    """
    if n < 1:
        raise UsageError(f"n={n}: need at least one episode", fix="pass n >= 1")
    if dgp not in ("published", "linear"):
        raise UsageError(f"dgp={dgp!r}: no such data-generating process",
                         allowed="'published' or 'linear'", fix="pass one of these")
    tasks = tuple(tasks or schema.TASK_NAMES)
    unknown = set(tasks) - schema.ALL_TASKS
    if unknown:
        raise UsageError(f"tasks {sorted(unknown)} unknown", allowed=", ".join(schema.TASK_NAMES),
                         fix="pass known task names")
    rng = np.random.default_rng(seed)
    profiles = site_profiles or random_site_profiles(sites, rng)
    d = _draw_population(rng, n, profiles, tasks, task_mix)
    _draw_patient(rng, d, profiles)
    _repeat_episodes(rng, d)
    _draw_phenotype_and_findings(rng, d, profiles)
    _draw_procedure(rng, d, profiles)
    review_rng = np.random.default_rng([seed, 12])   # own stream: other draws unchanged
    _draw_review_findings(review_rng, d)
    lp, risk = _draw_outcomes(rng, d, profiles, dgp)
    if missingness:
        _apply_missingness(rng, d, profiles)
        _drop_fields(review_rng, d, profiles, REVIEW_MISSING_RATES)
    frame = schema.validate(pd.DataFrame({k: v for k, v in d.items() if k in
                                          schema.FIELD_BY_NAME}), tasks=tasks)
    truth = pd.DataFrame({"patient_id": d["patient_id"], "episode_id": d["episode_id"],
                          "site_id": d["site_id"], "task": d["task"],
                          "phenotype": d["phenotype"], "concordant": d["concordant"],
                          "pathway_concordance": d["pathway_concordance"],
                          "true_lp": lp, "true_risk": risk})
    coefficients = {"dgp": dgp, "seed": seed, "terms": {t: TERMS[t][dgp] for t in tasks},
                    "weibull_shape": WEIBULL_SHAPE, "horizon_months": HORIZON_MONTHS,
                    "sites": [asdict(p) for p in profiles]}
    return SimulatedCohort(frame=frame, truth=truth, coefficients=coefficients)


def _draw_population(rng, n, profiles, tasks, task_mix) -> dict[str, np.ndarray]:
    weights = np.array([p.weight for p in profiles])
    site_idx = rng.choice(len(profiles), size=n, p=weights / weights.sum())
    mix = task_mix or {"response": 0.7, "residual_pain": 0.15, "reoperation": 0.15}
    share = {t: mix.get(t, 0.0) for t in tasks}
    if sum(share.values()) <= 0:
        raise ValueError(f"task_mix {mix} gives no weight to the tasks {tasks}")
    task = _choice_n(rng, n, share)
    return {"site_idx": site_idx, "task": task,
            "site_id": np.array([profiles[i].site_id for i in site_idx], dtype=object),
            "patient_id": np.array([f"P{i:07d}" for i in range(n)], dtype=object),
            "episode_id": np.full(n, "E1", dtype=object),
            "procedure_year": rng.integers(2015, 2026, n)}


def _site_value(d, profiles, attribute) -> np.ndarray:
    return np.array([getattr(p, attribute) for p in profiles])[d["site_idx"]]


def _draw_patient(rng, d, profiles) -> None:
    """Demographics and history; population-specific ages and sex ratios."""
    n, task = len(d["task"]), d["task"]
    aug, peld = task == "residual_pain", task == "reoperation"
    age_mean = np.where(aug, 74.0, np.where(peld, 45.0, 54.0)) + _site_value(d, profiles,
                                                                            "age_shift")
    age_sd = np.where(aug, 8.0, 12.0)
    d["age"] = np.round(_bounded(rng, age_mean, age_sd, 18, 98, n), 1)
    female = _bernoulli(rng, np.where(aug, 0.78, np.where(peld, 0.4, 0.55)), n)
    d["sex"] = np.where(female == 1, "female", "male").astype(object)
    d["bmi"] = np.round(_bounded(rng, 27.5 + _site_value(d, profiles, "bmi_shift"), 5.0, 15, 60,
                                 n), 1)
    d["smoking"] = _choice_n(rng, n, {"never": 0.55, "former": 0.25, "current": 0.2})
    retired_p = _expit((d["age"] - 66) / 3)
    work = _choice_n(rng, n, {"employed": 0.74, "unemployed": 0.14, "disabled": 0.12})
    d["employment"] = np.where(rng.random(n) < retired_p, "retired", work).astype(object)
    d["manual_labour"] = _bernoulli(rng, np.where(d["employment"] == "employed", 0.32, 0.12), n)
    d["regular_exercise"] = _bernoulli(rng, _expit(-0.2 - 0.08 * (d["bmi"] - 27.5)), n)
    d["diabetes"] = _bernoulli(rng, _expit(-2.6 + 0.04 * (d["age"] - 55)
                                           + 0.1 * (d["bmi"] - 27.5)), n)
    d["depression_anxiety"] = _bernoulli(rng, 0.22, n)
    d["baseline_opioid"] = _bernoulli(rng, 0.25, n)
    d["anticoagulation"] = _bernoulli(rng, _expit(-3.0 + 0.06 * (d["age"] - 55)), n)
    d["prior_surgery_index_level"] = _bernoulli(rng, np.where(aug, 0.0, 0.07), n)
    t_mean = -2.9 - 0.03 * (d["age"] - 74) + 0.4 * (female == 0)
    d["bmd_t_score"] = np.where(aug, np.round(_bounded(rng, t_mean, 0.8, -5.8, 2, n), 1), np.nan)
    d["sarcopenia"] = np.where(aug, _bernoulli(rng, _expit(-1.2 + 0.08 * (d["age"] - 74)), n),
                               np.nan)


def _draw_phenotype_and_findings(rng, d, profiles) -> None:
    """Latent phenotype, then symptoms and MRI findings consistent with it and with age."""
    n, task, age = len(d["task"]), d["task"], d["age"]
    older = (age - 55) / 10
    logits = np.column_stack([0.3 - 0.4 * older, -0.5 + 0.3 * older, -1.2 - 0.2 * older,
                              -1.0 + 0.0 * older, -1.3 + 0.0 * older, -1.5 + 0.6 * older])
    pheno = _choice(rng, np.exp(logits), PHENOTYPES)
    pheno = np.where(task == "reoperation", "radicular", pheno)
    pheno = np.where(task == "residual_pain", "osseous", pheno).astype(object)
    d["phenotype"] = pheno
    is_ = {p: pheno == p for p in (*PHENOTYPES, "osseous")}
    aug = task == "residual_pain"

    degeneration = 0.45 * older + rng.normal(0, 1, n) + 0.9 * is_["discogenic"] \
        + 0.7 * is_["vertebrogenic"]
    d["pfirrmann_grade"] = _ordinal(degeneration, (-1.6, -0.6, 0.5, 1.5), start=1)
    modic_logit = (-1.6 + 0.6 * (d["pfirrmann_grade"] - 3) + 0.05 * (d["bmi"] - 27.5)
                   + 3.0 * is_["vertebrogenic"] + _site_value(d, profiles, "modic_shift"))
    has_modic = rng.random(n) < _expit(modic_logit)
    modic_kind = _choice_n(rng, n, {"type1": 0.35, "type2": 0.5, "type3": 0.05, "mixed12": 0.1})
    d["modic_type"] = np.where(has_modic, modic_kind, "none").astype(object)
    d["modic_extent_gt50"] = np.where(has_modic, _bernoulli(
        rng, np.where(is_["vertebrogenic"], 0.55, 0.3), n), 0)
    d["disc_height_index"] = np.round(_bounded(rng, 0.46 - 0.04 * (d["pfirrmann_grade"] - 1),
                                               0.05, 0.08, 0.75, n), 3)
    d["hiz"] = _bernoulli(rng, np.where(is_["discogenic"], 0.5, 0.15), n)
    _draw_herniation(rng, d, is_["radicular"])
    stenosis = 0.4 * older + rng.normal(0, 1, n) + 1.9 * is_["lf_stenosis"]
    schizas = _ordinal(stenosis, (0.3, 1.3, 2.3))
    d["central_stenosis_schizas"] = np.array(["A", "B", "C", "D"], dtype=object)[schizas]
    d["dural_sac_csa_mm2"] = np.round(_bounded(rng, 165 - 35 * schizas, 18, 15, 290, n))
    d["foraminal_stenosis_grade"] = _ordinal(0.4 * older + rng.normal(0, 1, n), (0.2, 1.2, 2.2))
    d["lf_thickness_mm"] = np.round(_bounded(rng, 3.2 + 0.35 * older + 1.6 * is_["lf_stenosis"],
                                             0.8, 1, 11.5, n), 1)
    facet = 0.5 * older + rng.normal(0, 1, n) + 1.2 * is_["facetogenic"]
    d["facet_arthropathy_grade"] = _ordinal(facet, (-0.8, 0.4, 1.5))
    d["facet_effusion"] = _bernoulli(rng, np.where(is_["facetogenic"], 0.4, 0.15), n)
    d["facet_orientation_deg"] = np.round(_bounded(rng, 45, 10, 5, 85, n), 1)
    d["facet_tropism_deg"] = np.round(np.abs(rng.normal(0, 6, n)), 1).clip(max=45)
    d["segmental_rom_deg"] = np.round(_bounded(rng, 8, 3, 0, 25, n), 1)
    d["spondylolisthesis_grade"] = _ordinal(0.6 * (d["facet_arthropathy_grade"] - 1.5)
                                            + rng.normal(0, 1, n), (1.3, 2.6, 3.5, 4.5))
    d["dynamic_instability"] = _bernoulli(rng, np.where(d["spondylolisthesis_grade"] > 0,
                                                        0.3, 0.04), n)
    d["goutallier_grade"] = _ordinal(0.5 * older + 0.04 * (d["bmi"] - 27.5)
                                     + rng.normal(0, 1, n), (-0.8, 0.3, 1.4, 2.4))
    d["multifidus_csa_cm2"] = np.round(_bounded(rng, 8.5 - 0.6 * older - 0.8 * (d["sex"] ==
                                                                             "female"),
                                                1.5, 1.5, 19, n), 1)
    d["sij_oedema"] = _bernoulli(rng, np.where(is_["sacroiliac"], 0.35, 0.04), n)
    d["sij_sclerosis"] = _bernoulli(rng, np.where(is_["sacroiliac"], 0.45, 0.1), n)
    d["vertebral_marrow_oedema"] = _bernoulli(rng, np.where(aug, 0.93, 0.02), n)
    genant = _choice_n(rng, n, {"1": 0.3, "2": 0.45, "3": 0.25}).astype(int)
    d["fracture_genant_grade"] = np.where(aug, genant, np.nan)
    extra_fractures = rng.poisson(np.where(d["bmd_t_score"] < -3.0, 0.6, 0.3))
    d["n_fractures"] = np.where(aug, np.minimum(1 + extra_fractures, 10), np.nan)
    d["intravertebral_cleft"] = np.where(aug, _bernoulli(rng, 0.08 + 0.06 * (genant - 1), n),
                                         np.nan)
    d["tlf_injury"] = np.where(aug, _bernoulli(rng, 0.2, n), np.nan)
    _draw_symptoms(rng, d, is_)


def _draw_herniation(rng, d, radicular) -> None:
    n = len(radicular)
    radicular_kind = _choice_n(rng, n, {"bulge": 0.05, "protrusion": 0.45, "extrusion": 0.4,
                                        "sequestration": 0.1})
    other_kind = _choice_n(rng, n, {"none": 0.5, "bulge": 0.4, "protrusion": 0.1})
    kind = np.where(radicular, radicular_kind, other_kind).astype(object)
    d["herniation_type"] = kind
    contained_p = pd.Series(kind).map({"bulge": 1.0, "protrusion": 0.85, "extrusion": 0.3,
                                       "sequestration": 0.0, "none": np.nan}).to_numpy(float)
    drawn = (rng.random(n) < np.nan_to_num(contained_p)).astype(float)
    d["herniation_contained"] = np.where(kind == "none", np.nan, drawn)
    location = _choice_n(rng, n, {"central": 0.15, "subarticular": 0.55, "foraminal": 0.22,
                                  "extraforaminal": 0.08})
    d["herniation_location"] = np.where(kind == "none", "none", location).astype(object)
    d["herniation_calcified"] = np.where(kind == "none", 0, _bernoulli(rng, 0.05, n))
    compression = _choice_n(rng, n, {"1": 0.3, "2": 0.45, "3": 0.25}).astype(int)
    d["root_compression_grade"] = np.where(radicular, compression, _bernoulli(rng, 0.2, n))


def _draw_symptoms(rng, d, is_) -> None:
    n, task = len(d["task"]), d["task"]
    pattern = np.select(
        [is_["radicular"], is_["sacroiliac"], is_["lf_stenosis"]],
        [np.where(rng.random(n) < 0.85, "radicular", "axial"),
         np.where(rng.random(n) < 0.8, "buttock", "axial"),
         np.where(rng.random(n) < 0.8, "claudication", "axial")], "axial")
    d["pain_pattern"] = pattern.astype(object)
    median_weeks = np.select([task == "residual_pain", task == "reoperation",
                              is_["vertebrogenic"]], [4.0, 10.0, 60.0], 28.0)
    weeks = _bounded(rng, np.log(median_weeks), 0.7, np.log(1), np.log(1000), n)
    d["symptom_duration_weeks"] = np.round(np.exp(weeks), 1)
    d["pain_days_fraction_6m"] = np.round(rng.beta(6, 2.5, n), 2)
    d["back_pain_nrs"] = np.round(_bounded(rng, 6.6, 1.5, 0, 10, n))
    radicular = is_["radicular"]
    d["leg_pain_nrs"] = np.round(_bounded(rng, np.where(radicular, 6.8, 2.5), 1.8, 0, 10, n))
    d["odi"] = np.round(_bounded(rng, 22 + 3.0 * d["back_pain_nrs"], 12, 0, 100, n))
    d["motor_deficit"] = _bernoulli(rng, np.where(radicular, 0.22, 0.02), n)
    d["sensory_deficit"] = _bernoulli(rng, np.where(radicular, 0.35, 0.04), n)
    d["dermatomal_concordance"] = _bernoulli(rng, np.where(radicular, 0.78, 0.08), n)
    d["pain_on_extension_rotation"] = _bernoulli(rng, np.where(is_["facetogenic"], 0.75, 0.25), n)
    d["paraspinal_tenderness"] = _bernoulli(rng, np.where(is_["facetogenic"], 0.7, 0.3), n)
    d["sij_provocation_positive"] = rng.binomial(5, np.where(is_["sacroiliac"], 0.7, 0.12))
    d["n_plausible_levels"] = np.where(radicular, 1 + rng.binomial(2, 0.2, n), 0)
    aug, peld = task == "residual_pain", task == "reoperation"
    # red-flag patients are mostly triaged away before a degenerative procedure; the few
    # left are the pathway's contraindicated cases
    for name, p in {"red_flag_fever": 0.004, "red_flag_weight_loss": 0.006,
                    "red_flag_cancer_history": np.where(aug, 0.08, 0.015),
                    "red_flag_trauma": np.where(aug, 0.3, 0.01),
                    "red_flag_cauda_equina": 0.002,
                    "progressive_deficit": np.where(peld, 0.03, 0.008)}.items():
        d[name] = _bernoulli(rng, p, n)


def _draw_procedure(rng, d, profiles) -> None:
    """Procedure mostly as the pathway would choose for the latent phenotype."""
    n, task, pheno = len(d["task"]), d["task"], d["phenotype"]
    uniform = _choice_n(rng, n, dict.fromkeys(RESPONSE_PROCEDURES, 1.0))
    concordant_pick = np.full(n, "tf_esi", dtype=object)
    for phenotype, weights in CONCORDANT.items():
        rows = pheno == phenotype
        concordant_pick[rows] = _choice_n(rng, int(rows.sum()), weights)
    follows = rng.random(n) < _site_value(d, profiles, "concordance")
    procedure = np.where(follows, concordant_pick, uniform)
    augment = np.where(rng.random(n) < 0.55, "vertebroplasty", "kyphoplasty")
    level = _choice_n(rng, n, {"L1-L2": 0.03, "L2-L3": 0.05, "L3-L4": 0.12, "L4-L5": 0.45,
                               "L5-S1": 0.35})
    interlaminar_p = np.where(level == "L5-S1", 0.6, 0.15)
    endoscopic = np.where(rng.random(n) < interlaminar_p, "peld_interlaminar",
                          "peld_transforaminal")
    procedure = np.select([task == "residual_pain", task == "reoperation"],
                          [augment, endoscopic], procedure).astype(object)
    d["procedure"] = procedure
    d["index_level"] = np.where(task == "residual_pain", None, level).astype(object)
    d["concordant"] = np.array([p in CONCORDANT.get(ph, {}) for p, ph in zip(procedure, pheno)])
    d["concordant"] |= task != "response"
    radicular_side = _choice_n(rng, n, {"left": 0.45, "right": 0.45, "bilateral": 0.1})
    axial_side = _choice_n(rng, n, {"central": 0.5, "bilateral": 0.5})
    d["side"] = np.where(pd.Series(procedure).isin(["tf_esi", "drg_prf", "pldd", "ozone",
                                                    "peld_transforaminal",
                                                    "peld_interlaminar"]),
                         radicular_side, axial_side).astype(object)
    rfa = np.isin(procedure, ["facet_rfa", "sij_rfa"])
    blocks_if_concordant = _choice_n(rng, n, {"0": 0.2, "1": 0.3, "2": 0.5}).astype(int)
    blocks_if_not = _choice_n(rng, n, {"0": 0.6, "1": 0.3, "2": 0.1}).astype(int)
    d["diagnostic_blocks_positive"] = np.where(
        rfa, np.where(d["concordant"], blocks_if_concordant, blocks_if_not), 0)
    d["guidance"] = _choice_n(rng, n, {"fluoroscopy": 0.72, "ct": 0.2, "ultrasound": 0.07,
                                       "mri": 0.01})
    steroid = _choice_n(rng, n, {"non_particulate": 0.7, "particulate": 0.3})
    uses_steroid = np.isin(procedure, [*ESI, "facet_ia_steroid", "sij_block"])
    d["steroid"] = np.where(uses_steroid, steroid, "none").astype(object)
    d["operator_experienced"] = _bernoulli(rng, 0.75, n)
    aug = task == "residual_pain"
    d["cement_volume_ml"] = np.where(aug, np.round(_bounded(rng, 4.5, 1.5, 1, 12, n), 1), np.nan)
    cleft = np.nan_to_num(d["intravertebral_cleft"])
    d["cement_maldistribution"] = np.where(aug, _bernoulli(rng, 0.18 + 0.15 * cleft, n), np.nan)


def _draw_review_findings(rng, d) -> None:
    """Findings the pathway rules read beyond the model predictors (review 2.4-6)."""
    n, task, pheno = len(d["task"]), d["task"], d["phenotype"]
    aug, response = task == "residual_pain", task == "response"
    rates = REVIEW_FINDING_RATES
    fever, cancer = d["red_flag_fever"] == 1, d["red_flag_cancer_history"] == 1
    operated = d["prior_surgery_index_level"] == 1
    d["prior_surgery_type"] = np.where(
        operated, _choice_n(rng, n, {"discectomy": 0.5, "decompression": 0.3, "fusion": 0.15,
                                     "other": 0.05}),
        _choice_n(rng, n, {"none": 0.95, "discectomy": 0.03, "decompression": 0.02}))
    d["coagulopathy"] = _bernoulli(rng, rates["coagulopathy"], n)
    young_female = (d["sex"] == "female") & (d["age"] < 45)
    d["pregnancy"] = _bernoulli(rng, np.where(young_female, rates["pregnancy_female_under_45"],
                                              0.0), n)
    care = _choice_n(rng, n, {"none": 0.08, "medication": 0.3, "physiotherapy": 0.27,
                              "multimodal": 0.35})
    failed = rates["failed_conservative_care"]
    p_failed = np.select([aug, d["symptom_duration_weeks"] >= 6],
                         [failed["residual_pain"], failed["duration_6w_or_more"]],
                         failed["shorter"])
    d["conservative_care_type"] = care
    d["failed_conservative_care"] = np.where(care == "none", 0, _bernoulli(rng, p_failed, n))
    d["conservative_care_weeks"] = np.where(
        care == "none", 0.0, np.round(d["symptom_duration_weeks"] * rng.uniform(0.4, 1.0, n), 1))
    d["fortin_finger_test"] = _bernoulli(rng, np.where(
        pheno == "sacroiliac", rates["fortin_finger_test"]["sacroiliac"],
        rates["fortin_finger_test"]["other"]), n)
    d["night_pain"] = _bernoulli(rng, 0.06 + 0.3 * (fever | cancer), n)
    d["low_energy_trauma"] = _bernoulli(rng, np.where(aug, rates["low_energy_trauma"]["residual_pain"],
                                                      rates["low_energy_trauma"]["other"]), n)
    older = np.clip((d["age"] - 55) / 10, 0, None)
    d["n_affected_levels"] = np.minimum(np.maximum(
        d["n_plausible_levels"], 1 + rng.binomial(3, np.clip(0.15 + 0.05 * older, 0, 0.6))), 6)
    _draw_red_flag_imaging(rng, d, fever, cancer)
    _draw_block_counts(rng, d, response)


def _draw_red_flag_imaging(rng, d, fever, cancer) -> None:
    """Fracture presence and activity, and the imaging/laboratory signs of infection and
    malignancy, correlated with the clinical red flags."""
    n, aug = len(d["task"]), d["task"] == "residual_pain"
    rates = REVIEW_FINDING_RATES
    d["vertebral_fracture"] = np.where(
        aug, 1, _bernoulli(rng, rates["vertebral_fracture_outside_augmentation"], n))
    d["lesion_vertebra"] = np.where(aug, _choice_n(rng, n, {
        "T10": 0.04, "T11": 0.1, "T12": 0.25, "L1": 0.3, "L2": 0.15, "L3": 0.1, "L4": 0.06}),
        None).astype(object)
    no_oedema = d["vertebral_marrow_oedema"] == 0
    scan = np.where(no_oedema, _choice_n(rng, n, {"not_performed": 0.5, "present": 0.3,
                                                  "absent": 0.2}),
                    _choice_n(rng, n, {"not_performed": 0.85, "present": 0.12, "absent": 0.03}))
    d["bone_scan_uptake"] = np.where(aug, scan, "not_performed").astype(object)
    d["endplate_destruction"] = _bernoulli(rng, np.where(
        fever, rates["endplate_destruction"]["fever"], rates["endplate_destruction"]["other"]), n)
    contrast = np.where(fever, np.where(rng.random(n) < 0.5, "present", "absent"),
                        np.where(cancer, "absent", _choice_n(
                            rng, n, {"not_performed": 0.95, "absent": 0.05})))
    d["disc_endplate_enhancement"] = contrast.astype(object)
    d["marrow_replacement"] = _bernoulli(rng, np.where(
        cancer, rates["marrow_replacement"]["cancer_history"],
        rates["marrow_replacement"]["other"]), n)
    measured = rates["crp_measured"]
    p_measured = np.select([fever, aug], [measured["fever"], measured["residual_pain"]],
                           measured["other"])
    crp = np.exp(_bounded(rng, np.where(fever, np.log(60), np.log(2.5)), 0.9, np.log(0.1),
                          np.log(450), n))
    d["crp_mg_l"] = np.where(rng.random(n) < p_measured, np.round(crp, 1), np.nan)


def _draw_block_counts(rng, d, response) -> None:
    """Block-type-specific positive counts: the generic count belongs to the RFA planned."""
    n, proc = len(d["task"]), d["procedure"]
    blocks = d["diagnostic_blocks_positive"]
    d["mbb_positive"] = np.where(response, np.where(proc == "facet_rfa", blocks, 0), np.nan)
    d["sij_block_positive"] = np.where(response, np.where(proc == "sij_rfa", blocks, 0), np.nan)
    snrb = _bernoulli(rng, np.where(d["phenotype"] == "radicular", 0.1, 0.0), n)
    d["snrb_positive"] = np.where(response, snrb, np.nan)


# --------------------------------------------------------------------------- outcomes

def design_terms(d: dict | pd.DataFrame, task: str, dgp: DGP) -> pd.DataFrame:
    """The DGP's design matrix for ``task``: one column per term of :data:`TERMS`.

    Computed from complete (pre-missingness) values; tests use it to check that a
    regression on simulated data recovers the documented coefficients.
    """
    g = pd.DataFrame(d) if isinstance(d, dict) else d
    f = {k: pd.to_numeric(g[k], errors="coerce").to_numpy(float) for k in (
        "age", "bmi", "odi", "symptom_duration_weeks", "root_compression_grade",
        "diagnostic_blocks_positive", "modic_extent_gt50", "facet_effusion",
        "depression_anxiety", "baseline_opioid", "bmd_t_score", "tlf_injury",
        "intravertebral_cleft", "cement_maldistribution", "goutallier_grade", "sarcopenia",
        "n_fractures", "diabetes", "segmental_rom_deg", "pfirrmann_grade",
        "herniation_contained", "operator_experienced", "manual_labour")}
    cat = {k: g[k].astype(object).to_numpy() for k in ("procedure", "smoking", "employment",
                                                      "herniation_location", "modic_type")}
    proc = cat["procedure"]
    if "pathway_concordance" in g:
        concordance = np.asarray(g["pathway_concordance"], dtype=object)
    elif "discordant_procedure" in TERMS[task][dgp]:
        concordance = pathway_concordance(g)
    else:
        concordance = np.full(len(proc), "concordant", dtype=object)
    esi, rfa, bvna = np.isin(proc, ESI), proc == "facet_rfa", proc == "bvna"
    smoker = (cat["smoking"] == "current").astype(float)
    non_contained = (f["herniation_contained"] == 0).astype(float)
    columns = {
        "intercept": np.ones(len(proc)),
        "discordant_procedure": (concordance == "discordant").astype(float),
        "contraindicated_procedure": (concordance == "contraindicated").astype(float),
        "depression_anxiety": f["depression_anxiety"],
        "odi_per10_above40": (f["odi"] - 40) / 10,
        "log_duration_over_26w": np.log(f["symptom_duration_weeks"] / 26),
        "duration_per52w": f["symptom_duration_weeks"] / 52,
        "unemployed_or_disabled": np.isin(cat["employment"], ["unemployed", "disabled"])
        .astype(float),
        "current_smoker": smoker,
        "baseline_opioid": f["baseline_opioid"],
        "age_minus50_sq_per100": (f["age"] - 50) ** 2 / 100,
        "age_per10_above50": (f["age"] - 50) / 10,
        "esi_x_root_compression": esi * f["root_compression_grade"],
        "esi_x_subarticular": esi * (cat["herniation_location"] == "subarticular"),
        "root_compression_grade": f["root_compression_grade"],
        "rfa_x_bmi_over30": rfa * (f["bmi"] > 30),
        "rfa_x_one_block": rfa * (f["diagnostic_blocks_positive"] == 1),
        "rfa_x_comparative_blocks": rfa * (f["diagnostic_blocks_positive"] == 2),
        "diagnostic_blocks_positive": f["diagnostic_blocks_positive"],
        "bmi_per5_above27": (f["bmi"] - 27) / 5,
        "bvna_x_modic_extent": bvna * f["modic_extent_gt50"],
        "bvna_x_facet_effusion": bvna * f["facet_effusion"],
        "modic_extent_gt50": f["modic_extent_gt50"],
        "facet_effusion": f["facet_effusion"],
        "bmd_per_sd_below_minus2.5": -2.5 - f["bmd_t_score"],
        "bmd_hinge_below_minus3.5": np.maximum(0.0, -3.5 - f["bmd_t_score"]),
        "tlf_injury": f["tlf_injury"],
        "intravertebral_cleft": f["intravertebral_cleft"],
        "kyphoplasty_x_cleft": (proc == "kyphoplasty") * f["intravertebral_cleft"],
        "cement_maldistribution": f["cement_maldistribution"],
        "goutallier_grade": f["goutallier_grade"],
        "sarcopenia": f["sarcopenia"],
        "multiple_fractures": (f["n_fractures"] >= 2).astype(float),
        "n_fractures_above1": f["n_fractures"] - 1,
        **{f"modic_{k}": (cat["modic_type"] == k).astype(float)
           for k in ("type1", "type2", "type3", "mixed12")},
        "modic_any": (cat["modic_type"] != "none").astype(float),
        "diabetes": f["diabetes"],
        "bmi_per_unit_above25": np.maximum(0.0, f["bmi"] - 25),
        "segmental_rom_per_deg_above8": f["segmental_rom_deg"] - 8,
        "pfirrmann_4_or_5": (f["pfirrmann_grade"] >= 4).astype(float),
        "pfirrmann_grade": f["pfirrmann_grade"],
        "non_contained": non_contained,
        "transforaminal_x_non_contained": (proc == "peld_transforaminal") * non_contained,
        "inexperienced_operator": 1.0 - f["operator_experienced"],
        "manual_labour": f["manual_labour"],
        "age_57_or_more": (f["age"] >= 57).astype(float),
    }
    names = list(TERMS[task][dgp])
    return pd.DataFrame({k: np.asarray(columns[k], float) for k in names}, index=g.index)


def pathway_concordance(table: dict | pd.DataFrame) -> np.ndarray:
    """Concordance of each planned procedure as the pathway rules judge it (object array)."""
    from spinerisk.phenotype import pathway_features

    columns = {k: schema.to_canonical_dtype(schema.FIELD_BY_NAME[k], pd.Series(np.asarray(v)))
               for k, v in dict(table).items() if k in schema.FIELD_BY_NAME}
    return pathway_features(pd.DataFrame(columns))["concordance"].astype(object).to_numpy()


def _procedure_offsets(procedure: np.ndarray, dgp: DGP) -> np.ndarray:
    """Procedure main effects of the response DGP (log-odds relative to TF-ESI)."""
    offsets = {"tf_esi": 0.25, "il_esi": -0.45, "caudal_esi": -0.65, "drg_prf": -0.35,
               "facet_ia_steroid": -1.2, "facet_rfa": -1.1, "sij_block": -0.8, "sij_rfa": -0.5,
               "bvna": 0.0, "mild": -0.3, "pldd": -0.35, "ozone": -0.55,
               "cooled_rf_disc": -0.8}
    if dgp == "linear":
        offsets = {k: v / 2 for k, v in offsets.items()}
    return pd.Series(procedure).map(offsets).fillna(0.0).to_numpy(float)


def _draw_outcomes(rng, d, profiles, dgp) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes for every task; returns the true linear predictor and risk per episode."""
    n, task = len(d["task"]), d["task"]
    lp, risk = np.zeros(n), np.zeros(n)
    d["pathway_concordance"] = pathway_concordance(d)   # from the complete findings
    shift = _site_value(d, profiles, "outcome_intercept")
    slope = _site_value(d, profiles, "outcome_slope")
    for name in schema.TASK_NAMES:
        rows = task == name
        if not rows.any():
            continue
        sub = {k: (v[rows] if isinstance(v, np.ndarray) and len(v) == n else v)
               for k, v in d.items()}
        beta = pd.Series(TERMS[name][dgp])
        x = design_terms(sub, name, dgp)
        covariate = x.drop(columns="intercept").to_numpy() @ beta.drop("intercept").to_numpy()
        if name == "response":
            covariate = covariate + _procedure_offsets(sub["procedure"], dgp)
        centre = COVARIATE_CENTRE[name][dgp]
        lp[rows] = beta["intercept"] + centre + shift[rows] + slope[rows] * (covariate - centre)
    _binary_outcomes(rng, d, lp, risk)
    _survival_outcomes(rng, d, lp, risk)
    return lp, risk


def _binary_outcomes(rng, d, lp, risk) -> None:
    task, n = d["task"], len(d["task"])
    p = _expit(lp)
    response = task == "response"
    event = (rng.random(n) < p).astype(float)
    risk[task != "reoperation"] = p[task != "reoperation"]
    d["response_50"] = np.where(response, event, np.nan)
    # 30% reduction: every 50% responder, plus some partial responders
    partial = _bernoulli(rng, 0.35, n)
    d["response_30"] = np.where(response, np.maximum(event, partial), np.nan)
    d["residual_pain"] = np.where(task == "residual_pain", event, np.nan)


def _survival_outcomes(rng, d, lp, risk) -> None:
    """Weibull PH event times: S(t) = exp(-exp(lp) t^k); censoring by follow-up and loss."""
    rows = d["task"] == "reoperation"
    n = int(rows.sum())
    d["reoperation_event"] = np.full(len(rows), np.nan)
    d["reoperation_time_months"] = np.full(len(rows), np.nan)
    if n == 0:
        return
    hazard_scale = np.exp(lp[rows])
    event_time = (-np.log(rng.random(n)) / hazard_scale) ** (1 / WEIBULL_SHAPE)
    follow_up = rng.uniform(24, 60, n)
    lost = rng.exponential(24 / -np.log(0.92), n)
    censor = np.minimum(follow_up, lost)
    observed = np.minimum(event_time, censor)
    d["reoperation_event"][rows] = (event_time <= censor).astype(float)
    d["reoperation_time_months"][rows] = np.round(np.maximum(observed, 0.01), 2)
    risk[rows] = 1 - np.exp(-hazard_scale * HORIZON_MONTHS ** WEIBULL_SHAPE)


# --------------------------------------------------------------------------- realism

def _repeat_episodes(rng, d, share: float = 0.08) -> None:
    """Make about 8% of episodes a later episode of an earlier patient at the same site.

    Runs before findings and outcomes are drawn, so copied patient-level fields (sex,
    history, lifestyle) feed the outcome model like any other value.
    """
    n = len(d["task"])
    first = np.arange(n)
    for site in np.unique(d["site_idx"]):
        rows = np.flatnonzero(d["site_idx"] == site)
        later = np.flatnonzero(rng.random(len(rows)) < share)
        later = later[later > 0]
        first[rows[later]] = rows[(rng.random(len(later)) * later).astype(int)]
    # an earlier episode may itself be a repeat: follow each chain to the first episode
    while not np.array_equal(first, first[first]):
        first = first[first]
    repeat = np.flatnonzero(first != np.arange(n))
    d["patient_id"][repeat] = d["patient_id"][first[repeat]]
    d["episode_id"][repeat] = np.array([f"E{i}" for i in range(2, len(repeat) + 2)],
                                       dtype=object)
    d["age"][repeat] = np.minimum(d["age"][first[repeat]] + rng.uniform(0, 2, len(repeat)), 98)
    for name in ("sex", "diabetes", "depression_anxiety", "smoking", "employment",
                 "manual_labour", "anticoagulation"):
        d[name][repeat] = d[name][first[repeat]]


def _apply_missingness(rng, d, profiles) -> None:
    """Missing at random given age and site; site-specific rates; outcomes lost to follow-up."""
    multiplier = _site_value(d, profiles, "missing_multiplier")
    _drop_fields(rng, d, profiles, MISSING_RATES)
    lost = rng.random(len(d["task"])) < OUTCOME_MISSING_RATE * multiplier
    for name in ("response_50", "response_30", "residual_pain"):
        d[name] = np.where(lost, np.nan, d[name])


def _drop_fields(rng, d, profiles, rates: dict[str, float]) -> None:
    """Blank each field at its base rate, on the logit scale shifted by site and age."""
    n = len(d["task"])
    multiplier = _site_value(d, profiles, "missing_multiplier")
    age_effect = 0.025 * (d["age"] - 55)
    for name, rate in rates.items():
        logit = np.log(rate / (1 - rate)) + np.log(multiplier) + age_effect
        gone = rng.random(n) < _expit(logit)
        values = d[name]
        d[name] = np.where(gone, None if values.dtype == object else np.nan, values)
