"""The README's command blocks run as written (against a fresh store of their own).

Each ```bash block is either run here, line by line (``export NAME=value`` and
``uv run spinerisk ...``), or is one of the set-up blocks that CI runs itself.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spinerisk.cli import app

ROOT = Path(__file__).resolve().parents[1]
RUN_BY_CI = {"make demo", "make test"}  # .ci/run and the Makefile run these themselves


def bash_blocks() -> list[list[str]]:
    """The command lines of every ```bash block (comments and blank lines dropped)."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```bash\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)
    return [[line.split("  #")[0].strip() for line in block.splitlines()
             if line.strip() and not line.lstrip().startswith("#")] for block in blocks]


def test_every_bash_block_is_run_here_or_by_ci():
    blocks = bash_blocks()
    runnable = [b for b in blocks if all(_runnable(line) for line in b)]
    assert len(runnable) >= 1
    for block in blocks:
        assert block in runnable or set(block) <= RUN_BY_CI, block


def _runnable(line: str) -> bool:
    return line.startswith(("export ", "uv run spinerisk "))


@pytest.fixture()
def mlflow_uris_restored():
    """The block points mlflow at a store relative to its folder; point it back after."""
    import mlflow

    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    yield
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry)


@pytest.mark.slow  # trains one small model and writes one validation report: ~30 s
def test_readme_command_blocks_run(tmp_path, monkeypatch, mlflow_uris_restored):
    for folder in ("configs", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    monkeypatch.chdir(tmp_path)
    for block in bash_blocks():
        if not all(_runnable(line) for line in block):
            continue
        for line in block:
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                monkeypatch.setenv(name, value)
                continue
            result = CliRunner().invoke(app, shlex.split(line)[3:])
            assert result.exit_code == 0, (line, result.output)
    assert (tmp_path / "quickstart" / "NEW" / "report.html").is_file()
