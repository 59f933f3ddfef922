"""Many xgboost models evaluated on one row at once, in numpy.

The bootstrap interval needs the margin of every ensemble member for one patient. Calling
each member's booster costs ~0.4 ms of fixed overhead however small the forest; walking
all members' trees together as flat node arrays costs one fancy-indexing step per tree
level. The result is checked against the boosters when the forest is compiled (and the
compilation refused if they disagree), so it is an exact re-implementation, not an
approximation: xgboost goes to the "yes" child when ``x < split`` in float32 and to the
"missing" child when ``x`` is missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class CompiledForest:
    """Flat node arrays of several boosters; :meth:`margins` gives one margin per booster.

    Parameters
    ----------
    boosters : list of xgboost.Booster
        One booster per ensemble member, all on the same encoded features.
    check_rows : ndarray
        Encoded rows on which the compiled margins must equal the boosters' (to 1e-4).
    """

    def __init__(self, boosters: list, check_rows: np.ndarray):
        nodes = node_arrays(boosters)
        self.feature, self.split, self.leaf, self.value = (
            nodes[k] for k in ("feature", "split", "leaf", "value"))
        self.yes, self.no, self.missing = (nodes[k] for k in ("yes", "no", "missing"))
        self.roots = np.flatnonzero(nodes["root"])
        self.root_member = nodes["member"][self.roots]
        self.n_members = len(boosters)
        self.offset = np.zeros(self.n_members)
        expected = np.column_stack([_booster_margin(b, check_rows) for b in boosters])
        raw = self.raw_margins(check_rows)
        self.offset = (expected - raw).mean(axis=0)  # the boosters' base score
        error = np.abs(raw + self.offset - expected).max()
        if error > 1e-4:
            raise ValueError(f"compiled forest disagrees with xgboost by {error:.2g}")

    def raw_margins(self, X: np.ndarray) -> np.ndarray:
        """Sum of leaf values per member for each row: shape (n_rows, n_members)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float32))
        rows = np.arange(X.shape[0])[:, None]
        node = np.broadcast_to(self.roots, (X.shape[0], len(self.roots)))
        while not self.leaf[node].all():  # all rows walk together; leaves point at themselves
            value = X[rows, self.feature[node]]
            node = np.where(np.isnan(value), self.missing[node],
                            np.where(value < self.split[node], self.yes[node], self.no[node]))
        # one ordered sum per row, so a row's margins do not depend on the other rows
        return np.stack([np.bincount(self.root_member, weights=self.value[leaves],
                                     minlength=self.n_members) for leaves in node])

    def margins(self, X: np.ndarray) -> np.ndarray:
        """Each member's margin (log-odds or log relative hazard): (n_rows, n_members)."""
        return self.raw_margins(X) + self.offset


def node_arrays(boosters: list) -> dict[str, np.ndarray]:
    """All trees of several boosters as flat node arrays: ``feature``, ``split``
    (float32), ``yes``/``no``/``missing`` (node ids; a leaf links to itself), ``leaf``,
    ``value`` (leaf value), ``cover``, ``root`` and ``member`` (booster index)."""
    tables, start = [], 0
    for member, booster in enumerate(boosters):
        table = _tree_table(booster, start)
        tables.append(table.assign(member=member))
        start += len(table)
    nodes = pd.concat(tables, ignore_index=True)
    dtypes = {"feature": np.int64, "split": np.float32, "yes": np.int64, "no": np.int64,
              "missing": np.int64, "leaf": bool, "value": np.float64, "cover": np.float64,
              "root": bool, "member": np.int64}
    return {k: nodes[k].to_numpy(dtype) for k, dtype in dtypes.items()}


def _booster_margin(booster, X: np.ndarray) -> np.ndarray:
    return booster.inplace_predict(np.asarray(X, dtype=np.float32), predict_type="margin",
                                   missing=np.nan).astype(float).ravel()


def _tree_table(booster, start: int) -> pd.DataFrame:
    """All trees of one booster as one node table; links are global row positions
    (``start`` + row), and a leaf links to itself."""
    frame = booster.trees_to_dataframe().reset_index(drop=True)
    rows = np.arange(len(frame))
    position = dict(zip(frame["ID"], rows + start))
    leaf = (frame["Feature"] == "Leaf").to_numpy()
    names = booster.feature_names
    index = ({n: i for i, n in enumerate(names)} if names else
             {f"f{i}": i for i in range(booster.num_features())})

    def link(column: str) -> np.ndarray:
        return np.array([start + i if leaf[i] else position[v]
                         for i, v in enumerate(frame[column])])

    return pd.DataFrame({
        "feature": [0 if leaf[i] else index[f] for i, f in enumerate(frame["Feature"])],
        "split": frame["Split"].fillna(0.0).to_numpy(), "yes": link("Yes"),
        "no": link("No"), "missing": link("Missing"), "leaf": leaf,
        "value": np.where(leaf, frame["Gain"].to_numpy(), 0.0),
        "cover": frame["Cover"].to_numpy(float),
        "root": (frame["Node"] == 0).to_numpy()})
