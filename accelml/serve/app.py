"""The prediction server: one saved model behind a small HTTP API (FastAPI).

``POST /v1/predict`` takes the inputs of the model's modality (``{"rows": [...]}`` of JSON
records for tables, ``{"images": [...]}`` of base64 image files for images) and answers
predictions and class probabilities; ``GET /v1/schema`` says what to send, ``GET
/v1/metadata`` what the model is, ``GET /healthz`` and ``GET /readyz`` are for
orchestrators. Rows go through the preprocessor's record path (no DataFrame), so one row
costs well under a millisecond in process.

With an API key, everything but the two probes needs it: the predictions, the schema, the
metadata and the API documentation (``/openapi.json``, ``/docs``, ``/redoc``), which lists every
column and known category; ``docs=False`` turns the documentation off. A 422 answer names the
fields at fault without echoing the request back (a rejected request may be megabytes).

No ``from __future__ import annotations`` here: FastAPI reads the request model, built per
model at start-up, from the endpoint's annotation at runtime.
"""

import hmac
import json
import logging
import math
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response

from accelml._version import __version__
from accelml.api import load
from accelml.core.artifacts import read_manifest
from accelml.core.modality import get_modality
from accelml.core.predictor import Predictor
from accelml.errors import AccelMLError, ConfigError
from accelml.serve.schema import DEFAULT_MAX_ROWS, PredictResponse, request_model

#: Largest request body accepted (bytes); 413 above it.
DEFAULT_MAX_BODY_BYTES = 8 * 2**20
#: Environment variable carrying the settings to each worker process (``--workers N``).
SETTINGS_ENV = "ACCELML_SERVE_SETTINGS"
#: Validation errors listed in a 422 answer (the others are counted).
LISTED_ERRORS = 20
#: Longest input value (as text) a 422 answer echoes; longer ones, and rows or lists, are not.
ECHOED_INPUT = 100
access_log = logging.getLogger("accelml.access")


@dataclass(frozen=True)
class ServeSettings:
    """What the server serves and how it guards itself."""

    model_dir: str
    api_key: str | None = None
    max_rows: int = DEFAULT_MAX_ROWS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    access_log: bool = True
    docs: bool = True

    def __post_init__(self) -> None:
        if self.max_rows < 1:
            raise ConfigError(f"max_rows must be >= 1, got {self.max_rows}")
        if self.max_body_bytes < 1024:
            raise ConfigError(f"max_body_bytes must be >= 1024, got {self.max_body_bytes}")
        if self.api_key is not None and len(self.api_key) < 16:
            raise ConfigError("the API key must be at least 16 characters; generate one with "
                              "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`")


def _jsonable(values: np.ndarray) -> list[Any]:
    return [v.item() if isinstance(v, np.generic) else v for v in values.tolist()]


