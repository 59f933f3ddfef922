"""Multiple imputation against median + missing indicators, on MAR data with known truth.

The simulator's ``residual_pain`` population with the ``linear`` generator: the outcome's
log-odds is linear in observed fields (BMD T-score, TLF injury, cleft, cement
maldistribution, Goutallier grade, sarcopenia, depression/anxiety, number of fractures,
current smoking), so a logistic model on those fields (plus age and sex, whose true
coefficients are 0) is correctly specified and its true coefficients are known
(:data:`spinerisk.cohort.simulator.TERMS`, checked here against the truth's linear
predictor). Missingness is the simulator's: missing at random given age and site, at
``--missing-multiplier`` times the base odds (one site, no outcome differences between
sites).

Per replicate (a fresh development cohort and a fresh validation cohort of
``--n-validation`` patients with the same missingness):

* ``indicator``: each incomplete field filled with its development median (a category:
  no level) plus a missing-indicator column; unpenalised logistic regression;
* ``mice``: :class:`spinerisk.features.imputation.ChainedImputer` with the outcome, ``m``
  imputations; the same logistic regression on each; coefficients and variances pooled
  by Rubin's rules (:func:`spinerisk.evaluation.rubin.rubin_pool`); validation patients
  imputed by the deployment models (no outcome) and scored by every model on every
  imputation, their risks averaged (as :class:`spinerisk.models.ImputedRiskModel`;
  ``mice_logit_pooled_slope``: the logits averaged instead).

Reported: mean bias of each coefficient and the RMS bias over coefficients (intercept
excluded), the calibration slope at validation (logistic regression of the true risk, a
fractional outcome with the same expectation as the observed one, on the predicted
logit: the slope a very large validation would find) on the validation cohort with the
same missingness (``slope``) and on the same patients with every finding measured
(``slope_complete``; the indicator model with its indicators at 0), and the coverage of Rubin's 95% CIs for the
true coefficients with its Monte Carlo SE.

Run (full figure; ~2 minutes a replicate at n=2000 on one core):
    uv run python benchmarks/mice_simulation.py --replicates 200 --n 2000 --m 20
Reduced (shared machine): --replicates 20 --n 1000 --m 10
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import expit, logit

from spinerisk.cohort import simulate
from spinerisk.cohort.simulator import TERMS, SiteProfile
from spinerisk.evaluation.rubin import rubin_pool
from spinerisk.features import generic_task
from spinerisk.features.imputation import ChainedImputer

PREDICTORS = {"age": "numeric", "sex": {"kind": "category", "levels": ["female", "male"]},
              "bmd_t_score": "numeric", "tlf_injury": "binary",
              "intravertebral_cleft": "binary", "cement_maldistribution": "binary",
              "goutallier_grade": "integer", "sarcopenia": "binary",
              "depression_anxiety": "binary", "n_fractures": "integer",
              "smoking": {"kind": "category", "levels": ["never", "former", "current"]}}
TASK = generic_task("residual_pain", "residual_pain", PREDICTORS)
#: coefficients of the analysis model (design columns below), from the generator's terms
COEFFICIENTS = ("intercept", "age", "male", "bmd_t_score", "tlf_injury",
                "intravertebral_cleft", "cement_maldistribution", "goutallier_grade",
                "sarcopenia", "depression_anxiety", "n_fractures", "smoking_former",
                "smoking_current")


def true_coefficients() -> np.ndarray:
    """The generator's terms on the design's columns (intercept absorbs the shifts)."""
    t = TERMS["residual_pain"]["linear"]
    bmd, frac = t["bmd_per_sd_below_minus2.5"], t["n_fractures_above1"]
    intercept = t["intercept"] - 2.5 * bmd - frac  # bmd term: -2.5 - T; fractures: n - 1
    return np.array([intercept, 0.0, 0.0, -bmd, t["tlf_injury"], t["intravertebral_cleft"],
                     t["cement_maldistribution"], t["goutallier_grade"], t["sarcopenia"],
                     t["depression_anxiety"], frac, 0.0, t["current_smoker"]])


def design(frame: pd.DataFrame) -> np.ndarray:
    """The analysis model's columns of a completed frame (no missing values)."""
    f = frame
    return np.column_stack([
        np.ones(len(f)), f["age"], (f["sex"] == "male"), f["bmd_t_score"], f["tlf_injury"],
        f["intravertebral_cleft"], f["cement_maldistribution"], f["goutallier_grade"],
        f["sarcopenia"], f["depression_anxiety"], f["n_fractures"], f["smoking"] == "former",
        f["smoking"] == "current"]).astype(float)


