"""Decision curve analysis (Vickers & Elkin 2006) for binary and time-to-event outcomes.

Net benefit at threshold probability ``pt`` is ``TP/n - FP/n * pt / (1 - pt) - harm``.
A patient is test-positive when ``risk >= pt``, a risk of exactly 0 never being positive
(:func:`~spinerisk.evaluation.binary.positives`), exactly as R ``dcurves`` (which replaces
risks 0 and 1 by ``0 - eps`` and ``1 + eps`` and compares ``risk >= threshold``). Thresholds
may be 0 and 1 as in dcurves; at 1 the odds are infinite and the arithmetic is IEEE's, as R's
(treat-all -inf, a model with no false positives NaN). Net interventions avoided is
``(NB_model - NB_treat_all) / (pt / (1 - pt))`` per patient.

Case-control data (``prevalence=``, binary only): the rates come from Bayes' rule with the
population prevalence, as dcurves: ``TP/n = P(pos | case) * prevalence`` and
``FP/n = P(pos | control) * (1 - prevalence)``; ``test_pos_rate`` stays the sample's
(dcurves does the same).

For time-to-event outcomes the true/false-positive rates at horizon ``h`` come from the
Kaplan-Meier method (Vickers et al. 2008; the ``stdca`` function): among the test
positives, ``P(event by h)`` is ``1 - KM_pos(h)``, so ``TP/n = (1 - KM_pos(h)) * P(pos)``
and ``FP/n = KM_pos(h) * P(pos)``; treat-all uses the overall KM risk at ``h``.
When nobody tests positive, TP = FP = 0 and the net benefit is 0. When the test positives'
last follow-up time is before ``h`` their KM risk is not defined: the row is NA with
``na_reason = "horizon_beyond_follow_up"`` (R dcurves returns NA there too). When the whole
sample's follow-up ends before ``h`` the decision curve cannot be computed and a ValueError
says so (R dcurves stops with an error as well).
"""

from __future__ import annotations

import numpy as np

from spinerisk.evaluation._km import km_at
from spinerisk.evaluation._validate import (
    as_1d,
    beyond_follow_up,
    check_binary,
    check_horizon,
    check_thresholds,
    check_times,
    check_weights,
)
from spinerisk.evaluation.binary import positives
from spinerisk.evaluation.results import DecisionCurve

__all__ = ["DEFAULT_THRESHOLDS", "decision_curve", "decision_curve_survival"]

DEFAULT_THRESHOLDS = np.round(np.arange(0.0, 1.0, 0.01), 2)


def _assemble(label, thresholds, n, pos_rate, test_pos, tp, fp, harm, horizon, reasons=None) -> DecisionCurve:
    """Stack treat-all, treat-none and the model into one long table."""
    t = thresholds
    k = t.size
    with np.errstate(divide="ignore"):
        odds = t / (1.0 - t)
    none = np.full(k, None, dtype=object)
    model_reasons = none if reasons is None else reasons
    all_tp = np.full(k, pos_rate)
    all_fp = np.full(k, 1.0 - pos_rate)
    with np.errstate(invalid="ignore", divide="ignore"):
        nb_all = all_tp - all_fp * odds
        nb_model = tp - fp * odds - harm
        strategies = {
            "all": (np.ones(k), all_tp, all_fp, np.zeros(k), nb_all, none),
            "none": (np.zeros(k), np.zeros(k), np.zeros(k), np.zeros(k), np.zeros(k), none),
            label: (test_pos, tp, fp, np.full(k, harm), nb_model, model_reasons),
        }
        cols = {c: [] for c in DecisionCurve._COLUMNS}
        for name, (tpos, tpr, fpr, hrm, nb, why) in strategies.items():
            cols["variable"].append(np.full(k, name, dtype=object))
            cols["n"].append(np.full(k, n))
            cols["threshold"].append(t)
            cols["pos_rate"].append(np.full(k, pos_rate))
            cols["test_pos_rate"].append(tpos)
            cols["tp_rate"].append(tpr)
            cols["fp_rate"].append(fpr)
            cols["harm"].append(hrm)
            cols["net_benefit"].append(nb)
            cols["net_intervention_avoided"].append((nb - nb_all) / odds)
            cols["na_reason"].append(why)
    return DecisionCurve(**{c: np.concatenate(v) for c, v in cols.items()}, horizon=horizon)


