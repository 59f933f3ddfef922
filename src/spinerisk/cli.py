"""The ``spinerisk`` command line.

Each command imports its heavy modules inside the function so that ``spinerisk --help``
stays fast. Every clinician-facing output says it is decision support for research use.

Failures are handled in one place, :class:`ErrorBoundary`: an expected failure
(:class:`spinerisk.errors.SpineriskError`) prints its message and exits with code 2; an
unexpected one prints one line naming the file that holds its traceback (``--debug``
prints the traceback instead) and exits with code 1. Commands never catch errors
themselves.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from typer._click.exceptions import ClickException  # typer >= 0.29 carries its own click
from typer.core import TyperGroup

from spinerisk.errors import InputFileError, ModelLookupError, SpineriskError, UsageError

EXPECTED_EXIT = 2
UNEXPECTED_EXIT = 1


class ErrorBoundary(TyperGroup):
    """The command group: runs a command and turns what escapes it into a message."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (ClickException, typer.Exit, typer.Abort):
            raise  # usage errors and exits that click and typer print and exit with
        except SpineriskError as err:
            _expected(ctx, err)
        except Exception as err:  # noqa: BLE001 - the boundary: every other error is a bug
            if (known := _foreign_expected(err)) is not None:
                _expected(ctx, known)
            _unexpected(ctx, err)


def _expected(ctx: typer.Context, err: SpineriskError):
    command = " ".join(ctx.command_path.split()[:1] + [ctx.invoked_subcommand or ""]).strip()
    typer.echo(f"{command}: error: {err}", err=True)
    raise typer.Exit(EXPECTED_EXIT)


def _foreign_expected(err: Exception) -> SpineriskError | None:
    """Expected failures raised by modules that predate :mod:`spinerisk.errors`.

    A model reference that names nothing: tracking's ``LookupError`` or MLflow's
    ``RESOURCE_DOES_NOT_EXIST``; a file that is not there.
    """
    if type(err) is LookupError or getattr(err, "error_code", None) == "RESOURCE_DOES_NOT_EXIST":
        return ModelLookupError(getattr(err, "message", None) or str(err),
                                fix="check the name and alias (`uv run mlflow ui` lists the "
                                    "registered models) and that $SPINERISK_TRACKING_URI names "
                                    "the store they were registered in")
    if isinstance(err, (FileNotFoundError, PermissionError)):
        return InputFileError(str(err), fix="check the path and its permissions")
    return None


def _unexpected(ctx: typer.Context, err: Exception):
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(err))
    if ctx.params.get("debug"):
        typer.echo(text, err=True, nl=False)
    else:
        handle, name = tempfile.mkstemp(prefix="spinerisk-error-", suffix=".txt")
        with open(handle, "w") as sink:
            sink.write(text)
        typer.echo(f"spinerisk: internal error ({type(err).__name__}: {str(err)[:200]}); the "
                   f"full traceback is in {name}; please report it (--debug prints it)", err=True)
    raise typer.Exit(UNEXPECTED_EXIT)


app = typer.Typer(
    name="spinerisk",
    cls=ErrorBoundary,
    help="Outcome prediction along the MRI-phenotype-to-intervention pathway for low-back "
    "pain. Decision support for research use.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    debug: Annotated[bool, typer.Option(
        "--debug", envvar="SPINERISK_DEBUG",
        help="Print the traceback of an unexpected error instead of writing it to a file.")] = False,
) -> None:
    """Outcome prediction along the MRI-phenotype-to-intervention pathway for low-back pain.
    Decision support for research use."""
    _report_reads()


def _report_reads() -> None:
    """Show on stderr what each table reader detected (encoding, delimiter, sheet)."""
    logger = logging.getLogger("spinerisk.cohort.readers")
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        logger.addHandler(_Stderr())
        logger.setLevel(logging.INFO)
        logger.propagate = False


