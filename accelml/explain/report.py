"""The HTML report of a trained model (``accelml report``): the task, the data audit, the
search, the ensemble, overfitting and calibration, metrics, explanations, fairness slices,
the search's cost and the modality's own sections, in one self-contained file that opens
offline (inline CSS, images as base64 PNGs, no scripts, fonts or links) so it can be mailed
or archived next to the model.

Each section is shown when it applies, and otherwise says in one line what would make it
appear; every text that comes from the user or the data is escaped.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from accelml._version import __version__
from accelml.core import metrics as metric_registry
from accelml.core.artifacts import FORMAT_VERSION
from accelml.core.modality import ReportSection, registered_modalities
from accelml.core.predictor import Predictor
from accelml.core.task import Task, TaskKind, encode_target
from accelml.errors import AccelMLError, ArtifactError, ConfigError, DataError
from accelml.explain import figures, html
from accelml.explain.slices import SLICEABLE, SliceReport, predict_raw, slice_metrics

#: Run-record entries every run has written since model format 1; without them the model
#: was saved before the run record existed, and the report has nothing to stand on.
REQUIRED_RUN = ("rows", "features", "validation", "trials")
#: Leaderboard rows shown.
LEADERBOARD_ROWS = 20
#: Features drawn in the partial dependence figure (the most important ones).
DEPENDENCE_FEATURES = 3
#: Classes a confusion matrix shows at most (beyond that it is unreadable).
MAX_CONFUSION_CLASSES = 30
#: Audit severities, most serious first; others after them.
SEVERITY_ORDER = {"critical": 0, "error": 1, "high": 1, "warning": 2, "medium": 2,
                  "low": 3, "info": 4}
#: A validation score this much worse than the training score (relative) is a large gap.
LARGE_GAP = 0.10
#: ... and up to this much, a small one.
SMALL_GAP = 0.02


@dataclass
class _Section:
    """One card of the page: its anchor, title and HTML body; ``skipped`` cards hold only
    the line that says why they are empty."""

    key: str
    title: str
    body: str
    skipped: bool = False


@dataclass
class _Given:
    """The data passed with the report, as far as it goes: a table (sampled to
    ``max_rows``), its labelled rows with their encoded targets and the blend's prediction."""

    data: Any = None
    frame: pd.DataFrame | None = None
    labelled: pd.DataFrame | None = None
    y: np.ndarray | None = None
    raw: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)


def build_report(predictor: Predictor, data: Any = None, *, slice_by: Sequence[str] = (),
                 max_rows: int = 5000, seed: int = 0) -> str:
    """The report as one HTML page. ``data`` (a DataFrame, or a file the model's modality
    reads) adds what needs rows: drift, metrics, explanations and ``slice_by`` groups; above
    ``max_rows`` rows a random sample (``seed``) is used, and the page says so."""
    check_reportable(predictor)
    if max_rows < 1:
        raise ConfigError(f"max_rows must be 1 or more, got {max_rows}")
    given = _read_given(predictor, data, max_rows, seed)
    if slice_by and given.labelled is None:
        raise ConfigError(f"--slice-by needs --data with labelled rows (the target column "
                          f"{predictor.task.target!r}); pass them or leave out --slice-by")
    slices = slice_metrics(predictor, given.frame, slice_by) if slice_by else None
    sections = [_task_section(predictor, given), _audit_section(predictor, given),
                _leaderboard_section(predictor), _ensemble_section(predictor),
                _diagnostics_section(predictor, given), _metrics_section(predictor, given),
                _explain_section(predictor, given, max_rows, seed),
                _slices_section(predictor, slices), _cost_section(predictor),
                *_modality_sections(predictor, given)]
    return _page(predictor, given, sections)


