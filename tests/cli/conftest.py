"""A tiny registered model and a small site table, shared by the command-line tests.

The model is trained by ``spinerisk train`` itself (a logistic response model on 600
simulated episodes, no tuning, no bootstrap: about 10 s) into a temporary sqlite store
named by ``SPINERISK_TRACKING_URI``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from spinerisk.cli import app

TINY_CONFIG = """\
name: tiny-response
seed: 7
data:
  simulate: {n: 600, sites: 2, seed: 7, dgp: published}
task: response
predictors: [age, bmi, smoking, odi, modic_type, procedure]
pathway_features: false
model:
  learner: logistic
cv: {folds: 2, internal_external: "no", bootstrap: 0}
calibration: {method: platt, folds: 2}
uncertainty: {bootstrap_members: 0}
"""


@dataclass(frozen=True)
class Store:
    folder: Path
    uri: str
    model: str  # a version URI: independent of which alias training moves
    config: Path
    site: Path  # a clean, contract-valid site table for the response task


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory, seed) -> Store:
    from spinerisk.cohort import simulate

    folder = tmp_path_factory.mktemp("cli-store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    config = folder / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    site = folder / "site.csv"
    simulate(300, sites=1, seed=seed % 10_000, tasks=("response",)).frame.to_csv(site, index=False)
    previous = os.environ.get("SPINERISK_TRACKING_URI")
    os.environ["SPINERISK_TRACKING_URI"] = uri
    try:
        result = CliRunner().invoke(app, ["train", "--config", str(config)])
    finally:
        _restore("SPINERISK_TRACKING_URI", previous)
    assert result.exit_code == 0, result.output
    return Store(folder, uri, "models:/spinerisk-response/1", config, site)


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


@pytest.fixture()
def store(tiny_store, monkeypatch) -> Store:
    """The tiny store, named by the environment for the test's duration."""
    monkeypatch.setenv("SPINERISK_TRACKING_URI", tiny_store.uri)
    return tiny_store


@pytest.fixture(scope="session")
def site_frame(tiny_store) -> pd.DataFrame:
    return pd.read_csv(tiny_store.site)
