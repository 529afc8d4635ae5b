"""The API's error format, and the refusals every part of the fake server raises.

``ApiError`` is a refusal with the status, message, ``param`` and ``code`` the real API would
use; the server renders it as ``{"error": {...}}``, and the batch path writes the same body
into an error-file line. The message helpers word the API's recurring messages one way.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A refusal, rendered as the API's ``{"error": {...}}`` body with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict:
        return error_body(self.message, self.error_type, self.param, self.code)


def error_body(
    message: str, error_type: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict:
    """The API's error format: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def missing_parameter(name: str) -> ApiError:
    return bad_request(f"Missing required parameter: '{name}'.", name, "missing_required_parameter")


def invalid_value(value: Any, supported: tuple[str, ...]) -> str:
    return f"Invalid value: '{value}'. Supported values are: {', '.join(repr(s) for s in supported)}."


def invalid_type(param: str, expected: str, value: Any) -> str:
    return f"Invalid type for '{param}': expected {expected}, but got {json_type(value)} instead."


def json_type(value: Any) -> str:
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
    return "an object"
