"""Small interaction data with structure a recommender can learn: users in taste groups,
each group preferring its own block of items, with timestamps, 1-5 ratings, item genres and
user ages and occupations. Tests and the conformance suite use it; it needs no download."""

from __future__ import annotations

import numpy as np
import pandas as pd

from accelml.core.data import Features
from accelml.core.task import Task, TaskKind

GROUPS = 4


def ratings_frame(n_users: int = 60, n_items: int = 40, per_user: int = 12,
                  seed: int = 0) -> pd.DataFrame:
    """Long (user_id, item_id, rating, timestamp) rows: each user rates mostly items of
    their group's block (rated high) and a few others (rated low)."""
    rng = np.random.default_rng(seed)
    rows = []
    block = n_items // GROUPS
    for user in range(n_users):
        group = user % GROUPS
        own = np.arange(group * block, (group + 1) * block)
        others = np.setdiff1d(np.arange(n_items), own)
        liked = rng.choice(own, size=min(len(own), per_user - 2), replace=False)
        disliked = rng.choice(others, size=2, replace=False)
        for item in liked:
            rows.append((user, int(item), float(rng.choice([4, 5])), 0))
        for item in disliked:
            rows.append((user, int(item), float(rng.choice([1, 2])), 0))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    frame["timestamp"] = 1_000_000 + rng.permutation(len(frame)) * 60
    return frame


def items_frame(n_items: int = 40) -> pd.DataFrame:
    """Item side features: a genre per block and a release year."""
    block = n_items // GROUPS
    genres = ["drama", "comedy", "action", "horror"]
    return pd.DataFrame({"item_id": np.arange(n_items),
                         "genre": [genres[min(i // block, GROUPS - 1)] for i in range(n_items)],
                         "year": 1990 + np.arange(n_items) % 20})


def users_frame(n_users: int = 60) -> pd.DataFrame:
    """User side features: an age and an occupation tied to the taste group."""
    jobs = ["student", "artist", "engineer", "doctor"]
    return pd.DataFrame({"user_id": np.arange(n_users), "age": 20 + np.arange(n_users) % 40,
                         "occupation": [jobs[u % GROUPS] for u in range(n_users)]})


def ranking_case(explicit: bool = True) -> tuple[Task, Features, np.ndarray]:
    """(task, features, values) in the layout recommendation learners eat, built without
    the preprocessor: codes are the ids themselves."""
    frame = ratings_frame()
    n_users, n_items = int(frame.user_id.max()) + 1, int(frame.item_id.max()) + 1
    X = frame[["user_id", "item_id", "timestamp"]].to_numpy(dtype=np.float64)
    items = items_frame(n_items)
    genre_codes = pd.Categorical(items.genre).codes.astype(np.float64)
    users = users_frame(n_users)
    job_codes = pd.Categorical(users.occupation).codes.astype(np.float64)
    info = {"interactions": {"n_users": n_users, "n_items": n_items, "explicit": explicit,
                             "relevant_min": None},
            "side": {"items": {"names": ["genre", "year"], "categorical": [0]},
                     "users": {"names": ["age", "occupation"], "categorical": [1]}}}
    side = {"items": np.column_stack([genre_codes, items.year.to_numpy(np.float64)]),
            "users": np.column_stack([users.age.to_numpy(np.float64), job_codes])}
    features = Features(X, names=("user", "item", "time"), block_info=info, side=side)
    y = frame.rating.to_numpy(np.float64) if explicit else np.ones(len(frame))
    task = Task(TaskKind.RANKING, "rating" if explicit else "interaction", "ndcg@10")
    return task, features, y
