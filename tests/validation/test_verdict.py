"""Every verdict sentence agrees with the numbers it was written from (a table of cases)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from spinerisk.evaluation import DecisionCurve, Estimate
from spinerisk.validation import FIT, NOT_TRANSPORTABLE, RECALIBRATE, decide
from spinerisk.validation.updating import LRTest, UpdatingResult
from spinerisk.validation.verdict import MORE_DATA, NO_BENEFIT, VerdictRules

GRID = np.round(np.arange(0.10, 0.401, 0.01), 2)
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def _curve(model_minus_best: np.ndarray) -> DecisionCurve:
    """A decision curve whose model beats the best default by ``model_minus_best``."""
    k = GRID.size
    nb_all = 0.3 - GRID  # treat-all net benefit, crossing 0 at 0.30
    nb_model = np.maximum(nb_all, 0.0) + model_minus_best
    variable = np.repeat(["model", "all", "none"], k)
    nb = np.concatenate([nb_model, nb_all, np.zeros(k)])
    zeros = np.zeros(3 * k)
    return DecisionCurve(variable, np.full(3 * k, 500), np.tile(GRID, 3), zeros + 0.3, zeros,
                         zeros, zeros, zeros, nb, zeros, np.full(3 * k, None, dtype=object))


def _updating(choice: str, survival: bool) -> UpdatingResult:
    order = ("original", "intercept", "recalibration")
    tests = []
    for i, m in enumerate(order):
        rejected = m != choice
        tests.append(LRTest(m, 25.5 - 5 * i if rejected else 3.2, 6 - i,
                            0.0004 if rejected else 0.36, rejected))
        if not rejected:
            break
    return UpdatingResult({}, tests, choice, "", 0.05, {}, survival)


def _e(est, lo, hi) -> Estimate:
    return Estimate(est, lo, hi, 0.95, "test")


# name, C, CITL, slope, closed-test choice, survival, (n, required n), (events, non-events),
# net-benefit margin over the grid, expected decision, expected provisional
CASES = [
    ("all good", _e(.78, .74, .82), _e(.02, -.10, .14), _e(.97, .85, 1.09), "original", False,
     (3000, 1500), (900, 2100), np.full(GRID.size, .02), FIT, False),
    ("size not met", _e(.78, .74, .82), _e(.02, -.10, .14), _e(.97, .85, 1.09), "original",
     False, (900, 4102), (300, 600), np.full(GRID.size, .02), FIT, True),
    ("baseline shift", _e(.75, .72, .78), _e(.60, .50, .70), _e(.98, .90, 1.06), "intercept",
     False, (4000, 2000), (1500, 2500), np.full(GRID.size, .01), RECALIBRATE, False),
    ("cox slope", _e(.70, .67, .73), _e(.30, .20, .40), _e(.70, .60, .80), "recalibration",
     True, (5000, 3000), (800, 3900), np.full(GRID.size, .01), RECALIBRATE, False),
    ("small shift", _e(.75, .72, .78), _e(.08, .02, .14), _e(.98, .90, 1.06), "intercept",
     False, (4000, 2000), (1500, 2500), np.full(GRID.size, .01), FIT, False),
    ("effects differ", _e(.80, .76, .84), _e(-.57, -.89, -.25), _e(1.02, .80, 1.24),
     "revision", False, (2000, 1600), (700, 1300), np.full(GRID.size, .01), NOT_TRANSPORTABLE,
     False),
    ("revision, calibrated", _e(.85, .81, .90), _e(-.08, -.38, .22), _e(.88, .68, 1.08),
     "revision", False, (303, 1623), (139, 164), np.full(GRID.size, .01), FIT, True),
    ("poor C", _e(.55, .44, .65), _e(.01, -.1, .12), _e(.95, .8, 1.1), "original", True,
     (3000, 2000), (400, 2500), np.full(GRID.size, .01), NOT_TRANSPORTABLE, False),
    ("no benefit", _e(.78, .74, .82), _e(.02, -.10, .14), _e(.97, .85, 1.09), "original", False,
     (3000, 1500), (900, 2100), np.full(GRID.size, -.01), NO_BENEFIT, False),
    ("slope off, no update chosen", _e(.76, .68, .83), _e(.08, -.29, .46), _e(.69, .43, .95),
     "original", False, (200, 1500), (149, 51), np.full(GRID.size, .01), MORE_DATA, True),
    ("benefit lost above 0.25", _e(.78, .74, .82), _e(.02, -.10, .14), _e(.97, .85, 1.09),
     "original", False, (3000, 1500), (900, 2100), np.where(GRID <= .25, .02, -.05), FIT, False),
]


def _allowed_numbers(c, citl, slope, upd, size, counts, rules) -> set[str]:
    out = {f"{v:.2f}" for e in (c, citl, slope) for v in (e.estimate, e.lower, e.upper)}
    for t in upd.tests:
        out |= {f"{t.statistic:.1f}", str(t.df), f"{t.p_value:.3g}"}
    out |= {f"{t:.2f}" for t in GRID} | {str(v) for v in (*size, *counts)}
    out |= {str(v) for v in rules.to_dict().values()} | {"0", "1", "95"}
    return out


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_verdict_agrees_with_its_numbers(case):
    (_, c, citl, slope, choice, survival, (n, need), (events, non_events), margin,
     expected, expected_provisional) = case
    rules = VerdictRules()
    upd = _updating(choice, survival)
    size = {"n": n, "required_n": need, "meets_requirement": n >= need}
    counts = {"events": events, "non_events": non_events}
    v = decide(c, citl, slope, upd, counts, rules, sample_size=size, decision_curve=_curve(margin))
    text = " ".join(v.reasons)
    assert v.decision == expected, v.reasons
    assert v.provisional == expected_provisional
    assert ("provisional" in text) == expected_provisional
    assert ("Sample size NOT met" in text) == (n < need)
    assert v.recommended_update == choice and v.recommended_update_label in text
    # every number written is one of the numbers it was written from
    allowed = _allowed_numbers(c, citl, slope, upd, (n, need), (events, non_events), rules)
    assert set(NUMBER.findall(text)) <= allowed, set(NUMBER.findall(text)) - allowed
    # "miscalibrated" only when a calibration CI excludes its ideal value
    off = not (citl.lower <= 0 <= citl.upper) or not (slope.lower <= 1 <= slope.upper)
    assert ("Miscalibrated" in text) == off
    # the model family's words: never "logistic" or log-odds for a Cox model
    if survival:
        assert "logistic" not in text and "log-odds" not in text
    else:
        assert "hazard" not in text
    # the net-benefit sentence names the thresholds where the model beats both defaults
    better = GRID[margin > 0]
    if better.size == GRID.size:
        assert "at every threshold from 0.10 to 0.40" in text
    elif better.size == 0:
        assert "not above treat-all or treat-none at any threshold" in text
    else:
        assert f"at thresholds {better[0]:.2f} to {better[-1]:.2f}; not above" in text
