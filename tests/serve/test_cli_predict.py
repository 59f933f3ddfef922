"""``spinerisk predict``: the same result as the API, from the registry alias."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from spinerisk.cli import app


@pytest.fixture()
def run_cli(server, tmp_path):
    def run(record: dict, *extra: str):
        path = tmp_path / "patient.json"
        path.write_text(json.dumps(record))
        runner = CliRunner()
        try:
            return runner.invoke(app, ["predict", "--model", server.model_uri, "--patient",
                                       str(path), *extra],
                                 env={"SPINERISK_TRACKING_URI": server.store})
        finally:
            from spinerisk.tracking import configure

            configure(None)
    return run


def test_json_output_equals_the_api(run_cli, client, server, patient):
    result = run_cli(patient, "--json")
    assert result.exit_code == 0, result.output
    cli = json.loads(result.stdout)
    api = client.post("/v1/predict", json={"patient": patient},
                      headers={"X-API-Key": server.key}).json()
    assert cli == api


def test_text_output_shows_pathway_risk_interval_and_drivers(run_cli, patient):
    patient["red_flag_fever"] = 1
    result = run_cli(patient)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("Decision support for research use")
    assert "RED FLAGS:" in text and "Phenotypes: radicular" in text
    assert "Predicted reoperation risk at 24 months:" in text and "95% interval" in text
    assert text.count("  - ") >= 5
    assert "raised the predicted" in text or "lowered the predicted" in text


def test_bad_record_exits_2_with_the_contracts_message(run_cli, patient):
    patient["age"] = 130
    result = run_cli(patient)
    assert result.exit_code == 2
    assert "age: out of range" in result.stderr and "18-100 years" in result.stderr


def test_serve_refuses_to_start_without_an_api_key(monkeypatch):
    monkeypatch.delenv("SPINERISK_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["serve", "--model", "models:/spinerisk-x@candidate"])
    assert result.exit_code == 2
    assert "SPINERISK_API_KEY" in result.output


@pytest.mark.parametrize("key", [" ", "x" * 15, "sixteen chars but spaces", "ключ-ключ-ключ-ключ"])
def test_serve_refuses_a_key_no_client_could_send_or_that_is_short(monkeypatch, key):
    monkeypatch.setenv("SPINERISK_API_KEY", key)
    result = CliRunner().invoke(app, ["serve", "--model", "models:/spinerisk-x@candidate"])
    assert result.exit_code == 2
    assert "at least 16 visible ASCII characters" in result.output
    assert "--generate-key" in result.output


def test_generate_key_prints_a_fresh_acceptable_key(monkeypatch):
    from spinerisk.serve import check_api_key

    monkeypatch.delenv("SPINERISK_API_KEY", raising=False)
    keys = [CliRunner().invoke(app, ["serve", "--generate-key"]).stdout.strip()
            for _ in range(2)]
    for key in keys:
        check_api_key(key)
    assert keys[0] != keys[1] and len(keys[0]) >= 40
