"""The HTTP API against a real server process on localhost."""

from __future__ import annotations

import pytest

from spinerisk.schema import SchemaValidationError, validate_record
from spinerisk.vocabulary import phenotype_name


def _predict(client, server, body, key=True):
    headers = {"X-API-Key": server.key} if key else {}
    return client.post("/v1/predict", json=body, headers=headers)


def test_valid_key_gets_risk_interval_drivers_and_pathway(client, server, patient):
    response = _predict(client, server, {"patient": patient})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["task"] == "reoperation"
    assert 0 < body["interval"]["low"] < body["risk"] < body["interval"]["high"] < 1
    steps = body["explanation"]["steps"]
    assert steps[-1]["risk_after"] == pytest.approx(body["risk"])
    assert all(s["sentence"].endswith(".") for s in steps)
    assert "radicular" in [p["name"] for p in body["pathway"]["phenotypes"]
                           if p["status"] == "supported"]
    assert body["model"]["name"] == "spinerisk-reoperation" and body["model"]["version"] == "1"
    assert "research use" in body["notice"]


def test_missing_or_wrong_key_is_401(client, server, patient):
    assert _predict(client, server, {"patient": patient}, key=False).status_code == 401
    wrong = client.post("/v1/predict", json={"patient": patient}, headers={"X-API-Key": "no"})
    assert wrong.status_code == 401
    assert client.get("/v1/models").status_code == 401


@pytest.mark.parametrize(("field", "value"), [
    ("age", 130),             # out of range
    ("modic_type", "type9"),  # unknown level
    ("diabetes", 2),          # not 0/1
    ("pfirrmann_grade", 2.5),  # not a whole number
    ("bmi", "heavy"),         # not a number
    ("agee", 61),             # unknown field
])
def test_bad_fields_are_422_with_the_contracts_own_message(client, server, patient, field,
                                                           value):
    """Each kind of bad field: 422 naming field, value, allowed range and fix -- the same
    problem the data contract reports (so CLI, API and page say the same thing)."""
    with pytest.raises(SchemaValidationError) as contract:
        validate_record({field: value})
    expected = contract.value.problems[0]
    patient[field] = value
    response = _predict(client, server, {"patient": patient})
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert len(problems) == 1, problems
    assert problems[0] == {"field": field, "issue": expected.issue, "value": value,
                           "allowed": expected.allowed, "fix": expected.fix}
    assert problems[0]["fix"] and (problems[0]["allowed"] or field == "agee")


def test_every_problem_is_reported_at_once(client, server, patient):
    patient.update(age=5, sex="other")
    problems = _predict(client, server, {"patient": patient}).json()["problems"]
    assert {p["field"] for p in problems} == {"age", "sex"}


@pytest.mark.parametrize(("body", "field"), [
    ({"patient": {"age": [61]}}, "age"),
    ({"patient": "not an object"}, "patient"),
    ({"patient": {}, "colour": "blue"}, "colour"),
    ({}, "patient"),
])
def test_malformed_envelopes_are_422_naming_the_field(client, server, body, field):
    response = _predict(client, server, body)
    assert response.status_code == 422
    assert field in [p["field"] for p in response.json()["problems"]]


def test_invalid_json_is_400_naming_the_place(client, server):
    response = client.post("/v1/predict", content=b'{"patient": {"age": 6',
                           headers={"X-API-Key": server.key,
                                    "Content-Type": "application/json"})
    assert response.status_code == 400
    problem = response.json()["problems"][0]
    assert problem["field"] == "<body>" and "line 1, column" in problem["issue"]


def test_task_without_a_loaded_model_is_422(client, server, patient):
    response = _predict(client, server, {"patient": patient, "task": "response"})
    assert response.status_code == 422
    assert response.json()["problems"][0]["field"] == "task"


def test_oversized_body_is_413(client, server, patient):
    patient["padding"] = "x" * (server.max_body + 10)
    response = _predict(client, server, {"patient": patient})
    assert response.status_code == 413


def test_models_health_schema_and_docs(client, server):
    models = client.get("/v1/models", headers={"X-API-Key": server.key}).json()["models"]
    assert [(m["task"], m["alias"], m["interval"]) for m in models] == [
        ("reoperation", "candidate", True)]
    assert client.get("/health").json() == {"status": "ok", "tasks": ["reoperation"]}
    form = client.get("/v1/schema").json()
    assert "red flags" in [g["name"] for g in form["groups"]]
    assert client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]
    docs = client.get("/docs").text
    assert "/static/docs.js" in docs and "cdn" not in docs.lower()


def test_schema_gives_clinical_names_outcomes_and_typical_examples(client):
    form = client.get("/v1/schema").json()
    fields = {f["name"]: f for g in form["groups"] for f in g["fields"]}
    assert fields["procedure"]["level_labels"]["peld_transforaminal"] == (
        "transforaminal endoscopic discectomy (PELD)")
    assert fields["modic_type"]["level_labels"]["type2"] == "Modic type 2"
    assert form["phenotype_labels"]["lf_stenosis"] == phenotype_name("lf_stenosis") != (
        "lf stenosis")
    assert form["outcomes"]["reoperation"] == {"outcome": "reoperation risk at 24 months",
                                               "higher_is_better": False}
    names = list(form["examples"])
    assert sum(n.startswith("Typical") for n in names) >= 3
    assert [n for n in names if not n.startswith("Typical")] == [
        n for n in names if n.startswith("Extreme (not typical)")]


def test_typical_example_is_near_the_average_and_the_extreme_is_not(client, server):
    """The page's first impression: the typical patient's risk sits near the model's
    average (within 10 points), the patient labelled extreme above both."""
    from spinerisk.serve.form import EXAMPLES

    def explained(name):
        body = _predict(client, server, {"patient": EXAMPLES[name]}).json()["explanation"]
        return body["base_risk"], body["model_risk"]

    average, typical = explained("Typical: endoscopic discectomy (reoperation risk)")
    assert abs(typical - average) < 0.10, (typical, average)
    _, extreme = explained(
        "Extreme (not typical): endoscopic discectomy with every reoperation risk factor")
    assert extreme > max(average, typical) + 0.03, (extreme, average, typical)
