"""The one frame every job and every chunk runs in.

It binds the job id to the log context, registers the job for heartbeats, counts it in
its lane (so lower lanes yield to it), gives the body a cancel flag and a checkpoint,
maps failures to the HTTP answer (``job_error``) and hands them to the caller's
``on_error``, and publishes a fresh heartbeat at the end. ``run_job`` (interactive jobs,
with an event stream) and ``chunk_runner.run_chunk`` (pieces of asynchronous jobs) are
the two ways of using it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from neuraldrive_audio.engines.base import EngineInputError, JobCancelledError
from neuraldrive_audio.logs import current_job
from neuraldrive_audio.media.decode import AudioTooLongError, UndecodableAudioError
from neuraldrive_audio.queue import stats
from neuraldrive_audio.queue.chunk_payloads import PayloadMissingError
from neuraldrive_audio.queue.events import EventSink, EventType, JobEvent
from neuraldrive_audio.queue.heartbeat import RunningJob
from neuraldrive_audio.queue.lanes import INTERACTIVE, Lane
from neuraldrive_audio.queue.payloads import JobError
from neuraldrive_audio.storage.model_store import ModelNotInstalledError
from neuraldrive_audio.workers.model_cache import ModelBusyError, ModelTooLargeError
from neuraldrive_audio.workers.state import WorkerState

log = logging.getLogger(__name__)

T = TypeVar("T")


def job_error(exc: Exception) -> JobError:
    """Map what went wrong to the HTTP answer the API should give."""
    match exc:
        case UndecodableAudioError():
            return JobError(status=400, code="invalid_audio", message=str(exc), param="file")
        case AudioTooLongError():
            return JobError(status=400, code="audio_too_long", message=str(exc), param="file")
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
        case PayloadMissingError():
            # Not bad audio: the input never reached this worker (expired, or deleted).
            return JobError(status=503, code="input_missing", message=str(exc), type="server_error")
        case _:
            return JobError(
                # The details (paths, hosts) go to the worker's log, not to the client.
                status=500, code="internal_error",
                message=f"the worker failed ({type(exc).__name__}); see the worker log",
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
    lane: Lane
    running_key: str
    """Key of this run in the worker's running jobs (a chunk's arq id; else the job id)."""
    progress: float = 0.0

    @classmethod
    def from_ctx(
        cls,
        ctx: dict[str, Any],
        job_id: str,
        task: str,
        model: str,
        *,
        running_key: str | None = None,
        progress: float = 0.0,
    ) -> JobInfo:
        """Build from arq's job context (the worker puts the lane in it)."""
        enqueued: datetime | None = ctx.get("enqueue_time")
        return cls(
            job_id=job_id,
            task=task,
            model=model,
            job_try=int(ctx.get("job_try", 1)),
            enqueued_at=enqueued.timestamp() if enqueued else time.time(),
            lane=ctx.get("lane", INTERACTIVE),
            running_key=running_key or job_id,
            progress=progress,
        )


@dataclass
class JobRun:
    """What a job's body gets: its cancel flag, and a checkpoint for its inference thread."""

    state: WorkerState
    lane: Lane
    cancel: threading.Event = field(default_factory=threading.Event)

    def checkpoint(self) -> None:
        """Blocking, between steps of inference: raises JobCancelledError once cancelled; in
        a yielding lane, first waits while higher lanes have work on this worker."""
        if self.lane.yields:
            self.state.lanes.wait_for_higher(self.lane, self.cancel)
        if self.cancel.is_set():
            raise JobCancelledError


OnError = Callable[[Exception, JobError], Awaitable[None]]


async def in_frame(
    state: WorkerState,
    info: JobInfo,
    body: Callable[[JobRun], Awaitable[T]],
    on_error: OnError,
    log_extra: dict[str, object] | None = None,
) -> T | None:
    """Run ``body`` in the frame; its result, or None after ``on_error`` handled a failure.

    Cancellation (arq abort or timeout, JobCancelledError) stops the inference thread
    through the cancel flag and propagates; so does whatever ``on_error`` raises.
    """
    current_job.set(info.job_id)  # arq runs each job in its own task, so this stays with it
    extra = {"job_id": info.job_id, "worker_id": state.worker_id, "try": info.job_try}
    extra.update(log_extra or {})
    run = JobRun(state, info.lane)
    state.running[info.running_key] = RunningJob(
        id=info.job_id, task=info.task, model=info.model, progress=info.progress
    )
    state.lanes.begin(info.lane)
    log.info("job started", extra={**extra, "task": info.task, "model": info.model})
    try:
        result = await body(run)
        log.info("job done", extra=extra)
        return result
    except (asyncio.CancelledError, JobCancelledError):
        run.cancel.set()
        log.info("job cancelled", extra=extra)
        raise
    except Exception as exc:
        error = job_error(exc)
        if error.status >= 500 and error.code == "internal_error":
            log.exception("job failed", extra=extra)
        else:
            log.info("job rejected: %s", error.message, extra=extra)
        await on_error(exc, error)
        return None
    finally:
        run.cancel.set()
        state.running.pop(info.running_key, None)
        state.lanes.end(info.lane)
        with contextlib.suppress(Exception):
            rtf = state.stats.take_unreported_rtf()
            await asyncio.shield(stats.record_real_time_factors(state.redis, rtf))
        with contextlib.suppress(Exception):
            await asyncio.shield(state.publish_heartbeat())


JobBody = Callable[[EventSink, JobRun], Awaitable[dict[str, Any]]]


async def run_job(state: WorkerState, info: JobInfo, body: JobBody) -> None:
    """An interactive job: started/done/error events on its stream, and statistics."""
    sink = EventSink(state.redis, info.job_id, state.settings.event_ttl_s)
    started = {"worker_id": state.worker_id, "try": info.job_try}

    async def with_events(run: JobRun) -> None:
        await sink.emit(JobEvent(EventType.STARTED, started))
        result = await body(sink, run)
        await sink.emit(JobEvent(EventType.DONE, result))
        state.stats.jobs_done += 1
        elapsed = time.time() - info.enqueued_at
        await stats.record_finished(state.redis, info.job_id, info.task, elapsed)

    async def on_error(exc: Exception, error: JobError) -> None:
        state.stats.jobs_failed += 1
        await sink.emit(JobEvent(EventType.ERROR, error.model_dump()))
        recent = stats.RecentError(
            time=time.time(), job_id=info.job_id, code=error.code, message=error.message
        )
        await stats.record_error(state.redis, recent)

    try:
        await in_frame(state, info, with_events, on_error)
    finally:
        await asyncio.shield(sink.close())
