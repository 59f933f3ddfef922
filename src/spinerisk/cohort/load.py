"""Loading cohort tables under the data contract, and writing simulated ones.

Tables are read by :mod:`spinerisk.cohort.readers` (delimited text in any common encoding,
workbooks, parquet); :func:`read_table` is re-exported here for existing callers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from spinerisk import schema
from spinerisk.cohort.readers import read_table

if TYPE_CHECKING:
    from spinerisk.cohort.simulator import SimulatedCohort


def load(path: str | Path, mapping: str | Path | schema.ColumnMapping | None = None,
         tasks: list[str] | None = None, allow_extra_columns: bool = False) -> pd.DataFrame:
    """Load a cohort table and validate it against the contract.

    Parameters
    ----------
    path : path
        A table one row per procedure episode: delimited text, ``.xlsx``/``.xls``/``.ods``
        (``book.xlsx#sheet`` picks a sheet) or ``.parquet`` (see :func:`read_table`).
    mapping : path or ColumnMapping, optional
        The site's column names and level codes (``configs/mappings/*.yaml``).
    tasks : list of str, optional
        Task populations the table is for (default: implied by its procedures).
    allow_extra_columns : bool
        Keep columns the contract does not know instead of reporting them.

    Returns
    -------
    DataFrame
        Validated table with canonical dtypes.
    """
    if mapping is not None and not isinstance(mapping, schema.ColumnMapping):
        mapping = schema.ColumnMapping.from_yaml(mapping)
    return schema.validate(read_table(path), tasks=tasks, mapping=mapping,
                           allow_extra_columns=allow_extra_columns)


def truth_path_for(out: Path) -> Path:
    """Default truth file beside a feature table: ``cohort.parquet`` -> ``cohort.truth.parquet``."""
    return out.with_name(f"{out.stem}.truth.parquet")


def write_cohort(cohort: SimulatedCohort, out: str | Path,
                 truth: str | Path | None = None) -> tuple[Path, Path]:
    """Write the feature table, and apart the truth table and the DGP coefficients (json).

    All three files appear together or not at all (a failure leaves none half-written).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    truth_path = Path(truth) if truth else truth_path_for(out)
    with all_or_nothing(out, truth_path, truth_path.with_suffix(".json")) as (table, truth_tmp, coefs):
        if out.suffix == ".csv":
            cohort.frame.to_csv(table, index=False)
        else:
            cohort.frame.to_parquet(table, index=False)
        cohort.truth.to_parquet(truth_tmp, index=False)
        coefs.write_text(json.dumps(cohort.coefficients, indent=2))
    return out, truth_path


@contextmanager
def all_or_nothing(*targets: Path) -> Iterator[list[Path]]:
    """Temporary paths beside ``targets``, moved onto them only once all were written."""
    temporary = [t.with_name(f".{t.name}.partial") for t in targets]
    try:
        yield temporary
        for written, target in zip(temporary, targets, strict=True):
            os.replace(written, target)
    finally:
        for written in temporary:
            written.unlink(missing_ok=True)