def write_report(predictor: Predictor, output: Path, data: Any = None, *,
                 slice_by: Sequence[str] = (), max_rows: int = 5000, seed: int = 0) -> Path:
    """Build the report and write it to ``output`` atomically: the page is built first,
    then written to a temporary file beside ``output`` that replaces it, so a failure
    leaves neither a half-written report nor a stray file."""
    output = Path(output)
    if output.is_dir():
        raise ConfigError(f"{output} is a folder; pass a file path for the report, e.g. "
                          f"{output / 'report.html'}")
    page = build_report(predictor, data, slice_by=slice_by, max_rows=max_rows, seed=seed)
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".partial",
                                         dir=output.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(page)
        os.chmod(temporary, 0o644)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return output


def check_reportable(predictor: Predictor) -> None:
    """Refuse a model whose run record or leaderboard the report cannot do without.

    Every model saved in format 1 (the first) by ``accelml fit`` carries a run record (the
    manifest's ``run``, loaded as ``predictor.info``) with :data:`REQUIRED_RUN` and a
    leaderboard with the learner, status and metric columns; a model without them was saved
    by an older AccelML (or built by hand), and a report of it would be mostly blank.
    """
    info, board, metric = predictor.info, predictor.board, predictor.task.metric
    if not isinstance(info, dict) or not info:
        missing = "a run record ('run' in its manifest.json)"
    elif [key for key in REQUIRED_RUN if key not in info]:
        keys = ", ".join(repr(key) for key in REQUIRED_RUN if key not in info)
        missing = f"the run record's entries {keys}"
    elif board.empty or not {"learner", "status", metric} <= set(board.columns):
        missing = f"a leaderboard with 'learner', 'status' and {metric!r} columns"
    else:
        return
    raise ArtifactError(f"this model was saved by an older AccelML (model format "
                        f"{FORMAT_VERSION} without {missing}); retrain it with AccelML "
                        f"{__version__} to get a report")


# --- the data ----------------------------------------------------------------------------


def _read_given(predictor: Predictor, data: Any, max_rows: int, seed: int) -> _Given:
    """The data as the sections use it: read from a path by the model's modality, sampled
    to ``max_rows`` rows, and predicted once where it is labelled."""
    if data is None:
        return _Given()
    if isinstance(data, str | Path):
        modality = registered_modalities().get(predictor.preprocessor.kind)
        if modality is None:
            raise ArtifactError(f"no installed modality reads {predictor.preprocessor.kind!r} "
                                "models; install the extra for that modality")
        data = modality.read_labelled(Path(data))
    if not isinstance(data, pd.DataFrame):
        return _Given(data=data)
    if data.empty:
        raise DataError("the report's data has no rows; pass a table with rows to explain")
    given = _Given(data=data, frame=data)
    if len(data) > max_rows:
        given.frame = given.data = data.sample(n=max_rows, random_state=seed).sort_index()
        given.notes.append(f"Explained {max_rows:,} of {len(data):,} rows, a random sample "
                           f"(seed {seed}): raise --max-rows to use more.")
    _label(predictor.task, given)
    if given.labelled is not None:
        given.raw = predict_raw(predictor, given.labelled)
    return given


def _label(task: Task, given: _Given) -> None:
    """Pick the labelled rows of the table and encode their targets; say what is missing."""
    frame = given.frame
    assert frame is not None
    if task.kind not in SLICEABLE:
        return
    if task.target not in frame.columns:
        given.notes.append(f"The data has no {task.target!r} column: metrics, explanations "
                           "and slices need labelled rows.")
        return
    labelled = frame[frame[task.target].notna()]
    if len(labelled) < len(frame):
        given.notes.append(f"{len(frame) - len(labelled):,} rows without a {task.target!r} "
                           "value were left out of the metrics, explanations and slices.")
    if len(labelled):
        given.labelled, given.y = labelled, encode_target(labelled[task.target], task)


# --- sections -------------------------------------------------------------------------------


