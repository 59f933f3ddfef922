"""Exact TreeSHAP for batches: per-leaf tables of path patterns, compiled (Fast TreeSHAP v2).

Path-dependent TreeSHAP (what xgboost's ``pred_contribs`` computes) explains a tree through
the game ``v(S) = sum_leaves value * prod_{j in S} o_j * prod_{j not in S} z_j`` over the
distinct features ``j`` on each leaf's path, where ``z_j`` is the product of the cover
ratios (child cover / parent cover) of ``j``'s splits on the path and ``o_j`` is 1 when
the row follows every one of ``j``'s splits towards the leaf, else 0. A row enters only
through the pattern ``o`` (Yang 2021, "Fast TreeSHAP", algorithm v2), so for a leaf with
``k`` distinct path features the Shapley values of all ``2**k`` patterns are computed once
per booster:

    phi_j(P) = value * (o_j - z_j) * prod_{i not in P, i != j} z_i * H(P \\ {j}),
    H(Q) = sum_{S subset of Q} |S|! (k - |S| - 1)! / k! * prod_{i in Q \\ S} z_i.

Explaining a row is then one comparison per split node and, per leaf, its pattern index
and ``k`` table reads added into the row's output columns (clinical variables for grouped
contributions), instead of xgboost's ``O(leaves * depth**2)`` path extension and unwinding
per tree. The tables are built in numpy (``H`` from the elementary symmetric polynomials
of the ``z`` of every subset, for all leaves with the same ``k`` at once); rows are looked
up by a compiled kernel for batches (:mod:`spinerisk.explain.leaf_kernels`) or in numpy for
a few rows (a patient, the bootstrap members' driver noise of
:mod:`spinerisk.explain.uncertainty`), and the two give the same bits. Everything is
accumulated in float64 (xgboost works in float32), so the values agree with
``pred_contribs`` to float32 rounding; the tests bound the difference at 1e-6 on the
margin scale.

Tables are built once per booster (cached for the booster's lifetime, never pickled) and
are *refused*, with the reason in :attr:`LeafTables.refused`, for boosters outside what
they reproduce: categorical splits, several outputs, a booster that is not ``gbtree``, an
objective whose base score link is not known here, or tables larger than
:data:`MAX_TABLE_ENTRIES` (``sum over leaves of 2**k * k`` floats: at most 1.5M, 12 MB,
for 300 trees of depth 5, the search space's deepest; each further level of depth
multiplies it by about 4, so 300 full trees of depth 7 are past the limit). A refused booster
is explained by ``pred_contribs`` (:class:`spinerisk.explain.TreeContributions`).
The tables are also checked against ``pred_contribs`` on rows that reach every branch
(split values, values just below them, missing values) when built, and refused if they
disagree.

numba is imported only by :mod:`spinerisk.explain.leaf_kernels`, on the first batch of more
than :data:`NUMPY_MAX_ROWS` rows (never when tables are built or a few rows looked up); the
compiled kernel is cached on disk (next to the module, or in the user's cache folder
when the package folder is read-only; ``NUMBA_CACHE_DIR`` names another).
"""

from __future__ import annotations

import json
import math
import os
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

#: largest table (floats, summed over all leaves) that is built; beyond it pred_contribs
MAX_TABLE_ENTRIES = 1 << 24
#: agreement with pred_contribs required when the tables are built (margin scale)
CHECK_TOLERANCE = 1e-5
#: link from xgboost's stored base score to the margin, per objective
_BASE_LINKS = {"binary:logistic": lambda p: math.log(p / (1 - p)), "survival:cox": math.log,
               "reg:squarederror": lambda p: p}
