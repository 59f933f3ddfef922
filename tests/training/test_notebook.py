"""The quickstart notebook (jupytext percent format) runs top to bottom."""

from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.py"


@pytest.mark.slow  # a kernel plus a full (small) experiment: ~1-2 min on 2 loaded cores
def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("SPINERISK_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")  # the kernel is a separate process
    notebook = jupytext.read(NOTEBOOK)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code"
               for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "predicted probability of >= 50% pain relief" in printed
