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
