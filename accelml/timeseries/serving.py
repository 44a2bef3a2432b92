"""Serving a forecasting model: ``POST /v1/forecast`` answers the next steps of one series
(``{"id": "store_1", "horizon": 28}``) or several (``"ids": [...]``), or of every series
when none is named; ``POST /v1/predict`` takes the same as rows of ``{"id": ...}``."""

from typing import Any

import pandas as pd

from accelml.core.modality import ServeInput
from accelml.core.predictor import Predictor
from accelml.errors import AccelMLError, DataError

#: Most series one request may name.
MAX_SERIES = 1000


def _answer(predictor: Predictor, ids: list[Any] | None, horizon: int | None) -> list[dict]:  # type: ignore[type-arg]
    frame = predictor.forecast(horizon=horizon, ids=ids)
    time = predictor.preprocessor.columns.time  # type: ignore[attr-defined]
    if pd.api.types.is_datetime64_any_dtype(frame[time]):
        frame[time] = frame[time].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return frame.to_dict(orient="records")  # type: ignore[return-value]


def series_input(predictor: Predictor, max_rows: int) -> ServeInput:
    """Rows naming series (``{"id": ...}``): ``/v1/predict`` forecasts each over the
    model's horizon."""
    from pydantic import create_model

    row = create_model("SeriesRow", id=(int | str, ...))
    pre = predictor.preprocessor
    example = {"id": pre.ids[0]}  # type: ignore[attr-defined]

    def decode(rows: list[Any]) -> list[Any]:
        return [r.model_dump()["id"] if hasattr(r, "model_dump") else r["id"] for r in rows]

    return ServeInput(field="rows", item_type=row, decode=decode,
                      schema={"columns": ["id"], "predicts": "forecasts: use /v1/forecast",
                              "horizon": pre.horizon},  # type: ignore[attr-defined]
                      example=example, warm=None)


def add_routes(app: Any, predictor: Predictor, dependencies: list[Any]) -> None:
    """``POST /v1/forecast``: the next steps of the series named (all when none is)."""
    from fastapi import Body, HTTPException

    @app.post("/v1/forecast", dependencies=dependencies)
    def forecast_route(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        ids = body.get("ids")
        if "id" in body:
            ids = [body["id"]]
        if ids is not None and (not isinstance(ids, list) or len(ids) > MAX_SERIES):
            raise HTTPException(422, f"'ids' is a list of at most {MAX_SERIES} series ids")
        horizon = body.get("horizon")
        try:
            rows = _answer(predictor, ids, horizon)
        except (AccelMLError, DataError) as error:
            raise HTTPException(422, str(error)) from None
        return {"forecast": rows, "horizon": horizon or predictor.preprocessor.horizon}  # type: ignore[attr-defined]