def _answer(predictor: Predictor, data: Any) -> dict[str, Any]:
    """Predictions (and probabilities), plus the warnings predicting raised (such as infinite
    values read as missing), so that the client learns what happened to its input. The
    endpoints run on the event loop's one thread, so catching warnings here is safe;
    resource warnings are left out: the garbage collector raises them for objects of the
    process that were never closed, whatever request happens to be running."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels, proba = predictor.predict_with_proba(data)
    answer: dict[str, Any] = {"predictions": _jsonable(np.asarray(labels, dtype=object))}
    if proba is not None:
        names = [str(label) for label in predictor.classes]
        answer["probabilities"] = [dict(zip(names, row, strict=True)) for row in proba.tolist()]
    said = list(dict.fromkeys(str(warning.message) for warning in caught
                              if not issubclass(warning.category, ResourceWarning)))
    if said:
        answer["warnings"] = said
    return answer


def _metadata(predictor: Predictor, manifest: dict[str, Any]) -> dict[str, Any]:
    board = predictor.leaderboard()
    metric = predictor.task.metric
    top = board[board["status"] == "ok"].head(5) if "status" in board else board.head(5)
    return {
        "task": predictor.task.kind.value, "target": predictor.task.target, "metric": metric,
        "classes": [str(c) for c in predictor.classes] if predictor.task.kind.is_classification
        else None,
        "validation_score": predictor.info.get("validation_score"),
        "members": [{"learner": m.learner, "weight": m.weight} for m in predictor.members],
        "leaderboard_top": [{"learner": r["learner"], metric: r.get(metric),
                             "fit_s": r.get("fit_s")} for r in top.to_dict("records")],
        "format_version": manifest.get("format_version"),
        "trained_with": manifest.get("libraries", {}),
        "served_by": {"accelml": __version__},
    }


def create_app(settings: ServeSettings) -> FastAPI:
    """A FastAPI app serving the model in ``settings.model_dir`` (loaded and verified now):
    the inputs its modality takes (rows of a table, base64-encoded images, ...)."""
    predictor = load(settings.model_dir)
    manifest = read_manifest(Path(settings.model_dir))
    app = FastAPI(
        title=f"AccelML model predicting {predictor.task.target!r}",
        version=__version__,
        description=(f"A {predictor.task.kind.value} model trained by AccelML. Send inputs to "
                     "/v1/predict; /v1/schema says what to send, with an example request."),
        openapi_url=None, docs_url=None, redoc_url=None,  # added below, behind the key
    )
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    check_key = _key_check(settings.api_key)
    if settings.docs:
        _doc_routes(app, check_key)
    _predict_endpoints(app, predictor, settings, check_key)
    get_modality(predictor.preprocessor.kind).add_routes(app, predictor,
                                                         [Depends(check_key)])
    state = {"ready": True}
    meta = _metadata(predictor, manifest)

    @app.get("/v1/metadata", dependencies=[Depends(check_key)], summary="What the model is")
    async def get_metadata() -> dict[str, Any]:
        return meta

    @app.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="The model is loaded and warm")
    async def readyz() -> JSONResponse:
        ready = state["ready"]
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    app.add_middleware(GuardAndLog, max_body_bytes=settings.max_body_bytes)
    return app


def _predict_endpoints(app: FastAPI, predictor: Predictor, settings: ServeSettings,
                       check_key: Any) -> None:
    """``POST /v1/predict`` and ``GET /v1/schema`` of the inputs the model's modality takes
    (rows of a table, base64-encoded images, ...)."""
    spec = get_modality(predictor.preprocessor.kind).serve_input(predictor, settings.max_rows)
    request_type = request_model(spec.field, spec.item_type, settings.max_rows)
    if spec.warm is not None:
        _answer(predictor, spec.warm)  # warm: the first real request is not the slow one

    async def predict(body: request_type) -> Response:  # type: ignore[valid-type]
        try:
            data = spec.decode(getattr(body, spec.field))
        except AccelMLError as error:
            raise HTTPException(422, detail=str(error)) from None
        return _respond(predictor, data)

    if spec.field == "rows":  # models of table rows (tables, texts) give reasons
        _explain_route(app, predictor, spec, request_type, check_key)
    _add_routes(app, predict, spec.field, check_key, {
        "target": predictor.task.target, "task": predictor.task.kind.value, **spec.schema,
        "max_rows": settings.max_rows, "example_request": {spec.field: [spec.example]}})


def _explain_route(app: FastAPI, predictor: Predictor, spec: Any, request_type: Any,
                   check_key: Any) -> None:
    """``POST /v1/explain``: the answers of the rows sent and each one's top reasons."""

    async def explain(body: request_type, top: int = 3) -> Response:  # type: ignore[valid-type]
        from accelml.explain.reasons import reason_records

        if not 1 <= top <= 20:
            raise HTTPException(422, detail=f"top must be between 1 and 20, got {top}")
        try:
            frame = pd.DataFrame(spec.decode(getattr(body, spec.field)))
            answer = {**_answer(predictor, frame),
                      **reason_records(predictor, frame, top=top, max_rows=len(frame))}
        except AccelMLError as error:
            raise HTTPException(422, detail=str(error)) from None
        return Response(json.dumps(answer, allow_nan=False, default=str),
                        media_type="application/json")

    app.post("/v1/explain", dependencies=[Depends(check_key)],
             summary="Predict rows, each with its top reasons")(explain)


def _add_routes(app: FastAPI, predict: Any, what: str, check_key: Any,
                schema: dict[str, Any]) -> None:
    """``POST /v1/predict`` and ``GET /v1/schema`` (which answers ``schema``), both behind
    the key check."""
    guard = [Depends(check_key)]
    app.post("/v1/predict", response_model=PredictResponse, dependencies=guard,
             summary=f"Predict {what}")(predict)

    @app.get("/v1/schema", dependencies=guard, summary="What to send")
    async def get_schema() -> dict[str, Any]:
        return schema


def _respond(predictor: Predictor, data: Any) -> Response:
    try:
        answer = _answer(predictor, data)
    except AccelMLError as error:
        raise HTTPException(422, detail=str(error)) from None
    try:
        text = json.dumps(answer, allow_nan=False)
    except ValueError:  # the preprocessor bounds every input, so this is a bug, said plainly
        raise HTTPException(500, detail="the model answered a value that is not a finite "
                            "number; please report this with the request") from None
    return Response(text, media_type="application/json")


