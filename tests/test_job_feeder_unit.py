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
    once instead of after the lock's TTL (15 s of stalled jobs on every restart)."""
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


async def test_an_idle_feeder_keeps_its_lock_between_passes(
    arq_redis: ArqRedis, tmp_path: Path
) -> None:
    """Idle, the feeder renews its lock once per ``IDLE_PASS_S``: the lock must outlive that
    gap with room for a late pass, or it lapses on every idle round (the two-host test read
    no lock under load) and another API can take the feeding over from a live one."""
    feeder = JobFeeder(arq_redis, Settings(data_dir=tmp_path), JobFiles(tmp_path / "jobs", 0))
    assert await feeder.one_pass() is False  # nothing active: the idle wait comes next
    ttl_s = await arq_redis.pttl(keys.FEEDER_LOCK) / 1000
    assert ttl_s >= 2 * job_feeder.IDLE_PASS_S, ttl_s
