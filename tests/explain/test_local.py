"""One patient's explanation: probability-scale waterfall, sentences, words."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from spinerisk.explain import explain_patient
from spinerisk.explain.local import OTHERS
from spinerisk.explain.wording import describe


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
    own = 100 * (expit(-2.3) - expit(-2.9))
    assert out.steps[0].sentence == (
        "Modic type 2 change at L4-L5 raised the predicted reoperation risk at 24 months "
        f"(+0.60 log-odds; on its own {own:+.1f} percentage points).")
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


def test_driver_sizes_do_not_depend_on_display_order():
    """Age moves from second to third place when another driver grows: its waterfall bar
    changes, its stated size (points, own effect, sentence) does not."""
    steps = []
    for diabetes in (0.4, 0.6):
        out = explain_patient({"modic_type": 0.5, "age": 0.45, "diabetes": diabetes}, -1.0,
                              expit, {"age": 70.0}, "response", top=3)
        steps.append({s.variable: s for s in out.steps})
    assert [list(s).index("age") for s in steps] == [1, 2]
    first, second = steps[0]["age"], steps[1]["age"]
    assert (first.contribution, first.own_effect, first.sentence) == (
        second.contribution, second.own_effect, second.sentence)
    assert first.own_effect == pytest.approx(expit(-0.55) - expit(-1.0))
    bars = [s.risk_after - s.risk_before for s in (first, second)]
    assert bars[0] != pytest.approx(bars[1])  # the waterfall itself is order-dependent


def test_driver_within_bootstrap_noise_is_marked():
    out = explain_patient({"sex": -0.12, "modic_type": 0.9}, -1.0, expit, {"sex": "female"},
                          "reoperation", noise_sd={"sex": 0.16, "modic_type": 0.1})
    steps = {s.variable: s for s in out.steps}
    assert steps["sex"].within_noise and "within the bootstrap noise" in steps["sex"].sentence
    assert steps["modic_type"].within_noise is False
    assert "noise" not in steps["modic_type"].sentence
