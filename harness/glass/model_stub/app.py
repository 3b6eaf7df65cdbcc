"""The stub's HTTP surface: OpenAI-compatible ``/v1`` routes and ``/_stub`` controls."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from .errors import StubRequestError
from .handlers import handle_chat, handle_responses
from .records import RecordedModelRequest, redact_headers
from .state import StubState

Handler = Callable[[StubState, RecordedModelRequest, Any], Response]

# Listed by GET /v1/models; any other name is accepted too.
LISTED_MODELS = ("stub-model", "gpt-4.1", "gpt-4.1-mini", "gpt-4o", "gpt-4o-mini", "gpt-5")


def create_app(state: StubState | None = None) -> FastAPI:
    """Build the ASGI app around ``state`` (a fresh one when omitted)."""
    stub = state if state is not None else StubState()
    app = FastAPI(
        title="chatkit-harness model stub", docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.stub = stub

    @app.post("/v1/responses")
    async def create_response(request: Request) -> Response:
        return await _serve(stub, request, handle_responses)

    @app.post("/v1/chat/completions")
    async def create_chat_completion(request: Request) -> Response:
        return await _serve(stub, request, handle_chat)

    @app.get("/v1/responses/{response_id}")
    async def retrieve_response(request: Request, response_id: str) -> Response:
        return await _serve(stub, request, _retrieve(response_id))

    @app.get("/v1/models")
    async def list_models(request: Request) -> Response:
        return await _serve(stub, request, _list_models)

    @app.get("/v1/models/{model_id}")
    async def retrieve_model(request: Request, model_id: str) -> Response:
        return await _serve(stub, request, lambda *_: JSONResponse(_model(model_id)))

    @app.api_route("/v1/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def unknown_endpoint(request: Request, path: str) -> Response:
        # Recorded too: a deployment calling an API the stub lacks is worth reporting.
        return await _serve(stub, request, _not_served)

    @app.get("/_stub/requests")
    async def recorded_requests(since: str = "0") -> Response:
        try:
            first = int(since)
        except ValueError:
            return _error(StubRequestError("'since' must be an integer.", param="since"))
        records = [r.to_json() for r in stub.requests if r.index >= first]
        return JSONResponse({"requests": records})

    @app.post("/_stub/clear")
    async def clear() -> Response:
        stub.clear()
        return JSONResponse({"cleared": True})

    @app.get("/_stub/config")
    async def get_config() -> Response:
        return JSONResponse(_config(stub))

    @app.post("/_stub/config")
    async def set_config(request: Request) -> Response:
        try:
            _apply_config(stub, await _json_body(request))
        except StubRequestError as exc:
            return _error(exc)
        return JSONResponse(_config(stub))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Keep even routing errors in the OpenAI error shape the SDK understands.
        return _error(StubRequestError(str(exc.detail), status=exc.status_code))

    return app


async def _serve(stub: StubState, request: Request, handler: Handler) -> Response:
    """Record the request, run ``handler``, and turn refusals into OpenAI error bodies."""
    received_at = time.monotonic()
    record = RecordedModelRequest(
        index=stub.next_index(),
        method=request.method,
        endpoint=request.url.path,
        headers=redact_headers(dict(request.headers)),
        received_at=received_at,
        received_wall=time.time(),
        token_delay=stub.token_delay,
        first_token_delay=stub.first_token_delay,
    )
    try:
        body = await _json_body(request, record) if request.method != "GET" else None
        response = handler(stub, record, body)
    except StubRequestError as exc:
        response = _fail(record, exc)
    except Exception as exc:  # a stub bug must still answer, and be visible in the record
        response = _fail(
            record,
            StubRequestError(
                f"The model stub failed: {type(exc).__name__}: {exc}",
                status=500,
                error_type="server_error",
                code="stub_error",
            ),
        )
    record.status_code = response.status_code
    stub.add(record)
    return response


async def _json_body(request: Request, record: RecordedModelRequest | None = None) -> Any:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        if record is not None:
            record.body = raw.decode("utf-8", "replace")
        raise StubRequestError(
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly.)",
            code="invalid_json",
        ) from None
    if record is not None:
        record.body = body
    return body


def _fail(record: RecordedModelRequest, exc: StubRequestError) -> Response:
    record.error = exc.to_body()["error"]
    record.finished_at = time.monotonic()
    return _error(exc)


def _error(exc: StubRequestError) -> Response:
    return JSONResponse(exc.to_body(), status_code=exc.status)


def _retrieve(response_id: str) -> Handler:
    def handler(stub: StubState, record: RecordedModelRequest, body: Any) -> Response:
        stored = stub.stored_response(response_id)
        if stored is None:
            raise StubRequestError(
                f"No response found with id '{response_id}'.", status=404, code=None
            )
        record.response_id = response_id
        record.finished_at = time.monotonic()
        return JSONResponse(stored.response)

    return handler


def _list_models(stub: StubState, record: RecordedModelRequest, body: Any) -> Response:
    record.finished_at = time.monotonic()
    return JSONResponse({"object": "list", "data": [_model(m) for m in LISTED_MODELS]})


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "chatkit-harness"}


def _not_served(stub: StubState, record: RecordedModelRequest, body: Any) -> Response:
    raise StubRequestError(
        f"Invalid URL ({record.method} {record.endpoint}): the model stub does not serve it.",
        status=404,
        code="unknown_url",
    )


def _config(stub: StubState) -> dict[str, Any]:
    return {
        "token_delay": stub.token_delay,
        "first_token_delay": stub.first_token_delay,
        "marker_pattern": stub.marker_pattern.pattern,
    }


def _apply_config(stub: StubState, body: Any) -> None:
    if not isinstance(body, dict):
        raise StubRequestError("The request body must be a JSON object.")
    delays: dict[str, float] = {}
    for name in ("token_delay", "first_token_delay"):
        if name in body:
            value = body[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise StubRequestError(f"'{name}' must be a number.", param=name)
            if not math.isfinite(value) or value < 0:
                raise StubRequestError(f"'{name}' must be >= 0.", param=name)
            delays[name] = float(value)
    pattern = None
    if "marker_pattern" in body:
        try:
            pattern = re.compile(body["marker_pattern"])
        except (TypeError, re.error) as exc:
            raise StubRequestError(
                f"'marker_pattern' is not a regular expression: {exc}", param="marker_pattern"
            ) from None
    # Everything was validated above, so a refused request changes nothing.
    if pattern is not None:
        stub.marker_pattern = pattern
    for name, value in delays.items():
        setattr(stub, name, value)
