"""Realtime API wire basics: ids, the error a client event can cause, base64 audio."""

from __future__ import annotations

import base64
import binascii
import secrets

from pydantic import ValidationError

from neuraldrive_audio.service.errors import ErrorKind, ServiceError


def new_event_id() -> str:
    """A server event id (``event_...``)."""
    return "event_" + secrets.token_hex(12)


def new_item_id() -> str:
    """A conversation item id (``item_...``)."""
    return "item_" + secrets.token_hex(12)


def new_session_id() -> str:
    """A session id (``sess_...``)."""
    return "sess_" + secrets.token_hex(12)


class ClientEventError(Exception):
    """A client event we cannot act on; becomes an ``error`` event, the session goes on."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "invalid_value",
        param: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.type = type


def realtime_error(exc: ServiceError, param: str | None = None) -> ClientEventError:
    """The speech service's neutral error as a realtime error (the one mapping): OpenAI's
    error type from its kind, its code and message, and ``param`` (the event field it is
    about) when the service named none."""
    server_side = exc.kind.retryable or exc.kind is ErrorKind.INTERNAL
    return ClientEventError(
        exc.message,
        code=exc.code or ("server_error" if server_side else "invalid_value"),
        param=exc.param or param,
        type="server_error" if server_side else "invalid_request_error",
    )


_JSON_NAMES = {
    "string": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "dict": "an object",
    "list": "an array",
}


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def validation_error(exc: ValidationError, prefix: str = "") -> ClientEventError:
    """OpenAI's wording for the first problem pydantic found (``prefix``: where the
    validated object sits in the event, e.g. ``item``)."""
    first = exc.errors()[0]
    where = ".".join([p for p in [prefix, *(str(part) for part in first["loc"])] if p])
    kind = first["type"]
    if kind == "missing":
        return ClientEventError(
            f"Missing required parameter: '{where}'.",
            code="missing_required_parameter",
            param=where,
        )
    expected = next((name for key, name in _JSON_NAMES.items() if kind.startswith(key)), None)
    if expected is not None and kind.endswith("_type"):
        return ClientEventError(
            f"Invalid type for '{where}': expected {expected}, but got "
            f"{_json_kind(first.get('input'))} instead.",
            code="invalid_type",
            param=where,
        )
    return ClientEventError(f"Invalid value for '{where}': {first['msg']}.", param=where)


def decode_audio(value: object, param: str = "audio") -> bytes:
    """The bytes of a base64 ``audio`` field."""
    if not isinstance(value, str):
        raise ClientEventError(
            f"Missing required parameter: '{param}'.",
            code="missing_required_parameter",
            param=param,
        )
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ClientEventError(
            f"Invalid '{param}': not valid base64 ({exc}).", code="invalid_base64", param=param
        ) from exc
