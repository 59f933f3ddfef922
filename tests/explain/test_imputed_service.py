"""`spinerisk predict` / the API with a model developed on multiply imputed data: the
risk is the pooled one, the range adds the imputation variance, and the answer and the
explanation name the findings that were imputed."""

from __future__ import annotations

import pytest
from scipy.special import logit

from spinerisk.cohort import simulate
from spinerisk.explain.service import LoadedModel, PatientService
from spinerisk.explain.text import render_text
from spinerisk.features import spine_task
from spinerisk.models import ImputedRiskModel

PREDICTORS = ["age", "sex", "bmd_t_score", "sarcopenia", "goutallier_grade", "smoking",
              "n_fractures", "tlf_injury", "procedure"]
PATIENT = {"age": 78, "sex": "female", "procedure": "vertebroplasty", "tlf_injury": 1,
           "n_fractures": 2, "smoking": "never", "goutallier_grade": 2,
           "bmd_t_score": -3.1, "sarcopenia": 1}


@pytest.fixture(scope="module")
def service(seed):
    task = spine_task("residual_pain", PREDICTORS, pathway=True)
    frame = simulate(900, sites=1, seed=seed, tasks=("residual_pain",)).frame
    frame = frame[frame["residual_pain"].notna()].reset_index(drop=True)
    model = ImputedRiskModel(task, n_imputations=4, n_iterations=3, bootstrap_members=4,
                             random_state=seed).fit(frame, frame["residual_pain"])
    return PatientService([LoadedModel(model, "spinerisk-residual_pain", "1", "candidate",
                                       "models:/spinerisk-residual_pain@candidate")])


def test_imputed_findings_are_named_and_the_range_widens(service):
    model = service.loaded[0].model
    complete = service.predict(PATIENT, task="residual_pain")
    partial = service.predict({k: v for k, v in PATIENT.items()
                               if k not in ("bmd_t_score", "sarcopenia")}, task="residual_pain")
    assert complete["imputed"] == [] and partial["imputed"] == ["bmd_t_score", "sarcopenia"]
    assert complete["interval"]["variance_logit"]["between_patient"] == 0.0
    assert partial["interval"]["variance_logit"]["between_patient"] > 0.0
    # wider, on the logit scale where the range is built, than the same patient completed
    # by each of its imputations (the exact identity: tests/models/test_imputed.py)
    reduced = {k: v for k, v in PATIENT.items() if k not in ("bmd_t_score", "sarcopenia")}
    widths = [_logit_width(service.predict({**reduced, "bmd_t_score": c["bmd_t_score"],
                                            "sarcopenia": int(c["sarcopenia"])},
                                           task="residual_pain"))
              for c in (model.complete_record(reduced, _pathway(reduced), k)
                        for k in range(4))]
    assert _logit_width(partial) > sum(widths) / len(widths)
    note = partial["explanation"]["note"]
    assert "BMD" in note and "imputed 4 times" in note
    assert f"{100 * partial['risk']:.0f}%" in note  # the reported risk is quoted
    phrases = [s["phrase"] for s in partial["explanation"]["steps"]]
    assert all("not recorded" in p for p in phrases if "BMD" in p or "arcopenia" in p)
    assert partial["risk"] == pytest.approx(
        model.assess_record(reduced, _pathway(reduced))["risk"])
    assert service.models()[0]["interval"] is True
    assert "not recorded, so imputed (risk and range averaged over the imputations): BMD" in (
        render_text(partial))


def _logit_width(answer) -> float:
    return float(logit(answer["interval"]["high"]) - logit(answer["interval"]["low"]))


def _pathway(record: dict) -> dict:
    """The care-pathway features of a record, as the service computes them."""
    from spinerisk import schema
    from spinerisk.explain.service import pathway_feature_values
    from spinerisk.phenotype import assess_validated

    return pathway_feature_values(assess_validated(schema.validate_record(record)))
