"""Text as a modality: a table (DataFrame or file) with one or more free-text columns,
possibly beside numeric and categorical ones; sentiment, topics, tickets routed by their
words. Detected when a column holds long, varied strings (``--text-column`` names them).

The texts are counted into word and character n-grams once (every trial shares them), and
embedded by the packaged sentence encoder when that fits the budget; validation keeps
near-duplicate texts on one side of every split (:mod:`accelml.text.duplicates`). Files are
predicted and served as rows, like tables.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from accelml.config import RunConfig, ValidationSettings
from accelml.core.modality import (
    Modality,
    OnProgress,
    Prepared,
    ReportSection,
    ServeInput,
    register_modality,
)
from accelml.core.splits import SplitStrategy
from accelml.core.task import encode_target, infer_task
from accelml.core.validation import close_matches
from accelml.errors import ConfigError, DataError
from accelml.io import READERS, read_table
from accelml.tabular.columns import ColumnKind, infer_column
from accelml.text.duplicates import find_groups
from accelml.text.preprocess import TextPreprocessor

if TYPE_CHECKING:
    from accelml.core.predictor import Predictor

EMBEDDING_CHOICES = ("auto", "on", "off")
#: Rows whose words the report shows.
REPORT_ROWS = 8
#: The most of the budget computing sentence embeddings may take when ``embeddings="auto"``.
EMBED_SHARE = 0.35
#: The most of the budget one trial of fine-tuning (an epoch over the training rows of every
#: validation split) may take for the transformer to be searched on a CPU; with a GPU it
#: always is.
FINE_TUNE_SHARE = 0.5
#: Fine-tuning a step costs about this many forward passes (forward, backward, update).
FINE_TUNE_FACTOR = 3.0
LEARNERS = ("text_logreg", "text_svm", "text_sgd", "text_nb", "nbsvm", "text_lightgbm",
            "text_transformer")
#: The learners that can read sentence embeddings (naive Bayes and NB-SVM count n-grams).
EMBEDDING_READERS = ("text_logreg", "text_svm", "text_sgd", "text_lightgbm")


def _clip(text: Any, limit: int = 120) -> Any:
    """A text cut to ``limit`` characters for a table cell."""
    return text if not isinstance(text, str) or len(text) <= limit else text[:limit] + "…"


@dataclass(frozen=True)
class TextOptions:
    """The options only text runs read.

    Attributes:
        text_columns: the columns to read as free text; detected when None (long, varied
            strings), and naming them makes a run a text run.
        embeddings: sentence embeddings from the packaged encoder as a feature block: "auto"
            computes them when that takes at most about a third of the budget, "on" always,
            "off" never.
        group_duplicates: keep texts that are copies or pieces of one longer text on one side
            of every validation split, and validate on the longest (off: plain splits).
    """

    text_columns: tuple[str, ...] | None = None
    embeddings: str = "auto"
    group_duplicates: bool = True

    def __post_init__(self) -> None:
        if self.embeddings not in EMBEDDING_CHOICES:
            raise ConfigError(f"unknown embeddings {self.embeddings!r}; use "
                              f"{', '.join(EMBEDDING_CHOICES)}")
        if self.text_columns is not None:
            object.__setattr__(self, "text_columns", tuple(self.text_columns))


def text_columns_of(frame: pd.DataFrame, exclude: str | None = None) -> list[str]:
    """The free-text columns of ``frame`` (long, varied strings), ``exclude`` left out."""
    columns = []
    for name in frame.columns:
        if name == exclude:
            continue
        try:
            kind = infer_column(frame[name], str(name)).kind
        except DataError:
            continue
        if kind is ColumnKind.TEXT:
            columns.append(str(name))
    return columns


_CACHE: dict[str, Any] = {}


def _read(data: Any) -> pd.DataFrame:
    """The table at ``data`` (read once for detection and preparation) or ``data`` itself."""
    if isinstance(data, pd.DataFrame):
        return data
    path = Path(data)
    key = f"{path.resolve()}:{path.stat().st_mtime_ns}"
    if _CACHE.get("key") != key:
        _CACHE.clear()
        _CACHE.update(key=key, frame=read_table(path))
    frame: pd.DataFrame = _CACHE["frame"]
    return frame


def _is_table(data: Any) -> bool:
    if isinstance(data, pd.DataFrame):
        return True
    if isinstance(data, str | Path):
        path = Path(data)
        return path.is_file() and path.suffix.lower() in READERS
    return False


@register_modality
class TextModality(Modality):
    """Text classification (and regression on texts) over n-grams, embeddings and a
    fine-tuned transformer."""

    name = "text"
    learner_modules = ("accelml.text.learners",)
    learner_names = LEARNERS
    option_type = TextOptions
    input_hint = "pass a table with a text column (--text-column NAME)"
    priority = 50
    picked_by = ("text_columns",)
    yields_to_learners = True

    def detect(self, data: Any, task: str | None) -> bool:
        """A table with a free-text column."""
        if not _is_table(data) or task in ("image",):
            return False
        try:
            frame = _read(data)
        except (DataError, OSError):
            return False  # the tabular modality reports the error
        return bool(text_columns_of(frame.head(2000)))

    def prepare(self, data: Any, target: str | None, config: RunConfig,
                options: Any = None) -> Prepared:
        from accelml.tabular.modality import check_frame, run_audit, split_target

        options = options or TextOptions()
        if target is None:
            raise ConfigError("text data needs a target: pass the column to predict "
                              "(--target NAME)")
        frame = _read(data) if isinstance(data, str | Path) else check_frame(data)
        _CACHE.clear()
        features_frame, y = split_target(frame, target)
        columns = _chosen_columns(features_frame, options, target)
        task = infer_task(y, target, config.task, config.metric or _default_metric(y, config),
                          config.positive_class)
        preprocessor = TextPreprocessor().fit(features_frame, columns)
        features = preprocessor.training_features(features_frame)
        notes = [f"text column(s): {', '.join(map(repr, columns))}"]
        texts = list(features.blocks["text"])
        config, extra = _encoder_blocks(config, options, preprocessor, texts, notes)
        blocks = {**features.blocks, **extra}
        features = type(features)(features.X, features.categorical, features.cardinalities,
                                  features.names, (), blocks, features.block_info)
        split_info = {}
        if options.group_duplicates:
            duplicates = find_groups(texts)
            split_info["duplicates"] = duplicates
            if duplicates.grouped_rows:
                notes.append(
                    f"{duplicates.grouped_rows} rows are copies or pieces of other texts: "
                    f"validation keeps each of their {duplicates.n_groups} groups on one side "
                    "of a split and scores the longest text of each group")
        findings, profile, audit_notes = run_audit(frame, target, task)
        return Prepared(features, encode_target(y, task), task, preprocessor, config,
                        [*notes, *preprocessor.notes, *audit_notes], split_info=split_info,
                        audit=findings, profile=profile)

    def splitter(self, config: RunConfig, prepared: Prepared) -> SplitStrategy | None:
        from accelml.core.splits import default_splitter
        from accelml.text.splits import NearDuplicateSplits

        duplicates = prepared.split_info.get("duplicates")
        if duplicates is None:
            return default_splitter(_validation(config))
        return NearDuplicateSplits(duplicates, _validation(config))

    def preprocessor_from_dict(self, state: dict[str, Any]) -> TextPreprocessor:
        return TextPreprocessor.from_dict(state)

    def predict_file(self, predictor: Predictor, source: Path, output: Path, *, proba: bool,
                     batch_rows: int, on_progress: OnProgress | None = None) -> int:
        from accelml.tabular.modality import predict_rows_file

        return predict_rows_file(predictor, source, output, proba=proba,
                                 batch_rows=batch_rows, on_progress=on_progress)

    def explain(self, predictor: Predictor, data: Any, *, top: int, max_rows: int) -> Any:
        from accelml.explain.words import word_reasons

        return word_reasons(predictor, data, top=top, max_rows=max_rows)

    def report_sections(self, predictor: Predictor, data: Any) -> list[ReportSection]:
        """The words that moved the answers of the first rows given."""
        if not isinstance(data, pd.DataFrame):
            return [ReportSection("Words behind the answers", [
                "Pass --data rows to see the words that moved each answer."])]
        from accelml.explain.words import word_reasons

        rows = data.head(REPORT_ROWS)
        table = word_reasons(predictor, rows)
        texts = [spec["name"] for spec in predictor.preprocessor.schema
                 if spec["kind"] == "text"]
        shown = pd.concat([rows[texts].reset_index(drop=True).map(_clip),
                           table.reset_index(drop=True)], axis=1)
        return [ReportSection("Words behind the answers", [
            f"The first {len(rows)} rows given: each word of a row left out in turn; the "
            "number is how much it raised (+) or lowered (-) the predicted class's "
            "probability."], tables=[shown])]

    def export_onnx(self, predictor: Predictor, output: Path, check_data: Any) -> float:
        from accelml.text.export import export_text_onnx

        check = read_table(check_data) if isinstance(check_data, str | Path) else check_data
        return export_text_onnx(predictor, output, check)

    def serve_input(self, predictor: Predictor, max_rows: int) -> ServeInput:
        from accelml.tabular.modality import rows_input

        return rows_input(predictor)


def _default_metric(y: pd.Series, config: RunConfig) -> str | None:
    """Log loss for classes (a proper score: the blend stays calibrated and accuracy
    follows), the task's default for values."""
    from accelml.core.task import TaskKind, infer_kind

    kind = TaskKind(config.task) if config.task else infer_kind(y)
    return "log_loss" if kind.is_classification else None