def _doc_routes(app: FastAPI, check_key: Any) -> None:
    """``/openapi.json``, ``/docs`` (Swagger UI) and ``/redoc``, behind the key check: the
    document lists every column and known category, as ``/v1/schema`` does."""
    guard = [Depends(check_key)]
    title = f"{app.title} - API documentation"

    @app.get("/openapi.json", dependencies=guard, include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", dependencies=guard, include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=title)

    @app.get("/redoc", dependencies=guard, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=title)


async def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    """A 422 naming each field at fault (type, location, message) and echoing only short
    values: FastAPI's own answer echoes the input, which for too many rows is the whole
    request, megabytes of it. At most :data:`LISTED_ERRORS` are listed."""
    errors = list(error.errors())
    body: dict[str, Any] = {"detail": [_slim(item) for item in errors[:LISTED_ERRORS]]}
    if len(errors) > LISTED_ERRORS:
        body["more_errors"] = len(errors) - LISTED_ERRORS
    return JSONResponse(body, status_code=422)


def _slim(item: Any) -> dict[str, Any]:
    """One validation error without large inputs or objects that are not JSON."""
    slim = {"type": item.get("type"), "loc": list(item.get("loc", ())), "msg": item.get("msg")}
    value = item.get("input")
    if isinstance(value, float) and not math.isfinite(value):
        slim["input"] = repr(value)  # JSON has no Infinity or NaN
    elif isinstance(value, int) and value.bit_length() > 64:
        pass  # a number of hundreds of digits
    elif value is None or (isinstance(value, str | int | float)
                           and len(str(value)) <= ECHOED_INPUT):
        slim["input"] = value
    return slim


def _key_check(api_key: str | None) -> Any:
    """A dependency refusing requests without the key (``X-API-Key`` or a Bearer token);
    compared in constant time."""
    expected = api_key.encode() if api_key else None

    async def check(request: Request) -> None:
        if expected is None:
            return
        given = request.headers.get("x-api-key", "")
        bearer = request.headers.get("authorization", "")
        if not given and bearer.lower().startswith("bearer "):
            given = bearer[7:].strip()
        if not hmac.compare_digest(given.encode(), expected):
            raise HTTPException(401, detail="missing or wrong API key: send it in the "
                                "X-API-Key header", headers={"WWW-Authenticate": "Bearer"})

    return check


class GuardAndLog:
    """ASGI middleware: refuse bodies over the limit (413) before parsing them, and write one
    JSON access-log line per request (method, path, status, milliseconds, body bytes)."""

    def __init__(self, app: Any, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, size = 500, 0

        async def send_logged(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            body, size, too_large = await self._read_body(scope, receive)
            if too_large:
                await self._too_large(send_logged)
                return

            replayed = False

            async def replay() -> dict[str, Any]:
                nonlocal replayed
                if replayed:  # after the body, only the disconnect is left to wait for
                    return await receive()  # type: ignore[no-any-return]
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, send_logged)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client") or ("", 0)
                access_log.info(json.dumps({
                    "time": round(time.time(), 3), "client": client[0],
                    "method": scope.get("method"), "path": scope.get("path"), "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 3), "bytes_in": size}))

    async def _read_body(self, scope: dict[str, Any], receive: Any) -> tuple[bytes, int, bool]:
        """The whole body, unless the declared or received size passes the limit."""
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit():
                if int(value) > self.max_body_bytes:
                    return b"", int(value), True
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return b"", size, True
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), size, False

    async def _too_large(self, send: Any) -> None:
        body = json.dumps({"detail": f"request body over {self.max_body_bytes} bytes; send "
                           "fewer rows per request"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def configure_access_log(enabled: bool = True) -> None:
    """JSON access-log lines on stderr (or none)."""
    access_log.setLevel(logging.INFO if enabled else logging.WARNING)
    if enabled and not access_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
        access_log.propagate = False


def app_from_environment() -> FastAPI:
    """The app of each worker process started by ``accelml serve --workers N``."""
    settings = ServeSettings(**json.loads(os.environ[SETTINGS_ENV]))
    configure_access_log(settings.access_log)
    return create_app(settings)


def settings_environment(settings: ServeSettings) -> str:
    """The value of :data:`SETTINGS_ENV` that :func:`app_from_environment` reads."""
    return json.dumps(asdict(settings))
