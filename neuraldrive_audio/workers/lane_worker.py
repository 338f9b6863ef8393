"""An arq worker that sleeps until woken instead of polling every few milliseconds.

arq's loop polls its sorted set every ``poll_delay`` (10 ms on the interactive lane, for
pickup latency), also while idle, which cost an idle worker ~6 % of a core. This worker
subscribes to its lane's wake channel (``queue.wake``: published on every enqueue and
abort) and runs arq's poll iteration when woken, when one of its jobs ends, when the
earliest deferred job in its queue falls due, or after ``idle_poll_s`` as a safety net
(a wake lost while the subscription reconnected). So pickup stays as fast as before, and
an idle worker makes three Redis round trips per lane per ``idle_poll_s``.

It leans on two private names of arq's ``Worker``: it runs ``_poll_iteration`` itself and
extends ``_release_sem_dec_counter_on_complete`` (arq's done callback of every job task)
to poll again when a slot frees. ``tests/test_arq_internals.py`` fails if arq drops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from arq.connections import log_redis_info
from arq.utils import timestamp_ms
from arq.worker import Worker
from redis.asyncio import Redis
from redis.exceptions import RedisError

from neuraldrive_audio.queue import lanes, wake


async def _log_redis_info(redis: Redis) -> None:
    """arq's start-up line about the server; a Redis without INFO gets a note instead."""
    arq_log = logging.getLogger("arq.worker")
    try:
        await log_redis_info(redis, arq_log.info)
    except RedisError as exc:
        arq_log.info("redis INFO unavailable (%s)", exc)


class LaneWorker(Worker):
    """arq's worker, woken through its lane's channel rather than polling."""

    def __init__(self, *args: Any, lane_name: str, idle_poll_s: float, **kwargs: Any) -> None:
        if kwargs.get("redis_pool") is None:
            raise ValueError("a lane worker runs on the pool it is given (redis_pool)")
        super().__init__(*args, **kwargs)
        self._lane = lanes.by_name(lane_name)
        self._idle_poll_s = idle_poll_s
        self._woken = asyncio.Event()
        self._wake_lane_when_done = False
        self._lane_wakes: set[asyncio.Task[None]] = set()
        self.ctx["arq_worker"] = self  # arq shares ctx with every job (see affinity)
        self.polls = 0
        """Poll iterations run (for tests and the bench)."""

    async def main(self) -> None:
        """Start up as arq does, then: poll, wait to be woken, poll again (or drain in burst)."""
        await self._start_up()
        if self.burst:
            await self._drain()
            return
        listener = asyncio.create_task(wake.listen(self.pool, self._lane, self.wake))
        try:
            while True:
                self._woken.clear()  # a wake during the poll below sets it again
                self.polls += 1
                await self._poll_iteration()
                await wake.wait_until_set(self._woken, await self._next_wait_s())
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    def wake(self) -> None:
        """Poll now (any coroutine on the worker's loop)."""
        self._woken.set()

    def stand_aside(self, seconds: float) -> None:
        """Pick no job for ``seconds`` (a job handed back is for another worker), then poll.

        The lane's other workers are woken when a running job ends (the handed-back one has
        been queued again by then) and again when this worker stops standing aside: asleep
        until their safety poll, they would leave the job waiting up to ``idle_poll_s``.
        """
        self.allow_pick_jobs = False
        self._wake_lane_when_done = True
        asyncio.get_running_loop().call_later(seconds, self._stop_standing_aside)

    def _stop_standing_aside(self) -> None:
        self.allow_pick_jobs = True
        self.wake()  # nobody took the job meanwhile: it may be this worker's after all
        self._wake_lane()

    def _wake_lane(self) -> None:
        task = asyncio.create_task(self._publish_wake())
        self._lane_wakes.add(task)  # a reference until it ends, so it is not collected
        task.add_done_callback(self._lane_wakes.discard)

    async def _publish_wake(self) -> None:
        try:
            await wake.wake(self.pool, self._lane)
        except RedisError as exc:  # the job still runs at the next poll
            logging.getLogger(__name__).warning("could not wake lane %s (%s)", self._lane.name, exc)

    def _release_sem_dec_counter_on_complete(self) -> None:
        super()._release_sem_dec_counter_on_complete()  # type: ignore[misc]
        self.wake()  # a slot is free: take the next job without waiting for a wake
        if self._wake_lane_when_done:
            self._wake_lane_when_done = False
            self._wake_lane()

    async def _start_up(self) -> None:
        # What arq's main() does before its loop (the pool is always given here), with its
        # INFO call made optional: fakeredis (the embedded fallback, tests) has no INFO, and
        # arq's own start-up would end the worker task silently there.
        await _log_redis_info(self.pool)
        self.ctx["redis"] = self.pool
        if self.on_startup:
            await self.on_startup(self.ctx)

    async def _drain(self) -> None:
        """Burst mode (tests): poll every ``poll_delay`` until the queue is empty, then wait
        for the jobs still running, as arq's burst loop does (without ``max_burst_jobs``)."""
        while True:
            await self._poll_iteration()
            if not await self.pool.zcard(self.queue_name):
                await asyncio.gather(*self.tasks.values())
                return
            await asyncio.sleep(self.poll_delay_s)

    async def _next_wait_s(self) -> float:
        """Until the earliest deferred job is due (arq retries, hand-backs), at most idle_poll_s."""
        due = await self.pool.zrangebyscore(
            self.queue_name, min=timestamp_ms() + 1, max=float("inf"), start=0, num=1,
            withscores=True,
        )  # fmt: skip
        if not due:
            return self._idle_poll_s
        return min(self._idle_poll_s, max(0.0, (float(due[0][1]) - timestamp_ms()) / 1000))
