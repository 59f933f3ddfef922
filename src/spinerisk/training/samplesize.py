"""Is the training data large enough for the model? Riley's criteria before training.

The number of candidate parameters is the width of the encoded design (every spline
term, dummy and missing indicator the preprocessing makes), the outcome rate is the
data's. The anticipated Cox-Snell R2 is the config's, or, when none is given, 15% of
its maximum possible value: the conservative default Riley et al. (BMJ 2020;368:m441)
suggest when nothing is known about the model's performance. Criteria are computed by
:func:`spinerisk.evaluation.sample_size_binary` and
:func:`spinerisk.evaluation.sample_size_survival` (checked against R ``pmsampsize``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from spinerisk import evaluation as ev
from spinerisk.evaluation.results import SampleSizeResult
from spinerisk.features import TaskSpec, build_preprocessor

#: share of the maximum Cox-Snell R2 assumed when no anticipated value is configured
CONSERVATIVE_SHARE = 0.15


@dataclass(frozen=True)
class SampleSizeCheck:
    """Riley's required size against the rows available."""

    n: int
    events: int
    parameters: int
    anticipated_cs_r2: float
    r2_source: str
    riley: SampleSizeResult

    @property
    def required(self) -> int:
        return int(self.riley.sample_size)

    @property
    def met(self) -> bool:
        return self.n >= self.required

    def message(self) -> str:
        """One paragraph for the console and the log."""
        verdict = "met" if self.met else "NOT met"
        return (f"Sample size (Riley et al.): {self.parameters} encoded parameters, "
                f"{self.events} events in {self.n} rows, anticipated Cox-Snell R2 "
                f"{self.anticipated_cs_r2:.3f} ({self.r2_source}): required n = "
                f"{self.required} ({self.riley.driving_criterion}); {verdict}.")

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "events": self.events, "parameters": self.parameters,
                "anticipated_cs_r2": self.anticipated_cs_r2, "r2_source": self.r2_source,
                "required_n": self.required, "met": self.met,
                "driving_criterion": self.riley.driving_criterion}


def encoded_parameters(task: TaskSpec, learner: str, n_knots: int, X: pd.DataFrame) -> int:
    """Columns of the encoded design the learner sees (candidate parameters)."""
    return len(build_preprocessor(task, learner, n_knots).fit(X).feature_names_)


def _max_cs_r2(events_per_person: float, survival: bool) -> float:
    """Largest Cox-Snell R2 the outcome allows (Riley et al. 2019, 2020)."""
    e = events_per_person
    ln_null = e * math.log(e) - e if survival else e * math.log(e) + (1 - e) * math.log(1 - e)
    return 1 - math.exp(2 * ln_null)


def check_sample_size(task: TaskSpec, X: pd.DataFrame, y, parameters: int,
                      anticipated_cs_r2: float | None = None) -> SampleSizeCheck:
    """Riley's criteria for developing this model on these rows.

    Parameters
    ----------
    task : TaskSpec
    X : the training rows; y : 0/1 outcome, or a frame with ``time`` and ``event``.
    parameters : encoded candidate parameters (:func:`encoded_parameters`).
    anticipated_cs_r2 : anticipated Cox-Snell R2; default 15% of the maximum.
    """
    n = len(X)
    if task.is_survival:
        time = np.asarray(y["time"], float)
        events = int(np.asarray(y["event"]).sum())
        mean_followup = float(time.mean())
        rate = events / float(time.sum())
        share = rate * mean_followup
    else:
        events = int(np.asarray(y).sum())
        share = events / n
    source = "configured"
    if anticipated_cs_r2 is None:
        anticipated_cs_r2 = round(CONSERVATIVE_SHARE * _max_cs_r2(share, task.is_survival), 4)
        source = f"{CONSERVATIVE_SHARE:.0%} of the maximum, the conservative default"
    if task.is_survival:
        riley = ev.sample_size_survival(cs_r2=anticipated_cs_r2, parameters=parameters,
                                        rate=rate, horizon=float(task.horizon),
                                        mean_followup=mean_followup)
    else:
        riley = ev.sample_size_binary(parameters=parameters, prevalence=share,
                                      cs_r2=anticipated_cs_r2)
    return SampleSizeCheck(n, events, parameters, anticipated_cs_r2, source, riley)


def learning_curve(fitter, data, folds, params: dict[str, Any], fractions: tuple[float, ...],
                   seed: int) -> dict[str, Any]:
    """Out-of-fold performance against training size (optional, ``sample_size.learning_curve``).

    In each outer fold a random share of the training part (by patient when the data
    have patient ids) is drawn for every fraction; the model is fitted on it with
    ``params`` (no retuning) and scored on the fold's held-out part. Pooled held-out risks
    give one C-statistic (time-dependent AUC at the horizon for time-to-event) and one
    Brier score per fraction.

    Returns
    -------
    dict with ``fractions``, ``n`` (mean training rows), ``c`` and ``brier`` lists.
    """
    from spinerisk import evaluation

    rng = np.random.default_rng(seed)
    risks = {f: np.full(data.n, np.nan) for f in fractions}
    sizes = {f: [] for f in fractions}
    for train, test in folds.splits:
        units = np.unique(data.groups[train])
        order = rng.permutation(units)
        for f in fractions:
            chosen = order[: max(2, round(f * units.size))]
            rows = train[np.isin(data.groups[train], chosen)]
            sizes[f].append(rows.size)
            model = fitter.fit(data.subset(rows), params)
            risks[f][test] = fitter.predict(model, data.subset(test))
    c, brier = [], []
    for f in fractions:
        r = risks[f]
        if fitter.task.is_survival:
            time, event, h = data.y["time"].to_numpy(), data.event, fitter.task.horizon
            c.append(evaluation.time_dependent_auc(time, event, r, h).estimate)
            brier.append(evaluation.brier_survival(time, event, r, h)["brier"].estimate)
        else:
            c.append(evaluation.auc(data.event, r, ci="none").estimate)
            brier.append(evaluation.brier_score(data.event, r).estimate)
    return {"fractions": list(fractions), "n": [float(np.mean(sizes[f])) for f in fractions],
            "c": [float(v) for v in c], "brier": [float(v) for v in brier]}


def save_learning_curve(curve: dict[str, Any], required_n: int, path) -> None:
    """C-statistic and Brier score against training rows, with Riley's required n (PNG)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, key, label in zip(axes, ("c", "brier"), ("C-statistic (held out)", "Brier score")):
        ax.plot(curve["n"], curve[key], marker="o")
        ax.axvline(required_n, color="tab:red", ls="--", lw=0.8, label="Riley's required n")
        ax.set(xlabel="training rows (mean over outer folds)", ylabel=label)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
