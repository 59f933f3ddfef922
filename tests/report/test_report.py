"""The validation report: sections in order, self-contained HTML, a PDF that renders,
and never a patient-level row."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pandas as pd
import pytest

from spinerisk.cohort import SiteProfile, simulate
from spinerisk.report import write_report
from spinerisk.validation import (
    development_reference,
    eligible_rows,
    spine_task_spec,
    validate_predictions,
)
from spinerisk.validation.updating import risk_to_lp


@pytest.fixture(scope="module")
def site(seed):
    """A simulated spine site (with patient and episode identifiers) and its report."""
    spec = spine_task_spec("residual_pain")
    dev = simulate(1500, site_profiles=[SiteProfile("DEV")], seed=seed, tasks=("residual_pain",))
    keep = eligible_rows(dev.frame, spec).keep
    reference = development_reference(dev.frame[keep].reset_index(drop=True), spec,
                                      risk_to_lp(dev.truth["true_risk"].to_numpy()[keep], False))
    new = simulate(1500, site_profiles=[SiteProfile("NEW", age_shift=5, outcome_intercept=0.4)],
                   seed=seed + 1, tasks=("residual_pain",))
    result = validate_predictions(new.frame, new.truth["true_risk"].to_numpy(), spec,
                                  site="NEW", model="models:/spinerisk-residual_pain@candidate",
                                  development=reference, n_boot=50, seed=seed)
    return new.frame, result


@pytest.fixture(scope="module")
def written(site, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return write_report(site[1].to_dict(), out)


def _pdf_text(path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (Debian poppler-utils) is not installed")
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


def test_sections_in_order(written):
    html = written["html"].read_text()
    heads = re.findall(r"<h2>([^<]+)</h2>", html)
    assert [h.split(".")[0] for h in heads[:7]] == list("1234567")
    assert "Verdict:" in html and "TRIPOD+AI" in html


def test_html_is_self_contained(written):
    html = written["html"].read_text()
    assert "<script" not in html and "http://" not in html and "https://" not in html
    images = re.findall(r'<img[^>]+src="([^"]+)"', html)
    assert len(images) >= 4 and all(src.startswith("data:image/png;base64,") for src in images)


def test_pdf_renders(written, tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (Debian poppler-utils) is not installed")
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(written["pdf"]),
                    str(tmp_path / "page")], check=True)
    png = next(tmp_path.glob("page*.png"))
    import matplotlib.image as mpimg

    pixels = mpimg.imread(png)
    assert pixels.shape[0] > 300 and pixels.std() > 0.01  # a page with content, not blank
    assert "1. Verdict" in _pdf_text(written["pdf"])


def find_leaks(frame: pd.DataFrame, text: str) -> list[str]:
    """Identifiers and exact input rows (in any common serialisation) found in ``text``."""
    flat = re.sub(r"\s+", " ", text)
    ids = frame["patient_id"].astype(str).unique() if "patient_id" in frame else []
    leaks = [i for i in ids if i in text]
    for row in frame.astype(str).itertuples(index=False):
        values = [v for v in row if v not in ("nan", "<NA>", "None")]
        for sep in (",", "\t", " ", " | ", "</td><td>", '", "'):
            if sep.join(values) in (flat if sep == " " else text):
                leaks.append(sep.join(values)[:60])
    return leaks


def test_no_patient_level_row_anywhere(site, written):
    frame, result = site
    texts = {"html": written["html"].read_text(), "json": written["json"].read_text(),
             "pdf": _pdf_text(written["pdf"])}
    for kind, text in texts.items():
        assert find_leaks(frame, text) == [], kind

    # no per-patient vector: every list in the JSON is much shorter than the row count
    def lengths(node):
        if isinstance(node, list):
            yield len(node)
            for v in node:
                yield from lengths(v)
        elif isinstance(node, dict):
            for v in node.values():
                yield from lengths(v)
    assert max(lengths(json.loads(texts["json"]))) < result.sample_size["n"] / 5


def test_small_cells_never_reach_the_report(site):
    report = site[1].to_dict()
    for row in report["subgroups"]:
        if row["status"] == "reported":
            assert min(row["events"], row["non_events"]) >= report["settings"]["min_count"]
        else:
            assert "events" not in row and "metrics" not in row
    hist = report["linear_predictor_histogram"]["counts"]
    assert all(c is None or c >= 10 for c in hist)


def test_scanner_catches_a_leaked_row(site, written):
    """The scan can fail: one row pasted into the HTML (as a table row) is found."""
    frame, _ = site
    values = [v for v in frame.astype(str).iloc[3] if v not in ("nan", "<NA>", "None")]
    html = written["html"].read_text()
    leaked = html.replace("</body>", "<tr><td>" + "</td><td>".join(values) + "</td></tr></body>")
    assert find_leaks(frame, leaked)
    anonymous = frame.drop(columns=["patient_id", "episode_id"])  # the row alone, no ids
    assert find_leaks(anonymous, html) == []
    row = ",".join(v for v in anonymous.astype(str).iloc[5] if v not in ("nan", "<NA>", "None"))
    assert find_leaks(anonymous, html + row)


def test_subgroup_levels_read_as_clinical_names():
    from spinerisk.report.content import _subgroups

    section = _subgroups({"settings": {"min_count": 10}, "subgroups": [
        {"subgroup": "procedure", "level": "tf_esi", "status": "suppressed", "note": "small"},
        {"subgroup": "procedure", "level": None, "status": "not available", "note": "absent"}]})
    levels = [row[1] for row in section.tables[0].rows]
    assert levels == ["transforaminal epidural steroid injection", "-"]
