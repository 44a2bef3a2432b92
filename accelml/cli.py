"""The ``accelml`` command line (Typer + Rich).

Every command turns an AccelMLError into one clear ``error:`` line and exit code 2; warnings
print as ``warning:`` lines. Nothing is half-written: outputs go through temporary files.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from accelml._version import __version__
from accelml.config import DEFAULT_PRESET, DEFAULT_TIME_BUDGET
from accelml.errors import AccelMLError, ConfigError, MissingDependencyError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="AccelML: give it data, a target and a time budget; get the best model.")
out_console = Console()
err_console = Console(stderr=True)


def _show_warning(message: Warning | str, category: type[Warning], *args: Any,
                  **kwargs: Any) -> None:
    err_console.print(f"[yellow]warning:[/] {message}", highlight=False)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Print AccelMLErrors as one line and exit non-zero; print warnings as one line each."""
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        yield
    except AccelMLError as error:
        err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False,
                          soft_wrap=True)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        err_console.print("[bold red]error:[/] interrupted; nothing was saved")
        raise typer.Exit(130) from None
    finally:
        warnings.showwarning = previous


def _names(value: str | None) -> tuple[str, ...] | None:
    return tuple(n.strip() for n in value.split(",") if n.strip()) if value else None


def _numbers(value: str | None, option: str) -> tuple[float, ...] | None:
    names = _names(value)
    if names is None:
        return None
    try:
        return tuple(float(n) for n in names)
    except ValueError:
        raise ConfigError(f"{option} takes comma-separated numbers such as 0.1,0.5,0.9; got "
                          f"{value!r}") from None


