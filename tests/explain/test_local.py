"""One patient's explanation: probability-scale waterfall, sentences, words."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from spinerisk.explain import explain_patient
from spinerisk.explain.local import OTHERS
from spinerisk.explain.wording import describe, percent


def test_waterfall_chains_from_base_to_patient_risk():
    contributions = {"modic_type": 0.6, "diabetes": 0.3, "age": -0.2, "bmi": 0.05,
                     "smoking": 0.01}
    record = {"modic_type": "type2", "index_level": "L4-L5", "diabetes": 1, "age": 45.0,
              "bmi": 26.0, "smoking": "never"}
    out = explain_patient(contributions, -2.9, expit, record, "reoperation", top=3)
    assert [s.variable for s in out.steps] == ["modic_type", "diabetes", "age", OTHERS]
    assert out.steps[0].risk_before == pytest.approx(expit(-2.9))
    for before, after in zip(out.steps, out.steps[1:]):
        assert after.risk_before == pytest.approx(before.risk_after)
    assert out.model_risk == pytest.approx(expit(-2.9 + sum(contributions.values())))
    assert out.steps[-1].contribution == pytest.approx(0.06)
    assert out.steps[0].sentence == (
        "Modic type 2 change at L4-L5 raised the predicted reoperation risk at 24 months "
        f"from {percent(expit(-2.9))} to {percent(expit(-2.3))}.")
    assert "lowered" in out.steps[2].sentence
    assert "before calibration" in out.note


def test_calibration_map_makes_the_last_step_the_reported_risk():
    def calibrate(m):
        return expit(0.2 + 0.8 * np.asarray(m))

    out = explain_patient({"a": 1.0, "b": -0.5}, -1.0, calibrate, {}, "response",
                          calibrated_risk=float(calibrate(-0.5)))
    assert out.model_risk == pytest.approx(calibrate(-0.5))
    assert "last step is the reported calibrated" in out.note


@pytest.mark.parametrize(("variable", "value", "words"), [
    ("modic_type", "none", "No Modic change"),
    ("diabetes", 0, "Diabetes (no)"),
    ("bmi", 31.0, "BMI 31 kg/m2"),
    ("leg_pain_nrs", 8.0, "Leg pain NRS 8/10"),
    ("smoking", "current", "Smoking: current"),
    ("bmi", None, "BMI not recorded"),
    ("phenotype_radicular", 1, "Radicular phenotype (yes)"),
])
def test_values_are_described_in_clinical_words(variable, value, words):
    assert describe(variable, value) == words
