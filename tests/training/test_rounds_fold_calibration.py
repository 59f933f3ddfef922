"""Calibration on the rounds fold (``calibration.margins: auto``).

A fit whose study tuned on a sample re-chooses its boosting rounds on one inner fold of
all its rows (``Fitter.rounds_on_all_rows``); its Platt calibrator is then fitted on that
fold's held-out margins instead of growing ``calibration.folds`` boosters for out-of-fold
margins. The margins and the calibrator are checked against an independent path: the
fold's booster refitted as a plain ``RiskModel`` and a logistic likelihood maximised by
scipy.
"""

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit

from spinerisk.models import RiskModel
from spinerisk.training.cv import grouped_folds
from spinerisk.training.runner import Fitter, prepare


def _config(make_config, seed, margins: str, sample_rows: int):
    base = make_config(seed)
    return make_config(seed, search={**base.search.model_dump(), "sample_rows": sample_rows},
                       calibration={"method": "platt", "folds": 2, "margins": margins})


def _fit_final(config, monkeypatch):
    """Tune and fit the final model; returns the fitter, task, data, params, the margins
    kept for the calibrator, the model and the number of out-of-fold cross-fits run."""
    task, data, _ = prepare(config)
    cross_fits = []
    original = RiskModel._out_of_fold_margin

    def counted(self, *args):
        cross_fits.append(1)
        return original(self, *args)

    monkeypatch.setattr(RiskModel, "_out_of_fold_margin", counted)
    fitter = Fitter(config, task, f"rounds-fold-{config.calibration.margins}", progress=False)
    params = fitter.tune(data, "final")
    kept = fitter.calibration_margins.get("final")
    model = fitter.fit(data, params, label="final")
    return fitter, task, data, params, kept, model, len(cross_fits)


def _platt_by_likelihood(margin: np.ndarray, y: np.ndarray) -> np.ndarray:
    def nll(ab):
        p = np.clip(expit(ab[0] + ab[1] * margin), 1e-12, 1 - 1e-12)
        return -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))

    return minimize(nll, np.array([0.0, 1.0]), method="Nelder-Mead",
                    options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20_000}).x


def test_a_sampled_fit_is_calibrated_on_its_rounds_folds_held_out_margins(
        make_config, seed, monkeypatch):
    config = _config(make_config, seed, "auto", sample_rows=300)
    fitter, task, data, params, kept, model, cross_fits = _fit_final(config, monkeypatch)
    assert cross_fits == 0  # no calibration boosters grown

    inner = grouped_folds(data.event, data.groups, config.search.inner_folds, seed)
    train, held = inner.splits[0]
    assert fitter.tuning_rows["final"]["calibration_rows"] == len(held)
    # the fold's booster, refitted by hand with the chosen rounds (reseeded per round as
    # the folds' boosters are), scores the held-out rows it did not see
    by_hand = RiskModel(task, "xgboost", params={**params, "seed_per_iteration": True},
                        calibration="none", random_state=seed
                        ).fit(data.subset(train).X, data.subset(train).y)
    margin = by_hand.base_margin(data.subset(held).X)
    np.testing.assert_array_equal(kept[0], held)
    np.testing.assert_allclose(kept[1], margin, rtol=0, atol=1e-5)  # float32 margins
    intercept, slope = _platt_by_likelihood(margin, data.subset(held).event)
    # scikit-learn's lbfgs stops at a gradient tolerance of 1e-4, scipy near the optimum
    assert model.calibrator_.intercept_ == pytest.approx(intercept, abs=1e-3)
    assert model.calibrator_.slope_ == pytest.approx(slope, abs=1e-3)
    # the model itself is the booster on all the rows, with the chosen rounds
    assert model.estimator_.get_booster().num_boosted_rounds() == params["n_estimators"]
    assert len(model.training_profile_) and fitter.calibration_margins == {}


@pytest.mark.parametrize("margins, sample_rows", [("cross_fit", 300), ("auto", 10**6)],
                         ids=["cross_fit-asked", "auto-without-a-sample"])
def test_otherwise_the_calibrator_is_cross_fitted(make_config, seed, monkeypatch, margins,
                                                  sample_rows):
    config = _config(make_config, seed, margins, sample_rows)
    fitter, _, _, _, kept, _, cross_fits = _fit_final(config, monkeypatch)
    assert cross_fits == 1 and kept is None
    assert "calibration_rows" not in fitter.tuning_rows["final"]
