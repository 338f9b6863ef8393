"""The frame every job runs in: started/done/error events, cancellation, error mapping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from neuraldrive_audio.engines.base import EngineInputError, JobCancelledError
from neuraldrive_audio.logs import current_job
from neuraldrive_audio.media.decode import UndecodableAudioError
from neuraldrive_audio.queue import stats
from neuraldrive_audio.queue.events import EventSink, EventType, JobEvent
from neuraldrive_audio.queue.heartbeat import RunningJob
from neuraldrive_audio.queue.payloads import JobError
from neuraldrive_audio.queue.priority import Priority
from neuraldrive_audio.storage.model_store import ModelNotInstalledError
from neuraldrive_audio.workers.model_cache import ModelBusyError, ModelTooLargeError
from neuraldrive_audio.workers.state import WorkerState

log = logging.getLogger(__name__)

JobBody = Callable[[EventSink, threading.Event], Awaitable[dict[str, Any]]]


def job_error(exc: Exception) -> JobError:
    """Map what went wrong to the HTTP answer the API should give."""
    match exc:
        case UndecodableAudioError():
            return JobError(status=400, code="invalid_audio", message=str(exc), param="file")
        case EngineInputError():
            return JobError(status=400, code="invalid_value", message=str(exc), param=exc.param)
        case ModelNotInstalledError():
            return JobError(
                status=404, code="model_not_found", message=f"model {exc} is not installed",
                param="model",
            )  # fmt: skip
        case ModelTooLargeError():
            return JobError(status=409, code="model_too_large", message=str(exc), param="model")
        case ModelBusyError():
            return JobError(status=503, code="model_busy", message=str(exc), type="server_error")
        case _:
            return JobError(
                status=500, code="internal_error", message=f"the worker failed: {exc}",
                type="server_error",
            )  # fmt: skip


@dataclass(frozen=True)
class JobInfo:
    """Who a job is, for events, logs, status and statistics."""

    job_id: str
    task: str
    model: str
    job_try: int
    enqueued_at: float
    lane: Priority

    @classmethod
    def from_ctx(cls, ctx: dict[str, Any], job_id: str, task: str, model: str) -> JobInfo:
        """Build from arq's job context."""
        enqueued: datetime | None = ctx.get("enqueue_time")
        return cls(
            job_id=job_id,
            task=task,
            model=model,
            job_try=int(ctx.get("job_try", 1)),
            enqueued_at=enqueued.timestamp() if enqueued else time.time(),
            lane=ctx.get("lane", Priority.INTERACTIVE),
        )


async def run_job(state: WorkerState, info: JobInfo, body: JobBody) -> None:
    """Run ``body`` with a sink for its events and a cancel flag for its inference thread."""
    job_id = info.job_id
    current_job.set(job_id)  # arq runs each job in its own task, so this stays with the job
    extra = {"job_id": job_id, "worker_id": state.worker_id, "try": info.job_try}
    sink = EventSink(state.redis, job_id, state.settings.event_ttl_s)
    cancel = threading.Event()
    state.running[job_id] = RunningJob(id=job_id, task=info.task, model=info.model)
    if info.lane is Priority.INTERACTIVE:
        state.begin_interactive()
    started = {"worker_id": state.worker_id, "try": info.job_try}
    await sink.emit(JobEvent(EventType.STARTED, started))
    log.info("job started", extra={**extra, "task": info.task, "model": info.model})
    try:
        result = await body(sink, cancel)
        await sink.emit(JobEvent(EventType.DONE, result))
        state.stats.jobs_done += 1
        await stats.record_finished(state.redis, job_id, info.task, time.time() - info.enqueued_at)
        log.info("job done", extra=extra)
    except (asyncio.CancelledError, JobCancelledError):
        # Aborted by the API (client gone) or by arq's timeout: stop the inference thread.
        cancel.set()
        log.info("job cancelled", extra=extra)
        raise
    except Exception as exc:
        error = job_error(exc)
        if error.status >= 500 and error.code == "internal_error":
            log.exception("job failed", extra=extra)
        else:
            log.info("job rejected: %s", error.message, extra=extra)
        state.stats.jobs_failed += 1
        await sink.emit(JobEvent(EventType.ERROR, error.model_dump()))
        await stats.record_error(
            state.redis,
            stats.RecentError(
                time=time.time(), job_id=job_id, code=error.code, message=error.message
            ),
        )
    finally:
        cancel.set()
        state.running.pop(job_id, None)
        if info.lane is Priority.INTERACTIVE:
            state.end_interactive()
        with contextlib.suppress(Exception):
            await asyncio.shield(state.publish_heartbeat())
        await asyncio.shield(sink.close())
