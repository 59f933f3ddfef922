"""One error boundary for every command: expected failures exit 2 with the message;
anything else prints one line naming the traceback file (``--debug`` prints it) and exits 1."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spinerisk import schema
from spinerisk.cli import app
from spinerisk.errors import (
    ConfigError,
    ContractError,
    InputFileError,
    ModelLookupError,
    SpineriskError,
    TrackingStoreError,
    UsageError,
)


def _broken(*args, **kwargs):
    raise RuntimeError("an internal inconsistency")


def test_unexpected_error_is_one_line_and_a_traceback_file(monkeypatch):
    monkeypatch.setattr(schema, "data_dictionary_markdown", _broken)
    monkeypatch.delenv("SPINERISK_DEBUG", raising=False)
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert "internal error (RuntimeError: an internal inconsistency)" in lines[0]
    [where] = re.findall(r"the full traceback is in (\S+);", lines[0])
    written = Path(where).read_text()
    Path(where).unlink()
    assert written.startswith("Traceback (most recent call last):")
    assert "in _broken" in written and "RuntimeError: an internal inconsistency" in written


def test_debug_prints_the_traceback(monkeypatch):
    monkeypatch.setattr(schema, "data_dictionary_markdown", _broken)
    result = CliRunner().invoke(app, ["--debug", "schema"])
    assert result.exit_code == 1
    assert "Traceback (most recent call last):" in result.output and "in _broken" in result.output
    assert "full traceback is in" not in result.output


@pytest.mark.parametrize("error", [
    ContractError("table.csv: bmi out of range", allowed="12-70", fix="check units"),
    ConfigError("config a.yaml: unknown key 'x'"),
    InputFileError("site.csv: no such file"),
    ModelLookupError("models:/x@y: no such model in sqlite:///mlruns/mlflow.db"),
    TrackingStoreError("sqlite:///nowhere/mlflow.db: cannot open the store"),
    UsageError("--n 0: need at least one episode"),
])
def test_every_typed_error_exits_2_with_its_message(error, monkeypatch):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(schema, "data_dictionary_markdown", fail)
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 2
    assert result.output == f"spinerisk schema: error: {error}\n"
    assert isinstance(error, SpineriskError)


def test_typed_errors_keep_the_builtin_types_callers_caught():
    """Code written before spinerisk.errors (``except ValueError``) still catches them."""
    assert issubclass(ContractError, ValueError) and issubclass(ConfigError, ValueError)
    assert issubclass(ModelLookupError, LookupError) and issubclass(InputFileError, OSError)
    assert issubclass(schema.SchemaValidationError, ContractError)
    message = str(UsageError("--n 0: too few", allowed="n >= 1", fix="pass a positive n"))
    assert message == "--n 0: too few; allowed: n >= 1; fix: pass a positive n"


def test_simulate_writes_all_its_files_or_none(tmp_path, monkeypatch):
    import pandas as pd

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", fail)  # the truth table, after the csv
    result = CliRunner().invoke(app, ["simulate", "--n", "60", "--out", str(tmp_path / "c.csv")])
    assert result.exit_code == 1, result.output
    assert list(tmp_path.iterdir()) == []  # the csv was written first, then removed
    Path(re.findall(r"the full traceback is in (\S+);", result.output)[0]).unlink()


def test_library_code_raises_typed_errors_naming_file_and_line(tmp_path):
    from spinerisk.cohort import simulate
    from spinerisk.training import load_config

    with pytest.raises(UsageError, match=r"dgp='quadratic'.*allowed: 'published' or 'linear'"):
        simulate(50, dgp="quadratic")
    config = tmp_path / "c.yaml"
    config.write_text("name: x\nmodel:\n  learner: logistic\n\tparams: {}\n")
    with pytest.raises(ConfigError, match=r"config .*c\.yaml: invalid YAML at line 4, column 1"):
        load_config(config)
    mapping = tmp_path / "m.yaml"
    mapping.write_text("colums: {BMI: bmi}\n")
    with pytest.raises(ConfigError, match=r"m\.yaml: unknown keys \['colums'\]; allowed: columns"):
        schema.ColumnMapping.from_yaml(mapping)
