"""numba kernels of :mod:`spinerisk.explain.leaf_tables` (the only module importing numba).

Compiled on first use and cached on disk (``cache=True``), so later processes, Dask
workers included, load them in milliseconds. ``nogil``: row blocks run on threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def fill_tables(slot_start, slot_zero, leaf_value, table_start, table):
    """Fill every leaf's ``2**k x k`` table of Shapley values per path pattern (row-major:
    pattern, then slot) and return the sum of the leaves' shares of the expected value."""
    base = 0.0
    for leaf in range(leaf_value.shape[0]):
        first = slot_start[leaf]
        k = slot_start[leaf + 1] - first
        z = slot_zero[first:first + k]
        value = leaf_value[leaf]
        expected = value
        for i in range(k):
            expected *= z[i]
        base += expected
        if k == 0:
            continue
        weight = np.empty(k)  # |S|! (k - |S| - 1)! / k!
        for s in range(k):
            weight[s] = _factorial(s) * _factorial(k - s - 1) / _factorial(k)
        full = (1 << k) - 1
        h = np.zeros(1 << k)  # H(Q) for every Q short of all slots
        for q in range(full):
            sub = q
            while True:
                term = weight[_popcount(sub)]
                for i in range(k):
                    if (q >> i) & 1 and not (sub >> i) & 1:
                        term *= z[i]
                h[q] += term
                if sub == 0:
                    break
                sub = (sub - 1) & q
        start = table_start[leaf]
        for p in range(full + 1):
            for j in range(k):
                outside = 1.0  # prod of z_i over slots neither in the pattern nor j
                for i in range(k):
                    if i != j and not (p >> i) & 1:
                        outside *= z[i]
                on = (p >> j) & 1
                table[start + p * k + j] = (value * (on - z[j]) * outside
                                            * h[p & ~(1 << j)])
    return base


@njit(cache=True, nogil=True)
def explain_rows(X, feature, threshold, default_left, path_start, path_node, path_left,
                 path_slot, slot_start, slot_column, table_start, table, out, start, stop):
    """Add each leaf's table entry for the row's pattern into ``out[start:stop]``.

    A split sends a row left when its value, as float32, is below the threshold, and a
    missing value the split's default way (xgboost's rule).
    """
    n_nodes = feature.shape[0]
    n_leaves = path_start.shape[0] - 1
    go_left = np.empty(n_nodes, np.bool_)
    for r in range(start, stop):
        for n in range(n_nodes):
            f = feature[n]
            if f < 0:
                continue
            x = X[r, f]
            if np.isnan(x):
                go_left[n] = default_left[n]
            else:
                go_left[n] = np.float32(x) < threshold[n]
        for leaf in range(n_leaves):
            first = slot_start[leaf]
            k = slot_start[leaf + 1] - first
            pattern = (1 << k) - 1
            for p in range(path_start[leaf], path_start[leaf + 1]):
                if go_left[path_node[p]] != path_left[p]:
                    pattern &= ~(1 << path_slot[p])
            row = table_start[leaf] + pattern * k
            for s in range(k):
                out[r, slot_column[first + s]] += table[row + s]


@njit(cache=True)
def _popcount(v):
    count = 0
    while v:
        v &= v - 1
        count += 1
    return count


@njit(cache=True)
def _factorial(n):
    out = 1.0
    for i in range(2, n + 1):
        out *= i
    return out
