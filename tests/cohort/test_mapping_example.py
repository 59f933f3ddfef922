"""The shipped mapping example maps a site's own names and codes onto the contract."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from spinerisk import schema
from spinerisk.cohort import load, simulate

EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "mappings" / "example.yaml"


def test_example_mapping_reads_a_site_export_as_the_contract_table(seed, tmp_path):
    contract = simulate(150, sites=2, seed=seed % 10_000, tasks=("response",)).frame
    mapping = schema.ColumnMapping.from_yaml(EXAMPLE)
    # the site's export: its own names and codes (the mapping read backwards), extra columns
    site = contract.copy()
    for field, recode in mapping.levels.items():
        back = {level: code for code, level in recode.items()}
        site[field] = site[field].astype(object).map(lambda v, b=back: b.get(v, v))
    site = site.rename(columns={field: column for column, field in mapping.columns.items()})
    site = site.assign(Ward="B2", Consultant="Dr X")
    assert {"Gender", "Modic", "Level", "Ward"} <= set(site.columns)
    site.to_csv(tmp_path / "site.csv", index=False, sep=";", decimal=",")
    expected = schema.validate(contract.copy())
    pd.testing.assert_frame_equal(load(tmp_path / "site.csv", mapping=EXAMPLE), expected)
