"""The logged model is self-contained and refuses incomplete input.

A fresh virtual environment gets only the model's own ``requirements.txt`` (and what those
packages depend on, held to the locked versions); spinerisk is not installed there. The
model must load from its folder, take its code from the folder (``code/spinerisk``), give
the training process's risks, and refuse a frame without a required field.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from spinerisk import schema, tracking

# uv on PATH, else the module the Makefile installs for the system python
UV = [shutil.which("uv")] if shutil.which("uv") else ["python3", "-m", "uv"]


def _frame(n: int = 12) -> pd.DataFrame:
    from spinerisk.cohort import simulate

    return simulate(60, seed=4, tasks=("response",)).frame.head(n).reset_index(drop=True)


@pytest.fixture(scope="module")
def model_dir(tracked, store):
    tracking.configure(store)
    return Path(mlflow.artifacts.download_artifacts(tracked.model_info["model_uri"]))


def test_mlmodel_carries_the_typed_input_contract_and_the_code(tracked, model_dir):
    meta = yaml.safe_load((model_dir / "MLmodel").read_text())
    contract = meta["metadata"]["spinerisk_input"]
    assert contract["age"] == {"type": "double", "required": True, "predictor": True,
                               "allowed": schema.FIELD_BY_NAME["age"].allowed()}
    assert contract["smoking"]["type"] == "string" and not contract["smoking"]["required"]
    assert contract["procedure"]["required"] and contract["procedure"]["type"] == "string"
    assert set(contract) == set(tracking.input_columns(tracked.model))
    assert (model_dir / "code" / "spinerisk" / "phenotype" / "rules.yaml").is_file()
    assert not list((model_dir / "code").rglob("__pycache__"))
    requirements = (model_dir / "requirements.txt").read_text()
    assert "spinerisk" not in requirements and "scikit-learn==" in requirements


@pytest.mark.parametrize("drop", [["procedure"], ["modic_extent_gt50", "odi"]])
def test_a_frame_without_a_model_column_is_refused_not_scored(tracked, store, drop):
    pyfunc = tracking.load_pyfunc(tracked.model_info["model_uri"], store)
    with pytest.raises(schema.SchemaValidationError) as err:
        pyfunc.predict(_frame().drop(columns=drop))
    missing = str(err.value).split("expected columns are missing: ")[1].split(";")[0]
    assert sorted(missing.split(", ")) == sorted(drop)


def test_required_field_empty_or_predictor_missing_everywhere_is_refused(tracked, store):
    pyfunc = tracking.load_pyfunc(tracked.model_info["model_uri"], store)
    frame = _frame()
    frame.loc[3, "age"] = np.nan
    frame["odi"] = np.nan
    with pytest.raises(schema.SchemaValidationError) as err:
        pyfunc.predict(frame)
    message = str(err.value)
    assert "age: missing values where the field is required; in data row 4 (1 row)" in message
    assert "odi: all 12 values are missing" in message
    one = _frame(1)
    one.loc[0, "odi"] = np.nan  # one patient with a missing ODI is a record, not a gap
    assert pyfunc.predict(one).shape == (1,)


def _install(venv: Path, requirements: Path, constraints: Path) -> None:
    """Model requirements into a fresh venv: from the uv cache, else from the index."""
    subprocess.run([*UV, "venv", "-q", str(venv), "--python", sys.executable], check=True,
                   capture_output=True, timeout=60)
    base = [*UV, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
            "-r", str(requirements), "-c", str(constraints)]
    for extra in (["--offline"], []):
        done = subprocess.run(base + extra, capture_output=True, text=True, timeout=180,
                              check=False)
        if done.returncode == 0:
            return
    pytest.skip("the model's requirements are neither in the uv cache nor reachable: "
                + done.stderr[-300:])


@pytest.mark.slow
def test_loads_and_predicts_in_a_fresh_environment_without_spinerisk(tracked, model_dir,
                                                                     tmp_path):
    constraints = tmp_path / "constraints.txt"  # the locked versions of this environment
    constraints.write_text("\n".join(sorted(
        f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()
        if d.metadata["Name"] and d.metadata["Name"].lower() != "spinerisk")))
    venv = tmp_path / "venv"
    _install(venv, model_dir / "requirements.txt", constraints)
    frame = _frame()
    rows = tmp_path / "rows.json"
    rows.write_text(frame.astype(object).where(frame.notna(), None).to_json(orient="records"))
    code = (
        "import importlib.util, json, sys\n"
        "import pandas as pd, mlflow\n"
        "assert importlib.util.find_spec('spinerisk') is None, 'spinerisk is installed'\n"
        "model = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "import spinerisk\n"
        "frame = pd.DataFrame(json.load(open(sys.argv[2])))\n"
        "try:\n"
        "    model.predict(frame.drop(columns=['procedure']))\n"
        "    refused = ''\n"
        "except ValueError as err:\n"
        "    refused = str(err)\n"
        "print(json.dumps({'risk': model.predict(frame).tolist(), 'code': spinerisk.__file__,"
        " 'refused': refused}))\n")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code, str(model_dir), str(rows)],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(result["code"]).is_relative_to(model_dir / "code")
    same = pd.DataFrame(json.loads(rows.read_text()))
    expected = tracked.model.predict_risk(tracking.plain_input(tracked.model, same))
    np.testing.assert_allclose(result["risk"], expected, rtol=1e-10)
    assert "procedure" in result["refused"] and "expected columns are missing" in \
        result["refused"]
