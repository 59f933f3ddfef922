"""Displays: PNG and self-contained HTML files are written from result objects."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.special import expit
from sklearn.metrics import roc_curve as sk_roc_curve

from spinerisk.evaluation import calibration_curve, decision_curve
from spinerisk.evaluation.binary import roc_curve
from spinerisk.evaluation.plots import (
    plot_calibration,
    plot_decision_curve,
    plot_roc,
    prediction_histogram,
    to_png_bytes,
)


@pytest.fixture(scope="module")
def sample():
    rng = np.random.default_rng(3)
    p = expit(rng.normal(-1, 1, 500))
    y = (rng.uniform(size=p.size) < p).astype(float)
    return y, np.round(p, 3)


def test_roc_points_match_sklearn(sample):
    y, p = sample
    roc = roc_curve(y, p)
    fpr, tpr, _ = sk_roc_curve(y, p, drop_intermediate=False)
    np.testing.assert_allclose(roc.fpr, fpr)
    np.testing.assert_allclose(roc.tpr, tpr)


def test_histogram_hides_small_cells():
    counts, _ = prediction_histogram(np.r_[np.full(30, 0.11), np.full(3, 0.52)], bins=10)
    assert counts.tolist() == [0, 30, 0, 0, 0, 0, 0, 0, 0, 0]


@pytest.mark.parametrize("suffix", [".png", ".html"])
def test_all_plots_write_files(sample, tmp_path, suffix):
    y, p = sample
    files = [
        plot_roc(roc_curve(y, p), tmp_path / f"roc{suffix}"),
        plot_calibration(calibration_curve(y, p, method="loess"), tmp_path / f"cal{suffix}", risk=p),
        plot_decision_curve(decision_curve(y, p, np.arange(0, 0.6, 0.02)), tmp_path / f"dca{suffix}"),
    ]
    for f in files:
        data = f.read_bytes()
        if suffix == ".png":
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
        else:
            text = data.decode()
            assert re.search(r"<script[^>]*\bsrc=", text) is None  # no external script (CDN)
            assert len(text) > 1_000_000  # plotly.js embedded inline


def test_plots_draw_into_a_buffer_as_they_write_files(sample, tmp_path):
    """A binary buffer receives the same PNG as the file; to_png_bytes saves any figure."""
    import io

    import matplotlib.pyplot as plt

    y, p = sample
    roc = roc_curve(y, p)
    buffer = io.BytesIO()
    assert plot_roc(roc, buffer) is buffer
    png = buffer.getvalue()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert png == plot_roc(roc, tmp_path / "roc.png").read_bytes()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    assert to_png_bytes(fig)[:8] == b"\x89PNG\r\n\x1a\n" and not plt.fignum_exists(fig.number)


def test_bad_suffix_is_explained(sample, tmp_path):
    y, p = sample
    with pytest.raises(ValueError, match=".png"):
        plot_roc(roc_curve(y, p), tmp_path / "roc.svg")
