"""Exact TreeSHAP of many small boosters at once, from a table per tree (numpy).

The driver-noise SD needs every bootstrap member's SHAP values for the patient. xgboost
computes them one booster (one call) at a time with the general TreeSHAP recursion; for
small trees the same values follow from a table per tree, built once.

Why it is exact. Path-dependent TreeSHAP explains, for each leaf with value ``v``, the
game ``g(S) = v * prod_{u in U} (o_u if u in S else z_u)``, where ``U`` are the distinct
features on the path to the leaf, ``z_u`` the product of the cover fractions of the
path's splits on ``u``, and ``o_u`` is 1 when the patient follows the path at every
split on ``u`` (a missing value taking the default direction), else 0. A tree's SHAP
values are the sums over its leaves of these games' Shapley values:

    phi_k = v * (o_k - z_k) * sum_{S in U minus k} |S|! (|U|-|S|-1)! / |U|!
                              * prod_{j in S} o_j * prod_{j not in S, j != k} z_j

They depend on the patient only through the direction it takes at each of the tree's
splits. With at most :data:`MAX_SPLITS` splits a tree has at most ``2^8`` direction
patterns, so its SHAP values for every pattern are tabulated once; a patient then costs
one comparison per split, one table look-up per tree and one sum per member and
variable. xgboost computes the same values in float32, these in float64: the tables are
checked against xgboost when built (on rows that take every direction of every split,
missing included) and not used if they disagree beyond float32 rounding.
"""

from __future__ import annotations

from itertools import combinations
from math import factorial

import numpy as np

#: Most splits (internal nodes) of a tabulated tree: 2^8 direction patterns (depth <= 3).
MAX_SPLITS = 8


class TreeTables:
    """SHAP values of several boosters' trees, grouped by output column, from tables.

    Parameters
    ----------
    nodes : mapping of str to ndarray
        Node arrays of all boosters together (:func:`spinerisk.explain.forest.node_arrays`).
    targets : list of ndarray
        Per booster: the output column (clinical variable) of each input feature, or -1
        for a feature whose variable is not reported.
    n_outputs : int
        Number of output columns.

    Raises
    ------
    ValueError
        When a tree has more than :data:`MAX_SPLITS` splits.
    """

    def __init__(self, nodes, targets: list[np.ndarray], n_outputs: int):
        self.n_members, self.n_outputs = len(targets), n_outputs
        trees = _trees(nodes)
        width = max(len(t["splits"]) for t in trees)
        if width > MAX_SPLITS:
            raise ValueError(f"a tree with {width} splits: tables are limited to {MAX_SPLITS}")
        self.width = max(width, 1)
        slots = max(max(len(t["features"]) for t in trees), 1)
        n_trees = len(trees)
        # per tree and split position: the feature, threshold and missing direction; the
        # padding positions always give 0 (never below -inf, missing goes "no")
        self.feature = np.zeros((n_trees, self.width), dtype=np.int64)
        self.split = np.full((n_trees, self.width), -np.inf, dtype=np.float32)
        self.missing_yes = np.zeros((n_trees, self.width), dtype=bool)
        # output bin of each tree's feature slot; unused slots go to a discarded last bin
        self.size = self.n_members * n_outputs
        self.target = np.full((n_trees, slots), self.size, dtype=np.int64)
        self.table = np.zeros((n_trees, 2 ** self.width, slots))
        for t, tree in enumerate(trees):
            splits = tree["splits"]
            self.feature[t, :len(splits)] = nodes["feature"][splits]
            self.split[t, :len(splits)] = nodes["split"][splits]
            self.missing_yes[t, :len(splits)] = nodes["missing"][splits] == nodes["yes"][splits]
            for j, feature in enumerate(tree["features"]):
                column = targets[tree["member"]][feature]
                if column >= 0:
                    self.target[t, j] = tree["member"] * n_outputs + column
        _fill(self.table, trees, nodes, self.width)

    def grouped(self, X: np.ndarray) -> np.ndarray:
        """SHAP values of rows ``X`` grouped by output: array (members, rows, outputs).

        Each row is summed in the same order whatever the other rows, so a row in a
        batch equals the row alone.
        """
        X = np.atleast_2d(np.asarray(X, dtype=np.float32))
        n = X.shape[0]
        values = X[:, self.feature]                                   # n x trees x width
        yes = np.where(np.isnan(values), self.missing_yes, values < self.split)
        code = np.packbits(yes, axis=-1, bitorder="little")[..., 0]   # n x trees
        found = self.table[np.arange(self.table.shape[0]), code]      # n x trees x slots
        bins = self.target.ravel()[None, :] + (self.size + 1) * np.arange(n)[:, None]
        out = np.bincount(bins.ravel(), weights=found.ravel(), minlength=n * (self.size + 1))
        out = out.reshape(n, self.size + 1)[:, :self.size]
        return out.reshape(n, self.n_members, self.n_outputs).transpose(1, 0, 2)


