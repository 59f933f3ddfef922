"""Batch scoring of a partitioned dataset: risk, interval and grouped contributions.

Each parquet partition under the input folder is read, checked against the data contract
(spine tasks), scored and written to the same relative path under the output folder, so
the output keeps the input's partitioning and its episode ids (``patient_id``,
``episode_id``), row for row. Partitions are independent: :mod:`spinerisk.cluster` runs
them in this process or on Dask workers with identical results. Every value depends on
its own row only (care-pathway features, encoding, trees, calibrator), so a partitioned
run equals scoring the whole table at once.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from spinerisk import schema
from spinerisk.errors import ContractError, InputFileError, UsageError

BASE_COLUMN = "contribution_base"


def partitions(data: str | Path) -> list[Path]:
    """The parquet files under ``data`` (sorted; sub-folders, e.g. hive-style, kept)."""
    data = Path(data)
    if not data.is_dir():
        raise InputFileError(f"--data {data}: not a folder",
                             fix="give the folder of parquet partitions (e.g. written by "
                                 "spinerisk simulate --out DIR)")
    files = sorted(data.rglob("*.parquet"))
    if not files:
        raise InputFileError(f"--data {data}: no *.parquet files in it or below",
                             fix="give the folder that holds the partitions")
    return files


def score_frame(model, frame: pd.DataFrame) -> pd.DataFrame:
    """One output row per input row: ids, ``risk``, ``risk_low``/``risk_high`` (when the
    model carries a bootstrap ensemble), ``contribution_base`` and one
    ``contribution_<variable>`` per clinical variable (margin scale; they sum with the
    base to the model's margin)."""
    from spinerisk.explain import ModelExplainer
    from spinerisk.explain.uncertainty import ENSEMBLE_ATTRIBUTE

    explainer = ModelExplainer(model)
    encoded = explainer.encode_frame(frame)
    out = frame[[c for c in schema.EPISODE_KEY if c in frame.columns]].reset_index(drop=True)
    out["risk"] = model.risk_of_encoded(encoded)
    ensemble = getattr(model, ENSEMBLE_ATTRIBUTE, None)
    if ensemble is not None:
        out["risk_low"], out["risk_high"] = ensemble.predict_interval(model, frame,
                                                                       encoded=encoded)
    grouped = explainer.explain_batch(encoded)
    out[BASE_COLUMN] = grouped.base
    contributions = pd.DataFrame(grouped.values,
                                 columns=[f"contribution_{v}" for v in grouped.variables])
    return pd.concat([out, contributions], axis=1)


def score_partition(path: Path, model, data: Path, out: Path) -> dict[str, object]:
    """Read, check, score and write one partition; returns its name and row count."""
    relative = path.relative_to(data)
    frame = pd.read_parquet(path)
    task = model.task_.name
    if task in schema.ALL_TASKS:
        try:
            frame = schema.validate(frame, tasks=(task,))
        except schema.SchemaValidationError as err:
            raise ContractError(f"partition {relative}: {err}") from None
    target = out / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    score_frame(model, frame).to_parquet(target, index=False)
    return {"partition": str(relative), "rows": len(frame)}


def score_dataset(model, data: str | Path, out: str | Path,
                  cluster: str | None = None) -> list[dict[str, object]]:
    """Score every partition under ``data`` into ``out`` (see module docstring)."""
    from spinerisk.cluster import map_partitions

    data, out = Path(data).resolve(), Path(out).resolve()
    files = partitions(data)
    if out == data or data in out.parents:
        raise UsageError(f"--out {out} is inside --data {data}",
                         fix="give a folder outside the data folder")
    return map_partitions(score_partition, files, cluster, model=model, data=data, out=out)
