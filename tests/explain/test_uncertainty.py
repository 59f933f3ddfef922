"""The bootstrap interval: coverage of the true risk where the model is correctly
specified, wider intervals where the training data are sparse, and the one-record fast
path equal to the batch path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from spinerisk.explain import fit_bootstrap_ensemble
from spinerisk.features import generic_task
from spinerisk.models import RiskModel

COEF = np.array([0.8, -0.5, 0.0])
INTERCEPT = -1.0


def _simulate(n, rng):
    X = rng.normal(size=(n, 3))
    risk = expit(INTERCEPT + X @ COEF)
    return pd.DataFrame(X, columns=["x0", "x1", "x2"]), rng.binomial(1, risk), risk


TASK = generic_task("toy", "y", {"x0": "numeric", "x1": "numeric", "x2": "numeric"})


def _fit(X, y, seed, n_members=20):
    model = RiskModel(TASK, learner="logistic", params={"C": 100.0}, n_knots=3,
                      calibration="none").fit(X, y)
    return model, fit_bootstrap_ensemble(model, X, y, n_members=n_members, seed=seed)


@pytest.fixture(scope="module")
def ensemble_fit(seed):
    rng = np.random.default_rng(seed)
    X, y, _ = _simulate(1500, rng)
    model, ensemble = _fit(X, y, seed)
    return model, ensemble, rng


def test_interval_covers_true_risk_near_nominal_rate(seed):
    """Correctly specified, lightly penalised logistic model: over replicated training
    samples the 95% interval covers the true risk at about the nominal rate (it reflects
    estimation uncertainty only; measured 0.93-0.95 with 20 members)."""
    rng = np.random.default_rng(seed + 1)
    X_test, _, risk = _simulate(200, rng)
    covered = []
    for replicate in range(8):
        X, y, _ = _simulate(1000, rng)
        model, ensemble = _fit(X, y, seed + replicate)
        low, high = ensemble.predict_interval(model, X_test)
        covered.append(np.mean((low <= risk) & (risk <= high)))
    assert 0.87 <= np.mean(covered) <= 0.99, covered


def test_interval_is_wider_where_training_data_are_sparse(ensemble_fit):
    _, ensemble, _ = ensemble_fit
    centre = pd.DataFrame({"x0": [0.0], "x1": [0.0], "x2": [0.0]})
    # three SDs out on every axis, yet a similar risk (logit -0.1 vs -1)
    edge = pd.DataFrame({"x0": [3.0], "x1": [3.0], "x2": [-3.0]})
    model = ensemble_fit[0]
    width = {name: np.subtract(*logit(ensemble.predict_interval(model, frame))[::-1])[0]
             for name, frame in (("centre", centre), ("edge", edge))}
    assert width["edge"] > 3 * width["centre"], width


def test_one_record_path_equals_batch_path(ensemble_fit):
    model, ensemble, _ = ensemble_fit
    record = {"x0": 1.5, "x1": -0.3, "x2": None}
    frame = pd.DataFrame([{k: (np.nan if v is None else v) for k, v in record.items()}])
    encoded = model.encode_record(record)
    fast = ensemble.risks_of_record(model, record, encoded)
    np.testing.assert_allclose(fast, ensemble.risks(frame)[:, 0], atol=1e-12)
    interval = ensemble.interval_of_record(model, record, encoded)
    low, high = ensemble.predict_interval(model, frame)
    assert (interval.low, interval.high) == pytest.approx((low[0], high[0]))
    assert interval.low < model.predict_risk(frame)[0] < interval.high
    assert interval.n_members == 20 and interval.level == 0.95


def test_tree_members_share_the_main_encoding(models, residual_frame, record_of):
    """xgboost's encoding learns nothing, so members reuse the main model's record
    encoding (the speed-up of the per-patient interval)."""
    model = models["xgboost"]
    rows = residual_frame.iloc[:400]
    y = rows["residual_pain"].to_numpy(int)
    ensemble = fit_bootstrap_ensemble(model, rows, y, n_members=2, seed=3)
    assert ensemble.shares_encoding == [True, True] and ensemble.forest is not None
    encoded = model.encode_record(record_of(rows, 0))
    fast = ensemble.risks_of_record(model, record_of(rows, 0), encoded)
    slow = [m.risk_of_encoded(encoded)[0] for m in ensemble.members]
    np.testing.assert_allclose(fast, slow, atol=1e-6)


def test_contribution_noise_grows_with_distance_from_the_reference(ensemble_fit):
    """Each driver's bootstrap SD: the slope's uncertainty times the distance from the
    typical patient, so a value far out moves more between refits."""
    model, ensemble, _ = ensemble_fit
    near = {"x0": 0.1, "x1": 0.0, "x2": 0.0}
    far = {"x0": 3.0, "x1": 0.0, "x2": 0.0}
    sd_near = ensemble.contribution_sd(near, model.encode_record(near))
    sd_far = ensemble.contribution_sd(far, model.encode_record(far))
    assert set(sd_near) == {"x0", "x1", "x2"}
    assert sd_far["x0"] > 3 * sd_near["x0"] > 0


def test_parallel_member_fitting_gives_the_same_members(seed):
    rng = np.random.default_rng(seed)
    X, y, _ = _simulate(400, rng)
    model = RiskModel(TASK, learner="logistic", params={"C": 100.0}, n_knots=3,
                      calibration="none").fit(X, y)
    serial = fit_bootstrap_ensemble(model, X, y, n_members=3, seed=seed)
    parallel = fit_bootstrap_ensemble(model, X, y, n_members=3, seed=seed, n_jobs=2)
    np.testing.assert_allclose(serial.risks(X), parallel.risks(X), rtol=1e-10)


def test_out_of_bag_calibrated_interval_covers_true_risk_near_nominal_rate(seed):
    """As above with a Platt-calibrated model whose members are calibrated on their
    out-of-bag rows (one learner fit each): still about the nominal rate (8 training
    samples x 200 patients; measured 0.93-0.97)."""
    rng = np.random.default_rng(seed + 2)
    X_test, _, risk = _simulate(200, rng)
    covered = []
    for replicate in range(8):
        X, y, _ = _simulate(1000, rng)
        model = RiskModel(TASK, learner="logistic", params={"C": 100.0}, n_knots=3,
                          calibration="platt").fit(X, y)
        ensemble = fit_bootstrap_ensemble(model, X, y, n_members=20, seed=seed + replicate,
                                          calibration="oob")
        low, high = ensemble.predict_interval(model, X_test)
        covered.append(np.mean((low <= risk) & (risk <= high)))
    assert 0.87 <= np.mean(covered) <= 0.99, covered


@pytest.mark.parametrize("calibration", ["platt", "isotonic"])
def test_out_of_bag_member_is_calibrated_on_the_patients_its_resample_missed(seed,
                                                                              calibration):
    """A member's learner is the resample's; its calibrator is the one fitted on the
    margins of the patients the resample did not draw (redrawn here from the seed)."""
    from spinerisk.models.calibration import make_calibrator

    rng = np.random.default_rng(seed)
    X, y, _ = _simulate(600, rng)
    X["patient_id"] = [f"P{i // 2}" for i in range(600)]  # two episodes a patient
    model = RiskModel(TASK, learner="logistic", params={"C": 100.0}, n_knots=3,
                      calibration=calibration).fit(X, y)
    ensemble = fit_bootstrap_ensemble(model, X, y, n_members=2, seed=seed, calibration="oob")
    drawn = np.random.default_rng(seed).integers(0, 300, 300)  # patients P0..P299 sorted
    # np.unique sorts the ids as strings: unit k is the k-th id in string order
    order = np.array(sorted(f"P{i}" for i in range(300)))
    held = ~X["patient_id"].isin(order[np.unique(drawn)]).to_numpy()
    member = ensemble.members[0]
    expected = make_calibrator(calibration, None).fit(member.base_margin(X[held]), y[held])
    grid = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(member.calibrator_(grid), expected(grid), rtol=1e-10)
    assert 0.3 < held.mean() < 0.45  # about e^-1 of the patients are out of bag
    assert not np.allclose(member.calibrator_(grid), ensemble.members[1].calibrator_(grid))


@pytest.mark.parametrize("learner", ["xgboost", "xgboost_cox", "cox"])
def test_out_of_bag_members_pickle_compile_and_serve(learner, models, frames, record_of):
    """Trees, and Cox boosting and the Cox model with the horizon calibrator (Cox
    recalibration of the margin), with out-of-bag calibration: fitted, pickled and loaded,
    compiled into one forest for the trees, and one record's interval equal to the batch
    one."""
    import pickle

    from spinerisk.features import spine_task

    rows = frames[learner].iloc[:500].reset_index(drop=True)
    if learner == "xgboost":  # Platt-calibrated already
        model, y = models[learner], rows["residual_pain"].to_numpy(int)
    else:
        y = pd.DataFrame({"time": rows["reoperation_time_months"].to_numpy(float),
                          "event": rows["reoperation_event"].to_numpy(float)})
        model = RiskModel(spine_task("reoperation"), learner=learner,
                          params=models[learner].params, calibration="platt").fit(rows, y)
    ensemble = fit_bootstrap_ensemble(model, rows, y, n_members=3, seed=5, calibration="oob")
    assert all(isinstance(m, RiskModel) for m in ensemble.members)
    slopes = {getattr(m.calibrator_, "slope_", None) for m in ensemble.members}
    assert len(slopes) == 3  # each member's own calibrator, from its own out-of-bag rows
    assert (ensemble.forest is not None) == (learner != "cox")
    loaded = pickle.loads(pickle.dumps(ensemble))
    np.testing.assert_allclose(loaded.risks(rows), ensemble.risks(rows), rtol=1e-12)
    record = record_of(rows, 0)
    encoded = model.encode_record(record)
    interval = loaded.interval_of_record(model, record, encoded)
    low, high = loaded.predict_interval(model, rows.iloc[:1])
    # the compiled forest sums float32 leaves as xgboost does, in another order
    assert (interval.low, interval.high) == pytest.approx((low[0], high[0]), rel=1e-5)
    assert "out-of-bag" in interval.method


def test_member_calibration_is_checked():
    with pytest.raises(ValueError, match="'oob'"):
        fit_bootstrap_ensemble(None, pd.DataFrame({"x": [1.0]}), [0], 2, calibration="holdout")


def test_an_xgboost_oob_member_is_the_member_fitted_on_its_duplicated_rows(seed):
    """An xgboost ``oob`` member is fitted on its resample's distinct rows with the draws
    as frequency weights: without row subsampling (where a weight keeps or drops a row's
    copies together, the one difference) it is the member fitted on the duplicated rows,
    trees, calibrator and training profile alike (redrawn here from the seed)."""
    rng = np.random.default_rng(seed)
    X, y, _ = _simulate(1500, rng)
    params = {"n_estimators": 40, "max_depth": 3, "learning_rate": 0.1, "subsample": 1.0,
              "n_jobs": 1}
    model = RiskModel(TASK, learner="xgboost", params=params, calibration="platt").fit(X, y)
    member = fit_bootstrap_ensemble(model, X, y, n_members=2, seed=seed,
                                    calibration="oob").members[0]
    drawn = np.random.default_rng(seed).integers(0, 1500, 1500)
    held = np.setdiff1d(np.arange(1500), drawn)
    by_hand = RiskModel(TASK, learner="xgboost", params=params, calibration="platt"
                        ).fit_held_out_calibration(X.iloc[drawn].reset_index(drop=True),
                                                   y[drawn], X.iloc[held], y[held])
    np.testing.assert_allclose(member.base_margin(X), by_hand.base_margin(X), rtol=0,
                               atol=1e-5)
    grid = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(member.calibrator_(grid), by_hand.calibrator_(grid),
                               rtol=1e-4)
    assert member.training_profile_["n"] == by_hand.training_profile_["n"] == 1500
    assert member.training_profile_["events"] == by_hand.training_profile_["events"]
    for name, entry in by_hand.training_profile_["variables"].items():
        weighted = member.training_profile_["variables"][name]
        assert weighted["quantiles"] == entry["quantiles"]  # the rows as repeated
        assert weighted["mean"] == pytest.approx(entry["mean"], rel=1e-12)  # summed in
        assert weighted["sd"] == pytest.approx(entry["sd"], rel=1e-12)  # another order


def test_frequency_weights_are_refused_where_they_are_not_copies(seed):
    rng = np.random.default_rng(seed)
    X, y, _ = _simulate(200, rng)
    model = RiskModel(TASK, learner="logistic", n_knots=3)
    with pytest.raises(ValueError, match="'logistic' cannot fit rows as frequency weights"):
        model.fit_held_out_calibration(X, y, X, y, repeats=np.ones(200, int))
    with pytest.raises(ValueError, match="one positive integer per row"):
        RiskModel(TASK, learner="xgboost").fit_held_out_calibration(
            X, y, X, y, repeats=np.zeros(200, int))
