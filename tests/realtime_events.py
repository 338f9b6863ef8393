"""Strict checks of Realtime server events against the ``openai`` SDK's own types.

The SDK itself builds events without validation (``construct_type_unchecked``); clients
such as the Agents SDK validate them. This is stricter than both: every event must
validate as ``openai.types.realtime.RealtimeServerEvent``, no object at any depth may carry
a field the SDK's model does not define, and dumping the model back (``exclude_unset``)
must give exactly what was sent (nothing coerced, nothing dropped).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from openai import BaseModel
from openai._models import validate_type
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from openai.types.realtime import RealtimeServerEvent

Event = dict[str, Any]

LEGACY_TYPES = frozenset({"transcription_session.updated"})
"""Beta events outside the GA union (their SDK model needs a client_secret we never issue)."""


def _extras(value: object, where: str) -> list[str]:
    found: list[str] = []
    if isinstance(value, BaseModel):
        found += [f"{where}.{name}" for name in value.model_extra or {}]
        for name in type(value).model_fields:
            found += _extras(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, list):
        for index, element in enumerate(value):
            found += _extras(element, f"{where}[{index}]")
    elif isinstance(value, dict):
        for key, element in value.items():
            found += _extras(element, f"{where}.{key}")
    return found


def validate_strictly(event: Event) -> BaseModel:
    """The event as the SDK's model; AssertionError when it is not exactly one."""
    model: object = validate_type(type_=RealtimeServerEvent, value=event)  # type: ignore[arg-type]
    assert isinstance(model, BaseModel), event
    extras = _extras(model, event["type"])
    assert not extras, f"fields the SDK does not define: {extras} in {event}"
    dumped = model.model_dump(mode="json", exclude_unset=True)
    assert dumped == event, f"round trip differs:\nsent {event}\nmodel {dumped}"
    return model


class StrictRecorder:
    """Reads every server event as sent (raw JSON), validates it strictly, and keeps it in
    order with its arrival time. A failed validation fails :meth:`wait` and :meth:`stop`."""

    def __init__(self, connection: AsyncRealtimeConnection) -> None:
        self.events: list[Event] = []
        self.times: list[float] = []
        self.invalid: list[str] = []
        self._task = asyncio.create_task(self._read(connection))

    async def _read(self, connection: AsyncRealtimeConnection) -> None:
        while True:
            event = json.loads(await connection.recv_bytes())
            if event["type"] not in LEGACY_TYPES:
                try:
                    validate_strictly(event)
                except Exception as exc:
                    self.invalid.append(str(exc))
            self.events.append(event)
            self.times.append(time.monotonic())

    def of(self, kind: str) -> list[Event]:
        """Events of one type, in order."""
        return [e for e in self.events if e["type"] == kind]

    def types(self) -> list[str]:
        """Every event's type, in order."""
        return [e["type"] for e in self.events]

    async def wait(self, done: Callable[[list[Event]], bool], timeout_s: float = 60) -> None:
        """Until ``done(events)``."""
        deadline = time.monotonic() + timeout_s
        while not done(self.events):
            assert not self.invalid, self.invalid
            if self._task.done():
                raise AssertionError(f"connection ended; events: {self.types()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; events: {self.types()}")
            await asyncio.sleep(0.02)
        assert not self.invalid, self.invalid

    async def wait_for(self, kind: str, count: int = 1, timeout_s: float = 60) -> list[Event]:
        """Until ``count`` events of ``kind`` came; returns them all."""
        await self.wait(lambda events: len(self.of(kind)) >= count, timeout_s)
        return self.of(kind)

    async def stop(self) -> None:
        """Stop reading; fails if any event was invalid."""
        self._task.cancel()
        assert not self.invalid, self.invalid
