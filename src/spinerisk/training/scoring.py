"""The tuning score: a proper score of the base learner on held-out inner folds.

Binary tasks: log loss of ``expit(margin)``. Time-to-event: minus the Breslow partial
log-likelihood per event of the held-out margin (risk sets within the held-out fold).
Both are computed before calibration, which is fitted later on out-of-fold margins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.metrics import log_loss

from spinerisk.features import TaskSpec
from spinerisk.models import RiskModel
from spinerisk.models.cox import partial_log_likelihood
from spinerisk.training.cv import Folds
from spinerisk.training.data import TaskData

Report = Callable[[int, float], None]


def held_out_loss(task: TaskSpec, learner: str, margin: np.ndarray, data: TaskData) -> float:
    """Proper score (lower is better) of a margin on held-out rows."""
    if task.is_survival:
        return -partial_log_likelihood(data.y["time"].to_numpy(), data.event, margin)
    return float(log_loss(data.event, np.clip(expit(margin), 1e-12, 1 - 1e-12), labels=[0, 1]))


def cv_loss(task: TaskSpec, learner: str, params: dict[str, Any], data: TaskData,
            folds: Folds, seed: int, n_knots: int = 4, report: Report | None = None) -> float:
    """Mean held-out loss over ``folds``; ``report(k, running_mean)`` after each fold."""
    losses = []
    for k, (train, test) in enumerate(folds.splits):
        fit = data.subset(train)
        model = RiskModel(task, learner, params=params, calibration="none", n_knots=n_knots,
                          random_state=seed).fit(fit.X, fit.y)
        held = data.subset(test)
        losses.append(held_out_loss(task, learner, model.base_margin(held.X), held))
        if report is not None:
            report(k, float(np.mean(losses)))
    return float(np.mean(losses))
