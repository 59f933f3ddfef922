"""Ordinary exports give the same result as the clean file, through the command line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from spinerisk.cli import app


@pytest.fixture(scope="module")
def predictions(seed) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    risk = rng.uniform(0.02, 0.9, 300)
    return pd.DataFrame({"site": rng.choice(["Genève", "Zürich", "Malmö"], 300),
                         "y": rng.binomial(1, risk), "p": risk})


WRITERS = {
    "latin-1": lambda f, p: f.to_csv(p / "preds.csv", index=False, encoding="latin-1"),
    "semicolon, decimal comma": lambda f, p: f.to_csv(p / "preds.csv", index=False, sep=";",
                                                       decimal=","),
    "xlsx": lambda f, p: f.to_excel(p / "preds.xlsx", index=False),
}


def _metrics(path) -> dict:
    result = CliRunner().invoke(app, ["metrics", "--data", str(path), "--outcome", "y",
                                      "--risk", "p", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("kind", list(WRITERS))
def test_metrics_of_an_export_equal_those_of_the_clean_file(kind, predictions, tmp_path):
    predictions.to_csv(tmp_path / "clean.csv", index=False)
    WRITERS[kind](predictions, tmp_path)
    [export] = [p for p in tmp_path.iterdir() if p.name != "clean.csv"]
    got, clean = _metrics(export), _metrics(tmp_path / "clean.csv")
    if kind == "xlsx":  # the workbook reader rounds a quarter of doubles by one ulp (1e-16)
        got, clean = _leaves(got), _leaves(clean)
        assert got.keys() == clean.keys()
        numbers = [k for k, v in clean.items() if isinstance(v, float)]
        assert [got[k] for k in numbers] == pytest.approx([clean[k] for k in numbers], rel=1e-12)
        assert {k: v for k, v in got.items() if k not in numbers} == {
            k: v for k, v in clean.items() if k not in numbers}
    else:
        assert got == clean


def _leaves(tree, prefix="") -> dict:
    """A nested JSON report as {path: value} (pytest.approx compares flat mappings)."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _leaves(sub, f"{prefix}/{key}").items()}
    if isinstance(tree, list):
        return {k: v for i, sub in enumerate(tree) for k, v in _leaves(sub, f"{prefix}/{i}").items()}
    return {prefix: tree}
