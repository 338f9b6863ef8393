"""Waking idle workers: whoever enqueues or aborts a job publishes on the lane's channel.

arq workers poll their sorted set; at a 10 ms poll that costs an idle worker ~6 % of a
core. Our lane workers instead block on these channels (``workers.lane_worker``) and poll
when woken, when a deferred job falls due, or after a long safety interval.
"""

from __future__ import annotations

from redis.asyncio import Redis

from neuraldrive_audio.queue import keys
from neuraldrive_audio.queue.lanes import LANES, Lane


async def wake(redis: Redis, lane: Lane) -> None:
    """Tell the workers of ``lane`` that a job is waiting."""
    await redis.publish(keys.wake(lane.name), b"job")


async def wake_all(redis: Redis) -> None:
    """Tell every lane's workers to look (an abort: the job may run in any lane)."""
    async with redis.pipeline(transaction=False) as pipe:
        for lane in LANES:
            pipe.publish(keys.wake(lane.name), b"abort")
        await pipe.execute()
