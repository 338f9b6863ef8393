"""Realtime API wire basics: ids, OpenAI-shaped error events, parsing client events."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from typing import Any


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


def parse_client_event(raw: str | bytes) -> dict[str, Any]:
    """A client event as a dict with a string ``type``; ClientEventError otherwise."""
    try:
        event = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ClientEventError(f"The event is not valid JSON: {exc}.", code="invalid_json") from exc
    if not isinstance(event, dict):
        raise ClientEventError("The event must be a JSON object.", code="invalid_json")
    if not isinstance(event.get("type"), str):
        raise ClientEventError(
            "The event has no 'type'.", code="missing_required_parameter", param="type"
        )
    return event


def decode_audio(value: object) -> bytes:
    """The bytes of an ``input_audio_buffer.append`` ``audio`` field (base64)."""
    if not isinstance(value, str):
        raise ClientEventError("'audio' must be a base64 string.", param="audio")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ClientEventError(
            f"'audio' is not valid base64: {exc}.", code="invalid_base64", param="audio"
        ) from exc
