"""SHAP values: additivity for every model family, agreement with shap's own explainers,
grouping of one-hot columns, and recovery of the simulator's true effects."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from spinerisk.explain import (
    Contributions,
    ModelExplainer,
    PermutationContributions,
    VariableGroups,
)

FAMILIES = ("xgboost", "logistic", "xgboost_cox", "cox")


@pytest.mark.parametrize("learner", FAMILIES)
def test_base_plus_contributions_equals_model_margin(models, frames, learner):
    model, frame = models[learner], frames[learner].iloc[:300]
    explainer = ModelExplainer(model)
    raw = explainer.raw_encoded(explainer.encode_frame(frame))
    expected = model.base_margin(frame)
    np.testing.assert_allclose(raw.margin, expected, atol=1e-5, rtol=0)
    grouped = explainer.groups.group(raw)
    np.testing.assert_allclose(grouped.margin, expected, atol=1e-5, rtol=0)
    assert grouped.values.shape == (300, len(model.task_.variables))


def _margin(X):
    return X[:, 0] * X[:, 1] + np.sin(X[:, 2]) - 0.5 * X[:, 3] ** 2 + 0.1 * X[:, 4]


def _exact_shapley(margin, x, background):
    """Interventional Shapley values by the subset formula (independent of permutations)."""
    from itertools import combinations
    from math import factorial

    p = len(x)

    def value(subset):
        rows = background.copy()
        rows[:, list(subset)] = x[list(subset)]
        return margin(rows).mean()

    phi = np.zeros(p)
    for j in range(p):
        others = [k for k in range(p) if k != j]
        for size in range(p):
            weight = factorial(size) * factorial(p - size - 1) / factorial(p)
            for subset in combinations(others, size):
                phi[j] += weight * (value(subset + (j,)) - value(subset))
    return phi


def test_permutation_path_is_additive_and_exact_with_all_orders(seed):
    """The model-agnostic fallback, on a margin with an interaction and a non-linearity."""
    rng = np.random.default_rng(seed)
    background, X = rng.normal(size=(15, 5)), rng.normal(size=(3, 5))
    names = [f"x{i}" for i in range(5)]
    sampled = PermutationContributions(_margin, background, names, n_permutations=8,
                                       seed=seed)(X)
    np.testing.assert_allclose(sampled.margin, _margin(X), atol=1e-10)
    np.testing.assert_allclose(sampled.base, _margin(background).mean(), atol=1e-12)
    exact = PermutationContributions(_margin, background, names, n_permutations=None)(X)
    for i in range(len(X)):
        np.testing.assert_allclose(exact.values[i], _exact_shapley(_margin, X[i], background),
                                   atol=1e-10)


def test_tree_path_matches_shap_tree_explainer(models, frames):
    """Our tree path against shap's own TreeSHAP (its C++ ``dense_tree_shap`` on the trees
    shap parses itself). For an xgboost model ``shap.TreeExplainer`` would otherwise
    hand the work to xgboost's ``pred_contribs``, the very code ours relies on, so the
    comparison would check nothing: marking the parsed model "internal" keeps shap on its
    own implementation (shap pinned in uv.lock)."""
    import shap

    model = models["xgboost"]
    explainer = ModelExplainer(model)
    Z = explainer.encode_frame(frames["xgboost"].iloc[:40])
    ours = explainer.raw_encoded(Z)
    independent = shap.TreeExplainer(model.estimator_)
    independent.model.model_type = "internal"
    reference = independent.shap_values(Z, check_additivity=False)
    np.testing.assert_allclose(ours.values, reference, atol=1e-5)
    # the base: the margin less the contributions (shap's own expected value averages the
    # leaves by cover, which xgboost's bias term does not)
    np.testing.assert_allclose(ours.base, model.base_margin(frames["xgboost"].iloc[:40])
                               - reference.sum(axis=1), atol=1e-5)


def test_linear_path_matches_shap_linear_explainer(models, frames):
    """Closed-form linear SHAP against shap.LinearExplainer with the same reference row."""
    import shap

    model = models["logistic"]
    explainer = ModelExplainer(model)
    Z = explainer.encode_frame(frames["logistic"].iloc[:40])
    reference = explainer.contributions.mean[None, :]
    linear = shap.LinearExplainer((np.ravel(model.estimator_.coef_),
                                   float(model.estimator_.intercept_[0])),
                                  shap.maskers.Independent(reference))
    np.testing.assert_allclose(explainer.raw_encoded(Z).values, linear(Z).values, atol=1e-8)


def test_one_hot_variable_equals_signed_sum_of_its_columns(models, frames):
    model = models["xgboost"]
    explainer = ModelExplainer(model)
    raw = explainer.raw_encoded(explainer.encode_frame(frames["xgboost"].iloc[:200]))
    grouped = explainer.groups.group(raw)
    for variable in ("smoking", "procedure", "concordance"):
        columns = [j for j, f in enumerate(raw.feature_names)
                   if model.feature_to_variable_[f] == variable]
        assert len(columns) >= 2, variable  # really one-hot
        k = grouped.variables.index(variable)
        np.testing.assert_allclose(grouped.values[:, k], raw.values[:, columns].sum(axis=1),
                                   atol=1e-12)


def test_grouping_keeps_signs_instead_of_summing_magnitudes():
    names = ("modic=none", "modic=type2", "age")
    groups = VariableGroups.from_mapping(names, {"modic=none": "modic", "modic=type2": "modic",
                                                 "age": "age"})
    raw = Contributions(np.array([[-0.3, 0.5, 0.1]]), np.array([-2.0]), names)
    grouped = groups.group(raw)
    assert grouped.row(0) == pytest.approx({"modic": 0.2, "age": 0.1})
    assert grouped.margin[0] == pytest.approx(raw.margin[0])


def test_grouping_refuses_unmapped_columns():
    with pytest.raises(ValueError, match="lacks 1 column"):
        VariableGroups.from_mapping(("a", "b"), {"a": "x"})


def test_grouped_shap_recovers_true_effects(models, residual_frame, residual_cohort):
    """On the linear DGP, grouped SHAP ranks the strongest true predictors first and
    gives each the true direction."""
    model = models["xgboost"]
    explainer = ModelExplainer(model)
    grouped = explainer.explain_frame(residual_frame)
    ranking = list(grouped.mean_abs())
    strongest = {"tlf_injury", "depression_anxiety", "intravertebral_cleft", "smoking",
                 "bmd_t_score"}
    assert len(strongest & set(ranking[:7])) >= 4, ranking[:10]
    values = {v: grouped.values[:, grouped.variables.index(v)] for v in grouped.variables}
    for flag in ("tlf_injury", "depression_anxiety", "intravertebral_cleft"):
        x = residual_frame[flag].to_numpy(dtype=float, na_value=np.nan)
        assert values[flag][x == 1].mean() > values[flag][x == 0].mean(), flag
    current = (residual_frame["smoking"] == "current").to_numpy()
    assert values["smoking"][current].mean() > values["smoking"][~current].mean()
    bmd = residual_frame["bmd_t_score"].to_numpy(dtype=float, na_value=np.nan)
    seen = ~np.isnan(bmd)
    assert spearmanr(bmd[seen], values["bmd_t_score"][seen]).statistic < -0.3
