"""Sending server events: one at a time, in order, each with a fresh ``event_id``."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from neuraldrive_audio.api.realtime.protocol import new_event_id

log = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[None]]


class EventEmitter:
    """Serialises events onto the socket; after the socket is gone it drops them quietly.

    Several tasks emit (the receive loop, one task per turn being transcribed), so a lock
    keeps frames whole and in the order they were emitted.
    """

    def __init__(self, send: Send) -> None:
        self._send = send
        self._lock = asyncio.Lock()
        self.closed = False
        self.sent = 0

    async def emit(self, type: str, **fields: Any) -> dict[str, Any]:
        """Send one event; returns it as sent."""
        event = {"type": type, "event_id": new_event_id(), **fields}
        async with self._lock:
            if self.closed:
                return event
            try:
                await self._send(json.dumps(event))
                self.sent += 1
            except Exception as exc:  # the peer went away mid-send
                log.info("realtime socket closed while sending %s: %s", type, exc)
                self.closed = True
        return event

    async def error(
        self,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        event_id: str | None = None,
    ) -> dict[str, Any]:
        """An ``error`` event in OpenAI's shape."""
        body = {
            "type": type,
            "code": code,
            "message": message,
            "param": param,
            "event_id": event_id,
        }
        return await self.emit("error", error=body)