class _Stderr(logging.Handler):
    """Log records to whatever ``sys.stderr`` is now (test runners swap it per command)."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(record.getMessage(), err=True)


class DictionaryFormat(str, Enum):
    markdown = "markdown"
    csv = "csv"


class Dgp(str, Enum):
    published = "published"
    linear = "linear"


class SimTask(str, Enum):
    response = "response"
    residual_pain = "residual_pain"
    reoperation = "reoperation"
    all = "all"


@app.command()
def schema(
    format: Annotated[DictionaryFormat, typer.Option(help="Output format.")] = DictionaryFormat.markdown,
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the data dictionary of the patient record."""
    from spinerisk import schema as contract

    text = (contract.data_dictionary_markdown() if format is DictionaryFormat.markdown
            else contract.data_dictionary().to_csv(index=False))
    if out is None:
        typer.echo(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
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
    dgp: Annotated[Dgp, typer.Option(help="Data-generating process.")] = Dgp.published,
    truth: Annotated[Path | None, typer.Option(
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

    from spinerisk.cohort import simulate as simulate_cohort
    from spinerisk.cohort import summarise, write_cohort

    started = time.perf_counter()
    tasks = None if task is SimTask.all else (task.value,)
    if not out.suffix:
        _simulate_partitioned(out, n, partition_rows, sites, seed, tasks, dgp.value, cluster)
        return
    cohort = simulate_cohort(n=n, sites=sites, seed=seed, tasks=tasks, dgp=dgp.value)
    paths = write_cohort(cohort, out, truth)
    summarise(cohort.frame, title=f"Simulated cohort (seed {seed}, dgp {dgp.value})")
    typer.echo(f"wrote {paths[0]} and {paths[1]} in {time.perf_counter() - started:.1f} s")


def _simulate_partitioned(out: Path, n: int, partition_rows: int, sites: int, seed: int,
                          tasks: tuple[str, ...] | None, dgp: str, cluster: str | None) -> None:
    """``simulate --out DIR``: parquet partitions, never the whole cohort in memory."""
    import time

    from spinerisk.cohort.partitioned import simulate_partitioned, truth_dir_for

    started = time.perf_counter()
    written = simulate_partitioned(n, out, partition_rows=partition_rows, sites=sites,
                                   seed=seed, tasks=tasks, dgp=dgp, cluster=cluster)
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

    from spinerisk.cohort.readers import read_record
    from spinerisk.phenotype import assess_patient
    from spinerisk.phenotype.display import render_pathway

    result = assess_patient(read_record(patient))
    if json_output:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        render_pathway(result)


TrackingUri = Annotated[str | None, typer.Option(
    help="MLflow tracking store; default $SPINERISK_TRACKING_URI, else mlruns/mlflow.db in "
         "the spinerisk project checkout (never the current folder).")]
DataSource = Annotated[Path | None, typer.Option(
    help="Use this cohort table (csv/txt, xlsx/xls/ods with FILE#SHEET, parquet) instead of "
         "the config's data source; with --cluster, a folder of parquet partitions.")]
#: what --cluster accepts (spinerisk.cluster)
CLUSTER_SPECS = "local, local:N or tcp://HOST:PORT"


@contextmanager
def _using_store(uri: str | None):
    """Print the store the block uses (stderr); an explicit ``uri`` is the store of every
    look-up inside the block (and only there)."""
    import os

    from spinerisk.tracking.location import ENV_VAR, resolve_store

    typer.echo(resolve_store(uri).describe(), err=True)
    previous = os.environ.get(ENV_VAR)
    if uri:
        os.environ[ENV_VAR] = uri
    try:
        yield
    finally:
        if uri and previous is None:
            del os.environ[ENV_VAR]
        elif uri:
            os.environ[ENV_VAR] = previous


def _patient_service(models: list[str] | None, tracking_uri: str | None):
    """Load the named models (default: every task's candidate that the store holds)
    from the store, which is printed first; a failed look-up exits 2 with its message."""
    from spinerisk.explain import PatientService

    with _using_store(tracking_uri):
        return PatientService.from_uris(models or _default_model_uris(), skip_missing=not models)


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
    tracking_uri: TrackingUri = None,
) -> None:
    """Pathway summary, risk, interval and top drivers for one patient."""
    import json

    from spinerisk.cohort.readers import read_record
    from spinerisk.explain.text import render_text

    record = read_record(patient)
    service = _patient_service(model, tracking_uri)
    result = service.predict(record, task=task)
    typer.echo(json.dumps(result, indent=2) if json_out else render_text(result))


@app.command()
def serve(
    model: Annotated[list[str] | None, typer.Option(
        help="models:/<name>@<alias> to load (repeat); default: the candidate alias of "
             "every registered spine task.")] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(
        help="Worker processes, forked after the models are loaded (they share them); "
             "about one per core.", min=1, max=64)] = 1,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body accepted.",
                                                min=1024)] = 65536,
    header_timeout: Annotated[float, typer.Option(
        help="Seconds allowed to receive a request's headers.", min=0.1)] = 10.0,
    body_timeout: Annotated[float, typer.Option(
        help="Seconds allowed to receive a request's body.", min=0.1)] = 10.0,
    keep_alive: Annotated[float, typer.Option(
        help="Seconds an idle keep-alive connection is held.", min=1)] = 5.0,
    generate_key: Annotated[bool, typer.Option(
        "--generate-key", help="Print a new random API key and exit.")] = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """Serve the HTTP API and the clinician page (API key from SPINERISK_API_KEY)."""
    import logging
    import os

    from spinerisk.serve import API_KEY_ENV, check_api_key, create_app, new_api_key
    from spinerisk.serve.runner import ServeOptions, run

    if generate_key:
        typer.echo(new_api_key())
        return
    key = os.environ.get(API_KEY_ENV, "")
    check_api_key(key)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    service = _patient_service(model, tracking_uri)
    app_ = create_app(service, api_key=key, max_body_bytes=max_body_bytes,
                      body_timeout=body_timeout)
    run(app_, ServeOptions(host=host, port=port, workers=workers,
                           header_timeout=header_timeout, keep_alive=keep_alive))


