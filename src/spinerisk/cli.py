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
    out: Annotated[Path, typer.Option(
        help="Parquet (or .csv) file for the feature table; a folder (no suffix, e.g. DIR/) "
             "gets parquet partitions written one by one (see --partition-rows).")],
    task: Annotated[SimTask, typer.Option(help="Task population(s) to simulate.")] = SimTask.all,
    n: Annotated[int, typer.Option(help="Number of procedure episodes.", min=1)] = 5000,
    sites: Annotated[int, typer.Option(help="Number of sites.", min=1)] = 4,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    dgp: Annotated[str, typer.Option(help="Data-generating process: published or linear.")] = "published",
    truth: Annotated[Optional[Path], typer.Option(
        help="Truth file (default: OUT with '.truth' before the suffix).")] = None,
    partition_rows: Annotated[int, typer.Option(
        help="Rows per partition when OUT is a folder (bounds memory per worker).",
        min=1)] = 200_000,
    cluster: Annotated[str | None, typer.Option(
        help="Where partitions are simulated: local, local:N or tcp://HOST:PORT (Dask); "
             "default this process.")] = None,
) -> None:
    """Simulate a multi-site cohort with a documented data-generating process."""
    import time

    from spinerisk.cohort import simulate as simulate_cohort, summarise, write_cohort

    started = time.perf_counter()
    tasks = None if task is SimTask.all else (task.value,)
    if not out.suffix:
        _simulate_partitioned(out, n, partition_rows, sites, seed, tasks, dgp, cluster)
        return
    cohort = simulate_cohort(n=n, sites=sites, seed=seed, tasks=tasks, dgp=dgp)
    paths = write_cohort(cohort, out, truth)
    summarise(cohort.frame, title=f"Simulated cohort (seed {seed}, dgp {dgp})")
    typer.echo(f"wrote {paths[0]} and {paths[1]} in {time.perf_counter() - started:.1f} s")


def _simulate_partitioned(out: Path, n: int, partition_rows: int, sites: int, seed: int,
                          tasks: tuple[str, ...] | None, dgp: str, cluster: str | None) -> None:
    """``simulate --out DIR``: parquet partitions, never the whole cohort in memory."""
    import time

    from spinerisk.cohort.partitioned import simulate_partitioned, truth_dir_for

    started = time.perf_counter()
    try:
        written = simulate_partitioned(n, out, partition_rows=partition_rows, sites=sites,
                                       seed=seed, tasks=tasks, dgp=dgp, cluster=cluster)
    except ValueError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"wrote {sum(p['rows'] for p in written):,} episodes in {len(written)} "
               f"partitions to {out}/ (truth in {truth_dir_for(out)}/) in "
               f"{time.perf_counter() - started:.1f} s")


