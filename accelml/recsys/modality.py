"""Recommendations as a modality: a table of (user, item[, rating][, time]) interactions,
ranked per user. Picked by ``--task recommend`` (or by naming the user and item columns).

Validation holds out each user's latest interactions (the last 20 % by time, at least one,
for users with two or more; a random 20 % per user without times), as a test split of
recommendation data is made; every trial ranks the whole catalogue for those users
(:mod:`accelml.core.ranking`). Explicit ratings are also predicted (by the members that
can; a rating model is kept beside the blend when none of them can).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from accelml.config import RunConfig
from accelml.core.budget import Deadline
from accelml.core.data import Features, Split
from accelml.core.modality import (
    Modality,
    OnProgress,
    Prepared,
    ServeInput,
    register_modality,
)
from accelml.core.splits import SplitStrategy
from accelml.core.task import Task, TaskKind
from accelml.errors import ConfigError, DataError
from accelml.io import read_table
from accelml.recsys.preprocess import (
    Columns,
    RecsysPreprocessor,
    clean,
    fit_preprocessor,
    read_side,
    side_table,
)
from accelml.recsys.training import RATING_LEARNER

if TYPE_CHECKING:
    from accelml.core.predictor import Predictor

LEARNERS = ("popularity", "item_knn", "user_knn", "ease", "als", "bpr", "biased_mf",
            "hybrid_ranker")
#: The share of each user's interactions validation holds out.
HOLDOUT_SHARE = 0.2


@dataclass(frozen=True)
class RecsysOptions:
    """The options only recommendation runs read.

    Attributes:
        user_column: the column of user ids (naming it makes a run a recommendation run).
        item_column: the column of item ids.
        rating_column: explicit ratings (ranked and also predicted); without it every row
            is implicit feedback, repeated pairs counted.
        time_column: when each interaction happened; validation then holds out each
            user's latest interactions.
        item_features: a table (path or DataFrame) of item side features keyed by the item
            column (genres, year, ...), read by the hybrid ranker.
        user_features: a table of user side features keyed by the user column.
        relevant_min: count only held-out interactions rated at least this as relevant
            when validating (e.g. 4 on a 1-5 scale); all held-out items when None.
    """

    user_column: str | None = None
    item_column: str | None = None
    rating_column: str | None = None
    time_column: str | None = None
    item_features: Any = None
    user_features: Any = None
    relevant_min: float | None = None


@dataclass(frozen=True)
class PerUserHoldout:
    """Each user's latest (or, without times, random) ``share`` of interactions, at least
    one for users with two or more, is validated on; the rest is trained on."""

    users: np.ndarray
    times: np.ndarray
    items: np.ndarray
    share: float = HOLDOUT_SHARE
    seed: int = 0

    def split(self, y: np.ndarray, task: Task) -> tuple[Split, ...]:
        rng = np.random.default_rng(self.seed)
        timed = not np.isnan(self.times).all()
        key = np.nan_to_num(self.times, nan=-np.inf) if timed else rng.random(len(y))
        order = np.lexsort((self.items, key, self.users))  # by user, then time, then item
        users = self.users[order]
        starts = np.r_[0, np.nonzero(np.diff(users))[0] + 1]
        sizes = np.diff(np.r_[starts, len(users)])
        held = np.where(sizes >= 2, np.maximum(1, np.round(self.share * sizes)), 0)
        position = np.arange(len(users)) - np.repeat(starts, sizes)
        valid_sorted = position >= np.repeat(sizes - held, sizes)
        valid = np.sort(order[valid_sorted])
        train = np.sort(order[~valid_sorted])
        if len(valid) == 0:
            raise DataError("no user has two interactions, so none can be validated on; "
                            "recommending needs users with some history")
        return ((train, valid),)


def _read(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, str | Path):
        return read_table(Path(data))
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        return pd.DataFrame(data)
    raise DataError(f"recommendation data is a table of interactions (a DataFrame or a "
                    f"file), not a {type(data).__name__}")


def _columns(frame: pd.DataFrame, target: str | None, options: RecsysOptions) -> Columns:
    """The caller's columns; user and item default to columns named user_id / item_id."""
    names = [str(c) for c in frame.columns]
    user = options.user_column or next((c for c in ("user_id", "user", "userId")
                                        if c in names), None)
    item = options.item_column or next((c for c in ("item_id", "item", "movieId")
                                        if c in names), None)
    if user is None or item is None:
        raise ConfigError("name the user and item columns with --user and --item; the data "
                          f"has {', '.join(names[:20])}")
    return Columns(user, item, options.rating_column or target, options.time_column)


