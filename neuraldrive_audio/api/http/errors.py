"""Every error leaves the API in OpenAI's envelope: {"error": {message, type, param, code}}.

The speech service's neutral :class:`ServiceError` becomes an HTTP error in one function,
:func:`http_error` (status from its kind, ``Retry-After`` from ``retry_after_s``);
:class:`APIError` is for what only HTTP knows (form fields, auth, a client gone).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from neuraldrive_audio.service.errors import BACKEND_RETRY_AFTER_S, ErrorKind, ServiceError

log = logging.getLogger(__name__)

STATUS_OF_KIND = {
    ErrorKind.INVALID_REQUEST: 400,
    ErrorKind.INVALID_AUDIO: 400,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.CLIENT_GONE: 499,
    ErrorKind.INTERNAL: 500,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.TIMEOUT: 503,  # not 504: every retryable failure is a 503 the SDK retries
}


class APIError(StarletteHTTPException):
    """An error answered in the OpenAI envelope.

    It is an HTTPException so that an app without our handlers (NeuralDrive's System API
    including the management router) still answers with the right status, not a 500.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if status == 503 and not any(h.lower() == "retry-after" for h in headers or {}):
            # Every 503 means "try again"; say when (the SDK honours it).
            headers = {**(headers or {}), "Retry-After": str(BACKEND_RETRY_AFTER_S)}
        super().__init__(status, message, headers)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type or ("server_error" if status >= 500 else "invalid_request_error")

    def response(self) -> JSONResponse:
        """The JSON response for this error."""
        body = {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def http_error(exc: ServiceError) -> APIError:
    """The HTTP error for a service error: status from its kind, OpenAI's error type,
    ``Retry-After`` when it says when to retry."""
    status = STATUS_OF_KIND[exc.kind]
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
    error_type = "rate_limit_error" if exc.kind is ErrorKind.RATE_LIMITED else None
    return APIError(
        status, exc.message, code=exc.code, param=exc.param, type=error_type, headers=headers
    )


def _validation_param(error: dict[str, Any]) -> str | None:
    # loc is e.g. ("body", "temperature") or ("body", "timestamp_granularities[]", 0).
    skip = ("body", "query", "path", "header")
    names = [part for part in error.get("loc", ()) if isinstance(part, str) and part not in skip]
    # The first name is the request's field; later ones are union members or nested keys
    # (a bad ``voice`` object gives ("body", "voice", "str") and ("body", "voice", "VoiceRef")).
    return names[0] if names else None


def _validation_message(error: dict[str, Any], param: str | None) -> str:
    message = str(error.get("msg", "invalid value"))
    if error.get("type") == "missing":
        return f"Missing required parameter: '{param}'."
    if error.get("type") == "json_invalid":
        return "The request body is not valid JSON."
    return f"Invalid value for '{param}': {message}." if param else f"{message}."


async def _on_api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return exc.response()


async def _on_service_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return http_error(exc).response()


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    param = _validation_param(first)
    code = "missing_required_parameter" if first.get("type") == "missing" else "invalid_value"
    return APIError(400, _validation_message(first, param), code=code, param=param).response()


async def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, APIError):
        # FastAPI wraps errors raised while parsing a form (e.g. our 413) in a plain 400.
        return exc.__cause__.response()
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    headers = dict(exc.headers) if exc.headers else None
    return APIError(exc.status_code, str(exc.detail), code=code, headers=headers).response()


async def _on_backend_down(request: Request, exc: Exception) -> JSONResponse:
    # Redis is down or hangs: a retryable 503 (the SDK retries it), never a 500.
    log.warning("queue backend unavailable on %s: %s", request.url.path, type(exc).__name__)
    return APIError(
        503,
        "The speech backend is unavailable right now; retry shortly.",
        code="backend_unavailable",
        headers={"Retry-After": str(BACKEND_RETRY_AFTER_S)},
    ).response()


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s", request.url.path)
    return APIError(500, "The server had an error processing the request.").response()


def install_error_handlers(app: FastAPI) -> None:
    """Route every kind of failure through the OpenAI envelope."""
    app.add_exception_handler(APIError, _on_api_error)
    app.add_exception_handler(ServiceError, _on_service_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RedisConnectionError, _on_backend_down)
    app.add_exception_handler(RedisTimeoutError, _on_backend_down)
    app.add_exception_handler(Exception, _on_unexpected)
