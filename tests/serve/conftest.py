"""A real server process for the API and browser tests (started once per session).

A small xgboost model for the reoperation task is trained on a simulated cohort, given
a small bootstrap ensemble, registered in a temporary sqlite MLflow store, and served by
``spinerisk serve`` (uvicorn, two forked workers) as a subprocess on a free localhost
port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

API_KEY = "test-key-not-secret"
MAX_BODY = 16_384
#: Short read timeouts so the slow-client test need not wait long (requests from the
#: tests send headers and body at once, far inside them).
READ_TIMEOUT = 2.0
WORKERS = 2


@dataclass(frozen=True)
class Server:
    url: str
    key: str
    log: Path
    max_body: int
    read_timeout: float
    workers: int
    pid: int
    store: str
    model_uri: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _register_model(store: str, seed: int) -> str:
    from spinerisk.cohort import simulate
    from spinerisk.explain import fit_bootstrap_ensemble
    from spinerisk.features import spine_task
    from spinerisk.models import RiskModel

    frame = simulate(1500, tasks=("reoperation",), seed=seed % 10_000).frame
    frame = frame.drop(columns=["patient_id"])  # cheaper plain folds; grouping not tested here
    y = pd.DataFrame({"time": frame["reoperation_time_months"].to_numpy(float),
                      "event": frame["reoperation_event"].to_numpy(float)})
    model = RiskModel(spine_task("reoperation"), learner="xgboost_cox",
                      params={"n_estimators": 40, "max_depth": 3, "learning_rate": 0.1},
                      calibration="platt", calibration_folds=3, random_state=seed).fit(frame, y)
    # a small ensemble: the API is under test here, the interval's statistics in explain/
    model.bootstrap_ = fit_bootstrap_ensemble(model, frame, y, n_members=5, seed=seed)
    with warnings.catch_warnings():
        # third-party notices while registering: mlflow on the pyfunc's untyped predict
        # signature (at import), sqlalchemy on a loader option mlflow's store uses
        warnings.filterwarnings("ignore", message=".*Any type hint is inferred as AnyType",
                                category=UserWarning)
        warnings.filterwarnings("ignore", message="The ``noload`` loader strategy",
                                category=DeprecationWarning)
        from spinerisk.tracking import configure, experiment_run

        try:
            with experiment_run("spinerisk-serve-test", "fixture", store) as run:
                out = run.log_model(model, "reoperation")
        finally:
            configure(None)  # leave mlflow pointing where the rest of the session expects
    return out["alias_uri"]


@pytest.fixture(scope="session")
def server(tmp_path_factory, seed):
    folder = tmp_path_factory.mktemp("serve")
    store = f"sqlite:///{folder / 'mlflow.db'}"
    uri = _register_model(store, seed)
    port = _free_port()
    log = folder / "server.log"
    env = {**os.environ, "SPINERISK_TRACKING_URI": store, "SPINERISK_API_KEY": API_KEY}
    command = [str(Path(sys.executable).parent / "spinerisk"), "serve", "--model", uri,
               "--port", str(port), "--max-body-bytes", str(MAX_BODY),
               "--header-timeout", str(READ_TIMEOUT), "--body-timeout", str(READ_TIMEOUT),
               "--workers", str(WORKERS)]
    with open(log, "w") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log)
        yield Server(url, API_KEY, log, MAX_BODY, READ_TIMEOUT, WORKERS, process.pid, store,
                     uri)
    finally:
        process.terminate()
        process.wait(timeout=20)


def _wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server did not come up in {timeout} s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def client(server):
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


@pytest.fixture()
def patient():
    """A complete-enough reoperation patient (the page's example)."""
    from spinerisk.serve.form import EXAMPLES

    return dict(EXAMPLES["Typical: endoscopic discectomy (reoperation risk)"])