@register_modality
class RecsysModality(Modality):
    """Interactions of users with items, ranked per user."""

    name = "recsys"
    aliases = ("recommend", "recommendation", "ranking")
    learner_modules = ("accelml.recsys.learners",)
    learner_names = LEARNERS
    option_type = RecsysOptions
    input_hint = "pass interactions with --task recommend --user COLUMN --item COLUMN"
    defaults = {"stacking": False}
    priority = 20
    picked_by = ("user_column", "item_column")

    def prepare(self, data: Any, target: str | None, config: RunConfig,
                options: Any = None) -> Prepared:
        options = options or RecsysOptions()
        frame = _read(data)
        columns = _columns(frame, target, options)
        long, notes, explicit = clean(frame, columns)
        pre, features, y = fit_preprocessor(long, columns, explicit)
        _add_side(pre, options, columns)
        if options.relevant_min is not None and not explicit:
            raise ConfigError("--relevant-min needs ratings (--rating COLUMN)")
        features = Features(features.X, names=features.names,
                            block_info=pre.block_info(options.relevant_min),
                            side={name: t.matrix for name, t in pre.side.items()})
        metric = config.metric or "ndcg@10"
        from accelml.core.metrics import get_metric

        get_metric(metric).check_task(TaskKind.RANKING)
        task = Task(TaskKind.RANKING, columns.rating or "interactions", metric)
        if not explicit:
            config = config.with_changes(
                exclude_learners=tuple(dict.fromkeys([*config.exclude_learners,
                                                      RATING_LEARNER])))
        notes.append(f"{len(pre.users)} users, {len(pre.items)} items, {len(long)} "
                     f"interactions ({'ratings' if explicit else 'implicit feedback'})")
        split_info = {"users": features.X[:, 0].astype(np.int64), "times": features.X[:, 2],
                      "items": features.X[:, 1].astype(np.int64)}
        return Prepared(features, y, task, pre, config, notes, split_info=split_info)

    def splitter(self, config: RunConfig, prepared: Prepared) -> SplitStrategy | None:
        info = prepared.split_info
        return PerUserHoldout(info["users"], info["times"], info["items"],
                              seed=config.validation.seed)

    def preprocessor_from_dict(self, state: dict[str, Any]) -> RecsysPreprocessor:
        return RecsysPreprocessor.from_dict(state)

    def finish(self, predictor: Predictor, prepared: Prepared, deadline: Deadline) -> None:
        """Precompute every known user's list (what serving looks up), then keep a rating
        model beside a blend that predicts none (explicit data) in the time left."""
        from accelml.recsys.recommend import precompute
        from accelml.recsys.training import add_rating_model

        predictor.info["precomputed_lists"] = precompute(predictor, deadline)
        if getattr(predictor.preprocessor, "explicit", False):
            add_rating_model(predictor, prepared, deadline)

    def predict(self, predictor: Predictor, data: Any) -> Any:
        from accelml.recsys.recommend import predict_ratings

        return predict_ratings(predictor, _read(data))

    def evaluate(self, predictor: Predictor, data: Any) -> Any:
        from accelml.recsys.recommend import evaluate

        return evaluate(predictor, _read(data))

    def recommend(self, predictor: Predictor, users: Any, k: int,
                  exclude_seen: bool = True) -> Any:
        from accelml.recsys.recommend import recommend

        return recommend(predictor, users, k, exclude_seen)

    def similar_items(self, predictor: Predictor, items: Any, k: int) -> Any:
        from accelml.recsys.recommend import similar_items

        return similar_items(predictor, items, k)

    def serve_input(self, predictor: Predictor, max_rows: int) -> ServeInput:
        from accelml.recsys.serving import rows_input

        return rows_input(predictor, max_rows)

    def add_routes(self, app: Any, predictor: Predictor, dependencies: list[Any]) -> None:
        from accelml.recsys.serving import add_routes

        add_routes(app, predictor, dependencies)

    def predict_file(self, predictor: Predictor, source: Path, output: Path, *, proba: bool,
                     batch_rows: int, on_progress: OnProgress | None = None) -> int:
        """Rating estimates of the (user, item) rows of ``source``."""
        from accelml.io import write_table
        from accelml.recsys.recommend import predict_ratings

        frame = _read(source)
        out = frame.copy()
        out[predictor.task.target] = predict_ratings(predictor, frame)
        write_table(out, output)
        return len(out)


def _add_side(pre: RecsysPreprocessor, options: RecsysOptions, columns: Columns) -> None:
    """Join the item and user side tables to the codes."""
    if options.item_features is not None:
        table = read_side(options.item_features, "item features")
        pre.side["items"] = side_table(table, columns.item, pre.items, pre.item_codes)
    if options.user_features is not None:
        table = read_side(options.user_features, "user features")
        pre.side["users"] = side_table(table, columns.user, pre.users, pre.user_codes)
