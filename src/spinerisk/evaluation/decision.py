"""Decision curve analysis (Vickers & Elkin 2006) for binary and time-to-event outcomes.

Net benefit at threshold probability ``pt`` is ``TP/n - FP/n * pt / (1 - pt) - harm``.
A patient is test-positive when ``risk > pt`` (strictly greater), exactly as the R
package ``dcurves``; net interventions avoided is
``(NB_model - NB_treat_all) / (pt / (1 - pt))`` per patient.

For time-to-event outcomes the true/false-positive rates at horizon ``h`` come from the
Kaplan-Meier method (Vickers et al. 2008; the ``stdca`` function): among the test
positives, ``P(event by h)`` is ``1 - KM_pos(h)``, so ``TP/n = (1 - KM_pos(h)) * P(pos)``
and ``FP/n = KM_pos(h) * P(pos)``; treat-all uses the overall KM risk at ``h``.
When nobody tests positive, TP = FP = 0 and the net benefit is 0.
"""

from __future__ import annotations

import numpy as np

from spinerisk.evaluation._km import km_at
from spinerisk.evaluation._validate import as_1d, check_binary, check_thresholds, check_weights
from spinerisk.evaluation.results import DecisionCurve

__all__ = ["DEFAULT_THRESHOLDS", "decision_curve", "decision_curve_survival"]

DEFAULT_THRESHOLDS = np.round(np.arange(0.0, 1.0, 0.01), 2)


def _assemble(label, thresholds, n, pos_rate, test_pos, tp, fp, harm, horizon) -> DecisionCurve:
    """Stack treat-all, treat-none and the model into one long table."""
    t = thresholds
    odds = t / (1.0 - t)
    k = t.size
    all_tp = np.full(k, pos_rate)
    all_fp = np.full(k, 1.0 - pos_rate)
    with np.errstate(invalid="ignore", divide="ignore"):
        nb_all = all_tp - all_fp * odds
        nb_model = tp - fp * odds - harm
        strategies = {
            "all": (np.ones(k), all_tp, all_fp, np.zeros(k), nb_all),
            "none": (np.zeros(k), np.zeros(k), np.zeros(k), np.zeros(k), np.zeros(k)),
            label: (test_pos, tp, fp, np.full(k, harm), nb_model),
        }
        cols = {c: [] for c in DecisionCurve._COLUMNS}
        for name, (tpos, tpr, fpr, hrm, nb) in strategies.items():
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
    return DecisionCurve(**{c: np.concatenate(v) for c, v in cols.items()}, horizon=horizon)


def decision_curve(
    y, risk, thresholds=DEFAULT_THRESHOLDS, *, label: str = "model", harm: float = 0.0, weights=None
) -> DecisionCurve:
    """Net benefit of a model, treat-all and treat-none for a binary outcome.

    Parameters
    ----------
    y : 0/1 outcomes.
    risk : predicted probabilities in [0, 1].
    thresholds : threshold probabilities in [0, 1).
    label : name of the model in the ``variable`` column (not "all" or "none").
    harm : harm of the test, subtracted from the model's net benefit.
    weights : optional frequency weights.

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
    pos = risk[None, :] > t[:, None]
    tp = (pos @ (w * y)) / n_w
    fp = (pos @ (w * (1 - y))) / n_w
    test_pos = (pos @ w) / n_w
    return _assemble(label, t, round(n_w), float(np.sum(w * y) / n_w), test_pos, tp, fp, harm, None)


def decision_curve_survival(
    time, event, risk, horizon: float, thresholds=DEFAULT_THRESHOLDS, *,
    label: str = "model", harm: float = 0.0, weights=None,
) -> DecisionCurve:
    """Kaplan-Meier net benefit at a horizon for time-to-event outcomes.

    Parameters
    ----------
    time, event : follow-up time and 0/1 event indicator.
    risk : predicted risk of the event by ``horizon`` (in [0, 1]).
    horizon : time at which the risk is assessed (same units as ``time``).
    thresholds, label, harm, weights : as in :func:`decision_curve`.

    Returns
    -------
    DecisionCurve
        ``pos_rate`` is the overall Kaplan-Meier risk at the horizon; values match
        ``stdca`` (Vickers) for the model and treat-all strategies.
    """
    time = as_1d(time, "time")
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
    w = check_weights(weights, time.size)
    t = check_thresholds(thresholds)
    n_w = w.sum()
    pos_rate = 1.0 - km_at(time, event, horizon, w)
    test_pos = np.empty(t.size)
    tp = np.zeros(t.size)
    fp = np.zeros(t.size)
    for k, pt in enumerate(t):  # one KM per threshold: thresholds, not patients
        pos = risk > pt
        test_pos[k] = w[pos].sum() / n_w
        if test_pos[k] > 0:
            risk_pos = 1.0 - km_at(time[pos], event[pos], horizon, w[pos])
            tp[k] = risk_pos * test_pos[k]
            fp[k] = (1.0 - risk_pos) * test_pos[k]
    return _assemble(label, t, round(n_w), pos_rate, test_pos, tp, fp, harm, float(horizon))
