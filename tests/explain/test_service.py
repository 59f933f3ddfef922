"""The per-patient service: same answer as the batch path, pathway features identical to
the cohort engine's, problems in the contract's words."""

from __future__ import annotations

import pandas as pd
import pytest

from spinerisk import schema
from spinerisk.explain import LoadedModel, PatientService, pathway_feature_values
from spinerisk.explain.jsonable import plain
from spinerisk.phenotype import assess_patient, pathway_features


@pytest.fixture(scope="module")
def service(models):
    return PatientService([LoadedModel(models["xgboost"], "spinerisk-residual_pain", "3",
                                       "candidate", "models:/spinerisk-residual_pain@candidate")])


def test_pathway_features_from_the_patient_result_equal_the_cohort_engine(
        residual_frame, reoperation_frame, record_of):
    for frame in (residual_frame, reoperation_frame):
        expected = pathway_features(frame.iloc[:60])
        for i in range(60):
            ours = pathway_feature_values(assess_patient(record_of(frame, i)))
            theirs = {k: (None if pd.isna(v) else int(v) if k != "concordance" else v)
                      for k, v in expected.iloc[i].items()}
            assert ours == theirs, i


def test_one_patient_path_equals_batch_prediction(service, models, residual_frame, record_of):
    model = models["xgboost"]
    rows = residual_frame.iloc[:25]
    batch = model.predict_risk(rows)
    for i in range(len(rows)):
        out = service.predict(record_of(rows, i))
        assert out["risk"] == pytest.approx(batch[i], abs=1e-6)  # SHAP sums in float32
        assert out["explanation"]["model_risk"] == pytest.approx(out["risk"], abs=1e-12)
        assert out["interval"] is None  # this model was fitted without an ensemble
        assert out["task"] == "residual_pain"


def test_result_carries_pathway_drivers_and_notice(service, residual_frame, record_of):
    out = service.predict(record_of(residual_frame, 0))
    assert out["pathway"] == plain(assess_patient(record_of(residual_frame, 0)))
    assert out["pathway"] == assess_patient(record_of(residual_frame, 0)).to_dict()
    steps = out["explanation"]["steps"]
    assert len(steps) == 7 and steps[-1]["variable"] == "__others__"
    assert "research use" in out["notice"]


def test_missing_procedure_and_unloaded_task_are_contract_problems(service, residual_frame,
                                                                   record_of):
    record = record_of(residual_frame, 0, drop=("procedure",))
    with pytest.raises(schema.SchemaValidationError) as err:
        service.predict(record)
    assert err.value.problems[0].field == "procedure"
    with pytest.raises(schema.SchemaValidationError) as err:
        service.predict(record_of(residual_frame, 0), task="reoperation")
    assert err.value.problems[0].field == "task"
    assert "residual_pain@candidate" in err.value.problems[0].allowed


def test_plots_draw_global_and_patient_views(service, models, residual_frame, record_of,
                                             tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from spinerisk.explain import ModelExplainer, explain_patient
    from spinerisk.explain.plots import plot_beeswarm, plot_importance, plot_waterfall

    explainer = ModelExplainer(models["xgboost"])
    rows = residual_frame.iloc[:300]
    grouped = explainer.explain_frame(rows)
    model_frame = models["xgboost"]._model_frame(rows)
    figures = {"beeswarm": plot_beeswarm(grouped, model_frame, top=10),
               "importance": plot_importance(grouped, top=10)}
    out = service.predict(record_of(residual_frame, 1))
    e = out["explanation"]
    local = explain_patient(e["contributions"], e["base_margin"],
                            models["xgboost"].calibrator_, record_of(residual_frame, 1),
                            "residual_pain")
    figures["waterfall"] = plot_waterfall(local)
    assert len(figures["beeswarm"].axes[0].get_yticklabels()) == 10
    assert len(figures["waterfall"].axes[0].patches) == len(local.steps) + 2
    for name, fig in figures.items():
        fig.savefig(tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 5_000
    import matplotlib.pyplot as plt

    plt.close("all")


def test_the_rule_book_is_read_when_the_service_loads_not_on_the_first_patient(models):
    """A server forks its workers after loading the service: what the service reads at
    load is shared, and no worker's first request waits for the rule book's parsing."""
    from spinerisk.phenotype.rules import default_rules

    default_rules.cache_clear()
    PatientService([LoadedModel(models["xgboost"], "spinerisk-residual_pain", "3",
                                "candidate", "models:/spinerisk-residual_pain@candidate")])
    assert default_rules.cache_info().currsize == 1
