"""A team's tracking server: scripts/start-mlflow-server.sh (MLflow on PostgreSQL, local
artifact root served on loopback); ``spinerisk train --tracking-uri http://...`` registers
a model that a fresh process loads by alias."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import sqlalchemy

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TINY = """\
name: team-tracking
seed: {seed}
data:
  simulate: {{n: 400, sites: 1, seed: {seed}}}
task: response
predictors: [age, odi, procedure]
pathway_features: false
model:
  learner: logistic
cv: {{folds: 2, internal_external: "no", bootstrap: 0}}
calibration: {{folds: 2}}
uncertainty: {{bootstrap_members: 0}}
tracking: {{experiment: team-tracking}}
allow_small_sample: true
small_sample_reason: a tiny test run
"""
LOAD = """\
import json, sys
import mlflow
from spinerisk.cohort import simulate
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model("models:/spinerisk-response@candidate")
frame = simulate(50, seed=1, tasks=("response",)).frame
version = mlflow.MlflowClient().get_model_version_by_alias("spinerisk-response", "candidate")
print(json.dumps({"risk": [float(r) for r in model.predict(frame)],
                  "version": str(version.version), "run_id": version.run_id}))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env() -> dict[str, str]:
    """This environment without any store setting (mlflow exports the URIs that earlier
    tests set in-process), as a team member's fresh shell would be."""
    unset = {"SPINERISK_TRACKING_URI", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    return {**env, "MLFLOW": str(BIN / "mlflow"), "MLFLOW_WORKERS": "1"}


@pytest.fixture(scope="module")
def team_server():
    """The script's server in a fresh state folder; stopped and removed afterwards."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not binaries:
        pytest.skip("PostgreSQL is not installed: run scripts/install-system-deps.sh")
    base = Path(tempfile.mkdtemp(prefix="spinerisk-mlflow-"))
    base.chmod(0o711)  # the postgres user must reach the state folder when run as root
    state = base / "server"
    started = subprocess.run(
        ["bash", str(ROOT / "scripts" / "start-mlflow-server.sh"), str(state),
         str(_free_port()), str(_free_port())],
        check=False, capture_output=True, text=True, env=_env(), timeout=180)
    try:
        assert started.returncode == 0, started.stderr
        yield started.stdout.strip(), state
    finally:
        pid_file = state / "mlflow.pid"
        if pid_file.exists():
            os.killpg(int(pid_file.read_text()), signal.SIGTERM)
        owner = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        subprocess.run([*owner, f"{binaries[-1]}/pg_ctl", "-D", str(state / "postgres"),
                        "-m", "fast", "stop"], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_train_against_the_team_server_registers_a_model_loadable_elsewhere(
        team_server, tmp_path, seed):
    uri, state = team_server
    assert uri.startswith("http://127.0.0.1:")
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY.format(seed=seed))
    trained = subprocess.run([str(BIN / "spinerisk"), "train", "--config", str(config),
                              "--tracking-uri", uri], cwd=tmp_path, env=_env(),
                             check=False, capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert not (tmp_path / "mlruns").exists()  # nothing fell back to the local store
    script = tmp_path / "load.py"
    script.write_text(LOAD)
    loaded = subprocess.run([sys.executable, str(script), uri], cwd=tmp_path, env=_env(),
                            check=False, capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    found = json.loads(loaded.stdout.strip().splitlines()[-1])
    risk = found["risk"]
    assert len(risk) == 50 and all(0 < r < 1 for r in risk) and len(set(risk)) > 1
    assert str(found["version"]) == "1"  # the first version of a fresh registry
    # the model's files sit under the server's artifact root, the run in PostgreSQL
    assert list((state / "artifacts").rglob("MLmodel"))
    pg_port = _pg_port(state)
    engine = sqlalchemy.create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{pg_port}/"
                                      "spinerisk")
    with engine.connect() as db:
        run_ids = {row[0] for row in db.execute(sqlalchemy.text("select run_uuid from runs"))}
    engine.dispose()
    assert found["run_id"] in run_ids


def _pg_port(state: Path) -> int:
    """The PostgreSQL port the server's store uses (from postmaster.pid, line 4)."""
    return int((state / "postgres" / "postmaster.pid").read_text().splitlines()[3])
