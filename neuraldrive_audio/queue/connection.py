"""Opening the Redis connection that arq and our event streams share."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from neuraldrive_audio.config import Settings
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


def tls_options(settings: Settings) -> dict[str, str]:
    """redis-py's TLS arguments from the settings (used with ``rediss://`` URLs only).

    The CA is always verified (``ssl_cert_reqs=required``); a client certificate is sent
    when one is configured. The same arguments may also be given in the URL's query.
    """
    options = {
        "ssl_ca_certs": settings.redis_tls_ca_file,
        "ssl_certfile": settings.redis_tls_cert_file,
        "ssl_keyfile": settings.redis_tls_key_file,
    }
    return {name: str(path) for name, path in options.items() if path is not None}


def redacted(url: str) -> str:
    """The URL without its password, fit for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}:" if parts.username else ":"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}***@{host}"))


async def connect(url: str, tls: dict[str, str] | None = None) -> ArqRedis:
    """A pool for the API or a worker, using the JSON serializer and our queue name.

    A short connect timeout: when Redis goes away commands fail fast instead of hanging,
    and the pool reconnects by itself on the next command once Redis is back. ``tls``
    (see :func:`tls_options`) applies to ``rediss://`` URLs, whose CA is always verified.
    """
    extra: dict[str, Any] = {}
    if url.startswith("rediss://"):
        extra = {"ssl_cert_reqs": "required", **(tls or {})}
    redis: ArqRedis = ArqRedis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S, **extra)
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
