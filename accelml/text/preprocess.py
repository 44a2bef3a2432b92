"""Text preprocessing: the text columns become n-gram count blocks (and, when the run
computed them, sentence embeddings); any other columns are encoded as a table.

One document per row: the row's text columns joined (missing text is empty). Words are
counted as 1-3 grams (unigrams from one occurrence, longer n-grams from two), characters as
1-5 grams within word boundaries (from two occurrences); each block's columns are sorted by
n-gram order so a trial's featurizer picks orders by a column range
(:mod:`accelml.text.featurize`). The vocabularies are the saved state, plain JSON.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer

from accelml.core.data import Features
from accelml.core.validation import close_matches
from accelml.errors import ArtifactError, DataError, SchemaError

FORMAT = "accelml.text.preprocessor/1"
TOKEN_PATTERN = r"(?u)\b\w+\b|[!?]"
WORD_ORDERS = 3
CHAR_ORDERS = 5
#: Most columns kept per block (the most frequent n-grams), bounding memory on big corpora.
MAX_BASE_COLUMNS = 400_000
SEPARATOR = " \n "


def _word_vectorizer(vocabulary: Sequence[str] | None = None, orders: tuple[int, int] = (1, 3),
                     min_df: int = 1, max_features: int | None = None) -> CountVectorizer:
    return CountVectorizer(token_pattern=TOKEN_PATTERN, ngram_range=orders, min_df=min_df,
                           max_features=max_features, dtype=np.float32,
                           vocabulary=None if vocabulary is None else
                           {term: i for i, term in enumerate(vocabulary)})


def _char_vectorizer(vocabulary: Sequence[str] | None = None, min_df: int = 2,
                     max_features: int | None = None) -> CountVectorizer:
    return CountVectorizer(analyzer="char_wb", ngram_range=(1, CHAR_ORDERS), min_df=min_df,
                           max_features=max_features, dtype=np.float32,
                           vocabulary=None if vocabulary is None else
                           {term: i for i, term in enumerate(vocabulary)})


def _ordered(counts: sparse.csr_matrix, vocabulary: Mapping[str, int], order_of: Any
             ) -> tuple[sparse.csr_matrix, list[str], list[int]]:
    """Columns re-sorted by n-gram order (then term); the terms; where each order ends."""
    terms = sorted(vocabulary, key=lambda term: (order_of(term), term))
    columns = np.array([vocabulary[term] for term in terms], dtype=np.int64)
    orders = np.array([order_of(term) for term in terms], dtype=np.int64)
    top = int(orders.max()) if len(orders) else 0
    ends = [int(np.searchsorted(orders, order, side="right")) for order in range(1, top + 1)]
    return counts[:, columns].tocsr(), terms, ends


def _word_order(term: str) -> int:
    return term.count(" ") + 1


class TextPreprocessor:
    """Fitted on the training frame; the same features for new rows; JSON state.

    Attributes:
        text_columns: the columns read as free text.
        notes: what fitting decided that a user should know.
        embedding: how embeddings were computed ({"max_tokens": ...}), or None (no block).
    """

    kind: str = "text"

    def __init__(self) -> None:
        self.text_columns: list[str] = []
        self.notes: list[str] = []
        self.embedding: dict[str, Any] | None = None
        self.table: Any = None  # a TabularPreprocessor of the other columns, or None
        self._word_terms: list[str] = []
        self._char_terms: list[str] = []
        self._info: dict[str, dict[str, Any]] = {}
        self._columns: list[str] = []
        self._vectorizers: dict[str, CountVectorizer] = {}

    # --- fitting -------------------------------------------------------------------------

    def fit(self, frame: pd.DataFrame, text_columns: Sequence[str]) -> TextPreprocessor:
        """Learn the vocabularies (and the other columns' encodings) from ``frame``."""
        from accelml.tabular.preprocess import TabularPreprocessor

        self.text_columns = list(text_columns)
        self._columns = [str(c) for c in frame.columns]
        others = [c for c in frame.columns if c not in self.text_columns]
        if others:
            try:
                self.table = TabularPreprocessor().fit(frame[others])
                self.notes.extend(self.table.notes)
            except DataError as error:
                self.notes.append(f"no column besides the text is used ({error})")
        docs = self.documents(frame, warn=True)
        self._fit_words(docs)
        self._fit_chars(docs)
        return self

    def _fit_words(self, docs: list[str]) -> None:
        single = _word_vectorizer(orders=(1, 1))
        blocks = [single.fit_transform(docs)]
        vocabulary = dict(single.vocabulary_)
        longer = _word_vectorizer(orders=(2, WORD_ORDERS), min_df=2,
                                  max_features=MAX_BASE_COLUMNS)
        try:
            blocks.append(longer.fit_transform(docs))
            shift = len(vocabulary)
            vocabulary.update({t: i + shift for t, i in longer.vocabulary_.items()})
        except ValueError:  # no n-gram occurs twice (tiny corpora)
            pass
        counts = sparse.hstack(blocks, format="csr")
        self._word_counts, self._word_terms, ends = _ordered(counts, vocabulary, _word_order)
        self._info["word"] = {"order_ends": ends}

    def _fit_chars(self, docs: list[str]) -> None:
        vectorizer = _char_vectorizer(max_features=MAX_BASE_COLUMNS)
        try:
            counts = vectorizer.fit_transform(docs)
        except ValueError:
            vectorizer = _char_vectorizer(min_df=1)
            counts = vectorizer.fit_transform(docs)
        self._char_counts, self._char_terms, ends = _ordered(counts, vectorizer.vocabulary_, len)
        self._info["char"] = {"order_ends": ends}

    def training_features(self, frame: pd.DataFrame) -> Features:
        """The training rows' features, reusing the counts made while fitting."""
        docs = self.documents(frame, warn=False)
        features = self._features(frame, docs, lazy=False)
        blocks = dict(features.blocks)
        blocks["word"], blocks["char"] = self._word_counts, self._char_counts
        del self._word_counts, self._char_counts
        return Features(features.X, features.categorical, features.cardinalities,
                        features.names, (), blocks, dict(self._info))

    # --- transforming --------------------------------------------------------------------

    def documents(self, frame: pd.DataFrame, warn: bool = True) -> list[str]:
        """One text per row: the text columns joined; missing text counts as empty."""
        parts = []
        for column in self.text_columns:
            values = frame[column]
            wrong = values.map(lambda v: v is not None and not isinstance(v, str)
                               and not pd.isna(v))
            if wrong.any():
                row = int(np.flatnonzero(wrong.to_numpy())[0])
                raise SchemaError(f"text column {column!r} holds a "
                                  f"{type(values.iloc[row]).__name__} ({values.iloc[row]!r}) "
                                  f"in row {row}; pass text there")
            parts.append(values.where(values.notna(), "").astype(str))
        joined = parts[0] if len(parts) == 1 else pd.concat(parts, axis=1).agg(
            lambda row: SEPARATOR.join(p for p in row if p), axis=1)
        docs = [str(text) for text in joined]
        empty = sum(not text.strip() for text in docs)
        if warn and empty:
            warnings.warn(f"{empty} of {len(docs)} rows have no text in "
                          f"{', '.join(map(repr, self.text_columns))}: kept as empty texts",
                          UserWarning, stacklevel=3)
        return docs

    def transform(self, data: Any) -> Features:
        """Features of new rows; n-gram counts and embeddings are computed when a model
        first reads them."""
        if isinstance(data, Mapping):
            data = pd.DataFrame([dict(data)])
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"this is a text model: pass a DataFrame with the column(s) "
                            f"{', '.join(map(repr, self.text_columns))} (or a table file on "
                            f"the command line), not {type(data).__name__}")
        if len(data) == 0:
            raise DataError("no rows to predict: the data is empty")
        self._check_columns([str(c) for c in data.columns])
        return self._features(data, self.documents(data), lazy=True)

    def transform_records(self, rows: Sequence[Mapping[str, Any]]) -> Features:
        """Features of rows given as mappings (a JSON request)."""
        if len(rows) == 0:
            raise DataError("no rows to predict: the list of rows is empty")
        for index, row in enumerate(rows):
            missing = [c for c in self.text_columns if c not in row]
            if missing:
                raise SchemaError(f"row {index}: " + _missing_text(missing, list(row)))
        return self.transform(pd.DataFrame(list(rows)))

    def _check_columns(self, present: list[str]) -> None:
        missing = [c for c in self.text_columns if c not in present]
        if missing:
            raise SchemaError(_missing_text(missing, present))

    def _features(self, frame: pd.DataFrame, docs: list[str], lazy: bool) -> Features:
        if self.table is not None:
            table = self.table.transform(frame[[c for c in frame.columns
                                                if c not in self.text_columns]])
            X, categorical, cards, names = (table.X, table.categorical, table.cardinalities,
                                            table.names)
        else:
            X, categorical, cards, names = np.empty((len(docs), 0)), (), (), ()
        texts = np.empty(len(docs), dtype=object)
        texts[:] = docs
        blocks: Mapping[str, Any] = (_LazyBlocks(self, texts) if lazy else {"text": texts})
        return Features(X, categorical, cards, names, (), blocks, dict(self._info))

    def block(self, name: str, texts: np.ndarray) -> Any:
        """Compute one block of ``texts`` as fitting did."""
        if name == "word":
            return self._vectorizer("word").transform(list(texts))
        if name == "char":
            return self._vectorizer("char").transform(list(texts))
        if name == "embed" and self.embedding is not None:
            from accelml.text.encoder import shared_encoder

            return shared_encoder().embed(list(texts))
        if name == "text":
            return texts
        raise KeyError(name)

    def block_names(self) -> list[str]:
        names = ["word", "char", "text"]
        return [*names, "embed"] if self.embedding is not None else names

    def _vectorizer(self, name: str) -> CountVectorizer:
        if name not in self._vectorizers:
            self._vectorizers[name] = (_word_vectorizer(self._word_terms) if name == "word"
                                       else _char_vectorizer(self._char_terms))
        return self._vectorizers[name]

    # --- state ---------------------------------------------------------------------------

    @property
    def schema(self) -> list[dict[str, Any]]:
        """The input columns: the text columns (kind "text"), then the table's."""
        text = [{"name": c, "kind": "text", "dtype": "object"} for c in self.text_columns]
        return text + (list(self.table.schema) if self.table is not None else [])

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "kind": self.kind, "text_columns": self.text_columns,
                "columns": self._columns, "notes": self.notes, "embedding": self.embedding,
                "table": None if self.table is None else self.table.to_dict(),
                "word_terms": self._word_terms, "char_terms": self._char_terms,
                "block_info": self._info}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> TextPreprocessor:
        from accelml.tabular.preprocess import TabularPreprocessor

        if state.get("format") != FORMAT:
            raise ArtifactError(f"preprocessor.json has format {state.get('format')!r}, not "
                                f"{FORMAT!r}: it was written by another AccelML version")
        pre = cls()
        try:
            pre.text_columns = [str(c) for c in state["text_columns"]]
            pre._columns = [str(c) for c in state["columns"]]
            pre.notes = list(state["notes"])
            pre.embedding = state["embedding"]
            pre.table = (None if state["table"] is None
                         else TabularPreprocessor.from_dict(state["table"]))
            pre._word_terms = [str(t) for t in state["word_terms"]]
            pre._char_terms = [str(t) for t in state["char_terms"]]
            pre._info = {k: dict(v) for k, v in state["block_info"].items()}
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"preprocessor.json is malformed ({error!r})") from error
        return pre


class _LazyBlocks(Mapping[str, Any]):
    """The blocks of new rows, each computed when a model first reads it (a served blend of
    word-level models never pays for character n-grams or the encoder)."""

    def __init__(self, preprocessor: TextPreprocessor, texts: np.ndarray) -> None:
        self._pre = preprocessor
        self._texts = texts
        self._done: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._done:
            self._done[name] = self._pre.block(name, self._texts)
        return self._done[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._pre.block_names())

    def __len__(self) -> int:
        return len(self._pre.block_names())


def _missing_text(missing: list[str], present: list[str]) -> str:
    hint = close_matches(missing[0], present)
    return (f"the text column(s) {', '.join(map(repr, missing))} the model reads are "
            f"missing{hint}; pass them (columns given: {', '.join(map(repr, present[:20]))})")
