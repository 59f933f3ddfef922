"""Estimators with the scikit-learn contract: the task-level :class:`RiskModel` and the
ridge Cox model; base learners by name in :mod:`spinerisk.models.learners`."""

from spinerisk.models.calibration import CALIBRATIONS
from spinerisk.models.cox import CoxPH, survival_arrays
from spinerisk.models.imputed import ImputedRiskModel
from spinerisk.models.learners import BINARY_LEARNERS, LEARNERS, SURVIVAL_LEARNERS
from spinerisk.models.risk_model import RiskModel

__all__ = ["BINARY_LEARNERS", "CALIBRATIONS", "LEARNERS", "SURVIVAL_LEARNERS", "CoxPH",
           "ImputedRiskModel", "RiskModel", "survival_arrays"]