@app.command()
def fit(
    data: Annotated[Path | None, typer.Argument(
        help="Training data: a CSV or Parquet file (tables, texts); for images a folder of "
        "class sub-folders or an .npz. Optional with --resume.")] = None,
    target: Annotated[str | None, typer.Option("--target", "-t", help="The column to predict "
                                               "(tables).")] = None,
    time_budget: Annotated[float, typer.Option(help="Seconds for the whole run.")] = (
        DEFAULT_TIME_BUDGET),
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory to write: new, "
                                      "empty, or an earlier model with --overwrite.")] = Path(
        "model"),
    overwrite: Annotated[bool, typer.Option(
        help="Replace the AccelML model already in --out (files AccelML did not write are "
        "never replaced).")] = False,
    task: Annotated[str | None, typer.Option(
        help="binary, multiclass, regression, image, recommend or forecast.")] = None,
    metric: Annotated[str | None, typer.Option(help="Metric to optimise.")] = None,
    preset: Annotated[str, typer.Option(help="medium, fast or best.")] = DEFAULT_PRESET,
    seed: Annotated[int, typer.Option(help="Seed for repeatable runs.")] = 0,
    n_jobs: Annotated[int | None, typer.Option(help="CPU cores to use (default all).")] = None,
    n_workers: Annotated[int | None, typer.Option(
        help="Trials at once; the cores are split between them (default: up to 2).")] = None,
    learners: Annotated[str | None, typer.Option(help="Comma-separated learners to search.")] = (
        None),
    exclude: Annotated[str | None, typer.Option(help="Comma-separated learners to skip.")] = None,
    max_trials: Annotated[int | None, typer.Option(help="Stop after this many trials.")] = None,
    sampler: Annotated[str | None, typer.Option(help="tpe, random or evolution.")] = None,
    multi_fidelity: Annotated[bool | None, typer.Option(
        "--multi-fidelity/--no-multi-fidelity", help="Successive halving over epochs/trees.")
                              ] = None,
    bagging: Annotated[bool | None, typer.Option(
        "--bagging/--no-bagging", help="Serve the best trials' k-fold models instead of "
        "refitting them (tables validated by k-fold; on with --preset best).")] = None,
    cv_repeats: Annotated[int | None, typer.Option(
        help="Tables: repeat k-fold cross-validation this many times with other folds (a "
        "steadier choice on small data, at that many times the cost of a trial). Default: 3 "
        "on tables of at most 1,000 rows given a budget of 60 s or more, else 1.")] = None,
    stacking: Annotated[bool | None, typer.Option(
        "--stacking/--no-stacking", help="Tables: serve a linear model over the blend's "
        "members when it validates better than their average (on by default).")] = None,
    portfolios: Annotated[bool | None, typer.Option(
        "--portfolios/--no-portfolios", help="Run each learner's hand-designed configs first "
        "(on by default); off, the sampler alone proposes (a baseline search).")] = None,
    zero_shot: Annotated[bool | None, typer.Option(
        "--zero-shot/--no-zero-shot", help="Tables: start with the portfolio learned offline "
        "on the benchmark collection.")] = None,
    deterministic: Annotated[bool, typer.Option(
        help="Schedule by counted work, not the clock: the same seed, data and budget give "
        "the same models (the clock stays a cap).")] = False,
    backbone: Annotated[str | None, typer.Option(help="Local checkpoint to fine-tune (images)."
                                                 )] = None,
    max_params: Annotated[int | None, typer.Option(help="Largest network allowed (images).")
                          ] = None,
    max_latency_ms: Annotated[float | None, typer.Option(
        help="Slowest one-row (tables, default 10; inf lifts it) or single-image (images) "
        "prediction allowed, in ms, measured in process on this machine.")] = None,
    zero_cost_proxy: Annotated[str | None, typer.Option(
        help="naswot: drop hopeless candidate networks before training (images).")] = None,
    text_columns: Annotated[str | None, typer.Option(
        "--text-column", "--text-columns",
        help="Comma-separated columns to read as free text (detected when not given).")] = None,
    embeddings: Annotated[str | None, typer.Option(
        help="Text: sentence embeddings from the packaged encoder: auto (when they fit the "
        "budget), on or off.")] = None,
    group_duplicates: Annotated[bool | None, typer.Option(
        "--group-duplicates/--no-group-duplicates", help="Text: keep copies and pieces of one "
        "text on one side of every validation split (on by default).")] = None,
    user_column: Annotated[str | None, typer.Option(
        "--user", help="Recommendations: the column of user ids.")] = None,
    item_column: Annotated[str | None, typer.Option(
        "--item", help="Recommendations: the column of item ids.")] = None,
    rating_column: Annotated[str | None, typer.Option(
        "--rating", help="Recommendations: explicit ratings (left out: implicit feedback)."
    )] = None,
    time_column: Annotated[str | None, typer.Option(
        "--time", help="Recommendations: when each interaction happened (validation holds "
        "out each user's latest). Forecasts: the dates or integer steps.")] = None,
    item_features: Annotated[Path | None, typer.Option(
        help="Recommendations: a table of item side features keyed by the item column.")
    ] = None,
    user_features: Annotated[Path | None, typer.Option(
        help="Recommendations: a table of user side features keyed by the user column.")
    ] = None,
    relevant_min: Annotated[float | None, typer.Option(
        help="Recommendations: validate counting only held-out ratings of at least this as "
        "relevant.")] = None,
    id_column: Annotated[str | None, typer.Option(
        "--id", help="Forecasts: the series id column (left out: the table is one series)."
    )] = None,
    horizon: Annotated[int | None, typer.Option(
        help="Forecasts: steps to forecast (makes the run a forecast).")] = None,
    frequency: Annotated[str | None, typer.Option(
        help="Forecasts: a pandas offset alias (h, D, W, MS, QS, YS); inferred when left out."
    )] = None,
    season_length: Annotated[int | None, typer.Option(
        help="Forecasts: steps per season (from the frequency when left out; needed for "
        "integer time).")] = None,
    covariates: Annotated[str | None, typer.Option(
        help="Forecasts: comma-separated numeric columns known in advance (their future "
        "values are passed to `accelml forecast --future`).")] = None,
    quantiles: Annotated[str | None, typer.Option(
        help="Forecasts: comma-separated quantiles forecast beside the point forecast "
        "(default 0.1,0.9).")] = None,
    backtests: Annotated[int | None, typer.Option(
        help="Forecasts: backtest windows, each one horizon long (default 1 to 3 by size).")
    ] = None,
    duplicates: Annotated[str | None, typer.Option(
        help="Forecasts: repeated timestamps of a series are averaged (mean, the default, "
        "said) or refused (error).")] = None,
    backend: Annotated[str | None, typer.Option(
        help="local (worker processes) or ray (tasks on a Ray cluster).")] = None,
    ray_address: Annotated[str | None, typer.Option(
        help="The Ray cluster to join: auto or host:port (--backend ray).")] = None,
    storage: Annotated[str | None, typer.Option(
        help="Database URL of the trial history, e.g. postgresql://user@host/db (default: "
        "SQLite in OUT/run).")] = None,
    study_name: Annotated[str | None, typer.Option(
        help="The study in --storage; runs naming the same study share their trials.")] = None,
    max_trial_memory: Annotated[float | None, typer.Option(
        help="Megabytes one trial may allocate; past it the trial is out of memory.")] = None,
    strict: Annotated[bool, typer.Option(
        help="Fail (exit 2) instead of saving the constant model (class prior or mean) when no "
        "trial gives a model in time.")] = False,
    resume: Annotated[Path | None, typer.Option(
        help="Continue the interrupted run saved in this directory, with its own options; "
        "DATA is needed only when its file moved.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Search, tune and refit the best model for TARGET; save it to --out."""
    if resume is not None:
        _resume(resume, data, quiet)
        return
    if data is None:
        err_console.print("[bold red]error:[/] missing the training data: accelml fit DATA "
                          "--target NAME (or --resume DIR to continue a run)")
        raise typer.Exit(2)
    with _user_errors(), _resumable(out):
        from accelml.api import fit as fit_api

        predictor = fit_api(
            data, target, time_budget, task=task, metric=metric, preset=preset, out=out,
            overwrite=overwrite, seed=seed, n_jobs=n_jobs, n_workers=n_workers,
            learners=_names(learners),
            exclude_learners=_names(exclude) or (), max_trials=max_trials, quiet=quiet,
            sampler=sampler, multi_fidelity=multi_fidelity, bagging=bagging, backbone=backbone,
            max_params=max_params, max_latency_ms=max_latency_ms,
            zero_cost_proxy=zero_cost_proxy, deterministic=deterministic or None,
            text_columns=_names(text_columns), embeddings=embeddings,
            group_duplicates=group_duplicates,
            user_column=user_column, item_column=item_column, rating_column=rating_column,
            time_column=time_column, item_features=item_features,
            user_features=user_features, relevant_min=relevant_min,
            id_column=id_column, horizon=horizon, frequency=frequency,
            season_length=season_length, covariates=_names(covariates),
            quantiles=_numbers(quantiles, "--quantiles"), backtests=backtests,
            duplicates=duplicates,
            zero_shot=zero_shot, portfolios=portfolios, stacking=stacking,
            cv_repeats=cv_repeats,
            backend=backend, ray_address=ray_address, storage=storage, study_name=study_name,
            max_trial_memory_mb=max_trial_memory, strict=strict or None)
        _report_fit(predictor, out, quiet)


def _resume(directory: Path, data: Path | None, quiet: bool) -> None:
    with _user_errors(), _resumable(directory):
        from accelml.api import resume as resume_api

        predictor = resume_api(directory, data)
        _report_fit(predictor, directory, quiet)


@contextmanager
def _resumable(out: Path) -> Iterator[None]:
    """A second Ctrl-C saves no model; say how to continue the run it leaves in ``out``."""
    try:
        yield
    except KeyboardInterrupt:
        from accelml.core.store import has_unfinished_run

        hint = (f"; `accelml fit --resume {out}` continues the run"
                if has_unfinished_run(out) else "")
        err_console.print(f"[bold red]error:[/] interrupted; no model was saved{hint}",
                          highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None


def _report_fit(predictor: Any, out: Path, quiet: bool) -> None:
    info = predictor.info
    if not quiet:
        _print_board(predictor.leaderboard(), info, top=10)
    if info.get("resumed"):
        err_console.print(f"resumed: kept {info.get('resumed_trials', 0)} finished trials, "
                          f"{info.get('spent_before_resume_s', 0):.1f}s of the budget spent "
                          "before", highlight=False)
    if info.get("stopped_by"):
        err_console.print(f"stopped by {info['stopped_by']}: kept the best model "
                          "found so far", highlight=False)
    latency = info.get("latency")
    if latency:
        dropped = len(latency["dropped"])
        err_console.print(
            f"one-row prediction: {latency['served_ms']['p50_ms']:g} ms median, "
            f"{latency['served_ms']['p90_ms']:g} ms 90th percentile (limit "
            f"{latency['limit_ms']:g} ms"
            + (f", {dropped} slower member{'s' * (dropped > 1)} left out of the blend"
               if dropped else "") + ")", highlight=False)
    fallback = info.get("fallback")
    served = f"; fallback: {fallback['learner']} ({fallback['served']})" if fallback else ""
    err_console.print(f"model saved to {out} ({info['fit_wall_s']:.1f}s of "
                      f"{info['time_budget_s']:g}s{served})", highlight=False)


def _print_board(board: Any, info: dict[str, Any], top: int) -> None:
    """The leaderboard as a compact table (numbers never wrap, so it reads in an 80-column
    log), then the reason of each shown trial that did not finish, in full."""
    table = Table(title="leaderboard", title_justify="left", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    shown = board.head(top)
    columns = [c for c in shown.columns if c not in ("config", "error")
               and any(_cell(v, c) for v in shown[c])]  # e.g. no fidelity on tabular runs
    for column in columns:
        numeric = shown[column].dtype.kind in "iuf"
        table.add_column("#" if column == "rank" else str(column),
                         no_wrap=numeric or column == "status", overflow="fold",
                         justify="right" if numeric else "left")
    rows = shown.to_dict("records")
    for row in rows:
        table.add_row(*[_cell(row[column], column) for column in columns])
    out_console.print(table)
    for row in rows:
        if isinstance(row.get("error"), str) and row["error"]:
            out_console.print(f"trial {row['trial']} {row['status']}: {row['error']}",
                              markup=False, highlight=False, soft_wrap=True)
    summary = ", ".join(f"{k}={info[k]}" for k in ("trials", "failed_trials", "pruned_trials",
                                                   "search_ended_by", "validation",
                                                   "first_model_s", "fit_wall_s",
                                                   "budget_overrun") if k in info)
    out_console.print(summary, highlight=False)
    stacking = info.get("stacking")
    if stacking and "skipped" in stacking:
        out_console.print(f"stacking skipped: {stacking['skipped']}", highlight=False)
    elif stacking:
        served = "served" if stacking["served"] else "not served"
        out_console.print(f"stacking over {stacking['inputs']} members: {served} (cross-"
                          f"validated {stacking['stacked_validation_score']:.5g} against the "
                          f"blend's {stacking['blend_validation_score']:.5g})", highlight=False)
    cost = info.get("search_cost")
    if cost:
        out_console.print(f"search cost: {cost['device_seconds']} device-seconds on "
                          f"{', '.join(cost['devices'])} ({cost['trials']} trials)",
                          highlight=False)


def _cell(value: Any, column: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        if value != value:
            return ""
        return f"{value:.1f}" if column in ("fit_s", "ended_s") else f"{value:.5g}"
    return str(value)


@app.command()
def leaderboard(
    model: Annotated[Path, typer.Argument(help="A model directory.")],
    top: Annotated[int, typer.Option(help="Rows to show.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records.")] = False,
) -> None:
    """Show every trial of the run, best first."""
    with _user_errors():
        from accelml.api import load

        predictor = load(model)
        board = predictor.leaderboard()
        if as_json:
            out_console.print_json(board.head(top).to_json(orient="records"))
        else:
            _print_board(board, predictor.info, top)


@app.command()
def evaluate(
    model: Annotated[Path, typer.Argument(help="A model directory.")],
    data: Annotated[Path, typer.Argument(help="Labelled data (CSV or Parquet).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Score the model on labelled data with every metric of its task."""
    with _user_errors():
        from accelml.api import load
        from accelml.core.modality import get_modality

        predictor = load(model)
        labelled = get_modality(predictor.preprocessor.kind).read_labelled(data)
        scores = predictor.evaluate(labelled)
        if as_json:
            out_console.print_json(json.dumps(scores))
            return
        table = Table(title=f"{predictor.task.kind.value} metrics on {data.name}",
                      title_justify="left")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for name, value in scores.items():
            table.add_row(name + (" *" if name == predictor.task.metric else ""), f"{value:.6g}")
        out_console.print(table)


@app.command()
def predict(
    model: Annotated[Path, typer.Argument(help="A model directory.")],
    data: Annotated[Path, typer.Argument(help="Rows to predict (CSV, TSV, JSON lines or "
                                         "Parquet), or a folder of images.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write (CSV or "
                                         "Parquet by extension).")] = Path("predictions.csv"),
    proba: Annotated[bool, typer.Option(help="Add class probability columns.")] = True,
    batch_size: Annotated[int, typer.Option(help="Rows read and predicted at a time (bounds "
                                            "memory on large files).")] = 100_000,
    explain: Annotated[bool, typer.Option(help="Add the top reasons of each answer (tables: "
                                          "columns with their SHAP values; texts: "
                                          "words).")] = False,
    top: Annotated[int, typer.Option(help="Reasons per row with --explain.")] = 3,
    max_rows: Annotated[int, typer.Option(help="Most rows --explain takes (each costs many "
                                          "predictions).")] = 1000,
) -> None:
    """Add a prediction column (and class probabilities) to DATA and write it to --output."""
    with _user_errors():
        from accelml.api import load
        from accelml.core.modality import get_modality
        from accelml.core.outputs import check_output_file

        check_output_file(output)
        predictor = load(model)
        if explain:
            from accelml.explain.outputs import predict_with_reasons

            written = predict_with_reasons(predictor, data, output, top=top,
                                           max_rows=max_rows, proba=proba)
            err_console.print(f"wrote {written} predictions with reasons to {output}",
                              highlight=False)
            return
        modality = get_modality(predictor.preprocessor.kind)
        with _batch_progress() as on_progress:
            written = modality.predict_file(predictor, data, output, proba=proba,
                                            batch_rows=batch_size, on_progress=on_progress)
        err_console.print(f"wrote {written} predictions to {output}", highlight=False)


@app.command()
def audit(
    data: Annotated[Path, typer.Argument(help="Training data (CSV, TSV, JSON lines or "
                                         "Parquet).")],
    target: Annotated[str | None, typer.Option("--target", "-t", help="The column to "
                                               "predict.")] = None,
    test: Annotated[Path | None, typer.Option(help="Test data, checked for rows it shares "
                                              "with DATA.")] = None,
    task: Annotated[str | None, typer.Option(help="binary, multiclass or regression "
                                             "(inferred when left out).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records.")] = False,
) -> None:
    """Check data before training: leakage, ID-like, constant and mostly-missing columns,
    duplicates, train/test overlap, class imbalance, high cardinality, target outliers."""
    with _user_errors():
        from accelml.api import audit as audit_data
        from accelml.io import read_table

        findings = audit_data(read_table(data), target, task=task,
                              test=None if test is None else read_table(test))
        if as_json:
            out_console.print_json(json.dumps([f.to_dict() for f in findings]))
            return
        _print_findings(findings, data.name)


def _print_findings(findings: list[Any], name: str) -> None:
    if not findings:
        out_console.print(f"audit of {name}: nothing to report", highlight=False)
        return
    table = Table(title=f"audit of {name}: {len(findings)} finding(s)", title_justify="left",
                  box=box.SIMPLE_HEAD, show_lines=False)
    for column in ("severity", "check", "column", "finding", "what to do"):
        table.add_column(column, overflow="fold")
    colours = {"high": "bold red", "medium": "yellow", "low": "dim"}
    for found in findings:
        table.add_row(f"[{colours.get(found.severity, '')}]{found.severity}[/]", found.check,
                      escape(found.column or ""), escape(found.message), escape(found.action))
    out_console.print(table)


@app.command()
def explain(
    model: Annotated[Path, typer.Argument(help="A model directory.")],
    data: Annotated[Path, typer.Argument(help="Rows to explain (a table file; labelled "
                                         "rows add permutation importance), or images.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write: new, "
                                         "empty, or an earlier explanation.")] = (
        Path("explain")),
    max_rows: Annotated[int, typer.Option(help="Rows explained: a random sample of more "
                                          "(said).")] = 1000,
    top: Annotated[int, typer.Option(help="Reasons per row.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the sampling.")] = 0,
) -> None:
    """Write importance, partial dependence, SHAP contributions and per-row reasons (or
    saliency maps for images) to --output."""
    with _user_errors():
        from accelml.api import load
        from accelml.core.modality import get_modality
        from accelml.explain.outputs import check_explain_folder, write_explanations

        check_explain_folder(output)
        predictor = load(model)
        source = get_modality(predictor.preprocessor.kind).read_labelled(data)
        summary = write_explanations(predictor, source, output, max_rows=max_rows, top=top,
                                     seed=seed)
        if "note" in summary:
            err_console.print(f"note: {summary['note']}", highlight=False)
        err_console.print(f"explained {summary['explained_rows']} rows into {output} "
                          f"({summary.get('method')})", highlight=False, soft_wrap=True)


@app.command()
def report(
    model: Annotated[Path, typer.Argument(help="A model directory.")],
    data: Annotated[Path | None, typer.Option(help="Labelled rows (e.g. the test set) for "
                                              "metrics, plots, drift and slices.")] = None,
    slice_by: Annotated[str | None, typer.Option(help="Comma-separated columns: every "
                                                 "metric per group.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = (
        Path("report.html")),
    max_rows: Annotated[int, typer.Option(help="Rows of --data used: a random sample of "
                                          "more (said in the report).")] = 5000,
) -> None:
    """Write one self-contained HTML report: the task, data audit, leaderboard, search over
    time, ensemble, metrics and plots, explanations, slices and search cost."""
    with _user_errors():
        from accelml.api import load
        from accelml.core.modality import get_modality
        from accelml.core.outputs import check_output_file
        from accelml.explain.report import write_report

        check_output_file(output)
        predictor = load(model)
        source: Any = None
        if data is not None:
            source = get_modality(predictor.preprocessor.kind).read_labelled(data)
        write_report(predictor, output, source, slice_by=_names(slice_by) or (),
                     max_rows=max_rows)
        err_console.print(f"wrote the report to {output}", highlight=False)


@app.command()
def recommend(
    model: Annotated[Path, typer.Argument(help="A recommendation model directory.")],
    users: Annotated[str | None, typer.Option(help="Comma-separated user ids.")] = None,
    all_users: Annotated[bool, typer.Option(help="Every user the model knows, written in "
                                            "batches.")] = False,
    k: Annotated[int, typer.Option("-k", "--k", help="Items per user.")] = 10,
    include_seen: Annotated[bool, typer.Option(help="Also recommend items the user already "
                                               "interacted with.")] = False,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write (CSV or "
                                         "Parquet by extension).")] = Path("recs.csv"),
) -> None:
    """Write each user's top-k items: one row per (user, item) with rank (1 = best), score
    and fallback (True for a user the model has never seen: the most popular items)."""
    with _user_errors():
        from accelml.api import load
        from accelml.core.outputs import check_output_file
        from accelml.io import TableWriter

        check_output_file(output)
        if (users is None) == (not all_users):
            raise ConfigError("name the users with --users 1,2,3 or ask for --all-users")
        predictor = load(model)
        chosen = list(_names(users) or ()) if users else list(predictor.preprocessor.users)
        written = 0
        with TableWriter(output) as writer, _batch_progress() as on_progress:
            for start in range(0, len(chosen), RECOMMEND_BATCH):
                frame = predictor.recommend(chosen[start:start + RECOMMEND_BATCH], k,
                                            exclude_seen=not include_seen)
                writer.write(frame)
                written += len(frame)
                on_progress(min(len(chosen), start + RECOMMEND_BATCH), len(chosen))
        unknown = predictor.preprocessor.user_codes(chosen) < 0
        if unknown.any():
            err_console.print(f"{int(unknown.sum())} unknown user(s) got the most popular "
                              "items (fallback column)", highlight=False)
        err_console.print(f"wrote {written} recommendations for {len(chosen)} users to "
                          f"{output}", highlight=False)


@app.command()
def forecast(
    model: Annotated[Path, typer.Argument(help="A forecasting model directory.")],
    horizon: Annotated[int | None, typer.Option(
        help="Steps to forecast (default: the horizon the model was fitted for).")] = None,
    history: Annotated[Path | None, typer.Option(
        help="Forecast from this history instead of the training data (same columns).")
    ] = None,
    future: Annotated[Path | None, typer.Option(
        help="The covariates of the steps forecast (id, time and each covariate).")] = None,
    ids: Annotated[str | None, typer.Option(help="Comma-separated series to forecast "
                                            "(default all).")] = None,
    plot: Annotated[str | None, typer.Option(
        help="Comma-separated series to plot (history, forecast, interval) into --plot-file."
    )] = None,
    plot_file: Annotated[Path | None, typer.Option(
        help="Where --plot draws (PNG; default beside --output).")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write (CSV or "
                                         "Parquet by extension).")] = Path("forecast.csv"),
) -> None:
    """Write the next steps of each series: the id and time columns, the point forecast
    under the target's name, then one column per quantile."""
    with _user_errors():
        from accelml.api import load
        from accelml.core.outputs import check_output_file
        from accelml.io import read_table, write_table

        check_output_file(output)
        predictor = load(model)
        frame = predictor.forecast(
            horizon=horizon, history=None if history is None else read_table(history),
            future=None if future is None else read_table(future), ids=_names(ids))
        if plot:
            from accelml.timeseries.forecast import plot as draw

            if history is not None:
                raise ConfigError("--plot draws the training history; leave out --history "
                                  "to plot")
            target = plot_file or output.with_name(output.stem + "_plot.png")
            draw(predictor, frame, list(_names(plot) or ()), target)
            err_console.print(f"plotted {plot} to {target}", highlight=False)
        write_table(frame, output)
        err_console.print(f"wrote {len(frame)} forecast steps to {output}", highlight=False)


#: Users recommended for per batch of `accelml recommend` (bounds its memory).
RECOMMEND_BATCH = 5000


@contextmanager
def _batch_progress() -> Iterator[Any]:
    """A Rich progress bar of inputs predicted (a spinner and a count while the total is
    unknown)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = [SpinnerColumn(), TextColumn("predicting"), BarColumn(), MofNCompleteColumn(),
               TextColumn("rows"), TimeElapsedColumn()]
    with Progress(*columns, console=err_console, transient=True) as progress:
        task = progress.add_task("rows", total=None)

        def on_progress(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        yield on_progress


@app.command()
def export(
    model: Annotated[Path, typer.Argument(help="A model directory.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")] = Path(
        "model.onnx"),
    format: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    check_data: Annotated[Path | None, typer.Option(
        help="Rows to compare the export with the native model on (tabular; synthetic rows "
             "when left out).")] = None,
) -> None:
    """Export the final model (or blend) to ONNX, checked against the native model."""
    with _user_errors():
        from accelml.api import export_model

        difference = export_model(model, output, format, check_data)
        err_console.print(f"wrote {output}; largest difference from the native model on the "
                          f"check inputs: {difference:.2e}", highlight=False)


@app.command()
def serve(
    model: Annotated[Path, typer.Argument(help="A model directory (tabular).")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    api_key_file: Annotated[Path | None, typer.Option(
        help="A file holding the API key clients must send (X-API-Key).")] = None,
    workers: Annotated[int, typer.Option(help="Server processes sharing the port.")] = 1,
    max_rows: Annotated[int, typer.Option(help="Most rows one request may carry.")] = 10_000,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log",
                                             help="One JSON line per request on stderr.")
                          ] = True,
    docs: Annotated[bool, typer.Option(
        "--docs/--no-docs", help="Serve the API documentation (/docs, /redoc, /openapi.json), "
        "behind the key when one is set.")] = True,
) -> None:
    """Serve MODEL over HTTP: POST /v1/predict, GET /v1/schema, /v1/metadata, /healthz."""
    with _user_errors():
        try:
            from accelml.serve.run import serve_model
        except ImportError as error:
            if error.name not in {"fastapi", "uvicorn", "starlette"}:
                raise
            raise MissingDependencyError("accelml serve needs FastAPI and Uvicorn: pip "
                                         "install 'accelml[serve]'") from None
        serve_model(model, host, port, api_key_file, workers, max_rows, access_log,
                    err_console, docs=docs)


@app.command()
def demo(
    time_budget: Annotated[float, typer.Option(help="Seconds for the run.")] = 30.0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Model directory.")] = Path(
        "demo_model"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """A full run on scikit-learn's breast cancer data (shipped with scikit-learn)."""
    with _user_errors():
        from accelml.demo import run_demo

        run_demo(time_budget, out, quiet, out_console)


@app.command()
def version() -> None:
    """Print the AccelML version."""
    out_console.print(__version__)


def main() -> None:
    """Console-script entry point: the run's budget starts with this process (imports
    included), as the user's clock does, and the process ends as soon as the command is done
    (the interpreter's teardown of the learner libraries took up to 2 s on a busy machine)."""
    from accelml.core.budget import mark_command_start, process_start

    mark_command_start(process_start())
    try:
        app()
    except SystemExit as done:
        _exit_now(done.code)
    _exit_now(0)


def _exit_now(code: object) -> None:
    """Exit with ``code`` as SystemExit would, after the exit handlers and the flush of the
    standard streams, without the interpreter's teardown."""
    import atexit
    import os

    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code or 0)


if __name__ == "__main__":
    sys.exit(main())
