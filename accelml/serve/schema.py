"""The request and response models of the prediction API. The request is
``{field: [item, ...]}``, its field and item type given by the model's modality (rows of
typed columns for tables, base64 image files for images), so that validation, the OpenAPI
document and the 422 errors speak of the model's own inputs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

#: Largest number of rows one request may carry.
DEFAULT_MAX_ROWS = 10_000


def request_model(field: str, item_type: Any, max_rows: int) -> type[BaseModel]:
    """``{field: [item, ...]}`` with 1 to ``max_rows`` items."""
    return create_model(
        "PredictRequest", __config__=ConfigDict(extra="forbid"),
        **{field: (list[item_type], Field(  # type: ignore[valid-type]
            ..., min_length=1, max_length=max_rows,
            description=f"1 to {max_rows} {field} to predict."))})


class PredictResponse(BaseModel):
    """Predictions in request order; for classifiers, each row's class probabilities; what
    the model had to make of the input, if anything (such as infinite numbers read as
    missing)."""

    predictions: list[Any]
    probabilities: list[dict[str, float]] | None = None
    warnings: list[str] | None = None
