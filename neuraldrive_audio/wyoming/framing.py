"""Reading Wyoming events with limits, before anything is buffered.

An event is one JSON header line, then ``data_length`` bytes of JSON merged into its
``data``, then ``payload_length`` bytes of payload (PCM). The ``wyoming`` package's own
reader trusts both lengths; here a header announcing more than ``max_event_bytes`` is a
protocol error before a byte of the body is read, and so is a header line longer than the
stream's line limit, invalid JSON, or a header without a string ``type``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from wyoming.event import Event

MAX_HEADER_BYTES = 64 * 1024
"""Longest header line (the StreamReader limit the server is created with)."""


class ProtocolError(Exception):
    """The client broke the framing; the connection cannot be trusted any more."""

    def __init__(self, text: str, code: str = "malformed-event") -> None:
        super().__init__(text)
        self.code = code
        self.text = text


def _length(header: dict[str, Any], key: str) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError(f"'{key}' must be a non-negative integer")
    return value


async def read_event(reader: asyncio.StreamReader, max_event_bytes: int) -> Event | None:
    """The next event, or None at a clean end of stream. Raises ProtocolError."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise ProtocolError("the stream ended inside an event header") from exc
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError(f"event header longer than {MAX_HEADER_BYTES} bytes") from exc
    try:
        header = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError("event header is not JSON") from exc
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise ProtocolError("event header has no 'type'")
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise ProtocolError("event 'data' is not an object")
    data_length = _length(header, "data_length")
    payload_length = _length(header, "payload_length")
    if data_length + payload_length > max_event_bytes:
        raise ProtocolError(
            f"event announces {data_length + payload_length} bytes; the limit is {max_event_bytes}",
            code="event-too-large",
        )
    try:
        if data_length:
            extra = json.loads(await reader.readexactly(data_length))
            if not isinstance(extra, dict):
                raise ProtocolError("event data is not a JSON object")
            data.update(extra)
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError("the stream ended inside an event body") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError("event data is not JSON") from exc
    return Event(type=header["type"], data=data, payload=payload)