def _task_section(predictor: Predictor, given: _Given) -> _Section:
    """What was asked and how the model was trained."""
    task, info = predictor.task, predictor.info
    metric = metric_registry.get_metric(task.metric)
    rows: list[tuple[str, Any]] = [
        ("Task", _kind_text(task)), ("Target", task.target),
        ("Metric", f"{task.metric} ({'higher' if metric.greater_is_better else 'lower'} "
                   "is better)")]
    if task.kind.is_classification:
        rows.append(("Classes", _classes_text(task)))
    rows += [("Training rows", html.num(info.get("rows"))),
             ("Features", f"{html.num(info.get('features'))} encoded columns"),
             ("Validation", info.get("validation")),
             ("Time budget", html.seconds(info.get("time_budget_s"))),
             ("Time spent", html.spent(info)), ("Seed", info.get("seed")),
             ("Report by", f"AccelML {__version__}")]
    body = html.pairs(rows)
    if info.get("notes"):
        body += "<h3>What preprocessing decided</h3>" + html.bullets(info["notes"])
    if given.notes:
        body += "<h3>About the data given</h3>" + html.bullets(given.notes)
    return _Section("task", "The task", body)


def _audit_section(predictor: Predictor, given: _Given) -> _Section:
    """The training data's audit findings, and drift of the given rows from it."""
    audit = predictor.info.get("audit")
    failed = [note for note in predictor.info.get("notes") or []
              if str(note).startswith("audit: could not run")]
    if audit is None:
        body = html.para("This model's run record has no data audit (it was trained before "
                     "AccelML audited data).")
    elif not audit:
        body = html.bullets(failed) if failed else html.para(
            "The audit of the training data found nothing to report.")
    else:
        body = html.para(f"{len(audit)} finding(s) on the training data, most serious first.")
        body += _findings_table(audit)
    return _Section("audit", "Data audit", body + _drift_html(predictor, given))


def _drift_html(predictor: Predictor, given: _Given) -> str:
    """Drift findings of the given rows against the training columns' profile."""
    profile = predictor.info.get("data_profile")
    if given.frame is None:
        return html.muted("Pass --data rows to check them for drift from the training data.")
    if not profile:
        return html.muted("This model kept no profile of its training columns, so the given "
                      "rows cannot be checked for drift.")
    from accelml.explain.audit import drift

    findings = [finding.to_dict() for finding in drift(profile, given.frame)]
    head = f"<h3>Drift of the given rows ({len(given.frame):,}) from the training data</h3>"
    if not findings:
        return head + html.para("No drift found: the given rows look like the training rows.")
    return head + _findings_table(findings)


def _findings_table(findings: Sequence[dict[str, Any]]) -> str:
    """Audit or drift findings as a table, most serious first."""
    frame = pd.DataFrame(list(findings))
    for column in ("severity", "check", "column", "message", "action"):
        if column not in frame.columns:
            frame[column] = ""
    rank = frame["severity"].map(lambda s: SEVERITY_ORDER.get(str(s).lower(), 9))
    frame = frame.assign(_rank=rank).sort_values("_rank", kind="stable")
    return html.table(frame[["severity", "check", "column", "message", "action"]],
                  badges="severity")


def _leaderboard_section(predictor: Predictor) -> _Section:
    """The best trials, and the best score against time."""
    board, metric = predictor.board, predictor.task.metric
    columns = [c for c in ("rank", "trial", "learner", metric, "status", "fit_s", "weight")
               if c in board.columns]
    body = html.para(f"{len(board):,} trial(s); the best {min(len(board), LEADERBOARD_ROWS)} "
                 f"by validation {metric}." if len(board) > LEADERBOARD_ROWS else
                 f"{len(board):,} trial(s), best first, by validation {metric}.")
    body += html.table(board[columns].head(LEADERBOARD_ROWS), badges="status")
    greater = metric_registry.get_metric(metric).greater_is_better
    timed = "ended_s" in board.columns and board["ended_s"].notna().any()
    if timed and (board["status"] == "ok").any():
        body += "<h3>The search over time</h3>" + figures.figure_html(
            figures.search_over_time(board, metric, greater),
            f"best validation {metric} so far against seconds since the run started")
    else:
        body += html.muted("This model's leaderboard has no finishing times (saved by an older "
                       "AccelML), so the search over time is not drawn.")
    return _Section("leaderboard", "Leaderboard", body)


