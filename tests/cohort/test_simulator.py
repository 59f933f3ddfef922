"""The simulator hits its documented targets and its regression truth is recoverable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.stats import spearmanr
from typer.testing import CliRunner

from spinerisk import schema
from spinerisk.cli import app
from spinerisk.cohort import SiteProfile, design_terms, simulate
from spinerisk.cohort.simulator import MISSING_RATES, REVIEW_MISSING_RATES, TARGETS, TERMS

REFERENCE = [SiteProfile("REF")]


def outcome(frame: pd.DataFrame, task: str) -> pd.Series:
    return pd.to_numeric(frame[schema.TASKS[task].outcome]).astype(float)


@pytest.mark.parametrize("offset", [0, 1, 2])
def test_event_rates_inside_published_ranges(seed, offset):
    """Rates of each task at random multi-site cohorts stay inside CLINICAL_SPEC ranges."""
    cohort = simulate(30_000, sites=4, seed=seed + offset)
    task = schema.task_of(cohort.frame["procedure"].astype(object))
    for name, (low, high) in TARGETS.items():
        rate = cohort.truth.loc[(task == name).to_numpy(), "true_risk"].mean()
        assert low <= rate <= high, f"{name}: mean true risk {rate:.3f} outside {low}-{high}"
        if name != "reoperation":
            observed = outcome(cohort.frame, name)[task == name].mean()
            assert abs(observed - rate) < 0.025


def test_reference_site_targets(seed):
    """Reference-site rates: response ~50% (TF-ESI ~54%), residual pain ~19%, reop ~6%."""
    cohort = simulate(60_000, site_profiles=REFERENCE, seed=seed, missingness=False)
    truth, frame = cohort.truth, cohort.frame
    by_task = truth.groupby("task")["true_risk"].mean()
    assert by_task["response"] == pytest.approx(0.50, abs=0.02)
    assert by_task["residual_pain"] == pytest.approx(0.19, abs=0.015)
    assert by_task["reoperation"] == pytest.approx(0.06, abs=0.01)
    tf_esi = (frame["procedure"] == "tf_esi").to_numpy()
    assert 0.50 <= outcome(frame, "response")[tf_esi].mean() <= 0.62
    # a concordant procedure (as the pathway rules judge it) responds better than a
    # discordant or contraindicated one: the review's premise, built into the DGP
    resp = truth[truth.task == "response"]
    by_concordance = resp.groupby("pathway_concordance")["true_risk"].mean()
    assert by_concordance["concordant"] - by_concordance["discordant"] > 0.1
    assert by_concordance["concordant"] - by_concordance["contraindicated"] > 0.1
    # the DGP's concordance is what pathway_features computes from the complete findings
    from spinerisk.phenotype import pathway_features
    observed = pathway_features(frame)["concordance"].astype(object).to_numpy()
    assert (observed == truth["pathway_concordance"].to_numpy()).all()


def test_reoperation_km_risk_at_24_months_matches_truth(seed):
    cohort = simulate(40_000, site_profiles=REFERENCE, seed=seed, tasks=("reoperation",))
    time = cohort.frame["reoperation_time_months"].to_numpy(float)
    event = cohort.frame["reoperation_event"].to_numpy(float)
    # Kaplan-Meier at 24 months, written out so the check is independent of the package
    order = np.argsort(time)
    time, event = time[order], event[order]
    at_risk = len(time) - np.arange(len(time))
    survival = np.cumprod(1 - event / at_risk)
    km_risk = 1 - survival[time <= 24][-1]
    assert km_risk == pytest.approx(cohort.truth["true_risk"].mean(), abs=0.006)
    censored_early = ((event == 0) & (time < 24)).mean()
    assert 0.03 < censored_early < 0.2          # loss to follow-up before the horizon


def test_marginals_and_correlations(seed):
    cohort = simulate(30_000, sites=4, seed=seed, missingness=False)
    f, task = cohort.frame, cohort.truth["task"].to_numpy()
    age = f["age"].to_numpy(float)
    assert age[task == "residual_pain"].mean() == pytest.approx(74, abs=2.5)
    assert age[task == "reoperation"].mean() == pytest.approx(45, abs=3)
    female_aug = (f["sex"][task == "residual_pain"] == "female").mean()
    assert female_aug == pytest.approx(0.78, abs=0.03)
    modic_any = (f["modic_type"] != "none").to_numpy(float)
    pfirrmann = f["pfirrmann_grade"].to_numpy(float)
    assert spearmanr(age, pfirrmann)[0] > 0.2                      # age drives degeneration
    assert spearmanr(pfirrmann, modic_any)[0] > 0.1                # Pfirrmann and Modic co-occur
    assert spearmanr(f["bmi"].to_numpy(float), modic_any)[0] > 0.02  # BMI with Modic
    aug = task == "residual_pain"
    assert spearmanr(f["bmd_t_score"][aug].to_numpy(float),
                     f["n_fractures"][aug].to_numpy(float))[0] < -0.05  # low BMD, more fractures
    # phenotype-specific procedure mix with a realistic share of non-concordant choices
    concordant = cohort.truth.loc[task == "response", "concordant"].mean()
    assert 0.6 < concordant < 0.9


def test_missingness_rates_follow_the_documented_mechanism(seed):
    """Optional fields are missing at random given age, at the documented rates."""
    cohort = simulate(40_000, site_profiles=REFERENCE, seed=seed, tasks=("response",))
    age = cohort.frame["age"].to_numpy(float)
    rates = MISSING_RATES | REVIEW_MISSING_RATES
    for name in ("bmi", "odi", "segmental_rom_deg", "multifidus_csa_cm2", "fortin_finger_test",
                 "conservative_care_weeks"):
        rate = rates[name]
        logit = np.log(rate / (1 - rate)) + 0.025 * (age - 55)
        expected = (1 / (1 + np.exp(-logit))).mean()
        observed = cohort.frame[name].isna().mean()
        se = np.sqrt(expected * (1 - expected) / len(age))
        assert abs(observed - expected) < 4 * se, name
        missing = cohort.frame[name].isna().to_numpy()
        assert age[missing].mean() > age[~missing].mean()          # MAR given age


def test_missingness_is_site_specific(seed):
    sites = [SiteProfile("LOW", missing_multiplier=0.5), SiteProfile("HIGH", missing_multiplier=2)]
    frame = simulate(20_000, site_profiles=sites, seed=seed, tasks=("response",)).frame
    share = frame["odi"].isna().groupby(frame["site_id"]).mean()
    assert share["HIGH"] > 1.6 * share["LOW"]


def test_sites_differ_in_baseline_and_slope(seed):
    sites = [SiteProfile("DEV"), SiteProfile("NEW", outcome_intercept=0.6, outcome_slope=0.7)]
    cohort = simulate(40_000, site_profiles=sites, seed=seed, tasks=("residual_pain",),
                      missingness=False)
    truth = cohort.truth
    dev, new = truth.site_id == "DEV", truth.site_id == "NEW"
    assert truth.loc[new, "true_lp"].std() == pytest.approx(
        0.7 * truth.loc[dev, "true_lp"].std(), rel=0.05)
    assert truth.loc[new, "true_risk"].mean() > truth.loc[dev, "true_risk"].mean()


@pytest.mark.parametrize("task,dgp", [("residual_pain", "published"), ("response", "published"),
                                      ("residual_pain", "linear"), ("response", "linear")])
def test_logistic_regression_recovers_documented_log_odds(seed, task, dgp):
    """statsmodels Logit on the DGP's own terms recovers TERMS within 3.5 standard errors."""
    cohort = simulate(60_000, site_profiles=REFERENCE, seed=seed, tasks=(task,), dgp=dgp,
                      missingness=False)
    frame = cohort.frame
    x = design_terms(frame.assign(pathway_concordance=cohort.truth["pathway_concordance"]
                                  .to_numpy()), task, dgp)
    if task == "response":   # procedure main effects are part of the DGP, not of TERMS
        dummies = pd.get_dummies(frame["procedure"].astype(object), prefix="proc", dtype=float)
        x = pd.concat([x, dummies.drop(columns="proc_tf_esi")], axis=1)
    fit = sm.Logit(outcome(frame, task).to_numpy(), x).fit(disp=0)
    for term, truth in TERMS[task][dgp].items():
        if term == "intercept":
            continue
        z = (fit.params[term] - truth) / fit.bse[term]
        assert abs(z) < 3.5, f"{term}: estimate {fit.params[term]:.3f} vs truth {truth} (z={z:.1f})"