#: rows a thread gets at least (a thread pool costs more than a few rows' work)
_ROWS_PER_THREAD = 1000
#: batches up to this many rows are looked up in numpy (no numba import, no kernel load)
NUMPY_MAX_ROWS = 64
#: slots (rows x leaves x path features) the numpy lookup handles at once, at least one
#: row: 256 KB a temporary (chunks of 2-8 MB fell out of cache: 2-2.5x the CPU a row)
_LOOKUP_ENTRIES = 1 << 15

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class _Leaves:
    """Flat arrays of a booster's nodes (each tree in depth-first order, so a parent comes
    before its children) and of every leaf's distinct path features (see the kernels)."""

    feature: np.ndarray          # (nodes,) int64, -1 at a leaf
    threshold: np.ndarray        # (nodes,) float32
    default_left: np.ndarray     # (nodes,) bool: missing goes to the left ("yes") child
    left: np.ndarray             # (nodes,) int64 global id of the left child (-1 at a leaf)
    right: np.ndarray            # (nodes,) int64
    node_bit: np.ndarray         # (nodes,) int64: 1 << slot of the split's feature on its path
    tree_node_start: np.ndarray  # (trees + 1,) int64: a tree's nodes, root first
    tree_leaf_start: np.ndarray  # (trees + 1,) int64: a tree's leaves
    leaf_node: np.ndarray        # (leaves,) int64 global id of each leaf
    slot_start: np.ndarray       # (leaves + 1,) int64 offsets into slot_*
    slot_feature: np.ndarray     # feature of each distinct-feature slot
    slot_zero: np.ndarray        # z_j: product of the slot's cover ratios
    leaf_value: np.ndarray       # (leaves,) float64
    step_start: np.ndarray       # (leaves + 1,) int64 offsets into step_* (a leaf's path)
    step_node: np.ndarray        # split node of each path step
    step_left: np.ndarray        # bool: the path goes left there
    step_bit: np.ndarray         # int64: 1 << slot of the step's feature


