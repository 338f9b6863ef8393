"""Opening the Redis connection that arq and our event streams share."""

from __future__ import annotations

import json
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool

from neuraldrive_audio.queue.lanes import INTERACTIVE


def serialize_job(data: dict[str, Any]) -> bytes:
    """arq job serializer: JSON, so nothing read back from Redis can execute code."""
    return json.dumps(data, default=str).encode()


def deserialize_job(raw: bytes) -> dict[str, Any]:
    """arq job deserializer matching :func:`serialize_job`."""
    data: dict[str, Any] = json.loads(raw)
    return data


def redis_settings(url: str) -> RedisSettings:
    """arq settings for a ``redis://``, ``rediss://`` or ``unix://`` URL."""
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 5
    settings.conn_retries = 3
    return settings


async def connect(url: str) -> ArqRedis:
    """A pool for the API or a worker, using the JSON serializer and our queue name."""
    return await create_pool(
        redis_settings(url),
        job_serializer=serialize_job,
        job_deserializer=deserialize_job,
        default_queue_name=INTERACTIVE.queue_name,
    )
