"""Units of the text modality: near-duplicate groups, their splits, the TF-IDF featurizer,
the preprocessor's state, detection and the learners' registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

import accelml.api  # noqa: F401  (registers the built-in modalities)
from accelml.config import ValidationSettings
from accelml.core.learner import discover, modality_of, registered
from accelml.core.modality import get_modality, pick_modality
from accelml.core.task import Task, TaskKind
from accelml.errors import SchemaError
from accelml.testing.text_corpus import reviews
from accelml.text.duplicates import find_groups
from accelml.text.featurize import apply_tfidf, fit_tfidf
from accelml.text.preprocess import TOKEN_PATTERN, TextPreprocessor
from accelml.text.splits import NearDuplicateSplits

BINARY = Task(TaskKind.BINARY, "label", "log_loss", (0, 1), 1)


def test_pieces_and_copies_of_a_text_share_its_group_and_it_is_the_root() -> None:
    texts = ["A gorgeous, witty film", "gorgeous, witty", "witty", "A  GORGEOUS, witty film",
             "a dull film", "dull", "nothing in common here"]
    found = find_groups(texts)
    groups = found.groups
    assert groups[0] == groups[1] == groups[2] == groups[3]
    assert groups[4] == groups[5] != groups[0]
    assert groups[6] not in (groups[0], groups[4])
    assert found.roots.tolist() == [True, False, False, False, True, False, True]
    assert found.grouped_rows == 6 and found.n_groups == 3


def test_a_piece_inside_a_word_is_not_a_piece_of_the_text() -> None:
    found = find_groups(["the interesting part", "rest"])
    assert found.groups[0] != found.groups[1]


def test_grouped_splits_never_split_a_group_and_validate_roots_only() -> None:
    sentences = [f"sentence number {i} is {'good' if i % 2 else 'bad'} indeed" for i in range(40)]
    texts, labels = [], []
    for i, sentence in enumerate(sentences):
        words = sentence.split()
        for piece in (sentence, " ".join(words[:3]), " ".join(words[2:])):
            texts.append(piece)
            labels.append(i % 2)
    duplicates = find_groups(texts)
    y = np.array(labels)
    for rows in (10_000, 50):  # k-fold, then one holdout
        settings = ValidationSettings(5, 1, rows, 0.2, 0)
        splits = NearDuplicateSplits(duplicates, settings).split(y, BINARY)
        assert len(splits) == (5 if rows > len(y) else 1)
        for train, valid in splits:
            assert not set(duplicates.groups[train]) & set(duplicates.groups[valid])
            assert duplicates.roots[valid].all()


def test_data_without_near_duplicates_gets_the_usual_splits() -> None:
    duplicates = find_groups([f"review {i} of a film" for i in range(30)])
    splits = NearDuplicateSplits(duplicates, ValidationSettings(3, 1, 10_000, 0.2, 0)).split(
        np.arange(30) % 2, BINARY)
    assert len(splits) == 3 and sum(len(v) for _, v in splits) == 30


def _features(texts: list[str]):  # noqa: ANN202
    frame = pd.DataFrame({"text": texts})
    return TextPreprocessor().fit(frame, ["text"]).training_features(frame)


def test_unigram_tfidf_equals_scikit_learns() -> None:
    texts = list(reviews(60)["text"])
    features = _features(texts)
    state = fit_tfidf(features, {"word_ngrams": 1, "char_ngrams": "none", "min_df": 1,
                                 "max_features": 0, "sublinear_tf": True})
    ours = apply_tfidf(features, state).toarray()
    reference = TfidfVectorizer(token_pattern=TOKEN_PATTERN, sublinear_tf=True,
                                dtype=np.float64).fit_transform(texts).toarray()
    assert ours.shape == reference.shape
    assert np.allclose(ours, reference, atol=1e-5)


def test_featurizer_picks_orders_min_df_and_caps_columns() -> None:
    features = _features(list(reviews(90)["text"]))
    base = {"char_ngrams": "none", "min_df": 1, "max_features": 0, "sublinear_tf": False}
    ends = features.block_info["word"]["order_ends"]
    one = fit_tfidf(features, {**base, "word_ngrams": 1})
    three = fit_tfidf(features, {**base, "word_ngrams": 3})
    assert len(one.columns["word"]) == ends[0] and len(three.columns["word"]) == ends[2]
    frequent = fit_tfidf(features, {**base, "word_ngrams": 3, "min_df": 5})
    assert len(frequent.columns["word"]) < len(three.columns["word"])
    capped = fit_tfidf(features, {**base, "word_ngrams": 3, "max_features": 10})
    assert len(capped.columns["word"]) == 10
    chars = fit_tfidf(features, {**base, "word_ngrams": 1, "char_ngrams": "2-4"})
    assert set(chars.columns) == {"word", "char"}
    matrix = apply_tfidf(features, chars)
    assert np.allclose(np.sqrt(matrix.multiply(matrix).sum(axis=1)), np.sqrt(2))


def test_preprocessor_state_round_trips_and_new_rows_match_training_rows() -> None:
    frame = reviews(60)[["text", "length"]]
    pre = TextPreprocessor().fit(frame, ["text"])
    training = pre.training_features(frame)
    again = TextPreprocessor.from_dict(pre.to_dict()).transform(frame)
    for block in ("word", "char"):
        assert (training.blocks[block] != again.blocks[block]).nnz == 0
    assert np.array_equal(training.X, again.X)
    assert list(again.blocks["text"]) == list(frame["text"])


def test_missing_text_column_and_numbers_for_text_are_named() -> None:
    frame = reviews(30)[["text"]]
    pre = TextPreprocessor().fit(frame, ["text"])
    with pytest.raises(SchemaError, match="'text'.*missing.*'txt'"):
        pre.transform(pd.DataFrame({"txt": ["a film"]}))
    with pytest.raises(SchemaError, match="text column 'text' holds a int"):
        pre.transform(pd.DataFrame({"text": [5]}))


def test_free_text_is_detected_and_categories_stay_tables() -> None:
    text = get_modality("text")
    assert text.detect(reviews(60)[["text", "sentiment"]], None)
    assert not text.detect(reviews(60)[["topic", "sentiment", "length"]], None)
    assert pick_modality(reviews(60)[["topic", "sentiment"]], None, None).name == "tabular"
    chosen = pick_modality(reviews(60)[["topic", "sentiment"]], None, None,
                           {"text_columns": ("topic",)})
    assert chosen.name == "text"
    as_table = pick_modality(reviews(60), None, None, {"learners": ("lightgbm",)})
    assert as_table.name == "tabular"


def test_every_text_learner_is_declared_by_the_modality() -> None:
    modality = get_modality("text")
    discover(modality.learner_modules)
    names = {name for name, cls in registered().items() if modality_of(cls) == "text"}
    assert names <= set(modality.learner_names)
    assert set(modality.learner_names) - names <= {"text_transformer"}


@pytest.mark.parametrize(("asked", "repeats"), [(None, 1), (2, 2)])
def test_text_runs_kfold_once_unless_asked_even_on_a_small_table(asked: int | None,
                                                                 repeats: int) -> None:
    """Tables repeat k-fold on small data; a fine-tuned transformer's trial is too long."""
    from accelml.config import RunConfig
    from accelml.text.modality import _validation

    config = RunConfig(time_budget=600, cv_repeats=asked)
    assert config.validation.repeats_for(500) == (3 if asked is None else asked)
    assert _validation(config).repeats_for(500) == repeats
