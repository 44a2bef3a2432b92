"""The rating model kept beside a ranking blend of explicit ratings: when no member of the
blend predicts ratings, the best searched rating learner's config (by the leaderboard) is
fitted on every interaction and kept with weight 0 (it answers rating requests, never
rankings)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd

from accelml.core.budget import Deadline
from accelml.core.data import DataShape
from accelml.core.learner import get_learner, registered
from accelml.core.modality import Prepared

if TYPE_CHECKING:
    from accelml.core.predictor import Predictor

RATING_LEARNER = "biased_mf"
#: Rating models are not fitted with less time left than this.
MIN_SECONDS = 1.0


def add_rating_model(predictor: Predictor, prepared: Prepared, deadline: Deadline) -> bool:
    """Fit and add the rating model unless a member already predicts ratings; True when
    the model can predict ratings afterwards."""
    from accelml.core.predictor import Member

    if any(m.fitted.info.get("predicts_ratings") for m in predictor.members):
        return True
    if RATING_LEARNER not in registered() or deadline.remaining() < MIN_SECONDS:
        predictor.info["rating_model"] = "none: no time left to fit one"
        return False
    learner = get_learner(RATING_LEARNER)
    config, fidelity = _best_config(predictor)
    if config is None:
        config = dict(learner.portfolio(prepared.task, DataShape.of(prepared.features))[0])
    try:
        fitted = learner.fit(prepared.features, prepared.y, config, task=prepared.task,
                             fidelity=fidelity, deadline=deadline, n_jobs=1, seed=0)
    except (ValueError, MemoryError, ArithmeticError) as error:  # the ranking model stands
        predictor.info["rating_model"] = f"none: fitting it failed ({error})"
        return False
    predictor.members.append(Member(RATING_LEARNER, config, fitted, 0.0, -1))
    predictor.info["rating_model"] = {"learner": RATING_LEARNER, "config": config}
    return True


def _best_config(predictor: Predictor) -> tuple[dict | None, int | None]:  # type: ignore[type-arg]
    """The config and fidelity of the best OK trial of the rating learner, if any."""
    board = predictor.board
    if board.empty or "learner" not in board:
        return None, None
    rows = board[(board["learner"] == RATING_LEARNER) & (board["status"] == "ok")]
    if rows.empty:
        return None, None
    best = rows.iloc[0]
    fidelity = best["fidelity"]
    fidelity = None if fidelity is None or pd.isna(fidelity) else int(fidelity)
    return json.loads(best["config"]), fidelity