def _trees(nodes) -> list[dict]:
    """Per tree: its splits (node ids, in order), distinct split features, booster, and
    leaves (value and path: (split position, goes "yes") pairs)."""
    feature, leaf, yes, no = nodes["feature"], nodes["leaf"], nodes["yes"], nodes["no"]
    out = []
    for root in np.flatnonzero(nodes["root"]):
        splits, leaves, stack = [], [], [(int(root), ())]
        while stack:
            node, path = stack.pop()
            if leaf[node]:
                leaves.append((float(nodes["value"][node]), path))
                continue
            position = len(splits)
            splits.append(node)
            stack.append((int(no[node]), (*path, (position, False))))
            stack.append((int(yes[node]), (*path, (position, True))))
        features = list(dict.fromkeys(int(feature[s]) for s in splits))
        out.append({"splits": np.array(splits, dtype=np.int64), "features": features,
                    "member": int(nodes["member"][root]), "leaves": leaves})
    return out


def _fill(table: np.ndarray, trees: list[dict], nodes, width: int) -> None:
    """Each tree's SHAP values (by its distinct features) for every direction pattern."""
    directions = ((np.arange(2 ** width)[:, None] >> np.arange(width)) & 1).astype(bool)
    cover, feature = nodes["cover"], nodes["feature"]
    for t, tree in enumerate(trees):
        slot_of = {f: j for j, f in enumerate(tree["features"])}
        splits = tree["splits"]
        for value, path in tree["leaves"]:
            slots: dict[int, list] = {}  # feature slot -> (z, [(position, goes yes)])
            for position, goes_yes in path:
                node = splits[position]
                child = nodes["yes"][node] if goes_yes else nodes["no"][node]
                entry = slots.setdefault(slot_of[int(feature[node])], [1.0, []])
                entry[0] *= cover[child] / cover[node]
                entry[1].append((position, goes_yes))
            if not slots:
                continue
            keys = list(slots)
            z = np.array([slots[k][0] for k in keys])
            # o per slot for every pattern: the pattern follows all the slot's splits
            o = np.stack([np.logical_and.reduce([directions[:, p] == g for p, g in slots[k][1]])
                          for k in keys], axis=1).astype(float)       # patterns x slots
            tree_table = table[t]  # a view: patterns x slots
            tree_table[:, keys] += value * _shapley(o, z)


def _shapley(o: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Shapley values of ``g(S) = prod_{u in S} o_u * prod_{u not in S} z_u`` for each
    row of ``o`` (patterns x k): array patterns x k."""
    k = len(z)
    weight = [factorial(s) * factorial(k - s - 1) / factorial(k) for s in range(k)]
    out = np.zeros_like(o)
    for j in range(k):
        others = [m for m in range(k) if m != j]
        total = np.zeros(o.shape[0])
        for size in range(k):
            for subset in combinations(others, size):
                term = np.full(o.shape[0], weight[size])
                for m in others:
                    term = term * (o[:, m] if m in subset else z[m])
                total += term
        out[:, j] = (o[:, j] - z[j]) * total
    return out
