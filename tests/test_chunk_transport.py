"""Chunks of asynchronous jobs travel through Redis only: retries, hand-backs, results,
the in-flight ledger (fakeredis, no models)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis

from neuraldrive_audio.config import Settings
from neuraldrive_audio.queue import chunk_payloads, heartbeat, keys
from neuraldrive_audio.queue.chunk_payloads import PayloadMissingError
from neuraldrive_audio.queue.connection import redacted
from neuraldrive_audio.queue.heartbeat import WorkerHeartbeat
from neuraldrive_audio.queue.job_chunks import ChunkJob
from neuraldrive_audio.queue.job_records import JobRecord, JobRecords, JobStatus, JobTask
from neuraldrive_audio.queue.lanes import BATCH
from neuraldrive_audio.storage.model_store import ModelStore
from neuraldrive_audio.workers.chunk_runner import deliver_chunk, run_chunk
from neuraldrive_audio.workers.job_frame import JobRun, job_error
from neuraldrive_audio.workers.model_cache import ModelCache
from neuraldrive_audio.workers.state import WorkerState


@pytest.fixture
def state(arq_redis: ArqRedis, tmp_path: Path) -> WorkerState:
    settings = Settings(data_dir=tmp_path, models_dir=tmp_path / "models", job_max_tries=3)
    cache: Any = ModelCache(lambda m: None, lambda: 0, 600, lambda: 0)
    return WorkerState(
        settings=settings, redis=arq_redis, store=ModelStore(tmp_path / "models"),
        cache=cache, worker_id="broken-host",
    )  # fmt: skip


async def _job(state: WorkerState, job_id: str) -> None:
    record = JobRecord(id=job_id, task=JobTask.TRANSCRIBE, model="m", response_format="json",
                       status=JobStatus.PROCESSING)  # fmt: skip
    await JobRecords(state.redis).create(record)


async def _queued(redis: ArqRedis) -> dict[str, dict[str, Any]]:
    """Chunks waiting on the batch lane, by arq id, as their payloads."""
    ids = [i.decode() for i in await redis.zrange(BATCH.queue_name, 0, -1)]
    found = {}
    for arq_id in ids:
        raw = await redis.get(f"arq:job:{arq_id}")
        found[arq_id] = json.loads(raw)["a"][0]
    return found


def _ctx(state: WorkerState) -> dict[str, Any]:
    return {"state": state, "job_try": 1, "lane": BATCH}


async def _live(redis: ArqRedis, worker_id: str) -> None:
    beat = WorkerHeartbeat(worker_id=worker_id, hostname="h", pid=1, device="cpu", started_at=0)
    await heartbeat.publish(redis, beat, 30)


async def test_a_failed_chunk_is_retried_away_from_the_worker_it_failed_on(
    state: WorkerState,
) -> None:
    await _job(state, "job-r")
    chunk = ChunkJob(function=keys.TRANSCRIBE_CHUNK_FUNCTION, job_id="job-r", index=2)

    async def broken(record: JobRecord, run: JobRun) -> None:
        raise RuntimeError("the disk of this host is on fire")

    await run_chunk(_ctx(state), chunk, broken)
    queued = await _queued(state.redis)
    assert list(queued) == ["job-r:c2:a1"]
    assert queued["job-r:c2:a1"]["avoid"] == ["broken-host"]
    assert (await JobRecords(state.redis).get("job-r")).status is JobStatus.PROCESSING

    # The same broken worker picks the retry up first: with a healthy worker alive, it
    # hands the chunk back instead of failing it again.
    await _live(state.redis, "healthy-host")
    ran: list[str] = []

    async def body(record: JobRecord, run: JobRun) -> None:
        ran.append("ran")

    retry = ChunkJob.model_validate(queued["job-r:c2:a1"])
    await state.redis.delete(BATCH.queue_name)
    await run_chunk(_ctx(state), retry, body)
    assert ran == []
    assert list(await _queued(state.redis)) == ["job-r:c2:a1:h1"]


async def test_a_retry_runs_where_it_failed_when_no_other_worker_lives(
    state: WorkerState,
) -> None:
    await _job(state, "job-s")
    retry = ChunkJob(function=keys.TRANSCRIBE_CHUNK_FUNCTION, job_id="job-s", index=0,
                     attempt=1, avoid=["broken-host"])  # fmt: skip
    ran: list[str] = []

    async def body(record: JobRecord, run: JobRun) -> None:
        ran.append("ran")

    await run_chunk(_ctx(state), retry, body)
    assert ran == ["ran"]


async def test_the_last_attempt_fails_the_job(state: WorkerState) -> None:
    await _job(state, "job-t")
    last = ChunkJob(function=keys.TRANSCRIBE_CHUNK_FUNCTION, job_id="job-t", index=0, attempt=2)

    async def broken(record: JobRecord, run: JobRun) -> None:
        raise RuntimeError("still on fire")

    await run_chunk(_ctx(state), last, broken)
    record = await JobRecords(state.redis).get("job-t")
    assert record.status is JobStatus.FAILED and await _queued(state.redis) == {}


async def test_results_count_once_and_say_which_worker_ran_them(state: WorkerState) -> None:
    await _job(state, "job-u")
    await chunk_payloads.reserve(state.redis, "job-u", 0, 640, b"\x00" * 640, 60)
    assert await chunk_payloads.inflight_bytes(state.redis) == 640
    assert await chunk_payloads.chunk_input(state.redis, "job-u", 0) == b"\x00" * 640
    chunk = ChunkJob(function=keys.TRANSCRIBE_CHUNK_FUNCTION, job_id="job-u", index=0)
    await deliver_chunk(state, chunk, b"first")
    twin = WorkerState(settings=state.settings, redis=state.redis, store=state.store,
                       cache=state.cache, worker_id="twin")  # fmt: skip
    await deliver_chunk(twin, chunk, b"second")
    assert await chunk_payloads.results(state.redis, "job-u") == {0: b"first"}
    assert await chunk_payloads.workers(state.redis, "job-u") == {0: "broken-host"}
    assert not await state.redis.exists(keys.chunk_input("job-u", 0))  # consumed

    ran: list[str] = []

    async def body(record: JobRecord, run: JobRun) -> None:
        ran.append("ran")

    await run_chunk(_ctx(state), chunk.model_copy(update={"attempt": 1}), body)
    assert ran == []  # a requeued twin of a delivered chunk does nothing
    await chunk_payloads.release(state.redis, "job-u", 0)
    assert await chunk_payloads.inflight_bytes(state.redis) == 0
    assert await chunk_payloads.results(state.redis, "job-u") == {}
    await deliver_chunk(twin, chunk, b"late")  # a twin finishing after the API collected
    assert await chunk_payloads.results(state.redis, "job-u") == {}
    assert await chunk_payloads.workers(state.redis, "job-u") == {0: "broken-host"}


async def test_a_missing_input_is_not_bad_audio(state: WorkerState) -> None:
    with pytest.raises(PayloadMissingError) as caught:
        await chunk_payloads.chunk_input(state.redis, "job-v", 0)
    error = job_error(caught.value)
    assert error.code == "input_missing" and error.status == 503


def test_logged_redis_urls_hide_the_password() -> None:
    assert redacted("rediss://api:s3cret@10.9.0.1:6380/0") == "rediss://api:***@10.9.0.1:6380/0"
    assert redacted("redis://:s3cret@localhost/1") == "redis://:***@localhost/1"
    assert redacted("unix:///run/redis.sock?db=2") == "unix:///run/redis.sock?db=2"
