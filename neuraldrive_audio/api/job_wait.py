"""Waiting on a queued job from a request handler, and turning queue failures into errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel

from neuraldrive_audio.api.errors import BACKEND_RETRY_AFTER_S, APIError
from neuraldrive_audio.queue.client import (
    JobQueue,
    JobTimeoutError,
    NoWorkerError,
    QueueFullError,
    WorkerLostError,
)
from neuraldrive_audio.queue.events import EventType, JobEvent
from neuraldrive_audio.queue.payloads import JobError

log = logging.getLogger(__name__)
T = TypeVar("T")


def queue_error(exc: Exception) -> APIError:
    """The retryable HTTP error for a queue-level failure."""
    match exc:
        case QueueFullError():
            return APIError(
                429,
                f"The speech queue is full ({exc}); retry later.",
                code="rate_limit_exceeded",
                type="rate_limit_error",
                headers={"Retry-After": str(exc.retry_after_s)},
            )
        case NoWorkerError() | WorkerLostError():
            return APIError(
                503,
                f"Speech backend unavailable: {exc}.",
                code="backend_unavailable",
                headers={"Retry-After": str(BACKEND_RETRY_AFTER_S)},
            )
        case JobTimeoutError():
            return APIError(
                503,
                f"Speech backend timed out: {exc}.",
                code="timeout",
                headers={"Retry-After": str(BACKEND_RETRY_AFTER_S)},
            )
    raise exc


def job_error(event: JobEvent) -> APIError:
    """The error a worker reported for a job."""
    error = JobError.model_validate(event.data)
    return APIError(
        error.status, error.message, code=error.code, param=error.param, type=error.type
    )


async def submit(
    queue: JobQueue, function: str, payload: BaseModel, job_id: str, upload: bytes | None = None
) -> None:
    """``queue.submit`` on the interactive lane, with queue failures mapped to 429/503."""
    try:
        await queue.submit(function, payload, job_id, upload=upload)
    except (QueueFullError, NoWorkerError) as exc:
        raise queue_error(exc) from exc


async def events_until_final(
    queue: JobQueue, job_id: str, timeout_s: float, retry_after_output: bool = False
) -> AsyncIterator[JobEvent]:
    """The job's events; raises the API error for an ``error`` event or a lost worker.

    If the consumer stops early (a client disconnect closes the generator), the job is
    aborted. ``retry_after_output``: see :meth:`JobQueue.follow`.
    """
    finished = False
    try:
        async for event in queue.follow(job_id, timeout_s, retry_after_output):
            if event.type is EventType.ERROR:
                finished = True
                raise job_error(event)
            if event.type is EventType.DONE:
                finished = True
            yield event
    except (WorkerLostError, JobTimeoutError) as exc:
        raise queue_error(exc) from exc
    finally:
        if not finished:
            with contextlib.suppress(Exception):
                await asyncio.shield(queue.abort(job_id))


async def _client_gone(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def unless_client_leaves(request: Request, job_id: str, work: Awaitable[T]) -> T:
    """``await work``, unless the client disconnects first: then ``work`` is cancelled
    (which aborts the job it follows) and the request ends with 499."""
    work_task = asyncio.ensure_future(work)
    gone_task = asyncio.create_task(_client_gone(request))
    done, _ = await asyncio.wait({work_task, gone_task}, return_when=asyncio.FIRST_COMPLETED)
    if work_task in done:
        gone_task.cancel()
        return work_task.result()
    log.info("client disconnected; aborting job", extra={"job_id": job_id})
    work_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await work_task
    raise APIError(499, "client closed the request", code="client_closed_request")


async def wait_for_result(
    request: Request, queue: JobQueue, job_id: str, timeout_s: float
) -> dict[str, Any]:
    """The ``done`` payload of a job; aborts the job if the client disconnects first."""

    async def final_event() -> dict[str, Any]:
        # Only the final event matters here, so a rerun after partial output is harmless.
        async for event in events_until_final(queue, job_id, timeout_s, retry_after_output=True):
            if event.type is EventType.DONE:
                return event.data
        raise APIError(500, "the job ended without a result")

    return await unless_client_leaves(request, job_id, final_event())
