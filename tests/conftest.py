"""Shared test fixtures.

Tests must pass for any seed: set SPINERISK_TEST_SEED to run the suite under another one.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def seed() -> int:
    """The suite's base seed (env SPINERISK_TEST_SEED, default 20261129)."""
    return int(os.environ.get("SPINERISK_TEST_SEED", "20261129"))


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server on loopback (Debian's packages), stopped afterwards.

    `make test` installs PostgreSQL (scripts/install-system-deps.sh), so CI always runs the
    tests that use it; elsewhere they are skipped with the reason.
    """
    import glob
    import shutil
    import socket
    import subprocess
    import tempfile
    from pathlib import Path

    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not binaries:
        pytest.skip("PostgreSQL is not installed: run scripts/install-system-deps.sh")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = Path(tempfile.mkdtemp(prefix="spinerisk-pg-"))
    script = Path(__file__).resolve().parents[1] / "scripts" / "start-postgres.sh"
    # one server for the whole session: an MLflow server's pools, Dask workers and killed
    # runs (whose connections linger until the server notices) share it
    url = subprocess.run(["bash", str(script), str(data), str(port)], check=True,
                         capture_output=True, text=True,
                         env={**os.environ, "PG_MAX_CONNECTIONS": "300"}).stdout.strip()
    yield url
    owner = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    subprocess.run([*owner, f"{binaries[-1]}/pg_ctl", "-D", str(data), "-m", "fast", "stop"],
                   check=False, capture_output=True)
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def assert_sklearn_contract():
    """Check an estimator with scikit-learn's ``check_estimator``; all checks must pass.

    ``check_estimator`` rather than ``parametrize_with_checks``: the latter hands pytest a
    generator, which pytest 9 deprecates (an error under filterwarnings=error).
    """
    from sklearn.utils.estimator_checks import check_estimator

    def check(estimator) -> None:
        results = check_estimator(estimator, on_fail=None)
        failed = {r["check_name"]: str(r["exception"])[:200] for r in results
                  if r["status"] == "failed"}
        assert not failed

    return check
