"""A job that does no work: measures the queue's own round trip (bench) and proves liveness."""

from __future__ import annotations

from typing import Any

from neuraldrive_audio.queue.events import EventSink
from neuraldrive_audio.workers.job_frame import JobInfo, JobRun, run_job
from neuraldrive_audio.workers.state import WorkerState


async def ping(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
    """arq entry point: answer ``done`` straight away."""
    state: WorkerState = ctx["state"]

    async def body(sink: EventSink, run: JobRun) -> dict[str, Any]:
        return {"worker_id": state.worker_id}

    await run_job(state, JobInfo.from_ctx(ctx, str(payload["job_id"]), "ping", "-"), body)
