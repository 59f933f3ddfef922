"""numba kernel of :mod:`spinerisk.explain.leaf_tables` (the only module importing numba).

Compiled on first use and cached on disk (``cache=True``), so later processes, Dask
workers included, load it in milliseconds. ``nogil``: row blocks run on threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: rows explained together: every loop below runs over a block's rows innermost, so the
#: loops are long and their iterations independent (512 measured fastest of 64 to 2048)
BLOCK = 512


@njit(cache=True, nogil=True)
def explain_rows(X, feature, threshold, default_left, left, right, node_bit, tree_node_start,
                 tree_leaf_start, leaf_node, slot_start, slot_column, table_start, table, out,
                 start, stop):
    """Add each leaf's table entry for the row's pattern into ``out[start:stop]``.

    A block of rows goes through the trees together, tree by tree (one tree's tables, tens
    of KB at depth 5, stay in cache). Its rows are laid out along the innermost axis of
    every scratch array, so a step (a split, a leaf slot) is one loop over the block's rows
    whose iterations do not depend on each other, instead of one row's chain of
    read-add-writes into the same few output columns. One pass down a tree's nodes (a
    parent before its children) carries each node's pattern: a child inherits its parent's
    and loses the bit of the split's feature when the row goes the other way. A split sends
    a row left when its value, as float32, is below the threshold, and a missing value the
    split's default way (xgboost's rule). A row's sums start at 0 and are added tree by
    tree, leaf by leaf, slot by slot whatever the block, so its values do not depend on
    the batch (and equal :meth:`LeafTables._lookup`'s, which adds in the same order).
    """
    n_features, n_columns = X.shape[1], out.shape[1]
    most = 0
    for t in range(tree_node_start.shape[0] - 1):
        most = max(most, tree_node_start[t + 1] - tree_node_start[t])
    # a stride off a power of two: measured ~10% faster (fewer cache-set conflicts)
    mask = np.empty((most, BLOCK + 16), np.int32)  # pattern bits per node of the tree
    acc = np.empty((n_columns, BLOCK + 16))
    pattern = np.empty(BLOCK, np.int64)
    values = np.empty((n_features, BLOCK), np.float32)
    missing = np.empty((n_features, BLOCK), np.bool_)
    for block in range(start, stop, BLOCK):
        rows = min(block + BLOCK, stop) - block
        for r in range(rows):
            for f in range(n_features):
                missing[f, r] = np.isnan(X[block + r, f])
                values[f, r] = np.float32(X[block + r, f])
        acc[:, :rows] = 0.0
        for t in range(tree_node_start.shape[0] - 1):
            first_node = tree_node_start[t]
            mask[0, :rows] = -1  # the root: no path feature contradicted yet
            for n in range(first_node, tree_node_start[t + 1]):
                f = feature[n]
                if f < 0:
                    continue
                here, to_left, to_right = n - first_node, left[n] - first_node, \
                    right[n] - first_node
                bit, threshold_n, default_n = np.int32(node_bit[n]), threshold[n], \
                    default_left[n]
                for r in range(rows):
                    goes_left = np.int32(default_n if missing[f, r]
                                         else values[f, r] < threshold_n)
                    m = mask[here, r]
                    mask[to_left, r] = m & ~(bit * (1 - goes_left))
                    mask[to_right, r] = m & ~(bit * goes_left)
            for leaf in range(tree_leaf_start[t], tree_leaf_start[t + 1]):
                first = slot_start[leaf]
                k = slot_start[leaf + 1] - first
                at, low = leaf_node[leaf] - first_node, (1 << k) - 1
                for r in range(rows):
                    pattern[r] = table_start[leaf] + (mask[at, r] & low) * k
                for s in range(k):
                    column = slot_column[first + s]
                    for r in range(rows):
                        acc[column, r] += table[pattern[r] + s]
        for r in range(rows):
            for c in range(n_columns):
                out[block + r, c] = acc[c, r]