def cohort(n: int, seed: int, multiplier: float,
           missingness: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    """Development or validation rows (outcome observed) and their true risk."""
    sim = simulate(n, seed=seed, dgp="linear", tasks=("residual_pain",),
                   site_profiles=[SiteProfile("S01", missing_multiplier=multiplier)],
                   missingness=missingness)
    keep = sim.frame["residual_pain"].notna().to_numpy()
    frame = sim.frame.loc[keep, [*PREDICTORS, "residual_pain"]].reset_index(drop=True)
    return frame, sim.truth["true_risk"].to_numpy()[keep]


def indicator_design(frame: pd.DataFrame, reference: pd.DataFrame) -> np.ndarray:
    """Median (no level) fill from ``reference`` plus an indicator per incomplete field."""
    filled = frame.copy()
    flags = []
    for name, kind in PREDICTORS.items():
        missing = frame[name].isna()
        if not reference[name].isna().any():
            continue
        flags.append(missing.to_numpy(float))
        if isinstance(kind, dict):
            filled[name] = frame[name].astype(object).where(~missing, "__none__")
        else:
            filled[name] = frame[name].fillna(float(reference[name].median()))
    return np.column_stack([design(filled), *flags])


def _logit_fit(X: np.ndarray, y: np.ndarray):
    return sm.Logit(y, X).fit(disp=0, method="newton", maxiter=100)


def calibration_slope(true_risk: np.ndarray, predicted_logit: np.ndarray) -> float:
    """Slope of a logistic regression of the true risk (fractional) on the prediction."""
    X = sm.add_constant(predicted_logit)
    fit = sm.GLM(true_risk, X, family=sm.families.Binomial()).fit()
    return float(fit.params[1])


def replicate(seed: int, n: int, m: int, n_validation: int, multiplier: float,
              iterations: int = 10) -> dict:
    """One development and validation cohort; both methods (see module docstring)."""
    dev, _ = cohort(n, seed, multiplier)
    val, val_risk = cohort(n_validation, seed + 10_000, multiplier)
    full, full_risk = cohort(n_validation, seed + 10_000, multiplier, missingness=False)
    y = dev["residual_pain"].to_numpy(float)
    X = dev[list(PREDICTORS)]
    truth = true_coefficients()

    ind = _logit_fit(indicator_design(X, X), y)
    ind_beta = ind.params[:len(truth)]
    ind_val = indicator_design(val[list(PREDICTORS)], X) @ ind.params

    imputer = ChainedImputer(TASK, n_imputations=m, n_iterations=iterations,
                             random_state=seed)
    fits = [_logit_fit(design(c), y) for c in imputer.fit_transform(X, y)]
    pooled = [rubin_pool([f.params[j] for f in fits], [f.bse[j] ** 2 for f in fits])
              for j in range(len(truth))]
    mice_beta = np.array([p.q for p in pooled])
    covered = np.array([p.ci_lower <= b <= p.ci_upper for p, b in zip(pooled, truth)])
    completions = imputer.transform(val[list(PREDICTORS)])
    scores = np.array([design(c) @ f.params for f in fits for c in completions])
    mice_val = logit(expit(scores).mean(axis=0))  # risks averaged, as ImputedRiskModel
    mice_val_logit = scores.mean(axis=0)          # logits averaged (the alternative)
    # findings all measured: the indicator model with its indicators at 0
    ind_full = indicator_design(full[list(PREDICTORS)], X)[:, :len(truth)] @ ind_beta
    mice_full = design(full[list(PREDICTORS)]) @ mice_beta
    return {"indicator_bias": (ind_beta - truth).tolist(),
            "mice_bias": (mice_beta - truth).tolist(), "mice_covered": covered.tolist(),
            "indicator_slope": calibration_slope(val_risk, ind_val),
            "mice_slope": calibration_slope(val_risk, mice_val),
            "mice_logit_pooled_slope": calibration_slope(val_risk, mice_val_logit),
            "indicator_slope_complete": calibration_slope(full_risk, ind_full),
            "mice_slope_complete": calibration_slope(full_risk, mice_full),
            "missing_share": float(X.isna().any(axis=1).mean())}


def summarise(rows: list[dict]) -> dict:
    """Mean biases, RMS bias over coefficients, slopes and CI coverage with MC SEs."""
    out = {"replicates": len(rows),
           "rows_with_a_missing_value": float(np.mean([r["missing_share"] for r in rows]))}
    for method in ("indicator", "mice"):
        bias = np.array([r[f"{method}_bias"] for r in rows])
        mean = bias.mean(axis=0)
        out[f"{method}_mean_bias"] = dict(zip(COEFFICIENTS, np.round(mean, 4).tolist()))
        out[f"{method}_bias_mc_se"] = dict(zip(COEFFICIENTS, np.round(
            bias.std(axis=0, ddof=1) / np.sqrt(len(rows)), 4).tolist()))
        out[f"{method}_rms_bias"] = float(np.sqrt(np.mean(mean[1:] ** 2)))
        for which in ("slope", "slope_complete", "logit_pooled_slope"):
            if f"{method}_{which}" not in rows[0]:
                continue
            slopes = np.array([r[f"{method}_{which}"] for r in rows])
            out[f"{method}_{which}"] = float(slopes.mean())
            out[f"{method}_{which}_mc_se"] = float(slopes.std(ddof=1) / np.sqrt(len(rows)))
    covered = np.array([r["mice_covered"] for r in rows], float)
    out["mice_coverage"] = float(covered.mean())
    out["mice_coverage_mc_se"] = float(np.sqrt(out["mice_coverage"]
                                               * (1 - out["mice_coverage"]) / covered.size))
    out["mice_coverage_by_coefficient"] = dict(zip(COEFFICIENTS,
                                                   covered.mean(axis=0).round(3).tolist()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--m", type=int, default=10)
    parser.add_argument("--n-validation", type=int, default=5000)
    parser.add_argument("--missing-multiplier", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    rows = [replicate(args.seed + r, args.n, args.m, args.n_validation,
                      args.missing_multiplier) for r in range(args.replicates)]
    result = {**vars(args), **summarise(rows),
              "seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
