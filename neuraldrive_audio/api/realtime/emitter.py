"""Sending server events: typed, one at a time, in order.

Server events are the ``openai`` SDK's own models (``openai.types.realtime``, and
``openai.types.beta.realtime`` for the legacy transcription session). They are the
reference every client validates against, so building them directly means an event that
would not validate fails here, in our tests, instead of in a client; and they are typed,
so mypy checks every field we set. They are sent with the fields that were set (as the SDK
itself serialises requests), so an explicit ``None`` goes out as ``null``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from openai import BaseModel
from openai.types.realtime import RealtimeError, RealtimeErrorEvent

from neuraldrive_audio.api.realtime.protocol import ClientEventError, new_event_id

log = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[None]]


class EventEmitter:
    """Serialises events onto the socket; after the socket is gone it drops them quietly.

    Several tasks emit (the receive loop, one task per turn being transcribed, the
    response), so a lock keeps frames whole and in the order they were emitted.
    """

    def __init__(self, send: Send) -> None:
        self._send = send
        self._lock = asyncio.Lock()
        self.closed = False
        self.sent = 0

    async def emit(self, event: BaseModel) -> None:
        """Send one event (built with ``event_id=new_event_id()``)."""
        frame = event.to_json(indent=None)
        async with self._lock:
            if self.closed:
                return
            try:
                await self._send(frame)
                self.sent += 1
            except Exception as exc:  # the peer went away mid-send
                log.info("realtime socket closed while sending: %s", exc)
                self.closed = True

    async def error(
        self,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        event_id: str | None = None,
    ) -> None:
        """An ``error`` event in OpenAI's shape (``event_id``: the client event it is about)."""
        body = RealtimeError(type=type, code=code, message=message, param=param, event_id=event_id)
        await self.emit(RealtimeErrorEvent(type="error", event_id=new_event_id(), error=body))

    async def client_error(self, exc: ClientEventError, event_id: str | None) -> None:
        """The ``error`` event for a client event that could not be acted on."""
        await self.error(
            exc.message, type=exc.type, code=exc.code, param=exc.param, event_id=event_id
        )
