"""The API's job feeder on fakeredis (no workers, no models)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from arq.connections import ArqRedis

from neuraldrive_audio.api.background import job_feeder
from neuraldrive_audio.api.background.job_feeder import JobFeeder
from neuraldrive_audio.config import Settings
from neuraldrive_audio.queue import keys
from neuraldrive_audio.storage.job_files import JobFiles


async def test_a_stopped_feeder_hands_its_lock_on(arq_redis: ArqRedis, tmp_path: Path) -> None:
    """An API that stops releases the feeder lock: a restarted (or another) API feeds at
    once instead of after the lock's TTL (5 s of stalled jobs on every restart)."""
    feeder = JobFeeder(arq_redis, Settings(data_dir=tmp_path), JobFiles(tmp_path / "jobs", 0))
    task = asyncio.create_task(feeder.run())
    for _ in range(100):
        if await arq_redis.get(keys.FEEDER_LOCK) is not None:
            break
        await asyncio.sleep(0.01)
    assert await arq_redis.get(keys.FEEDER_LOCK) == feeder.token.encode()
    await job_feeder.stop(task)
    assert await arq_redis.get(keys.FEEDER_LOCK) is None
    # Only its own: a lock another API holds stays.
    await arq_redis.set(keys.FEEDER_LOCK, "another-api")
    await job_feeder.stop(asyncio.create_task(feeder.run()))
    assert await arq_redis.get(keys.FEEDER_LOCK) == b"another-api"
