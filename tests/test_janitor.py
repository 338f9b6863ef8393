"""The API's janitor sleeps while no job is active and wakes for what needs it (fakeredis,
a real HTTP receiver for the webhook, no models)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from arq.connections import ArqRedis
from arq.constants import abort_jobs_ss

from neuraldrive_audio.api.background.janitor import IDLE_PASS_S, Janitor
from neuraldrive_audio.config import Settings
from neuraldrive_audio.queue import job_chunks, keys
from neuraldrive_audio.queue.job_chunks import ChunkJob
from neuraldrive_audio.queue.job_records import (
    JobNotFoundError,
    JobRecord,
    JobRecords,
    JobStatus,
    JobTask,
    announce_end,
)
from neuraldrive_audio.storage.job_files import JobFiles

INTERVAL_S = 0.05


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        _Hook.received.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[str]:
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


@pytest.fixture
async def janitor(arq_redis: ArqRedis, tmp_path: Path) -> AsyncIterator[Janitor]:
    settings = Settings(data_dir=tmp_path, janitor_interval_s=INTERVAL_S, job_retention_s=0.3,
                        webhook_allow_networks="127.0.0.0/8")  # fmt: skip
    janitor = Janitor(arq_redis, settings, JobFiles.from_settings(settings), "secret")
    running = asyncio.create_task(janitor.run())
    await asyncio.sleep(0.3)  # subscribed, first passes done
    yield janitor
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running


def _job(job_id: str, **fields: object) -> JobRecord:
    return JobRecord(id=job_id, task=JobTask.TRANSCRIBE, model="whisper-1",
                     response_format="json", **fields)  # type: ignore[arg-type]  # fmt: skip


async def _until(check: Callable[[], Awaitable[bool]], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_an_idle_janitor_sleeps_and_a_new_job_wakes_it(
    janitor: Janitor, arq_redis: ArqRedis
) -> None:
    assert IDLE_PASS_S >= 5
    idle = janitor.passes
    await asyncio.sleep(1.0)
    assert janitor.passes - idle <= 1  # the old loop passed every 50 ms: ~20 here

    await JobRecords(arq_redis).create(_job("job-1"))  # what POST /v1/audio/jobs does
    await job_chunks.enqueue(arq_redis, ChunkJob(function="plan", job_id="job-1", index=-1))
    woken = janitor.passes

    async def passing() -> bool:  # woken by the chunk's wake, then every interval while active
        return janitor.passes - woken >= 5

    assert await _until(passing, 3)


async def test_finished_jobs_are_deleted_when_due_not_at_the_idle_pass(
    janitor: Janitor, arq_redis: ArqRedis
) -> None:
    records = JobRecords(arq_redis)
    await records.create(_job("job-2"))
    await job_chunks.enqueue(arq_redis, ChunkJob(function="plan", job_id="job-2", index=-1))
    await records.update("job-2", status=JobStatus.COMPLETED, finished_at=time.time())

    async def deleted() -> bool:
        try:
            await records.get("job-2")
        except JobNotFoundError:
            return True
        return False

    assert await _until(deleted, 5)  # retention 0.3 s, far before the idle pass (30 s)


async def test_a_webhook_goes_out_as_soon_as_the_job_ends(
    janitor: Janitor, arq_redis: ArqRedis, receiver: str
) -> None:
    records = JobRecords(arq_redis)
    await records.create(_job("job-3", webhook_url=receiver))
    record = await records.update("job-3", status=JobStatus.COMPLETED, finished_at=time.time())
    await announce_end(arq_redis, record)

    async def delivered() -> bool:
        return bool(_Hook.received)

    assert await _until(delivered, 5)
    assert _Hook.received == [b'{"id": "job-3", "status": "completed"}']


async def test_a_poisoned_job_stops_its_other_running_chunks(
    arq_redis: ArqRedis, tmp_path: Path
) -> None:
    """The job fails on the chunk that killed its workers; a sibling chunk another worker
    runs is aborted too (it went on transcribing for a failed job)."""
    records = JobRecords(arq_redis)
    await records.create(_job("job-4"))
    poison = ChunkJob(function="transcribe_chunk", job_id="job-4", index=0, attempt=2)
    sibling = ChunkJob(function="transcribe_chunk", job_id="job-4", index=1)
    owner = job_chunks.ChunkOwner(worker_id="w-alive", chunk=sibling)
    await arq_redis.hset(keys.job_chunk_owners("job-4"), "1", owner.model_dump_json())  # type: ignore[misc]

    settings = Settings(data_dir=tmp_path)  # not running: no pass may requeue the sibling
    janitor = Janitor(arq_redis, settings, JobFiles.from_settings(settings), "secret")
    await janitor.fail_poisoned(poison, kills=3)

    assert (await records.get("job-4")).status is JobStatus.FAILED
    assert await arq_redis.zscore(abort_jobs_ss, sibling.arq_id) is not None
