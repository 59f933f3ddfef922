"""Simulated cohorts too large for memory: written partition by partition as parquet.

``DIR/part-00000.parquet ...`` hold the contract-valid feature table, ``DIR.truth/`` the
truth per partition and ``coefficients.json`` (the DGP, the site profiles, each
partition's seed). Every partition is a :func:`~spinerisk.cohort.simulate` call with
the same site profiles and its own seed (spawned from the cohort's seed), so partitions
are independent draws from one multi-site population; patient ids carry the partition
number, so they stay unique across partitions. At most one partition per worker is in
memory at a time.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from spinerisk.cohort.simulator import DGP, SiteProfile, random_site_profiles, simulate
from spinerisk.errors import UsageError


@dataclass(frozen=True)
class Partition:
    """One partition to simulate: its number, rows and seed."""

    index: int
    n: int
    seed: int

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}.parquet"


def truth_dir_for(out: Path) -> Path:
    """Where the truth of a partitioned cohort goes: ``DIR.truth`` beside ``DIR``."""
    return out.with_name(out.name + ".truth")


def plan_partitions(n: int, partition_rows: int, seed: int) -> list[Partition]:
    """Split ``n`` rows into near-equal partitions of at most ``partition_rows``."""
    if n < 1 or partition_rows < 1:
        raise UsageError(f"n={n}, partition_rows={partition_rows}: both must be at least 1",
                         fix="give --n and --partition-rows of 1 or more")
    count = math.ceil(n / partition_rows)
    sizes = np.full(count, n // count) + (np.arange(count) < n % count)
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(count)]
    return [Partition(i, int(size), s) for i, (size, s) in enumerate(zip(sizes, seeds))]


def simulate_partition(part: Partition, out: Path, profiles: list[SiteProfile],
                       tasks: tuple[str, ...] | None, dgp: DGP) -> dict:
    """Simulate and write one partition; returns its row count and the DGP description
    (no patient data)."""
    cohort = simulate(part.n, seed=part.seed, tasks=tasks, dgp=dgp, site_profiles=profiles)
    suffix = f"-{part.index:05d}"
    for table in (cohort.frame, cohort.truth):
        table["patient_id"] = table["patient_id"].astype(str) + suffix
    cohort.frame.to_parquet(out / part.name, index=False)
    cohort.truth.to_parquet(truth_dir_for(out) / part.name, index=False)
    return {"partition": part.index, "rows": len(cohort.frame),
            "coefficients": cohort.coefficients}


def simulate_partitioned(n: int, out: str | Path, *, partition_rows: int = 200_000,
                         sites: int = 4, seed: int = 0, tasks: tuple[str, ...] | None = None,
                         dgp: DGP = "published", cluster: str | None = None) -> list[dict]:
    """Write a simulated cohort of ``n`` episodes as parquet partitions under ``out``.

    Parameters
    ----------
    n : int
        Episodes in all.
    out : path
        Folder for the partitions (created; must not hold parquet files already).
    partition_rows : int
        Largest partition (peak memory is about 3.2 kB a row per worker).
    sites, seed, tasks, dgp
        As for :func:`spinerisk.cohort.simulate`.
    cluster : str, optional
        Where to run (:mod:`spinerisk.cluster`); default this process.

    Returns
    -------
    list of dict
        Rows per partition (the DGP goes to ``DIR.truth/coefficients.json``).
    """
    from spinerisk.cluster import map_partitions

    out = Path(out)
    if out.exists() and any(out.glob("*.parquet")):
        raise UsageError(f"{out} already holds parquet files",
                         fix="give an empty or new folder")
    parts = plan_partitions(n, partition_rows, seed)
    profiles = random_site_profiles(sites, np.random.default_rng(seed))
    out.mkdir(parents=True, exist_ok=True)
    truth = truth_dir_for(out)
    truth.mkdir(parents=True, exist_ok=True)
    written = map_partitions(simulate_partition, parts, cluster, out=out.resolve(),
                             profiles=profiles, tasks=tasks, dgp=dgp)
    # the DGP (terms, horizon, site profiles) as simulate reports it; the same for every
    # partition but the seed, which is listed per partition
    meta = {**written[0].pop("coefficients"), "seed": seed, "n": n,
            "partitions": [asdict(p) for p in parts]}
    for summary in written[1:]:
        summary.pop("coefficients")
    (truth / "coefficients.json").write_text(json.dumps(meta, indent=2))
    return written
