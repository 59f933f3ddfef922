"""`spinerisk pathway`: readable summary or JSON, always with the research-use notice."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from spinerisk.cli import app
from spinerisk.phenotype import NOTICE

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "patient.json"
runner = CliRunner()


def test_example_patient_json() -> None:
    result = runner.invoke(app, ["pathway", "--patient", str(EXAMPLE), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["notice"] == NOTICE
    assert [p["name"] for p in payload["phenotypes"] if p["status"] == "supported"] == [
        "radicular"]
    assert payload["concordance"]["label"] == "concordant"
    assert payload["concordance"]["rule_ids"] == ["IV-TF-ESI"]
    assert payload["concordance"]["status"] == "concordant"
    assert payload["concordance"]["procedure"] == "tf_esi"   # codes stay in JSON
    assert payload["not_assessed"] == []


def test_example_patient_summary() -> None:
    result = runner.invoke(app, ["pathway", "--patient", str(EXAMPLE)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Decision support for research use" in result.output
    assert ("transforaminal epidural steroid injection (tf_esi): concordant [IV-TF-ESI]"
            in result.output)
    assert "+ supported radicular pain [PH-RADICULAR; review 2.1, 4]" in result.output
    assert "- not supported LF-driven lumbar stenosis [PH-LF-STENOSIS" in result.output
    # clinical names in the text, the review named with where its sections are explained
    assert "(first-line, for radicular pain)" in result.output
    assert "tf_esi (" not in result.output
    assert "Diagnostics. 2026;16(2):240" in result.output
    assert "docs/clinical-framework.md" in result.output


def test_invalid_record_exits_with_the_problems(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"age": 12, "pain_pattern": "sciatica"}))
    result = runner.invoke(app, ["pathway", "--patient", str(bad)])
    assert result.exit_code == 2
    assert "age: out of range" in result.output
    assert "pain_pattern: unknown level" in result.output


def test_unreadable_file_exits_with_a_fix(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = runner.invoke(app, ["pathway", "--patient", str(bad)])
    assert result.exit_code == 2
    assert "cannot read a JSON patient record" in result.output
