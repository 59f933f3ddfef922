"""A tiny registered model and a small site table, shared by the command-line tests.

The model is trained by ``spinerisk train --config configs/quickstart.yaml`` itself (a
logistic response model on 600 simulated episodes, no tuning, no bootstrap: about 10 s)
into a temporary sqlite store named by ``SPINERISK_TRACKING_URI``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from spinerisk.cli import app

QUICKSTART = Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"


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
    site = folder / "site.csv"
    simulate(300, sites=1, seed=seed % 10_000, tasks=("response",)).frame.to_csv(site, index=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPINERISK_TRACKING_URI", uri)
        result = CliRunner().invoke(app, ["train", "--config", str(QUICKSTART)])
    assert result.exit_code == 0, result.output
    return Store(folder, uri, "models:/spinerisk-response/1", QUICKSTART, site)


@pytest.fixture()
def store(tiny_store, monkeypatch) -> Store:
    """The tiny store, named by the environment for the test's duration."""
    monkeypatch.setenv("SPINERISK_TRACKING_URI", tiny_store.uri)
    return tiny_store


@pytest.fixture(scope="session")
def site_frame(tiny_store) -> pd.DataFrame:
    return pd.read_csv(tiny_store.site)
