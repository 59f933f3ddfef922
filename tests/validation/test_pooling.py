"""Pooling site reports: what is read from each report.json, model identity checks,
exclusions, net benefit SEs, the pooled report files and ``spinerisk pool``."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from scipy.special import logit
from scipy.stats import norm
from typer.testing import CliRunner

from spinerisk.cli import app
from spinerisk.evaluation import decision_curve
from spinerisk.evaluation.pooling import random_effects
from spinerisk.validation.core import validate_predictions
from spinerisk.validation.pooling import (
    ReportMismatchError,
    model_identity,
    net_benefit_se,
    pool_reports,
)
from spinerisk.validation.task import spine_task_spec

#: (baseline shift, calibration slope) of four simulated sites
SHIFTS = [(0.0, 1.0), (0.3, 0.9), (-0.2, 1.1), (0.5, 0.8)]


@pytest.fixture(scope="module")
def site_reports(seed, site_factory):
    """report.json dictionaries of four simulated response-task sites (1,500 episodes each)."""
    spec = spine_task_spec("response", ["age", "sex", "bmi", "smoking", "modic_type"])
    reports = []
    for i, (a, b) in enumerate(SHIFTS):
        frame, risk = site_factory(1500, "response", seed + 10 + i, intercept=a, slope=b)
        result = validate_predictions(frame, risk, spec, site=f"S{i}",
                                      model="models:/spinerisk-response@candidate",
                                      n_boot=50, seed=seed)
        reports.append(json.loads(json.dumps(result.to_dict())))  # as read from the file
    return reports


def test_c_is_pooled_on_logit_scale_from_each_delong_ci(site_reports):
    pooled = pool_reports(site_reports)
    c = [r["performance"]["metrics"]["c_statistic"] for r in site_reports]
    z = norm.ppf(0.975)
    y = [logit(e["estimate"]) for e in c]
    se = [(e["ci_upper"] - e["ci_lower"]) / (2 * z) / (e["estimate"] * (1 - e["estimate"]))
          for e in c]
    direct = random_effects(y, se, scale="logit")
    got = pooled.measures["c"].result
    assert (got.estimate, got.ci_lower, got.pi_upper) == pytest.approx(
        (direct.estimate, direct.ci_lower, direct.pi_upper), rel=1e-6)
    assert got.labels == ("S0", "S1", "S2", "S3")
    assert [s for s, _ in pooled.measures["c"].leave_one_out] == ["S0", "S1", "S2", "S3"]


def test_oe_pooled_on_log_scale_and_heterogeneity_shows(site_reports):
    pooled = pool_reports(site_reports)
    oe = pooled.measures["oe"].result
    site_oe = [r["performance"]["metrics"]["oe_ratio"]["estimate"] for r in site_reports]
    # the sites' baselines differ by up to 0.7 logits: heterogeneity is large and the PI
    # covers every site's O/E while the CI of the mean does not have to
    assert oe.i2 > 0.75
    assert oe.pi_lower < min(site_oe) and oe.pi_upper > max(site_oe)
    assert oe.scale == "log" and oe.estimate == pytest.approx(np.exp(oe.mu))


def test_different_models_refused_unless_allowed(site_reports):
    other = copy.deepcopy(site_reports)
    other[2]["model"] = "models:/spinerisk-response@champion"
    with pytest.raises(ReportMismatchError, match="different models.*S2 = models:/spinerisk-"
                                                  "response@champion"):
        pool_reports(other)
    pooled = pool_reports(other, allow_different_models=True)
    assert any("different models pooled on request" in n for n in pooled.notes)


def test_exact_identity_fields_decide_when_present(site_reports):
    tagged = copy.deepcopy(site_reports)
    for r in tagged:  # the identity block spinerisk validate writes for a registered model
        r["model_identity"] = {"uri": r["model"], "name": "spinerisk-response",
                               "alias": "candidate", "version": "3", "run_id": "abc",
                               "data_fingerprint": "f00d", "trained_at": None,
                               "training_versions": {"spinerisk": "0.1"}, "missing": {}}
    tagged[0]["model"] = "models:/spinerisk-response/3"  # another spelling, same version
    pooled = pool_reports(tagged)
    assert pooled.model["version"] == "3" and not any("alias" in n for n in pooled.notes)
    tagged[1]["model_identity"]["version"] = "4"
    with pytest.raises(ReportMismatchError, match="version"):
        pool_reports(tagged)
    assert model_identity({"model": {"name": "m", "version": 2}}) == {"name": "m", "version": "2"}


def test_tasks_never_mix_and_sites_count_once(site_reports):
    mixed = copy.deepcopy(site_reports)
    mixed[1]["task"]["name"] = "residual_pain"
    with pytest.raises(ReportMismatchError, match="different tasks"):
        pool_reports(mixed, allow_different_models=True)
    with pytest.raises(ReportMismatchError, match="S0 appear"):
        pool_reports([site_reports[0], site_reports[0]])


def test_site_without_interval_is_excluded_with_reason(site_reports):
    partial = copy.deepcopy(site_reports)
    partial[3]["performance"]["metrics"]["calibration_slope"]["ci_lower"] = None
    pooled = pool_reports(partial)
    assert pooled.measures["slope"].result.k == 3 and pooled.measures["c"].result.k == 4
    (e,) = pooled.exclusions
    assert (e.site, e.measure) == ("S3", "calibration slope") and "confidence interval" in e.reason


def test_net_benefit_se_matches_bootstrap(seed):
    rng = np.random.default_rng(seed)
    n = 2000
    risk = rng.beta(2, 3, n)
    y = rng.binomial(1, risk)
    t = 0.3
    row = next(r for r in decision_curve(y, risk, [t]).to_dict()["rows"] if r["variable"] == "model")
    got = net_benefit_se(row)
    boot = {"net_benefit": [], "gain_over_treat_all": []}
    w = t / (1 - t)
    for _ in range(1000):
        i = rng.integers(0, n, n)
        yi, pos = y[i], risk[i] > t
        nb = np.mean(pos & (yi == 1)) - w * np.mean(pos & (yi == 0))
        boot["net_benefit"].append(nb)
        boot["gain_over_treat_all"].append(nb - (yi.mean() - w * (1 - yi.mean())))
    for key, values in boot.items():
        # bootstrap SD of 1,000 replicates has a relative MC error of about 2.2%
        assert got[key][1] == pytest.approx(np.std(values), rel=0.08), key
    assert got["net_benefit"][0] == pytest.approx(row["net_benefit"], abs=1e-12)


def test_site_without_net_benefit_se_is_named_not_dropped(site_reports):
    everyone = copy.deepcopy(site_reports)
    for row in everyone[3]["performance"]["decision_curve"]["rows"]:
        if row["variable"] == "model" and row["threshold"] < 0.205:  # all test-positive
            row["tp_rate"], row["fp_rate"] = row["pos_rate"], 1 - row["pos_rate"]
    first = pool_reports(everyone).net_benefit[0]
    assert first["threshold"] == pytest.approx(0.2)
    assert first["gain_over_treat_all"]["k"] == 3 and first["net_benefit"]["k"] == 4
    assert "S3" in first["not_pooled"]["gain_over_treat_all"]


def test_survival_reports_pool_harrell_c_but_not_net_benefit(seed, site_factory, tmp_path):
    from spinerisk.report.pooled import write_pooled_report

    spec = spine_task_spec("reoperation", ["age", "sex", "bmi", "smoking"])
    reports = []
    for i, (a, b) in enumerate(SHIFTS[:3]):
        frame, risk = site_factory(1500, "reoperation", seed + 20 + i, intercept=a, slope=b)
        result = validate_predictions(frame, risk, spec, site=f"R{i}", n_boot=50, seed=seed)
        reports.append(json.loads(json.dumps(result.to_dict())))
    pooled = pool_reports(reports)
    harrell = [r["performance"]["metrics"]["harrell_c"]["estimate"] for r in reports]
    c = pooled.measures["c"].result
    assert c.k == 3 and min(harrell) <= c.estimate <= max(harrell)
    assert pooled.net_benefit == [] and "Kaplan-Meier" in pooled.net_benefit_note
    html = write_pooled_report(pooled.to_dict(), tmp_path)["html"].read_text()
    assert "Kaplan-Meier" in html


def test_pooled_report_files_agree_with_json(site_reports, tmp_path):
    from spinerisk.report.pooled import write_pooled_report

    data = pool_reports(site_reports).to_dict()
    paths = write_pooled_report(data, tmp_path)
    saved = json.loads(paths["json"].read_text())
    html = paths["html"].read_text()
    assert paths["pdf"].read_bytes().startswith(b"%PDF")
    for key in ("c", "oe", "citl", "slope"):
        m = saved["measures"][key]
        assert f"{m['estimate']:.3f}" in html and f"{m['pi_lower']:.3f} to {m['pi_upper']:.3f}" in html
        assert (tmp_path / f"forest_{key}.png").read_bytes()[:4] == b"\x89PNG"
    assert "Sites pooled and excluded" in html and "every site was pooled" in html
    assert saved["net_benefit"][0]["threshold"] == pytest.approx(0.2)


def test_cli_pool_writes_report_and_refuses_mismatch(site_reports, tmp_path):
    files = []
    for r in site_reports:
        path = tmp_path / f"{r['site']}.json"
        path.write_text(json.dumps(r))
        files.append(str(path))
    runner = CliRunner()
    ok = runner.invoke(app, ["pool", *files, "--out", str(tmp_path / "pooled")])
    assert ok.exit_code == 0, ok.output
    assert "C-statistic:" in ok.output and (tmp_path / "pooled" / "pooled.html").exists()
    dl = runner.invoke(app, ["pool", *files, "--out", str(tmp_path / "dl"), "--method", "DL",
                             "--no-hksj"])
    settings = json.loads((tmp_path / "dl" / "pooled.json").read_text())["settings"]
    assert dl.exit_code == 0 and (settings["method"], settings["ci"]) == ("DL", "z")
    other = json.loads((tmp_path / "S1.json").read_text())
    other["model"] = "models:/other@candidate"
    (tmp_path / "S1.json").write_text(json.dumps(other))
    bad = runner.invoke(app, ["pool", *files, "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "allow-different-models" in bad.output
    assert "Traceback" not in bad.output
    missing = runner.invoke(app, ["pool", files[0], str(tmp_path / "nope.json"), "--out",
                                  str(tmp_path / "y")])
    assert missing.exit_code == 2 and "cannot read a report" in missing.output