def _ensemble_section(predictor: Predictor) -> _Section:
    """The served blend: its members, their weights, and the stacker over them."""
    members = _member_table(predictor)
    body = html.para(f"The served model blends {len(members)} trained model(s); weights are "
                 "shares of the blend.")
    body += html.table(members)
    if len(members) > 1:
        body += figures.figure_html(
            figures.ensemble_members([f"{row.learner} (trial {row.trial})"
                                      for row in members.itertuples()],
                                     members["weight"].tolist()),
            "each member's weight in the blend")
    body += "".join(html.para(line) for line in _stacking_lines(predictor))
    return _Section("ensemble", "The ensemble", body)


def _member_table(predictor: Predictor) -> pd.DataFrame:
    """One row per trial in the blend: learner, share of the weight, fold models, and the
    trial's validation score."""
    groups: dict[Any, dict[str, Any]] = {}
    for index, member in enumerate(predictor.members):
        key = member.group if member.group is not None else f"#{index}"
        row = groups.setdefault(key, {"trial": member.group, "learner": member.learner,
                                      "weight": 0.0, "models": 0})
        row["weight"] += member.weight
        row["models"] += 1
    frame = pd.DataFrame(list(groups.values()),
                         columns=["trial", "learner", "weight", "models"])
    total = frame["weight"].sum()
    frame["weight"] = frame["weight"] / total if total else frame["weight"]
    board, metric = predictor.board, predictor.task.metric
    if "trial" in board.columns:
        scores = board.drop_duplicates("trial").set_index("trial")[metric]
        frame[f"validation {metric}"] = frame["trial"].map(scores)
    return frame.sort_values("weight", ascending=False, kind="stable")


def _stacking_lines(predictor: Predictor) -> list[str]:
    """Sentences on the stacker (served, or tried and not served) and any fallback."""
    info, lines = predictor.info, []
    stacking = info.get("stacking") or {}
    scores = (f" (validation {html.num(stacking.get('stacked_validation_score'))} against the "
              f"weighted blend's {html.num(stacking.get('blend_validation_score'))})"
              if "stacked_validation_score" in stacking else "")
    if predictor.stacker is not None:
        lines.append(f"A level-two {predictor.stacker.kind} stacker combines the members' "
                     f"predictions{scores}, so it is served in place of the weighted average; "
                     "the weights above are the blend's.")
    elif stacking:
        lines.append(f"A level-two stacker was tried{scores} but did not validate better, "
                     "so the weighted blend is served.")
    fallback = info.get("fallback")
    if fallback:
        lines.append(f"Served instead of the best trial's refit: {fallback.get('served')} "
                     f"(trial {fallback.get('trial')}, {fallback.get('learner')}), because "
                     f"{fallback.get('why')}.")
    return lines


def _diagnostics_section(predictor: Predictor, given: _Given) -> _Section:
    """The gap between training and validation scores, and calibration."""
    task, diagnostics = predictor.task, predictor.info.get("diagnostics")
    body, curves = "", []
    if diagnostics:
        body += _gap_html(diagnostics, task.metric)
        calibration = diagnostics.get("calibration") or {}
        if calibration.get("predicted"):
            curves.append(figures.Calibration(
                "out-of-fold (validation)", list(calibration["predicted"]),
                list(calibration["observed"]), list(calibration.get("counts") or [])))
    else:
        body += html.muted("This model's run record has no training and validation scores to "
                       "compare (it was saved before AccelML kept them).")
    if task.kind.is_classification and given.y is not None and given.raw is not None:
        curves.append(_data_calibration(task, given.y, given.raw))
    elif task.kind.is_classification:
        body += html.muted("Pass --data labelled rows to see the calibration on them too.")
    if curves:
        event = _calibrated_event(task)
        body += "<h3>Calibration</h3>" + html.para(
            f"Of the rows given a probability p, a share p should turn out {event}: points on "
            "the diagonal are well calibrated; the bars count the rows behind each point.")
        body += figures.figure_html(figures.calibration(curves, event),
                                    "reliability diagram with the rows per bin")
    if not diagnostics and not curves:
        return _skip("diagnostics", "Overfitting and calibration",
                     "This model's run record has no diagnostics (saved before AccelML kept "
                     "them); retrain it to see its training and validation scores.")
    return _Section("diagnostics", "Overfitting and calibration", body)


