"""Serving a recommendation model: ``POST /v1/recommend`` (one user's top k, or several
users'), ``POST /v1/similar-items``, and ``POST /v1/predict`` of ratings for (user, item)
rows of explicit models.

One known user's answer is a lookup in the lists precomputed when the run ended
(:func:`top_for_user`), with no DataFrame on the way: well under a millisecond in process.
"""

from typing import Any

import pandas as pd

from accelml.core.budget import Deadline
from accelml.core.modality import ServeInput
from accelml.core.predictor import Predictor
from accelml.errors import AccelMLError, DataError
from accelml.recsys import recommend as rec

#: Most users one /v1/recommend request may name.
MAX_USERS = 1000
#: A model saved without its users' lists (its run had no time left for them) computes
#: them when the server starts, for at most this long (else it ranks per request).
PRECOMPUTE_AT_START_S = 60.0


def top_for_user(predictor: Predictor, user: Any, k: int, exclude_seen: bool = True
                 ) -> tuple[list[Any], list[float], bool]:
    """One user's top ``k`` item ids and scores, and whether the user was unknown (then
    the most popular items): the fast path of the server."""
    pre = predictor.preprocessor
    codes = pre.user_codes([user])  # type: ignore[attr-defined]
    (items,), (scores,) = rec.top_codes(predictor, codes, k, exclude_seen)
    keep = items >= 0
    labels = pre.items  # type: ignore[attr-defined]
    return ([labels[int(i)] for i in items[keep]], [float(s) for s in scores[keep]],
            bool(codes[0] < 0))


def rows_input(predictor: Predictor, max_rows: int) -> ServeInput:
    """(user, item) rows whose ratings ``/v1/predict`` estimates (explicit models)."""
    from pydantic import create_model

    columns = predictor.preprocessor.columns  # type: ignore[attr-defined]
    row = create_model("InteractionRow", **{columns.user: (int | str, ...),
                                            columns.item: (int | str, ...)})
    example = {columns.user: predictor.preprocessor.users[0],  # type: ignore[attr-defined]
               columns.item: predictor.preprocessor.items[0]}  # type: ignore[attr-defined]

    def decode(rows: list[Any]) -> pd.DataFrame:
        return pd.DataFrame([r.model_dump() if hasattr(r, "model_dump") else r for r in rows])

    explicit = bool(getattr(predictor.preprocessor, "explicit", False))
    return ServeInput(field="rows", item_type=row, decode=decode,
                      schema={"columns": [columns.user, columns.item],
                              "predicts": "ratings" if explicit else "nothing: use "
                              "/v1/recommend"},
                      example=example, warm=[example] if explicit else None)


def add_routes(app: Any, predictor: Predictor, dependencies: list[Any]) -> None:
    """``/v1/recommend`` and ``/v1/similar-items``."""
    from fastapi import HTTPException
    from pydantic import BaseModel, ConfigDict, Field

    class RecommendRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        user: int | str | None = Field(None, description="One user id.")
        users: list[int | str] | None = Field(None, max_length=MAX_USERS,
                                              description="Several user ids.")
        k: int = Field(10, ge=1, le=100_000, description="Items per user.")
        exclude_seen: bool = Field(True, description="Leave out items the user already had.")
        explain: bool = Field(False, description="Add the user's items that led to each.")

    class SimilarRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        item: int | str
        k: int = Field(10, ge=1, le=100_000)

    def answer(user: Any, body: RecommendRequest) -> dict[str, Any]:
        items, scores, fallback = top_for_user(predictor, user, body.k, body.exclude_seen)
        out: dict[str, Any] = {"user": user, "fallback": fallback, "items": [
            {"item": item, "rank": rank, "score": round(score, 6)}
            for rank, (item, score) in enumerate(zip(items, scores, strict=True), start=1)]}
        if body.explain and not fallback:
            for entry, why in zip(out["items"], rec.reasons(predictor, user, items),
                                  strict=True):
                entry["because"] = why
        return out

    @app.post("/v1/recommend", dependencies=dependencies, summary="Top k items per user")
    def recommend(body: RecommendRequest) -> dict[str, Any]:
        if (body.user is None) == (body.users is None):
            raise HTTPException(422, detail="send either \"user\" or \"users\"")
        try:
            if body.user is not None:
                return answer(body.user, body)
            return {"results": [answer(user, body) for user in body.users or []]}
        except AccelMLError as error:
            raise HTTPException(422, detail=str(error)) from None

    @app.post("/v1/similar-items", dependencies=dependencies, summary="Items most like one")
    def similar(body: SimilarRequest) -> dict[str, Any]:
        try:
            frame = rec.similar_items(predictor, [body.item], body.k)
        except (AccelMLError, DataError) as error:
            raise HTTPException(422, detail=str(error)) from None
        return {"item": body.item, "items": [
            {"item": row.similar_item, "rank": int(row.rank), "score": round(row.score, 6)}
            for row in frame.itertuples()]}

    if predictor.preprocessor.top_items is None:  # type: ignore[attr-defined]
        rec.precompute(predictor, Deadline.in_seconds(PRECOMPUTE_AT_START_S))
    top_for_user(predictor, predictor.preprocessor.users[0], 10)  # type: ignore[attr-defined]