@app.command()
def validate(
    model: Annotated[str, typer.Option(help="Registered model (models:/<name>@<alias>) or a "
                                            "local .joblib/.pkl file of a fitted model.")],
    data: Annotated[Path, typer.Option(help="The site's table: .csv/.txt (any common encoding, "
                                            "separator and decimal mark), .xlsx/.xls/.ods "
                                            "(FILE#SHEET picks a sheet) or .parquet.")],
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
    tracking_uri: TrackingUri = None,
) -> None:
    """Validate a registered model on a site's table; write an HTML/PDF/JSON report."""
    from contextlib import nullcontext

    from spinerisk.validation.run import run_validation

    uses_store = model.startswith("models:/") or log or register_update
    with _using_store(tracking_uri) if uses_store else nullcontext():
        summary = run_validation(model=model, data=data, site=site, out=out, mapping=mapping,
                                 task_config=task_config, n_boot=n_boot, seed=seed, log=log,
                                 register_update=register_update)
    typer.echo(summary)


class PoolMethod(str, Enum):
    REML = "REML"
    DL = "DL"


@app.command()
def pool(
    reports: Annotated[list[Path], typer.Argument(
        help="Site reports (report.json of spinerisk validate), one per site.")],
    out: Annotated[Path, typer.Option(help="Folder for pooled.html, pooled.pdf, pooled.json "
                                           "and the forest plots.")],
    method: Annotated[PoolMethod, typer.Option(
        help="Between-site variance: REML or DerSimonian-Laird.")] = PoolMethod.REML,
    hksj: Annotated[bool, typer.Option(
        help="Hartung-Knapp-Sidik-Jonkman CI of the pooled mean (else Wald z).")] = True,
    allow_different_models: Annotated[bool, typer.Option(
        help="Pool reports whose model identity differs (the report says so).")] = False,
) -> None:
    """Pool site validation reports by random-effects meta-analysis (aggregates only)."""
    import json

    from spinerisk.report.pooled import write_pooled_report
    from spinerisk.validation.pooling import ReportMismatchError, pool_reports

    loaded = []
    for path in reports:
        try:
            loaded.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as err:
            raise InputFileError(f"{path}: cannot read a report ({err})",
                                 fix="pass the report.json files written by spinerisk "
                                     "validate") from None
    if len(loaded) < 2:
        raise UsageError(f"{len(loaded)} report given; pooling needs at least 2 (one per site)",
                         fix="pass one report.json per site")
    try:
        pooled = pool_reports(loaded, method=method.value, ci="hksj" if hksj else "z",
                              allow_different_models=allow_different_models)
    except (ReportMismatchError, ValueError) as err:
        raise UsageError(f"cannot pool: {err}") from None
    paths = write_pooled_report(pooled.to_dict(), out)
    for m in pooled.measures.values():
        r = m.result
        pi = "" if r.k < 3 else f", 95% PI {r.pi_lower:.3f} to {r.pi_upper:.3f}"
        typer.echo(f"{r.measure}: {r.estimate:.3f} (95% CI {r.ci_lower:.3f} to {r.ci_upper:.3f}"
                   f"{pi}), I2 {r.i2:.0%}, {r.k} sites")
    for e in pooled.exclusions:
        typer.echo(f"excluded {e.site} from {e.measure}: {e.reason}")
    typer.echo("wrote " + ", ".join(str(paths[k]) for k in ("json", "html", "pdf")))


