"""Partitioned simulation: one population over partitions, ids unique, seeded, bounded."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from spinerisk import schema
from spinerisk.cli import app
from spinerisk.cohort.partitioned import plan_partitions, simulate_partitioned, truth_dir_for


def _read(folder):
    return [pd.read_parquet(f) for f in sorted(folder.glob("part-*.parquet"))]


def test_partitions_are_near_equal_and_at_most_the_limit():
    parts = plan_partitions(1001, 400, seed=5)
    assert [p.n for p in parts] == [334, 334, 333]
    assert len({p.seed for p in parts}) == 3
    with pytest.raises(ValueError, match="partition_rows=0"):
        plan_partitions(10, 0, seed=5)


def test_partitioned_cohort_is_one_valid_population(tmp_path, seed):
    out = tmp_path / "cohort"
    written = simulate_partitioned(1000, out, partition_rows=400, seed=seed,
                                   tasks=("response",))
    assert [w["rows"] for w in written] == [334, 333, 333]
    frames = _read(out)
    whole = schema.validate(pd.concat(frames, ignore_index=True), tasks=("response",))
    assert len(whole) == 1000
    assert not whole.duplicated(list(schema.EPISODE_KEY)).any()
    # no patient spans two partitions; ids carry the partition number
    owner = pd.concat([f[["patient_id"]].assign(part=k) for k, f in enumerate(frames)])
    assert (owner.groupby("patient_id")["part"].nunique() == 1).all()
    truth = _read(truth_dir_for(out))
    for frame, part_truth in zip(frames, truth, strict=True):
        assert frame["patient_id"].tolist() == part_truth["patient_id"].tolist()
    meta = json.loads((truth_dir_for(out) / "coefficients.json").read_text())
    assert [p["n"] for p in meta["partitions"]] == [334, 333, 333]
    assert len(meta["sites"]) == 4  # one set of site profiles for every partition
    again = tmp_path / "again"
    simulate_partitioned(1000, again, partition_rows=400, seed=seed, tasks=("response",))
    for first, second in zip(frames, _read(again), strict=True):
        pd.testing.assert_frame_equal(first, second)
    other = tmp_path / "other"
    simulate_partitioned(1000, other, partition_rows=400, seed=seed + 1, tasks=("response",))
    assert not np.array_equal(frames[0]["age"], _read(other)[0]["age"])


def test_cli_writes_partitions_for_a_folder_and_refuses_to_overwrite(tmp_path, seed):
    out = tmp_path / "registry"
    args = ["simulate", "--task", "response", "--n", "500", "--partition-rows", "200",
            "--seed", str(seed), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "500 episodes in 3 partitions" in result.output
    assert len(_read(out)) == 3
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "already holds parquet files" in again.output
    bad = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "x"), "--cluster", "local:0"])
    assert bad.exit_code == 2 and "local:N" in bad.output
