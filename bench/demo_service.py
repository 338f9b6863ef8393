"""What several benches do with the real service: start it on the demo models, call it from
concurrent clients, time no-op jobs through its queue, open a realtime transcription session.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neuraldrive_audio.queue import keys
from neuraldrive_audio.queue.client import JobQueue, new_job_id
from neuraldrive_audio.queue.connection import connect
from neuraldrive_audio.queue.events import EventType
from tests.harness import RedisServer, Service


@contextmanager
def running_service(root: Path) -> Iterator[Service]:
    """redis-server, the API and one worker on the models in ``root / "models"``, stopped
    afterwards."""
    redis = RedisServer.start(root)
    try:
        service = Service.start(f"{redis.url}/0", root / "data", root / "models")
        try:
            yield service
        finally:
            service.stop()
    finally:
        redis.stop()


def from_clients(
    service: Service, clients: int, requests: int, send: Callable[[httpx.Client, int], None]
) -> None:
    """``send(http, index)`` for each index below ``requests``, from ``clients`` threads with
    a connection each; returns when all are done."""
    lock = threading.Lock()
    counter = iter(range(requests))

    def client() -> None:
        with service.http() as http:
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                send(http, index)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class _Ping:
    """The payload of a no-op job (the queue takes any model with ``model_dump``)."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id

    def model_dump(self, mode: str = "json") -> dict[str, str]:
        return {"job_id": self.job_id}


async def ping_latencies(redis_url: str, count: int, gap_s: float = 0.0) -> list[float]:
    """Round trips (seconds, sorted) of ``count`` no-op jobs, ``gap_s`` apart: enqueue ->
    worker -> done event read by XREAD BLOCK."""
    redis = await connect(redis_url)
    queue = JobQueue(redis, max_depth=1000, event_ttl_s=60, job_ttl_s=60)
    latencies = []
    try:
        for _ in range(count):
            await asyncio.sleep(gap_s)
            job_id = new_job_id()
            started = time.perf_counter()
            await queue.submit(keys.PING_FUNCTION, _Ping(job_id), job_id)  # type: ignore[arg-type]
            async for event in queue.follow(job_id, timeout_s=10):
                if event.type is EventType.DONE:
                    break
            latencies.append(time.perf_counter() - started)
    finally:
        await redis.aclose()
    return sorted(latencies)


def transcription_session(rate: int, silence_ms: int) -> dict[str, Any]:
    """The ``session.update`` of an English whisper-1 transcription session with server VAD."""
    return {
        "type": "session.update",
        "session": {
            "type": "transcription",
            "audio": {"input": {
                "format": {"type": "audio/pcm", "rate": rate},
                "transcription": {"model": "whisper-1", "language": "en"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": silence_ms},
            }},
        },
    }  # fmt: skip
