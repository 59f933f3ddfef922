"""Internal-external CV learns nothing from the held-out site."""

from __future__ import annotations

import numpy as np

from spinerisk.training.runner import Fitter, internal_external, prepare


class RecordingFitter(Fitter):
    """A Fitter that keeps each study's best score by label (what tuning saw)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scores: dict[str, float] = {}

    def study(self, data, label):
        result = super().study(data, label)
        self.scores[label] = result.best_value
        return result


def test_held_out_outcomes_do_not_reach_its_tuning(make_config, seed):
    """Flipping every outcome of one site changes nothing in the tuning used to predict
    that site (same hyperparameters, same tuning scores to the last digit), while the
    other sites' tuning, which does see those rows, changes (the check is sensitive)."""
    config = make_config(seed, data={"simulate": {"n": 900, "sites": 3, "seed": seed}},
                         model={"learner": "xgboost", "params": {"n_estimators": 30}},
                         search={"n_trials": 3, "inner_folds": 2, "storage": ":memory:",
                                 "space": {"learning_rate": {"low": 0.01, "high": 0.5,
                                                             "log": True}}})
    task, data, _ = prepare(config)
    sites = sorted(np.unique(data.sites))
    flipped = data.subset(np.arange(data.n))
    flipped.y = np.where(data.sites == sites[0], 1 - data.y, data.y)
    runs = []
    for rows in (data, flipped):
        fitter = RecordingFitter(config, task, "leak-test", progress=False)
        _, used = internal_external(fitter, rows, n_boot=0, progress=False)
        runs.append((used, fitter.scores))
    (used, scores), (used_flipped, scores_flipped) = runs
    assert set(used) == set(sites)  # every site was tuned for
    assert used[sites[0]] == used_flipped[sites[0]]
    assert scores[f"without-{sites[0]}"] == scores_flipped[f"without-{sites[0]}"]
    for other in sites[1:]:
        assert scores[f"without-{other}"] != scores_flipped[f"without-{other}"]
