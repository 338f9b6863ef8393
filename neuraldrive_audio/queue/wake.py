"""Waking idle workers: whoever enqueues or aborts a job publishes on the lane's channel.

arq workers poll their sorted set; at a 10 ms poll that costs an idle worker ~6 % of a
core. Our lane workers instead block on these channels (``workers.lane_worker``) and poll
when woken, when a deferred job falls due, or after a long safety interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from neuraldrive_audio.queue import keys
from neuraldrive_audio.queue.lanes import LANES, Lane

log = logging.getLogger(__name__)

RESUBSCRIBE_S = 1.0
"""Pause before subscribing again after a subscription failed."""


async def wait_until_set(event: asyncio.Event, timeout_s: float) -> None:
    """Wait for ``event`` or ``timeout_s``, whichever comes first (the idle wait of every
    woken loop: lane workers, the job feeder, the janitor, the API server's tick).

    Not ``asyncio.wait_for(event.wait(), ...)``: on Python 3.11 that drops a cancellation
    arriving in the same loop turn as the event (its inner wait is done, so it returns), and
    a loop cancelled to stop (SIGTERM as a job ends) then runs on forever.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()


async def wake(redis: Redis, lane: Lane) -> None:
    """Tell the workers of ``lane`` that a job is waiting."""
    await redis.publish(keys.wake(lane.name), b"job")


async def wake_all(redis: Redis) -> None:
    """Tell every lane's workers to look (an abort: the job may run in any lane)."""
    async with redis.pipeline(transaction=False) as pipe:
        for lane in LANES:
            pipe.publish(keys.wake(lane.name), b"abort")
        await pipe.execute()


async def listen(redis: Redis, lane: Lane, woken: Callable[[], None]) -> None:
    """Call ``woken`` on every wake of ``lane``, and after each (re)subscription (a wake
    may have been missed meanwhile); blocks in between. Runs until cancelled."""
    while True:
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(keys.wake(lane.name))
            woken()
            async for _ in pubsub.listen():
                woken()
        except (RedisError, OSError) as exc:
            log.warning("wake subscription lost (%s); resubscribing", exc)
            await asyncio.sleep(RESUBSCRIBE_S)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
