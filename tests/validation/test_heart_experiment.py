"""The committed heart-disease IECV outputs are what the code produces now (a rerun)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spinerisk.report.iecv import summary_markdown
from spinerisk.validation import load_task_spec
from spinerisk.validation.iecv import internal_external, risk_model_fit_predict
from spinerisk.validation.task import read_generic_table

FOLDER = Path("experiments/heart-disease-iecv")
CONFIG = "configs/tasks/heart_disease.yaml"


def test_rerun_reproduces_the_committed_summary():
    """Everything in summary.md and the pooled summary.json has a closed-form or seeded
    CI, so a rerun with few bootstrap replicates (they only affect Brier/IPA, which the
    summary does not show) must give the committed text exactly."""
    committed = json.loads((FOLDER / "summary.json").read_text())
    spec = load_task_spec(CONFIG)
    frame = read_generic_table("tests/golden/heart_disease/heart_disease_4sites.csv", spec)
    results, pooled = internal_external(frame, spec, risk_model_fit_predict(CONFIG),
                                        progress=False, n_boot=10, seed=committed["seed"])
    reports = {site: r.to_dict() for site, r in results.items()}
    pooled_dicts = [p.to_dict() for p in pooled]
    text = (FOLDER / "summary.md").read_text()
    title = text.splitlines()[0].removeprefix("# ")
    assert summary_markdown(title, reports, pooled_dicts) == text
    for ours, theirs in zip(pooled_dicts, committed["pooled"], strict=True):
        for key, value in theirs.items():
            assert ours[key] == (value if isinstance(value, str) else pytest.approx(value, abs=1e-9))