def _gap_html(diagnostics: dict[str, Any], default_metric: str) -> str:
    """The training and validation scores, and what their gap means."""
    name = str(diagnostics.get("metric") or default_metric)
    train, valid = diagnostics.get("train_score"), diagnostics.get("validation_score")
    rows = f" ({html.num(diagnostics['train_rows'])} rows)" if "train_rows" in diagnostics else ""
    pairs: list[tuple[str, Any]] = [
        ("Metric", name), (f"Training score{rows}", html.num(train)),
        ("Validation score (out-of-fold)", html.num(valid)),
        ("Gap (how much better on training rows)", html.num(diagnostics.get("gap")))]
    error = (diagnostics.get("calibration") or {}).get("expected_calibration_error")
    if html.finite(error):
        pairs.append(("Expected calibration error (out-of-fold)", html.num(error)))
    return html.pairs(pairs) + html.para(_gap_sentence(name, train, valid))


def _gap_sentence(name: str, train: Any, valid: Any) -> str:
    """What a training/validation gap means, by how much worse validation is (relative)."""
    if not html.finite(train) or not html.finite(valid):
        return "The scores are incomplete, so the gap cannot be judged."
    metric = metric_registry.get_metric(name)
    worse = metric.as_loss(float(valid)) - metric.as_loss(float(train))
    relative = worse / max(abs(float(valid)), 1e-12)
    if relative <= SMALL_GAP:
        return ("Little overfitting: the model scores about as well on rows it did not "
                "train on as on its training rows.")
    if relative <= LARGE_GAP:
        return (f"Some overfitting ({relative:.0%} worse on validation), usual for flexible "
                "models: expect the validation score, not the training score, on new rows.")
    return (f"A large gap ({relative:.0%} worse on validation): the model fits its training "
            "rows much better than new ones. Trust the validation score; more rows, a longer "
            "budget or simpler learners may narrow it.")


def _calibrated_event(task: Task) -> str:
    """What the calibration curves measure: the positive class, or correct predictions."""
    if task.kind is TaskKind.BINARY and task.positive_class is not None:
        return str(task.positive_class)
    return "correct (top class)"


def _data_calibration(task: Task, y: np.ndarray, raw: np.ndarray) -> figures.Calibration:
    """The reliability curve on the given rows: the positive class's probability (binary)
    or the top class's confidence (more classes)."""
    if task.kind is TaskKind.BINARY:
        positive = task.positive_index if task.positive_index is not None else 1
        hits, probability = (y == positive).astype(int), raw[:, positive]
    else:
        hits, probability = (raw.argmax(axis=1) == y).astype(int), raw.max(axis=1)
    return figures.calibration_points(hits, probability, f"given data ({len(y):,} rows)")


def _metrics_section(predictor: Predictor, given: _Given) -> _Section:
    """Every metric on the given labelled rows, with the plots of the task's kind."""
    key, title, task = "metrics", "Metrics on the given data", predictor.task
    if given.data is None:
        return _skip(key, title, "Pass --data labelled rows to see the metrics, confusion "
                     "matrix, ROC and precision-recall curves (or residuals) on them.")
    if given.y is None or given.raw is None:
        if given.frame is not None and task.kind in SLICEABLE:
            return _skip(key, title, f"The data has no {task.target!r} values; pass "
                         "labelled rows to see the metrics on them.")
        return _own_metrics(predictor, given.data)
    scores = metric_registry.report(given.y, given.raw, task)
    body = html.para(f"On {len(given.y):,} labelled rows.") + _metric_table(scores, task.metric)
    if task.kind.is_classification:
        body += _classifier_plots(task, given.y, given.raw)
    else:
        body += figures.figure_html(figures.residuals(given.y, given.raw, task.target),
                                    "predicted against actual values, and the residuals")
    return _Section(key, title, body)