def test_truth_never_enters_the_feature_table(seed):
    cohort = simulate(500, sites=2, seed=seed)
    assert set(cohort.frame.columns) <= set(schema.FIELD_BY_NAME)
    assert {"true_risk", "true_lp", "phenotype", "concordant"} <= set(cohort.truth.columns)
    assert (cohort.truth["patient_id"].to_numpy() == cohort.frame["patient_id"].to_numpy()).all()


def test_same_seed_same_cohort(seed):
    a, b = simulate(2_000, sites=3, seed=seed), simulate(2_000, sites=3, seed=seed)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    c = simulate(2_000, sites=3, seed=seed + 1)
    assert not a.truth["true_risk"].equals(c.truth["true_risk"])


def test_repeat_episodes_share_patient_level_fields(seed):
    frame = simulate(5_000, sites=2, seed=seed).frame
    repeated = frame[frame.duplicated("patient_id", keep=False)]
    assert 0.05 < frame["episode_id"].ne("E1").mean() < 0.12
    assert repeated.groupby("patient_id")["sex"].nunique().max() == 1
    assert repeated.groupby("patient_id")["site_id"].nunique().max() == 1


def test_simulate_command_prints_summary_and_writes_files(tmp_path):
    out = tmp_path / "cohort.parquet"
    result = CliRunner().invoke(app, ["simulate", "--task", "all", "--n", "5000", "--sites",
                                      "4", "--seed", "7", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for words in ("Outcome per task", "residual_pain", "Missing values", "S04"):
        assert words in result.output
    assert len(pd.read_parquet(out)) == 5000
    truth = pd.read_parquet(tmp_path / "cohort.truth.parquet")
    assert "true_risk" in truth.columns and "true_risk" not in pd.read_parquet(out).columns
    assert (tmp_path / "cohort.truth.json").exists()


def _rate_ok(values: np.ndarray, expected: float) -> bool:
    """Observed share within 4 binomial standard errors of the documented rate."""
    se = np.sqrt(expected * (1 - expected) / len(values))
    return abs(values.mean() - expected) < 4 * se + 1e-9


def test_pathway_findings_follow_their_documented_rates(seed):
    """The findings the review's rules read (REVIEW_FINDING_RATES) at their rates, with
    the correlations the rules rely on (red-flag imaging with red flags, fracture with
    augmentation, block-type counts with the procedure)."""
    cohort = simulate(30_000, site_profiles=REFERENCE, seed=seed, missingness=False)
    f, truth = cohort.frame, cohort.truth
    task = truth["task"].to_numpy()
    num = {k: f[k].to_numpy(dtype=float, na_value=np.nan) for k in (
        "failed_conservative_care", "coagulopathy", "pregnancy", "vertebral_fracture",
        "low_energy_trauma", "endplate_destruction", "marrow_replacement", "crp_mg_l",
        "fortin_finger_test", "red_flag_fever", "red_flag_cancer_history", "age",
        "symptom_duration_weeks", "mbb_positive", "sij_block_positive",
        "diagnostic_blocks_positive", "n_affected_levels", "n_plausible_levels",
        "prior_surgery_index_level")}
    aug, response = task == "residual_pain", task == "response"
    tried = (f["conservative_care_type"] != "none").to_numpy()
    long = ~aug & (num["symptom_duration_weeks"] >= 6) & tried
    assert _rate_ok(num["failed_conservative_care"][long], 0.85)
    assert _rate_ok(num["failed_conservative_care"][aug & tried], 0.8)
    assert (num["failed_conservative_care"][~tried] == 0).all()
    assert _rate_ok(num["coagulopathy"], 0.01)
    young_female = (f["sex"] == "female").to_numpy() & (num["age"] < 45)
    assert (num["pregnancy"][~young_female] == 0).all()
    assert (num["vertebral_fracture"][aug] == 1).all()
    assert _rate_ok(num["vertebral_fracture"][~aug], 0.003)
    assert f["lesion_vertebra"][~aug].isna().all() and f["lesion_vertebra"][aug].notna().all()
    assert _rate_ok(num["low_energy_trauma"][aug], 0.55)
    assert _rate_ok(num["low_energy_trauma"][~aug], 0.01)
    fever, cancer = num["red_flag_fever"] == 1, num["red_flag_cancer_history"] == 1
    assert _rate_ok(num["endplate_destruction"][fever], 0.4)
    assert _rate_ok(num["endplate_destruction"][~fever], 0.002)
    assert _rate_ok(num["marrow_replacement"][cancer], 0.15)
    assert _rate_ok(np.isfinite(num["crp_mg_l"][~fever & ~aug]), 0.3)
    assert np.nanmedian(num["crp_mg_l"][fever]) > 5 * np.nanmedian(num["crp_mg_l"][~fever])
    sacroiliac = (truth["phenotype"] == "sacroiliac").to_numpy()
    assert _rate_ok(num["fortin_finger_test"][sacroiliac], 0.7)
    assert _rate_ok(num["fortin_finger_test"][~sacroiliac], 0.1)
    # block-type counts: the generic count belongs to the RFA that was planned
    proc = f["procedure"].astype(object).to_numpy()
    for name, rfa in (("mbb_positive", "facet_rfa"), ("sij_block_positive", "sij_rfa")):
        rows = response & (proc == rfa)
        assert (num[name][rows] == num["diagnostic_blocks_positive"][rows]).all()
        assert (num[name][response & (proc != rfa)] == 0).all()
        assert np.isnan(num[name][~response]).all()
    assert (num["n_affected_levels"] >= num["n_plausible_levels"]).all()
    operated = num["prior_surgery_index_level"] == 1
    assert (f["prior_surgery_type"][operated] != "none").all()
    # bone-scan evidence of activity is sought mostly when STIR shows no oedema
    scanned = (f["bone_scan_uptake"] != "not_performed").to_numpy()
    no_oedema = (f["vertebral_marrow_oedema"] == 0).to_numpy()
    assert scanned[aug & no_oedema].mean() > scanned[aug & ~no_oedema].mean() + 0.2
