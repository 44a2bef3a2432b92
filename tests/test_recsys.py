"""Recommendations end to end: fit from interactions, recommend, similar items, rating
estimates, evaluation, saving, the CLI and the server; and every bad input it handles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import accelml
from accelml.cli import app
from accelml.core.predictor import Predictor
from accelml.core.task import Task, TaskKind
from accelml.errors import ConfigError, DataError, SchemaError
from accelml.recsys.modality import PerUserHoldout
from accelml.recsys.preprocess import Columns, clean
from accelml.testing.recsys_data import items_frame, ratings_frame, users_frame

RUN = {"task": "recommend", "user_column": "user_id", "item_column": "item_id",
       "time_budget": 12, "quiet": True, "n_workers": 1}
LEARNERS = ("popularity", "ease", "item_knn")
TASK = Task(TaskKind.RANKING, "rating", "ndcg@10")


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    return ratings_frame(n_users=80, n_items=40, per_user=8)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, ratings: pd.DataFrame) -> Path:
    out = tmp_path_factory.mktemp("recsys") / "model"
    # a trial cap (each learner's portfolio and more) ends the search in about a second;
    # without it the search ran some 200 trials of these quick learners for its whole share
    accelml.fit(ratings, rating_column="rating", time_column="timestamp",
                learners=LEARNERS, out=out, max_trials=12, **RUN)
    return out


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Predictor:
    return accelml.load(model_dir)


def test_a_fit_ranks_each_users_own_group_first(model: Predictor,
                                                ratings: pd.DataFrame) -> None:
    recs = model.recommend(list(range(20)), k=3)
    assert list(recs.columns) == ["user_id", "item_id", "rank", "score", "fallback"]
    in_group = (recs.item_id // 10) == (recs.user_id % 4)
    assert in_group.mean() > 0.8
    assert model.task.kind is TaskKind.RANKING and model.info["precomputed_lists"]


def test_seen_items_are_left_out_unless_asked_for(model: Predictor,
                                                  ratings: pd.DataFrame) -> None:
    seen = set(ratings[ratings.user_id == 3].item_id)
    recs = model.recommend([3], k=40)
    assert not seen & set(recs.item_id)
    assert len(recs) == 40 - len(seen)  # the rest of the catalogue, no padding
    everything = model.recommend([3], k=40, exclude_seen=False)
    assert seen <= set(everything.item_id) and len(everything) == 40


def test_a_blend_pads_users_with_fewer_items_left_than_asked(model: Predictor) -> None:
    from accelml.recsys.recommend import blended_top

    model.members[0].weight = model.members[0].weight or 1.0
    blend_of_two = [*model.members[:1], *model.members[:1]]
    members, model.members = model.members, blend_of_two
    try:
        items, scores = blended_top(model, np.array([3]), 40)
    finally:
        model.members = members
    assert items.shape == scores.shape == (1, 40)
    assert (items[0] == -1).sum() == np.isneginf(scores[0]).sum() > 0


def test_unknown_users_get_popular_items_flagged(model: Predictor,
                                                 ratings: pd.DataFrame) -> None:
    recs = model.recommend(["stranger", 1], k=3)
    stranger = recs[recs.user_id == "stranger"]
    assert stranger.fallback.all() and not recs[recs.user_id == 1].fallback.any()
    top = ratings.item_id.value_counts().index[0]
    assert stranger.item_id.iloc[0] == top


def test_k_larger_than_the_catalogue_gives_the_catalogue(model: Predictor) -> None:
    recs = model.recommend(["stranger"], k=10_000)
    assert len(recs) == 40
    with pytest.raises(ConfigError, match="k must be a positive"):
        model.recommend([1], k=0)


def test_similar_items_and_the_reasons_of_a_recommendation(model: Predictor) -> None:
    similar = model.similar_items(3, k=4)
    assert 3 not in set(similar.similar_item)
    assert (similar.similar_item // 10 == 0).mean() >= 0.75
    with pytest.raises(DataError, match=r"unknown item\(s\) \[999\]"):
        model.similar_items(999)
    from accelml.recsys.recommend import reasons

    top = model.recommend([2], k=2)
    why = reasons(model, 2, list(top.item_id))
    assert why and all(why)  # the user's own items that led to each


def test_ratings_are_estimated_and_evaluation_reports_every_metric(
        model: Predictor) -> None:
    held_out = ratings_frame(n_users=80, n_items=40, per_user=8, seed=7)
    values = model.predict(held_out.head(5))
    assert values.shape == (5,) and ((values >= 1) & (values <= 5)).all()
    report = model.evaluate(held_out)
    for name in ("ndcg@10", "recall@10", "precision@10", "map@10", "hit_rate@10",
                 "coverage@10", "rmse", "mae"):
        assert name in report
    assert report["cold_users"] == 0


def test_evaluation_counts_cold_users_and_items(model: Predictor) -> None:
    held_out = pd.DataFrame({"user_id": [1, 1, 500], "item_id": [5, 7777, 3],
                             "rating": [5.0, 4.0, 3.0]})
    report = model.evaluate(held_out)
    assert report["cold_users"] == 1 and report["cold_item_rows"] == 1
    assert report["users"] == 2


def test_implicit_feedback_ranks_and_refuses_ratings(tmp_path: Path,
                                                    ratings: pd.DataFrame) -> None:
    clicks = ratings[["user_id", "item_id", "timestamp"]]
    model = accelml.fit(clicks, learners=("popularity", "item_knn"), max_trials=3,
                        **RUN)
    assert not model.recommend([0], k=3).empty
    with pytest.raises(ConfigError, match="implicit feedback"):
        model.predict(clicks.head(2))


def test_per_user_holdout_keeps_each_users_latest_share() -> None:
    users = np.array([0] * 10 + [1] * 1 + [2] * 3)
    times = np.r_[np.arange(10)[::-1], [5], [1, 2, 3]].astype(float)
    items = np.arange(14)
    (train, valid), = PerUserHoldout(users, times, items).split(np.ones(14), TASK)
    # User 0's first two rows hold its latest times (9, 8): round(0.2 x 10) = 2 held out;
    # user 2's latest of three (at least one); user 1's only row is trained on.
    assert sorted(valid.tolist()) == [0, 1, 13]
    assert 10 in train


def test_duplicates_are_aggregated_and_counted() -> None:
    frame = pd.DataFrame({"u": [1, 1, 2, 2], "i": [5, 5, 5, 6], "r": [2.0, 4.0, 3.0, 1.0],
                          "t": [1, 2, 3, 4]})
    long, notes, explicit = clean(frame, Columns("u", "i", "r", "t"))
    assert explicit
    assert len(long) == 3
    assert long[(long.user == 1) & (long.item == 5)].value.item() == 4.0  # the latest
    assert any("1 (user, item) pairs occurred more than once" in n for n in notes)


@pytest.mark.parametrize(("values", "explicit"), [
    ([1.0, 2.0, 5.0, 4.0], True), ([0.5, 3.5, 5.0, 4.5], True), ([1.0, 1.0, 1.0, 1.0], False),
    ([0.0, 1.0, 1.0, 0.0], False), ([3.0, 250.0, 17.0, 1.0], False)])
def test_ratings_are_told_from_implicit_feedback(values: list[float], explicit: bool) -> None:
    frame = pd.DataFrame({"u": [1, 1, 2, 2], "i": [1, 2, 1, 2], "v": values})
    long, notes, found = clean(frame, Columns("u", "i", "v"))
    assert found is explicit
    assert explicit or "read as implicit feedback" in notes[-1]


def test_rating_errors_by_hand() -> None:
    from accelml.recsys.recommend import rating_errors

    rmse, mae = rating_errors(np.array([3.0, 4.0, 2.0]), np.array([2.0, 4.0, 4.0]))
    assert rmse == pytest.approx(np.sqrt((1 + 0 + 4) / 3))
    assert mae == pytest.approx((1 + 0 + 2) / 3)


def test_missing_ids_are_left_out_and_said() -> None:
    frame = pd.DataFrame({"u": [1, None, 2, 3], "i": [5, 6, None, 6]})
    long, notes, explicit = clean(frame, Columns("u", "i"))
    assert not explicit
    assert len(long) == 2 and "2 rows without a user or item id were left out" in notes[0]


@pytest.mark.parametrize(("frame", "columns", "error", "message"), [
    (pd.DataFrame({"u": [1, 2], "i": [1, 2], "r": [-1.0, 3.0]}), Columns("u", "i", "r"),
     DataError, "negative values such as -1"),
    (pd.DataFrame({"u": [1, 2], "i": [1, 2], "r": ["good", "3"]}), Columns("u", "i", "r"),
     DataError, "non-numeric values such as 'good'"),
    (pd.DataFrame({"u": [1, 2], "i": [1, 2]}), Columns("u", "u"), DataError,
     "user column and the item column are both 'u'"),
    (pd.DataFrame({"u": [1, 2], "i": [1, 2]}), Columns("u", "item"), SchemaError,
     "item column 'item' is not in the data"),
])
def test_bad_interactions_are_refused_with_the_fix(frame: pd.DataFrame, columns: Columns,
                                                   error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        clean(frame, columns)


@pytest.mark.parametrize(("users", "items", "message"), [
    ([1, 1, 1], [1, 2, 3], "1 distinct users and 3 distinct items"),
    ([1, 2, 3], [7, 7, 7], "3 distinct users and 1 distinct items")])
def test_fewer_than_two_users_or_items_is_refused(tmp_path: Path, users: list[int],
                                                  items: list[int], message: str) -> None:
    with pytest.raises(DataError, match=message):
        accelml.fit(pd.DataFrame({"user_id": users, "item_id": items}), out=tmp_path / "m",
                    **RUN)
    assert not (tmp_path / "m").exists()


def test_side_tables_join_to_the_codes(tmp_path: Path, ratings: pd.DataFrame) -> None:
    from accelml.config import RunConfig
    from accelml.recsys.modality import RecsysModality, RecsysOptions

    prepared = RecsysModality().prepare(
        ratings, None, RunConfig.from_options("medium", time_budget=10),
        RecsysOptions("user_id", "item_id", "rating", "timestamp",
                      items_frame(40), users_frame(80)))
    info = prepared.features.block_info["side"]
    assert info["items"]["names"] == ["genre", "year"] and info["items"]["categorical"] == [0]
    assert prepared.features.side["users"].shape == (80, 2)


def test_cli_fits_recommends_and_evaluates(tmp_path: Path, ratings: pd.DataFrame,
                                           model_dir: Path) -> None:
    runner = CliRunner()
    recs = tmp_path / "recs.csv"
    result = runner.invoke(app, ["recommend", str(model_dir), "--users", "1,2,stranger",
                                 "-k", "3", "-o", str(recs)])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(recs)
    assert len(written) == 9 and written["rank"].tolist()[:3] == [1, 2, 3]
    assert "1 unknown user(s)" in result.output
    every = tmp_path / "all.parquet"
    result = runner.invoke(app, ["recommend", str(model_dir), "--all-users", "-k", "2",
                                 "-o", str(every)])
    assert result.exit_code == 0 and len(pd.read_parquet(every)) == 160
    held = tmp_path / "test.csv"
    ratings.head(50).to_csv(held, index=False)
    result = runner.invoke(app, ["evaluate", str(model_dir), str(held), "--json"])
    assert result.exit_code == 0 and "ndcg@10" in result.output


def test_cli_refuses_bad_recommend_requests(tmp_path: Path, model_dir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["recommend", str(model_dir), "-o", str(tmp_path / "r.csv")])
    assert result.exit_code != 0 and "--users" in result.output
    assert not (tmp_path / "r.csv").exists()
    data = tmp_path / "one.csv"
    pd.DataFrame({"user_id": [1, 1], "item_id": [1, 2]}).to_csv(data, index=False)
    result = runner.invoke(app, ["fit", str(data), "--task", "recommend", "--user", "user_id",
                                 "--item", "user_id", "--out", str(tmp_path / "m"), "-q"])
    assert result.exit_code != 0 and "both 'user_id'" in result.output


def test_the_server_recommends_explains_and_finds_similar_items(model_dir: Path) -> None:
    from fastapi.testclient import TestClient

    from accelml.serve.app import ServeSettings, create_app

    client = TestClient(create_app(ServeSettings(str(model_dir), access_log=False)))
    one = client.post("/v1/recommend", json={"user": 1, "k": 3, "explain": True}).json()
    assert len(one["items"]) == 3 and not one["fallback"] and one["items"][0]["because"]
    many = client.post("/v1/recommend", json={"users": ["1", "stranger"], "k": 2}).json()
    assert [r["fallback"] for r in many["results"]] == [False, True]
    assert many["results"][0]["items"] == one["items"][:2] or many["results"][0]["items"]
    similar = client.post("/v1/similar-items", json={"item": 3, "k": 2}).json()
    assert len(similar["items"]) == 2
    assert client.post("/v1/similar-items", json={"item": 999}).status_code == 422
    assert client.post("/v1/recommend", json={"k": 2}).status_code == 422
    rated = client.post("/v1/predict", json={"rows": [{"user_id": 1, "item_id": 3}]}).json()
    assert 1 <= rated["predictions"][0] <= 5


def test_a_model_saved_without_its_lists_computes_them_when_served(model: Predictor) -> None:
    from fastapi import FastAPI

    from accelml.recsys.serving import add_routes

    expected = model.recommend([1, 2], k=5)
    model.preprocessor.top_items = model.preprocessor.top_scores = None  # type: ignore
    slow = model.recommend([1, 2], k=5)  # ranked per request, the same answer
    assert slow.item_id.tolist() == expected.item_id.tolist()
    add_routes(FastAPI(), model, [])
    assert model.preprocessor.top_items is not None  # type: ignore[attr-defined]
