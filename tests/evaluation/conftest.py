"""Fixtures for evaluation tests: Rotterdam (development) / GBSG (validation) data prepared
exactly as McLernon et al. 2023, and the refitted basic Cox model.

Recoding (tests/golden/rotterdam_gbsg/SOURCE.txt and the repo's 01_predsurv_minimal_RMD.Rmd):
RFS = max(recur, death); for the 43 patients who died without recurrence with rtime < dtime
the death time is used; times in years (days / 365.25); administrative censoring at 5 years
(survSplit at 5); pgr and nodes winsorised at their type-1 99th centiles in Rotterdam
(1360, 19); nodes enter as nodes2 + rcs(nodes2, knots 0, 1, 9) (Hmisc norm=2); size
categories <=20, 20-50, >50; grade 3 versus 1-2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spinerisk.evaluation._splines import rcs_basis
from spinerisk.evaluation.cox import fit_cox

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "rotterdam_gbsg"
HORIZON = 5.0


def _r_quantile_type1(x: np.ndarray, p: float) -> float:
    return float(np.quantile(x, p, method="inverted_cdf"))


def _censor_at(time, event, horizon):
    over = time > horizon
    return np.where(over, horizon, time), np.where(over, 0.0, event)


def load() -> tuple[pd.DataFrame, pd.DataFrame]:
    rott = pd.read_csv(GOLDEN / "rotterdam.csv")
    gbsg = pd.read_csv(GOLDEN / "gbsg.csv")
    ryear = rott.rtime / 365.25
    rfs = np.maximum(rott.recur, rott.death)
    fix = (rfs == 1) & (rott.recur == 0) & (rott.death == 1) & (rott.rtime < rott.dtime)
    ryear = np.where(fix, rott.dtime / 365.25, ryear)
    pgr99 = _r_quantile_type1(rott.pgr.values, 0.99)
    nodes99 = _r_quantile_type1(rott.nodes.values, 0.99)

    def covariates(size_cat, nodes, grade):
        nodes2 = np.minimum(nodes, nodes99)
        return pd.DataFrame(
            {
                "csize20_50": (size_cat == "20-50").astype(float),
                "csize_gt50": (size_cat == ">50").astype(float),
                "nodes2": nodes2.astype(float),
                "nodes3": rcs_basis(nodes2.astype(float), np.array([0.0, 1.0, 9.0]))[:, 0],
                "grade3": (grade == 3).astype(float),
            }
        )

    dev = covariates(rott["size"].values, rott.nodes.values, rott.grade.values)
    dev["time"], dev["event"] = _censor_at(np.asarray(ryear, float), np.asarray(rfs, float), HORIZON)
    gsize = pd.cut(gbsg["size"], [-1, 20, 50, 500], labels=["<=20", "20-50", ">50"]).astype(str).values
    val = covariates(gsize, gbsg.nodes.values, gbsg.grade.values)
    val["time"], val["event"] = _censor_at(gbsg.rfstime.values / 365.25, gbsg.status.values.astype(float), HORIZON)
    dev.attrs.update(pgr99=pgr99, nodes99=nodes99)
    return dev, val


COVARIATES = ["csize20_50", "csize_gt50", "nodes2", "nodes3", "grade3"]


def reference() -> pd.DataFrame:
    return pd.read_csv(GOLDEN / "reference_numbers_basic_model.csv")


@pytest.fixture(scope="session")
def rotterdam_gbsg():
    """(dev, val, cox_fit, reference table) with the basic model refitted on Rotterdam."""
    dev, val = load()
    fit = fit_cox(dev[COVARIATES].values, dev.time.values, dev.event.values)
    return dev, val, fit, reference()
