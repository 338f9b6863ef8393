"""Lanes, the job frame and chunks in-process: fakeredis and arq's burst worker, no models."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from arq.connections import ArqRedis

from neuraldrive_audio.config import Settings
from neuraldrive_audio.engines.base import EngineInputError, JobCancelledError
from neuraldrive_audio.queue import events, keys, stats
from neuraldrive_audio.queue.events import EventSink, EventType, JobEvent
from neuraldrive_audio.queue.job_chunks import ChunkJob
from neuraldrive_audio.queue.job_records import JobRecord, JobRecords, JobStatus, JobTask
from neuraldrive_audio.queue.lanes import BATCH, INTERACTIVE, LANES, Lane, by_name
from neuraldrive_audio.storage.manifest import ModelManifest
from neuraldrive_audio.storage.model_store import ModelStore
from neuraldrive_audio.workers import main as worker_main
from neuraldrive_audio.workers.chunk_runner import run_chunk
from neuraldrive_audio.workers.job_frame import JobInfo, JobRun, run_job
from neuraldrive_audio.workers.model_cache import ModelCache
from neuraldrive_audio.workers.state import WorkerState


class NoModel:
    def close(self) -> None:
        raise AssertionError("no model is ever loaded here")


def _no_load(manifest: ModelManifest) -> NoModel:
    raise AssertionError("no model is ever loaded here")


@pytest.fixture
def state(arq_redis: ArqRedis, tmp_path: Path) -> WorkerState:
    settings = Settings(data_dir=tmp_path, models_dir=tmp_path / "models", job_max_tries=2)
    cache = ModelCache(_no_load, lambda: 0, 600, lambda: 0)
    return WorkerState(
        settings=settings, redis=arq_redis, store=ModelStore(tmp_path / "models"),
        cache=cache,  # type: ignore[arg-type]  # a cache that must never load
    )  # fmt: skip


async def _events(state: WorkerState, job_id: str) -> list[JobEvent]:
    """Every event the job has written so far (without waiting for more)."""
    return [event for _, event in await events.read(state.redis, job_id, "0-0", block_ms=1)]


def _info(job_id: str, lane: Lane = INTERACTIVE) -> JobInfo:
    return JobInfo.from_ctx({"lane": lane}, job_id, "test", "m")


# --- the lanes table --------------------------------------------------------------------


def test_lanes_table_is_consistent() -> None:
    assert [lane.rank for lane in LANES] == sorted(lane.rank for lane in LANES)
    assert len({lane.queue_name for lane in LANES}) == len(LANES)
    assert by_name("batch") is BATCH and LANES[0] is INTERACTIVE
    for lane in LANES:  # every job kind a lane names has a function in the worker
        assert set(lane.functions) <= set(worker_main.JOB_FUNCTIONS)
        names = [f.name for f in worker_main._functions(Settings(), lane)]
        assert names == list(lane.functions)
    assert BATCH.timeout_s(Settings(job_chunk_timeout_s=7)) == 7
    assert not BATCH.served(Settings(worker_serves_batch=False)) and INTERACTIVE.served(Settings())


async def test_each_lane_worker_takes_only_its_own_queue(state: WorkerState) -> None:
    redis = state.redis
    for lane in LANES:
        await redis.enqueue_job(keys.PING_FUNCTION, {"job_id": f"ping-{lane.name}"},
                                _queue_name=lane.queue_name)  # fmt: skip
    worker = worker_main._lane_worker(state, BATCH, redis)
    worker.burst = True
    await worker.async_run()  # arq's INFO call is tolerated on fakeredis
    assert [e.type for e in await _events(state, "ping-batch")] == [EventType.STARTED,
                                                                     EventType.DONE]  # fmt: skip
    assert await _events(state, "ping-interactive") == []
    assert await redis.zcard(INTERACTIVE.queue_name) == 1


async def test_a_yielding_lane_waits_while_a_higher_lane_runs(state: WorkerState) -> None:
    state.lanes.begin(INTERACTIVE)
    passed = threading.Event()
    run = JobRun(state, BATCH)

    def batch_step() -> None:
        run.checkpoint()
        passed.set()

    thread = threading.Thread(target=batch_step)
    thread.start()
    await asyncio.sleep(0.3)
    assert not passed.is_set()  # paused behind the interactive job
    JobRun(state, INTERACTIVE).checkpoint()  # the higher lane itself never waits
    state.lanes.end(INTERACTIVE)
    await asyncio.to_thread(thread.join, 5)
    assert passed.is_set()

    state.lanes.begin(INTERACTIVE)
    run.cancel.set()
    with pytest.raises(JobCancelledError):
        await asyncio.to_thread(run.checkpoint)  # a cancelled job stops waiting
    state.lanes.end(INTERACTIVE)


# --- the job frame ----------------------------------------------------------------------


async def test_run_job_reports_done_and_cleans_up(state: WorkerState) -> None:
    seen: dict[str, object] = {}

    async def body(sink: EventSink, run: JobRun) -> dict[str, object]:
        seen["running"] = dict(state.running)
        seen["lane_count"] = state.lanes.running(INTERACTIVE)
        return {"answer": 42}

    await run_job(state, _info("j-ok"), body)
    got = await _events(state, "j-ok")
    assert [e.type for e in got] == [EventType.STARTED, EventType.DONE]
    assert got[1].data == {"answer": 42} and got[0].data["worker_id"] == state.worker_id
    assert list(seen["running"]) == ["j-ok"] and seen["lane_count"] == 1  # type: ignore[call-overload]
    assert state.running == {} and state.lanes.running(INTERACTIVE) == 0
    assert state.stats.jobs_done == 1 and await stats.recent_latencies(state.redis)


async def test_run_job_maps_failures_to_error_events(state: WorkerState) -> None:
    async def body(sink: EventSink, run: JobRun) -> dict[str, object]:
        raise EngineInputError("speed must be 0.25-4.0, got 9", "speed")

    await run_job(state, _info("j-bad"), body)
    error = (await _events(state, "j-bad"))[-1]
    assert error.type is EventType.ERROR
    assert (error.data["status"], error.data["code"], error.data["param"]) == (
        400, "invalid_value", "speed",
    )  # fmt: skip
    assert state.stats.jobs_failed == 1
    assert [e.job_id for e in await stats.recent_errors(state.redis)] == ["j-bad"]


async def test_run_job_cancellation_stops_the_inference_thread(state: WorkerState) -> None:
    flags: list[threading.Event] = []

    async def body(sink: EventSink, run: JobRun) -> dict[str, object]:
        flags.append(run.cancel)
        raise JobCancelledError

    with pytest.raises(JobCancelledError):
        await run_job(state, _info("j-cancel"), body)
    assert flags[0].is_set() and state.running == {}


# --- chunks -----------------------------------------------------------------------------


async def _record(state: WorkerState, job_id: str, **changes: object) -> JobRecord:
    record = JobRecord(id=job_id, task=JobTask.TRANSCRIBE, model="m", response_format="json",
                       webhook_url="http://127.0.0.1:9/hook", **changes)  # type: ignore[arg-type]  # fmt: skip
    await JobRecords(state.redis).create(record)
    return record


def _ctx(state: WorkerState, job_try: int = 1) -> dict[str, object]:
    return {"state": state, "lane": BATCH, "job_try": job_try}


async def test_a_chunk_that_fails_for_good_fails_the_job_and_its_webhook(
    state: WorkerState,
) -> None:
    await _record(state, "job-a", status=JobStatus.PROCESSING)
    chunk = ChunkJob(function=keys.TRANSCRIBE_CHUNK_FUNCTION, job_id="job-a", index=0)

    async def body(record: JobRecord, run: JobRun) -> None:
        assert state.running[chunk.arq_id].id == "job-a"
        assert await state.redis.hexists(keys.job_chunk_owners("job-a"), "0")
        raise EngineInputError("bad", "language")

    await run_chunk(_ctx(state), chunk, body)
    record = await JobRecords(state.redis).get("job-a")
    assert record.status is JobStatus.FAILED and "chunk 0: bad" in str(record.error)
    assert await state.redis.lrange(keys.WEBHOOKS_PENDING, 0, -1) == [b"job-a"]
    assert not await state.redis.hexists(keys.job_chunk_owners("job-a"), "0")
    assert state.running == {}


async def test_chunks_of_ended_jobs_are_skipped(state: WorkerState) -> None:
    await _record(state, "job-c", status=JobStatus.CANCELLED)
    ran: list[int] = []

    async def body(record: JobRecord, run: JobRun) -> None:
        ran.append(1)

    chunk = ChunkJob(function=keys.SPEECH_CHUNK_FUNCTION, job_id="job-c", index=0)
    await run_chunk(_ctx(state), chunk, body)
    await run_chunk(_ctx(state), chunk.model_copy(update={"job_id": "gone"}), body)
    assert ran == []