@app.command()
def metrics(
    data: Annotated[Path, typer.Option(help="Prediction table, one row per patient (a .csv/.txt, "
                                            ".xlsx/.xls/.ods or .parquet file).")],
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
    plots: Annotated[Path | None, typer.Option(help="Folder for ROC, calibration and decision-curve "
                                                       "plots (PNG and HTML).")] = None,
) -> None:
    """All performance metrics for a prediction file (any model, even one made elsewhere)."""
    import json

    from spinerisk.cohort.readers import read_table
    from spinerisk.evaluation import evaluate_predictions

    try:
        cuts = [float(v) for v in thresholds.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--thresholds {thresholds!r}: not a list of numbers",
                         allowed="comma-separated numbers, e.g. 0.1,0.2") from None
    frame = read_table(data)
    try:
        report = evaluate_predictions(frame, risk=risk, outcome=outcome, time=time, event=event,
                                      horizon=horizon, thresholds=cuts, n_boot=bootstrap, seed=seed)
    except ValueError as err:  # evaluation's checks of the columns asked for
        raise UsageError(f"{data}: {err}", fix="check --risk/--outcome/--time/--event against "
                         "the table's columns, and that it holds enough rows with and without "
                         "the outcome") from None
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
        raise UsageError(f"--config {', '.join(map(str, paths))}: no *.yaml configs there",
                         fix="give a YAML config file or a folder holding some")
    return files


@app.command()
def train(
    config: Annotated[list[Path], typer.Option(
        help="Experiment config (YAML); repeat it, or give a folder to run every config in it.")],
    data: DataSource = None,
    tracking_uri: TrackingUri = None,
    n_trials: Annotated[int | None, typer.Option(
        help="Override the config's number of tuning trials.", min=1)] = None,
    cluster: Annotated[str | None, typer.Option(
        help=f"Train a folder of parquet partitions on Dask: {CLUSTER_SPECS} (xgboost "
             "through xgboost.dask, trials on the workers); default one process.")] = None,
    promote: Annotated[bool, typer.Option(
        help="Move each task's serving alias (candidate) to the version trained now; "
             "without it a new version is registered and the alias stays where it is "
             "(a task's first version gets the alias).")] = False,
) -> None:
    """Train, evaluate (nested CV) and register models from experiment configs."""
    from spinerisk.tracking.location import resolve_store
    from spinerisk.training import load_config, print_summary, run_experiment

    results = []
    for path in _experiment_configs(config):
        experiment = load_config(path, _overrides(data, n_trials))
        typer.echo(f"training {experiment.name} ({path}); "
                   + resolve_store(tracking_uri or experiment.tracking.uri).describe())
        results.append(run_experiment(experiment, tracking_uri=tracking_uri, promote=promote,
                                      announce=typer.echo, cluster=cluster))
    print_summary(results)
    for result in results:
        if result.model_info.get("promotion"):
            typer.echo(result.model_info["promotion"])


