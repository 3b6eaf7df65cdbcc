"""OpenAI-style request errors.

Deployments under test see the stub as "the model", so a rejected request must look like one
the real API would reject: a 4xx with an ``{"error": {...}}`` body that the openai SDK turns
into ``BadRequestError`` (and not a 500 that the SDK would silently retry).
"""

from __future__ import annotations

from typing import Any


class StubRequestError(Exception):
    """A request the stub refuses, carried to the route as an OpenAI error body."""

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int = 400,
        error_type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.status = status
        self.error_type = error_type

    def to_body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


def missing(param: str) -> StubRequestError:
    return StubRequestError(
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )


def unknown(param: str, hint: str = "") -> StubRequestError:
    suffix = f" {hint}" if hint else ""
    return StubRequestError(
        f"Unknown parameter: '{param}'.{suffix}", param=param, code="unknown_parameter"
    )


def invalid_type(param: str, expected: str, got: Any) -> StubRequestError:
    return StubRequestError(
        f"Invalid type for '{param}': expected {expected}, but got {json_type_name(got)} instead.",
        param=param,
        code="invalid_type",
    )


def invalid_value(param: str, detail: str, code: str = "invalid_value") -> StubRequestError:
    return StubRequestError(f"Invalid value for '{param}': {detail}", param=param, code=code)


def json_type_name(value: Any) -> str:
    """Name a JSON value's type the way the API's messages do ("a string", "an array")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
