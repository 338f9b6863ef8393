"""An arq worker that sleeps until woken instead of polling every few milliseconds.

arq's loop polls its sorted set every ``poll_delay`` (10 ms on the interactive lane, for
pickup latency), also while idle, which cost an idle worker ~6 % of a core. This worker
subscribes to its lane's wake channel (``queue.wake``: published on every enqueue and
abort) and runs arq's poll iteration when woken, when one of its jobs ends, when the
earliest deferred job in its queue falls due, or after ``idle_poll_s`` as a safety net
(a wake lost while the subscription reconnected). So pickup stays as fast as before, and
an idle worker makes one Redis round trip per ``idle_poll_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import arq.worker
from arq.utils import timestamp_ms
from arq.worker import Worker
from redis.asyncio import Redis
from redis.exceptions import RedisError

from neuraldrive_audio.queue import keys

log = logging.getLogger(__name__)

RESUBSCRIBE_S = 1.0
"""Pause before subscribing again after the wake subscription failed."""


class LaneWorker(Worker):
    """arq's worker, woken through its lane's channel rather than polling."""

    def __init__(self, *args: Any, lane_name: str, idle_poll_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wake_channel = keys.wake(lane_name)
        self._idle_poll_s = idle_poll_s
        self._woken = asyncio.Event()
        self.polls = 0
        """Poll iterations run (for tests and the bench)."""

    async def main(self) -> None:
        """arq's start-up, then: poll, wait to be woken, poll again."""
        if self.burst:  # drain and stop (tests): arq's own loop does exactly that
            await super().main()
            return
        await self._start_up()
        listener = asyncio.create_task(self._listen())
        try:
            while True:
                self._woken.clear()  # a wake during the poll below sets it again
                self.polls += 1
                await self._poll_iteration()
                timeout = await self._next_wait_s()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), timeout)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    def wake(self) -> None:
        """Poll now (any coroutine on the worker's loop)."""
        self._woken.set()

    def _release_sem_dec_counter_on_complete(self) -> None:
        super()._release_sem_dec_counter_on_complete()  # type: ignore[misc]
        self.wake()  # a slot is free: take the next job without waiting for a wake

    async def _start_up(self) -> None:
        # What arq's main() does before its polling loop (the pool is always given here).
        # Looked up at call time: workers.main wraps it to tolerate fakeredis.
        log_redis_info = arq.worker.log_redis_info  # type: ignore[attr-defined]
        await log_redis_info(self.pool, logging.getLogger("arq.worker").info)
        self.ctx["redis"] = self.pool
        if self.on_startup:
            await self.on_startup(self.ctx)

    async def _next_wait_s(self) -> float:
        """Until the earliest deferred job is due (arq retries, hand-backs), at most idle_poll_s."""
        due = await self.pool.zrangebyscore(
            self.queue_name, min=timestamp_ms() + 1, max=float("inf"), start=0, num=1,
            withscores=True,
        )  # fmt: skip
        if not due:
            return self._idle_poll_s
        return min(self._idle_poll_s, max(0.0, (float(due[0][1]) - timestamp_ms()) / 1000))

    async def _listen(self) -> None:
        redis: Redis = self.pool
        while True:
            pubsub = redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._wake_channel)
                self.wake()  # anything enqueued while we were not listening
                async for _ in pubsub.listen():
                    self.wake()
            except (RedisError, OSError) as exc:
                log.warning("wake subscription lost (%s); polling until it is back", exc)
                await asyncio.sleep(RESUBSCRIBE_S)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
