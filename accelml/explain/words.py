"""The words that pushed a text model's answer: each distinct word of a row is left out in
turn (every occurrence, in every text column) and the change of the served output is its
effect. It asks only the served model, so any blend of text learners is covered."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from accelml.core.predictor import Predictor
from accelml.explain.inputs import check_frame, input_columns
from accelml.explain.reasons import MAX_ROWS, answers, check_row_count

WORD = re.compile(r"\w+", re.UNICODE)
#: Distinct words of a row that are tried (the first ones, in reading order).
MAX_WORDS = 60


def word_reasons(predictor: Predictor, data: Any, *, top: int = 3, max_rows: int = MAX_ROWS,
                 max_words: int = MAX_WORDS) -> pd.DataFrame:
    """One row per input row: the answer, then ``reason_1`` .. ``reason_<top>`` as
    "word (+0.12)": the words whose removal moved the output most, strongest first; the
    number is the output with the word less the output without it (the probability of
    the predicted class, or the value).

    Raises:
        ConfigError: more rows than ``max_rows``.
        SchemaError: a training column is missing.
    """
    frame = check_frame(predictor, data).reset_index(drop=True)
    check_row_count(len(frame), max_rows)
    columns = [spec["name"] for spec in input_columns(predictor) if spec["kind"] == "text"]
    words = [_words(frame.loc[i, columns], max_words) for i in range(len(frame))]
    variants = pd.DataFrame([_without(frame.loc[i], columns, word)
                             for i in range(len(frame)) for word in words[i]],
                            columns=frame.columns)
    base, chosen = _outputs(predictor, frame, None)
    owners = np.repeat(np.arange(len(frame)), [len(w) for w in words])
    effects = base[owners] - _outputs(predictor, variants, chosen[owners])[0] \
        if len(variants) else np.empty(0)
    table = answers(predictor, frame)
    ranked = _ranked(words, effects, top)
    for rank in range(top):
        table[f"reason_{rank + 1}"] = [row[rank] if rank < len(row) else "" for row in ranked]
    output = ("the predicted class's probability" if predictor.task.kind.is_classification
              else predictor.task.target)
    table.attrs.update(output=output, method="each word left out in turn", exact=False)
    return table


def _words(texts: pd.Series, limit: int) -> list[str]:
    """The row's distinct words (lower case), in reading order."""
    seen: dict[str, None] = {}
    for text in texts:
        if isinstance(text, str):
            for word in WORD.findall(text.lower()):
                seen.setdefault(word, None)
    return list(seen)[:limit]


def _without(row: pd.Series, columns: list[str], word: str) -> pd.Series:
    copy = row.copy()
    pattern = re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE | re.UNICODE)
    for column in columns:
        if isinstance(copy[column], str):
            copy[column] = pattern.sub(" ", copy[column])
    return copy


def _outputs(predictor: Predictor, frame: pd.DataFrame,
             chosen: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The served output per row (the ``chosen`` class's probability, by default the
    predicted one; or the value) and the classes used."""
    raw = predictor.blend(predictor._features(frame))
    if not predictor.task.kind.is_classification:
        return np.asarray(raw, dtype=np.float64), np.zeros(len(frame), dtype=np.int64)
    picked = raw.argmax(axis=1) if chosen is None else chosen
    return raw[np.arange(len(raw)), picked], picked


def _ranked(words: list[list[str]], effects: np.ndarray, top: int) -> list[list[str]]:
    out, start = [], 0
    for row in words:
        part = effects[start:start + len(row)]
        start += len(row)
        order = np.argsort(-np.abs(part), kind="stable")[:top]
        out.append([f"{row[j]} ({part[j]:+.3g})" for j in order])
    return out