def _own_metrics(predictor: Predictor, data: Any) -> _Section:
    """Metrics of data the modality scores itself (images, series, interactions)."""
    key, title = "metrics", "Metrics on the given data"
    try:
        scores = predictor.evaluate(data)
    except AccelMLError as error:
        return _skip(key, title, f"These rows could not be scored: {error}")
    return _Section(key, title, _metric_table(scores, predictor.task.metric))


def _metric_table(scores: dict[str, float], headline: str) -> str:
    """Metrics, headline first, each with its direction."""
    names = sorted(scores, key=lambda name: name != headline)
    rows = [{"metric": name, "value": scores[name],
             "better": "higher" if _greater(name) else "lower"} for name in names]
    return html.table(pd.DataFrame(rows, columns=["metric", "value", "better"]))


def _greater(name: str) -> bool:
    try:
        return metric_registry.get_metric(name).greater_is_better
    except ConfigError:  # a modality's own metric
        return False


def _classifier_plots(task: Task, y: np.ndarray, raw: np.ndarray) -> str:
    """Confusion matrix, ROC and precision-recall curves."""
    parts = []
    if task.n_classes <= MAX_CONFUSION_CLASSES:
        predicted = metric_registry.predicted_labels(raw, task)
        parts.append(figures.figure_html(figures.confusion(y, predicted, task.classes),
                                         "confusion matrix of actual and predicted classes"))
    if len(np.unique(y)) > 1:
        parts.append(figures.figure_html(
            figures.roc(y, raw, task.classes, task.positive_index), "ROC curve"))
        parts.append(figures.figure_html(
            figures.precision_recall(y, raw, task.classes, task.positive_index),
            "precision-recall curve"))
    else:
        parts.append(html.muted("The rows hold a single class, so ROC and precision-recall "
                            "curves cannot be drawn."))
    return '<div class="figures">' + "".join(parts) + "</div>"


def _explain_section(predictor: Predictor, given: _Given, max_rows: int,
                     seed: int) -> _Section:
    """Permutation importance, and partial dependence with ICE for the top features."""
    key, title, task = "explanations", "Explanations", predictor.task
    if given.frame is None:
        return _skip(key, title, "Pass --data with a table of rows to see which columns "
                     "matter (permutation importance) and how (partial dependence).")
    if task.kind not in SLICEABLE:
        return _skip(key, title, f"Explanations apply to classification and regression "
                     f"models; this one is a {task.kind.value} model.")
    if given.labelled is None:
        return _skip(key, title, f"Permutation importance measures how much the metric "
                     f"drops, so it needs labelled rows: pass rows with their "
                     f"{task.target!r} values.")
    from accelml.explain.dependence import partial_dependence
    from accelml.explain.importance import permutation_importance

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="ignored column")
            ranking = permutation_importance(predictor, given.labelled, max_rows=max_rows,
                                             seed=seed)
            top = _top_features(ranking, task.target)
            curves = partial_dependence(predictor, given.labelled, top, seed=seed)
    except ConfigError as error:
        return _skip(key, title, str(error))
    body = "".join(html.para(note) for note in given.notes if note.startswith("Explained"))
    body += "<h3>Permutation importance</h3>" + html.para(
        f"How much worse {task.metric} gets when one column's values are shuffled (the mean "
        "over repeats, with its standard deviation); larger is more important.")
    body += figures.figure_html(figures.importance(ranking, task.metric),
                                "permutation importance of each column")
    shown = ranking.head(figures.MAX_BARS)[["feature", "importance", "std"]]
    body += html.table(shown.round({"importance": 4, "std": 4}))  # noise below that: shown as 0
    if curves:
        body += "<h3>Partial dependence</h3>" + html.para(
            "How the prediction moves as one column changes, the others held: the thick line "
            "is the average over rows, each thin line one row (ICE).")
        body += figures.figure_html(figures.dependence(curves),
                                    "partial dependence and ICE lines of the top features")
    return _Section(key, title, body)


