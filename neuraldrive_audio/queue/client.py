"""The API's side of the queue: submit a job, follow its events, abort it."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator
from datetime import timedelta

from arq.connections import ArqRedis
from arq.constants import abort_jobs_ss
from pydantic import BaseModel

from neuraldrive_audio.queue import events, heartbeat, keys, wake
from neuraldrive_audio.queue.events import EventType, JobEvent
from neuraldrive_audio.queue.lanes import INTERACTIVE, LANES, Lane

log = logging.getLogger(__name__)


class QueueFullError(Exception):
    """Too many jobs are waiting; the client should retry later."""

    def __init__(self, depth: int, retry_after_s: int) -> None:
        super().__init__(f"{depth} jobs are queued")
        self.retry_after_s = retry_after_s


class NoWorkerError(Exception):
    """No worker is alive to run the job."""


class WorkerLostError(Exception):
    """The worker running the job stopped (crashed or was killed) before finishing it."""


class JobTimeoutError(Exception):
    """The job did not finish within the allowed time."""


def new_job_id() -> str:
    """A random, unguessable job id."""
    return "job_" + secrets.token_hex(16)


class JobQueue:
    """Submits jobs to arq and follows them through their event stream."""

    def __init__(self, redis: ArqRedis, max_depth: int, event_ttl_s: int, job_ttl_s: float) -> None:
        self.redis = redis
        self._max_depth = max_depth
        self._event_ttl_s = event_ttl_s
        self._job_ttl = timedelta(seconds=job_ttl_s)

    async def depth(self, lane: Lane | None = None) -> int:
        """Jobs waiting (not yet picked by a worker) in one lane, or in all."""
        lanes = [lane] if lane else LANES
        return sum([int(await self.redis.zcard(lane.queue_name)) for lane in lanes])

    async def submit(
        self,
        function: str,
        payload: BaseModel,
        job_id: str,
        lane: Lane = INTERACTIVE,
        upload: bytes | None = None,
    ) -> None:
        """Enqueue ``function(payload)``; refuses fast when no worker lives or the queue is full."""
        if not await heartbeat.live_workers(self.redis):
            raise NoWorkerError("no speech worker is running")
        depth = await self.depth(lane)
        if depth >= self._max_depth:
            raise QueueFullError(depth, retry_after_s=max(1, depth // 10))
        if upload is not None:
            await self.redis.set(keys.upload(job_id), upload, ex=self._event_ttl_s)
        await self.redis.enqueue_job(
            function,
            payload.model_dump(mode="json"),
            _job_id=job_id,
            _queue_name=lane.queue_name,
            _expires=self._job_ttl,
        )
        await wake.wake(self.redis, lane)
        log.info("job queued", extra={"job_id": job_id, "function": function, "lane": lane.name})

    async def abort(self, job_id: str) -> None:
        """Ask arq to cancel the job (running or queued) and drop its upload."""
        # arq cancels a running job found in this set, and skips a queued one when picked.
        await self.redis.zadd(abort_jobs_ss, {job_id: int(time.time() * 1000)})
        await self.redis.delete(keys.upload(job_id))
        await wake.wake_all(self.redis)  # the worker running it cancels it at once
        log.info("job aborted", extra={"job_id": job_id})

    async def follow(self, job_id: str, timeout_s: float) -> AsyncIterator[JobEvent]:
        """Yield the job's events until its final one.

        Raises WorkerLostError when the worker that took the job stops heart-beating (or
        when every worker is gone while it waits), JobTimeoutError past ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        worker_id: str | None = None
        async for event in events.follow(self.redis, job_id):
            if event is not None:
                if event.type is EventType.STARTED:
                    worker_id = str(event.data["worker_id"])
                yield event
                continue
            if time.monotonic() > deadline:
                raise JobTimeoutError(f"job {job_id} did not finish within {timeout_s:.0f} s")
            await self._check_worker(job_id, worker_id)

    async def _check_worker(self, job_id: str, worker_id: str | None) -> None:
        if worker_id is not None:
            if not await heartbeat.is_alive(self.redis, worker_id):
                raise WorkerLostError(f"worker {worker_id} stopped while running job {job_id}")
        elif not await heartbeat.live_workers(self.redis):
            raise WorkerLostError(f"no worker is left to run job {job_id}")