@app.command()
def promote(
    name: Annotated[str, typer.Option(help="Registered model, e.g. spinerisk-response.")],
    version: Annotated[str, typer.Option(help="The registered version to serve.")],
    alias: Annotated[str, typer.Option(help="Serving alias to move.")] = "candidate",
    tracking_uri: TrackingUri = None,
) -> None:
    """Move a serving alias (default candidate) to a registered version; prints old -> new."""
    from spinerisk import tracking

    with _using_store(tracking_uri):
        tracking.resolve_model_uri(f"models:/{name}/{version}")  # lists the store if not
        moved = tracking.move_alias(name, alias, version)
    typer.echo(moved["promotion"])


@app.command()
def tune(
    config: Annotated[Path, typer.Option(help="Experiment config (YAML) with a search section.")],
    n_trials: Annotated[int | None, typer.Option(
        help="Finished trials the study should hold (resumes a stored study).", min=1)] = None,
    storage: Annotated[str | None, typer.Option(
        help="Optuna storage URL (default optuna.db beside the tracking store).")] = None,
    data: DataSource = None,
    cluster: Annotated[str | None, typer.Option(
        help=f"Tune on a folder of parquet partitions on Dask: {CLUSTER_SPECS} (trials on "
             "the workers, scored on a sample of cluster.sample_rows rows: the final study "
             "train --cluster uses); default one process, all rows.")] = None,
) -> None:
    """Tune a config's hyperparameters (resumes a study); --cluster: on Dask workers, a sample."""
    from spinerisk.training import load_config
    from spinerisk.training.runner import tune_only
    from spinerisk.tuning import MEMORY

    experiment = load_config(config, _overrides(data, n_trials, storage))
    if experiment.search is not None and experiment.search.storage != MEMORY:
        from spinerisk.tracking.location import default_study_storage

        typer.echo(f"study storage: {experiment.search.storage or default_study_storage()}",
                   err=True)
    result, summary = tune_only(experiment, cluster=cluster)
    typer.echo(f"study {result.study_name}: {result.n_complete} complete, {result.n_pruned} "
               f"pruned ({result.n_run_now} run now); best score {result.best_value:.5f}")
    typer.echo(_tuned_on(summary, experiment.task_spec().name))
    for name, value in result.best_params.items():
        typer.echo(f"  {name} = {value}")


def _tuned_on(summary: dict, task: str) -> str:
    """Which rows the trials were scored on (inner folds within them)."""
    rows = f"{summary['rows']:,} rows of task {task}"
    if "cluster_sample_rows" not in summary:
        return f"trials scored on all {rows}"
    return (f"trials scored on a sample of {summary['cluster_sample_rows']:,} of the "
            f"{rows}, whole patients drawn at random (cluster.sample_rows; "
            f"{summary['cluster_workers']} workers of "
            f"{summary['cluster']}), not on all rows")


def _overrides(data: Path | None, n_trials: int | None,
               storage: str | None = None) -> dict[str, object]:
    """Config overrides from the options of ``train`` and ``tune``."""
    overrides: dict[str, object] = {}
    if data is not None:
        overrides.update({"data.path": str(data), "data.simulate": None})
    if n_trials is not None:
        overrides["search.n_trials"] = n_trials
    if storage is not None:
        overrides["search.storage"] = storage
    return overrides


@app.command()
def score(
    model: Annotated[str, typer.Option(help="models:/<name>@<alias> or models:/<name>/<version>.")],
    data: Annotated[Path, typer.Option(help="Folder of parquet partitions (contract fields).")],
    out: Annotated[Path, typer.Option(help="Folder for the scores (same partitioning).")],
    cluster: Annotated[str | None, typer.Option(
        help="Where partitions are scored: local, local:N or tcp://HOST:PORT (Dask); "
             "default this process.")] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Risk, interval and grouped contributions for every row of a partitioned dataset."""
    import time

    from spinerisk.batch import score_dataset
    from spinerisk.cluster import check_cluster
    from spinerisk.tracking import load_risk_model
    from spinerisk.tracking.resolve import resolve_model_uri

    started = time.perf_counter()
    check_cluster(cluster)
    resolve_model_uri(model, tracking_uri)
    written = score_dataset(load_risk_model(model, tracking_uri), data, out, cluster)
    typer.echo(f"scored {sum(p['rows'] for p in written):,} rows in {len(written)} partitions "
               f"into {out}/ in {time.perf_counter() - started:.1f} s")
