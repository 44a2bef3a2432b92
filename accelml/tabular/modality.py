"""Tables as a modality: a DataFrame or a table file (CSV, TSV, Parquet, JSON lines) and a
target column; typed columns encoded by :class:`TabularPreprocessor`; files predicted in
chunks; ONNX export of the blend; rows served as JSON records."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from accelml.config import RunConfig
from accelml.core.latency import LatencyGoal
from accelml.core.learner import discover, learners_for
from accelml.core.modality import Modality, OnProgress, Prepared, ServeInput, register_modality
from accelml.core.task import Task, encode_target, infer_task
from accelml.core.validation import check_target_column
from accelml.errors import ConfigError, DataError, TargetError
from accelml.io import count_rows, read_table
from accelml.tabular import zeroshot
from accelml.tabular.preprocess import TabularPreprocessor

if TYPE_CHECKING:
    from accelml.core.predictor import Predictor

#: Modules whose import registers the tabular learners (workers import them too).
TABULAR_MODULES = ("accelml.tabular.learners",)
#: The slowest one-row prediction a served table model may have unless the run says
#: otherwise (ms, in process, on the machine that fits it).
DEFAULT_MAX_LATENCY_MS = 10.0


@dataclass(frozen=True)
class TableOptions:
    """The options only table runs read.

    Attributes:
        max_latency_ms: the slowest one-row prediction (ms, in process, measured on this
            machine when the fit ends; its 90th percentile) the served model may have:
            members are dropped from the blend until it fits. None: 10 ms; ``inf``: no
            limit.
    """

    max_latency_ms: float | None = None

    def __post_init__(self) -> None:
        if self.max_latency_ms is not None and not self.max_latency_ms > 0:
            raise ConfigError(f"max_latency_ms must be > 0 (inf for no limit), got "
                              f"{self.max_latency_ms}")

    def latency_goal(self, sample: pd.DataFrame) -> LatencyGoal | None:
        """The goal for a run whose rows look like ``sample`` (one raw row)."""
        limit = DEFAULT_MAX_LATENCY_MS if self.max_latency_ms is None else self.max_latency_ms
        return None if math.isinf(limit) else LatencyGoal(float(limit), sample)


@register_modality
class TabularModality(Modality):
    """Rows and typed columns; the broadest kind, so asked last."""

    name = "tabular"
    learner_modules = TABULAR_MODULES
    learner_names = ("lightgbm", "xgboost", "catboost", "random_forest", "extra_trees",
                     "linear", "knn", "mlp", "torch_mlp")
    priority = 100
    option_type = TableOptions

    def detect(self, data: Any, task: str | None) -> bool:
        return True  # anything no other modality claimed is read as a table (or refused)

    def prepare(self, data: Any, target: str | None, config: RunConfig,
                options: Any = None) -> Prepared:
        if target is None:
            raise ConfigError("tabular data needs a target: pass the column to predict "
                              "(--target NAME)")
        frame = read_table(data) if isinstance(data, str | Path) else check_frame(data)
        features_frame, y = split_target(frame, target)
        task = infer_task(y, target, config.task, config.metric, config.positive_class)
        preprocessor = TabularPreprocessor().fit(features_frame)
        features = preprocessor.transform(features_frame)
        if features.X.shape[1] == 0:
            raise DataError("no usable feature column is left after dropping ID-like, "
                            f"constant and empty columns ({'; '.join(preprocessor.notes)})")
        lead, notes = _zero_shot(config, task, list(features_frame.columns), target)
        findings, profile, audit_notes = run_audit(frame, target, task)
        goal = (options or TableOptions()).latency_goal(features_frame.iloc[[0]])
        return Prepared(features, encode_target(y, task), task, preprocessor, config,
                        [*preprocessor.notes, *notes, *audit_notes], lead=lead,
                        audit=findings, profile=profile, latency=goal)

    def preprocessor_from_dict(self, state: dict[str, Any]) -> TabularPreprocessor:
        return TabularPreprocessor.from_dict(state)

    def predict_file(self, predictor: Predictor, source: Path, output: Path, *, proba: bool,
                     batch_rows: int, on_progress: OnProgress | None = None) -> int:
        return predict_rows_file(predictor, source, output, proba=proba,
                                 batch_rows=batch_rows, on_progress=on_progress)

    def explain(self, predictor: Predictor, data: Any, *, top: int, max_rows: int) -> Any:
        from accelml.explain.reasons import explain_rows

        return explain_rows(predictor, data, top=top, max_rows=max_rows)

    def export_onnx(self, predictor: Predictor, output: Path, check_data: Any) -> float:
        from accelml.tabular.export import export_onnx_checked

        check = read_table(check_data) if isinstance(check_data, str | Path) else check_data
        return export_onnx_checked(predictor, output, check)

    def serve_input(self, predictor: Predictor, max_rows: int) -> ServeInput:
        return rows_input(predictor)


def predict_rows_file(predictor: Predictor, source: Path, output: Path, *, proba: bool,
                      batch_rows: int, on_progress: OnProgress | None = None) -> int:
    """A table file predicted chunk by chunk (every modality whose inputs are rows)."""
    from accelml.tabular.batch import predict_table_file

    return predict_table_file(predictor, source, output, batch_rows=batch_rows, proba=proba,
                              total_rows=count_rows(source), on_progress=on_progress)


def rows_input(predictor: Predictor) -> ServeInput:
    """Rows as JSON records, validated against the model's column schema (every modality
    whose inputs are rows)."""
    from accelml.tabular.serving import example_row, row_model, rows_of

    columns = list(getattr(predictor.preprocessor, "schema", []))
    example = example_row(columns)
    return ServeInput(field="rows", item_type=row_model(columns), decode=rows_of,
                      schema={"columns": columns}, example=example, warm=[example])


def _zero_shot(config: RunConfig, task: Task, columns: list[str], target: str
               ) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """The zero-shot portfolio for this data among the run's learners, and a note on what it
    was learned from (never from this data itself)."""
    if not config.zero_shot:
        return [], []
    discover(TABULAR_MODULES)
    names = [learner.name for learner in learners_for(task.kind, config.learners,
                                                      config.exclude_learners, "tabular")]
    lead, learned_from = zeroshot.portfolio(task.kind.value, columns, target, names)
    if not lead:
        return [], []
    return lead, [f"zero-shot portfolio: {len(lead)} configs learned on {len(learned_from)} "
                  "other datasets"]


def run_audit(frame: pd.DataFrame, target: str, task: Task
              ) -> tuple[list[dict[str, Any]], dict[str, Any] | None, list[str]]:
    """The data audit's findings and column profile for the run record, and a note per
    high-severity finding; an audit that fails on odd data is a note, never a failed fit."""
    from accelml.explain.audit import audit, high_notes, profile

    try:
        findings = audit(frame, target, task=task.kind.value)
        summary = profile(frame, target)
    except Exception as error:  # the audit informs; it must never stop a fit
        return [], None, [f"audit: could not run ({type(error).__name__}: {error})"]
    return [f.to_dict() for f in findings], summary, high_notes(findings)


def check_frame(data: object) -> pd.DataFrame:
    """``data`` as a non-empty DataFrame, or a DataError saying what to pass."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame or a file path, got "
                        f"{type(data).__name__}")
    if data.empty:
        raise DataError("the training data has no rows")
    return data


def split_target(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Features and target; rows whose target is missing are dropped with a warning."""
    check_target_column(frame.columns, target)
    y = frame[target]
    missing = int(y.isna().sum())
    if missing == len(y):
        raise TargetError(f"target column {target!r} has no values (all {missing} missing)")
    if missing:
        warnings.warn(f"dropped {missing} rows whose target {target!r} is missing",
                      UserWarning, stacklevel=4)
        frame = frame[y.notna()]
        y = y[y.notna()]
    return frame.drop(columns=[target]), y.reset_index(drop=True)