@app.command()
def pathway(
    patient: Annotated[Path, typer.Option(help="Patient record as a JSON object of contract "
                                          "fields (absent or null = missing).")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of a summary.")] = False,
) -> None:
    """Phenotypes, red flags, next step, candidates and concordance for one patient."""
    import json

    from spinerisk.phenotype import assess_patient
    from spinerisk.phenotype.display import render_pathway
    from spinerisk.schema import SchemaValidationError

    try:
        result = assess_patient(json.loads(patient.read_text()))
    except (OSError, json.JSONDecodeError) as error:
        typer.echo(f"{patient}: cannot read a JSON patient record ({error}); fix: pass a file "
                   "holding one JSON object, see examples/patient.json", err=True)
        raise typer.Exit(code=2) from None
    except SchemaValidationError as error:
        typer.echo(f"{patient}: {error}", err=True)
        raise typer.Exit(code=2) from None
    if json_output:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        render_pathway(result)


def _default_model_uris() -> list[str]:
    """The candidate alias of every spine task (those not registered are skipped later)."""
    from spinerisk.schema import TASK_NAMES

    return [f"models:/spinerisk-{task}@candidate" for task in TASK_NAMES]


@app.command()
def predict(
    patient: Annotated[Path, typer.Option(help="JSON file with one patient record.")],
    model: Annotated[list[str] | None, typer.Option(
        help="models:/<name>@<alias> (repeat for several tasks); default: the candidate "
             "alias of every registered spine task.")] = None,
    task: Annotated[str | None, typer.Option(help="Task; default: implied by the procedure.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
) -> None:
    """Pathway summary, risk, interval and top drivers for one patient."""
    import json

    from spinerisk.explain import PatientService
    from spinerisk.explain.text import render_text
    from spinerisk.schema import SchemaValidationError

    try:
        record = json.loads(patient.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise typer.BadParameter(f"cannot read a JSON patient record from {patient}: {err}")
    service = PatientService.from_uris(model or _default_model_uris(), skip_missing=not model)
    try:
        result = service.predict(record, task=task)
    except SchemaValidationError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(code=2)
    typer.echo(json.dumps(result, indent=2) if json_out else render_text(result))


@app.command()
def serve(
    model: Annotated[list[str] | None, typer.Option(
        help="models:/<name>@<alias> to load (repeat); default: the candidate alias of "
             "every registered spine task.")] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body accepted.")] = 65536,
) -> None:
    """Serve the HTTP API and the clinician page (API key from SPINERISK_API_KEY)."""
    import logging
    import os

    import uvicorn

    from spinerisk.explain import PatientService
    from spinerisk.serve import API_KEY_ENV, create_app

    key = os.environ.get(API_KEY_ENV, "")
    if not key:
        raise typer.BadParameter(f"set the environment variable {API_KEY_ENV} to the API key "
                                 "that clients must send in the X-API-Key header")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    service = PatientService.from_uris(model or _default_model_uris(), skip_missing=not model)
    app_ = create_app(service, api_key=key, max_body_bytes=max_body_bytes)
    uvicorn.run(app_, host=host, port=port, log_level="warning", access_log=False)


@app.command()
def validate(
    model: Annotated[str, typer.Option(help="Registered model (models:/<name>@<alias>) or a "
                                            "local .joblib/.pkl file of a fitted model.")],
    data: Annotated[Path, typer.Option(help="The site's table (.csv or .parquet).")],
    site: Annotated[str, typer.Option(help="Site name (report title, MLflow tag, alias).")],
    out: Annotated[Path, typer.Option(help="Folder for report.html, report.pdf, report.json.")],
    mapping: Annotated[Path | None, typer.Option(
        help="YAML mapping of the site's column names and codes to the contract.")] = None,
    task_config: Annotated[Path | None, typer.Option(
        help="Task config (configs/tasks/*.yaml) for a non-spine table.")] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap replicates.", min=50)] = 200,
    seed: Annotated[int, typer.Option(help="Seed of bootstrap and cross-validation.")] = 0,
    log: Annotated[bool, typer.Option(help="Log aggregates and the report to MLflow.")] = True,
    register_update: Annotated[bool, typer.Option(
        help="Register the recommended update as version alias site-<SITE>.")] = False,
) -> None:
    """Validate a registered model on a site's table; write an HTML/PDF/JSON report."""
    from spinerisk.validation.run import run_validation

    summary = run_validation(model=model, data=data, site=site, out=out, mapping=mapping,
                             task_config=task_config, n_boot=n_boot, seed=seed, log=log,
                             register_update=register_update)
    typer.echo(summary)


@app.command()
def metrics(
    data: Annotated[Path, typer.Option(help="Prediction table (.csv or .parquet), one row per patient.")],
    risk: Annotated[str, typer.Option(help="Column with the predicted probability (by --horizon if survival).")],
    outcome: Annotated[str | None, typer.Option(help="Binary outcome column (0/1); for survival it may "
                                                        "name the event column.")] = None,
    time: Annotated[str | None, typer.Option(help="Follow-up time column (time-to-event).")] = None,
    event: Annotated[str | None, typer.Option(help="Event indicator column (0/1, time-to-event).")] = None,
    horizon: Annotated[float | None, typer.Option(help="Time horizon of the risk (same units as --time).")] = None,
    thresholds: Annotated[str, typer.Option(help="Comma-separated risk thresholds.")] = "0.05,0.1,0.15,0.2,0.3,0.4,0.5",
    bootstrap: Annotated[int, typer.Option(help="Bootstrap replicates for percentile CIs (0 = none).", min=0)] = 0,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print the JSON report (fields in docs/metrics.md).")] = False,
    plots: Annotated[Optional[Path], typer.Option(help="Folder for ROC, calibration and decision-curve "
                                                       "plots (PNG and HTML).")] = None,
) -> None:
    """All performance metrics for a prediction file (any model, even one made elsewhere)."""
    import json

    import pandas as pd

    from spinerisk.evaluation import evaluate_predictions

    if not data.exists():
        raise typer.BadParameter(f"--data {data} does not exist; give the path of a .csv or .parquet file")
    frame = pd.read_parquet(data) if data.suffix.lower() == ".parquet" else pd.read_csv(data)
    try:
        cuts = [float(v) for v in thresholds.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"--thresholds must be comma-separated numbers, e.g. 0.1,0.2; got {thresholds!r}")
    try:
        report = evaluate_predictions(frame, risk=risk, outcome=outcome, time=time, event=event,
                                      horizon=horizon, thresholds=cuts, n_boot=bootstrap, seed=seed)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None
    result = report.to_dict()
    if plots is not None:
        from spinerisk.evaluation.plots import write_report_plots

        if result["kind"] == "binary":
            write_report_plots(plots, risk=frame[risk].to_numpy(), outcome=frame[outcome].to_numpy())
        else:
            write_report_plots(plots, risk=frame[risk].to_numpy(), time=frame[time].to_numpy(),
                               event=frame[event or outcome].to_numpy(), horizon=horizon)
    if json_out:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(f"{result['kind']} outcome, n = {result['n']}, events = {result['n_events']:g}"
               + (f", horizon {result['horizon']:g}" if result["horizon"] is not None else ""))
    for name, est in result["metrics"].items():
        if est["estimate"] is None:  # NA: say why instead of printing a number
            typer.echo(f"  {name:22s} NA ({est['na_reason']})")
            continue
        ci = "" if est["ci_lower"] is None else f"  ({est['ci_lower']:.3f} to {est['ci_upper']:.3f}, {est['ci_method']})"
        why = f"  [no CI: {est['na_reason']}]" if est.get("na_reason") else ""
        typer.echo(f"  {name:22s} {est['estimate']:.4f}{ci}{why}")
    for method, errs in result["calibration"].items():
        if errs["ici"] is None:
            typer.echo(f"  calibration {method:10s} NA ({errs.get('na_reason')})")
            continue
        typer.echo(f"  calibration {method:10s} ICI {errs['ici']:.4f}  E50 {errs['e50']:.4f}  "
                   f"E90 {errs['e90']:.4f}  Emax {errs['emax']:.4f}")


def _experiment_configs(paths: list[Path]) -> list[Path]:
    """Config files named directly, or every *.yaml in a named folder (sorted)."""
    files: list[Path] = []
    for path in paths:
        files += sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files:
        raise typer.BadParameter(f"no *.yaml configs in {', '.join(map(str, paths))}")
    return files


@app.command()
def train(
    config: Annotated[list[Path], typer.Option(
        help="Experiment config (YAML); repeat it, or give a folder to run every config in it.")],
    data: Annotated[Path | None, typer.Option(
        help="Use this cohort table (csv/parquet) instead of the config's data source.")] = None,
    tracking_uri: Annotated[str | None, typer.Option(
        help="MLflow store (default sqlite:///mlruns/mlflow.db or $SPINERISK_TRACKING_URI).")] = None,
    n_trials: Annotated[int | None, typer.Option(
        help="Override the config's number of tuning trials.", min=1)] = None,
) -> None:
    """Train, evaluate (nested CV) and register models from experiment configs."""
    from spinerisk.training import load_config, print_summary, run_experiment

    results = []
    for path in _experiment_configs(config):
        overrides = {}
        if data is not None:
            overrides.update({"data.path": str(data), "data.simulate": None})
        if n_trials is not None:
            overrides["search.n_trials"] = n_trials
        experiment = load_config(path, overrides)
        typer.echo(f"training {experiment.name} ({path})")
        results.append(run_experiment(experiment, tracking_uri=tracking_uri))
    print_summary(results)


@app.command()
def tune(
    config: Annotated[Path, typer.Option(help="Experiment config (YAML) with a search section.")],
    n_trials: Annotated[int | None, typer.Option(
        help="Finished trials the study should hold (resumes a stored study).", min=1)] = None,
    storage: Annotated[str | None, typer.Option(
        help="Optuna storage URL (default sqlite:///mlruns/optuna.db).")] = None,
) -> None:
    """Tune a config's hyperparameters on all its data (resumes an interrupted study)."""
    from spinerisk.training import load_config
    from spinerisk.training.runner import tune_only

    overrides = {}
    if n_trials is not None:
        overrides["search.n_trials"] = n_trials
    if storage is not None:
        overrides["search.storage"] = storage
    result = tune_only(load_config(config, overrides))
    typer.echo(f"study {result.study_name}: {result.n_complete} complete, {result.n_pruned} "
               f"pruned ({result.n_run_now} run now); best score {result.best_value:.5f}")
    for name, value in result.best_params.items():
        typer.echo(f"  {name} = {value}")


@app.command()
def score(
    model: Annotated[str, typer.Option(help="models:/<name>@<alias> or models:/<name>/<version>.")],
    data: Annotated[Path, typer.Option(help="Folder of parquet partitions (contract fields).")],
    out: Annotated[Path, typer.Option(help="Folder for the scores (same partitioning).")],
    cluster: Annotated[str | None, typer.Option(
        help="Where partitions are scored: local, local:N or tcp://HOST:PORT (Dask); "
             "default this process.")] = None,
    tracking_uri: Annotated[str | None, typer.Option(
        help="MLflow store (default sqlite:///mlruns/mlflow.db or $SPINERISK_TRACKING_URI).")] = None,
) -> None:
    """Risk, interval and grouped contributions for every row of a partitioned dataset."""
    import time

    from spinerisk.batch import score_dataset
    from spinerisk.cluster import check_cluster
    from spinerisk.tracking import load_risk_model
    from spinerisk.tracking.resolve import resolve_model_uri

    started = time.perf_counter()
    try:
        check_cluster(cluster)
        resolve_model_uri(model, tracking_uri)
        written = score_dataset(load_risk_model(model, tracking_uri), data, out, cluster)
    except (LookupError, ValueError) as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"scored {sum(p['rows'] for p in written):,} rows in {len(written)} partitions "
               f"into {out}/ in {time.perf_counter() - started:.1f} s")