def _top_features(ranking: pd.DataFrame, target: str) -> list[str]:
    """The most important columns that matter at all (up to DEPENDENCE_FEATURES)."""
    ranked = ranking[ranking["feature"] != target]
    useful = ranked[ranked["importance"] > 0]
    chosen = useful if len(useful) else ranked
    return [str(name) for name in chosen["feature"].head(DEPENDENCE_FEATURES)]


def _slices_section(predictor: Predictor, report: SliceReport | None) -> _Section:
    """Metrics per group of each slice column, the largest gaps flagged."""
    key, title = "slices", "Fairness slices"
    if report is None:
        return _skip(key, title, "Pass --slice-by COLUMN with --data labelled rows to "
                     "compare the model's metrics across groups (e.g. --slice-by sex,region).")
    greater = metric_registry.get_metric(report.metric).greater_is_better
    body = "".join(f'<p class="flag">{html.esc(gap.describe())}.</p>'
                   for gap in report.headline_gaps())
    for column in report.table["column"].unique():
        part = report.table[report.table["column"] == column].drop(columns="column")
        body += f"<h3>By {html.esc(column)}</h3>" + html.table(part)
        body += figures.figure_html(figures.slice_bars(report.table, column, report.metric,
                                                       greater),
                                    f"{report.metric} per group of {column}")
    gaps = pd.DataFrame([{"column": g.column, "metric": g.metric, "best group": g.best_group,
                          "best": g.best, "worst group": g.worst_group, "worst": g.worst,
                          "gap": g.gap} for g in report.gaps])
    if len(gaps):
        body += "<h3>The largest gap of each metric</h3>" + html.table(gaps)
    if report.notes:
        body += html.bullets(report.notes)
    return _Section(key, title, body)


def _cost_section(predictor: Predictor) -> _Section:
    """What the search spent: trials, parallelism, device time, phases, budget."""
    info = predictor.info
    cost = info.get("search_cost") or {}
    overrun = info.get("budget_overrun")
    rows: list[tuple[str, Any]] = [
        ("Trials", f"{html.num(info.get('trials'))} "
                   f"({html.num(info.get('failed_trials', 0))} failed, "
                   f"{html.num(info.get('pruned_trials', 0))} pruned)"),
        ("Parallelism", f"{html.num(info.get('workers'))} worker(s) × "
                        f"{html.num(info.get('threads_per_trial'))} thread(s)"),
        ("Search ended by", info.get("search_ended_by")),
        ("First usable model after", html.seconds(info.get("first_model_s"))),
        ("Devices", ", ".join(map(str, cost.get("devices") or [])) or None),
        ("Device time", html.seconds(cost.get("device_seconds"))),
        ("Time budget", html.seconds(info.get("time_budget_s"))),
        ("Time spent", html.spent(info)),
        ("Budget", None if not html.finite(overrun) else
         f"{abs(float(overrun)):.1%} " + ("over" if float(overrun) > 0 else "left"))]
    body = html.pairs([(name, value) for name, value in rows if value not in (None, "–")])
    phases = info.get("phases_s") or {}
    if phases:
        body += "<h3>Where the time went</h3>" + _phase_bars(phases)
    return _Section("cost", "Search cost", body)


def _phase_bars(phases: dict[str, Any]) -> str:
    """Each phase's seconds as a plain CSS bar (no image needed)."""
    numbers = {str(name): float(value) for name, value in phases.items() if html.finite(value)}
    longest = max(numbers.values(), default=0.0) or 1.0
    rows = "".join(
        f'<tr><td>{html.esc(name.replace("_", " "))}</td>'
        f'<td class="num">{html.seconds(value)}</td>'
        f'<td class="bar"><span style="width:{100 * value / longest:.1f}%"></span></td></tr>'
        for name, value in numbers.items())
    return f'<table class="phases"><tbody>{rows}</tbody></table>'


