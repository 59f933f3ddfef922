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
def explain_rows(X, feature, threshold, default_left, left, right, node_bit, tree_node_start,
                 tree_leaf_start, leaf_node, slot_start, slot_column, table_start, table, out,
                 start, stop):
    """Add each leaf's table entry for the row's pattern into ``out[start:stop]``.

    Rows go in blocks, and within a block tree by tree, so one tree's tables (tens of KB
    at depth 5) stay in cache while the block's rows read them; a row's sums are added in
    the same order whatever the block, so its values do not depend on the batch. One pass
    down a tree's nodes (a parent before its children) carries each node's pattern: a
    child inherits its parent's and loses the bit of the split's feature when the row goes
    the other way. A split sends a row left when its value, as float32, is below the
    threshold, and a missing value the split's default way (xgboost's rule).
    """
    mask = np.empty(feature.shape[0], np.int64)
    for block in range(start, stop, _BLOCK):
        for t in range(tree_node_start.shape[0] - 1):
            first_node, last_node = tree_node_start[t], tree_node_start[t + 1]
            for r in range(block, min(block + _BLOCK, stop)):
                mask[first_node] = -1  # the root: no path feature contradicted yet
                for n in range(first_node, last_node):
                    f = feature[n]
                    if f < 0:
                        continue
                    x = X[r, f]
                    if np.isnan(x):
                        go_left = default_left[n]
                    else:
                        go_left = np.float32(x) < threshold[n]
                    m = mask[n]
                    if go_left:
                        mask[left[n]] = m
                        mask[right[n]] = m & ~node_bit[n]
                    else:
                        mask[left[n]] = m & ~node_bit[n]
                        mask[right[n]] = m
                for leaf in range(tree_leaf_start[t], tree_leaf_start[t + 1]):
                    first = slot_start[leaf]
                    k = slot_start[leaf + 1] - first
                    row = table_start[leaf] + (mask[leaf_node[leaf]] & ((1 << k) - 1)) * k
                    for s in range(k):
                        out[r, slot_column[first + s]] += table[row + s]


_BLOCK = 64


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
