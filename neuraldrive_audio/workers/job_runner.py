"""The frame every job runs in: started/done/error events, cancellation, error mapping."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from neuraldrive_audio.queue.events import EventSink, EventType, JobEvent
from neuraldrive_audio.queue.payloads import JobError
from neuraldrive_audio.storage.model_store import ModelNotInstalledError
from neuraldrive_audio.workers.audio_decode import UndecodableAudioError
from neuraldrive_audio.workers.engines.base import EngineInputError, JobCancelledError
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


async def run_job(state: WorkerState, job_id: str, job_try: int, body: JobBody) -> None:
    """Run ``body`` with a sink for its events and a cancel flag for its inference thread."""
    extra = {"job_id": job_id, "worker_id": state.worker_id, "try": job_try}
    sink = EventSink(state.redis, job_id, state.settings.event_ttl_s)
    cancel = threading.Event()
    state.stats.jobs_in_progress += 1
    await sink.emit(JobEvent(EventType.STARTED, {"worker_id": state.worker_id, "try": job_try}))
    log.info("job started", extra=extra)
    try:
        result = await body(sink, cancel)
        await sink.emit(JobEvent(EventType.DONE, result))
        state.stats.jobs_done += 1
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
    finally:
        cancel.set()
        state.stats.jobs_in_progress -= 1
        await asyncio.shield(sink.close())
