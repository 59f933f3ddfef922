"""The bad-input corpus: ordinary mistakes, each tried on the command that meets it.

Every case must end with exit code 2, no traceback, and a message naming the file or field
at fault and the fix (or the allowed values). The first 21 kinds are those of issue 13.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from spinerisk.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "patient.json"


@dataclass(frozen=True)
class Case:
    """A bad input: how to make it, the command to run, words the message must hold."""

    make: Callable[[Path, pd.DataFrame, object], Path]  # (folder, site frame, store) -> input
    command: Callable[[Path, object], list[str]]
    expect: tuple[str, ...]


def _table(change: Callable[[pd.DataFrame], pd.DataFrame], name: str = "site.csv"):
    def make(folder: Path, frame: pd.DataFrame, store) -> Path:
        path = folder / name
        change(frame.copy()).to_csv(path, index=False)
        return path
    return make


def _text(content: str, name: str):
    def make(folder: Path, frame: pd.DataFrame, store) -> Path:
        path = folder / name
        path.write_text(content)
        return path
    return make


def _set(column: str, rows: list[int], value):
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        frame.loc[rows, column] = value
        return frame
    return change


def _duplicate(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[7, ["patient_id", "episode_id"]] = frame.loc[6, ["patient_id", "episode_id"]].to_numpy()
    return frame


def _train_data(path, store):
    return ["train", "--config", str(store.config), "--data", str(path)]


def _validate_data(path, store):
    return ["validate", "--model", store.model, "--data", str(path), "--site", "X",
            "--out", str(path.parent / "report"), "--n-boot", "50", "--no-log"]


TABLES = {
    "renamed column": (_table(lambda f: f.rename(columns={"bmi": "BMI_kg"})),
                       ("bmi (closest present: BMI_kg)", "fix: rename your columns")),
    "text in a numeric column": (_table(_set("age", [4], "forty")),
                                 ("age: not a number", "'forty'", "data row 5", "file line 6", "fix:")),
    "BMI 412": (_table(_set("bmi", [16, 202], 412.0)),
                ("bmi: out of range", "data rows 17, 203", "file lines 18, 204", "12-70 kg/m2", "fix:")),
    "unknown Modic level": (_table(_set("modic_type", [5], "type4")),
                            ("modic_type: unknown levels", "'type4'", "allowed: one of none", "fix:")),
    "duplicate patient-episode ids": (_table(_duplicate),
                                      ("duplicate patient-episode ids", "data rows 7, 8", "fix:")),
    "empty file": (_text("", "site.csv"), ("site.csv: the file is empty", "fix:")),
    "header-only file": (_text("patient_id,episode_id,age\n", "site.csv"),
                         ("site.csv: the table has a header but no data rows", "fix:")),
}

CASES: dict[str, Case] = {}
for kind, (make, expect) in TABLES.items():
    CASES[f"train --data: {kind}"] = Case(make, _train_data, expect)
    CASES[f"validate --data: {kind}"] = Case(make, _validate_data, expect)


def _config(text: str):
    return _text(text, "bad.yaml")


def _tiny_with(old: str, new: str):
    def make(folder: Path, frame: pd.DataFrame, store) -> Path:
        path = folder / "bad.yaml"
        path.write_text(store.config.read_text().replace(old, new))
        return path
    return make


def _train_config(path, store):
    return ["train", "--config", str(path)]


def _predict(path, store):
    return ["predict", "--patient", str(path), "--model", store.model]


def _example(change: dict):
    def make(folder, frame, store):
        path = folder / "patient.json"
        path.write_text(json.dumps({**json.loads(EXAMPLE.read_text()), **change}))
        return path
    return make


CASES.update({
    "train --config: typo'd key": Case(
        _tiny_with("calibration:", "calibraton:"),
        _train_config, ("unknown key 'calibraton'", "did you mean 'calibration'")),
    "train --config: invalid YAML": Case(
        _config("name: x\n  model: [\n"), _train_config,
        ("bad.yaml: invalid YAML at line 2, column 8", "fix:")),
    "train --config: invalid learner": Case(
        _tiny_with("learner: logistic", "learner: lasso"),
        _train_config, ("model.learner", "'logistic', 'xgboost', 'cox' or 'xgboost_cox'")),
    "train --config: no such file": Case(
        lambda f, d, s: f / "absent.yaml", _train_config, ("absent.yaml: no such file", "fix:")),
    "train --config: folder without configs": Case(
        lambda f, d, s: f, _train_config, ("no *.yaml configs there", "fix:")),
    "predict: nonexistent model URI": Case(
        lambda f, d, s: EXAMPLE, lambda p, s: ["predict", "--patient", str(p), "--model", "models:/nope@x"],
        ("nope", "fix:")),
    "validate: nonexistent model URI": Case(
        lambda f, d, s: f, lambda p, s: ["validate", "--model", "models:/nope@x", "--data", str(s.site),
                                      "--site", "X", "--out", str(p / "r"), "--no-log"],
        ("nope", "fix:")),
    "predict: JSON array as a patient": Case(
        _text('[{"age": 46}]', "list.json"), _predict,
        ("list.json: a patient record must be one JSON object, got a JSON array", "fix:")),
    "pathway: JSON array as a patient": Case(
        _text('[{"age": 46}]', "list.json"), lambda p, s: ["pathway", "--patient", str(p)],
        ("list.json: a patient record must be one JSON object", "fix:")),
    "predict: invalid JSON": Case(
        _text('{"age": 46,}', "p.json"), _predict, ("p.json", "not valid JSON at line 1", "fix:")),
    "predict: no such patient file": Case(
        lambda f, d, s: f / "absent.json", _predict, ("absent.json: no such file", "fix:")),
    "predict: value out of range": Case(
        _example({"bmi": 412}), _predict, ("bmi: out of range", "12-70 kg/m2", "fix:")),
    "predict: misspelt field": Case(
        _example({"modic": "type1"}), _predict, ("modic: not a field", "did you mean 'modic_type'")),
    "simulate --dgp quadratic": Case(
        lambda f, d, s: f, lambda p, s: ["simulate", "--dgp", "quadratic", "--out", str(p / "c.parquet")],
        ("'quadratic' is not one of 'published', 'linear'",)),
    "validate: mapping file with an unknown key": Case(
        _text("columns: {BMI_kg: bmi}\nlevel: {}\n", "map.yaml"),
        lambda p, s: [*_validate_data(s.site, s), "--mapping", str(p)],
        ("map.yaml: unknown keys ['level']", "allowed: columns, levels, ignore")),
    "validate: mapping to a field that does not exist": Case(
        _text("columns: {BMI_kg: body_mass}\n", "map.yaml"),
        lambda p, s: [*_validate_data(s.site, s), "--mapping", str(p)],
        ("map.yaml", "body_mass", "fix:")),
    "validate: workbook sheet that does not exist": Case(
        lambda f, d, s: _xlsx(f, d), lambda p, s: _validate_data(Path(f"{p}#cohrot"), s),
        ("no sheet 'cohrot'", "allowed: Sheet1")),
    "validate: unknown file type": Case(
        _text("x", "site.docx"), _validate_data, ("site.docx: unknown table type '.docx'", "allowed:")),
    "metrics: empty file": Case(
        _text("", "preds.csv"), lambda p, s: ["metrics", "--data", str(p), "--outcome", "y", "--risk", "p"],
        ("preds.csv: the file is empty", "fix:")),
    "metrics: header-only predictions (no rows, not one class)": Case(
        _text("y,p\n", "preds.csv"), lambda p, s: ["metrics", "--data", str(p), "--outcome", "y", "--risk", "p"],
        ("preds.csv: the table has a header but no data rows",)),
    "metrics: mixed decimal marks": Case(
        _text("y;p;q\n1;0,4;1.5\n0;0,2;2.5\n", "preds.csv"),
        lambda p, s: ["metrics", "--data", str(p), "--outcome", "y", "--risk", "p"],
        ("mixed decimal marks", "fix:")),
    "metrics: bad thresholds": Case(
        _text("y,p\n1,0.4\n0,0.2\n", "preds.csv"),
        lambda p, s: ["metrics", "--data", str(p), "--outcome", "y", "--risk", "p", "--thresholds", "a,b"],
        ("--thresholds 'a,b'", "allowed: comma-separated numbers")),
    "serve: no API key": Case(
        lambda f, d, s: f, lambda p, s: ["serve", "--model", s.model],
        ("SPINERISK_API_KEY", "fix:")),
})


def _xlsx(folder: Path, frame: pd.DataFrame) -> Path:
    frame.to_excel(folder / "site.xlsx", index=False)
    return folder / "site.xlsx"


def test_the_corpus_holds_the_issues_kinds_and_more():
    assert len(CASES) >= 28 + 5


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_a_short_message_and_exit_code_2(name, store, site_frame, tmp_path,
                                                        monkeypatch):
    monkeypatch.delenv("SPINERISK_API_KEY", raising=False)
    case = CASES[name]
    path = case.make(tmp_path, site_frame, store)
    result = CliRunner().invoke(app, case.command(path, store))
    output = " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())  # rich boxes usage errors
    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    for words in case.expect:
        assert " ".join(words.split()) in output, (words, result.output)
    assert not (tmp_path / "report").exists()  # nothing half-written