def _chosen_columns(frame: pd.DataFrame, options: TextOptions, target: str) -> list[str]:
    """The text columns named by the caller (checked) or detected."""
    if options.text_columns is not None:
        present = [str(c) for c in frame.columns]
        for name in options.text_columns:
            if name == target:
                raise ConfigError(f"{name!r} is the target; it cannot also be a text column")
            if name not in present:
                raise ConfigError(f"text column {name!r} is not in the data"
                                  f"{close_matches(name, present)}; columns: "
                                  f"{', '.join(map(repr, present[:20]))}")
        return list(options.text_columns)
    columns = text_columns_of(frame)
    if not columns:
        raise DataError("no column holds free text (several words per value, many distinct "
                        "values); name the text column with --text-column NAME")
    return columns


def _encoder_blocks(config: RunConfig, options: TextOptions, preprocessor: TextPreprocessor,
                    texts: list[str], notes: list[str]) -> tuple[RunConfig, dict[str, Any]]:
    """Sentence embeddings when they fit the budget, and whether the fine-tuned transformer
    is searched; each decision is a note."""
    from accelml.text.encoder import unavailable

    wants_transformer = config.learners is None or "text_transformer" in config.learners
    learners = list(config.learners or [n for n in LEARNERS if n != "text_transformer"])
    reason = unavailable()
    if reason is not None:
        if options.embeddings == "on" or "text_transformer" in (config.learners or ()):
            raise ConfigError(f"sentence embeddings and the fine-tuned transformer need {reason}")
        notes.append(f"sentence embeddings and the fine-tuned transformer are left out: {reason}")
        return config.with_changes(learners=tuple(learners)), {}
    wants_embeddings = options.embeddings == "on" or (
        options.embeddings == "auto" and bool(set(learners) & set(EMBEDDING_READERS)))
    if not wants_embeddings and not wants_transformer:
        return config.with_changes(learners=tuple(learners)), {}
    from accelml.text.encoder import MAX_TOKENS, SentenceEncoder

    threads = config.n_jobs or _cores()
    encoder = SentenceEncoder(n_threads=threads)
    cost = encoder.estimate_seconds(texts)
    gpu = encoder.device != "cpu"
    extra: dict[str, Any] = {}
    if options.embeddings == "on" or (wants_embeddings
                                      and cost <= EMBED_SHARE * config.time_budget):
        extra["embed"] = encoder.embed(texts)
        preprocessor.embedding = {"dimension": encoder.dimension}
        notes.append(f"sentence embeddings: {len(texts)} texts in about {cost:.0f} s")
    elif wants_embeddings:
        notes.append(f"sentence embeddings left out: {len(texts)} texts would take about "
                     f"{cost:.0f} s of the {config.time_budget:.0f} s budget "
                     "(--embeddings on forces them)")
    trial = FINE_TUNE_FACTOR * cost * _epochs_per_trial(len(texts), config)
    if config.learners is None and (gpu or trial <= FINE_TUNE_SHARE * config.time_budget):
        learners.append("text_transformer")
    elif config.learners is None:
        notes.append(f"the fine-tuned transformer is left out: one epoch over the training "
                     f"rows of each validation split would take about {trial:.0f} s on this "
                     "CPU (name it in --learners to search it anyway)")
    truncated = encoder.count_truncated(texts)
    if truncated and (extra or "text_transformer" in learners):
        notes.append(f"{truncated} text(s) longer than the encoder's window: the encoder "
                     f"and the fine-tuned transformer read their first {MAX_TOKENS} word "
                     "pieces (n-gram features read all of each text)")
    changes: dict[str, Any] = {"learners": tuple(learners)}
    if "text_transformer" in learners:
        changes["multi_fidelity"] = True  # successive halving over its training steps
    return config.with_changes(**changes), extra


def _validation(config: RunConfig) -> ValidationSettings:
    """The run's validation settings, k-fold run once unless ``cv_repeats`` asks for more
    (tables repeat it on small data; a fine-tuned transformer's trial is too long for that)."""
    settings = config.validation
    return replace(settings, repeats=settings.repeats or 1)


def _epochs_per_trial(rows: int, config: RunConfig) -> float:
    """Passes over the data one epoch of every validation split's training rows makes: 0.8
    for a holdout of 20 %, 4 for 5-fold cross-validation."""
    settings = _validation(config)
    if rows >= settings.holdout_min_rows:
        return 1 - settings.holdout_fraction
    return float(settings.folds - 1) * settings.repeats_for(rows)


def _cores() -> int:
    """Cores other work leaves free now (a thread on a busy core stalls the others)."""
    import os

    from accelml.core.budget import busy_cores

    return max(1, (os.cpu_count() or 1) - round(busy_cores()))
