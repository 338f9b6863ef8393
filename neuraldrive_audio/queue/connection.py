"""Opening the Redis connection that arq and our event streams share."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from neuraldrive_audio.queue.lanes import INTERACTIVE


def serialize_job(data: dict[str, Any]) -> bytes:
    """arq job serializer: JSON, so nothing read back from Redis can execute code."""
    return json.dumps(data, default=str).encode()


def deserialize_job(raw: bytes) -> dict[str, Any]:
    """arq job deserializer matching :func:`serialize_job`."""
    data: dict[str, Any] = json.loads(raw)
    return data


CONNECT_TIMEOUT_S = 1.0
"""A Redis that is down or unreachable is noticed within a second (callers answer 503)."""

# No socket_timeout (read/write timeout) on purpose: with it redis-py sends every command
# through asyncio.wait_for, which on Python 3.11 drops a cancel that lands as the send
# completes. A barge-in or client disconnect then failed to stop the task following a job
# (it hung in teardown, the job was never aborted). A Redis that is down fails at once
# (refused or reset), and the connect timeout covers an unreachable one.

CONNECT_ATTEMPTS = 3


async def connect(url: str) -> ArqRedis:
    """A pool for the API or a worker, using the JSON serializer and our queue name.

    A short connect timeout: when Redis goes away commands fail fast instead of hanging,
    and the pool reconnects by itself on the next command once Redis is back.
    """
    redis: ArqRedis = ArqRedis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S)
    redis.job_serializer = serialize_job
    redis.job_deserializer = deserialize_job
    redis.default_queue_name = INTERACTIVE.queue_name
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            await redis.ping()
            return redis
        except (RedisError, OSError):
            if attempt == CONNECT_ATTEMPTS:
                await redis.aclose()
                raise
            await asyncio.sleep(attempt)
    raise AssertionError("unreachable")
