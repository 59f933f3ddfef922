"""Group SHAP values of transformed features back to the clinical variables.

A one-hot encoded category, a spline-expanded number or a value with its missing-indicator
column is *one* clinical variable. Its contribution is the signed sum of its columns'
SHAP values -- SHAP is additive over coalitions of features, so the sum is exactly the
contribution of the variable taken as one player (never a sum of absolute values, which
would count a level's "not this level" columns against each other).

The grouping is a fixed 0/1 matrix, so grouping a row is one small matrix product.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from spinerisk.explain.contributions import Additive, Contributions


@dataclass(frozen=True)
class VariableGroups:
    """Map from transformed feature columns to clinical variables.

    Parameters
    ----------
    variables : tuple of str
        Clinical variables in first-appearance order of their columns.
    matrix : ndarray of shape (n_features, n_variables)
        ``matrix[j, k] == 1`` when column ``j`` belongs to variable ``k``.
    """

    variables: tuple[str, ...]
    matrix: np.ndarray

    @classmethod
    def from_mapping(cls, feature_names: Sequence[str],
                     feature_to_variable: Mapping[str, str]) -> VariableGroups:
        """Build the grouping; every feature column must name its clinical variable."""
        unmapped = [f for f in feature_names if f not in feature_to_variable]
        if unmapped:
            raise ValueError(f"feature_to_variable lacks {len(unmapped)} column(s): "
                             f"{', '.join(unmapped[:5])}; every transformed column must map "
                             "to the clinical variable it encodes")
        variables = tuple(dict.fromkeys(feature_to_variable[f] for f in feature_names))
        index = {v: k for k, v in enumerate(variables)}
        matrix = np.zeros((len(feature_names), len(variables)))
        matrix[np.arange(len(feature_names)),
               [index[feature_to_variable[f]] for f in feature_names]] = 1.0
        return cls(variables, matrix)

    def group(self, contributions: Contributions) -> GroupedContributions:
        """Signed sums of each variable's columns."""
        return GroupedContributions(contributions.values @ self.matrix, contributions.base,
                                    self.variables)

    @property
    def column_of_feature(self) -> np.ndarray:
        """Variable index of each transformed column (each belongs to exactly one)."""
        return self.matrix.argmax(axis=1)

    def columns_of(self, variable: str) -> np.ndarray:
        """Indices of the transformed columns that encode ``variable``."""
        return np.flatnonzero(self.matrix[:, self.variables.index(variable)])


@dataclass(frozen=True)
class GroupedContributions(Additive):
    """SHAP values per clinical variable, on the margin scale.

    Parameters
    ----------
    values : ndarray of shape (n_rows, n_variables)
    base : ndarray of shape (n_rows,)
    variables : tuple of str
    """

    values: np.ndarray
    base: np.ndarray
    variables: tuple[str, ...]

    def mean_abs(self) -> dict[str, float]:
        """Global importance: mean |SHAP| per variable, largest first."""
        importance = np.abs(self.values).mean(axis=0)
        order = np.argsort(-importance, kind="stable")
        return {self.variables[k]: float(importance[k]) for k in order}

    def row(self, i: int = 0) -> dict[str, float]:
        """One row's contributions by variable."""
        return dict(zip(self.variables, self.values[i].tolist(), strict=True))
