"""The API's side of the queue: submit a job, follow its events, abort it."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from arq.connections import ArqRedis
from arq.constants import abort_jobs_ss
from pydantic import BaseModel

from neuraldrive_audio.queue import events, heartbeat, keys, wake
from neuraldrive_audio.queue.admission import admit
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


@dataclass
class _Submitted:
    """What it takes to run a job again, and the arq ids of its attempts."""

    function: str
    payload: dict[str, Any]
    lane: Lane
    arq_ids: list[str] = field(default_factory=list)


OUTPUT_EVENTS = (EventType.AUDIO, EventType.SEGMENT)


class JobQueue:
    """Submits jobs to arq and follows them through their event stream.

    A job whose worker dies is run once more on another live worker, as long as the
    caller has not been sent any of its output yet (the upload is still in Redis).
    """

    def __init__(self, redis: ArqRedis, max_depth: int, event_ttl_s: int, job_ttl_s: float) -> None:
        self.redis = redis
        self._max_depth = max_depth
        self._event_ttl_s = event_ttl_s
        self._job_ttl = timedelta(seconds=job_ttl_s)
        self._submitted: dict[str, _Submitted] = {}

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
        # One atomic step, so the depth limit holds however many requests arrive together.
        admission = await admit(
            self.redis,
            queue_name=lane.queue_name,
            function=function,
            payload=payload.model_dump(mode="json"),
            job_id=job_id,
            max_depth=self._max_depth,
            expires_s=self._job_ttl.total_seconds(),
            upload=upload,
            upload_ttl_s=self._event_ttl_s,
        )
        if not admission.admitted:
            depth = admission.depth
            raise QueueFullError(depth, retry_after_s=max(1, depth // 10))
        self._submitted[job_id] = _Submitted(
            function, payload.model_dump(mode="json"), lane, [job_id]
        )
        await wake.wake(self.redis, lane)
        log.info("job queued", extra={"job_id": job_id, "function": function, "lane": lane.name})

    async def abort(self, job_id: str) -> None:
        """Ask arq to cancel the job (running or queued, every attempt) and drop its upload."""
        submitted = self._submitted.pop(job_id, None)
        arq_ids = submitted.arq_ids if submitted else [job_id]
        # arq cancels a running job found in this set, and skips a queued one when picked.
        now_ms = int(time.time() * 1000)
        await self.redis.zadd(abort_jobs_ss, {arq_id: now_ms for arq_id in arq_ids})
        await self.redis.delete(keys.upload(job_id))
        await wake.wake_all(self.redis)  # the worker running it cancels it at once
        log.info("job aborted", extra={"job_id": job_id})

    async def follow(
        self, job_id: str, timeout_s: float, retry_after_output: bool = False
    ) -> AsyncIterator[JobEvent]:
        """Yield the job's events until its final one.

        When the worker running the job dies, the job runs once more on another live
        worker (its events continue in the same stream) if no output was yielded yet, or
        regardless with ``retry_after_output`` (for callers that only use the final
        event). Raises WorkerLostError when that is not possible (or when every worker is
        gone while it waits), JobTimeoutError past ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        worker_id: str | None = None
        output_seen = retried = finished = False
        try:
            async for event in events.follow(self.redis, job_id):
                if event is not None:
                    if event.type is EventType.STARTED:
                        worker_id = str(event.data["worker_id"])
                    output_seen = output_seen or event.type in OUTPUT_EVENTS
                    finished = event.type.is_final
                    yield event
                    continue
                if time.monotonic() > deadline:
                    raise JobTimeoutError(f"job {job_id} did not finish within {timeout_s:.0f} s")
                try:
                    await self._check_worker(job_id, worker_id)
                except WorkerLostError:
                    may_retry = not retried and (retry_after_output or not output_seen)
                    if not (may_retry and await self._run_again(job_id)):
                        raise
                    retried, worker_id = True, None
        finally:
            if finished:
                self._submitted.pop(job_id, None)

    async def _run_again(self, job_id: str) -> bool:
        """Enqueue another attempt of a job whose worker died; False when it cannot run."""
        submitted = self._submitted.get(job_id)
        if submitted is None or not await heartbeat.live_workers(self.redis):
            return False
        upload_key = submitted.payload.get("upload_key")
        if upload_key and not await self.redis.exists(upload_key):
            return False
        dead_attempt = submitted.arq_ids[-1]
        await self.redis.zadd(abort_jobs_ss, {dead_attempt: int(time.time() * 1000)})
        arq_id = f"{job_id}:retry{len(submitted.arq_ids)}"
        await self.redis.enqueue_job(
            submitted.function, submitted.payload, _job_id=arq_id,
            _queue_name=submitted.lane.queue_name, _expires=self._job_ttl,
        )  # fmt: skip
        await wake.wake(self.redis, submitted.lane)
        submitted.arq_ids.append(arq_id)
        log.warning("worker lost; job runs again on another worker", extra={"job_id": job_id})
        return True

    async def _check_worker(self, job_id: str, worker_id: str | None) -> None:
        if worker_id is not None:
            if not await heartbeat.is_alive(self.redis, worker_id):
                raise WorkerLostError(f"worker {worker_id} stopped while running job {job_id}")
        elif not await heartbeat.live_workers(self.redis):
            raise WorkerLostError(f"no worker is left to run job {job_id}")
