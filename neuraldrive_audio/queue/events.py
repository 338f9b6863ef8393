"""A job's events: the worker appends to a Redis stream, the API reads it with XREAD BLOCK.

One stream per job carries everything the API needs to answer: ``started`` (which worker),
``progress``, ``segment`` (a finished transcript segment), ``audio`` (encoded bytes),
then exactly one of ``done`` or ``error``. Reading by push means no polling delay.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from neuraldrive_audio.queue import keys


class EventType(StrEnum):
    """Kinds of job event."""

    STARTED = "started"
    PROGRESS = "progress"
    SEGMENT = "segment"
    AUDIO = "audio"
    DONE = "done"
    ERROR = "error"

    @property
    def is_final(self) -> bool:
        """True for the event that ends a job's stream."""
        return self in (EventType.DONE, EventType.ERROR)


@dataclass
class JobEvent:
    """One entry of a job's stream."""

    type: EventType
    data: dict[str, Any] = field(default_factory=dict)
    audio: bytes = b""

    def to_fields(self) -> dict[str, bytes]:
        """Stream fields; audio travels as raw bytes, not base64."""
        fields = {"type": self.type.value.encode(), "data": json.dumps(self.data).encode()}
        if self.audio:
            fields["audio"] = self.audio
        return fields

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> JobEvent:
        """Parse stream fields written by :meth:`to_fields`."""
        return cls(
            type=EventType(fields[b"type"].decode()),
            data=json.loads(fields.get(b"data", b"{}")),
            audio=fields.get(b"audio", b""),
        )


async def publish(redis: Redis, job_id: str, event: JobEvent, ttl_s: int) -> None:
    """Append an event and keep the stream alive for ``ttl_s`` after the last write."""
    key = keys.events(job_id)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xadd(key, event.to_fields())  # type: ignore[arg-type]
        pipe.expire(key, ttl_s)
        await pipe.execute()


async def read(
    redis: Redis, job_id: str, last_id: str, block_ms: int
) -> list[tuple[str, JobEvent]]:
    """Events after ``last_id``, waiting up to ``block_ms`` for the first; [] on timeout."""
    reply = await redis.xread({keys.events(job_id): last_id}, block=block_ms, count=100)
    if not reply:
        return []
    _, entries = reply[0]
    return [(entry_id.decode(), JobEvent.from_fields(fields)) for entry_id, fields in entries]


class EventSink:
    """Lets a worker thread emit events in order without touching the event loop itself.

    Inference runs in a thread; events go through an asyncio queue to one publishing
    task, so they reach Redis in the order they were emitted.
    """

    def __init__(self, redis: Redis, job_id: str, ttl_s: int) -> None:
        self._redis = redis
        self._job_id = job_id
        self._ttl_s = ttl_s
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[JobEvent | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._drain())

    def emit_threadsafe(self, event: JobEvent) -> None:
        """Queue an event from any thread."""
        self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    async def emit(self, event: JobEvent) -> None:
        """Queue an event from the event loop."""
        await self._queue.put(event)

    async def close(self) -> None:
        """Publish everything queued so far, then stop."""
        await self._queue.put(None)
        await self._task

    async def _drain(self) -> None:
        while (event := await self._queue.get()) is not None:
            await publish(self._redis, self._job_id, event, self._ttl_s)


async def follow(redis: Redis, job_id: str, block_ms: int = 1000) -> AsyncIterator[JobEvent | None]:
    """Yield a job's events as they arrive; yields None after each quiet ``block_ms``.

    The None lets the caller check deadlines and worker liveness between waits.
    Stops after the final event.
    """
    last_id = "0-0"
    while True:
        batch = await read(redis, job_id, last_id, block_ms)
        if not batch:
            yield None
            continue
        for entry_id, event in batch:
            last_id = entry_id
            yield event
            if event.type.is_final:
                return
