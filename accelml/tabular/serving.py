"""How ``accelml serve`` takes rows of a tabular model: a pydantic model of one row,
generated from the model's own feature schema, so that validation, the OpenAPI document and
the 422 errors all name the model's columns, their types and their known categories.

Every feature is required (``null`` is a missing value, as an empty cell was in training);
columns the model dropped may be sent and are ignored; any other field is refused. Unknown
categories are accepted and treated as at training (the ``__other__`` code). A numeric field
reads a value as a CSV cell is read: a number, or a number written as text (``"39"``);
``true``/``false`` is refused; infinite values are missing (the answer warns).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model


def _number(value: Any) -> Any:
    """true/false is no number: refused, as a CSV cell 'true' in a numeric column is. Numbers
    written as text ("39") are read as numbers, as CSV cells are."""
    if isinstance(value, bool):
        raise ValueError("Input should be a valid number, not true or false")
    return value


_TYPES: dict[str, Any] = {
    "numeric": Annotated[float | None, BeforeValidator(_number)],
    "boolean": bool | None,
    "categorical": str | int | float | bool | None,
    "datetime": str | None,
    "text": str | None,
}
_EXAMPLES: dict[str, Any] = {"numeric": 0.0, "boolean": False, "datetime": "2024-01-31",
                             "text": "some words"}
#: Categories listed in the OpenAPI document per column (the rest are counted).
LISTED_CATEGORIES = 50


def _field_name(index: int) -> str:
    """The attribute name of column ``index``; the column's own name (which may be no Python
    identifier, or clash with pydantic's names) is its alias."""
    return f"c{index}"


def _describe(spec: Mapping[str, Any]) -> str:
    kind = spec["kind"]
    if "dropped" in spec:
        return f"Not used by the model ({spec['dropped']}); may be sent, is ignored."
    if kind == "categorical":
        categories = list(spec.get("categories", []))
        shown = ", ".join(repr(c) for c in categories[:LISTED_CATEGORIES])
        more = len(categories) - LISTED_CATEGORIES
        tail = f" and {more} more" if more > 0 else ""
        return (f"Category, one of: {shown}{tail}. Other values are accepted and treated as "
                "rare ones were in training. null when missing.")
    if kind == "datetime":
        return "Date or time as text (the training format or ISO 8601). null when missing."
    return {"numeric": "Number. null when missing.",
            "boolean": "true or false. null when missing.",
            "text": "Free text. null when missing."}[kind]


def example_row(schema: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A valid row: the first known category, 0 for numbers, a date, a few words."""
    row: dict[str, Any] = {}
    for spec in schema:
        if "dropped" in spec:
            continue
        categories = spec.get("categories") or ["a"]
        row[spec["name"]] = categories[0] if spec["kind"] == "categorical" else _EXAMPLES[
            spec["kind"]]
    return row


def row_model(schema: Sequence[Mapping[str, Any]]) -> type[BaseModel]:
    """The pydantic model of one row of this model's features."""
    fields: dict[str, Any] = {}
    for index, spec in enumerate(schema):
        name = spec["name"]
        extra: dict[str, Any] = {"x-kind": spec["kind"]}
        if spec["kind"] == "categorical" and "dropped" not in spec:
            extra["x-categories"] = list(spec.get("categories", []))[:LISTED_CATEGORIES]
        if "dropped" in spec:
            annotation: Any = Any
            default: Any = None
        else:
            annotation, default = _TYPES[spec["kind"]], ...
        fields[_field_name(index)] = (annotation, Field(
            default, alias=name, description=_describe(spec), json_schema_extra=extra))
    config = ConfigDict(extra="forbid", populate_by_name=False,
                        json_schema_extra={"example": example_row(schema)})
    return create_model("Row", __config__=config, **fields)


def rows_of(rows: list[Any]) -> list[dict[str, Any]]:
    """Validated rows as the plain mappings the preprocessor's record path reads."""
    return [row.model_dump(by_alias=True) for row in rows]