def decision_curve(
    y, risk, thresholds=DEFAULT_THRESHOLDS, *, label: str = "model", harm: float = 0.0, weights=None,
    prevalence: float | None = None,
) -> DecisionCurve:
    """Net benefit of a model, treat-all and treat-none for a binary outcome.

    Parameters
    ----------
    y : 0/1 outcomes.
    risk : predicted probabilities in [0, 1].
    thresholds : threshold probabilities in [0, 1].
    label : name of the model in the ``variable`` column (not "all" or "none").
    harm : harm of the test, subtracted from the model's net benefit.
    weights : optional frequency weights.
    prevalence : population prevalence for case-control data (dcurves' ``prevalence=``);
        None estimates it from the data.

    Returns
    -------
    DecisionCurve
        Same columns and values as ``dcurves::dca(...)$dca`` (checked to 1e-6).
    """
    if label in ("all", "none"):
        raise ValueError(f"label={label!r} clashes with a reference strategy; choose another model label.")
    y, risk, w = check_binary(y, risk, weights)
    t = check_thresholds(thresholds)
    n_w = w.sum()
    pos = positives(risk, t)
    test_pos = (pos @ w) / n_w
    if prevalence is None:
        tp = (pos @ (w * y)) / n_w
        fp = (pos @ (w * (1 - y))) / n_w
        rate = float(np.sum(w * y) / n_w)
    else:
        rate = _check_prevalence(prevalence)
        tp = (pos @ (w * y)) / np.sum(w * y) * rate
        fp = (pos @ (w * (1 - y))) / np.sum(w * (1 - y)) * (1.0 - rate)
    return _assemble(label, t, round(n_w), rate, test_pos, tp, fp, harm, None)


def _check_prevalence(prevalence) -> float:
    p = float(prevalence)
    if not 0 < p < 1:
        raise ValueError(f"prevalence must be a proportion strictly between 0 and 1; got {prevalence!r}. "
                         "Pass the outcome's prevalence in the population the case-control sample came from.")
    return p


def decision_curve_survival(
    time, event, risk, horizon: float, thresholds=DEFAULT_THRESHOLDS, *,
    label: str = "model", harm: float = 0.0, weights=None,
) -> DecisionCurve:
    """Kaplan-Meier net benefit at a horizon for time-to-event outcomes.

    Parameters
    ----------
    time, event : follow-up time (>= 0) and 0/1 event indicator.
    risk : predicted risk of the event by ``horizon`` (in [0, 1]).
    horizon : time at which the risk is assessed (same units as ``time``).
    thresholds, label, harm, weights : as in :func:`decision_curve`.

    Returns
    -------
    DecisionCurve
        ``pos_rate`` is the overall Kaplan-Meier risk at the horizon; values match R
        ``dcurves::dca(Surv(...) ~ risk, time = horizon)``. Rows whose test positives are
        not followed to the horizon are NA (``na_reason``).
    """
    time = check_times(time)
    event = as_1d(event, "event")
    risk = as_1d(risk, "risk")
    if not (time.size == event.size == risk.size):
        raise ValueError(f"time, event and risk must have equal length; got {time.size}, {event.size}, {risk.size}.")
    if ((event != 0) & (event != 1)).any():
        raise ValueError("event must be coded 0/1 (1 = event); recode it.")
    if ((risk < 0) | (risk > 1)).any():
        raise ValueError("risk must be a probability in [0, 1] at the horizon; pass predicted risks, not scores.")
    if label in ("all", "none"):
        raise ValueError(f"label={label!r} clashes with a reference strategy; choose another model label.")
    horizon = check_horizon(horizon)
    w = check_weights(weights, time.size)
    t = check_thresholds(thresholds)
    if beyond_follow_up(time, horizon, w):
        raise ValueError(
            f"horizon={horizon} is beyond the last follow-up time ({time[w > 0].max():g}): the risk at the "
            "horizon cannot be estimated, so no decision curve exists. Choose a horizon within follow-up."
        )
    n_w = w.sum()
    pos_rate = 1.0 - km_at(time, event, horizon, w)
    pos = positives(risk, t)
    test_pos = (pos @ w) / n_w
    risk_pos = np.zeros(t.size)
    reasons = np.full(t.size, None, dtype=object)
    for k in range(t.size):  # one KM per threshold: thresholds, not patients
        rows = pos[k] & (w > 0)
        if not rows.any():
            continue  # nobody positive: TP = FP = 0 (dcurves returns 0)
        if beyond_follow_up(time[rows], horizon):
            risk_pos[k] = np.nan
            reasons[k] = "horizon_beyond_follow_up"
        else:
            risk_pos[k] = 1.0 - km_at(time[rows], event[rows], horizon, w[rows])
    tp = risk_pos * test_pos
    fp = (1.0 - risk_pos) * test_pos
    return _assemble(label, t, round(n_w), pos_rate, test_pos, tp, fp, harm, float(horizon), reasons)
