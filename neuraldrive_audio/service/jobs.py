"""The job lifecycle, in one place: submit on the interactive lane, follow the job's
events until the final one, abort it when the caller leaves, retry once on a lost worker.

Every front door reaches the queue through here (``tests/test_architecture.py`` checks
that nothing under ``api/`` calls :meth:`JobQueue.submit` or :meth:`JobQueue.follow`):

- :func:`run` submits a job and yields its events until ``done``; an ``error`` event or a
  queue failure is raised as a :class:`ServiceError`;
- :func:`submit` and :func:`follow` are its two halves, for a caller that must know the
  job was accepted before it follows it; ``follow(retry_after_output=True)`` is the sync
  retry for a caller that only wants the final event (a rerun after partial output is
  then harmless).

"The caller leaves" is either closing the event generator (an HTTP client gone, the
consumer stopping early) or cancelling the task that awaits it (a barge-in, a Wyoming
client disconnecting): both abort the job on the workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator

from pydantic import BaseModel

from neuraldrive_audio.queue.client import (
    JobQueue,
    JobTimeoutError,
    NoWorkerError,
    QueueFullError,
    WorkerLostError,
)
from neuraldrive_audio.queue.events import EventType, JobEvent
from neuraldrive_audio.queue.payloads import JobError
from neuraldrive_audio.service.errors import (
    from_job_error,
    from_queue_failure,
)

log = logging.getLogger(__name__)


async def submit(
    queue: JobQueue, function: str, payload: BaseModel, job_id: str, upload: bytes | None = None
) -> None:
    """Enqueue ``function(payload)`` on the interactive lane; a full queue or no worker is
    a retryable :class:`ServiceError`."""
    try:
        await queue.submit(function, payload, job_id, upload=upload)
    except (QueueFullError, NoWorkerError) as exc:
        raise from_queue_failure(exc) from exc
    except asyncio.CancelledError:
        await abort(queue, job_id)  # the caller left while the job was being queued
        raise


async def follow(
    queue: JobQueue, job_id: str, timeout_s: float, *, retry_after_output: bool = False
) -> AsyncGenerator[JobEvent, None]:
    """A submitted job's events until its final one; raises :class:`ServiceError` for an
    ``error`` event, a lost worker or a timeout.

    If the consumer stops early (closes the generator or is cancelled), the job is
    aborted. ``retry_after_output``: see :meth:`JobQueue.follow`.
    """
    finished = False
    try:
        async for event in queue.follow(job_id, timeout_s, retry_after_output):
            if event.type is EventType.ERROR:
                finished = True
                raise from_job_error(JobError.model_validate(event.data))
            if event.type is EventType.DONE:
                finished = True
            yield event
    except (WorkerLostError, JobTimeoutError) as exc:
        raise from_queue_failure(exc) from exc
    finally:
        if not finished:
            await abort(queue, job_id)


async def abort(queue: JobQueue, job_id: str) -> None:
    """Abort a job, also while the caller is being cancelled; failures are logged only
    (the job's TTL ends it anyway)."""
    try:
        await asyncio.shield(queue.abort(job_id))
    except Exception:
        log.warning("could not abort job", extra={"job_id": job_id}, exc_info=True)


async def run(
    queue: JobQueue,
    function: str,
    payload: BaseModel,
    job_id: str,
    timeout_s: float,
    upload: bytes | None = None,
) -> AsyncGenerator[JobEvent, None]:
    """Submit a job and yield its events until ``done``; see :func:`follow`.

    Nothing is submitted until the first event is asked for.
    """
    await submit(queue, function, payload, job_id, upload)
    events = follow(queue, job_id, timeout_s)
    async with contextlib.aclosing(events):
        async for event in events:
            yield event