class LeafTables:
    """Precomputed TreeSHAP tables of one xgboost booster.

    Build through :func:`leaf_tables` (cached per booster). When :attr:`refused` is not
    None the tables were not built and :meth:`contributions` must not be called.

    Parameters
    ----------
    booster : xgboost.Booster
        Fitted trees.
    max_entries : int, optional
        Largest table (floats) built, a larger one refused (default
        :data:`MAX_TABLE_ENTRIES`).

    Attributes
    ----------
    refused : str or None
        Why this booster is explained by ``pred_contribs`` instead.
    base : float
        Expected margin (base score plus every tree's cover-weighted mean leaf value).
    n_features : int
    """

    def __init__(self, booster, max_entries: int | None = None):
        self.n_features = int(booster.num_features())
        self.refused = _refusal(booster)
        if self.refused is not None:
            return
        model = json.loads(bytes(booster.save_raw("json")))["learner"]
        trees = model["gradient_booster"]["model"]["trees"]
        try:
            self._leaves = _flatten(trees)
        except _Unsupported as err:
            self.refused = str(err)
            return
        sizes = np.diff(self._leaves.slot_start)
        entries = int(np.sum(sizes * (1 << sizes)))
        max_entries = MAX_TABLE_ENTRIES if max_entries is None else max_entries
        if entries > max_entries:
            self.refused = (f"TreeSHAP tables would hold {entries:,} floats (limit "
                            f"{max_entries:,}): trees too deep or too many")
            return
        self._table_start = np.concatenate([[0], np.cumsum(sizes * (1 << sizes))])
        table, tree_bases = _fill_tables(self._leaves, self._table_start)
        self.lookup = TableLookup.of(self._leaves, self._table_start, table)
        self._table = self.lookup.table[:-1]  # the same floats (the lookup's copy, less its 0)
        base_score = float(json.loads(model["learner_model_param"]["base_score"])[0])
        objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
        self.base = _BASE_LINKS[objective](base_score) + tree_bases
        error = self._disagreement(booster)
        if error > CHECK_TOLERANCE:
            self.refused = f"TreeSHAP tables disagree with pred_contribs by {error:.2g}"

    def contributions(self, X: np.ndarray, column_of_feature: np.ndarray, n_columns: int,
                      compiled: bool | None = None) -> np.ndarray:
        """SHAP values of encoded rows, summed into output columns.

        Parameters
        ----------
        X : ndarray of shape (n_rows, n_features)
            Encoded rows (NaN = missing).
        column_of_feature : ndarray of int, shape (n_features,)
            Output column of each feature (e.g. its clinical variable; ``arange`` for
            per-feature values), -1 for a feature left out.
        n_columns : int
        compiled : bool, optional
            Look the rows up with the compiled kernel (True) or in numpy (False); by
            default the kernel for more than :data:`NUMPY_MAX_ROWS` rows. Both give the
            same bits.

        Returns
        -------
        ndarray of shape (n_rows, n_columns), float64
        """
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"TreeSHAP tables: rows of {self.n_features} encoded features "
                             f"expected, got shape {X.shape}")
        column = np.asarray(column_of_feature, np.int64)
        # a left-out feature's values go to one extra column, dropped at the end
        if compiled or (compiled is None and X.shape[0] > NUMPY_MAX_ROWS):
            out = np.zeros((X.shape[0], n_columns + 1))
            slot_column = dropped_to_last(column, n_columns)[self._leaves.slot_feature]
            self._explain_compiled(X, slot_column, out)
        else:
            out = self.lookup.sums(X, self.lookup.slot_columns(column, n_columns),
                                   n_columns + 1)
        return out[:, :n_columns]

    def _explain_compiled(self, X: np.ndarray, slot_column: np.ndarray, out: np.ndarray):
        """The compiled kernel over row blocks, on threads."""
        leaves = self._leaves
        kernel = _kernels().explain_rows
        args = (X, leaves.feature, leaves.threshold, leaves.default_left, leaves.left,
                leaves.right, leaves.node_bit, leaves.tree_node_start, leaves.tree_leaf_start,
                leaves.leaf_node, leaves.slot_start, slot_column, self._table_start,
                self._table, out)
        blocks = max(1, min(_threads(), X.shape[0] // _ROWS_PER_THREAD))
        bounds = np.linspace(0, X.shape[0], blocks + 1).astype(int)
        if len(bounds) <= 2:
            kernel(*args, 0, X.shape[0])
        else:  # the kernel releases the GIL: threads share the tables and write own rows
            with ThreadPoolExecutor(len(bounds) - 1) as pool:
                list(pool.map(lambda b: kernel(*args, *b), pairwise(bounds)))

    def _disagreement(self, booster) -> float:
        """Largest difference from pred_contribs on rows that take every branch."""
        import xgboost as xgb

        X = probe_rows(self._leaves, self.n_features)
        expected = booster.predict(xgb.DMatrix(X, missing=np.nan), pred_contribs=True)
        got = self.contributions(X, np.arange(self.n_features), self.n_features,
                                 compiled=False)
        return float(max(np.abs(got - expected[:, :-1]).max(),
                         np.abs(self.base - expected[:, -1]).max()))


@dataclass(frozen=True)
class TableLookup:
    """What the numpy lookup reads, for one booster's tables or several boosters' together
    (:meth:`concat`: the bootstrap members of :mod:`spinerisk.explain.uncertainty`, one
    pass for all of them).

    Per leaf, its path steps and its slots are rows of padded matrices (a padding step
    never contradicts; a padding slot reads some entry of the table, at offset 0 plus its
    leaf's pattern row, into a column that is dropped), so a few rows cost a handful of
    array operations. A leaf's pattern
    comes from its steps (a slot's bit is cleared when the row leaves the path at one of
    its splits); each slot reads its table entry, and the entries are summed per row and
    output column in slot order (the compiled kernel's order: both give the same bits)."""

    feature: np.ndarray       # (splits,) feature of each split node
    threshold: np.ndarray     # (splits,) float32
    default_left: np.ndarray  # (splits,) bool
    step_split: np.ndarray    # (depth, leaves) split (index into the above) of each step
    step_left: np.ndarray     # (depth, leaves) bool: the path goes left there
    step_bit: np.ndarray      # (depth, leaves) 1 << slot of the step's feature (padding 0)
    leaf_k: np.ndarray        # (leaves,) distinct path features (table row length)
    leaf_low: np.ndarray      # (leaves,) 2**k - 1: the bits of the leaf's slots
    slot_base: np.ndarray     # (leaves, k) table offset of the slot in pattern 0 (padding 0)
    slot_feature: np.ndarray  # (leaves, k) feature of each slot (padding -1)
    table: np.ndarray         # the tables, then a 0 (never empty)

    @classmethod
    def of(cls, leaves: _Leaves, table_start: np.ndarray, table: np.ndarray) -> TableLookup:
        splits = np.flatnonzero(leaves.feature >= 0)
        step_split, step_left, step_bit = (
            np.ascontiguousarray(_padded(a, leaves.step_start, 0).T) for a in (
                np.searchsorted(splits, leaves.step_node), leaves.step_left, leaves.step_bit))
        k = np.diff(leaves.slot_start)
        rank = np.arange(len(leaves.slot_feature)) - np.repeat(leaves.slot_start[:-1], k)
        base = np.repeat(table_start[:-1], k) + rank
        return cls(leaves.feature[splits], leaves.threshold[splits],
                   leaves.default_left[splits], step_split, step_left, step_bit,
                   k, (1 << k) - 1, _padded(base, leaves.slot_start, 0),
                   _padded(leaves.slot_feature, leaves.slot_start, -1), np.append(table, 0.0))

    @classmethod
    def concat(cls, lookups: list[TableLookup]) -> TableLookup:
        """Several boosters' lookups as one (their indices shifted past the ones before)."""
        depth = max(u.step_split.shape[0] for u in lookups)
        width = max(u.slot_base.shape[1] for u in lookups)
        split_offset = np.cumsum([0] + [len(u.feature) for u in lookups])
        table_offset = np.cumsum([0] + [len(u.table) - 1 for u in lookups])

        def joined(name, columns, fill, axis=0):
            """Leaves joined along ``axis``, padded to ``columns`` along the other."""
            parts = [getattr(u, name) for u in lookups]
            pads = [[(0, 0), (0, columns - p.shape[1 - axis])] for p in parts]
            return np.concatenate([np.pad(p, pad if axis == 0 else pad[::-1],
                                          constant_values=fill)
                                   for p, pad in zip(parts, pads)], axis=axis)

        step_split = joined("step_split", depth, 0, axis=1)
        slot_base, slot_feature = joined("slot_base", width, 0), joined("slot_feature",
                                                                         width, -1)
        leaves = np.cumsum([0] + [len(u.leaf_k) for u in lookups])
        for i in range(len(lookups)):
            step_split[:, leaves[i]:leaves[i + 1]] += split_offset[i]
            slot_base[leaves[i]:leaves[i + 1]] += table_offset[i]
        slot_base[slot_feature < 0] = 0  # padding slots: offset 0, as in each booster's
        return cls(np.concatenate([u.feature for u in lookups]),
                   np.concatenate([u.threshold for u in lookups]),
                   np.concatenate([u.default_left for u in lookups]), step_split,
                   joined("step_left", depth, False, axis=1),
                   joined("step_bit", depth, 0, axis=1),
                   np.concatenate([u.leaf_k for u in lookups]),
                   np.concatenate([u.leaf_low for u in lookups]), slot_base, slot_feature,
                   np.concatenate([u.table[:-1] for u in lookups] + [[0.0]]))

    def slot_columns(self, column_of_feature: np.ndarray, n_columns: int) -> np.ndarray:
        """Output column of every (padded) slot; a padding slot or a left-out feature
        (column -1) goes to column ``n_columns``, to be dropped."""
        # slot_feature -1 (padding) reads the appended column
        return dropped_to_last(column_of_feature, n_columns)[self.slot_feature].ravel()

    def sums(self, X: np.ndarray, slot_column: np.ndarray, n_columns: int) -> np.ndarray:
        """Per row, the table entries of every slot summed into ``slot_column``'s columns
        (:meth:`slot_columns`): array (rows, n_columns). Rows go in chunks of at most
        :data:`_LOOKUP_ENTRIES` slots in all (the temporaries are slots x rows)."""
        out = np.empty((X.shape[0], n_columns))
        chunk = max(1, _LOOKUP_ENTRIES // self.slot_base.size)
        for i in range(0, X.shape[0], chunk):
            rows = X[i:i + chunk]
            found = self._entries(rows)  # slots x rows: a row's slots in slot order
            bins = slot_column[:, None] + n_columns * np.arange(rows.shape[0])[None, :]
            out[i:i + chunk] = np.bincount(
                bins.ravel(), weights=found.ravel(),
                minlength=rows.shape[0] * n_columns).reshape(rows.shape[0], n_columns)
        return out

    def _entries(self, X: np.ndarray) -> np.ndarray:
        """Every slot's table entry for the rows' patterns: array (leaves * k, rows); rows
        innermost, so each gather below moves a few contiguous values."""
        x = X.T[self.feature]
        with np.errstate(over="ignore", invalid="ignore"):  # xgboost compares in float32
            below = x.astype(np.float32) < self.threshold[:, None]
        goes_left = np.where(np.isnan(x), self.default_left[:, None], below)
        contradicted = np.zeros((len(self.leaf_k), X.shape[0]), np.int64)
        for split, left, bit in zip(self.step_split, self.step_left, self.step_bit):
            contradicted |= (goes_left[split] != left[:, None]) * bit[:, None]
        row = (~contradicted & self.leaf_low[:, None]) * self.leaf_k[:, None]  # table row
        # a padding slot reads offset 0 + row <= (2**k - 1) * k, inside the leaf's own size
        return self.table[self.slot_base[:, :, None] + row[:, None, :]].reshape(-1, X.shape[0])


def dropped_to_last(column_of_feature: np.ndarray, n_columns: int) -> np.ndarray:
    """Each feature's output column, a left-out feature's (-1) being ``n_columns``, and one
    more entry, ``n_columns``, for index -1 (a padding slot): the extra column that the
    sums carry and drop."""
    column = np.asarray(column_of_feature, np.int64)
    return np.append(np.where(column < 0, n_columns, column), n_columns)


def _padded(values: np.ndarray, start: np.ndarray, fill) -> np.ndarray:
    """Ragged rows ``values[start[i]:start[i + 1]]`` as a matrix padded with ``fill``."""
    lengths = np.diff(start)
    out = np.full((len(lengths), max(int(lengths.max(initial=0)), 1)), fill,
                  dtype=values.dtype)
    out[np.repeat(np.arange(len(lengths)), lengths),
        np.arange(len(values)) - np.repeat(start[:-1], lengths)] = values
    return out


def leaf_tables(booster) -> LeafTables:
    """The booster's tables, built on first use and kept while the booster lives."""
    tables = _CACHE.get(booster)
    if tables is None:
        tables = _CACHE[booster] = LeafTables(booster)
    return tables


def probe_rows(leaves: _Leaves, n_features: int, n_rows: int = 64,
               seed: int = 0) -> np.ndarray:
    """Rows whose values are drawn from each feature's split thresholds, the floats just
    below them, and missing, so both branches and the missing-value default of the splits
    are taken by the rows (a check, with the tests, of the branch rule)."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n_rows, n_features))
    split = leaves.feature >= 0
    for f in np.unique(leaves.feature[split]):
        cuts = leaves.threshold[split][leaves.feature[split] == f]
        below = np.nextafter(cuts, np.float32(-np.inf))
        choices = np.concatenate([cuts, below, [np.nan]]).astype(np.float64)
        X[:, f] = rng.choice(choices, n_rows)
    return X


def _refusal(booster) -> str | None:
    config = json.loads(booster.save_config())["learner"]
    booster_kind = config["gradient_booster"]["name"]
    if booster_kind != "gbtree":
        return f"booster {booster_kind!r} (tables cover gbtree only)"
    if config["objective"]["name"] not in _BASE_LINKS:
        return f"objective {config['objective']['name']!r} (base score link not known here)"
    if int(config["learner_model_param"].get("num_target", "1")) > 1 or \
            int(config["learner_model_param"].get("num_class", "0")) > 1:
        return "several outputs"
    return None


def _flatten(trees: list[dict]) -> _Leaves:
    """Node arrays of all trees (renumbered depth-first) and, per leaf, the distinct
    features of its path with their cover-ratio products, and the path's steps."""
    columns: dict[str, list] = {k: [] for k in ("feature", "threshold", "default_left",
                                                "left", "right", "node_bit",
                                                "leaf_node", "slot_feature", "slot_zero",
                                                "leaf_value", "steps")}
    slot_start, step_start, tree_node_start, tree_leaf_start = [0], [0], [0], [0]
    for tree in trees:
        if any(tree["split_type"]) or tree["tree_param"].get("size_leaf_vector", "1") not in \
                ("0", "1"):
            raise _Unsupported("categorical splits or vector leaves")
        left, right, cover = tree["left_children"], tree["right_children"], tree["sum_hessian"]
        # (node, parent's new id or -1, went left, path features, their cover-ratio
        # products, path steps as (split's new id, goes left, its slot's bit))
        stack: list[tuple[int, int, bool, tuple, tuple, tuple]] = [(0, -1, False, (), (), ())]
        while stack:
            node, parent, went_left, features, zeros, steps = stack.pop()
            new = len(columns["feature"])
            if parent >= 0:
                columns["left" if went_left else "right"][parent] = new
            leaf = left[node] == -1
            feature = -1 if leaf else tree["split_indices"][node]
            columns["feature"].append(feature)
            columns["threshold"].append(tree["split_conditions"][node])
            columns["default_left"].append(bool(tree["default_left"][node]))
            columns["left"].append(-1)
            columns["right"].append(-1)
            if leaf:
                columns["node_bit"].append(0)
                columns["leaf_node"].append(new)
                columns["slot_feature"] += features
                columns["slot_zero"] += zeros
                columns["leaf_value"].append(tree["split_conditions"][node])
                columns["steps"] += steps
                slot_start.append(len(columns["slot_feature"]))
                step_start.append(len(columns["steps"]))
                continue
            slot = features.index(feature) if feature in features else len(features)
            columns["node_bit"].append(1 << slot)
            for child, is_left in ((right[node], False), (left[node], True)):
                ratio = cover[child] / cover[node]
                child_steps = (*steps, (new, is_left, 1 << slot))
                if slot < len(features):
                    child_zeros = (*zeros[:slot], zeros[slot] * ratio, *zeros[slot + 1:])
                    stack.append((child, new, is_left, features, child_zeros, child_steps))
                else:
                    stack.append((child, new, is_left, (*features, feature), (*zeros, ratio),
                                  child_steps))
        tree_node_start.append(len(columns["feature"]))
        tree_leaf_start.append(len(columns["leaf_node"]))
    ints = {k: np.array(columns[k], np.int64) for k in ("feature", "left", "right", "node_bit",
                                                        "leaf_node", "slot_feature")}
    steps = np.array(columns["steps"], np.int64).reshape(-1, 3)
    return _Leaves(threshold=np.array(columns["threshold"], np.float32),
                   default_left=np.array(columns["default_left"], bool),
                   slot_start=np.array(slot_start, np.int64),
                   slot_zero=np.array(columns["slot_zero"], np.float64),
                   leaf_value=np.array(columns["leaf_value"], np.float64),
                   tree_node_start=np.array(tree_node_start, np.int64),
                   tree_leaf_start=np.array(tree_leaf_start, np.int64),
                   step_start=np.array(step_start, np.int64), step_node=steps[:, 0],
                   step_left=steps[:, 1].astype(bool), step_bit=steps[:, 2], **ints)


def _fill_tables(leaves: _Leaves, table_start: np.ndarray) -> tuple[np.ndarray, float]:
    """Every leaf's ``2**k x k`` table of Shapley values per path pattern (row-major:
    pattern, then slot), all leaves with the same ``k`` at once, and the sum of the
    leaves' shares of the expected value (``value * prod z``)."""
    sizes = np.diff(leaves.slot_start)
    table = np.empty(int(table_start[-1]))
    base = float(np.sum(leaves.leaf_value[sizes == 0]))
    for k in np.unique(sizes[sizes > 0]).tolist():
        which = np.flatnonzero(sizes == k)
        z = leaves.slot_zero[leaves.slot_start[which][:, None] + np.arange(k)]
        value = leaves.leaf_value[which]
        product, symmetric = _subset_polynomials(z)
        base += float(np.sum(value * product[:, -1]))
        subsets = np.arange(1 << k)
        size = np.bitwise_count(subsets.astype(np.uint64)).astype(np.int64)
        # H(Q) = sum_s |S|!(k-|S|-1)!/k! e_{|Q|-s}(z_Q): the weight of each e_m(z_Q)
        shapley = np.array([math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k)
                            for s in range(k)] + [0.0])  # |S| = k never enters H
        shift = size[:, None] - np.arange(k + 1)  # |S| = |Q| - m
        weight = np.where(shift >= 0, shapley[np.clip(shift, 0, k)], 0.0)
        h = np.einsum("lqm,qm->lq", symmetric, weight)
        pattern, j = subsets[:, None], np.arange(k)[None, :]
        on = (pattern >> j) & 1
        outside = ((1 << k) - 1) & ~pattern & ~(1 << j)  # slots neither in P nor j
        values = (value[:, None, None] * (on - z[:, None, :]) * product[:, outside]
                  * h[:, pattern & ~(1 << j)])
        table[table_start[which][:, None] + np.arange((1 << k) * k)] = values.reshape(
            len(which), -1)
    return table, base


def _subset_polynomials(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows ``z`` (leaves x k): the product of ``z`` over every subset (bit mask) of the
    slots, and the elementary symmetric polynomials ``e_0..e_k`` of ``z`` over it; built one
    slot at a time (the subsets holding slot ``i`` extend those below ``2**i``)."""
    n, k = z.shape
    product = np.ones((n, 1 << k))
    symmetric = np.zeros((n, 1 << k, k + 1))
    symmetric[:, 0, 0] = 1.0
    for i in range(k):
        low, high = slice(0, 1 << i), slice(1 << i, 1 << (i + 1))
        product[:, high] = product[:, low] * z[:, i:i + 1]
        symmetric[:, high] = symmetric[:, low]
        symmetric[:, high, 1:] += z[:, i, None, None] * symmetric[:, low, :-1]
    return product, symmetric


class _Unsupported(ValueError):
    """A tree the tables do not reproduce."""


def _threads() -> int:
    """Threads the process may use: its CPUs, fewer under an OpenMP limit (as xgboost;
    a Dask worker gets one)."""
    from threadpoolctl import threadpool_info

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    limits = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"]
    return max(1, min([cpus or 1, *limits]))


def _kernels():
    """The compiled kernels (numba imported on first use only)."""
    from spinerisk.explain import leaf_kernels

    return leaf_kernels