def _modality_sections(predictor: Predictor, given: _Given) -> list[_Section]:
    """The modality's own sections, in its order."""
    modality = registered_modalities().get(predictor.preprocessor.kind)
    if modality is None:
        return []
    own = modality.report_sections(predictor, given.data)
    return [_render_own(index, section) for index, section in enumerate(own)]


def _render_own(index: int, section: ReportSection) -> _Section:
    body = "".join(html.para(text) for text in section.paragraphs)
    body += "".join(html.table(table) for table in section.tables
                    if isinstance(table, pd.DataFrame))
    body += "".join(figures.figure_html(figure, section.title) for figure in section.figures)
    return _Section(f"modality-{index + 1}", section.title, body)


# --- the page --------------------------------------------------------------------------


def _page(predictor: Predictor, given: _Given, sections: list[_Section]) -> str:
    """The whole document: header, table of contents, the sections as cards."""
    task = predictor.task
    title = f"{_kind_text(task).capitalize()} of {task.target}"
    toc = "".join(f'<li class="{"skipped" if s.skipped else ""}"><a href="#{s.key}">'
                  f"{html.esc(s.title)}</a></li>" for s in sections)
    cards = "".join(
        f'<section id="{s.key}" class="card{" skipped" if s.skipped else ""}">'
        f"<h2>{html.esc(s.title)}</h2>{s.body}</section>" for s in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>AccelML report: {html.esc(title)}</title><style>{html.CSS}</style></head><body>"
        f'<header><div class="wrap"><p class="brand">AccelML report</p>'
        f"<h1>{html.esc(title)}</h1>{_headline_html(predictor, given)}</div></header>"
        f'<main class="wrap"><nav class="toc"><h2>Contents</h2><ol>{toc}</ol></nav>{cards}'
        f'<footer>Made by AccelML {html.esc(__version__)}. One self-contained file: it opens '
        "offline.</footer></main></body></html>\n")


def _headline_html(predictor: Predictor, given: _Given) -> str:
    """The header's key numbers: validation score, score on the given data, the blend."""
    task, info = predictor.task, predictor.info
    diagnostics = info.get("diagnostics") or {}
    stacking = info.get("stacking") or {}
    served = stacking.get("stacked_validation_score") if predictor.stacker else \
        stacking.get("blend_validation_score")
    validation = next((v for v in (diagnostics.get("validation_score"), served,
                                   info.get("validation_score")) if html.finite(v)), None)
    numbers = [(f"validation {task.metric}", html.num(validation))]
    if given.y is not None and given.raw is not None:
        score = metric_registry.report(given.y, given.raw, task).get(task.metric)
        numbers.append((f"{task.metric} on the given data", html.num(score)))
    numbers += [("models in the blend", html.num(len(predictor.members))),
                 ("trials", html.num(info.get("trials")))]
    return '<div class="kpis">' + "".join(
        f'<div class="kpi"><span class="value">{html.esc(value)}</span>'
        f'<span class="label">{html.esc(label)}</span></div>' for label, value in numbers
    ) + "</div>"


def _skip(key: str, title: str, reason: str) -> _Section:
    return _Section(key, title, html.muted(reason), skipped=True)


def _kind_text(task: Task) -> str:
    if task.kind is TaskKind.BINARY:
        return "binary classification"
    if task.kind is TaskKind.MULTICLASS:
        return f"multiclass classification ({task.n_classes} classes)"
    return {TaskKind.REGRESSION: "regression", TaskKind.RANKING: "recommendation ranking",
            TaskKind.FORECAST: "forecasting"}.get(task.kind, task.kind.value)


def _classes_text(task: Task) -> str:
    shown = ", ".join(str(c) for c in task.classes[:20])
    more = f" and {task.n_classes - 20} more" if task.n_classes > 20 else ""
    positive = f" (positive: {task.positive_class})" if task.kind is TaskKind.BINARY else ""
    return shown + more + positive
