"""The ``spinerisk`` command line.

Each command imports its heavy modules inside the function so that ``spinerisk --help``
stays fast. Every clinician-facing output says it is decision support for research use.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="spinerisk",
    help="Outcome prediction along the MRI-phenotype-to-intervention pathway for low-back "
    "pain. Decision support for research use.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


class DictionaryFormat(str, Enum):
    markdown = "markdown"
    csv = "csv"


class SimTask(str, Enum):
    response = "response"
    residual_pain = "residual_pain"
    reoperation = "reoperation"
    all = "all"


@app.command()
def schema(
    format: Annotated[DictionaryFormat, typer.Option(help="Output format.")] = DictionaryFormat.markdown,
    out: Annotated[Optional[Path], typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the data dictionary of the patient record."""
    from spinerisk import schema as contract

    text = (contract.data_dictionary_markdown() if format is DictionaryFormat.markdown
            else contract.data_dictionary().to_csv(index=False))
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text)
        typer.echo(f"wrote {out}")


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Parquet (or .csv) file for the feature table.")],
    task: Annotated[SimTask, typer.Option(help="Task population(s) to simulate.")] = SimTask.all,
    n: Annotated[int, typer.Option(help="Number of procedure episodes.", min=1)] = 5000,
    sites: Annotated[int, typer.Option(help="Number of sites.", min=1)] = 4,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    dgp: Annotated[str, typer.Option(help="Data-generating process: published or linear.")] = "published",
    truth: Annotated[Optional[Path], typer.Option(
        help="Truth file (default: OUT with '.truth' before the suffix).")] = None,
) -> None:
    """Simulate a multi-site cohort with a documented data-generating process."""
    import time

    from spinerisk.cohort import simulate as simulate_cohort, summarise, write_cohort

    started = time.perf_counter()
    tasks = None if task is SimTask.all else (task.value,)
    cohort = simulate_cohort(n=n, sites=sites, seed=seed, tasks=tasks, dgp=dgp)
    paths = write_cohort(cohort, out, truth)
    summarise(cohort.frame, title=f"Simulated cohort (seed {seed}, dgp {dgp})")
    typer.echo(f"wrote {paths[0]} and {paths[1]} in {time.perf_counter() - started:.1f} s")
